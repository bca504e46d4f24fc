// tests/fault/monitoring_fault_test.cpp: the exam-monitoring repositories when servers fail.
//
//   - ids are never reused: the private Redis is flushed, killed and restarted mid-run, and a
//     second Store (a restarted process) joins; every violation and exam id stays unique and
//     none collides with a row PostgreSQL already holds;
//   - PostgreSQL is unreachable for 10 s (a TcpProxy in front of it is cut) while threads keep
//     recording violations (cached and journaled) and heartbeats: afterwards every acknowledged
//     violation is in PostgreSQL exactly once, the queue retried and dead-lettered nothing;
//   - a poison record (its student was deleted from PostgreSQL behind the seat map's back) is
//     dead-lettered alone while everything else commits; retry and drop work on it.
//
// Each test has its own TempDatabase and its own key prefix (or private Redis). Threads only
// record what they saw; the main thread asserts after joining them. Every wait is bounded.
#include <catch2/catch.hpp>

#include <hiredis/hiredis.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "support/db_ids.hpp"
#include "support/tcp_proxy.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::Config;
using examstore::Durability;
using examstore::Error;
using examstore::ErrorCode;
using examstore::Exam;
using examstore::ExamId;
using examstore::NewExam;
using examstore::NewStudent;
using examstore::NewViolation;
using examstore::Presence;
using examstore::Store;
using examstore::StudentId;
using examstore::ViolationId;
using examstore::ViolationKind;
using examstore::test::TempDatabase;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

using examstore::test::TempDir;

using examstore::test::ids_in;

std::int64_t row_count(const TempDatabase& db, const std::string& table) {
  return std::stoll(db.query_value("SELECT count(*) FROM " + table));
}

/// FLUSHALL on the Redis at 127.0.0.1:port.
void flush_redis(int port) {
  redisContext* c = redisConnect("127.0.0.1", port);
  REQUIRE(c != nullptr);
  INFO("redis: " << c->errstr);
  REQUIRE(c->err == 0);
  auto* reply = static_cast<redisReply*>(redisCommand(c, "FLUSHALL"));
  const bool ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
  if (reply != nullptr) freeReplyObject(reply);
  redisFree(c);
  REQUIRE(ok);
}

/// The port of a postgresql:// URL or key=value conninfo (5432 when it names none).
int postgres_port(const std::string& url) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) {
    const auto at = url.find("port=");
    return at == std::string::npos ? 5432 : std::stoi(url.substr(at + 5));
  }
  const auto start = scheme + 3;
  const auto end = url.find_first_of("/?", start);
  std::string authority =
      url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (const auto at = authority.rfind('@'); at != std::string::npos)
    authority = authority.substr(at + 1);
  const auto colon = authority.rfind(':');
  return colon == std::string::npos ? 5432 : std::stoi(authority.substr(colon + 1));
}

/// `url` with its host and port replaced by 127.0.0.1:`port`.
std::string with_port(const std::string& url, int port) {
  const auto scheme = url.find("://");
  if (scheme == std::string::npos) return url + " host=127.0.0.1 port=" + std::to_string(port);
  const auto start = scheme + 3;
  const auto end = url.find_first_of("/?", start);
  const std::string authority =
      url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  const auto at = authority.rfind('@');
  const std::string user = at == std::string::npos ? "" : authority.substr(0, at + 1);
  return url.substr(0, start) + user + "127.0.0.1:" + std::to_string(port) +
         (end == std::string::npos ? "" : url.substr(end));
}

NewExam new_exam(const std::string& name) {
  const auto now = std::chrono::system_clock::now();
  return NewExam{name, now, now + 2h, "{}"};
}

struct World {
  Exam exam;
  std::vector<StudentId> students;
};

World make_world(Store& store, int n) {
  World w;
  w.exam = store.exams().create(new_exam("fault exam"));
  const std::string run = examstore::test::unique_name("f");
  for (int i = 0; i < n; ++i) {
    NewStudent s;
    s.external_no = run + "-" + std::to_string(i);
    s.name = "Student " + std::to_string(i);
    const StudentId id = store.students().create(s).id;
    store.students().enroll(w.exam.id, id);
    w.students.push_back(id);
  }
  return w;
}

