// tests/integration/tls_test.cpp: TLS to Redis and to PostgreSQL against the TLS servers of
// scripts/servers.sh (tests/support/tls_env.hpp), with its throwaway CA and certificates.
//
// Redis: a build with hiredis_ssl (EXAMSTORE_HAVE_HIREDIS_SSL) connects, verifies and refuses;
// a build without it checks instead that every TLS URL is refused at Config time. Each build
// runs the cases that apply to it: none is skipped.
// PostgreSQL: libpq's own TLS, reached through the URL's parameters, on every build.
#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/config_check.hpp"
#include "db/pg_pool.hpp"
#include "examstore/cache.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "support/test_env.hpp"
#include "support/tls_env.hpp"

#ifdef EXAMSTORE_HAVE_HIREDIS_SSL
#include <thread>

#include "cache/redis/redis_connection.hpp"
#include "cache/redis/redis_tls.hpp"
#endif

namespace {

using namespace std::chrono_literals;
using examstore::Config;
using examstore::ErrorCode;
using examstore::Store;
using examstore::test::code_of;
using examstore::test::tls_file;
using Clock = std::chrono::steady_clock;

// "127.0.0.1:6593" of "rediss://127.0.0.1:6593".
std::string authority(const std::string& url) {
  const auto start = url.find("://") + 3;
  return url.substr(start, url.find_first_of("/?", start) - start);
}

std::string with_query(const std::string& url, const std::string& query) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + query;
}

#ifdef EXAMSTORE_HAVE_HIREDIS_SSL

// Short timeouts: a refusal must come quickly, a hang would show.
Config redis_config(const std::string& url) {
  Config c;
  c.with_redis_url(url);
  c.redis.connect_timeout = 500ms;
  c.redis.command_timeout = 1000ms;
  c.redis.failover_wait = 0ms;  // these tests are about the error of the first attempt
  return c;
}

std::string trusted(const std::string& url) {
  return with_query(url, "ca_file=" + tls_file("ca.crt"));
}

// Opens a Store on `url` and runs one command; the error's code and what().
std::optional<ErrorCode> first_command(const Config& c, std::string* message) {
  return code_of(
      [&] {
        auto store = Store::open(c);
        store->cache().set(examstore::test::unique_name("tls_probe_"), "x", 10s);
      },
      message);
}

// Messages received by a subscription.
struct Inbox {
  std::mutex mu;  // guards messages
  std::condition_variable cv;
  std::vector<std::string> messages;
  examstore::MessageHandler handler() {
    return [this](std::string_view, std::string_view m) {
      std::lock_guard<std::mutex> l(mu);
      messages.emplace_back(m);
      cv.notify_all();
    };
  }
  bool wait_for(std::size_t n) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, 5s, [&] { return messages.size() >= n; });
  }
};

// Writes, reads, a pipelined batch and pub/sub (one small and one large message, larger than a
// TLS record) through the store's cache.
void exercise(Store& store) {
  examstore::Cache& cache = store.cache();
  const std::string key = "{" + examstore::test::unique_name("tls_") + "}";
  cache.set(key + ":a", "alpha", 60s);
  CHECK(cache.get(key + ":a") == std::optional<std::string>("alpha"));
  examstore::Batch batch;
  batch.set(key + ":b", "beta", 60s);
  batch.get(key + ":a");
  const auto replies = cache.execute(batch);
  REQUIRE(replies.size() == 2);
  CHECK(replies[1].str == "alpha");
  Inbox inbox;
  const auto subscription = cache.subscribe(key + ":news", inbox.handler());
  const std::string large(100 * 1024, 'x');
  CHECK(cache.publish(key + ":news", "hello") == 1);
  CHECK(cache.publish(key + ":news", large) == 1);
  REQUIRE(inbox.wait_for(2));
  CHECK(inbox.messages[0] == "hello");
  CHECK(inbox.messages[1].size() == large.size());
  cache.del({key + ":a", key + ":b"});
}

#endif

}  // namespace

#ifdef EXAMSTORE_HAVE_HIREDIS_SSL

