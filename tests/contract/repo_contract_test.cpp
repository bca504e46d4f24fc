// tests/contract/repo_contract_test.cpp: the contract of the exam-monitoring repositories
// (examstore/exam_repo.hpp, student_repo.hpp, violation_repo.hpp), run against both backend
// pairs a Store can be opened on.
//
// Each TEMPLATE_TEST_CASE runs twice: on the embedded pair (MemoryPair: memory:// cache and
// database) and on the server pair (RedisPostgresPair: the test Redis and a fresh, migrated
// TempDatabase, with a write-behind journal). Catch2 names the instances "<name> - MemoryPair"
// and "<name> - RedisPostgresPair". The server pair needs EXAMSTORE_TEST_REDIS_URL and
// EXAMSTORE_TEST_DATABASE_URL and fails (never skips) without them.
//
// Isolation: every test opens its own Store with a key_prefix of its own, so tests sharing the
// test Redis never see each other's keys, and (server pair) its own database, so sequences
// start fresh. Journal directories live under a mkdtemp folder removed at the end of the test.
//
// Presence is driven by explicit times (`at`, `now`): nothing here waits for a threshold.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/model.hpp"
#include "examstore/store.hpp"
#include "support/store_pair.hpp"
#include "support/test_env.hpp"

namespace Catch {
template <>
struct StringMaker<examstore::Presence> {
  static std::string convert(examstore::Presence p) { return std::string(examstore::to_string(p)); }
};
template <>
struct StringMaker<examstore::ExamStatus> {
  static std::string convert(examstore::ExamStatus s) {
    return std::string(examstore::to_string(s));
  }
};
template <>
struct StringMaker<examstore::ReviewState> {
  static std::string convert(examstore::ReviewState s) {
    return std::string(examstore::to_string(s));
  }
};
template <>
struct StringMaker<examstore::ViolationKind> {
  static std::string convert(examstore::ViolationKind k) {
    return std::string(examstore::to_string(k));
  }
};
}  // namespace Catch

namespace {

using namespace std::chrono_literals;
using examstore::Attendance;
using examstore::Config;
using examstore::Durability;
using examstore::Error;
using examstore::ErrorCode;
using examstore::Event;
using examstore::Exam;
using examstore::ExamId;
using examstore::ExamStatus;
using examstore::Heartbeat;
using examstore::NewEvent;
using examstore::NewExam;
using examstore::NewStudent;
using examstore::NewViolation;
using examstore::Presence;
using examstore::PresenceTransition;
using examstore::ReviewState;
using examstore::Store;
using examstore::Student;
using examstore::StudentId;
using examstore::TimePoint;
using examstore::Violation;
using examstore::ViolationId;
using examstore::ViolationKind;
using examstore::ViolationQuery;
namespace fs = std::filesystem;

// ---- the backend pairs under test ----

/// How a test wants its Store opened.
struct Options {
  /// Give the store a write-behind journal. The server pair always has one (kJournaled, the
  /// default durability of record(), needs it on PostgreSQL).
  bool journal = false;
  /// Adjusts the Config after the pair has set the backends.
  std::function<void(Config&)> tweak;
};

using examstore::test::TempDir;

/// One Store on one backend pair, with what the pair needs around it. Members are destroyed in
/// reverse order: the Store first (it drains its queue), then the journal, then the database.
class Harness {
 public:
  Harness(bool postgres, const Options& o, bool cluster = false) : postgres_(postgres) {
    if (postgres_) db_ = std::make_unique<examstore::test::TempDatabase>();
    config_.key_prefix = examstore::test::unique_name("rc");
    config_.security.personal_data.keys = {examstore::test::test_data_key("test1")};
    config_.presence.missing_after = 90s;
    config_.presence.offline_after = 300s;
    if (postgres_) {
      config_.with_redis_url(cluster ? examstore::test::cluster_url()
                                     : examstore::test::redis_url());
      config_.with_database_url(db_->migrate_and_restrict());  // runs as the app role
    }
    if (postgres_ || o.journal) {
      journal_ = std::make_unique<TempDir>();
      config_.write_behind.journal_dir = journal_->path() + "/journal";
    }
    if (o.tweak) o.tweak(config_);
    store_ = Store::open(config_);
  }
  ~Harness() { store_.reset(); }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  Store& store() { return *store_; }
  const Config& config() const { return config_; }
  bool postgres() const { return postgres_; }
  /// A second Store on the same backends (server pair only: the embedded pair's backends live
  /// inside one Store).
  std::unique_ptr<Store> open_second(const std::function<void(Config&)>& tweak = {}) const {
    Config c = config_;
    c.write_behind.journal_dir.clear();  // one process per journal
    c.migrate_on_open = false;
    if (tweak) tweak(c);
    return Store::open(c);
  }
  /// Runs SQL on the server pair's database: the first column of the first row, or "".
  std::string sql(const std::string& statement) const {
    REQUIRE(postgres_);
    return db_->query_value(statement);
  }
  /// Whether violation `id` is in the durable tier as a committed row. On the embedded pair
  /// the database is only reachable through the repository, so the queue must be empty for
  /// get() to read the database and not a queued copy.
  bool violation_in_database(ViolationId id) {
    if (postgres_)
      return sql("SELECT count(*) FROM violations WHERE id = " + std::to_string(id)) == "1";
    REQUIRE(store_->write_behind_metrics().depth == 0);
    return store_->violations().get(id).has_value();
  }
  bool event_in_database(ExamId exam, examstore::EventId id) {
    if (postgres_)
      return sql("SELECT count(*) FROM events WHERE id = " + std::to_string(id)) == "1";
    REQUIRE(store_->write_behind_metrics().depth == 0);
    for (const Event& e : store_->violations().events(exam, std::nullopt, 10000)) {
      if (e.id == id) return true;
    }
    return false;
  }

