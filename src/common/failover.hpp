// common/failover.hpp: how one call rides through a failover (or restart) of a server: the
// Redis master (the hot tier: RedisOptions::failover_wait) or the PostgreSQL primary (the durable
// tier: PostgresOptions::failover_wait, one transaction being one call). The one mechanism for
// both tiers.
//
// A call that fails because the server is gone is sent again, after a short wait, until its
// failover_wait has passed since the outage began; then the last error is thrown.
// Which failures qualify, and when a call may be sent again:
//
//   - kUnavailable or kTimeout (refused, reset, closed, READONLY, LOADING, MASTERDOWN, TRYAGAIN,
//     CLUSTERDOWN, NOREPLICAS, no master known to the sentinels, a command timeout). Anything
//     else (a wrong command, a full pool, a permission) is thrown at once.
//   - A failure whose outcome is known to be "not applied" (never sent, or refused by the
//     server with an error reply) is always sent again.
//   - A failure whose outcome is unknown (sent, then the connection died or timed out) is sent
//     again only when the call is idempotent; otherwise it is thrown with outcome_unknown(), and
//     so is the final error of an idempotent call that was once in doubt.
//
// The wait between attempts grows from 10 ms to 200 ms, and ends early when a Signal
// says a new master was named (Sentinel's +switch-master, a new Cluster slot map).
//
// The budget belongs to the outage, not to each call: the Signal remembers when the
// current run of failures began, and a call's wait ends failover_wait after that, so during an
// outage longer than failover_wait every call fails at once again (after one attempt) instead of
// each one waiting the whole budget. The first success ends the outage.
//
// A thread can lower the wait for the calls it makes with a WaitScope (on both tiers): a
// best-effort update whose durable copy is elsewhere (a live counter, a presence mark) should not
// hold its caller for seconds while Redis is away.
//
// Thread-safety: Signal is thread-safe; Retry is one call's state (one thread).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>

#include "examstore/error.hpp"

namespace examstore::failover {

/// Lowers (never raises) the failover wait of every call (either tier) this thread makes while the
/// scope lives; scopes nest, the innermost wins. 0: the first failure is thrown at once.
class WaitScope {
 public:
  explicit WaitScope(std::chrono::milliseconds wait) noexcept;
  ~WaitScope();
  WaitScope(const WaitScope&) = delete;
  WaitScope& operator=(const WaitScope&) = delete;

  /// The innermost scope's wait on this thread, if any.
  static std::optional<std::chrono::milliseconds> current() noexcept;

 private:
  std::optional<std::chrono::milliseconds> saved_;
};

/// Wakes the calls waiting to be sent again when a new master is named.
class Signal {
 public:
  /// Something changed (a new master, a new slot map): waiting calls try again now.
  void notify();
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
  /// Waits until notify() was called after `seen` was read, or until `until`.
  void wait(std::uint64_t seen, std::chrono::steady_clock::time_point until);

  /// A call failed in a way that may be a failover: the outage began now, unless it already had.
  /// Returns when it began.
  std::chrono::steady_clock::time_point failing(std::chrono::steady_clock::time_point now) noexcept;
  /// A call succeeded: the outage, if any, is over. One relaxed load when there is none.
  void succeeded() noexcept {
    if (down_since_.load(std::memory_order_relaxed) != 0) {
      down_since_.store(0, std::memory_order_relaxed);
    }
  }

 private:
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::chrono::steady_clock::rep> down_since_{0};  // 0: no outage
  std::mutex mu_;
  std::condition_variable cv_;
};

/// True for the failures that may end when a new master is in place (kUnavailable, kTimeout).
bool failover_class(const Error& e) noexcept;

/// One call's attempts. Create it when the call begins.
class Retry {
 public:
  /// `wait`: RedisOptions::failover_wait (lowered by a WaitScope). `signal` (may be
  /// null) ends waits early; `retries` (may be null) counts every attempt sent again.
  Retry(std::chrono::milliseconds wait, Signal* signal,
        std::atomic<std::int64_t>* retries) noexcept;

  /// After the attempt failed with `e`: waits and returns true when the call should be sent
  /// again; returns false when `e` is final (throw final_error(e)).
  bool again(const Error& e, bool idempotent);

  /// The error to throw: `e`, with outcome_unknown() when any attempt was in doubt, and naming
  /// how long the call waited when it was sent more than once.
  Error final_error(const Error& e) const;

  int attempts() const noexcept { return attempts_; }

  /// The call succeeded: tells the signal that the outage, if any, is over.
  void succeeded() noexcept {
    if (signal_ != nullptr) signal_->succeeded();
  }

 private:
  const std::chrono::steady_clock::time_point start_;
  const std::chrono::milliseconds wait_;
  std::chrono::steady_clock::time_point deadline_;  // set at the first failure
  Signal* const signal_;
  std::atomic<std::int64_t>* const retries_;
  std::uint64_t seen_;
  std::chrono::milliseconds step_{10};
  int attempts_ = 1;
  bool in_doubt_ = false;
};

/// Runs `attempt` and sends it again under the rules above, within `retry`'s budget; throws the
/// final error. A call made of several round trips (a pipeline split over the nodes of a
/// cluster) passes the same Retry to each, so they share one failover_wait.
template <class F>
auto ride_through(Retry& retry, bool idempotent, F&& attempt) -> std::invoke_result_t<F&> {
  for (;;) {
    try {
      if constexpr (std::is_void_v<std::invoke_result_t<F&>>) {
        attempt();
        retry.succeeded();
        return;
      } else {
        auto result = attempt();
        retry.succeeded();
        return result;
      }
    } catch (const Error& e) {
      if (!retry.again(e, idempotent)) {
        if (retry.attempts() == 1 && !e.outcome_unknown()) throw;
        throw retry.final_error(e);
      }
    }
  }
}

/// Runs `attempt` and sends it again under the rules above; throws the final error.
template <class F>
auto ride_through(std::chrono::milliseconds wait, Signal* signal,
                  std::atomic<std::int64_t>* retries, bool idempotent, F&& attempt)
    -> std::invoke_result_t<F&> {
  Retry retry(wait, signal, retries);
  return ride_through(retry, idempotent, std::forward<F>(attempt));
}

}  // namespace examstore::failover
