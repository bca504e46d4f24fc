// tests/contract/grading_test.cpp: the public contract of examstore/grading.hpp (GradingRepo) on
// every backend pair: memory, Redis + PostgreSQL, Redis Cluster + PostgreSQL. Times are passed
// in, so lease expiry is tested by moving `now`, not by sleeping.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "examstore/error.hpp"
#include "examstore/grading.hpp"
#include "examstore/store.hpp"
#include "support/store_pair.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::Assignment;
using examstore::AssignmentId;
using examstore::ClaimRequest;
using examstore::ClassId;
using examstore::ErrorCode;
using examstore::GraderIdentity;
using examstore::GradingOutcome;
using examstore::GradingRepo;
using examstore::GradingState;
using examstore::Lease;
using examstore::QuestionGrade;
using examstore::Scope;
using examstore::ScopeKind;
using examstore::StudentId;
using examstore::Submission;
using examstore::TimePoint;
using examstore::test::code_of;

// Whole seconds, so every time survives the microsecond storage exactly.
const TimePoint kNow =
    std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());

GraderIdentity grader(const std::string& name) {
  GraderIdentity g;
  g.kind = GraderIdentity::Kind::kAi;
  g.name = name;
  g.model = "model-" + name;
  g.model_version = "2026-11";
  g.prompt_sha256 = std::string(64, 'a');
  return g;
}

ClaimRequest claim_of(const std::string& who, TimePoint now, std::chrono::seconds lease = 300s) {
  ClaimRequest r;
  r.grader = grader(who);
  r.lease = lease;
  r.now = now;
  return r;
}

// Grades for questions 1..n with the given scores, each out of 10.
GradingOutcome outcome(const std::vector<double>& scores) {
  GradingOutcome o;
  for (std::size_t i = 0; i < scores.size(); ++i) {
    o.grades.push_back(
        QuestionGrade{static_cast<std::int64_t>(i + 1), scores[i], 10, "ok", "rubric"});
  }
  return o;
}

// A class with `n` students and one assignment of `questions` questions, each student submitted.
struct World {
  ClassId cls = 0;
  AssignmentId assignment = 0;
  std::vector<StudentId> students;
  std::vector<Submission> submissions;
};

template <typename Pair>
StudentId new_student(Pair& pair) {
  const std::string no = examstore::test::unique_name("gs");
  return pair.store().students().create({no, "student " + no, "c1", "", ""}).id;
}

template <typename Pair>
AssignmentId new_assignment(Pair& pair, ClassId cls, int questions = 2) {
  examstore::NewAssignment a;
  a.class_id = cls;
  a.teacher = "t1";
  a.subject = "math";
  a.title = "homework";
  a.question_count = questions;
  a.max_score = 10.0 * questions;
  a.deadline = kNow + 24h;
  return pair.store().grading().create_assignment(a).id;
}

template <typename Pair>
World world(Pair& pair, int n, int questions = 2) {
  GradingRepo& g = pair.store().grading();
  World w;
  w.cls = g.create_class({"class 1", "t1", "math"}).id;
  for (int i = 0; i < n; ++i) w.students.push_back(new_student(pair));
  REQUIRE(g.add_members(w.cls, w.students) == n);
  w.assignment = new_assignment(pair, w.cls, questions);
  for (const StudentId s : w.students) {
    w.submissions.push_back(
        g.submit({w.assignment, s, {"s3://bucket/" + std::to_string(s)}, kNow - 10min}));
  }
  return w;
}

// Claims the task of `s` (the only claimable one of its assignment) and completes it.
template <typename Pair>
examstore::CompletionReceipt grade(Pair& pair, AssignmentId a, const GradingOutcome& o,
                                   TimePoint now = kNow) {
  ClaimRequest r = claim_of("g", now);
  r.assignment_id = a;
  const auto lease = pair.store().grading().claim(r);
  REQUIRE(lease);
  return pair.store().grading().complete(*lease, o, now);
}
template <typename Pair>
examstore::CompletionReceipt grade(Pair& pair, AssignmentId a, const std::vector<double>& scores,
                                   TimePoint now = kNow) {
  return grade(pair, a, outcome(scores), now);
}

std::string message_of(const std::function<void()>& f) {
  std::string m;
  CHECK(code_of(f, &m) == ErrorCode::kInvalidArgument);
  return m;
}

}  // namespace

#define GRADING_PAIRS                                              \
  examstore::test::MemoryPair, examstore::test::RedisPostgresPair, \
      examstore::test::ClusterPostgresPair

