// grading/grading_db_pg.cpp: the PostgreSQL GradingStore (migration 0010). One
// PgPool::transact per call, values always as parameters, batches as unnest arrays. Foreign keys
// are checked by a SELECT first so that a missing entity is kNotFound naming it (the constraint
// itself would say kConflict). Doubles travel as text in their shortest exact form.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string>
#include <utility>

#include <pqxx/pqxx>

#include "db/pg_pool.hpp"
#include "db/pg_text.hpp"
#include "db/sql_params.hpp"
#include "db/store_checks.hpp"
#include "examstore/error.hpp"
#include "grading/grading_db.hpp"
#include "grading/grading_store_rules.hpp"

namespace examstore::db {
namespace {

using check::from_micros;
using check::to_micros;
using grading_rules::assignment_label;
using grading_rules::class_label;
using grading_rules::task_label;

std::string num(double d) { return fmt::format("{}", d); }

std::optional<TimePoint> opt_time(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return from_micros(f.as<std::int64_t>());
}
template <typename T>
std::optional<T> opt(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<T>();
}
[[noreturn]] void corrupt(const std::string& what) {
  throw Error(ErrorCode::kDataIntegrity, "grading read", what);
}

const std::string kClassColumns = "c.id, c.name, c.teacher, c.subject, " + us("c.created_at") +
                                  ", (SELECT count(*) FROM class_members m"
                                  " WHERE m.class_id = c.id)";

SchoolClass read_class(const pqxx::row& r) {
  SchoolClass c;
  c.id = r[0].as<ClassId>();
  c.name = r[1].as<std::string>();
  c.teacher = r[2].as<std::string>();
  c.subject = r[3].as<std::string>();
  c.created_at = from_micros(r[4].as<std::int64_t>());
  c.student_count = r[5].as<std::int64_t>();
  return c;
}

const std::string kAssignmentColumns =
    "id, class_id, teacher, subject, title, description, rubric_text, rubric_json,"
    " question_count, max_score, mode, " +
    us("deadline") + ", " + us("created_at");

Assignment read_assignment(const pqxx::row& r) {
  Assignment a;
  a.id = r[0].as<AssignmentId>();
  a.class_id = r[1].as<ClassId>();
  a.teacher = r[2].as<std::string>();
  a.subject = r[3].as<std::string>();
  a.title = r[4].as<std::string>();
  a.description = r[5].as<std::string>();
  a.rubric_text = r[6].as<std::string>();
  a.rubric_json = r[7].as<std::string>();
  a.question_count = r[8].as<int>();
  a.max_score = r[9].as<double>();
  const auto mode = grading_rules::parse_mode(r[10].as<std::string>());
  if (!mode) corrupt("unknown grading mode");
  a.mode = *mode;
  a.deadline = from_micros(r[11].as<std::int64_t>());
  a.created_at = from_micros(r[12].as<std::int64_t>());
  return a;
}

GradingState read_state(const pqxx::field& f) {
  const auto s = grading_rules::parse_state(f.as<std::string>());
  if (!s) corrupt("unknown grading state");
  return *s;
}

// answer_files travel as a JSON-free array: one row per element keeps the text exact.
const std::string kSubmissionColumns =
    "s.id, s.assignment_id, s.student_id, " + us("s.submitted_at") +
    ", s.late, t.state, t.id, s.total_score, s.max_score, s.percentage, s.grade_level,"
    " s.evaluations, s.annotations, s.answer_files";
const std::string kSubmissionFrom =
    " FROM submissions s JOIN grading_tasks t"
    " ON t.submission_id = s.id ";

examstore::Submission read_submission(const pqxx::row& r) {
  examstore::Submission s;
  s.id = r[0].as<SubmissionId>();
  s.assignment_id = r[1].as<AssignmentId>();
  s.student_id = r[2].as<StudentId>();
  s.submitted_at = from_micros(r[3].as<std::int64_t>());
  s.late = r[4].as<bool>();
  s.grading_state = read_state(r[5]);
  s.task_id = r[6].as<GradingTaskId>();
  s.total_score = opt<double>(r[7]);
  s.max_score = opt<double>(r[8]);
  s.percentage = opt<double>(r[9]);
  s.grade_level = r[10].as<std::string>();
  s.evaluations = r[11].as<std::string>();
  s.annotations = r[12].as<std::string>();
  s.answer_files = db::text_array(r[13]);
  return s;
}

const std::string kTaskColumns =
    "id, submission_id, attempt_id, assignment_id, class_id, exam_id, student_id, state, run,"
    " tries, max_tries, token, lease_owner, " +
    us("lease_expires_at") + ", " + us("available_at") + ", " + us("created_at") + ", " +
    us("completed_at") + ", last_error";

GradingTask read_task(const pqxx::row& r) {
  GradingTask t;
  t.id = r[0].as<GradingTaskId>();
  t.submission_id = opt<SubmissionId>(r[1]);
  t.attempt_id = opt<AttemptId>(r[2]);
  t.assignment_id = opt<AssignmentId>(r[3]);
  t.class_id = opt<ClassId>(r[4]);
  t.exam_id = opt<ExamId>(r[5]);
  t.student_id = r[6].as<StudentId>();
  t.state = read_state(r[7]);
  t.run = r[8].as<int>();
  t.tries = r[9].as<int>();
  t.max_tries = r[10].as<int>();
  t.token = r[11].as<std::int64_t>();
  t.lease_owner = r[12].as<std::string>();
  t.lease_expires_at = opt_time(r[13]);
  t.available_at = from_micros(r[14].as<std::int64_t>());
  t.created_at = from_micros(r[15].as<std::int64_t>());
  t.completed_at = opt_time(r[16]);
  t.last_error = r[17].as<std::string>();
  return t;
}

const std::string kResultColumns =
    "task_id, run, question, score, max_score, feedback, strategy, grader_kind, grader_name,"
    " model, model_version, prompt_sha256, token, " +
    us("created_at");

GradingResult read_result(const pqxx::row& r) {
  GradingResult g;
  g.task_id = r[0].as<GradingTaskId>();
  g.run = r[1].as<int>();
  g.grade.question = r[2].as<std::int64_t>();
  g.grade.score = r[3].as<double>();
  g.grade.max_score = r[4].as<double>();
  g.grade.feedback = r[5].as<std::string>();
  g.grade.strategy = r[6].as<std::string>();
  g.grader.kind = grading_rules::parse_kind(r[7].as<std::string>());
  g.grader.name = r[8].as<std::string>();
  g.grader.model = r[9].as<std::string>();
  g.grader.model_version = r[10].as<std::string>();
  g.grader.prompt_sha256 = r[11].as<std::string>();
  g.token = r[12].as<std::int64_t>();
  g.created_at = from_micros(r[13].as<std::int64_t>());
  return g;
}

const std::string kRunColumns =
    "task_id, run, token, total_score, max_score, percentage, grade_level, " + us("completed_at");

CompletionReceipt read_receipt(const pqxx::row& r) {
  CompletionReceipt c;
  c.task_id = r[0].as<GradingTaskId>();
  c.run = r[1].as<int>();
  c.token = r[2].as<std::int64_t>();
  c.total_score = r[3].as<double>();
  c.max_score = r[4].as<double>();
  c.percentage = r[5].as<double>();
  c.grade_level = r[6].as<std::string>();
  c.completed_at = from_micros(r[7].as<std::int64_t>());
  return c;
}

// The column of grading_tasks a scope selects by (fixed words, never input).
std::string scope_column(ScopeKind k) {
  switch (k) {
    case ScopeKind::kTask:
      return "t.id";
    case ScopeKind::kAssignment:
      return "t.assignment_id";
    case ScopeKind::kClass:
      return "t.class_id";
    case ScopeKind::kExam:
      return "t.exam_id";
  }
  return "t.id";
}

// The completed tasks of a scope (parameter `id`) with their latest completed run: cur(id,
// student_id, run, total, percentage).
std::string current_runs(ScopeKind k, const std::string& id = "$1") {
  return "WITH cur AS (SELECT t.id, t.student_id, r.run, r.total_score AS total, r.percentage"
         " FROM grading_tasks t CROSS JOIN LATERAL (SELECT run, total_score, percentage"
         " FROM grading_runs g WHERE g.task_id = t.id ORDER BY run DESC LIMIT 1) r"
         " WHERE t.state = 'completed' AND " +
         scope_column(k) + " = " + id + ") ";
}

class PgGradingStore final : public GradingStore {
 public:
  explicit PgGradingStore(PgPool& pool) : pool_(pool) {}

