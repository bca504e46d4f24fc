// tests/contract/grading_store_test.cpp: the contract of grading/grading_db.hpp, one suite run
// against both GradingStore implementations (MemoryStores: db::make_memory_stores();
// PgStores: db::make_postgres_stores() over a fresh, migrated TempDatabase).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <pqxx/pqxx>

#include "db/pg_pool.hpp"
#include "db/store_checks.hpp"
#include "db/stores.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/grading.hpp"
#include "examstore/store.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::AssignmentId;
using examstore::AttemptState;
using examstore::ClassId;
using examstore::Error;
using examstore::ErrorCode;
using examstore::GradingState;
using examstore::GradingTaskId;
using examstore::ScopeKind;
using examstore::StudentId;
using examstore::TimePoint;
using examstore::db::Stores;

// Whole seconds, so every time survives the microsecond storage exactly.
const TimePoint kT0 =
    std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());

ErrorCode code_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::kInternal;  // no error: never what a test expects
}

// What both fixtures share: the helpers building the graph a test needs.
class Fixture {
 public:
  virtual ~Fixture() = default;
  Stores& stores() { return stores_; }
  examstore::db::GradingStore& g() { return *stores_.grading; }

  StudentId student() {
    const std::string no = "gs-" + std::to_string(++made_);
    return stores_.students->create({no, "Student " + no, "c1", "", ""}).id;
  }
  ClassId klass(const std::vector<StudentId>& members) {
    const ClassId id = g().create_class({"Class", "teacher-1", "math"}, kT0).id;
    g().add_members(id, members);
    return id;
  }
  examstore::Assignment assignment(ClassId c, int questions = 3, double max_score = 30) {
    examstore::NewAssignment a;
    a.class_id = c;
    a.teacher = "teacher-1";
    a.subject = "math";
    a.title = "Homework " + std::to_string(++made_);
    a.description = "Solve";
    a.rubric_text = "Each question 10 points";
    a.rubric_json = R"({"q": [1, 2, 3], "w": 1.5})";
    a.question_count = questions;
    a.max_score = max_score;
    a.mode = examstore::GradingMode::kMixed;
    a.deadline = kT0 + 1h;
    return g().create_assignment(a, kT0);
  }
  examstore::Submission submit(AssignmentId a, StudentId s, TimePoint at = kT0) {
    return g().submit({a, s, {"s3://bucket/" + std::to_string(s)}, at}, 3, at);
  }
  // One student in one class with one assignment, and the student's submission of it.
  struct Single {
    StudentId student = 0;
    examstore::Assignment assignment;
    examstore::Submission submission;
  };
  Single single() {
    Single x;
    x.student = student();
    x.assignment = assignment(klass({x.student}));
    x.submission = submit(x.assignment.id, x.student);
    return x;
  }
  examstore::ExamId exam() {
    return stores_.exams->create({"exam " + std::to_string(++made_), kT0 - 1h, kT0 + 2h, "{}"}).id;
  }
  // An attempt of the exam in the given state.
  examstore::AttemptId attempt(examstore::ExamId exam, StudentId s, AttemptState state) {
    const auto a = stores_.attempts->precreate({exam, paper(), 3600s, {s}});
    if (state != AttemptState::kNotStarted) {
      stores_.attempts->transition(a[0].id, {AttemptState::kNotStarted}, state, std::nullopt);
    }
    return a[0].id;
  }
  static examstore::PaperKey paper() { return {"school", "dept", "major", "grading101"}; }

  static examstore::ClaimRequest claim_request(const std::string& grader,
                                               std::chrono::seconds lease = 60s) {
    examstore::ClaimRequest r;
    r.grader.name = grader;
    r.grader.model = "model-x";
    r.lease = lease;
    return r;
  }
  // A completion with these per-question scores (each out of 10) and findings.
  static examstore::db::Completion completion(const examstore::Lease& l,
                                              const std::vector<double>& scores, TimePoint now,
                                              std::vector<examstore::ErrorFinding> errors = {}) {
    examstore::db::Completion c;
    c.task_id = l.task.id;
    c.token = l.token;
    c.grader.name = l.task.lease_owner;
    c.grader.model = "model-x";
    c.grader.model_version = "2026-01";
    c.grader.prompt_sha256 = std::string(64, 'a');
    for (std::size_t i = 0; i < scores.size(); ++i) {
      c.outcome.grades.push_back({static_cast<std::int64_t>(i + 1), scores[i], 10,
                                  "feedback " + std::to_string(i), "rubric"});
      c.total_score += scores[i];
      c.max_score += 10;
    }
    c.percentage = 100 * c.total_score / c.max_score;
    c.outcome.grade_level = c.percentage >= 60 ? "pass" : "fail";
    c.outcome.errors = std::move(errors);
    c.outcome.evaluations = R"({"overall": "ok"})";
    c.now = now;
    return c;
  }

 protected:
  Stores stores_;
  int made_ = 0;
};

class MemoryStores : public Fixture {
 public:
  MemoryStores() { stores_ = examstore::db::make_memory_stores(); }
};

