// Config: URL parsing, environment, validation. Every malformed input is rejected with an error
// naming the field and quoting the text, and passwords never leak into messages.
#include <catch2/catch.hpp>

#include <cstdlib>

#include "common/config_check.hpp"
#include "common/conninfo.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"

using examstore::BackendKind;
using examstore::Config;
using examstore::Error;
using examstore::ErrorCode;

namespace {

// Runs f, expects Error(kInvalidArgument), returns its what().
template <typename F>
std::string rejection(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    CHECK_FALSE(e.retryable());
    return e.what();
  }
  FAIL("expected examstore::Error(kInvalidArgument)");
  return {};
}

struct EnvVar {
  EnvVar(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ~EnvVar() { ::unsetenv(name_); }
  const char* name_;
};

}  // namespace

TEST_CASE("redis URLs parse into options", "[config][unit]") {
  auto o = examstore::parse_redis_url("redis://127.0.0.1:6390");
  CHECK(o.host == "127.0.0.1");
  CHECK(o.port == 6390);
  CHECK(o.db == 0);
  CHECK(o.password.empty());

  o = examstore::parse_redis_url("redis://:s%40cret@cache.internal:7000/3");
  CHECK(o.host == "cache.internal");
  CHECK(o.port == 7000);
  CHECK(o.db == 3);
  CHECK(o.user.empty());
  CHECK(o.password == "s@cret");
  CHECK(o.redacted() == "cache.internal:7000/3");

  o = examstore::parse_redis_url("redis://app:pw@host");
  CHECK(o.user == "app");
  CHECK(o.password == "pw");
  CHECK(o.port == 6379);

  o = examstore::parse_redis_url("redis://[::1]:6391/2");
  CHECK(o.host == "::1");
  CHECK(o.port == 6391);
  CHECK(o.redacted() == "[::1]:6391/2");
}

TEST_CASE("malformed redis URLs name the field and the text", "[config][unit]") {
  const auto msg = rejection([] { examstore::parse_redis_url("redis://host:99999"); });
  CHECK_THAT(msg, Catch::Contains("redis_url") && Catch::Contains("99999"));
  CHECK_THAT(rejection([] { examstore::parse_redis_url("http://host"); }),
             Catch::Contains("'http://host'"));
  CHECK_THAT(rejection([] { examstore::parse_redis_url("redis://host:12ab"); }),
             Catch::Contains("12ab"));
  CHECK_THAT(rejection([] { examstore::parse_redis_url("redis://host/x"); }),
             Catch::Contains("database 'x'"));
  CHECK_THAT(rejection([] { examstore::parse_redis_url("redis://:6379"); }),
             Catch::Contains("missing host"));
  CHECK_THAT(rejection([] { examstore::parse_redis_url("redis://host:"); }),
             Catch::Contains("empty port"));
  CHECK_THAT(rejection([] { examstore::parse_redis_url("redis://ho st"); }),
             Catch::Contains("whitespace"));
  CHECK_THAT(rejection([] { examstore::parse_redis_url("redis://host?timeout=1"); }),
             Catch::Contains("query"));
  CHECK_THAT(rejection([] { examstore::parse_redis_url("redis://:bad%zzpw@host"); }),
             Catch::Contains("%-escape"));
}

TEST_CASE("Sentinel and Cluster URLs list their seeds", "[config][unit]") {
  auto o = examstore::parse_redis_url(
      "redis-sentinel://:pw@10.0.0.1:26400,sentinel-b,[::1]:26402/exam.master-1?db=4");
  CHECK(o.topology == examstore::RedisTopology::kSentinel);
  REQUIRE(o.seeds.size() == 3);
  CHECK((o.seeds[0].host == "10.0.0.1" && o.seeds[0].port == 26400));
  CHECK((o.seeds[1].host == "sentinel-b" && o.seeds[1].port == 26379));
  CHECK((o.seeds[2].host == "::1" && o.seeds[2].port == 26402));
  CHECK(o.sentinel_master == "exam.master-1");
  CHECK(o.db == 4);
  CHECK(o.password == "pw");
  CHECK(o.redacted() == "sentinel 10.0.0.1:26400,sentinel-b:26379,[::1]:26402/exam.master-1/4");

  o = examstore::parse_redis_url("redis-cluster://a:7001,b");
  CHECK(o.topology == examstore::RedisTopology::kCluster);
  REQUIRE(o.seeds.size() == 2);
  CHECK((o.seeds[1].host == "b" && o.seeds[1].port == 6379));
  CHECK(o.redacted() == "cluster a:7001,b:6379");

  examstore::Config c;
  c.with_redis_url("redis-sentinel://s1:1,s2:2/m");
  CHECK(c.redis.topology == examstore::RedisTopology::kSentinel);
  CHECK(c.redis.seeds.size() == 2);
  c.with_redis_url("redis://h:1");  // a later plain URL drops the seeds
  CHECK(c.redis.topology == examstore::RedisTopology::kStandalone);
  CHECK(c.redis.seeds.empty());
}

