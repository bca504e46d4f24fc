// Fault tests of the Redis hot tier through the public API: a server restart (with one and with
// several pooled connections, and with a live subscription), a server that is down, and a
// server that accepts connections but never answers.
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

std::unique_ptr<examstore::Store> open_store(const std::string& url, milliseconds connect_timeout,
                                             milliseconds command_timeout, int pool_size = 8) {
  examstore::Config c;
  c.with_redis_url(url);
  c.redis.connect_timeout = connect_timeout;
  c.redis.command_timeout = command_timeout;
  c.redis.pool_size = pool_size;
  return examstore::Store::open(c);
}

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

TEST_CASE("Redis restart: calls fail while it is down, the first call after it is back works",
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

TEST_CASE("Redis that is down fails fast with kUnavailable", "[redis][fault]") {
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

TEST_CASE("Redis that never answers times out instead of hanging", "[redis][fault]") {
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
