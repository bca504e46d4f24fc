// tests/contract/attempts_test.cpp: the contract of examstore/attempts.hpp on both backend pairs
// (MemoryPair: memory cache and database; RedisPostgresPair: the test Redis and a fresh,
// migrated TempDatabase with a journal of its own).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "attempts/attempt_db.hpp"
#include "db/pg_pool.hpp"
#include "db/store_checks.hpp"
#include "db/stores.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "support/test_env.hpp"
#include "write_behind/op.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::AnswerSave;
using examstore::AttemptPlan;
using examstore::AttemptState;
using examstore::Config;
using examstore::Error;
using examstore::ErrorCode;
using examstore::ExamId;
using examstore::PaperKey;
using examstore::QuestionId;
using examstore::Store;
using examstore::StudentId;
using examstore::TimePoint;
using S = AttemptState;

// Whole seconds, so every time survives the microsecond storage exactly.
const TimePoint kNow =
    std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
const PaperKey kPaper{"tsinghua", "cs", "se", "db101"};

class Pair {
 public:
  explicit Pair(bool postgres, bool cluster = false) : postgres_(postgres) {
    config_.key_prefix = examstore::test::unique_name("at");
    if (postgres_) {
      db_ = std::make_unique<examstore::test::TempDatabase>();
      config_.with_redis_url(cluster ? examstore::test::cluster_url()
                                     : examstore::test::redis_url());
      config_.with_database_url(db_->migrate_and_restrict());
      journal_ = std::filesystem::temp_directory_path() / examstore::test::unique_name("atj");
      config_.write_behind.journal_dir = journal_.string();
    }
    store_ = Store::open(config_);
  }
  ~Pair() {
    store_.reset();
    if (!journal_.empty()) std::filesystem::remove_all(journal_);
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;

  Store& store() { return *store_; }
  examstore::AttemptRepo& attempts() { return store_->attempts(); }
  bool postgres() const { return postgres_; }
  examstore::test::TempDatabase& db() { return *db_; }

  ExamId exam(TimePoint starts = kNow - 1h, TimePoint ends = kNow + 2h) {
    return store_->exams().create({"exam " + std::to_string(++made_), starts, ends, "{}"}).id;
  }
  StudentId student() {
    const std::string no = config_.key_prefix + "-" + std::to_string(++made_);
    return store_->students().create({no, "student " + no, "c1", "", ""}).id;
  }
  std::vector<StudentId> students(int n) {
    std::vector<StudentId> out;
    for (int i = 0; i < n; ++i) out.push_back(student());
    return out;
  }
  // The paper kPaper with `n` questions (created once).
  std::vector<QuestionId> paper(int n = 3) {
    if (!questions_.empty()) return questions_;
    std::vector<examstore::PaperOp> ops;
    for (int i = 0; i < n; ++i) {
      examstore::QuestionDraft d;
      d.type = examstore::QuestionType::kSingle;
      d.stem = "question " + std::to_string(i);
      d.options = {"a", "b"};
      d.answer = "\"A\"";
      d.subject = "math";
      d.knowledge_points = {"math/algebra"};
      const QuestionId q = store_->questions().create(d).id;
      questions_.push_back(q);
      ops.push_back({examstore::PaperOp::Kind::kAppend, 0, 0, q});
    }
    store_->papers().apply(kPaper, ops);
    return questions_;
  }
  // An exam with attempts (duration `d`) for `n` new students.
  std::pair<ExamId, std::vector<StudentId>> setup(int n, std::chrono::seconds d = 3600s,
                                                  TimePoint ends = kNow + 2h) {
    paper();
    const ExamId e = exam(kNow - 1h, ends);
    auto s = students(n);
    REQUIRE(attempts().precreate(AttemptPlan{e, kPaper, d, s}) == n);
    return {e, s};
  }
  // Drops the hot copy of an attempt (as a Redis flush or eviction would).
  void lose_hot(ExamId e, StudentId s) {
    const std::string k =
        config_.key_prefix + ":attempt:{e:" + std::to_string(e) + "}:" + std::to_string(s);
    store_->cache().del({k, k + ":ans"});
  }
  // The TTLs of an attempt's hot keys (attempt, answers): nullopt = no key, 0 = no TTL.
  std::pair<std::optional<std::chrono::milliseconds>, std::optional<std::chrono::milliseconds>>
  hot_ttl(ExamId e, StudentId s) {
    const std::string k =
        config_.key_prefix + ":attempt:{e:" + std::to_string(e) + "}:" + std::to_string(s);
    return {store_->cache().ttl(k), store_->cache().ttl(k + ":ans")};
  }

 private:
  bool postgres_;
  std::unique_ptr<examstore::test::TempDatabase> db_;
  std::filesystem::path journal_;
  Config config_;
  std::unique_ptr<Store> store_;
  std::vector<QuestionId> questions_;
  int made_ = 0;
};

struct MemoryPair : Pair {
  MemoryPair() : Pair(false) {}
};
struct RedisPostgresPair : Pair {
  RedisPostgresPair() : Pair(true) {}
};
struct ClusterPostgresPair : Pair {  // the server pair on the Redis Cluster
  ClusterPostgresPair() : Pair(true, true) {}
};

using examstore::test::code_of;

AnswerSave save(ExamId e, StudentId s, QuestionId q, std::int64_t seq, std::string answer,
                TimePoint at) {
  return AnswerSave{e, s, q, seq, std::move(answer), at};
}

}  // namespace

