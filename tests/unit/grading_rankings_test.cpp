// tests/unit/grading_rankings_test.cpp: rankings as sorted sets (grading/grading_rankings.hpp)
// against a plain computation, on the in-memory cache and on the test Redis, over a store that
// only knows ranking rows. Seeded randomness.
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cache/redis/redis_cache.hpp"
#include "examstore/config.hpp"
#include "grading/grading_db.hpp"
#include "grading/grading_keys.hpp"
#include "grading/grading_rankings.hpp"
#include "support/tcp_proxy.hpp"
#include "support/test_env.hpp"

namespace {

using examstore::RankEntry;
using examstore::Scope;
using examstore::ScopeKind;
using examstore::StudentId;
using examstore::db::RankingRow;

// A GradingStore that only answers ranking queries; `before_query` runs inside ranking() (to
// race a rebuild).
class RowsStore : public examstore::db::GradingStore {
 public:
  std::map<StudentId, double> rows;
  std::function<void()> before_query;
  std::function<void()> before_row;
  int queries = 0;

  std::vector<RankingRow> ranking(const Scope&) override {
    ++queries;
    if (before_query) std::exchange(before_query, nullptr)();  // runs once
    std::vector<RankingRow> out;
    for (const auto& [s, v] : rows) out.push_back({s, v});
    return out;
  }
  std::optional<RankingRow> ranking_row(const Scope&, StudentId s) override {
    if (before_row) std::exchange(before_row, nullptr)();
    const auto it = rows.find(s);
    if (it == rows.end()) return std::nullopt;
    return RankingRow{it->first, it->second};
  }
  std::vector<std::optional<RankingRow>> ranking_rows(const std::vector<Scope>& scopes,
                                                      StudentId s) override {
    std::vector<std::optional<RankingRow>> out;
    for (const Scope& scope : scopes) out.push_back(ranking_row(scope, s));
    return out;
  }

  [[noreturn]] static void no() { throw std::logic_error("not used by rankings"); }
  examstore::SchoolClass create_class(const examstore::NewClass&, examstore::TimePoint) override {
    no();
  }
  std::optional<examstore::SchoolClass> get_class(examstore::ClassId) override { no(); }
  std::int64_t add_members(examstore::ClassId, const std::vector<StudentId>&) override { no(); }
  std::int64_t remove_members(examstore::ClassId, const std::vector<StudentId>&) override { no(); }
  std::vector<StudentId> members(examstore::ClassId) override { no(); }
  std::vector<examstore::ClassId> classes_of(StudentId) override { no(); }
  examstore::Assignment create_assignment(const examstore::NewAssignment&,
                                          examstore::TimePoint) override {
    no();
  }
  std::optional<examstore::Assignment> get_assignment(examstore::AssignmentId) override { no(); }
  std::vector<examstore::Assignment> assignments(examstore::ClassId) override { no(); }
  examstore::Submission submit(const examstore::NewSubmission&, int,
                               examstore::TimePoint) override {
    no();
  }
  std::optional<examstore::Submission> get_submission(examstore::SubmissionId) override { no(); }
  std::vector<examstore::Submission> submissions(examstore::AssignmentId) override { no(); }
  std::int64_t create_exam_tasks(examstore::ExamId, int, examstore::TimePoint) override { no(); }
  std::optional<examstore::GradingTask> get_task(examstore::GradingTaskId) override { no(); }
  std::vector<examstore::GradingTask> tasks(const examstore::TaskFilter&) override { no(); }
  std::vector<std::int64_t> gradable_questions(examstore::GradingTaskId) override { no(); }
  std::optional<examstore::Lease> claim(const examstore::ClaimRequest&,
                                        examstore::TimePoint) override {
    no();
  }
  examstore::Lease renew(examstore::GradingTaskId, std::int64_t, std::chrono::seconds,
                         examstore::TimePoint) override {
    no();
  }
  examstore::db::CompletionEffect complete(const examstore::db::Completion&) override { no(); }
  examstore::GradingTask fail(examstore::GradingTaskId, std::int64_t, const std::string&,
                              std::chrono::seconds, examstore::TimePoint) override {
    no();
  }
  examstore::GradingTask regrade(examstore::GradingTaskId, const std::string&,
                                 examstore::TimePoint) override {
    no();
  }
  std::vector<examstore::GradingResult> results(examstore::GradingTaskId) override { no(); }
  std::vector<examstore::GradingResult> result_history(examstore::GradingTaskId) override { no(); }
  std::vector<examstore::ErrorFinding> error_analysis(examstore::GradingTaskId) override { no(); }
  examstore::GradingStatistics statistics(const Scope&, examstore::TimePoint) override { no(); }
  std::vector<examstore::Submission> submissions_of(StudentId) override { no(); }
  std::vector<examstore::GradingTask> tasks_of(StudentId) override { no(); }
  std::int64_t erase_text(StudentId) override { no(); }
};

struct MemoryCache {
  std::unique_ptr<examstore::Cache> cache = examstore::make_memory_cache();
};
struct RedisCache {
  std::unique_ptr<examstore::Cache> cache =
      examstore::redis::make_redis_cache(examstore::parse_redis_url(examstore::test::redis_url()));
};

// The expected ranking: score descending, then id; competition ranks.
std::vector<RankEntry> expected(const std::map<StudentId, double>& rows) {
  std::vector<RankEntry> out;
  for (const auto& [s, v] : rows) out.push_back({0, s, v});
  std::sort(out.begin(), out.end(), [](const RankEntry& x, const RankEntry& y) {
    return x.score != y.score ? x.score > y.score : x.student_id < y.student_id;
  });
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].rank = i > 0 && out[i].score == out[i - 1].score ? out[i - 1].rank
                                                            : static_cast<std::int64_t>(i) + 1;
  }
  return out;
}

