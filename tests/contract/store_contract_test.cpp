// tests/contract/store_contract_test.cpp: the contract of the durable-tier stores
// (db/stores.hpp), run against every implementation.
//
// Each TEMPLATE_TEST_CASE runs twice: on the in-memory database (MemoryStores) and on
// PostgreSQL (PostgresStores), so any behaviour in which the in-memory database differs from
// PostgreSQL fails here. Catch2 names the instances "<name> - MemoryStores" and
// "<name> - PostgresStores"; select the PostgreSQL half by name ("*PostgresStores"). It needs
// EXAMSTORE_TEST_DATABASE_URL and fails (never skips) without it.
//
// Isolation: every PostgreSQL test case runs in a database of its own (TempDatabase, migrated
// with the shipped migrations, dropped at the end), so sequences start fresh as they do in a
// fresh in-memory database, and a test may assert exact ids and whole listings.
//
// Catch2's assertion macros are not thread-safe: the concurrency tests only record results in
// their threads and assert in the main thread.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "db/pg_pool.hpp"
#include "db/stores.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/model.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::Attendance;
using examstore::ErrorCode;
using examstore::Event;
using examstore::Exam;
using examstore::ExamId;
using examstore::ExamStatus;
using examstore::NewExam;
using examstore::NewStudent;
using examstore::Presence;
using examstore::ReviewState;
using examstore::Student;
using examstore::StudentId;
using examstore::TimePoint;
using examstore::Violation;
using examstore::ViolationId;
using examstore::ViolationKind;
namespace db = examstore::db;

// ---- the implementations under test ----

/// The embedded in-memory database: a fresh one per test.
class MemoryStores {
 public:
  MemoryStores() : stores_(db::make_memory_stores()) {}
  db::Stores& stores() { return stores_; }

 private:
  db::Stores stores_;
};

/// PostgreSQL: a fresh, migrated database per test. Members are destroyed in reverse order:
/// the stores before the pool, the pool (its connections) before the database is dropped.
class PostgresStores {
 public:
  // Migrated by the owner; the stores run as the least-privilege application role.
  PostgresStores() : pool_(examstore::parse_postgres_url(database_.migrate_and_restrict())) {
    stores_ = db::make_postgres_stores(pool_);
  }
  db::Stores& stores() { return stores_; }

 private:
  examstore::test::TempDatabase database_;
  db::PgPool pool_;
  db::Stores stores_;
};

// ---- helpers ----

