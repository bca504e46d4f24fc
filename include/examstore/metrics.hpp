// examstore/metrics.hpp: what a production operator watches, as a snapshot of plain values
// (Store::metrics()) and rendered in the Prometheus text exposition format (to_prometheus).
//
// The library counts on its hot paths with relaxed atomics only (a histogram observation is a
// few atomic increments, no lock, no allocation); taking a snapshot reads them, so the values of
// one snapshot are each exact but not taken at one instant (a counter read later may include
// an operation another one does not yet). Counters only grow while the Store lives. There is no
// HTTP server in the library: examples/metrics_endpoint.cpp shows how to serve /metrics.
// docs/observability.md lists every metric with what to alert on.
//
// Thread-safety: plain values; the functions are pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "examstore/write_behind.hpp"

namespace examstore {

/// A latency distribution with fixed bucket bounds, in the shape Prometheus expects.
struct Histogram {
  /// Upper bounds of the buckets in seconds, ascending; the +Inf bucket is implied.
  std::vector<double> bounds;
  /// Cumulative counts: cumulative[i] observations were <= bounds[i]. Same size as bounds.
  std::vector<std::uint64_t> cumulative;
  /// Number of observations (the +Inf bucket).
  std::uint64_t count = 0;
  /// Sum of the observations, in seconds.
  double sum = 0;
};

/// The read path shared by every repository (cache-aside over the hot tier), all entities.
struct CacheAsideMetrics {
  std::int64_t hits = 0;           ///< reads served by the hot tier
  std::int64_t negative_hits = 0;  ///< reads answered "absent" by a cached marker
  std::int64_t misses = 0;         ///< reads that found nothing in the hot tier
  std::int64_t loads = 0;          ///< database loads (one per single flight, plus degraded reads)
  std::int64_t load_errors = 0;    ///< single-flight loads that threw
  std::int64_t fills_refused = 0;  ///< fills stopped by the generation guard (a write raced)
  std::int64_t invalidations = 0;  ///< invalidations after database writes
  std::int64_t invalidations_retried = 0;  ///< invalidations that failed and were sent later
  std::int64_t cache_errors = 0;           ///< hot-tier failures degraded to reading the database
  /// (hits + negative_hits) / (hits + negative_hits + misses); 0 before the first read.
  double hit_rate = 0;
};

/// An in-process near cache.
struct NearCacheMetrics {
  std::int64_t hits = 0;    ///< reads served from process memory
  std::int64_t misses = 0;  ///< reads that went on to the hot tier
};

/// A connection pool (Redis or PostgreSQL).
struct PoolMetrics {
  /// False on the embedded (in-memory) backend: there is no pool and every value is zero.
  bool enabled = false;
  /// Where it connects, without credentials ("127.0.0.1:6379/0").
  std::string endpoint;
  std::int64_t max_size = 0;       ///< the configured pool_size
  std::int64_t size = 0;           ///< connections open now (idle + in use)
  std::int64_t in_use = 0;         ///< connections leased now
  std::int64_t connects = 0;       ///< connections made since start
  std::int64_t waits = 0;          ///< leases that had to wait for a free connection
  std::int64_t wait_timeouts = 0;  ///< leases that gave up (kResourceExhausted)
  /// Redis: commands sent (a pipeline counts each command). PostgreSQL: transactions and
  /// session-level calls attempted (a retried transaction counts each attempt).
  std::int64_t commands = 0;
  /// Commands or transactions that failed (I/O, server error, connect failure).
  std::int64_t errors = 0;
  /// PostgreSQL: transaction attempts repeated under the retry rule. Redis: calls sent again
  /// while riding through a failover (RedisOptions::failover_wait).
  std::int64_t retries = 0;
  /// Redis: one observation per round trip. PostgreSQL: one per transaction attempt.
  Histogram latency;
};

/// The PostgreSQL read replicas (docs/postgres-replicas.md). Reads that tolerate lag go to a
/// replica that has replayed this process's latest write, else to the primary.
struct ReplicaMetrics {
  /// False when no replica is configured: every value is zero.
  bool enabled = false;
  std::int64_t replicas = 0;  ///< replicas configured
  std::int64_t reads = 0;     ///< reads a replica served
  /// Reads sent to the primary because the replica had not replayed this process's latest
  /// write within PostgresOptions::replica_wait.
  std::int64_t fallback_lag = 0;
  /// Reads sent to the primary because no replica could be reached or the replica failed.
  std::int64_t fallback_unavailable = 0;
  std::int64_t waits = 0;               ///< replica reads that waited for replay
  std::int64_t positions_recorded = 0;  ///< WAL positions read on the primary after commits
  /// WAL bytes a replica was behind this process's latest write when last checked (0: caught
  /// up), and the most seen since start.
  std::int64_t lag_bytes = 0;
  std::int64_t max_lag_bytes = 0;
};

/// Grading records (see grading.hpp).
struct GradingMetrics {
  /// The read path of classes, members, assignments, results and statistics (its own
  /// counters, separate from cache_aside, so the design's hit-rate alert can watch grading).
  CacheAsideMetrics cache;
  std::int64_t claims = 0;       ///< leases handed out (reclaims after expiry included)
  std::int64_t reclaims = 0;     ///< of them, of a task whose earlier lease had expired
  std::int64_t completions = 0;  ///< complete() calls that wrote a run
  std::int64_t replays = 0;      ///< complete() calls that repeated one (nothing written)
  /// Calls refused because their fencing token was stale (a grader that lost its lease).
  std::int64_t fenced = 0;
  std::int64_t failures = 0;          ///< fail() calls
  std::int64_t ranking_hits = 0;      ///< ranking reads served by the hot tier
  std::int64_t ranking_rebuilds = 0;  ///< rankings rebuilt from the database
};

/// Hot-tier updates skipped by writes that were acknowledged while Redis failed, and their
/// repairs from the database once it answered (docs/write-behind.md, "Redis outages"): live
/// violation counters, submitted seats' presence, attempts' hot copies.
struct HotRepairMetrics {
  std::int64_t skipped = 0;   ///< hot-tier updates skipped (their writes were acknowledged)
  std::int64_t repaired = 0;  ///< repairs done once Redis answered
  std::int64_t failed = 0;    ///< repair attempts that failed (Redis still away): kept pending
  /// Repairs waiting now: while > 0, some live views (counters, presence) lag the database.
  std::int64_t pending = 0;
};

/// Everything Store::metrics() reports.
struct MetricsSnapshot {
  CacheAsideMetrics cache_aside;
  /// The papers near cache (always on; see docs/papers.md).
  NearCacheMetrics paper_near_cache;
  /// The exams near cache (only used when Config::near_cache_ttl > 0).
  NearCacheMetrics exam_near_cache;
  PoolMetrics redis;
  PoolMetrics postgres;
  /// The PostgreSQL read replicas.
  ReplicaMetrics postgres_replicas;
  /// The write-behind queue (depth, lag = oldest_pending_age, retries, dead letters, ...).
  WriteBehindMetrics write_behind;
  /// Grading records.
  GradingMetrics grading;
  /// Hot-tier repairs after Redis failures.
  HotRepairMetrics hot_repairs;
  /// Messages the log sink threw on (they were dropped).
  std::int64_t log_sink_errors = 0;
};

/// Renders `m` in the Prometheus text exposition format 0.0.4, every metric name starting with
/// `prefix` and '_' ("examstore_cache_hits_total"). Pools of the embedded backends are left
/// out. Throws Error(kInvalidArgument) naming "prefix" when it is not a valid metric name
/// ([a-zA-Z_:][a-zA-Z0-9_:]*).
std::string to_prometheus(const MetricsSnapshot& m, std::string_view prefix = "examstore");

/// Renders `m` as one JSON object (the field names of the structs above; durations in
/// milliseconds, histogram sums in seconds).
std::string to_json(const MetricsSnapshot& m);

}  // namespace examstore