void same(const std::vector<RankEntry>& got, const std::vector<RankEntry>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    INFO("position " << i);
    CHECK(got[i].student_id == want[i].student_id);
    CHECK(got[i].rank == want[i].rank);
    CHECK(got[i].score == want[i].score);
  }
}

}  // namespace

TEMPLATE_TEST_CASE("grading rankings match a plain computation with many ties",
                   "[grading][rankings]", MemoryCache, RedisCache) {
  TestType fx;
  RowsStore store;
  std::mt19937 rng(20261122);
  std::uniform_int_distribution<int> score(0, 12);  // few distinct scores: many ties
  for (StudentId s = 1; s <= 200; ++s) store.rows[s * 7] = score(rng) * 2.5;
  const examstore::GradingOptions options;
  const examstore::grading::GradingKeys keys(examstore::test::unique_name("rk") + ":", options);
  examstore::grading::Rankings r(*fx.cache, keys, store, std::chrono::seconds(60));
  const Scope scope{ScopeKind::kExam, 5};
  const auto want = expected(store.rows);

  same(r.top(scope, 1000), want);  // the rebuild serves its own rows
  CHECK(store.queries == 1);
  for (const int n : {1, 2, 17, 200, 1000}) {
    const auto got = r.top(scope, n);
    same(got, std::vector<RankEntry>(want.begin(),
                                     want.begin() + std::min<std::size_t>(want.size(), n)));
  }
  for (std::size_t p = 0; p < want.size(); p += 13) {
    const auto e = r.rank_of(scope, want[p].student_id);
    REQUIRE(e);
    CHECK(e->rank == want[p].rank);
    for (const int radius : {0, 1, 5}) {
      const std::size_t lo = p >= static_cast<std::size_t>(radius) ? p - radius : 0;
      const std::size_t hi = std::min(want.size(), p + radius + 1);
      same(r.around(scope, want[p].student_id, radius),
           std::vector<RankEntry>(want.begin() + lo, want.begin() + hi));
    }
  }
  CHECK(store.queries == 1);  // every later read was served by the hot tier
  CHECK_FALSE(r.rank_of(scope, 3));
  CHECK(r.around(scope, 3, 4).empty());

  // Updates: a new student, a changed score, a removal.
  store.rows[3] = 100;
  r.update(scope, 3);
  store.rows[7] = -1;
  r.update(scope, 7);
  store.rows.erase(14);
  r.update(scope, 14);
  same(r.top(scope, 1000), expected(store.rows));
  CHECK(store.queries == 1);
}