 private:
  bool postgres_;
  std::unique_ptr<examstore::test::TempDatabase> db_;
  std::unique_ptr<TempDir> journal_;
  Config config_;
  std::unique_ptr<Store> store_;
};

struct MemoryPair : Harness {
  explicit MemoryPair(const Options& o = {}) : Harness(false, o) {}
};
struct RedisPostgresPair : Harness {
  explicit RedisPostgresPair(const Options& o = {}) : Harness(true, o) {}
};
struct ClusterPostgresPair : Harness {  // the server pair on the Redis Cluster
  explicit ClusterPostgresPair(const Options& o = {}) : Harness(true, o, true) {}
};

// ---- helpers ----

/// 2030-01-01T00:00:00Z: presence keeps whole seconds, the database microseconds.
const TimePoint kT0{std::chrono::seconds(1'893'456'000)};
/// A time with a microsecond part, for fields the database keeps at microsecond precision.
const TimePoint kT0us{std::chrono::microseconds(1'893'456'000'123'457)};

std::int64_t us(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}
std::int64_t us(const std::optional<TimePoint>& t) { return t ? us(*t) : -1; }

std::string code_name(ErrorCode c) { return std::string(examstore::to_string(c)); }

template <typename F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  FAIL("expected an examstore::Error, but the call succeeded");
  throw std::logic_error("unreachable");
}

/// `expr` throws examstore::Error with `want_code`, whose what() contains `needle`.
#define CHECK_ERROR(expr, want_code, needle)                       \
  do {                                                             \
    const Error err_ = error_of([&] { (void)(expr); });            \
    INFO("error: " << err_.what());                                \
    CHECK(code_name(err_.code()) == code_name(want_code));         \
    CHECK_THAT(std::string(err_.what()), Catch::Contains(needle)); \
  } while (false)

NewExam new_exam(const std::string& name, TimePoint starts = kT0,
                 const std::string& config = "{}") {
  NewExam e;
  e.name = name;
  e.starts_at = starts;
  e.ends_at = starts + 2h;
  e.config = config;
  return e;
}

NewStudent new_student(const std::string& external_no, const std::string& name = "Ada") {
  NewStudent s;
  s.external_no = external_no;
  s.name = name;
  s.class_name = "class 7b";
  s.email = external_no + "@school.example";
  s.phone = "+1 555 0100";
  return s;
}

/// One exam with `n` enrolled students, in enrollment order.
struct World {
  Exam exam;
  std::vector<StudentId> students;
};

World make_world(Store& store, int n) {
  World w;
  w.exam = store.exams().create(new_exam("monitored exam"));
  const std::string run = examstore::test::unique_name("s");
  for (int i = 0; i < n; ++i) {
    const Student s = store.students().create(new_student(run + "-" + std::to_string(i)));
    store.students().enroll(w.exam.id, s.id);
    w.students.push_back(s.id);
  }
  return w;
}

NewViolation new_violation(ExamId exam, StudentId student,
                           ViolationKind kind = ViolationKind::kTabSwitch, int severity = 2,
                           TimePoint at = kT0us) {
  NewViolation v;
  v.exam_id = exam;
  v.student_id = student;
  v.kind = kind;
  v.severity = severity;
  v.reason = "left the exam tab";
  v.screenshot_path = "shots/1.png";
  v.occurred_at = at;
  return v;
}

std::int64_t count_of(const std::vector<std::pair<Presence, std::int64_t>>& counts, Presence p) {
  for (const auto& [presence, n] : counts) {
    if (presence == p) return n;
  }
  return -1;
}

std::vector<ViolationId> ids_of(const std::vector<Violation>& rows) {
  std::vector<ViolationId> out;
  for (const auto& v : rows) out.push_back(v.id);
  return out;
}

/// Keeps queued writes queued until flush() (or a read that needs them committed).
void slow_queue(Config& c) { c.write_behind.max_delay = 60s; }

}  // namespace

// =====================================================================================
// ExamRepo
// =====================================================================================

TEMPLATE_TEST_CASE("exams: create stores every field and get returns them", "[repo][contract]",
                   MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& exams = env.store().exams();
  const std::string config = R"({"proctoring": {"camera": true},  "max_tabs":0})";
  const Exam created = exams.create(new_exam("Algebra I — final", kT0us, config));
  CHECK(created.id > 0);
  CHECK(created.name == "Algebra I — final");
  CHECK(us(created.starts_at) == us(kT0us));
  CHECK(us(created.ends_at) == us(kT0us + 2h));
  CHECK(created.status == ExamStatus::kPending);
  CHECK(created.config == config);  // verbatim, spacing included
  CHECK(created.config_version == 1);
  CHECK(created.version == 1);
  CHECK(created.created_at.time_since_epoch().count() > 0);
  CHECK(created.updated_at >= created.created_at);

  for (int pass = 0; pass < 2; ++pass) {  // the database, then the hot tier
    INFO("pass " << pass);
    const auto got = exams.get(created.id);
    REQUIRE(got);
    CHECK(got->id == created.id);
    CHECK(got->name == created.name);
    CHECK(us(got->starts_at) == us(created.starts_at));
    CHECK(us(got->ends_at) == us(created.ends_at));
    CHECK(got->status == ExamStatus::kPending);
    CHECK(got->config == config);
    CHECK(got->config_version == 1);
    CHECK(got->version == 1);
    CHECK(us(got->created_at) == us(created.created_at));
    CHECK(us(got->updated_at) == us(created.updated_at));
  }
  const Exam second = exams.create(new_exam("Algebra II"));
  CHECK(second.id != created.id);
}

TEMPLATE_TEST_CASE("exams: get of an unknown id is nullopt, a cached absence hides no later create",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& exams = env.store().exams();
  const Exam first = exams.create(new_exam("first"));
  // Ids come from a sequence: the next ones are probed (and cached as absent) before they exist.
  for (ExamId id = first.id + 1; id <= first.id + 10; ++id) {
    CHECK_FALSE(exams.get(id).has_value());
    CHECK_FALSE(exams.get(id).has_value());  // now from the negative cache
  }
  const Exam later = exams.create(new_exam("later"));
  INFO("the probe must cover the id the sequence handed out");
  REQUIRE(later.id > first.id);
  REQUIRE(later.id <= first.id + 10);
  const auto got = exams.get(later.id);
  REQUIRE(got);
  CHECK(got->name == "later");
  CHECK_ERROR(exams.get(0), ErrorCode::kInvalidArgument, "exam id");
}

TEMPLATE_TEST_CASE("exams: create rejects bad input naming the field", "[repo][contract]",
                   MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& exams = env.store().exams();
  CHECK_ERROR(exams.create(new_exam("")), ErrorCode::kInvalidArgument, "name");
  CHECK_ERROR(exams.create(new_exam(std::string(201, 'x'))), ErrorCode::kInvalidArgument, "name");
  CHECK(exams.create(new_exam(std::string(200, 'x'))).name.size() == 200);
  NewExam backwards = new_exam("backwards");
  backwards.ends_at = backwards.starts_at;
  CHECK_ERROR(exams.create(backwards), ErrorCode::kInvalidArgument, "ends_at");
  CHECK_ERROR(exams.create(new_exam("bad config", kT0, "{\"a\":")), ErrorCode::kInvalidArgument,
              "config");
  CHECK(exams.list(std::nullopt, std::nullopt, std::nullopt, 100).size() == 1);
}

TEMPLATE_TEST_CASE("exams: list filters by status and start window, by start, limited",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& exams = env.store().exams();
  // Created out of start order.
  const Exam c = exams.create(new_exam("c", kT0 + 3h));
  const Exam a = exams.create(new_exam("a", kT0 + 1h));
  const Exam d = exams.create(new_exam("d", kT0 + 4h));
  const Exam b = exams.create(new_exam("b", kT0 + 2h));
  exams.transition(b.id, ExamStatus::kRunning);
  exams.transition(d.id, ExamStatus::kRunning);

  auto names = [](const std::vector<Exam>& list) {
    std::string out;
    for (const auto& e : list) out += e.name;
    return out;
  };
  CHECK(names(exams.list(std::nullopt, std::nullopt, std::nullopt, 100)) == "abcd");
  CHECK(names(exams.list(ExamStatus::kRunning, std::nullopt, std::nullopt, 100)) == "bd");
  CHECK(names(exams.list(ExamStatus::kPending, std::nullopt, std::nullopt, 100)) == "ac");
  CHECK(names(exams.list(ExamStatus::kFinished, std::nullopt, std::nullopt, 100)).empty());
  // [from, to): from is inclusive, to exclusive.
  CHECK(names(exams.list(std::nullopt, kT0 + 2h, kT0 + 4h, 100)) == "bc");
  CHECK(names(exams.list(std::nullopt, kT0 + 2h, std::nullopt, 100)) == "bcd");
  CHECK(names(exams.list(std::nullopt, std::nullopt, kT0 + 2h, 100)) == "a");
  CHECK(names(exams.list(ExamStatus::kRunning, kT0 + 3h, std::nullopt, 100)) == "d");
  CHECK(names(exams.list(std::nullopt, std::nullopt, std::nullopt, 2)) == "ab");
  const auto listed = exams.list(ExamStatus::kRunning, std::nullopt, std::nullopt, 1);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].id == b.id);
  CHECK(listed[0].status == ExamStatus::kRunning);
  CHECK(listed[0].version == 2);
  CHECK_ERROR(exams.list(std::nullopt, std::nullopt, std::nullopt, 0), ErrorCode::kInvalidArgument,
              "limit");
  CHECK_ERROR(exams.list(std::nullopt, std::nullopt, std::nullopt, 10001),
              ErrorCode::kInvalidArgument, "limit");
  (void)a;
  (void)c;
}

TEMPLATE_TEST_CASE("exams: update_config bumps the versions and records the history",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& exams = env.store().exams();
  const Exam e = exams.create(new_exam("configurable", kT0, R"({"v":1})"));
  CHECK(exams.config_history(e.id).empty());

  const Exam u1 = exams.update_config(e.id, R"({"v": 2})", "alice");
  CHECK(u1.config == R"({"v": 2})");
  CHECK(u1.config_version == 2);
  CHECK(u1.version == 2);
  const Exam u2 = exams.update_config(e.id, R"({"v":3})", "bob", 2);
  CHECK(u2.config_version == 3);
  CHECK(u2.version == 3);
  CHECK(u2.updated_at >= u1.updated_at);

  const auto history = exams.config_history(e.id);
  REQUIRE(history.size() == 2);
  CHECK(history[0].version == 2);
  CHECK(history[0].changed_by == "alice");
  CHECK(history[0].old_config == R"({"v":1})");
  CHECK(history[0].new_config == R"({"v": 2})");
  CHECK(history[1].version == 3);
  CHECK(history[1].changed_by == "bob");
  CHECK(history[1].old_config == R"({"v": 2})");
  CHECK(history[1].new_config == R"({"v":3})");
  CHECK(history[1].changed_at >= history[0].changed_at);

  // A status change moves version, not config_version.
  const Exam running = exams.transition(e.id, ExamStatus::kRunning);
  CHECK(running.version == 4);
  CHECK(running.config_version == 3);
  CHECK(running.config == R"({"v":3})");
}

TEMPLATE_TEST_CASE("exams: update_config with a stale expected version conflicts, changing nothing",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& exams = env.store().exams();
  const Exam e = exams.create(new_exam("contended", kT0, R"({"v":1})"));
  exams.update_config(e.id, R"({"v":2})", "first", 1);
  CHECK_ERROR(exams.update_config(e.id, R"({"v":"lost"})", "second", 1), ErrorCode::kConflict,
              "config_version");
  const auto got = exams.get(e.id);
  REQUIRE(got);
  CHECK(got->config == R"({"v":2})");
  CHECK(got->config_version == 2);
  CHECK(got->version == 2);
  CHECK(exams.config_history(e.id).size() == 1);
}

TEMPLATE_TEST_CASE("exams: update_config rejects invalid JSON and unknown exams",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& exams = env.store().exams();
  const Exam e = exams.create(new_exam("strict", kT0, R"({"v":1})"));
  for (const char* bad : {"", "{", "{\"a\":1,}", "NaN", "{\"a\":1} trailing"}) {
    INFO("config: " << bad);
    CHECK_ERROR(exams.update_config(e.id, bad, "mallory"), ErrorCode::kInvalidArgument, "config");
  }
  const auto got = exams.get(e.id);
  REQUIRE(got);
  CHECK(got->config == R"({"v":1})");
  CHECK(got->config_version == 1);
  CHECK(exams.config_history(e.id).empty());
  CHECK_ERROR(exams.update_config(e.id + 1000, "{}", "nobody"), ErrorCode::kNotFound,
              std::to_string(e.id + 1000));
  CHECK_ERROR(exams.update_config(0, "{}", "nobody"), ErrorCode::kInvalidArgument, "exam id");
}

TEMPLATE_TEST_CASE("exams: legal transitions move the status and the version", "[repo][contract]",
                   MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& exams = env.store().exams();
  const Exam e = exams.create(new_exam("lifecycle"));
  const Exam running = exams.transition(e.id, ExamStatus::kRunning);
  CHECK(running.status == ExamStatus::kRunning);
  CHECK(running.version == 2);
  const Exam finished = exams.transition(e.id, ExamStatus::kFinished);
  CHECK(finished.status == ExamStatus::kFinished);
  CHECK(finished.version == 3);

  const Exam p = exams.create(new_exam("cancelled while pending"));
  CHECK(exams.transition(p.id, ExamStatus::kCancelled).status == ExamStatus::kCancelled);
  const Exam r = exams.create(new_exam("cancelled while running"));
  exams.transition(r.id, ExamStatus::kRunning);
  CHECK(exams.transition(r.id, ExamStatus::kCancelled).status == ExamStatus::kCancelled);
  CHECK_ERROR(exams.transition(e.id + 1000, ExamStatus::kRunning), ErrorCode::kNotFound,
              std::to_string(e.id + 1000));
}

TEMPLATE_TEST_CASE("exams: an illegal transition names both statuses and changes nothing",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& exams = env.store().exams();
  const Exam e = exams.create(new_exam("illegal moves"));
  CHECK_ERROR(exams.transition(e.id, ExamStatus::kFinished), ErrorCode::kConflict, "pending");
  CHECK_ERROR(exams.transition(e.id, ExamStatus::kFinished), ErrorCode::kConflict, "finished");
  CHECK_ERROR(exams.transition(e.id, ExamStatus::kPending), ErrorCode::kConflict, "pending");
  auto got = exams.get(e.id);
  REQUIRE(got);
  CHECK(got->status == ExamStatus::kPending);
  CHECK(got->version == 1);

  exams.transition(e.id, ExamStatus::kRunning);
  exams.transition(e.id, ExamStatus::kFinished);
  for (const ExamStatus to : {ExamStatus::kRunning, ExamStatus::kPending, ExamStatus::kCancelled,
                              ExamStatus::kFinished}) {
    INFO("finished -> " << examstore::to_string(to));
    const Error err = error_of([&] { exams.transition(e.id, to); });
    CHECK(code_name(err.code()) == "conflict");
    CHECK_THAT(std::string(err.what()), Catch::Contains("finished") &&
                                            Catch::Contains(std::string(examstore::to_string(to))));
  }
  got = exams.get(e.id);
  REQUIRE(got);
  CHECK(got->status == ExamStatus::kFinished);
  CHECK(got->version == 3);
}

TEMPLATE_TEST_CASE("exams: get after a write returns the new version", "[repo][contract]",
                   MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  SECTION("hot tier only") {
    TestType env;
    auto& exams = env.store().exams();
    const Exam e = exams.create(new_exam("cached", kT0, R"({"v":1})"));
    REQUIRE(exams.get(e.id)->version == 1);  // cached now
    REQUIRE(exams.get(e.id)->version == 1);
    exams.update_config(e.id, R"({"v":2})", "alice");
    auto got = exams.get(e.id);
    REQUIRE(got);
    CHECK(got->version == 2);
    CHECK(got->config == R"({"v":2})");
    exams.transition(e.id, ExamStatus::kRunning);
    got = exams.get(e.id);
    REQUIRE(got);
    CHECK(got->version == 3);
    CHECK(got->status == ExamStatus::kRunning);
  }
  SECTION("with the in-process near cache") {
    TestType env(Options{false, [](Config& c) { c.near_cache_ttl = 60s; }});
    auto& exams = env.store().exams();
    const Exam e = exams.create(new_exam("near", kT0, R"({"v":1})"));
    REQUIRE(exams.get(e.id)->version == 1);
    REQUIRE(exams.get(e.id)->version == 1);  // from the near cache
    exams.update_config(e.id, R"({"v":2})", "alice");
    const auto got = exams.get(e.id);
    REQUIRE(got);
    CHECK(got->version == 2);
    CHECK(got->config == R"({"v":2})");
  }
  if (!std::is_same_v<TestType, MemoryPair>) {
    SECTION("a second store on the same servers sees the write") {
      TestType env;
      auto& exams = env.store().exams();
      const Exam e = exams.create(new_exam("shared", kT0, R"({"v":1})"));
      auto other = env.open_second([](Config& c) { c.near_cache_ttl = 60s; });
      REQUIRE(other->exams().get(e.id)->version == 1);  // in Redis and in its near cache
      REQUIRE(other->exams().get(e.id)->version == 1);
      exams.transition(e.id, ExamStatus::kRunning);
      // The near cache of the other store is dropped by the published invalidation, which
      // arrives asynchronously: poll, bounded.
      const auto deadline = std::chrono::steady_clock::now() + 10s;
      std::int64_t seen = 0;
      while (std::chrono::steady_clock::now() < deadline) {
        seen = other->exams().get(e.id)->version;
        if (seen == 2) break;
        std::this_thread::sleep_for(20ms);
      }
      CHECK(seen == 2);
      CHECK(other->exams().get(e.id)->status == ExamStatus::kRunning);
    }
  }
}

// =====================================================================================
// StudentRepo: profiles and enrollment
// =====================================================================================

TEMPLATE_TEST_CASE("students: create, get and find_by_external_no return every field",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& students = env.store().students();
  const Student s = students.create(new_student("S-0001", "Zoë Ångström"));
  CHECK(s.id > 0);
  CHECK(s.external_no == "S-0001");
  CHECK(s.name == "Zoë Ångström");
  CHECK(s.class_name == "class 7b");
  CHECK(s.email == "S-0001@school.example");
  CHECK(s.phone == "+1 555 0100");
  for (int pass = 0; pass < 2; ++pass) {  // the database, then the hot tier
    INFO("pass " << pass);
    const auto got = students.get(s.id);
    REQUIRE(got);
    CHECK(got->id == s.id);
    CHECK(got->external_no == s.external_no);
    CHECK(got->name == s.name);
    CHECK(got->class_name == s.class_name);
    CHECK(got->email == s.email);
    CHECK(got->phone == s.phone);
  }
  const auto found = students.find_by_external_no("S-0001");
  REQUIRE(found);
  CHECK(found->id == s.id);
  CHECK(found->name == s.name);
  CHECK_FALSE(students.find_by_external_no("S-0002").has_value());
  CHECK_FALSE(students.find_by_external_no("s-0001").has_value());
}

TEMPLATE_TEST_CASE(
    "students: get of an unknown id is nullopt, a cached absence hides no later create",
    "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& students = env.store().students();
  const Student first = students.create(new_student("first"));
  for (StudentId id = first.id + 1; id <= first.id + 10; ++id) {
    CHECK_FALSE(students.get(id).has_value());
    CHECK_FALSE(students.get(id).has_value());
  }
  const Student later = students.create(new_student("later"));
  REQUIRE(later.id > first.id);
  REQUIRE(later.id <= first.id + 10);
  const auto got = students.get(later.id);
  REQUIRE(got);
  CHECK(got->external_no == "later");
}

TEMPLATE_TEST_CASE("students: duplicate external numbers conflict, bad input names the field",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& students = env.store().students();
  const Student s = students.create(new_student("dup-1"));
  CHECK_ERROR(students.create(new_student("dup-1", "Someone Else")), ErrorCode::kConflict, "dup-1");
  CHECK(students.find_by_external_no("dup-1")->id == s.id);
  CHECK(students.find_by_external_no("dup-1")->name == "Ada");
  CHECK_ERROR(students.create(new_student("")), ErrorCode::kInvalidArgument, "external_no");
  CHECK_ERROR(students.create(new_student(std::string(65, '9'))), ErrorCode::kInvalidArgument,
              "external_no");
  CHECK(students.create(new_student(std::string(64, '9'))).external_no.size() == 64);
  CHECK_ERROR(students.create(new_student("nameless", "")), ErrorCode::kInvalidArgument, "name");
}

TEMPLATE_TEST_CASE("students: enroll is idempotent, unknown exam or student is kNotFound",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& students = env.store().students();
  World w = make_world(env.store(), 2);
  students.enroll(w.exam.id, w.students[0]);  // again
  students.enroll(w.exam.id, w.students[0]);
  CHECK(count_of(students.presence_counts(w.exam.id), Presence::kEnrolled) == 2);
  CHECK(students.presence(w.exam.id, w.students[0]).status == Presence::kEnrolled);
  CHECK_FALSE(students.presence(w.exam.id, w.students[0]).last_heartbeat.has_value());
  const auto row = students.attendance(w.exam.id, w.students[0]);
  REQUIRE(row);
  CHECK(row->status == Presence::kEnrolled);
  CHECK_FALSE(row->login_at.has_value());

  CHECK_ERROR(students.enroll(w.exam.id + 1000, w.students[0]), ErrorCode::kNotFound,
              std::to_string(w.exam.id + 1000));
  CHECK_ERROR(students.enroll(w.exam.id, w.students[1] + 1000), ErrorCode::kNotFound,
              std::to_string(w.students[1] + 1000));
  CHECK_ERROR(students.enroll(0, w.students[0]), ErrorCode::kInvalidArgument, "exam id");
  CHECK(count_of(students.presence_counts(w.exam.id), Presence::kEnrolled) == 2);
}

// =====================================================================================
// StudentRepo: presence
// =====================================================================================

TEMPLATE_TEST_CASE("presence: the first heartbeat brings a student online, once",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& students = env.store().students();
  World w = make_world(env.store(), 2);
  const StudentId s = w.students[0];
  const auto t = students.heartbeat(w.exam.id, s, "10.0.0.1", kT0);
  REQUIRE(t);
  CHECK(t->student_id == s);
  CHECK(t->from == Presence::kEnrolled);
  CHECK(t->to == Presence::kOnline);
  CHECK_FALSE(students.heartbeat(w.exam.id, s, "10.0.0.1", kT0 + 30s).has_value());
  CHECK_FALSE(students.heartbeat(w.exam.id, s, "10.0.0.2", kT0 + 60s).has_value());
  const auto info = students.presence(w.exam.id, s);
  CHECK(info.student_id == s);
  CHECK(info.status == Presence::kOnline);
  REQUIRE(info.last_heartbeat);
  CHECK(us(*info.last_heartbeat) == us(kT0 + 60s));
  CHECK(students.presence(w.exam.id, w.students[1]).status == Presence::kEnrolled);
}

TEMPLATE_TEST_CASE("presence: heartbeats of a student not enrolled are kNotFound",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& students = env.store().students();
  World w = make_world(env.store(), 2);
  const World other = make_world(env.store(), 1);  // enrolled elsewhere
  const StudentId stranger = other.students[0];
  CHECK_ERROR(students.heartbeat(w.exam.id, stranger, "10.0.0.9", kT0), ErrorCode::kNotFound,
              std::to_string(stranger));
  CHECK_ERROR(students.presence(w.exam.id, stranger), ErrorCode::kNotFound,
              std::to_string(stranger));
  // A batch with one stranger records nobody.
  CHECK_ERROR(students.heartbeat_batch(w.exam.id,
                                       {{w.students[0], "10.0.0.1"}, {stranger, "10.0.0.9"}}, kT0),
              ErrorCode::kNotFound, std::to_string(stranger));
  CHECK(students.presence(w.exam.id, w.students[0]).status == Presence::kEnrolled);
  CHECK_FALSE(students.presence(w.exam.id, w.students[0]).last_heartbeat.has_value());
  CHECK(students.online_count(w.exam.id) == 0);
  CHECK(students.presence(other.exam.id, stranger).status == Presence::kEnrolled);
}

TEMPLATE_TEST_CASE("presence: heartbeat_batch returns the transitions it caused",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& students = env.store().students();
  World w = make_world(env.store(), 4);
  const auto& s = w.students;
  CHECK(students.heartbeat_batch(w.exam.id, {}, kT0).empty());
  CHECK(students.heartbeat(w.exam.id, s[0], "10.0.0.1", kT0).has_value());

  auto t = students.heartbeat_batch(
      w.exam.id, {{s[0], "10.0.0.1"}, {s[1], "10.0.0.2"}, {s[2], "10.0.0.3"}}, kT0 + 10s);
  std::sort(t.begin(), t.end(), [](const PresenceTransition& a, const PresenceTransition& b) {
    return a.student_id < b.student_id;
  });
  REQUIRE(t.size() == 2);
  CHECK(t[0].student_id == s[1]);
  CHECK(t[1].student_id == s[2]);
  for (const auto& x : t) {
    CHECK(x.from == Presence::kEnrolled);
    CHECK(x.to == Presence::kOnline);
  }
  CHECK(students.heartbeat_batch(w.exam.id, {{s[0], "a"}, {s[1], "b"}, {s[2], "c"}}, kT0 + 20s)
            .empty());
  CHECK(students.online_count(w.exam.id) == 3);
  for (int i = 0; i < 3; ++i) {
    const auto info = students.presence(w.exam.id, s[static_cast<std::size_t>(i)]);
    CHECK(info.status == Presence::kOnline);
    CHECK(us(info.last_heartbeat) == us(kT0 + 20s));
  }
  CHECK(students.presence(w.exam.id, s[3]).status == Presence::kEnrolled);
}

TEMPLATE_TEST_CASE("presence: sweep moves online -> missing -> offline, a heartbeat back online",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& students = env.store().students();
  World w = make_world(env.store(), 3);
  const ExamId exam = w.exam.id;
  const StudentId a = w.students[0];
  const StudentId b = w.students[1];  // keeps sending heartbeats
  const StudentId c = w.students[2];  // never connects
  students.heartbeat(exam, a, "10.0.0.1", kT0);
  students.heartbeat(exam, b, "10.0.0.2", kT0);

  // Not yet: silence shorter than missing_after (90 s).
  students.heartbeat(exam, b, "10.0.0.2", kT0 + 80s);
  CHECK(students.sweep(exam, kT0 + 89s).empty());
  CHECK(students.presence(exam, a).status == Presence::kOnline);

  students.heartbeat(exam, b, "10.0.0.2", kT0 + 95s);
  auto t = students.sweep(exam, kT0 + 100s);
  REQUIRE(t.size() == 1);
  CHECK(t[0].student_id == a);
  CHECK(t[0].from == Presence::kOnline);
  CHECK(t[0].to == Presence::kMissing);
  CHECK(students.presence(exam, a).status == Presence::kMissing);
  CHECK(students.presence(exam, b).status == Presence::kOnline);
  CHECK(students.presence(exam, c).status == Presence::kEnrolled);

  // Missing, not yet offline: silence shorter than offline_after (300 s).
  students.heartbeat(exam, b, "10.0.0.2", kT0 + 290s);
  CHECK(students.sweep(exam, kT0 + 299s).empty());
  CHECK(students.presence(exam, a).status == Presence::kMissing);

  students.heartbeat(exam, b, "10.0.0.2", kT0 + 390s);
  t = students.sweep(exam, kT0 + 400s);
  REQUIRE(t.size() == 1);
  CHECK(t[0].student_id == a);
  CHECK(t[0].from == Presence::kMissing);
  CHECK(t[0].to == Presence::kOffline);
  CHECK(students.presence(exam, a).status == Presence::kOffline);
  CHECK(students.sweep(exam, kT0 + 1000s).size() == 1);  // b, silent since kT0 + 390 s
  CHECK(students.presence(exam, b).status == Presence::kOffline);

  const auto back = students.heartbeat(exam, a, "10.0.0.7", kT0 + 1010s);
  REQUIRE(back);
  CHECK(back->from == Presence::kOffline);
  CHECK(back->to == Presence::kOnline);
  CHECK(students.presence(exam, a).status == Presence::kOnline);

  // missing -> online as well.
  students.heartbeat(exam, b, "10.0.0.2", kT0 + 1010s);
  REQUIRE(students.sweep(exam, kT0 + 1110s).size() == 2);
  const auto back_from_missing = students.heartbeat(exam, b, "10.0.0.2", kT0 + 1120s);
  REQUIRE(back_from_missing);
  CHECK(back_from_missing->from == Presence::kMissing);
  CHECK(back_from_missing->to == Presence::kOnline);
  CHECK(students.presence(exam, c).status == Presence::kEnrolled);  // sweep never touches it
}

TEMPLATE_TEST_CASE("presence: hysteresis, one or two lost heartbeats never flip a student",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& students = env.store().students();
  World w = make_world(env.store(), 2);
  const ExamId exam = w.exam.id;
  REQUIRE(students.heartbeat(exam, w.students[0], "10.0.0.1", kT0).has_value());
  REQUIRE(students.heartbeat(exam, w.students[1], "10.0.0.2", kT0).has_value());
  // Student 0 beats every 60 s (every other 30 s beat lost), student 1 every 85 s; a sweep runs
  // every 5 s. Over 20 minutes nobody flips.
  std::vector<PresenceTransition> all;
  for (int s = 5; s <= 1200; s += 5) {
    const TimePoint now = kT0 + std::chrono::seconds(s);
    if (s % 60 == 0) {
      const auto t = students.heartbeat(exam, w.students[0], "10.0.0.1", now);
      if (t) all.push_back(*t);
    }
    if (s % 85 == 0) {
      const auto t = students.heartbeat(exam, w.students[1], "10.0.0.2", now);
      if (t) all.push_back(*t);
    }
    for (const auto& t : students.sweep(exam, now)) all.push_back(t);
  }
  CHECK(all.empty());
  CHECK(students.online_count(exam) == 2);
}

TEMPLATE_TEST_CASE("presence: sweep is idempotent", "[repo][contract]", MemoryPair,
                   RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& students = env.store().students();
  World w = make_world(env.store(), 5);
  const ExamId exam = w.exam.id;
  for (std::size_t i = 0; i < w.students.size(); ++i) {
    students.heartbeat(exam, w.students[i], "10.0.0.1", kT0 + std::chrono::seconds(i * 100));
  }
  // At kT0 + 450 s: silences of 450, 350, 250, 150 and 50 s.
  const auto first = students.sweep(exam, kT0 + 450s);
  CHECK(first.size() == 4);
  std::map<StudentId, Presence> to;
  for (const auto& t : first) to[t.student_id] = t.to;
  CHECK(to[w.students[0]] == Presence::kOffline);
  CHECK(to[w.students[1]] == Presence::kOffline);
  CHECK(to[w.students[2]] == Presence::kMissing);
  CHECK(to[w.students[3]] == Presence::kMissing);
  const auto counts = students.presence_counts(exam);
  CHECK(students.sweep(exam, kT0 + 450s).empty());
  CHECK(students.sweep(exam, kT0 + 450s).empty());
  CHECK(students.presence_counts(exam) == counts);
  CHECK(count_of(counts, Presence::kOffline) == 2);
  CHECK(count_of(counts, Presence::kMissing) == 2);
  CHECK(count_of(counts, Presence::kOnline) == 1);
}

TEMPLATE_TEST_CASE("presence: submitted is terminal", "[repo][contract]", MemoryPair,
                   RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& students = env.store().students();
  World w = make_world(env.store(), 2);
  const ExamId exam = w.exam.id;
  const StudentId s = w.students[0];
  students.heartbeat(exam, s, "10.0.0.1", kT0);
  students.heartbeat(exam, w.students[1], "10.0.0.2", kT0);
  students.mark_submitted(exam, s, kT0 + 50s);
  CHECK(students.presence(exam, s).status == Presence::kSubmitted);
  CHECK_FALSE(students.heartbeat(exam, s, "10.0.0.1", kT0 + 60s).has_value());
  CHECK(students.heartbeat_batch(exam, {{s, "10.0.0.1"}}, kT0 + 70s).empty());
  CHECK(students.presence(exam, s).status == Presence::kSubmitted);
  for (const auto& t : students.sweep(exam, kT0 + 2000s)) CHECK(t.student_id != s);
  CHECK(students.presence(exam, s).status == Presence::kSubmitted);
  CHECK(students.presence(exam, w.students[1]).status == Presence::kOffline);
  students.mark_submitted(exam, s, kT0 + 3000s);  // again: still submitted, nothing moves
  CHECK(students.presence(exam, s).status == Presence::kSubmitted);
  CHECK(count_of(students.presence_counts(exam), Presence::kSubmitted) == 1);
  CHECK(students.online_count(exam) == 0);

  // kCommitted: the row is written when mark_submitted returns.
  const auto row = students.attendance(exam, s);
  REQUIRE(row);
  CHECK(row->status == Presence::kSubmitted);
  CHECK(us(row->logout_at) == us(kT0 + 50s));
  CHECK(us(row->login_at) == us(kT0));
  // A student who never connected may submit too.
  students.mark_submitted(exam, w.students[1], kT0 + 2100s);
  CHECK(students.presence(exam, w.students[1]).status == Presence::kSubmitted);
  CHECK_ERROR(students.mark_submitted(exam, s + 1000, kT0), ErrorCode::kNotFound,
              std::to_string(s + 1000));
}

TEMPLATE_TEST_CASE("presence: counts, lists and per-student reads agree", "[repo][contract]",
                   MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& students = env.store().students();
  World w = make_world(env.store(), 6);
  const ExamId exam = w.exam.id;
  const auto& s = w.students;
  CHECK(students.online_count(exam) == 0);
  CHECK(students.online(exam).empty());
  CHECK(count_of(students.presence_counts(exam), Presence::kEnrolled) == 6);

  students.heartbeat_batch(exam, {{s[0], "a"}, {s[1], "b"}, {s[2], "c"}, {s[3], "d"}}, kT0);
  students.heartbeat_batch(exam, {{s[2], "c"}, {s[3], "d"}}, kT0 + 200s);
  students.heartbeat(exam, s[3], "d", kT0 + 250s);
  students.mark_submitted(exam, s[4], kT0 + 10s);
  students.sweep(exam, kT0 + 310s);  // s0, s1: offline (310 s); s2: missing (110 s); s3: online
  students.heartbeat(exam, s[1], "b", kT0 + 320s);  // back online
  const TimePoint now = kT0 + 330s;

  CHECK(students.online_count(exam) == 2);
  CHECK(students.online(exam) == std::vector<StudentId>{s[1], s[3]});
  const auto counts = students.presence_counts(exam);
  CHECK(count_of(counts, Presence::kEnrolled) == 1);  // s5
  CHECK(count_of(counts, Presence::kOnline) == 2);
  CHECK(count_of(counts, Presence::kMissing) == 1);
  CHECK(count_of(counts, Presence::kOffline) == 1);
  CHECK(count_of(counts, Presence::kSubmitted) == 1);
  std::int64_t total = 0;
  for (const auto& [p, n] : counts) total += n;
  CHECK(total == 6);
  CHECK(students.presence(exam, s[0]).status == Presence::kOffline);
  CHECK(students.presence(exam, s[2]).status == Presence::kMissing);
  CHECK(students.presence(exam, s[4]).status == Presence::kSubmitted);
  CHECK(students.presence(exam, s[5]).status == Presence::kEnrolled);

  // missing(): online or missing, silent for longer than `older_than`; read-only.
  CHECK(students.missing(exam, 60s, now) == std::vector<StudentId>{s[2], s[3]});  // 130 s, 80 s
  CHECK(students.missing(exam, 100s, now) == std::vector<StudentId>{s[2]});
  CHECK(students.missing(exam, 5s, now) == std::vector<StudentId>{s[1], s[2], s[3]});
  CHECK(students.missing(exam, 200s, now).empty());
  CHECK(students.presence(exam, s[3]).status == Presence::kOnline);
  CHECK(students.online_count(exam) == 2);
}

TEMPLATE_TEST_CASE("presence: attendance is read-your-writes before flush and persisted after",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env(Options{false, slow_queue});
  auto& store = env.store();
  auto& students = store.students();
  World w = make_world(store, 2);
  const ExamId exam = w.exam.id;
  const StudentId s = w.students[0];
  const TimePoint login = kT0;

  auto check_online = [&](const char* when) {
    INFO(when);
    const auto row = students.attendance(exam, s);
    REQUIRE(row);
    CHECK(row->exam_id == exam);
    CHECK(row->student_id == s);
    CHECK(row->status == Presence::kOnline);
    CHECK(us(row->login_at) == us(login));
    CHECK(row->last_ip == "192.0.2.10");
    CHECK_FALSE(row->logout_at.has_value());
    CHECK(row->version > 0);
  };
  REQUIRE(students.heartbeat(exam, s, "192.0.2.10", login).has_value());
  students.heartbeat(exam, s, "192.0.2.99", kT0 + 30s);  // no transition: not persisted
  REQUIRE(store.write_behind_metrics().depth > 0);       // still queued: this is read-your-writes
  check_online("queued");
  store.flush();
  REQUIRE(store.write_behind_metrics().depth == 0);
  check_online("flushed");
  if (env.postgres()) {
    const std::string where = " FROM exam_attendance WHERE exam_id = " + std::to_string(exam) +
                              " AND student_id = " + std::to_string(s);
    CHECK(env.sql("SELECT status" + where) == "online");
    CHECK(env.sql("SELECT last_ip" + where) == "192.0.2.10");
    CHECK(env.sql("SELECT extract(epoch FROM login_at)::bigint" + where) ==
          std::to_string(us(login) / 1000000));
    CHECK(env.sql("SELECT logout_at IS NULL" + where) == "t");
  }

  // Offline after the sweep; the first login is kept.
  REQUIRE(students.sweep(exam, kT0 + 400s).size() == 1);
  auto check_offline = [&](const char* when) {
    INFO(when);
    const auto row = students.attendance(exam, s);
    REQUIRE(row);
    CHECK(row->status == Presence::kOffline);
    CHECK(us(row->login_at) == us(login));
    CHECK(us(row->logout_at) == us(kT0 + 400s));
    CHECK(row->last_ip == "192.0.2.10");
  };
  REQUIRE(store.write_behind_metrics().depth > 0);
  check_offline("queued");
  store.flush();
  check_offline("flushed");
  if (env.postgres()) {
    const std::string where = " FROM exam_attendance WHERE exam_id = " + std::to_string(exam) +
                              " AND student_id = " + std::to_string(s);
    CHECK(env.sql("SELECT status" + where) == "offline");
    CHECK(env.sql("SELECT extract(epoch FROM logout_at)::bigint" + where) ==
          std::to_string(us(kT0 + 400s) / 1000000));
  }

  // Back online from another address: last_ip follows, login_at stays the first one.
  REQUIRE(students.heartbeat(exam, s, "198.51.100.7", kT0 + 500s).has_value());
  auto row = students.attendance(exam, s);
  REQUIRE(row);
  CHECK(row->status == Presence::kOnline);
  CHECK(row->last_ip == "198.51.100.7");
  CHECK(us(row->login_at) == us(login));
  store.flush();
  row = students.attendance(exam, s);
  REQUIRE(row);
  CHECK(row->status == Presence::kOnline);
  CHECK(row->last_ip == "198.51.100.7");
  CHECK(us(row->login_at) == us(login));

  // The other student never connected: enrolled, nothing else.
  const auto quiet = students.attendance(exam, w.students[1]);
  REQUIRE(quiet);
  CHECK(quiet->status == Presence::kEnrolled);
  CHECK_FALSE(quiet->login_at.has_value());
  CHECK(quiet->last_ip.empty());
  // Not enrolled: no row.
  const World other = make_world(store, 1);
  CHECK_FALSE(students.attendance(exam, other.students[0]).has_value());
}

// =====================================================================================
// ViolationRepo
// =====================================================================================

TEMPLATE_TEST_CASE("violations: record returns increasing unique ids", "[repo][contract]",
                   MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& violations = env.store().violations();
  World w = make_world(env.store(), 3);
  std::vector<ViolationId> ids;
  for (int i = 0; i < 60; ++i) {
    ids.push_back(
        violations.record(new_violation(w.exam.id, w.students[static_cast<std::size_t>(i % 3)]),
                          Durability::kCached));
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    CHECK(ids[i] > 0);
    if (i > 0) CHECK(ids[i] > ids[i - 1]);
  }
  CHECK(std::set<ViolationId>(ids.begin(), ids.end()).size() == ids.size());
  env.store().flush();
  for (const ViolationId id : ids) CHECK(env.violation_in_database(id));
}

TEMPLATE_TEST_CASE("violations: record validates and names the field", "[repo][contract]",
                   MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& violations = env.store().violations();
  World w = make_world(env.store(), 1);
  const ExamId exam = w.exam.id;
  const StudentId s = w.students[0];
  for (const int severity : {0, 6, -1}) {
    INFO("severity " << severity);
    CHECK_ERROR(violations.record(new_violation(exam, s, ViolationKind::kCustom, severity)),
                ErrorCode::kInvalidArgument, "severity");
  }
  NewViolation v = new_violation(exam, s);
  v.reason = std::string(2001, 'r');
  CHECK_ERROR(violations.record(v), ErrorCode::kInvalidArgument, "reason");
  v.reason = std::string(2000, 'r');
  const ViolationId long_reason = violations.record(v);
  v.reason.clear();
  v.screenshot_path = std::string(501, 'p');
  CHECK_ERROR(violations.record(v), ErrorCode::kInvalidArgument, "screenshot_path");
  v.screenshot_path = std::string(500, 'p');
  const ViolationId long_path = violations.record(v);
  CHECK_ERROR(violations.record(new_violation(0, s)), ErrorCode::kInvalidArgument, "exam");
  CHECK_ERROR(violations.record(new_violation(exam, 0)), ErrorCode::kInvalidArgument, "student");
  for (const int severity : {1, 5}) {
    CHECK(violations.record(new_violation(exam, s, ViolationKind::kNoFace, severity)) > 0);
  }
  env.store().flush();
  CHECK(violations.get(long_reason)->reason.size() == 2000);
  CHECK(violations.get(long_path)->screenshot_path.size() == 500);
  ViolationQuery q;
  q.exam_id = exam;
  CHECK(violations.query(q).size() == 4);  // nothing of the rejected ones
}

TEMPLATE_TEST_CASE("violations: a student not enrolled in the exam is kNotFound",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& violations = env.store().violations();
  World w = make_world(env.store(), 1);
  const World other = make_world(env.store(), 1);
  CHECK_ERROR(violations.record(new_violation(w.exam.id, other.students[0])), ErrorCode::kNotFound,
              std::to_string(other.students[0]));
  CHECK_ERROR(violations.record(new_violation(w.exam.id + 1000, w.students[0])),
              ErrorCode::kNotFound, std::to_string(w.exam.id + 1000));
  CHECK(violations.live_counts(w.exam.id).empty());
  env.store().flush();
  ViolationQuery q;
  q.exam_id = w.exam.id;
  CHECK(violations.query(q).empty());
}

TEMPLATE_TEST_CASE("violations: record_batch records every row as record does, ids in order",
                   "[repo][contract][bulk]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& violations = env.store().violations();
  World w = make_world(env.store(), 3);
  CHECK(violations.record_batch({}).empty());
  const ViolationId before = violations.record(new_violation(w.exam.id, w.students[0]));
  std::vector<NewViolation> rows;
  for (int i = 0; i < 50; ++i) {
    NewViolation v =
        new_violation(w.exam.id, w.students[static_cast<std::size_t>(i % 3)],
                      i % 5 == 0 ? ViolationKind::kMultipleFaces : ViolationKind::kTabSwitch,
                      i % 5 + 1, kT0us + std::chrono::milliseconds(i));
    v.reason = "row " + std::to_string(i);
    rows.push_back(v);
  }
  const std::vector<ViolationId> ids = violations.record_batch(rows);  // kJournaled
  REQUIRE(ids.size() == rows.size());
  CHECK(ids[0] > before);
  for (std::size_t i = 1; i < ids.size(); ++i) CHECK(ids[i] > ids[i - 1]);

  // Live counts: the single record (tab switch) plus the batch's 10 multiple-faces, 40 tab-switch.
  auto live = violations.live_counts(w.exam.id);
  CHECK(live[ViolationKind::kTabSwitch] == 41);
  CHECK(live[ViolationKind::kMultipleFaces] == 10);
  CHECK(violations.live_counts(w.exam.id, w.students[1])[ViolationKind::kTabSwitch] == 14);

  env.store().flush();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    INFO("row " << i);
    CHECK(env.violation_in_database(ids[i]));
    const auto got = violations.get(ids[i]);
    REQUIRE(got);
    CHECK(got->student_id == rows[i].student_id);
    CHECK(got->kind == rows[i].kind);
    CHECK(got->severity == rows[i].severity);
    CHECK(got->reason == rows[i].reason);
    CHECK(us(got->occurred_at) == us(rows[i].occurred_at));
  }
}

