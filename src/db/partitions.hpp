// db/partitions.hpp: upkeep of the monthly partitions of events and violations (migration 0009,
// docs/partitioning.md): creates the partitions of the months ahead, moves rows that landed in
// the DEFAULT partition into the partition made for their month, and detaches or drops the
// partitions older than the retention.
//
// Partitions are named <table>_pYYYY_MM and bound by UTC months; partitions of other names are
// not touched. DDL needs the owner of the tables: the least-privilege application role is
// refused with kPermissionDenied before anything changes.
//
// Thread-safety: maintain_partitions may be called from any thread; runs of it (in any process)
// serialise on an advisory lock, and each run is one transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "examstore/model.hpp"

namespace examstore::db {

class PgPool;

/// The tables maintain_partitions looks after, in the order it handles them.
const std::vector<std::string>& partitioned_tables();

/// What to do with a partition older than the retention.
enum class ExpireAction { kDetach, kDrop };

struct PartitionOptions {
  /// Partitions exist for the current UTC month and this many after it. 0..120; default 3.
  int months_ahead = 3;
  /// Partitions whose month ended more than this many months before the current month began
  /// are expired. 0 (the default) keeps every partition. 0..1200.
  int retention_months = 0;
  /// Detach (the default: the rows stay in a table of their own, out of every query) or drop.
  ExpireAction expire = ExpireAction::kDetach;
  /// Plan and report, change nothing.
  bool dry_run = false;
  /// The clock the months are counted from; nullopt: now. For tests and planning ahead.
  std::optional<TimePoint> now;
};

/// One change, done (or planned, under dry_run).
struct PartitionChange {
  std::string table;            ///< "events" or "violations"
  std::string partition;        ///< e.g. "events_p2026_11"
  std::string action;           ///< "create", "detach" or "drop"
  std::int64_t rows_moved = 0;  ///< create: rows moved out of the DEFAULT partition
};

struct PartitionReport {
  std::vector<PartitionChange> changes;
  /// Rows left in each table's DEFAULT partition afterwards (months outside the range kept by
  /// partitions: beyond months_ahead, or older than the retention), in partitioned_tables()
  /// order.
  std::vector<std::int64_t> default_rows;
};

/// Brings the partitions in line with `options` (see the file comment). Idempotent: a second
/// run with the same options and month changes nothing. Throws kInvalidArgument naming the
/// field for options out of range, kPermissionDenied when the connected role does not own the
/// tables, kConflict when migration 0009 is not applied, kTimeout when a lock is not granted
/// within 5 s (busy tables: try again later), and what PgPool::transact throws.
PartitionReport maintain_partitions(PgPool& pool, const PartitionOptions& options);

}  // namespace examstore::db
