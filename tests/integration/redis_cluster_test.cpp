// tests/integration/redis_cluster_test.cpp: the Redis Cluster hot tier beyond the Cache contract
// (which cache_contract_test.cpp runs on the cluster as ClusterFixture): slot hashing against the
// servers' own CLUSTER KEYSLOT, routing of multi-slot calls, a slot migrated under load and a
// master killed, the last two on a private cluster (RedisClusterProcess) so that the shared one
// stays as other tests expect it.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "cache/redis/cluster_slot.hpp"
#include "examstore/cache.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "support/redis_cluster_process.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::Batch;
using examstore::Cache;
using examstore::Config;
using examstore::ErrorCode;
using examstore::Store;
using examstore::redis::key_slot;
using examstore::test::node_command;
using examstore::test::RedisClusterProcess;
using Clock = std::chrono::steady_clock;

int first_port(const std::string& cluster_url) {
  const auto start = cluster_url.find(':', cluster_url.find("//")) + 1;
  return std::stoi(cluster_url.substr(start, cluster_url.find(',') - start));
}

std::unique_ptr<Store> open_cluster(const std::string& url) {
  return Store::open(Config{}.with_redis_url(url));
}

// A key of the exam-like tag `tag` whose slot is served by a master other than those of `avoid`.
std::string tag_on_other_node(RedisClusterProcess& cluster, std::set<int>& used) {
  for (int i = 0;; ++i) {
    const std::string tag = "{exam:" + std::to_string(i) + "}";
    const int owner = cluster.owner_port(key_slot(tag));
    if (used.insert(owner).second) return tag;
  }
}

}  // namespace

TEST_CASE("cluster slots: crc16 is XMODEM as the Cluster specification gives it", "[cluster]") {
  CHECK(examstore::redis::crc16("123456789") == 0x31C3);
  CHECK(examstore::redis::crc16("") == 0);
  CHECK(key_slot("foo") == 12182);
  CHECK(key_slot("{user1000}.following") == key_slot("{user1000}.followers"));
  CHECK(key_slot("foo{}{bar}") == examstore::redis::crc16("foo{}{bar}") % 16384);
  CHECK(key_slot("foo{{bar}}zap") == key_slot("{bar"));
  CHECK(key_slot("foo{bar}{zap}") == key_slot("bar"));
}

TEST_CASE("cluster slots: every key hashes to the slot the servers compute", "[cluster]") {
  const int port = first_port(examstore::test::cluster_url());
  std::vector<std::string> keys = {"",    "a",      "{",          "}",           "{}",
                                   "{}a", "a{}",    "{a}",        "x{a}y{b}",    "{{a}}",
                                   "a{b", "a}b{c}", "exam:{e:1}", "\xff\x00\x01"};
  for (int i = 0; i < 300; ++i) {
    keys.push_back("sp" + std::to_string(i) + ":attempt:{e:" + std::to_string(i * 7919) +
                   "}:" + std::to_string(i));
    keys.push_back("k" + std::to_string(i * 104729));
  }
  for (const auto& k : keys) {
    INFO("key '" << k << "'");
    CHECK(std::to_string(key_slot(k)) == node_command(port, {"CLUSTER", "KEYSLOT", k}));
  }
}