class PgStores : public Fixture {
 public:
  PgStores() {
    examstore::Config c;
    c.with_database_url(db_.url());
    c.migrate_on_open = true;
    examstore::Store::open(c).reset();  // applies the migrations
    db_.query_value(
        "INSERT INTO papers (school, department, major, course)"
        " VALUES ('school', 'dept', 'major', 'grading101')");
    pool_ = std::make_unique<examstore::db::PgPool>(examstore::parse_postgres_url(db_.url()));
    stores_ = examstore::db::make_postgres_stores(*pool_);
  }
  ~PgStores() override { stores_ = Stores(); }

 private:
  examstore::test::TempDatabase db_;
  std::unique_ptr<examstore::db::PgPool> pool_;
};

}  // namespace

TEMPLATE_TEST_CASE("grading store keeps classes, members and assignments", "[grading_store]",
                   MemoryStores, PgStores) {
  TestType f;
  auto& g = f.g();
  const StudentId a = f.student(), b = f.student(), c = f.student();
  const auto k = g.create_class({"Class 1A", "teacher-1", "math"}, kT0 + 123456us);
  CHECK(k.created_at == kT0 + 123456us);
  CHECK(g.add_members(k.id, {c, a, a}) == 2);
  CHECK(g.add_members(k.id, {a, b}) == 1);
  CHECK(g.members(k.id) == std::vector<StudentId>{a, b, c});
  CHECK(g.get_class(k.id)->student_count == 3);
  CHECK(g.get_class(k.id)->name == "Class 1A");
  CHECK_FALSE(g.get_class(k.id + 1000).has_value());
  CHECK(code_of([&] { g.add_members(k.id, {a, 999999}); }) == ErrorCode::kNotFound);
  CHECK(code_of([&] { g.add_members(k.id + 1000, {a}); }) == ErrorCode::kNotFound);
  CHECK(code_of([&] { g.members(k.id + 1000); }) == ErrorCode::kNotFound);
  const ClassId k2 = f.klass({b});
  CHECK(g.classes_of(b) == std::vector<ClassId>{k.id, k2});
  CHECK(g.remove_members(k.id, {b, 999999}) == 1);
  CHECK(g.classes_of(b) == std::vector<ClassId>{k2});

  const auto made = f.assignment(k.id);
  const auto read = g.get_assignment(made.id);
  REQUIRE(read.has_value());
  CHECK(read->rubric_json == R"({"q": [1, 2, 3], "w": 1.5})");
  CHECK(read->rubric_text == made.rubric_text);
  CHECK(read->mode == examstore::GradingMode::kMixed);
  CHECK(read->deadline == kT0 + 1h);
  CHECK(read->question_count == 3);
  CHECK(read->max_score == 30);
  CHECK(g.assignments(k.id).size() == 1);
  CHECK(g.assignments(k2).empty());
  examstore::NewAssignment bad;
  bad.class_id = k.id + 1000;
  bad.title = "x";
  CHECK(code_of([&] { g.create_assignment(bad, kT0); }) == ErrorCode::kNotFound);
  CHECK(code_of([&] { g.assignments(k.id + 1000); }) == ErrorCode::kNotFound);
}

TEMPLATE_TEST_CASE("grading store submissions check membership, duplicates and keys",
                   "[grading_store]", MemoryStores, PgStores) {
  TestType f;
  auto& g = f.g();
  const StudentId a = f.student(), b = f.student(), outsider = f.student();
  const ClassId k = f.klass({a, b});
  const auto asg = f.assignment(k);
  const auto s = f.submit(asg.id, a, kT0 + 5s);
  CHECK_FALSE(s.late);
  CHECK(s.grading_state == GradingState::kPending);
  CHECK(s.answer_files == std::vector<std::string>{"s3://bucket/" + std::to_string(a)});
  const auto late = f.submit(asg.id, b, kT0 + 2h);
  CHECK(late.late);
  CHECK(code_of([&] { f.submit(asg.id, a); }) == ErrorCode::kConflict);
  CHECK(code_of([&] { f.submit(asg.id, outsider); }) == ErrorCode::kConflict);
  CHECK(code_of([&] { f.submit(asg.id + 1000, a); }) == ErrorCode::kNotFound);
  CHECK(code_of([&] { f.submit(asg.id, 999999); }) == ErrorCode::kNotFound);
  CHECK(code_of([&] { g.submissions(asg.id + 1000); }) == ErrorCode::kNotFound);
  const auto all = g.submissions(asg.id);
  REQUIRE(all.size() == 2);
  CHECK(all[0].id == s.id);
  const auto t = g.get_task(s.task_id);
  REQUIRE(t.has_value());
  CHECK(t->submission_id == s.id);
  CHECK_FALSE(t->attempt_id.has_value());
  CHECK(t->assignment_id == asg.id);
  CHECK(t->class_id == k);
  CHECK(t->student_id == a);
  CHECK(t->state == GradingState::kPending);
  CHECK(t->run == 1);
  CHECK(t->tries == 0);
  CHECK(t->max_tries == 3);
  CHECK(t->token == 0);
  CHECK(t->available_at == kT0 + 5s);
  CHECK(g.gradable_questions(t->id) == std::vector<std::int64_t>{1, 2, 3});
  CHECK(code_of([&] { g.gradable_questions(999999); }) == ErrorCode::kNotFound);
  examstore::TaskFilter filter;
  filter.assignment_id = asg.id;
  CHECK(g.tasks(filter).size() == 2);
  filter.limit = 1;
  CHECK(g.tasks(filter).size() == 1);
}

