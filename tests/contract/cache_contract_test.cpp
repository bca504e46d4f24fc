// tests/contract/cache_contract_test.cpp: the contract of examstore::Cache (cache.hpp), run
// against every implementation.
//
// Each TEMPLATE_TEST_CASE runs on the in-memory cache (MemoryFixture), on Redis opened through the
// public Store (RedisFixture) and on the Redis Cluster (ClusterFixture), so any behaviour in which
// the in-memory cache differs from real Redis fails here. Catch2 names the two instances "<name> -
// MemoryFixture" and
// "<name> - RedisFixture"; a template test case cannot carry a per-type tag, so select the
// Redis half by name ("*RedisFixture"), not by a [redis] tag. The Redis half needs
// EXAMSTORE_TEST_REDIS_URL and fails (never skips) without it.
//
// Isolation: every test names its keys under a fresh hash tag ("{t<hex>}:name", see TestKeys)
// and deletes them when it ends, so tests never see each other's keys or an earlier run's.
//
// Catch2's assertion macros are not thread-safe: the concurrency tests only count in their
// threads and assert in the main thread.
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "examstore/cache.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "repo/violation_counts.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::Batch;
using examstore::Cache;
using examstore::FieldValues;
using examstore::Reply;
using examstore::ScoredMember;
using examstore::Script;
using Clock = std::chrono::steady_clock;

// ---- the implementations under test ----

/// The embedded in-memory cache: a fresh one per test.
class MemoryFixture {
 public:
  static constexpr const char* kKind = "memory";
  MemoryFixture() : cache_(examstore::make_memory_cache()) {}
  Cache& cache() { return *cache_; }

 private:
  std::unique_ptr<Cache> cache_;
};

/// The Redis cache, opened through the public Store as users get it. The Store owns the
/// connection pool, so it must outlive every use of cache().
class RedisFixture {
 public:
  static constexpr const char* kKind = "redis";
  RedisFixture()
      : store_(examstore::Store::open(
            examstore::Config{}.with_redis_url(examstore::test::redis_url()))) {}
  Cache& cache() { return store_->cache(); }

 private:
  std::unique_ptr<examstore::Store> store_;
};

/// The Redis Cluster cache (the shared 3-master cluster of scripts/servers.sh), opened through
/// the public Store. Select it by name ("*ClusterFixture").
class ClusterFixture {
 public:
  static constexpr const char* kKind = "redis";
  ClusterFixture()
      : store_(examstore::Store::open(
            examstore::Config{}.with_redis_url(examstore::test::cluster_url()))) {}
  Cache& cache() { return store_->cache(); }

 private:
  std::unique_ptr<examstore::Store> store_;
};

/// The Redis cache behind a Sentinel group: the master is found through the sentinels.
class SentinelFixture {
 public:
  static constexpr const char* kKind = "redis";  // health reports the Redis kind
  SentinelFixture()
      : store_(examstore::Store::open(
            examstore::Config{}.with_redis_url(examstore::test::sentinel_url()))) {}
  Cache& cache() { return store_->cache(); }

 private:
  std::unique_ptr<examstore::Store> store_;
};

/// Every Cache implementation under test; each TEMPLATE_TEST_CASE runs once per fixture.
#define CACHE_FIXTURES MemoryFixture, RedisFixture, ClusterFixture, SentinelFixture

// ---- keys ----

/// Names one test's keys under a hash tag of its own and deletes them when the test ends,
/// passed or failed. Keys are deleted one at a time so that cleanup never depends on the
/// multi-key rules under test.
class TestKeys {
 public:
  explicit TestKeys(Cache& cache) : cache_(cache), tag_(examstore::test::unique_name("t")) {}
  TestKeys(const TestKeys&) = delete;
  TestKeys& operator=(const TestKeys&) = delete;
  ~TestKeys() {
    for (const auto& key : keys_) {
      try {
        cache_.del({key});
      } catch (...) {  // A failed cleanup must not mask the test's own result.
      }
    }
  }

  /// "{tag}:name": a key of this test's hash tag.
  std::string operator()(std::string_view name) {
    return remember("{" + tag_ + "}:" + std::string(name));
  }
  /// A key of this test but of another hash tag, for the one-hash-tag rules.
  std::string other_tag(std::string_view name) {
    return remember("{" + tag_ + "-other}:" + std::string(name));
  }
  /// A pub/sub channel of this test (channels are not keys: nothing to delete).
  std::string channel(std::string_view name) const { return tag_ + ":" + std::string(name); }

 private:
  std::string remember(std::string key) {
    if (std::find(keys_.begin(), keys_.end(), key) == keys_.end()) keys_.push_back(key);
    return key;
  }

  Cache& cache_;
  std::string tag_;
  std::vector<std::string> keys_;
};

// ---- readable values for Catch2 (it prints optionals, pairs and our structs as "{?}") ----

/// A bulk value as is, or "(nil)" for a missing one (no test stores the text "(nil)").
std::string or_nil(const std::optional<std::string>& value) { return value ? *value : "(nil)"; }

/// `s` in double quotes with every byte outside printable ASCII as \xHH.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto byte = static_cast<unsigned char>(ch);
    if (byte >= 0x20 && byte < 0x7f && ch != '"' && ch != '\\') {
      out += ch;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(byte));
      out += buf;
    }
  }
  return out + "\"";
}

/// Every digit of `d` ("%.17g"), so two scores print alike only when they are equal.
std::string exact(double d) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

std::string describe(const Reply& reply) {
  switch (reply.type) {
    case Reply::Type::kNil:
      return "nil";
    case Reply::Type::kInteger:
      return "(integer) " + std::to_string(reply.integer);
    case Reply::Type::kString:
      return quoted(reply.str);
    case Reply::Type::kArray: {
      std::string out = "[";
      for (std::size_t i = 0; i < reply.elements.size(); ++i) {
        if (i > 0) out += ", ";
        out += describe(reply.elements[i]);
      }
      return out + "]";
    }
  }
  return "(invalid reply type)";
}

std::vector<std::string> describe(const std::vector<Reply>& replies) {
  std::vector<std::string> out;
  for (const auto& r : replies) out.push_back(describe(r));
  return out;
}

std::vector<std::string> describe(const std::vector<ScoredMember>& members) {
  std::vector<std::string> out;
  for (const auto& m : members) out.push_back(quoted(m.member) + "=" + exact(m.score));
  return out;
}

std::vector<std::string> describe(const FieldValues& fields) {
  std::vector<std::string> out;
  for (const auto& [field, value] : fields) out.push_back(quoted(field) + "=" + quoted(value));
  return out;
}

/// A score, or NaN (never equal to anything) when there is none.
double score_or_nan(const std::optional<double>& score) {
  return score.value_or(std::numeric_limits<double>::quiet_NaN());
}

/// A TTL in milliseconds (0: no expiry), or -1 when the key does not exist.
std::int64_t ttl_ms(const std::optional<std::chrono::milliseconds>& ttl) {
  return ttl ? ttl->count() : -1;
}

/// A rank, or -1 when there is none.
std::int64_t rank_or_minus_one(const std::optional<std::int64_t>& rank) {
  return rank.value_or(-1);
}

Reply str(std::string s) { return Reply::of(std::move(s)); }
Reply num(std::int64_t v) { return Reply::of(v); }
Reply array(std::vector<Reply> elements) {
  Reply r;
  r.type = Reply::Type::kArray;
  r.elements = std::move(elements);
  return r;
}