TEST_CASE("rediss: commands and pub/sub go over TLS to a server the CA vouches for",
          "[tls][redis]") {
  const std::string url = trusted(examstore::test::redis_tls_url());
  auto store = Store::open(redis_config(url));
  exercise(*store);
  // the certificate names localhost too: a DNS name is checked (and sent as SNI) like an address
  const std::string port = authority(url).substr(authority(url).find(':'));
  auto by_name = Store::open(redis_config(trusted("rediss://localhost" + port)));
  exercise(*by_name);
  auto named = Store::open(redis_config(with_query(url, "server_name=localhost")));
  exercise(*named);
  const auto health = store->health();
  REQUIRE_FALSE(health.empty());
  CHECK(health.front().ok);
  CHECK(health.front().endpoint == "tls " + authority(url) + "/0");
}

TEST_CASE("rediss: a certificate from another CA is refused, naming the endpoint", "[tls][redis]") {
  const std::string url =
      with_query(examstore::test::redis_tls_url(), "ca_file=" + tls_file("other-ca.crt"));
  std::string why;
  CHECK(first_command(redis_config(url), &why) == ErrorCode::kUnavailable);
  CHECK_THAT(why, Catch::Contains("not trusted") && Catch::Contains(authority(url)) &&
                      Catch::Contains("redis.tls.ca_file"));
}

TEST_CASE("rediss: a certificate for another name is refused", "[tls][redis]") {
  const std::string url = trusted(examstore::test::redis_tls_url());
  std::string why;
  CHECK(first_command(redis_config(with_query(url, "server_name=wrong.example")), &why) ==
        ErrorCode::kUnavailable);
  CHECK_THAT(why, Catch::Contains("not valid for 'wrong.example'") &&
                      Catch::Contains("hostname mismatch"));
  CHECK(first_command(redis_config(with_query(url, "server_name=10.9.8.7")), &why) ==
        ErrorCode::kUnavailable);
  CHECK_THAT(why,
             Catch::Contains("not valid for '10.9.8.7'") && Catch::Contains("IP address mismatch"));
}

TEST_CASE("rediss: plain TCP to the TLS port, and TLS to a plain or silent port, fail quickly",
          "[tls][redis]") {
  const std::string tls_port = authority(examstore::test::redis_tls_url());
  const std::string plain_port = authority(examstore::test::redis_url());
  examstore::test::SilentServer silent;
  struct Case {
    std::string url;
    std::string endpoint;
  };
  const std::vector<Case> cases = {{"redis://" + tls_port, tls_port},
                                   {trusted("rediss://" + plain_port), plain_port},
                                   {trusted("rediss://127.0.0.1:" + std::to_string(silent.port())),
                                    "127.0.0.1:" + std::to_string(silent.port())}};
  for (const Case& c : cases) {
    INFO(c.url);
    std::string why;
    const auto start = Clock::now();
    const auto code = first_command(redis_config(c.url), &why);
    CHECK((code == ErrorCode::kUnavailable || code == ErrorCode::kTimeout));
    CHECK_THAT(why, Catch::Contains(c.endpoint));
    CHECK(Clock::now() - start < 5s);  // the timeouts are 0.5 s and 1 s
  }
}

TEST_CASE("rediss: a server that requires a client certificate gets the configured one",
          "[tls][redis]") {
  const std::string url = trusted(examstore::test::redis_mtls_url());
  std::string why;
  CHECK(first_command(redis_config(url), &why) == ErrorCode::kUnavailable);
  CHECK_THAT(why, Catch::Contains("client certificate") && Catch::Contains(authority(url)));
  auto store = Store::open(redis_config(with_query(
      url, "cert_file=" + tls_file("client.crt") + "&key_file=" + tls_file("client.key"))));
  exercise(*store);
}

TEST_CASE("rediss-sentinel: the sentinel and the master it names are asked over TLS",
          "[tls][redis][sentinel]") {
  auto store = Store::open(redis_config(trusted(examstore::test::redis_tls_sentinel_url())));
  exercise(*store);
  // the sentinel itself is TLS-only: without the CA, no master is found
  std::string why;
  CHECK(first_command(redis_config(with_query(examstore::test::redis_tls_sentinel_url(),
                                              "ca_file=" + tls_file("other-ca.crt"))),
                      &why) == ErrorCode::kUnavailable);
  CHECK_THAT(why, Catch::Contains("not trusted"));
}