  SchoolClass create_class(const NewClass& c, TimePoint now) override {
    SchoolClass out;
    pool_.transact("grading create_class", [&](pqxx::work& tx) {
      const auto id = db::exec1(tx,
                                "INSERT INTO classes (name, teacher, subject, created_at)"
                                " VALUES ($1, $2, $3, " +
                                    ts("$4") + ") RETURNING id",
                                c.name, c.teacher, c.subject, to_micros(now))[0]
                          .as<ClassId>();
      out = get_class_tx(tx, id).value();
    });
    return out;
  }

  std::optional<SchoolClass> get_class(ClassId id) override {
    std::optional<SchoolClass> out;
    pool_.transact("grading get_class", [&](pqxx::work& tx) { out = get_class_tx(tx, id); });
    return out;
  }

  std::int64_t add_members(ClassId id, const std::vector<StudentId>& students) override {
    const std::string op = "grading add_members";
    ArrayText ids(students.size());
    for (const StudentId s : students) ids.add(s);
    std::int64_t added = 0;
    pool_.transact(op, [&](pqxx::work& tx) {
      require_class(tx, op, id, true);
      const auto missing =
          db::exec(tx,
                   "SELECT u.s FROM unnest($1::bigint[]) WITH ORDINALITY AS u(s, o)"
                   " WHERE NOT EXISTS (SELECT 1 FROM students WHERE id = u.s) ORDER BY u.o LIMIT 1",
                   ids.str());
      if (!missing.empty()) {
        check::not_found(op, check::student_label(missing[0][0].as<StudentId>()));
      }
      added = static_cast<std::int64_t>(
          db::exec(tx,
                   "INSERT INTO class_members (class_id, student_id)"
                   " SELECT DISTINCT $1::bigint, u.s FROM unnest($2::bigint[]) AS u(s)"
                   " ON CONFLICT DO NOTHING",
                   id, ids.str())
              .affected_rows());
    });
    return added;
  }

  std::int64_t remove_members(ClassId id, const std::vector<StudentId>& students) override {
    const std::string op = "grading remove_members";
    ArrayText ids(students.size());
    for (const StudentId s : students) ids.add(s);
    std::int64_t removed = 0;
    pool_.transact(op, [&](pqxx::work& tx) {
      require_class(tx, op, id, true);
      removed = static_cast<std::int64_t>(db::exec(tx,
                                                   "DELETE FROM class_members WHERE class_id = $1"
                                                   " AND student_id = ANY($2::bigint[])",
                                                   id, ids.str())
                                              .affected_rows());
    });
    return removed;
  }

