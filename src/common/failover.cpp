#include "common/failover.hpp"

#include <algorithm>
#include <string>
#include <thread>

namespace examstore::failover {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

thread_local std::optional<milliseconds> t_scope;

constexpr milliseconds kMaxStep{200};

}  // namespace

WaitScope::WaitScope(milliseconds wait) noexcept : saved_(t_scope) {
  t_scope = t_scope ? std::min(*t_scope, wait) : wait;
}

WaitScope::~WaitScope() { t_scope = saved_; }

std::optional<milliseconds> WaitScope::current() noexcept { return t_scope; }

void Signal::notify() {
  {
    std::lock_guard<std::mutex> l(mu_);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  cv_.notify_all();
}

void Signal::wait(std::uint64_t seen, Clock::time_point until) {
  std::unique_lock<std::mutex> l(mu_);
  cv_.wait_until(l, until, [&] { return generation_.load(std::memory_order_acquire) != seen; });
}

Clock::time_point Signal::failing(Clock::time_point now) noexcept {
  Clock::rep expected = 0;
  const Clock::rep t = now.time_since_epoch().count();
  if (down_since_.compare_exchange_strong(expected, t, std::memory_order_relaxed)) return now;
  return Clock::time_point(Clock::duration(expected));
}

bool failover_class(const Error& e) noexcept {
  return e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kTimeout;
}

Retry::Retry(milliseconds wait, Signal* signal, std::atomic<std::int64_t>* retries) noexcept
    : start_(Clock::now()),
      wait_(std::min(wait, WaitScope::current().value_or(wait))),
      deadline_(start_ + wait_),
      signal_(signal),
      retries_(retries),
      seen_(signal ? signal->generation() : 0) {}

bool Retry::again(const Error& e, bool idempotent) {
  if (e.outcome_unknown()) in_doubt_ = true;
  if (!failover_class(e)) return false;
  const auto now = Clock::now();
  // The budget runs from the start of the outage (another call may have seen it first).
  if (attempts_ == 1 && signal_ != nullptr)
    deadline_ = std::min(deadline_, signal_->failing(now) + wait_);
  if (e.outcome_unknown() && !idempotent) return false;
  if (now >= deadline_) return false;
  const auto until = std::min(deadline_, now + step_);
  if (signal_ != nullptr) {
    signal_->wait(seen_, until);
    seen_ = signal_->generation();
  } else {
    std::this_thread::sleep_until(until);
  }
  step_ = std::min(step_ * 2, kMaxStep);
  ++attempts_;
  if (retries_ != nullptr) retries_->fetch_add(1, std::memory_order_relaxed);
  return true;
}

Error Retry::final_error(const Error& e) const {
  std::string message = e.message();
  if (attempts_ > 1) {
    const auto waited = std::chrono::duration_cast<milliseconds>(Clock::now() - start_).count();
    message += " (still failing after " + std::to_string(attempts_) + " attempts in " +
               std::to_string(waited) + " ms of failover_wait)";
  }
  return Error(e.code(), e.operation(), std::move(message), e.backend(),
               e.outcome_unknown() || in_doubt_);
}

}  // namespace examstore::failover
