// The Redis hot tier: every Cache operation as one command (or one pipelined round trip) on a
// pooled connection; scripts by EVALSHA with a reload after NOSCRIPT (a restarted server has
// forgotten them); pub/sub on a dedicated Subscriber.

#include "cache/redis/redis_cache.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <unordered_map>

#include "cache/cache_util.hpp"
#include "cache/format.hpp"
#include "cache/redis/redis_pool.hpp"
#include "cache/redis/redis_subscriber.hpp"
#include "cache/redis/replica_wait.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"

namespace examstore::redis {
namespace {

using std::chrono::milliseconds;

class RedisCache final : public Cache {
 public:
  RedisCache(const RedisOptions& options, obs::Telemetry* telemetry)
      : pool_(options, telemetry),
        log_(telemetry ? telemetry->log : obs::Logger::silent()),
        wait_(options) {}

  std::optional<std::string> get(std::string_view key) override {
    return opt_string(call({"GET", key}, "redis GET"));
  }

  void set(std::string_view key, std::string_view value, milliseconds ttl) override {
    check_ttl("redis SET", ttl, true);
    if (ttl.count() > 0) {
      const std::string ms = std::to_string(ttl.count());
      call({"SET", key, value, "PX", ms}, "redis SET");
    } else {
      call({"SET", key, value}, "redis SET");
    }
  }

  bool set_if_absent(std::string_view key, std::string_view value, milliseconds ttl) override {
    check_ttl("redis SET NX", ttl, true);
    ReplyPtr r;
    if (ttl.count() > 0) {
      const std::string ms = std::to_string(ttl.count());
      r = call({"SET", key, value, "NX", "PX", ms}, "redis SET NX");
    } else {
      r = call({"SET", key, value, "NX"}, "redis SET NX");
    }
    return r->type != REDIS_REPLY_NIL;
  }

  std::int64_t del(const std::vector<std::string>& keys) override {
    if (keys.empty()) return 0;
    Argv argv{"DEL"};
    for (const auto& k : keys) argv.emplace_back(k);
    return integer(call(argv, "redis DEL"), "redis DEL");
  }

  bool expire(std::string_view key, milliseconds ttl) override {
    check_ttl("redis PEXPIRE", ttl, false);
    const std::string ms = std::to_string(ttl.count());
    return integer(call({"PEXPIRE", key, ms}, "redis PEXPIRE"), "redis PEXPIRE") == 1;
  }

  std::optional<milliseconds> ttl(std::string_view key) override {
    const std::int64_t v = integer(call({"PTTL", key}, "redis PTTL"), "redis PTTL");
    if (v == -2) return std::nullopt;
    if (v == -1) return milliseconds::zero();
    return milliseconds(std::max<std::int64_t>(v, 1));
  }

  std::int64_t incr_by(std::string_view key, std::int64_t delta) override {
    const std::string d = std::to_string(delta);
    return integer(call({"INCRBY", key, d}, "redis INCRBY"), "redis INCRBY");
  }

  std::string getrange(std::string_view key, std::int64_t start, std::int64_t end) override {
    const std::string a = std::to_string(start), b = std::to_string(end);
    ReplyPtr r = call({"GETRANGE", key, a, b}, "redis GETRANGE");
    if (r->type != REDIS_REPLY_STRING) unexpected(*r, "a string", "redis GETRANGE");
    return str(*r);
  }

  std::int64_t setrange(std::string_view key, std::int64_t offset,
                        std::string_view value) override {
    check_offset("redis SETRANGE", offset);
    const std::string off = std::to_string(offset);
    return integer(call({"SETRANGE", key, off, value}, "redis SETRANGE"), "redis SETRANGE");
  }

  std::int64_t strlen(std::string_view key) override {
    return integer(call({"STRLEN", key}, "redis STRLEN"), "redis STRLEN");
  }

  std::int64_t hset(std::string_view key, const FieldValues& fields) override {
    if (fields.empty()) throw Error(ErrorCode::kInvalidArgument, "redis HSET", "no fields given");
    Argv argv{"HSET", key};
    for (const auto& [f, v] : fields) {
      argv.emplace_back(f);
      argv.emplace_back(v);
    }
    return integer(call(argv, "redis HSET"), "redis HSET");
  }

  std::optional<std::string> hget(std::string_view key, std::string_view field) override {
    return opt_string(call({"HGET", key, field}, "redis HGET"));
  }