TEST_CASE("malformed Sentinel and Cluster URLs name what is wrong", "[config][unit]") {
  CHECK_THAT(rejection([] { examstore::parse_redis_url("redis-sentinel://s1:26379"); }),
             Catch::Contains("master's name"));
  CHECK_THAT(rejection([] { examstore::parse_redis_url("redis-sentinel://s1/bad{tag}"); }),
             Catch::Contains("master name 'bad{tag}'"));
  CHECK_THAT(rejection([] { examstore::parse_redis_url("redis-sentinel://s1/m?timeout=1"); }),
             Catch::Contains("unknown parameter 'timeout=1'"));
  CHECK_THAT(rejection([] { examstore::parse_redis_url("redis-sentinel://s1/m?db=x"); }),
             Catch::Contains("database 'x'"));
  CHECK_THAT(rejection([] { examstore::parse_redis_url("redis-cluster://a:7001,,b"); }),
             Catch::Contains("missing host"));
  CHECK_THAT(rejection([] { examstore::parse_redis_url("redis-cluster://a:7001,b:0"); }),
             Catch::Contains("port '0'"));
  CHECK_THAT(rejection([] { examstore::parse_redis_url("redis-cluster://a/1"); }),
             Catch::Contains("only database 0"));
  CHECK_THAT(rejection([] { examstore::parse_redis_url("redis-cluster://a?x=1"); }),
             Catch::Contains("query"));
  CHECK_THAT(rejection([] { examstore::parse_redis_url("redis-cluster://s3cret@a:0"); }),
             !Catch::Contains("s3cret"));
}

TEST_CASE("a password never appears in a config error", "[config][unit]") {
  const auto msg = rejection([] { examstore::parse_redis_url("redis://:hunter2@host:0"); });
  CHECK_THAT(msg, !Catch::Contains("hunter2"));
  CHECK_THAT(msg, Catch::Contains("***"));
  const auto pg =
      rejection([] { examstore::parse_postgres_url("postgresql://app:hunter2@db:70000/exams"); });
  CHECK_THAT(pg, !Catch::Contains("hunter2"));
  CHECK_THAT(pg, Catch::Contains("70000"));
}

TEST_CASE("postgres URLs are checked by libpq's own parser", "[config][unit]") {
  auto o =
      examstore::parse_postgres_url("postgresql://app:pw@db.internal:5433/exams?sslmode=disable");
  CHECK(o.conninfo == "postgresql://app:pw@db.internal:5433/exams?sslmode=disable");
  CHECK(o.redacted() == "app@db.internal:5433/exams");
  CHECK(examstore::parse_postgres_url("postgres://u@h/d").redacted() == "u@h/d");
  CHECK(examstore::parse_postgres_url("host=h port=5440 user=u dbname=d").redacted() ==
        "u@h:5440/d");

  CHECK_THAT(rejection([] { examstore::parse_postgres_url("mysql://h/d"); }),
             Catch::Contains("database_url") && Catch::Contains("mysql://h/d"));
  CHECK_THAT(rejection([] { examstore::parse_postgres_url("postgresql://h/d?bogus_option=1"); }),
             Catch::Contains("bogus_option"));
  CHECK_THAT(rejection([] { examstore::parse_postgres_url("postgresql://h:port/d"); }),
             Catch::Contains("port"));
}

TEST_CASE("postgres URLs list read replicas that inherit the primary's parameters",
          "[config][unit][replica]") {
  const auto o = examstore::parse_postgres_url(
      "postgresql://app:pw@primary:5432/exams?replica=r1:5433&sslmode=disable&replica=r2"
      "&replica=[::1]:6000");
  CHECK(o.conninfo == "postgresql://app:pw@primary:5432/exams?sslmode=disable");
  REQUIRE(o.replicas.size() == 3);
  CHECK(o.replicas[0] == "postgresql://app:pw@r1:5433/exams?sslmode=disable");
  CHECK(o.replicas[1] == "postgresql://app:pw@r2:5432/exams?sslmode=disable");
  CHECK(o.replicas[2] == "postgresql://app:pw@[::1]:6000/exams?sslmode=disable");

  // no other parameter, no user, no database: the replica URL has none either
  const auto bare = examstore::parse_postgres_url("postgres://primary?replica=r1:7000");
  CHECK(bare.conninfo == "postgres://primary");
  REQUIRE(bare.replicas.size() == 1);
  CHECK(bare.replicas[0] == "postgres://r1:7000");

  CHECK(examstore::parse_postgres_url("postgresql://u@h/d").replicas.empty());

  Config c;
  c.with_database_url("postgresql://u@h/d?replica=r:5");
  CHECK(c.postgres.conninfo == "postgresql://u@h/d");
  REQUIRE(c.postgres.replicas.size() == 1);
  CHECK(c.postgres.replicas[0] == "postgresql://u@r:5/d");
  CHECK_NOTHROW(examstore::validate(c));
}

