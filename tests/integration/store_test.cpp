// Store: opening backends from a Config, health of each, migrations through the public API.
#include <catch2/catch.hpp>

#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "support/test_env.hpp"

using examstore::Config;
using examstore::Store;

TEST_CASE("the embedded default store works with no servers", "[store][memory]") {
  auto store = Store::open(Config{});
  store->cache().set("k", "v");
  CHECK(store->cache().get("k") == "v");
  const auto health = store->health();
  REQUIRE(health.size() == 2);
  CHECK(health[0].role == "cache");
  CHECK(health[0].kind == "memory");
  CHECK(health[1].role == "database");
  CHECK(health[1].kind == "memory");
  CHECK(health[0].ok);
  CHECK(health[1].ok);
  CHECK(store->migration_status().empty());
  CHECK(store->migrate_up().empty());
}

TEST_CASE("a store on real Redis and PostgreSQL reports both healthy", "[store][redis][postgres]") {
  examstore::test::TempDatabase db;
  auto store = Store::open(
      Config{}.with_redis_url(examstore::test::redis_url()).with_database_url(db.url()));
  const auto health = store->health();
  REQUIRE(health.size() == 2);
  CHECK(health[0].kind == "redis");
  CHECK(health[0].ok);
  CHECK(health[0].server_version.substr(0, 2) == "7.");
  CHECK(health[0].round_trip.count() > 0);
  CHECK(health[1].kind == "postgresql");
  CHECK(health[1].ok);
  CHECK(health[1].server_version.substr(0, 3) == "15.");
  CHECK(health[1].error.empty());
}

TEST_CASE("store migrations reach the latest schema", "[store][postgres][migration]") {
  examstore::test::TempDatabase db;
  auto store = Store::open(Config{}.with_database_url(db.url()));
  const auto before = store->migration_status();
  REQUIRE_FALSE(before.empty());
  for (const auto& m : before) CHECK_FALSE(m.applied);
  const auto applied = store->migrate_up();
  CHECK(applied.size() == before.size());
  for (const auto& m : store->migration_status()) {
    CHECK(m.applied);
    CHECK_FALSE(m.checksum_mismatch);
    CHECK(m.applied_at.size() == 20);  // 2026-11-21T21:38:55Z
  }
  CHECK(db.query_value(
            "SELECT count(*) FROM information_schema.tables WHERE table_name IN "
            "('exams','students','exam_attendance','violations','events','dead_letters')") == "6");
  CHECK(store->migrate_up().empty());
}

TEST_CASE("health of a backend that is down is reported, not thrown", "[store][fault]") {
  Config c;
  c.with_redis_url("redis://127.0.0.1:" + std::to_string(examstore::test::closed_port()));
  c.with_database_url("postgresql://postgres@127.0.0.1:" +
                      std::to_string(examstore::test::closed_port()) + "/postgres");
  c.redis.failover_wait = std::chrono::milliseconds(0);  // nothing will come back here
  auto store = Store::open(c);                           // opening never connects
  const auto health = store->health();
  REQUIRE(health.size() == 2);
  CHECK_FALSE(health[0].ok);
  CHECK_THAT(health[0].error, Catch::Contains("refused"));
  CHECK_FALSE(health[1].ok);
  CHECK_FALSE(health[1].error.empty());
  try {
    store->cache().get("k");
    FAIL("expected an error");
  } catch (const examstore::Error& e) {
    CHECK(e.code() == examstore::ErrorCode::kUnavailable);
    CHECK(e.retryable());
  }
}