  FieldValues hgetall(std::string_view key) override {
    ReplyPtr r = call({"HGETALL", key}, "redis HGETALL");
    FieldValues out;
    out.reserve(r->elements / 2);
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
      out.emplace_back(str(*r->element[i]), str(*r->element[i + 1]));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  std::int64_t hdel(std::string_view key, const std::vector<std::string>& fields) override {
    if (fields.empty()) return 0;
    Argv argv{"HDEL", key};
    for (const auto& f : fields) argv.emplace_back(f);
    return integer(call(argv, "redis HDEL"), "redis HDEL");
  }

  std::int64_t hincr_by(std::string_view key, std::string_view field, std::int64_t delta) override {
    const std::string d = std::to_string(delta);
    return integer(call({"HINCRBY", key, field, d}, "redis HINCRBY"), "redis HINCRBY");
  }

  std::int64_t zadd(std::string_view key, const std::vector<ScoredMember>& members) override {
    if (members.empty()) throw Error(ErrorCode::kInvalidArgument, "redis ZADD", "no members given");
    std::vector<std::string> scores;
    scores.reserve(members.size());
    for (const auto& m : members) {
      check_score("redis ZADD", m.score);
      scores.push_back(format_score(m.score));
    }
    Argv argv{"ZADD", key};
    for (size_t i = 0; i < members.size(); ++i) {
      argv.emplace_back(scores[i]);
      argv.emplace_back(members[i].member);
    }
    return integer(call(argv, "redis ZADD"), "redis ZADD");
  }

  std::int64_t zrem(std::string_view key, const std::vector<std::string>& members) override {
    if (members.empty()) return 0;
    Argv argv{"ZREM", key};
    for (const auto& m : members) argv.emplace_back(m);
    return integer(call(argv, "redis ZREM"), "redis ZREM");
  }

  std::vector<ScoredMember> zrange(std::string_view key, std::int64_t start,
                                   std::int64_t stop) override {
    const std::string a = std::to_string(start), b = std::to_string(stop);
    return scored(call({"ZRANGE", key, a, b, "WITHSCORES"}, "redis ZRANGE"), "redis ZRANGE");
  }

  std::vector<ScoredMember> zrange_by_score(std::string_view key, double min, double max,
                                            std::int64_t limit) override {
    const std::string a = format_score(min), b = format_score(max);
    if (limit > 0) {
      const std::string n = std::to_string(limit);
      return scored(
          call({"ZRANGEBYSCORE", key, a, b, "WITHSCORES", "LIMIT", "0", n}, "redis ZRANGEBYSCORE"),
          "redis ZRANGEBYSCORE");
    }
    return scored(call({"ZRANGEBYSCORE", key, a, b, "WITHSCORES"}, "redis ZRANGEBYSCORE"),
                  "redis ZRANGEBYSCORE");
  }

  std::optional<std::int64_t> zrank(std::string_view key, std::string_view member) override {
    ReplyPtr r = call({"ZRANK", key, member}, "redis ZRANK");
    if (r->type == REDIS_REPLY_NIL) return std::nullopt;
    return integer(std::move(r), "redis ZRANK");
  }

  std::optional<double> zscore(std::string_view key, std::string_view member) override {
    auto s = opt_string(call({"ZSCORE", key, member}, "redis ZSCORE"));
    if (!s) return std::nullopt;
    return score(*s, "redis ZSCORE");
  }

  std::int64_t zcard(std::string_view key) override {
    return integer(call({"ZCARD", key}, "redis ZCARD"), "redis ZCARD");
  }

  std::int64_t zcount(std::string_view key, double min, double max) override {
    const std::string a = format_score(min), b = format_score(max);
    return integer(call({"ZCOUNT", key, a, b}, "redis ZCOUNT"), "redis ZCOUNT");
  }

  std::vector<Reply> execute(const Batch& batch) override {
    if (batch.empty()) return {};
    std::vector<Argv> commands;
    commands.reserve(batch.size());
    for (const auto& c : batch.commands()) commands.push_back(to_argv(c));
    const bool wait = wait_.after(batch);
    if (wait) commands.push_back(wait_.argv());
    auto lease = pool_.acquire();
    auto raw = lease->pipeline(commands, "redis pipeline");
    if (wait) {
      wait_.check(*raw.back(), "redis pipeline", pool_.endpoint());
      raw.pop_back();
    }
    std::vector<redisReply*> replies;
    replies.reserve(raw.size());
    for (const auto& r : raw) replies.push_back(r.get());
    return convert_all(replies.data(), replies.size(), "redis pipeline");
  }

  std::vector<Reply> execute_atomic(const Batch& batch) override {
    require_one_hash_tag("redis MULTI", batch_keys(batch));
    if (batch.empty()) return {};
    std::vector<Argv> commands;
    commands.reserve(batch.size() + 2);
    commands.push_back({"MULTI"});
    for (const auto& c : batch.commands()) commands.push_back(to_argv(c));
    commands.push_back({"EXEC"});
    const bool wait = wait_.after(batch);
    if (wait) commands.push_back(wait_.argv());
    auto lease = pool_.acquire();
    auto raw = lease->pipeline(commands, "redis MULTI");
    if (wait) {
      wait_.check(*raw.back(), "redis MULTI", pool_.endpoint());
      raw.pop_back();
    }
    const redisReply& exec = *raw.back();
    if (exec.type == REDIS_REPLY_ERROR) {
      // EXECABORT: a command was rejected while queueing; report that command's error.
      for (size_t i = 1; i + 1 < raw.size(); ++i) {
        if (raw[i]->type == REDIS_REPLY_ERROR)
          throw_reply_error(*raw[i], "redis MULTI", pool_.endpoint());
      }
      throw_reply_error(exec, "redis EXEC", pool_.endpoint());
    }
    if (exec.type != REDIS_REPLY_ARRAY) {
      throw Error(ErrorCode::kInternal, "redis EXEC", "transaction was not executed",
                  pool_.endpoint());
    }
    return convert_all(exec.element, exec.elements, "redis EXEC");
  }

  Reply run(const Script& script, const std::vector<std::string>& keys,
            const std::vector<std::string>& args) override {
    const std::string op = "redis script " + script.name;
    require_one_hash_tag(op, keys);
    const std::string nkeys = std::to_string(keys.size());
    auto lease = pool_.acquire();
    for (int attempt = 0;; ++attempt) {
      const std::string sha = script_sha(*lease, script, op, attempt > 0);
      Argv argv{"EVALSHA", sha, nkeys};
      for (const auto& k : keys) argv.emplace_back(k);
      for (const auto& a : args) argv.emplace_back(a);
      std::vector<Argv> commands{argv};
      if (wait_.enabled()) commands.push_back(wait_.argv());
      auto raw = lease->pipeline(commands, op);
      const redisReply& r = *raw.front();
      const bool noscript =
          r.type == REDIS_REPLY_ERROR && std::string_view(r.str, r.len).substr(0, 8) == "NOSCRIPT";
      if (noscript && attempt == 0) continue;  // the server forgot it (restart): load again
      Reply out = to_reply(r, op, pool_.endpoint());
      if (wait_.enabled()) wait_.check(*raw.back(), op, pool_.endpoint());
      return out;
    }
  }

  std::int64_t publish(std::string_view channel, std::string_view message) override {
    return integer(call({"PUBLISH", channel, message}, "redis PUBLISH"), "redis PUBLISH");
  }

  std::unique_ptr<Subscription> subscribe(std::string_view channel,
                                          MessageHandler handler) override {
    Subscriber* s = nullptr;
    {
      std::lock_guard<std::mutex> l(sub_mu_);
      if (!subscriber_) {
        subscriber_ = std::make_unique<Subscriber>(pool_.options(), &log_, pool_.resolver());
      }
      s = subscriber_.get();
    }
    return s->subscribe(channel, std::move(handler));
  }

  BackendHealth health() override {
    BackendHealth h;
    h.role = "cache";
    h.kind = "redis";
    h.endpoint = pool_.endpoint();
    try {
      auto lease = pool_.acquire();
      const auto t0 = std::chrono::steady_clock::now();
      lease->command({"PING"}, "redis PING");
      h.round_trip = std::chrono::duration_cast<std::chrono::microseconds>(
          std::chrono::steady_clock::now() - t0);
      ReplyPtr info = lease->command({"INFO", "server"}, "redis INFO");
      const std::string text(info->str, info->len);
      const auto pos = text.find("redis_version:");
      if (pos != std::string::npos) {
        const auto end = text.find_first_of("\r\n", pos);
        h.server_version = text.substr(pos + 14, end - pos - 14);
      }
      h.ok = true;
    } catch (const Error& e) {
      h.ok = false;
      h.round_trip = {};
      h.error = e.what();
    }
    if (pool_.resolver()) h.endpoint += " (" + pool_.resolver()->describe() + ")";
    return h;
  }

 private:
  ReplyPtr call(const Argv& argv, std::string_view operation) {
    auto lease = pool_.acquire();
    if (!wait_.after(argv.front())) return lease->command(argv, operation);
    auto raw = lease->pipeline({argv, wait_.argv()}, operation);
    if (raw.front()->type == REDIS_REPLY_ERROR) {
      throw_reply_error(*raw.front(), operation, lease->endpoint());
    }
    wait_.check(*raw.back(), operation, lease->endpoint());
    return std::move(raw.front());
  }

  std::string str(const redisReply& r) const { return std::string(r.str, r.len); }

  std::optional<std::string> opt_string(ReplyPtr r) const {
    if (r->type == REDIS_REPLY_NIL) return std::nullopt;
    if (r->type != REDIS_REPLY_STRING) unexpected(*r, "a string");
    return str(*r);
  }

  std::int64_t integer(ReplyPtr r, std::string_view operation) const {
    if (r->type != REDIS_REPLY_INTEGER) unexpected(*r, "an integer", operation);
    return static_cast<std::int64_t>(r->integer);
  }

  double score(const std::string& s, std::string_view operation) const {
    auto v = parse_score(s);
    if (!v) {
      throw Error(ErrorCode::kInternal, std::string(operation), "unparseable score '" + s + "'",
                  pool_.endpoint());
    }
    return *v;
  }

  std::vector<ScoredMember> scored(ReplyPtr r, std::string_view operation) const {
    if (r->type != REDIS_REPLY_ARRAY) unexpected(*r, "an array", operation);
    std::vector<ScoredMember> out;
    out.reserve(r->elements / 2);
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
      out.push_back({str(*r->element[i]), score(str(*r->element[i + 1]), operation)});
    }
    return out;
  }