TEMPLATE_TEST_CASE("grading store claims the oldest claimable task first", "[grading_store]",
                   MemoryStores, PgStores) {
  TestType f;
  auto& g = f.g();
  const StudentId a = f.student(), b = f.student(), c = f.student();
  const ClassId k = f.klass({a, b, c});
  const auto one = f.assignment(k), two = f.assignment(k);
  const auto sb = f.submit(one.id, b, kT0 + 2s);
  const auto sa = f.submit(one.id, a, kT0 + 1s);
  const auto sc = f.submit(two.id, c, kT0 + 1s);
  const TimePoint now = kT0 + 10s;
  CHECK_FALSE(g.claim(f.claim_request("w"), kT0).has_value());  // none available yet
  auto r = f.claim_request("w1");
  r.assignment_id = one.id;
  const auto first = g.claim(r, now);
  REQUIRE(first.has_value());
  CHECK(first->task.id == sa.task_id);
  CHECK(first->token == 1);
  CHECK(first->task.tries == 1);
  CHECK(first->task.state == GradingState::kRunning);
  CHECK(first->task.lease_owner == "w1");
  CHECK(first->expires_at == now + 60s);
  CHECK(g.get_submission(sa.id)->grading_state == GradingState::kRunning);
  const auto second = g.claim(f.claim_request("w2"), now);
  REQUIRE(second.has_value());
  CHECK(second->task.id == sc.task_id);  // (available_at, id): sc before sb
  CHECK(g.claim(f.claim_request("w3"), now)->task.id == sb.task_id);
  CHECK_FALSE(g.claim(f.claim_request("w4"), now).has_value());

  // Exam tasks: one per submitted, overdue or graded attempt, once.
  const auto exam = f.exam();
  const StudentId d = f.student(), e = f.student(), h = f.student();
  const auto att = f.attempt(exam, d, AttemptState::kSubmitted);
  f.attempt(exam, e, AttemptState::kOverdue);
  f.attempt(exam, h, AttemptState::kInProgress);
  CHECK(g.create_exam_tasks(exam, 2, now) == 2);
  CHECK(g.create_exam_tasks(exam, 2, now) == 0);
  CHECK(code_of([&] { g.create_exam_tasks(999999, 2, now); }) == ErrorCode::kNotFound);
  auto re = f.claim_request("w5");
  re.exam_id = exam;
  const auto ex = g.claim(re, now);
  REQUIRE(ex.has_value());
  CHECK(ex->task.attempt_id == att);
  CHECK(ex->task.exam_id == exam);
  CHECK(ex->task.student_id == d);
  CHECK(ex->task.max_tries == 2);
  CHECK(g.gradable_questions(ex->task.id).empty());
  examstore::TaskFilter filter;
  filter.exam_id = exam;
  filter.state = GradingState::kPending;
  CHECK(g.tasks(filter).size() == 1);

  // Completing an exam task grades its attempt.
  g.complete(f.completion(*ex, {4, 5}, now));
  CHECK(f.stores().attempts->live(exam, d)->state == AttemptState::kGraded);
  const auto ranked = g.ranking({ScopeKind::kExam, exam});
  REQUIRE(ranked.size() == 1);
  CHECK(ranked[0].student_id == d);
  CHECK(ranked[0].score == 9);
  CHECK(g.statistics({ScopeKind::kExam, exam}, now).count == 1);
  CHECK(code_of([&] {
          g.ranking({ScopeKind::kTask, ex->task.id});
        }) == ErrorCode::kInvalidArgument);
}

