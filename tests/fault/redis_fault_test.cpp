// Fault tests of the Redis hot tier through the public API: a server restart (with one and with
// several pooled connections, and with a live subscription), a server that is down, a server
// that accepts connections but never answers, and the failover ride-through
// (redis.failover_wait, common/failover.hpp): off gives the immediate error, on waits for the
// server to come back, and a call whose reply was lost is sent again only when idempotent.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <hiredis/hiredis.h>

#include <catch2/catch.hpp>

#include "examstore/cache.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "support/tcp_proxy.hpp"
#include "support/test_env.hpp"

namespace {

using examstore::Error;
using examstore::test::RedisProcess;
using examstore::test::unique_name;
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

// `failover_wait` 0: the first failure is thrown (the tests about the error itself).
std::unique_ptr<examstore::Store> open_store(const std::string& url, milliseconds connect_timeout,
                                             milliseconds command_timeout, int pool_size = 8,
                                             milliseconds failover_wait = milliseconds(0)) {
  examstore::Config c;
  c.with_redis_url(url);
  c.redis.connect_timeout = connect_timeout;
  c.redis.command_timeout = command_timeout;
  c.redis.pool_size = pool_size;
  c.redis.failover_wait = failover_wait;
  return examstore::Store::open(c);
}

std::int64_t redis_retries(examstore::Store& store) { return store.metrics().redis.retries; }

// A private Redis behind a TcpProxy (to cut, restore or lose a reply), and a Store on the proxy.
struct ProxiedRedis {
  explicit ProxiedRedis(milliseconds failover_wait,
                        milliseconds command_timeout = milliseconds(500))
      : store(open_store("redis://127.0.0.1:" + std::to_string(proxy.port()), milliseconds(500),
                         command_timeout, 4, failover_wait)) {}
  RedisProcess redis;
  examstore::test::TcpProxy proxy{redis.port()};
  std::unique_ptr<examstore::Store> store;
};

// Normal (non-pub/sub) client connections on the server at `port`, not counting this one.
int command_clients(int port) {
  redisContext* c = redisConnect("127.0.0.1", port);
  if (c == nullptr || c->err) {
    std::string err = c ? c->errstr : "out of memory";
    if (c) redisFree(c);
    FAIL("cannot connect to redis on port " << port << ": " << err);
  }
  auto* reply = static_cast<redisReply*>(redisCommand(c, "CLIENT LIST TYPE normal"));
  int count = -1;
  if (reply != nullptr && reply->type == REDIS_REPLY_STRING) {
    count = 0;
    const std::string text(reply->str, reply->len);
    for (std::size_t pos = 0; (pos = text.find("id=", pos)) != std::string::npos; pos += 3) {
      if (pos == 0 || text[pos - 1] == '\n') ++count;
    }
    --count;  // this connection
  }
  if (reply != nullptr) freeReplyObject(reply);
  redisFree(c);
  if (count < 0) FAIL("CLIENT LIST failed on port " << port);
  return count;
}

// A script that keeps the server busy for ARGV[1] microseconds, then increments KEYS[1]: running
// it from several threads at once holds several pooled connections at the same time.
examstore::Script busy_script() {
  examstore::Script s;
  s.name = "test.busy";
  s.lua = R"(
    local t0 = redis.call('TIME')
    local start = tonumber(t0[1]) * 1000000 + tonumber(t0[2])
    while true do
      local t = redis.call('TIME')
      if tonumber(t[1]) * 1000000 + tonumber(t[2]) - start >= tonumber(ARGV[1]) then break end
    end
    return redis.call('INCR', KEYS[1])
  )";
  s.local = [](examstore::Cache& cache, const std::vector<std::string>& keys,
               const std::vector<std::string>&) {
    return examstore::Reply::of(cache.incr_by(keys.at(0), 1));
  };
  return s;
}

// Messages received by a subscription handler (on a library thread).
class Inbox {
 public:
  void push(std::string_view message) {
    std::lock_guard<std::mutex> lock(mu_);
    messages_.emplace_back(message);
    cv_.notify_all();
  }
  // Waits until `message` has arrived; false after `timeout`.
  bool wait_for(const std::string& message, milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      for (const auto& m : messages_) {
        if (m == message) return true;
      }
      return false;
    });
  }

 private:
  std::mutex mu_;  // guards messages_
  std::condition_variable cv_;
  std::vector<std::string> messages_;
};