TEMPLATE_TEST_CASE("violations: record_batch refuses the whole batch for one bad row, naming it",
                   "[repo][contract][bulk]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& violations = env.store().violations();
  World w = make_world(env.store(), 2);
  const World other = make_world(env.store(), 1);
  const std::int64_t enqueued = env.store().write_behind_metrics().enqueued;
  std::vector<NewViolation> rows(4, new_violation(w.exam.id, w.students[0]));
  rows[2].severity = 6;
  CHECK_ERROR(violations.record_batch(rows), ErrorCode::kInvalidArgument, "violations[2]: ");
  CHECK_ERROR(violations.record_batch(rows), ErrorCode::kInvalidArgument, "severity");
  rows[2].severity = 3;
  rows[3].student_id = other.students[0];  // not enrolled in w.exam
  CHECK_ERROR(violations.record_batch(rows), ErrorCode::kNotFound, "violations[3]: ");
  rows[1].exam_id = 0;
  CHECK_ERROR(violations.record_batch(rows), ErrorCode::kInvalidArgument, "violations[1]: ");

  // Nothing of the refused batches was recorded.
  env.store().flush();
  CHECK(violations.live_counts(w.exam.id).empty());
  ViolationQuery q;
  q.exam_id = w.exam.id;
  CHECK(violations.query(q).empty());
  CHECK(env.store().write_behind_metrics().enqueued == enqueued);
}