TEMPLATE_TEST_CASE("grading store lease expiry hands the task over and fences the late worker",
                   "[grading_store]", MemoryStores, PgStores) {
  TestType f;
  auto& g = f.g();
  const auto sub = f.single().submission;
  const auto dead = g.claim(f.claim_request("dies", 30s), kT0);
  REQUIRE(dead.has_value());
  CHECK_FALSE(g.claim(f.claim_request("early"), kT0 + 29s).has_value());
  const auto live = g.claim(f.claim_request("lives", 30s), kT0 + 30s);
  REQUIRE(live.has_value());
  CHECK(live->task.id == dead->task.id);
  CHECK(live->token == dead->token + 1);
  CHECK(live->task.tries == 2);
  CHECK(live->task.lease_owner == "lives");

  const TimePoint now = kT0 + 40s;
  CHECK(code_of([&] { g.complete(f.completion(*dead, {1, 1, 1}, now)); }) == ErrorCode::kConflict);
  CHECK(code_of([&] { g.renew(dead->task.id, dead->token, 60s, now); }) == ErrorCode::kConflict);
  CHECK(code_of([&] { g.fail(dead->task.id, dead->token, "x", 0s, now); }) == ErrorCode::kConflict);
  CHECK(code_of([&] { g.renew(999999, 1, 60s, now); }) == ErrorCode::kNotFound);

  const auto renewed = g.renew(live->task.id, live->token, 100s, now);
  CHECK(renewed.expires_at == now + 100s);
  CHECK_FALSE(g.claim(f.claim_request("thief"), kT0 + 71s).has_value());  // renewed lease

  const auto first =
      g.complete(f.completion(*live, {10, 5, 0}, now + 1s, {{2, "concept", "kp", ""}}));
  CHECK_FALSE(first.receipt.replayed);
  CHECK(first.receipt.run == 1);
  CHECK(first.receipt.token == live->token);
  CHECK(first.receipt.total_score == 15);
  CHECK(first.receipt.percentage == 50);
  CHECK(first.receipt.completed_at == now + 1s);
  CHECK(first.task.state == GradingState::kCompleted);
  const auto again = g.complete(f.completion(*live, {10, 10, 10}, now + 9s));
  CHECK(again.receipt.replayed);
  CHECK(again.receipt.total_score == 15);
  CHECK(again.receipt.completed_at == now + 1s);
  CHECK(g.result_history(sub.task_id).size() == 3);  // the replay wrote nothing
  CHECK(code_of([&] { g.complete(f.completion(*dead, {1, 1, 1}, now)); }) == ErrorCode::kConflict);
  CHECK(code_of([&] { g.renew(live->task.id, live->token, 60s, now); }) == ErrorCode::kConflict);

  const auto s = g.get_submission(sub.id);
  CHECK(s->grading_state == GradingState::kCompleted);
  CHECK(s->total_score == 15);
  CHECK(s->max_score == 30);
  CHECK(s->percentage == 50);
  CHECK(s->grade_level == "fail");
  CHECK(s->evaluations == R"({"overall": "ok"})");
  const auto results = g.results(sub.task_id);
  REQUIRE(results.size() == 3);
  CHECK(results[1].grade.question == 2);
  CHECK(results[1].grade.score == 5);
  CHECK(results[1].grade.feedback == "feedback 1");
  CHECK(results[1].grader.model_version == "2026-01");
  CHECK(results[1].grader.prompt_sha256 == std::string(64, 'a'));
  CHECK(results[1].token == live->token);
  CHECK(results[1].created_at == now + 1s);
  const auto errors = g.error_analysis(sub.task_id);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].kind == "concept");
  CHECK(errors[0].knowledge_point == "kp");
  CHECK(code_of([&] { g.results(999999); }) == ErrorCode::kNotFound);
}

TEMPLATE_TEST_CASE("grading store saturates a lease or backoff at the end of time",
                   "[grading_store]", MemoryStores, PgStores) {
  TestType f;
  auto& g = f.g();
  f.single();
  // The latest whole second a TimePoint holds: a lease or backoff after it cannot be
  // represented, and must not wrap round to a time before it (found by UBSan).
  const TimePoint end = std::chrono::floor<std::chrono::seconds>(TimePoint::max());
  const auto l = g.claim(f.claim_request("g", 300s), end);
  REQUIRE(l.has_value());
  CHECK(l->expires_at >= end);
  CHECK(g.renew(l->task.id, l->token, 300s, end).expires_at >= end);
  const auto back = g.fail(l->task.id, l->token, "flaky", 300s, end);
  CHECK(back.state == GradingState::kPending);
  CHECK(back.available_at >= end);
}

TEMPLATE_TEST_CASE("grading store accepts a late completion while nobody reclaimed the task",
                   "[grading_store]", MemoryStores, PgStores) {
  TestType f;
  auto& g = f.g();
  const auto sub = f.single().submission;
  const auto l = g.claim(f.claim_request("slow", 30s), kT0);
  REQUIRE(l.has_value());
  // Past its lease, but the token is still the task's: accepted.
  const auto renewed = g.renew(l->task.id, l->token, 30s, kT0 + 100s);
  CHECK(renewed.expires_at == kT0 + 130s);
  const auto done = g.complete(f.completion(*l, {1, 2, 3}, kT0 + 200s));
  CHECK_FALSE(done.receipt.replayed);
  CHECK(g.get_task(sub.task_id)->completed_at == kT0 + 200s);
  // A failed try gives the task back; the next claim fences the earlier token.
  g.regrade(sub.task_id, "again", kT0 + 201s);
  const auto l2 = g.claim(f.claim_request("w"), kT0 + 201s);
  REQUIRE(l2.has_value());
  g.fail(l2->task.id, l2->token, "flaky", 0s, kT0 + 202s);
  CHECK(code_of([&] { g.renew(l2->task.id, l2->token, 30s, kT0 + 202s); }) ==
        ErrorCode::kConflict);  // pending now
  const auto l3 = g.claim(f.claim_request("w"), kT0 + 202s);
  REQUIRE(l3.has_value());
  CHECK(l3->token == l2->token + 1);
  CHECK(l3->task.tries == 2);
  CHECK(l3->task.run == 2);
  CHECK(code_of([&] {
          g.complete(f.completion(*l2, {1, 1, 1}, kT0 + 203s));
        }) == ErrorCode::kConflict);
  CHECK(g.complete(f.completion(*l3, {3, 3, 3}, kT0 + 203s)).receipt.run == 2);
}

