#include "cache/cache_util.hpp"

#include <cmath>

#include "examstore/error.hpp"

namespace examstore {

void require_one_hash_tag(std::string_view operation, const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  const std::string_view tag = hash_tag(keys.front());
  for (const auto& k : keys) {
    if (hash_tag(k) != tag) {
      throw Error(ErrorCode::kInvalidArgument, std::string(operation),
                  "keys '" + keys.front() + "' and '" + k +
                      "' have different hash tags; an atomic operation needs one tag");
    }
  }
}

std::vector<std::string> batch_keys(const Batch& batch) {
  std::vector<std::string> keys;
  keys.reserve(batch.size());
  for (const auto& c : batch.commands()) keys.push_back(c.key);
  return keys;
}

void check_ttl(std::string_view operation, std::chrono::milliseconds ttl, bool allow_zero) {
  if (ttl.count() < 0 || (!allow_zero && ttl.count() == 0)) {
    throw Error(
        ErrorCode::kInvalidArgument, std::string(operation),
        "ttl " + std::to_string(ttl.count()) + " ms must be " + (allow_zero ? ">= 0" : "> 0"));
  }
}

void check_offset(std::string_view operation, std::int64_t offset) {
  constexpr std::int64_t kMaxString = 512LL * 1024 * 1024;
  if (offset < 0 || offset >= kMaxString) {
    throw Error(ErrorCode::kInvalidArgument, std::string(operation),
                "offset " + std::to_string(offset) + " is outside 0..512 MiB");
  }
}

void check_score(std::string_view operation, double score) {
  if (std::isnan(score)) {
    throw Error(ErrorCode::kInvalidArgument, std::string(operation), "score is NaN");
  }
}

}  // namespace examstore