  std::vector<StudentId> members(ClassId id) override {
    const std::string op = "grading members";
    std::vector<StudentId> out;
    pool_.transact(op, [&](pqxx::work& tx) {
      out.clear();
      require_class(tx, op, id, false);
      for (const auto& r : db::exec(
               tx, "SELECT student_id FROM class_members WHERE class_id = $1 ORDER BY student_id",
               id)) {
        out.push_back(r[0].as<StudentId>());
      }
    });
    return out;
  }

  std::vector<ClassId> classes_of(StudentId student) override {
    std::vector<ClassId> out;
    pool_.transact("grading classes_of", [&](pqxx::work& tx) {
      out.clear();
      for (const auto& r : db::exec(
               tx, "SELECT class_id FROM class_members WHERE student_id = $1 ORDER BY class_id",
               student)) {
        out.push_back(r[0].as<ClassId>());
      }
    });
    return out;
  }

  Assignment create_assignment(const NewAssignment& a, TimePoint now) override {
    const std::string op = "grading create_assignment";
    Assignment out;
    pool_.transact(op, [&](pqxx::work& tx) {
      require_class(tx, op, a.class_id, true);
      out = read_assignment(db::exec1(
          tx,
          "INSERT INTO assignments (class_id, teacher, subject, title, description, rubric_text,"
          " rubric_json, question_count, max_score, mode, deadline, created_at)"
          " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::float8, $10, " +
              ts("$11") + ", " + ts("$12") + ") RETURNING " + kAssignmentColumns,
          a.class_id, a.teacher, a.subject, a.title, a.description, a.rubric_text, a.rubric_json,
          a.question_count, num(a.max_score), grading_rules::mode_name(a.mode),
          to_micros(a.deadline), to_micros(now)));
    });
    return out;
  }

  std::optional<Assignment> get_assignment(AssignmentId id) override {
    std::optional<Assignment> out;
    pool_.transact("grading get_assignment", [&](pqxx::work& tx) {
      out.reset();
      const auto r =
          db::exec(tx, "SELECT " + kAssignmentColumns + " FROM assignments WHERE id = $1", id);
      if (!r.empty()) out = read_assignment(r[0]);
    });
    return out;
  }

  std::vector<Assignment> assignments(ClassId id) override {
    const std::string op = "grading assignments";
    std::vector<Assignment> out;
    pool_.transact(op, [&](pqxx::work& tx) {
      out.clear();
      require_class(tx, op, id, false);
      for (const auto& r : db::exec(
               tx,
               "SELECT " + kAssignmentColumns + " FROM assignments WHERE class_id = $1 ORDER BY id",
               id)) {
        out.push_back(read_assignment(r));
      }
    });
    return out;
  }

  examstore::Submission submit(const NewSubmission& s, int max_tries, TimePoint now) override {
    const std::string op = "grading submit";
    ArrayText files(s.answer_files.size());
    for (const auto& f : s.answer_files) files.add(f);
    examstore::Submission out;
    pool_.transact(op, [&](pqxx::work& tx) {
      if (db::exec(tx, "SELECT 1 FROM students WHERE id = $1", s.student_id).empty()) {
        check::not_found(op, check::student_label(s.student_id));
      }
      const auto a = db::exec(
          tx, "SELECT class_id, " + us("deadline") + " FROM assignments WHERE id = $1 FOR SHARE",
          s.assignment_id);
      if (a.empty()) check::not_found(op, assignment_label(s.assignment_id));
      const ClassId class_id = a[0][0].as<ClassId>();
      if (db::exec(tx, "SELECT 1 FROM class_members WHERE class_id = $1 AND student_id = $2",
                   class_id, s.student_id)
              .empty()) {
        check::conflict(op, check::student_label(s.student_id) + " is not a member of " +
                                class_label(class_id));
      }
      if (!db::exec(tx, "SELECT 1 FROM submissions WHERE assignment_id = $1 AND student_id = $2",
                    s.assignment_id, s.student_id)
               .empty()) {
        check::conflict(op, check::student_label(s.student_id) + " has already submitted " +
                                assignment_label(s.assignment_id));
      }
      const std::int64_t at = to_micros(s.submitted_at);
      const bool late = at > a[0][1].as<std::int64_t>();
      const auto id = db::exec1(tx,
                                "INSERT INTO submissions (assignment_id, student_id,"
                                " answer_files, submitted_at, late) VALUES ($1, $2,"
                                " $3::text[], " +
                                    ts("$4") + ", $5) RETURNING id",
                                s.assignment_id, s.student_id, files.str(), at, late)[0]
                          .as<SubmissionId>();
      db::exec0(tx,
                "INSERT INTO grading_tasks (submission_id, assignment_id, class_id, student_id,"
                " max_tries, available_at, created_at) VALUES ($1, $2, $3, $4, $5, " +
                    ts("$6") + ", " + ts("$7") + ")",
                id, s.assignment_id, class_id, s.student_id, max_tries, at, to_micros(now));
      out = read_submission(
          db::exec1(tx, "SELECT " + kSubmissionColumns + kSubmissionFrom + "WHERE s.id = $1", id));
    });
    return out;
  }

