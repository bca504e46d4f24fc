// tests/integration/sentinel_test.cpp: the Redis hot tier behind Sentinel.
//
//   - the master is found through the sentinels and health names it and the sentinels reachable;
//   - unreachable sentinels and an unknown master name fail with errors naming both;
//   - wait_replicas: more replicas than exist fails with kUnavailable naming the counts, on every
//     kind of write round trip, and reads never wait;
//   - with wait_replicas 1, writes acknowledged just before a SIGKILL of the master are on the
//     promoted replica (private group: the shared one must never be failed over).
//
// The shared group (scripts/servers.sh) is only read and written under unique keys.
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "examstore/cache.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "support/sentinel_group.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::Batch;
using examstore::Config;
using examstore::Error;
using examstore::ErrorCode;
using examstore::Store;
using examstore::test::code_of;

// `failover_wait` 0 (not the default): the tests about an error want it at once.
std::unique_ptr<Store> open_sentinel(const std::string& url, int wait_replicas = 0,
                                     std::chrono::milliseconds failover_wait = 0ms) {
  Config c;
  c.with_redis_url(url);
  c.redis.wait_replicas = wait_replicas;
  c.redis.wait_timeout = 100ms;
  c.redis.failover_wait = failover_wait;
  return Store::open(c);
}

}  // namespace

TEST_CASE("sentinel: the master is found through the sentinels and health names it", "[sentinel]") {
  auto store = open_sentinel(examstore::test::sentinel_url());
  const std::string key = examstore::test::unique_name("sent") + ":k";
  store->cache().set(key, "v", 60s);
  CHECK(store->cache().get(key) == std::optional<std::string>("v"));

  const examstore::BackendHealth h = store->cache().health();
  INFO("endpoint: " << h.endpoint << " error: " << h.error);
  CHECK(h.ok);
  CHECK(h.endpoint.find("sentinel 127.0.0.1:") == 0);
  CHECK(h.endpoint.find("/mymaster/0 (master 127.0.0.1:") != std::string::npos);
  CHECK(h.endpoint.find("3/3 sentinels reachable") != std::string::npos);
  store->cache().del({key});
}

TEST_CASE("sentinel: health says whether +switch-master is watched", "[sentinel]") {
  auto store = open_sentinel(examstore::test::sentinel_url());
  // The watch connects on its own thread as the Store opens: wait for it, bounded.
  std::string endpoint;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  do {
    endpoint = store->cache().health().endpoint;
    if (endpoint.find("+switch-master watched") != std::string::npos) break;
    std::this_thread::sleep_for(50ms);
  } while (std::chrono::steady_clock::now() < deadline);
  INFO(endpoint);
  CHECK(endpoint.find("3/3 sentinels reachable, +switch-master watched") != std::string::npos);

  const int a = examstore::test::closed_port();
  auto nowhere = open_sentinel("redis-sentinel://127.0.0.1:" + std::to_string(a) + "/mymaster");
  CHECK(nowhere->cache().health().endpoint.find("+switch-master not watched") != std::string::npos);
}

TEST_CASE("sentinel: unreachable sentinels fail naming the sentinels and the master name",
          "[sentinel]") {
  const int a = examstore::test::closed_port();
  const int b = examstore::test::closed_port();
  const std::string url = "redis-sentinel://:secret@127.0.0.1:" + std::to_string(a) +
                          ",127.0.0.1:" + std::to_string(b) + "/exams-master";
  auto store = open_sentinel(url);
  std::string message;
  CHECK(code_of([&] { store->cache().get("k"); }, &message) == ErrorCode::kUnavailable);
  INFO(message);
  CHECK(message.find("'exams-master'") != std::string::npos);
  CHECK(message.find("sentinel 127.0.0.1:" + std::to_string(a)) != std::string::npos);
  CHECK(message.find("sentinel 127.0.0.1:" + std::to_string(b)) != std::string::npos);
  CHECK(message.find("secret") == std::string::npos);

  const examstore::BackendHealth h = store->cache().health();
  CHECK_FALSE(h.ok);
  CHECK(h.endpoint.find("0/2 sentinels reachable") != std::string::npos);
  CHECK(h.error.find("'exams-master'") != std::string::npos);
}

TEST_CASE("sentinel: an unknown master name fails naming it", "[sentinel]") {
  std::string url = examstore::test::sentinel_url();
  url = url.substr(0, url.rfind('/')) + "/no-such-master";
  auto store = open_sentinel(url);
  std::string message;
  CHECK(code_of([&] { store->cache().set("k", "v"); }, &message) == ErrorCode::kUnavailable);
  INFO(message);
  CHECK(message.find("does not know a master named 'no-such-master'") != std::string::npos);
  CHECK(message.find("sentinel 127.0.0.1:") != std::string::npos);
}