TEMPLATE_TEST_CASE(
    "grading lease expiry: a dead worker's task is reclaimed and its late "
    "completion fenced",
    "[grading]", GRADING_PAIRS) {
  TestType pair;
  GradingRepo& g = pair.store().grading();
  const World w = world(pair, 1);
  ClaimRequest a_req = claim_of("A", kNow, 30s);
  a_req.assignment_id = w.assignment;
  const auto a = g.claim(a_req);
  REQUIRE(a);
  CHECK(a->task.id == w.submissions[0].task_id);
  CHECK(a->task.state == GradingState::kRunning);
  CHECK(a->expires_at == kNow + 30s);

  ClaimRequest b_req = claim_of("B", kNow + 29s);
  b_req.assignment_id = w.assignment;
  CHECK_FALSE(g.claim(b_req));  // A's lease still runs
  b_req.now = kNow + 31s;
  const auto b = g.claim(b_req);
  REQUIRE(b);
  CHECK(b->task.id == a->task.id);
  CHECK(b->token > a->token);
  CHECK(b->task.lease_owner == "B");

  std::string m;
  CHECK(code_of([&] { g.complete(*a, outcome({1, 1}), kNow + 32s); }, &m) == ErrorCode::kConflict);
  const auto receipt = g.complete(*b, outcome({7, 8}), kNow + 33s);
  CHECK_FALSE(receipt.replayed);
  CHECK(receipt.token == b->token);
  CHECK(receipt.total_score == 15);
  CHECK(receipt.percentage == Approx(75));
  CHECK(receipt.grade_level == "C");

  const auto results = g.results(b->task.id);
  REQUIRE(results.size() == 2);
  for (const auto& r : results) {
    CHECK(r.grader.name == "B");
    CHECK(r.grader.model == "model-B");
    CHECK(r.token == b->token);
  }
  CHECK(results[0].grade.score == 7);
  CHECK(g.get_task(b->task.id)->state == GradingState::kCompleted);
  const auto sub = g.get_submission(w.submissions[0].id);
  REQUIRE(sub);
  CHECK(sub->grading_state == GradingState::kCompleted);
  CHECK(sub->total_score == 15);

  const auto m2 = pair.store().metrics().grading;
  CHECK(m2.claims == 2);
  CHECK(m2.reclaims == 1);
  CHECK(m2.fenced == 1);
  CHECK(m2.completions == 1);
}

TEMPLATE_TEST_CASE("grading concurrent graders complete every task exactly once",
                   "[grading][concurrency]", GRADING_PAIRS) {
  TestType pair;
  GradingRepo& g = pair.store().grading();
  const World w = world(pair, 100);
  std::mutex mu;
  std::multiset<examstore::GradingTaskId> done;  // guarded by mu
  std::vector<std::thread> graders;
  for (int i = 0; i < 4; ++i) {
    graders.emplace_back([&, i] {
      ClaimRequest r = claim_of("worker-" + std::to_string(i), kNow);
      r.assignment_id = w.assignment;
      while (auto lease = g.claim(r)) {
        const auto receipt = g.complete(*lease, outcome({5, 6}), kNow);
        if (!receipt.replayed) {
          std::lock_guard<std::mutex> l(mu);
          done.insert(receipt.task_id);
        }
      }
    });
  }
  for (auto& t : graders) t.join();
  CHECK(done.size() == 100);
  CHECK(std::set<examstore::GradingTaskId>(done.begin(), done.end()).size() == 100);
  for (const Submission& s : w.submissions) {
    CHECK(done.count(s.task_id) == 1);
    CHECK(g.result_history(s.task_id).size() == 2);  // one run, two questions: no row twice
    CHECK(g.get_task(s.task_id)->state == GradingState::kCompleted);
  }
  const auto m = pair.store().metrics().grading;
  CHECK(m.completions == 100);
  CHECK(m.claims == 100);
  CHECK(m.replays == 0);
}

