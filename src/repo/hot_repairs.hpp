// repo/hot_repairs.hpp: hot-tier updates skipped while Redis was away, made good once it is back.
//
// A write whose durable copy is safe (journaled or committed) is acknowledged even when its
// hot-tier side (a live counter, a presence mark, a cached attempt) fails: the repository names
// what to repair ("exam 7", "attempt 7:12") with add(), and the repair runs later, from the
// database, on the repository's own calls: settle() is cheap when nothing is pending, and tries
// the pending repairs at most once per kRetryEvery while Redis is still away (each attempt with
// no failover wait, so a caller is never held for RedisOptions::failover_wait). A repair that
// fails stays pending, and so do the items after it. Repairs live in this process only: a process
// that exits with repairs pending leaves them to the next repair of the same item by any process
// (or, for counters, to the next recount), which the docs say (docs/write-behind.md, "Redis
// outages").
//
// Thread-safety: all methods are thread-safe; one settle() runs at a time (others return).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "obs/telemetry.hpp"

namespace examstore::repo {

class HotRepairs {
 public:
  /// Repairs one item; throws (any exception) when it cannot now.
  using Repair = std::function<void(const std::string& item)>;
  static constexpr std::chrono::milliseconds kRetryEvery{500};

  /// Counts in `counters` (the Store's telemetry; nullptr: counts in an object of its own).
  HotRepairs(Repair repair, obs::HotRepairCounters* counters)
      : repair_(std::move(repair)), c_(counters != nullptr ? *counters : own_) {}

  /// Remembers that `item`'s hot-tier copy missed an update.
  void add(const std::string& item);
  /// Runs the pending repairs unless none is pending, another thread is settling, or the last
  /// attempt failed less than kRetryEvery ago. Never throws.
  void settle() noexcept;
  /// Whether `item` waits for its repair (its hot-tier copy may be stale).
  bool contains(const std::string& item) const;
  /// Whether any item waits (one atomic load): Redis failed lately.
  bool any() const noexcept { return any_.load(std::memory_order_acquire); }

 private:
  const Repair repair_;
  obs::HotRepairCounters own_;
  obs::HotRepairCounters& c_;
  std::atomic<bool> any_{false};
  mutable std::mutex mu_;                       // guards items_, adds_ and last_failure_
  std::map<std::string, std::uint64_t> items_;  // item -> adds_ when last added
  std::uint64_t adds_ = 0;
  std::chrono::steady_clock::time_point last_failure_{};
  std::mutex settling_;  // held by the one settle() that runs repairs
};

}  // namespace examstore::repo