NewViolation violation_of(ExamId exam, StudentId student, int i) {
  NewViolation v;
  v.exam_id = exam;
  v.student_id = student;
  v.kind = static_cast<ViolationKind>(i % 7);
  v.severity = 1 + i % 5;
  v.reason = "fault run " + std::to_string(i);
  v.occurred_at = std::chrono::system_clock::now();
  return v;
}

std::string code_name(const Error& e) { return std::string(examstore::to_string(e.code())); }

}  // namespace

TEST_CASE("support: TcpProxy forwards both ways, cuts and restores", "[fault][redis]") {
  const auto target = examstore::parse_redis_url(examstore::test::redis_url());
  examstore::test::TcpProxy proxy(target.port);
  auto connect = [&]() { return redisConnect("127.0.0.1", proxy.port()); };
  auto command = [](redisContext* c,
                    const std::vector<std::string>& argv) -> std::optional<std::string> {
    std::vector<const char*> args;
    std::vector<std::size_t> lens;
    for (const auto& a : argv) {
      args.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lens.data()));
    if (r == nullptr) return std::nullopt;
    std::string out = r->str != nullptr ? std::string(r->str, r->len) : std::to_string(r->integer);
    freeReplyObject(r);
    return out;
  };
  const std::string key = examstore::test::unique_name("proxy") + ":big";
  const std::string big(4 * 1024 * 1024, 'x');  // larger than the proxy's buffers and the socket's

  redisContext* c = connect();
  REQUIRE(c != nullptr);
  REQUIRE(c->err == 0);
  CHECK(command(c, {"PING"}) == "PONG");
  CHECK(command(c, {"SET", key, big, "PX", "60000"}) == "OK");
  CHECK(command(c, {"GET", key}) == big);
  CHECK(proxy.accepted() == 1);
  CHECK(proxy.open_connections() == 1);

  proxy.cut();
  CHECK(proxy.open_connections() == 0);
  CHECK_FALSE(command(c, {"PING"}).has_value());  // the open connection was closed
  redisFree(c);
  redisContext* refused = connect();
  REQUIRE(refused != nullptr);
  CHECK(refused->err != 0);  // refused: the backend looks down
  redisFree(refused);
  proxy.cut();  // idempotent

  proxy.restore();
  proxy.restore();  // idempotent
  c = connect();
  REQUIRE(c != nullptr);
  REQUIRE(c->err == 0);
  CHECK(command(c, {"GET", key}) == big);
  CHECK(command(c, {"DEL", key}) == "1");
  redisFree(c);
  // The client closed: the proxy closes its side too (bounded polling).
  const auto deadline = Clock::now() + 5s;
  while (proxy.open_connections() != 0 && Clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  CHECK(proxy.open_connections() == 0);
  CHECK(proxy.accepted() == 2);
}