TEMPLATE_TEST_CASE(
    "grading completion is idempotent, fail retries then fails, regrade "
    "supersedes",
    "[grading]", GRADING_PAIRS) {
  TestType pair;
  GradingRepo& g = pair.store().grading();
  const World w = world(pair, 1);
  const StudentId s = w.students[0];

  SECTION("a repeated completion returns the first receipt and writes nothing") {
    ClaimRequest r = claim_of("A", kNow);
    r.assignment_id = w.assignment;
    const auto lease = g.claim(r);
    REQUIRE(lease);
    const auto first = g.complete(*lease, outcome({9, 10}), kNow + 1s);
    const auto again = g.complete(*lease, outcome({1, 1}), kNow + 2s);
    CHECK_FALSE(first.replayed);
    CHECK(again.replayed);
    CHECK(again.task_id == first.task_id);
    CHECK(again.run == first.run);
    CHECK(again.token == first.token);
    CHECK(again.total_score == 19);
    CHECK(again.grade_level == "A");
    CHECK(again.completed_at == first.completed_at);
    CHECK(g.result_history(first.task_id).size() == 2);
    const auto m = pair.store().metrics().grading;
    CHECK(m.completions == 1);
    CHECK(m.replays == 1);
  }

  SECTION("fail gives the task back after the backoff until max_tries, then it is failed") {
    ClaimRequest r = claim_of("A", kNow);
    r.assignment_id = w.assignment;
    const auto backoff = pair.store().config().grading.retry_backoff;
    TimePoint t = kNow;
    for (int i = 1; i <= 3; ++i) {
      r.now = t;
      const auto lease = g.claim(r);
      REQUIRE(lease);
      CHECK(lease->task.tries == i);
      const auto after = g.fail(*lease, "model timed out", t + 1s);
      CHECK(after.last_error == "model timed out");
      if (i < 3) {
        CHECK(after.state == GradingState::kPending);
        r.now = t + 2s;
        CHECK_FALSE(g.claim(r));  // backing off
      } else {
        CHECK(after.state == GradingState::kFailed);
      }
      t += backoff + 2s;
    }
    r.now = t;
    CHECK_FALSE(g.claim(r));
    const auto m = pair.store().metrics().grading;
    CHECK(m.failures == 3);
    CHECK(m.reclaims == 0);  // retries after fail() are not reclaims
    CHECK(g.get_submission(w.submissions[0].id)->grading_state == GradingState::kFailed);
    // A failed task can be regraded.
    const auto again = g.regrade(w.submissions[0].task_id, "retry by hand", t);
    CHECK(again.state == GradingState::kPending);
    CHECK(again.run == 2);
  }

  SECTION("regrade supersedes the earlier run without deleting it") {
    const auto r1 = grade(pair, w.assignment, {5, 5});
    CHECK(g.results(r1.task_id).front().grade.score == 5);  // now cached
    CHECK(code_of([&] { g.regrade(r1.task_id, "", kNow); }) == std::nullopt);
    CHECK(code_of([&] { g.regrade(r1.task_id, "", kNow); }) == ErrorCode::kConflict);
    const auto task = g.get_task(r1.task_id);
    REQUIRE(task);
    CHECK(task->state == GradingState::kPending);
    CHECK(task->run == 2);
    const auto r2 = grade(pair, w.assignment, {9, 9}, kNow + 1s);
    CHECK(r2.task_id == r1.task_id);
    CHECK(r2.run == 2);
    const auto current = g.results(r1.task_id);
    REQUIRE(current.size() == 2);
    for (const auto& row : current) {
      CHECK(row.run == 2);
      CHECK(row.grade.score == 9);
      CHECK_FALSE(row.superseded);
    }
    const auto history = g.result_history(r1.task_id);
    REQUIRE(history.size() == 4);
    CHECK(history[0].run == 1);
    CHECK(history[0].superseded);
    CHECK(history[3].run == 2);
    CHECK_FALSE(history[3].superseded);
    CHECK(g.get_submission(w.submissions[0].id)->total_score == 18);
    CHECK(g.rank_of({ScopeKind::kAssignment, w.assignment}, s)->score == 18);
  }
}