// Publishes until at least one subscriber receives it (the subscription may still be
// (re)connecting); returns the last count, 0 when the deadline passed.
std::int64_t publish_until_received(examstore::Cache& cache, const std::string& channel,
                                    const std::string& message, milliseconds deadline_after,
                                    std::string& last_error) {
  const auto deadline = Clock::now() + deadline_after;
  while (Clock::now() < deadline) {
    try {
      const auto n = cache.publish(channel, message);
      if (n >= 1) return n;
    } catch (const Error& e) {
      last_error = e.what();
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  return 0;
}

}  // namespace

TEST_CASE("Redis restart: with failover_wait 0 calls fail while it is down and work after",
          "[redis][fault]") {
  RedisProcess redis;
  auto store = open_store(redis.url(), milliseconds(500), milliseconds(500), 4);
  auto& cache = store->cache();
  const std::string key = unique_name("fault:restart:");
  cache.set(key, "before");
  REQUIRE(cache.get(key) == std::optional<std::string>("before"));

  SECTION("with calls while it is down") {
    redis.kill();
    auto start = Clock::now();
    const Error e = expect_error([&] { cache.get(key); });
    INFO(e.what());
    CHECK(code_of(e) == "unavailable");
    CHECK(e.retryable());
    CHECK(elapsed_ms(start) < 3000);

    // Nothing listens now: a write is refused before it is sent.
    start = Clock::now();
    const Error w = expect_error([&] { cache.set(key, "while down"); });
    INFO(w.what());
    CHECK(code_of(w) == "unavailable");
    CHECK(w.retryable());
    CHECK_FALSE(w.outcome_unknown());
    CHECK(elapsed_ms(start) < 3000);

    redis.start();
  }
  SECTION("without a call while it is down (the pooled connection is stale)") {
    redis.kill();
    redis.start();
  }

  std::optional<std::string> value{"sentinel"};
  REQUIRE_NOTHROW(value = cache.get(key));
  CHECK_FALSE(value.has_value());  // a new server without persistence: it really restarted
  REQUIRE_NOTHROW(cache.set(key, "after"));
  CHECK(cache.get(key) == std::optional<std::string>("after"));
}

TEST_CASE("Redis restart: every pooled connection recovers on its first call",
          "[redis][fault][concurrency]") {
  constexpr int kThreads = 4;
  RedisProcess redis;
  auto store = open_store(redis.url(), milliseconds(500), milliseconds(3000), kThreads);
  auto& cache = store->cache();
  const std::string prefix = unique_name("fault:pool:");
  const std::string busy_key = "{" + prefix + "}:busy";
  const auto script = busy_script();

  // Hold four connections at once: each thread's script waits behind the others'.
  auto run_all = [&](const std::function<void(int)>& call) {
    std::atomic<int> ready{0};
    std::mutex mu;  // guards errors
    std::vector<std::string> errors;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        ++ready;
        while (ready.load() < kThreads) std::this_thread::yield();
        try {
          call(t);
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> lock(mu);
          errors.push_back("thread " + std::to_string(t) + ": " + e.what());
        }
      });
    }
    for (auto& th : threads) th.join();
    return errors;
  };

  auto errors = run_all([&](int) { cache.run(script, {busy_key}, {"100000"}); });
  REQUIRE(errors == std::vector<std::string>{});
  CHECK(cache.get(busy_key) == std::optional<std::string>(std::to_string(kThreads)));
  REQUIRE(command_clients(redis.port()) >= kThreads);  // several pooled connections exist

  redis.kill();
  redis.start();

  errors = run_all([&](int t) {
    cache.set(prefix + ":" + std::to_string(t), "after restart");  // each thread's first call
  });
  CHECK(errors == std::vector<std::string>{});
  for (int t = 0; t < kThreads; ++t) {
    INFO("thread " << t);
    CHECK(cache.get(prefix + ":" + std::to_string(t)) ==
          std::optional<std::string>("after restart"));
  }

  // The restarted server has lost its script cache; scripts still run.
  examstore::Reply r;
  REQUIRE_NOTHROW(r = cache.run(script, {busy_key}, {"0"}));
  CHECK(r == examstore::Reply::of(1));
  CHECK(redis_retries(*store) == 0);  // stale pooled connections are replaced, not resent on
}

