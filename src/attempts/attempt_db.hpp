// attempts/attempt_db.hpp: the durable tier of attempts and answers (PostgreSQL, or in memory).
//
// Both implementations keep the same rules, checked by tests/contract/attempts_test.cpp: foreign
// keys (exam, student, paper must exist), one live (not voided) attempt per exam and student,
// compare-and-set state changes, idempotent replays of write-behind ops (a start applies only to
// a not_started attempt, a revision only once, the latest answer only for a higher seq).
//
// Errors: kNotFound for a missing exam/student/paper/attempt, kConflict for a duplicate live
// attempt or a failed compare-and-set, kUnavailable/kTimeout from PostgreSQL.
//
// Thread-safety: every method is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "examstore/attempts.hpp"

namespace examstore::db {

class PgPool;
class ExamStore;
class StudentStore;

/// A start made in the hot tier, persisted behind (write-behind op "attempt_start"). The stored
/// deadline is `base_deadline` plus the attempt's extra_time as stored when the op is applied,
/// so an extra-time change made while the op was queued is not lost.
struct AttemptStart {
  AttemptId attempt_id = 0;
  ExamId exam_id = 0;
  StudentId student_id = 0;
  TimePoint started_at;
  TimePoint base_deadline;  ///< min(started_at + duration, exam ends_at)
};

/// One revision of one answer (write-behind op "answer_revision"); (attempt, question, seq) is
/// its identity.
struct AnswerRevision {
  AttemptId attempt_id = 0;
  ExamId exam_id = 0;
  StudentId student_id = 0;
  QuestionId question_id = 0;
  std::int64_t seq = 0;
  std::string answer;  ///< JSON
  TimePoint saved_at;
  std::chrono::milliseconds since_previous{0};
};

/// What submit() commits in one transaction.
struct Submission {
  AttemptId attempt_id = 0;
  /// The start as the hot tier knows it (its op may still be queued).
  std::optional<AttemptStart> start;
  std::vector<AnswerRevision> answers;  ///< the live answers, committed with the state change
  TimePoint submitted_at;
  std::string receipt;
};

class AttemptStore {
 public:
  virtual ~AttemptStore() = default;
  /// Inserts one not_started attempt per student in one transaction and returns them (ids from
  /// the sequence), all or nothing. kNotFound naming the first unknown exam/paper/student;
  /// kConflict naming the first student with a live attempt (or a duplicate in the plan).
  virtual std::vector<Attempt> precreate(const AttemptPlan& plan) = 0;
  /// The live attempt of (exam, student), or nullopt.
  virtual std::optional<Attempt> live(ExamId exam, StudentId student) = 0;
  /// Every attempt of one student (voided ones included), by id.
  virtual std::vector<Attempt> of_student(StudentId student) = 0;
  /// Every attempt of one exam (voided ones included), by id (grading tasks of an exam).
  virtual std::vector<Attempt> of_exam(ExamId exam) = 0;
  /// Compare-and-set: moves the attempt to `to` when its state is one of `from` (also applying
  /// `start` when given and the row has no start yet). kConflict naming the stored and the
  /// target state otherwise; kNotFound when the attempt does not exist.
  virtual Attempt transition(AttemptId id, const std::vector<AttemptState>& from, AttemptState to,
                             const std::optional<AttemptStart>& start) = 0;
  /// Applies queued starts: each moves a not_started attempt to in_progress; others are
  /// ignored (replays, attempts voided meanwhile).
  virtual void apply_starts(const std::vector<AttemptStart>& starts) = 0;
  /// Inserts revisions (known ones are skipped) and raises the latest answer of each question
  /// when the seq is higher and the attempt is still open (not_started or in_progress: a
  /// submitted attempt's answers never change), in one transaction. kConflict when an attempt
  /// does not exist.
  virtual void insert_revisions(const std::vector<AnswerRevision>& revisions) = 0;
  /// One transaction: the start (when the row has none), the answers (revisions and latest),
  /// the state change in_progress/not_started -> submitted with the receipt. When the attempt
  /// is submitted already (or graded after it), changes nothing and returns it with its stored
  /// receipt. kConflict naming the state otherwise.
  virtual Attempt submit(const Submission& s) = 0;
  /// Sets extra_time and moves a stored deadline by the difference.
  virtual Attempt set_extra_time(AttemptId id, std::chrono::seconds extra) = 0;
  /// in_progress attempts of the exam with deadline + grace < now -> overdue; returns their
  /// students.
  virtual std::vector<StudentId> mark_overdue(ExamId exam, TimePoint now,
                                              std::chrono::seconds grace) = 0;
  /// The latest committed answer per question, by question id.
  virtual std::vector<SavedAnswer> answers(AttemptId id) = 0;
  /// Every committed revision, by saved_at then question and seq.
  virtual std::vector<SavedAnswer> revisions(AttemptId id) = 0;
  /// The distinct papers of the attempts of the `n` most recent exams (by starts_at) that have
  /// attempts.
  virtual std::vector<PaperKey> papers_of_recent_exams(int n) = 0;
};

std::unique_ptr<AttemptStore> make_pg_attempt_store(PgPool& pool);
/// The in-memory store; `exams`, `students` (foreign keys) must outlive it. Papers are checked
/// by the repository (the in-memory database has no paper table).
std::unique_ptr<AttemptStore> make_memory_attempt_store(ExamStore& exams, StudentStore& students);

}  // namespace examstore::db
