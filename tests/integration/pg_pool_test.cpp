// Integration tests of db::PgPool against a real PostgreSQL server: commit, rollback, error
// translation by SQLSTATE class, the serialization-failure retry, and the pool bound.
// Each test runs in a TempDatabase of its own.
#include "db/pg_pool.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "support/test_env.hpp"

namespace {

using examstore::Error;
using examstore::ErrorCode;
using examstore::db::PgPool;
using examstore::test::TempDatabase;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

examstore::PostgresOptions options_for(const TempDatabase& db) {
  return examstore::parse_postgres_url(db.url());
}

std::string code_of(const Error& e) { return std::string(examstore::to_string(e.code())); }

// Runs `f` and returns the examstore::Error it throws; fails the test when it throws nothing.
// Any other exception type propagates (and fails the test).
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

// A caller's own exception type, which the pool must let through unchanged.
struct CallerError : std::runtime_error {
  explicit CallerError(int v) : std::runtime_error("caller error"), value(v) {}
  int value;
};

void create_items_table(PgPool& pool) {
  pool.transact("create items", [](pqxx::work& tx) {
    examstore::db::exec0(tx, "CREATE TABLE items (id integer PRIMARY KEY, label text NOT NULL)");
  });
}

}  // namespace

TEST_CASE("PgPool transact commits and the data is visible", "[postgres]") {
  TempDatabase db;
  PgPool pool(options_for(db));
  create_items_table(pool);

  int runs = 0;
  pool.transact("insert item", [&](pqxx::work& tx) {
    ++runs;
    examstore::db::exec0(tx, "INSERT INTO items (id, label) VALUES ($1, $2)", 1, "first");
  });
  CHECK(runs == 1);

  // Visible to another session (committed), and to the pool's next transaction.
  CHECK(db.query_value("SELECT label FROM items WHERE id = 1") == "first");
  std::string seen;
  pool.transact("read item", [&](pqxx::work& tx) {
    seen = examstore::db::exec1(tx, "SELECT label FROM items WHERE id = 1")[0].as<std::string>();
  });
  CHECK(seen == "first");

  const auto s = pool.stats();
  CHECK(s.created >= 1);
  CHECK(s.open >= 1);
  CHECK(s.idle == s.open);  // nothing is leased any more
  CHECK(s.discarded == 0);
  CHECK(s.retries == 0);
  CHECK_FALSE(pool.endpoint().empty());
}

TEST_CASE("PgPool transact rolls back when the body throws", "[postgres]") {
  TempDatabase db;
  PgPool pool(options_for(db));
  create_items_table(pool);

  SECTION("the caller's own exception propagates unchanged, not retried") {
    int runs = 0;
    try {
      pool.transact("insert then fail", [&](pqxx::work& tx) {
        ++runs;
        examstore::db::exec0(tx, "INSERT INTO items VALUES (1, 'rolled back')");
        throw CallerError(42);
      });
      FAIL("the body's exception did not propagate");
    } catch (const CallerError& e) {
      CHECK(e.value == 42);
    }
    CHECK(runs == 1);
  }

  SECTION("an examstore::Error thrown by the body keeps its code") {
    const Error e = expect_error([&] {
      pool.transact("insert then not found", [&](pqxx::work& tx) {
        examstore::db::exec0(tx, "INSERT INTO items VALUES (1, 'rolled back')");
        throw Error(ErrorCode::kNotFound, "lookup", "no such candidate 'c-9'");
      });
    });
    CHECK(code_of(e) == "not_found");
    CHECK(e.message() == "no such candidate 'c-9'");
  }

  SECTION("a database error becomes examstore::Error") {
    int runs = 0;
    const Error e = expect_error([&] {
      pool.transact("insert then bad query", [&](pqxx::work& tx) {
        ++runs;
        examstore::db::exec0(tx, "INSERT INTO items VALUES (1, 'rolled back')");
        examstore::db::exec0(tx, "SELECT * FROM no_such_table");
      });
    });
    INFO(e.what());
    CHECK(code_of(e) == "internal");  // 42P01: neither 22, 23, 08 nor 57014
    CHECK_THAT(std::string(e.what()), Catch::Contains("insert then bad query"));
    CHECK(runs == 1);  // an SQL error is not retried
  }

  CHECK(db.query_value("SELECT count(*) FROM items") == "0");

  // The pool is still usable after the failure.
  pool.transact("insert after failure", [](pqxx::work& tx) {
    examstore::db::exec0(tx, "INSERT INTO items VALUES (2, 'kept')");
  });
  CHECK(db.query_value("SELECT string_agg(label, ',') FROM items") == "kept");
}