TEST_CASE("attempt states: the transition table", "[attempts][unit]") {
  const std::vector<S> all = {S::kNotStarted, S::kInProgress, S::kSubmitted, S::kGraded,
                              S::kOverdue,    S::kAbandoned,  S::kVoided};
  const std::set<std::pair<S, S>> legal = {
      {S::kNotStarted, S::kInProgress}, {S::kNotStarted, S::kAbandoned},
      {S::kNotStarted, S::kVoided},     {S::kInProgress, S::kSubmitted},
      {S::kInProgress, S::kOverdue},    {S::kInProgress, S::kAbandoned},
      {S::kInProgress, S::kVoided},     {S::kSubmitted, S::kGraded},
      {S::kSubmitted, S::kVoided},      {S::kOverdue, S::kGraded},
      {S::kOverdue, S::kVoided}};
  for (const S from : all) {
    CHECK(examstore::parse_attempt_state(examstore::to_string(from)) == from);
    for (const S to : all) {
      INFO(examstore::to_string(from) << " -> " << examstore::to_string(to));
      CHECK(examstore::is_legal_transition(from, to) == (legal.count({from, to}) != 0));
    }
  }
  CHECK_FALSE(examstore::parse_attempt_state("started"));
}

TEMPLATE_TEST_CASE("every legal transition applies and every illegal one is refused",
                   "[attempts][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType p;
  auto [e, s] = p.setup(8);
  auto& a = p.attempts();
  const auto state = [&](StudentId st) { return a.get(e, st)->state; };
  // not_started -> abandoned, then terminal
  CHECK(a.transition(e, s[0], S::kAbandoned).state == S::kAbandoned);
  CHECK(code_of([&] { a.transition(e, s[0], S::kVoided); }) == ErrorCode::kConflict);
  CHECK(code_of([&] { a.start(e, s[0], kNow); }) == ErrorCode::kConflict);
  // not_started -> voided: no live attempt any more
  a.transition(e, s[1], S::kVoided);
  CHECK_FALSE(a.get(e, s[1]));
  // in_progress -> overdue -> graded, terminal
  a.start(e, s[2], kNow);
  a.transition(e, s[2], S::kOverdue);
  CHECK(code_of([&] { a.autosave(save(e, s[2], p.paper()[0], 1, "1", kNow)); }) ==
        ErrorCode::kConflict);
  CHECK(code_of([&] { a.transition(e, s[2], S::kAbandoned); }) == ErrorCode::kConflict);
  a.transition(e, s[2], S::kGraded);
  CHECK(state(s[2]) == S::kGraded);
  CHECK(code_of([&] { a.transition(e, s[2], S::kVoided); }) == ErrorCode::kConflict);
  // in_progress -> submitted -> graded; submitted never returns to in_progress
  a.start(e, s[3], kNow);
  a.submit(e, s[3], kNow + 1s);
  CHECK(code_of([&] { a.start(e, s[3], kNow + 2s); }) == ErrorCode::kConflict);
  CHECK(code_of([&] { a.transition(e, s[3], S::kAbandoned); }) == ErrorCode::kConflict);
  a.transition(e, s[3], S::kGraded);
  CHECK(state(s[3]) == S::kGraded);
  // in_progress -> abandoned / voided; submitted -> voided; overdue -> voided
  a.start(e, s[4], kNow);
  a.transition(e, s[4], S::kAbandoned);
  CHECK(state(s[4]) == S::kAbandoned);
  a.start(e, s[5], kNow);
  a.transition(e, s[5], S::kVoided);
  CHECK_FALSE(a.get(e, s[5]));
  a.start(e, s[6], kNow);
  a.submit(e, s[6], kNow);
  a.transition(e, s[6], S::kVoided);
  CHECK_FALSE(a.get(e, s[6]));
  a.start(e, s[7], kNow);
  a.transition(e, s[7], S::kOverdue);
  a.transition(e, s[7], S::kVoided);
  CHECK_FALSE(a.get(e, s[7]));
  // in_progress and submitted are reached only through start() and submit()
  CHECK(code_of([&] { a.transition(e, s[0], S::kInProgress); }) == ErrorCode::kInvalidArgument);
  // the database agrees after the hot tier is lost
  p.store().flush(10s);
  p.lose_hot(e, s[3]);
  CHECK(state(s[3]) == S::kGraded);
}