TEMPLATE_TEST_CASE(
    "grading statistics match a plain computation over the results and are "
    "cached until a completion",
    "[grading]", GRADING_PAIRS) {
  TestType pair;
  GradingRepo& g = pair.store().grading();
  const World w = world(pair, 5, 3);
  const std::vector<std::vector<double>> scores = {
      {10, 9, 8}, {7, 6, 5}, {10, 2, 3}, {4, 4, 4}, {9, 10, 10}};
  for (std::size_t i = 0; i < scores.size(); ++i) {
    GradingOutcome o = outcome(scores[i]);
    if (i == 1) o.errors = {{2, "calculation", "math/algebra", ""}, {3, "concept", "", ""}};
    if (i == 3) o.errors = {{2, "calculation", "", "sign error"}};
    grade(pair, w.assignment, o);
  }

  // The plain computation, from results() of each task.
  std::vector<double> pct;
  std::vector<double> totals;
  std::map<std::int64_t, std::vector<double>> by_question;
  for (const Submission& sub : w.submissions) {
    double total = 0;
    double max = 0;
    for (const auto& r : g.results(sub.task_id)) {
      total += r.grade.score;
      max += r.grade.max_score;
      by_question[r.grade.question].push_back(r.grade.score);
    }
    totals.push_back(total);
    pct.push_back(100 * total / max);
  }
  const double n = static_cast<double>(pct.size());
  double mean = 0;
  for (const double p : pct) mean += p / n;
  double var = 0;
  for (const double p : pct) var += (p - mean) * (p - mean) / n;
  std::vector<double> sorted = pct;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::int64_t> bands(10, 0);
  for (const double p : pct) ++bands[std::min<std::size_t>(9, static_cast<std::size_t>(p / 10))];
  auto pearson = [](const std::vector<double>& x, const std::vector<double>& y) {
    double mx = 0, my = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      mx += x[i] / static_cast<double>(x.size());
      my += y[i] / static_cast<double>(y.size());
    }
    double sxy = 0, sxx = 0, syy = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      sxy += (x[i] - mx) * (y[i] - my);
      sxx += (x[i] - mx) * (x[i] - mx);
      syy += (y[i] - my) * (y[i] - my);
    }
    return sxy / std::sqrt(sxx * syy);
  };
  // Question 1 by hand: x = 10 7 10 4 9 (mean 8), totals = 27 18 15 12 29 (mean 20.2):
  // sxy = 2*6.8 + (-1)(-2.2) + 2(-5.2) + (-4)(-8.2) + 1*8.8 = 47, sxx = 26, syy = 222.8.
  CHECK(pearson(by_question[1], totals) == Approx(47 / std::sqrt(26 * 222.8)));

  const auto st = g.statistics({ScopeKind::kAssignment, w.assignment});
  CHECK(st.scope.kind == ScopeKind::kAssignment);
  CHECK(st.scope.id == w.assignment);
  CHECK(st.count == 5);
  CHECK(st.mean_percentage == Approx(mean));
  CHECK(st.stddev_percentage == Approx(std::sqrt(var)));
  CHECK(st.min_percentage == Approx(sorted.front()));
  CHECK(st.max_percentage == Approx(sorted.back()));
  CHECK(st.median_percentage == Approx(sorted[2]));
  CHECK(st.distribution == bands);
  REQUIRE(st.questions.size() == 3);
  for (const auto& q : st.questions) {
    const auto& xs = by_question[q.question];
    double qm = 0;
    for (const double x : xs) qm += x / static_cast<double>(xs.size());
    CHECK(q.count == 5);
    CHECK(q.mean_score == Approx(qm));
    CHECK(q.max_score == Approx(10));
    CHECK(q.difficulty == Approx(qm / 10));
    REQUIRE(q.discrimination);
    CHECK(*q.discrimination == Approx(pearson(xs, totals)));
  }
  REQUIRE(st.error_kinds.size() == 2);
  CHECK(st.error_kinds[0] == std::make_pair(std::string("calculation"), std::int64_t{2}));
  CHECK(st.error_kinds[1] == std::make_pair(std::string("concept"), std::int64_t{1}));

  // The class has this one assignment: the same figures.
  const auto cs = g.statistics({ScopeKind::kClass, w.cls});
  CHECK(cs.count == 5);
  CHECK(cs.mean_percentage == Approx(mean));
  // One task.
  const auto ts = g.statistics({ScopeKind::kTask, w.submissions[0].task_id});
  CHECK(ts.count == 1);
  CHECK(ts.mean_percentage == Approx(pct[0]));

  // A second read is served by the hot tier.
  const auto before = pair.store().metrics().grading.cache;
  const auto again = g.statistics({ScopeKind::kAssignment, w.assignment});
  const auto after = pair.store().metrics().grading.cache;
  CHECK(after.hits == before.hits + 1);
  CHECK(after.misses == before.misses);
  CHECK(again.computed_at == st.computed_at);
  CHECK(again.mean_percentage == st.mean_percentage);
  CHECK(after.hit_rate > 0);

  // A completion after the read shows in the next one.
  const StudentId late = new_student(pair);
  g.add_members(w.cls, {late});
  g.submit({w.assignment, late, {}, kNow});
  grade(pair, w.assignment, {1, 1, 1}, kNow + 1s);
  const auto fresh = g.statistics({ScopeKind::kAssignment, w.assignment});
  CHECK(fresh.count == 6);
  CHECK(fresh.min_percentage == Approx(10));
  CHECK(g.statistics({ScopeKind::kClass, w.cls}).count == 6);
}

