#include "examstore/model.hpp"

#include <array>
#include <cstdio>

namespace examstore {
namespace {

template <typename E, std::size_t N>
std::optional<E> parse_name(const std::array<std::string_view, N>& names, std::string_view s) {
  for (std::size_t i = 0; i < N; ++i) {
    if (names[i] == s) return static_cast<E>(i);
  }
  return std::nullopt;
}

constexpr std::array<std::string_view, 4> kExamStatus = {"pending", "running", "finished",
                                                         "cancelled"};
constexpr std::array<std::string_view, 5> kPresence = {"enrolled", "online", "missing", "offline",
                                                       "submitted"};
constexpr std::array<std::string_view, 7> kViolationKind = {
    "tab_switch", "focus_lost",   "multiple_faces", "no_face",
    "copy_paste", "screen_share", "custom"};
constexpr std::array<std::string_view, 3> kReviewState = {"open", "confirmed", "dismissed"};

}  // namespace

std::string to_iso8601(TimePoint t) {
  using namespace std::chrono;
  const auto us = duration_cast<microseconds>(t.time_since_epoch()).count();
  auto secs = us / 1000000;
  auto frac = us % 1000000;
  if (frac < 0) {
    frac += 1000000;
    secs -= 1;
  }
  // Civil date from days since the epoch (Howard Hinnant's algorithm), valid for any year.
  auto days = secs / 86400;
  auto rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  const auto z = days + 719468;
  const auto era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = z - era * 146097;
  const auto yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const auto doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const auto mp = (5 * doy + 2) / 153;
  const auto day = doy - (153 * mp + 2) / 5 + 1;
  const auto month = mp < 10 ? mp + 3 : mp - 9;
  const auto year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%06lldZ",
                static_cast<long long>(year), static_cast<long long>(month),
                static_cast<long long>(day), static_cast<long long>(rem / 3600),
                static_cast<long long>(rem % 3600 / 60), static_cast<long long>(rem % 60),
                static_cast<long long>(frac));
  return buf;
}

std::string_view to_string(ExamStatus s) noexcept {
  return kExamStatus[static_cast<std::size_t>(s)];
}
std::optional<ExamStatus> parse_exam_status(std::string_view s) noexcept {
  return parse_name<ExamStatus>(kExamStatus, s);
}
bool is_legal_transition(ExamStatus from, ExamStatus to) noexcept {
  switch (from) {
    case ExamStatus::kPending:
      return to == ExamStatus::kRunning || to == ExamStatus::kCancelled;
    case ExamStatus::kRunning:
      return to == ExamStatus::kFinished || to == ExamStatus::kCancelled;
    case ExamStatus::kFinished:
    case ExamStatus::kCancelled:
      return false;
  }
  return false;
}

std::string_view to_string(Presence p) noexcept { return kPresence[static_cast<std::size_t>(p)]; }
std::optional<Presence> parse_presence(std::string_view s) noexcept {
  return parse_name<Presence>(kPresence, s);
}

std::string_view to_string(ViolationKind k) noexcept {
  return kViolationKind[static_cast<std::size_t>(k)];
}
std::optional<ViolationKind> parse_violation_kind(std::string_view s) noexcept {
  return parse_name<ViolationKind>(kViolationKind, s);
}

std::string_view to_string(ReviewState s) noexcept {
  return kReviewState[static_cast<std::size_t>(s)];
}
std::optional<ReviewState> parse_review_state(std::string_view s) noexcept {
  return parse_name<ReviewState>(kReviewState, s);
}

}  // namespace examstore
