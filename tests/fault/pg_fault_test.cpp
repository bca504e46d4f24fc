// Fault tests of db::PgPool: server-side termination of its connections (between and during
// transactions), a server that is down, and a server that accepts but never answers.
#include <chrono>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "db/pg_pool.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "support/test_env.hpp"

namespace {

using examstore::Error;
using examstore::db::PgPool;
using examstore::test::TempDatabase;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

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

long long elapsed_ms(Clock::time_point since) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - since).count();
}

// An admin session on the cluster's "postgres" database, outside the database under test.
// Autocommit statements, so every read of pg_stat_activity sees a fresh snapshot.
class Admin {
 public:
  Admin() : conn_(examstore::test::database_url()) {}

  // Waits (up to 5 s) until backend `pid` has exited; false when it has not.
  bool wait_gone(int pid) {
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (Clock::now() < deadline) {
      pqxx::nontransaction tx(conn_);
      if (examstore::db::exec1(tx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid)[0]
              .as<int>() == 0) {
        return true;
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }

  // Runs one statement (autocommit) on the "postgres" database.
  void run(const std::string& sql) {
    pqxx::nontransaction tx(conn_);
    tx.exec(sql);
  }

  // Terminates one backend and waits until it is gone.
  bool terminate(int pid) {
    {
      pqxx::nontransaction tx(conn_);
      if (!examstore::db::exec1(tx, "SELECT pg_terminate_backend($1)", pid)[0].as<bool>())
        return false;
    }
    return wait_gone(pid);
  }

  // Terminates every backend connected to `dbname` (except this session) and waits until they
  // are gone; returns how many there were.
  int terminate_all(const std::string& dbname) {
    std::vector<int> pids;
    {
      pqxx::nontransaction tx(conn_);
      for (const auto& row : examstore::db::exec(
               tx,
               "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
               dbname)) {
        pids.push_back(row[0].as<int>());
      }
    }
    int killed = 0;
    for (int pid : pids) killed += terminate(pid) ? 1 : 0;
    return killed;
  }

 private:
  pqxx::connection conn_;
};

void create_items(PgPool& pool) {
  pool.transact("create items", [](pqxx::work& tx) {
    examstore::db::exec0(tx, "CREATE TABLE items (id integer PRIMARY KEY, label text NOT NULL)");
  });
}

}  // namespace

TEST_CASE("PgPool replaces connections terminated between transactions", "[postgres][fault]") {
  TempDatabase db;
  auto opts = examstore::parse_postgres_url(db.url());
  opts.pool_size = 2;
  PgPool pool(opts);
  create_items(pool);
  pool.transact("insert before", [](pqxx::work& tx) {
    examstore::db::exec0(tx, "INSERT INTO items VALUES (1, 'before')");
  });
  REQUIRE(pool.stats().idle >= 1);  // the connection to be killed waits in the pool

  Admin admin;
  REQUIRE(admin.terminate_all(db.name()) >= 1);

  int runs = 0;
  REQUIRE_NOTHROW(pool.transact("insert after", [&](pqxx::work& tx) {
    ++runs;
    examstore::db::exec0(tx, "INSERT INTO items VALUES (2, 'after')");
  }));
  CHECK(runs >= 1);
  CHECK(pool.stats().discarded >= 1);
  CHECK(db.query_value("SELECT string_agg(label, ',' ORDER BY id) FROM items") == "before,after");

  // And the pool keeps working.
  pool.transact("insert later", [](pqxx::work& tx) {
    examstore::db::exec0(tx, "INSERT INTO items VALUES (3, 'later')");
  });
  CHECK(db.query_value("SELECT count(*) FROM items") == "3");
}

TEST_CASE("PgPool retries a transaction whose connection is terminated during the body",
          "[postgres][fault]") {
  TempDatabase db;
  PgPool pool(examstore::parse_postgres_url(db.url()));
  create_items(pool);
  Admin admin;

  int runs = 0;
  bool terminated = false;
  std::vector<int> pids;
  REQUIRE_NOTHROW(pool.transact("insert item", [&](pqxx::work& tx) {
    ++runs;
    examstore::db::exec0(tx, "INSERT INTO items VALUES (1, 'once')");
    const int pid = examstore::db::exec1(tx, "SELECT pg_backend_pid()")[0].as<int>();
    pids.push_back(pid);
    if (runs == 1) {
      terminated = admin.terminate(pid);
      examstore::db::exec1(tx,
                           "SELECT 1");  // the session is gone: this fails before COMMIT is sent
    }
  }));
  REQUIRE(terminated);
  CHECK(runs == 2);
  REQUIRE(pids.size() == 2);
  CHECK(pids[0] != pids[1]);  // the retry ran on a new session
  const auto s = pool.stats();
  CHECK(s.retries >= 1);
  CHECK(s.discarded >= 1);
  CHECK(db.query_value("SELECT count(*) FROM items") == "1");
  CHECK(db.query_value("SELECT label FROM items WHERE id = 1") == "once");
}

TEST_CASE("PgPool against a server that is down fails fast with kUnavailable",
          "[postgres][fault]") {
  const int port = examstore::test::closed_port();
  auto opts = examstore::parse_postgres_url(
      "postgresql://postgres@127.0.0.1:" + std::to_string(port) + "/postgres");
  opts.pool_size = 2;
  opts.failover_wait = milliseconds(0);  // this test is about the immediate error
  PgPool pool(opts);

  // More calls than pool slots: a failed connect must not keep a slot.
  for (int i = 0; i < 4; ++i) {
    INFO("call " << i);
    int runs = 0;
    const auto start = Clock::now();
    const Error e =
        expect_error([&] { pool.transact("insert item", [&](pqxx::work&) { ++runs; }); });
    INFO(e.what());
    CHECK(code_of(e) == "unavailable");
    CHECK(e.retryable());
    CHECK(runs == 0);
    CHECK(elapsed_ms(start) < 5000);
  }
  // Failing to connect at all is not retried inside the call (it would only multiply the
  // caller's wait on a server that is down): each call fails once, at once.
  CHECK(pool.stats().retries == 0);

  const Error e = expect_error([&] { pool.acquire(); });
  CHECK(code_of(e) == "unavailable");
  CHECK(pool.stats().open == 0);
}

TEST_CASE("PgPool against a server that never answers times out", "[postgres][fault]") {
  examstore::test::SilentServer silent;
  auto opts = examstore::parse_postgres_url(
      "postgresql://postgres@127.0.0.1:" + std::to_string(silent.port()) + "/postgres");
  opts.connect_timeout = std::chrono::seconds(2);
  opts.failover_wait = milliseconds(0);  // one call, one timeout (see the next test for more)
  long long bound_ms = 0;
  SECTION("one attempt") {
    opts.max_attempts = 1;
    bound_ms = 6000;
  }
  SECTION("the default attempts") {
    // Each attempt may take the whole connect timeout; allow for backoff between them.
    bound_ms = opts.max_attempts * 2000 + 4000;
  }
  PgPool pool(opts);

  int runs = 0;
  const auto start = Clock::now();
  const Error e = expect_error([&] { pool.transact("insert item", [&](pqxx::work&) { ++runs; }); });
  const auto took = elapsed_ms(start);
  INFO(e.what() << " after " << took << " ms");
  const std::string code = code_of(e);
  CHECK((code == "unavailable" || code == "timeout"));
  CHECK(e.retryable());
  CHECK(runs == 0);
  CHECK(took < bound_ms);
}

TEST_CASE("PgPool rides through a server that is down for failover_wait then fails retryable",
          "[postgres][fault]") {
  const int port = examstore::test::closed_port();
  auto opts = examstore::parse_postgres_url(
      "postgresql://postgres@127.0.0.1:" + std::to_string(port) + "/postgres");
  opts.failover_wait = milliseconds(1000);
  PgPool pool(opts);

  int runs = 0;
  const auto start = Clock::now();
  const Error e = expect_error([&] { pool.transact("insert item", [&](pqxx::work&) { ++runs; }); });
  const auto took = elapsed_ms(start);
  INFO(e.what() << " after " << took << " ms");
  CHECK(code_of(e) == "unavailable");
  CHECK(e.retryable());
  CHECK_FALSE(e.outcome_unknown());
  CHECK(runs == 0);
  CHECK(took >= 1000);
  CHECK(pool.stats().retries >= 2);  // waits of 10, 20, 40 ... ms: several tries in 1 s
  CHECK(pool.stats().open == 0);
}

TEST_CASE("PgPool drops a connection to a server turned read-only and finds a writable one",
          "[postgres][fault]") {
  TempDatabase db;
  auto opts = examstore::parse_postgres_url(db.url());
  opts.pool_size = 1;
  PgPool pool(opts);
  create_items(pool);
  // The pooled session is made read-only, as one to a demoted primary (or a standby) would be;
  // sessions made from now on are read-only too, until the database is reset below.
  pool.transact("read only", [](pqxx::work& tx) {
    examstore::db::exec0(tx, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
  });
  Admin admin;  // on "postgres": the database under test refuses the ALTER once read-only
  admin.run("ALTER DATABASE " + db.name() + " SET default_transaction_read_only = on");
  std::thread writable([&] {
    std::this_thread::sleep_for(milliseconds(400));
    admin.run("ALTER DATABASE " + db.name() + " RESET default_transaction_read_only");
  });

  int runs = 0;
  const auto start = Clock::now();
  REQUIRE_NOTHROW(pool.transact("insert item", [&](pqxx::work& tx) {
    ++runs;
    examstore::db::exec0(tx, "INSERT INTO items VALUES (1, 'once')");
  }));
  writable.join();
  INFO(runs << " runs in " << elapsed_ms(start) << " ms");
  CHECK(runs >= 2);                    // refused (25006) at least once, then written
  CHECK(pool.stats().discarded >= 2);  // the read-only sessions were not kept
  CHECK(elapsed_ms(start) >= 400);     // it waited for a writable server
  CHECK(db.query_value("SELECT count(*) FROM items") == "1");

  // With failover_wait 0 the refusal is thrown at once (after max_attempts), retryable.
  auto no_wait = opts;
  no_wait.failover_wait = milliseconds(0);
  PgPool quick(no_wait);
  admin.run("ALTER DATABASE " + db.name() + " SET default_transaction_read_only = on");
  const Error e = expect_error([&] {
    quick.transact("insert item", [](pqxx::work& tx) {
      examstore::db::exec0(tx, "INSERT INTO items VALUES (2, 'never')");
    });
  });
  INFO(e.what());
  CHECK(code_of(e) == "unavailable");
  CHECK(e.retryable());
  CHECK(e.message().find("25006") != std::string::npos);
  admin.run("ALTER DATABASE " + db.name() + " RESET default_transaction_read_only");
}

TEST_CASE("PgPool never retries a write whose COMMIT met a dead connection", "[postgres][fault]") {
  TempDatabase db;
  auto opts = examstore::parse_postgres_url(db.url());
  opts.failover_wait = std::chrono::seconds(5);  // even within failover_wait
  PgPool pool(opts);
  create_items(pool);
  Admin admin;

  int runs = 0;
  const Error e = expect_error([&] {
    pool.transact("insert item", [&](pqxx::work& tx) {
      ++runs;
      examstore::db::exec0(tx, "INSERT INTO items VALUES (1, 'in doubt')");
      const int pid = examstore::db::exec1(tx, "SELECT pg_backend_pid()")[0].as<int>();
      REQUIRE(admin.terminate(pid));  // the next thing sent on this session is the COMMIT
    });
  });
  INFO(e.what());
  CHECK(runs == 1);
  CHECK(code_of(e) == "unavailable");
  CHECK(e.outcome_unknown());
  CHECK(e.retryable());  // the caller may retry, knowing the first may have been applied
  CHECK(pool.stats().retries == 0);
  // Here the session died before COMMIT reached it, so nothing was applied; the pool cannot
  // know that, which is why it says "unknown".
  CHECK(db.query_value("SELECT count(*) FROM items") == "0");
}
