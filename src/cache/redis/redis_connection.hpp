// cache/redis/redis_connection.hpp: one blocking hiredis connection, with every failure
// translated into examstore::Error.
//
// A connection that hit an I/O error is "broken" and must be dropped: hiredis leaves its context
// unusable. Before reuse, looks_alive() checks without a round trip whether the server closed
// the socket (as it does when it restarts), so a pooled connection to a restarted server is
// replaced before a command is sent on it, and no command is ever retried blindly. A reply
// that says the server is no longer a usable master (READONLY: demoted to replica; LOADING;
// MASTERDOWN) also marks the connection broken, so the pool drops it and, with Sentinel,
// asks for the master again.
//
// Not thread-safe: one thread at a time (the pool hands it out).
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "examstore/cache.hpp"
#include "examstore/config.hpp"

namespace examstore::obs {
struct PoolCounters;
}  // namespace examstore::obs

namespace examstore::redis {

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

/// The words of one command.
using Argv = std::vector<std::string_view>;

class Connection {
 public:
  /// Connects (connect_timeout), with options.tls.enabled runs the TLS handshake (also within
  /// connect_timeout; see redis_tls.hpp), sets command_timeout, sends AUTH and SELECT when
  /// configured (PING over TLS when neither is). Throws kUnavailable (refused, unreachable,
  /// closed, TLS refused), kTimeout, kPermissionDenied (AUTH), or kInvalidArgument (a TLS file
  /// that cannot be loaded). `endpoint` names the server in errors (empty: options.redacted()).
  explicit Connection(const RedisOptions& options, std::string endpoint = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Sends every command, then reads every reply, in order (one round trip). Error replies are
  /// returned as replies (type REDIS_REPLY_ERROR); I/O failures throw and mark the connection
  /// broken (outcome_unknown when the commands may have reached the server).
  std::vector<ReplyPtr> pipeline(const std::vector<Argv>& commands, std::string_view operation);
  /// One command; an error reply throws (see throw_reply_error).
  ReplyPtr command(const Argv& argv, std::string_view operation);

  /// False when the server has closed the socket or sent something unexpected; no round trip.
  bool looks_alive() const;
  bool broken() const { return broken_; }
  /// Why the connection broke (empty while it is not broken).
  const std::string& failure() const { return failure_; }
  redisContext* context() { return ctx_; }
  const std::string& endpoint() const { return endpoint_; }

  /// Marks the connection unusable and throws the Error for the context's I/O failure.
  [[noreturn]] void fail_io(std::string_view operation, bool sent);

  /// Counts commands, round-trip latencies and failures into `counters` from now on (nullptr:
  /// nothing is counted).
  void count_into(obs::PoolCounters* counters) { counters_ = counters; }

  /// The master epoch this connection was made in (Sentinel; 0 otherwise).
  std::uint64_t generation() const { return generation_; }
  void set_generation(std::uint64_t g) { generation_ = g; }

 private:
  void note_error_reply(const redisReply& r);
  void set_timeout(std::chrono::milliseconds timeout);

  std::uint64_t generation_ = 0;
  obs::PoolCounters* counters_ = nullptr;
  redisContext* ctx_ = nullptr;
  std::string endpoint_;
  bool tls_ = false;
  bool broken_ = false;
  std::string failure_;
};

/// Throws the examstore::Error for an error reply ("WRONGTYPE ...", "LOADING ...").
[[noreturn]] void throw_reply_error(const redisReply& r, std::string_view operation,
                                    const std::string& endpoint);
/// Converts a hiredis reply to a Reply (status -> string, error -> throws).
Reply to_reply(const redisReply& r, std::string_view operation, const std::string& endpoint);

}  // namespace examstore::redis
