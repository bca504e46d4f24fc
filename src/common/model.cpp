#include "examstore/model.hpp"

#include <array>

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
