// examstore/grading.hpp: grading records: classes, assignments, submissions, grading tasks with
// leases, append-only per-question results, error analysis, statistics and rankings.
//
// The life of a grading task (docs/grading.md):
//   - submit() stores a student's submission of an assignment and creates its task in the same
//     transaction; create_exam_tasks() creates one task per submitted (or overdue) attempt of an
//     exam, so graders read the attempt's answers through AttemptRepo;
//   - claim() hands the oldest claimable task to one grader with a lease (until expires_at) and
//     a fencing token. A task is claimable when it is pending, or running with a lease that has
//     expired (its grader is presumed dead). Each claim increments the task's token;
//   - complete() appends the results with the token. A token older than the task's current one
//     is refused (kConflict): a grader that lost its lease cannot overwrite the work of the one
//     that reclaimed it. Completing again with the same token returns the first receipt and
//     writes nothing (idempotent). A completion with the current token is accepted even after
//     expires_at, as long as nobody has claimed the task since;
//   - fail() gives a task back: pending again after GradingOptions::retry_backoff while it has
//     been tried fewer than max_tries times, else failed. An expired lease counts as a try;
//   - regrade() starts a new run of a completed or failed task. Earlier runs' results stay
//     (results are append-only); the current results are those of the latest completed run.
//
// States: pending -> running -> completed | failed (running -> pending by fail() with tries
// left, or by a reclaim after lease expiry; completed | failed -> pending by regrade()).
//
// Caching (Config::grading): classes, class members and assignments are cached for an hour,
// the current results of a task for 24 h and statistics for 5 min (the defaults of the AI
// grading design, all configurable); writes invalidate what they change. Rankings live in
// Redis sorted sets per exam, assignment and class, rebuilt from the database when missing and
// updated as tasks complete. The hit rate is MetricsSnapshot::grading_cache.
//
// Times are passed in (`now`), as for attempts, so that a cluster of graders agrees on the
// database's view of leases rather than on each machine's clock, and tests can move time.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "examstore/attempts.hpp"
#include "examstore/model.hpp"

