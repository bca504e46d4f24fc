// examstore questions import FILE | export [--subject S] [--type T]: the question bank's JSON
// format (docs/questions.md) in and out.
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/args.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"

namespace examstore::cli {
namespace {

int import_file(Store& store, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::cerr << "examstore: cannot read " << path << "\n";
    return kExitFailed;
  }
  std::ostringstream text;
  text << in.rdbuf();
  try {
    const auto ids = store.questions().import_json(text.str());
    std::cout << "imported " << ids.size() << " questions\n";
    return kExitOk;
  } catch (const Error& e) {
    // a bad file is the operation failing (1), not bad usage of the tool (2)
    if (e.code() != ErrorCode::kInvalidArgument) throw;
    std::cerr << "examstore: " << path << ": nothing imported:\n" << e.message() << "\n";
    return kExitFailed;
  }
}

}  // namespace

int cmd_questions(const Args& args) {
  const auto& w = args.words;
  if (w.size() < 2) throw UsageError("questions needs import FILE or export");
  const std::string& sub = w[1];
  QuestionSearch filter;
  if (sub == "import") {
    if (w.size() != 3) throw UsageError("questions import needs one FILE");
  } else if (sub == "export") {
    const auto opts = command_options(args, 2, {"--subject", "--type"});
    if (auto it = opts.find("--subject"); it != opts.end()) filter.subject = it->second;
    if (auto it = opts.find("--type"); it != opts.end()) {
      filter.type = parse_question_type(it->second);
      if (!filter.type) {
        throw UsageError("--type must be single, multiple, true_false, fill or essay, got '" +
                         it->second + "'");
      }
    }
  } else {
    throw UsageError("unknown questions command '" + sub + "'");
  }
  auto store = Store::open(make_config(args));
  if (sub == "import") return import_file(*store, w[2]);
  filter.limit = 1000;  // the page size: export writes every match
  std::cout << store->questions().export_json(filter) << "\n";
  return kExitOk;
}

}  // namespace examstore::cli