TEMPLATE_TEST_CASE("grading rankings: ties, top, around, rebuild and updates", "[grading]",
                   GRADING_PAIRS) {
  TestType pair;
  GradingRepo& g = pair.store().grading();
  const World w = world(pair, 4);
  const Scope scope{ScopeKind::kAssignment, w.assignment};
  // Graded in submission order: students get 18, 16, 16, 14.
  grade(pair, w.assignment, {9, 9});
  grade(pair, w.assignment, {8, 8});
  grade(pair, w.assignment, {10, 6});
  grade(pair, w.assignment, {7, 7});
  const auto& s = w.students;

  const auto m0 = pair.store().metrics().grading;
  std::vector<std::int64_t> ranks;
  for (const StudentId id : s) ranks.push_back(g.rank_of(scope, id)->rank);
  CHECK(ranks == std::vector<std::int64_t>{1, 2, 2, 4});
  CHECK(g.rank_of(scope, s[1])->score == 16);
  const auto m1 = pair.store().metrics().grading;
  CHECK(m1.ranking_rebuilds == m0.ranking_rebuilds + 1);  // the first read built it
  CHECK(m1.ranking_hits >= m0.ranking_hits + 3);

  const auto top = g.top(scope, 3);
  REQUIRE(top.size() == 3);
  CHECK(top[0].student_id == s[0]);
  CHECK(top[0].rank == 1);
  CHECK(top[1].student_id == s[1]);  // equal scores: by student id
  CHECK(top[1].rank == 2);
  CHECK(top[2].student_id == s[2]);
  CHECK(top[2].rank == 2);
  CHECK(g.top(scope, 1000).size() == 4);

  const auto near = g.around(scope, s[2], 1);
  REQUIRE(near.size() == 3);
  CHECK(near[0].student_id == s[1]);
  CHECK(near[1].student_id == s[2]);
  CHECK(near[2].student_id == s[3]);
  CHECK(near[2].rank == 4);
  CHECK(g.around(scope, s[0], 0).size() == 1);
  CHECK(g.around(scope, s[3], 500).size() == 4);

  // Deleted from the hot tier: rebuilt from the database with the same answers.
  const std::string key =
      pair.config().key_prefix + ":ranking:{a:" + std::to_string(w.assignment) + "}";
  CHECK(pair.store().cache().zcard(key) == 4);
  pair.store().cache().del({key});
  const auto m2 = pair.store().metrics().grading;
  CHECK(g.rank_of(scope, s[3])->rank == 4);
  CHECK(pair.store().metrics().grading.ranking_rebuilds == m2.ranking_rebuilds + 1);
  const auto rebuilt = g.top(scope, 3);
  REQUIRE(rebuilt.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(rebuilt[i].student_id == top[i].student_id);
    CHECK(rebuilt[i].rank == top[i].rank);
    CHECK(rebuilt[i].score == top[i].score);
  }

  // A completion updates the loaded ranking without a rebuild.
  const StudentId best = new_student(pair);
  g.add_members(w.cls, {best});
  g.submit({w.assignment, best, {}, kNow});
  grade(pair, w.assignment, {10, 10}, kNow + 1s);
  const auto m3 = pair.store().metrics().grading;
  CHECK(g.rank_of(scope, best)->rank == 1);
  CHECK(g.rank_of(scope, s[0])->rank == 2);
  CHECK(g.rank_of(scope, s[3])->rank == 5);
  CHECK(pair.store().metrics().grading.ranking_rebuilds == m3.ranking_rebuilds);

  // Not ranked: no entry.
  const StudentId idle = new_student(pair);
  CHECK_FALSE(g.rank_of(scope, idle));
  CHECK(g.around(scope, idle, 3).empty());
}

TEMPLATE_TEST_CASE("grading class ranking over two assignments", "[grading]", GRADING_PAIRS) {
  TestType pair;
  GradingRepo& g = pair.store().grading();
  const World w = world(pair, 3);  // assignment 1: all three submitted
  const AssignmentId second = new_assignment(pair, w.cls);
  const auto& s = w.students;
  // Assignment 1: 80 %, 90 %, 50 %.
  grade(pair, w.assignment, {8, 8});
  grade(pair, w.assignment, {9, 9});
  grade(pair, w.assignment, {5, 5});
  // Assignment 2: students 0 and 2 only: 60 %, 100 %.
  g.submit({second, s[0], {}, kNow - 5min});
  g.submit({second, s[2], {}, kNow - 4min});
  grade(pair, second, {6, 6});
  grade(pair, second, {10, 10});
  const Scope cls{ScopeKind::kClass, w.cls};
  // Means: s0 70, s1 90, s2 75.
  const auto top = g.top(cls, 10);
  REQUIRE(top.size() == 3);
  CHECK(top[0].student_id == s[1]);
  CHECK(top[0].score == Approx(90));
  CHECK(top[1].student_id == s[2]);
  CHECK(top[1].score == Approx(75));
  CHECK(top[2].student_id == s[0]);
  CHECK(top[2].rank == 3);
  CHECK(g.top({ScopeKind::kAssignment, second}, 10).front().student_id == s[2]);

  // A member removed leaves the class ranking.
  g.remove_members(w.cls, {s[1]});
  CHECK_FALSE(g.rank_of(cls, s[1]));
  CHECK(g.rank_of(cls, s[2])->rank == 1);

  // An empty ranking is remembered, not rebuilt on every read.
  const AssignmentId empty = new_assignment(pair, w.cls);
  const Scope none{ScopeKind::kAssignment, empty};
  CHECK(g.top(none, 5).empty());
  const auto m = pair.store().metrics().grading;
  CHECK(g.top(none, 5).empty());
  CHECK(pair.store().metrics().grading.ranking_rebuilds == m.ranking_rebuilds);
  CHECK(pair.store().metrics().grading.ranking_hits == m.ranking_hits + 1);
}

