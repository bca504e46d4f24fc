// tests/integration/cli_monitoring_test.cpp: the examstore tool's monitoring commands as an
// operator runs them: simulate (on memory and on Redis + PostgreSQL), a simulate killed with
// SIGKILL and recovered by drain, and deadletter list / retry / drop.
//
// The tool runs as a child process (EXAMSTORE_CLI_PATH). Its environment gets a key prefix of
// its own (EXAMSTORE_KEY_PREFIX), so runs sharing the test Redis never collide, and loses
// EXAMSTORE_JOURNAL_DIR, so a developer's setting cannot leak in. Journals and logs live in a
// mkdtemp folder removed at the end of each test. Every wait is bounded.
#include <catch2/catch.hpp>

#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/json.hpp"
#include "examstore/config.hpp"
#include "support/db_ids.hpp"
#include "support/tcp_proxy.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::test::TempDatabase;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
namespace json = examstore::json;

using examstore::test::TempDir;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Run {
  int exit_code;
  std::string out;  // stdout
  std::string err;  // stderr
};

/// Runs the tool with `args` (shell words) in an environment with `prefix` as key prefix.
Run run(const std::string& args, const std::string& prefix = "") {
  const TempDir dir("cli");
  const std::string err_file = dir / "stderr";
  const std::string env = "env -u EXAMSTORE_JOURNAL_DIR -u EXAMSTORE_KEY_PREFIX " +
                          (prefix.empty() ? std::string() : "EXAMSTORE_KEY_PREFIX=" + prefix + " ");
  const std::string cmd = env + EXAMSTORE_CLI_PATH + " " + args + " 2>" + err_file;
  const examstore::test::CommandResult r = examstore::test::run_command(cmd);
  return {r.exit_code, r.output, read_file(err_file)};
}

std::int64_t int_at(const json::Value& v, const char* key) {
  const json::Value* m = v.find(key);
  INFO("member " << key);
  REQUIRE(m != nullptr);
  REQUIRE(m->as_int64());
  return *m->as_int64();
}

/// Checks the JSON summary of a simulate run; returns violations_recorded.
std::int64_t check_summary(const Run& r) {
  INFO("stdout: " << r.out);
  INFO("stderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  const json::Value v = json::parse(r.out);
  REQUIRE(v.is_object());
  const std::int64_t recorded = int_at(v, "violations_recorded");
  CHECK(recorded > 0);
  CHECK(int_at(v, "violations_persisted") == recorded);
  CHECK(int_at(v, "students") == 200);
  CHECK(int_at(v, "heartbeats") > 0);
  CHECK(int_at(v, "events_recorded") == recorded);
  const json::Value* presence = v.find("presence");
  REQUIRE(presence != nullptr);
  REQUIRE(presence->is_object());
  CHECK(int_at(*presence, "online") > 0);
  std::int64_t seats = 0;
  for (const auto& [state, count] : presence->members) {
    REQUIRE(count.as_int64());
    seats += *count.as_int64();
  }
  CHECK(seats == 200);
  const json::Value* queue = v.find("queue");
  REQUIRE(queue != nullptr);
  CHECK(int_at(*queue, "dead_lettered") == 0);
  CHECK(int_at(*queue, "depth") == 0);
  return recorded;
}

using examstore::test::complete_lines;

/// A child process killed (SIGKILL) and reaped on destruction unless already reaped.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }
  /// True (with `status`) when it has exited.
  bool exited(int& status) {
    if (pid_ <= 0) return true;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return true;
    }
    return false;
  }
  /// SIGKILL and reap; returns the wait status.
  int kill() {
    int status = 0;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_;
};

/// Starts the tool with `args` (stdout and stderr to `log`), `prefix` as key prefix.
pid_t spawn(const std::vector<std::string>& args, const std::string& log,
            const std::string& prefix) {
  std::vector<std::string> words{EXAMSTORE_CLI_PATH};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<std::string> env =
      examstore::test::environment_without({"EXAMSTORE_JOURNAL_DIR", "EXAMSTORE_KEY_PREFIX"});
  env.push_back("EXAMSTORE_KEY_PREFIX=" + prefix);
  return examstore::test::spawn_process(words, env, log);
}

const char* const kSimulate =
    " simulate --students 200 --duration 3 --heartbeat-interval 1 --violation-rate 30 --json";

}  // namespace

