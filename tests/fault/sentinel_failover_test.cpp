// tests/fault/sentinel_failover_test.cpp: a SIGKILL of the Redis master under load, behind
// Sentinel (a private group: master, 2 replicas, 3 sentinels, down-after 1000 ms).
//
// Three threads load one Store: heartbeat batches (StudentRepo), journaled violations
// (ViolationRepo, write-behind) and paper reads (PaperStore, near cache on). The master is
// killed; the test asserts that the same Store follows the promoted replica within 15 s, that
// only retryable errors were seen, that every acknowledged violation reaches PostgreSQL, and
// that the heartbeats acknowledged after the failover are visible. It prints the error window of
// each kind of call (first failed call to the first call that succeeded after it).
//
// Threads only record what they saw; the main thread asserts after joining them.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "support/db_ids.hpp"
#include "support/sentinel_group.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::Config;
using examstore::Durability;
using examstore::Error;
using examstore::ExamId;
using examstore::PaperKey;
using examstore::PaperOp;
using examstore::QuestionId;
using examstore::Store;
using examstore::StudentId;
using examstore::ViolationId;
using examstore::test::TempDatabase;
using examstore::test::TempDir;
using Clock = std::chrono::steady_clock;

/// What one kind of call saw; written by one thread, read after it joined (but ok_at, which the
/// main thread polls while the load runs).
struct Tally {
  std::atomic<Clock::rep> ok_at{0};  // time_since_epoch of the latest success
  std::int64_t ok = 0;
  std::map<std::string, int> errors;  // code -> count
  std::optional<Clock::time_point> first_failure;
  std::optional<Clock::time_point> recovered;  // the first success after first_failure
  std::optional<Clock::time_point> last_failure;
  std::optional<Clock::time_point> last_ok;

  void success() {
    const auto now = Clock::now();
    ++ok;
    last_ok = now;
    ok_at.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    if (first_failure && !recovered) recovered = now;
  }
  void failure(const Error& e) {
    const auto now = Clock::now();
    ++errors[std::string(examstore::to_string(e.code()))];
    if (!first_failure) first_failure = now;
    last_failure = now;
  }
  double window_ms() const {
    if (!first_failure || !recovered) return 0;
    return std::chrono::duration<double, std::milli>(*recovered - *first_failure).count();
  }
};

}  // namespace

