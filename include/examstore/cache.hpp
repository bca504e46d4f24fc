// examstore/cache.hpp: the hot-tier interface (Redis, or the embedded in-memory store).
//
// The repositories keep their live state through this interface, and users may bring their own
// implementation. Two ship with the library: the in-memory one (the default, no server) and the
// Redis one (hiredis, pooled). Both pass the same contract test suite, so code written against
// one behaves the same on the other.
//
// Semantics follow Redis: a missing key reads as empty (std::optional / empty vector / 0), a
// TTL of zero means "no expiry", operations on a key of the wrong type throw
// Error(kInvalidArgument). Keys are raw bytes; the library's own keys come from validated ids
// (see docs/keys.md). Atomic operations (execute_atomic, run) require all their keys to share
// one hash tag ("{e:42}" in "exam:{e:42}:cfg"), so that they also work on Redis Cluster; keys of
// different tags are rejected with kInvalidArgument on every implementation.
//
// Failures: kUnavailable / kTimeout when the server cannot be reached (retryable), with
// outcome_unknown() set when a write had already been sent.
//
// Thread-safety: every method may be called from any number of threads at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace examstore {

struct BackendHealth;

/// A member of a sorted set with its score.
struct ScoredMember {
  std::string member;
  double score = 0;
  bool operator==(const ScoredMember& o) const { return member == o.member && score == o.score; }
};

/// A field/value list of a hash, in ascending field order.
using FieldValues = std::vector<std::pair<std::string, std::string>>;

/// The reply of one command of a Batch or of a Script.
struct Reply {
  enum class Type { kNil, kInteger, kString, kArray };
  Type type = Type::kNil;
  std::int64_t integer = 0;
  std::string str;
  std::vector<Reply> elements;

  static Reply nil() { return {}; }
  static Reply of(std::int64_t v) {
    Reply r;
    r.type = Type::kInteger;
    r.integer = v;
    return r;
  }
  static Reply of(std::string v) {
    Reply r;
    r.type = Type::kString;
    r.str = std::move(v);
    return r;
  }
  bool is_nil() const { return type == Type::kNil; }
  bool operator==(const Reply& o) const {
    return type == o.type && integer == o.integer && str == o.str && elements == o.elements;
  }
};

/// A list of commands sent in one round trip (pipelined). Build it, then hand it to
/// Cache::execute (independent commands) or Cache::execute_atomic (isolated, one hash
/// tag). Each command's reply is at the same index of the returned vector:
///   set -> "OK", get/hget/zscore -> string or nil, the others -> integer (as in Redis;
///   zscore's string is the score as Redis prints it; publish's integer is Cache::publish's).
/// A publish's channel stands where the other commands' key is: it counts for the one-hash-tag
/// rule of execute_atomic and, on Redis Cluster, picks the node (as Cache::publish does).
class Batch {
 public:
  enum class Op {
    kSet,
    kGet,
    kDel,
    kExpire,
    kIncrBy,
    kHSet,
    kHGet,
    kHDel,
    kHIncrBy,
    kZAdd,
    kZRem,
    kZScore,
    kZCard,
    kPublish
  };
  struct Command {
    Op op;
    std::string key;
    std::vector<std::string> args;
  };

  Batch& set(std::string_view key, std::string_view value,
             std::chrono::milliseconds ttl = std::chrono::milliseconds::zero());
  Batch& get(std::string_view key);
  Batch& del(std::string_view key);
  Batch& expire(std::string_view key, std::chrono::milliseconds ttl);
  Batch& incr_by(std::string_view key, std::int64_t delta);
  Batch& hset(std::string_view key, std::string_view field, std::string_view value);
  Batch& hget(std::string_view key, std::string_view field);
  Batch& hdel(std::string_view key, std::string_view field);
  Batch& hincr_by(std::string_view key, std::string_view field, std::int64_t delta);
  Batch& zadd(std::string_view key, std::string_view member, double score);
  Batch& zrem(std::string_view key, std::string_view member);
  Batch& zscore(std::string_view key, std::string_view member);
  Batch& zcard(std::string_view key);
  /// Cache::publish in the batch: lets a write and the message announcing it share a round trip.
  Batch& publish(std::string_view channel, std::string_view message);

