// HotRepairs: see hot_repairs.hpp.
#include "repo/hot_repairs.hpp"

#include <exception>
#include <vector>

#include "cache/failover.hpp"

namespace examstore::repo {

void HotRepairs::add(const std::string& item) {
  c_.add(c_.skipped);
  std::lock_guard<std::mutex> l(mu_);
  if (items_.insert(item).second) c_.add(c_.pending);
  any_.store(true, std::memory_order_release);
}

void HotRepairs::settle() noexcept {
  if (!any_.load(std::memory_order_acquire)) return;
  std::unique_lock<std::mutex> running(settling_, std::try_to_lock);
  if (!running.owns_lock()) return;
  std::vector<std::string> todo;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (std::chrono::steady_clock::now() - last_failure_ < kRetryEvery) return;
    todo.assign(items_.begin(), items_.end());
    items_.clear();
    any_.store(false, std::memory_order_release);
  }
  // Redis may still be away: one quick attempt, never a wait for a failover.
  const cache::FailoverWaitScope quick(std::chrono::milliseconds(0));
  std::vector<std::string> left;
  for (const std::string& item : todo) {
    if (!left.empty()) {  // the hot tier failed a moment ago: keep the rest for later
      left.push_back(item);
      continue;
    }
    try {
      repair_(item);
      c_.add(c_.repaired);
      c_.add(c_.pending, -1);
    } catch (...) {
      c_.add(c_.failed);
      left.push_back(item);
    }
  }
  if (left.empty()) return;
  std::lock_guard<std::mutex> l(mu_);
  for (const std::string& item : left) {
    if (!items_.insert(item).second) c_.add(c_.pending, -1);  // added again meanwhile
  }
  last_failure_ = std::chrono::steady_clock::now();
  any_.store(true, std::memory_order_release);
}

}  // namespace examstore::repo