TEST_CASE("PgPool translates a unique violation to kConflict naming the operation", "[postgres]") {
  TempDatabase db;
  PgPool pool(options_for(db));
  create_items_table(pool);
  pool.transact("insert item", [](pqxx::work& tx) {
    examstore::db::exec0(tx, "INSERT INTO items VALUES (7, 'original')");
  });

  int runs = 0;
  const Error e = expect_error([&] {
    pool.transact("register candidate", [&](pqxx::work& tx) {
      ++runs;
      examstore::db::exec0(tx, "INSERT INTO items VALUES (7, 'duplicate')");
    });
  });
  INFO(e.what());
  CHECK(code_of(e) == "conflict");
  CHECK(e.operation() == "register candidate");
  CHECK_THAT(std::string(e.what()), Catch::Contains("register candidate"));
  CHECK_FALSE(e.retryable());
  CHECK_FALSE(e.outcome_unknown());
  CHECK(runs == 1);
  CHECK(db.query_value("SELECT label FROM items WHERE id = 7") == "original");
}

TEST_CASE("PgPool translates a data error to kInvalidArgument", "[postgres]") {
  TempDatabase db;
  PgPool pool(options_for(db));

  const Error e = expect_error(
      [&] { pool.transact("parse score", [](pqxx::work& tx) { tx.exec("SELECT '12x'::int"); }); });
  INFO(e.what());
  CHECK(code_of(e) == "invalid_argument");
  CHECK_THAT(std::string(e.what()), Catch::Contains("parse score"));
  CHECK_FALSE(e.retryable());
}

TEST_CASE("PgPool translates a statement timeout to kTimeout", "[postgres]") {
  TempDatabase db;
  auto opts = options_for(db);
  opts.statement_timeout = milliseconds(200);
  PgPool pool(opts);

  // The option really reaches the server session.
  std::string setting;
  pool.transact("show timeout", [&](pqxx::work& tx) {
    setting = examstore::db::exec1(tx, "SHOW statement_timeout")[0].as<std::string>();
  });
  CHECK(setting == "200ms");

  const auto start = Clock::now();
  const Error e = expect_error(
      [&] { pool.transact("slow report", [](pqxx::work& tx) { tx.exec("SELECT pg_sleep(2)"); }); });
  INFO(e.what());
  CHECK(code_of(e) == "timeout");
  CHECK(e.retryable());
  CHECK(elapsed_ms(start) < 5000);  // no hang (one attempt takes 200 ms)

  // The connection survives a cancelled statement.
  int one = 0;
  pool.transact("after timeout",
                [&](pqxx::work& tx) { one = examstore::db::exec1(tx, "SELECT 1")[0].as<int>(); });
  CHECK(one == 1);
}