TEST_CASE("simulate on the embedded backends persists every violation", "[cli][memory]") {
  const Run r = run("--redis memory:// --database memory://" + std::string(kSimulate));
  check_summary(r);
}

TEST_CASE("simulate on Redis and PostgreSQL persists every violation", "[cli][redis][postgres]") {
  TempDatabase db;
  const TempDir dir;
  const Run r = run("--redis " + examstore::test::redis_url() + " --database " + db.url() +
                        " --journal-dir " + (dir / "journal") + kSimulate,
                    examstore::test::unique_name("cli"));
  const std::int64_t recorded = check_summary(r);
  CHECK(db.query_value("SELECT count(*) FROM violations") == std::to_string(recorded));
  CHECK(db.query_value("SELECT count(*) FROM events") == std::to_string(recorded));
  CHECK(std::stoll(
            db.query_value("SELECT count(*) FROM exam_attendance WHERE status <> 'enrolled'")) > 0);
  CHECK(db.query_value("SELECT count(*) FROM dead_letters") == "0");
}

TEST_CASE("simulate rejects bad arguments with exit 2", "[cli][memory]") {
  const std::string base = "--redis memory:// --database memory:// simulate ";
  for (const char* args :
       {"", "--students 10 --duration 1 --heartbeat-interval 1",  // no --violation-rate
        "--students 0 --duration 1 --heartbeat-interval 1 --violation-rate 1",
        "--students x --duration 1 --heartbeat-interval 1 --violation-rate 1",
        "--students 10 --duration -1 --heartbeat-interval 1 --violation-rate 1",
        "--students 10 --duration 1 --heartbeat-interval 0 --violation-rate 1",
        "--students 10 --duration 1 --heartbeat-interval 1 --violation-rate abc",
        "--students 10 --duration 1 --heartbeat-interval 1 --violation-rate 1 --durability fast",
        "--students 10 --duration 1 --heartbeat-interval 1 --violation-rate 1 --bogus 1",
        "--students 10 --duration 1 --heartbeat-interval 1 --violation-rate"}) {
    INFO("args: " << args);
    const Run r = run(base + args);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("usage: examstore"));
    CHECK(r.out.empty());
  }
}

TEST_CASE("simulate killed with SIGKILL loses no acknowledged violation after drain",
          "[cli][redis][postgres][fault]") {
  // Once with --journal-dir, once with the default placement: a journal slot of the database and
  // key prefix under $XDG_STATE_HOME (a folder of the test binary's own), which drain finds
  // without being told where.
  const bool explicit_dir = GENERATE(true, false);
  INFO((explicit_dir ? "with --journal-dir" : "in the default journal slot"));
  TempDatabase db;
  const TempDir dir;
  const std::string ack_log = dir / "acks.txt";
  const std::string journal = dir / "journal";
  const std::string journal_option = explicit_dir ? " --journal-dir " + journal : "";
  const std::string log = dir / "simulate.log";
  const std::string prefix = examstore::test::unique_name("kill");
  const std::string redis = examstore::test::redis_url();
  std::vector<std::string> args{"--redis", redis, "--database", db.url()};
  if (explicit_dir) args.insert(args.end(), {"--journal-dir", journal});
  args.insert(args.end(),
              {"simulate", "--students", "100", "--duration", "30", "--heartbeat-interval", "1",
               "--violation-rate", "120", "--ack-log", ack_log, "--seed", "11"});
  Child child(spawn(args, log, prefix));

  // Bounded wait for 50 acknowledged violations.
  const auto deadline = Clock::now() + 90s;
  std::size_t acked = 0;
  for (;;) {
    acked = complete_lines(ack_log).size();
    if (acked >= 50) break;
    int status = 0;
    if (child.exited(status))
      FAIL("simulate exited early (status " << status << "):\n" << read_file(log));
    if (Clock::now() > deadline) FAIL("fewer than 50 acks after 90 s:\n" << read_file(log));
    std::this_thread::sleep_for(20ms);
  }
  // Then a seeded-random extra delay, so the kill lands at a different point of the work.
  std::mt19937 rng(20240611);
  const auto delay = std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 1500)(rng));
  INFO("killed " << delay.count() << " ms after the 50th ack");
  std::this_thread::sleep_for(delay);
  const int status = child.kill();
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);

  const std::vector<std::string> lines = complete_lines(ack_log);
  REQUIRE(lines.size() >= 50);
  std::set<std::int64_t> ids;
  for (const auto& line : lines) ids.insert(std::stoll(line));
  CHECK(ids.size() == lines.size());  // an id is acknowledged once

  const Run drain = run(
      "--redis " + redis + " --database " + db.url() + journal_option + " --json drain", prefix);
  INFO("drain stdout: " << drain.out << "\ndrain stderr: " << drain.err);
  REQUIRE(drain.exit_code == 0);
  const json::Value report = json::parse(drain.out);
  CHECK(int_at(report, "dead_lettered") == 0);
  const json::Value* drained = report.find("journal_dir");
  REQUIRE(drained != nullptr);
  if (explicit_dir) {
    CHECK(drained->text == journal);
  } else {
    const char* state = std::getenv("XDG_STATE_HOME");
    REQUIRE(state != nullptr);
    CHECK_THAT(drained->text, Catch::StartsWith(std::string(state) + "/examstore/journal/"));
    CHECK_FALSE(fs::exists(drained->text));  // emptied, so removed at close
  }

  const std::set<std::int64_t> stored = examstore::test::ids_in(db, "violations");
  std::vector<std::int64_t> missing;
  for (const auto id : ids) {
    if (stored.count(id) == 0) missing.push_back(id);
  }
  INFO(missing.size() << " of " << ids.size() << " acknowledged ids missing, first "
                      << (missing.empty() ? -1 : missing.front()));
  CHECK(missing.empty());
  // Exactly once: ids are the primary key, and no more rows than distinct ids exist per id.
  CHECK(std::stoll(db.query_value("SELECT count(*) - count(DISTINCT id) FROM violations")) == 0);

  // A second drain finds nothing left.
  const Run again = run(
      "--redis " + redis + " --database " + db.url() + journal_option + " --json drain", prefix);
  REQUIRE(again.exit_code == 0);
  CHECK(int_at(json::parse(again.out), "replayed") == 0);
}