TEST_CASE("cluster routing: calls over keys of several nodes", "[cluster]") {
  auto store = open_cluster(examstore::test::cluster_url());
  Cache& cache = store->cache();
  const std::string run = examstore::test::unique_name("r");
  std::vector<std::string> keys;
  std::set<int> slots;
  for (int i = 0; i < 40; ++i) {
    keys.push_back(run + ":" + std::to_string(i));  // no tag: spread over the slots
    slots.insert(key_slot(keys.back()));
  }
  REQUIRE(slots.size() > 3);

  SECTION("a batch is split per node and its replies come back in the original order") {
    Batch b;
    for (std::size_t i = 0; i < keys.size(); ++i) b.set(keys[i], "v" + std::to_string(i));
    for (const auto& k : keys) b.get(k);
    const auto replies = cache.execute(b);
    REQUIRE(replies.size() == 2 * keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      CHECK(replies[i].str == "OK");
      CHECK(replies[keys.size() + i].str == "v" + std::to_string(i));
    }
    SECTION("and a multi-key del is split per slot") {
      std::vector<std::string> with_missing = keys;
      with_missing.push_back(run + ":missing");
      CHECK(cache.del(with_missing) == static_cast<std::int64_t>(keys.size()));
      for (const auto& k : keys) CHECK_FALSE(cache.get(k));
    }
  }
  SECTION("atomic calls over keys of two slots are refused, naming the slots") {
    std::string message;
    Batch b;
    b.set(keys[0], "x").set(keys[1], "y");
    REQUIRE(key_slot(keys[0]) != key_slot(keys[1]));
    CHECK(examstore::test::code_of([&] { cache.execute_atomic(b); }, &message) ==
          ErrorCode::kInvalidArgument);
    CHECK_THAT(message, Catch::Contains("slot " + std::to_string(key_slot(keys[0]))));
    CHECK_THAT(message, Catch::Contains("slot " + std::to_string(key_slot(keys[1]))));
    examstore::Script s{"noop", "return 1",
                        [](Cache&, const auto&, const auto&) { return examstore::Reply::of(1); }};
    CHECK(examstore::test::code_of([&] {
            cache.run(s, {keys[0], keys[1]}, {});
          }) == ErrorCode::kInvalidArgument);
    CHECK_FALSE(cache.get(keys[0]));
  }
  SECTION("health checks every master") {
    const auto h = cache.health();
    INFO(h.error);
    CHECK(h.ok);
    CHECK_THAT(h.endpoint, Catch::Contains("3 masters"));
  }
  cache.del(keys);
}

