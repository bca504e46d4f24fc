// tests/integration/metrics_test.cpp: real operations move Store::metrics() and reach the log
// sink, on both backend pairs (MemoryPair: memory cache and database; RedisPostgresPair: the
// test Redis and a fresh, migrated TempDatabase with a key_prefix of its own).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "db/pg_pool.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/logging.hpp"
#include "examstore/metrics.hpp"
#include "examstore/store.hpp"
#include "obs/telemetry.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::Config;
using examstore::Durability;
using examstore::LogLevel;
using examstore::MetricsSnapshot;
using examstore::Store;

struct Line {
  LogLevel level;
  std::string component;
  std::string message;
};

/// A thread-safe capturing sink.
class Captured {
 public:
  examstore::LogSink sink() {
    return [this](LogLevel level, std::string_view component, std::string_view message) {
      std::lock_guard<std::mutex> l(mu_);
      lines_.push_back({level, std::string(component), std::string(message)});
    };
  }
  std::vector<Line> lines() {
    std::lock_guard<std::mutex> l(mu_);
    return lines_;
  }
  bool any(std::string_view component, std::string_view part) {
    for (const auto& line : lines()) {
      if (line.component == component && line.message.find(part) != std::string::npos) {
        return true;
      }
    }
    return false;
  }

 private:
  std::mutex mu_;
  std::vector<Line> lines_;
};

class Pair {
 public:
  explicit Pair(bool postgres, examstore::LogSink sink = {}) : postgres_(postgres) {
    config_.key_prefix = examstore::test::unique_name("mt");
    config_.log_sink = std::move(sink);
    config_.log_level = LogLevel::kDebug;
    if (postgres_) {
      db_ = std::make_unique<examstore::test::TempDatabase>();
      config_.with_redis_url(examstore::test::redis_url());
      config_.with_database_url(db_->migrate_and_restrict());  // runs as the app role
    }
    store_ = Store::open(config_);
  }
  ~Pair() { store_.reset(); }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;
  Store& store() { return *store_; }
  bool postgres() const { return postgres_; }
  examstore::test::TempDatabase& db() { return *db_; }

 private:
  bool postgres_;
  std::unique_ptr<examstore::test::TempDatabase> db_;
  Config config_;
  std::unique_ptr<Store> store_;
};

examstore::NewExam new_exam() {
  examstore::NewExam e;
  e.name = "metrics exam";
  e.starts_at = std::chrono::system_clock::now();
  e.ends_at = e.starts_at + 2h;
  return e;
}

}  // namespace

TEST_CASE("a miss then a hit move misses hits and loads on both backend pairs",
          "[metrics][redis][postgres]") {
  for (bool postgres : {false, true}) {
    INFO((postgres ? "redis+postgresql" : "memory"));
    Pair p(postgres);
    const examstore::Exam exam = p.store().exams().create(new_exam());
    const MetricsSnapshot before = p.store().metrics();
    REQUIRE(p.store().exams().get(exam.id).has_value());  // miss, load, fill
    const MetricsSnapshot miss = p.store().metrics();
    CHECK(miss.cache_aside.misses == before.cache_aside.misses + 1);
    CHECK(miss.cache_aside.loads == before.cache_aside.loads + 1);
    CHECK(miss.cache_aside.hits == before.cache_aside.hits);
    REQUIRE(p.store().exams().get(exam.id).has_value());  // hit
    const MetricsSnapshot hit = p.store().metrics();
    CHECK(hit.cache_aside.hits == miss.cache_aside.hits + 1);
    CHECK(hit.cache_aside.loads == miss.cache_aside.loads);
    CHECK(hit.cache_aside.hit_rate > 0.0);
    CHECK(hit.cache_aside.hit_rate <= 1.0);
    CHECK(hit.cache_aside.invalidations >= 1);  // create invalidates the new id

    CHECK_FALSE(p.store().exams().get(exam.id + 1000000).has_value());  // miss, absent marker
    CHECK_FALSE(p.store().exams().get(exam.id + 1000000).has_value());  // negative hit
    CHECK(p.store().metrics().cache_aside.negative_hits == hit.cache_aside.negative_hits + 1);

    CHECK(hit.redis.enabled == postgres);
    CHECK(hit.postgres.enabled == postgres);
  }
}

TEST_CASE("redis commands add latency observations and pool gauges", "[metrics][redis][postgres]") {
  Pair p(true);
  const MetricsSnapshot before = p.store().metrics();
  p.store().cache().set("mt:" + examstore::test::unique_name("k"), "v", 10s);
  const MetricsSnapshot after = p.store().metrics();
  CHECK(after.redis.commands >= before.redis.commands + 1);
  CHECK(after.redis.latency.count >= before.redis.latency.count + 1);
  CHECK(after.redis.latency.sum > 0.0);
  CHECK(after.redis.latency.cumulative.back() <= after.redis.latency.count);
  CHECK(after.redis.connects >= 1);
  CHECK(after.redis.size >= 1);
  CHECK(after.redis.size <= after.redis.max_size);
  CHECK(after.redis.in_use == 0);  // every lease is back
  CHECK(after.redis.errors == 0);
  CHECK(after.redis.endpoint.find("127.0.0.1:") == 0);
}