  std::optional<examstore::Submission> get_submission(SubmissionId id) override {
    std::optional<examstore::Submission> out;
    pool_.transact("grading get_submission", [&](pqxx::work& tx) {
      out.reset();
      const auto r =
          db::exec(tx, "SELECT " + kSubmissionColumns + kSubmissionFrom + "WHERE s.id = $1", id);
      if (!r.empty()) out = read_submission(r[0]);
    });
    return out;
  }

  std::vector<examstore::Submission> submissions(AssignmentId id) override {
    const std::string op = "grading submissions";
    std::vector<examstore::Submission> out;
    pool_.transact(op, [&](pqxx::work& tx) {
      out.clear();
      if (db::exec(tx, "SELECT 1 FROM assignments WHERE id = $1", id).empty()) {
        check::not_found(op, assignment_label(id));
      }
      static const std::string sql = "SELECT " + kSubmissionColumns + kSubmissionFrom +
                                     "WHERE s.assignment_id = $1 ORDER BY s.id";
      for (const auto& r : db::exec(tx, sql, id)) {
        out.push_back(read_submission(r));
      }
    });
    return out;
  }

  std::int64_t create_exam_tasks(ExamId exam, int max_tries, TimePoint now) override {
    const std::string op = "grading create_exam_tasks";
    std::int64_t created = 0;
    pool_.transact(op, [&](pqxx::work& tx) {
      if (db::exec(tx, "SELECT 1 FROM exams WHERE id = $1", exam).empty()) {
        check::not_found(op, check::exam_label(exam));
      }
      created = static_cast<std::int64_t>(
          db::exec(tx,
                   "INSERT INTO grading_tasks (attempt_id, exam_id, student_id, max_tries,"
                   " available_at, created_at) SELECT a.id, a.exam_id, a.student_id, $2, " +
                       ts("$3") + ", " + ts("$3") +
                       " FROM attempts a WHERE a.exam_id = $1"
                       " AND a.state IN ('submitted', 'overdue', 'graded')"
                       " AND NOT EXISTS (SELECT 1 FROM grading_tasks t"
                       " WHERE t.attempt_id = a.id) ORDER BY a.id"
                       " ON CONFLICT (attempt_id) DO NOTHING",
                   exam, max_tries, to_micros(now))
              .affected_rows());
    });
    return created;
  }

  std::optional<GradingTask> get_task(GradingTaskId id) override {
    std::optional<GradingTask> out;
    pool_.transact("grading get_task", [&](pqxx::work& tx) {
      out.reset();
      const auto r =
          db::exec(tx, "SELECT " + kTaskColumns + " FROM grading_tasks WHERE id = $1", id);
      if (!r.empty()) out = read_task(r[0]);
    });
    return out;
  }

  std::vector<GradingTask> tasks(const TaskFilter& f) override {
    SqlParams p;
    std::string where = " WHERE true";
    if (f.assignment_id) where += " AND assignment_id = " + p.add(*f.assignment_id);
    if (f.exam_id) where += " AND exam_id = " + p.add(*f.exam_id);
    if (f.state) where += " AND state = " + p.add(grading_rules::state_name(*f.state));
    const std::string sql = "SELECT " + kTaskColumns + " FROM grading_tasks" + where +
                            " ORDER BY id LIMIT " + p.add(static_cast<std::int64_t>(f.limit));
    std::vector<GradingTask> out;
    pool_.transact("grading tasks", [&](pqxx::work& tx) {
      out.clear();
      for (const auto& r : p.exec(tx, sql)) out.push_back(read_task(r));
    });
    return out;
  }

  std::vector<std::int64_t> gradable_questions(GradingTaskId id) override {
    const std::string op = "grading gradable_questions";
    std::vector<std::int64_t> out;
    pool_.transact(op, [&](pqxx::work& tx) {
      out.clear();
      const auto r = db::exec(tx,
                              "SELECT a.question_count FROM grading_tasks t LEFT JOIN assignments a"
                              " ON a.id = t.assignment_id WHERE t.id = $1",
                              id);
      if (r.empty()) check::not_found(op, task_label(id));
      if (r[0][0].is_null()) return;
      const int n = r[0][0].as<int>();
      for (int q = 1; q <= n; ++q) out.push_back(q);
    });
    return out;
  }