TEMPLATE_TEST_CASE("grading store fail retries with backoff until the tries run out",
                   "[grading_store]", MemoryStores, PgStores) {
  TestType f;
  auto& g = f.g();
  const StudentId a = f.student(), b = f.student();
  const auto asg = f.assignment(f.klass({a, b}));
  const auto sub = f.submit(asg.id, a);
  TimePoint now = kT0;
  for (int i = 1; i <= 2; ++i) {
    const auto l = g.claim(f.claim_request("w"), now);
    REQUIRE(l.has_value());
    CHECK(l->task.tries == i);
    const auto t = g.fail(l->task.id, l->token, "model timeout", 30s, now);
    CHECK(t.state == GradingState::kPending);
    CHECK(t.available_at == now + 30s);
    CHECK(t.last_error == "model timeout");
    CHECK_FALSE(g.claim(f.claim_request("w"), now + 29s).has_value());
    now += 30s;
  }
  const auto l = g.claim(f.claim_request("w"), now);
  REQUIRE(l.has_value());
  CHECK(l->task.tries == 3);
  const auto t = g.fail(l->task.id, l->token, "gave up", 30s, now);
  CHECK(t.state == GradingState::kFailed);
  CHECK(g.get_submission(sub.id)->grading_state == GradingState::kFailed);
  CHECK(code_of([&] { g.fail(l->task.id, l->token, "again", 30s, now); }) == ErrorCode::kConflict);

  // Exhausted by lease expiry: three claims whose leases all lapse, then the next claim fails it.
  const auto other = f.submit(asg.id, b, now);
  for (int i = 0; i < 3; ++i) {
    const auto x = g.claim(f.claim_request("crashy", 10s), now);
    REQUIRE(x.has_value());
    CHECK(x->task.id == other.task_id);
    now += 10s;
  }
  CHECK_FALSE(g.claim(f.claim_request("w"), now).has_value());
  const auto failed = g.get_task(other.task_id);
  CHECK(failed->state == GradingState::kFailed);
  CHECK(failed->last_error == "lease expired after 3 tries");
}

TEMPLATE_TEST_CASE("grading store regrade keeps old rows and supersedes them", "[grading_store]",
                   MemoryStores, PgStores) {
  TestType f;
  auto& g = f.g();
  const auto sub = f.single().submission;
  const auto l1 = g.claim(f.claim_request("w"), kT0);
  g.complete(f.completion(*l1, {1, 2, 3}, kT0 + 1s, {{1, "calculation", "", "n"}}));
  CHECK(code_of([&] { g.regrade(999999, "x", kT0); }) == ErrorCode::kNotFound);
  const auto t = g.regrade(sub.task_id, "appeal", kT0 + 2s);
  CHECK(t.state == GradingState::kPending);
  CHECK(t.run == 2);
  CHECK(t.tries == 0);
  CHECK(t.last_error == "appeal");
  CHECK(code_of([&] { g.regrade(sub.task_id, "again", kT0 + 2s); }) == ErrorCode::kConflict);
  CHECK(g.results(sub.task_id).size() == 3);  // run 1 is still the current one
  CHECK(g.results(sub.task_id)[0].run == 1);
  // The first run's token replays the first receipt; it cannot complete the second run.
  CHECK(g.complete(f.completion(*l1, {3, 3, 3}, kT0 + 3s)).receipt.replayed);
  const auto l2 = g.claim(f.claim_request("w"), kT0 + 3s);
  REQUIRE(l2.has_value());
  CHECK(l2->token == l1->token + 1);
  const auto done = g.complete(f.completion(*l2, {9, 9, 9}, kT0 + 4s));
  CHECK(done.receipt.run == 2);
  const auto now_rows = g.results(sub.task_id);
  REQUIRE(now_rows.size() == 3);
  CHECK(now_rows[0].run == 2);
  CHECK(now_rows[0].grade.score == 9);
  CHECK_FALSE(now_rows[0].superseded);
  const auto history = g.result_history(sub.task_id);
  REQUIRE(history.size() == 6);
  CHECK(history[0].run == 1);
  CHECK(history[0].superseded);
  CHECK(history[5].run == 2);
  CHECK_FALSE(history[5].superseded);
  CHECK(g.error_analysis(sub.task_id).empty());  // the current run found none
  CHECK(g.get_submission(sub.id)->total_score == 27);
}