TEMPLATE_TEST_CASE("precreate is all or nothing", "[attempts][contract]", MemoryPair,
                   RedisPostgresPair, ClusterPostgresPair) {
  TestType p;
  p.paper();
  auto& a = p.attempts();
  const ExamId e = p.exam();
  auto s = p.students(3);
  SECTION("one unknown student creates nothing") {
    auto plan = AttemptPlan{e, kPaper, 600s, {s[0], s[1], 999999, s[2]}};
    std::string msg;
    CHECK(code_of([&] { a.precreate(plan); }, &msg) == ErrorCode::kNotFound);
    CHECK(msg.find("999999") != std::string::npos);
    for (const StudentId st : s) CHECK_FALSE(a.get(e, st));
  }
  SECTION("a duplicate live attempt is a conflict and creates nothing") {
    REQUIRE(a.precreate({e, kPaper, 600s, {s[1]}}) == 1);
    std::string msg;
    CHECK(code_of(
              [&] {
                a.precreate({e, kPaper, 600s, {s[0], s[1], s[2]}});
              },
              &msg) == ErrorCode::kConflict);
    CHECK(msg.find("student " + std::to_string(s[1])) != std::string::npos);
    CHECK_FALSE(a.get(e, s[0]));
    CHECK_FALSE(a.get(e, s[2]));
    CHECK(code_of([&] { a.precreate({e, kPaper, 600s, {s[0], s[0]}}); }) == ErrorCode::kConflict);
    CHECK_FALSE(a.get(e, s[0]));
  }
  SECTION("unknown exam or paper, bad duration") {
    CHECK(code_of([&] { a.precreate({999999, kPaper, 600s, s}); }) == ErrorCode::kNotFound);
    CHECK(code_of([&] {
            a.precreate({e, PaperKey{"x", "y", "z", "w"}, 600s, s});
          }) == ErrorCode::kNotFound);
    CHECK(code_of([&] { a.precreate({e, kPaper, 0s, s}); }) == ErrorCode::kInvalidArgument);
    for (const StudentId st : s) CHECK_FALSE(a.get(e, st));
  }
  SECTION("a voided attempt allows a new one") {
    REQUIRE(a.precreate({e, kPaper, 600s, {s[0]}}) == 1);
    const auto first = a.get(e, s[0])->id;
    a.transition(e, s[0], S::kVoided);
    REQUIRE(a.precreate({e, kPaper, 600s, {s[0]}}) == 1);
    const auto again = a.get(e, s[0]);
    REQUIRE(again);
    CHECK(again->id != first);
    CHECK(again->state == S::kNotStarted);
  }
}