TEST_CASE("Redis restart: a subscription resubscribes", "[redis][fault]") {
  RedisProcess redis;
  auto store = open_store(redis.url(), milliseconds(500), milliseconds(1000));
  auto& cache = store->cache();
  const std::string channel = unique_name("fault:chan:");
  Inbox inbox;
  auto sub = cache.subscribe(
      channel, [&](std::string_view, std::string_view message) { inbox.push(message); });

  std::string last_error;
  REQUIRE(publish_until_received(cache, channel, "before", std::chrono::seconds(5), last_error) >=
          1);
  CHECK(inbox.wait_for("before", std::chrono::seconds(5)));

  redis.kill();
  redis.start();

  INFO("last publish error: " << last_error);
  REQUIRE(publish_until_received(cache, channel, "after", std::chrono::seconds(10), last_error) >=
          1);
  CHECK(inbox.wait_for("after", std::chrono::seconds(5)));

  // Destroying the handle unsubscribes.
  sub.reset();
  std::int64_t receivers = -1;
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  do {
    receivers = cache.publish(channel, "gone");
    if (receivers == 0) break;
    std::this_thread::sleep_for(milliseconds(20));
  } while (Clock::now() < deadline);
  CHECK(receivers == 0);
}

TEST_CASE("Redis that is down fails fast with kUnavailable when failover_wait is 0",
          "[redis][fault]") {
  const int port = examstore::test::closed_port();
  auto store =
      open_store("redis://127.0.0.1:" + std::to_string(port), milliseconds(500), milliseconds(500));
  auto& cache = store->cache();

  auto start = Clock::now();
  const Error e = expect_error([&] { cache.get("k"); });
  INFO(e.what());
  CHECK(code_of(e) == "unavailable");
  CHECK(e.retryable());
  CHECK(elapsed_ms(start) < 2000);

  start = Clock::now();
  const Error w = expect_error([&] { cache.set("k", "v"); });
  INFO(w.what());
  CHECK(code_of(w) == "unavailable");
  CHECK_FALSE(w.outcome_unknown());  // nothing was sent
  CHECK(elapsed_ms(start) < 2000);

  // health() reports it instead of throwing.
  const auto health = store->health();
  bool found = false;
  for (const auto& h : health) {
    if (h.role != "cache") continue;
    found = true;
    CHECK(h.kind == "redis");
    CHECK_FALSE(h.ok);
    CHECK_FALSE(h.error.empty());
  }
  CHECK(found);
}

TEST_CASE("Redis that never answers times out instead of hanging with failover_wait 0",
          "[redis][fault]") {
  examstore::test::SilentServer silent;
  const milliseconds timeout(300);
  auto store = open_store("redis://127.0.0.1:" + std::to_string(silent.port()), timeout, timeout);
  auto& cache = store->cache();
  // One connect timeout plus one command timeout, and a generous margin.
  const long long bound_ms = 2 * timeout.count() + 2000;

  for (int i = 0; i < 3; ++i) {
    INFO("call " << i);
    const auto start = Clock::now();
    const Error e = expect_error([&] {
      if (i % 2 == 0) {
        cache.get("k");
      } else {
        cache.set("k", "v");
      }
    });
    const auto took = elapsed_ms(start);
    INFO(e.what() << " after " << took << " ms");
    const std::string code = code_of(e);
    CHECK((code == "timeout" || code == "unavailable"));
    CHECK(e.retryable());
    CHECK(took < bound_ms);
  }
}

TEST_CASE("failover_wait 0: a call to a Redis behind a cut proxy throws on its first attempt",
          "[redis][fault][failover]") {
  ProxiedRedis fixture(milliseconds(0));
  auto& store = fixture.store;
  auto& cache = store->cache();
  const std::string key = unique_name("fault:off:");
  cache.set(key, "before");
  fixture.proxy.cut();

  const Error r = expect_error([&] { cache.get(key); });
  INFO(r.what());
  CHECK(code_of(r) == "unavailable");
  CHECK(r.retryable());
  const Error w = expect_error([&] { cache.set(key, "while cut"); });
  INFO(w.what());
  CHECK(code_of(w) == "unavailable");
  CHECK_FALSE(w.outcome_unknown());                               // refused: nothing was sent
  CHECK(w.message().find("failover_wait") == std::string::npos);  // it did not wait
  CHECK(redis_retries(*store) == 0);

  fixture.proxy.restore();
  CHECK(cache.get(key) == std::optional<std::string>("before"));
}

