// cache/redis/replica_wait.hpp: the optional `WAIT numreplicas timeout` after writes
// (RedisOptions::wait_replicas), so that an acknowledged write is on that many replicas and
// survives a failover.
//
// Which round trips wait (docs/redis-sentinel.md): every single write command (SET, SET NX,
// DEL, PEXPIRE, INCRBY, SETRANGE, HSET, HDEL, HINCRBY, ZADD, ZREM), every execute() batch that
// holds a write, every execute_atomic() batch that holds a write, and every script (run():
// scripts may write). WAIT goes into the same pipeline as the write, so it costs no extra round
// trip, only the replication delay. PUBLISH and reads never wait.
//
// Thread-safety: immutable after construction.
#pragma once

#include <string>
#include <string_view>

#include "cache/redis/redis_connection.hpp"
#include "examstore/cache.hpp"

namespace examstore::redis {

class ReplicaWait {
 public:
  explicit ReplicaWait(const RedisOptions& options);

  /// Whether writes wait at all (wait_replicas > 0).
  bool enabled() const { return wanted_ > 0; }
  /// Whether a command (by its first word) writes and so waits when enabled.
  bool after(std::string_view command) const;
  /// Whether a batch holds a write and so waits when enabled.
  bool after(const Batch& batch) const;
  /// The WAIT command to append.
  const Argv& argv() const { return argv_; }
  /// Throws kUnavailable (outcome_unknown: the write is on the master) naming the replicas that
  /// confirmed and those wanted, when WAIT's reply is short; an error reply throws as such.
  void check(const redisReply& reply, std::string_view operation,
             const std::string& endpoint) const;

 private:
  const int wanted_;
  const std::string count_;
  const std::string timeout_ms_;
  const Argv argv_;
};

}  // namespace examstore::redis