TEST_CASE("PgPool retries serialization failures", "[postgres][concurrency]") {
  TempDatabase db;
  auto opts = options_for(db);
  opts.pool_size = 2;
  // Two writers of one row conflict often; allow enough attempts that none gives up.
  opts.max_attempts = 100;
  PgPool pool(opts);
  pool.transact("create counter", [](pqxx::work& tx) {
    examstore::db::exec0(tx, "CREATE TABLE counter (id integer PRIMARY KEY, v integer NOT NULL)");
    examstore::db::exec0(tx, "INSERT INTO counter VALUES (1, 0)");
  });

  constexpr int kThreads = 2;
  constexpr int kIncrements = 50;
  std::atomic<int> body_runs{0};
  // Both threads' first attempts read before either writes: a guaranteed serialization failure
  // (the second UPDATE waits for the first commit, then fails with 40001).
  std::atomic<int> arrived{0};
  std::mutex errors_mu;  // guards errors
  std::vector<std::string> errors;

  auto worker = [&] {
    bool first_attempt = true;
    try {
      for (int i = 0; i < kIncrements; ++i) {
        pool.transact_serializable(
            "increment counter", [&](pqxx::transaction<pqxx::serializable>& tx) {
              ++body_runs;
              const int v =
                  examstore::db::exec1(tx, "SELECT v FROM counter WHERE id = 1")[0].as<int>();
              if (first_attempt) {
                first_attempt = false;
                ++arrived;
                const auto deadline = Clock::now() + std::chrono::seconds(10);
                while (arrived.load() < kThreads && Clock::now() < deadline) {
                  std::this_thread::sleep_for(milliseconds(1));
                }
              }
              examstore::db::exec0(tx, "UPDATE counter SET v = $1 WHERE id = 1", v + 1);
            });
      }
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(errors_mu);
      errors.push_back(e.what());
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker);
  for (auto& t : threads) t.join();

  REQUIRE(errors == std::vector<std::string>{});
  CHECK(db.query_value("SELECT v FROM counter WHERE id = 1") == "100");
  const auto s = pool.stats();
  CHECK(s.retries > 0);
  CHECK(body_runs.load() == kThreads * kIncrements + s.retries);
}

TEST_CASE("PgPool is bounded: acquire fails with kResourceExhausted when all are leased",
          "[postgres]") {
  TempDatabase db;
  auto opts = options_for(db);
  opts.pool_size = 2;
  opts.pool_wait_timeout = milliseconds(200);
  PgPool pool(opts);

  {
    auto a = pool.acquire();
    auto b = pool.acquire();
    CHECK(pool.stats().open == 2);
    CHECK(pool.stats().idle == 0);

    const auto start = Clock::now();
    const Error e = expect_error([&] { pool.acquire(); });
    const auto waited = elapsed_ms(start);
    INFO(e.what() << " after " << waited << " ms");
    CHECK(code_of(e) == "resource_exhausted");
    CHECK(e.retryable());
    CHECK(waited >= 100);  // it waited for a connection to come back...
    CHECK(waited < 3000);  // ...but not much longer than pool_wait_timeout
    CHECK(pool.stats().open == 2);

    // The leased connections work.
    pqxx::nontransaction tx(a.conn());
    CHECK(examstore::db::exec1(tx, "SELECT 40 + 2")[0].as<int>() == 42);
  }

  // Returned leases are reused, not replaced.
  const auto s = pool.stats();
  CHECK(s.open == 2);
  CHECK(s.idle == 2);
  auto c = pool.acquire();
  CHECK(pool.stats().created == 2);
}

TEST_CASE("PgPool wakes a waiting acquire when a lease returns", "[postgres][concurrency]") {
  TempDatabase db;
  auto opts = options_for(db);
  opts.pool_size = 1;
  opts.pool_wait_timeout = milliseconds(5000);
  PgPool pool(opts);

  auto held = std::make_optional(pool.acquire());
  std::atomic<bool> got{false};
  std::string error;
  std::thread waiter([&] {
    try {
      auto lease = pool.acquire();
      got = true;
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  std::this_thread::sleep_for(milliseconds(100));
  const bool got_while_held = got.load();
  const auto start = Clock::now();
  held.reset();
  waiter.join();
  INFO(error);
  CHECK_FALSE(got_while_held);
  CHECK(got.load());
  CHECK(elapsed_ms(start) < 2000);
  CHECK(pool.stats().created == 1);
}

TEST_CASE("PgPool with_connection runs outside a transaction and translates errors", "[postgres]") {
  TempDatabase db;
  PgPool pool(options_for(db));

  bool locked = false;
  pool.with_connection("advisory lock", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    locked = examstore::db::exec1(tx, "SELECT pg_try_advisory_lock(4242)")[0].as<bool>();
    examstore::db::exec1(tx, "SELECT pg_advisory_unlock(4242)");
  });
  CHECK(locked);

  const Error e = expect_error([&] {
    pool.with_connection("bad cast", [](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      tx.exec("SELECT 'abc'::int");
    });
  });
  INFO(e.what());
  CHECK(code_of(e) == "invalid_argument");
  CHECK_THAT(std::string(e.what()), Catch::Contains("bad cast"));
}

TEST_CASE("PgPool under concurrent transactions stays within pool_size",
          "[postgres][concurrency]") {
  TempDatabase db;
  auto opts = options_for(db);
  opts.pool_size = 3;
  opts.pool_wait_timeout = milliseconds(10000);
  PgPool pool(opts);
  create_items_table(pool);

  constexpr int kThreads = 8;
  constexpr int kPerThread = 50;
  std::atomic<bool> done{false};
  std::atomic<int> max_open{0};
  std::mutex errors_mu;  // guards errors
  std::vector<std::string> errors;

  std::thread sampler([&] {
    while (!done.load()) {
      const int open = pool.stats().open;
      int seen = max_open.load();
      while (open > seen && !max_open.compare_exchange_weak(seen, open)) {
      }
      std::this_thread::sleep_for(milliseconds(1));
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      try {
        for (int i = 0; i < kPerThread; ++i) {
          const int id = t * kPerThread + i;
          pool.transact("insert item", [&](pqxx::work& tx) {
            examstore::db::exec0(tx, "INSERT INTO items (id, label) VALUES ($1, $2)", id,
                                 "t" + std::to_string(t));
          });
        }
      } catch (const std::exception& e) {
        std::lock_guard<std::mutex> lock(errors_mu);
        errors.push_back(e.what());
      }
    });
  }
  for (auto& th : threads) th.join();
  done = true;
  sampler.join();

  REQUIRE(errors == std::vector<std::string>{});
  CHECK(db.query_value("SELECT count(*) FROM items") == "400");
  CHECK(db.query_value("SELECT count(DISTINCT id) FROM items") == "400");
  const auto s = pool.stats();
  CHECK(s.open <= 3);
  CHECK(s.open >= 1);
  CHECK(max_open.load() <= 3);
  CHECK(s.created <= 3);
  CHECK(s.discarded == 0);
}

// Regression test for issue 16: libpqxx 7 prepares on the server as soon as prepare() is called,
// so preparing on every call failed from the second call on with 42P05 "already exists".
TEST_CASE("PgPool prepares a statement once per connection and again on a new one", "[postgres]") {
  TempDatabase db;
  auto opts = options_for(db);
  opts.pool_size = 1;
  PgPool pool(opts);
  const std::string name = "test_add_one";
  // The value, the backend, and whether the statement ran prepared: pg_prepared_statements
  // lists it while it runs only when it was prepared under `name`.
  const std::string sql =
      "SELECT $1::int + 1, pg_backend_pid(),"
      " (SELECT count(*) FROM pg_prepared_statements WHERE name = 'test_add_one')";
  struct Seen {
    int value = 0;
    int pid = 0;
    int prepared = 0;
  };
  const auto read_row = [](const pqxx::row& r) {
    return Seen{r[0].as<int>(), r[1].as<int>(), r[2].as<int>()};
  };
  const auto in_transaction = [&] {
    Seen s;
    pool.transact("prepared", [&](pqxx::work& tx) {
      s = read_row(examstore::db::exec_prepared(tx, name, sql, 41)[0]);
    });
    return s;
  };

  const Seen first = in_transaction();
  CHECK(first.value == 42);
  CHECK(first.prepared == 1);
  for (int i = 0; i < 3; ++i) {
    const Seen again = in_transaction();
    CHECK(again.value == 42);
    CHECK(again.pid == first.pid);  // the same pooled connection, statement already there
    CHECK(again.prepared == 1);
  }
  Seen outside;
  pool.read("prepared outside a transaction block", [&](pqxx::nontransaction& tx) {
    outside = read_row(examstore::db::exec_prepared(tx, name, sql, 41)[0]);
  });
  CHECK(outside.value == 42);
  CHECK(outside.pid == first.pid);

  // The server ends the session: the pool replaces the connection, and the statement is
  // prepared again on the new one.
  CHECK(db.query_value("SELECT pg_terminate_backend(" + std::to_string(first.pid) + ")") == "t");
  for (int i = 0; i < 100 && db.query_value("SELECT count(*) FROM pg_stat_activity WHERE pid = " +
                                            std::to_string(first.pid)) != "0";
       ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  const Seen after = in_transaction();
  CHECK(after.value == 42);
  CHECK(after.pid != first.pid);
  CHECK(after.prepared == 1);
  CHECK(in_transaction().pid == after.pid);

  // On a connection that is not the pool's, the statement runs unprepared, every time.
  pqxx::connection plain(db.url());
  for (int i = 0; i < 2; ++i) {
    pqxx::work tx(plain);
    const Seen s = read_row(examstore::db::exec_prepared(tx, name, sql, 41)[0]);
    CHECK(s.value == 42);
    CHECK(s.prepared == 0);
  }
}
