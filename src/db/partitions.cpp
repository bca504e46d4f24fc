#include "db/partitions.hpp"

#include <algorithm>
#include <ctime>
#include <limits>
#include <map>
#include <set>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "db/pg_pool.hpp"
#include "examstore/error.hpp"

namespace examstore::db {
namespace {

const std::string kOp = "partition maintain";

// The migrator's advisory lock class ("EXMS"), with a number of its own.
constexpr int kLockClass = 0x45584D53;
constexpr int kLockPartitions = 2;

// A UTC month as year * 12 + (month - 1).
using Month = int;

Month month_of(TimePoint t) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

std::string partition_name(const std::string& table, Month m) {
  return fmt::format("{}_p{:04d}_{:02d}", table, m / 12, m % 12 + 1);
}

std::string month_start(Month m) {
  return fmt::format("{:04d}-{:02d}-01 00:00:00+00", m / 12, m % 12 + 1);
}

// The month of one of our partition names ("events_p2026_11"), or nullopt for any other name.
std::optional<Month> month_of_name(const std::string& table, const std::string& name) {
  const std::string prefix = table + "_p";
  if (name.size() != prefix.size() + 7 || name.compare(0, prefix.size(), prefix) != 0) {
    return std::nullopt;
  }
  const std::string rest = name.substr(prefix.size());  // YYYY_MM
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (i == 4 ? rest[i] != '_' : (rest[i] < '0' || rest[i] > '9')) return std::nullopt;
  }
  const int month = std::stoi(rest.substr(5));
  if (month < 1 || month > 12) return std::nullopt;
  return std::stoi(rest.substr(0, 4)) * 12 + month - 1;
}

void check_options(const PartitionOptions& o) {
  if (o.months_ahead < 0 || o.months_ahead > 120) {
    throw Error(ErrorCode::kInvalidArgument, kOp,
                "months_ahead must be 0..120, got " + std::to_string(o.months_ahead));
  }
  if (o.retention_months < 0 || o.retention_months > 1200) {
    throw Error(ErrorCode::kInvalidArgument, kOp,
                "retention_months must be 0..1200 (0 keeps every partition), got " +
                    std::to_string(o.retention_months));
  }
}

// Refuses a database without migration 0009 and a role that does not own the table.
void check_table(pqxx::work& tx, const std::string& table, const std::string& backend) {
  const auto r = db::exec(
      tx,
      "SELECT c.relkind = 'p', pg_has_role(current_user, c.relowner, 'USAGE'), current_user"
      " FROM pg_class c WHERE c.oid = to_regclass($1)",
      table);
  if (r.empty() || !r[0][0].as<bool>()) {
    throw Error(
        ErrorCode::kConflict, kOp,
        "table " + table + " is not partitioned: apply migration 0009 first (examstore migrate up)",
        backend);
  }
  if (!r[0][1].as<bool>()) {
    throw Error(ErrorCode::kPermissionDenied, kOp,
                "role " + r[0][2].as<std::string>() + " does not own table " + table +
                    ": run examstore maintain as the database owner (the role that ran the "
                    "migrations); the application role has no DDL",
                backend);
  }
}

struct TablePlan {
  std::map<Month, std::int64_t> create;  // month -> rows to move out of the default partition
  std::set<Month> expire;
  std::int64_t default_rows = 0;  // before the moves
  std::string default_name;       // empty when the table has no default partition
};

TablePlan plan_table(pqxx::work& tx, const std::string& table, const PartitionOptions& o,
                     Month now) {
  TablePlan plan;
  std::set<Month> attached;
  std::string& default_name = plan.default_name;
  for (const auto& row : db::exec(tx,
                                  "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'"
                                  " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                                  " WHERE i.inhparent = to_regclass($1)",
                                  table)) {
    const auto name = row[0].as<std::string>();
    if (row[1].as<bool>()) default_name = name;
    if (const auto m = month_of_name(table, name)) attached.insert(*m);
  }
  const Month last = now + o.months_ahead;
  // Partitions of months before the cutoff expire; without retention nothing is before it.
  const Month cutoff =
      o.retention_months > 0 ? now - o.retention_months : std::numeric_limits<Month>::min();
  for (Month m = now; m <= last; ++m) {
    if (attached.count(m) == 0) plan.create.emplace(m, 0);
  }
  if (!default_name.empty()) {
    // The name comes from the catalogue; quote_name keeps it one identifier.
    for (const auto& row :
         tx.exec("SELECT (extract(year FROM t) * 12 + extract(month FROM t) - 1)::int, count(*)"
                 " FROM (SELECT date_trunc('month', occurred_at AT TIME ZONE 'UTC') AS t FROM " +
                 tx.quote_name(default_name) + ") AS d GROUP BY 1")) {
      const Month m = row[0].as<int>();
      const auto rows = row[1].as<std::int64_t>();
      plan.default_rows += rows;
      if (m <= last && m >= cutoff && attached.count(m) == 0) plan.create[m] = rows;
    }
  }
  for (const Month m : attached) {
    if (m < cutoff) plan.expire.insert(m);
  }
  return plan;
}

void create_partition(pqxx::work& tx, const std::string& table, const std::string& default_name,
                      Month m, std::int64_t rows_in_default) {
  const std::string part = tx.quote_name(partition_name(table, m));
  const std::string parent = tx.quote_name(table);
  // DDL takes no parameters: the bounds are our own text, quoted all the same.
  const std::string from = tx.quote(month_start(m));
  const std::string to = tx.quote(month_start(m + 1));
  // Made apart and attached, so that rows of its month found in the default partition move
  // straight into it; ATTACH adds the parent's indexes, keys and foreign keys.
  tx.exec("CREATE TABLE " + part + " (LIKE " + parent +
          " INCLUDING DEFAULTS INCLUDING CONSTRAINTS)");
  if (rows_in_default > 0) {
    db::exec(tx,
             "WITH moved AS (DELETE FROM " + tx.quote_name(default_name) +
                 " WHERE occurred_at >= $1::timestamptz AND occurred_at < $2::timestamptz"
                 " RETURNING *) INSERT INTO " +
                 part + " SELECT * FROM moved",
             month_start(m), month_start(m + 1));
  }
  tx.exec("ALTER TABLE " + parent + " ATTACH PARTITION " + part + " FOR VALUES FROM (" + from +
          ") TO (" + to + ")");
}

}  // namespace

