// examstore maintain [--months-ahead N] [--retention-months M] [--drop|--detach] [--dry-run]:
// the partitions of events and violations (docs/partitioning.md), as the database owner.
#include <charconv>
#include <iostream>
#include <string>

#include "cli/args.hpp"
#include "db/partitions.hpp"
#include "db/pg_pool.hpp"

namespace examstore::cli {
namespace {

int parse_months(const std::string& text, const char* what) {
  int n = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, n);
  if (text.empty() || ec != std::errc() || ptr != end || n < 0) {
    throw UsageError(std::string(what) + " must be a whole number >= 0, not '" + text + "'");
  }
  return n;
}

void print_report(const Args& args, const db::PartitionOptions& o,
                  const db::PartitionReport& report) {
  const auto& tables = db::partitioned_tables();
  if (args.json) {
    std::cout << "{\"dry_run\":" << (o.dry_run ? "true" : "false") << ",\"changes\":[";
    for (std::size_t i = 0; i < report.changes.size(); ++i) {
      const auto& c = report.changes[i];
      std::cout << (i ? "," : "") << "{\"table\":" << json_string(c.table)
                << ",\"partition\":" << json_string(c.partition)
                << ",\"action\":" << json_string(c.action) << ",\"rows_moved\":" << c.rows_moved
                << "}";
    }
    std::cout << "],\"default_rows\":{";
    for (std::size_t i = 0; i < report.default_rows.size(); ++i) {
      std::cout << (i ? "," : "") << json_string(tables[i]) << ":" << report.default_rows[i];
    }
    std::cout << "}}\n";
    return;
  }
  const char* verb = o.dry_run ? "would " : "";
  if (report.changes.empty()) std::cout << "nothing to do: the partitions are up to date\n";
  for (const auto& c : report.changes) {
    std::cout << verb << c.action << " " << c.partition;
    if (c.rows_moved > 0)
      std::cout << " (rows moved from the default partition: " << c.rows_moved << ")";
    std::cout << "\n";
  }
  for (std::size_t i = 0; i < report.default_rows.size(); ++i) {
    if (report.default_rows[i] > 0) {
      std::cout << tables[i] << "_default keeps rows of months outside the partitioned range: "
                << report.default_rows[i] << "\n";
    }
  }
}

}  // namespace

int cmd_maintain(const Args& args) {
  auto opts = command_options(args, 1, {"--months-ahead", "--retention-months"},
                              {"--drop", "--detach", "--dry-run"});
  if (opts.count("--drop") && opts.count("--detach")) {
    throw UsageError("--drop and --detach exclude each other");
  }
  db::PartitionOptions o;
  if (opts.count("--months-ahead"))
    o.months_ahead = parse_months(opts["--months-ahead"], "--months-ahead");
  if (opts.count("--retention-months")) {
    o.retention_months = parse_months(opts["--retention-months"], "--retention-months");
  }
  if ((opts.count("--drop") || opts.count("--detach")) && o.retention_months == 0) {
    throw UsageError("--drop and --detach need --retention-months M (M >= 1)");
  }
  if (opts.count("--drop")) o.expire = db::ExpireAction::kDrop;
  o.dry_run = opts.count("--dry-run") != 0;

  const Config config = make_config(args);
  if (config.database_backend != BackendKind::kPostgres) {
    std::cerr << "examstore: the in-memory database keeps no partitions: nothing to maintain; "
                 "choose PostgreSQL with --database URL or EXAMSTORE_DATABASE_URL\n";
    if (args.json)
      std::cout << "{\"dry_run\":" << (o.dry_run ? "true" : "false")
                << ",\"changes\":[],\"default_rows\":{}}\n";
    return kExitOk;
  }
  db::PgPool pool(config.postgres);
  print_report(args, o, db::maintain_partitions(pool, o));
  return kExitOk;
}

}  // namespace examstore::cli
