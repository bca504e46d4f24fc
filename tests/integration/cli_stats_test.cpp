// tests/integration/cli_stats_test.cpp: `examstore stats` as an operator runs it: Prometheus
// text by default, JSON with --json (parsed and checked), exit codes.
#include <catch2/catch.hpp>

#include <string>

#include "common/json.hpp"
#include "support/test_env.hpp"

namespace {

using Run = examstore::test::CommandResult;
/// The tool with `args`; stdout only (stderr goes to the terminal), so JSON output parses.
Run run(const std::string& args) {
  return examstore::test::run_command(std::string(EXAMSTORE_CLI_PATH) + " " + args);
}

const examstore::json::Value& member(const examstore::json::Value& v, std::string_view key) {
  const examstore::json::Value* m = v.find(key);
  INFO("member " << key);
  REQUIRE(m != nullptr);
  return *m;
}

}  // namespace

TEST_CASE("stats prints Prometheus text on the embedded backends", "[cli][metrics]") {
  const Run r = run("--redis memory:// --database memory:// stats");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::StartsWith("# HELP examstore_cache_hits_total "));
  CHECK_THAT(r.output, Catch::Contains("\n# TYPE examstore_write_behind_depth gauge\n"));
  CHECK_THAT(r.output, !Catch::Contains("pool_"));
}

TEST_CASE("stats --json reports both pools of real servers", "[cli][metrics][redis][postgres]") {
  const std::string both =
      "--redis " + examstore::test::redis_url() + " --database " + examstore::test::database_url();
  const Run r = run(both + " stats --json");
  REQUIRE(r.exit_code == 0);
  const examstore::json::Value doc = examstore::json::parse(r.output);
  CHECK(member(doc, "ok").boolean);
  const auto& m = member(doc, "metrics");
  const auto& redis = member(m, "redis");
  CHECK(member(redis, "enabled").boolean);
  CHECK(member(redis, "commands").as_int64().value_or(0) >= 1);  // the health PING
  CHECK(member(member(redis, "latency"), "count").as_int64().value_or(0) >= 1);
  CHECK(member(member(m, "postgres"), "enabled").boolean);
  CHECK(member(member(m, "postgres"), "connects").as_int64().value_or(0) >= 1);
  CHECK(member(member(m, "write_behind"), "depth").as_int64() == 0);
  CHECK(member(member(m, "cache_aside"), "hit_rate").is_number());

  const Run text = run(both + " stats");
  CHECK(text.exit_code == 0);
  CHECK_THAT(text.output, Catch::Contains("examstore_pool_connections{backend=\"redis\"} ") &&
                              Catch::Contains("examstore_redis_command_duration_seconds_count ") &&
                              Catch::Contains("backend=\"postgresql\""));
}

TEST_CASE("stats exits 1 with the snapshot when a backend is down and 2 on bad usage",
          "[cli][metrics]") {
  const Run down =
      run("--redis redis://127.0.0.1:" + std::to_string(examstore::test::closed_port()) +
          " stats --json 2>/dev/null");
  CHECK(down.exit_code == 1);
  const examstore::json::Value doc = examstore::json::parse(down.output);
  CHECK_FALSE(member(doc, "ok").boolean);
  CHECK(member(member(member(doc, "metrics"), "redis"), "errors").as_int64().value_or(0) >= 1);

  CHECK(run("stats extra 2>/dev/null").exit_code == 2);
  CHECK(run("--redis http://x stats 2>/dev/null").exit_code == 2);
}

TEST_CASE("simulate --stats-json ends with the metrics snapshot", "[cli][metrics]") {
  const Run r = run(
      "--redis memory:// --database memory:// simulate --students 3 --duration 0.3 "
      "--heartbeat-interval 0.1 --violation-rate 2 --durability cached --stats-json 2>/dev/null");
  CHECK(r.exit_code == 0);
  REQUIRE(r.output.size() > 2);
  const auto start = r.output.rfind('\n', r.output.size() - 2);
  REQUIRE(start != std::string::npos);
  const examstore::json::Value doc = examstore::json::parse(r.output.substr(start + 1));
  const auto& wb = member(doc, "write_behind");
  CHECK(member(wb, "committed").as_int64().value_or(0) >= 1);
  CHECK(member(wb, "depth").as_int64() == 0);
  CHECK(member(member(doc, "cache_aside"), "invalidations").as_int64().value_or(0) >= 1);
  CHECK_THAT(r.output, Catch::Contains("heartbeats"));
}