namespace examstore {

using ClassId = std::int64_t;
using AssignmentId = std::int64_t;
using SubmissionId = std::int64_t;
using GradingTaskId = std::int64_t;

// ---- classes ----

/// What create_class() needs.
struct NewClass {
  /// 1..200 characters of UTF-8.
  std::string name;
  /// The teacher's id in the platform (1..200 characters of UTF-8; an examstore user name or
  /// any external id: grading does not require examstore accounts).
  std::string teacher;
  /// 1..100 characters of UTF-8.
  std::string subject;
};

struct SchoolClass {
  ClassId id = 0;
  std::string name;
  std::string teacher;
  std::string subject;
  /// Members now.
  std::int64_t student_count = 0;
  TimePoint created_at;
};

// ---- assignments ----

/// How an assignment is graded.
enum class GradingMode { kAi, kHuman, kMixed };
/// "ai", "human", "mixed".
std::string_view to_string(GradingMode m) noexcept;
std::optional<GradingMode> parse_grading_mode(std::string_view s) noexcept;

/// What create_assignment() needs.
struct NewAssignment {
  ClassId class_id = 0;
  /// As NewClass::teacher.
  std::string teacher;
  /// 1..100 characters.
  std::string subject;
  /// 1..300 characters.
  std::string title;
  /// At most 64 KiB.
  std::string description;
  /// The rubric as text (at most 64 KiB) and as structured JSON (at most 1 MiB; "" for none).
  std::string rubric_text;
  std::string rubric_json;
  /// Questions on the assignment, 1..1000. Results name questions 1..question_count.
  int question_count = 1;
  /// The most a submission can score, > 0 and at most 1e6.
  double max_score = 100;
  GradingMode mode = GradingMode::kAi;
  /// Submissions after it are accepted and marked late.
  TimePoint deadline;
};

struct Assignment {
  AssignmentId id = 0;
  ClassId class_id = 0;
  std::string teacher;
  std::string subject;
  std::string title;
  std::string description;
  std::string rubric_text;
  std::string rubric_json;
  int question_count = 0;
  double max_score = 0;
  GradingMode mode = GradingMode::kAi;
  TimePoint deadline;
  TimePoint created_at;
};

// ---- submissions ----

enum class GradingState { kPending, kRunning, kCompleted, kFailed };
/// "pending", "running", "completed", "failed".
std::string_view to_string(GradingState s) noexcept;
std::optional<GradingState> parse_grading_state(std::string_view s) noexcept;

/// What submit() needs.
struct NewSubmission {
  AssignmentId assignment_id = 0;
  /// Must be a member of the assignment's class.
  StudentId student_id = 0;
  /// References to the answer files in the platform's object store ("s3://bucket/key"), not
  /// their bytes: 0..100 of them, each 1..1024 characters of UTF-8.
  std::vector<std::string> answer_files;
  TimePoint submitted_at;
};

struct Submission {
  SubmissionId id = 0;
  AssignmentId assignment_id = 0;
  StudentId student_id = 0;
  std::vector<std::string> answer_files;
  TimePoint submitted_at;
  /// submitted_at is after the assignment's deadline.
  bool late = false;
  /// The state of its grading task.
  GradingState grading_state = GradingState::kPending;
  GradingTaskId task_id = 0;
  /// Set by the latest completed run: sum of the question scores and of their maxima,
  /// 100 * total / max, and the grade level (the grader's, else from
  /// GradingOptions::grade_levels).
  std::optional<double> total_score;
  std::optional<double> max_score;
  std::optional<double> percentage;
  std::string grade_level;
  /// JSON given by the grader at completion ("" when none).
  std::string evaluations;
  std::string annotations;
};

// ---- grading tasks ----

/// Who grades.
struct GraderIdentity {
  enum class Kind { kHuman, kAi };
  Kind kind = Kind::kAi;
  /// The grader's name (worker id or teacher), 1..200 characters.
  std::string name;
  /// For AI graders: the model's name and version (each at most 200 characters), and the hex
  /// SHA-256 of the prompt (64 lowercase hex digits, or "" when unknown).
  std::string model;
  std::string model_version;
  std::string prompt_sha256;
};

struct GradingTask {
  GradingTaskId id = 0;
  /// What it grades: exactly one of submission_id (an assignment's submission) and
  /// attempt_id (an exam attempt) is set.
  std::optional<SubmissionId> submission_id;
  std::optional<AttemptId> attempt_id;
  std::optional<AssignmentId> assignment_id;
  std::optional<ClassId> class_id;
  std::optional<ExamId> exam_id;
  StudentId student_id = 0;
  GradingState state = GradingState::kPending;
  /// 1 for the first grading, +1 for each regrade().
  int run = 1;
  /// Claims of this run so far (a reclaim after lease expiry counts).
  int tries = 0;
  int max_tries = 3;
  /// The fencing token of the latest claim (0 before the first).
  std::int64_t token = 0;
  /// The grader holding or last holding the lease ("" before the first claim).
  std::string lease_owner;
  std::optional<TimePoint> lease_expires_at;
  /// A pending task is not claimable before this time (retry backoff).
  TimePoint available_at;
  TimePoint created_at;
  std::optional<TimePoint> completed_at;
  /// Why the last try failed ("" when none).
  std::string last_error;
};

/// What claim() needs.
struct ClaimRequest {
  GraderIdentity grader{};
  /// How long the grader may hold the task without renew(), 1 s..1 day.
  std::chrono::seconds lease{300};
  TimePoint now;
  /// Only tasks of this assignment or exam, when given (at most one of them).
  std::optional<AssignmentId> assignment_id;
  std::optional<ExamId> exam_id;
};

/// A claimed task: the proof of ownership every later call presents.
struct Lease {
  GradingTask task;
  std::int64_t token = 0;
  TimePoint expires_at;
  /// Who claimed it (ClaimRequest::grader): complete() records it on every result row. An empty
  /// name means the task's lease_owner with the other fields defaulted (a lease rebuilt from a
  /// task id and token, as the CLI does).
  GraderIdentity grader{};
};

/// One question's grade, as a grader gives it.
struct QuestionGrade {
  /// The question: 1..question_count for an assignment, the QuestionId for an exam attempt.
  std::int64_t question = 0;
  /// 0..max_score, finite.
  double score = 0;
  /// > 0, at most 1e6.
  double max_score = 0;
  /// At most 64 KiB.
  std::string feedback;
  /// How it was graded ("rubric", "exact", "llm-judge"...), at most 100 characters.
  std::string strategy;
};

/// One mistake found in a task (error analysis).
struct ErrorFinding {
  std::int64_t question = 0;
  /// The kind of mistake ("calculation", "concept"...), 1..100 characters.
  std::string kind;
  /// The knowledge point ("math/algebra/quadratics"), at most 200 characters.
  std::string knowledge_point;
  /// At most 64 KiB.
  std::string note;
};

/// What a grader reports at completion.
struct GradingOutcome {
  /// One per question, each question at most once; 1..1000 of them.
  std::vector<QuestionGrade> grades;
  std::vector<ErrorFinding> errors;
  /// "" to derive it from GradingOptions::grade_levels; else at most 20 characters.
  std::string grade_level;
  /// JSON, at most 1 MiB each ("" for none); stored on the submission.
  std::string evaluations;
  std::string annotations;
};

/// What complete() committed.
struct CompletionReceipt {
  GradingTaskId task_id = 0;
  int run = 0;
  std::int64_t token = 0;
  double total_score = 0;
  double max_score = 0;
  double percentage = 0;
  std::string grade_level;
  TimePoint completed_at;
  /// True when this call repeated an earlier completion with the same token (nothing written).
  bool replayed = false;
};

/// One stored result row (append-only).
struct GradingResult {
  GradingTaskId task_id = 0;
  int run = 0;
  QuestionGrade grade;
  GraderIdentity grader;
  /// The token of the completion that wrote it.
  std::int64_t token = 0;
  TimePoint created_at;
  /// True when a later completed run replaced it.
  bool superseded = false;
};

/// Filter for tasks().
struct TaskFilter {
  std::optional<AssignmentId> assignment_id;
  std::optional<ExamId> exam_id;
  std::optional<GradingState> state;
  /// 1..10000.
  int limit = 100;
};

// ---- statistics and rankings ----

/// What a statistic or a ranking is about.
enum class ScopeKind { kTask, kAssignment, kClass, kExam };
/// "task", "assignment", "class", "exam".
std::string_view to_string(ScopeKind k) noexcept;
std::optional<ScopeKind> parse_scope_kind(std::string_view s) noexcept;

struct Scope {
  ScopeKind kind = ScopeKind::kAssignment;
  std::int64_t id = 0;
};

/// Per-question statistics over the graded tasks of a scope.
struct QuestionStatistics {
  std::int64_t question = 0;
  std::int64_t count = 0;
  double mean_score = 0;
  double max_score = 0;
  /// mean_score / max_score: 1 is easy, 0 is hard.
  double difficulty = 0;
  /// The Pearson correlation of this question's score with the task total (item-total
  /// discrimination), nullopt when fewer than two tasks or either has no variance.
  std::optional<double> discrimination;
};

/// Statistics of the current results of the completed tasks of a scope. Percentages are of
/// each task's total against its maximum.
struct GradingStatistics {
  Scope scope;
  /// Completed tasks counted.
  std::int64_t count = 0;
  double mean_percentage = 0;
  /// Population standard deviation.
  double stddev_percentage = 0;
  double min_percentage = 0;
  double max_percentage = 0;
  double median_percentage = 0;
  /// Tasks per 10-point band: [0,10), [10,20), ... [90,100]; always 10 entries.
  std::vector<std::int64_t> distribution;
  /// By question.
  std::vector<QuestionStatistics> questions;
  /// Error findings of the counted tasks' current runs, by kind, most frequent first.
  std::vector<std::pair<std::string, std::int64_t>> error_kinds;
  /// When the database computed them (cached copies keep this time).
  TimePoint computed_at;
};

/// A student's place in a ranking (descending score; equal scores share a rank: 1, 2, 2, 4).
struct RankEntry {
  std::int64_t rank = 0;
  StudentId student_id = 0;
  /// Exam and assignment: the task's total score. Class: the mean percentage of the student's
  /// graded submissions of the class's assignments.
  double score = 0;
};

/// What a warm-up loaded into the hot tier.
struct WarmUpReport {
  std::int64_t classes = 0;
  std::int64_t assignments = 0;
  std::int64_t member_lists = 0;
  std::int64_t results = 0;
  std::int64_t statistics = 0;
  std::int64_t rankings = 0;
};

class GradingRepo {
 public:
  virtual ~GradingRepo() = default;