TEMPLATE_TEST_CASE("violations: live counts per exam and per student", "[repo][contract]",
                   MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& violations = env.store().violations();
  World w = make_world(env.store(), 2);
  const World other = make_world(env.store(), 1);
  const ExamId exam = w.exam.id;
  const StudentId a = w.students[0];
  const StudentId b = w.students[1];
  CHECK(violations.live_counts(exam).empty());
  CHECK(violations.live_counts(exam, a).empty());
  for (int i = 0; i < 3; ++i)
    violations.record(new_violation(exam, a, ViolationKind::kTabSwitch), Durability::kCached);
  violations.record(new_violation(exam, a, ViolationKind::kNoFace), Durability::kCached);
  for (int i = 0; i < 2; ++i)
    violations.record(new_violation(exam, b, ViolationKind::kTabSwitch), Durability::kCached);
  violations.record(new_violation(exam, b, ViolationKind::kCopyPaste), Durability::kCached);
  violations.record(new_violation(other.exam.id, other.students[0], ViolationKind::kTabSwitch),
                    Durability::kCached);

  const std::map<ViolationKind, std::int64_t> per_exam{
      {ViolationKind::kTabSwitch, 5}, {ViolationKind::kNoFace, 1}, {ViolationKind::kCopyPaste, 1}};
  CHECK(violations.live_counts(exam) == per_exam);
  CHECK(violations.live_counts(exam, a) ==
        std::map<ViolationKind, std::int64_t>{{ViolationKind::kTabSwitch, 3},
                                              {ViolationKind::kNoFace, 1}});
  CHECK(violations.live_counts(exam, b) ==
        std::map<ViolationKind, std::int64_t>{{ViolationKind::kTabSwitch, 2},
                                              {ViolationKind::kCopyPaste, 1}});
  CHECK(violations.live_counts(other.exam.id) ==
        std::map<ViolationKind, std::int64_t>{{ViolationKind::kTabSwitch, 1}});
  CHECK(violations.live_counts(exam, other.students[0]).empty());
}

