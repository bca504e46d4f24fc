// cache/redis/redis_commands.hpp: the Cache operations that are one Redis command on one key,
// written once for every Redis deployment.
//
// RedisCommands encodes each single-key Cache call as a Redis command and decodes the reply; a
// subclass only says where a command goes (call()): the standalone cache sends it on a pooled
// connection, the Cluster cache to the node that owns the key's slot. Batches, transactions,
// scripts, pub/sub and health depend on the deployment and stay with the subclass, which reuses
// the reply conversions below.
//
// Thread-safety: as Cache (call() must be thread-safe).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cache/redis/redis_connection.hpp"
#include "examstore/cache.hpp"
#include "examstore/store.hpp"

namespace examstore::redis {

class RedisCommands : public Cache {
 public:
  std::optional<std::string> get(std::string_view key) override;
  void set(std::string_view key, std::string_view value, std::chrono::milliseconds ttl) override;
  bool set_if_absent(std::string_view key, std::string_view value,
                     std::chrono::milliseconds ttl) override;
  std::int64_t del(const std::vector<std::string>& keys) override;
  bool expire(std::string_view key, std::chrono::milliseconds ttl) override;
  std::optional<std::chrono::milliseconds> ttl(std::string_view key) override;
  std::int64_t incr_by(std::string_view key, std::int64_t delta) override;
  std::string getrange(std::string_view key, std::int64_t start, std::int64_t end) override;
  std::int64_t setrange(std::string_view key, std::int64_t offset, std::string_view value) override;
  std::int64_t strlen(std::string_view key) override;
  std::int64_t hset(std::string_view key, const FieldValues& fields) override;
  std::optional<std::string> hget(std::string_view key, std::string_view field) override;
  FieldValues hgetall(std::string_view key) override;
  std::int64_t hdel(std::string_view key, const std::vector<std::string>& fields) override;
  std::int64_t hincr_by(std::string_view key, std::string_view field, std::int64_t delta) override;
  std::int64_t zadd(std::string_view key, const std::vector<ScoredMember>& members) override;
  std::int64_t zrem(std::string_view key, const std::vector<std::string>& members) override;
  std::vector<ScoredMember> zrange(std::string_view key, std::int64_t start,
                                   std::int64_t stop) override;
  std::vector<ScoredMember> zrange_by_score(std::string_view key, double min, double max,
                                            std::int64_t limit) override;
  std::optional<std::int64_t> zrank(std::string_view key, std::string_view member) override;
  std::optional<double> zscore(std::string_view key, std::string_view member) override;
  std::int64_t zcard(std::string_view key) override;
  std::int64_t zcount(std::string_view key, double min, double max) override;

 protected:
  /// Runs one command whose key (if any) is argv[1]; an error reply throws (throw_reply_error).
  virtual ReplyPtr call(const Argv& argv, std::string_view operation) = 0;
  /// Where commands go, for error messages.
  virtual const std::string& endpoint() const = 0;

  std::string str(const redisReply& r) const;
  std::optional<std::string> opt_string(ReplyPtr r) const;
  std::int64_t integer(ReplyPtr r, std::string_view operation) const;
  double score(const std::string& s, std::string_view operation) const;
  std::vector<ScoredMember> scored(ReplyPtr r, std::string_view operation) const;
  [[noreturn]] void unexpected(const redisReply& r, std::string_view wanted,
                               std::string_view operation = "redis") const;
  /// The Redis command of one Batch command.
  static Argv to_argv(const Batch::Command& c);
  /// True when every command of `batch` is idempotent_command (below).
  static bool idempotent(const Batch& batch);
  /// MULTI, the batch's commands, EXEC: the pipeline of an atomic batch (exec_replies reads it).
  static std::vector<Argv> multi_exec(const Batch& batch);
  /// Every reply of a batch, in order; the first error reply is thrown after all are converted.
  std::vector<Reply> convert_all(redisReply* const* raw, std::size_t n,
                                 std::string_view operation) const;
  /// The replies of a pipelined MULTI ... EXEC whose first queued command is raw[first]: EXEC's
  /// array converted, or the error of the command that aborted the transaction.
  std::vector<Reply> exec_replies(const std::vector<ReplyPtr>& raw, std::size_t first,
                                  std::string_view operation) const;
};

/// True when sending `argv` twice leaves the state that sending it once leaves: reads, SET
/// (not NX), PEXPIRE, DEL, HSET, HDEL, ZADD, ZREM, SETRANGE, SCRIPT LOAD, PING. Such a command
/// is sent again after a failover even when its first reply was lost (common/failover.hpp); the
/// count a resent DEL, HSET, ... returns is the second sending's.
bool idempotent_command(const Argv& argv);

/// PING (the round trip) and INFO server (the version) on `conn`, into `h`; throws on failure.
void probe_health(Connection& conn, BackendHealth& h);

}  // namespace examstore::redis
