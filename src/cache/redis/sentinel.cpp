#include "cache/redis/sentinel.hpp"

#include <algorithm>
#include <sstream>
#include <thread>

#include "cache/redis/redis_subscriber.hpp"
#include "examstore/error.hpp"

namespace examstore::redis {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Sentinels answer from memory: a short deadline lets an unreachable one cost little.
constexpr milliseconds kSentinelTimeout{500};
// Between two asks while a sentinel still names a demoted master.
constexpr milliseconds kStaleRetry{100};
// The channel every sentinel announces a new master address on:
// "<master name> <old ip> <old port> <new ip> <new port>". The leader of a failover announces it
// only after reconfiguring the other replicas (about 1 s later in our tests), the others as soon
// as they hear the leader's new configuration.
constexpr std::string_view kSwitchMaster = "+switch-master";
// The leader announces here the moment the chosen replica has turned master:
// "slave <ip>:<port> <ip> <port> @ <master name> <old ip> <old port>".
constexpr std::string_view kPromotedSlave = "+promoted-slave";

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += "; ";
    out += p;
  }
  return out;
}

}  // namespace

std::string endpoint_text(const RedisEndpoint& e) { return e.host + ":" + std::to_string(e.port); }

bool role_is_master(const redisReply& role) {
  if (role.type != REDIS_REPLY_ARRAY || role.elements == 0) return false;
  const redisReply& first = *role.element[0];
  return first.type == REDIS_REPLY_STRING && std::string_view(first.str, first.len) == "master";
}

SentinelResolver::SentinelResolver(RedisOptions options, const obs::Logger& log,
                                   failover::Signal* signal)
    : options_(std::move(options)),
      redacted_(options_.redacted()),
      log_(log),
      signal_(signal),
      order_(options_.seeds) {
  watch_ = std::make_unique<Subscriber>(
      options_, log_, [this] { return connect_watch(); },
      Subscriber::Purpose{"redis", std::string(kSwitchMaster),
                          "failovers are noticed by errors until another sentinel answers"});
  for (const std::string_view channel : {kSwitchMaster, kPromotedSlave}) {
    watch_->watch(channel, [this](std::string_view from, std::string_view message) {
      on_announcement(from, message);
    });
  }
}

SentinelResolver::~SentinelResolver() = default;

std::unique_ptr<Connection> SentinelResolver::connect_watch() {
  const std::size_t n = options_.seeds.size();
  std::vector<std::string> notes;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (watch_next_ + k) % n;
    const RedisEndpoint& sentinel = options_.seeds[i];
    try {
      auto c = std::make_unique<Connection>(sentinel_options(sentinel),
                                            "sentinel " + endpoint_text(sentinel));
      watch_next_ = (i + 1) % n;  // when this one dies, start with the next
      // A failover announced while the watch was down would be missed: ask again.
      if (watch_connected_once_) invalidate();
      watch_connected_once_ = true;
      log_.log(LogLevel::kDebug, "redis", "{}: watching {} on sentinel {}", redacted_,
               kSwitchMaster, endpoint_text(sentinel));
      return c;
    } catch (const Error& e) {
      notes.push_back("sentinel " + endpoint_text(sentinel) + ": " + e.message());
    }
  }
  throw Error(ErrorCode::kUnavailable, "redis SUBSCRIBE +switch-master",
              "no sentinel reachable (" + join(notes) + ")", redacted_);
}

void SentinelResolver::on_announcement(std::string_view channel, std::string_view message) {
  std::istringstream in{std::string(message)};
  std::string name;
  RedisEndpoint to;
  bool parsed = false;
  if (channel == kSwitchMaster) {
    std::string old_host, old_port;
    parsed = static_cast<bool>(in >> name >> old_host >> old_port >> to.host >> to.port);
  } else {
    std::string kind, id, at;
    parsed = static_cast<bool>(in >> kind >> id >> to.host >> to.port >> at >> name) && at == "@";
  }
  if (!parsed) {
    log_.log(LogLevel::kWarn, "redis", "{}: unparseable {} message '{}'", redacted_, channel,
             message);
    return;
  }
  switch_master(name, to, channel);
}

