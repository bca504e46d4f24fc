// tests/contract/violation_counts_test.cpp: the live violation counters' scripts
// (src/repo/violation_counts.hpp) on every Cache: a count resent with the same violation ids
// (as the failover ride-through resends an idempotent script whose reply was lost) adds nothing,
// and a recount keeps what was counted while it read the database. Run on the in-memory cache
// (MemoryFixture), the test Redis (RedisFixture) and the test Redis Cluster (ClusterFixture);
// select the server halves by name ("*RedisFixture", "*ClusterFixture").
#include <catch2/catch.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "examstore/cache.hpp"
#include "examstore/config.hpp"
#include "examstore/store.hpp"
#include "repo/keys.hpp"
#include "repo/violation_counts.hpp"
#include "support/test_env.hpp"

namespace {

using examstore::Cache;
using examstore::Violation;
using examstore::ViolationKind;

class MemoryFixture {
 public:
  MemoryFixture() : cache_(examstore::make_memory_cache()) {}
  Cache& cache() { return *cache_; }

 private:
  std::unique_ptr<Cache> cache_;
};

class RedisFixture {
 public:
  RedisFixture()
      : store_(examstore::Store::open(
            examstore::Config{}.with_redis_url(examstore::test::redis_url()))) {}
  Cache& cache() { return store_->cache(); }

 private:
  std::unique_ptr<examstore::Store> store_;
};

class ClusterFixture {
 public:
  ClusterFixture()
      : store_(examstore::Store::open(
            examstore::Config{}.with_redis_url(examstore::test::cluster_url()))) {}
  Cache& cache() { return store_->cache(); }

 private:
  std::unique_ptr<examstore::Store> store_;
};

Violation violation(std::int64_t id, std::int64_t student, ViolationKind kind) {
  Violation v;
  v.id = id;
  v.exam_id = 7;
  v.student_id = student;
  v.kind = kind;
  return v;
}

struct Counters {
  explicit Counters(Cache& c)
      : cache(c), schema(examstore::test::unique_name("vc") + ":"), exam(7) {
    keys = {schema.violation_counts(exam), schema.violation_counts_by_student(exam),
            schema.violation_counted(exam)};
  }
  ~Counters() {
    try {
      cache.del(keys);
    } catch (...) {
    }
  }
  Counters(const Counters&) = delete;
  Counters& operator=(const Counters&) = delete;

  std::int64_t count(const std::vector<Violation>& vs, std::int64_t now_ms = 1000000) {
    const std::int64_t window = 300000;
    std::vector<std::string> args = {std::to_string(now_ms), std::to_string(now_ms - window),
                                     std::to_string(window)};
    for (const auto& v : vs) args.push_back(examstore::repo::counted_member(v));
    return cache.run(examstore::repo::violation_count_script(), keys, args).integer;
  }
  std::map<std::string, std::string> hash(std::size_t i) {
    std::map<std::string, std::string> out;
    for (const auto& [f, v] : cache.hgetall(keys[i])) out[f] = v;
    return out;
  }

  Cache& cache;
  examstore::keys::KeySchema schema;
  std::int64_t exam;
  std::vector<std::string> keys;
};

}  // namespace

TEMPLATE_TEST_CASE("violation counts: a count resent with the same ids counts once",
                   "[violation][contract]", MemoryFixture, RedisFixture, ClusterFixture) {
  TestType fixture;
  Counters c(fixture.cache());
  const std::vector<Violation> vs = {violation(101, 5, ViolationKind::kTabSwitch),
                                     violation(102, 5, ViolationKind::kTabSwitch),
                                     violation(103, 6, ViolationKind::kCopyPaste)};
  CHECK(examstore::repo::violation_count_script().idempotent);
  CHECK(c.count(vs) == 3);
  CHECK(c.count(vs) == 0);  // the resend
  CHECK(c.count({vs[1], violation(104, 6, ViolationKind::kTabSwitch)}) == 1);
  const std::string tab(examstore::to_string(ViolationKind::kTabSwitch));
  const std::string copy(examstore::to_string(ViolationKind::kCopyPaste));
  CHECK(c.hash(0) == std::map<std::string, std::string>{{tab, "3"}, {copy, "1"}});
  CHECK(c.hash(1) == std::map<std::string, std::string>{
                         {"5:" + tab, "2"}, {"6:" + tab, "1"}, {"6:" + copy, "1"}});
  CHECK(c.cache.zcard(c.keys[2]) == 4);
  // Past the window an id is forgotten (and the set no longer grows with it).
  CHECK(c.count({violation(105, 5, ViolationKind::kTabSwitch)}, 1000000 + 300001) == 1);
  CHECK(c.cache.zcard(c.keys[2]) == 1);
}

TEMPLATE_TEST_CASE("violation counts: a recount replaces the counters and keeps late counts",
                   "[violation][contract]", MemoryFixture, RedisFixture, ClusterFixture) {
  TestType fixture;
  Counters c(fixture.cache());
  const std::string tab(examstore::to_string(ViolationKind::kTabSwitch));
  const Violation known = violation(201, 5, ViolationKind::kTabSwitch);
  const Violation late = violation(202, 6, ViolationKind::kTabSwitch);
  c.count({known, late});
  c.cache.hset(c.keys[0], {{tab, "40"}});  // drifted, as after counts lost in an outage
  // The database holds 201 and 300 (counted nowhere); 202 was counted while it was read.
  const std::vector<std::string> args = {
      "1", "2", tab, "2", "5:" + tab, "1", "7:" + tab, "1", examstore::repo::counted_member(known)};
  CHECK(examstore::repo::violation_recount_script().idempotent);
  for (int i = 0; i < 2; ++i) {  // sent twice: the same result
    CHECK(c.cache.run(examstore::repo::violation_recount_script(), c.keys, args).integer == 1);
    CHECK(c.hash(0) == std::map<std::string, std::string>{{tab, "3"}});
    CHECK(c.hash(1) == std::map<std::string, std::string>{
                           {"5:" + tab, "1"}, {"6:" + tab, "1"}, {"7:" + tab, "1"}});
  }
}
