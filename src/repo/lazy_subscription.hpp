// repo/lazy_subscription.hpp: a subscription made on first use, for in-process near caches.
//
// Opening a store contacts no server, so a near cache cannot subscribe to its invalidation
// channel when it is built. live() subscribes on first use and, after a failure (the hot tier is
// down), tries again at most once a second. A near cache must serve nothing while live() is
// false: without the messages it could not know when an entry went stale.
// Thread-safety: live() is thread-safe; the handler runs on the cache's subscriber thread.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "examstore/cache.hpp"
#include "examstore/error.hpp"

namespace examstore::repo {

class LazySubscription {
 public:
  LazySubscription(Cache& cache, std::string channel, MessageHandler handler)
      : cache_(cache), channel_(std::move(channel)), handler_(std::move(handler)) {}

  /// True once messages of the channel reach the handler.
  bool live() {
    std::lock_guard<std::mutex> l(mu_);
    if (subscription_) return true;
    const auto now = std::chrono::steady_clock::now();
    if (now < next_attempt_) return false;
    next_attempt_ = now + std::chrono::seconds(1);
    try {
      subscription_ = cache_.subscribe(channel_, handler_);
    } catch (const Error&) {
      return false;
    }
    return true;
  }

 private:
  Cache& cache_;
  const std::string channel_;
  const MessageHandler handler_;
  std::mutex mu_;  // guards subscription_ and next_attempt_
  std::chrono::steady_clock::time_point next_attempt_{};
  std::unique_ptr<Subscription> subscription_;
};

}  // namespace examstore::repo