TEST_CASE("rediss-cluster: slot map, nodes and pub/sub over TLS", "[tls][redis][cluster]") {
  const std::string url = trusted(examstore::test::redis_tls_cluster_url());
  // servers.sh does not wait for the one-node cluster's state, ok 2 s after its start
  const auto deadline = Clock::now() + 10s;
  for (;;) {
    examstore::redis::Connection node(examstore::parse_redis_url(url));
    const auto info = node.command({"CLUSTER", "INFO"}, "redis CLUSTER INFO");
    if (std::string(info->str, info->len).find("cluster_state:ok") != std::string::npos) break;
    REQUIRE(Clock::now() < deadline);
    std::this_thread::sleep_for(50ms);
  }
  auto store = Store::open(redis_config(url));
  exercise(*store);
  examstore::Cache& cache = store->cache();
  const std::string prefix = examstore::test::unique_name("tls_slots_");
  std::vector<std::string> keys;
  for (int i = 0; i < 20; ++i) keys.push_back(prefix + std::to_string(i));  // many slots
  for (const auto& k : keys) cache.set(k, k, 60s);
  for (const auto& k : keys) CHECK(cache.get(k) == std::optional<std::string>(k));
  CHECK(cache.del(keys) == 20);
}

TEST_CASE("rediss: TLS files that cannot be loaded fail Store::open naming the field",
          "[tls][redis]") {
  const std::string url = examstore::test::redis_tls_url();
  examstore::test::TempDir dir("tls");
  std::string why;
  CHECK(code_of([&] { Store::open(redis_config(with_query(url, "ca_file=" + dir / "none.pem"))); },
                &why) == ErrorCode::kInvalidArgument);
  CHECK_THAT(why, Catch::Contains("config.redis.tls.ca_file") && Catch::Contains("none.pem"));
  // a client certificate with a key that is not its own: the key's path never appears
  const std::string wrong_key = tls_file("other-ca.key");
  CHECK(code_of(
            [&] {
              Store::open(redis_config(with_query(
                  trusted(url), "cert_file=" + tls_file("client.crt") + "&key_file=" + wrong_key)));
            },
            &why) == ErrorCode::kInvalidArgument);
  CHECK_THAT(why, Catch::Contains("config.redis.tls.key_file") &&
                      Catch::Contains("does not match") && !Catch::Contains(wrong_key));
  CHECK(code_of(
            [&] {
              Store::open(redis_config(with_query(
                  trusted(url), "cert_file=" + tls_file("client.crt") + "&key_file=" + dir / "k")));
            },
            &why) == ErrorCode::kInvalidArgument);
  CHECK_THAT(why, Catch::Contains("config.redis.tls.key_file") && !Catch::Contains(dir / "k"));
  // a file that holds no certificate
  CHECK(code_of([&] {
          Store::open(redis_config(with_query(url, "ca_file=" + tls_file("client.key"))));
        }) == ErrorCode::kInvalidArgument);
}

TEST_CASE("rediss: connections with the same files share one OpenSSL context", "[tls][redis]") {
  examstore::RedisTlsOptions o;
  o.enabled = true;
  o.ca_file = tls_file("ca.crt");
  const auto first = examstore::redis::tls_context(o);
  o.server_name = "localhost";  // a per-connection setting: same context
  CHECK(examstore::redis::tls_context(o) == first);
  o.ca_file = tls_file("other-ca.crt");
  CHECK(examstore::redis::tls_context(o) != first);
}

#else

TEST_CASE("rediss: a build without hiredis_ssl refuses TLS URLs and options at Config time",
          "[tls][redis]") {
  for (const std::string& url :
       {examstore::test::redis_tls_url(), examstore::test::redis_mtls_url(),
        examstore::test::redis_tls_sentinel_url(), examstore::test::redis_tls_cluster_url()}) {
    INFO(url);
    std::string why;
    CHECK(code_of([&] { Config{}.with_redis_url(url); }, &why) == ErrorCode::kInvalidArgument);
    CHECK_THAT(why, Catch::Contains("config.redis_url") && Catch::Contains("hiredis 1.x"));
  }
  Config c;
  c.with_redis_url(examstore::test::redis_url());
  c.redis.tls.enabled = true;
  std::string why;
  CHECK(code_of([&] { Store::open(c); }, &why) == ErrorCode::kInvalidArgument);
  CHECK_THAT(why, Catch::Contains("config.redis.tls.enabled") && Catch::Contains("hiredis 1.x"));
}

#endif

// ---- PostgreSQL: libpq's TLS through the URL's parameters ----