const std::vector<std::string>& partitioned_tables() {
  static const std::vector<std::string> tables{"events", "violations"};
  return tables;
}

PartitionReport maintain_partitions(PgPool& pool, const PartitionOptions& options) {
  check_options(options);
  const Month now = month_of(options.now.value_or(std::chrono::system_clock::now()));
  PartitionReport report;
  pool.with_connection(kOp, [&](pqxx::connection& c) {
    report = PartitionReport{};
    pqxx::work tx(c);
    try {
      // Fail rather than queue the application's queries behind our locks for long.
      tx.exec("SET LOCAL lock_timeout = '5s'");
      db::exec(tx, "SELECT pg_advisory_xact_lock($1, $2)", kLockClass, kLockPartitions);
      for (const auto& table : partitioned_tables()) {
        check_table(tx, table, pool.endpoint());
        const TablePlan plan = plan_table(tx, table, options, now);
        std::int64_t moved = 0;
        for (const auto& [m, rows] : plan.create) {
          if (!options.dry_run) create_partition(tx, table, plan.default_name, m, rows);
          report.changes.push_back({table, partition_name(table, m), "create", rows});
          moved += rows;
        }
        for (const Month m : plan.expire) {
          const bool drop = options.expire == ExpireAction::kDrop;
          const std::string part = tx.quote_name(partition_name(table, m));
          if (!options.dry_run) {
            tx.exec(drop ? "DROP TABLE " + part
                         : "ALTER TABLE " + tx.quote_name(table) + " DETACH PARTITION " + part);
          }
          report.changes.push_back({table, partition_name(table, m), drop ? "drop" : "detach", 0});
        }
        report.default_rows.push_back(plan.default_rows - moved);
      }
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() == "55P03") {
        throw Error(ErrorCode::kTimeout, kOp,
                    "a lock on the partitioned tables was not granted within 5 s (busy tables, or "
                    "another maintain running); "
                    "nothing was changed: try again later",
                    pool.endpoint());
      }
      throw;
    }
    tx.commit();
  });
  return report;
}

}  // namespace examstore::db
