// TLS in Config: the rediss:// schemes and their parameters, RedisTlsOptions validation, and the
// PostgreSQL TLS parameters passing through untouched, with secrets (passwords, sslpassword, key
// paths) kept out of every message. The servers are exercised in tests/integration/tls_test.cpp.
#include <catch2/catch.hpp>

#include <functional>
#include <string>

#include "common/config_check.hpp"
#include "common/conninfo.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "support/test_env.hpp"

using examstore::Config;
using examstore::ErrorCode;
using examstore::parse_postgres_url;
using examstore::parse_redis_url;
using examstore::RedisTopology;

namespace {

// Runs f, expects Error(kInvalidArgument), returns its what().
std::string refusal(const std::function<void()>& f) {
  std::string why;
  CHECK(examstore::test::code_of(f, &why) == ErrorCode::kInvalidArgument);
  return why;
}

}  // namespace

TEST_CASE("TLS parameters need a rediss:// scheme", "[config][unit][tls]") {
  CHECK_THAT(refusal([] { parse_redis_url("redis://h?ca_file=/ca.pem"); }),
             Catch::Contains("query") && Catch::Contains("rediss://"));
  CHECK_THAT(refusal([] { parse_redis_url("redis-cluster://a,b?server_name=x"); }),
             Catch::Contains("rediss://"));
  CHECK_THAT(refusal([] { parse_redis_url("redis-sentinel://s/m?ca_file=/ca.pem"); }),
             Catch::Contains("unknown parameter 'ca_file=/ca.pem'") &&
                 Catch::Contains("rediss-sentinel://"));
  CHECK_THAT(refusal([] { parse_redis_url("rediss-cluster-x://h"); }),
             Catch::Contains("rediss://"));
}

#ifdef EXAMSTORE_HAVE_HIREDIS_SSL

TEST_CASE("rediss URLs parse into TLS options", "[config][unit][tls]") {
  auto o = parse_redis_url(
      "rediss://:pw@cache.internal:6380/2?ca_file=/etc/exam/ca.pem&ca_dir=/etc/ssl/certs"
      "&cert_file=/etc/exam/client.pem&key_file=/etc/exam/client.key&server_name=redis.internal");
  CHECK(o.tls.enabled);
  CHECK(o.topology == RedisTopology::kStandalone);
  CHECK((o.host == "cache.internal" && o.port == 6380 && o.db == 2 && o.password == "pw"));
  CHECK(o.tls.ca_file == "/etc/exam/ca.pem");
  CHECK(o.tls.ca_dir == "/etc/ssl/certs");
  CHECK(o.tls.cert_file == "/etc/exam/client.pem");
  CHECK(o.tls.key_file == "/etc/exam/client.key");
  CHECK(o.tls.server_name == "redis.internal");
  CHECK(o.redacted() == "tls cache.internal:6380/2");

  o = parse_redis_url("rediss://h?ca_file=%2Ftmp%2Fmy%20ca%26more.pem");
  CHECK(o.tls.ca_file == "/tmp/my ca&more.pem");
  CHECK(o.port == 6379);

  o = parse_redis_url("rediss://h");  // no CA given: the system's trust store
  CHECK(o.tls.enabled);
  CHECK(o.tls.ca_file.empty());

  o = parse_redis_url("rediss-sentinel://s1,s2:26380/exams?db=3&ca_file=/ca.pem");
  CHECK(o.topology == RedisTopology::kSentinel);
  CHECK((o.db == 3 && o.tls.ca_file == "/ca.pem" && o.tls.enabled));
  CHECK(o.redacted() == "tls sentinel s1:26379,s2:26380/exams/3");

  o = parse_redis_url("rediss-cluster://a:7001,b?ca_file=/ca.pem&server_name=cluster.internal");
  CHECK(o.topology == RedisTopology::kCluster);
  CHECK((o.seeds.size() == 2 && o.tls.server_name == "cluster.internal"));
  CHECK(o.redacted() == "tls cluster a:7001,b:6379");

  // the URL replaces the TLS options, like the address; a plain URL turns TLS off
  Config c;
  c.redis.pool_size = 3;
  c.with_redis_url("rediss://h:1?ca_file=/ca.pem");
  CHECK((c.redis.tls.enabled && c.redis.tls.ca_file == "/ca.pem" && c.redis.pool_size == 3));
  CHECK_NOTHROW(examstore::validate(c));
  c.with_redis_url("redis://h:1");
  CHECK_FALSE(c.redis.tls.enabled);
  CHECK(c.redis.tls.ca_file.empty());
  CHECK_NOTHROW(examstore::validate(c));
}

