// Integration tests of db::Migrator against a real PostgreSQL server: the shipped migrations up
// and down, partial steps, concurrent migrators (threads and processes), and the refusals that
// protect a database from a build that does not match it. Each test has a TempDatabase.
#include "db/migrator.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "db/pg_pool.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "support/test_env.hpp"

extern char** environ;

namespace {

using examstore::Error;
using examstore::ErrorCode;
using examstore::MigrationInfo;
using examstore::db::Migration;
using examstore::db::Migrator;
using examstore::db::PgPool;
using examstore::test::TempDatabase;
using Clock = std::chrono::steady_clock;

std::string code_of(const Error& e) { return std::string(examstore::to_string(e.code())); }

template <typename F>
Error expect_error(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  FAIL("expected an examstore::Error, but the call succeeded");
  throw std::logic_error("unreachable");
}

std::vector<int> versions_of(const std::vector<Migration>& ms) {
  std::vector<int> v;
  for (const auto& m : ms) v.push_back(m.version);
  return v;
}

// A table named by a migration: schema may be empty (the search path).
struct TableName {
  std::string schema;
  std::string table;
  bool operator<(const TableName& o) const {
    return std::tie(schema, table) < std::tie(o.schema, o.table);
  }
};

std::string strip_sql_comments(const std::string& sql) {
  static const std::regex kLineComment("--[^\n]*");
  static const std::regex kBlockComment(R"(/\*[\s\S]*?\*/)");
  return std::regex_replace(std::regex_replace(sql, kBlockComment, " "), kLineComment, " ");
}

TableName parse_table_name(std::string name) {
  name.erase(std::remove(name.begin(), name.end(), '"'), name.end());
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const auto dot = name.find('.');
  if (dot == std::string::npos) return {"", name};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

// The tables that exist after applying `ms` in order, as read from their CREATE TABLE and
// DROP TABLE statements: lets the test check the shipped schema without hard-coding it.
std::set<TableName> tables_after(const std::vector<Migration>& ms) {
  static const std::regex kStatement(
      R"((create|drop)\s+(?:(?:unlogged|temporary|temp)\s+)?table\s+(?:if\s+(?:not\s+)?exists\s+)?((?:"[^"]+"|[A-Za-z_][A-Za-z0-9_$]*)(?:\.(?:"[^"]+"|[A-Za-z_][A-Za-z0-9_$]*))?))",
      std::regex::icase);
  std::set<TableName> tables;
  for (const auto& m : ms) {
    const std::string sql = strip_sql_comments(m.up);
    for (std::sregex_iterator it(sql.begin(), sql.end(), kStatement), end; it != end; ++it) {
      std::string verb = (*it)[1].str();
      const TableName t = parse_table_name((*it)[2].str());
      if (verb[0] == 'c' || verb[0] == 'C') {
        tables.insert(t);
      } else {
        tables.erase(t);
      }
    }
  }
  return tables;
}

bool table_exists(const TempDatabase& db, const TableName& t) {
  std::string sql =
      "SELECT count(*) FROM information_schema.tables WHERE table_name = '" + t.table + "'";
  if (t.schema.empty()) {
    sql += " AND table_schema NOT IN ('pg_catalog', 'information_schema')";
  } else {
    sql += " AND table_schema = '" + t.schema + "'";
  }
  return db.query_value(sql) != "0";
}

bool table_exists(const TempDatabase& db, const std::string& table) {
  return table_exists(db, TableName{"", table});
}

std::string describe(const TableName& t) {
  return t.schema.empty() ? t.table : t.schema + "." + t.table;
}

// Two tiny migrations of the test's own.
Migration make_migration(int version, const std::string& name, const std::string& up,
                         const std::string& down) {
  return Migration{version, name, up, down};
}

std::vector<Migration> list_a() {
  return {make_migration(101, "t1", "CREATE TABLE t1 (id integer PRIMARY KEY)", "DROP TABLE t1"),
          make_migration(102, "t2", "CREATE TABLE t2 (id integer PRIMARY KEY)", "DROP TABLE t2")};
}

const MigrationInfo* find_info(const std::vector<MigrationInfo>& infos, int version) {
  for (const auto& i : infos) {
    if (i.version == version) return &i;
  }
  return nullptr;
}

std::string recorded_versions(const TempDatabase& db) {
  return db.query_value(
      "SELECT coalesce(string_agg(version::text, ',' ORDER BY version), '') "
      "FROM schema_migrations");
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A child process running the CLI, its output captured in a file.
struct CliRun {
  pid_t pid = -1;
  std::string log;
};

CliRun spawn_cli(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> argv_s = {EXAMSTORE_CLI_PATH};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) FAIL("cannot run " << EXAMSTORE_CLI_PATH << ": " << std::strerror(rc));
  return CliRun{pid, log};
}

// The child's exit code; -1 when it was killed or did not finish within 60 s (then killed).
int wait_cli(const CliRun& run) {
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  int status = 0;
  for (;;) {
    const pid_t r = ::waitpid(run.pid, &status, WNOHANG);
    if (r == run.pid) break;
    if (r < 0) return -1;
    if (Clock::now() > deadline) {
      ::kill(run.pid, SIGKILL);
      ::waitpid(run.pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("Migrator takes a fresh database to the latest shipped version",
          "[postgres][migration]") {
  TempDatabase db;
  PgPool pool(examstore::parse_postgres_url(db.url()));
  const auto& shipped = examstore::db::shipped_migrations();
  REQUIRE_FALSE(shipped.empty());
  const auto tables = tables_after(shipped);
  REQUIRE_FALSE(tables.empty());  // the schema check below must check something

  Migrator migrator(pool, shipped);
  {
    const auto before = migrator.status();
    REQUIRE(before.size() == shipped.size());
    for (const auto& i : before) CHECK_FALSE(i.applied);
  }

  CHECK(migrator.up() == versions_of(shipped));

  const auto status = migrator.status();
  REQUIRE(status.size() == shipped.size());
  for (std::size_t k = 0; k < shipped.size(); ++k) {
    INFO("migration " << shipped[k].version << " " << shipped[k].name);
    CHECK(status[k].version == shipped[k].version);
    CHECK(status[k].name == shipped[k].name);
    CHECK(status[k].applied);
    CHECK_FALSE(status[k].applied_at.empty());
    CHECK_FALSE(status[k].checksum_mismatch);
    const std::string checksum = examstore::db::migration_checksum(shipped[k]);
    CHECK(checksum.size() == 64);
    CHECK(db.query_value("SELECT checksum FROM schema_migrations WHERE version = " +
                         std::to_string(shipped[k].version)) == checksum);
  }
  CHECK(db.query_value("SELECT count(*) FROM schema_migrations") == std::to_string(shipped.size()));
  for (const auto& t : tables) {
    INFO("table " << describe(t));
    CHECK(table_exists(db, t));
  }

  // Nothing left to do.
  CHECK(migrator.up().empty());
  CHECK(db.query_value("SELECT count(*) FROM schema_migrations") == std::to_string(shipped.size()));
}

TEST_CASE("Migrator round trip: up, down all, up again", "[postgres][migration]") {
  TempDatabase db;
  PgPool pool(examstore::parse_postgres_url(db.url()));
  const auto& shipped = examstore::db::shipped_migrations();
  REQUIRE_FALSE(shipped.empty());
  const auto tables = tables_after(shipped);
  REQUIRE_FALSE(tables.empty());
  Migrator migrator(pool, shipped);

  REQUIRE(migrator.up() == versions_of(shipped));

  auto newest_first = versions_of(shipped);
  std::reverse(newest_first.begin(), newest_first.end());
  CHECK(migrator.down(static_cast<int>(shipped.size())) == newest_first);
  for (const auto& t : tables) {
    INFO("table " << describe(t));
    CHECK_FALSE(table_exists(db, t));
  }
  for (const auto& i : migrator.status()) {
    INFO("migration " << i.version);
    CHECK_FALSE(i.applied);
    CHECK(i.applied_at.empty());
  }
  CHECK(recorded_versions(db) == "");

  CHECK(migrator.up() == versions_of(shipped));
  for (const auto& t : tables) {
    INFO("table " << describe(t));
    CHECK(table_exists(db, t));
  }
  for (const auto& i : migrator.status()) CHECK(i.applied);
}

TEST_CASE("Migrator up(1) applies one migration at a time", "[postgres][migration]") {
  TempDatabase db;
  PgPool pool(examstore::parse_postgres_url(db.url()));
  const auto& shipped = examstore::db::shipped_migrations();
  REQUIRE_FALSE(shipped.empty());
  Migrator migrator(pool, shipped);

  CHECK(migrator.up(1) == std::vector<int>{shipped[0].version});
  auto status = migrator.status();
  REQUIRE(status.size() == shipped.size());
  CHECK(status[0].applied);
  for (std::size_t k = 1; k < status.size(); ++k) CHECK_FALSE(status[k].applied);
  CHECK(recorded_versions(db) == std::to_string(shipped[0].version));

  // The same with the test's own list, which is known to have more than one step.
  TempDatabase db2;
  PgPool pool2(examstore::parse_postgres_url(db2.url()));
  Migrator own(pool2, list_a());
  CHECK(own.up(1) == std::vector<int>{101});
  CHECK(table_exists(db2, "t1"));
  CHECK_FALSE(table_exists(db2, "t2"));
  CHECK(recorded_versions(db2) == "101");
  CHECK(own.up(1) == std::vector<int>{102});
  CHECK(table_exists(db2, "t2"));
  CHECK(own.up(1).empty());
  CHECK(recorded_versions(db2) == "101,102");
}

TEST_CASE("Migrator refuses a migration list that is not ascending", "[migration]") {
  // The pool connects lazily: no server is needed to construct either.
  PgPool pool(examstore::parse_postgres_url("postgresql://postgres@127.0.0.1:1/nowhere"));
  auto unordered = list_a();
  std::swap(unordered[0], unordered[1]);
  CHECK(code_of(expect_error([&] { Migrator m(pool, unordered); })) == "internal");
  auto duplicate = list_a();
  duplicate[1].version = 101;
  CHECK(code_of(expect_error([&] { Migrator m(pool, duplicate); })) == "internal");
}

TEST_CASE("Two processes migrating at once apply each migration once",
          "[postgres][migration][concurrency]") {
  TempDatabase db;
  const auto& shipped = examstore::db::shipped_migrations();
  REQUIRE_FALSE(shipped.empty());

  char tmpl[] = "/tmp/examstore-migrate-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  const std::vector<std::string> args = {"migrate", "up", "--database", db.url()};
  const CliRun a = spawn_cli(args, dir + "/a.log");
  const CliRun b = spawn_cli(args, dir + "/b.log");
  const int rc_a = wait_cli(a);
  const int rc_b = wait_cli(b);
  INFO("first process output:\n" << read_text(a.log));
  INFO("second process output:\n" << read_text(b.log));
  CHECK(rc_a == 0);
  CHECK(rc_b == 0);
  std::remove(a.log.c_str());
  std::remove(b.log.c_str());
  ::rmdir(dir.c_str());

  CHECK(db.query_value("SELECT count(*) FROM schema_migrations") == std::to_string(shipped.size()));
  CHECK(db.query_value("SELECT count(DISTINCT version) FROM schema_migrations") ==
        std::to_string(shipped.size()));
  PgPool pool(examstore::parse_postgres_url(db.url()));
  for (const auto& i : Migrator(pool, shipped).status()) {
    INFO("migration " << i.version);
    CHECK(i.applied);
    CHECK_FALSE(i.checksum_mismatch);
  }
}

TEST_CASE("Two threads migrating at once apply each migration once",
          "[postgres][migration][concurrency]") {
  TempDatabase db;
  const auto& shipped = examstore::db::shipped_migrations();
  REQUIRE_FALSE(shipped.empty());

  std::atomic<int> ready{0};
  std::mutex mu;  // guards results and errors
  std::vector<std::vector<int>> results;
  std::vector<std::string> errors;
  auto worker = [&] {
    try {
      PgPool pool(examstore::parse_postgres_url(db.url()));
      Migrator migrator(pool, shipped);
      ++ready;
      while (ready.load() < 2) std::this_thread::yield();
      auto applied = migrator.up();
      std::lock_guard<std::mutex> lock(mu);
      results.push_back(std::move(applied));
    } catch (const std::exception& e) {
      ++ready;
      std::lock_guard<std::mutex> lock(mu);
      errors.push_back(e.what());
    }
  };
  std::thread t1(worker);
  std::thread t2(worker);
  t1.join();
  t2.join();

  REQUIRE(errors == std::vector<std::string>{});
  REQUIRE(results.size() == 2);
  // One ran everything under the lock; the other then found nothing to do.
  std::sort(results.begin(), results.end());
  CHECK(results[0].empty());
  CHECK(results[1] == versions_of(shipped));
  CHECK(db.query_value("SELECT count(*) FROM schema_migrations") == std::to_string(shipped.size()));
  CHECK(db.query_value("SELECT count(DISTINCT version) FROM schema_migrations") ==
        std::to_string(shipped.size()));
}

TEST_CASE("Migrator refuses a database whose applied migration was edited",
          "[postgres][migration]") {
  TempDatabase db;
  PgPool pool(examstore::parse_postgres_url(db.url()));
  const auto a = list_a();
  REQUIRE(Migrator(pool, a).up() == std::vector<int>{101, 102});
  const std::string checksum_101 = examstore::db::migration_checksum(a[0]);

  auto tampered = list_a();
  tampered[0].up = "CREATE TABLE t1 (id integer PRIMARY KEY, extra integer)";
  tampered.push_back(
      make_migration(103, "t3", "CREATE TABLE t3 (id integer PRIMARY KEY)", "DROP TABLE t3"));
  CHECK(examstore::db::migration_checksum(tampered[0]) != checksum_101);
  Migrator migrator(pool, tampered);

  SECTION("up changes nothing") {
    const Error e = expect_error([&] { migrator.up(); });
    INFO(e.what());
    CHECK(code_of(e) == "data_integrity");
    CHECK_THAT(std::string(e.what()), Catch::Contains("101"));
    CHECK_FALSE(e.retryable());
    CHECK_FALSE(table_exists(db, "t3"));  // the pending 103 was not applied
  }
  SECTION("down changes nothing") {
    const Error e = expect_error([&] { migrator.down(1); });
    INFO(e.what());
    CHECK(code_of(e) == "data_integrity");
    CHECK_THAT(std::string(e.what()), Catch::Contains("101"));
    CHECK(table_exists(db, "t2"));
  }

  CHECK(recorded_versions(db) == "101,102");
  CHECK(db.query_value("SELECT checksum FROM schema_migrations WHERE version = 101") ==
        checksum_101);
  CHECK(db.query_value("SELECT count(*) FROM information_schema.columns "
                       "WHERE table_name = 't1' AND column_name = 'extra'") == "0");

  // status() reports the mismatch instead of refusing.
  const auto status = migrator.status();
  REQUIRE(status.size() == 3);
  const auto* s101 = find_info(status, 101);
  const auto* s102 = find_info(status, 102);
  const auto* s103 = find_info(status, 103);
  REQUIRE(s101 != nullptr);
  REQUIRE(s102 != nullptr);
  REQUIRE(s103 != nullptr);
  CHECK(s101->applied);
  CHECK(s101->checksum_mismatch);
  CHECK(s102->applied);
  CHECK_FALSE(s102->checksum_mismatch);
  CHECK_FALSE(s103->applied);
  CHECK_FALSE(s103->checksum_mismatch);
}

TEST_CASE("Migrator refuses a database with a version this build does not know",
          "[postgres][migration]") {
  TempDatabase db;
  PgPool pool(examstore::parse_postgres_url(db.url()));
  const auto a = list_a();
  REQUIRE(Migrator(pool, a).up() == std::vector<int>{101, 102});

  Migrator older(pool, {a[0]});
  SECTION("up") {
    const Error e = expect_error([&] { older.up(); });
    INFO(e.what());
    CHECK(code_of(e) == "data_integrity");
    CHECK_THAT(std::string(e.what()), Catch::Contains("102"));
  }
  SECTION("down") {
    const Error e = expect_error([&] { older.down(1); });
    INFO(e.what());
    CHECK(code_of(e) == "data_integrity");
    CHECK_THAT(std::string(e.what()), Catch::Contains("102"));
  }
  CHECK(recorded_versions(db) == "101,102");
  CHECK(table_exists(db, "t1"));
  CHECK(table_exists(db, "t2"));

  const auto status = older.status();
  REQUIRE(status.size() == 2);
  const auto* unknown = find_info(status, 102);
  REQUIRE(unknown != nullptr);
  CHECK(unknown->applied);
  CHECK(unknown->name == "t2 (unknown to this build)");
  const auto* known = find_info(status, 101);
  REQUIRE(known != nullptr);
  CHECK(known->applied);
  CHECK(known->name == "t1");
  CHECK_FALSE(known->checksum_mismatch);
}

TEST_CASE("A migration whose SQL fails leaves no record and no partial table",
          "[postgres][migration]") {
  TempDatabase db;
  PgPool pool(examstore::parse_postgres_url(db.url()));
  auto list = list_a();
  list[1].up =
      "CREATE TABLE t_partial (id integer PRIMARY KEY);"
      "INSERT INTO t_partial VALUES (1);"
      "INSERT INTO no_such_table VALUES (1)";
  list[1].down = "DROP TABLE t_partial";

  Migrator failing(pool, list);
  const Error e = expect_error([&] { failing.up(); });
  INFO(e.what());
  CHECK_THAT(std::string(e.what()), Catch::Contains("102"));  // names the failed migration
  // Migration 101 ran in its own transaction and stays; 102 left nothing behind.
  CHECK(recorded_versions(db) == "101");
  CHECK(table_exists(db, "t1"));
  CHECK_FALSE(table_exists(db, "t_partial"));
  const auto status = failing.status();
  REQUIRE(status.size() == 2);
  CHECK(status[0].applied);
  CHECK_FALSE(status[1].applied);

  // Once fixed, the migration applies.
  list[1].up = "CREATE TABLE t_partial (id integer PRIMARY KEY)";
  CHECK(Migrator(pool, list).up() == std::vector<int>{102});
  CHECK(table_exists(db, "t_partial"));
  CHECK(recorded_versions(db) == "101,102");
}

TEST_CASE("Migrator down reverts the newest migrations first", "[postgres][migration]") {
  TempDatabase db;
  PgPool pool(examstore::parse_postgres_url(db.url()));
  // Outside the migrations, so it survives them: each down step logs itself here.
  pool.transact("create log", [](pqxx::work& tx) {
    examstore::db::exec0(
        tx, "CREATE TABLE down_log (seq serial PRIMARY KEY, version integer NOT NULL)");
  });
  // t2 references t1, so reverting 101 before 102 would fail.
  const std::vector<Migration> list = {
      make_migration(101, "t1", "CREATE TABLE t1 (id integer PRIMARY KEY)",
                     "DROP TABLE t1; INSERT INTO down_log (version) VALUES (101)"),
      make_migration(102, "t2",
                     "CREATE TABLE t2 (id integer PRIMARY KEY, t1_id integer REFERENCES t1 (id))",
                     "DROP TABLE t2; INSERT INTO down_log (version) VALUES (102)"),
      make_migration(103, "t3", "CREATE TABLE t3 (id integer PRIMARY KEY)",
                     "DROP TABLE t3; INSERT INTO down_log (version) VALUES (103)"),
  };
  Migrator migrator(pool, list);
  REQUIRE(migrator.up() == std::vector<int>{101, 102, 103});

  CHECK(migrator.down(2) == std::vector<int>{103, 102});
  CHECK(db.query_value("SELECT string_agg(version::text, ',' ORDER BY seq) FROM down_log") ==
        "103,102");
  CHECK(recorded_versions(db) == "101");
  CHECK(table_exists(db, "t1"));
  CHECK_FALSE(table_exists(db, "t2"));
  CHECK_FALSE(table_exists(db, "t3"));

  CHECK(migrator.down(1) == std::vector<int>{101});
  CHECK(db.query_value("SELECT string_agg(version::text, ',' ORDER BY seq) FROM down_log") ==
        "103,102,101");
  CHECK(recorded_versions(db) == "");
  CHECK_FALSE(table_exists(db, "t1"));

  CHECK(migrator.up(1) == std::vector<int>{101});
  CHECK(table_exists(db, "t1"));
}
