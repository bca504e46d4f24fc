// The Redis hot tier: every Cache operation as one command (or one pipelined round trip) on a
// pooled connection; scripts by EVALSHA with a reload after NOSCRIPT (a restarted server has
// forgotten them); pub/sub on a dedicated Subscriber.

#include "cache/redis/redis_cache.hpp"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <type_traits>
#include <unordered_map>

#include "cache/cache_util.hpp"
#include "cache/format.hpp"
#include "cache/redis/cluster_cache.hpp"
#include "cache/redis/redis_commands.hpp"
#include "cache/redis/redis_pool.hpp"
#include "cache/redis/redis_subscriber.hpp"
#include "cache/redis/replica_wait.hpp"
#include "common/failover.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"

namespace examstore::redis {
namespace {

using std::chrono::milliseconds;

class RedisCache final : public RedisCommands {
 public:
  RedisCache(const RedisOptions& options, obs::Telemetry* telemetry)
      : pool_(options, telemetry),
        log_(telemetry ? telemetry->log : obs::Logger::silent()),
        wait_(options),
        retries_(telemetry ? &telemetry->redis.retries : nullptr) {}

  std::vector<Reply> execute(const Batch& batch) override {
    if (batch.empty()) return {};
    return resend(idempotent(batch), [&] { return execute_once(batch); });
  }

  std::vector<Reply> execute_atomic(const Batch& batch) override {
    require_one_hash_tag("redis MULTI", batch_keys(batch));
    if (batch.empty()) return {};
    return resend(idempotent(batch), [&] { return execute_atomic_once(batch); });
  }

  Reply run(const Script& script, const std::vector<std::string>& keys,
            const std::vector<std::string>& args) override {
    const std::string op = "redis script " + script.name;
    require_one_hash_tag(op, keys);
    return resend(script.idempotent, [&] { return run_once(script, keys, args, op); });
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
      probe_health(*lease, h);
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
  // Runs one attempt of a call, sending it again while Redis fails over (common/failover.hpp).
  template <class F>
  auto resend(bool idempotent, F&& attempt) -> std::invoke_result_t<F&> {
    return failover::ride_through(pool_.options().failover_wait, &pool_.failover_signal(), retries_,
                                  idempotent, std::forward<F>(attempt));
  }

  std::vector<Reply> execute_once(const Batch& batch) {
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

  std::vector<Reply> execute_atomic_once(const Batch& batch) {
    std::vector<Argv> commands = multi_exec(batch);
    const bool wait = wait_.after(batch);
    if (wait) commands.push_back(wait_.argv());
    auto lease = pool_.acquire();
    auto raw = lease->pipeline(commands, "redis MULTI");
    if (wait) {
      wait_.check(*raw.back(), "redis MULTI", pool_.endpoint());
      raw.pop_back();
    }
    return exec_replies(raw, 1, "redis MULTI");
  }

  Reply run_once(const Script& script, const std::vector<std::string>& keys,
                 const std::vector<std::string>& args, const std::string& op) {
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

  ReplyPtr call(const Argv& argv, std::string_view operation) override {
    return resend(idempotent_command(argv), [&] { return call_once(argv, operation); });
  }

  ReplyPtr call_once(const Argv& argv, std::string_view operation) {
    auto lease = pool_.acquire();
    if (!wait_.after(argv.front())) return lease->command(argv, operation);
    auto raw = lease->pipeline({argv, wait_.argv()}, operation);
    if (raw.front()->type == REDIS_REPLY_ERROR) {
      throw_reply_error(*raw.front(), operation, lease->endpoint());
    }
    wait_.check(*raw.back(), operation, lease->endpoint());
    return std::move(raw.front());
  }
  const std::string& endpoint() const override { return pool_.endpoint(); }

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
  std::atomic<std::int64_t>* const retries_;
};

}  // namespace

std::unique_ptr<Cache> make_redis_cache(const RedisOptions& options, obs::Telemetry* telemetry) {
  if (options.topology == RedisTopology::kCluster) return make_cluster_cache(options, telemetry);
  return std::make_unique<RedisCache>(options, telemetry);
}

}  // namespace examstore::redis
