// The embedded hot tier: Redis semantics over in-process maps.
//
// One recursive mutex guards all data: a Script's local body runs with the lock held and calls
// back into the public methods, which take it again. Expiry is lazy (a key is checked when it
// is touched) plus a sweep of expired keys, in deadline order, on every write.
// Pub/sub messages are delivered on one dispatcher thread, as a Redis client would deliver them.

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <variant>

#include "cache/cache_util.hpp"
#include "cache/format.hpp"
#include "examstore/cache.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"

namespace examstore {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct ZSet {
  std::unordered_map<std::string, double> scores;
  std::set<std::pair<double, std::string>> order;
};
using Hash = std::map<std::string, std::string>;
using Value = std::variant<std::string, Hash, ZSet>;

struct Entry {
  Value value;
  std::optional<Clock::time_point> expires;
};

[[noreturn]] void wrong_type(std::string_view op) {
  throw Error(ErrorCode::kInvalidArgument, "memory " + std::string(op),
              "WRONGTYPE Operation against a key holding the wrong kind of value");
}

[[noreturn]] void not_integer(std::string_view op, std::string_view what) {
  throw Error(ErrorCode::kInvalidArgument, "memory " + std::string(op),
              "ERR " + std::string(what) + " is not an integer or out of range");
}

std::int64_t checked_add(std::string_view op, std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) {
    throw Error(ErrorCode::kInvalidArgument, "memory " + std::string(op),
                "ERR increment or decrement would overflow");
  }
  return r;
}

// Redis's rank arithmetic for ZRANGE start/stop.
bool normalize_range(std::int64_t size, std::int64_t& start, std::int64_t& stop) {
  if (start < 0) start += size;
  if (stop < 0) stop += size;
  if (start < 0) start = 0;
  if (start > stop || start >= size) return false;
  if (stop >= size) stop = size - 1;
  return true;
}

class MemorySubscription;

class MemoryCache final : public Cache {
 public:
  MemoryCache() : dispatcher_([this] { dispatch_loop(); }) {}
  ~MemoryCache() override {
    {
      std::lock_guard<std::mutex> l(pubsub_mu_);
      stopping_ = true;
    }
    pubsub_cv_.notify_all();
    dispatcher_.join();
  }

  std::optional<std::string> get(std::string_view key) override {
    Lock l(mu_);
    Entry* e = find(key);
    if (e == nullptr) return std::nullopt;
    return as<std::string>(*e, "GET");
  }

  void set(std::string_view key, std::string_view value, milliseconds ttl) override {
    check_ttl("memory SET", ttl, true);
    Lock l(mu_);
    sweep();
    put(std::string(key), Entry{std::string(value), {}}, ttl);
  }

  bool set_if_absent(std::string_view key, std::string_view value, milliseconds ttl) override {
    check_ttl("memory SET NX", ttl, true);
    Lock l(mu_);
    sweep();
    if (find(key) != nullptr) return false;
    put(std::string(key), Entry{std::string(value), {}}, ttl);
    return true;
  }

  std::int64_t del(const std::vector<std::string>& keys) override {
    Lock l(mu_);
    sweep();
    std::int64_t n = 0;
    for (const auto& k : keys) {
      if (find(k) != nullptr) {
        erase(k);
        ++n;
      }
    }
    return n;
  }

  bool expire(std::string_view key, milliseconds ttl) override {
    check_ttl("memory PEXPIRE", ttl, false);
    Lock l(mu_);
    sweep();
    Entry* e = find(key);
    if (e == nullptr) return false;
    set_deadline(std::string(key), *e, ttl);
    return true;
  }

  std::optional<milliseconds> ttl(std::string_view key) override {
    Lock l(mu_);
    Entry* e = find(key);
    if (e == nullptr) return std::nullopt;
    if (!e->expires) return milliseconds::zero();
    const auto left = std::chrono::ceil<milliseconds>(*e->expires - Clock::now());
    return std::max(left, milliseconds(1));
  }

  std::int64_t incr_by(std::string_view key, std::int64_t delta) override {
    Lock l(mu_);
    sweep();
    Entry* e = find(key);
    if (e == nullptr) {
      put(std::string(key), Entry{std::to_string(delta), {}}, milliseconds::zero());
      return delta;
    }
    auto& s = as<std::string>(*e, "INCRBY");
    const auto v = parse_int64(s);
    if (!v) not_integer("INCRBY", "value");
    const std::int64_t r = checked_add("INCRBY", *v, delta);
    s = std::to_string(r);
    return r;
  }

