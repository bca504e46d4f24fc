// examstore migrate up [N] | down [N] | status | history
#include <iostream>

#include "cli/args.hpp"
#include "examstore/store.hpp"

namespace examstore::cli {
namespace {

void print_versions(const Args& args, const char* verb, const std::vector<int>& versions) {
  if (args.json) {
    std::cout << "{\"" << verb << "\":[";
    for (std::size_t i = 0; i < versions.size(); ++i) std::cout << (i ? "," : "") << versions[i];
    std::cout << "]}\n";
    return;
  }
  if (versions.empty()) {
    std::cout << "nothing to do: the schema is "
              << (std::string(verb) == "applied" ? "up to date" : "empty") << "\n";
    return;
  }
  for (const int v : versions) std::cout << verb << " migration " << v << "\n";
}

void print_infos(const Args& args, const std::vector<MigrationInfo>& infos, bool applied_only) {
  if (args.json) {
    std::cout << "[";
    bool first = true;
    for (const auto& m : infos) {
      if (applied_only && !m.applied) continue;
      std::cout << (first ? "" : ",") << "{\"version\":" << m.version
                << ",\"name\":" << json_string(m.name)
                << ",\"applied\":" << (m.applied ? "true" : "false")
                << ",\"applied_at\":" << (m.applied ? json_string(m.applied_at) : "null")
                << ",\"checksum_mismatch\":" << (m.checksum_mismatch ? "true" : "false") << "}";
      first = false;
    }
    std::cout << "]\n";
    return;
  }
  for (const auto& m : infos) {
    if (applied_only && !m.applied) continue;
    std::cout << (m.version < 1000 ? "  " : "") << m.version << "  "
              << (m.applied ? "applied " + m.applied_at : std::string("pending")) << "  " << m.name
              << (m.checksum_mismatch ? "  EDITED AFTER IT WAS APPLIED (checksum mismatch)" : "")
              << "\n";
  }
}

}  // namespace

int cmd_migrate(const Args& args) {
  const auto& w = args.words;
  if (w.size() < 2) throw UsageError("migrate needs up, down, status or history");
  const std::string& sub = w[1];
  const bool takes_count = sub == "up" || sub == "down";
  if (w.size() > (takes_count ? 3u : 2u)) throw UsageError("too many arguments to migrate " + sub);
  if (!takes_count && sub != "status" && sub != "history") {
    throw UsageError("unknown migrate command '" + sub + "'");
  }
  std::optional<int> count;
  if (w.size() == 3) count = parse_count(w[2], "N");

  auto store = Store::open(make_config(args));
  if (store->config().database_backend != BackendKind::kPostgres) {
    std::cerr << "examstore: the in-memory database has no schema to migrate; choose PostgreSQL "
                 "with --database URL or EXAMSTORE_DATABASE_URL\n";
    return kExitOk;
  }
  if (sub == "up") {
    print_versions(args, "applied", store->migrate_up(count));
  } else if (sub == "down") {
    print_versions(args, "reverted", store->migrate_down(count.value_or(1)));
  } else {
    const auto infos = store->migration_status();
    print_infos(args, infos, sub == "history");
    for (const auto& m : infos) {
      if (m.checksum_mismatch) return kExitFailed;  // an edited migration is a failed check
    }
  }
  return kExitOk;
}

}  // namespace examstore::cli
