// cache/cache_util.hpp: argument checks shared by every Cache implementation, so that they
// reject the same inputs with the same errors.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "examstore/cache.hpp"

namespace examstore {

/// Throws Error(kInvalidArgument) unless every key has the hash tag of the first.
void require_one_hash_tag(std::string_view operation, const std::vector<std::string>& keys);
/// The keys of a batch, in order.
std::vector<std::string> batch_keys(const Batch& batch);
/// Throws Error(kInvalidArgument) when ttl < 0 (or <= 0 when `allow_zero` is false).
void check_ttl(std::string_view operation, std::chrono::milliseconds ttl, bool allow_zero);
/// Throws Error(kInvalidArgument) unless 0 <= offset < 512 MiB (Redis's string limit).
void check_offset(std::string_view operation, std::int64_t offset);
/// Throws Error(kInvalidArgument) when the score is NaN.
void check_score(std::string_view operation, double score);

}  // namespace examstore
