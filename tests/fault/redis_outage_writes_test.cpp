// tests/fault/redis_outage_writes_test.cpp: writes that do not need Redis do not fail because of
// Redis (issue 17). A Store reaches the test Redis through a TcpProxy; the proxy is cut (every
// connection closed, new ones refused) and, while it is cut, journaled violations, events, an
// attendance transition (mark_submitted), autosaves and a submission are all acknowledged
// without throwing. After restore, reading the live state repairs what the outage skipped: the
// live violation counters equal PostgreSQL's counts, the submitted seat is submitted, the
// attempts' hot copies show the autosaves made during the cut, and every acknowledged write is
// in PostgreSQL exactly once.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "examstore/attempts.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/paper_store.hpp"
#include "examstore/question_bank.hpp"
#include "examstore/store.hpp"
#include "support/db_ids.hpp"
#include "support/tcp_proxy.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::Config;
using examstore::Durability;
using examstore::ExamId;
using examstore::Presence;
using examstore::QuestionId;
using examstore::Store;
using examstore::StudentId;
using examstore::TimePoint;
using examstore::ViolationKind;
using examstore::test::TempDatabase;

const examstore::PaperKey kPaper{"outage", "cs", "se", "db101"};

examstore::NewViolation violation_of(ExamId exam, StudentId student, int i) {
  examstore::NewViolation v;
  v.exam_id = exam;
  v.student_id = student;
  v.kind = static_cast<ViolationKind>(i % 3);
  v.severity = 1 + i % 5;
  v.reason = "outage " + std::to_string(i);
  v.occurred_at = std::chrono::system_clock::now();
  return v;
}

std::int64_t number(const TempDatabase& db, const std::string& sql) {
  const std::string v = db.query_value(sql);
  return v.empty() ? 0 : std::stoll(v);
}

}  // namespace