  [[noreturn]] void unexpected(const redisReply& r, std::string_view wanted,
                               std::string_view operation = "redis") const {
    throw Error(ErrorCode::kInternal, std::string(operation),
                "expected " + std::string(wanted) + ", got reply type " + std::to_string(r.type),
                pool_.endpoint());
  }

  static Argv to_argv(const Batch::Command& c) {
    using Op = Batch::Op;
    switch (c.op) {
      case Op::kSet:
        if (c.args[1] != "0") return {"SET", c.key, c.args[0], "PX", c.args[1]};
        return {"SET", c.key, c.args[0]};
      case Op::kGet:
        return {"GET", c.key};
      case Op::kDel:
        return {"DEL", c.key};
      case Op::kExpire:
        return {"PEXPIRE", c.key, c.args[0]};
      case Op::kIncrBy:
        return {"INCRBY", c.key, c.args[0]};
      case Op::kHSet:
        return {"HSET", c.key, c.args[0], c.args[1]};
      case Op::kHGet:
        return {"HGET", c.key, c.args[0]};
      case Op::kHDel:
        return {"HDEL", c.key, c.args[0]};
      case Op::kHIncrBy:
        return {"HINCRBY", c.key, c.args[0], c.args[1]};
      case Op::kZAdd:
        return {"ZADD", c.key, c.args[0], c.args[1]};
      case Op::kZRem:
        return {"ZREM", c.key, c.args[0]};
      case Op::kZScore:
        return {"ZSCORE", c.key, c.args[0]};
      case Op::kZCard:
        return {"ZCARD", c.key};
    }
    throw Error(ErrorCode::kInternal, "redis batch", "unknown command");
  }