TEMPLATE_TEST_CASE("start is idempotent and sets the deadline with extra time, capped at the end",
                   "[attempts][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType p;
  auto [e, s] = p.setup(3, 3600s, kNow + 30min);
  auto& a = p.attempts();
  // capped at the exam's end
  const auto first = a.start(e, s[0], kNow);
  CHECK(first.state == S::kInProgress);
  CHECK(first.started_at == kNow);
  CHECK(first.deadline == kNow + 30min);
  const auto again = a.start(e, s[0], kNow + 5min);
  CHECK(again.started_at == kNow);
  CHECK(again.deadline == kNow + 30min);
  // extra time set before the start adds to the capped deadline
  a.set_extra_time(e, s[1], 600s);
  CHECK(a.start(e, s[1], kNow).deadline == kNow + 40min);
  // extra time set after the start moves the deadline
  a.start(e, s[2], kNow - 50min);
  CHECK(a.get(e, s[2])->deadline == kNow + 10min);
  CHECK(a.set_extra_time(e, s[2], 300s).deadline == kNow + 15min);
  CHECK(code_of([&] { a.set_extra_time(e, s[2], -1s); }) == ErrorCode::kInvalidArgument);
  // the database has the same after the queue drained and the hot tier was lost
  p.store().flush(10s);
  for (const StudentId st : s) p.lose_hot(e, st);
  CHECK(a.get(e, s[0])->deadline == kNow + 30min);
  CHECK(a.get(e, s[1])->deadline == kNow + 40min);
  CHECK(a.get(e, s[2])->deadline == kNow + 15min);
  CHECK(a.get(e, s[2])->started_at == kNow - 50min);
  // not running: before the start or after the end
  CHECK(code_of([&] { a.start(e, s[0], kNow + 31min); }) == ErrorCode::kConflict);
  CHECK(code_of([&] { a.start(e, 999999, kNow); }) == ErrorCode::kNotFound);
}

TEMPLATE_TEST_CASE("autosave keeps the highest seq, every revision and the intervals",
                   "[attempts][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType p;
  auto [e, s] = p.setup(1);
  const auto q = p.paper();
  auto& a = p.attempts();
  const StudentId st = s[0];
  CHECK(code_of([&] { a.autosave(save(e, st, q[0], 1, "1", kNow)); }) == ErrorCode::kConflict);
  a.start(e, st, kNow);
  CHECK(a.autosave(save(e, st, q[0], 2, "\"b\"", kNow + 1s)).applied);
  const auto older = a.autosave(save(e, st, q[0], 1, "\"a\"", kNow + 2s));
  CHECK_FALSE(older.applied);
  CHECK(older.current_seq == 2);
  CHECK_FALSE(a.autosave(save(e, st, q[0], 2, "\"c\"", kNow + 3s)).applied);  // equal: stale
  CHECK(a.autosave(save(e, st, q[1], 1, "[1,2]", kNow + 4500ms)).applied);
  CHECK(a.autosave(save(e, st, q[0], 5, "\"e\"", kNow + 5s)).applied);
  // bad input names the field
  std::string msg;
  CHECK(code_of([&] { a.autosave(save(e, st, q[0], 0, "1", kNow)); }, &msg) ==
        ErrorCode::kInvalidArgument);
  CHECK(msg.find("seq") != std::string::npos);
  CHECK(code_of([&] { a.autosave(save(e, st, q[0], 9, "{not json", kNow)); }, &msg) ==
        ErrorCode::kInvalidArgument);
  CHECK(msg.find("answer") != std::string::npos);
  CHECK(code_of([&] { a.autosave(save(e, st, 999999, 9, "1", kNow)); }, &msg) ==
        ErrorCode::kInvalidArgument);
  CHECK(msg.find("question_id") != std::string::npos);

  const auto live = a.answers(e, st);
  REQUIRE(live.size() == 2);
  CHECK(live[0].question_id == std::min(q[0], q[1]));
  for (const auto& l : live) {
    if (l.question_id == q[0]) {
      CHECK(l.seq == 5);
      CHECK(l.answer == "\"e\"");
    } else {
      CHECK(l.seq == 1);
      CHECK(l.answer == "[1,2]");
    }
  }
  p.store().flush(10s);
  const auto revs = a.revisions(e, st);
  REQUIRE(revs.size() == 3);
  CHECK(revs[0].seq == 2);
  CHECK(revs[0].since_previous == 0ms);
  CHECK(revs[1].question_id == q[1]);
  CHECK(revs[1].since_previous == 3500ms);
  CHECK(revs[2].seq == 5);
  CHECK(revs[2].since_previous == 500ms);
  CHECK(revs[2].saved_at == kNow + 5s);
}

