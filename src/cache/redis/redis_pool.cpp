#include "cache/redis/redis_pool.hpp"

#include "examstore/error.hpp"

namespace examstore::redis {

Pool::Pool(RedisOptions options, obs::Telemetry* telemetry)
    : options_(std::move(options)),
      endpoint_(options_.redacted()),
      tls_(options_.tls.enabled ? tls_context(options_.tls) : nullptr),
      counters_(telemetry ? &telemetry->redis : nullptr),
      log_(telemetry ? telemetry->log : obs::Logger::silent()),
      resolver_(options_.topology == RedisTopology::kSentinel
                    ? std::make_shared<SentinelResolver>(options_, log_, &failover_)
                    : nullptr) {}

std::unique_ptr<Connection> Pool::connect() {
  try {
    auto c = resolver_ ? resolver_->connect_master() : std::make_unique<Connection>(options_);
    c->count_into(counters_);
    if (counters_) counters_->add(counters_->connects);
    log_.log(LogLevel::kDebug, "redis", "connected to {}", endpoint_);
    return c;
  } catch (const Error& e) {
    if (counters_) counters_->add(counters_->errors);
    log_.log(LogLevel::kWarn, "redis", "cannot connect to {}: {}", endpoint_, e.message());
    throw;
  }
}

Pool::Lease Pool::acquire() {
  const std::uint64_t epoch = resolver_ ? resolver_->epoch() : 0;
  std::unique_lock<std::mutex> l(mu_);
  const auto deadline = std::chrono::steady_clock::now() + options_.pool_wait_timeout;
  bool waited = false;
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      if (c->generation() != epoch) {
        --open_;  // made for a master that has since been replaced
        continue;
      }
      if (c->looks_alive()) {
        publish_locked();
        return Lease(this, std::move(c));
      }
      --open_;  // the server closed it (restart, idle timeout, failover): replace it
      if (resolver_) resolver_->invalidate();
      log_.log(LogLevel::kWarn, "redis", "{} closed an idle connection; reconnecting", endpoint_);
    }
    if (open_ < options_.pool_size) {
      ++open_;
      publish_locked();
      l.unlock();
      try {
        return Lease(this, connect());
      } catch (...) {
        l.lock();
        --open_;
        publish_locked();
        freed_.notify_one();
        throw;
      }
    }
    if (!waited && counters_) counters_->add(counters_->waits);
    waited = true;
    if (freed_.wait_until(l, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.pool_size) {
      if (counters_) counters_->add(counters_->wait_timeouts);
      throw Error(ErrorCode::kResourceExhausted, "redis pool",
                  "no free connection within " +
                      std::to_string(options_.pool_wait_timeout.count()) + " ms (pool_size " +
                      std::to_string(options_.pool_size) + ")",
                  endpoint_);
    }
  }
}

void Pool::release(std::unique_ptr<Connection> conn) {
  std::lock_guard<std::mutex> l(mu_);
  if (conn->broken()) {
    --open_;
    if (resolver_) resolver_->invalidate();
    log_.log(LogLevel::kWarn, "redis", "dropped a broken connection to {} ({})", endpoint_,
             conn->failure());
  } else {
    idle_.push_back(std::move(conn));
  }
  publish_locked();
  freed_.notify_one();
}

}  // namespace examstore::redis
