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
// A failover is also noticed at once: one background Subscriber (redis_subscriber.hpp) per
// resolver is subscribed to the sentinels' `+switch-master` channel (and `+promoted-slave`,
// which the failover's leader announces about a second before its own `+switch-master`), on
// one sentinel at a time (the next one when it dies). When a message names a new master for our
// master name, the resolver checks it with ROLE and adopts it at once, not waiting for an error
// or kMinInterval.
// A message lost while the watch reconnects costs nothing worse than before: the next error
// invalidates and the sentinels are asked again.
//
// Every connection made through connect_master() is tagged with epoch(), which changes whenever
// a different master is adopted, so pools drop idle connections to the old one; whenever it
// changes the resolver also notifies the Signal it was given, so calls riding through
// the failover (common/failover.hpp) are sent again at once.
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
#include "common/failover.hpp"
#include "common/log.hpp"
#include "examstore/error.hpp"

namespace examstore::redis {

class Subscriber;

/// What the sentinels say, for health reports.
struct SentinelStatus {
  /// "host:port" of the master the resolver uses now (empty when none is known).
  std::string master;
  /// Sentinels that answered, and the total asked.
  int reachable = 0;
  int total = 0;
  /// Whether the +switch-master watch is connected to a sentinel now.
  bool watching = false;
};

class SentinelResolver {
 public:
  /// Shortest time between two resolutions caused by invalidate().
  static constexpr std::chrono::milliseconds kMinInterval{250};

  /// `options` must have topology kSentinel, seeds and sentinel_master. `signal` (may be null;
  /// must outlive the resolver) is notified whenever a different master is adopted. Starts the
  /// +switch-master watch.
  SentinelResolver(RedisOptions options, const obs::Logger& log,
                   failover::Signal* signal = nullptr);
  ~SentinelResolver();
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

  /// A sentinel announced (`how`: the channel) that `name` failed over to `to`: when `name` is
  /// ours and `to` answers ROLE as master, adopts it at once (no rate limit) and returns true;
  /// otherwise makes the next master() ask the sentinels at once and returns false.
  bool switch_master(const std::string& name, const RedisEndpoint& to, std::string_view how);

  /// Asks every sentinel once (for health): the current master and how many answered.
  SentinelStatus probe();
  /// probe() as text: "master 127.0.0.1:6379, 3/3 sentinels reachable, +switch-master watched"
  /// (or "... not watched" while no sentinel can be subscribed to).
  std::string describe();

  /// "sentinel h:p,.../MASTER/db" (no credentials).
  const std::string& redacted() const { return redacted_; }

 private:
  RedisEndpoint resolve_locked();
  std::optional<RedisEndpoint> ask(const RedisEndpoint& sentinel, std::string& note) const;
  RedisOptions sentinel_options(const RedisEndpoint& sentinel) const;
  RedisOptions master_options(const RedisEndpoint& master) const;
  // ROLE on `ep`: true when master; otherwise `note` says why, and `answered` (if given) is set
  // when the server did answer.
  bool is_master(const RedisEndpoint& ep, std::string& note, bool* answered = nullptr) const;
  void adopt_locked(const RedisEndpoint& ep, std::string_view how);
  std::unique_ptr<Connection> connect_watch();
  void on_announcement(std::string_view channel, std::string_view message);

  const RedisOptions options_;
  const std::string redacted_;
  const obs::Logger& log_;
  failover::Signal* const signal_;
  std::atomic<bool> stale_{false};
  std::atomic<std::uint64_t> epoch_{0};

  std::mutex mu_;                     // guards every member below; held while resolving
  std::vector<RedisEndpoint> order_;  // the sentinels, the last one that answered first
  std::optional<RedisEndpoint> known_;
  std::chrono::steady_clock::time_point resolved_at_{};
  std::chrono::steady_clock::time_point retry_at_{};  // after a failed resolution
  std::optional<Error> last_error_;

  std::size_t watch_next_ = 0;         // the sentinel the watch tries next (its thread only)
  bool watch_connected_once_ = false;  // its thread only
  std::unique_ptr<Subscriber> watch_;  // last: its thread stops before the members above go
};

/// "host:port".
std::string endpoint_text(const RedisEndpoint& e);

/// True when a `ROLE` reply says master.
bool role_is_master(const redisReply& role);

}  // namespace examstore::redis
