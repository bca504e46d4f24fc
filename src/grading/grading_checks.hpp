// grading/grading_checks.hpp: the input checks of every GradingRepo call (limits from the
// comments of examstore/grading.hpp). The repository runs them before any store or hot-tier
// access, so both backend pairs refuse the same input with the same Error: kInvalidArgument,
// the message starting with the field ("grades[2].score: must be 0..max_score (10), got 11").
//
// Header-only, like db/store_checks.hpp. Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "db/store_checks.hpp"
#include "examstore/grading.hpp"

namespace examstore::grading::check {

using db::check::invalid;
using db::check::positive_id;
using db::check::text;

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMaxName = 200;  // class name, teacher, grader, model
constexpr std::size_t kMaxSubject = 100;
constexpr std::size_t kMaxTitle = 300;
constexpr std::size_t kMaxLongText = 64 * kKiB;  // bytes: description, rubric, feedback, note
constexpr std::size_t kMaxJson = 1024 * kKiB;    // bytes: rubric_json, evaluations, annotations
constexpr std::size_t kMaxReason = 4 * kKiB;     // bytes
constexpr std::size_t kMaxFiles = 100;
constexpr std::size_t kMaxFileRef = 1024;
constexpr std::size_t kMaxStrategy = 100;
constexpr std::size_t kMaxErrorKind = 100;
constexpr std::size_t kMaxKnowledgePoint = 200;
constexpr std::size_t kMaxGradeLevel = 20;
constexpr std::size_t kMaxGrades = 1000;
// Not in the public limits: bounds the error findings of one completion like its grades.
constexpr std::size_t kMaxFindings = 10000;
constexpr int kMaxQuestions = 1000;
constexpr double kMaxScore = 1e6;
constexpr std::size_t kMaxMembersPerCall = 100000;
constexpr int kMaxTop = 1000;
constexpr int kMaxRadius = 500;
constexpr std::chrono::seconds kMinLease{1};
constexpr std::chrono::seconds kMaxLease{86400};

/// Text of at most `max_bytes` bytes (the "KiB" limits count bytes, the others characters).
inline void bytes(const std::string& op, std::string_view field, std::string_view value,
                  std::size_t max_bytes) {
  text(op, field, value);
  if (value.size() > max_bytes) {
    invalid(op, field,
            "must be at most " + std::to_string(max_bytes) + " bytes, got " +
                std::to_string(value.size()));
  }
}

/// "" or one JSON document of at most 1 MiB.
inline void optional_json(const std::string& op, std::string_view field, std::string_view value) {
  if (value.empty()) return;
  bytes(op, field, value, kMaxJson);
  db::check::json_document(op, field, value);
}

inline void id(const std::string& op, std::string_view field, std::int64_t value) {
  positive_id(op, field, value);
}

inline void max_score(const std::string& op, const std::string& field, double v) {
  if (!std::isfinite(v) || v <= 0 || v > kMaxScore) {
    invalid(op, field, "must be finite, > 0 and at most 1e6, got " + std::to_string(v));
  }
}

inline void lease_length(const std::string& op, std::string_view field, std::chrono::seconds s) {
  if (s < kMinLease || s > kMaxLease) {
    invalid(op, field, "must be 1 s..1 day, got " + std::to_string(s.count()) + " s");
  }
}

inline void mode(const std::string& op, GradingMode m) {
  const int v = static_cast<int>(m);
  if (v < 0 || v > static_cast<int>(GradingMode::kMixed)) {
    invalid(op, "mode", "unknown grading mode " + std::to_string(v));
  }
}

inline void state(const std::string& op, GradingState s) {
  const int v = static_cast<int>(s);
  if (v < 0 || v > static_cast<int>(GradingState::kFailed)) {
    invalid(op, "state", "unknown grading state " + std::to_string(v));
  }
}

inline void scope(const std::string& op, const Scope& s) {
  const int v = static_cast<int>(s.kind);
  if (v < 0 || v > static_cast<int>(ScopeKind::kExam)) {
    invalid(op, "scope.kind", "unknown scope kind " + std::to_string(v));
  }
  positive_id(op, "scope.id", s.id);
}

/// A ranked scope: an exam, assignment or class (a task has no ranking).
inline void ranked_scope(const std::string& op, const Scope& s) {
  scope(op, s);
  if (s.kind == ScopeKind::kTask) invalid(op, "scope.kind", "a task has no ranking");
}

inline void new_class(const std::string& op, const NewClass& c) {
  text(op, "name", c.name, 1, kMaxName);
  text(op, "teacher", c.teacher, 1, kMaxName);
  text(op, "subject", c.subject, 1, kMaxSubject);
}

inline void new_assignment(const std::string& op, const NewAssignment& a) {
  positive_id(op, "class_id", a.class_id);
  text(op, "teacher", a.teacher, 1, kMaxName);
  text(op, "subject", a.subject, 1, kMaxSubject);
  text(op, "title", a.title, 1, kMaxTitle);
  bytes(op, "description", a.description, kMaxLongText);
  bytes(op, "rubric_text", a.rubric_text, kMaxLongText);
  optional_json(op, "rubric_json", a.rubric_json);
  if (a.question_count < 1 || a.question_count > kMaxQuestions) {
    invalid(op, "question_count", "must be 1..1000, got " + std::to_string(a.question_count));
  }
  max_score(op, "max_score", a.max_score);
  mode(op, a.mode);
  db::check::time(op, "deadline", a.deadline);
}

inline void members(const std::string& op, const std::vector<StudentId>& students) {
  if (students.size() > kMaxMembersPerCall) {
    invalid(op, "students", "at most 100000 a call, got " + std::to_string(students.size()));
  }
  for (std::size_t i = 0; i < students.size(); ++i) {
    positive_id(op, "students[" + std::to_string(i) + "]", students[i]);
  }
}

inline void new_submission(const std::string& op, const NewSubmission& s) {
  positive_id(op, "assignment_id", s.assignment_id);
  positive_id(op, "student_id", s.student_id);
  if (s.answer_files.size() > kMaxFiles) {
    invalid(op, "answer_files", "at most 100, got " + std::to_string(s.answer_files.size()));
  }
  for (std::size_t i = 0; i < s.answer_files.size(); ++i) {
    text(op, "answer_files[" + std::to_string(i) + "]", s.answer_files[i], 1, kMaxFileRef);
  }
  db::check::time(op, "submitted_at", s.submitted_at);
}

inline void grader(const std::string& op, const GraderIdentity& g) {
  const int k = static_cast<int>(g.kind);
  if (k < 0 || k > static_cast<int>(GraderIdentity::Kind::kAi)) {
    invalid(op, "grader.kind", "unknown grader kind " + std::to_string(k));
  }
  text(op, "grader.name", g.name, 1, kMaxName);
  text(op, "grader.model", g.model, 0, kMaxName);
  text(op, "grader.model_version", g.model_version, 0, kMaxName);
  if (!g.prompt_sha256.empty()) {
    bool hex = g.prompt_sha256.size() == 64;
    for (const char c : g.prompt_sha256) {
      hex = hex && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }
    if (!hex) invalid(op, "grader.prompt_sha256", "must be 64 lowercase hex digits or empty");
  }
}

inline void claim(const std::string& op, const ClaimRequest& r) {
  grader(op, r.grader);
  lease_length(op, "lease", r.lease);
  db::check::time(op, "now", r.now);
  if (r.assignment_id && r.exam_id) {
    invalid(op, "exam_id", "give at most one of assignment_id and exam_id");
  }
  if (r.assignment_id) positive_id(op, "assignment_id", *r.assignment_id);
  if (r.exam_id) positive_id(op, "exam_id", *r.exam_id);
}

/// The parts of a lease every later call relies on.
inline void lease(const std::string& op, const Lease& l) {
  positive_id(op, "lease.task.id", l.task.id);
  positive_id(op, "lease.token", l.token);
}

inline void reason(const std::string& op, const std::string& r) {
  bytes(op, "reason", r, kMaxReason);
}

/// The outcome on its own; complete() then checks the questions against the task's.
inline void outcome(const std::string& op, const GradingOutcome& o) {
  if (o.grades.empty() || o.grades.size() > kMaxGrades) {
    invalid(op, "grades", "must hold 1..1000 grades, got " + std::to_string(o.grades.size()));
  }
  std::set<std::int64_t> seen;
  for (std::size_t i = 0; i < o.grades.size(); ++i) {
    const QuestionGrade& g = o.grades[i];
    const std::string f = "grades[" + std::to_string(i) + "]";
    positive_id(op, f + ".question", g.question);
    if (!seen.insert(g.question).second) {
      invalid(op, f + ".question", "question " + std::to_string(g.question) + " is graded twice");
    }
    max_score(op, f + ".max_score", g.max_score);
    if (!std::isfinite(g.score) || g.score < 0 || g.score > g.max_score) {
      invalid(op, f + ".score",
              "must be finite and 0..max_score (" + std::to_string(g.max_score) + "), got " +
                  std::to_string(g.score));
    }
    bytes(op, f + ".feedback", g.feedback, kMaxLongText);
    text(op, f + ".strategy", g.strategy, 0, kMaxStrategy);
  }
  if (o.errors.size() > kMaxFindings) {
    invalid(op, "errors", "at most 10000 findings, got " + std::to_string(o.errors.size()));
  }
  for (std::size_t i = 0; i < o.errors.size(); ++i) {
    const ErrorFinding& e = o.errors[i];
    const std::string f = "errors[" + std::to_string(i) + "]";
    positive_id(op, f + ".question", e.question);
    text(op, f + ".kind", e.kind, 1, kMaxErrorKind);
    text(op, f + ".knowledge_point", e.knowledge_point, 0, kMaxKnowledgePoint);
    bytes(op, f + ".note", e.note, kMaxLongText);
  }
  text(op, "grade_level", o.grade_level, 0, kMaxGradeLevel);
  optional_json(op, "evaluations", o.evaluations);
  optional_json(op, "annotations", o.annotations);
}

/// Every graded question (and every finding's question) is one the task may grade.
inline void gradable(const std::string& op, const GradingOutcome& o,
                     const std::set<std::int64_t>& questions, const std::string& what) {
  for (std::size_t i = 0; i < o.grades.size(); ++i) {
    if (questions.count(o.grades[i].question) == 0) {
      invalid(op, "grades[" + std::to_string(i) + "].question",
              "question " + std::to_string(o.grades[i].question) + " is not on " + what);
    }
  }
  for (std::size_t i = 0; i < o.errors.size(); ++i) {
    if (questions.count(o.errors[i].question) == 0) {
      invalid(op, "errors[" + std::to_string(i) + "].question",
              "question " + std::to_string(o.errors[i].question) + " is not on " + what);
    }
  }
}

inline void task_filter(const std::string& op, const TaskFilter& f) {
  if (f.assignment_id) positive_id(op, "assignment_id", *f.assignment_id);
  if (f.exam_id) positive_id(op, "exam_id", *f.exam_id);
  if (f.state) state(op, *f.state);
  db::check::limit(op, f.limit);
}

inline void top_n(const std::string& op, int n) {
  if (n < 1 || n > kMaxTop) invalid(op, "n", "must be 1..1000, got " + std::to_string(n));
}

inline void radius(const std::string& op, int r) {
  if (r < 0 || r > kMaxRadius) {
    invalid(op, "radius", "must be 0..500, got " + std::to_string(r));
  }
}

}  // namespace examstore::grading::check
