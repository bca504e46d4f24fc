// tests/unit/metrics_test.cpp: the Prometheus and JSON renderings of a MetricsSnapshot (exact
// text), the atomic histogram behind the latency metrics, and the internal logger's guarantees.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "common/json.hpp"
#include "common/log.hpp"
#include "examstore/error.hpp"
#include "examstore/metrics.hpp"
#include "obs/telemetry.hpp"

namespace {

using examstore::Histogram;
using examstore::LogLevel;
using examstore::MetricsSnapshot;
using examstore::to_prometheus;

Histogram small_histogram() {
  Histogram h;
  h.bounds = {0.001, 0.01};
  h.cumulative = {1, 3};
  h.count = 4;
  h.sum = 0.5;
  return h;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("to_prometheus renders counters and gauges with HELP and TYPE", "[metrics][unit]") {
  MetricsSnapshot m;
  m.cache_aside.hits = 7;
  m.cache_aside.misses = 3;
  m.cache_aside.hit_rate = 0.7;
  m.write_behind.depth = 12;
  m.write_behind.oldest_pending_age = std::chrono::milliseconds(1500);
  m.paper_near_cache.hits = 5;
  const std::string text = to_prometheus(m);
  CHECK(contains(text,
                 "# HELP examstore_cache_hits_total Cache-aside reads served by the hot tier.\n"
                 "# TYPE examstore_cache_hits_total counter\n"
                 "examstore_cache_hits_total 7\n"));
  CHECK(contains(text,
                 "# TYPE examstore_cache_misses_total counter\n"
                 "examstore_cache_misses_total 3\n"));
  CHECK(contains(text, "# TYPE examstore_cache_hit_ratio gauge\nexamstore_cache_hit_ratio 0.7\n"));
  CHECK(contains(text,
                 "# TYPE examstore_write_behind_depth gauge\nexamstore_write_behind_depth 12\n"));
  CHECK(contains(text, "examstore_write_behind_oldest_pending_age_seconds 1.5\n"));
  CHECK(contains(text,
                 "# TYPE examstore_near_cache_hits_total counter\n"
                 "examstore_near_cache_hits_total{cache=\"papers\"} 5\n"
                 "examstore_near_cache_hits_total{cache=\"exams\"} 0\n"));
  CHECK(text.back() == '\n');
  // Every sample line belongs to a family declared above it; names carry the prefix.
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    INFO(line);
    const bool ours = line.rfind("examstore_", 0) == 0 || line.rfind("# HELP examstore_", 0) == 0 ||
                      line.rfind("# TYPE examstore_", 0) == 0;
    CHECK(ours);
    start = end + 1;
  }
}

TEST_CASE("to_prometheus leaves out the pools of embedded backends", "[metrics][unit]") {
  const std::string text = to_prometheus(MetricsSnapshot{});
  CHECK_FALSE(contains(text, "pool_"));
  CHECK_FALSE(contains(text, "backend_info"));
  CHECK_FALSE(contains(text, "_bucket"));
}

TEST_CASE("to_prometheus renders histograms cumulatively with +Inf sum and count",
          "[metrics][unit]") {
  MetricsSnapshot m;
  m.redis.enabled = true;
  m.redis.endpoint = "127.0.0.1:6379/0";
  m.redis.latency = small_histogram();
  const std::string text = to_prometheus(m);
  CHECK(contains(text,
                 "# HELP examstore_redis_command_duration_seconds Redis round trips (one command "
                 "or one pipeline), in seconds.\n"
                 "# TYPE examstore_redis_command_duration_seconds histogram\n"
                 "examstore_redis_command_duration_seconds_bucket{le=\"0.001\"} 1\n"
                 "examstore_redis_command_duration_seconds_bucket{le=\"0.01\"} 3\n"
                 "examstore_redis_command_duration_seconds_bucket{le=\"+Inf\"} 4\n"
                 "examstore_redis_command_duration_seconds_sum 0.5\n"
                 "examstore_redis_command_duration_seconds_count 4\n"));
  CHECK_FALSE(contains(text, "postgres_transaction_duration_seconds"));
}

TEST_CASE("to_prometheus labels pools by backend and escapes label values", "[metrics][unit]") {
  MetricsSnapshot m;
  m.redis.enabled = true;
  m.redis.endpoint = "odd\"host\\name\nx:6379/0";
  m.redis.size = 2;
  m.postgres.enabled = true;
  m.postgres.endpoint = "exam@127.0.0.1:5432/exams";
  m.postgres.size = 3;
  m.postgres.retries = 1;
  const std::string text = to_prometheus(m, "app_es");
  CHECK(contains(text,
                 "# TYPE app_es_backend_info gauge\n"
                 "app_es_backend_info{backend=\"redis\",endpoint=\"odd\\\"host\\\\name\\nx:"
                 "6379/0\"} 1\n"
                 "app_es_backend_info{backend=\"postgresql\",endpoint=\"exam@127.0.0.1:5432/"
                 "exams\"} 1\n"));
  CHECK(contains(text,
                 "# TYPE app_es_pool_connections gauge\n"
                 "app_es_pool_connections{backend=\"redis\"} 2\n"
                 "app_es_pool_connections{backend=\"postgresql\"} 3\n"));
  CHECK(contains(text, "app_es_pool_retries_total{backend=\"postgresql\"} 1\n"));
  CHECK(contains(text, "# TYPE app_es_postgres_transaction_duration_seconds histogram\n"));
}

TEST_CASE("to_prometheus rejects a prefix that is not a metric name", "[metrics][unit]") {
  for (const char* bad : {"", "9lives", "has space", "dash-ed", "quote\""}) {
    INFO(bad);
    try {
      (void)to_prometheus(MetricsSnapshot{}, bad);
      FAIL("accepted");
    } catch (const examstore::Error& e) {
      CHECK(e.code() == examstore::ErrorCode::kInvalidArgument);
      CHECK(contains(e.what(), "prefix"));
    }
  }
  CHECK_NOTHROW(to_prometheus(MetricsSnapshot{}, "ns:sub_2"));
}

TEST_CASE("to_json is valid JSON with every section", "[metrics][unit]") {
  MetricsSnapshot m;
  m.cache_aside.hits = 2;
  m.cache_aside.hit_rate = 0.5;
  m.redis.enabled = true;
  m.redis.endpoint = "h\"x";
  m.redis.latency = small_histogram();
  m.write_behind.committed = 9;
  m.write_behind.oldest_pending_age = std::chrono::milliseconds(250);
  const examstore::json::Value v = examstore::json::parse(examstore::to_json(m));
  REQUIRE(v.find("cache_aside") != nullptr);
  CHECK(v.find("cache_aside")->find("hits")->text == "2");
  CHECK(v.find("cache_aside")->find("hit_rate")->text == "0.5");
  CHECK(v.find("redis")->find("endpoint")->text == "h\"x");
  CHECK(v.find("redis")->find("latency")->find("count")->text == "4");
  CHECK(v.find("redis")->find("latency")->find("cumulative")->items.size() == 2);
  CHECK(v.find("postgres")->find("enabled")->type == examstore::json::Value::Type::kBool);
  CHECK(v.find("write_behind")->find("committed")->text == "9");
  CHECK(v.find("write_behind")->find("oldest_pending_age_ms")->text == "250");
  CHECK(v.find("paper_near_cache") != nullptr);
  CHECK(v.find("exam_near_cache") != nullptr);
  CHECK(v.find("hot_repairs")->find("pending")->text == "0");
  CHECK(v.find("log_sink_errors")->text == "0");
}

TEST_CASE("the atomic histogram files each observation in its bucket", "[metrics][unit]") {
  examstore::obs::AtomicHistogram h;
  h.observe(std::chrono::microseconds(10));   // <= 50 us
  h.observe(std::chrono::microseconds(50));   // <= 50 us (bounds are inclusive)
  h.observe(std::chrono::microseconds(700));  // <= 1 ms
  h.observe(std::chrono::seconds(60));        // +Inf only
  const Histogram s = h.snapshot();
  REQUIRE(s.bounds.size() == s.cumulative.size());
  CHECK(s.bounds.front() == Approx(50e-6));
  CHECK(s.bounds.back() == Approx(10.0));
  CHECK(s.cumulative[0] == 2);  // 50 us
  CHECK(s.cumulative[2] == 2);  // 250 us
  CHECK(s.cumulative[4] == 3);  // 1 ms
  CHECK(s.cumulative.back() == 3);
  CHECK(s.count == 4);
  CHECK(s.sum == Approx(60.00076));
}

TEST_CASE("the atomic histogram counts every observation from many threads",
          "[metrics][unit][concurrency]") {
  examstore::obs::AtomicHistogram h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h] {
      for (int i = 0; i < 10000; ++i) h.observe(std::chrono::microseconds(i % 2000));
    });
  }
  for (auto& t : threads) t.join();
  CHECK(h.snapshot().count == 40000);
}

