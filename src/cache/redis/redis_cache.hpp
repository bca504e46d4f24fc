// cache/redis/redis_cache.hpp: the factory of the Redis hot tier (hiredis, pooled).
#pragma once

#include <memory>

#include "examstore/cache.hpp"
#include "examstore/config.hpp"

namespace examstore::obs {
struct Telemetry;
}  // namespace examstore::obs

namespace examstore::redis {

/// A Cache on the Redis server named by `options`; connects lazily (first use).
/// Counts into and logs through `telemetry` when given (it must outlive the cache).
std::unique_ptr<Cache> make_redis_cache(const RedisOptions& options,
                                        obs::Telemetry* telemetry = nullptr);

}  // namespace examstore::redis