  std::optional<Lease> claim(const ClaimRequest& request, TimePoint now) override {
    // Exhausted tasks first (they would otherwise be picked below); SKIP LOCKED: a task another
    // claimer holds is that claimer's business.
    static const std::string exhaust =
        "UPDATE grading_tasks SET state = 'failed',"
        " last_error = 'lease expired after ' || tries || ' tries'"
        " WHERE id IN (SELECT id FROM grading_tasks WHERE state = 'running'"
        " AND lease_expires_at <= " +
        ts("$1") + " AND tries >= max_tries FOR UPDATE SKIP LOCKED)";
    SqlParams p;
    const std::string at = ts(p.add(to_micros(now)));
    const std::string owner = p.add(request.grader.name);
    const std::string lease = p.add(static_cast<std::int64_t>(request.lease.count()));
    std::string filter;
    if (request.assignment_id) filter += " AND assignment_id = " + p.add(*request.assignment_id);
    if (request.exam_id) filter += " AND exam_id = " + p.add(*request.exam_id);
    // The oldest of two candidates, each from its own partial index (migration 0010): the first
    // available pending task and the first task whose lease expired. (Row locks are not allowed
    // in the legs of a UNION, hence the CTEs.)
    const std::string take =
        "WITH p AS (SELECT id, available_at FROM grading_tasks WHERE state = 'pending'"
        " AND available_at <= " +
        at + filter +
        " ORDER BY available_at, id LIMIT 1 FOR UPDATE SKIP LOCKED),"
        " r AS (SELECT id, available_at FROM grading_tasks WHERE state = 'running'"
        " AND lease_expires_at <= " +
        at + filter +
        " ORDER BY available_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)"
        " UPDATE grading_tasks SET state = 'running', tries = tries + 1, token = token + 1,"
        " lease_owner = " +
        owner + ", lease_expires_at = " + at + " + " + lease +
        " * interval '1 second' WHERE id = (SELECT c.id FROM (SELECT * FROM p UNION ALL"
        " SELECT * FROM r) c ORDER BY c.available_at, c.id LIMIT 1) RETURNING " +
        kTaskColumns;
    std::optional<Lease> out;
    pool_.transact("grading claim", [&](pqxx::work& tx) {
      out.reset();
      db::exec0(tx, exhaust, to_micros(now));
      const auto r = p.exec(tx, take);
      if (r.empty()) return;
      Lease l;
      l.task = read_task(r[0]);
      l.token = l.task.token;
      l.expires_at = *l.task.lease_expires_at;
      out = std::move(l);
    });
    return out;
  }

  Lease renew(GradingTaskId id, std::int64_t token, std::chrono::seconds lease_for,
              TimePoint now) override {
    const std::string op = "grading renew";
    Lease out;
    pool_.transact(op, [&](pqxx::work& tx) {
      const auto r = db::exec(
          tx,
          "UPDATE grading_tasks SET lease_expires_at = " + ts("$3") +
              " + $4 * interval '1 second' WHERE id = $1 AND token = $2 AND state = 'running'"
              " RETURNING " +
              kTaskColumns,
          id, token, to_micros(now), static_cast<std::int64_t>(lease_for.count()));
      if (r.empty()) refuse(tx, op, id, token);
      out.task = read_task(r[0]);
      out.token = token;
      out.expires_at = *out.task.lease_expires_at;
    });
    return out;
  }

  CompletionEffect complete(const Completion& c) override {
    const std::string op = "grading complete";
    CompletionEffect out;
    pool_.transact(op, [&](pqxx::work& tx) {
      out = CompletionEffect();
      const auto row = db::exec(
          tx, "SELECT " + kTaskColumns + " FROM grading_tasks WHERE id = $1 FOR UPDATE", c.task_id);
      if (row.empty()) check::not_found(op, task_label(c.task_id));
      const GradingTask t = read_task(row[0]);
      const auto done = db::exec(
          tx, "SELECT " + kRunColumns + " FROM grading_runs WHERE task_id = $1 AND token = $2",
          c.task_id, c.token);
      if (!done.empty()) {
        out.receipt = read_receipt(done[0]);
        out.receipt.replayed = true;
        out.task = t;
        return;
      }
      grading_rules::require_lease(op, t.id, t.state, t.token, c.token);
      write_completion(tx, t, c);
      out.receipt = read_receipt(db::exec1(
          tx, "SELECT " + kRunColumns + " FROM grading_runs WHERE task_id = $1 AND run = $2", t.id,
          t.run));
      out.task = read_task(
          db::exec1(tx, "SELECT " + kTaskColumns + " FROM grading_tasks WHERE id = $1", c.task_id));
    });
    return out;
  }

  GradingTask fail(GradingTaskId id, std::int64_t token, const std::string& reason,
                   std::chrono::seconds backoff, TimePoint now) override {
    const std::string op = "grading fail";
    GradingTask out;
    pool_.transact(op, [&](pqxx::work& tx) {
      const auto r =
          db::exec(tx,
                   "UPDATE grading_tasks SET"
                   " state = CASE WHEN tries < max_tries THEN 'pending' ELSE 'failed' END,"
                   " available_at = CASE WHEN tries < max_tries THEN " +
                       ts("$4") +
                       " + $5 * interval '1 second' ELSE available_at END, last_error = $3"
                       " WHERE id = $1 AND token = $2 AND state = 'running' RETURNING " +
                       kTaskColumns,
                   id, token, reason, to_micros(now), static_cast<std::int64_t>(backoff.count()));
      if (r.empty()) refuse(tx, op, id, token);
      out = read_task(r[0]);
    });
    return out;
  }

  GradingTask regrade(GradingTaskId id, const std::string& reason, TimePoint now) override {
    const std::string op = "grading regrade";
    GradingTask out;
    pool_.transact(op, [&](pqxx::work& tx) {
      const auto r = db::exec(tx, "SELECT state FROM grading_tasks WHERE id = $1 FOR UPDATE", id);
      if (r.empty()) check::not_found(op, task_label(id));
      const GradingState state = read_state(r[0][0]);
      if (state != GradingState::kCompleted && state != GradingState::kFailed) {
        check::conflict(op, task_label(id) + " is " + grading_rules::state_name(state) +
                                ": only a completed or failed task can be regraded");
      }
      out = read_task(db::exec1(
          tx,
          "UPDATE grading_tasks SET state = 'pending', run = run + 1, tries = 0,"
          " available_at = " +
              ts("$3") + ", completed_at = NULL, last_error = $2 WHERE id = $1 RETURNING " +
              kTaskColumns,
          id, reason, to_micros(now)));
    });
    return out;
  }