TEST_CASE("fault: ids are never reused when Redis is flushed or restarted",
          "[fault][redis][postgres]") {
  examstore::test::RedisProcess redis;
  TempDatabase db;
  Config c;
  c.with_redis_url(redis.url());
  c.with_database_url(db.url());
  c.migrate_on_open = true;
  c.redis.connect_timeout = 300ms;
  c.redis.command_timeout = 1000ms;
  c.key_prefix = "fault";  // a private Redis: no neighbours to collide with
  auto store = Store::open(c);
  World w = make_world(*store, 5);

  std::vector<ViolationId> violation_ids;
  std::vector<ExamId> exam_ids{w.exam.id};
  int counter = 0;
  // Records violations and creates exams; each new id must be new to PostgreSQL.
  auto phase = [&](Store& s, const World& world, const char* name, bool redis_up = true) {
    INFO("phase: " << name);
    const std::set<std::int64_t> violations_before = ids_in(db, "violations");
    const std::set<std::int64_t> exams_before = ids_in(db, "exams");
    for (int i = 0; i < 40; ++i, ++counter) {
      const Durability d = i % 4 == 0 ? Durability::kCommitted : Durability::kCached;
      const ViolationId id = s.violations().record(
          violation_of(world.exam.id, world.students[static_cast<std::size_t>(i % 5)], counter), d);
      CHECK(violations_before.count(id) == 0);
      violation_ids.push_back(id);
    }
    for (int i = 0; i < 3; ++i) {
      const Exam e = s.exams().create(new_exam(std::string("exam of ") + name));
      CHECK(exams_before.count(e.id) == 0);
      const auto got = s.exams().get(e.id);  // nothing stale under the new id
      REQUIRE(got);
      CHECK(got->name == std::string("exam of ") + name);
      if (redis_up) {
        CHECK(s.students().online_count(e.id) == 0);
        CHECK(s.violations().live_counts(e.id).empty());
      } else {
        // Live views are the hot tier's: while it is down they fail, retryably.
        try {
          s.violations().live_counts(e.id);
          FAIL("live_counts succeeded with Redis down");
        } catch (const Error& err) {
          CHECK(err.retryable());
        }
      }
      exam_ids.push_back(e.id);
    }
    s.flush();
  };

  phase(*store, w, "before");
  flush_redis(redis.port());
  phase(*store, w, "after FLUSHALL");
  redis.kill();
  phase(*store, w, "while Redis is down", false);
  redis.start();
  phase(*store, w, "after the restart");
  flush_redis(redis.port());
  {
    // A restarted process: a second Store on the same servers, with an empty Redis.
    auto second = Store::open(c);
    phase(*second, w, "second store");
  }
  phase(*store, w, "first store again");

  CHECK(std::set<ViolationId>(violation_ids.begin(), violation_ids.end()).size() ==
        violation_ids.size());
  CHECK(std::set<ExamId>(exam_ids.begin(), exam_ids.end()).size() == exam_ids.size());
  const auto stored = ids_in(db, "violations");
  CHECK(stored == std::set<std::int64_t>(violation_ids.begin(), violation_ids.end()));
  CHECK(row_count(db, "violations") == static_cast<std::int64_t>(violation_ids.size()));
  CHECK(ids_in(db, "exams") == std::set<std::int64_t>(exam_ids.begin(), exam_ids.end()));
  CHECK(store->write_behind_metrics().dead_lettered == 0);
}