TEMPLATE_TEST_CASE("violations: get and query see queued and committed rows alike",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env(Options{false, slow_queue});
  auto& store = env.store();
  auto& violations = store.violations();
  World w = make_world(store, 3);
  const World other = make_world(store, 1);
  const ExamId exam = w.exam.id;
  const auto& s = w.students;

  // 12 rows: student i % 3, kind alternating, one second apart from kT0us.
  std::vector<ViolationId> ids;
  std::vector<NewViolation> recorded;
  for (int i = 0; i < 12; ++i) {
    const ViolationKind kind =
        i % 2 == 0 ? ViolationKind::kTabSwitch : ViolationKind::kMultipleFaces;
    NewViolation v = new_violation(exam, s[static_cast<std::size_t>(i % 3)], kind, 1 + i % 5,
                                   kT0us + std::chrono::seconds(i));
    v.reason = "reason " + std::to_string(i);
    v.screenshot_path = i % 4 == 0 ? "" : "shot-" + std::to_string(i) + ".png";
    ids.push_back(violations.record(v, Durability::kCached));
    recorded.push_back(v);
  }
  const ViolationId elsewhere =
      violations.record(new_violation(other.exam.id, other.students[0]), Durability::kCached);

  auto check_reads = [&](const char* when) {
    INFO(when);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      const auto got = violations.get(ids[i]);
      REQUIRE(got);
      CHECK(got->id == ids[i]);
      CHECK(got->exam_id == exam);
      CHECK(got->student_id == recorded[i].student_id);
      CHECK(got->kind == recorded[i].kind);
      CHECK(got->severity == recorded[i].severity);
      CHECK(got->reason == recorded[i].reason);
      CHECK(got->screenshot_path == recorded[i].screenshot_path);
      CHECK(us(got->occurred_at) == us(recorded[i].occurred_at));
      CHECK(got->state == ReviewState::kOpen);
      CHECK(got->reviewed_by.empty());
      CHECK_FALSE(got->reviewed_at.has_value());
    }
    CHECK_FALSE(violations.get(ids.back() + 100000).has_value());

    ViolationQuery q;
    q.exam_id = exam;
    CHECK(ids_of(violations.query(q)) == ids);
    ViolationQuery all;
    CHECK(violations.query(all).size() == 13);
    q.student_id = s[1];
    CHECK(ids_of(violations.query(q)) == std::vector<ViolationId>{ids[1], ids[4], ids[7], ids[10]});
    q.student_id.reset();
    q.kind = ViolationKind::kMultipleFaces;
    CHECK(ids_of(violations.query(q)) ==
          std::vector<ViolationId>{ids[1], ids[3], ids[5], ids[7], ids[9], ids[11]});
    q.kind.reset();
    q.from = kT0us + 3s;  // inclusive
    q.to = kT0us + 6s;    // exclusive
    CHECK(ids_of(violations.query(q)) == std::vector<ViolationId>{ids[3], ids[4], ids[5]});
    q.from.reset();
    q.to.reset();
    q.state = ReviewState::kOpen;
    CHECK(violations.query(q).size() == 12);
    q.state = ReviewState::kConfirmed;
    CHECK(violations.query(q).empty());
    q.state.reset();
    q.student_id = s[0];
    q.kind = ViolationKind::kTabSwitch;
    q.from = kT0us + 1s;
    CHECK(ids_of(violations.query(q)) == std::vector<ViolationId>{ids[6]});  // 0, 6: 0 too early
    ViolationQuery elsewhere_q;
    elsewhere_q.exam_id = other.exam.id;
    CHECK(ids_of(violations.query(elsewhere_q)) == std::vector<ViolationId>{elsewhere});

    // Keyset paging: pages of 5 cover everything once, in order.
    std::vector<ViolationId> paged;
    ViolationQuery page;
    page.exam_id = exam;
    page.limit = 5;
    for (int n = 0; n < 10; ++n) {
      const auto rows = violations.query(page);
      if (rows.empty()) break;
      CHECK(rows.size() <= 5);
      for (const auto& v : rows) paged.push_back(v.id);
      page.after_id = rows.back().id;
    }
    CHECK(paged == ids);
    page.after_id = ids[9];
    CHECK(ids_of(violations.query(page)) == std::vector<ViolationId>{ids[10], ids[11]});
  };

  REQUIRE(store.write_behind_metrics().depth > 0);  // still queued: this is read-your-writes
  check_reads("queued");
  store.flush();
  REQUIRE(store.write_behind_metrics().depth == 0);
  check_reads("committed");

  ViolationQuery bad;
  bad.limit = 0;
  CHECK_ERROR(violations.query(bad), ErrorCode::kInvalidArgument, "limit");
  bad.limit = 10001;
  CHECK_ERROR(violations.query(bad), ErrorCode::kInvalidArgument, "limit");
}

