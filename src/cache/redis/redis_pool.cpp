#include "cache/redis/redis_pool.hpp"

#include "examstore/error.hpp"

namespace examstore::redis {

Pool::Pool(RedisOptions options) : options_(std::move(options)), endpoint_(options_.redacted()) {}

Pool::Lease Pool::acquire() {
  std::unique_lock<std::mutex> l(mu_);
  const auto deadline = std::chrono::steady_clock::now() + options_.pool_wait_timeout;
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      if (c->looks_alive()) return Lease(this, std::move(c));
      --open_;  // the server closed it (restart, idle timeout): replace it
    }
    if (open_ < options_.pool_size) {
      ++open_;
      l.unlock();
      try {
        return Lease(this, std::make_unique<Connection>(options_));
      } catch (...) {
        l.lock();
        --open_;
        freed_.notify_one();
        throw;
      }
    }
    if (freed_.wait_until(l, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.pool_size) {
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
  } else {
    idle_.push_back(std::move(conn));
  }
  freed_.notify_one();
}

}  // namespace examstore::redis