namespace {

// The statistics of a scope as a plain computation over the rows the store returns.
struct Expected {
  std::vector<double> pcts;
  std::map<std::int64_t, std::vector<std::pair<double, double>>> questions;  // score, total
  std::map<std::string, std::int64_t> kinds;
};

std::optional<double> plain_corr(const std::vector<std::pair<double, double>>& v) {
  if (v.size() < 2) return std::nullopt;
  double mx = 0, my = 0;
  for (const auto& [x, y] : v) {
    mx += x;
    my += y;
  }
  mx /= static_cast<double>(v.size());
  my /= static_cast<double>(v.size());
  double sxx = 0, syy = 0, sxy = 0;
  for (const auto& [x, y] : v) {
    sxx += (x - mx) * (x - mx);
    syy += (y - my) * (y - my);
    sxy += (x - mx) * (y - my);
  }
  if (sxx == 0 || syy == 0) return std::nullopt;
  return sxy / std::sqrt(sxx * syy);
}

void check_statistics(const examstore::GradingStatistics& st, Expected e) {
  REQUIRE(st.count == static_cast<std::int64_t>(e.pcts.size()));
  REQUIRE(st.distribution.size() == 10);
  if (e.pcts.empty()) return;
  std::sort(e.pcts.begin(), e.pcts.end());
  double mean = 0;
  for (const double p : e.pcts) mean += p;
  mean /= static_cast<double>(e.pcts.size());
  double var = 0;
  for (const double p : e.pcts) var += (p - mean) * (p - mean);
  var /= static_cast<double>(e.pcts.size());
  const std::size_t n = e.pcts.size();
  const double median = n % 2 ? e.pcts[n / 2] : (e.pcts[n / 2 - 1] + e.pcts[n / 2]) / 2;
  CHECK(st.mean_percentage == Approx(mean).epsilon(1e-9));
  CHECK(st.stddev_percentage == Approx(std::sqrt(var)).epsilon(1e-9).margin(1e-9));
  CHECK(st.min_percentage == e.pcts.front());
  CHECK(st.max_percentage == e.pcts.back());
  CHECK(st.median_percentage == Approx(median).epsilon(1e-12));
  std::vector<std::int64_t> bands(10, 0);
  for (const double p : e.pcts) bands[std::min(9, static_cast<int>(std::floor(p / 10)))] += 1;
  CHECK(st.distribution == bands);
  REQUIRE(st.questions.size() == e.questions.size());
  std::size_t i = 0;
  for (const auto& [q, rows] : e.questions) {
    const auto& qs = st.questions[i++];
    CHECK(qs.question == q);
    CHECK(qs.count == static_cast<std::int64_t>(rows.size()));
    double sum = 0;
    for (const auto& r : rows) sum += r.first;
    const double avg = sum / static_cast<double>(rows.size());
    CHECK(qs.mean_score == Approx(avg).epsilon(1e-9));
    CHECK(qs.max_score == 10);
    CHECK(qs.difficulty == Approx(avg / 10).epsilon(1e-9));
    const auto corr = plain_corr(rows);
    REQUIRE(qs.discrimination.has_value() == corr.has_value());
    if (corr) CHECK(*qs.discrimination == Approx(*corr).epsilon(1e-9).margin(1e-12));
  }
  std::vector<std::pair<std::string, std::int64_t>> kinds(e.kinds.begin(), e.kinds.end());
  std::stable_sort(kinds.begin(), kinds.end(),
                   [](const auto& x, const auto& y) { return x.second > y.second; });
  CHECK(st.error_kinds == kinds);
}

}  // namespace