  std::vector<GradingResult> results(GradingTaskId id) override {
    return read_results("grading results",
                        " AND run = (SELECT max(run) FROM grading_runs WHERE task_id = $1)", id);
  }

  std::vector<GradingResult> result_history(GradingTaskId id) override {
    auto out = read_results("grading result_history", "", id);
    int latest = 0;
    for (const auto& r : out) latest = std::max(latest, r.run);  // only completed runs have rows
    for (auto& r : out) r.superseded = r.run < latest;
    return out;
  }

  std::vector<ErrorFinding> error_analysis(GradingTaskId id) override {
    const std::string op = "grading error_analysis";
    std::vector<ErrorFinding> out;
    pool_.transact(op, [&](pqxx::work& tx) {
      out.clear();
      require_task(tx, op, id);
      for (const auto& r :
           db::exec(tx,
                    "SELECT question, kind, knowledge_point, note FROM grading_errors"
                    " WHERE task_id = $1 AND run = (SELECT max(run) FROM grading_runs"
                    " WHERE task_id = $1) ORDER BY question, kind COLLATE \"C\", ord",
                    id)) {
        out.push_back({r[0].as<std::int64_t>(), r[1].as<std::string>(), r[2].as<std::string>(),
                       r[3].as<std::string>()});
      }
    });
    return out;
  }

  GradingStatistics statistics(const Scope& scope, TimePoint now) override {
    const std::string op = "grading statistics";
    // One statement, so one snapshot and one pass over the scope's current runs (materialised
    // once): part 0 the totals, 1 the bands, 2 the questions, 3 the error kinds.
    static const auto make = [](ScopeKind k) {
      std::string cur = current_runs(k);
      cur.replace(cur.find("cur AS ("), 8, "cur AS MATERIALIZED (");
      return cur +
             "SELECT 0 AS part, NULL::bigint AS key, count(*) AS n,"
             " coalesce(avg(percentage), 0) AS f1, coalesce(stddev_pop(percentage), 0) AS f2,"
             " coalesce(min(percentage), 0) AS f3, coalesce(max(percentage), 0) AS f4,"
             " coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY percentage), 0) AS f5,"
             " NULL::text AS name FROM cur"
             " UNION ALL SELECT 1, least(greatest(floor(percentage / 10), 0), 9)::bigint,"
             " count(*), NULL, NULL, NULL, NULL, NULL, NULL FROM cur GROUP BY 2"
             " UNION ALL SELECT 2, g.question, count(*), avg(g.score), max(g.max_score),"
             " avg(g.score) / max(g.max_score),"
             " least(greatest(corr(g.score, c.total), -1), 1), NULL, NULL"
             " FROM cur c JOIN grading_results g ON g.task_id = c.id AND g.run = c.run"
             " GROUP BY g.question"
             " UNION ALL SELECT 3, NULL, count(*), NULL, NULL, NULL, NULL, NULL,"
             " e.kind COLLATE \"C\" FROM cur c JOIN grading_errors e"
             " ON e.task_id = c.id AND e.run = c.run GROUP BY e.kind"
             " ORDER BY part, key, n DESC, name";
    };
    static const std::array<std::string, 4> sql = {make(ScopeKind::kTask),
                                                   make(ScopeKind::kAssignment),
                                                   make(ScopeKind::kClass), make(ScopeKind::kExam)};
    GradingStatistics out;
    pool_.read_lag_tolerant(op, [&](pqxx::work& tx) {
      out = GradingStatistics();
      out.scope = scope;
      out.computed_at = check::truncate(now);
      out.distribution.assign(10, 0);
      require_scope(tx, op, scope);
      for (const auto& r : db::exec(tx, sql.at(static_cast<std::size_t>(scope.kind)), scope.id)) {
        switch (r[0].as<int>()) {
          case 0:
            out.count = r[2].as<std::int64_t>();
            out.mean_percentage = r[3].as<double>();
            out.stddev_percentage = r[4].as<double>();
            out.min_percentage = r[5].as<double>();
            out.max_percentage = r[6].as<double>();
            out.median_percentage = r[7].as<double>();
            break;
          case 1:
            out.distribution.at(r[1].as<std::size_t>()) = r[2].as<std::int64_t>();
            break;
          case 2: {
            QuestionStatistics q;
            q.question = r[1].as<std::int64_t>();
            q.count = r[2].as<std::int64_t>();
            q.mean_score = r[3].as<double>();
            q.max_score = r[4].as<double>();
            q.difficulty = r[5].as<double>();
            q.discrimination = opt<double>(r[6]);
            out.questions.push_back(q);
            break;
          }
          default:
            out.error_kinds.emplace_back(r[8].as<std::string>(), r[2].as<std::int64_t>());
        }
      }
    });
    return out;
  }

  std::vector<RankingRow> ranking(const Scope& scope) override {
    return read_ranking("grading ranking", scope, std::nullopt);
  }

  std::optional<RankingRow> ranking_row(const Scope& scope, StudentId student) override {
    const auto rows = read_ranking("grading ranking_row", scope, student);
    if (rows.empty()) return std::nullopt;
    return rows.front();
  }

  std::vector<examstore::Submission> submissions_of(StudentId student) override {
    std::vector<examstore::Submission> out;
    pool_.transact("grading submissions_of", [&](pqxx::work& tx) {
      out.clear();
      static const std::string sql = "SELECT " + kSubmissionColumns + kSubmissionFrom +
                                     "WHERE s.student_id = $1 ORDER BY s.id";
      for (const auto& r : db::exec(tx, sql, student)) out.push_back(read_submission(r));
    });
    return out;
  }