TEST_CASE("the postgresql pool counts a transaction with its latency",
          "[metrics][redis][postgres]") {
  Pair p(true);
  const MetricsSnapshot before = p.store().metrics();
  p.store().exams().create(new_exam());
  const MetricsSnapshot after = p.store().metrics();
  CHECK(after.postgres.commands >= before.postgres.commands + 1);
  CHECK(after.postgres.latency.count >= before.postgres.latency.count + 1);
  CHECK(after.postgres.connects >= 1);
  CHECK(after.postgres.in_use == 0);
  CHECK(after.postgres.max_size == 4);
  CHECK(after.postgres.errors == 0);
}

TEST_CASE("a write-behind write moves enqueued and committed on both backend pairs",
          "[metrics][redis][postgres]") {
  for (bool postgres : {false, true}) {
    INFO((postgres ? "redis+postgresql" : "memory"));
    Pair p(postgres);
    const examstore::Exam exam = p.store().exams().create(new_exam());
    examstore::NewStudent s;
    s.external_no = examstore::test::unique_name("st");
    s.name = "Ada";
    const examstore::Student student = p.store().students().create(s);
    p.store().students().enroll(exam.id, student.id);
    const MetricsSnapshot before = p.store().metrics();
    examstore::NewEvent e;
    e.exam_id = exam.id;
    e.student_id = student.id;
    e.kind = "blur";
    e.occurred_at = std::chrono::system_clock::now();
    p.store().violations().record_event(e, Durability::kCommitted);
    const MetricsSnapshot after = p.store().metrics();
    CHECK(after.write_behind.enqueued == before.write_behind.enqueued + 1);
    CHECK(after.write_behind.committed == before.write_behind.committed + 1);
    CHECK(after.write_behind.batches >= before.write_behind.batches + 1);
    CHECK(after.write_behind.depth == 0);
    const std::string text = examstore::to_prometheus(after);
    CHECK(text.find("examstore_write_behind_committed_total " +
                    std::to_string(after.write_behind.committed) + "\n") != std::string::npos);
  }
}

TEST_CASE("the papers near cache counts hits and misses", "[metrics]") {
  Pair p(false);
  const examstore::PaperKey paper{"s", "d", "m", "c"};
  const MetricsSnapshot before = p.store().metrics();
  (void)p.store().papers().items(paper);  // miss
  (void)p.store().papers().items(paper);  // hit
  const MetricsSnapshot after = p.store().metrics();
  CHECK(after.paper_near_cache.misses == before.paper_near_cache.misses + 1);
  CHECK(after.paper_near_cache.hits == before.paper_near_cache.hits + 1);
}

TEST_CASE("migrations applied at open reach the log sink and no password does",
          "[metrics][logging][redis][postgres]") {
  const std::string secret = "Sup3r-Secret-" + examstore::test::unique_name("pw");
  examstore::test::TempDatabase db;
  // Trust authentication ignores the password, so the store works with it in the URL.
  std::string url = db.url();
  const auto at = url.find('@');
  REQUIRE(at != std::string::npos);
  url.insert(at, ":" + secret);
  Captured log;
  {
    Config c;
    c.key_prefix = examstore::test::unique_name("mt");
    c.with_database_url(url);
    // A Redis that refuses AUTH with a password: the connection failure is logged.
    c.with_redis_url("redis://:" + secret + "@" +
                     examstore::test::redis_url().substr(std::string("redis://").size()));
    c.migrate_on_open = true;
    c.log_sink = log.sink();
    c.log_level = LogLevel::kDebug;
    auto store = Store::open(c);
    CHECK(store->exams().get(1) == std::nullopt);  // the cache fails over to the database
    CHECK(store->metrics().cache_aside.cache_errors >= 1);
    CHECK(store->metrics().redis.errors >= 1);
  }
  CHECK(log.any("migrations", "applied migration(s) 1, 2, 3"));
  CHECK(log.any("redis", "cannot connect"));
  CHECK(log.any("postgres", "connected to"));
  for (const auto& line : log.lines()) {
    INFO(line.component << ": " << line.message);
    CHECK(line.message.find(secret) == std::string::npos);
    CHECK(line.message.find("Sup3r") == std::string::npos);
  }
}

TEST_CASE("a throwing log sink never fails an operation and is counted",
          "[metrics][logging][redis][postgres]") {
  Pair p(true, [](LogLevel, std::string_view, std::string_view) {
    throw std::runtime_error("sink is broken");
  });
  const examstore::Exam exam = p.store().exams().create(new_exam());
  CHECK(p.store().exams().get(exam.id).has_value());
  CHECK(p.store().metrics().log_sink_errors >= 1);  // at least "migrations applied"
}