  // Every reply of a batch, in order; the first error reply is thrown after all are converted.
  std::vector<Reply> convert_all(redisReply* const* raw, size_t n,
                                 std::string_view operation) const {
    std::vector<Reply> out;
    out.reserve(n);
    std::optional<Error> first_error;
    for (size_t i = 0; i < n; ++i) {
      try {
        out.push_back(to_reply(*raw[i], operation, pool_.endpoint()));
      } catch (const Error& e) {
        if (!first_error) first_error = e;
        out.push_back(Reply::nil());
      }
    }
    if (first_error) throw *first_error;
    return out;
  }

  // The SHA1 of a script as the server knows it, loading it when needed.
  std::string script_sha(Connection& conn, const Script& script, const std::string& op,
                         bool reload) {
    {
      std::lock_guard<std::mutex> l(sha_mu_);
      auto it = shas_.find(script.lua);
      if (it != shas_.end() && !reload) return it->second;
    }
    ReplyPtr r = conn.command({"SCRIPT", "LOAD", script.lua}, op);
    std::string sha = str(*r);
    std::lock_guard<std::mutex> l(sha_mu_);
    shas_[script.lua] = sha;
    return sha;
  }

  Pool pool_;
  const obs::Logger& log_;
  const ReplicaWait wait_;
  std::mutex sha_mu_;  // guards shas_
  std::unordered_map<std::string, std::string> shas_;
  std::mutex sub_mu_;  // guards subscriber_ creation
  std::unique_ptr<Subscriber> subscriber_;
};

}  // namespace

std::unique_ptr<Cache> make_redis_cache(const RedisOptions& options, obs::Telemetry* telemetry) {
  if (options.topology == RedisTopology::kCluster) {
    // TODO(issue 8, cluster): route through the topology
    throw Error(ErrorCode::kInvalidArgument, "redis connect",
                "Cluster hot tiers are not built yet: " + options.redacted());
  }
  return std::make_unique<RedisCache>(options, telemetry);
}

}  // namespace examstore::redis