TEMPLATE_TEST_CASE("grading exam tasks grade attempts", "[grading]", GRADING_PAIRS) {
  TestType pair;
  examstore::Store& st = pair.store();
  GradingRepo& g = st.grading();
  const examstore::PaperKey paper{"tsinghua", "cs", "se", "grading"};
  std::vector<examstore::QuestionId> qs;
  std::vector<examstore::PaperOp> ops;
  for (int i = 0; i < 2; ++i) {
    qs.push_back(pair.question(examstore::QuestionType::kSingle));
    ops.push_back({examstore::PaperOp::Kind::kAppend, 0, 0, qs.back()});
  }
  st.papers().apply(paper, ops);
  const examstore::ExamId exam = st.exams().create({"final", kNow - 1h, kNow + 2h, "{}"}).id;
  const std::vector<StudentId> s = {new_student(pair), new_student(pair), new_student(pair)};
  REQUIRE(st.attempts().precreate({exam, paper, 3600s, s}) == 3);
  for (int i = 0; i < 2; ++i) {
    st.attempts().start(exam, s[static_cast<std::size_t>(i)], kNow - 30min,
                        examstore::Durability::kCommitted);
    st.attempts().submit(exam, s[static_cast<std::size_t>(i)], kNow - 20min);
  }
  CHECK(st.attempts().get(exam, s[0])->state == examstore::AttemptState::kSubmitted);

  CHECK(g.create_exam_tasks(exam) == 2);  // the third never started
  CHECK(g.create_exam_tasks(exam) == 0);
  examstore::TaskFilter f;
  f.exam_id = exam;
  CHECK(g.tasks(f).size() == 2);

  // Exam tasks become claimable when create_exam_tasks() ran (the system clock).
  const TimePoint now = std::chrono::system_clock::now() + 1s;
  ClaimRequest r = claim_of("ai", now);
  r.exam_id = exam;
  const auto lease = g.claim(r);
  REQUIRE(lease);
  REQUIRE(lease->task.attempt_id);
  CHECK(lease->task.exam_id == exam);
  const StudentId who = lease->task.student_id;

  GradingOutcome bad;
  bad.grades = {{qs[0], 1, 1, "", ""}, {qs[1] + 1000, 1, 1, "", ""}};
  std::string m;
  CHECK(code_of([&] { g.complete(*lease, bad, now); }, &m) == ErrorCode::kInvalidArgument);
  CHECK(m.find("grades[1].question") != std::string::npos);

  GradingOutcome good;
  good.grades = {{qs[0], 1, 1, "", "exact"}, {qs[1], 0, 1, "", "exact"}};
  const auto receipt = g.complete(*lease, good, now);
  CHECK(receipt.percentage == Approx(50));
  CHECK(receipt.grade_level == "F");
  CHECK(st.attempts().get(exam, who)->state == examstore::AttemptState::kGraded);
  const StudentId other = who == s[0] ? s[1] : s[0];
  CHECK(st.attempts().get(exam, other)->state == examstore::AttemptState::kSubmitted);
  const auto rank = g.rank_of({ScopeKind::kExam, exam}, who);
  REQUIRE(rank);
  CHECK(rank->rank == 1);
  CHECK(rank->score == 1);
  CHECK(g.statistics({ScopeKind::kExam, exam}).count == 1);
}