  std::string getrange(std::string_view key, std::int64_t start, std::int64_t end) override {
    Lock l(mu_);
    Entry* e = find(key);
    if (e == nullptr) return {};
    const std::string& s = as<std::string>(*e, "GETRANGE");
    // GETRANGE clamps differently from ZRANGE: a negative end becomes 0, not "empty".
    const auto len = static_cast<std::int64_t>(s.size());
    if (start < 0) start = std::max<std::int64_t>(0, len + start);
    if (end < 0) end = std::max<std::int64_t>(0, len + end);
    end = std::min(end, len - 1);
    if (len == 0 || start > end) return {};
    return s.substr(static_cast<std::size_t>(start), static_cast<std::size_t>(end - start + 1));
  }

  std::int64_t setrange(std::string_view key, std::int64_t offset,
                        std::string_view value) override {
    check_offset("memory SETRANGE", offset);
    Lock l(mu_);
    sweep();
    Entry* e = find(key);
    if (e == nullptr) {
      if (value.empty()) return 0;  // as Redis: an empty write does not create the key
      e = &data_.insert_or_assign(std::string(key), Entry{std::string(), {}}).first->second;
    }
    std::string& s = as<std::string>(*e, "SETRANGE");
    if (value.empty()) return static_cast<std::int64_t>(s.size());
    const auto off = static_cast<std::size_t>(offset);
    if (s.size() < off + value.size()) s.resize(off + value.size(), '\0');
    s.replace(off, value.size(), value);
    return static_cast<std::int64_t>(s.size());
  }

  std::int64_t strlen(std::string_view key) override {
    Lock l(mu_);
    Entry* e = find(key);
    if (e == nullptr) return 0;
    return static_cast<std::int64_t>(as<std::string>(*e, "STRLEN").size());
  }

  std::int64_t hset(std::string_view key, const FieldValues& fields) override {
    if (fields.empty()) throw Error(ErrorCode::kInvalidArgument, "memory HSET", "no fields given");
    Lock l(mu_);
    sweep();
    Hash& h = upsert<Hash>(key, "HSET");
    std::int64_t added = 0;
    for (const auto& [f, v] : fields) {
      added += h.insert_or_assign(f, v).second ? 1 : 0;
    }
    return added;
  }

  std::optional<std::string> hget(std::string_view key, std::string_view field) override {
    Lock l(mu_);
    Entry* e = find(key);
    if (e == nullptr) return std::nullopt;
    const Hash& h = as<Hash>(*e, "HGET");
    auto it = h.find(std::string(field));
    if (it == h.end()) return std::nullopt;
    return it->second;
  }

  FieldValues hgetall(std::string_view key) override {
    Lock l(mu_);
    Entry* e = find(key);
    if (e == nullptr) return {};
    const Hash& h = as<Hash>(*e, "HGETALL");
    return FieldValues(h.begin(), h.end());
  }

  std::int64_t hdel(std::string_view key, const std::vector<std::string>& fields) override {
    Lock l(mu_);
    sweep();
    Entry* e = find(key);
    if (e == nullptr) return 0;
    Hash& h = as<Hash>(*e, "HDEL");
    std::int64_t n = 0;
    for (const auto& f : fields) n += static_cast<std::int64_t>(h.erase(f));
    if (h.empty()) erase(std::string(key));
    return n;
  }

  std::int64_t hincr_by(std::string_view key, std::string_view field, std::int64_t delta) override {
    Lock l(mu_);
    sweep();
    Hash& h = upsert<Hash>(key, "HINCRBY");
    auto [it, inserted] = h.try_emplace(std::string(field), "0");
    const auto v = parse_int64(it->second);
    if (!v) {
      if (inserted) h.erase(it);
      throw Error(ErrorCode::kInvalidArgument, "memory HINCRBY",
                  "ERR hash value is not an integer");
    }
    const std::int64_t r = checked_add("HINCRBY", *v, delta);
    it->second = std::to_string(r);
    return r;
  }

