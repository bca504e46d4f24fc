#include "cache/redis/redis_subscriber.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "examstore/error.hpp"

namespace examstore::redis {
namespace {

class RedisSubscription final : public Subscription {
 public:
  RedisSubscription(Subscriber* owner, std::string channel, std::uint64_t id)
      : owner_(owner), channel_(std::move(channel)), id_(id) {}
  ~RedisSubscription() override { owner_->unsubscribe(channel_, id_); }

 private:
  Subscriber* owner_;
  std::string channel_;
  std::uint64_t id_;
};

std::string element(const redisReply& r, size_t i) {
  if (i >= r.elements || r.element[i]->type != REDIS_REPLY_STRING) return {};
  return std::string(r.element[i]->str, r.element[i]->len);
}

}  // namespace

Subscriber::Subscriber(RedisOptions options, const obs::Logger* log,
                       std::shared_ptr<SentinelResolver> resolver)
    : Subscriber(std::move(options), log ? *log : obs::Logger::silent(), std::move(resolver),
                 nullptr,
                 {"near_cache", "invalidation", "near caches bypass themselves until it is back"}) {
}

Subscriber::Subscriber(RedisOptions options, const obs::Logger& log, Connect connect,
                       Purpose purpose)
    : Subscriber(std::move(options), log, nullptr, std::move(connect), std::move(purpose)) {}

Subscriber::Subscriber(RedisOptions options, const obs::Logger& log,
                       std::shared_ptr<SentinelResolver> resolver, Connect connect, Purpose purpose)
    : options_(std::move(options)),
      tls_(options_.tls.enabled ? tls_context(options_.tls) : nullptr),
      log_(log),
      resolver_(std::move(resolver)),
      connect_(std::move(connect)),
      purpose_(std::move(purpose)) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) {
    throw Error(ErrorCode::kResourceExhausted, "redis subscribe", "eventfd failed",
                options_.redacted());
  }
  thread_ = std::thread([this] { run(); });
}

Subscriber::~Subscriber() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
  }
  wake();
  thread_.join();
  ::close(wake_fd_);
}

void Subscriber::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

std::uint64_t Subscriber::add_handler(const std::string& channel, MessageHandler handler) {
  std::unique_lock<std::mutex> l(mu_);
  const std::uint64_t id = next_id_++;
  auto& slot = handlers_[channel];
  const bool first = slot.empty();
  slot.emplace(id, std::make_shared<MessageHandler>(std::move(handler)));
  // When not connected, the thread subscribes to every channel as soon as it connects.
  if (first && connected_) pending_.emplace_back(true, channel);
  l.unlock();
  wake();
  return id;
}

void Subscriber::watch(std::string_view channel, MessageHandler handler) {
  add_handler(std::string(channel), std::move(handler));
}

bool Subscriber::connected() {
  std::lock_guard<std::mutex> l(mu_);
  return connected_;
}

std::unique_ptr<Subscription> Subscriber::subscribe(std::string_view channel_view,
                                                    MessageHandler handler) {
  const std::string channel(channel_view);
  const std::uint64_t id = add_handler(channel, std::move(handler));
  std::unique_lock<std::mutex> l(mu_);
  const auto deadline = std::chrono::steady_clock::now() + options_.command_timeout;
  const bool ok = cv_.wait_until(l, deadline, [&] {
    return stopping_ || confirmed_.count(channel) != 0;
  }) && !stopping_;
  if (!ok) {
    const std::string why =
        last_error_.empty() ? "no confirmation within the command timeout" : last_error_;
    const bool down = !connected_;
    l.unlock();
    unsubscribe(channel, id);
    throw Error(down ? ErrorCode::kUnavailable : ErrorCode::kTimeout, "redis SUBSCRIBE " + channel,
                why, options_.redacted());
  }
  return std::make_unique<RedisSubscription>(this, channel, id);
}

void Subscriber::unsubscribe(const std::string& channel, std::uint64_t id) {
  std::unique_lock<std::mutex> l(mu_);
  auto it = handlers_.find(channel);
  if (it != handlers_.end()) {
    it->second.erase(id);
    if (it->second.empty()) {
      handlers_.erase(it);
      confirmed_.erase(channel);
      if (connected_) {
        pending_.emplace_back(false, channel);
        leaving_.insert(channel);
      }
    }
  }
  l.unlock();
  wake();
  if (std::this_thread::get_id() == thread_.get_id()) return;  // a handler dropping itself
  l.lock();
  cv_.wait(l, [&] { return running_id_ != id; });
  const auto deadline = std::chrono::steady_clock::now() + options_.command_timeout;
  cv_.wait_until(l, deadline, [&] {
    return stopping_ || !connected_ || leaving_.count(channel) == 0 ||
           handlers_.count(channel) != 0;
  });
}