TEST_CASE("the logger is silent without a sink and filters by level", "[metrics][logging][unit]") {
  const examstore::obs::Logger silent;
  CHECK_FALSE(silent.enabled(LogLevel::kError));
  silent.log(LogLevel::kError, "x", "nothing {}", 1);  // no sink: no effect, no throw

  std::vector<std::string> got;
  const examstore::obs::Logger log(
      [&](LogLevel level, std::string_view component, std::string_view message) {
        got.push_back(std::string(examstore::to_string(level)) + " " + std::string(component) +
                      " " + std::string(message));
      },
      LogLevel::kWarn);
  CHECK_FALSE(log.enabled(LogLevel::kInfo));
  log.log(LogLevel::kInfo, "redis", "dropped {}", 1);
  log.log(LogLevel::kWarn, "redis", "kept {}", 2);
  log.log(LogLevel::kError, "postgres", "kept {}", 3);
  CHECK(got == std::vector<std::string>{"warn redis kept 2", "error postgres kept 3"});
}

TEST_CASE("the logger catches and counts a throwing sink", "[metrics][logging][unit]") {
  const examstore::obs::Logger log(
      [](LogLevel, std::string_view, std::string_view) { throw std::runtime_error("full disk"); },
      LogLevel::kDebug);
  CHECK_NOTHROW(log.log(LogLevel::kError, "x", "one"));
  CHECK_NOTHROW(log.log(LogLevel::kDebug, "x", "two"));
  CHECK(log.sink_errors() == 2);
}

TEST_CASE("log levels print and parse", "[metrics][logging][unit]") {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    CHECK(examstore::parse_log_level(examstore::to_string(l)) == l);
  }
  CHECK_FALSE(examstore::parse_log_level("WARN").has_value());
  CHECK_FALSE(examstore::parse_log_level("").has_value());
}