namespace {

/// Runs simulate on Redis (through `proxy`) and PostgreSQL with `failover_wait_ms`, cuts the
/// proxy for 2 s once violations are acknowledged, and returns the JSON summary.
json::Value simulate_through_cut(examstore::test::TcpProxy& proxy, const TempDatabase& db,
                                 const std::string& failover_wait_ms) {
  const TempDir dir;
  const std::string ack_log = dir / "acks.txt";
  const std::string log = dir / "simulate.log";
  const std::vector<std::string> args{"--redis",
                                      "redis://127.0.0.1:" + std::to_string(proxy.port()) + "/0",
                                      "--database",
                                      db.url(),
                                      "--journal-dir",
                                      dir / "journal",
                                      "--json",
                                      "simulate",
                                      "--students",
                                      "100",
                                      "--duration",
                                      "8",
                                      "--heartbeat-interval",
                                      "1",
                                      "--violation-rate",
                                      "60",
                                      "--ack-log",
                                      ack_log,
                                      "--seed",
                                      "5"};
  std::vector<std::string> words{EXAMSTORE_CLI_PATH};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<std::string> env =
      examstore::test::environment_without({"EXAMSTORE_JOURNAL_DIR", "EXAMSTORE_KEY_PREFIX"});
  env.push_back("EXAMSTORE_KEY_PREFIX=" + examstore::test::unique_name("cut"));
  env.push_back("EXAMSTORE_REDIS_FAILOVER_WAIT_MS=" + failover_wait_ms);
  Child child(examstore::test::spawn_process(words, env, log));

  const auto deadline = Clock::now() + 60s;  // the run phase has begun once violations are acked
  while (complete_lines(ack_log).size() < 5) {
    int status = 0;
    if (child.exited(status)) FAIL("simulate exited early:\n" << read_file(log));
    if (Clock::now() > deadline) FAIL("no acknowledged violation after 60 s:\n" << read_file(log));
    std::this_thread::sleep_for(20ms);
  }
  proxy.cut();
  std::this_thread::sleep_for(2s);
  proxy.restore();
  int status = 0;
  while (!child.exited(status)) {
    if (Clock::now() > deadline + 60s) FAIL("simulate did not end:\n" << read_file(log));
    std::this_thread::sleep_for(50ms);
  }
  const std::string out = read_file(log);
  INFO("output: " << out);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  const auto at = out.find("{\"exam_id\"");
  REQUIRE(at != std::string::npos);
  json::Value v = json::parse(out.substr(at, out.find('\n', at) - at));
  const json::Value* lost = v.find("lost_acknowledged");
  REQUIRE(lost != nullptr);
  CHECK_FALSE(lost->boolean);
  CHECK(int_at(v, "violations_persisted") >= int_at(v, "violations_recorded"));
  WARN("failover_wait " << failover_wait_ms << " ms, Redis cut for 2 s: failed calls "
                        << int_at(v, "failed_calls") << ", tried again "
                        << int_at(v, "retried_calls") << ", longest error window "
                        << int_at(v, "longest_error_window_ms") << " ms, library resends "
                        << int_at(v, "library_resends_redis"));
  return v;
}

}  // namespace

