// examstore/attempts.hpp: a student's attempt at an exam, their autosaved answers and the final
// submission.
//
// The life of an attempt:
//   - before the exam, precreate() creates the attempts of every student (all or nothing), each
//     bound to a paper; students read their own variant of it (PaperStore::variant);
//   - start() is the spike (every student in the same minute): one conditional state change in
//     the hot tier, journaled and persisted behind through the write-behind queue (see
//     docs/attempts.md for why it is not a synchronous PostgreSQL commit);
//   - autosave() keeps the live answers in the hot tier and every revision in PostgreSQL
//     (write-behind). Each save carries the client's sequence number per question: an older or
//     equal one never overwrites a newer one, and the call is acknowledged only once the save is
//     durable under the Durability asked for;
//   - submit() is synchronous: it returns a receipt only after the answers and the state change
//     are committed in PostgreSQL in one transaction. Submitting again returns the same receipt;
//     submitting after the deadline plus AttemptOptions::submit_grace is refused (kConflict).
//
// States: not_started -> in_progress -> submitted -> graded, and overdue (deadline passed without
// a submission), abandoned, voided. Every transition is compare-and-set; graded, abandoned and
// voided are terminal, submitted and overdue never return to in_progress; presence and
// heartbeats never change an attempt. One live (not voided) attempt per exam and student.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "examstore/model.hpp"
#include "examstore/paper_store.hpp"
#include "examstore/question_bank.hpp"
#include "examstore/write_behind.hpp"

namespace examstore {

using AttemptId = std::int64_t;

enum class AttemptState {
  kNotStarted,
  kInProgress,
  kSubmitted,
  kGraded,
  kOverdue,
  kAbandoned,
  kVoided
};
/// "not_started", "in_progress", "submitted", "graded", "overdue", "abandoned", "voided".
std::string_view to_string(AttemptState s) noexcept;
std::optional<AttemptState> parse_attempt_state(std::string_view s) noexcept;
/// The legal transitions:
///   not_started -> in_progress | abandoned | voided
///   in_progress -> submitted | overdue | abandoned | voided
///   submitted   -> graded | voided
///   overdue     -> graded | voided
/// graded, abandoned and voided are terminal.
bool is_legal_transition(AttemptState from, AttemptState to) noexcept;

/// What precreate() needs.
struct AttemptPlan {
  ExamId exam_id = 0;
  /// The paper every attempt uses (each student sees their own variant of it). Must exist.
  PaperKey paper;
  /// Time allowed from start(), 1 s..366 days. The deadline is min(started_at + duration, exam
  /// ends_at) plus the student's extra time.
  std::chrono::seconds duration{0};
  /// The students; each must exist. Duplicates are an error.
  std::vector<StudentId> students;
};

/// One attempt, as the hot tier (or the database when the hot tier lost it) knows it.
struct Attempt {
  AttemptId id = 0;
  ExamId exam_id = 0;
  StudentId student_id = 0;
  PaperKey paper;
  AttemptState state = AttemptState::kNotStarted;
  std::chrono::seconds duration{0};
  std::chrono::seconds extra_time{0};  ///< per-student allowance (set_extra_time)
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> deadline;  ///< set at start
  std::optional<TimePoint> submitted_at;
  std::string receipt;  ///< set once submitted
};

/// One autosave from a client.
struct AnswerSave {
  ExamId exam_id = 0;
  StudentId student_id = 0;
  QuestionId question_id = 0;
  /// The client's sequence number for this question, > 0, increasing with each save.
  std::int64_t seq = 0;
  /// The answer as a JSON value (kept verbatim), at most AttemptOptions::max_answer_bytes.
  std::string answer;
  /// When the server received it.
  TimePoint at;
};

/// What autosave() did.
struct SaveAck {
  /// False when the save was stale (seq not above the stored one): nothing changed.
  bool applied = false;
  /// The sequence number now stored for the question.
  std::int64_t current_seq = 0;
};

/// One saved revision of an answer.
struct SavedAnswer {
  QuestionId question_id = 0;
  std::int64_t seq = 0;
  std::string answer;
  TimePoint saved_at;
  /// Time since this student's previous save of any question in this attempt (zero for the
  /// first): the anti-cheat interval log.
  std::chrono::milliseconds since_previous{0};
};

/// Proof of a final submission. Submitting again returns an equal receipt.
struct SubmissionReceipt {
  AttemptId attempt_id = 0;
  /// Hex digest naming the attempt and the committed answers (their questions and seqs).
  std::string receipt;
  TimePoint submitted_at;
  /// Number of questions answered in the committed submission.
  int answers = 0;
};

class AttemptRepo {
 public:
  virtual ~AttemptRepo() = default;

  /// Creates the attempts of every student of the plan (state not_started), all or nothing, in
  /// one transaction, and loads them into the hot tier. Students that already have a live
  /// attempt in the exam: kConflict naming the first, nothing created. kNotFound for an unknown
  /// exam, paper or student. Returns the number created.
  virtual std::int64_t precreate(const AttemptPlan& plan) = 0;
  /// Sets a student's extra time (0..366 days, else kInvalidArgument) before or during the attempt;
  /// a started attempt's deadline moves with it. kNotFound when the student has no live attempt.
  virtual Attempt set_extra_time(ExamId exam, StudentId student, std::chrono::seconds extra) = 0;
  /// Starts the attempt at `now`: not_started -> in_progress, once. Starting again returns the
  /// attempt unchanged (same started_at and deadline). kNotFound when there is no live attempt;
  /// kConflict when it is in another state, or when the exam is not running or is over.
  /// `durability` says when the start is acknowledged (see write_behind.hpp).
  virtual Attempt start(ExamId exam, StudentId student, TimePoint now,
                        Durability durability = Durability::kJournaled) = 0;
  /// The live attempt, or nullopt.
  virtual std::optional<Attempt> get(ExamId exam, StudentId student) = 0;

  /// Saves one answer. kConflict when the attempt is not in progress or `save.at` is past its
  /// deadline plus submit_grace; kInvalidArgument naming the field for a bad answer, seq or a
  /// question not on the attempt's paper. A stale save is acknowledged with applied = false.
  virtual SaveAck autosave(const AnswerSave& save,
                           Durability durability = Durability::kJournaled) = 0;
  /// The live answers (latest revision per question), by question id.
  virtual std::vector<SavedAnswer> answers(ExamId exam, StudentId student) = 0;
  /// Every revision of the attempt's answers that has reached the database, ordered by saved_at
  /// then question and seq (Store::flush first to include those still queued).
  virtual std::vector<SavedAnswer> revisions(ExamId exam, StudentId student) = 0;

  /// Submits the attempt at `now` (see the file comment). kConflict when past the deadline plus
  /// grace or when the attempt is in a state that cannot be submitted; kNotFound when none.
  virtual SubmissionReceipt submit(ExamId exam, StudentId student, TimePoint now) = 0;
  /// Any other legal transition (graded, overdue, abandoned, voided), compare-and-set in the
  /// database. kConflict naming both states when illegal.
  virtual Attempt transition(ExamId exam, StudentId student, AttemptState to) = 0;
  /// Moves every in-progress attempt of the exam whose deadline plus grace is before `now` to
  /// overdue; returns how many. Idempotent.
  virtual std::int64_t mark_overdue(ExamId exam, TimePoint now) = 0;

  /// Question ids on the papers of the `n` most recent exams (by starts_at) that have attempts,
  /// for AssemblyRules::exclude.
  virtual std::vector<QuestionId> questions_used_in_recent_exams(int n) = 0;
};

}  // namespace examstore
