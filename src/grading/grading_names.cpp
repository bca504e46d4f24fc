// grading/grading_names.cpp: the text forms of the grading enums (grading.hpp).
#include "examstore/grading.hpp"

namespace examstore {
namespace {

template <typename E, std::size_t N>
std::optional<E> parse_of(const std::string_view (&names)[N], std::string_view s) noexcept {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == s) return static_cast<E>(i);
  }
  return std::nullopt;
}

template <typename E, std::size_t N>
std::string_view name_of(const std::string_view (&names)[N], E e) noexcept {
  const auto i = static_cast<std::size_t>(e);
  return i < N ? names[i] : std::string_view("unknown");
}

// In the order of the enumerators.
constexpr std::string_view kModes[] = {"ai", "human", "mixed"};
constexpr std::string_view kStates[] = {"pending", "running", "completed", "failed"};
constexpr std::string_view kScopes[] = {"task", "assignment", "class", "exam"};

}  // namespace

std::string_view to_string(GradingMode m) noexcept { return name_of(kModes, m); }
std::optional<GradingMode> parse_grading_mode(std::string_view s) noexcept {
  return parse_of<GradingMode>(kModes, s);
}
std::string_view to_string(GradingState s) noexcept { return name_of(kStates, s); }
std::optional<GradingState> parse_grading_state(std::string_view s) noexcept {
  return parse_of<GradingState>(kStates, s);
}
std::string_view to_string(ScopeKind k) noexcept { return name_of(kScopes, k); }
std::optional<ScopeKind> parse_scope_kind(std::string_view s) noexcept {
  return parse_of<ScopeKind>(kScopes, s);
}

}  // namespace examstore