  std::vector<GradingTask> tasks_of(StudentId student) override {
    std::vector<GradingTask> out;
    pool_.transact("grading tasks_of", [&](pqxx::work& tx) {
      out.clear();
      static const std::string sql =
          "SELECT " + kTaskColumns + " FROM grading_tasks WHERE student_id = $1 ORDER BY id";
      for (const auto& r : db::exec(tx, sql, student)) out.push_back(read_task(r));
    });
    return out;
  }

  std::int64_t erase_text(StudentId student) override {
    const std::string op = "grading erase_text";
    std::int64_t changed = 0;
    pool_.transact(op, [&](pqxx::work& tx) {
      // The same checks as the function makes, for errors that name the student.
      const auto r = db::exec(
          tx, "SELECT erased_at IS NOT NULL FROM students WHERE id = $1 FOR SHARE", student);
      if (r.empty()) check::not_found(op, check::student_label(student));
      if (!r[0][0].as<bool>())
        check::conflict(op, check::student_label(student) + " is not erased");
      changed =
          db::exec1(tx, "SELECT examstore_erase_grading_text($1)", student)[0].as<std::int64_t>();
    });
    return changed;
  }

  std::vector<std::optional<RankingRow>> ranking_rows(const std::vector<Scope>& scopes,
                                                      StudentId student) override {
    const std::string op = "grading ranking_rows";
    std::vector<std::optional<RankingRow>> out(scopes.size());
    if (scopes.empty()) return out;
    // One branch of read_ranking's query per scope, tagged with its index.
    SqlParams p;
    const std::string who = p.add(student);
    std::string sql;
    for (std::size_t i = 0; i < scopes.size(); ++i) {
      grading_rules::require_rankable(op, scopes[i]);
      const bool by_class = scopes[i].kind == ScopeKind::kClass;
      const std::string id = p.add(scopes[i].id);
      if (i > 0) sql += " UNION ALL ";
      sql += "SELECT * FROM (" + current_runs(scopes[i].kind, id) + "SELECT " + std::to_string(i) +
             " AS i, " + (by_class ? "avg(c.percentage)" : "max(c.total)") +
             " AS score FROM cur c WHERE c.student_id = " + who +
             (by_class ? " AND EXISTS (SELECT 1 FROM class_members m WHERE m.class_id = " + id +
                             " AND m.student_id = c.student_id)"
                       : std::string()) +
             " GROUP BY c.student_id) q" + std::to_string(i);
    }
    pool_.read_lag_tolerant(op, [&](pqxx::work& tx) {
      std::fill(out.begin(), out.end(), std::nullopt);
      for (const auto& r : p.exec(tx, sql)) {
        out[r[0].as<std::size_t>()] = RankingRow{student, r[1].as<double>()};
      }
    });
    return out;
  }

 private:
  static std::optional<SchoolClass> get_class_tx(pqxx::work& tx, ClassId id) {
    const auto r = db::exec(tx, "SELECT " + kClassColumns + " FROM classes c WHERE c.id = $1", id);
    if (r.empty()) return std::nullopt;
    return read_class(r[0]);
  }

  // kNotFound naming the class; `lock` keeps it from changing under a write that refers to it.
  static void require_class(pqxx::work& tx, const std::string& op, ClassId id, bool lock) {
    if (db::exec(
            tx, std::string("SELECT 1 FROM classes WHERE id = $1") + (lock ? " FOR KEY SHARE" : ""),
            id)
            .empty()) {
      check::not_found(op, class_label(id));
    }
  }

  static void require_task(pqxx::work& tx, const std::string& op, GradingTaskId id) {
    if (db::exec(tx, "SELECT 1 FROM grading_tasks WHERE id = $1", id).empty()) {
      check::not_found(op, task_label(id));
    }
  }

  static void require_scope(pqxx::work& tx, const std::string& op, const Scope& scope) {
    switch (scope.kind) {
      case ScopeKind::kTask:
        require_task(tx, op, scope.id);
        return;
      case ScopeKind::kClass:
        require_class(tx, op, scope.id, false);
        return;
      case ScopeKind::kAssignment:
        if (db::exec(tx, "SELECT 1 FROM assignments WHERE id = $1", scope.id).empty()) {
          check::not_found(op, assignment_label(scope.id));
        }
        return;
      case ScopeKind::kExam:
        if (db::exec(tx, "SELECT 1 FROM exams WHERE id = $1", scope.id).empty()) {
          check::not_found(op, check::exam_label(scope.id));
        }
        return;
    }
  }

  // Why a fenced update matched nothing: kNotFound, or kConflict by the fencing rule.
  [[noreturn]] static void refuse(pqxx::work& tx, const std::string& op, GradingTaskId id,
                                  std::int64_t token) {
    const auto r = db::exec(tx, "SELECT state, token FROM grading_tasks WHERE id = $1", id);
    if (r.empty()) check::not_found(op, task_label(id));
    grading_rules::require_lease(op, id, read_state(r[0][0]), r[0][1].as<std::int64_t>(), token);
    check::conflict(op, task_label(id) + " changed meanwhile");
  }