  std::int64_t zadd(std::string_view key, const std::vector<ScoredMember>& members) override {
    if (members.empty())
      throw Error(ErrorCode::kInvalidArgument, "memory ZADD", "no members given");
    for (const auto& m : members) check_score("memory ZADD", m.score);
    Lock l(mu_);
    sweep();
    ZSet& z = upsert<ZSet>(key, "ZADD");
    std::int64_t added = 0;
    for (const auto& m : members) {
      auto it = z.scores.find(m.member);
      if (it == z.scores.end()) {
        z.scores.emplace(m.member, m.score);
        z.order.emplace(m.score, m.member);
        ++added;
      } else if (it->second != m.score) {
        z.order.erase({it->second, m.member});
        it->second = m.score;
        z.order.emplace(m.score, m.member);
      }
    }
    return added;
  }

  std::int64_t zrem(std::string_view key, const std::vector<std::string>& members) override {
    Lock l(mu_);
    sweep();
    Entry* e = find(key);
    if (e == nullptr) return 0;
    ZSet& z = as<ZSet>(*e, "ZREM");
    std::int64_t n = 0;
    for (const auto& m : members) {
      auto it = z.scores.find(m);
      if (it == z.scores.end()) continue;
      z.order.erase({it->second, m});
      z.scores.erase(it);
      ++n;
    }
    if (z.scores.empty()) erase(std::string(key));
    return n;
  }

  std::vector<ScoredMember> zrange(std::string_view key, std::int64_t start,
                                   std::int64_t stop) override {
    Lock l(mu_);
    Entry* e = find(key);
    if (e == nullptr) return {};
    const ZSet& z = as<ZSet>(*e, "ZRANGE");
    if (!normalize_range(static_cast<std::int64_t>(z.order.size()), start, stop)) return {};
    std::vector<ScoredMember> out;
    out.reserve(static_cast<std::size_t>(stop - start + 1));
    auto it = std::next(z.order.begin(), start);
    for (std::int64_t i = start; i <= stop; ++i, ++it) out.push_back({it->second, it->first});
    return out;
  }

  std::vector<ScoredMember> zrange_by_score(std::string_view key, double min, double max,
                                            std::int64_t limit) override {
    Lock l(mu_);
    Entry* e = find(key);
    if (e == nullptr) return {};
    const ZSet& z = as<ZSet>(*e, "ZRANGEBYSCORE");
    std::vector<ScoredMember> out;
    for (auto it = z.order.lower_bound({min, std::string()}); it != z.order.end(); ++it) {
      if (it->first > max || (limit > 0 && static_cast<std::int64_t>(out.size()) >= limit)) break;
      out.push_back({it->second, it->first});
    }
    return out;
  }

  std::optional<std::int64_t> zrank(std::string_view key, std::string_view member) override {
    Lock l(mu_);
    Entry* e = find(key);
    if (e == nullptr) return std::nullopt;
    const ZSet& z = as<ZSet>(*e, "ZRANK");
    auto it = z.scores.find(std::string(member));
    if (it == z.scores.end()) return std::nullopt;
    return static_cast<std::int64_t>(
        std::distance(z.order.begin(), z.order.find({it->second, it->first})));
  }

  std::optional<double> zscore(std::string_view key, std::string_view member) override {
    Lock l(mu_);
    Entry* e = find(key);
    if (e == nullptr) return std::nullopt;
    const ZSet& z = as<ZSet>(*e, "ZSCORE");
    auto it = z.scores.find(std::string(member));
    if (it == z.scores.end()) return std::nullopt;
    return it->second;
  }

  std::int64_t zcard(std::string_view key) override {
    Lock l(mu_);
    Entry* e = find(key);
    if (e == nullptr) return 0;
    return static_cast<std::int64_t>(as<ZSet>(*e, "ZCARD").scores.size());
  }

  std::int64_t zcount(std::string_view key, double min, double max) override {
    Lock l(mu_);
    Entry* e = find(key);
    if (e == nullptr) return 0;
    const ZSet& z = as<ZSet>(*e, "ZCOUNT");
    std::int64_t n = 0;
    for (auto it = z.order.lower_bound({min, std::string()});
         it != z.order.end() && it->first <= max; ++it)
      ++n;
    return n;
  }