TEMPLATE_TEST_CASE("submit commits the live answers and returns the same receipt again",
                   "[attempts][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType p;
  auto [e, s] = p.setup(3, 600s);
  const auto q = p.paper();
  auto& a = p.attempts();
  a.start(e, s[0], kNow);
  a.autosave(save(e, s[0], q[0], 3, "\"x\"", kNow + 1s), examstore::Durability::kCached);
  a.autosave(save(e, s[0], q[2], 1, "true", kNow + 2s), examstore::Durability::kCached);
  CHECK(p.hot_ttl(e, s[0]).first == 0ms);  // in progress: kept
  const auto r1 = a.submit(e, s[0], kNow + 5s);
  {  // finished: leaves the hot tier after Config::attempts.finished_ttl (1 h), answers last
    const auto [attempt_ttl, answers_ttl] = p.hot_ttl(e, s[0]);
    REQUIRE(attempt_ttl);
    REQUIRE(answers_ttl);
    CHECK(*attempt_ttl > 3500s);
    CHECK(*attempt_ttl <= 3600s);
    CHECK(*answers_ttl > *attempt_ttl);
  }
  CHECK(r1.receipt.size() == 64);
  CHECK(r1.answers == 2);
  CHECK(r1.submitted_at == kNow + 5s);
  const auto r2 = a.submit(e, s[0], kNow + 2h);  // after the deadline: still the stored receipt
  CHECK(r2.receipt == r1.receipt);
  CHECK(r2.submitted_at == r1.submitted_at);
  CHECK(r2.answers == 2);
  CHECK(a.get(e, s[0])->state == S::kSubmitted);
  CHECK(a.get(e, s[0])->receipt == r1.receipt);
  CHECK(code_of([&] { a.autosave(save(e, s[0], q[0], 9, "1", kNow + 6s)); }) ==
        ErrorCode::kConflict);
  if (p.postgres()) {
    // Committed by submit itself, whatever the queue has written yet.
    const std::string id = std::to_string(r1.attempt_id);
    CHECK(p.db().query_value("SELECT string_agg(question_id || ':' || seq || ':' || answer::text,"
                             " ',' ORDER BY question_id) FROM answers WHERE attempt_id = " +
                             id) ==
          std::to_string(q[0]) + ":3:\"x\"," + std::to_string(q[2]) + ":1:true");
    CHECK(p.db().query_value("SELECT state || receipt FROM attempts WHERE id = " + id) ==
          "submitted" + r1.receipt);
  }
  // the receipt survives the loss of the hot tier, and the reloaded copy expires again
  p.lose_hot(e, s[0]);
  CHECK(a.submit(e, s[0], kNow + 3h).receipt == r1.receipt);
  CHECK(p.hot_ttl(e, s[0]).first > 3500s);
  // late: refused with the deadline and the grace named
  a.start(e, s[1], kNow);
  std::string msg;
  CHECK(code_of([&] { a.submit(e, s[1], kNow + 600s + 61s); }, &msg) == ErrorCode::kConflict);
  CHECK(msg.find("deadline") != std::string::npos);
  CHECK(msg.find("grace of 60 s") != std::string::npos);
  CHECK(a.submit(e, s[1], kNow + 600s + 60s).answers == 0);  // within the grace
  // not started
  CHECK(code_of([&] { a.submit(e, s[2], kNow); }) == ErrorCode::kConflict);
  CHECK(code_of([&] { a.submit(e, 999999, kNow); }) == ErrorCode::kNotFound);
}

