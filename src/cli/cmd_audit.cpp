// examstore audit verify | list: check the audit log's hash chain, or print entries.
#include <iostream>

#include "cli/args.hpp"
#include "examstore/store.hpp"

namespace examstore::cli {
namespace {

std::int64_t parse_id(const std::string& text, std::string_view what) {
  return static_cast<std::int64_t>(parse_count(text, what));
}

void print_entry(const AuditEntry& e, bool json) {
  if (json) {
    std::cout << "{\"id\":" << e.id << ",\"at\":" << json_string(to_iso8601(e.at))
              << ",\"actor_id\":" << e.actor_id << ",\"actor\":" << json_string(e.actor_name)
              << ",\"role\":" << json_string(e.actor_role) << ",\"ip\":" << json_string(e.ip)
              << ",\"action\":" << json_string(e.action) << ",\"target\":" << json_string(e.target)
              << ",\"before\":" << json_string(e.before) << ",\"after\":" << json_string(e.after)
              << ",\"hash\":" << json_string(e.hash) << "}\n";
    return;
  }
  std::cout << e.id << "  " << to_iso8601(e.at) << "  " << e.actor_name << " (" << e.actor_role
            << ")" << (e.ip.empty() ? "" : " from " + e.ip) << "  " << e.action << "  " << e.target;
  if (!e.before.empty()) std::cout << "  before " << e.before;
  if (!e.after.empty()) std::cout << "  after " << e.after;
  std::cout << "\n";
}

int verify(const Args& args, Store& store) {
  const AuditVerification v = store.audit().verify();
  if (args.json) {
    std::cout << "{\"ok\":" << (v.ok ? "true" : "false") << ",\"checked\":" << v.checked
              << ",\"first_broken_id\":"
              << (v.first_broken_id ? std::to_string(*v.first_broken_id) : "null")
              << ",\"problem\":" << json_string(v.problem) << "}\n";
  } else if (v.ok) {
    std::cout << "audit log intact: " << v.checked << " entries checked\n";
  } else {
    std::cout << "audit log BROKEN after " << v.checked << " entries: " << v.problem << "\n";
  }
  return v.ok ? kExitOk : kExitFailed;
}

}  // namespace

int cmd_audit(const Args& args) {
  const std::string sub = args.words.size() > 1 ? args.words[1] : "";
  if (sub == "verify") {
    command_options(args, 2, {});
    auto store = Store::open(make_config(args));
    return verify(args, *store);
  }
  if (sub == "list") {
    auto opts = command_options(args, 2, {"--limit", "--after", "--actor", "--action", "--target"});
    AuditFilter f;
    if (opts.count("--limit")) f.limit = parse_count(opts["--limit"], "--limit");
    if (opts.count("--after")) f.after_id = parse_id(opts["--after"], "--after");
    if (opts.count("--actor")) f.actor_id = parse_id(opts["--actor"], "--actor");
    if (opts.count("--action")) f.action = opts["--action"];
    if (opts.count("--target")) f.target = opts["--target"];
    auto store = Store::open(make_config(args));
    for (const auto& e : store->audit().list(f)) print_entry(e, args.json);
    return kExitOk;
  }
  throw UsageError("audit needs verify or list");
}

}  // namespace examstore::cli