TEMPLATE_TEST_CASE("violations: stats count by kind and severity, queued rows included",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env(Options{false, slow_queue});
  auto& violations = env.store().violations();
  World w = make_world(env.store(), 2);
  const ExamId exam = w.exam.id;
  CHECK(violations.stats(exam).total == 0);
  violations.record(new_violation(exam, w.students[0], ViolationKind::kTabSwitch, 1),
                    Durability::kCached);
  violations.record(new_violation(exam, w.students[0], ViolationKind::kTabSwitch, 3),
                    Durability::kCached);
  violations.record(new_violation(exam, w.students[1], ViolationKind::kNoFace, 3),
                    Durability::kCached);
  violations.record(new_violation(exam, w.students[1], ViolationKind::kScreenShare, 5),
                    Durability::kCached);
  REQUIRE(env.store().write_behind_metrics().depth > 0);
  const auto s = violations.stats(exam);
  CHECK(s.total == 4);
  CHECK(s.by_kind == std::map<ViolationKind, std::int64_t>{{ViolationKind::kTabSwitch, 2},
                                                           {ViolationKind::kNoFace, 1},
                                                           {ViolationKind::kScreenShare, 1}});
  CHECK(s.by_severity == std::map<int, std::int64_t>{{1, 1}, {3, 2}, {5, 1}});
  const World other = make_world(env.store(), 1);
  CHECK(violations.stats(other.exam.id).total == 0);
}

