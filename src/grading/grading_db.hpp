// grading/grading_db.hpp: the durable tier of grading records (PostgreSQL, or in memory).
//
// The repository (grading_repo.cpp) checks every argument (grading_checks.hpp) before calling
// a store, so both stores may assume valid input and only enforce what needs the data: foreign
// keys (kNotFound naming the missing entity), uniqueness and state (kConflict), fencing tokens.
// Both implementations keep the same rules, checked by tests/contract/grading_test.cpp on both
// backend pairs.
//
// Leases: claim() picks, in one transaction, the claimable task with the smallest
// (available_at, id), where claimable means pending with available_at <= now, or running with
// lease_expires_at <= now. Before picking, running tasks whose lease expired and whose tries
// reached max_tries become failed (last_error "lease expired after N tries"). PostgreSQL uses
// FOR UPDATE SKIP LOCKED so concurrent claimers never block on, or take, the same row.
//
// Thread-safety: every method is thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "examstore/grading.hpp"

namespace examstore::db {

class PgPool;
class ExamStore;
class StudentStore;
class AttemptStore;

/// A completion as the store writes it: grade level and percentage already derived.
struct Completion {
  GradingTaskId task_id = 0;
  std::int64_t token = 0;
  GraderIdentity grader;
  GradingOutcome outcome;  ///< grade_level filled in by the repository
  double total_score = 0;
  double max_score = 0;
  double percentage = 0;
  TimePoint now;
};

/// What changed when a task completed, for the repository's cache and rankings.
struct CompletionEffect {
  CompletionReceipt receipt;
  GradingTask task;  ///< after the completion
};

/// Rows of one ranking, computed from the current results.
struct RankingRow {
  StudentId student_id = 0;
  double score = 0;
};

// examstore::Submission is spelled in full: db::Submission (attempt_db.hpp) is an attempt's.
class GradingStore {
 public:
  virtual ~GradingStore() = default;

  virtual SchoolClass create_class(const NewClass& c, TimePoint now) = 0;
  virtual std::optional<SchoolClass> get_class(ClassId id) = 0;
  /// kNotFound naming the class or the first unknown student.
  virtual std::int64_t add_members(ClassId id, const std::vector<StudentId>& students) = 0;
  virtual std::int64_t remove_members(ClassId id, const std::vector<StudentId>& students) = 0;
  /// kNotFound naming the class.
  virtual std::vector<StudentId> members(ClassId id) = 0;
  /// The classes `student` belongs to (for the class rankings a completion touches).
  virtual std::vector<ClassId> classes_of(StudentId student) = 0;

  /// kNotFound naming the class.
  virtual Assignment create_assignment(const NewAssignment& a, TimePoint now) = 0;
  virtual std::optional<Assignment> get_assignment(AssignmentId id) = 0;
  /// kNotFound naming the class.
  virtual std::vector<Assignment> assignments(ClassId id) = 0;

  /// Inserts the submission and its pending task (max_tries, available_at = submitted time).
  /// kNotFound for the assignment or student; kConflict when the student is not a member of
  /// the class or has submitted already.
  virtual examstore::Submission submit(const NewSubmission& s, int max_tries, TimePoint now) = 0;
  virtual std::optional<examstore::Submission> get_submission(SubmissionId id) = 0;
  /// kNotFound naming the assignment.
  virtual std::vector<examstore::Submission> submissions(AssignmentId id) = 0;

  /// One pending task per submitted/overdue/graded attempt of the exam without a task.
  /// kNotFound naming the exam.
  virtual std::int64_t create_exam_tasks(ExamId exam, int max_tries, TimePoint now) = 0;
  virtual std::optional<GradingTask> get_task(GradingTaskId id) = 0;
  virtual std::vector<GradingTask> tasks(const TaskFilter& filter) = 0;
  /// The question numbers an assignment task may grade (1..question_count); empty for an
  /// attempt task (the repository asks the paper store for the attempt's paper). kNotFound
  /// naming the task.
  virtual std::vector<std::int64_t> gradable_questions(GradingTaskId id) = 0;