  std::vector<Reply> execute(const Batch& batch) override {
    std::vector<Reply> replies;
    replies.reserve(batch.size());
    std::optional<Error> first_error;
    for (const auto& c : batch.commands()) {
      try {
        replies.push_back(apply(c));
      } catch (const Error& e) {
        if (!first_error) first_error = e;
        replies.push_back(Reply::nil());
      }
    }
    if (first_error) throw *first_error;
    return replies;
  }

  std::vector<Reply> execute_atomic(const Batch& batch) override {
    require_one_hash_tag("memory MULTI", batch_keys(batch));
    Lock l(mu_);
    return execute(batch);
  }

  Reply run(const Script& script, const std::vector<std::string>& keys,
            const std::vector<std::string>& args) override {
    require_one_hash_tag("memory script " + script.name, keys);
    if (!script.local) {
      throw Error(ErrorCode::kInvalidArgument, "memory script " + script.name,
                  "the script has no local body");
    }
    Lock l(mu_);
    return script.local(*this, keys, args);
  }

  std::int64_t publish(std::string_view channel, std::string_view message) override {
    std::lock_guard<std::mutex> l(pubsub_mu_);
    auto it = channels_.find(std::string(channel));
    if (it == channels_.end() || it->second.empty()) return 0;
    for (const auto& [id, handler] : it->second) {
      queue_.push_back(Delivery{id, handler, std::string(channel), std::string(message)});
    }
    pubsub_cv_.notify_all();
    return 1;  // like Redis: one process's subscriptions share one connection, counted once
  }

  std::unique_ptr<Subscription> subscribe(std::string_view channel,
                                          MessageHandler handler) override;

  BackendHealth health() override {
    BackendHealth h;
    h.role = "cache";
    h.kind = "memory";
    h.endpoint = "memory://";
    const auto t0 = Clock::now();
    { Lock l(mu_); }
    h.round_trip = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
    h.ok = true;
    h.server_version = "embedded";
    return h;
  }

