// obs/telemetry.hpp: the counters behind Store::metrics() and the logger, owned by the Store and
// handed to the pools, the near caches and the write-behind queue.
//
// Everything on a hot path is a relaxed atomic: an observation is a handful of fetch_adds, with
// no lock and no allocation. Objects built without a Store (tests, tools) get nullptr and count
// nothing.
// Thread-safety: all members are thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "common/log.hpp"
#include "examstore/config.hpp"
#include "examstore/metrics.hpp"

namespace examstore::obs {

/// Latency buckets in microseconds (50 us .. 10 s), the +Inf bucket implied.
inline constexpr std::array<std::int64_t, 16> kLatencyBoundsUs{
    50,    100,   250,    500,    1000,   2500,    5000,    10000,
    25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 10000000};

class AtomicHistogram {
 public:
  void observe(std::chrono::steady_clock::duration d) noexcept {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    std::size_t i = 0;
    while (i < kLatencyBoundsUs.size() && us > kLatencyBoundsUs[i]) ++i;
    buckets_[i].fetch_add(1, std::memory_order_relaxed);
    sum_ns_.fetch_add(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()),
        std::memory_order_relaxed);
  }
  Histogram snapshot() const;

 private:
  std::array<std::atomic<std::uint64_t>, kLatencyBoundsUs.size() + 1> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

/// Counters a pool keeps; the gauges (size, in use) are published by the pool under its lock.
struct PoolCounters {
  std::atomic<std::int64_t> size{0};
  std::atomic<std::int64_t> in_use{0};
  std::atomic<std::int64_t> connects{0};
  std::atomic<std::int64_t> waits{0};
  std::atomic<std::int64_t> wait_timeouts{0};
  std::atomic<std::int64_t> commands{0};
  std::atomic<std::int64_t> errors{0};
  std::atomic<std::int64_t> retries{0};  ///< Redis: commands sent again after a failover
  AtomicHistogram latency;

  void add(std::atomic<std::int64_t>& c, std::int64_t n = 1) noexcept {
    c.fetch_add(n, std::memory_order_relaxed);
  }
  /// size and in_use as the pool sees them now (called under the pool's lock).
  void publish(std::int64_t open, std::int64_t idle) noexcept {
    size.store(open, std::memory_order_relaxed);
    in_use.store(open - idle, std::memory_order_relaxed);
  }
  /// The plain values; `snapshot.enabled`, endpoint and max_size are the caller's.
  PoolMetrics snapshot() const;
};

struct NearCacheCounters {
  std::atomic<std::int64_t> hits{0};
  std::atomic<std::int64_t> misses{0};
  void count(bool hit) noexcept { (hit ? hits : misses).fetch_add(1, std::memory_order_relaxed); }
  NearCacheMetrics snapshot() const {
    return {hits.load(std::memory_order_relaxed), misses.load(std::memory_order_relaxed)};
  }
};

/// The read replicas of the PostgreSQL tier (db/pg_replicas.hpp), all replicas together.
struct ReplicaCounters {
  std::atomic<std::int64_t> reads{0};                 ///< reads a replica served
  std::atomic<std::int64_t> fallback_lag{0};          ///< behind after replica_wait: primary read
  std::atomic<std::int64_t> fallback_unavailable{0};  ///< none reachable / failed: primary read
  std::atomic<std::int64_t> waits{0};                 ///< reads that waited for replay
  std::atomic<std::int64_t> positions_recorded{0};    ///< WAL positions read after a commit
  std::atomic<std::int64_t> lag_bytes{0};             ///< the last lag seen behind our writes
  std::atomic<std::int64_t> max_lag_bytes{0};         ///< the largest lag seen

  void add(std::atomic<std::int64_t>& c) noexcept { c.fetch_add(1, std::memory_order_relaxed); }
  void saw_lag(std::int64_t bytes) noexcept {
    lag_bytes.store(bytes, std::memory_order_relaxed);
    std::int64_t seen = max_lag_bytes.load(std::memory_order_relaxed);
    while (bytes > seen &&
           !max_lag_bytes.compare_exchange_weak(seen, bytes, std::memory_order_relaxed)) {
    }
  }
  ReplicaMetrics snapshot() const {
    ReplicaMetrics m;
    m.reads = reads.load(std::memory_order_relaxed);
    m.fallback_lag = fallback_lag.load(std::memory_order_relaxed);
    m.fallback_unavailable = fallback_unavailable.load(std::memory_order_relaxed);
    m.waits = waits.load(std::memory_order_relaxed);
    m.positions_recorded = positions_recorded.load(std::memory_order_relaxed);
    m.lag_bytes = lag_bytes.load(std::memory_order_relaxed);
    m.max_lag_bytes = max_lag_bytes.load(std::memory_order_relaxed);
    return m;
  }
};

/// Hot-tier repairs (repo/hot_repairs.hpp), all repositories together.
struct HotRepairCounters {
  std::atomic<std::int64_t> skipped{0};
  std::atomic<std::int64_t> repaired{0};
  std::atomic<std::int64_t> failed{0};
  std::atomic<std::int64_t> pending{0};

  void add(std::atomic<std::int64_t>& c, std::int64_t n = 1) noexcept {
    c.fetch_add(n, std::memory_order_relaxed);
  }
  HotRepairMetrics snapshot() const {
    return {skipped.load(std::memory_order_relaxed), repaired.load(std::memory_order_relaxed),
            failed.load(std::memory_order_relaxed), pending.load(std::memory_order_relaxed)};
  }
};

/// One per Store.
struct Telemetry {
  explicit Telemetry(const Config& config) : log(config.log_sink, config.log_level) {}
  Logger log;
  PoolCounters redis;
  PoolCounters postgres;
  ReplicaCounters postgres_replicas;
  NearCacheCounters paper_near_cache;
  NearCacheCounters exam_near_cache;
  HotRepairCounters hot_repairs;
};

/// Times one call for `counters` (which may be nullptr: nothing is counted).
class Timer {
 public:
  explicit Timer(PoolCounters* counters) noexcept
      : counters_(counters),
        start_(counters ? std::chrono::steady_clock::now()
                        : std::chrono::steady_clock::time_point{}) {}
  void done() noexcept {
    if (counters_) counters_->latency.observe(std::chrono::steady_clock::now() - start_);
  }

 private:
  PoolCounters* counters_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace examstore::obs
