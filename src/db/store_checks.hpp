// db/store_checks.hpp: input checks and time conversions shared by every store implementation.
//
// Both backends call these before touching their data, so the in-memory database and
// PostgreSQL reject the same inputs with the same Error (code, operation and message). Checks
// that PostgreSQL would make too are repeated here on purpose: a CHECK constraint would surface
// as kConflict (SQLSTATE class 23), while bad input must be kInvalidArgument naming the field.
//
// Header-only (inline functions in a named namespace rather than an anonymous one, so every
// translation unit shares one definition).
//
// Thread-safety: pure functions.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "common/json.hpp"
#include "db/stores.hpp"
#include "examstore/error.hpp"
#include "examstore/model.hpp"

namespace examstore::db::check {

constexpr std::size_t kMaxExamName = 200;
constexpr std::size_t kMaxExternalNo = 64;
// class_name is indexed: a PostgreSQL btree entry holds at most ~2700 bytes
constexpr std::size_t kMaxClassName = 200;
constexpr std::size_t kMaxReason = 2000;
constexpr std::size_t kMaxScreenshotPath = 500;
constexpr std::size_t kMaxEventKind = 64;
constexpr int kMaxLimit = 10000;

[[noreturn]] inline void invalid(const std::string& operation, std::string_view field,
                                 const std::string& why) {
  throw Error(ErrorCode::kInvalidArgument, operation, std::string(field) + ": " + why);
}

/// The number of characters (code points) of `s` when it is well-formed UTF-8 without NUL
/// bytes (what a PostgreSQL text value in a UTF8 database can hold), else nullopt.
inline std::optional<std::size_t> utf8_length(std::string_view s) {
  std::size_t chars = 0;
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (c == 0) return std::nullopt;
    if (c < 0x80) {
      len = 1;
      cp = c;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return std::nullopt;
    }
    if (n - i < len) return std::nullopt;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0u) != 0x80u) return std::nullopt;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    // overlong forms, UTF-16 surrogates, beyond U+10FFFF
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return std::nullopt;
    }
    i += len;
    ++chars;
  }
  return chars;
}

/// Text that PostgreSQL can store, `min_chars`..`max_chars` characters long.
inline void text(const std::string& operation, std::string_view field, std::string_view value,
                 std::size_t min_chars = 0, std::size_t max_chars = static_cast<std::size_t>(-1)) {
  const auto len = utf8_length(value);
  if (!len) invalid(operation, field, "not valid UTF-8 text (or contains a NUL byte)");
  if (*len < min_chars || *len > max_chars) {
    if (min_chars == 1 && max_chars == static_cast<std::size_t>(-1)) {
      invalid(operation, field, "must not be empty");
    }
    if (max_chars == static_cast<std::size_t>(-1)) {
      invalid(operation, field, "must be at least " + std::to_string(min_chars) + " characters");
    }
    invalid(operation, field,
            "must be " + std::to_string(min_chars) + ".." + std::to_string(max_chars) +
                " characters, got " + std::to_string(*len));
  }
}

/// One valid JSON document (kept verbatim by both backends).
inline void json_document(const std::string& operation, std::string_view field,
                          std::string_view value) {
  text(operation, field, value);
  if (const auto err = json::validate(value)) {
    invalid(operation, field, "not valid JSON: " + err->describe());
  }
}

/// The earliest time both backends give back unchanged: PostgreSQL keeps whole microseconds,
/// and TimePoint::min() rounded down to one lies outside the range of TimePoint.
inline const TimePoint kEarliestTime{
    std::chrono::ceil<std::chrono::microseconds>(TimePoint::min().time_since_epoch())};

/// A time that is stored: not before kEarliestTime.
inline void time(const std::string& operation, std::string_view field, TimePoint t) {
  if (t < kEarliestTime) invalid(operation, field, "is before the earliest storable time");
}

inline void limit(const std::string& operation, int value) {
  if (value < 1 || value > kMaxLimit) {
    invalid(operation, "limit",
            "must be 1.." + std::to_string(kMaxLimit) + ", got " + std::to_string(value));
  }
}

inline void positive_id(const std::string& operation, std::string_view field, std::int64_t id) {
  if (id <= 0) invalid(operation, field, "must be positive, got " + std::to_string(id));
}

// Enums arrive from callers as plain values: a cast out of range must not reach to_string().
inline void status(const std::string& operation, ExamStatus s) {
  const int v = static_cast<int>(s);
  if (v < 0 || v > static_cast<int>(ExamStatus::kCancelled)) {
    invalid(operation, "status", "unknown exam status " + std::to_string(v));
  }
}
inline void presence(const std::string& operation, Presence p) {
  const int v = static_cast<int>(p);
  if (v < 0 || v > static_cast<int>(Presence::kSubmitted)) {
    invalid(operation, "status", "unknown presence " + std::to_string(v));
  }
}
inline void violation_kind(const std::string& operation, ViolationKind k) {
  const int v = static_cast<int>(k);
  if (v < 0 || v > static_cast<int>(ViolationKind::kCustom)) {
    invalid(operation, "kind", "unknown violation kind " + std::to_string(v));
  }
}
inline void review_state(const std::string& operation, ReviewState s) {
  const int v = static_cast<int>(s);
  if (v < 0 || v > static_cast<int>(ReviewState::kDismissed)) {
    invalid(operation, "state", "unknown review state " + std::to_string(v));
  }
}

