// grading/grading_store_rules.hpp: what both grading stores (memory and PostgreSQL) must say
// alike: entity labels, the fencing-token rule and the stored names of the enums.
//
// The stored names are spelled here rather than through to_string(GradingState) and friends so
// the stores do not depend on the repository's translation unit; they are the same words.
//
// Thread-safety: pure functions.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "db/store_checks.hpp"
#include "examstore/error.hpp"
#include "examstore/grading.hpp"

namespace examstore::db::grading_rules {

inline std::string class_label(ClassId id) { return "class " + std::to_string(id); }
inline std::string assignment_label(AssignmentId id) { return "assignment " + std::to_string(id); }
inline std::string task_label(GradingTaskId id) { return "grading task " + std::to_string(id); }

constexpr std::array<std::string_view, 4> kStateNames = {"pending", "running", "completed",
                                                         "failed"};
inline std::string state_name(GradingState s) {
  return std::string(kStateNames[static_cast<std::size_t>(s)]);
}
inline std::optional<GradingState> parse_state(std::string_view s) {
  for (std::size_t i = 0; i < kStateNames.size(); ++i) {
    if (kStateNames[i] == s) return static_cast<GradingState>(i);
  }
  return std::nullopt;
}

constexpr std::array<std::string_view, 3> kModeNames = {"ai", "human", "mixed"};
inline std::string mode_name(GradingMode m) {
  return std::string(kModeNames[static_cast<std::size_t>(m)]);
}
inline std::optional<GradingMode> parse_mode(std::string_view s) {
  for (std::size_t i = 0; i < kModeNames.size(); ++i) {
    if (kModeNames[i] == s) return static_cast<GradingMode>(i);
  }
  return std::nullopt;
}

inline std::string kind_name(GraderIdentity::Kind k) {
  return k == GraderIdentity::Kind::kHuman ? "human" : "ai";
}
inline GraderIdentity::Kind parse_kind(std::string_view s) {
  return s == "human" ? GraderIdentity::Kind::kHuman : GraderIdentity::Kind::kAi;
}

/// The fencing rule of renew(), complete() and fail(): the token must be the task's current
/// one and the task running under it; kConflict otherwise.
inline void require_lease(const std::string& operation, GradingTaskId id, GradingState state,
                          std::int64_t stored_token, std::int64_t token) {
  if (token != stored_token) {
    check::conflict(operation, task_label(id) + ": token " + std::to_string(token) +
                                   " is stale: the task's token is " +
                                   std::to_string(stored_token));
  }
  if (state != GradingState::kRunning) {
    check::conflict(operation, task_label(id) + " is " + state_name(state));
  }
}

/// Rankings are per assignment, class or exam: kInvalidArgument for a task.
inline void require_rankable(const std::string& operation, const Scope& scope) {
  if (scope.kind == ScopeKind::kTask) {
    check::invalid(operation, "scope", "a task has no ranking");
  }
}

/// The 10-point band of a percentage: [0,10) -> 0 ... [90,100] -> 9 (as the SQL computes it).
inline std::size_t band_of(double percentage) {
  if (!(percentage > 0)) return 0;
  const double b = percentage / 10;
  return b >= 9 ? 9 : static_cast<std::size_t>(b);
}

/// `t` + `d` as PostgreSQL computes and returns it: whole microseconds, saturated like
/// check::from_micros, so a time near the end of TimePoint's range cannot overflow (a lease or
/// backoff after a hostile `now`).
inline TimePoint later(TimePoint t, std::chrono::seconds d) {
  constexpr std::chrono::seconds kFar{1'000'000'000'000};  // 31,700 years: past any TimePoint
  d = std::clamp(d, -kFar, kFar);
  return check::from_micros(check::to_micros(t) + std::chrono::microseconds(d).count());
}

}  // namespace examstore::db::grading_rules
