// examstore gdpr export --student ID [--out FILE] | gdpr erase --student ID: the GDPR rights of
// access and erasure (include/examstore/personal_data.hpp), acting as the system principal
// "cli:$USER" in the audit log.
#include <charconv>
#include <fstream>
#include <iostream>

#include "cli/args.hpp"
#include "examstore/store.hpp"

namespace examstore::cli {

namespace {

StudentId parse_student(const std::string& text) {
  StudentId id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id <= 0) {
    throw UsageError("--student needs a positive student id, got '" + text + "'");
  }
  return id;
}

}  // namespace

int cmd_gdpr(const Args& args) {
  const auto& w = args.words;
  if (w.size() < 2) throw UsageError("gdpr needs export or erase");
  const std::string& sub = w[1];
  std::map<std::string, std::string> opts;
  if (sub == "export") {
    opts = command_options(args, 2, {"--student", "--out"});
  } else if (sub == "erase") {
    opts = command_options(args, 2, {"--student"});
  } else {
    throw UsageError("unknown gdpr command '" + sub + "'");
  }
  if (!opts.count("--student")) throw UsageError("gdpr " + sub + " needs --student ID");
  const StudentId id = parse_student(opts["--student"]);
  auto store = Store::open(make_config(args));
  PersonalData& pd = store->personal_data();

  if (sub == "export") {
    const std::string doc = pd.export_student(id, cli_principal());
    if (!opts.count("--out")) {
      std::cout << doc << "\n";
      return kExitOk;
    }
    std::ofstream out(opts["--out"], std::ios::binary | std::ios::trunc);
    out << doc << "\n";
    out.close();
    if (!out) {
      std::cerr << "examstore: cannot write " << opts["--out"] << "\n";
      return kExitFailed;
    }
    std::cout << "student " << id << ": exported " << doc.size() << " bytes to " << opts["--out"]
              << "\n";
    return kExitOk;
  }

  const ErasureReport r = pd.erase_student(id, cli_principal());
  if (args.json) {
    std::cout << "{\"student_id\":" << r.student_id
              << ",\"already_erased\":" << (r.already_erased ? "true" : "false")
              << ",\"cache_keys_removed\":" << r.cache_keys_removed
              << ",\"sessions_ended\":" << r.sessions_ended
              << ",\"grading_texts_erased\":" << r.grading_texts_erased
              << ",\"user_deleted\":" << (r.user_deleted ? std::to_string(*r.user_deleted) : "null")
              << "}\n";
  } else {
    std::cout << "student " << id << (r.already_erased ? ": already erased" : ": erased")
              << "; removed " << r.cache_keys_removed << " cache key(s), ended " << r.sessions_ended
              << " session(s), blanked " << r.grading_texts_erased << " grading text(s)"
              << (r.user_deleted ? ", deleted user " + std::to_string(*r.user_deleted) : "")
              << "\n";
  }
  return kExitOk;
}

}  // namespace examstore::cli