TEMPLATE_TEST_CASE("grading store statistics and rankings match a plain computation over rows",
                   "[grading_store]", MemoryStores, PgStores) {
  TestType f;
  auto& g = f.g();
  std::mt19937 rng(20261122);
  std::vector<StudentId> students;
  for (int i = 0; i < 12; ++i) students.push_back(f.student());
  const ClassId k = f.klass(students);
  const auto one = f.assignment(k), two = f.assignment(k), empty = f.assignment(k);
  std::map<AssignmentId, Expected> expected;
  std::map<StudentId, std::vector<double>> class_pcts;
  std::map<AssignmentId, std::map<StudentId, double>> totals;
  const std::vector<std::string> kind_names = {"concept", "calculation", "Careless", "units"};
  TimePoint now = kT0;
  for (const AssignmentId asg : {one.id, two.id}) {
    for (std::size_t i = 0; i < students.size(); ++i) {
      if (asg == two.id && i % 3 == 0) continue;  // not everyone submitted the second one
      f.submit(asg, students[i], now);
    }
  }
  now += 1s;
  int completed = 0;
  while (const auto l = g.claim(f.claim_request("w"), now)) {
    if (++completed % 7 == 0) {  // some stay failed: not counted
      g.fail(l->task.id, l->token, "broken", 0s, now);
      continue;
    }
    std::vector<double> scores;
    for (int q = 0; q < 3; ++q) scores.push_back(static_cast<double>(rng() % 21) / 2);  // 0..10
    if (completed % 5 == 0) scores = {10, 10, 10};
    std::vector<examstore::ErrorFinding> errors;
    for (std::uint32_t n = rng() % 3; n > 0; --n) {
      errors.push_back({static_cast<std::int64_t>(1 + rng() % 3), kind_names[rng() % 4], "kp", ""});
    }
    g.complete(f.completion(*l, scores, now, errors));
  }
  // One regraded task: only its second run counts.
  const auto regraded = g.submissions(one.id)[0];
  g.regrade(regraded.task_id, "appeal", now);
  const auto l2 = g.claim(f.claim_request("w"), now);
  REQUIRE(l2.has_value());
  g.complete(f.completion(*l2, {0, 5, 1}, now, {{1, "concept", "", ""}}));

  // The expectation, from the rows the store gives back.
  for (const AssignmentId asg : {one.id, two.id}) {
    for (const auto& s : g.submissions(asg)) {
      if (s.grading_state != GradingState::kCompleted) continue;
      auto& e = expected[asg];
      e.pcts.push_back(*s.percentage);
      for (const auto& r : g.results(s.task_id)) {
        e.questions[r.grade.question].emplace_back(r.grade.score, *s.total_score);
      }
      for (const auto& x : g.error_analysis(s.task_id)) e.kinds[x.kind] += 1;
      class_pcts[s.student_id].push_back(*s.percentage);
      totals[asg][s.student_id] = *s.total_score;
    }
  }
  REQUIRE(expected[one.id].pcts.size() >= 8);
  check_statistics(g.statistics({ScopeKind::kAssignment, one.id}, now), expected[one.id]);
  check_statistics(g.statistics({ScopeKind::kAssignment, two.id}, now), expected[two.id]);
  check_statistics(g.statistics({ScopeKind::kAssignment, empty.id}, now), {});
  Expected whole = expected[one.id];
  for (const double p : expected[two.id].pcts) whole.pcts.push_back(p);
  for (const auto& [q, rows] : expected[two.id].questions) {
    for (const auto& r : rows) whole.questions[q].push_back(r);
  }
  for (const auto& [kind, n] : expected[two.id].kinds) whole.kinds[kind] += n;
  const auto class_stats = g.statistics({ScopeKind::kClass, k}, now + 1s);
  check_statistics(class_stats, whole);
  CHECK(class_stats.computed_at == now + 1s);
  CHECK(class_stats.scope.kind == ScopeKind::kClass);
  const auto task_stats = g.statistics({ScopeKind::kTask, regraded.task_id}, now);
  CHECK(task_stats.count == 1);
  CHECK(task_stats.mean_percentage == Approx(20));
  CHECK(task_stats.error_kinds ==
        std::vector<std::pair<std::string, std::int64_t>>{{"concept", 1}});
  CHECK(code_of([&] {
          g.statistics({ScopeKind::kAssignment, 999999}, now);
        }) == ErrorCode::kNotFound);
  CHECK(code_of([&] { g.statistics({ScopeKind::kExam, 999999}, now); }) == ErrorCode::kNotFound);

  // Rankings: by score descending, then student.
  const auto rows = g.ranking({ScopeKind::kAssignment, one.id});
  REQUIRE(rows.size() == totals[one.id].size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    CHECK(rows[i].score == totals[one.id].at(rows[i].student_id));
    if (i > 0) {
      CHECK(rows[i - 1].score >= rows[i].score);
      if (rows[i - 1].score == rows[i].score) CHECK(rows[i - 1].student_id < rows[i].student_id);
    }
  }
  const StudentId leaver = students[1];
  REQUIRE(class_pcts.count(leaver) == 1);
  const auto row = g.ranking_row({ScopeKind::kClass, k}, leaver);
  REQUIRE(row.has_value());
  double mean = 0;
  for (const double p : class_pcts[leaver]) mean += p;
  CHECK(row->score == Approx(mean / static_cast<double>(class_pcts[leaver].size())));
  CHECK(g.ranking({ScopeKind::kClass, k}).size() == class_pcts.size());
  // ranking_rows: ranking_row of each scope, in one read; a missing scope has no row.
  const std::vector<examstore::Scope> scopes{{ScopeKind::kAssignment, one.id},
                                             {ScopeKind::kClass, k},
                                             {ScopeKind::kAssignment, empty.id},
                                             {ScopeKind::kClass, 999999},
                                             {ScopeKind::kExam, 999999}};
  const auto together = g.ranking_rows(scopes, leaver);
  REQUIRE(together.size() == scopes.size());
  for (std::size_t i = 0; i < 3; ++i) {
    const auto alone = g.ranking_row(scopes[i], leaver);
    REQUIRE(together[i].has_value() == alone.has_value());
    if (alone) {
      CHECK(together[i]->student_id == leaver);
      CHECK(together[i]->score == Approx(alone->score));
    }
  }
  CHECK(together[0].has_value() == (totals[one.id].count(leaver) == 1));
  CHECK(together[1].has_value());
  CHECK_FALSE(together[2].has_value());
  CHECK_FALSE(together[3].has_value());
  CHECK_FALSE(together[4].has_value());
  CHECK(g.ranking_rows({}, leaver).empty());
  CHECK(code_of([&] {
          g.ranking_rows({{ScopeKind::kTask, 1}}, leaver);
        }) == ErrorCode::kInvalidArgument);
  g.remove_members(k, {leaver});  // members only
  CHECK_FALSE(g.ranking_row({ScopeKind::kClass, k}, leaver).has_value());
  CHECK_FALSE(g.ranking_rows({{ScopeKind::kClass, k}}, leaver).front().has_value());
  CHECK(g.ranking({ScopeKind::kClass, k}).size() == class_pcts.size() - 1);
  CHECK(g.ranking({ScopeKind::kAssignment, empty.id}).empty());
  CHECK(code_of([&] { g.ranking({ScopeKind::kClass, 999999}); }) == ErrorCode::kNotFound);
}

TEMPLATE_TEST_CASE("grading store two graders racing claim every task exactly once",
                   "[grading_store][concurrency]", MemoryStores, PgStores) {
  TestType f;
  auto& g = f.g();
  constexpr int kTasks = 200;
  std::vector<StudentId> students;
  for (int i = 0; i < kTasks; ++i) students.push_back(f.student());
  const auto asg = f.assignment(f.klass(students));
  for (const StudentId s : students) f.submit(asg.id, s);
  std::mutex mu;
  std::map<GradingTaskId, int> claimed;
  const auto worker = [&](const std::string& name) {
    while (const auto l = g.claim(f.claim_request(name), kT0 + 1s)) {
      g.complete(f.completion(*l, {1, 2, 3}, kT0 + 1s));
      std::lock_guard<std::mutex> lock(mu);
      claimed[l->task.id] += 1;
    }
  };
  std::thread t1(worker, "g1");
  std::thread t2(worker, "g2");
  t1.join();
  t2.join();
  CHECK(claimed.size() == kTasks);
  for (const auto& [id, n] : claimed) CHECK(n == 1);
  examstore::TaskFilter filter;
  filter.assignment_id = asg.id;
  filter.state = GradingState::kCompleted;
  filter.limit = 1000;
  CHECK(g.tasks(filter).size() == kTasks);
}