TEST_CASE("simulate rides through a Redis outage as a real client and exits 0",
          "[cli][redis][postgres][fault]") {
  TempDatabase db;
  examstore::test::TcpProxy proxy(examstore::parse_redis_url(examstore::test::redis_url()).port);

  SECTION("failover_wait 0: the calls fail, are counted and tried again") {
    const json::Value v = simulate_through_cut(proxy, db, "0");
    CHECK(int_at(v, "failed_calls") > 0);
    CHECK(int_at(v, "retried_calls") > 0);
    CHECK(int_at(v, "longest_error_window_ms") >= 1000);  // the cut lasted 2 s
    CHECK(int_at(v, "library_resends_redis") == 0);
    const json::Value* calls = v.find("calls");
    REQUIRE(calls != nullptr);
    const json::Value* beats = calls->find("heartbeat_batch");
    REQUIRE(beats != nullptr);
    CHECK(int_at(*beats, "failed") > 0);
  }
  SECTION("failover_wait 10 s: the library rides through and the client sees no error") {
    const json::Value v = simulate_through_cut(proxy, db, "10000");
    // Only a call that was in flight at the cut and is not idempotent may reach the client.
    CHECK(int_at(v, "failed_calls") == int_at(v, "in_doubt_calls"));
    CHECK(int_at(v, "library_resends_redis") > 0);
  }
  // Every acknowledged violation of both runs is in PostgreSQL once (ids are the primary key).
  CHECK(std::stoll(db.query_value("SELECT count(*) - count(DISTINCT id) FROM violations")) == 0);
  CHECK(db.query_value("SELECT count(*) FROM dead_letters") == "0");
}

TEST_CASE("deadletter list, retry and drop as an operator runs them", "[cli][memory]") {
  const TempDir dir;
  const std::string d = "--redis memory:// --database memory:// --journal-dir " + (dir / "journal");
  Run r = run(d + " deadletter list");
  CHECK(r.exit_code == 0);
  CHECK(r.out == "no dead letters\n");
  r = run(d + " --json deadletter list");
  CHECK(r.exit_code == 0);
  CHECK(r.out == "[]\n");
  r = run(d + " deadletter drop 999");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("999"));
  r = run(d + " deadletter retry 999");
  CHECK(r.exit_code == 1);
  for (const char* bad :
       {"deadletter retry x", "deadletter drop x", "deadletter drop 0", "deadletter",
        "deadletter list 1", "deadletter retry", "deadletter purge"}) {
    INFO("args: " << bad);
    r = run(d + " " + bad);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("usage: examstore"));
  }
}

TEST_CASE("deadletter on PostgreSQL lists and drops stored dead letters", "[cli][postgres]") {
  TempDatabase db;
  const TempDir dir;
  const std::string d =
      "--redis memory:// --database " + db.url() + " --journal-dir " + (dir / "journal");
  REQUIRE(run(d + " migrate up").exit_code == 0);
  Run r = run(d + " deadletter list");
  CHECK(r.exit_code == 0);
  CHECK(r.out == "no dead letters\n");
  CHECK(run(d + " deadletter drop 999").exit_code == 1);
  CHECK(run(d + " deadletter retry x").exit_code == 2);

  const std::string id = db.query_value(
      "INSERT INTO dead_letters (queue, payload, error, sqlstate) VALUES ('violation', "
      "'{\"kind\":\"violation\"}', 'insert failed: boom', '23503') RETURNING id");
  REQUIRE_FALSE(id.empty());
  r = run(d + " deadletter list");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains(id) && Catch::Contains("violation") &&
                        Catch::Contains("23503") && Catch::Contains("boom"));
  r = run(d + " deadletter drop " + id);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("dropped"));
  CHECK(db.query_value("SELECT count(*) FROM dead_letters") == "0");
  CHECK(run(d + " deadletter drop " + id).exit_code == 1);
}