/// The code name of the examstore::Error that `f` throws ("invalid_argument"), or "none".
/// Any other exception propagates and fails the test with its message.
template <class F>
std::string thrown_code(F&& f) {
  try {
    std::forward<F>(f)();
  } catch (const examstore::Error& e) {
    return std::string(examstore::to_string(e.code()));
  }
  return "none";
}

constexpr const char* kInvalidArgument = "invalid_argument";

// ---- threads ----

/// Runs body(0) .. body(n - 1) on n threads and rethrows the first exception here, where
/// Catch2 can report it.
void run_threads(int n, const std::function<void(int)>& body) {
  std::mutex mu;
  std::exception_ptr first;  // guarded by mu
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&mu, &first, &body, i] {
      try {
        body(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first) first = std::current_exception();
      }
    });
  }
  for (auto& t : threads) t.join();
  if (first) std::rethrow_exception(first);
}

// ---- pub/sub ----

/// What one subscription received. Shared with its handler, so that a message delivered after
/// the subscription is gone (a bug under test) cannot touch a destroyed object.
class Inbox {
 public:
  void add(std::string_view channel, std::string_view message) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      channels_.emplace_back(channel);
      messages_.emplace_back(message);
    }
    cv_.notify_all();
  }
  /// Waits until at least `n` messages arrived; false when `timeout` passed first.
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return messages_.size() >= n; });
  }
  std::vector<std::string> channels() const {
    std::lock_guard<std::mutex> lock(mu_);
    return channels_;
  }
  std::vector<std::string> messages() const {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> channels_;  // guarded by mu_
  std::vector<std::string> messages_;  // guarded by mu_
};

examstore::MessageHandler collect_into(std::shared_ptr<Inbox> inbox) {
  return [sink = std::move(inbox)](std::string_view channel, std::string_view message) {
    sink->add(channel, message);
  };
}

// ---- scripts (each with a Lua body and the equivalent C++ body) ----

/// Sets KEYS[1] to ARGV[2] when its value is ARGV[1] (an empty ARGV[1] means "absent");
/// returns 1 when it did, else 0.
Script compare_and_set() {
  Script script;
  script.name = "test.compare_and_set";
  script.lua = R"lua(
local current = redis.call('GET', KEYS[1])
if (current == false and ARGV[1] == '') or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0
)lua";
  script.local = [](Cache& c, const std::vector<std::string>& keys,
                    const std::vector<std::string>& args) {
    const auto current = c.get(keys.at(0));
    const bool matches = current ? *current == args.at(0) : args.at(0).empty();
    if (!matches) return Reply::of(0);
    c.set(keys.at(0), args.at(1));
    return Reply::of(1);
  };
  return script;
}

/// Returns {value of KEYS[1], 1, {ARGV[1], 2}}: an array with a nested array.
Script read_as_array() {
  Script script;
  script.name = "test.read_as_array";
  script.lua = "return {redis.call('GET', KEYS[1]), 1, {ARGV[1], 2}}";
  script.local = [](Cache& c, const std::vector<std::string>& keys,
                    const std::vector<std::string>& args) {
    const auto current = c.get(keys.at(0));
    return array(
        {current ? str(*current) : Reply::nil(), num(1), array({str(args.at(0)), num(2)})});
  };
  return script;
}

/// Returns the value of KEYS[1]: nil when it is missing.
Script read_value() {
  Script script;
  script.name = "test.read_value";
  script.lua = "return redis.call('GET', KEYS[1])";
  script.local = [](Cache& c, const std::vector<std::string>& keys,
                    const std::vector<std::string>&) {
    const auto current = c.get(keys.at(0));
    return current ? str(*current) : Reply::nil();
  };
  return script;
}

}  // namespace

// ============================================================================================
// strings and keys
// ============================================================================================

TEMPLATE_TEST_CASE("cache strings: get of a missing key is nullopt", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);

  CHECK_FALSE(cache.get(keys("missing")).has_value());
}

TEMPLATE_TEST_CASE("cache strings: set and get round-trip any bytes", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);

  SECTION("plain text, then an overwrite") {
    const auto k = keys("plain");
    cache.set(k, "first");
    CHECK(or_nil(cache.get(k)) == "first");
    cache.set(k, "second");
    CHECK(or_nil(cache.get(k)) == "second");
  }
  SECTION("embedded NUL, high bytes and UTF-8") {
    const auto k = keys("binary");
    const std::string value = std::string("a\0b\0", 4) + "\xff\xfe\x80\x01" + "\xc3\xa9t\xc3\xa9";
    cache.set(k, value);
    const auto got = cache.get(k);
    REQUIRE(got.has_value());
    CHECK(quoted(*got) == quoted(value));
    CHECK(got->size() == value.size());
  }
  SECTION("the empty string is a value, not a miss") {
    const auto k = keys("empty");
    cache.set(k, "");
    const auto got = cache.get(k);
    REQUIRE(got.has_value());
    CHECK(got->empty());
  }
  SECTION("a key with NUL and high bytes") {
    const auto k = keys(std::string("k\0\xff\xc3\xa9", 5));
    cache.set(k, "v");
    CHECK(or_nil(cache.get(k)) == "v");
    CHECK_FALSE(cache.get(keys("k")).has_value());  // the key is not cut at the NUL
  }
  SECTION("a 100 kB value (seeded random bytes)") {
    std::mt19937 rng(20240501);
    std::uniform_int_distribution<int> byte(0, 255);
    std::string value(100'000, '\0');
    for (auto& ch : value) ch = static_cast<char>(byte(rng));
    const auto k = keys("large");
    cache.set(k, value);
    const auto got = cache.get(k);
    REQUIRE(got.has_value());
    CHECK(got->size() == value.size());
    CHECK(*got == value);
  }
}