  const std::vector<Command>& commands() const { return commands_; }
  std::size_t size() const { return commands_.size(); }
  bool empty() const { return commands_.empty(); }
  void clear() { commands_.clear(); }

 private:
  Batch& add(Op op, std::string_view key, std::vector<std::string> args);
  std::vector<Command> commands_;
};

class Cache;

/// A server-side atomic operation over keys of one hash tag: a Lua body for Redis and an
/// equivalent C++ body for other implementations, which runs with exclusive access to the
/// cache (no other command interleaves). The contract suite runs every script on both, so
/// the two bodies are checked against each other.
struct Script {
  /// A short name for errors and metrics ("paper.move").
  std::string name;
  /// The Lua source, using KEYS and ARGV as EVAL does. Numbers return as integers, strings as
  /// strings, nil/false as nil, tables as arrays.
  std::string lua;
  /// The equivalent body for non-Redis caches: it may call any Cache method on `cache`.
  std::function<Reply(Cache& cache, const std::vector<std::string>& keys,
                      const std::vector<std::string>& args)>
      local;
  /// True when running the script twice with the same keys and arguments leaves the same state
  /// as running it once (it sets values, guards by a version or an id, never adds blindly). The
  /// Redis caches send an idempotent script again when its reply was lost in a failover; any
  /// other script whose outcome is unknown fails with outcome_unknown() (docs/errors.md#failover).
  bool idempotent = false;
};

/// Keeps a subscription alive; destroying it unsubscribes (and waits until the handler is no
/// longer running).
class Subscription {
 public:
  virtual ~Subscription() = default;
};

/// Called for each message of a subscribed channel, on a library thread. It must return quickly
/// and must not throw (an exception is caught and dropped).
using MessageHandler = std::function<void(std::string_view channel, std::string_view message)>;

/// The hot tier. Abstract, non-copyable; see the header comment for the contract.
class Cache {
 public:
  Cache() = default;
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;
  virtual ~Cache() = default;

  // ---- strings and keys ----
  /// The value of `key`, or nullopt when it does not exist (or has expired).
  virtual std::optional<std::string> get(std::string_view key) = 0;
  /// Sets `key` to `value`; ttl zero means no expiry (and clears an existing TTL).
  virtual void set(std::string_view key, std::string_view value,
                   std::chrono::milliseconds ttl = std::chrono::milliseconds::zero()) = 0;
  /// Sets `key` only if it does not exist; returns whether it was set.
  virtual bool set_if_absent(std::string_view key, std::string_view value,
                             std::chrono::milliseconds ttl = std::chrono::milliseconds::zero()) = 0;
  /// Deletes the keys named exactly (no patterns); returns how many existed.
  virtual std::int64_t del(const std::vector<std::string>& keys) = 0;
  /// Sets a TTL (> 0) on an existing key; returns false when the key does not exist.
  virtual bool expire(std::string_view key, std::chrono::milliseconds ttl) = 0;
  /// Remaining TTL of `key`: nullopt when the key does not exist, zero when it has no expiry.
  virtual std::optional<std::chrono::milliseconds> ttl(std::string_view key) = 0;
  /// Adds `delta` to the integer at `key` (missing = 0) and returns the new value.
  virtual std::int64_t incr_by(std::string_view key, std::int64_t delta) = 0;

  /// Bytes [start, end] of the string at `key` (inclusive; negative counts from the end), as
  /// GETRANGE: empty when the key does not exist or the range is empty.
  virtual std::string getrange(std::string_view key, std::int64_t start, std::int64_t end) = 0;
  /// Overwrites the string at `key` from byte `offset` (>= 0) with `value`, padding with zero
  /// bytes when the string is shorter, as SETRANGE. Returns the new length.
  virtual std::int64_t setrange(std::string_view key, std::int64_t offset,
                                std::string_view value) = 0;
  /// Length of the string at `key` (0 when it does not exist).
  virtual std::int64_t strlen(std::string_view key) = 0;