  void unsubscribe(const std::string& channel, std::uint64_t id) {
    std::unique_lock<std::mutex> l(pubsub_mu_);
    auto it = channels_.find(channel);
    if (it != channels_.end()) {
      it->second.erase(id);
      if (it->second.empty()) channels_.erase(it);
    }
    // Wait until the handler is not running, unless we are the dispatcher (a handler that
    // drops its own subscription).
    if (std::this_thread::get_id() != dispatcher_.get_id()) {
      pubsub_cv_.wait(l, [&] { return running_id_ != id; });
    }
    queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                                [id](const Delivery& d) { return d.id == id; }),
                 queue_.end());
  }

 private:
  using Lock = std::lock_guard<std::recursive_mutex>;
  using Handler = std::shared_ptr<MessageHandler>;
  struct Delivery {
    std::uint64_t id;
    Handler handler;
    std::string channel;
    std::string message;
  };

  Entry* find(std::string_view key) {
    auto it = data_.find(std::string(key));
    if (it == data_.end()) return nullptr;
    if (it->second.expires && *it->second.expires <= Clock::now()) {
      erase(it->first);
      return nullptr;
    }
    return &it->second;
  }

  template <typename T>
  static T& as(Entry& e, std::string_view op) {
    T* v = std::get_if<T>(&e.value);
    if (v == nullptr) wrong_type(op);
    return *v;
  }

  template <typename T>
  T& upsert(std::string_view key, std::string_view op) {
    Entry* e = find(key);
    if (e == nullptr) {
      e = &data_.insert_or_assign(std::string(key), Entry{T{}, {}}).first->second;
    }
    return as<T>(*e, op);
  }

  void put(const std::string& key, Entry entry, milliseconds ttl) {
    auto old = data_.find(key);
    if (old != data_.end() && old->second.expires) deadlines_.erase({*old->second.expires, key});
    Entry& e = data_.insert_or_assign(key, std::move(entry)).first->second;
    e.expires.reset();
    if (ttl.count() > 0) set_deadline(key, e, ttl);
  }

  void set_deadline(const std::string& key, Entry& e, milliseconds ttl) {
    if (e.expires) deadlines_.erase({*e.expires, key});
    e.expires = Clock::now() + ttl;
    deadlines_.emplace(*e.expires, key);
  }

  void erase(const std::string& key) {
    auto it = data_.find(key);
    if (it == data_.end()) return;
    if (it->second.expires) deadlines_.erase({*it->second.expires, key});
    data_.erase(it);
  }

  // Drops every key whose deadline has passed (cheap: deadlines are kept in order).
  void sweep() {
    const auto now = Clock::now();
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      const std::string key = deadlines_.begin()->second;
      erase(key);
    }
  }

  Reply apply(const Batch::Command& c) {
    using Op = Batch::Op;
    auto opt = [](std::optional<std::string> v) {
      return v ? Reply::of(std::move(*v)) : Reply::nil();
    };
    auto arg_int = [&](std::size_t i) { return *parse_int64(c.args[i]); };
    switch (c.op) {
      case Op::kSet:
        set(c.key, c.args[0], milliseconds(arg_int(1)));
        return Reply::of(std::string("OK"));
      case Op::kGet:
        return opt(get(c.key));
      case Op::kDel:
        return Reply::of(del({c.key}));
      case Op::kExpire:
        return Reply::of(std::int64_t{expire(c.key, milliseconds(arg_int(0))) ? 1 : 0});
      case Op::kIncrBy:
        return Reply::of(incr_by(c.key, arg_int(0)));
      case Op::kHSet:
        return Reply::of(hset(c.key, {{c.args[0], c.args[1]}}));
      case Op::kHGet:
        return opt(hget(c.key, c.args[0]));
      case Op::kHDel:
        return Reply::of(hdel(c.key, {c.args[0]}));
      case Op::kHIncrBy:
        return Reply::of(hincr_by(c.key, c.args[0], arg_int(1)));
      case Op::kZAdd:
        return Reply::of(zadd(c.key, {{c.args[1], *parse_score(c.args[0])}}));
      case Op::kZRem:
        return Reply::of(zrem(c.key, {c.args[0]}));
      case Op::kZScore: {
        const auto s = zscore(c.key, c.args[0]);
        return s ? Reply::of(format_score(*s)) : Reply::nil();
      }
      case Op::kZCard:
        return Reply::of(zcard(c.key));
      case Op::kPublish:
        return Reply::of(publish(c.key, c.args[0]));
    }
    throw Error(ErrorCode::kInternal, "memory batch", "unknown command");
  }

  void dispatch_loop() {
    std::unique_lock<std::mutex> l(pubsub_mu_);
    for (;;) {
      pubsub_cv_.wait(l, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      Delivery d = std::move(queue_.front());
      queue_.pop_front();
      running_id_ = d.id;
      l.unlock();
      try {
        (*d.handler)(d.channel, d.message);
      } catch (...) {  // a handler must not throw; the message is dropped, as documented
      }
      l.lock();
      running_id_ = 0;
      pubsub_cv_.notify_all();
    }
  }

  std::recursive_mutex mu_;  // guards data_ and deadlines_
  std::unordered_map<std::string, Entry> data_;
  std::set<std::pair<Clock::time_point, std::string>> deadlines_;

  std::mutex pubsub_mu_;  // guards the members below
  std::condition_variable pubsub_cv_;
  std::map<std::string, std::map<std::uint64_t, Handler>> channels_;
  std::deque<Delivery> queue_;
  std::uint64_t next_id_ = 1;
  std::uint64_t running_id_ = 0;
  bool stopping_ = false;
  std::thread dispatcher_;  // last: starts after everything above is built
};

class MemorySubscription final : public Subscription {
 public:
  MemorySubscription(MemoryCache* cache, std::string channel, std::uint64_t id)
      : cache_(cache), channel_(std::move(channel)), id_(id) {}
  ~MemorySubscription() override { cache_->unsubscribe(channel_, id_); }

 private:
  MemoryCache* cache_;
  std::string channel_;
  std::uint64_t id_;
};

std::unique_ptr<Subscription> MemoryCache::subscribe(std::string_view channel,
                                                     MessageHandler handler) {
  std::lock_guard<std::mutex> l(pubsub_mu_);
  const std::uint64_t id = next_id_++;
  channels_[std::string(channel)].emplace(id, std::make_shared<MessageHandler>(std::move(handler)));
  return std::make_unique<MemorySubscription>(this, std::string(channel), id);
}

}  // namespace

std::unique_ptr<Cache> make_memory_cache() { return std::make_unique<MemoryCache>(); }

}  // namespace examstore