TEST_CASE("a store without a sink writes nothing to stdout or stderr even when redis is down",
          "[metrics][logging]") {
  std::fflush(stdout);
  std::fflush(stderr);
  std::FILE* capture = std::tmpfile();
  REQUIRE(capture != nullptr);
  const int saved_out = ::dup(1);
  const int saved_err = ::dup(2);
  ::dup2(::fileno(capture), 1);
  ::dup2(::fileno(capture), 2);
  std::int64_t cache_errors = 0;
  {
    Config c;  // no sink; the library has things to report (connect failures)
    c.key_prefix = examstore::test::unique_name("mt");
    c.with_redis_url("redis://127.0.0.1:" + std::to_string(examstore::test::closed_port()));
    c.redis.failover_wait = std::chrono::milliseconds(0);  // nothing will come back here
    auto store = Store::open(c);
    const examstore::Exam exam = store->exams().create(new_exam());
    (void)store->exams().get(exam.id);
    cache_errors = store->metrics().cache_aside.cache_errors;
  }
  std::fflush(stdout);
  std::fflush(stderr);
  ::dup2(saved_out, 1);
  ::dup2(saved_err, 2);
  ::close(saved_out);
  ::close(saved_err);
  const long written = std::ftell(capture);
  std::fclose(capture);
  CHECK(cache_errors >= 1);
  CHECK(written == 0);
}

TEST_CASE("a dead-lettered write and its failed batch reach the log and the counters",
          "[metrics][logging][redis][postgres]") {
  Captured log;
  Pair p(true, log.sink());
  const examstore::Exam exam = p.store().exams().create(new_exam());
  examstore::NewStudent s;
  s.external_no = examstore::test::unique_name("st");
  s.name = "Ada";
  const examstore::Student student = p.store().students().create(s);
  p.store().students().enroll(exam.id, student.id);
  examstore::NewEvent e;
  e.exam_id = exam.id;
  e.student_id = student.id;
  e.kind = "blur";
  e.occurred_at = std::chrono::system_clock::now();
  p.store().violations().record_event(e, Durability::kCommitted);  // loads the seat map
  // Deleted behind the seat map's back: the event is accepted, PostgreSQL rejects it for good.
  p.db().query_value("DELETE FROM students WHERE id = " + std::to_string(student.id));
  p.store().violations().record_event(e, Durability::kCached);
  p.store().flush();
  const MetricsSnapshot m = p.store().metrics();
  CHECK(m.write_behind.dead_lettered == 1);
  CHECK(m.write_behind.depth == 0);
  CHECK(log.any("write_behind", "failed"));
  CHECK(log.any("write_behind", "dead-lettered one event write"));
  bool error_level = false;
  for (const auto& line : log.lines()) {
    if (line.component == "write_behind" && line.level == LogLevel::kError) error_level = true;
  }
  CHECK(error_level);
}

TEST_CASE("a redis restart is logged as a reconnect and counted as a new connection",
          "[metrics][logging][redis]") {
  examstore::test::RedisProcess redis;
  Captured log;
  Config c;
  c.key_prefix = examstore::test::unique_name("mt");
  c.with_redis_url(redis.url());
  c.log_sink = log.sink();
  c.log_level = LogLevel::kDebug;
  auto store = Store::open(c);
  store->cache().set("k", "v", 10s);
  const std::int64_t connects = store->metrics().redis.connects;
  redis.kill();
  redis.start();
  store->cache().set("k", "v", 10s);  // the idle connection is found closed and replaced
  CHECK(store->metrics().redis.connects == connects + 1);
  CHECK(log.any("redis", "closed an idle connection; reconnecting"));
  CHECK(log.any("redis", "connected to 127.0.0.1:"));
}

TEST_CASE("a retried postgresql transaction is logged with its reason and counted",
          "[metrics][logging][postgres]") {
  examstore::test::TempDatabase db;
  Captured log;
  Config c;
  c.log_sink = log.sink();
  examstore::obs::Telemetry telemetry(c);
  examstore::db::PgPool pool(examstore::parse_postgres_url(db.url()), &telemetry);
  int runs = 0;
  pool.transact("self-terminating", [&](pqxx::work& tx) {
    if (++runs == 1) tx.exec("SELECT pg_terminate_backend(pg_backend_pid())");
  });
  CHECK(runs == 2);
  const examstore::PoolMetrics m = telemetry.postgres.snapshot();
  CHECK(m.commands == 2);
  CHECK(m.errors == 1);
  CHECK(m.latency.count == 2);
  CHECK(m.connects == 2);
  CHECK(pool.stats().retries == 1);
  CHECK(log.any("postgres", "self-terminating on "));
  CHECK(log.any("postgres", "attempt 1 of 3 failed ("));
}