  // Every call refuses a bad argument with kInvalidArgument naming the field, and an unknown
  // class, assignment, student, exam or task with kNotFound naming it.

  /// Creates a class with no members.
  virtual SchoolClass create_class(const NewClass& c) = 0;
  /// The class (cached), or nullopt.
  virtual std::optional<SchoolClass> get_class(ClassId id) = 0;
  /// Adds students to the class (each must exist, at most 100000 a call); members already in
  /// it are left alone. Returns how many were added.
  virtual std::int64_t add_members(ClassId id, const std::vector<StudentId>& students) = 0;
  /// Removes students from the class; returns how many were members.
  virtual std::int64_t remove_members(ClassId id, const std::vector<StudentId>& students) = 0;
  /// The members (cached), ascending.
  virtual std::vector<StudentId> members(ClassId id) = 0;

  virtual Assignment create_assignment(const NewAssignment& a) = 0;
  /// The assignment (cached), or nullopt.
  virtual std::optional<Assignment> get_assignment(AssignmentId id) = 0;
  /// The class's assignments, by id.
  virtual std::vector<Assignment> assignments(ClassId id) = 0;

  /// Stores a submission and its grading task (pending) in one transaction. kConflict when the
  /// student has already submitted this assignment, or is not a member of its class.
  virtual Submission submit(const NewSubmission& s) = 0;
  virtual std::optional<Submission> get_submission(SubmissionId id) = 0;
  /// The assignment's submissions, by id.
  virtual std::vector<Submission> submissions(AssignmentId id) = 0;