TEMPLATE_TEST_CASE("violations: review confirms or dismisses", "[repo][contract]", MemoryPair,
                   RedisPostgresPair, ClusterPostgresPair) {
  TestType env(Options{false, slow_queue});
  auto& violations = env.store().violations();
  World w = make_world(env.store(), 1);
  const ExamId exam = w.exam.id;
  const ViolationId a = violations.record(new_violation(exam, w.students[0]), Durability::kCached);
  const ViolationId b = violations.record(new_violation(exam, w.students[0]), Durability::kCached);
  const ViolationId c = violations.record(new_violation(exam, w.students[0]), Durability::kCached);
  REQUIRE(env.store().write_behind_metrics().depth > 0);  // review of a queued row

  const auto before = std::chrono::system_clock::now() - 5s;
  const Violation confirmed =
      violations.review(a, ReviewState::kConfirmed, "proctor-1", "clear case");
  CHECK(confirmed.id == a);
  CHECK(confirmed.state == ReviewState::kConfirmed);
  CHECK(confirmed.reviewed_by == "proctor-1");
  CHECK(confirmed.review_note == "clear case");
  REQUIRE(confirmed.reviewed_at);
  CHECK(*confirmed.reviewed_at >= before);
  const Violation dismissed = violations.review(b, ReviewState::kDismissed, "proctor-2", "");
  CHECK(dismissed.state == ReviewState::kDismissed);
  CHECK(dismissed.reviewed_by == "proctor-2");

  const auto got = violations.get(a);
  REQUIRE(got);
  CHECK(got->state == ReviewState::kConfirmed);
  CHECK(got->reviewed_by == "proctor-1");
  CHECK(got->review_note == "clear case");
  ViolationQuery q;
  q.exam_id = exam;
  q.state = ReviewState::kConfirmed;
  CHECK(ids_of(violations.query(q)) == std::vector<ViolationId>{a});
  q.state = ReviewState::kDismissed;
  CHECK(ids_of(violations.query(q)) == std::vector<ViolationId>{b});
  q.state = ReviewState::kOpen;
  CHECK(ids_of(violations.query(q)) == std::vector<ViolationId>{c});

  // A later review replaces an earlier one.
  CHECK(violations.review(b, ReviewState::kConfirmed, "lead", "second look").state ==
        ReviewState::kConfirmed);
  CHECK(violations.get(b)->reviewed_by == "lead");
}

TEMPLATE_TEST_CASE("violations: review errors", "[repo][contract]", MemoryPair, RedisPostgresPair,
                   ClusterPostgresPair) {
  TestType env;
  auto& violations = env.store().violations();
  World w = make_world(env.store(), 1);
  const ViolationId id =
      violations.record(new_violation(w.exam.id, w.students[0]), Durability::kCached);
  CHECK_ERROR(violations.review(id + 100000, ReviewState::kConfirmed, "proctor", ""),
              ErrorCode::kNotFound, std::to_string(id + 100000));
  CHECK_ERROR(violations.review(id, ReviewState::kOpen, "proctor", ""), ErrorCode::kInvalidArgument,
              "state");
  CHECK_ERROR(violations.review(id, ReviewState::kConfirmed, "", ""), ErrorCode::kInvalidArgument,
              "reviewer");
  CHECK_ERROR(violations.review(0, ReviewState::kConfirmed, "proctor", ""),
              ErrorCode::kInvalidArgument, "violation id");
  const auto got = violations.get(id);
  REQUIRE(got);
  CHECK(got->state == ReviewState::kOpen);
  CHECK(got->reviewed_by.empty());
}

