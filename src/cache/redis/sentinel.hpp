// cache/redis/sentinel.hpp: finding the Redis master through Sentinel, and following failovers.
//
// The resolver asks the sentinels in order (`SENTINEL get-master-addr-by-name`, short timeouts,
// skipping unreachable ones; the one that answered moves to the front) and verifies the answer
// with `ROLE` on the named server: during a failover a sentinel may still name a server that has
// just been demoted, and that answer is asked again (every 100 ms, up to command_timeout).
//
// The address is kept until an error hints at a failover (an I/O error, READONLY, LOADING, a
// connection the server closed): whoever saw the error calls invalidate(), and the next
// master() asks the sentinels again. Re-resolving happens at most once per kMinInterval, and
// only one thread resolves at a time (the others wait for its answer), so a storm of errors does
// not hammer the sentinels. When no sentinel answers, the last known master is kept: sentinels
// being down does not take a working master away.
//
// Every connection made through connect_master() is tagged with epoch(), which changes whenever
// a different master is adopted, so pools drop idle connections to the old one.
//
// Sentinels are asked without AUTH (the URL's credentials are the master's), with the same TLS
// options as the master (rediss-sentinel://: the sentinels listen on their tls-port).
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cache/redis/redis_connection.hpp"
#include "common/log.hpp"
#include "examstore/error.hpp"

namespace examstore::redis {

/// What the sentinels say, for health reports.
struct SentinelStatus {
  /// "host:port" of the master the resolver uses now (empty when none is known).
  std::string master;
  /// Sentinels that answered, and the total asked.
  int reachable = 0;
  int total = 0;
};

class SentinelResolver {
 public:
  /// Shortest time between two resolutions caused by invalidate().
  static constexpr std::chrono::milliseconds kMinInterval{250};

  /// `options` must have topology kSentinel, seeds and sentinel_master.
  SentinelResolver(RedisOptions options, const obs::Logger& log);
  SentinelResolver(const SentinelResolver&) = delete;
  SentinelResolver& operator=(const SentinelResolver&) = delete;

  /// The master's address, asking the sentinels when it is unknown or invalidated. Throws
  /// kUnavailable naming the sentinels (redacted URL), the master name and what each sentinel
  /// said when no verified master can be found and none was known before.
  RedisEndpoint master();

  /// A new connection to the master (AUTH, SELECT as configured), verified with ROLE, tagged
  /// with epoch(). On failure, invalidates and throws (kUnavailable, kTimeout, ...).
  std::unique_ptr<Connection> connect_master();

  /// Forgets the master after an error that may mean a failover; the next master() asks the
  /// sentinels (rate-limited, see kMinInterval). Cheap: no I/O.
  void invalidate() noexcept { stale_.store(true, std::memory_order_relaxed); }

  /// Changes whenever a different master address is adopted.
  std::uint64_t epoch() const noexcept { return epoch_.load(std::memory_order_acquire); }

  /// Asks every sentinel once (for health): the current master and how many answered.
  SentinelStatus probe();
  /// probe() as text: "master 127.0.0.1:6379, 3/3 sentinels reachable".
  std::string describe();

  /// "sentinel h:p,.../MASTER/db" (no credentials).
  const std::string& redacted() const { return redacted_; }

 private:
  RedisEndpoint resolve_locked();
  std::optional<RedisEndpoint> ask(const RedisEndpoint& sentinel, std::string& note) const;
  RedisOptions sentinel_options(const RedisEndpoint& sentinel) const;
  RedisOptions master_options(const RedisEndpoint& master) const;

  const RedisOptions options_;
  const std::string redacted_;
  const obs::Logger& log_;
  std::atomic<bool> stale_{false};
  std::atomic<std::uint64_t> epoch_{0};

  std::mutex mu_;                     // guards every member below; held while resolving
  std::vector<RedisEndpoint> order_;  // the sentinels, the last one that answered first
  std::optional<RedisEndpoint> known_;
  std::chrono::steady_clock::time_point resolved_at_{};
  std::chrono::steady_clock::time_point retry_at_{};  // after a failed resolution
  std::optional<Error> last_error_;
};

/// "host:port".
std::string endpoint_text(const RedisEndpoint& e);

/// True when a `ROLE` reply says master.
bool role_is_master(const redisReply& role);

}  // namespace examstore::redis