TEMPLATE_TEST_CASE("a lost hot tier is reloaded from the database mid-attempt",
                   "[attempts][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType p;
  auto [e, s] = p.setup(1, 600s);
  const auto q = p.paper();
  auto& a = p.attempts();
  const StudentId st = s[0];
  const auto started = a.start(e, st, kNow);
  a.autosave(save(e, st, q[0], 4, "\"d\"", kNow + 1s));
  a.autosave(save(e, st, q[1], 1, "1", kNow + 2s));
  p.store().flush(10s);
  p.lose_hot(e, st);
  const auto back = a.get(e, st);
  REQUIRE(back);
  CHECK(back->state == S::kInProgress);
  CHECK(back->deadline == started.deadline);
  CHECK(back->id == started.id);
  CHECK(a.answers(e, st).size() == 2);
  p.lose_hot(e, st);
  CHECK_FALSE(a.autosave(save(e, st, q[0], 3, "\"old\"", kNow + 3s)).applied);
  const auto next = a.autosave(save(e, st, q[0], 5, "\"e\"", kNow + 4s));
  CHECK(next.applied);
  p.store().flush(10s);
  const auto revs = a.revisions(e, st);
  REQUIRE(revs.size() == 3);
  CHECK(revs[2].since_previous == 2000ms);  // the last save time came back with the answers
  p.lose_hot(e, st);
  CHECK(a.submit(e, st, kNow + 10s).answers == 2);
}

TEMPLATE_TEST_CASE("mark_overdue and the questions of recent exams", "[attempts][contract]",
                   MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType p;
  auto [e, s] = p.setup(3, 600s);
  auto& a = p.attempts();
  a.start(e, s[0], kNow - 20min);
  a.start(e, s[1], kNow);
  CHECK(a.mark_overdue(e, kNow) == 1);
  CHECK(a.mark_overdue(e, kNow) == 0);
  CHECK(p.hot_ttl(e, s[0]).first > 3500s);  // overdue: finished, expires
  CHECK(p.hot_ttl(e, s[1]).first == 0ms);   // in progress: kept
  CHECK(a.get(e, s[0])->state == S::kOverdue);
  CHECK(a.get(e, s[1])->state == S::kInProgress);
  CHECK(a.get(e, s[2])->state == S::kNotStarted);
  auto used = a.questions_used_in_recent_exams(1);
  auto expected = p.paper();
  std::sort(expected.begin(), expected.end());
  CHECK(used == expected);
}

