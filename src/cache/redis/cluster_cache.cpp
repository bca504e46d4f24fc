// The Redis Cluster hot tier: RedisCommands routed by hash slot, with the redirections of the
// Cluster specification followed in one place (ClusterCache::send).

#include "cache/redis/cluster_cache.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>

#include "cache/cache_util.hpp"
#include "cache/redis/cluster_slot.hpp"
#include "cache/redis/redis_commands.hpp"
#include "cache/redis/redis_pool.hpp"
#include "cache/redis/redis_subscriber.hpp"
#include "cache/redis/redis_tls.hpp"
#include "common/failover.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"

namespace examstore::redis {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Redirections followed by one attempt. More means the nodes disagree about the slot (a new map
// still spreading): the attempt fails as refused, and is sent again within failover_wait.
constexpr int kMaxRedirects = 16;
// A MOVED storm (a resharding) or a failing node refreshes the whole map at most this often.
constexpr milliseconds kRefreshInterval{100};
// The map is also read this often in the background (and subscriptions moved), so that a change
// no call has run into (a failover seen only as CLUSTERDOWN, a resharding) is adopted and the
// calls waiting it out are woken.
constexpr std::chrono::seconds kKeeperPeriod{1};

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

Redirect redirect_of(const redisReply& r) {
  if (r.type != REDIS_REPLY_ERROR) return {};
  return parse_redirect(std::string_view(r.str, r.len));
}

std::string node_name(std::string_view host, long long port) {
  return std::string(host) + ":" + std::to_string(port);
}

class ClusterCache final : public RedisCommands {
 public:
  ClusterCache(RedisOptions options, obs::Telemetry* telemetry)
      : options_(std::move(options)),
        endpoint_(options_.redacted()),
        tls_(options_.tls.enabled ? tls_context(options_.tls) : nullptr),
        telemetry_(telemetry),
        log_(telemetry ? telemetry->log : obs::Logger::silent()),
        retries_(telemetry ? &telemetry->redis.retries : nullptr),
        owner_(kSlotCount) {}

  ~ClusterCache() override {
    std::map<std::uint64_t, Sub> subs;
    {
      std::lock_guard<std::mutex> l(sub_mu_);
      stopping_ = true;
      subs.swap(subs_);
    }
    sub_cv_.notify_all();
    if (keeper_.joinable()) keeper_.join();
  }

  std::int64_t del(const std::vector<std::string>& keys) override {
    // DEL of keys of several slots is CROSSSLOT on a cluster: one DEL per slot.
    std::map<int, Argv> by_slot;
    for (const auto& k : keys) {
      auto& argv = by_slot[key_slot(k)];
      if (argv.empty()) argv.emplace_back("DEL");
      argv.emplace_back(k);
    }
    const std::string_view op = "redis DEL";
    failover::Retry retry = failover_retry();  // one budget for all the slots
    std::int64_t n = 0;
    for (const auto& [slot, argv] : by_slot) {
      n += integer(
          failover::ride_through(
              retry, true, [&, s = slot, &a = argv] { return checked(send(s, {a}, op), op); }),
          op);
    }
    return n;
  }

  std::vector<Reply> execute(const Batch& batch) override {
    if (batch.empty()) return {};
    const std::string_view op = "redis pipeline";
    const auto& cmds = batch.commands();
    std::vector<Argv> argvs;
    std::vector<int> slots;
    argvs.reserve(cmds.size());
    slots.reserve(cmds.size());
    // The nodes' pipelines run one after another in no particular order, so a publish (which
    // announces the writes before it: a near cache rereads on the message) goes in a second
    // pass, after every other command has been answered.
    std::vector<std::size_t> writes, publishes;
    for (std::size_t i = 0; i < cmds.size(); ++i) {
      argvs.push_back(to_argv(cmds[i]));
      slots.push_back(key_slot(cmds[i].key));
      (cmds[i].op == Batch::Op::kPublish ? publishes : writes).push_back(i);
    }
    // Each attempt sends only what has no reply yet; both passes share one failover_wait.
    std::vector<ReplyPtr> raw(cmds.size());
    failover::Retry retry = failover_retry();
    const bool repeatable = idempotent(batch);
    failover::ride_through(retry, repeatable,
                           [&] { pipeline_pass(writes, argvs, slots, raw, op); });
    failover::ride_through(retry, repeatable,
                           [&] { pipeline_pass(publishes, argvs, slots, raw, op); });
    std::vector<redisReply*> ptrs;
    ptrs.reserve(raw.size());
    for (const auto& r : raw) ptrs.push_back(r.get());
    return convert_all(ptrs.data(), ptrs.size(), op);
  }

  std::vector<Reply> execute_atomic(const Batch& batch) override {
    const std::string_view op = "redis MULTI";
    const std::vector<std::string> keys = batch_keys(batch);
    const int slot = one_slot(op, keys);
    if (batch.empty()) return {};
    return resend(idempotent(batch),
                  [&] { return exec_replies(send(slot, multi_exec(batch), op), 1, op); });
  }

  Reply run(const Script& script, const std::vector<std::string>& keys,
            const std::vector<std::string>& args) override {
    const std::string op = "redis script " + script.name;
    const int slot = keys.empty() ? 0 : one_slot(op, keys);
    return resend(script.idempotent, [&] { return run_once(script, keys, args, slot, op); });
  }

  std::int64_t publish(std::string_view channel, std::string_view message) override {
    // Cluster pub/sub reaches the subscribers of every node, but PUBLISH counts only those of the
    // node it ran on: publishers and subscribers meet on the node of the channel's slot (call()
    // routes by argv[1], the channel).
    return integer(call({"PUBLISH", channel, message}, "redis PUBLISH"), "redis PUBLISH");
  }

  std::unique_ptr<Subscription> subscribe(std::string_view channel,
                                          MessageHandler handler) override {
    auto shared = std::make_shared<MessageHandler>(std::move(handler));
    const std::string node = owner(key_slot(channel));
    auto inner = subscriber_on(node).subscribe(channel, forward_to(shared));
    std::lock_guard<std::mutex> l(sub_mu_);
    const std::uint64_t id = next_sub_id_++;
    subs_[id] = Sub{std::string(channel), shared, node, std::move(inner)};
    return std::make_unique<Handle>(this, id);
  }

  BackendHealth health() override {
    BackendHealth h;
    h.role = "cache";
    h.kind = "redis";
    h.endpoint = endpoint_;
    std::vector<std::string> masters;
    try {
      refresh("health");
      masters = known_masters();
      if (masters.empty())
        throw Error(ErrorCode::kUnavailable, "redis CLUSTER SLOTS",
                    "no node of the cluster answered", endpoint_);
    } catch (const Error& e) {
      h.error = e.what();
      return h;
    }
    h.ok = true;
    for (const auto& node : masters) {
      BackendHealth one;
      try {
        auto lease = pool_for(node).acquire();
        probe_health(*lease, one);
        h.round_trip = std::max(h.round_trip, one.round_trip);
        if (h.server_version.empty()) h.server_version = one.server_version;
      } catch (const Error& e) {
        h.ok = false;
        h.error += (h.error.empty() ? "" : "; ") + node + ": " + e.message();
      }
    }
    if (!h.ok) h.round_trip = {};
    h.endpoint += " (" + std::to_string(masters.size()) + " masters)";
    return h;
  }

 private:
  class Handle final : public Subscription {
   public:
    Handle(ClusterCache* cache, std::uint64_t id) : cache_(cache), id_(id) {}
    ~Handle() override { cache_->unsubscribe(id_); }

   private:
    ClusterCache* cache_;
    std::uint64_t id_;
  };

  static MessageHandler forward_to(const std::shared_ptr<MessageHandler>& handler) {
    return [handler](std::string_view channel, std::string_view message) {
      (*handler)(channel, message);
    };
  }

  Subscriber& subscriber_on(const std::string& node) {
    std::lock_guard<std::mutex> l(sub_mu_);
    auto& s = subscribers_[node];
    if (!s) s = std::make_unique<Subscriber>(node_options(node), &log_);
    return *s;
  }

  void unsubscribe(std::uint64_t id) {
    std::unique_ptr<Subscription> inner;
    {
      std::lock_guard<std::mutex> l(sub_mu_);
      auto it = subs_.find(id);
      if (it == subs_.end()) return;
      inner = std::move(it->second.inner);
      subs_.erase(it);
    }
    inner.reset();  // outside the lock: waits until the handler is not running
  }

  // Every kKeeperPeriod, from the first use of the map on: reads the slot map again (a new one
  // wakes the calls waiting out a failover), and when a subscribed channel's slot has moved to
  // another master (a failover, a resharding), subscribes there and then drops the old
  // subscription. A message published in between may arrive twice (cluster pub/sub reaches both
  // nodes) or, if the old node is dead, be lost, as any message published while a Redis
  // subscriber is disconnected.
  void keep_map() {
    std::unique_lock<std::mutex> l(sub_mu_);
    while (!sub_cv_.wait_for(l, kKeeperPeriod, [this] { return stopping_; })) {
      std::vector<std::pair<std::uint64_t, Sub>> to_move;
      for (const auto& [id, sub] : subs_)
        to_move.emplace_back(id, Sub{sub.channel, sub.handler, sub.node, nullptr});
      l.unlock();
      try {
        refresh("periodic");
        for (auto& [id, sub] : to_move) {
          const std::string node = owner(key_slot(sub.channel));
          if (node == sub.node) continue;
          auto inner = subscriber_on(node).subscribe(sub.channel, forward_to(sub.handler));
          std::unique_ptr<Subscription> old;
          {
            std::lock_guard<std::mutex> g(sub_mu_);
            auto it = subs_.find(id);
            if (it == subs_.end()) {
              old = std::move(inner);  // unsubscribed meanwhile
            } else {
              old = std::move(it->second.inner);
              it->second.inner = std::move(inner);
              it->second.node = node;
            }
          }
          log_.log(LogLevel::kInfo, "redis", "moved a subscription from {} to {}", sub.node, node);
        }
      } catch (const Error& e) {
        log_.log(LogLevel::kWarn, "redis", "cannot move a subscription yet: {}", e.message());
      }
      l.lock();
    }
  }

  // One attempt of run(): EVALSHA, loading the script first when this cache has not yet.
  Reply run_once(const Script& script, const std::vector<std::string>& keys,
                 const std::vector<std::string>& args, int slot, const std::string& op) {
    std::string sha;
    {
      std::lock_guard<std::mutex> l(sha_mu_);
      auto it = shas_.find(script.lua);
      if (it != shas_.end()) sha = it->second;
    }
    if (sha.empty()) {
      sha = str(*checked(send(slot, {{"SCRIPT", "LOAD", script.lua}}, op), op));
      std::lock_guard<std::mutex> l(sha_mu_);
      shas_[script.lua] = sha;
    }
    const std::string nkeys = std::to_string(keys.size());
    Argv argv{"EVALSHA", sha, nkeys};
    for (const auto& k : keys) argv.emplace_back(k);
    for (const auto& a : args) argv.emplace_back(a);
    auto raw = send(slot, {argv}, op);
    const redisReply& r = *raw.front();
    if (r.type == REDIS_REPLY_ERROR && starts_with(std::string_view(r.str, r.len), "NOSCRIPT")) {
      // This node has not seen it (a promoted replica, a new node): EVAL also caches it there.
      argv[0] = "EVAL";
      argv[1] = script.lua;
      raw = send(slot, {argv}, op);
    }
    return to_reply(*raw.front(), op, endpoint_);
  }

  ReplyPtr call(const Argv& argv, std::string_view operation) override {
    return resend(idempotent_command(argv),
                  [&] { return checked(send(key_slot(argv[1]), {argv}, operation), operation); });
  }
  const std::string& endpoint() const override { return endpoint_; }

  // The only reply of a command, thrown when it is an error.
  ReplyPtr checked(std::vector<ReplyPtr> raw, std::string_view operation) const {
    ReplyPtr r = std::move(raw.front());
    if (r->type == REDIS_REPLY_ERROR) throw_reply_error(*r, operation, endpoint_);
    return r;
  }

  // The budget of one call for riding through a failover (common/failover.hpp).
  failover::Retry failover_retry() {
    return failover::Retry(options_.failover_wait, &signal_, retries_);
  }

  // Runs one attempt of a call, sending it again while a master fails over.
  template <class F>
  auto resend(bool idempotent, F&& attempt) -> std::invoke_result_t<F&> {
    failover::Retry retry = failover_retry();
    return failover::ride_through(retry, idempotent, std::forward<F>(attempt));
  }

  // The slot of every key, which must share one hash tag (as on every Cache), so one slot.
  int one_slot(std::string_view operation, const std::vector<std::string>& keys) const {
    if (keys.empty()) return 0;
    const std::string_view tag = hash_tag(keys.front());
    for (const auto& k : keys) {
      if (hash_tag(k) != tag) {
        throw Error(ErrorCode::kInvalidArgument, std::string(operation),
                    "keys '" + keys.front() + "' (slot " + std::to_string(key_slot(keys.front())) +
                        ") and '" + k + "' (slot " + std::to_string(key_slot(k)) +
                        ") have different hash tags; an atomic operation needs one tag");
      }
    }
    return key_slot(keys.front());
  }

  // One attempt of a pass of execute(): sends the commands at `indexes` that have no reply in
  // `raw` yet, one pipeline per node (in order per node); a command answered with a redirection
  // is then sent alone through send(), which follows it. Replies go to raw[index]. A node that
  // failed (or a TRYAGAIN) leaves its commands without a reply and, once every node was tried,
  // its error is thrown: execute() sends the rest again within failover_wait.
  void pipeline_pass(const std::vector<std::size_t>& indexes, const std::vector<Argv>& argvs,
                     const std::vector<int>& slots, std::vector<ReplyPtr>& raw,
                     std::string_view op) {
    std::optional<Error> failed;  // the in-doubt failure when there was one: it decides
    auto note = [&](const Error& e) {
      if (!failover::failover_class(e)) throw e;
      if (!failed || (e.outcome_unknown() && !failed->outcome_unknown())) failed.emplace(e);
    };
    std::map<std::string, std::vector<std::size_t>> by_node;
    for (std::size_t i : indexes) {
      if (!raw[i]) by_node[owner(slots[i])].push_back(i);
    }
    for (const auto& [node, mine] : by_node) {
      std::vector<Argv> group;
      group.reserve(mine.size());
      for (std::size_t i : mine) group.push_back(argvs[i]);
      std::vector<ReplyPtr> replies;
      try {
        replies = to_node(node, group, false, op);
      } catch (const Error& e) {
        note(e);
        continue;
      }
      for (std::size_t j = 0; j < mine.size(); ++j) raw[mine[j]] = std::move(replies[j]);
    }
    for (std::size_t i : indexes) {
      if (!raw[i] || redirect_of(*raw[i]).kind == Redirect::Kind::kNone) continue;
      raw[i].reset();
      try {
        raw[i] = std::move(send(slots[i], {argvs[i]}, op).front());
      } catch (const Error& e) {
        note(e);
      }
    }
    if (failed) throw *failed;
  }

  // One attempt: sends `commands` (all on keys of `slot`) to the slot's master in one round trip
  // and returns their replies, following MOVED (the map learns the new owner) and ASK (ASKING
  // first). Throws, for failover_wait to decide: the node's failure (the map is read again),
  // a TRYAGAIN or CLUSTERDOWN reply (kUnavailable, not applied), or more than kMaxRedirects
  // redirections.
  std::vector<ReplyPtr> send(int slot, const std::vector<Argv>& commands,
                             std::string_view operation) {
    std::string node = owner(slot);
    bool asking = false;
    for (int hop = 0;; ++hop) {
      std::vector<ReplyPtr> raw = to_node(node, commands, asking, operation);
      const redisReply* redirected = nullptr;
      Redirect r;
      for (const auto& reply : raw) {
        r = redirect_of(*reply);
        if (r.kind != Redirect::Kind::kNone) {
          redirected = reply.get();
          break;
        }
      }
      if (redirected == nullptr) return raw;
      const std::string_view text(redirected->str, redirected->len);
      if (r.kind == Redirect::Kind::kTryAgain) {
        if (starts_with(text, "CLUSTERDOWN")) refresh("CLUSTERDOWN from " + node);
        throw_reply_error(*redirected, operation, endpoint_);  // kUnavailable, not applied
      }
      if (hop + 1 >= kMaxRedirects) {
        throw Error(ErrorCode::kUnavailable, std::string(operation),
                    "still redirected after " + std::to_string(kMaxRedirects) +
                        " hops (the nodes disagree about slot " + std::to_string(slot) +
                        "): " + std::string(text),
                    endpoint_);
      }
      asking = r.kind == Redirect::Kind::kAsk;
      if (!asking) {
        learn(r.slot, r.node);
        refresh("MOVED from " + node);
      }
      node = r.node;
    }
  }

  // One round trip to `node` (after ASKING when `asking`); a failed node makes the map be read
  // again before the error goes on.
  std::vector<ReplyPtr> to_node(const std::string& node, const std::vector<Argv>& commands,
                                bool asking, std::string_view operation) {
    try {
      auto lease = pool_for(node).acquire();
      if (!asking) return lease->pipeline(commands, operation);
      std::vector<Argv> with{{"ASKING"}};
      with.insert(with.end(), commands.begin(), commands.end());
      auto raw = lease->pipeline(with, operation);
      raw.erase(raw.begin());
      return raw;
    } catch (const Error& e) {
      if (failover::failover_class(e)) refresh("node " + node + " failed: " + e.message(), node);
      throw;
    }
  }

  // ---- slot map ----

  std::string owner(int slot) {
    std::call_once(keeper_started_, [this] { keeper_ = std::thread([this] { keep_map(); }); });
    {
      std::shared_lock<std::shared_mutex> l(map_mu_);
      if (!owner_[static_cast<std::size_t>(slot)].empty())
        return owner_[static_cast<std::size_t>(slot)];
    }
    refresh("first use");
    std::shared_lock<std::shared_mutex> l(map_mu_);
    const std::string& node = owner_[static_cast<std::size_t>(slot)];
    if (node.empty()) {
      throw Error(ErrorCode::kUnavailable, "redis cluster",
                  "no node serves slot " + std::to_string(slot) +
                      (refresh_error_.empty() ? "" : " (" + refresh_error_ + ")"),
                  endpoint_);
    }
    return node;
  }

  void learn(int slot, const std::string& node) {
    {
      std::unique_lock<std::shared_mutex> l(map_mu_);
      std::string& known = owner_[static_cast<std::size_t>(slot)];
      if (known == node) return;
      known = node;
    }
    signal_.notify();
  }

  std::vector<std::string> known_masters() {
    std::shared_lock<std::shared_mutex> l(map_mu_);
    std::vector<std::string> out = owner_;
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
    if (!out.empty() && out.front().empty()) out.erase(out.begin());
    return out;
  }

  // Reads the slot map from the first node that answers CLUSTER SLOTS: the seeds in order, then
  // the masters known so far, and `failed` (a node that just failed, which may hang) last. At
  // most once every kRefreshInterval. A map that differs from the one in use wakes the calls
  // waiting out a failover. `why` goes to the log.
  void refresh(const std::string& why, const std::string& failed = {}) {
    std::lock_guard<std::mutex> rl(refresh_mu_);
    const auto now = Clock::now();
    if (refreshed_ && now - last_refresh_ < kRefreshInterval) return;
    refreshed_ = true;
    last_refresh_ = now;
    std::vector<std::string> candidates;
    for (const auto& s : options_.seeds) candidates.push_back(node_name(s.host, s.port));
    for (auto& m : known_masters()) {
      if (std::find(candidates.begin(), candidates.end(), m) == candidates.end())
        candidates.push_back(std::move(m));
    }
    std::stable_partition(candidates.begin(), candidates.end(),
                          [&](const std::string& n) { return n != failed; });
    std::string errors;
    for (const auto& node : candidates) {
      try {
        auto lease = pool_for(node).acquire();
        ReplyPtr r = lease->command({"CLUSTER", "SLOTS"}, "redis CLUSTER SLOTS");
        std::vector<std::string> table = parse_slots(*r, node);
        std::size_t moved = 0;
        {
          std::unique_lock<std::shared_mutex> l(map_mu_);
          for (std::size_t s = 0; s < table.size(); ++s) moved += table[s] != owner_[s];
          owner_ = std::move(table);
          refresh_error_.clear();
        }
        if (moved > 0) {
          log_.log(LogLevel::kInfo, "redis", "new cluster slot map from {}: {} slots changed ({})",
                   node, moved, why);
          signal_.notify();
        }
        return;
      } catch (const Error& e) {
        errors += (errors.empty() ? "" : "; ") + node + ": " + e.message();
      }
    }
    log_.log(LogLevel::kWarn, "redis", "no cluster node gave its slot map: {}", errors);
    std::unique_lock<std::shared_mutex> l(map_mu_);
    refresh_error_ = errors;
  }

  // CLUSTER SLOTS: [[first, last, [ip, port, id], replicas...], ...] -> owner per slot.
  std::vector<std::string> parse_slots(const redisReply& r, const std::string& from) const {
    auto bad = [&] {
      return Error(ErrorCode::kInternal, "redis CLUSTER SLOTS", "unexpected reply from " + from,
                   endpoint_);
    };
    if (r.type != REDIS_REPLY_ARRAY) throw bad();
    std::vector<std::string> table(kSlotCount);
    const std::string from_host = from.substr(0, from.rfind(':'));
    for (std::size_t i = 0; i < r.elements; ++i) {
      const redisReply& range = *r.element[i];
      if (range.type != REDIS_REPLY_ARRAY || range.elements < 3) throw bad();
      const redisReply& first = *range.element[0];
      const redisReply& last = *range.element[1];
      const redisReply& master = *range.element[2];
      if (first.type != REDIS_REPLY_INTEGER || last.type != REDIS_REPLY_INTEGER ||
          master.type != REDIS_REPLY_ARRAY || master.elements < 2 ||
          master.element[0]->type != REDIS_REPLY_STRING ||
          master.element[1]->type != REDIS_REPLY_INTEGER || first.integer < 0 ||
          last.integer >= kSlotCount || first.integer > last.integer) {
        throw bad();
      }
      std::string host(master.element[0]->str, master.element[0]->len);
      if (host.empty() || host == "?") host = from_host;  // "the node you asked"
      const std::string node = node_name(host, master.element[1]->integer);
      for (long long s = first.integer; s <= last.integer; ++s) {
        table[static_cast<std::size_t>(s)] = node;
      }
    }
    return table;
  }

  RedisOptions node_options(const std::string& node) const {
    RedisOptions o = options_;
    o.topology = RedisTopology::kStandalone;
    o.seeds.clear();
    const auto colon = node.rfind(':');
    o.host = node.substr(0, colon);
    o.port = std::atoi(node.c_str() + colon + 1);
    return o;
  }

  Pool& pool_for(const std::string& node) {
    std::lock_guard<std::mutex> l(pools_mu_);
    auto& p = pools_[node];
    if (!p) p = std::make_unique<Pool>(node_options(node), telemetry_);
    return *p;
  }

  const RedisOptions options_;
  const std::string endpoint_;
  const std::shared_ptr<TlsContext> tls_;  // loaded at open; every node's pool shares it
  obs::Telemetry* const telemetry_;
  const obs::Logger& log_;
  std::atomic<std::int64_t>* const retries_;  // telemetry's Redis resends, or null
  failover::Signal signal_;                   // notified when a new slot map is adopted

  std::shared_mutex map_mu_;        // guards owner_ and refresh_error_
  std::vector<std::string> owner_;  // slot -> "host:port" of its master ("" = unknown)
  std::string refresh_error_;       // why the last refresh found no node
  std::mutex refresh_mu_;           // serialises refreshes; guards the two below
  bool refreshed_ = false;
  Clock::time_point last_refresh_;

  std::mutex pools_mu_;  // guards pools_ (a pool, once made, lives as long as the cache)
  std::map<std::string, std::unique_ptr<Pool>> pools_;
  std::mutex sha_mu_;  // guards shas_
  std::unordered_map<std::string, std::string> shas_;
  // One subscription of a caller: where it currently is, and how to move it.
  struct Sub {
    std::string channel;
    std::shared_ptr<MessageHandler> handler;
    std::string node;
    std::unique_ptr<Subscription> inner;
  };
  std::mutex sub_mu_;  // guards every member below but keeper_ (set once, by call_once)
  std::condition_variable sub_cv_;
  std::map<std::string, std::unique_ptr<Subscriber>> subscribers_;  // one per node, lives on
  std::map<std::uint64_t, Sub> subs_;
  std::uint64_t next_sub_id_ = 1;
  bool stopping_ = false;
  std::thread keeper_;  // keep_map(), started by the first use of the map
  std::once_flag keeper_started_;
};

}  // namespace

std::unique_ptr<Cache> make_cluster_cache(const RedisOptions& options, obs::Telemetry* telemetry) {
  return std::make_unique<ClusterCache>(options, telemetry);
}

}  // namespace examstore::redis
