// cache/format.hpp: number formatting shared by the cache implementations, so that scores and
// integers print exactly as Redis prints them and both implementations reply alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace examstore {

/// A score as Redis 7 prints it (ZSCORE, ZRANGE WITHSCORES): the shortest text that reads back
/// as the same double ("1.5", "1000000000", "inf", "-inf").
std::string format_score(double score);

/// Parses a score as Redis accepts it; nullopt when it is not a number.
std::optional<double> parse_score(std::string_view text);

/// Parses a signed 64-bit integer the way Redis does (no spaces, no '+', no leading zeros
/// except "0"); nullopt when it is not one.
std::optional<std::int64_t> parse_int64(std::string_view text);

}  // namespace examstore