TEST_CASE("malformed replica parameters are rejected naming the field", "[config][unit][replica]") {
  for (const char* url :
       {"postgresql://u@h/d?replica=", "postgresql://u@h/d?replica=r:0",
        "postgresql://u@h/d?replica=r:99999", "postgresql://u@h/d?replica=r:x",
        "postgresql://u@h/d?replica=:5433", "postgresql://u@h/d?replica",
        "postgresql://u@h/d?replicas=r", "postgresql://u@h/d?replica=a/b",
        "postgresql://u@h/d?replica=a%2Fb", "postgresql://u@h/d?replica=[::1",
        "postgresql://u@h/d?replica=r:1&replica=r:1", "host=h dbname=d replica=r"}) {
    INFO(url);
    CHECK_THAT(rejection([&] { examstore::parse_postgres_url(url); }),
               Catch::Contains("database_url"));
  }
  CHECK_THAT(rejection([] {
               examstore::parse_postgres_url("postgresql://u@h/d?replica=r:1&replica=r:1");
             }),
             Catch::Contains("listed twice"));
  // the password of the primary never appears in the message
  const std::string why =
      rejection([] { examstore::parse_postgres_url("postgresql://u:hunter2@h/d?replica=r:0"); });
  CHECK_THAT(why, !Catch::Contains("hunter2"));
  // an empty replica given in the options is caught by validate()
  Config c;
  c.with_database_url("postgresql://u@h/d");
  c.postgres.replicas.push_back("");
  CHECK_THAT(rejection([&] { examstore::validate(c); }), Catch::Contains("postgres.replicas[0]"));
  {
    EnvVar d("EXAMSTORE_DATABASE_URL", "postgresql://u@h/d?replica=r:bad");
    CHECK_THAT(rejection([] { Config::from_env(); }), Catch::Contains("EXAMSTORE_DATABASE_URL"));
  }
}

TEST_CASE("Config chooses backends from URLs", "[config][unit]") {
  Config c;
  CHECK(c.cache_backend == BackendKind::kMemory);
  CHECK(c.database_backend == BackendKind::kMemory);
  c.redis.pool_size = 3;
  c.with_redis_url("redis://h:1/2").with_database_url("postgresql://u@h/d");
  CHECK(c.cache_backend == BackendKind::kRedis);
  CHECK(c.redis.pool_size == 3);  // options set before the URL are kept
  CHECK(c.redis.port == 1);
  CHECK(c.database_backend == BackendKind::kPostgres);
  c.with_redis_url("memory://").with_database_url("memory://");
  CHECK(c.cache_backend == BackendKind::kMemory);
  CHECK(c.database_backend == BackendKind::kMemory);
}

TEST_CASE("multi-host postgres URLs for a failover are accepted and masked",
          "[config][unit][replica]") {
  const std::string url =
      "postgresql://app:s3cret@db1:5432,db2:5433/exams?target_session_attrs=read-write";
  const auto o = examstore::parse_postgres_url(url);
  CHECK(o.conninfo == url);  // libpq itself walks the hosts
  CHECK(o.replicas.empty());
  CHECK(o.redacted() == "app@db1:5432,db2:5433/exams");
  // an empty port is libpq's default: a on 5432, b on 6000
  CHECK(examstore::parse_postgres_url("postgresql://u@a,b:6000/d").redacted() == "u@a,b:6000/d");
  CHECK(examstore::parse_postgres_url("postgresql://u@a:1,b/d").redacted() == "u@a:1,b/d");
  CHECK(examstore::mask_conninfo_secrets(url, url).find("s3cret") == std::string::npos);
  CHECK_THAT(rejection([] { examstore::parse_postgres_url("postgresql://u:pw@a:1,b:x/d"); }),
             Catch::Contains("port 'x'") && !Catch::Contains("pw"));

  // Replicas are standbys: the primary's target_session_attrs would refuse them.
  const auto r = examstore::parse_postgres_url(
      "postgresql://u@db1,db2/d?target_session_attrs=read-write&replica=r1&sslmode=disable");
  CHECK(r.conninfo == "postgresql://u@db1,db2/d?target_session_attrs=read-write&sslmode=disable");
  REQUIRE(r.replicas.size() == 1);
  CHECK(r.replicas[0] == "postgresql://u@r1:5432/d?sslmode=disable");

  {
    EnvVar u("EXAMSTORE_DATABASE_URL", url.c_str());
    EnvVar w("EXAMSTORE_DB_FAILOVER_WAIT_MS", "2500");
    const Config c = Config::from_env();
    CHECK(c.postgres.conninfo == url);
    CHECK(c.postgres.failover_wait == std::chrono::milliseconds(2500));
  }
  {
    EnvVar w("EXAMSTORE_DB_FAILOVER_WAIT_MS", "-1");
    CHECK_THAT(rejection([] { Config::from_env(); }),
               Catch::Contains("EXAMSTORE_DB_FAILOVER_WAIT_MS") && Catch::Contains("'-1'"));
  }
  Config c;
  c.with_database_url(url);
  CHECK(c.postgres.failover_wait == std::chrono::milliseconds(10000));
  c.postgres.failover_wait = std::chrono::milliseconds(0);
  CHECK_NOTHROW(examstore::validate(c));
  c.postgres.failover_wait = std::chrono::milliseconds(-1);
  CHECK_THAT(rejection([&] { examstore::validate(c); }), Catch::Contains("postgres.failover_wait"));
}