namespace {

struct SessionTls {
  std::string ssl;        // "t" when the session is encrypted
  std::string version;    // "TLSv1.3"
  std::string client_dn;  // the client certificate's subject, "" without one
};

// What the server says about the pooled session's encryption.
SessionTls session_tls(const std::string& url) {
  examstore::db::PgPool pool(examstore::parse_postgres_url(url));
  SessionTls out;
  pool.with_connection("tls check", [&](pqxx::connection& c) {
    pqxx::nontransaction tx(c);
    const pqxx::result r = tx.exec(
        "SELECT ssl, version, coalesce(client_dn, '') FROM pg_stat_ssl "
        "WHERE pid = pg_backend_pid()");
    out = {r[0][0].c_str(), r[0][1].c_str(), r[0][2].c_str()};
  });
  return out;
}

std::optional<ErrorCode> pg_connect(const std::string& url, std::string* message) {
  return code_of([&] { session_tls(url); }, message);
}

std::string verify_full(const std::string& url, const std::string& ca) {
  return with_query(url, "sslmode=verify-full&sslrootcert=" + tls_file(ca));
}

}  // namespace

TEST_CASE("postgres TLS: verify-full with the right CA gives an encrypted session",
          "[tls][postgres]") {
  const std::string url = verify_full(examstore::test::pg_tls_url(), "ca.crt");
  SessionTls s = session_tls(url);
  CHECK(s.ssl == "t");
  CHECK_THAT(s.version, Catch::StartsWith("TLSv1."));
  CHECK(s.client_dn.empty());
  // the same as a key=value string, with a client certificate
  const std::string host_port = authority(examstore::test::pg_tls_url());
  const std::string kv = "host=localhost port=" + host_port.substr(host_port.find(':') + 1) +
                         " user=postgres dbname=postgres sslmode=verify-full sslrootcert='" +
                         tls_file("ca.crt") + "' sslcert='" + tls_file("client.crt") +
                         "' sslkey='" + tls_file("client.key") + "'";
  s = session_tls(kv);
  CHECK(s.ssl == "t");
  CHECK(s.client_dn == "/CN=examstore-test-client");
  // and through a Store
  auto store = Store::open(Config{}.with_database_url(url));
  bool database_ok = false;
  for (const auto& h : store->health()) {
    if (h.role == "database") database_ok = h.ok;
  }
  CHECK(database_ok);
}

TEST_CASE("postgres TLS: the server refuses an unencrypted session", "[tls][postgres]") {
  std::string why;
  CHECK(pg_connect(with_query(examstore::test::pg_tls_url(), "sslmode=disable"), &why) ==
        ErrorCode::kUnavailable);
  CHECK_THAT(why, Catch::Contains("no encryption"));
}

TEST_CASE("postgres TLS: a wrong CA or host name is refused, without the password",
          "[tls][postgres]") {
  std::string url = examstore::test::pg_tls_url();
  url.replace(url.find("postgres@"), 9, "postgres:hunter2@");  // trust ignores it
  std::string why;
  CHECK(pg_connect(verify_full(url, "other-ca.crt"), &why) == ErrorCode::kUnavailable);
  CHECK_THAT(why, Catch::Contains("certificate verify failed") && !Catch::Contains("hunter2"));
  // libpq checks the certificate against host and connects to hostaddr
  std::string wrong = url;
  wrong.replace(wrong.find("@localhost:"), 11, "@wrong.example:");
  wrong = with_query(wrong, "hostaddr=127.0.0.1");
  CHECK(pg_connect(verify_full(wrong, "ca.crt"), &why) == ErrorCode::kUnavailable);
  CHECK_THAT(why, Catch::Contains("does not match host name \"wrong.example\"") &&
                      !Catch::Contains("hunter2"));
}

TEST_CASE("postgres TLS: key paths and sslpassword never reach errors", "[tls][postgres]") {
  const std::string missing_key = "/nonexistent-examstore/keys/client.key";
  const std::string url = with_query(
      verify_full(examstore::test::pg_tls_url(), "ca.crt"),
      "sslcert=" + tls_file("client.crt") + "&sslkey=" + missing_key + "&sslpassword=hunter3");
  std::string why;
  CHECK(pg_connect(url, &why) == ErrorCode::kUnavailable);
  CHECK_THAT(
      why, Catch::Contains("***") && !Catch::Contains(missing_key) && !Catch::Contains("hunter3"));
}