TEMPLATE_TEST_CASE("grading rankings: a rebuild raced by a completion is not stored",
                   "[grading][rankings]", MemoryCache, RedisCache) {
  TestType fx;
  RowsStore store;
  store.rows = {{1, 10}, {2, 20}};
  const examstore::GradingOptions options;
  const examstore::grading::GradingKeys keys(examstore::test::unique_name("rk") + ":", options);
  examstore::grading::Rankings r(*fx.cache, keys, store, std::chrono::seconds(60));
  const Scope scope{ScopeKind::kAssignment, 9};
  // A completion commits and updates while the rebuild's query runs (the query saw it already).
  store.before_query = [&] {
    store.rows[3] = 30;
    r.update(scope, 3);
  };
  CHECK(r.rank_of(scope, 3)->rank == 1);
  CHECK(fx.cache->zcard(keys.ranking(scope)) == 0);  // refused: served uncached
  CHECK(store.queries == 1);
  CHECK(r.rank_of(scope, 1)->rank == 3);  // rebuilt now
  CHECK(store.queries == 2);
  CHECK(fx.cache->zcard(keys.ranking(scope)) == 3);

  // Another update runs between this update's generation read and its row read: this row may
  // be older than theirs, so the ranking is dropped rather than left stale.
  store.before_row = [&] { fx.cache->incr_by(keys.ranking_generation(scope), 1); };
  store.rows[1] = 50;
  r.update(scope, 1);
  CHECK(fx.cache->zcard(keys.ranking(scope)) == 0);
  CHECK(r.rank_of(scope, 1)->rank == 1);
  CHECK(store.queries == 3);
  store.rows[2] = 60;
  r.update(scope, 2);  // no race: applied
  CHECK(r.rank_of(scope, 2)->rank == 1);
  CHECK(store.queries == 3);

  // Membership change: dropped, rebuilt on the next read.
  r.drop(scope);
  CHECK(fx.cache->zcard(keys.ranking(scope)) == 0);
  CHECK(r.top(scope, 10).size() == 3);
  CHECK(store.queries == 4);

  // An empty ranking is remembered; its first row is added by an update.
  const Scope empty{ScopeKind::kClass, 4};
  RowsStore none;
  examstore::grading::Rankings r2(*fx.cache, keys, none, std::chrono::seconds(60));
  CHECK(r2.top(empty, 10).empty());
  CHECK(r2.top(empty, 10).empty());
  CHECK(none.queries == 1);
  CHECK(r2.counters().hits == 1);
  none.rows[8] = 1.5;
  r2.update(empty, 8);
  CHECK(r2.rank_of(empty, 8)->rank == 1);
  CHECK(none.queries == 1);
}

// Regression: an update that failed on a Redis error left the student's old row in the hot
// ranking until ranking_ttl (24 h). Now the scope is remembered and its ranking dropped by the
// next call once Redis answers; meanwhile reads of it come from the database.
TEST_CASE("grading rankings: an update lost to a Redis outage is healed by the next call",
          "[grading][rankings][redis][fault]") {
  using namespace std::chrono_literals;
  const auto target = examstore::parse_redis_url(examstore::test::redis_url());
  examstore::test::TcpProxy proxy(target.port);
  examstore::RedisOptions o = target;
  o.port = proxy.port();
  o.connect_timeout = 200ms;
  o.command_timeout = 500ms;
  o.pool_wait_timeout = 500ms;
  o.failover_wait = 0ms;  // about the heal after an update that did not ride through
  auto cache = examstore::redis::make_redis_cache(o);
  auto direct = examstore::redis::make_redis_cache(target);  // to look, past the proxy
  RowsStore store;
  store.rows = {{1, 10}, {2, 20}, {3, 30}};
  const examstore::GradingOptions options;
  const examstore::grading::GradingKeys keys(examstore::test::unique_name("rk") + ":", options);
  examstore::grading::Rankings r(*cache, keys, store, std::chrono::seconds(60));
  const Scope exam{ScopeKind::kExam, 11};
  const Scope assignment{ScopeKind::kAssignment, 12};
  const Scope klass{ScopeKind::kClass, 13};
  for (const Scope& s : {exam, assignment, klass}) REQUIRE(r.rank_of(s, 1)->rank == 3);
  REQUIRE(store.queries == 3);
  REQUIRE(direct->zcard(keys.ranking(exam)) == 3);
  const std::string member = "0000000000000000001";

  proxy.cut();
  store.rows[1] = 100;  // committed; the update cannot reach Redis
  r.update_many({exam, assignment}, 1);
  r.drop(klass);  // a membership change, lost the same way
  CHECK(direct->zscore(keys.ranking(exam), member) == 10.0);  // stale in Redis
  // Still down: reads of a stale scope come from the database.
  CHECK(r.rank_of(exam, 1)->rank == 1);

  proxy.restore();
  // Every read is right; once the pool has reconnected, the stale rankings are dropped and
  // rebuilt with the new row (bounded polling).
  const auto deadline = std::chrono::steady_clock::now() + 15s;
  bool healed = false;
  while (!healed && std::chrono::steady_clock::now() < deadline) {
    CHECK(r.rank_of(exam, 1)->rank == 1);
    CHECK(r.rank_of(assignment, 1)->rank == 1);
    healed = direct->zscore(keys.ranking(exam), member) == 100.0 &&
             direct->zscore(keys.ranking(assignment), member) == 100.0;
    if (!healed) std::this_thread::sleep_for(50ms);
  }
  CHECK(healed);
  // The dropped class ranking was gone before this read rebuilt it.
  const auto queries = store.queries;
  CHECK(r.rank_of(klass, 1)->rank == 1);
  CHECK(store.queries == queries + 1);
  CHECK(direct->zscore(keys.ranking(klass), member) == 100.0);
  // Hot again: no more database reads.
  CHECK(r.rank_of(exam, 1)->rank == 1);
  CHECK(r.top(assignment, 3).front().student_id == 1);
  CHECK(store.queries == queries + 1);
}