TEMPLATE_TEST_CASE("cache strings: set_if_absent sets only a missing key", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto k = keys("once");

  CHECK(cache.set_if_absent(k, "first"));
  CHECK_FALSE(cache.set_if_absent(k, "second"));
  CHECK(or_nil(cache.get(k)) == "first");
  CHECK(ttl_ms(cache.ttl(k)) == 0);

  const auto with_ttl = keys("once-ttl");
  CHECK(cache.set_if_absent(with_ttl, "v", 10s));
  const auto ttl = cache.ttl(with_ttl);
  REQUIRE(ttl.has_value());
  CHECK(ttl->count() > 0);
  CHECK(ttl->count() <= 10'000);
}

TEMPLATE_TEST_CASE("cache strings: del returns how many of the keys existed", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto a = keys("a");
  const auto b = keys("b");
  const auto missing = keys("missing");
  cache.set(a, "1");
  cache.set(b, "2");

  CHECK(cache.del({a, missing, b}) == 2);
  CHECK_FALSE(cache.get(a).has_value());
  CHECK_FALSE(cache.get(b).has_value());
  CHECK(cache.del({a, b}) == 0);
}

TEMPLATE_TEST_CASE("cache strings: ttl and expire", "[cache][contract]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);

  SECTION("ttl of a missing key is nullopt") {
    CHECK_FALSE(cache.ttl(keys("missing")).has_value());
  }
  SECTION("ttl of a key without expiry is zero") {
    const auto k = keys("forever");
    cache.set(k, "v");
    const auto ttl = cache.ttl(k);
    REQUIRE(ttl.has_value());
    CHECK(ttl->count() == 0);
  }
  SECTION("ttl after set with a ttl is in (0, ttl]") {
    const auto k = keys("ten-seconds");
    cache.set(k, "v", 10s);
    const auto ttl = cache.ttl(k);
    REQUIRE(ttl.has_value());
    CHECK(ttl->count() > 0);
    CHECK(ttl->count() <= 10'000);
  }
  SECTION("expire on a missing key returns false and creates nothing") {
    const auto k = keys("missing");
    CHECK_FALSE(cache.expire(k, 10s));
    CHECK_FALSE(cache.get(k).has_value());
    CHECK_FALSE(cache.ttl(k).has_value());
  }
  SECTION("expire on an existing key sets a ttl in (0, ttl]") {
    const auto k = keys("later");
    cache.set(k, "v");
    CHECK(cache.expire(k, 5s));
    const auto ttl = cache.ttl(k);
    REQUIRE(ttl.has_value());
    CHECK(ttl->count() > 0);
    CHECK(ttl->count() <= 5'000);
    CHECK(or_nil(cache.get(k)) == "v");
  }
  SECTION("expire works on a hash key too") {
    const auto h = keys("hash");
    cache.hset(h, {{"f", "v"}});
    CHECK(cache.expire(h, 5s));
    const auto ttl = cache.ttl(h);
    REQUIRE(ttl.has_value());
    CHECK(ttl->count() > 0);
    CHECK(ttl->count() <= 5'000);
  }
}

TEMPLATE_TEST_CASE("cache strings: a key is gone once its ttl has passed", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);

  // Polls until `key` reads as missing; returns how long after `since` that was, or nullopt
  // when it is still there after a deadline far beyond its 150 ms.
  const auto wait_until_gone = [&cache](const std::string& key,
                                        Clock::time_point since) -> std::optional<Clock::duration> {
    const auto deadline = since + 1s;
    while (Clock::now() < deadline) {
      if (!cache.get(key)) return Clock::now() - since;
      std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
  };

  SECTION("set with a 150 ms ttl") {
    const auto k = keys("short");
    const auto before = Clock::now();
    cache.set(k, "v", 150ms);
    const auto ttl = cache.ttl(k);
    if (Clock::now() - before < 100ms) {  // a very slow machine may already be past it
      REQUIRE(ttl.has_value());
      CHECK(ttl->count() > 0);
      CHECK(ttl->count() <= 150);
    }
    const auto gone_after = wait_until_gone(k, before);
    REQUIRE(gone_after.has_value());
    CHECK(*gone_after >= 140ms);
    CHECK_FALSE(cache.ttl(k).has_value());
  }
  SECTION("expire with 150 ms on a key without ttl") {
    const auto k = keys("expired");
    cache.set(k, "v");
    const auto before = Clock::now();
    REQUIRE(cache.expire(k, 150ms));
    const auto gone_after = wait_until_gone(k, before);
    REQUIRE(gone_after.has_value());
    CHECK(*gone_after >= 140ms);
    CHECK_FALSE(cache.ttl(k).has_value());
    CHECK_FALSE(cache.expire(k, 10s));  // an expired key no longer exists
  }
}

TEMPLATE_TEST_CASE("cache strings: set without ttl clears an earlier ttl", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto k = keys("k");

  cache.set(k, "v1", 10s);
  REQUIRE(ttl_ms(cache.ttl(k)) > 0);
  cache.set(k, "v2");
  CHECK(ttl_ms(cache.ttl(k)) == 0);
  CHECK(or_nil(cache.get(k)) == "v2");

  SECTION("and set with a new ttl replaces it") {
    cache.set(k, "v3", 3s);
    const auto ttl = cache.ttl(k);
    REQUIRE(ttl.has_value());
    CHECK(ttl->count() > 0);
    CHECK(ttl->count() <= 3'000);
  }
}

TEMPLATE_TEST_CASE("cache strings: getrange clamps as GETRANGE does", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const std::string k = keys("s");

  CHECK(cache.getrange(k, 0, -1).empty());  // missing key
  cache.set(k, "hello");
  CHECK(cache.getrange(k, -10, -9) == "h");  // a negative end clamps to 0, not to "empty"
  CHECK(cache.getrange(k, 0, 100) == "hello");
  CHECK(cache.getrange(k, 5, 2).empty());
  CHECK(cache.getrange(k, -3, -1) == "llo");
  CHECK(cache.getrange(k, 2, -100).empty());
  CHECK(cache.getrange(k, 0, 0) == "h");
  CHECK(cache.getrange(k, 10, 20).empty());
  CHECK(cache.strlen(k) == 5);
  CHECK(cache.strlen(keys("missing")) == 0);
}

TEMPLATE_TEST_CASE("cache strings: setrange pads with zero bytes and grows", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const std::string k = keys("s");

  CHECK(cache.setrange(keys("nokey"), 3, "") == 0);  // an empty write creates nothing
  CHECK_FALSE(cache.get(keys("nokey")).has_value());
  cache.set(k, "hello");
  CHECK(cache.setrange(k, 7, "xy") == 9);
  CHECK(cache.get(k) == std::string("hello\0\0xy", 9));
  CHECK(cache.setrange(k, 1, "EL") == 9);
  CHECK(cache.get(k) == std::string("hELlo\0\0xy", 9));
  CHECK(cache.setrange(k, 0, "") == 9);
  // packed fixed-width records, as the presence arrays use them
  const std::string p = keys("packed");
  CHECK(cache.setrange(p, 4 * 1000, std::string("\x01\x02\x03\x04", 4)) == 4004);
  CHECK(cache.getrange(p, 4000, 4003) == std::string("\x01\x02\x03\x04", 4));
  CHECK(cache.getrange(p, 0, 3) == std::string(4, '\0'));
  CHECK_THROWS_AS(cache.setrange(k, -1, "x"), examstore::Error);
  cache.hset(keys("h"), {{"f", "v"}});
  CHECK_THROWS_AS(cache.getrange(keys("h"), 0, 1), examstore::Error);
  CHECK_THROWS_AS(cache.setrange(keys("h"), 0, "x"), examstore::Error);
}

TEMPLATE_TEST_CASE("cache strings: incr_by counts from zero and takes negative deltas",
                   "[cache][contract]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto k = keys("n");

  CHECK(cache.incr_by(k, 5) == 5);
  CHECK(cache.incr_by(k, -8) == -3);
  CHECK(cache.incr_by(k, 0) == -3);
  CHECK(or_nil(cache.get(k)) == "-3");
  CHECK(ttl_ms(cache.ttl(k)) == 0);

  const auto m = keys("m");
  CHECK(cache.incr_by(m, -1) == -1);

  const auto s = keys("s");
  cache.set(s, "41");
  CHECK(cache.incr_by(s, 1) == 42);
  CHECK(or_nil(cache.get(s)) == "42");

  const auto big = keys("big");
  cache.set(big, "9223372036854775806");
  CHECK(cache.incr_by(big, 1) == std::numeric_limits<std::int64_t>::max());
}

TEMPLATE_TEST_CASE("cache strings: incr_by on a non-integer value throws kInvalidArgument",
                   "[cache][contract]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto k = keys("s");

  // Redis accepts exactly the canonical decimal form of a 64-bit integer.
  for (const std::string value :
       {"abc", "1.5", "", "12a", " 1", "1 ", "+5", "007", "-0", "99999999999999999999"}) {
    CAPTURE(value);
    cache.set(k, value);
    CHECK(thrown_code([&] { cache.incr_by(k, 1); }) == kInvalidArgument);
    CHECK(or_nil(cache.get(k)) == value);
  }
}

TEMPLATE_TEST_CASE("cache wrong type: commands on a key of another type throw kInvalidArgument",
                   "[cache][contract]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto s = keys("string");
  const auto h = keys("hash");
  const auto z = keys("zset");
  cache.set(s, "x");
  cache.hset(h, {{"f", "v"}});
  cache.zadd(z, {{"m", 1}});

  CHECK(thrown_code([&] { cache.hget(s, "f"); }) == kInvalidArgument);
  CHECK(thrown_code([&] { cache.hset(s, {{"f", "v"}}); }) == kInvalidArgument);
  CHECK(thrown_code([&] { cache.hgetall(s); }) == kInvalidArgument);
  CHECK(thrown_code([&] { cache.zadd(s, {{"m", 1}}); }) == kInvalidArgument);
  CHECK(thrown_code([&] { cache.zrange(s, 0, -1); }) == kInvalidArgument);
  CHECK(thrown_code([&] { cache.get(h); }) == kInvalidArgument);
  CHECK(thrown_code([&] { cache.incr_by(h, 1); }) == kInvalidArgument);
  CHECK(thrown_code([&] { cache.zscore(h, "m"); }) == kInvalidArgument);
  CHECK(thrown_code([&] { cache.get(z); }) == kInvalidArgument);
  CHECK(thrown_code([&] { cache.hget(z, "f"); }) == kInvalidArgument);

  // Nothing changed, and the cache (on Redis: the pooled connection) is still usable.
  CHECK(or_nil(cache.get(s)) == "x");
  CHECK(or_nil(cache.hget(h, "f")) == "v");
  CHECK(cache.zcard(z) == 1);

  SECTION("set, del, expire and ttl work on a key of any type") {
    CHECK(ttl_ms(cache.ttl(h)) == 0);
    CHECK(cache.expire(z, 10s));
    CHECK_FALSE(cache.set_if_absent(h, "string now"));
    cache.set(h, "string now");  // SET replaces a value of any type, as in Redis
    CHECK(or_nil(cache.get(h)) == "string now");
    CHECK(cache.del({z}) == 1);
    CHECK(cache.zcard(z) == 0);
  }
}

// ============================================================================================
// hashes
// ============================================================================================

TEMPLATE_TEST_CASE("cache hashes: hset, hget and hdel", "[cache][contract]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto h = keys("h");

  CHECK(cache.hset(h, {{"a", "1"}, {"b", "2"}}) == 2);
  CHECK(cache.hset(h, {{"b", "3"}, {"c", "4"}}) == 1);  // b is updated, only c is new
  CHECK(or_nil(cache.hget(h, "a")) == "1");
  CHECK(or_nil(cache.hget(h, "b")) == "3");
  CHECK_FALSE(cache.hget(h, "nope").has_value());
  CHECK_FALSE(cache.hget(keys("missing"), "a").has_value());

  const std::string field("f\0\xff", 3);
  const std::string value = std::string("\0\x01", 2) + "\xc3\xa9";
  CHECK(cache.hset(h, {{field, value}}) == 1);
  const auto got = cache.hget(h, field);
  REQUIRE(got.has_value());
  CHECK(quoted(*got) == quoted(value));
  CHECK_FALSE(cache.hget(h, "f").has_value());  // the field is not cut at the NUL

  CHECK(cache.hdel(h, {"a", "nope", field}) == 2);
  CHECK(cache.hdel(h, {"a"}) == 0);
  CHECK(cache.hdel(keys("missing"), {"a"}) == 0);
  CHECK(describe(cache.hgetall(h)) == describe(FieldValues{{"b", "3"}, {"c", "4"}}));

  SECTION("a hash whose last field is deleted no longer exists") {
    CHECK(cache.hdel(h, {"b", "c"}) == 2);
    CHECK(cache.hgetall(h).empty());
    CHECK_FALSE(cache.ttl(h).has_value());
    cache.set(h, "a string now");  // no wrong-type left behind
    CHECK(or_nil(cache.get(h)) == "a string now");
  }
}

TEMPLATE_TEST_CASE("cache hashes: hgetall is in ascending field order", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto h = keys("h");

  CHECK(cache.hgetall(keys("missing")).empty());

  // Inserted out of order; ascending means bytewise ("B" < "a" < "ab").
  CHECK(cache.hset(h, {{"z", "26"}, {"a", "1"}, {"m", "13"}}) == 3);
  CHECK(cache.hset(h, {{"B", "upper"}, {"ab", "two"}}) == 2);
  CHECK(describe(cache.hgetall(h)) ==
        describe(FieldValues{{"B", "upper"}, {"a", "1"}, {"ab", "two"}, {"m", "13"}, {"z", "26"}}));
}

TEMPLATE_TEST_CASE("cache hashes: hincr_by", "[cache][contract]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto h = keys("h");

  CHECK(cache.hincr_by(h, "n", 5) == 5);  // missing key and field count from 0
  CHECK(cache.hincr_by(h, "n", -8) == -3);
  CHECK(or_nil(cache.hget(h, "n")) == "-3");

  cache.hset(h, {{"s", "10"}, {"text", "ten"}});
  CHECK(cache.hincr_by(h, "s", 1) == 11);
  CHECK(or_nil(cache.hget(h, "s")) == "11");

  CHECK(thrown_code([&] { cache.hincr_by(h, "text", 1); }) == kInvalidArgument);
  CHECK(or_nil(cache.hget(h, "text")) == "ten");
}

// ============================================================================================
// sorted sets
// ============================================================================================

TEMPLATE_TEST_CASE("cache sorted sets: zadd counts only new members", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto z = keys("z");

  CHECK(cache.zadd(z, {{"a", 1}, {"b", 2}}) == 2);
  CHECK(cache.zadd(z, {{"a", 5}, {"c", 3}}) == 1);  // a is updated, only c is new
  CHECK(cache.zadd(z, {{"a", 5}}) == 0);
  CHECK(cache.zcard(z) == 3);
  CHECK(score_or_nan(cache.zscore(z, "a")) == 5.0);
  CHECK(describe(cache.zrange(z, 0, -1)) ==
        describe(std::vector<ScoredMember>{{"b", 2}, {"c", 3}, {"a", 5}}));
}

TEMPLATE_TEST_CASE("cache sorted sets: zrange by rank", "[cache][contract]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto z = keys("z");

  // Ties on a score are ordered by member, bytewise: "B" < "a" < "ab" < "b" < "c".
  REQUIRE(cache.zadd(z, {{"b", 1}, {"e", 2}, {"a", 1}, {"c", 1}, {"d", 0}, {"B", 1}, {"ab", 1}}) ==
          7);
  const std::vector<ScoredMember> all{{"d", 0}, {"B", 1}, {"a", 1}, {"ab", 1},
                                      {"b", 1}, {"c", 1}, {"e", 2}};
  CHECK(describe(cache.zrange(z, 0, -1)) == describe(all));
  CHECK(describe(cache.zrange(z, 0, 6)) == describe(all));
  CHECK(describe(cache.zrange(z, -2, -1)) ==
        describe(std::vector<ScoredMember>{{"c", 1}, {"e", 2}}));
  CHECK(describe(cache.zrange(z, 1, 3)) ==
        describe(std::vector<ScoredMember>{{"B", 1}, {"a", 1}, {"ab", 1}}));
  CHECK(describe(cache.zrange(z, -100, 0)) == describe(std::vector<ScoredMember>{{"d", 0}}));
  CHECK(describe(cache.zrange(z, 5, 100)) ==
        describe(std::vector<ScoredMember>{{"c", 1}, {"e", 2}}));
  CHECK(describe(cache.zrange(z, -1, -1)) == describe(std::vector<ScoredMember>{{"e", 2}}));
  CHECK(cache.zrange(z, 7, 10).empty());
  CHECK(cache.zrange(z, 3, 1).empty());
  CHECK(cache.zrange(z, -1, -2).empty());
  CHECK(cache.zrange(keys("missing"), 0, -1).empty());
}

TEMPLATE_TEST_CASE("cache sorted sets: zrange_by_score", "[cache][contract]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto z = keys("z");
  constexpr double kInf = std::numeric_limits<double>::infinity();

  REQUIRE(cache.zadd(z, {{"e", 4}, {"c", 2}, {"a", 1}, {"d", 3}, {"b", 2}}) == 5);

  // Both bounds are inclusive; ties by member.
  CHECK(describe(cache.zrange_by_score(z, 2, 3)) ==
        describe(std::vector<ScoredMember>{{"b", 2}, {"c", 2}, {"d", 3}}));
  CHECK(describe(cache.zrange_by_score(z, 2, 3, 2)) ==
        describe(std::vector<ScoredMember>{{"b", 2}, {"c", 2}}));
  CHECK(describe(cache.zrange_by_score(z, 2, 3, 0)) ==
        describe(std::vector<ScoredMember>{{"b", 2}, {"c", 2}, {"d", 3}}));
  CHECK(describe(cache.zrange_by_score(z, 2, 3, 10)) ==
        describe(std::vector<ScoredMember>{{"b", 2}, {"c", 2}, {"d", 3}}));
  CHECK(describe(cache.zrange_by_score(z, 4, 4)) == describe(std::vector<ScoredMember>{{"e", 4}}));
  CHECK(describe(cache.zrange_by_score(z, 1.5, 2.5)) ==
        describe(std::vector<ScoredMember>{{"b", 2}, {"c", 2}}));
  CHECK(describe(cache.zrange_by_score(z, -kInf, kInf)) ==
        describe(std::vector<ScoredMember>{{"a", 1}, {"b", 2}, {"c", 2}, {"d", 3}, {"e", 4}}));
  CHECK(describe(cache.zrange_by_score(z, -kInf, kInf, 1)) ==
        describe(std::vector<ScoredMember>{{"a", 1}}));
  CHECK(cache.zrange_by_score(z, 2.5, 2.9).empty());
  CHECK(cache.zrange_by_score(z, 10, 20).empty());
  CHECK(cache.zrange_by_score(z, 3, 2).empty());
  CHECK(cache.zrange_by_score(keys("missing"), -kInf, kInf).empty());
}

TEMPLATE_TEST_CASE("cache sorted sets: zrank, zscore, zcard, zcount and zrem", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto z = keys("z");
  const auto missing = keys("missing");
  constexpr double kInf = std::numeric_limits<double>::infinity();

  REQUIRE(cache.zadd(z, {{"a", 1}, {"b", 2}, {"c", 2}, {"d", 3}, {"e", 4}}) == 5);

  CHECK(rank_or_minus_one(cache.zrank(z, "a")) == 0);
  CHECK(rank_or_minus_one(cache.zrank(z, "c")) == 2);
  CHECK(rank_or_minus_one(cache.zrank(z, "e")) == 4);
  CHECK_FALSE(cache.zrank(z, "nope").has_value());
  CHECK_FALSE(cache.zrank(missing, "a").has_value());
  CHECK(score_or_nan(cache.zscore(z, "d")) == 3.0);
  CHECK_FALSE(cache.zscore(z, "nope").has_value());
  CHECK_FALSE(cache.zscore(missing, "a").has_value());

  CHECK(cache.zcard(z) == 5);
  CHECK(cache.zcard(missing) == 0);
  CHECK(cache.zcount(z, 2, 3) == 3);
  CHECK(cache.zcount(z, 2.5, 2.9) == 0);
  CHECK(cache.zcount(z, -kInf, kInf) == 5);
  CHECK(cache.zcount(missing, -kInf, kInf) == 0);

  CHECK(cache.zrem(z, {"a", "nope"}) == 1);
  CHECK(cache.zrem(z, {"a"}) == 0);
  CHECK(cache.zrem(missing, {"a"}) == 0);
  CHECK(cache.zcard(z) == 4);
  CHECK(rank_or_minus_one(cache.zrank(z, "b")) == 0);

  SECTION("a sorted set whose last member is removed no longer exists") {
    CHECK(cache.zrem(z, {"b", "c", "d", "e"}) == 4);
    CHECK(cache.zcard(z) == 0);
    CHECK(cache.zrange(z, 0, -1).empty());
    CHECK_FALSE(cache.ttl(z).has_value());
  }
}

TEMPLATE_TEST_CASE("cache sorted sets: scores round-trip exactly", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto z = keys("z");

  const std::vector<ScoredMember> members{
      {"neg", -3},   {"tiny", 1e-7},          {"tenth", 0.1},   {"third", 1.0 / 3},
      {"half", 0.5}, {"frac", 123456789.125}, {"billion", 1e9}, {"huge", 1e300}};
  REQUIRE(cache.zadd(z, members) == static_cast<std::int64_t>(members.size()));
  for (const auto& m : members) {
    CAPTURE(m.member);
    CHECK(exact(score_or_nan(cache.zscore(z, m.member))) == exact(m.score));
  }
  // Already in score order above.
  CHECK(describe(cache.zrange(z, 0, -1)) == describe(members));
  CHECK(describe(cache.zrange_by_score(z, 0.1, 0.5)) ==
        describe(std::vector<ScoredMember>{{"tenth", 0.1}, {"third", 1.0 / 3}, {"half", 0.5}}));
}

// ============================================================================================
// batches
// ============================================================================================

TEMPLATE_TEST_CASE("cache batch: execute returns each command's reply as documented",
                   "[cache][contract]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto s = keys("s");
  const auto t = keys("t");
  const auto n = keys("n");
  const auto h = keys("h");
  const auto z = keys("z");
  const auto missing = keys("missing");
  const auto other = keys.other_tag("o");  // execute is not atomic: any tags may mix

  // Each command next to the reply cache.hpp documents for it.
  Batch batch;
  std::vector<Reply> expected;
  const auto expect = [&expected](Reply r) { expected.push_back(std::move(r)); };
  // clang-format off
  batch.set(s, "v1");             expect(str("OK"));
  batch.get(s);                   expect(str("v1"));
  batch.get(missing);             expect(Reply::nil());
  batch.set(t, "tv", 10s);        expect(str("OK"));
  batch.expire(s, 10s);           expect(num(1));
  batch.expire(missing, 10s);     expect(num(0));
  batch.incr_by(n, 5);            expect(num(5));
  batch.incr_by(n, -7);           expect(num(-2));
  batch.hset(h, "f", "a");        expect(num(1));
  batch.hset(h, "f", "b");        expect(num(0));
  batch.hget(h, "f");             expect(str("b"));
  batch.hget(h, "nope");          expect(Reply::nil());
  batch.hincr_by(h, "c", 3);      expect(num(3));
  batch.hdel(h, "f");             expect(num(1));
  batch.hdel(h, "f");             expect(num(0));
  batch.zadd(z, "m", 1.5);        expect(num(1));
  batch.zadd(z, "big", 1e9);      expect(num(1));
  batch.zadd(z, "neg", -3);       expect(num(1));
  batch.zadd(z, "half", 0.5);     expect(num(1));
  batch.zadd(z, "m", 1.5);        expect(num(0));
  batch.zscore(z, "m");           expect(str("1.5"));  // as Redis prints scores
  batch.zscore(z, "big");         expect(str("1000000000"));
  batch.zscore(z, "neg");         expect(str("-3"));
  batch.zscore(z, "half");        expect(str("0.5"));
  batch.zscore(z, "nope");        expect(Reply::nil());
  batch.zcard(z);                 expect(num(4));
  batch.zrem(z, "neg");           expect(num(1));
  batch.zrem(z, "neg");           expect(num(0));
  batch.zcard(z);                 expect(num(3));
  batch.set(other, "o");          expect(str("OK"));
  batch.del(s);                   expect(num(1));
  batch.del(missing);             expect(num(0));
  batch.get(s);                   expect(Reply::nil());
  // clang-format on
  REQUIRE(batch.size() == expected.size());

  const auto replies = cache.execute(batch);
  CHECK(describe(replies) == describe(expected));
  CHECK(replies == expected);

  // The effects are those of the same commands one by one.
  const auto ttl = cache.ttl(t);
  REQUIRE(ttl.has_value());
  CHECK(ttl->count() > 0);
  CHECK(ttl->count() <= 10'000);
  CHECK(or_nil(cache.get(n)) == "-2");
  CHECK(describe(cache.hgetall(h)) == describe(FieldValues{{"c", "3"}}));
  CHECK(describe(cache.zrange(z, 0, -1)) ==
        describe(std::vector<ScoredMember>{{"half", 0.5}, {"m", 1.5}, {"big", 1e9}}));
  CHECK(or_nil(cache.get(other)) == "o");
}

TEMPLATE_TEST_CASE("cache batch: a publish runs after the commands before it", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto channel = keys.channel("deleted");
  // Keys of many hash tags (on a cluster: of every node); the batch deletes them all.
  std::vector<std::string> written;
  for (int i = 0; i < 8; ++i) {
    written.push_back("{" + keys.channel("k" + std::to_string(i)) + "}:v");
    cache.set(written.back(), "old", 60s);
  }
  // On the message, the handler reads every key: each delete must have run by then.
  auto seen = std::make_shared<Inbox>();
  const auto subscription =
      cache.subscribe(channel, [&cache, &written, seen](std::string_view ch, std::string_view) {
        std::string still;
        try {
          for (const auto& k : written) {
            if (cache.get(k)) still += k + " ";
          }
        } catch (const examstore::Error& e) {
          still = e.what();
        }
        seen->add(ch, still);
      });

  Batch batch;
  for (const auto& k : written) batch.del(k);
  batch.publish(channel, "done").publish(keys.channel("nobody"), "x");
  const auto replies = cache.execute(batch);
  REQUIRE(replies.size() == written.size() + 2);
  for (std::size_t i = 0; i < written.size(); ++i) CHECK(replies[i] == Reply::of(std::int64_t{1}));
  CHECK(replies[written.size()] == Reply::of(std::int64_t{1}));
  CHECK(replies[written.size() + 1] == Reply::of(std::int64_t{0}));
  REQUIRE(seen->wait_for(1));
  CHECK(seen->channels() == std::vector<std::string>{channel});
  CHECK(seen->messages() == std::vector<std::string>{""});
}

TEMPLATE_TEST_CASE("cache batch: an empty batch returns no replies", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();

  const Batch empty{};
  CHECK(cache.execute(empty).empty());
  CHECK(cache.execute_atomic(empty).empty());
}

TEMPLATE_TEST_CASE("cache batch: a failing command fails execute after all commands ran",
                   "[cache][contract]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto a = keys("a");
  const auto b = keys("b");

  Batch batch;
  batch.set(a, "x").hget(a, "f").set(b, "y");
  CHECK(thrown_code([&] { cache.execute(batch); }) == kInvalidArgument);
  CHECK(or_nil(cache.get(a)) == "x");
  CHECK(or_nil(cache.get(b)) == "y");
}

// ============================================================================================
// atomic batches
// ============================================================================================

TEMPLATE_TEST_CASE("cache atomic: execute_atomic applies every command", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto a = keys("a");
  const auto n = keys("n");
  const auto h = keys("h");
  const auto z = keys("z");

  Batch batch;
  batch.set(a, "1").incr_by(n, 2).hset(h, "f", "v").zadd(z, "m", 2.5).get(a).zscore(z, "m");
  const auto replies = cache.execute_atomic(batch);
  CHECK(describe(replies) ==
        describe(std::vector<Reply>{str("OK"), num(2), num(1), num(1), str("1"), str("2.5")}));

  CHECK(or_nil(cache.get(a)) == "1");
  CHECK(or_nil(cache.get(n)) == "2");
  CHECK(or_nil(cache.hget(h, "f")) == "v");
  CHECK(score_or_nan(cache.zscore(z, "m")) == 2.5);
}

TEMPLATE_TEST_CASE("cache atomic: keys of two hash tags are rejected and nothing is applied",
                   "[cache][contract]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto a = keys("a");
  const auto b = keys.other_tag("b");

  const auto n = keys("n");

  Batch batch;
  batch.set(a, "1").incr_by(n, 1).set(b, "2");
  CHECK(thrown_code([&] { cache.execute_atomic(batch); }) == kInvalidArgument);
  CHECK_FALSE(cache.get(a).has_value());
  CHECK_FALSE(cache.get(n).has_value());
  CHECK_FALSE(cache.get(b).has_value());
}

TEMPLATE_TEST_CASE("cache atomic: concurrent readers never see half a batch",
                   "[cache][contract][concurrency]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto a = keys("a");
  const auto b = keys("b");
  constexpr int kWriters = 4;
  constexpr int kBatchesPerWriter = 200;

  std::atomic<int> started{0};
  std::atomic<int> writers_done{0};
  std::atomic<int> reads{0};
  std::atomic<int> torn_reads{0};
  std::mutex example_mu;
  std::string torn_example;  // guarded by example_mu

  run_threads(kWriters + 1, [&](int i) {
    // All start together, so that the reads overlap the writes.
    ++started;
    while (started.load() < kWriters + 1) std::this_thread::yield();
    if (i < kWriters) {
      Batch batch;
      batch.incr_by(a, 1).incr_by(b, 1);
      try {
        for (int j = 0; j < kBatchesPerWriter; ++j) cache.execute_atomic(batch);
      } catch (...) {
        ++writers_done;
        throw;
      }
      ++writers_done;
      return;
    }
    Batch read;
    read.get(a).get(b);
    // Reads at least once after the writers finished, so the last read sees the final values.
    bool last = false;
    while (!last) {
      last = writers_done.load() == kWriters;
      const auto replies = cache.execute_atomic(read);
      ++reads;
      if (replies.size() != 2 || !(replies[0] == replies[1])) {
        ++torn_reads;
        std::lock_guard<std::mutex> lock(example_mu);
        if (torn_example.empty()) torn_example = describe(array(replies));
      }
    }
  });

  INFO("first torn read: " << torn_example);
  CHECK(torn_reads.load() == 0);
  CHECK(reads.load() > 0);
  CHECK(or_nil(cache.get(a)) == "800");
  CHECK(or_nil(cache.get(b)) == "800");
}

// ============================================================================================
// scripts
// ============================================================================================

TEMPLATE_TEST_CASE("cache scripts: compare-and-set", "[cache][contract]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto k = keys("k");
  const Script cas = compare_and_set();

  CHECK(describe(cache.run(cas, {k}, {"", "v1"})) == describe(num(1)));  // absent -> set
  CHECK(or_nil(cache.get(k)) == "v1");
  CHECK(describe(cache.run(cas, {k}, {"", "v2"})) == describe(num(0)));  // not absent
  CHECK(describe(cache.run(cas, {k}, {"wrong", "v2"})) == describe(num(0)));
  CHECK(or_nil(cache.get(k)) == "v1");
  CHECK(describe(cache.run(cas, {k}, {"v1", "v2"})) == describe(num(1)));
  CHECK(or_nil(cache.get(k)) == "v2");
}

TEMPLATE_TEST_CASE("cache scripts: array and nil replies", "[cache][contract]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto k = keys("k");
  const auto missing = keys("missing");

  cache.set(k, "v");
  CHECK(describe(cache.run(read_as_array(), {k}, {"x"})) ==
        describe(array({str("v"), num(1), array({str("x"), num(2)})})));
  CHECK(cache.run(read_as_array(), {k}, {"x"}) ==
        array({str("v"), num(1), array({str("x"), num(2)})}));

  CHECK(describe(cache.run(read_value(), {missing}, {})) == "nil");
  CHECK(cache.run(read_value(), {missing}, {}).is_nil());
  CHECK(describe(cache.run(read_value(), {k}, {})) == describe(str("v")));
}

TEMPLATE_TEST_CASE("cache scripts: keys of two hash tags are rejected", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto a = keys("a");
  const auto b = keys.other_tag("b");

  CHECK(thrown_code([&] { cache.run(compare_and_set(), {a, b}, {"", "v"}); }) == kInvalidArgument);
  CHECK_FALSE(cache.get(a).has_value());
  CHECK_FALSE(cache.get(b).has_value());
}

TEMPLATE_TEST_CASE("cache scripts: concurrent compare-and-set increments lose no update",
                   "[cache][contract][concurrency]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto counter = keys("counter");
  const Script cas = compare_and_set();
  constexpr int kThreads = 4;
  constexpr int kIncrementsPerThread = 100;

  run_threads(kThreads, [&](int) {
    for (int done = 0, attempts = 0; done < kIncrementsPerThread; ++attempts) {
      if (attempts > 100'000) throw std::runtime_error("compare-and-set never succeeded");
      const auto current = cache.get(counter);
      const std::int64_t next = (current ? std::stoll(*current) : 0) + 1;
      const Reply reply = cache.run(cas, {counter}, {current.value_or(""), std::to_string(next)});
      if (reply.type != Reply::Type::kInteger) {
        throw std::runtime_error("compare-and-set replied " + describe(reply));
      }
      if (reply.integer == 1) ++done;
    }
  });

  CHECK(or_nil(cache.get(counter)) == std::to_string(kThreads * kIncrementsPerThread));
}

// ============================================================================================
// the live violation counters' scripts (src/repo/violation_counts.hpp)
// ============================================================================================

namespace {

examstore::Violation counted_violation(std::int64_t id, std::int64_t student,
                                       examstore::ViolationKind kind) {
  examstore::Violation v;
  v.id = id;
  v.student_id = student;
  v.kind = kind;
  return v;
}

/// Runs the count script at `now_ms` (a 300 s window) over `vs`; returns how many it counted.
std::int64_t count_violations(Cache& cache, const std::vector<std::string>& keys,
                              const std::vector<examstore::Violation>& vs,
                              std::int64_t now_ms = 1000000) {
  const std::int64_t window = 300000;
  std::vector<std::string> args = {std::to_string(now_ms), std::to_string(now_ms - window),
                                   std::to_string(window)};
  for (const auto& v : vs) args.push_back(examstore::repo::counted_member(v));
  return cache.run(examstore::repo::violation_count_script(), keys, args).integer;
}

std::map<std::string, std::string> hash_of(Cache& cache, const std::string& key) {
  std::map<std::string, std::string> out;
  for (const auto& [f, v] : cache.hgetall(key)) out[f] = v;
  return out;
}

}  // namespace

TEMPLATE_TEST_CASE("cache scripts: a violation count resent with the same ids counts once",
                   "[cache][contract][violation]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys k(cache);
  const std::vector<std::string> keys = {k("kind"), k("student"), k("counted")};
  using examstore::ViolationKind;
  const std::vector<examstore::Violation> vs = {
      counted_violation(101, 5, ViolationKind::kTabSwitch),
      counted_violation(102, 5, ViolationKind::kTabSwitch),
      counted_violation(103, 6, ViolationKind::kCopyPaste)};
  CHECK(examstore::repo::violation_count_script().idempotent);
  CHECK(count_violations(cache, keys, vs) == 3);
  CHECK(count_violations(cache, keys, vs) == 0);  // the resend
  CHECK(count_violations(cache, keys,
                         {vs[1], counted_violation(104, 6, ViolationKind::kTabSwitch)}) == 1);
  const std::string tab(examstore::to_string(ViolationKind::kTabSwitch));
  const std::string copy(examstore::to_string(ViolationKind::kCopyPaste));
  CHECK(hash_of(cache, keys[0]) == std::map<std::string, std::string>{{tab, "3"}, {copy, "1"}});
  CHECK(hash_of(cache, keys[1]) == std::map<std::string, std::string>{
                                       {"5:" + tab, "2"}, {"6:" + tab, "1"}, {"6:" + copy, "1"}});
  CHECK(cache.zcard(keys[2]) == 4);
  // Past the window an id is forgotten, and the set no longer holds it.
  CHECK(count_violations(cache, keys, {counted_violation(105, 5, ViolationKind::kTabSwitch)},
                         1000000 + 300001) == 1);
  CHECK(cache.zcard(keys[2]) == 1);
}

TEMPLATE_TEST_CASE("cache scripts: a violation recount replaces the counters and keeps late counts",
                   "[cache][contract][violation]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys k(cache);
  const std::vector<std::string> keys = {k("kind"), k("student"), k("counted")};
  using examstore::ViolationKind;
  const std::string tab(examstore::to_string(ViolationKind::kTabSwitch));
  const auto known = counted_violation(201, 5, ViolationKind::kTabSwitch);
  const auto late = counted_violation(202, 6, ViolationKind::kTabSwitch);
  count_violations(cache, keys, {known, late});
  cache.hset(keys[0], {{tab, "40"}});  // drifted, as after counts lost in an outage
  // The database holds 201 and 300 (counted nowhere); 202 was counted while it was read.
  const std::vector<std::string> args = {
      "1", "2", tab, "2", "5:" + tab, "1", "7:" + tab, "1", examstore::repo::counted_member(known)};
  CHECK(examstore::repo::violation_recount_script().idempotent);
  for (int i = 0; i < 2; ++i) {  // sent twice: the same result
    CHECK(cache.run(examstore::repo::violation_recount_script(), keys, args).integer == 1);
    CHECK(hash_of(cache, keys[0]) == std::map<std::string, std::string>{{tab, "3"}});
    CHECK(hash_of(cache, keys[1]) == std::map<std::string, std::string>{
                                         {"5:" + tab, "1"}, {"6:" + tab, "1"}, {"7:" + tab, "1"}});
  }
}

// ============================================================================================
// hash tags
// ============================================================================================

TEST_CASE("cache hash_tag: the Redis Cluster rule", "[cache][contract]") {
  CHECK(examstore::hash_tag("a{b}c") == "b");
  CHECK(examstore::hash_tag("exam:{e:42}:cfg") == "e:42");
  CHECK(examstore::hash_tag("a{}c") == "a{}c");
  CHECK(examstore::hash_tag("{}{x}") == "{}{x}");  // only the first '{' counts
  CHECK(examstore::hash_tag("{x}{y}") == "x");
  CHECK(examstore::hash_tag("a}b{c}") == "c");
  CHECK(examstore::hash_tag("{{x}}") == "{x");
  CHECK(examstore::hash_tag("plain") == "plain");
  CHECK(examstore::hash_tag("a{b") == "a{b");
  CHECK(examstore::hash_tag("") == "");
}

// ============================================================================================
// publish / subscribe
// ============================================================================================

TEMPLATE_TEST_CASE("cache pub/sub: a subscriber receives the exact channel and message",
                   "[cache][contract]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto channel = keys.channel("news");
  const auto other_channel = keys.channel("other");

  CHECK(cache.publish(keys.channel("nobody"), "x") == 0);

  auto inbox = std::make_shared<Inbox>();
  auto other = std::make_shared<Inbox>();
  const auto subscription = cache.subscribe(channel, collect_into(inbox));
  const auto other_subscription = cache.subscribe(other_channel, collect_into(other));

  CHECK(cache.publish(channel, "hello") == 1);
  REQUIRE(inbox->wait_for(1));
  CHECK(cache.publish(channel, "world") == 1);
  REQUIRE(inbox->wait_for(2));
  CHECK(inbox->channels() == std::vector<std::string>{channel, channel});
  CHECK(inbox->messages() == std::vector<std::string>{"hello", "world"});
  CHECK(other->messages().empty());
}

TEMPLATE_TEST_CASE("cache pub/sub: binary messages arrive intact", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto channel = keys.channel("binary");
  const std::string message =
      std::string("a\0b\0", 4) + "\xff\xfe\x80" + "\r\n*3\r\n" + "\xc3\xa9" + std::string(1, '\0');

  auto inbox = std::make_shared<Inbox>();
  const auto subscription = cache.subscribe(channel, collect_into(inbox));
  CHECK(cache.publish(channel, message) == 1);
  REQUIRE(inbox->wait_for(1));
  REQUIRE(inbox->messages().size() == 1);
  CHECK(quoted(inbox->messages()[0]) == quoted(message));
}

TEMPLATE_TEST_CASE("cache pub/sub: nothing arrives after the subscription is destroyed",
                   "[cache][contract]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto channel = keys.channel("news");

  auto inbox = std::make_shared<Inbox>();
  auto subscription = cache.subscribe(channel, collect_into(inbox));
  CHECK(cache.publish(channel, "before") == 1);
  REQUIRE(inbox->wait_for(1));

  subscription.reset();
  CHECK(cache.publish(channel, "after") == 0);
  CHECK_FALSE(inbox->wait_for(2, 300ms));
  CHECK(inbox->messages() == std::vector<std::string>{"before"});
}

TEMPLATE_TEST_CASE("cache pub/sub: every subscriber of a channel receives each message",
                   "[cache][contract]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto channel = keys.channel("news");

  auto first = std::make_shared<Inbox>();
  auto second = std::make_shared<Inbox>();
  auto first_subscription = cache.subscribe(channel, collect_into(first));
  const auto second_subscription = cache.subscribe(channel, collect_into(second));

  // Redis counts subscribed connections, which an implementation may share: at least one.
  CHECK(cache.publish(channel, "m1") == 1);
  CHECK(cache.publish(channel, "m2") == 1);
  REQUIRE(first->wait_for(2));
  REQUIRE(second->wait_for(2));
  CHECK(first->messages() == std::vector<std::string>{"m1", "m2"});
  CHECK(second->messages() == std::vector<std::string>{"m1", "m2"});

  SECTION("destroying one subscription leaves the other subscribed") {
    first_subscription.reset();
    CHECK(cache.publish(channel, "m3") == 1);
    REQUIRE(second->wait_for(3));
    CHECK(second->messages() == std::vector<std::string>{"m1", "m2", "m3"});
    CHECK(first->messages() == std::vector<std::string>{"m1", "m2"});
  }
}

TEMPLATE_TEST_CASE("cache pub/sub: a handler that throws does not end the subscription",
                   "[cache][contract]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto channel = keys.channel("news");

  auto inbox = std::make_shared<Inbox>();
  const auto subscription =
      cache.subscribe(channel, [inbox](std::string_view ch, std::string_view message) {
        inbox->add(ch, message);
        if (message == "boom") throw std::runtime_error("handler failed");
      });
  CHECK(cache.publish(channel, "boom") == 1);
  CHECK(cache.publish(channel, "after") == 1);
  REQUIRE(inbox->wait_for(2));
  CHECK(inbox->messages() == std::vector<std::string>{"boom", "after"});
}

// ============================================================================================
// thread safety and health
// ============================================================================================

TEMPLATE_TEST_CASE("cache threads: concurrent incr_by loses no increment",
                   "[cache][contract][concurrency]", CACHE_FIXTURES) {
  TestType fx;
  Cache& cache = fx.cache();
  TestKeys keys(cache);
  const auto k = keys("n");
  constexpr int kThreads = 4;
  constexpr int kIncrementsPerThread = 500;

  std::vector<std::vector<std::int64_t>> seen(kThreads);
  run_threads(kThreads, [&](int i) {
    auto& mine = seen[static_cast<std::size_t>(i)];
    for (int j = 0; j < kIncrementsPerThread; ++j) mine.push_back(cache.incr_by(k, 1));
  });

  CHECK(or_nil(cache.get(k)) == "2000");
  // Every increment returned a value no other one did: 1 .. 2000, each once.
  std::vector<std::int64_t> all;
  for (const auto& v : seen) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  std::vector<std::int64_t> expected(kThreads * kIncrementsPerThread);
  for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = static_cast<std::int64_t>(i) + 1;
  CHECK(all == expected);
}

TEMPLATE_TEST_CASE("cache health: one round trip reports the backend up", "[cache][contract]",
                   CACHE_FIXTURES) {
  TestType fx;

  const examstore::BackendHealth health = fx.cache().health();
  INFO("error: " << health.error);
  CHECK(health.ok);
  CHECK(health.error.empty());
  CHECK(health.role == "cache");
  CHECK(health.kind == TestType::kKind);
}
