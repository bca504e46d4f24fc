// HotRepairs: see hot_repairs.hpp.
#include "repo/hot_repairs.hpp"

#include <exception>
#include <vector>

#include "common/failover.hpp"

namespace examstore::repo {

void HotRepairs::add(const std::string& item) {
  c_.add(c_.skipped);
  std::lock_guard<std::mutex> l(mu_);
  const auto [it, inserted] = items_.try_emplace(item, 0);
  it->second = ++adds_;
  if (inserted) c_.add(c_.pending);
  any_.store(true, std::memory_order_release);
}

bool HotRepairs::contains(const std::string& item) const {
  std::lock_guard<std::mutex> l(mu_);
  return items_.count(item) != 0;
}

void HotRepairs::settle() noexcept {
  if (!any_.load(std::memory_order_acquire)) return;
  std::unique_lock<std::mutex> running(settling_, std::try_to_lock);
  if (!running.owns_lock()) return;
  std::vector<std::pair<std::string, std::uint64_t>> todo;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (std::chrono::steady_clock::now() - last_failure_ < kRetryEvery) return;
    todo.assign(items_.begin(), items_.end());
  }
  // Redis may still be away: one quick attempt, never a wait for a failover. Items stay pending
  // (contains() true) until their repair is done.
  const failover::WaitScope quick(std::chrono::milliseconds(0));
  for (const auto& [item, seen] : todo) {
    try {
      repair_(item);
    } catch (...) {
      c_.add(c_.failed);
      std::lock_guard<std::mutex> l(mu_);
      last_failure_ = std::chrono::steady_clock::now();
      return;  // the hot tier failed a moment ago: the rest waits for the next settle
    }
    c_.add(c_.repaired);
    std::lock_guard<std::mutex> l(mu_);
    const auto it = items_.find(item);
    if (it != items_.end() && it->second == seen) {  // not skipped again while repairing
      items_.erase(it);
      c_.add(c_.pending, -1);
    }
  }
  std::lock_guard<std::mutex> l(mu_);
  any_.store(!items_.empty(), std::memory_order_release);
}

}  // namespace examstore::repo