  /// Creates a pending task for every submitted or overdue attempt of the exam that has none;
  /// returns how many were created (0 when called again).
  virtual std::int64_t create_exam_tasks(ExamId exam) = 0;
  virtual std::optional<GradingTask> get_task(GradingTaskId id) = 0;
  /// Tasks matching the filter, by id.
  virtual std::vector<GradingTask> tasks(const TaskFilter& filter) = 0;

  /// Claims the oldest claimable task (see the file comment), or nullopt when there is none.
  /// Two graders never hold one task at once.
  virtual std::optional<Lease> claim(const ClaimRequest& request) = 0;
  /// Extends the lease to now + `lease`. kConflict when the token is no longer current or the
  /// task is not running.
  virtual Lease renew(const Lease& lease, std::chrono::seconds lease_for, TimePoint now) = 0;
  /// Appends the results and closes the task's run (see the file comment). Grades must name
  /// questions of the task's assignment or attempt paper, each at most once. kConflict when the
  /// token is stale or the task is not running under it.
  virtual CompletionReceipt complete(const Lease& lease, const GradingOutcome& outcome,
                                     TimePoint now) = 0;
  /// Gives the task back after a failed try (reason at most 4 KiB). kConflict as for renew().
  virtual GradingTask fail(const Lease& lease, const std::string& reason, TimePoint now) = 0;
  /// Starts a new run of a completed or failed task (kConflict otherwise); reason at most 4 KiB.
  virtual GradingTask regrade(GradingTaskId id, const std::string& reason, TimePoint now) = 0;

  /// The current results of the task (cached), by question; empty before its first completion.
  virtual std::vector<GradingResult> results(GradingTaskId id) = 0;
  /// Every result row of every run, oldest first.
  virtual std::vector<GradingResult> result_history(GradingTaskId id) = 0;
  /// The error findings of the task's current run.
  virtual std::vector<ErrorFinding> error_analysis(GradingTaskId id) = 0;

  /// Statistics of the scope, computed in the database and cached for
  /// GradingOptions::analytics_ttl (so they may be that old).
  virtual GradingStatistics statistics(const Scope& scope) = 0;

  /// The student's place in the scope's ranking (kTask is refused), or nullopt when the student
  /// has no graded work in it.
  virtual std::optional<RankEntry> rank_of(const Scope& scope, StudentId student) = 0;
  /// The first `n` (1..1000) of the ranking.
  virtual std::vector<RankEntry> top(const Scope& scope, int n) = 0;
  /// The entries within `radius` (0..500) places of the student's, in order; empty when the
  /// student is not ranked.
  virtual std::vector<RankEntry> around(const Scope& scope, StudentId student, int radius) = 0;

  /// Loads a class (the class, its members, its assignments and their rankings and statistics)
  /// or an assignment (it, its submissions' current results, statistics and ranking) into the
  /// hot tier before a grading run.
  virtual WarmUpReport warm_up_class(ClassId id) = 0;
  virtual WarmUpReport warm_up_assignment(AssignmentId id) = 0;
};

}  // namespace examstore