TEMPLATE_TEST_CASE("events: record_event, then events oldest first, filtered and limited",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env(Options{false, slow_queue});
  auto& store = env.store();
  auto& violations = store.violations();
  World w = make_world(store, 2);
  const ExamId exam = w.exam.id;
  const auto& s = w.students;
  auto event = [&](StudentId who, const std::string& kind, TimePoint at,
                   const std::string& payload) {
    NewEvent e;
    e.exam_id = exam;
    e.student_id = who;
    e.kind = kind;
    e.payload = payload;
    e.occurred_at = at;
    return violations.record_event(e, Durability::kCached);
  };
  // Recorded out of time order; two at the same instant.
  const auto e3 = event(s[0], "blur", kT0us + 3s, R"({"n": 3})");
  const auto e1 = event(s[1], "focus", kT0us + 1s, R"({"n":1})");
  const auto e2a = event(s[0], "paste", kT0us + 2s, R"(["x", {"y": null}])");
  const auto e2b = event(s[1], "paste", kT0us + 2s, "{}");
  CHECK(e1 > e3);
  CHECK(std::set<examstore::EventId>{e1, e2a, e2b, e3}.size() == 4);

  auto check_events = [&](const char* when) {
    INFO(when);
    const auto all = violations.events(exam, std::nullopt, 1000);
    REQUIRE(all.size() == 4);
    CHECK(all[0].id == e1);
    CHECK(all[1].id == std::min(e2a, e2b));
    CHECK(all[2].id == std::max(e2a, e2b));
    CHECK(all[3].id == e3);
    CHECK(all[0].kind == "focus");
    CHECK(all[0].payload == R"({"n":1})");
    CHECK(all[0].student_id == s[1]);
    CHECK(all[0].exam_id == exam);
    CHECK(us(all[0].occurred_at) == us(kT0us + 1s));
    CHECK(all[3].payload == R"({"n": 3})");
    const auto of_s0 = violations.events(exam, s[0], 1000);
    REQUIRE(of_s0.size() == 2);
    CHECK(of_s0[0].id == e2a);
    CHECK(of_s0[0].payload == R"(["x", {"y": null}])");
    CHECK(of_s0[1].id == e3);
    const auto first_two = violations.events(exam, std::nullopt, 2);
    REQUIRE(first_two.size() == 2);
    CHECK(first_two[0].id == e1);
  };
  REQUIRE(store.write_behind_metrics().depth > 0);
  check_events("queued");
  store.flush();
  REQUIRE(store.write_behind_metrics().depth == 0);
  check_events("committed");
  if (env.postgres()) {
    CHECK(env.sql("SELECT count(*) FROM events WHERE exam_id = " + std::to_string(exam)) == "4");
  }
  CHECK_ERROR(violations.events(exam, std::nullopt, 0), ErrorCode::kInvalidArgument, "limit");
}

TEMPLATE_TEST_CASE("events: record_event validates payload, kind and enrollment",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env;
  auto& violations = env.store().violations();
  World w = make_world(env.store(), 1);
  const World other = make_world(env.store(), 1);
  NewEvent e;
  e.exam_id = w.exam.id;
  e.student_id = w.students[0];
  e.kind = "focus";
  e.occurred_at = kT0us;
  for (const char* bad : {"", "{", "{'a':1}", "{\"a\":1,}", "[1,2"}) {
    INFO("payload: " << bad);
    e.payload = bad;
    CHECK_ERROR(violations.record_event(e), ErrorCode::kInvalidArgument, "payload");
  }
  e.payload = "{}";
  e.kind = "";
  CHECK_ERROR(violations.record_event(e), ErrorCode::kInvalidArgument, "kind");
  e.kind = std::string(65, 'k');
  CHECK_ERROR(violations.record_event(e), ErrorCode::kInvalidArgument, "kind");
  e.kind = std::string(64, 'k');
  CHECK(violations.record_event(e, Durability::kCached) > 0);
  e.student_id = other.students[0];
  CHECK_ERROR(violations.record_event(e), ErrorCode::kNotFound, std::to_string(other.students[0]));
  env.store().flush();
  CHECK(violations.events(w.exam.id, std::nullopt, 100).size() == 1);
}

TEMPLATE_TEST_CASE("violations: every durability ends with the row in the database",
                   "[repo][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType env(Options{true, {}});
  auto& store = env.store();
  auto& violations = store.violations();
  World w = make_world(store, 1);
  const ExamId exam = w.exam.id;
  const StudentId s = w.students[0];

  const ViolationId committed = violations.record(new_violation(exam, s), Durability::kCommitted);
  if (env.postgres()) {
    // Committed means in PostgreSQL when record() returns, before any flush.
    CHECK(env.sql("SELECT count(*) FROM violations WHERE id = " + std::to_string(committed)) ==
          "1");
  }
  const ViolationId cached = violations.record(new_violation(exam, s), Durability::kCached);
  const ViolationId journaled = violations.record(new_violation(exam, s), Durability::kJournaled);
  const ViolationId by_default = violations.record(new_violation(exam, s));  // kJournaled

  NewEvent e;
  e.exam_id = exam;
  e.student_id = s;
  e.kind = "durable";
  e.occurred_at = kT0us;
  std::vector<examstore::EventId> event_ids;
  for (const Durability d : {Durability::kCached, Durability::kJournaled, Durability::kCommitted}) {
    event_ids.push_back(violations.record_event(e, d));
  }

  store.flush();
  for (const ViolationId id : {committed, cached, journaled, by_default}) {
    INFO("violation " << id);
    CHECK(env.violation_in_database(id));
  }
  for (const auto id : event_ids) {
    INFO("event " << id);
    CHECK(env.event_in_database(exam, id));
  }
  const auto events = violations.events(exam, std::nullopt, 100);
  CHECK(events.size() == 3);
  const auto m = store.write_behind_metrics();
  CHECK(m.depth == 0);
  CHECK(m.committed >= 7);
  CHECK(m.journal_appends >= 1);
  CHECK(m.dead_lettered == 0);
}

TEST_CASE("violations: kJournaled on PostgreSQL with auto_journal off is kInvalidArgument",
          "[repo][postgres]") {
  examstore::test::TempDatabase db;
  Config c;
  c.write_behind.auto_journal = false;  // and no journal_dir: the store has no journal
  c.with_redis_url(examstore::test::redis_url());
  c.with_database_url(db.url());
  c.migrate_on_open = true;
  c.key_prefix = examstore::test::unique_name("rc");
  c.security.personal_data.keys = {examstore::test::test_data_key("test1")};
  auto store = Store::open(c);
  World w = make_world(*store, 1);
  CHECK_ERROR(
      store->violations().record(new_violation(w.exam.id, w.students[0]), Durability::kJournaled),
      ErrorCode::kInvalidArgument, "journal");
  NewEvent e;
  e.exam_id = w.exam.id;
  e.student_id = w.students[0];
  e.kind = "x";
  e.occurred_at = kT0us;
  CHECK_ERROR(store->violations().record_event(e), ErrorCode::kInvalidArgument, "journal");
  // The other durabilities work without one.
  const ViolationId id =
      store->violations().record(new_violation(w.exam.id, w.students[0]), Durability::kCommitted);
  CHECK(db.query_value("SELECT count(*) FROM violations WHERE id = " + std::to_string(id)) == "1");
}

// Regression: sweep applies the transitions in the hot tier, then maps seats back to students
// with the process's seat map, which reloads from the database at most once a second. A seat
// enrolled by another process within that second maps to no student, and its transition is
// skipped ("next sweep") although the hot tier already holds it: no later sweep reports it and
// exam_attendance never gets it.
TEST_CASE("regression: a sweep drops the transition of a seat enrolled by another process",
          "[repo][redis][postgres]") {
  RedisPostgresPair env;
  Store& a = env.store();
  auto b = env.open_second();
  World w = make_world(a, 1);
  const ExamId exam = w.exam.id;
  REQUIRE(count_of(b->students().presence_counts(exam), Presence::kEnrolled) ==
          1);  // b's map loaded
  const Student late = a.students().create(new_student(examstore::test::unique_name("late")));
  a.students().enroll(exam, late.id);
  REQUIRE(a.students().heartbeat(exam, late.id, "10.3.0.1", kT0).has_value());

  std::vector<PresenceTransition> reported = b->students().sweep(exam, kT0 + 400s);
  std::this_thread::sleep_for(1100ms);  // past the seat map's reload interval
  for (const auto& t : b->students().sweep(exam, kT0 + 401s)) reported.push_back(t);
  a.flush();
  b->flush();

  CHECK(a.students().presence(exam, late.id).status == Presence::kOffline);
  REQUIRE(reported.size() == 1);
  CHECK(reported[0].student_id == late.id);
  CHECK(reported[0].to == Presence::kOffline);
  CHECK(env.sql("SELECT status FROM exam_attendance WHERE student_id = " +
                std::to_string(late.id)) == "offline");
}
