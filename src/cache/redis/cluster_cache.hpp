// cache/redis/cluster_cache.hpp: the hot tier on a Redis Cluster (docs/redis-cluster.md).
//
// Keys are routed by hash slot (cluster_slot.hpp) to the master that owns the slot, found in a
// slot map read with CLUSTER SLOTS from the seeds (in order; unreachable ones are skipped). One
// connection pool per master, made on first use. Redirections are followed, also with
// failover_wait 0 (a redirection is not a failure): MOVED updates the map (and refreshes it
// whole, at most every 100 ms) and resends at the new owner; ASK resends once at the target
// after ASKING, without touching the map. Failures ride through a failover by the one rule of
// common/failover.hpp, within RedisOptions::failover_wait: TRYAGAIN and CLUSTERDOWN (refused,
// so always resent) and a failed node (resent when it was never sent, or when the call is
// idempotent). A failed node or CLUSTERDOWN makes the map be read again from the other nodes,
// and so does a background thread every second; a new map wakes the waiting calls at once.
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