TEMPLATE_TEST_CASE("grading refuses bad input naming the field", "[grading]", GRADING_PAIRS) {
  TestType pair;
  GradingRepo& g = pair.store().grading();
  const World w = world(pair, 1);
  auto names = [&](const std::string& field, const std::function<void()>& f) {
    const std::string m = message_of(f);
    INFO(m);
    CHECK(m.find(": " + field + ": ") != std::string::npos);  // "<operation>: <field>: why"
  };
  names("name", [&] { g.create_class({"", "t", "s"}); });
  names("name", [&] { g.create_class({"bad \xff utf8", "t", "s"}); });
  names("teacher", [&] { g.create_class({"c", std::string(201, 't'), "s"}); });
  names("subject", [&] { g.create_class({"c", "t", std::string(101, 's')}); });
  names("students[1]", [&] { g.add_members(w.cls, {w.students[0], -4}); });
  names("class_id", [&] { g.members(0); });

  examstore::NewAssignment a;
  a.class_id = w.cls;
  a.teacher = "t";
  a.subject = "s";
  a.title = "x";
  a.deadline = kNow;
  auto with = [&](const std::function<void(examstore::NewAssignment&)>& change) {
    examstore::NewAssignment copy = a;
    change(copy);
    return [&g, copy] { g.create_assignment(copy); };
  };
  names("question_count", with([](auto& x) { x.question_count = 0; }));
  names("question_count", with([](auto& x) { x.question_count = 1001; }));
  names("max_score", with([](auto& x) { x.max_score = std::nan(""); }));
  names("max_score", with([](auto& x) { x.max_score = 2e6; }));
  names("rubric_json", with([](auto& x) { x.rubric_json = "{\"a\":"; }));
  names("description", with([](auto& x) { x.description = std::string(64 * 1024 + 1, 'd'); }));
  names("title", with([](auto& x) { x.title = ""; }));

  names("answer_files", [&] {
    g.submit({w.assignment, w.students[0], std::vector<std::string>(101, "s3://b/k"), kNow});
  });
  names("answer_files[0]", [&] { g.submit({w.assignment, w.students[0], {""}, kNow}); });
  names("student_id", [&] { g.submit({w.assignment, 0, {}, kNow}); });

  ClaimRequest r = claim_of("A", kNow);
  names("lease", [&] {
    ClaimRequest c = r;
    c.lease = 0s;
    g.claim(c);
  });
  names("lease", [&] {
    ClaimRequest c = r;
    c.lease = 86401s;
    g.claim(c);
  });
  names("exam_id", [&] {
    ClaimRequest c = r;
    c.assignment_id = w.assignment;
    c.exam_id = 1;
    g.claim(c);
  });
  names("grader.name", [&] {
    ClaimRequest c = r;
    c.grader.name = "";
    g.claim(c);
  });
  names("grader.prompt_sha256", [&] {
    ClaimRequest c = r;
    c.grader.prompt_sha256 = std::string(64, 'A');
    g.claim(c);
  });

  r.assignment_id = w.assignment;
  const auto lease = g.claim(r);
  REQUIRE(lease);
  names("grades", [&] { g.complete(*lease, GradingOutcome{}, kNow); });
  GradingOutcome dup = outcome({1, 1});
  dup.grades[1].question = 1;
  names("grades[1].question", [&] { g.complete(*lease, dup, kNow); });
  GradingOutcome over = outcome({11, 1});
  names("grades[0].score", [&] { g.complete(*lease, over, kNow); });
  GradingOutcome inf = outcome({std::numeric_limits<double>::infinity(), 1});
  names("grades[0].score", [&] { g.complete(*lease, inf, kNow); });
  GradingOutcome json = outcome({1, 1});
  json.evaluations = "not json";
  names("evaluations", [&] { g.complete(*lease, json, kNow); });
  GradingOutcome level = outcome({1, 1});
  level.grade_level = std::string(21, 'A');
  names("grade_level", [&] { g.complete(*lease, level, kNow); });
  GradingOutcome three = outcome({1, 1, 1});  // the assignment has 2 questions
  names("grades[2].question", [&] { g.complete(*lease, three, kNow); });
  names("lease.token", [&] {
    Lease l = *lease;
    l.token = 0;
    g.complete(l, outcome({1, 1}), kNow);
  });
  names("lease_for", [&] { g.renew(*lease, 0s, kNow); });
  names("reason", [&] { g.fail(*lease, std::string(4097, 'r'), kNow); });
  names("reason", [&] { g.regrade(lease->task.id, "\xc0\x80", kNow); });

  const Scope scope{ScopeKind::kAssignment, w.assignment};
  names("scope.kind", [&] { g.rank_of({ScopeKind::kTask, 1}, w.students[0]); });
  names("scope.kind", [&] { g.statistics({static_cast<ScopeKind>(9), 1}); });
  names("scope.id", [&] { g.statistics({ScopeKind::kClass, -1}); });
  names("n", [&] { g.top(scope, 0); });
  names("n", [&] { g.top(scope, 1001); });
  names("radius", [&] { g.around(scope, w.students[0], 501); });
  names("radius", [&] { g.around(scope, w.students[0], -1); });
  names("limit", [&] {
    examstore::TaskFilter f;
    f.limit = 0;
    g.tasks(f);
  });
  names("task_id", [&] { g.results(0); });

  // The task is untouched by all of the above.
  CHECK(g.get_task(lease->task.id)->state == GradingState::kRunning);
  CHECK(g.complete(*lease, outcome({2, 3}), kNow).total_score == 5);

  // Unknown entities: kNotFound.
  CHECK(code_of([&] { g.results(999999); }) == ErrorCode::kNotFound);
  CHECK(code_of([&] { g.warm_up_class(999999); }) == ErrorCode::kNotFound);
  CHECK_FALSE(g.get_class(999999));

  // Keys are built from ids only: a class named like a key lands under its id's key.
  const auto forged = g.create_class({"x}:{a:1}:members", "t}{", "s"});
  CHECK(g.get_class(forged.id)->name == "x}:{a:1}:members");
  const std::string key = pair.config().key_prefix + ":class:{c:" + std::to_string(forged.id) + "}";
  CHECK(pair.store().cache().get(key));
}