bool SentinelResolver::is_master(const RedisEndpoint& ep, std::string& note, bool* answered) const {
  const std::string where = endpoint_text(ep);
  try {
    Connection c(master_options(ep), redacted_ + " master " + where);
    ReplyPtr role = c.command({"ROLE"}, "redis ROLE");
    if (answered != nullptr) *answered = true;
    if (role_is_master(*role)) return true;
    note = where + ", whose ROLE is not master";
  } catch (const Error& e) {
    note = where + ", which fails: " + e.message();
  }
  return false;
}

void SentinelResolver::adopt_locked(const RedisEndpoint& ep, std::string_view how) {
  if (known_ && known_->host == ep.host && known_->port == ep.port) return;
  log_.log(LogLevel::kInfo, "redis", "{}: the master is {} ({})", redacted_, endpoint_text(ep),
           how);
  known_ = ep;
  epoch_.fetch_add(1, std::memory_order_acq_rel);
  if (signal_ != nullptr) signal_->notify();
}

bool SentinelResolver::switch_master(const std::string& name, const RedisEndpoint& to,
                                     std::string_view how) {
  if (name != options_.sentinel_master) return false;
  std::string note;
  const bool ok = is_master(to, note);  // outside the lock: callers keep the old answer meanwhile
  std::lock_guard<std::mutex> l(mu_);
  if (!ok) {
    // Not verified: let the next master() ask the sentinels at once, whatever the rate limit.
    log_.log(LogLevel::kWarn, "redis", "{}: {} names {}", redacted_, how, note);
    stale_.store(true, std::memory_order_relaxed);
    resolved_at_ = {};
    retry_at_ = {};
    return false;
  }
  stale_.store(false, std::memory_order_relaxed);
  resolved_at_ = Clock::now();
  last_error_.reset();
  if (known_ && known_->host == to.host && known_->port == to.port) {
    log_.log(LogLevel::kDebug, "redis", "{}: {} confirms the master {}", redacted_, how,
             endpoint_text(to));
    return true;
  }
  adopt_locked(to, how);
  return true;
}

RedisOptions SentinelResolver::sentinel_options(const RedisEndpoint& sentinel) const {
  RedisOptions o;
  o.host = sentinel.host;
  o.port = sentinel.port;
  o.tls = options_.tls;  // a TLS deployment's sentinels speak TLS too (tls-port)
  o.connect_timeout = std::min(options_.connect_timeout, kSentinelTimeout);
  o.command_timeout = std::min(options_.command_timeout, kSentinelTimeout);
  return o;
}

RedisOptions SentinelResolver::master_options(const RedisEndpoint& master) const {
  RedisOptions o = options_;
  o.topology = RedisTopology::kStandalone;
  o.host = master.host;
  o.port = master.port;
  return o;
}

std::optional<RedisEndpoint> SentinelResolver::ask(const RedisEndpoint& sentinel,
                                                   std::string& note) const {
  const std::string where = "sentinel " + endpoint_text(sentinel);
  Connection c(sentinel_options(sentinel), where);
  ReplyPtr r = c.command({"SENTINEL", "get-master-addr-by-name", options_.sentinel_master},
                         "redis SENTINEL get-master-addr-by-name");
  if (r->type == REDIS_REPLY_NIL) {
    note = where + ": does not know a master named '" + options_.sentinel_master + "'";
    return std::nullopt;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
      r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING) {
    note = where + ": unexpected reply to get-master-addr-by-name";
    return std::nullopt;
  }
  RedisEndpoint ep;
  ep.host.assign(r->element[0]->str, r->element[0]->len);
  try {
    ep.port = std::stoi(std::string(r->element[1]->str, r->element[1]->len));
  } catch (const std::exception&) {
    note = where + ": unparseable port in get-master-addr-by-name";
    return std::nullopt;
  }
  return ep;
}