TEST_CASE("failover_wait 2 s: a call rides through a Redis that comes back",
          "[redis][fault][failover]") {
  ProxiedRedis fixture(milliseconds(2000));
  auto& redis = fixture.redis;
  auto& proxy = fixture.proxy;
  auto& store = fixture.store;
  auto& cache = store->cache();
  const std::string key = unique_name("fault:ride:");
  cache.set(key, "before");
  REQUIRE(redis_retries(*store) == 0);

  SECTION("a proxy cut and restored after 0.5 s") {
    proxy.cut();
    std::thread back([&] {
      std::this_thread::sleep_for(milliseconds(500));
      proxy.restore();
    });
    std::optional<std::string> value;
    CHECK_NOTHROW(value = cache.get(key));
    CHECK(value == std::optional<std::string>("before"));
    CHECK_NOTHROW(cache.set(key, "after"));
    back.join();
    CHECK(cache.get(key) == std::optional<std::string>("after"));
  }
  SECTION("a server killed and started again") {
    // The calls run on a thread: the server must be started by the main thread, since a child
    // dies with the thread that forked it (PR_SET_PDEATHSIG).
    redis.kill();
    std::string error;
    std::optional<std::string> value{"not read"};
    std::thread caller([&] {
      try {
        value = cache.get(key);
        cache.set(key, "after");
      } catch (const Error& e) {
        error = e.what();
      }
    });
    std::this_thread::sleep_for(milliseconds(500));
    redis.start();
    caller.join();
    CHECK(error == "");
    CHECK_FALSE(value.has_value());  // a restarted server without persistence
    CHECK(cache.get(key) == std::optional<std::string>("after"));
  }
  CHECK(redis_retries(*store) > 0);
}

TEST_CASE("failover_wait: past the deadline the last error is thrown naming the wait",
          "[redis][fault][failover]") {
  ProxiedRedis fixture(milliseconds(300));
  auto& store = fixture.store;
  auto& cache = store->cache();
  const std::string key = unique_name("fault:deadline:");
  cache.set(key, "before");
  fixture.proxy.cut();
  const Error e = expect_error([&] { cache.set(key, "never"); });
  WARN(e.what());  // quoted in docs/errors.md
  CHECK(code_of(e) == "unavailable");
  CHECK(e.retryable());
  CHECK_FALSE(e.outcome_unknown());  // refused every time: never sent
  CHECK(e.message().find("ms of failover_wait)") != std::string::npos);
  CHECK(redis_retries(*store) > 0);
}

TEST_CASE("a lost reply: incr_by is not sent twice, set and get are sent again",
          "[redis][fault][failover]") {
  ProxiedRedis fixture(milliseconds(2000), milliseconds(1000));
  auto& proxy = fixture.proxy;
  auto& store = fixture.store;
  auto& cache = store->cache();
  const std::string counter = unique_name("fault:lost:") + ":n";
  const std::string key = unique_name("fault:lost:") + ":k";
  REQUIRE(cache.incr_by(counter, 1) == 1);

  // INCRBY reaches Redis, its reply is lost: the outcome is unknown and it is not resent.
  proxy.drop_next_reply();
  const Error e = expect_error([&] { cache.incr_by(counter, 1); });
  INFO(e.what());
  CHECK(proxy.dropped_replies() == 1);
  CHECK((code_of(e) == "unavailable" || code_of(e) == "timeout"));
  CHECK(e.outcome_unknown());
  CHECK(redis_retries(*store) == 0);
  CHECK(cache.get(counter) == std::optional<std::string>("2"));  // applied exactly once

  // SET is idempotent: sent again on a new connection, and acknowledged.
  proxy.drop_next_reply();
  CHECK_NOTHROW(cache.set(key, "v"));
  CHECK(proxy.dropped_replies() == 2);
  CHECK(redis_retries(*store) == 1);

  // So is GET.
  proxy.drop_next_reply();
  std::optional<std::string> value;
  CHECK_NOTHROW(value = cache.get(key));
  CHECK(value == std::optional<std::string>("v"));
  CHECK(proxy.dropped_replies() == 3);
  CHECK(redis_retries(*store) == 2);
  CHECK(cache.get(counter) == std::optional<std::string>("2"));
}