TEST_CASE("cluster migration: a slot moved under load loses no call and no data",
          "[cluster][concurrency]") {
  RedisClusterProcess cluster(3, 0);
  auto store = open_cluster(cluster.url());
  Cache& cache = store->cache();

  const std::string tag = "{exam:42}";
  const int slot = key_slot(tag);
  const int source = cluster.owner_port(slot);
  int target = 0;
  for (int p : cluster.master_ports()) {
    if (p != source) target = p;
  }
  REQUIRE(source != 0);
  REQUIRE(target != 0);
  // Data before the move: 200 keys of the exam's slot.
  for (int i = 0; i < 200; ++i) cache.set("seat:" + tag + ":" + std::to_string(i), "s");

  constexpr int kThreads = 4;
  std::atomic<bool> stop{false};
  std::atomic<int> calls{0};
  std::mutex mu;  // guards failures and acknowledged
  std::vector<std::string> failures;
  std::vector<std::int64_t> acknowledged(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string counter = "count:" + tag + ":" + std::to_string(t);
      const std::string hash = "hash:" + tag + ":" + std::to_string(t);
      for (std::int64_t n = 1; !stop; ++n) {
        try {
          // a single-key write, an atomic batch of one slot, a script and a cross-node pipeline
          if (cache.incr_by(counter, 1) != n) throw std::runtime_error("counter skipped");
          Batch b;
          b.hset(hash, "n", std::to_string(n)).hincr_by(hash, "calls", 1);
          cache.execute_atomic(b);
          cache.get("seat:" + tag + ":" + std::to_string(n % 200));
          Batch spread;
          spread.get(counter).get("elsewhere:" + std::to_string(n));
          if (cache.execute(spread)[0].str != std::to_string(n))
            throw std::runtime_error("pipeline read a stale counter");
          calls += 4;
          std::lock_guard<std::mutex> l(mu);
          acknowledged[static_cast<std::size_t>(t)] = n;
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> l(mu);
          failures.push_back(e.what());
          return;
        }
      }
    });
  }

  std::this_thread::sleep_for(100ms);
  const std::string source_id = cluster.node_id(source);
  const std::string target_id = cluster.node_id(target);
  const std::string s = std::to_string(slot);
  node_command(target, {"CLUSTER", "SETSLOT", s, "IMPORTING", source_id});
  node_command(source, {"CLUSTER", "SETSLOT", s, "MIGRATING", target_id});
  int batches = 0;
  for (;;) {
    const std::string keys = node_command(source, {"CLUSTER", "GETKEYSINSLOT", s, "10"});
    if (keys.empty()) break;
    std::vector<std::string> argv = {"MIGRATE", "127.0.0.1", std::to_string(target), "", "0",
                                     "5000",    "KEYS"};
    std::size_t from = 0;
    while (from <= keys.size()) {
      const auto nl = keys.find('\n', from);
      argv.push_back(keys.substr(from, nl == std::string::npos ? std::string::npos : nl - from));
      if (nl == std::string::npos) break;
      from = nl + 1;
    }
    node_command(source, argv);
    ++batches;
    std::this_thread::sleep_for(2ms);  // let the load hit a half-moved slot
  }
  for (int p : cluster.master_ports()) {
    node_command(p, {"CLUSTER", "SETSLOT", s, "NODE", target_id});
  }
  const int calls_at_move = calls.load();
  std::this_thread::sleep_for(200ms);
  stop = true;
  for (auto& th : threads) th.join();

  INFO("failures: " << (failures.empty() ? "" : failures.front()));
  CHECK(failures.empty());
  CHECK(batches > 1);
  CHECK(calls.load() > calls_at_move);  // the load went on after the move
  CHECK(cluster.owner_port(slot, target) == target);
  // The load did meet the half-moved slot, and the redirections were absorbed.
  const std::string redirected = node_command(source, {"INFO", "errorstats"});
  INFO("source node errorstats: " << redirected);
  CHECK(redirected.find("errorstat_ASK") != std::string::npos);
  CHECK(redirected.find("errorstat_MOVED") != std::string::npos);
  for (int t = 0; t < kThreads; ++t) {
    const std::string counter = "count:" + tag + ":" + std::to_string(t);
    CHECK(cache.get(counter) == std::to_string(acknowledged[static_cast<std::size_t>(t)]));
    CHECK(cache.hget("hash:" + tag + ":" + std::to_string(t), "calls") ==
          std::to_string(acknowledged[static_cast<std::size_t>(t)]));
  }
  for (int i = 0; i < 200; ++i) CHECK(cache.get("seat:" + tag + ":" + std::to_string(i)) == "s");
  CHECK(node_command(target, {"CLUSTER", "COUNTKEYSINSLOT", s}) ==
        std::to_string(200 + 2 * kThreads));
}