TEMPLATE_TEST_CASE("grading warm-up makes the next reads hits", "[grading]", GRADING_PAIRS) {
  TestType pair;
  GradingRepo& g = pair.store().grading();
  const World w = world(pair, 2);
  grade(pair, w.assignment, {5, 5});
  grade(pair, w.assignment, {6, 7});

  const auto rc = g.warm_up_class(w.cls);
  CHECK(rc.classes == 1);
  CHECK(rc.member_lists == 1);
  CHECK(rc.assignments == 1);
  CHECK(rc.statistics == 2);
  CHECK(rc.rankings == 2);
  const auto ra = g.warm_up_assignment(w.assignment);
  CHECK(ra.assignments == 1);
  CHECK(ra.results == 2);
  CHECK(ra.statistics == 1);
  CHECK(ra.rankings == 1);

  const auto before = pair.store().metrics().grading;
  CHECK(g.get_class(w.cls)->student_count == 2);
  CHECK(g.members(w.cls).size() == 2);
  CHECK(g.get_assignment(w.assignment)->question_count == 2);
  CHECK(g.results(w.submissions[0].task_id).size() == 2);
  CHECK(g.results(w.submissions[1].task_id).size() == 2);
  CHECK(g.statistics({ScopeKind::kAssignment, w.assignment}).count == 2);
  CHECK(g.statistics({ScopeKind::kClass, w.cls}).count == 2);
  CHECK(g.top({ScopeKind::kAssignment, w.assignment}, 2).size() == 2);
  CHECK(g.top({ScopeKind::kClass, w.cls}, 2).size() == 2);
  const auto after = pair.store().metrics().grading;
  CHECK(after.cache.hits == before.cache.hits + 7);
  CHECK(after.cache.misses == before.cache.misses);
  CHECK(after.ranking_hits == before.ranking_hits + 2);
  CHECK(after.ranking_rebuilds == before.ranking_rebuilds);

  // Membership changes invalidate the class and its member list.
  const StudentId extra = new_student(pair);
  CHECK(g.add_members(w.cls, {extra}) == 1);
  CHECK(g.get_class(w.cls)->student_count == 3);
  CHECK(g.members(w.cls).size() == 3);
}

TEST_CASE("grading options are validated when the store opens", "[grading][config]") {
  auto refused = [](const std::function<void(examstore::Config&)>& change) {
    examstore::Config c;
    change(c);
    std::string m;
    CHECK(code_of([&] { examstore::Store::open(c); }, &m) == ErrorCode::kInvalidArgument);
    return m;
  };
  CHECK(refused([](auto& c) { c.grading.max_tries = 0; }).find("grading.max_tries") !=
        std::string::npos);
  CHECK(refused([](auto& c) { c.grading.max_tries = 101; }).find("grading.max_tries") !=
        std::string::npos);
  CHECK(refused([](auto& c) { c.grading.analytics_ttl = 0s; }).find("grading.analytics_ttl") !=
        std::string::npos);
  CHECK(refused([](auto& c) { c.grading.retry_backoff = -1s; }).find("grading.retry_backoff") !=
        std::string::npos);
  CHECK(refused([](auto& c) {
          c.grading.ranking_prefix = "exam";
        }).find("grading.ranking_prefix") != std::string::npos);
  CHECK(refused([](auto& c) { c.grading.class_prefix = "a:{b}"; }).find("grading.class_prefix") !=
        std::string::npos);
  CHECK(refused([](auto& c) { c.grading.result_prefix = "class"; }).find("grading.result_prefix") !=
        std::string::npos);
  CHECK(refused([](auto& c) { c.grading.grade_levels = {}; }).find("grading.grade_levels") !=
        std::string::npos);
  CHECK(refused([](auto& c) {
          c.grading.grade_levels = {{50, "B"}, {60, "A"}};
        }).find("grading.grade_levels[1]") != std::string::npos);
  CHECK(refused([](auto& c) {
          c.grading.grade_levels = {{std::nan(""), "A"}};
        }).find("grading.grade_levels[0]") != std::string::npos);
  CHECK(refused([](auto& c) {
          c.grading.grade_levels = {{0, std::string(21, 'x')}};
        }).find("grading.grade_levels[0]") != std::string::npos);
  examstore::Config ok;
  ok.grading.grade_levels = {{50, "pass"}, {0, "fail"}};
  ok.grading.max_tries = 100;
  CHECK(examstore::Store::open(ok) != nullptr);
}

// Regression: a read of an id not yet made cached an "absent" marker, and the class or
// assignment created under that id then read as missing until negative_ttl ran out (found by
// the hostile-input suite, whose snapshots probe ids ahead).
TEMPLATE_TEST_CASE("grading a class or assignment made after its id was probed reads at once",
                   "[grading]", GRADING_PAIRS) {
  TestType pair;
  GradingRepo& g = pair.store().grading();
  const ClassId first = g.create_class({"probe", "t1", "math"}).id;
  CHECK_FALSE(g.get_class(first + 1));
  const examstore::SchoolClass k = g.create_class({"made after the probe", "t1", "math"});
  REQUIRE(k.id == first + 1);
  const auto back = g.get_class(k.id);
  REQUIRE(back);
  CHECK(back->name == "made after the probe");
  const AssignmentId a = new_assignment(pair, k.id, 2);
  CHECK_FALSE(g.get_assignment(a + 1));
  const AssignmentId b = new_assignment(pair, k.id, 2);
  REQUIRE(b == a + 1);
  CHECK(g.get_assignment(b));
}