  // ---- hashes ----
  /// Sets the fields of the hash at `key`; returns how many fields were new.
  virtual std::int64_t hset(std::string_view key, const FieldValues& fields) = 0;
  /// One field of the hash, or nullopt.
  virtual std::optional<std::string> hget(std::string_view key, std::string_view field) = 0;
  /// All fields of the hash, in ascending field order; empty when the key does not exist.
  virtual FieldValues hgetall(std::string_view key) = 0;
  /// Removes fields; returns how many existed.
  virtual std::int64_t hdel(std::string_view key, const std::vector<std::string>& fields) = 0;
  /// Adds `delta` to an integer field (missing = 0) and returns the new value.
  virtual std::int64_t hincr_by(std::string_view key, std::string_view field,
                                std::int64_t delta) = 0;

  // ---- sorted sets ----
  /// Adds or updates members; returns how many were new.
  virtual std::int64_t zadd(std::string_view key, const std::vector<ScoredMember>& members) = 0;
  /// Removes members; returns how many existed.
  virtual std::int64_t zrem(std::string_view key, const std::vector<std::string>& members) = 0;
  /// Members with rank in [start, stop] (inclusive; negative counts from the end), ordered by
  /// score then member, as ZRANGE.
  virtual std::vector<ScoredMember> zrange(std::string_view key, std::int64_t start,
                                           std::int64_t stop) = 0;
  /// Members with min <= score <= max in score order; at most `limit` of them when limit > 0.
  virtual std::vector<ScoredMember> zrange_by_score(std::string_view key, double min, double max,
                                                    std::int64_t limit = 0) = 0;
  /// The 0-based rank of `member`, or nullopt.
  virtual std::optional<std::int64_t> zrank(std::string_view key, std::string_view member) = 0;
  /// The score of `member`, or nullopt.
  virtual std::optional<double> zscore(std::string_view key, std::string_view member) = 0;
  /// Number of members (0 when the key does not exist).
  virtual std::int64_t zcard(std::string_view key) = 0;
  /// Number of members with min <= score <= max.
  virtual std::int64_t zcount(std::string_view key, double min, double max) = 0;

  // ---- batches and atomic operations ----
  /// Runs the commands in one round trip, in order, not atomically: others may interleave, and a
  /// command that fails (wrong type) yields an error for the whole call after all have run.
  /// A publish runs after every command before it has run (on Redis Cluster, where each node
  /// gets its own pipeline, the batch's publishes are sent after all its other commands).
  virtual std::vector<Reply> execute(const Batch& batch) = 0;
  /// Runs the commands in isolation (MULTI/EXEC on Redis): no other command runs between them.
  /// All keys must share one hash tag. As in Redis, a command that fails at run time (wrong
  /// type) does not undo the others; the call then throws after all have run.
  virtual std::vector<Reply> execute_atomic(const Batch& batch) = 0;
  /// Runs a script atomically over `keys` (all of one hash tag) with `args`.
  virtual Reply run(const Script& script, const std::vector<std::string>& keys,
                    const std::vector<std::string>& args) = 0;

  // ---- publish / subscribe ----
  /// Sends `message` to every current subscriber of `channel`. Returns how many subscribing
  /// clients received it, as Redis counts them: all subscriptions of one Cache share one
  /// connection and count once, so 0 means nobody listens and each other process adds 1.
  virtual std::int64_t publish(std::string_view channel, std::string_view message) = 0;
  /// Calls `handler` for every later message on `channel` until the returned handle is
  /// destroyed. On Redis, the subscription survives a server restart (it resubscribes), but
  /// messages published while it was disconnected are lost, as with any Redis pub/sub.
  virtual std::unique_ptr<Subscription> subscribe(std::string_view channel,
                                                  MessageHandler handler) = 0;

  // ---- operations ----
  /// Checks the backend with one round trip; never throws.
  virtual BackendHealth health() = 0;
};

/// The hash tag of a key as Redis Cluster defines it: the text between the first '{' and the
/// next '}' when that is non-empty, otherwise the whole key.
std::string_view hash_tag(std::string_view key) noexcept;

/// Creates the embedded in-memory cache (expiry is checked lazily on access and by a sweep on
/// writes; pub/sub delivers on a library thread like Redis does).
std::unique_ptr<Cache> make_memory_cache();

}  // namespace examstore