TEMPLATE_TEST_CASE("grading store blanks the free text of an erased student only",
                   "[grading_store][personal_data]", MemoryStores, PgStores) {
  TestType f;
  auto& g = f.g();
  const StudentId ann = f.student();
  const StudentId bob = f.student();
  const auto asg = f.assignment(f.klass({ann, bob}), 2, 20);
  f.submit(asg.id, ann);
  f.submit(asg.id, bob);
  for (int i = 0; i < 2; ++i) {
    const auto l = g.claim(f.claim_request("g1"), kT0 + 1s);
    REQUIRE(l);
    g.complete(f.completion(*l, {4, 6}, kT0 + 1s, {{1, "sign", "algebra", "mixed up signs"}}));
  }
  CHECK(g.submissions_of(ann).size() == 1);
  REQUIRE(g.tasks_of(ann).size() == 1);
  const GradingTaskId task = g.tasks_of(ann)[0].id;
  CHECK(g.tasks_of(bob)[0].id != task);
  // a second run: its rows are blanked too
  g.regrade(task, "appeal", kT0 + 2s);
  const auto again = g.claim(f.claim_request("g2"), kT0 + 3s);
  REQUIRE(again);
  REQUIRE(again->task.id == task);
  g.complete(f.completion(*again, {5, 6}, kT0 + 3s, {{2, "unit", "physics", "no units"}}));

  CHECK(code_of([&] { g.erase_text(ann); }) == ErrorCode::kConflict);  // not erased
  CHECK(code_of([&] { g.erase_text(ann + 1000); }) == ErrorCode::kNotFound);
  CHECK(g.result_history(task).at(0).grade.feedback == "feedback 0");  // nothing changed

  REQUIRE(f.stores().students->erase(ann) == examstore::db::ErasureOutcome::kErased);
  // 1 submission, 2 runs x 2 result rows, 2 findings
  CHECK(g.erase_text(ann) == 7);
  CHECK(g.erase_text(ann) == 0);
  const auto sub = g.submissions_of(ann).at(0);
  CHECK(sub.answer_files.empty());
  CHECK(sub.evaluations.empty());
  CHECK(sub.annotations.empty());
  CHECK(sub.total_score == 11);  // scores and grades stay
  CHECK(sub.grade_level == "fail");
  const auto history = g.result_history(task);
  REQUIRE(history.size() == 4);
  for (const auto& r : history) {
    CHECK(r.grade.feedback.empty());
    CHECK(r.grade.strategy == "rubric");
    CHECK(r.grader.model == "model-x");
  }
  CHECK(history[2].grade.score == 5);
  const auto findings = g.error_analysis(task);
  REQUIRE(findings.size() == 1);
  CHECK(findings[0].note.empty());
  CHECK(findings[0].kind == "unit");
  // the other student's records are untouched
  const auto bobs = g.submissions_of(bob).at(0);
  CHECK(bobs.answer_files.size() == 1);
  CHECK(bobs.evaluations == R"({"overall": "ok"})");
  CHECK(g.results(bobs.task_id).at(0).grade.feedback == "feedback 0");
  CHECK(g.error_analysis(bobs.task_id).at(0).note == "mixed up signs");
}

TEST_CASE("grading results, findings and runs are append-only for the application role",
          "[grading_store]") {
  examstore::test::TempDatabase db;
  db.migrate_and_restrict();
  const std::string role = examstore::test::TempDatabase::kAppRole;
  const auto denied = [&](const std::string& sql) {
    INFO(sql);
    CHECK_THROWS_AS(db.query_value_as(role, sql), pqxx::insufficient_privilege);
  };
  for (const std::string table : {"grading_results", "grading_errors", "grading_runs"}) {
    CHECK(db.query_value_as(role, "SELECT count(*) FROM " + table) == "0");
    denied("UPDATE " + table + " SET run = run + 1");
    denied("DELETE FROM " + table);
  }
  // ... but for the erasure function, which blanks the text of erased students only.
  const auto raised = [&](const std::string& sql) {
    INFO(sql);
    CHECK_THROWS_WITH(db.query_value_as(role, sql), Catch::Contains("is not erased"));
  };
  raised("SELECT examstore_erase_grading_text(1)");
  db.query_value(
      "INSERT INTO students (external_no, name, class_name, erased_at)"
      " VALUES ('x', 'erased', 'c', now())");
  CHECK(db.query_value_as(role, "SELECT examstore_erase_grading_text(id) FROM students") == "0");
  // The tasks and submissions themselves change as grading goes on.
  CHECK(db.query_value_as(role, "UPDATE grading_tasks SET run = run WHERE false").empty());
}