TEST_CASE("Config::from_env reads URLs and numbers strictly", "[config][unit]") {
  {
    EnvVar r("EXAMSTORE_REDIS_URL", "redis://envhost:6000");
    EnvVar p("EXAMSTORE_REDIS_POOL_SIZE", "12");
    EnvVar t("EXAMSTORE_COMMAND_TIMEOUT_MS", "250");
    EnvVar ttl("EXAMSTORE_CACHE_TTL_S", "30");
    const Config c = Config::from_env();
    CHECK(c.cache_backend == BackendKind::kRedis);
    CHECK(c.redis.host == "envhost");
    CHECK(c.redis.pool_size == 12);
    CHECK(c.redis.command_timeout == std::chrono::milliseconds(250));
    CHECK(c.cache_ttl == std::chrono::seconds(30));
    CHECK(c.database_backend == BackendKind::kMemory);
  }
  {
    EnvVar p("EXAMSTORE_DB_POOL_SIZE", "0");
    CHECK_THAT(rejection([] { Config::from_env(); }),
               Catch::Contains("EXAMSTORE_DB_POOL_SIZE") && Catch::Contains("'0'"));
  }
  {
    EnvVar p("EXAMSTORE_CONNECT_TIMEOUT_MS", "5s");
    CHECK_THAT(rejection([] { Config::from_env(); }), Catch::Contains("'5s'"));
  }
  {
    EnvVar u("EXAMSTORE_DATABASE_URL", "postgresql://h:x/d");
    CHECK_THAT(rejection([] { Config::from_env(); }), Catch::Contains("EXAMSTORE_DATABASE_URL"));
  }
}

TEST_CASE("Store::open rejects out-of-range options by name", "[config][unit]") {
  Config c;
  c.with_redis_url("redis://h:1");
  c.redis.pool_size = 0;
  CHECK_THAT(rejection([&] { examstore::Store::open(c); }), Catch::Contains("redis.pool_size"));
  c.redis.pool_size = 1;
  c.redis.command_timeout = std::chrono::milliseconds(0);
  CHECK_THAT(rejection([&] { examstore::validate(c); }), Catch::Contains("redis.command_timeout"));
  Config d;
  d.cache_ttl_jitter = 1.5;
  CHECK_THAT(rejection([&] { examstore::validate(d); }), Catch::Contains("cache_ttl_jitter"));
  Config e;
  e.with_database_url("postgresql://u@h/d");
  e.postgres.max_attempts = 0;
  CHECK_THAT(rejection([&] { examstore::validate(e); }), Catch::Contains("postgres.max_attempts"));
  Config f;
  f.with_redis_url("redis-cluster://a:7001,b:7002");
  f.redis.wait_replicas = 1;  // WAIT is not applied to the cluster's per-master pipelines
  CHECK_THAT(rejection([&] { examstore::Store::open(f); }),
             Catch::Contains("redis.wait_replicas") && Catch::Contains("Cluster"));
  f.with_redis_url("redis-sentinel://s:26379/m");
  CHECK_NOTHROW(examstore::validate(f));
  f.redis.wait_replicas = -1;
  CHECK_THAT(rejection([&] { examstore::validate(f); }), Catch::Contains("redis.wait_replicas"));
  Config g;
  g.attempts.finished_ttl = std::chrono::seconds(-1);
  CHECK_THAT(rejection([&] { examstore::validate(g); }), Catch::Contains("attempts.finished_ttl"));
}