TEST_CASE("sentinel failover: a SIGKILL of the master under load loses no acknowledged write",
          "[sentinel][fault][concurrency]") {
  examstore::test::SentinelGroup group(2);
  TempDatabase db;
  {
    Config m;
    m.with_database_url(db.url());
    Store::open(m)->migrate_up();
  }
  TempDir dir("failover");
  Config c;
  c.with_redis_url(group.url());
  c.with_database_url(db.url());
  c.key_prefix = examstore::test::unique_name("fo");
  c.redis.command_timeout = 1s;
  c.write_behind.journal_dir = dir.journal();
  c.write_behind.retry_initial = 50ms;
  c.write_behind.retry_max = 500ms;
  c.near_cache_ttl = 500ms;
  auto store = Store::open(c);

  // The world: one exam, 20 enrolled students, one paper of 5 questions.
  const auto now = std::chrono::system_clock::now();
  const ExamId exam = store->exams().create({"failover exam", now, now + 2h, "{}"}).id;
  std::vector<StudentId> students;
  const std::string run = examstore::test::unique_name("s");
  for (int i = 0; i < 20; ++i) {
    examstore::NewStudent s;
    s.external_no = run + "-" + std::to_string(i);
    s.name = "Student " + std::to_string(i);
    students.push_back(store->students().create(s).id);
    store->students().enroll(exam, students.back());
  }
  std::vector<QuestionId> questions;
  std::vector<PaperOp> fill;
  for (int i = 0; i < 5; ++i) {
    examstore::QuestionDraft d;
    d.type = examstore::QuestionType::kTrueFalse;
    d.stem = "failover question " + std::to_string(i);
    d.answer = "true";
    d.subject = "math";
    d.knowledge_points = {"math/algebra"};
    questions.push_back(store->questions().create(d).id);
    PaperOp op;
    op.question_id = questions.back();
    fill.push_back(op);
  }
  const PaperKey paper{"fo", "dept", "major", examstore::test::unique_name("c")};
  store->papers().apply(paper, fill);

  std::atomic<bool> stop{false};
  Tally beats, violations, reads;
  std::vector<ViolationId> acked;
  std::optional<std::chrono::system_clock::time_point> last_beat_at;
  std::int64_t wrong_reads = 0;

  std::thread heartbeat_thread([&] {
    while (!stop) {
      std::vector<examstore::Heartbeat> batch;
      for (std::size_t i = 0; i < students.size(); ++i) {
        batch.push_back({students[i], "10.2.0." + std::to_string(i)});
      }
      const auto at = std::chrono::system_clock::now();
      try {
        store->students().heartbeat_batch(exam, batch, at);
        beats.success();
        last_beat_at = at;
      } catch (const Error& e) {
        beats.failure(e);
      }
      std::this_thread::sleep_for(20ms);
    }
  });
  std::thread violation_thread([&] {
    for (int i = 0; !stop; ++i) {
      examstore::NewViolation v;
      v.exam_id = exam;
      v.student_id = students[static_cast<std::size_t>(i) % students.size()];
      v.kind = static_cast<examstore::ViolationKind>(i % 7);
      v.severity = 1 + i % 5;
      v.reason = "failover run " + std::to_string(i);
      v.occurred_at = std::chrono::system_clock::now();
      try {
        acked.push_back(store->violations().record(v, Durability::kJournaled));
        violations.success();
      } catch (const Error& e) {
        violations.failure(e);
      }
      std::this_thread::sleep_for(5ms);
    }
  });
  std::thread read_thread([&] {
    for (int i = 0; !stop; ++i) {
      const int pos = i % 5;
      try {
        const auto item = store->papers().at(paper, pos);
        if (!item || item->question_id != questions[static_cast<std::size_t>(pos)]) ++wrong_reads;
        reads.success();
      } catch (const Error& e) {
        reads.failure(e);
      }
      std::this_thread::sleep_for(2ms);
    }
  });

  std::this_thread::sleep_for(1500ms);
  const auto killed_at = Clock::now();
  const int old_port = group.kill_master();
  const int new_port = group.await_failover(old_port, 20s);
  const auto promoted_at = Clock::now();
  // Keep the load on until every kind has succeeded against the new master, bounded.
  const auto bound = killed_at + 15s;
  auto followed = [&](const Tally& t) {
    return t.ok_at.load(std::memory_order_relaxed) > promoted_at.time_since_epoch().count();
  };
  while (Clock::now() < bound && !(followed(beats) && followed(violations) && followed(reads))) {
    std::this_thread::sleep_for(50ms);
  }
  std::this_thread::sleep_for(1s);  // some calls acknowledged well after the failover
  stop = true;
  heartbeat_thread.join();
  violation_thread.join();
  read_thread.join();

  const auto ms = [&](Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(t - killed_at).count();
  };
  WARN("failover: master " << old_port << " killed, sentinels promoted " << new_port << " after "
                           << ms(promoted_at) << " ms");
  for (const auto& [name, t] : std::map<std::string, const Tally*>{
           {"heartbeat_batch", &beats}, {"violation record", &violations}, {"paper at", &reads}}) {
    std::string codes;
    for (const auto& [code, n] : t->errors) codes += " " + code + "=" + std::to_string(n);
    WARN(name << ": " << t->ok << " ok, errors:" << (codes.empty() ? " none" : codes)
              << "; error window " << t->window_ms() << " ms (first failure at "
              << (t->first_failure ? ms(*t->first_failure) : 0.0) << " ms, last failure at "
              << (t->last_failure ? ms(*t->last_failure) : 0.0) << " ms after the kill)");
    INFO(name);
    CHECK(followed(*t));  // the same process works against the new master, without a restart
    REQUIRE(t->last_ok.has_value());
    CHECK(*t->last_ok - killed_at < 15s);
    for (const auto& [code, n] : t->errors) {
      INFO(n << " error(s) " << code);
      CHECK((code == "unavailable" || code == "timeout"));
    }
    if (t->last_failure) CHECK(*t->last_failure - killed_at < 15s);
  }
  CHECK(wrong_reads == 0);

  // Every acknowledged (journaled) violation reaches PostgreSQL.
  REQUIRE(acked.size() > 100);
  store->flush(60s);
  CHECK(store->write_behind_metrics().dead_lettered == 0);
  const auto stored = examstore::test::ids_in(db, "violations");
  std::int64_t missing = 0;
  for (const auto id : acked) missing += stored.count(id) == 0 ? 1 : 0;
  INFO(acked.size() << " violations acknowledged");
  CHECK(missing == 0);

  // The heartbeats acknowledged after the failover are visible (second precision).
  REQUIRE(last_beat_at.has_value());
  const auto floor_at = std::chrono::time_point_cast<std::chrono::seconds>(*last_beat_at);
  for (const StudentId s : students) {
    const auto p = store->students().presence(exam, s);
    INFO("student " << s);
    REQUIRE(p.last_heartbeat.has_value());
    CHECK(*p.last_heartbeat >= floor_at);
    CHECK(p.status == examstore::Presence::kOnline);
  }
}
