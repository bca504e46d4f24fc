// The `examstore users` commands as an operator runs them, on the test Redis and a fresh
// PostgreSQL database: passwords only on standard input, clear errors and exit codes.
#include <catch2/catch.hpp>
#include <string>

#include "support/test_env.hpp"

namespace {

using Run = examstore::test::CommandResult;

struct CliUsers {
  examstore::test::TempDatabase db;
  std::string env = "EXAMSTORE_KEY_PREFIX=" + examstore::test::unique_name("cu") + " ";
  std::string backends =
      " --redis " + examstore::test::redis_url() + " --database " + db.url() + " ";

  Run run(const std::string& args) const {
    return examstore::test::run_command(env + EXAMSTORE_CLI_PATH + backends + args + " 2>&1");
  }
  /// Runs with `password` (and a line end) on standard input.
  Run with_password(const std::string& password, const std::string& args) const {
    return examstore::test::run_command("printf '%s\\n' '" + password + "' | " + env +
                                        EXAMSTORE_CLI_PATH + backends + args + " 2>&1");
  }
};

}  // namespace

TEST_CASE("users add, login, lock and unlock from the command line",
          "[cli][accounts][redis][postgres]") {
  CliUsers cli;
  REQUIRE(cli.run("migrate up").exit_code == 0);
  const std::string pw = "a long secret 1";

  Run r = cli.with_password(pw, "users add --role teacher --name tina --password-stdin");
  CHECK(r.exit_code == 0);
  CHECK(r.output == "created user 1 tina (teacher)\n");
  r = cli.with_password("short", "users add --role teacher --name tim --password-stdin");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("password: must be 10..1024 bytes, got 5"));
  r = cli.run("users add --role teacher --name tim --password " + pw);
  CHECK(r.exit_code == 2);
  r = cli.with_password(pw, "users add --role wizard --name tim --password-stdin");
  CHECK(r.exit_code == 2);
  CHECK_THAT(r.output, Catch::Contains("--role must be"));
  r = cli.with_password(pw, "users add --role student --name sam --student 7 --password-stdin");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("student_id: there is no student 7"));

  r = cli.with_password(pw, "users login --name tina --password-stdin --ip 192.0.2.10");
  CHECK(r.exit_code == 0);
  REQUIRE(r.output.size() == 44);  // the token and a line end
  CHECK(r.output.find_first_not_of(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == 43);
  r = cli.with_password("a wrong password", "users login --name tina --password-stdin");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("wrong user name or password"));
  CHECK_THAT(r.output, !Catch::Contains("a wrong password"));

  r = cli.run("users lock --name tina");
  CHECK(r.exit_code == 0);
  CHECK(r.output == "user tina is locked\n");
  r = cli.with_password(pw, "users login --name tina --password-stdin");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("user tina is locked"));
  CHECK(cli.run("users unlock --name tina").output == "user tina is active\n");
  CHECK(cli.with_password(pw, "users login --name tina --password-stdin").exit_code == 0);
  r = cli.run("users lock --name nobody");
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.output, Catch::Contains("no user named 'nobody'"));

  r = cli.run("--json users list-logins --name tina --limit 2");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output,
             Catch::StartsWith("[{\"id\":4,\"user_id\":1,\"name\":\"tina\",\"ip\":\"\"") &&
                 Catch::Contains("\"reason\":\"locked\"}]"));
  r = cli.run("users list-logins");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains(" tina 192.0.2.10 ok\n"));
}