TEST_CASE("fault: PostgreSQL down for 10 s under load loses no acknowledged violation",
          "[fault][redis][postgres]") {
  TempDatabase db;
  {
    Config m;
    m.with_database_url(db.url());
    Store::open(m)->migrate_up();
  }
  examstore::test::TcpProxy proxy(postgres_port(db.url()));
  TempDir dir;
  Config c;
  c.with_redis_url(examstore::test::redis_url());
  c.with_database_url(with_port(db.url(), proxy.port()));
  c.key_prefix = examstore::test::unique_name("pgdown");
  c.write_behind.retry_initial = 50ms;
  c.write_behind.retry_max = 500ms;
  c.write_behind.journal_dir = dir.journal();
  c.write_behind.drain_timeout = 30s;
  c.presence.missing_after = 1s;  // so presence keeps changing during the outage
  c.presence.offline_after = 2s;
  auto store = Store::open(c);
  constexpr int kStudents = 20;
  World w = make_world(*store, kStudents);
  REQUIRE(proxy.accepted() > 0);  // the database really goes through the proxy

  struct Outcome {
    std::vector<ViolationId> acked;
    std::map<std::string, int> errors;  // code -> count
    std::int64_t calls = 0;
  };
  std::atomic<bool> stop{false};
  Outcome cached;
  Outcome journaled;
  Outcome presence;
  auto recorder = [&](Outcome& out, Durability d, int offset) {
    for (int i = 0; !stop; ++i) {
      ++out.calls;
      try {
        out.acked.push_back(store->violations().record(
            violation_of(w.exam.id, w.students[static_cast<std::size_t>((i + offset) % kStudents)],
                         i),
            d));
        std::this_thread::sleep_for(2ms);
      } catch (const Error& e) {
        ++out.errors[code_name(e)];
        std::this_thread::sleep_for(20ms);
      }
    }
  };
  std::thread t1(recorder, std::ref(cached), Durability::kCached, 0);
  std::thread t2(recorder, std::ref(journaled), Durability::kJournaled, 7);
  std::thread t3([&] {
    // Half the class goes silent for 3 s at a time, so students keep moving between online,
    // missing and offline: attendance writes queue up during the outage too.
    for (int tick = 0; !stop; ++tick) {
      ++presence.calls;
      try {
        const auto now = std::chrono::system_clock::now();
        const bool odd_half_silent = (tick / 30) % 2 == 1;
        std::vector<examstore::Heartbeat> beats;
        for (int i = 0; i < kStudents; ++i) {
          if (odd_half_silent && i % 2 == 1) continue;
          beats.push_back({w.students[static_cast<std::size_t>(i)], "10.1.0." + std::to_string(i)});
        }
        store->students().heartbeat_batch(w.exam.id, beats, now);
        store->students().sweep(w.exam.id, now);
      } catch (const Error& e) {
        ++presence.errors[code_name(e)];
      }
      std::this_thread::sleep_for(100ms);
    }
  });

  std::this_thread::sleep_for(1500ms);
  proxy.cut();
  std::this_thread::sleep_for(10s);
  proxy.restore();
  std::this_thread::sleep_for(1500ms);
  stop = true;
  t1.join();
  t2.join();
  t3.join();

  // Errors are allowed only while PostgreSQL was unreachable, and only of retryable kinds
  // (reserving a new id block needs the database).
  for (const Outcome* o : {&cached, &journaled, &presence}) {
    for (const auto& [code, n] : o->errors) {
      INFO(n << " error(s) " << code);
      CHECK((code == "unavailable" || code == "timeout"));
    }
  }
  INFO("acknowledged: " << cached.acked.size() << " cached, " << journaled.acked.size()
                        << " journaled, of " << cached.calls + journaled.calls << " calls");
  REQUIRE(cached.acked.size() > 100);
  REQUIRE(journaled.acked.size() > 100);

  store->flush(120s);
  const auto m = store->write_behind_metrics();
  CHECK(m.retried > 0);
  CHECK(m.dead_lettered == 0);
  CHECK(m.depth == 0);
  CHECK(store->dead_letters().empty());

  std::set<std::int64_t> acked(cached.acked.begin(), cached.acked.end());
  acked.insert(journaled.acked.begin(), journaled.acked.end());
  CHECK(acked.size() == cached.acked.size() + journaled.acked.size());  // unique ids
  const auto stored = ids_in(db, "violations");
  std::vector<std::int64_t> missing;
  for (const auto id : acked) {
    if (stored.count(id) == 0) missing.push_back(id);
  }
  INFO("first missing ids: " << (missing.empty() ? std::string("none")
                                                 : std::to_string(missing.front())));
  CHECK(missing.empty());
  CHECK(row_count(db, "violations") == static_cast<std::int64_t>(acked.size()));

  // The persisted attendance converged to the live presence of every student.
  for (const StudentId s : w.students) {
    const Presence live = store->students().presence(w.exam.id, s).status;
    INFO("student " << s);
    CHECK(db.query_value(
              "SELECT status FROM exam_attendance WHERE exam_id = " + std::to_string(w.exam.id) +
              " AND student_id = " + std::to_string(s)) == std::string(examstore::to_string(live)));
  }
}