  // The rows of one completion, under the task's row lock.
  static void write_completion(pqxx::work& tx, const GradingTask& t, const Completion& c) {
    const auto& grades = c.outcome.grades;
    ArrayText q(grades.size()), score(grades.size()), max(grades.size()), feedback(grades.size()),
        strategy(grades.size());
    for (const auto& g : grades) {
      q.add(g.question);
      score.add(num(g.score));
      max.add(num(g.max_score));
      feedback.add(g.feedback);
      strategy.add(g.strategy);
    }
    const std::int64_t now = to_micros(c.now);
    db::exec0(tx,
              "INSERT INTO grading_results (task_id, run, question, score, max_score, feedback,"
              " strategy, grader_kind, grader_name, model, model_version, prompt_sha256, token,"
              " created_at) SELECT $1, $2, u.q, u.s, u.m, u.f, u.st, $8, $9, $10, $11, $12, $13, " +
                  ts("$14") +
                  " FROM unnest($3::bigint[], $4::float8[], $5::float8[], $6::text[], $7::text[])"
                  " AS u(q, s, m, f, st)",
              t.id, t.run, q.str(), score.str(), max.str(), feedback.str(), strategy.str(),
              grading_rules::kind_name(c.grader.kind), c.grader.name, c.grader.model,
              c.grader.model_version, c.grader.prompt_sha256, c.token, now);
    const auto& errors = c.outcome.errors;
    if (!errors.empty()) {
      ArrayText eq(errors.size()), kind(errors.size()), kp(errors.size()), note(errors.size());
      for (const auto& e : errors) {
        eq.add(e.question);
        kind.add(e.kind);
        kp.add(e.knowledge_point);
        note.add(e.note);
      }
      db::exec0(
          tx,
          "INSERT INTO grading_errors (task_id, run, ord, question, kind, knowledge_point, note)"
          " SELECT $1, $2, u.o, u.q, u.k, u.p, u.n FROM unnest($3::bigint[], $4::text[],"
          " $5::text[], $6::text[]) WITH ORDINALITY AS u(q, k, p, n, o)",
          t.id, t.run, eq.str(), kind.str(), kp.str(), note.str());
    }
    db::exec0(
        tx,
        "INSERT INTO grading_runs (task_id, run, token, total_score, max_score, percentage,"
        " grade_level, completed_at) VALUES ($1, $2, $3, $4::float8, $5::float8, $6::float8, $7, " +
            ts("$8") + ")",
        t.id, t.run, c.token, num(c.total_score), num(c.max_score), num(c.percentage),
        c.outcome.grade_level, now);
    db::exec0(tx,
              "UPDATE grading_tasks SET state = 'completed', completed_at = " + ts("$2") +
                  " WHERE id = $1",
              t.id, now);
    if (t.submission_id) {
      db::exec0(tx,
                "UPDATE submissions SET total_score = $2::float8, max_score = $3::float8,"
                " percentage = $4::float8, grade_level = $5, evaluations = $6, annotations = $7"
                " WHERE id = $1",
                *t.submission_id, num(c.total_score), num(c.max_score), num(c.percentage),
                c.outcome.grade_level, c.outcome.evaluations, c.outcome.annotations);
    }
    if (t.attempt_id) {
      db::exec0(tx,
                "UPDATE attempts SET state = 'graded', version = version + 1, updated_at = now()"
                " WHERE id = $1 AND state IN ('submitted', 'overdue')",
                *t.attempt_id);
    }
  }

  std::vector<GradingResult> read_results(const std::string& op, const std::string& run_filter,
                                          GradingTaskId id) {
    const std::string sql = "SELECT " + kResultColumns +
                            " FROM grading_results WHERE task_id = $1" + run_filter +
                            " ORDER BY run, question";
    std::vector<GradingResult> out;
    pool_.transact(op, [&](pqxx::work& tx) {
      out.clear();
      require_task(tx, op, id);
      for (const auto& r : db::exec(tx, sql, id)) {
        out.push_back(read_result(r));
      }
    });
    return out;
  }

  // Assignment and exam: a student's best current total; class: the mean percentage over the
  // member's completed submissions. By score descending, then student.
  std::vector<RankingRow> read_ranking(const std::string& op, const Scope& scope,
                                       std::optional<StudentId> student) {
    grading_rules::require_rankable(op, scope);
    const bool by_class = scope.kind == ScopeKind::kClass;
    SqlParams p;
    const std::string id = p.add(scope.id);
    const std::string sql =
        current_runs(scope.kind, id) + "SELECT c.student_id, " +
        (by_class ? "avg(c.percentage)" : "max(c.total)") + " AS score FROM cur c WHERE true" +
        (student ? " AND c.student_id = " + p.add(*student) : std::string()) +
        (by_class ? " AND EXISTS (SELECT 1 FROM class_members m WHERE m.class_id = " + id +
                        " AND m.student_id = c.student_id)"
                  : std::string()) +
        " GROUP BY c.student_id ORDER BY score DESC, c.student_id";
    std::vector<RankingRow> out;
    pool_.read_lag_tolerant(op, [&](pqxx::work& tx) {
      out.clear();
      require_scope(tx, op, scope);
      for (const auto& r : p.exec(tx, sql)) {
        out.push_back({r[0].as<StudentId>(), r[1].as<double>()});
      }
    });
    return out;
  }

  PgPool& pool_;
};

}  // namespace

std::unique_ptr<GradingStore> make_pg_grading_store(PgPool& pool) {
  return std::make_unique<PgGradingStore>(pool);
}

}  // namespace examstore::db