RedisEndpoint SentinelResolver::resolve_locked() {
  const auto deadline = Clock::now() + options_.command_timeout;
  for (;;) {
    std::vector<std::string> notes;
    bool stale = false;
    for (std::size_t i = 0; i < order_.size(); ++i) {
      std::string note;
      std::optional<RedisEndpoint> ep;
      try {
        ep = ask(order_[i], note);
      } catch (const Error& e) {
        notes.push_back("sentinel " + endpoint_text(order_[i]) + ": " + e.message());
        continue;
      }
      if (!ep) {
        notes.push_back(note);
        continue;
      }
      std::rotate(order_.begin(), order_.begin() + static_cast<std::ptrdiff_t>(i),
                  order_.begin() + static_cast<std::ptrdiff_t>(i) + 1);
      // A server that answers but is not master was just demoted: the sentinels lag behind.
      if (is_master(*ep, note, &stale)) return *ep;
      notes.push_back("sentinel " + endpoint_text(order_[0]) + " names " + note);
      break;  // one sentinel's answer per round
    }
    if (stale && Clock::now() + kStaleRetry < deadline) {
      std::this_thread::sleep_for(kStaleRetry);
      continue;
    }
    throw Error(
        ErrorCode::kUnavailable, "redis sentinel",
        "no reachable master named '" + options_.sentinel_master + "' (" + join(notes) + ")",
        redacted_);
  }
}

RedisEndpoint SentinelResolver::master() {
  std::lock_guard<std::mutex> l(mu_);
  const auto now = Clock::now();
  if (known_) {
    if (!stale_.load(std::memory_order_relaxed) || now - resolved_at_ < kMinInterval) {
      return *known_;
    }
  } else if (last_error_ && now < retry_at_) {
    throw *last_error_;
  }
  stale_.store(false, std::memory_order_relaxed);
  try {
    RedisEndpoint ep = resolve_locked();
    resolved_at_ = Clock::now();
    last_error_.reset();
    adopt_locked(ep, "named by the sentinels");
    return ep;
  } catch (const Error& e) {
    resolved_at_ = Clock::now();
    retry_at_ = resolved_at_ + kMinInterval;
    last_error_ = e;
    log_.log(LogLevel::kWarn, "redis", "{}", e.what());
    if (known_) return *known_;  // the sentinels are down, not necessarily the master
    throw;
  }
}

std::unique_ptr<Connection> SentinelResolver::connect_master() {
  const RedisEndpoint ep = master();
  const std::uint64_t epoch = this->epoch();
  try {
    auto c = std::make_unique<Connection>(master_options(ep),
                                          redacted_ + " master " + endpoint_text(ep));
    ReplyPtr role = c->command({"ROLE"}, "redis ROLE");
    if (!role_is_master(*role)) {
      throw Error(ErrorCode::kUnavailable, "redis connect",
                  endpoint_text(ep) + " is no longer the master (failover in progress)", redacted_);
    }
    c->set_generation(epoch);
    return c;
  } catch (const Error&) {
    invalidate();
    throw;
  }
}

SentinelStatus SentinelResolver::probe() {
  SentinelStatus s;
  std::vector<RedisEndpoint> sentinels;
  {
    std::lock_guard<std::mutex> l(mu_);
    sentinels = order_;
    if (known_) s.master = endpoint_text(*known_);
  }
  s.watching = watch_->connected();
  s.total = static_cast<int>(sentinels.size());
  for (const auto& sentinel : sentinels) {
    std::string note;
    try {
      ask(sentinel, note);
      ++s.reachable;
    } catch (const Error&) {
      // counted as unreachable
    }
  }
  return s;
}

std::string SentinelResolver::describe() {
  const SentinelStatus s = probe();
  return "master " + (s.master.empty() ? std::string("unknown") : s.master) + ", " +
         std::to_string(s.reachable) + "/" + std::to_string(s.total) + " sentinels reachable, " +
         std::string(kSwitchMaster) + (s.watching ? " watched" : " not watched");
}

}  // namespace examstore::redis