inline void new_exam(const std::string& operation, const NewExam& e) {
  text(operation, "name", e.name, 1, kMaxExamName);
  time(operation, "starts_at", e.starts_at);
  if (!(e.ends_at > e.starts_at)) invalid(operation, "ends_at", "must be after starts_at");
  json_document(operation, "config", e.config);
}

inline void new_student(const std::string& operation, const NewStudent& s) {
  text(operation, "external_no", s.external_no, 1, kMaxExternalNo);
  text(operation, "name", s.name, 1);
  text(operation, "class_name", s.class_name, 0, kMaxClassName);
  text(operation, "email", s.email);
  text(operation, "phone", s.phone);
}

/// The fields a personal update sets, checked as new_student checks them.
template <typename Update>
inline void personal_update(const std::string& operation, const Update& u) {
  if (u.name) text(operation, "name", *u.name, 1);
  if (u.class_name) text(operation, "class_name", *u.class_name, 0, kMaxClassName);
  if (u.email) text(operation, "email", *u.email);
  if (u.phone) text(operation, "phone", *u.phone);
}

inline void violation(const std::string& operation, const Violation& v) {
  positive_id(operation, "id", v.id);
  violation_kind(operation, v.kind);
  if (v.severity < 1 || v.severity > 5) {
    invalid(operation, "severity", "must be 1..5, got " + std::to_string(v.severity));
  }
  time(operation, "occurred_at", v.occurred_at);
  text(operation, "reason", v.reason, 0, kMaxReason);
  text(operation, "screenshot_path", v.screenshot_path, 0, kMaxScreenshotPath);
  review_state(operation, v.state);
  text(operation, "reviewed_by", v.reviewed_by);
  text(operation, "review_note", v.review_note);
}

inline void event(const std::string& operation, const Event& e) {
  positive_id(operation, "id", e.id);
  time(operation, "occurred_at", e.occurred_at);
  text(operation, "kind", e.kind, 1, kMaxEventKind);
  json_document(operation, "payload", e.payload);
}

inline void attendance_update(const std::string& operation, const AttendanceUpdate& u) {
  presence(operation, u.status);
  text(operation, "last_ip", u.last_ip);
}

inline void review(const std::string& operation, ReviewState state, const std::string& reviewer,
                   const std::string& note) {
  review_state(operation, state);
  if (state == ReviewState::kOpen) {
    invalid(operation, "state", "a review must confirm or dismiss, not reopen");
  }
  text(operation, "reviewer", reviewer, 1);
  text(operation, "note", note);
}

// ---- errors both backends raise with the same message ----

inline std::string exam_label(ExamId id) { return "exam " + std::to_string(id); }
inline std::string student_label(StudentId id) { return "student " + std::to_string(id); }

[[noreturn]] inline void not_found(const std::string& operation, const std::string& what) {
  throw Error(ErrorCode::kNotFound, operation, what + " does not exist");
}
[[noreturn]] inline void conflict(const std::string& operation, const std::string& why) {
  throw Error(ErrorCode::kConflict, operation, why);
}
[[noreturn]] inline void illegal_transition(const std::string& operation, ExamId id,
                                            ExamStatus from, ExamStatus to) {
  conflict(operation, "cannot move " + exam_label(id) + " from " + std::string(to_string(from)) +
                          " to " + std::string(to_string(to)));
}
[[noreturn]] inline void config_version_moved(const std::string& operation, ExamId id,
                                              std::int64_t stored, std::int64_t expected) {
  conflict(operation, exam_label(id) + " has config_version " + std::to_string(stored) +
                          ", expected " + std::to_string(expected));
}
[[noreturn]] inline void duplicate_external_no(const std::string& operation,
                                               const std::string& external_no) {
  conflict(operation, "external_no \"" + external_no + "\" already exists");
}
[[noreturn]] inline void not_enrolled(const std::string& operation, ExamId exam,
                                      StudentId student) {
  conflict(operation, student_label(student) + " is not enrolled in " + exam_label(exam));
}

// ---- times: microseconds since the epoch, as PostgreSQL keeps them ----

/// Microseconds since the epoch, rounded down (PostgreSQL's timestamptz resolution).
inline std::int64_t to_micros(TimePoint t) {
  return std::chrono::floor<std::chrono::microseconds>(t.time_since_epoch()).count();
}
/// The time of `us` microseconds since the epoch, saturated to the nearest whole microsecond
/// TimePoint can hold (its nanosecond ticks reach only about ±292 years around 1970).
inline TimePoint from_micros(std::int64_t us) {
  using Ticks = TimePoint::duration;
  constexpr std::int64_t kPerMicro =
      std::chrono::duration_cast<Ticks>(std::chrono::microseconds(1)).count();
  constexpr std::int64_t lo = std::numeric_limits<Ticks::rep>::min() / kPerMicro;
  constexpr std::int64_t hi = std::numeric_limits<Ticks::rep>::max() / kPerMicro;
  us = std::min(std::max(us, lo), hi);
  return TimePoint(std::chrono::duration_cast<Ticks>(std::chrono::microseconds(us)));
}
/// `t` as it comes back from the database.
inline TimePoint truncate(TimePoint t) { return from_micros(to_micros(t)); }
inline std::optional<TimePoint> truncate(const std::optional<TimePoint>& t) {
  if (!t) return std::nullopt;
  return truncate(*t);
}

}  // namespace examstore::db::check