TEST_CASE("malformed rediss parameters name what is wrong", "[config][unit][tls]") {
  CHECK_THAT(refusal([] { parse_redis_url("rediss://h?verify=none"); }),
             Catch::Contains("redis_url") && Catch::Contains("unknown parameter 'verify=none'") &&
                 Catch::Contains("ca_file, ca_dir, cert_file, key_file, server_name"));
  CHECK_THAT(refusal([] { parse_redis_url("rediss://h?db=1"); }),
             Catch::Contains("unknown parameter 'db=1'"));
  CHECK_THAT(refusal([] { parse_redis_url("rediss://h?ca_file=/a&ca_file=/b"); }),
             Catch::Contains("'ca_file' is given twice"));
  CHECK_THAT(refusal([] { parse_redis_url("rediss://h?ca_file="); }),
             Catch::Contains("'ca_file' needs a value"));
  CHECK_THAT(refusal([] { parse_redis_url("rediss://h?server_name"); }),
             Catch::Contains("'server_name' needs a value"));
  CHECK_THAT(refusal([] { parse_redis_url("rediss://h?ca_file=%zz"); }),
             Catch::Contains("%-escape") && Catch::Contains("'ca_file'"));
  CHECK_THAT(refusal([] { parse_redis_url("rediss://h?ca_file=a%0Ab"); }),
             Catch::Contains("control character"));
  CHECK_THAT(refusal([] { parse_redis_url("rediss-sentinel://s/m?db=x&ca_file=/ca"); }),
             Catch::Contains("database 'x'"));
  // the key file's path never appears, whatever else is wrong
  const std::string why =
      refusal([] { parse_redis_url("rediss://:hunter2@h:0?key_file=/secret/keys/client.key"); });
  CHECK_THAT(why, Catch::Contains("key_file=***") && !Catch::Contains("/secret/keys") &&
                      !Catch::Contains("hunter2"));
  CHECK_THAT(refusal([] { parse_redis_url("rediss://h?key_file=/secret/k&key_file=/k2"); }),
             !Catch::Contains("/secret/k") && !Catch::Contains("/k2"));
}

TEST_CASE("RedisTlsOptions are validated by name", "[config][unit][tls]") {
  Config c;
  c.with_redis_url("rediss://h");
  c.redis.tls.cert_file = "/etc/exam/client.pem";
  CHECK_THAT(refusal([&] { examstore::validate(c); }),
             Catch::Contains("config.redis.tls.key_file") && Catch::Contains("go together"));
  c.redis.tls.cert_file.clear();
  c.redis.tls.key_file = "/secret/keys/client.key";
  const std::string why = refusal([&] { examstore::validate(c); });
  CHECK_THAT(why, Catch::Contains("config.redis.tls.cert_file") && !Catch::Contains("/secret"));
  c.redis.tls.key_file.clear();
  c.redis.tls.server_name = "bad name";
  CHECK_THAT(refusal([&] { examstore::validate(c); }),
             Catch::Contains("config.redis.tls.server_name") && Catch::Contains("bad name"));
  c.redis.tls.server_name = "::1";
  CHECK_NOTHROW(examstore::validate(c));
  c.redis.tls.ca_file = "/etc/ca\n.pem";
  CHECK_THAT(refusal([&] { examstore::validate(c); }),
             Catch::Contains("config.redis.tls.ca_file") && Catch::Contains("control character"));
}

#else

TEST_CASE("a build without hiredis_ssl refuses rediss URLs at Config time", "[config][unit][tls]") {
  for (const char* url : {"rediss://h", "rediss://h:6380/1?ca_file=/ca.pem",
                          "rediss-sentinel://s/m", "rediss-cluster://a,b"}) {
    INFO(url);
    CHECK_THAT(refusal([&] { Config{}.with_redis_url(url); }),
               Catch::Contains("config.redis_url") && Catch::Contains("hiredis 1.x"));
    CHECK_THAT(refusal([&] { parse_redis_url(url, "EXAMSTORE_REDIS_URL"); }),
               Catch::Contains("EXAMSTORE_REDIS_URL") && Catch::Contains("hiredis_ssl"));
  }
  Config c;
  c.with_redis_url("redis://h");
  c.redis.tls.enabled = true;
  CHECK_THAT(refusal([&] { examstore::validate(c); }),
             Catch::Contains("config.redis.tls.enabled") && Catch::Contains("hiredis 1.x"));
}

#endif

TEST_CASE("TLS fields without TLS are refused by name", "[config][unit][tls]") {
  Config c;
  c.with_redis_url("redis://h");
  c.redis.tls.ca_file = "/etc/ca.pem";
  CHECK_THAT(refusal([&] { examstore::validate(c); }),
             Catch::Contains("config.redis.tls.ca_file") && Catch::Contains("rediss://"));
  c.redis.tls.ca_file.clear();
  c.redis.tls.key_file = "/secret/keys/client.key";
  CHECK_THAT(refusal([&] { examstore::validate(c); }),
             Catch::Contains("config.redis.tls.key_file") && !Catch::Contains("/secret"));
  c.redis.tls.key_file.clear();
  c.redis.tls.server_name = "redis.internal";
  CHECK_THAT(refusal([&] { examstore::validate(c); }),
             Catch::Contains("config.redis.tls.server_name"));
  c.redis.tls.server_name.clear();
  CHECK_NOTHROW(examstore::validate(c));
}