TEMPLATE_TEST_CASE("concurrent autosaves of one question end with the highest seq",
                   "[attempts][contract][concurrency]", MemoryPair, RedisPostgresPair,
                   ClusterPostgresPair) {
  TestType p;
  auto [e, s] = p.setup(1);
  const auto q = p.paper();
  auto& a = p.attempts();
  a.start(e, s[0], kNow);
  constexpr int kThreads = 8;
  constexpr int kPerThread = 25;
  std::atomic<int> applied{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<int> seqs;
      for (int i = 0; i < kPerThread; ++i) seqs.push_back(i * kThreads + t + 1);
      std::shuffle(seqs.begin(), seqs.end(), std::mt19937(static_cast<unsigned>(t)));
      for (const int seq : seqs) {
        if (a.autosave(save(e, s[0], q[0], seq, std::to_string(seq), kNow + 1s),
                       examstore::Durability::kCached)
                .applied) {
          ++applied;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const auto live = a.answers(e, s[0]);
  REQUIRE(live.size() == 1);
  CHECK(live[0].seq == kThreads * kPerThread);
  CHECK(live[0].answer == std::to_string(kThreads * kPerThread));
  CHECK(applied >= 1);
  p.store().flush(10s);
  CHECK(static_cast<int>(a.revisions(e, s[0]).size()) == applied.load());
}

TEST_CASE("attempt_start and answer_revision ops round-trip through the journal encoding",
          "[attempts][write_behind]") {
  using examstore::wb::decode;
  using examstore::wb::encode;
  using examstore::wb::Op;
  const auto t = TimePoint(std::chrono::microseconds(1700000000123456));
  examstore::db::AttemptStart s{9007199254740993, 2, 3, t, t + 90min};
  const Op so = decode(encode(Op{s}));
  REQUIRE(so.kind() == Op::Kind::kAttemptStart);
  const auto& s2 = std::get<examstore::db::AttemptStart>(so.data);
  CHECK(s2.attempt_id == s.attempt_id);
  CHECK(s2.exam_id == 2);
  CHECK(s2.student_id == 3);
  CHECK(s2.started_at == t);
  CHECK(s2.base_deadline == t + 90min);
  CHECK(so.key() == "as:9007199254740993");
  CHECK(so.kind_name() == "attempt_start");

  examstore::db::AnswerRevision r{4, 5, 6, 7, 8, R"({"a": [1, 2.50, "\u00e9"]})", t, 1234ms};
  const Op ro = decode(encode(Op{r}));
  REQUIRE(ro.kind() == Op::Kind::kAnswerRevision);
  const auto& r2 = std::get<examstore::db::AnswerRevision>(ro.data);
  CHECK(r2.attempt_id == 4);
  CHECK(r2.question_id == 7);
  CHECK(r2.seq == 8);
  CHECK(r2.answer == r.answer);
  CHECK(r2.saved_at == t);
  CHECK(r2.since_previous == 1234ms);
  CHECK(ro.key() == "ar:4:7:8");
  CHECK(encode(decode(encode(Op{r}))) == encode(Op{r}));
}

// ---- the durable attempt store directly: a revision written after the submission ----

namespace {

// Runs `check` on the in-memory stores and on PostgreSQL stores over a fresh database; `paper`
// is inserted into the database's papers table first (the in-memory store does not check it).
void on_both_attempt_stores(const PaperKey& paper,
                            const std::function<void(examstore::db::Stores&)>& check) {
  {
    INFO("memory stores");
    examstore::db::Stores stores = examstore::db::make_memory_stores();
    check(stores);
  }
  {
    INFO("postgresql stores");
    examstore::test::TempDatabase db;
    Config c;
    c.with_database_url(db.url());
    c.migrate_on_open = true;
    Store::open(c).reset();  // applies the migrations
    REQUIRE(paper.str() == "school/dept/major/late101");
    db.query_value(
        "INSERT INTO papers (school, department, major, course)"
        " VALUES ('school', 'dept', 'major', 'late101')");
    examstore::db::PgPool pool(examstore::parse_postgres_url(db.url()));
    examstore::db::Stores stores = examstore::db::make_postgres_stores(pool);
    check(stores);
  }
}

}  // namespace

TEST_CASE("a revision written after the submission never changes the submitted answers",
          "[attempts][contract]") {
  const PaperKey paper{"school", "dept", "major", "late101"};
  on_both_attempt_stores(paper, [&](examstore::db::Stores& stores) {
    const TimePoint now = examstore::db::check::truncate(std::chrono::system_clock::now());
    examstore::NewExam e;
    e.name = "late revision";
    e.starts_at = now - 1h;
    e.ends_at = now + 1h;
    const ExamId exam = stores.exams->create(e).id;
    const StudentId student = stores.students->create({"late-1", "Late", "c", "", ""}).id;
    const auto created = stores.attempts->precreate({exam, paper, 3600s, {student}});
    REQUIRE(created.size() == 1);
    const examstore::AttemptId id = created[0].id;
    const auto revision = [&](std::int64_t seq, const std::string& answer) {
      return examstore::db::AnswerRevision{
          id, exam, student, 7, seq, answer, now + std::chrono::seconds(seq), 0ms};
    };
    stores.attempts->insert_revisions({revision(1, "\"A\"")});

    examstore::db::Submission s;
    s.attempt_id = id;
    s.start = examstore::db::AttemptStart{id, exam, student, now, now + 1h};
    s.answers = {revision(2, "\"B\"")};
    s.submitted_at = now + 10s;
    s.receipt = "receipt";
    CHECK(stores.attempts->submit(s).state == S::kSubmitted);

    // A save acknowledged before the submission but written after it (its op was still queued).
    stores.attempts->insert_revisions({revision(3, "\"C\"")});
    const auto answers = stores.attempts->answers(id);
    REQUIRE(answers.size() == 1);
    CHECK(answers[0].seq == 2);
    CHECK(answers[0].answer == "\"B\"");
    // The revision itself is kept.
    std::set<std::int64_t> seqs;
    for (const auto& r : stores.attempts->revisions(id)) seqs.insert(r.seq);
    CHECK(seqs == std::set<std::int64_t>{1, 2, 3});
  });
}