TEST_CASE("cluster failover: a killed master's replica takes over, other slots are unaffected",
          "[cluster]") {
  RedisClusterProcess cluster(3, 1, 500);
  auto store = open_cluster(cluster.url());
  Cache& cache = store->cache();

  std::set<int> used;
  const std::string victim_tag = tag_on_other_node(cluster, used);
  const std::string other_tag = tag_on_other_node(cluster, used);
  const int victim = cluster.owner_port(key_slot(victim_tag));
  for (int i = 0; i < 100; ++i) {
    cache.set("v:" + victim_tag + ":" + std::to_string(i), std::to_string(i));
    cache.set("o:" + other_tag + ":" + std::to_string(i), std::to_string(i));
  }
  // Asynchronous replication: wait until the victim's replica has everything, so that the
  // failover itself, not replication lag, is what this test looks at.
  const auto synced_by = Clock::now() + 10s;
  for (;;) {
    const std::string info = node_command(victim, {"INFO", "replication"});
    const auto master_offset = info.substr(info.find("master_repl_offset:") + 19);
    const auto slave = info.find("slave0:");
    if (slave != std::string::npos) {
      const auto offset = info.find("offset=", slave) + 7;
      if (std::stoll(info.substr(offset)) == std::stoll(master_offset)) break;
    }
    REQUIRE(Clock::now() < synced_by);
    std::this_thread::sleep_for(20ms);
  }

  // A subscriber of a channel of the victim's slot: it must follow the slot to the new master.
  std::mutex inbox_mu;  // guards inbox
  std::vector<std::string> inbox;
  const auto subscription =
      cache.subscribe("ch:" + victim_tag, [&](std::string_view, std::string_view message) {
        std::lock_guard<std::mutex> l(inbox_mu);
        inbox.emplace_back(message);
      });

  cluster.kill(victim);
  const auto killed = Clock::now();
  int errors = 0, other_failures = 0;
  std::string last_error;
  bool resumed = false;
  for (int i = 0; Clock::now() - killed < 60s; ++i) {
    try {
      cache.set("v:" + victim_tag + ":after", "x");
      resumed = true;
      break;
    } catch (const examstore::Error& e) {
      ++errors;
      last_error = e.what();
      CHECK(e.retryable());
    }
    try {  // the other slots keep working meanwhile
      cache.set("o:" + other_tag + ":during" + std::to_string(i), "y");
    } catch (const examstore::Error& e) {
      ++other_failures;
      last_error = e.what();
    }
  }
  const auto window = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed);
  WARN("cluster failover: writes to the killed master's slot resumed after "
       << window.count() << " ms (" << errors << " failed calls; last error: " << last_error
       << ")");
  REQUIRE(resumed);
  CHECK(other_failures == 0);
  CHECK(cluster.owner_port(key_slot(victim_tag)) != victim);
  for (int i = 0; i < 100; ++i) {
    CHECK(cache.get("o:" + other_tag + ":" + std::to_string(i)) == std::to_string(i));
    CHECK(cache.get("v:" + victim_tag + ":" + std::to_string(i)) == std::to_string(i));
  }
  CHECK(cache.health().ok);

  // The subscription moved to the promoted replica (checked once a second): publish until it
  // hears, bounded.
  bool heard = false;
  for (int i = 0; !heard && Clock::now() - killed < 60s; ++i) {
    cache.publish("ch:" + victim_tag, "after failover");
    std::this_thread::sleep_for(100ms);
    std::lock_guard<std::mutex> l(inbox_mu);
    heard = !inbox.empty();
  }
  WARN("cluster failover: the subscription heard again "
       << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed).count()
       << " ms after the kill");
  CHECK(heard);
}

TEST_CASE("cluster redirections: MOVED, ASK and TRYAGAIN are parsed, anything else is an error",
          "[cluster]") {
  using examstore::redis::parse_redirect;
  using Kind = examstore::redis::Redirect::Kind;
  const auto moved = parse_redirect("MOVED 3999 127.0.0.1:6381");
  CHECK(moved.kind == Kind::kMoved);
  CHECK(moved.slot == 3999);
  CHECK(moved.node == "127.0.0.1:6381");
  const auto ask = parse_redirect("ASK 16383 10.0.0.2:7000");
  CHECK(ask.kind == Kind::kAsk);
  CHECK(ask.slot == 16383);
  CHECK(ask.node == "10.0.0.2:7000");
  CHECK(parse_redirect("TRYAGAIN Multiple keys request during rehashing of slot").kind ==
        Kind::kTryAgain);
  CHECK(parse_redirect("CLUSTERDOWN The cluster is down").kind == Kind::kTryAgain);
  // malformed or foreign: reported as the error it is, never followed
  for (const char* e : {"MOVED 16384 127.0.0.1:1", "MOVED -1 127.0.0.1:1", "MOVED 12", "MOVED  a:1",
                        "MOVED 12 ", "ASK x 127.0.0.1:1", "WRONGTYPE Operation", "ASKING", ""}) {
    INFO("'" << e << "'");
    CHECK(parse_redirect(e).kind == Kind::kNone);
  }
}
