#include "cache/redis/replica_wait.hpp"

#include <array>

#include "examstore/error.hpp"

namespace examstore::redis {

ReplicaWait::ReplicaWait(const RedisOptions& options)
    : wanted_(options.wait_replicas),
      count_(std::to_string(options.wait_replicas)),
      timeout_ms_(std::to_string(options.wait_timeout.count())),
      argv_{"WAIT", count_, timeout_ms_} {}

bool ReplicaWait::after(std::string_view command) const {
  static constexpr std::array<std::string_view, 10> kWrites = {
      "SET", "DEL", "PEXPIRE", "INCRBY", "SETRANGE", "HSET", "HDEL", "HINCRBY", "ZADD", "ZREM"};
  if (!enabled()) return false;
  for (auto w : kWrites) {
    if (w == command) return true;
  }
  return false;
}

bool ReplicaWait::after(const Batch& batch) const {
  if (!enabled()) return false;
  using Op = Batch::Op;
  for (const auto& c : batch.commands()) {
    if (c.op != Op::kGet && c.op != Op::kHGet && c.op != Op::kZScore && c.op != Op::kZCard) {
      return true;
    }
  }
  return false;
}

void ReplicaWait::check(const redisReply& reply, std::string_view operation,
                        const std::string& endpoint) const {
  if (reply.type == REDIS_REPLY_ERROR) throw_reply_error(reply, operation, endpoint);
  if (reply.type != REDIS_REPLY_INTEGER) {
    throw Error(ErrorCode::kInternal, std::string(operation), "unexpected reply to WAIT", endpoint);
  }
  if (reply.integer >= wanted_) return;
  throw Error(ErrorCode::kUnavailable, std::string(operation),
              "the write is on the master, but only " + std::to_string(reply.integer) + " of " +
                  count_ + " replicas (wait_replicas) confirmed it within " + timeout_ms_ +
                  " ms (wait_timeout)",
              endpoint, true);
}

}  // namespace examstore::redis