TEST_CASE("postgres TLS parameters pass through verbatim, also to replicas",
          "[config][unit][tls]") {
  const std::string uri =
      "postgresql://app:pw@db.internal:5433/exams?sslmode=verify-full"
      "&sslrootcert=/etc/exam/ca.pem&sslcert=/etc/exam/client.pem&sslkey=/etc/exam/client.key"
      "&sslpassword=kp&sslcrl=/etc/exam/crl.pem";
  auto o = parse_postgres_url(uri);
  CHECK(o.conninfo == uri);
  CHECK(o.redacted() == "app@db.internal:5433/exams");

  const std::string kv =
      "host=db.internal user=app dbname=exams sslmode=verify-ca sslrootcert='/etc/my ca.pem' "
      "sslcert=/etc/exam/client.pem sslkey=/etc/exam/client.key";
  CHECK(parse_postgres_url(kv).conninfo == kv);

  o = parse_postgres_url(
      "postgresql://app@primary/exams?sslmode=verify-full&replica=r1:5433"
      "&sslrootcert=/ca.pem&replica=r2");
  CHECK(o.conninfo == "postgresql://app@primary/exams?sslmode=verify-full&sslrootcert=/ca.pem");
  REQUIRE(o.replicas.size() == 2);
  CHECK(o.replicas[0] == "postgresql://app@r1:5433/exams?sslmode=verify-full&sslrootcert=/ca.pem");
  CHECK(o.replicas[1] == "postgresql://app@r2:5432/exams?sslmode=verify-full&sslrootcert=/ca.pem");

  for (const char* mode : {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}) {
    CHECK_NOTHROW(parse_postgres_url(std::string("postgresql://h/d?sslmode=") + mode));
  }
}

TEST_CASE("postgres TLS parameters are checked, and secrets stay out of messages",
          "[config][unit][tls]") {
  CHECK_THAT(refusal([] { parse_postgres_url("postgresql://h/d?sslmode=verify_full"); }),
             Catch::Contains("database_url") && Catch::Contains("sslmode 'verify_full'") &&
                 Catch::Contains("verify-full"));
  CHECK_THAT(refusal([] { parse_postgres_url("host=h sslmode=Require"); }),
             Catch::Contains("sslmode 'Require'"));
  // a replica would inherit the primary's address
  CHECK_THAT(refusal([] { parse_postgres_url("postgresql://u@h/d?hostaddr=10.0.0.5&replica=r1"); }),
             Catch::Contains("hostaddr=") && Catch::Contains("replica="));
  CHECK_NOTHROW(parse_postgres_url("postgresql://u@h/d?hostaddr=10.0.0.5&sslmode=verify-full"));

  const char* const urls[] = {
      "postgresql://u:hunter2@h/d?sslpassword=hunter3&sslkey=/secret/c.key&bogus=1",
      "postgresql://u@h/d?password=hunter2&sslpassword=hunter3&sslkey=/secret/c.key&port=0",
      "host=h password=hunter2 sslpassword = hunter3 sslkey='/secret/my c.key' bogus=1",
      "host=h password='hunter2' sslpassword=hunter3 sslkey=/secret/c.key sslmode=bad"};
  for (const char* url : urls) {
    INFO(url);
    const std::string why = refusal([&] { parse_postgres_url(url); });
    CHECK_THAT(why, Catch::Contains("***") && !Catch::Contains("hunter2") &&
                        !Catch::Contains("hunter3") && !Catch::Contains("/secret"));
  }
}

TEST_CASE("libpq messages lose the conninfo's secrets and connect_timeout is found by parsing",
          "[config][unit][tls]") {
  const std::string conninfo = "postgresql://u:pw1@h/d?sslkey=/keys/client.key&sslpassword=kp1";
  const std::string masked = examstore::mask_conninfo_secrets(
      "could not open private key file \"/keys/client.key\": No such file or directory; " +
          conninfo,
      conninfo);
  CHECK_THAT(masked, !Catch::Contains("/keys/client.key") && !Catch::Contains("pw1") &&
                         !Catch::Contains("kp1") && Catch::Contains("private key file \"***\""));
  CHECK(examstore::mask_conninfo_secrets("nothing secret", "host=h") == "nothing secret");

  CHECK_FALSE(examstore::conninfo_sets("host=h sslrootcert=/etc/connect_timeout/ca.pem",
                                       "connect_timeout"));
  CHECK_FALSE(examstore::conninfo_sets("postgresql://h/d?application_name=connect_timeout",
                                       "connect_timeout"));
  CHECK(examstore::conninfo_sets("postgresql://h/d?connect_timeout=5", "connect_timeout"));
  CHECK(examstore::conninfo_sets("host=h connect_timeout=5", "connect_timeout"));
}
