// db/pg_replicas.hpp: the read replicas of the PostgreSQL tier and read-your-writes.
//
// Reads that tolerate lag (PgPool::read_lag_tolerant) go to a streaming replica, taken in turn.
// Read-your-writes is kept per process: after every read-write transaction of the primary pool
// commits, the primary's WAL insert position is read on the same connection and raises this
// process's high-water mark. A replica read first asks its replica how far it has replayed
// (pg_last_wal_replay_lsn(), in the same transaction as the read, so the read's snapshot is at
// least that far) and polls for up to replica_wait until the replica has replayed the mark;
// otherwise the read goes to the primary ("lag"). A replica that cannot be reached, is not a
// standby, or fails a read is skipped for kRetryAfter; its reads go to the primary
// ("unavailable"). Nothing fails because a replica is unavailable.
//
// Writes this process's pools cannot see (session-level work through with_connection, or a
// commit whose WAL position could not be read) mark the mark stale, as does opening: the next
// replica read reads the primary's current position first (one round trip to the primary).
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pqxx/pqxx>

#include "examstore/config.hpp"
#include "obs/telemetry.hpp"

namespace examstore::db {

class PgPool;

/// A WAL position ("16/B374D848") as a number; nullopt when malformed.
std::optional<std::uint64_t> parse_lsn(std::string_view text);

class ReplicaSet {
 public:
  /// How long a replica that failed is skipped before it is tried again.
  static constexpr std::chrono::seconds kRetryAfter{5};

  /// One pool per entry of `options.replicas` (connected lazily), with the primary's pool
  /// size and timeouts and a single attempt per read. `primary` must outlive this object.
  ReplicaSet(const PostgresOptions& options, PgPool& primary, obs::Telemetry* telemetry);
  ~ReplicaSet();
  ReplicaSet(const ReplicaSet&) = delete;
  ReplicaSet& operator=(const ReplicaSet&) = delete;

  /// Called right after a transaction committed on `conn`, a primary connection: reads the
  /// primary's WAL insert position and raises the high-water mark. Never throws (on failure the
  /// mark is made stale, see above).
  void note_commit(pqxx::connection& conn) noexcept;
  /// After a write the pool could not follow: the next replica read refreshes the mark.
  void note_unknown_write() noexcept { stale_.store(true, std::memory_order_release); }

  /// Runs `body` in a transaction on a replica that has replayed the high-water mark, and
  /// returns true; returns false, having counted why, when the caller must read the primary.
  /// `body` may have run (partly) on a replica that then failed: it must start from scratch.
  bool try_read(const std::string& operation, const std::function<void(pqxx::work&)>& body);

  /// The high-water mark (for tests).
  std::uint64_t high_water() const { return high_water_.load(std::memory_order_acquire); }

 private:
  struct Replica;
  enum class Outcome { kServed, kLagging, kFailed };
  Outcome read_on(Replica& r, std::uint64_t target, const std::string& operation,
                  const std::function<void(pqxx::work&)>& body);
  void mark_down(Replica& r, const std::string& why);
  void failed_once(Replica& r, const std::string& operation, const char* why);
  bool refresh_if_stale();
  // Reads the primary's WAL insert position on `primary_conn` and raises the mark; throws.
  void record_position(pqxx::connection& primary_conn);
  void raise(std::uint64_t lsn) noexcept;

  PgPool& primary_;
  const std::chrono::milliseconds wait_;
  obs::ReplicaCounters* const counters_;
  const obs::Logger& log_;
  std::vector<std::unique_ptr<Replica>> replicas_;
  std::atomic<std::uint64_t> high_water_{0};
  // True at first: what was written before this object existed (by an earlier run of the
  // process, say) is unknown, so the first replica read asks the primary.
  std::atomic<bool> stale_{true};
  std::atomic<std::size_t> next_{0};  // round robin
};

}  // namespace examstore::db
