// examstore paper apply --paper KEY --ops FILE | paper list --paper KEY: edit a paper from a
// file of operations (one unit: a bad line changes nothing) or print its order.
//
// Ops file, one operation a line (blank lines and lines starting with '#' are skipped):
//   append QID | insert POS QID | remove POS | replace POS QID | move FROM TO
#include <cstdint>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/args.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"

namespace examstore::cli {
namespace {

/// A line of the ops file that cannot be applied; the message names the line.
struct BadLine {
  std::string message;
};

std::int64_t parse_number(const std::string& word, std::size_t line, const char* what) {
  std::int64_t v = 0;
  const bool digits = !word.empty() && word.size() <= 18 &&
                      word.find_first_not_of("0123456789") == std::string::npos;
  if (digits) v = std::stoll(word);
  if (!digits || v > 2147483647) {
    throw BadLine{"line " + std::to_string(line) + ": " + what +
                  " must be a non-negative number, got '" + word + "'"};
  }
  return v;
}

struct ParsedOps {
  std::vector<PaperOp> ops;
  std::vector<std::size_t> lines;  // the file line of each op
};

ParsedOps parse_ops(std::istream& in) {
  ParsedOps out;
  std::string text;
  std::size_t line = 0;
  while (std::getline(in, text)) {
    ++line;
    if (!text.empty() && text.back() == '\r') text.pop_back();
    std::istringstream words(text);
    std::vector<std::string> w;
    for (std::string s; words >> s;) w.push_back(s);
    if (w.empty() || w[0][0] == '#') continue;
    const auto need = [&](std::size_t n, const char* form) {
      if (w.size() != n) {
        throw BadLine{"line " + std::to_string(line) + ": expected '" + form + "', got '" + text +
                      "'"};
      }
    };
    const auto pos = [&](std::size_t i, const char* what) {
      return static_cast<int>(parse_number(w[i], line, what));
    };
    PaperOp op;
    if (w[0] == "append") {
      need(2, "append QID");
      op.kind = PaperOp::Kind::kAppend;
      op.question_id = parse_number(w[1], line, "QID");
    } else if (w[0] == "insert") {
      need(3, "insert POS QID");
      op.kind = PaperOp::Kind::kInsert;
      op.position = pos(1, "POS");
      op.question_id = parse_number(w[2], line, "QID");
    } else if (w[0] == "remove") {
      need(2, "remove POS");
      op.kind = PaperOp::Kind::kRemove;
      op.position = pos(1, "POS");
    } else if (w[0] == "replace") {
      need(3, "replace POS QID");
      op.kind = PaperOp::Kind::kReplace;
      op.position = pos(1, "POS");
      op.question_id = parse_number(w[2], line, "QID");
    } else if (w[0] == "move") {
      need(3, "move FROM TO");
      op.kind = PaperOp::Kind::kMove;
      op.position = pos(1, "FROM");
      op.to = pos(2, "TO");
    } else {
      throw BadLine{"line " + std::to_string(line) + ": unknown operation '" + w[0] +
                    "' (append, insert, remove, replace, move)"};
    }
    out.ops.push_back(op);
    out.lines.push_back(line);
  }
  return out;
}

/// "op N: why" from PaperStore::apply as "line L: why".
std::optional<std::string> as_line_error(const Error& e, const std::vector<std::size_t>& lines) {
  const std::string& m = e.message();
  if (e.code() != ErrorCode::kInvalidArgument || m.rfind("op ", 0) != 0) return std::nullopt;
  const std::size_t colon = m.find(':');
  if (colon == std::string::npos) return std::nullopt;
  std::size_t n = 0;
  try {
    n = std::stoul(m.substr(3, colon - 3));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  if (n == 0 || n > lines.size()) return std::nullopt;
  return "line " + std::to_string(lines[n - 1]) + m.substr(colon);
}

void print_order(const std::vector<PaperItem>& items, bool json) {
  if (json) {
    std::cout << "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
      std::cout << (i ? "," : "") << items[i].question_id;
    }
    std::cout << "]\n";
    return;
  }
  if (items.empty()) std::cout << "the paper is empty\n";
  for (std::size_t i = 0; i < items.size(); ++i) {
    std::cout << i << "  " << items[i].question_id << "  v" << items[i].question_version << "  "
              << to_string(items[i].type) << "\n";
  }
}

}  // namespace

int cmd_paper(const Args& args) {
  const auto& w = args.words;
  if (w.size() < 2) throw UsageError("paper needs apply or list");
  const std::string& sub = w[1];
  std::map<std::string, std::string> opts;
  if (sub == "apply") {
    opts = command_options(args, 2, {"--paper", "--ops"}, {"--json"});
    if (!opts.count("--paper") || !opts.count("--ops")) {
      throw UsageError("paper apply needs --paper KEY and --ops FILE");
    }
  } else if (sub == "list") {
    opts = command_options(args, 2, {"--paper"}, {"--json"});
    if (!opts.count("--paper")) throw UsageError("paper list needs --paper KEY");
  } else {
    throw UsageError("unknown paper command '" + sub + "'");
  }
  const bool json = args.json || opts.count("--json") != 0;
  PaperKey paper;
  try {
    paper = PaperKey::parse(opts["--paper"]);
  } catch (const Error& e) {
    throw UsageError("--paper: " + e.message());
  }

  ParsedOps parsed;
  if (sub == "apply") {
    std::ifstream in(opts["--ops"]);
    if (!in) {
      std::cerr << "examstore: cannot read " << opts["--ops"] << "\n";
      return kExitFailed;
    }
    try {
      parsed = parse_ops(in);
    } catch (const BadLine& b) {
      std::cerr << "examstore: " << opts["--ops"] << ": " << b.message << "\n";
      return kExitFailed;
    }
  }

  auto store = Store::open(make_config(args));
  if (sub == "list") {
    print_order(store->papers().items(paper), json);
    return kExitOk;
  }
  try {
    print_order(store->papers().apply(paper, parsed.ops), json);
  } catch (const Error& e) {
    if (auto line = as_line_error(e, parsed.lines)) {
      std::cerr << "examstore: " << opts["--ops"] << ": " << *line << " (the paper is unchanged)\n";
      return kExitFailed;
    }
    throw;
  }
  return kExitOk;
}

}  // namespace examstore::cli
