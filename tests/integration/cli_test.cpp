// The examstore tool as an operator runs it: exit codes, output, migrations, health.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "support/test_env.hpp"

namespace {

using Run = examstore::test::CommandResult;
Run run(const std::string& args) { return examstore::test::run_cli(args); }

}  // namespace

TEST_CASE("bad usage prints the usage and exits 2", "[cli]") {
  for (const char* args :
       {"", "bogus", "migrate", "migrate sideways", "migrate up 0", "migrate up x",
        "migrate down 1 2", "health extra", "--nope health", "--redis"}) {
    INFO("args: " << args);
    const Run r = run(args);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("usage: examstore"));
  }
  const Run bad_url = run("--redis http://h health");
  CHECK(bad_url.exit_code == 2);
  CHECK_THAT(bad_url.output, Catch::Contains("redis_url") && Catch::Contains("http://h"));
}

TEST_CASE("--help prints the usage and exits 0", "[cli]") {
  const Run r = run("--help");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("migrate up [N]") && Catch::Contains("health"));
}

TEST_CASE("health reports real servers and fails when one is down", "[cli][redis][postgres]") {
  const std::string both =
      "--redis " + examstore::test::redis_url() + " --database " + examstore::test::database_url();
  const Run ok = run(both + " health");
  CHECK(ok.exit_code == 0);
  CHECK_THAT(ok.output, Catch::Contains("redis") && Catch::Contains("postgresql") &&
                            Catch::Contains("version 7.") && Catch::Contains("version 15."));
  const Run json = run(both + " health --json");
  CHECK(json.exit_code == 0);
  CHECK_THAT(json.output, Catch::StartsWith("{\"ok\":true,\"backends\":[{\"role\":\"cache\""));

  const std::string down =
      "--redis redis://127.0.0.1:" + std::to_string(examstore::test::closed_port());
  const Run bad = run(down + " --json health");
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.output, Catch::StartsWith("{\"ok\":false") && Catch::Contains("refused"));
}

TEST_CASE("migrate up, status, history and down", "[cli][postgres][migration]") {
  examstore::test::TempDatabase db;
  const std::string d = "--database " + db.url();
  Run r = run(d + " migrate status");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("pending  exams_and_students"));
  r = run(d + " migrate up 1");
  CHECK(r.exit_code == 0);
  CHECK(r.output == "applied migration 1\n");
  r = run(d + " migrate up");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("applied migration 2") && !Catch::Contains("migration 1\n"));
  r = run(d + " migrate up");
  CHECK(r.output == "nothing to do: the schema is up to date\n");
  r = run(d + " --json migrate history");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output,
             Catch::StartsWith("[{\"version\":1,\"name\":\"exams_and_students\",\"applied\":true"));
  // down more steps than there are migrations reverts them all, newest first
  r = run(d + " --json migrate down 99");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::StartsWith("{\"reverted\":[") && Catch::EndsWith(",2,1]}\n"));
  CHECK(db.query_value("SELECT count(*) FROM schema_migrations") == "0");
  CHECK(db.query_value(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'exams'") == "0");
}

TEST_CASE("migrate status fails when an applied migration was edited",
          "[cli][postgres][migration]") {
  examstore::test::TempDatabase db;
  const std::string d = "--database " + db.url();
  REQUIRE(run(d + " migrate up").exit_code == 0);
  db.query_value("UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1");
  const Run status = run(d + " migrate status");
  CHECK(status.exit_code == 1);
  CHECK_THAT(status.output, Catch::Contains("checksum mismatch"));
  const Run down = run(d + " migrate down");
  CHECK(down.exit_code == 1);
  CHECK_THAT(down.output, Catch::Contains("migration 1") && Catch::Contains("edited"));
}

TEST_CASE("migrate on the in-memory database explains what to do", "[cli][memory]") {
  const Run r = run("--database memory:// migrate up");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("EXAMSTORE_DATABASE_URL"));
}
