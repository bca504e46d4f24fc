// tests/integration/readme_example_test.cpp: the README's "Using it" program as a new user meets
// it. cmake/ExtractReadmeExample.cmake copies it out of README.md into readme_example
// (EXAMSTORE_README_EXAMPLE_PATH), built unchanged; here it runs with a clean environment: on the
// embedded default, and with the two variables its comment names set to the test run's Redis and
// a fresh PostgreSQL database (which it migrates: migrate_on_open). Regression for issue 16: on
// real servers it aborted with "durability journaled needs write_behind.journal_dir".
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/test_env.hpp"

extern char** environ;

namespace {

using namespace std::chrono_literals;
using examstore::test::TempDir;
namespace fs = std::filesystem;

struct Outcome {
  int status = -1;     // waitpid status
  std::string output;  // stdout and stderr
};

/// Runs the example with this process's environment minus every EXAMSTORE_* variable and the
/// state folders, plus `vars`; XDG_STATE_HOME is `state` (where a journal goes by default).
Outcome run_example(const std::vector<std::string>& vars, const std::string& state,
                    const std::string& log) {
  std::vector<std::string> drop = {"XDG_STATE_HOME", "STATE_DIRECTORY"};
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    if (entry.rfind("EXAMSTORE_", 0) == 0) drop.push_back(entry.substr(0, entry.find('=')));
  }
  std::vector<std::string> env = examstore::test::environment_without(drop);
  env.insert(env.end(), vars.begin(), vars.end());
  env.push_back("XDG_STATE_HOME=" + state);
  const pid_t pid = examstore::test::spawn_process({EXAMSTORE_README_EXAMPLE_PATH}, env, log);

  Outcome out;
  const auto give_up = std::chrono::steady_clock::now() + 120s;
  while (::waitpid(pid, &out.status, WNOHANG) != pid) {
    if (std::chrono::steady_clock::now() > give_up) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      FAIL("the README example did not finish within 120 s");
    }
    std::this_thread::sleep_for(10ms);
  }
  std::ifstream in(log);
  std::ostringstream text;
  text << in.rdbuf();
  out.output = text.str();
  return out;
}

void check_ran(const Outcome& r) {
  INFO("output:\n" << r.output);
  REQUIRE(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 0);
  CHECK(r.output == "1 online\n");
}

}  // namespace

TEST_CASE("readme: the Using it example runs on the embedded default", "[readme][memory]") {
  const TempDir dir("readme");
  const Outcome r = run_example({}, dir / "state", dir / "log");
  check_ran(r);
  // Nothing outlives the process on the embedded default: no journal is made.
  CHECK_FALSE(fs::exists(dir / "state"));
}

TEST_CASE("readme: the Using it example runs on Redis and PostgreSQL",
          "[readme][redis][postgres]") {
  examstore::test::TempDatabase db;
  const TempDir dir("readme");
  // A key prefix of its own, as every test on the shared Redis has (from_env reads it too).
  const Outcome r = run_example(
      {"EXAMSTORE_REDIS_URL=" + examstore::test::redis_url(), "EXAMSTORE_DATABASE_URL=" + db.url(),
       "EXAMSTORE_KEY_PREFIX=" + examstore::test::unique_name("readme")},
      dir / "state", dir / "log");
  check_ran(r);

  // The violation, recorded with the default durability (journaled) and batched behind the call,
  // reached PostgreSQL by the time the store closed.
  CHECK(db.query_value("SELECT count(*) FROM violations v JOIN exams e ON e.id = v.exam_id "
                       "JOIN students s ON s.id = v.student_id WHERE e.name = 'Algebra final' "
                       "AND s.external_no = 'S-1001' AND v.kind = 'tab_switch' AND "
                       "v.severity = 2") == "1");
  CHECK(db.query_value("SELECT count(*) FROM dead_letters") == "0");
  // Its journal was a slot under the default root ($XDG_STATE_HOME/examstore/journal), removed
  // at close because everything in it was committed.
  const std::string root = dir / "state/examstore/journal";
  CHECK(fs::is_directory(root));
  CHECK(fs::is_empty(root));
}
