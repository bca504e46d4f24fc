// examstore/model.hpp: the plain entity types the repositories read and write.
//
// Plain values: no behaviour beyond conversions, copy freely across threads. Times are
// std::chrono::system_clock time points (UTC); a PostgreSQL timestamptz keeps microseconds, so
// values round-trip at microsecond precision.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace examstore {

using TimePoint = std::chrono::system_clock::time_point;

/// `t` as UTC ISO 8601 with microseconds: "2026-11-22T04:30:00.123456Z".
std::string to_iso8601(TimePoint t);

/// Identifiers. Positive; assigned by the durable tier (PostgreSQL sequences), never reused.
using ExamId = std::int64_t;
using StudentId = std::int64_t;
using ViolationId = std::int64_t;
using EventId = std::int64_t;

// ---- exams ----

/// The lifecycle of an exam. Legal transitions: pending -> running | cancelled,
/// running -> finished | cancelled. finished and cancelled are terminal.
enum class ExamStatus { kPending, kRunning, kFinished, kCancelled };

std::string_view to_string(ExamStatus s) noexcept;
/// Parses "pending", "running", ...; nullopt when unknown.
std::optional<ExamStatus> parse_exam_status(std::string_view s) noexcept;
/// True when `from` -> `to` is a legal transition.
bool is_legal_transition(ExamStatus from, ExamStatus to) noexcept;

/// What a caller supplies to create an exam.
struct NewExam {
  std::string name;  ///< 1..200 characters
  TimePoint starts_at;
  TimePoint ends_at;          ///< after starts_at
  std::string config = "{}";  ///< a JSON document, kept verbatim
};

/// An exam as stored. Immutable once read: a newer state is a new object with a higher version.
struct Exam {
  ExamId id = 0;
  std::string name;
  TimePoint starts_at;
  TimePoint ends_at;
  ExamStatus status = ExamStatus::kPending;
  std::string config;               ///< JSON document, verbatim as last set
  std::int64_t config_version = 1;  ///< +1 on each config change
  std::int64_t version = 1;         ///< +1 on any change (config or status)
  TimePoint created_at;
  TimePoint updated_at;
};

/// One entry of an exam's configuration history.
struct ConfigChange {
  std::int64_t version = 0;  ///< the config_version this change produced
  std::string changed_by;
  TimePoint changed_at;
  std::string old_config;
  std::string new_config;
};

// ---- students and presence ----

struct NewStudent {
  std::string external_no;  ///< the school's student number, unique, 1..64 characters
  std::string name;
  std::string class_name;  ///< at most 200 characters
  std::string email;
  std::string phone;
};

struct Student {
  StudentId id = 0;
  std::string external_no;
  std::string name;
  std::string class_name;
  std::string email;
  std::string phone;
};

/// A student's presence in one exam. submitted is terminal: presence never overrides it.
enum class Presence { kEnrolled, kOnline, kMissing, kOffline, kSubmitted };
std::string_view to_string(Presence p) noexcept;
std::optional<Presence> parse_presence(std::string_view s) noexcept;

/// One student's attendance in one exam, as persisted.
struct Attendance {
  ExamId exam_id = 0;
  StudentId student_id = 0;
  Presence status = Presence::kEnrolled;
  std::optional<TimePoint> login_at;   ///< first time seen online
  std::optional<TimePoint> logout_at;  ///< when last declared offline or submitted
  std::string last_ip;
  std::optional<TimePoint> last_heartbeat_at;  ///< as of the last persisted transition
  std::int64_t version = 0;                    ///< increases with each persisted transition
};

/// One heartbeat, for the batch API.
struct Heartbeat {
  StudentId student_id = 0;
  std::string ip;
};

// ---- violations and events ----

enum class ViolationKind {
  kTabSwitch,
  kFocusLost,
  kMultipleFaces,
  kNoFace,
  kCopyPaste,
  kScreenShare,
  kCustom
};
std::string_view to_string(ViolationKind k) noexcept;
std::optional<ViolationKind> parse_violation_kind(std::string_view s) noexcept;

enum class ReviewState { kOpen, kConfirmed, kDismissed };
std::string_view to_string(ReviewState s) noexcept;
std::optional<ReviewState> parse_review_state(std::string_view s) noexcept;

struct NewViolation {
  ExamId exam_id = 0;
  StudentId student_id = 0;
  ViolationKind kind = ViolationKind::kCustom;
  int severity = 1;             ///< 1..5
  std::string reason;           ///< free text, at most 2000 characters
  std::string screenshot_path;  ///< optional, at most 500 characters
  TimePoint occurred_at;
};

struct Violation {
  ViolationId id = 0;
  ExamId exam_id = 0;
  StudentId student_id = 0;
  ViolationKind kind = ViolationKind::kCustom;
  int severity = 1;
  std::string reason;
  std::string screenshot_path;
  TimePoint occurred_at;
  ReviewState state = ReviewState::kOpen;
  std::string reviewed_by;
  std::optional<TimePoint> reviewed_at;
  std::string review_note;
};

/// One raw anti-cheat event (the operation log).
struct NewEvent {
  ExamId exam_id = 0;
  StudentId student_id = 0;
  std::string kind;            ///< 1..64 characters
  std::string payload = "{}";  ///< a JSON document, kept verbatim
  TimePoint occurred_at;
};

struct Event {
  EventId id = 0;
  ExamId exam_id = 0;
  StudentId student_id = 0;
  std::string kind;
  std::string payload;
  TimePoint occurred_at;
};

}  // namespace examstore
