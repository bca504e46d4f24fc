// repo/cache_aside.hpp: the read path every repository shares.
//
//   get(key, load): the hot tier first; on a miss, one loader per key in this process (the
//   others wait for its result), then a guarded fill with a jittered TTL. A missing entity is
//   cached as an "absent" marker for negative_ttl.
//   invalidate(key): after a database write, bump the key's generation, delete the key and
//   publish the key on the invalidation channel. invalidate_many(keys) does the same for
//   several keys in one pipelined round trip (see try_invalidate in cache_aside.cpp for why a
//   pipeline is as safe as the script).
//
// The stale-fill race: a reader that loaded the old row before a write must not put it back
// after the write's invalidation. The reader notes the key's generation before loading; the
// fill is a script that sets the value only if the generation is still the one noted. The
// invalidation changes it first, so a late fill of the old row is refused.
//
// A hot-tier failure never reaches the caller: the read goes to the database and the failure is
// counted. An invalidation that fails (the hot tier is down when a write commits) is remembered
// and retried by this object's next operation; until it succeeds, reads of that key in this
// process bypass the cache, so the writer reads its own write. Other processes may read the old
// copy until the retry succeeds (at the latest when its TTL ends). Thread-safety: all methods
// are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "examstore/cache.hpp"
#include "examstore/metrics.hpp"

namespace examstore::repo {

struct CacheAsideStats {
  std::atomic<std::int64_t> hits{0};
  std::atomic<std::int64_t> negative_hits{0};
  std::atomic<std::int64_t> misses{0};
  std::atomic<std::int64_t> loads{0};          ///< database loads (one per single flight)
  std::atomic<std::int64_t> load_errors{0};    ///< single-flight loads that threw
  std::atomic<std::int64_t> fills_refused{0};  ///< fills stopped by the generation guard
  std::atomic<std::int64_t> invalidations{0};
  std::atomic<std::int64_t> cache_errors{0};  ///< hot-tier failures degraded to the database
  std::atomic<std::int64_t> invalidations_retried{0};  ///< failed invalidations sent later
};

/// The counters as MetricsSnapshot reports them (with the hit rate).
CacheAsideMetrics snapshot(const CacheAsideStats& s);

class CacheAside {
 public:
  using Loader = std::function<std::optional<std::string>()>;

  /// Invalidated keys are published on `channel`.
  CacheAside(Cache& cache, std::string channel, std::chrono::seconds ttl, double ttl_jitter,
             std::chrono::seconds negative_ttl);

  /// The encoded value of `key`, or nullopt when the entity does not exist. Exceptions of
  /// `load` propagate (to every waiter of the same flight). A fill lives for `ttl` (jittered)
  /// when given, else for the TTL given at construction.
  std::optional<std::string> get(const std::string& key, const Loader& load,
                                 std::optional<std::chrono::seconds> ttl = std::nullopt);
  /// Makes every cached copy of `key` go away (see above). Hot-tier failures are counted, not
  /// thrown: the write has already committed.
  void invalidate(const std::string& key);
  /// invalidate() of every key in `keys`: the generation bumps, deletes and messages of all
  /// keys in one Batch, so one round trip (on Redis Cluster, one per node holding some of the
  /// keys, then one for the messages). When it fails, every key is remembered and retried as
  /// invalidate() does.
  void invalidate_many(const std::vector<std::string>& keys);

  const CacheAsideStats& stats() const { return stats_; }

 private:
  struct Flight;
  std::optional<std::string> lead(const std::string& key, Flight& flight, const Loader& load,
                                  std::chrono::seconds ttl);
  /// One attempt of the invalidation of `keys` and their messages, in one Batch; false when the
  /// hot tier failed.
  bool try_invalidate(const std::set<std::string>& keys);
  /// Retries remembered invalidations; true when `key` has none left.
  bool settle_invalidations(const std::string& key);
  std::chrono::milliseconds jittered_ttl(std::chrono::seconds ttl);

  Cache& cache_;
  const std::string channel_;
  const std::chrono::seconds ttl_;
  const double jitter_;
  const std::chrono::seconds negative_ttl_;
  CacheAsideStats stats_;
  std::mutex mu_;  // guards flights_, rng_ and unsent_
  std::map<std::string, std::shared_ptr<Flight>> flights_;
  std::set<std::string> unsent_;  // invalidations that failed, to retry
  std::atomic<bool> any_unsent_{false};
  std::minstd_rand rng_;
};

}  // namespace examstore::repo