TEST_CASE("fault: a poison record is dead-lettered alone, retry and drop work on it",
          "[fault][postgres]") {
  TempDatabase db;
  Config c;
  c.with_database_url(db.url());
  c.migrate_on_open = true;
  c.write_behind.max_delay = 200ms;  // the whole burst goes out as one batch
  auto store = Store::open(c);
  World w = make_world(*store, 5);
  const StudentId poison = w.students[2];
  // Deleted behind the seat map's back (the attendance row goes with it, ON DELETE CASCADE):
  // record() still accepts the student, PostgreSQL rejects the row for good.
  db.query_value("DELETE FROM students WHERE id = " + std::to_string(poison));

  std::vector<ViolationId> good;
  ViolationId bad = 0;
  for (int i = 0; i < 25; ++i) {
    const StudentId s = w.students[static_cast<std::size_t>(i % 5)];
    if (s == poison && bad != 0) continue;
    const ViolationId id =
        store->violations().record(violation_of(w.exam.id, s, i), Durability::kCached);
    if (s == poison) {
      bad = id;
    } else {
      good.push_back(id);
    }
  }
  REQUIRE(bad != 0);
  store->flush();

  const auto stored = ids_in(db, "violations");
  CHECK(stored == std::set<std::int64_t>(good.begin(), good.end()));
  CHECK(stored.count(bad) == 0);
  auto m = store->write_behind_metrics();
  CHECK(m.dead_lettered == 1);
  CHECK(m.committed == static_cast<std::int64_t>(good.size()));
  CHECK(m.depth == 0);

  auto letters = store->dead_letters();
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].queue == "violation");
  CHECK_THAT(letters[0].payload, Catch::Contains(std::to_string(bad)));
  CHECK_FALSE(letters[0].error.empty());
  CHECK(letters[0].sqlstate == "23503");  // foreign_key_violation
  CHECK(letters[0].attempts >= 1);
  const std::int64_t first_letter = letters[0].id;

  // Retrying fails again (the student is still gone) and keeps exactly one dead letter.
  try {
    store->retry_dead_letter(first_letter);
    FAIL("retry of a poison record succeeded");
  } catch (const Error& e) {
    INFO("retry: " << e.what());
    CHECK_FALSE(e.retryable());
  }
  letters = store->dead_letters();
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].queue == "violation");
  CHECK_THAT(letters[0].payload, Catch::Contains(std::to_string(bad)));
  CHECK_FALSE(letters[0].error.empty());
  CHECK(row_count(db, "dead_letters") == 1);
  CHECK(ids_in(db, "violations").count(bad) == 0);

  // Unknown ids.
  try {
    store->retry_dead_letter(letters[0].id + 1000);
    FAIL("retry of an unknown dead letter succeeded");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kNotFound);
  }
  CHECK_FALSE(store->drop_dead_letter(letters[0].id + 1000));

  CHECK(store->drop_dead_letter(letters[0].id));
  CHECK(store->dead_letters().empty());
  CHECK_FALSE(store->drop_dead_letter(letters[0].id));
  CHECK(row_count(db, "dead_letters") == 0);
  CHECK(ids_in(db, "violations") == std::set<std::int64_t>(good.begin(), good.end()));
}

// Regression: StudentRepo::sweep applies the transitions in the hot tier first, then maps each
// seat back to its student, which needs the database when this process has not loaded the
// exam's seat map (a process that enrolled the students itself never has). With PostgreSQL
// down, sweep throws after the transitions were applied: they are neither returned nor queued,
// and a retried sweep finds nothing left to do, so exam_attendance keeps the old status.
TEST_CASE("regression: a sweep failing while PostgreSQL is down loses the transitions it applied",
          "[fault][redis][postgres]") {
  TempDatabase db;
  {
    Config m;
    m.with_database_url(db.url());
    Store::open(m)->migrate_up();
  }
  examstore::test::TcpProxy proxy(postgres_port(db.url()));
  Config c;
  c.with_redis_url(examstore::test::redis_url());
  c.with_database_url(with_port(db.url(), proxy.port()));
  c.key_prefix = examstore::test::unique_name("sweep");
  c.write_behind.retry_max = 500ms;
  auto store = Store::open(c);
  World w = make_world(*store, 2);
  const examstore::TimePoint t0{std::chrono::seconds(1'893'456'000)};
  for (const StudentId s : w.students)
    REQUIRE(store->students().heartbeat(w.exam.id, s, "10.2.0.1", t0));
  store->flush();
  REQUIRE(db.query_value("SELECT count(*) FROM exam_attendance WHERE status = 'online'") == "2");

  proxy.cut();
  std::vector<examstore::PresenceTransition> reported;
  try {
    reported = store->students().sweep(w.exam.id, t0 + 400s);
  } catch (const Error& e) {
    INFO("sweep while PostgreSQL is down: " << e.what());
    CHECK(e.retryable());  // a failure is acceptable; losing the transitions is not
  }
  proxy.restore();
  // The caller sweeps again, as it does every few seconds.
  for (int i = 1; i <= 3; ++i) {
    for (const auto& t : store->students().sweep(w.exam.id, t0 + 400s + std::chrono::seconds(i))) {
      reported.push_back(t);
    }
  }
  store->flush(60s);

  for (const StudentId s : w.students) {
    INFO("student " << s);
    CHECK(store->students().presence(w.exam.id, s).status == Presence::kOffline);
    CHECK(db.query_value(
              "SELECT status FROM exam_attendance WHERE exam_id = " + std::to_string(w.exam.id) +
              " AND student_id = " + std::to_string(s)) == "offline");
  }
  CHECK(reported.size() == 2);  // each transition reported once
}