/// A time with a non-zero microsecond part (2025-10-09T08:53:20.123457Z).
const TimePoint kT0{std::chrono::microseconds(1'760'000'000'123'457)};

/// Microseconds since the epoch: prints readably in Catch2's messages (a TimePoint is "{?}").
std::int64_t us(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
/// As us(), or -1 for none.
std::int64_t us(const std::optional<TimePoint>& t) { return t ? us(*t) : -1; }

/// The examstore::Error `f` throws; fails the test when it throws none.
template <typename F>
examstore::Error error_of(F&& f) {
  try {
    f();
  } catch (const examstore::Error& e) {
    return e;
  }
  FAIL("expected an examstore::Error, but the call succeeded");
  throw std::logic_error("unreachable");
}

/// `expr` throws examstore::Error with `code` and a message containing `needle`.
#define REQUIRE_ERROR(expr, want_code, needle)                                   \
  do {                                                                           \
    const examstore::Error err_ = error_of([&] { (void)(expr); });               \
    INFO("error: " << err_.what());                                              \
    CHECK(examstore::to_string(err_.code()) == examstore::to_string(want_code)); \
    CHECK_THAT(err_.message(), Catch::Contains(needle));                         \
  } while (false)

NewExam new_exam(std::string name, TimePoint starts_at, std::string config = "{}") {
  NewExam e;
  e.name = std::move(name);
  e.starts_at = starts_at;
  e.ends_at = starts_at + 2h;
  e.config = std::move(config);
  return e;
}

NewStudent new_student(std::string external_no, std::string name = "Student") {
  NewStudent s;
  s.external_no = std::move(external_no);
  s.name = std::move(name);
  return s;
}

std::vector<ExamId> ids_of(const std::vector<Exam>& exams) {
  std::vector<ExamId> out;
  for (const auto& e : exams) out.push_back(e.id);
  return out;
}
std::vector<ViolationId> ids_of(const std::vector<Violation>& rows) {
  std::vector<ViolationId> out;
  for (const auto& v : rows) out.push_back(v.id);
  return out;
}
std::vector<std::int64_t> ids_of(const std::vector<Event>& rows) {
  std::vector<std::int64_t> out;
  for (const auto& e : rows) out.push_back(e.id);
  return out;
}

void check_same(const Exam& a, const Exam& b) {
  CHECK(a.id == b.id);
  CHECK(a.name == b.name);
  CHECK(us(a.starts_at) == us(b.starts_at));
  CHECK(us(a.ends_at) == us(b.ends_at));
  CHECK(to_string(a.status) == to_string(b.status));
  CHECK(a.config == b.config);
  CHECK(a.config_version == b.config_version);
  CHECK(a.version == b.version);
  CHECK(us(a.created_at) == us(b.created_at));
  CHECK(us(a.updated_at) == us(b.updated_at));
}

void check_same(const Violation& a, const Violation& b) {
  CHECK(a.id == b.id);
  CHECK(a.exam_id == b.exam_id);
  CHECK(a.student_id == b.student_id);
  CHECK(to_string(a.kind) == to_string(b.kind));
  CHECK(a.severity == b.severity);
  CHECK(a.reason == b.reason);
  CHECK(a.screenshot_path == b.screenshot_path);
  CHECK(us(a.occurred_at) == us(b.occurred_at));
  CHECK(to_string(a.state) == to_string(b.state));
  CHECK(a.reviewed_by == b.reviewed_by);
  CHECK(us(a.reviewed_at) == us(b.reviewed_at));
  CHECK(a.review_note == b.review_note);
}

void check_same(const Attendance& a, const Attendance& b) {
  CHECK(a.exam_id == b.exam_id);
  CHECK(a.student_id == b.student_id);
  CHECK(to_string(a.status) == to_string(b.status));
  CHECK(us(a.login_at) == us(b.login_at));
  CHECK(us(a.logout_at) == us(b.logout_at));
  CHECK(a.last_ip == b.last_ip);
  CHECK(us(a.last_heartbeat_at) == us(b.last_heartbeat_at));
  CHECK(a.version == b.version);
}

/// `t` is within [from - 1 s, to + 1 s]: a server-side now() (PostgreSQL's transaction start)
/// bracketed by the client's clock, with slack for rounding.
void check_between(TimePoint t, TimePoint from, TimePoint to) {
  CHECK(us(t) >= us(from) - 1'000'000);
  CHECK(us(t) <= us(to) + 1'000'000);
}

Violation violation(ViolationId id, ExamId exam, StudentId student, ViolationKind kind,
                    int severity, TimePoint occurred_at) {
  Violation v;
  v.id = id;
  v.exam_id = exam;
  v.student_id = student;
  v.kind = kind;
  v.severity = severity;
  v.occurred_at = occurred_at;
  return v;
}

Event event(std::int64_t id, ExamId exam, StudentId student, std::string kind, std::string payload,
            TimePoint occurred_at) {
  Event e;
  e.id = id;
  e.exam_id = exam;
  e.student_id = student;
  e.kind = std::move(kind);
  e.payload = std::move(payload);
  e.occurred_at = occurred_at;
  return e;
}

db::AttendanceUpdate update(ExamId exam, StudentId student, std::int64_t version, Presence status) {
  db::AttendanceUpdate u;
  u.exam_id = exam;
  u.student_id = student;
  u.version = version;
  u.status = status;
  return u;
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

constexpr ExamStatus kAllStatuses[] = {ExamStatus::kPending, ExamStatus::kRunning,
                                       ExamStatus::kFinished, ExamStatus::kCancelled};

}  // namespace

// ---- exams ----

TEMPLATE_TEST_CASE("stores: an exam round-trips every field exactly", "[store][contract]",
                   MemoryStores, PostgresStores) {
  TestType fx;
  db::ExamStore& exams = *fx.stores().exams;

  // Odd spacing, a duplicate key, escapes and raw UTF-8: kept byte for byte (json, not jsonb).
  const std::string config =
      "{ \"duration\" :  90,\n\t\"rules\": [\"no-phone\" , \"\xc3\xbc\xe6\x9c\x9f\\u00e9\\n\"],"
      " \"a\":{}, \"a\" : 1.50e2 }  ";
  const std::string name = "Algebra \xe2\x9c\x93 \xe6\x9c\x9f\xe6\x9c\xab";  // ✓ 期末
  const TimePoint before = std::chrono::system_clock::now();
  NewExam in = new_exam(name, kT0 + 789ns, config);  // below a microsecond: truncated
  in.ends_at = kT0 + 3h + 1us;
  const Exam created = exams.create(in);
  const TimePoint after = std::chrono::system_clock::now();

  CHECK(created.id == 1);  // a fresh sequence starts at 1
  CHECK(created.name == name);
  CHECK(us(created.starts_at) == us(kT0));
  CHECK(created.starts_at == kT0);
  CHECK(us(created.ends_at) == us(kT0 + 3h + 1us));
  CHECK(created.status == ExamStatus::kPending);
  CHECK(created.config == config);
  CHECK(created.config_version == 1);
  CHECK(created.version == 1);
  check_between(created.created_at, before, after);
  CHECK(us(created.updated_at) == us(created.created_at));

  const auto got = exams.get(created.id);
  REQUIRE(got);
  check_same(*got, created);

  // Times before the epoch and far in the future are exact too.
  NewExam old_exam = new_exam("1969", TimePoint{} - 1500ms + 1us);
  old_exam.ends_at = TimePoint{std::chrono::microseconds(7'258'118'400'000'001)};  // 2200
  const Exam old_created = exams.create(old_exam);
  CHECK(us(old_created.starts_at) == -1'499'999);
  CHECK(us(old_created.ends_at) == 7'258'118'400'000'001);
  const auto old_got = exams.get(old_created.id);
  REQUIRE(old_got);
  check_same(*old_got, old_created);

  CHECK_FALSE(exams.get(created.id + 1000));
  CHECK_FALSE(exams.get(0));
  CHECK_FALSE(exams.get(-1));
}

TEMPLATE_TEST_CASE("stores: exam create rejects bad input by field and writes nothing",
                   "[store][contract]", MemoryStores, PostgresStores) {
  TestType fx;
  db::ExamStore& exams = *fx.stores().exams;

  REQUIRE_ERROR(exams.create(new_exam("", kT0)), ErrorCode::kInvalidArgument, "name");
  REQUIRE_ERROR(exams.create(new_exam(std::string(201, 'x'), kT0)), ErrorCode::kInvalidArgument,
                "name");
  // Characters, not bytes: 201 two-byte characters are too many, 200 are fine.
  REQUIRE_ERROR(exams.create(new_exam(repeat("\xc3\xa9", 201), kT0)), ErrorCode::kInvalidArgument,
                "name");
  REQUIRE_ERROR(exams.create(new_exam("bad \xff utf-8", kT0)), ErrorCode::kInvalidArgument, "name");
  REQUIRE_ERROR(exams.create(new_exam(std::string("nul\0byte", 8), kT0)),
                ErrorCode::kInvalidArgument, "name");

  NewExam same_time = new_exam("x", kT0);
  same_time.ends_at = kT0;
  REQUIRE_ERROR(exams.create(same_time), ErrorCode::kInvalidArgument, "ends_at");
  NewExam backwards = new_exam("x", kT0);
  backwards.ends_at = kT0 - 1us;
  REQUIRE_ERROR(exams.create(backwards), ErrorCode::kInvalidArgument, "ends_at");

  for (const std::string bad : {"", "{", "{\"a\":}", "[1,]", "{} x", "{'a':1}", "NaN"}) {
    INFO("config: " << bad);
    REQUIRE_ERROR(exams.create(new_exam("x", kT0, bad)), ErrorCode::kInvalidArgument, "config");
  }

  CHECK(exams.list(std::nullopt, std::nullopt, std::nullopt, 100).empty());

  const Exam longest = exams.create(new_exam(repeat("\xc3\xa9", 200), kT0));
  CHECK(longest.name == repeat("\xc3\xa9", 200));
  const Exam scalar = exams.create(new_exam("scalar config", kT0, " 42 "));
  CHECK(scalar.config == " 42 ");
  CHECK(ids_of(exams.list(std::nullopt, std::nullopt, std::nullopt, 100)) ==
        std::vector<ExamId>{longest.id, scalar.id});
}

TEMPLATE_TEST_CASE("stores: exams list by status and a from-to window, ordered and limited",
                   "[store][contract]", MemoryStores, PostgresStores) {
  TestType fx;
  db::ExamStore& exams = *fx.stores().exams;
  const ExamId e1 = exams.create(new_exam("e1", kT0 + 2h)).id;
  const ExamId e2 = exams.create(new_exam("e2", kT0)).id;
  const ExamId e3 = exams.create(new_exam("e3", kT0 + 1h)).id;
  const ExamId e4 = exams.create(new_exam("e4", kT0 + 1h)).id;  // same start as e3: by id
  const ExamId e5 = exams.create(new_exam("e5", kT0 + 3h)).id;
  exams.transition(e3, ExamStatus::kRunning);
  exams.transition(e5, ExamStatus::kCancelled);
  const auto none = std::nullopt;
  using Ids = std::vector<ExamId>;

  CHECK(ids_of(exams.list(none, none, none, 100)) == Ids{e2, e3, e4, e1, e5});
  CHECK(ids_of(exams.list(ExamStatus::kPending, none, none, 100)) == Ids{e2, e4, e1});
  CHECK(ids_of(exams.list(ExamStatus::kRunning, none, none, 100)) == Ids{e3});
  CHECK(ids_of(exams.list(ExamStatus::kCancelled, none, none, 100)) == Ids{e5});
  CHECK(exams.list(ExamStatus::kFinished, none, none, 100).empty());
  // from is inclusive, to exclusive
  CHECK(ids_of(exams.list(none, kT0 + 1h, kT0 + 3h, 100)) == Ids{e3, e4, e1});
  CHECK(ids_of(exams.list(none, kT0 + 1h + 1us, kT0 + 3h + 1us, 100)) == Ids{e1, e5});
  CHECK(ids_of(exams.list(none, none, kT0 + 1h, 100)) == Ids{e2});
  CHECK(ids_of(exams.list(none, kT0 + 3h, none, 100)) == Ids{e5});
  CHECK(ids_of(exams.list(ExamStatus::kPending, kT0 + 1h, none, 100)) == Ids{e4, e1});
  CHECK(exams.list(none, kT0 + 1h, kT0 + 1h, 100).empty());
  // limit keeps the first ones of the order
  CHECK(ids_of(exams.list(none, none, none, 2)) == Ids{e2, e3});
  CHECK(ids_of(exams.list(none, none, none, 1)) == Ids{e2});
  CHECK(exams.list(none, none, none, 10000).size() == 5);
  REQUIRE_ERROR(exams.list(none, none, none, 0), ErrorCode::kInvalidArgument, "limit");
  REQUIRE_ERROR(exams.list(none, none, none, -1), ErrorCode::kInvalidArgument, "limit");
  REQUIRE_ERROR(exams.list(none, none, none, 10001), ErrorCode::kInvalidArgument, "limit");
}

TEMPLATE_TEST_CASE("stores: update_config versions the config and logs its history",
                   "[store][contract]", MemoryStores, PostgresStores) {
  TestType fx;
  db::ExamStore& exams = *fx.stores().exams;
  const Exam created = exams.create(new_exam("x", kT0));
  const std::string c1 = "{\"duration\": 60}";
  const std::string c2 = "{ \"duration\" : 90 , \"note\": \"\xe2\x9c\x93\" }";

  const Exam v2 = exams.update_config(created.id, c1, "alice", std::nullopt);
  CHECK(v2.config == c1);
  CHECK(v2.config_version == 2);
  CHECK(v2.version == 2);
  CHECK(to_string(v2.status) == "pending");
  CHECK(us(v2.created_at) == us(created.created_at));
  CHECK(us(v2.updated_at) >= us(created.updated_at));

  const Exam v3 = exams.update_config(created.id, c2, "bob", 2);
  CHECK(v3.config == c2);
  CHECK(v3.config_version == 3);
  CHECK(v3.version == 3);

  // A stale expected version changes nothing.
  REQUIRE_ERROR(exams.update_config(created.id, "{\"lost\":1}", "carol", 2), ErrorCode::kConflict,
                "config_version");
  REQUIRE_ERROR(exams.update_config(created.id, "{\"lost\":1}", "carol", 4), ErrorCode::kConflict,
                "config_version");
  // Bad JSON changes nothing either.
  REQUIRE_ERROR(exams.update_config(created.id, "{\"a\":1,}", "carol", std::nullopt),
                ErrorCode::kInvalidArgument, "config");
  const auto stored = exams.get(created.id);
  REQUIRE(stored);
  check_same(*stored, v3);

  const auto history = exams.config_history(created.id);
  REQUIRE(history.size() == 2);
  CHECK(history[0].version == 2);
  CHECK(history[0].changed_by == "alice");
  CHECK(history[0].old_config == "{}");
  CHECK(history[0].new_config == c1);
  CHECK(us(history[0].changed_at) == us(v2.updated_at));
  CHECK(history[1].version == 3);
  CHECK(history[1].changed_by == "bob");
  CHECK(history[1].old_config == c1);
  CHECK(history[1].new_config == c2);
  CHECK(us(history[1].changed_at) == us(v3.updated_at));

  // A transition bumps version but not config_version, and is not config history.
  const Exam running = exams.transition(created.id, ExamStatus::kRunning);
  CHECK(running.version == 4);
  CHECK(running.config_version == 3);
  CHECK(exams.update_config(created.id, "[]", "dave", 3).version == 5);
  CHECK(exams.config_history(created.id).size() == 3);

  REQUIRE_ERROR(exams.update_config(created.id + 100, "{}", "x", std::nullopt),
                ErrorCode::kNotFound, "exam");
  CHECK(exams.config_history(created.id + 100).empty());
  const Exam other = exams.create(new_exam("other", kT0));
  CHECK(exams.config_history(other.id).empty());
}

TEMPLATE_TEST_CASE("stores: exam transitions are exactly is_legal_transition", "[store][contract]",
                   MemoryStores, PostgresStores) {
  TestType fx;
  db::ExamStore& exams = *fx.stores().exams;
  int legal = 0;
  for (const ExamStatus from : kAllStatuses) {
    for (const ExamStatus to : kAllStatuses) {
      INFO(to_string(from) << " -> " << to_string(to));
      const Exam created = exams.create(new_exam("t", kT0));
      // reach `from` by legal steps
      if (from == ExamStatus::kRunning || from == ExamStatus::kFinished) {
        exams.transition(created.id, ExamStatus::kRunning);
      }
      if (from == ExamStatus::kFinished) exams.transition(created.id, ExamStatus::kFinished);
      if (from == ExamStatus::kCancelled) exams.transition(created.id, ExamStatus::kCancelled);
      const auto before = exams.get(created.id);
      REQUIRE(before);
      REQUIRE(before->status == from);

      if (examstore::is_legal_transition(from, to)) {
        ++legal;
        const Exam moved = exams.transition(created.id, to);
        CHECK(moved.status == to);
        CHECK(moved.version == before->version + 1);
        CHECK(moved.config_version == before->config_version);
        CHECK(us(moved.updated_at) >= us(before->updated_at));
        const auto after = exams.get(created.id);
        REQUIRE(after);
        check_same(*after, moved);
      } else {
        const std::string expected = "cannot move exam " + std::to_string(created.id) + " from " +
                                     std::string(to_string(from)) + " to " +
                                     std::string(to_string(to));
        REQUIRE_ERROR(exams.transition(created.id, to), ErrorCode::kConflict, expected);
        const auto after = exams.get(created.id);
        REQUIRE(after);
        check_same(*after, *before);
      }
    }
  }
  CHECK(legal == 4);
  REQUIRE_ERROR(exams.transition(999999, ExamStatus::kRunning), ErrorCode::kNotFound,
                "exam 999999");
}

TEMPLATE_TEST_CASE("stores: ids come from sequences, strictly increasing, never reused",
                   "[store][contract]", MemoryStores, PostgresStores) {
  TestType fx;
  db::Stores& s = fx.stores();
  std::vector<ExamId> exam_ids;
  std::vector<StudentId> student_ids;
  for (int i = 0; i < 5; ++i) {
    exam_ids.push_back(s.exams->create(new_exam("e" + std::to_string(i), kT0)).id);
    student_ids.push_back(s.students->create(new_student("n" + std::to_string(i))).id);
    // failures in between never hand out an id twice
    REQUIRE_ERROR(s.exams->create(new_exam("", kT0)), ErrorCode::kInvalidArgument, "name");
    REQUIRE_ERROR(s.students->create(new_student("n" + std::to_string(i))), ErrorCode::kConflict,
                  "external_no");
  }
  CHECK(exam_ids.front() == 1);
  CHECK(student_ids.front() == 1);
  for (std::size_t i = 1; i < exam_ids.size(); ++i) {
    CHECK(exam_ids[i] > exam_ids[i - 1]);
    CHECK(student_ids[i] > student_ids[i - 1]);
  }
}

// ---- students ----

TEMPLATE_TEST_CASE("stores: students are created once per external_no and found by it",
                   "[store][contract]", MemoryStores, PostgresStores) {
  TestType fx;
  db::StudentStore& students = *fx.stores().students;

  NewStudent full;
  full.external_no =
      "S-2024-\xc3\xb8"
      "001";
  full.name = "Zo\xc3\xab O'Brien \"Z\"";
  full.class_name = "7B";
  full.email = "zoe@example.org";
  full.phone = "+47 123";
  const Student a = students.create(full);
  CHECK(a.id > 0);
  CHECK(a.external_no == full.external_no);
  CHECK(a.name == full.name);
  CHECK(a.class_name == "7B");
  CHECK(a.email == "zoe@example.org");
  CHECK(a.phone == "+47 123");
  const Student b = students.create(new_student("S-2"));
  CHECK(b.class_name.empty());
  CHECK(b.email.empty());
  CHECK(b.phone.empty());

  for (const auto& got : {students.get(a.id), students.find_by_external_no(full.external_no)}) {
    REQUIRE(got);
    CHECK(got->id == a.id);
    CHECK(got->external_no == a.external_no);
    CHECK(got->name == a.name);
    CHECK(got->class_name == a.class_name);
    CHECK(got->email == a.email);
    CHECK(got->phone == a.phone);
  }
  const auto got_b = students.get(b.id);
  REQUIRE(got_b);
  CHECK(got_b->external_no == "S-2");
  CHECK(got_b->class_name.empty());
  CHECK(got_b->email.empty());
  CHECK(got_b->phone.empty());

  CHECK_FALSE(students.get(b.id + 100));
  CHECK_FALSE(students.find_by_external_no("S-3"));
  CHECK_FALSE(students.find_by_external_no("s-2"));  // exact match
  CHECK_FALSE(students.find_by_external_no(""));

  REQUIRE_ERROR(students.create(new_student("S-2", "someone else")), ErrorCode::kConflict, "S-2");
  CHECK(students.find_by_external_no("S-2")->name == "Student");

  REQUIRE_ERROR(students.create(new_student("")), ErrorCode::kInvalidArgument, "external_no");
  REQUIRE_ERROR(students.create(new_student(std::string(65, '9'))), ErrorCode::kInvalidArgument,
                "external_no");
  REQUIRE_ERROR(students.create(new_student("S-4", "")), ErrorCode::kInvalidArgument, "name");
  REQUIRE_ERROR(students.create(new_student("S-\xc0\xaf")), ErrorCode::kInvalidArgument,
                "external_no");  // overlong encoding: not UTF-8
  CHECK_FALSE(students.find_by_external_no("S-4"));
  const Student longest = students.create(new_student(std::string(64, '9')));
  CHECK(students.find_by_external_no(std::string(64, '9'))->id == longest.id);
}

TEMPLATE_TEST_CASE("stores: enroll hands out dense seats per exam, idempotently",
                   "[store][contract]", MemoryStores, PostgresStores) {
  TestType fx;
  db::Stores& s = fx.stores();
  const ExamId exam = s.exams->create(new_exam("e", kT0)).id;
  const ExamId other = s.exams->create(new_exam("other", kT0)).id;
  std::vector<StudentId> st;
  for (int i = 0; i < 4; ++i)
    st.push_back(s.students->create(new_student("s" + std::to_string(i))).id);

  CHECK(s.students->seats(exam).empty());
  CHECK(s.students->enroll(exam, st[2]) == 0);
  CHECK(s.students->enroll(exam, st[0]) == 1);
  CHECK(s.students->enroll(exam, st[2]) == 0);  // again: same seat
  CHECK(s.students->enroll(exam, st[3]) == 2);
  CHECK(s.students->enroll(exam, st[0]) == 1);
  CHECK(s.students->enroll(other, st[0]) == 0);  // seats are per exam
  CHECK(s.students->enroll(other, st[1]) == 1);

  using Seats = std::vector<std::pair<int, StudentId>>;
  CHECK(s.students->seats(exam) == Seats{{0, st[2]}, {1, st[0]}, {2, st[3]}});
  CHECK(s.students->seats(other) == Seats{{0, st[0]}, {1, st[1]}});

  REQUIRE_ERROR(s.students->enroll(999999, st[1]), ErrorCode::kNotFound, "exam 999999");
  REQUIRE_ERROR(s.students->enroll(exam, 999999), ErrorCode::kNotFound, "student 999999");
  CHECK(s.students->seats(exam) == Seats{{0, st[2]}, {1, st[0]}, {2, st[3]}});
  CHECK(s.students->seats(999999).empty());
  CHECK(s.students->enroll(exam, st[1]) == 3);  // the failures used no seat

  const auto a = s.students->attendance(exam, st[0]);
  REQUIRE(a);
  CHECK(a->exam_id == exam);
  CHECK(a->student_id == st[0]);
  CHECK(a->status == Presence::kEnrolled);
  CHECK(a->version == 0);
  CHECK_FALSE(a->login_at);
  CHECK_FALSE(a->logout_at);
  CHECK_FALSE(a->last_heartbeat_at);
  CHECK(a->last_ip.empty());
  CHECK_FALSE(s.students->attendance(other, st[2]));
  CHECK_FALSE(s.students->attendance(999999, st[0]));
}

TEMPLATE_TEST_CASE("stores: concurrent enrollment gives every student one seat, densely",
                   "[store][contract][concurrency]", MemoryStores, PostgresStores) {
  TestType fx;
  db::Stores& s = fx.stores();
  const ExamId exam = s.exams->create(new_exam("busy", kT0)).id;
  constexpr int kStudents = 40;
  constexpr int kThreads = 4;
  std::vector<StudentId> st;
  for (int i = 0; i < kStudents; ++i) {
    st.push_back(s.students->create(new_student("c" + std::to_string(i))).id);
  }

  // Every thread enrolls every student, each thread in its own order: enrollments race with
  // each other and with repeats of themselves.
  std::mutex mu;  // guards seats_seen, errors
  std::map<StudentId, std::set<int>> seats_seen;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kStudents; ++i) {
        const StudentId student = st[static_cast<std::size_t>((i * (2 * t + 1) + t) % kStudents)];
        try {
          const int seat = s.students->enroll(exam, student);
          std::lock_guard<std::mutex> l(mu);
          seats_seen[student].insert(seat);
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> l(mu);
          errors.emplace_back(e.what());
        }
      }
    });
  }
  for (auto& t : threads) t.join();

  std::string all_errors;
  for (const auto& e : errors) all_errors += e + "\n";
  INFO(all_errors);
  CHECK(errors.empty());
  REQUIRE(seats_seen.size() == static_cast<std::size_t>(kStudents));
  std::set<int> all_seats;
  for (const auto& [student, seen] : seats_seen) {
    INFO("student " << student);
    CHECK(seen.size() == 1);  // every thread got the same seat for it
    all_seats.insert(*seen.begin());
  }
  CHECK(all_seats.size() == static_cast<std::size_t>(kStudents));
  CHECK(*all_seats.begin() == 0);
  CHECK(*all_seats.rbegin() == kStudents - 1);
  const auto seats = s.students->seats(exam);
  REQUIRE(seats.size() == static_cast<std::size_t>(kStudents));
  for (int i = 0; i < kStudents; ++i) {
    CHECK(seats[static_cast<std::size_t>(i)].first == i);
    CHECK(*seats_seen[seats[static_cast<std::size_t>(i)].second].begin() == i);
  }
}

TEMPLATE_TEST_CASE("stores: attendance updates apply only when newer, all or nothing",
                   "[store][contract]", MemoryStores, PostgresStores) {
  TestType fx;
  db::Stores& s = fx.stores();
  db::StudentStore& students = *s.students;
  const ExamId exam = s.exams->create(new_exam("e", kT0)).id;
  const ExamId other = s.exams->create(new_exam("other", kT0)).id;
  const StudentId a = students.create(new_student("a")).id;
  const StudentId b = students.create(new_student("b")).id;
  const StudentId c = students.create(new_student("c")).id;  // not enrolled in `exam`
  students.enroll(exam, a);
  students.enroll(exam, b);
  students.enroll(other, c);

  db::AttendanceUpdate login = update(exam, a, 2, Presence::kOnline);
  login.login_at = kT0 + 1ns;  // truncated like every time
  login.last_ip = "10.0.0.1";
  login.last_heartbeat_at = kT0 + 5s;
  students.apply_attendance({login});
  Attendance expected;
  expected.exam_id = exam;
  expected.student_id = a;
  expected.status = Presence::kOnline;
  expected.login_at = kT0;
  expected.last_ip = "10.0.0.1";
  expected.last_heartbeat_at = kT0 + 5s;
  expected.version = 2;
  {
    const auto got = students.attendance(exam, a);
    REQUIRE(got);
    check_same(*got, expected);
  }

  // older: ignored; the same again (a replay): no-op
  db::AttendanceUpdate older = update(exam, a, 1, Presence::kOffline);
  older.logout_at = kT0 + 1s;
  older.last_ip = "10.9.9.9";
  students.apply_attendance({older});
  students.apply_attendance({login});
  {
    const auto got = students.attendance(exam, a);
    REQUIRE(got);
    check_same(*got, expected);
  }

  // newer: status and given fields overwrite; login_at stays the first; empty ip and absent
  // times keep what is stored
  db::AttendanceUpdate logout = update(exam, a, 3, Presence::kOffline);
  logout.login_at = kT0 + 1h;
  logout.logout_at = kT0 + 2h;
  students.apply_attendance({logout});
  expected.status = Presence::kOffline;
  expected.logout_at = kT0 + 2h;
  expected.version = 3;
  {
    const auto got = students.attendance(exam, a);
    REQUIRE(got);
    check_same(*got, expected);
  }

  // not enrolled (in this exam, or at all): kConflict, nothing of the batch applied
  const db::AttendanceUpdate b_online = update(exam, b, 1, Presence::kOnline);
  REQUIRE_ERROR(students.apply_attendance({b_online, update(exam, c, 1, Presence::kOnline)}),
                ErrorCode::kConflict, "student " + std::to_string(c));
  REQUIRE_ERROR(students.apply_attendance({b_online, update(999999, b, 1, Presence::kOnline)}),
                ErrorCode::kConflict, "not enrolled");
  REQUIRE_ERROR(students.apply_attendance({update(exam, 999999, 1, Presence::kOnline)}),
                ErrorCode::kConflict, "not enrolled");
  {
    const auto got = students.attendance(exam, b);
    REQUIRE(got);
    CHECK(got->status == Presence::kEnrolled);
    CHECK(got->version == 0);
  }

  // One batch, several updates of one row, out of order: folded in version order, as if
  // applied one by one from the lowest version up (reordering a batch changes nothing).
  db::AttendanceUpdate u5 = update(exam, b, 5, Presence::kMissing);
  u5.last_heartbeat_at = kT0 + 50s;
  db::AttendanceUpdate u4 = update(exam, b, 4, Presence::kOnline);
  u4.login_at = kT0 + 40s;
  u4.logout_at = kT0 + 41s;
  u4.last_ip = "10.0.0.4";
  u4.last_heartbeat_at = kT0 + 42s;
  db::AttendanceUpdate u6 = update(exam, b, 6, Presence::kOffline);
  u6.login_at = kT0 + 60s;
  u6.last_ip = "10.0.0.6";
  db::AttendanceUpdate u6_again = update(exam, b, 6, Presence::kSubmitted);  // same version
  db::AttendanceUpdate a_late = update(exam, a, 3, Presence::kOnline);       // not newer
  students.apply_attendance({u5, a_late, u6, u4, u6_again});
  {
    const auto got = students.attendance(exam, b);
    REQUIRE(got);
    Attendance want;
    want.exam_id = exam;
    want.student_id = b;
    want.status = Presence::kOffline;    // v6, the first of the two v6 updates
    want.login_at = kT0 + 40s;           // the first login (v4)
    want.logout_at = kT0 + 41s;          // v4: the only one given
    want.last_ip = "10.0.0.6";           // v6: the newest non-empty
    want.last_heartbeat_at = kT0 + 50s;  // v5: the newest given
    want.version = 6;
    check_same(*got, want);
    const auto got_a = students.attendance(exam, a);
    REQUIRE(got_a);
    check_same(*got_a, expected);
  }

  const auto all = students.attendance_of_exam(exam, std::nullopt);
  REQUIRE(all.size() == 2);
  CHECK(all[0].student_id == a);  // by student id
  CHECK(all[1].student_id == b);
  const auto offline = students.attendance_of_exam(exam, Presence::kOffline);
  CHECK(offline.size() == 2);
  CHECK(students.attendance_of_exam(exam, Presence::kOnline).empty());
  const auto enrolled = students.attendance_of_exam(other, Presence::kEnrolled);
  REQUIRE(enrolled.size() == 1);
  CHECK(enrolled[0].student_id == c);
  CHECK(students.attendance_of_exam(999999, std::nullopt).empty());

  students.apply_attendance({});  // nothing to do
}

TEMPLATE_TEST_CASE("stores: attendance applies a large batch in one call", "[store][contract]",
                   MemoryStores, PostgresStores) {
  TestType fx;
  db::Stores& s = fx.stores();
  const ExamId exam = s.exams->create(new_exam("big", kT0)).id;
  constexpr int kN = 300;
  std::vector<db::AttendanceUpdate> batch;
  for (int i = 0; i < kN; ++i) {
    const StudentId st = s.students->create(new_student("b" + std::to_string(i))).id;
    CHECK(s.students->enroll(exam, st) == i);
    db::AttendanceUpdate u =
        update(exam, st, 1, i % 2 == 0 ? Presence::kOnline : Presence::kMissing);
    u.login_at = kT0 + std::chrono::microseconds(i);
    u.last_ip = "ip,\"{" + std::to_string(i) + "}\\ NULL";  // array-literal specials
    batch.push_back(u);
  }
  s.students->apply_attendance(batch);
  const auto rows = s.students->attendance_of_exam(exam, std::nullopt);
  REQUIRE(rows.size() == static_cast<std::size_t>(kN));
  for (int i = 0; i < kN; ++i) {
    const auto& r = rows[static_cast<std::size_t>(i)];
    CHECK(r.version == 1);
    CHECK(us(r.login_at) == us(kT0) + i);
    CHECK(r.last_ip == "ip,\"{" + std::to_string(i) + "}\\ NULL");
  }
  CHECK(s.students->attendance_of_exam(exam, Presence::kOnline).size() == kN / 2);
}

// ---- violations and events ----

TEMPLATE_TEST_CASE("stores: reserved id blocks are disjoint and ascending", "[store][contract]",
                   MemoryStores, PostgresStores) {
  TestType fx;
  db::ViolationStore& v = *fx.stores().violations;
  const db::IdBlock first = v.reserve_ids(db::IdSequence::kViolation);
  CHECK(first.first == 1);  // like a fresh sequence
  CHECK(first.count == db::kIdBlockSize);
  const db::IdBlock event_first = v.reserve_ids(db::IdSequence::kEvent);
  CHECK(event_first.first == 1);  // a sequence of its own
  CHECK(event_first.count == db::kIdBlockSize);

  db::IdBlock prev = first;
  for (int i = 0; i < 20; ++i) {
    const db::IdBlock next = v.reserve_ids(db::IdSequence::kViolation);
    CHECK(next.count == db::kIdBlockSize);
    CHECK(next.first >= prev.first + prev.count);  // after, not overlapping
    CHECK(next.first == prev.first + db::kIdBlockSize);
    prev = next;
  }
  const db::IdBlock event_second = v.reserve_ids(db::IdSequence::kEvent);
  CHECK(event_second.first == event_first.first + db::kIdBlockSize);
}

TEMPLATE_TEST_CASE("stores: insert_violations is idempotent by id and all or nothing",
                   "[store][contract]", MemoryStores, PostgresStores) {
  TestType fx;
  db::Stores& s = fx.stores();
  db::ViolationStore& store = *s.violations;
  const ExamId exam = s.exams->create(new_exam("e", kT0)).id;
  const StudentId a = s.students->create(new_student("a")).id;
  const StudentId b = s.students->create(new_student("b")).id;
  const ViolationId id = store.reserve_ids(db::IdSequence::kViolation).first;

  Violation v1 = violation(id, exam, a, ViolationKind::kTabSwitch, 3, kT0 + 5us + 999ns);
  v1.reason = "switched \"tabs\" {x,y} NULL \\ \xe2\x9c\x93";
  v1.screenshot_path = "shots/1.png";
  const Violation v2 = violation(id + 1, exam, b, ViolationKind::kCustom, 5, kT0 - 1s);
  store.insert_violations({v1, v2});

  Violation want1 = v1;
  want1.occurred_at = kT0 + 5us;
  {
    const auto got1 = store.get(v1.id);
    REQUIRE(got1);
    check_same(*got1, want1);
    const auto got2 = store.get(v2.id);
    REQUIRE(got2);
    check_same(*got2, v2);
    CHECK(got2->state == ReviewState::kOpen);
    CHECK_FALSE(got2->reviewed_at);
  }

  // A replay is a no-op; a row whose id exists is skipped whatever it holds, even a row that
  // would now violate a foreign key.
  store.insert_violations({v1, v2});
  Violation changed = v1;
  changed.reason = "changed";
  changed.severity = 1;
  Violation dangling = v2;
  dangling.exam_id = 999999;
  store.insert_violations({changed, dangling});
  {
    const auto got1 = store.get(v1.id);
    REQUIRE(got1);
    check_same(*got1, want1);
    const auto got2 = store.get(v2.id);
    REQUIRE(got2);
    check_same(*got2, v2);
  }

  // The same id twice in one batch: the first one is written.
  Violation first = violation(id + 2, exam, a, ViolationKind::kNoFace, 2, kT0);
  first.reason = "first";
  Violation second = first;
  second.reason = "second";
  second.student_id = 999999;  // never looked at
  store.insert_violations({first, second});
  CHECK(store.get(id + 2)->reason == "first");

  // All or nothing: one bad row and the good rows of its batch are not written.
  const Violation good = violation(id + 3, exam, a, ViolationKind::kFocusLost, 1, kT0);
  REQUIRE_ERROR(store.insert_violations(
                    {good, violation(id + 4, exam, 999999, ViolationKind::kFocusLost, 1, kT0)}),
                ErrorCode::kConflict, "");
  REQUIRE_ERROR(store.insert_violations(
                    {good, violation(id + 4, 999999, a, ViolationKind::kFocusLost, 1, kT0)}),
                ErrorCode::kConflict, "");
  REQUIRE_ERROR(store.insert_violations(
                    {good, violation(id + 4, exam, a, ViolationKind::kFocusLost, 9, kT0)}),
                ErrorCode::kInvalidArgument, "severity");
  REQUIRE_ERROR(store.insert_violations(
                    {good, violation(id + 4, exam, a, ViolationKind::kFocusLost, 0, kT0)}),
                ErrorCode::kInvalidArgument, "severity");
  REQUIRE_ERROR(store.insert_violations(
                    {good, violation(id + 4, exam, a, static_cast<ViolationKind>(42), 1, kT0)}),
                ErrorCode::kInvalidArgument, "kind");
  REQUIRE_ERROR(
      store.insert_violations({good, violation(0, exam, a, ViolationKind::kFocusLost, 1, kT0)}),
      ErrorCode::kInvalidArgument, "id");
  Violation long_reason = violation(id + 4, exam, a, ViolationKind::kCustom, 1, kT0);
  long_reason.reason = repeat("\xc3\xbc", 2001);
  REQUIRE_ERROR(store.insert_violations({good, long_reason}), ErrorCode::kInvalidArgument,
                "reason");
  Violation long_path = violation(id + 4, exam, a, ViolationKind::kCustom, 1, kT0);
  long_path.screenshot_path = std::string(501, 'p');
  REQUIRE_ERROR(store.insert_violations({good, long_path}), ErrorCode::kInvalidArgument,
                "screenshot_path");
  CHECK_FALSE(store.get(good.id));
  CHECK_FALSE(store.get(id + 4));

  // the limits themselves are fine (characters, not bytes)
  long_reason.reason = repeat("\xc3\xbc", 2000);
  long_path.screenshot_path = std::string(500, 'p');
  long_path.id = id + 5;
  store.insert_violations({good, long_reason, long_path});
  CHECK(store.get(good.id));
  CHECK(store.get(id + 4)->reason == long_reason.reason);
  CHECK(store.get(id + 5)->screenshot_path == long_path.screenshot_path);

  // A row is stored as given, review fields included.
  Violation reviewed = violation(id + 6, exam, b, ViolationKind::kScreenShare, 4, kT0);
  reviewed.state = ReviewState::kConfirmed;
  reviewed.reviewed_by = "proctor";
  reviewed.reviewed_at = kT0 + 1h;
  reviewed.review_note = "seen on camera";
  store.insert_violations({reviewed});
  {
    const auto got = store.get(reviewed.id);
    REQUIRE(got);
    check_same(*got, reviewed);
  }

  store.insert_violations({});  // nothing to do
  CHECK_FALSE(store.get(id + 999));

  // A full batch, as the write-behind queue sends it.
  std::vector<Violation> batch;
  const ViolationId base = store.reserve_ids(db::IdSequence::kViolation).first;
  for (int i = 0; i < 1000; ++i) {
    Violation v = violation(base + i, exam, i % 2 == 0 ? a : b, ViolationKind::kCopyPaste,
                            1 + i % 5, kT0 + std::chrono::milliseconds(i));
    v.reason = "r" + std::to_string(i);
    batch.push_back(v);
  }
  store.insert_violations(batch);
  store.insert_violations(batch);
  db::ViolationFilter f;
  f.after_id = base - 1;
  f.limit = 10000;
  const auto all = store.query(f);
  REQUIRE(all.size() == 1000);
  CHECK(all.front().id == base);
  CHECK(all.back().id == base + 999);
  CHECK(all[500].reason == "r500");
  CHECK(all[500].severity == 1);
  CHECK(us(all[500].occurred_at) == us(kT0 + 500ms));
}

namespace {

/// Six violations over two exams and two students, inserted out of id order, two reviewed.
struct Seeded {
  ExamId e1 = 0, e2 = 0;
  StudentId a = 0, b = 0;
  std::vector<ViolationId> r;  // r[0..5]
};

Seeded seed_violations(db::Stores& s) {
  Seeded x;
  x.e1 = s.exams->create(new_exam("e1", kT0)).id;
  x.e2 = s.exams->create(new_exam("e2", kT0)).id;
  x.a = s.students->create(new_student("a")).id;
  x.b = s.students->create(new_student("b")).id;
  const ViolationId id = s.violations->reserve_ids(db::IdSequence::kViolation).first;
  for (int i = 0; i < 6; ++i) x.r.push_back(id + i);
  const std::vector<Violation> rows = {
      violation(x.r[3], x.e2, x.a, ViolationKind::kCopyPaste, 4, kT0 + 3s),
      violation(x.r[0], x.e1, x.a, ViolationKind::kTabSwitch, 1, kT0),
      violation(x.r[5], x.e2, x.b, ViolationKind::kTabSwitch, 2, kT0 + 5s),
      violation(x.r[1], x.e1, x.b, ViolationKind::kFocusLost, 2, kT0 + 1s),
      violation(x.r[4], x.e1, x.b, ViolationKind::kNoFace, 5, kT0 + 4s),
      violation(x.r[2], x.e1, x.a, ViolationKind::kTabSwitch, 3, kT0 + 2s),
  };
  s.violations->insert_violations(rows);
  s.violations->review(x.r[2], ReviewState::kConfirmed, "p1", "");
  s.violations->review(x.r[4], ReviewState::kDismissed, "p2", "false alarm");
  return x;
}

}  // namespace

TEMPLATE_TEST_CASE("stores: violations are queried by every filter, by id, with keyset paging",
                   "[store][contract]", MemoryStores, PostgresStores) {
  TestType fx;
  db::Stores& s = fx.stores();
  const Seeded x = seed_violations(s);
  const auto& r = x.r;
  using Ids = std::vector<ViolationId>;
  const auto q = [&](auto&& set) {
    db::ViolationFilter f;
    set(f);
    return ids_of(s.violations->query(f));
  };

  CHECK(q([](auto&) {}) == Ids{r[0], r[1], r[2], r[3], r[4], r[5]});
  CHECK(q([&](auto& f) { f.exam_id = x.e1; }) == Ids{r[0], r[1], r[2], r[4]});
  CHECK(q([&](auto& f) { f.exam_id = x.e2; }) == Ids{r[3], r[5]});
  CHECK(q([&](auto& f) { f.student_id = x.a; }) == Ids{r[0], r[2], r[3]});
  CHECK(q([&](auto& f) { f.from = kT0 + 2s; }) == Ids{r[2], r[3], r[4], r[5]});
  CHECK(q([&](auto& f) { f.to = kT0 + 2s; }) == Ids{r[0], r[1]});
  CHECK(q([&](auto& f) {
          f.from = kT0 + 1s;
          f.to = kT0 + 4s;
        }) == Ids{r[1], r[2], r[3]});
  CHECK(q([&](auto& f) { f.kind = ViolationKind::kTabSwitch; }) == Ids{r[0], r[2], r[5]});
  CHECK(q([&](auto& f) { f.kind = ViolationKind::kScreenShare; }).empty());
  CHECK(q([&](auto& f) { f.state = ReviewState::kOpen; }) == Ids{r[0], r[1], r[3], r[5]});
  CHECK(q([&](auto& f) { f.state = ReviewState::kConfirmed; }) == Ids{r[2]});
  CHECK(q([&](auto& f) { f.state = ReviewState::kDismissed; }) == Ids{r[4]});
  CHECK(q([&](auto& f) {
          f.exam_id = x.e1;
          f.student_id = x.a;
          f.kind = ViolationKind::kTabSwitch;
          f.from = kT0 + 1s;
          f.state = ReviewState::kConfirmed;
        }) == Ids{r[2]});
  CHECK(q([&](auto& f) { f.after_id = r[2]; }) == Ids{r[3], r[4], r[5]});
  CHECK(q([&](auto& f) { f.limit = 2; }) == Ids{r[0], r[1]});
  CHECK(q([&](auto& f) {
          f.exam_id = x.e1;
          f.after_id = r[0];
          f.limit = 2;
        }) == Ids{r[1], r[2]});
  CHECK(q([&](auto& f) { f.exam_id = 999999; }).empty());

  // keyset paging walks everything exactly once, in id order
  Ids paged;
  ViolationId after = 0;
  int pages = 0;
  for (;;) {
    db::ViolationFilter f;
    f.after_id = after;
    f.limit = 4;
    const auto page = s.violations->query(f);
    if (page.empty()) break;
    ++pages;
    for (const auto& v : page) paged.push_back(v.id);
    after = page.back().id;
  }
  CHECK(paged == Ids{r[0], r[1], r[2], r[3], r[4], r[5]});
  CHECK(pages == 2);

  db::ViolationFilter bad;
  bad.limit = 0;
  REQUIRE_ERROR(s.violations->query(bad), ErrorCode::kInvalidArgument, "limit");
  bad.limit = 10001;
  REQUIRE_ERROR(s.violations->query(bad), ErrorCode::kInvalidArgument, "limit");
}

TEMPLATE_TEST_CASE("stores: violation stats count by kind and severity per exam",
                   "[store][contract]", MemoryStores, PostgresStores) {
  TestType fx;
  db::Stores& s = fx.stores();
  const Seeded x = seed_violations(s);

  const db::ViolationStats s1 = s.violations->stats(x.e1);
  CHECK(s1.total == 4);
  CHECK(s1.by_kind == std::map<ViolationKind, std::int64_t>{{ViolationKind::kTabSwitch, 2},
                                                            {ViolationKind::kFocusLost, 1},
                                                            {ViolationKind::kNoFace, 1}});
  CHECK(s1.by_severity == std::map<int, std::int64_t>{{1, 1}, {2, 1}, {3, 1}, {5, 1}});

  const db::ViolationStats s2 = s.violations->stats(x.e2);
  CHECK(s2.total == 2);
  CHECK(s2.by_kind == std::map<ViolationKind, std::int64_t>{{ViolationKind::kTabSwitch, 1},
                                                            {ViolationKind::kCopyPaste, 1}});
  CHECK(s2.by_severity == std::map<int, std::int64_t>{{2, 1}, {4, 1}});

  const db::ViolationStats none = s.violations->stats(999999);
  CHECK(none.total == 0);
  CHECK(none.by_kind.empty());
  CHECK(none.by_severity.empty());
}

TEMPLATE_TEST_CASE("stores: a violation is reviewed, and may be reviewed again",
                   "[store][contract]", MemoryStores, PostgresStores) {
  TestType fx;
  db::Stores& s = fx.stores();
  const ExamId exam = s.exams->create(new_exam("e", kT0)).id;
  const StudentId a = s.students->create(new_student("a")).id;
  const ViolationId id = s.violations->reserve_ids(db::IdSequence::kViolation).first;
  const Violation v = violation(id, exam, a, ViolationKind::kMultipleFaces, 4, kT0);
  s.violations->insert_violations({v});

  const TimePoint before = std::chrono::system_clock::now();
  const Violation confirmed =
      s.violations->review(id, ReviewState::kConfirmed, "proctor-1", "two faces at 10:02");
  const TimePoint after = std::chrono::system_clock::now();
  CHECK(confirmed.state == ReviewState::kConfirmed);
  CHECK(confirmed.reviewed_by == "proctor-1");
  CHECK(confirmed.review_note == "two faces at 10:02");
  REQUIRE(confirmed.reviewed_at);
  check_between(*confirmed.reviewed_at, before, after);
  // the rest of the row is untouched
  CHECK(confirmed.severity == 4);
  CHECK(confirmed.kind == ViolationKind::kMultipleFaces);
  CHECK(us(confirmed.occurred_at) == us(kT0));
  {
    const auto got = s.violations->get(id);
    REQUIRE(got);
    check_same(*got, confirmed);
  }

  const Violation dismissed = s.violations->review(id, ReviewState::kDismissed, "lead", "");
  CHECK(dismissed.state == ReviewState::kDismissed);
  CHECK(dismissed.reviewed_by == "lead");
  CHECK(dismissed.review_note.empty());
  REQUIRE(dismissed.reviewed_at);
  CHECK(us(dismissed.reviewed_at) >= us(confirmed.reviewed_at));
  {
    const auto got = s.violations->get(id);
    REQUIRE(got);
    check_same(*got, dismissed);
  }

  REQUIRE_ERROR(s.violations->review(id, ReviewState::kOpen, "lead", ""),
                ErrorCode::kInvalidArgument, "state");
  REQUIRE_ERROR(s.violations->review(id, ReviewState::kConfirmed, "", ""),
                ErrorCode::kInvalidArgument, "reviewer");
  REQUIRE_ERROR(s.violations->review(id + 1, ReviewState::kConfirmed, "lead", ""),
                ErrorCode::kNotFound, "violation " + std::to_string(id + 1));
  const auto unchanged = s.violations->get(id);
  REQUIRE(unchanged);
  check_same(*unchanged, dismissed);
}

TEMPLATE_TEST_CASE("stores: events are inserted idempotently and read in time order",
                   "[store][contract]", MemoryStores, PostgresStores) {
  TestType fx;
  db::Stores& s = fx.stores();
  db::ViolationStore& store = *s.violations;
  const ExamId exam = s.exams->create(new_exam("e", kT0)).id;
  const ExamId other = s.exams->create(new_exam("other", kT0)).id;
  const StudentId a = s.students->create(new_student("a")).id;
  const StudentId b = s.students->create(new_student("b")).id;
  const std::int64_t id = store.reserve_ids(db::IdSequence::kEvent).first;

  const std::string odd = "{ \"key\" : \"\xe2\x8c\xa8\" ,\n \"t\": [1 ,2] }";
  const std::vector<Event> rows = {
      event(id, exam, a, "keydown", odd, kT0 + 2s + 7ns),
      event(id + 1, exam, b, "blur", "{}", kT0),
      event(id + 2, exam, a, "paste", "\"text\"", kT0),
      event(id + 3, other, a, "blur", "null", kT0),
  };
  store.insert_events(rows);
  store.insert_events(rows);  // replay: no-op

  const auto all = store.events(exam, std::nullopt, 100);
  CHECK(ids_of(all) == std::vector<std::int64_t>{id + 1, id + 2, id});  // occurred_at, then id
  REQUIRE(all.size() == 3);
  CHECK(all[2].exam_id == exam);
  CHECK(all[2].student_id == a);
  CHECK(all[2].kind == "keydown");
  CHECK(all[2].payload == odd);
  CHECK(us(all[2].occurred_at) == us(kT0 + 2s));
  CHECK(all[1].payload == "\"text\"");
  CHECK(ids_of(store.events(exam, a, 100)) == std::vector<std::int64_t>{id + 2, id});
  CHECK(ids_of(store.events(exam, std::nullopt, 2)) == std::vector<std::int64_t>{id + 1, id + 2});
  CHECK(ids_of(store.events(other, std::nullopt, 100)) == std::vector<std::int64_t>{id + 3});
  CHECK(store.events(exam, 999999, 100).empty());
  CHECK(store.events(999999, std::nullopt, 100).empty());

  // all or nothing, with the same errors as violations
  const Event good = event(id + 4, exam, a, "focus", "{}", kT0);
  REQUIRE_ERROR(store.insert_events({good, event(id + 5, exam, a, "x", "{\"a\":", kT0)}),
                ErrorCode::kInvalidArgument, "payload");
  REQUIRE_ERROR(store.insert_events({good, event(id + 5, exam, a, "x", "", kT0)}),
                ErrorCode::kInvalidArgument, "payload");
  REQUIRE_ERROR(store.insert_events({good, event(id + 5, exam, a, "", "{}", kT0)}),
                ErrorCode::kInvalidArgument, "kind");
  REQUIRE_ERROR(
      store.insert_events({good, event(id + 5, exam, a, std::string(65, 'k'), "{}", kT0)}),
      ErrorCode::kInvalidArgument, "kind");
  REQUIRE_ERROR(store.insert_events({good, event(id + 5, 999999, a, "x", "{}", kT0)}),
                ErrorCode::kConflict, "");
  REQUIRE_ERROR(store.insert_events({good, event(id + 5, exam, 999999, "x", "{}", kT0)}),
                ErrorCode::kConflict, "");
  CHECK(store.events(exam, std::nullopt, 100).size() == 3);

  // an existing id is skipped whatever it holds
  Event changed = rows[1];
  changed.payload = "{\"changed\":true}";
  store.insert_events({changed, event(id + 5, exam, b, std::string(64, 'k'), "[]", kT0 + 1s)});
  const auto after = store.events(exam, b, 100);
  REQUIRE(after.size() == 2);
  CHECK(after[0].payload == "{}");
  CHECK(after[1].kind == std::string(64, 'k'));

  REQUIRE_ERROR(store.events(exam, std::nullopt, 0), ErrorCode::kInvalidArgument, "limit");
  REQUIRE_ERROR(store.events(exam, std::nullopt, 10001), ErrorCode::kInvalidArgument, "limit");
}

// ---- dead letters ----

TEMPLATE_TEST_CASE("stores: dead letters are kept oldest first, taken and dropped",
                   "[store][contract]", MemoryStores, PostgresStores) {
  TestType fx;
  db::DeadLetterStore& dl = *fx.stores().dead_letters;
  CHECK(dl.list(std::nullopt, 100).empty());

  const TimePoint before = std::chrono::system_clock::now();
  dl.add("violation", "{\"id\":1}", "insert or update violates foreign key", "23503");
  dl.add("event", "{\"id\":2}", "bad payload", "");
  dl.add("violation", "{\"id\":3, \"x\": \"\xe2\x9c\x93\"}", "check violated", "23514");
  const TimePoint after = std::chrono::system_clock::now();

  const auto all = dl.list(std::nullopt, 100);
  REQUIRE(all.size() == 3);
  CHECK(all[0].id < all[1].id);
  CHECK(all[1].id < all[2].id);
  CHECK(all[0].queue == "violation");
  CHECK(all[0].payload == "{\"id\":1}");
  CHECK(all[0].error == "insert or update violates foreign key");
  CHECK(all[0].sqlstate == "23503");
  CHECK(all[0].attempts == 1);
  check_between(all[0].failed_at, before, after);
  CHECK(all[1].queue == "event");
  CHECK(all[1].sqlstate.empty());
  CHECK(all[2].payload == "{\"id\":3, \"x\": \"\xe2\x9c\x93\"}");

  const auto violations = dl.list(std::string("violation"), 100);
  REQUIRE(violations.size() == 2);
  CHECK(violations[0].id == all[0].id);
  CHECK(violations[1].id == all[2].id);
  CHECK(dl.list(std::string("violation"), 1).size() == 1);
  CHECK(dl.list(std::string("violation"), 1)[0].id == all[0].id);
  CHECK(dl.list(std::string("attendance"), 100).empty());
  REQUIRE_ERROR(dl.list(std::nullopt, 0), ErrorCode::kInvalidArgument, "limit");

  const auto taken = dl.take(all[1].id);
  REQUIRE(taken);
  CHECK(taken->id == all[1].id);
  CHECK(taken->queue == "event");
  CHECK(taken->payload == "{\"id\":2}");
  CHECK(taken->error == "bad payload");
  CHECK(us(taken->failed_at) == us(all[1].failed_at));
  CHECK_FALSE(dl.take(all[1].id));
  CHECK(dl.list(std::nullopt, 100).size() == 2);

  CHECK(dl.drop(all[0].id));
  CHECK_FALSE(dl.drop(all[0].id));
  CHECK_FALSE(dl.drop(999999));
  CHECK_FALSE(dl.take(999999));
  const auto left = dl.list(std::nullopt, 100);
  REQUIRE(left.size() == 1);
  CHECK(left[0].id == all[2].id);

  dl.add("attendance", "{}", "e", "");
  const auto newest = dl.list(std::nullopt, 100);
  REQUIRE(newest.size() == 2);
  CHECK(newest[1].id > all[2].id);  // ids are never reused
}