TEST_CASE("sentinel: wait_replicas above the replica count fails naming the counts", "[sentinel]") {
  auto store = open_sentinel(examstore::test::sentinel_url(), 5);  // the group has 2 replicas
  examstore::Cache& cache = store->cache();
  const std::string tag = "{" + examstore::test::unique_name("wait") + "}";
  const std::string key = tag + ":k";

  auto expect_short = [&](const std::function<void()>& write) {
    try {
      write();
      FAIL("the write was acknowledged without 5 replicas");
    } catch (const Error& e) {
      INFO(e.what());
      CHECK(e.code() == ErrorCode::kUnavailable);
      CHECK(e.outcome_unknown());  // it is on the master, not known to be anywhere else
      CHECK(std::string(e.what()).find("only 2 of 5 replicas") != std::string::npos);
      CHECK(std::string(e.what()).find("within 100 ms") != std::string::npos);
    }
  };
  SECTION("a single write command") {
    expect_short([&] { cache.set(key, "v", 60s); });
  }
  SECTION("a pipelined batch holding a write") {
    expect_short([&] { cache.execute(Batch().set(key, "v", 60s).get(key)); });
  }
  SECTION("an atomic batch holding a write") {
    expect_short([&] { cache.execute_atomic(Batch().incr_by(key, 1).expire(key, 60s)); });
  }
  SECTION("a script") {
    examstore::Script s;
    s.name = "test.set";
    s.lua = "redis.call('SET', KEYS[1], ARGV[1], 'PX', 60000) return 1";
    s.local = [](examstore::Cache&, const std::vector<std::string>&,
                 const std::vector<std::string>&) { return examstore::Reply::of(1); };
    expect_short([&] { cache.run(s, {key}, {"v"}); });
  }
  SECTION("reads and read-only batches do not wait") {
    CHECK_FALSE(cache.get(key + ":none").has_value());
    CHECK(cache.execute(Batch().get(key + ":none")).size() == 1);
  }
  // The master has the value even though the write "failed": outcome unknown, not undone.
  auto plain = open_sentinel(examstore::test::sentinel_url());
  plain->cache().del({key});
}

TEST_CASE("sentinel: wait_replicas within the replica count acknowledges writes", "[sentinel]") {
  auto store = open_sentinel(examstore::test::sentinel_url(), 2);
  const std::string key = examstore::test::unique_name("wait2") + ":k";
  store->cache().set(key, "v", 60s);
  CHECK(store->cache().incr_by(key + ":n", 3) == 3);
  CHECK(store->cache().get(key) == std::optional<std::string>("v"));
  store->cache().del({key, key + ":n"});
}

TEST_CASE(
    "sentinel: with wait_replicas 1 writes acknowledged before a SIGKILL of the master "
    "survive the failover",
    "[sentinel][fault]") {
  examstore::test::SentinelGroup group(1);
  auto store = open_sentinel(group.url(), 1);
  store->cache().set("warm", "up");  // resolve and connect before the measured writes

  constexpr int kWrites = 300;
  for (int i = 0; i < kWrites; ++i)
    store->cache().set("w:" + std::to_string(i), "v" + std::to_string(i));
  // Acknowledged with WAIT 1: on the replica already. Kill the master at once.
  const int old_port = group.kill_master();
  const int new_port = group.await_failover(old_port, 20s);

  int missing = 0;
  for (int i = 0; i < kWrites; ++i) {
    if (examstore::test::SentinelGroup::get(new_port, "w:" + std::to_string(i)) !=
        std::optional<std::string>("v" + std::to_string(i))) {
      ++missing;
    }
  }
  CHECK(missing == 0);
  // The same store follows the new master without a restart (bounded retry while it notices).
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  std::optional<std::string> last;
  for (;;) {
    try {
      last = store->cache().get("w:" + std::to_string(kWrites - 1));
      break;
    } catch (const Error& e) {
      REQUIRE(e.retryable());
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(50ms);
    }
  }
  CHECK(last == std::optional<std::string>("v" + std::to_string(kWrites - 1)));
  const examstore::BackendHealth h = store->cache().health();
  INFO(h.endpoint);
  CHECK(h.endpoint.find("master 127.0.0.1:" + std::to_string(new_port)) != std::string::npos);
}