void Subscriber::run() {
  auto backoff = std::chrono::milliseconds(50);
  for (;;) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (stopping_) break;
    }
    if (!conn_ && !connect_and_resubscribe()) {
      pollfd p{wake_fd_, POLLIN, 0};
      ::poll(&p, 1, static_cast<int>(backoff.count()));
      std::uint64_t drained = 0;
      [[maybe_unused]] const ssize_t n = ::read(wake_fd_, &drained, sizeof drained);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
      continue;
    }
    backoff = std::chrono::milliseconds(50);
    send_pending();
    if (!conn_) continue;
    pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {conn_->context()->fd, POLLIN, 0}};
    if (::poll(fds, 2, 1000) < 0) continue;  // EINTR
    if ((fds[0].revents & POLLIN) != 0) {
      std::uint64_t drained = 0;
      [[maybe_unused]] const ssize_t n = ::read(wake_fd_, &drained, sizeof drained);
    }
    if ((fds[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) read_replies();
  }
  conn_.reset();
}

bool Subscriber::connect_and_resubscribe() {
  try {
    if (connect_) {
      conn_ = connect_();
    } else {
      conn_ = resolver_ ? resolver_->connect_master() : std::make_unique<Connection>(options_);
    }
  } catch (const Error& e) {
    std::lock_guard<std::mutex> l(mu_);
    last_error_ = e.message();
    return false;
  }
  std::lock_guard<std::mutex> l(mu_);
  connected_ = true;
  last_error_.clear();
  pending_.clear();
  for (const auto& [channel, hs] : handlers_) pending_.emplace_back(true, channel);
  return true;
}

void Subscriber::send_pending() {
  std::vector<std::pair<bool, std::string>> todo;
  {
    std::lock_guard<std::mutex> l(mu_);
    todo.swap(pending_);
  }
  if (todo.empty()) return;
  redisContext* c = conn_->context();
  for (const auto& [sub, channel] : todo) {
    const char* argv[2] = {sub ? "SUBSCRIBE" : "UNSUBSCRIBE", channel.data()};
    const size_t lens[2] = {sub ? 9u : 11u, channel.size()};
    redisAppendCommandArgv(c, 2, argv, lens);
  }
  int done = 0;
  while (done == 0) {
    if (redisBufferWrite(c, &done) != REDIS_OK) {
      disconnect(c->errstr);
      return;
    }
  }
}

void Subscriber::read_replies() {
  redisContext* c = conn_->context();
  if (redisBufferRead(c) != REDIS_OK) {
    disconnect(c->err == REDIS_ERR_EOF ? "the server closed the connection" : c->errstr);
    return;
  }
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(c->reader, &raw) != REDIS_OK) {
      disconnect("protocol error");
      return;
    }
    if (raw == nullptr) return;
    ReplyPtr reply(static_cast<redisReply*>(raw));
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3) continue;
    const std::string kind = element(*reply, 0);
    const std::string channel = element(*reply, 1);
    std::unique_lock<std::mutex> l(mu_);
    if (kind == "subscribe") {
      if (handlers_.count(channel) != 0) confirmed_.insert(channel);
      cv_.notify_all();
    } else if (kind == "unsubscribe") {
      leaving_.erase(channel);
      cv_.notify_all();
    } else if (kind == "message") {
      auto it = handlers_.find(channel);
      if (it == handlers_.end()) continue;
      const auto snapshot = it->second;  // handlers may unsubscribe while we deliver
      const std::string message = element(*reply, 2);
      for (const auto& [id, handler] : snapshot) {
        auto now = handlers_.find(channel);
        if (now == handlers_.end() || now->second.count(id) == 0) continue;
        running_id_ = id;
        l.unlock();
        try {
          (*handler)(channel, message);
        } catch (...) {  // documented: a throwing handler loses that message only
        }
        l.lock();
        running_id_ = 0;
        cv_.notify_all();
      }
    }
  }
}

void Subscriber::disconnect(const std::string& why) {
  conn_.reset();
  if (resolver_) resolver_->invalidate();
  log_.log(LogLevel::kWarn, purpose_.component, "{} subscription to {} lost ({}); {}",
           purpose_.what, options_.redacted(), why, purpose_.consequence);
  std::lock_guard<std::mutex> l(mu_);
  connected_ = false;
  confirmed_.clear();
  leaving_.clear();
  pending_.clear();
  last_error_ = why;
  cv_.notify_all();
}

}  // namespace examstore::redis