TEST_CASE("redis outage: durable writes are acknowledged and the hot tier is repaired after",
          "[redis][fault]") {
  TempDatabase db;
  const std::string db_url = db.migrate_and_restrict();
  examstore::test::TcpProxy proxy(examstore::parse_redis_url(examstore::test::redis_url()).port);
  const std::filesystem::path journal =
      std::filesystem::temp_directory_path() / examstore::test::unique_name("outagej");
  Config c;
  c.with_redis_url(examstore::test::redis_url());
  c.redis.host = "127.0.0.1";
  c.redis.port = proxy.port();
  c.redis.failover_wait = 300ms;  // a first call rides 300 ms, then the outage is known
  c.redis.connect_timeout = 500ms;
  c.with_database_url(db_url);
  c.key_prefix = examstore::test::unique_name("outage");
  c.write_behind.journal_dir = journal.string();
  auto store = Store::open(c);

  // An exam running now, 4 students with started attempts on a 2-question paper.
  const auto now =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  const ExamId exam = store->exams().create({"outage exam", now - 1h, now + 2h, "{}"}).id;
  std::vector<StudentId> students;
  for (int i = 0; i < 4; ++i) {
    const std::string no = c.key_prefix + "-" + std::to_string(i);
    students.push_back(store->students().create({no, "student " + no, "c1", "", ""}).id);
    store->students().enroll(exam, students.back());
  }
  std::vector<QuestionId> questions;
  std::vector<examstore::PaperOp> ops;
  for (int i = 0; i < 2; ++i) {
    examstore::QuestionDraft d;
    d.type = examstore::QuestionType::kSingle;
    d.stem = "question " + std::to_string(i);
    d.options = {"a", "b"};
    d.answer = "\"A\"";
    d.subject = "math";
    d.knowledge_points = {"math/algebra"};
    questions.push_back(store->questions().create(d).id);
    ops.push_back({examstore::PaperOp::Kind::kAppend, 0, 0, questions.back()});
  }
  store->papers().apply(kPaper, ops);
  REQUIRE(store->attempts().precreate({exam, kPaper, 3600s, students}) == 4);
  for (const StudentId s : students) {
    store->attempts().start(exam, s, now, Durability::kJournaled);
    store->students().heartbeat(exam, s, "10.0.0.1", now);
    store->attempts().autosave({exam, s, questions[0], 1, "\"A\"", now}, Durability::kJournaled);
  }
  std::vector<examstore::ViolationId> violations;
  for (int i = 0; i < 3; ++i) {
    violations.push_back(
        store->violations().record(violation_of(exam, students[i % 4], i), Durability::kJournaled));
  }
  store->flush();

  proxy.cut();
  const auto cut_at = std::chrono::steady_clock::now();
  std::vector<examstore::EventId> events;
  // Every write below has its durable path intact: none may throw.
  REQUIRE_NOTHROW([&] {
    for (int i = 3; i < 15; ++i) {
      violations.push_back(store->violations().record(violation_of(exam, students[i % 4], i),
                                                      Durability::kJournaled));
    }
    std::vector<examstore::NewViolation> batch;
    for (int i = 15; i < 19; ++i) batch.push_back(violation_of(exam, students[i % 4], i));
    for (const auto id : store->violations().record_batch(batch, Durability::kJournaled)) {
      violations.push_back(id);
    }
    for (int i = 0; i < 5; ++i) {
      events.push_back(store->violations().record_event(
          {exam, students[i % 4], "outage", "{}", std::chrono::system_clock::now()},
          Durability::kJournaled));
    }
    for (int i = 1; i < 4; ++i) {
      const auto ack = store->attempts().autosave(
          {exam, students[i], questions[0], 2, "\"B\"", now + 60s}, Durability::kJournaled);
      CHECK(ack.applied);
      CHECK(store->attempts()
                .autosave({exam, students[i], questions[1], 1, "\"A\"", now + 61s},
                          Durability::kJournaled)
                .applied);
      // A resend of an acknowledged save is recognised from the database and the queue.
      CHECK_FALSE(store->attempts()
                      .autosave({exam, students[i], questions[0], 2, "\"B\"", now + 60s},
                                Durability::kJournaled)
                      .applied);
    }
    store->attempts().autosave({exam, students[0], questions[1], 1, "\"B\"", now + 62s},
                               Durability::kJournaled);
    const auto receipt = store->attempts().submit(exam, students[0], now + 70s);
    CHECK(receipt.answers == 2);
    store->students().mark_submitted(exam, students[0], now + 70s);
  }());
  // The cut is real: a read only the hot tier can answer fails, retryably.
  try {
    store->students().online_count(exam);
    FAIL("online_count succeeded with Redis cut");
  } catch (const examstore::Error& e) {
    CHECK(e.retryable());
  }
  CHECK(store->metrics().hot_repairs.skipped > 0);
  CHECK(store->metrics().hot_repairs.pending > 0);
  // Only the first calls waited failover_wait; the rest went on at once.
  const auto cut_for = std::chrono::steady_clock::now() - cut_at;
  INFO("writes during the cut took "
       << std::chrono::duration_cast<std::chrono::milliseconds>(cut_for).count() << " ms");
  CHECK(cut_for < 20s);

  proxy.restore();
  store->flush();

  // Every acknowledged write is in PostgreSQL exactly once.
  CHECK(examstore::test::ids_in(db, "violations") ==
        std::set<std::int64_t>(violations.begin(), violations.end()));
  CHECK(number(db, "SELECT count(*) FROM violations") ==
        static_cast<std::int64_t>(violations.size()));
  CHECK(examstore::test::ids_in(db, "events") ==
        std::set<std::int64_t>(events.begin(), events.end()));
  CHECK(number(db, "SELECT count(*) FROM answer_revisions WHERE seq = 2") == 3);
  CHECK(number(db, "SELECT count(*) FROM answer_revisions") == 4 + 3 + 3 + 1);
  CHECK(db.query_value("SELECT state FROM attempts WHERE student_id = " +
                       std::to_string(students[0])) == "submitted");
  CHECK(number(db,
               "SELECT count(*) FROM answers a JOIN attempts t ON t.id = a.attempt_id "
               "WHERE t.student_id = " +
                   std::to_string(students[0])) == 2);
  CHECK(db.query_value("SELECT status FROM exam_attendance WHERE student_id = " +
                       std::to_string(students[0])) == "submitted");

  // Right after the restore, before any repair: an attempt's stale hot copy is not read.
  auto check_answers = [&] {
    for (int i = 1; i < 4; ++i) {
      const auto answers = store->attempts().answers(exam, students[i]);
      REQUIRE(answers.size() == 2);
      CHECK(answers[0].seq == 2);
      CHECK(answers[0].answer == "\"B\"");
    }
  };
  check_answers();

  // The repairs run on the repositories' next calls once Redis answers (at most
  // HotRepairs::kRetryEvery after the last failed attempt).
  for (int i = 0; i < 50 && store->metrics().hot_repairs.pending != 0; ++i) {
    std::this_thread::sleep_for(100ms);
    store->violations().live_counts(exam);
    store->students().presence(exam, students[0]);
    store->attempts().get(exam, students[1]);
  }
  // Everything skipped was repaired: the recount, the submitted seat, the 4 attempts' copies.
  const auto repairs = store->metrics().hot_repairs;
  CHECK(repairs.pending == 0);
  CHECK(repairs.repaired >= 6);
  // The live counters equal PostgreSQL's counts.
  std::map<ViolationKind, std::int64_t> expected;
  for (int k = 0; k < 3; ++k) {
    expected[static_cast<ViolationKind>(k)] =
        number(db, "SELECT count(*) FROM violations WHERE kind = '" +
                       std::string(examstore::to_string(static_cast<ViolationKind>(k))) + "'");
  }
  CHECK(store->violations().live_counts(exam) == expected);
  for (const StudentId s : students) {
    std::map<ViolationKind, std::int64_t> mine;
    for (int k = 0; k < 3; ++k) {
      const auto n =
          number(db, "SELECT count(*) FROM violations WHERE student_id = " + std::to_string(s) +
                         " AND kind = '" +
                         std::string(examstore::to_string(static_cast<ViolationKind>(k))) + "'");
      if (n != 0) mine[static_cast<ViolationKind>(k)] = n;
    }
    CHECK(store->violations().live_counts(exam, s) == mine);
  }
  CHECK(store->students().presence(exam, students[0]).status == Presence::kSubmitted);
  check_answers();  // now from the hot copies, reloaded from the database
  // A count after the repair adds to the repaired counters (no double count of the outage).
  store->violations().record(violation_of(exam, students[1], 0), Durability::kJournaled);
  CHECK(store->violations().live_counts(exam)[ViolationKind::kTabSwitch] ==
        expected[ViolationKind::kTabSwitch] + 1);

  store.reset();
  std::filesystem::remove_all(journal);
}
