#include "cache/format.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

namespace examstore {

std::string format_score(double score) {
  if (std::isinf(score)) return score > 0 ? "inf" : "-inf";
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%.17g", score);
  return std::string(buf, static_cast<std::size_t>(n));
}

std::optional<double> parse_score(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  if (text == "inf" || text == "+inf") return std::numeric_limits<double>::infinity();
  if (text == "-inf") return -std::numeric_limits<double>::infinity();
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || std::isnan(v) ||
      std::isspace(static_cast<unsigned char>(s[0]))) {
    return std::nullopt;
  }
  return v;
}

std::optional<std::int64_t> parse_int64(std::string_view t) {
  if (t.empty() || t.size() > 20) return std::nullopt;
  std::size_t i = 0;
  const bool negative = t[0] == '-';
  if (negative) i = 1;
  if (i >= t.size()) return std::nullopt;
  if (t[i] == '0') {
    if (t.size() == 1) return 0;
    return std::nullopt;  // "05", "-0" are not integers to Redis
  }
  std::uint64_t v = 0;
  for (; i < t.size(); ++i) {
    const char c = t[i];
    if (c < '0' || c > '9') return std::nullopt;
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (negative) {
    if (v > kMax + 1) return std::nullopt;
    return v == kMax + 1 ? std::numeric_limits<std::int64_t>::min() : -static_cast<std::int64_t>(v);
  }
  if (v > kMax) return std::nullopt;
  return static_cast<std::int64_t>(v);
}

}  // namespace examstore
