// cache/redis/cluster_cache.hpp: the hot tier on a Redis Cluster (docs/redis-cluster.md).
//
// Keys are routed by hash slot (cluster_slot.hpp) to the master that owns the slot, found in a
// slot map read with CLUSTER SLOTS from the seeds (in order; unreachable ones are skipped). One
// connection pool per master, made on first use. Redirections are followed: MOVED updates the
// map (and refreshes it whole, at most every 100 ms) and retries at the new owner; ASK retries
// once at the target after ASKING, without touching the map; TRYAGAIN and CLUSTERDOWN retry with
// backoff. A lost connection refreshes the map and retries a command only when that is safe (it
// was not sent, or it is a read or a plain SET); otherwise the error, with outcome_unknown(), goes
// to the caller as on a standalone server. All retries of one call end after command_timeout.
//
// Thread-safety: as Cache.
#pragma once

#include <memory>

#include "examstore/cache.hpp"
#include "examstore/config.hpp"

namespace examstore::obs {
struct Telemetry;
}  // namespace examstore::obs

namespace examstore::redis {

/// A Cache on the Redis Cluster whose seeds `options` lists (topology kCluster); connects lazily.
/// Counts into and logs through `telemetry` when given (it must outlive the cache).
std::unique_ptr<Cache> make_cluster_cache(const RedisOptions& options,
                                          obs::Telemetry* telemetry = nullptr);

}  // namespace examstore::redis