  /// See the file comment. The lease is until now + lease_for; tries and token are
  /// incremented, lease_owner set to grader.name.
  virtual std::optional<Lease> claim(const ClaimRequest& request, TimePoint now) = 0;
  /// kConflict ("token T is stale: the task's token is U" / "task is <state>") unless the task
  /// is running with this token.
  virtual Lease renew(GradingTaskId id, std::int64_t token, std::chrono::seconds lease_for,
                      TimePoint now) = 0;
  /// In one transaction: the result rows (run, token, grader, now), the error findings, the
  /// task completed, its submission's scores/grade/evaluations/annotations and grading state,
  /// and an attempt task's attempt submitted|overdue -> graded (left alone in other states).
  /// When the task is completed with this token already: nothing written, the stored receipt
  /// with replayed = true. kConflict when the token is stale or the task is not running.
  virtual CompletionEffect complete(const Completion& c) = 0;
  /// running with this token -> pending (available_at = now + backoff) when tries < max_tries,
  /// else failed; last_error = reason. kConflict as renew().
  virtual GradingTask fail(GradingTaskId id, std::int64_t token, const std::string& reason,
                           std::chrono::seconds backoff, TimePoint now) = 0;
  /// completed|failed -> pending, run + 1, tries 0, available_at now, last_error reason.
  /// kConflict naming the state otherwise; kNotFound naming the task.
  virtual GradingTask regrade(GradingTaskId id, const std::string& reason, TimePoint now) = 0;

  // results(), result_history(), error_analysis(): kNotFound naming an unknown task.
  /// Results of the latest completed run, by question (superseded = false).
  virtual std::vector<GradingResult> results(GradingTaskId id) = 0;
  /// Every row, by (run, question); superseded set on runs before the latest completed one.
  virtual std::vector<GradingResult> result_history(GradingTaskId id) = 0;
  /// Findings of the latest completed run, by (question, kind).
  virtual std::vector<ErrorFinding> error_analysis(GradingTaskId id) = 0;

  /// Computed over the current results of completed tasks in the scope (kNotFound naming the
  /// scope's entity when it does not exist). computed_at = now.
  virtual GradingStatistics statistics(const Scope& scope, TimePoint now) = 0;
  /// Every ranked student of the scope (kAssignment, kExam: completed tasks' totals; kClass:
  /// the mean percentage of the student's completed submissions of the class's assignments,
  /// members only). kNotFound naming the entity.
  virtual std::vector<RankingRow> ranking(const Scope& scope) = 0;
  /// One student's row of ranking(scope), or nullopt.
  virtual std::optional<RankingRow> ranking_row(const Scope& scope, StudentId student) = 0;

  // ---- personal data (security/personal_data.cpp) ----
  /// The student's submissions, by id.
  virtual std::vector<examstore::Submission> submissions_of(StudentId student) = 0;
  /// The student's grading tasks (of submissions and of exam attempts), by id.
  virtual std::vector<GradingTask> tasks_of(StudentId student) = 0;
  /// For an erased student only (kConflict naming the student otherwise; kNotFound when
  /// absent): blanks the free text written about or by them, in one transaction: the
  /// submissions' answer_files (-> none), evaluations and annotations (-> ""), and the feedback
  /// of every result row and the note of every finding of their tasks (-> ""). Scores, grades,
  /// strategies, grader identities and finding kinds stay. Returns the rows changed (0 when
  /// done already). On PostgreSQL through examstore_erase_grading_text() (migration 0011), a
  /// SECURITY DEFINER function: the application role may not update the append-only tables
  /// itself.
  virtual std::int64_t erase_text(StudentId student) = 0;

  // ---- rankings of a completion ----
  /// ranking_row() of `student` in each of `scopes` (exams, assignments, classes), at the same
  /// index, read together (one statement on PostgreSQL). Unlike ranking_row(), a scope that does
  /// not exist is no error: it has no row (nullopt).
  virtual std::vector<std::optional<RankingRow>> ranking_rows(const std::vector<Scope>& scopes,
                                                              StudentId student) = 0;
};

/// The PostgreSQL store over `pool` (which must outlive it). Needs migration 0010.
std::unique_ptr<GradingStore> make_pg_grading_store(PgPool& pool);
/// The in-memory store; `students`, `attempts`, `exams` (foreign keys) must outlive it.
std::unique_ptr<GradingStore> make_memory_grading_store(StudentStore& students,
                                                        AttemptStore& attempts, ExamStore& exams);

}  // namespace examstore::db
