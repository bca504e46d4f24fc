// cache/redis/redis_pool.hpp: a bounded pool of Redis connections.
//
// Connections are made lazily, up to pool_size. A caller waits up to pool_wait_timeout for a
// free one (then kResourceExhausted). On checkout an idle connection is probed without a round
// trip (Connection::looks_alive) and replaced when the server has closed it, so after a Redis
// restart the first command goes out on a fresh connection. A connection that failed is dropped.
//
// With Sentinel, every connection is made to the master the SentinelResolver names (verified
// with ROLE). A dropped connection (I/O error, READONLY, LOADING, closed by the server) makes the
// resolver ask the sentinels again, and idle connections made for an older master are dropped
// on checkout, so the pool follows a failover without a restart. The resolver notifies
// failover_signal() when it adopts a new master, so calls riding through the failover
// (common/failover.hpp) are sent again at once.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "cache/redis/redis_connection.hpp"
#include "cache/redis/redis_tls.hpp"
#include "cache/redis/sentinel.hpp"
#include "common/failover.hpp"
#include "obs/telemetry.hpp"

namespace examstore::redis {

class Pool {
 public:
  /// Counts into and logs through `telemetry` (nullptr: neither). With TLS, loads its files
  /// now (kInvalidArgument naming the field when one cannot be loaded).
  explicit Pool(RedisOptions options, obs::Telemetry* telemetry = nullptr);
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// A leased connection; goes back to the pool on destruction unless it broke.
  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&&) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease() {
      if (conn_) pool_->release(std::move(conn_));
    }
    Connection* operator->() { return conn_.get(); }
    Connection& operator*() { return *conn_; }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  /// Leases a live connection, connecting if needed. Throws kResourceExhausted when the pool
  /// stays full for pool_wait_timeout, or the connect error (kUnavailable, kTimeout, ...).
  Lease acquire();

  const RedisOptions& options() const { return options_; }
  const std::string& endpoint() const { return endpoint_; }
  /// The Sentinel resolver (nullptr for a standalone server).
  const std::shared_ptr<SentinelResolver>& resolver() const { return resolver_; }
  /// Wakes the calls waiting out a failover (common/failover.hpp) when the resolver adopts a new
  /// master (+switch-master, or the sentinels asked after an error).
  failover::Signal& failover_signal() { return failover_; }

 private:
  void release(std::unique_ptr<Connection> conn);
  std::unique_ptr<Connection> connect();
  void publish_locked() {
    if (counters_) counters_->publish(open_, static_cast<std::int64_t>(idle_.size()));
  }

  const RedisOptions options_;
  const std::string endpoint_;
  const std::shared_ptr<TlsContext> tls_;  // held so that its connections share it
  obs::PoolCounters* const counters_;
  const obs::Logger& log_;
  failover::Signal failover_;  // before resolver_, which notifies it
  const std::shared_ptr<SentinelResolver> resolver_;
  std::mutex mu_;  // guards idle_ and open_
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Connection>> idle_;
  int open_ = 0;
};

}  // namespace examstore::redis
