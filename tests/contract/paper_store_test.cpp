// tests/contract/paper_store_test.cpp: the contract of examstore/paper_store.hpp on both backend
// pairs (MemoryPair: memory cache and database; RedisPostgresPair: the test Redis and a fresh,
// migrated TempDatabase, with a key_prefix of its own). The server pair needs
// EXAMSTORE_TEST_REDIS_URL and EXAMSTORE_TEST_DATABASE_URL.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::Config;
using examstore::Error;
using examstore::ErrorCode;
using examstore::PaperItem;
using examstore::PaperKey;
using examstore::PaperOp;
using examstore::QuestionId;
using examstore::QuestionType;
using examstore::Store;
using Kind = PaperOp::Kind;

class Pair {
 public:
  Pair(bool postgres, std::chrono::milliseconds near_ttl, bool cluster = false)
      : postgres_(postgres) {
    if (postgres_) db_ = std::make_unique<examstore::test::TempDatabase>();
    config_.key_prefix = examstore::test::unique_name("pp");
    config_.near_cache_ttl = near_ttl;
    if (postgres_) {
      config_.with_redis_url(cluster ? examstore::test::cluster_url()
                                     : examstore::test::redis_url());
      config_.with_database_url(db_->migrate_and_restrict());  // runs as the app role
    }
    store_ = Store::open(config_);
  }
  ~Pair() { store_.reset(); }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;

  Store& store() { return *store_; }
  bool postgres() const { return postgres_; }
  const Config& config() const { return config_; }
  std::string database_url() const { return db_->url(); }
  std::unique_ptr<Store> open_second() const {
    Config c = config_;
    c.migrate_on_open = false;
    return Store::open(c);
  }
  std::vector<std::string> hot_keys(const PaperKey& p) const {
    const std::string base = config_.key_prefix + ":paper:{" + p.str() + "}:";
    return {base + "order", base + "items", base + "ver", base + "pos"};
  }
  QuestionId question(QuestionType type = QuestionType::kSingle) {
    examstore::QuestionDraft d;
    d.type = type;
    d.stem = "question " + std::to_string(++made_);
    d.answer = "\"text\"";
    if (type == QuestionType::kSingle) {
      d.options = {"a", "b"};
      d.answer = "\"A\"";
    } else if (type == QuestionType::kMultiple) {
      d.options = {"a", "b"};
      d.answer = "[\"A\"]";
    } else if (type == QuestionType::kTrueFalse) {
      d.answer = "true";
    }
    d.subject = "math";
    d.knowledge_points = {"math/algebra"};
    return store_->questions().create(d).id;
  }
  std::vector<QuestionId> questions(int n) {
    std::vector<QuestionId> out;
    for (int i = 0; i < n; ++i) out.push_back(question());
    return out;
  }

 private:
  bool postgres_;
  std::unique_ptr<examstore::test::TempDatabase> db_;
  Config config_;
  std::unique_ptr<Store> store_;
  int made_ = 0;
};

struct MemoryPair : Pair {
  explicit MemoryPair(std::chrono::milliseconds ttl = 0ms) : Pair(false, ttl) {}
};
struct RedisPostgresPair : Pair {
  explicit RedisPostgresPair(std::chrono::milliseconds ttl = 0ms) : Pair(true, ttl) {}
};
struct ClusterPostgresPair : Pair {  // the server pair on the Redis Cluster
  explicit ClusterPostgresPair(std::chrono::milliseconds ttl = 0ms) : Pair(true, ttl, true) {}
};

PaperOp append(QuestionId q) { return {Kind::kAppend, 0, 0, q}; }
PaperOp insert(int pos, QuestionId q) { return {Kind::kInsert, pos, 0, q}; }
PaperOp remove(int pos) { return {Kind::kRemove, pos, 0, 0}; }
PaperOp replace(int pos, QuestionId q) { return {Kind::kReplace, pos, 0, q}; }
PaperOp move(int from, int to) { return {Kind::kMove, from, to, 0}; }

std::vector<QuestionId> ids(const std::vector<PaperItem>& items) {
  std::vector<QuestionId> out;
  for (const auto& i : items) out.push_back(i.question_id);
  return out;
}

std::string apply_error(examstore::PaperStore& papers, const PaperKey& p,
                        const std::vector<PaperOp>& ops) {
  try {
    papers.apply(p, ops);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    return e.message();
  }
  FAIL("apply succeeded");
  return {};
}

const PaperKey kPaper{"tsinghua", "cs", "se", "db101"};

}  // namespace

TEST_CASE("PaperKey parses, prints and validates its parts", "[papers][contract]") {
  const PaperKey k = PaperKey::parse("tsinghua/cs/se/db101");
  CHECK(k == kPaper);
  CHECK(k.str() == "tsinghua/cs/se/db101");
  CHECK(PaperKey::parse("a_b/C-1/x/9").course == "9");
  for (const char* bad :
       {"", "a/b/c", "a/b/c/d/e", "a//c/d", "a/b c/c/d", "a/b/c/{d}", "a/b/c/d/"}) {
    INFO(bad);
    try {
      PaperKey::parse(bad);
      FAIL("parsed");
    } catch (const Error& e) {
      CHECK(e.code() == ErrorCode::kInvalidArgument);
    }
  }
  try {
    PaperKey::parse("ok/b@d/c/d");
  } catch (const Error& e) {
    CHECK_THAT(e.message(), Catch::Contains("department"));
  }
  CHECK_THROWS_AS(PaperKey::parse("a/b/c/" + std::string(65, 'x')), Error);
}

TEMPLATE_TEST_CASE("paper ops: append, insert, remove, replace, move and reads",
                   "[papers][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType pair;
  auto& papers = pair.store().papers();
  const auto q = pair.questions(6);
  const QuestionId essay = pair.question(QuestionType::kEssay);

  CHECK(papers.items(kPaper).empty());
  CHECK(papers.count(kPaper) == 0);
  CHECK_FALSE(papers.at(kPaper, 0));

  CHECK(ids(papers.apply(kPaper, {append(q[0]), append(q[1]), append(q[2])})) ==
        std::vector<QuestionId>{q[0], q[1], q[2]});
  CHECK(ids(papers.apply(kPaper, {insert(0, q[3])})) ==
        std::vector<QuestionId>{q[3], q[0], q[1], q[2]});
  CHECK(ids(papers.apply(kPaper, {insert(4, q[4])})) ==
        std::vector<QuestionId>{q[3], q[0], q[1], q[2], q[4]});
  CHECK(ids(papers.apply(kPaper, {insert(2, essay)})) ==
        std::vector<QuestionId>{q[3], q[0], essay, q[1], q[2], q[4]});
  CHECK(ids(papers.apply(kPaper, {remove(0)})) ==
        std::vector<QuestionId>{q[0], essay, q[1], q[2], q[4]});
  CHECK(ids(papers.apply(kPaper, {replace(1, q[5])})) ==
        std::vector<QuestionId>{q[0], q[5], q[1], q[2], q[4]});
  CHECK(ids(papers.apply(kPaper, {move(0, 4)})) ==
        std::vector<QuestionId>{q[5], q[1], q[2], q[4], q[0]});
  CHECK(ids(papers.apply(kPaper, {move(3, 1)})) ==
        std::vector<QuestionId>{q[5], q[4], q[1], q[2], q[0]});
  // the removed essay can come back
  CHECK(ids(papers.apply(kPaper, {append(essay), move(5, 0)})) ==
        std::vector<QuestionId>{essay, q[5], q[4], q[1], q[2], q[0]});

  const std::vector<QuestionId> want{essay, q[5], q[4], q[1], q[2], q[0]};
  CHECK(ids(papers.items(kPaper)) == want);
  CHECK(papers.count(kPaper) == 6);
  REQUIRE(papers.at(kPaper, 0));
  CHECK(papers.at(kPaper, 0)->question_id == essay);
  CHECK(papers.at(kPaper, 0)->type == QuestionType::kEssay);
  CHECK(papers.at(kPaper, 0)->question_version == 1);
  CHECK(papers.at(kPaper, 5)->question_id == q[0]);
  CHECK_FALSE(papers.at(kPaper, 6));
  CHECK_FALSE(papers.at(kPaper, -1));
  CHECK(ids(papers.range(kPaper, 1, 2)) == std::vector<QuestionId>{q[5], q[4]});
  CHECK(ids(papers.range(kPaper, -5, 100)) == want);
  CHECK(papers.range(kPaper, 4, 2).empty());
  const auto by_type = papers.count_by_type(kPaper);
  CHECK(by_type.at(QuestionType::kSingle) == 5);
  CHECK(by_type.at(QuestionType::kEssay) == 1);
  CHECK(papers.count(PaperKey{"tsinghua", "cs", "se", "other"}) == 0);

  SECTION("a paper pins the version current when the question was added") {
    examstore::QuestionDraft d;
    d.type = QuestionType::kSingle;
    d.stem = "edited";
    d.options = {"x", "y"};
    d.answer = "\"B\"";
    d.subject = "math";
    d.knowledge_points = {"math/algebra"};
    pair.store().questions().edit(q[5], d);
    CHECK(papers.at(kPaper, 1)->question_version == 1);
    papers.apply(kPaper, {replace(1, q[5])});  // re-pins
    CHECK(papers.at(kPaper, 1)->question_version == 2);
  }
  SECTION("warm_up loads papers") {
    papers.warm_up({kPaper, PaperKey{"a", "b", "c", "d"}});
    CHECK(ids(papers.items(kPaper)) == want);
  }
}

TEMPLATE_TEST_CASE("a bad op names itself and leaves the paper unchanged", "[papers][contract]",
                   MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType pair;
  auto& papers = pair.store().papers();
  const auto q = pair.questions(4);
  papers.apply(kPaper, {append(q[0]), append(q[1])});
  const std::vector<QuestionId> before{q[0], q[1]};

  CHECK_THAT(apply_error(papers, kPaper, {append(q[2]), append(999999)}),
             Catch::Equals("op 2: question 999999 does not exist"));
  CHECK_THAT(apply_error(papers, kPaper, {append(q[2]), append(q[0])}),
             Catch::Equals("op 2: question " + std::to_string(q[0]) + " is already in the paper"));
  CHECK_THAT(apply_error(papers, kPaper, {remove(0), insert(2, q[3])}),
             Catch::Equals("op 2: position 2 is out of range 0..1"));
  CHECK_THAT(apply_error(papers, kPaper, {remove(2)}),
             Catch::Equals("op 1: position 2 is out of range 0..1"));
  CHECK_THAT(apply_error(papers, kPaper, {remove(-1)}),
             Catch::Equals("op 1: position -1 is out of range 0..1"));
  CHECK_THAT(apply_error(papers, kPaper, {append(q[2]), replace(0, q[2])}),
             Catch::Contains("op 2: question " + std::to_string(q[2]) + " is already"));
  CHECK_THAT(apply_error(papers, kPaper, {move(0, 2)}),
             Catch::Equals("op 1: to 2 is out of range 0..1"));
  CHECK_THAT(apply_error(papers, kPaper, {remove(0), remove(0), move(0, 0)}),
             Catch::Equals("op 3: from 0 is out of range (the paper is empty)"));
  CHECK_THAT(apply_error(papers, kPaper, {replace(0, 0)}),
             Catch::Equals("op 1: question 0 does not exist"));
  CHECK(ids(papers.items(kPaper)) == before);
  CHECK_THROWS_AS(papers.apply(PaperKey{"a", "b", "c", "d e"}, {append(q[2])}), Error);

  // a second store sees the committed order too (server pair: through Redis and PostgreSQL)
  if (pair.postgres()) {
    auto second = pair.open_second();
    CHECK(ids(second->papers().items(kPaper)) == before);
  }
}

TEMPLATE_TEST_CASE("a missing hot-tier key is rebuilt from the database", "[papers][contract]",
                   MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType pair(30ms);
  auto& papers = pair.store().papers();
  const auto q = pair.questions(5);
  papers.apply(kPaper, {append(q[0]), append(q[1]), append(q[2]), append(q[3]), move(3, 0),
                        insert(2, q[4]), remove(1)});
  const auto want = papers.items(kPaper);
  REQUIRE(ids(want) == std::vector<QuestionId>{q[3], q[4], q[1], q[2]});

  CHECK(pair.store().cache().del(pair.hot_keys(kPaper)) == 4);  // "flush Redis"
  std::this_thread::sleep_for(60ms);                            // past the near-cache TTL
  CHECK(papers.items(kPaper) == want);
  CHECK(pair.store().cache().zcard(pair.hot_keys(kPaper)[0]) == 4);  // loaded again

  // edits after the rebuild keep going through the scripts
  CHECK(ids(papers.apply(kPaper, {move(0, 3)})) == std::vector<QuestionId>{q[4], q[1], q[2], q[3]});
  pair.store().cache().del({pair.hot_keys(kPaper)[2]});  // only the version marker lost
  CHECK(ids(papers.apply(kPaper, {move(3, 0)})) == std::vector<QuestionId>{q[3], q[4], q[1], q[2]});
  std::this_thread::sleep_for(60ms);
  CHECK(ids(papers.items(kPaper)) == std::vector<QuestionId>{q[3], q[4], q[1], q[2]});
}

TEMPLATE_TEST_CASE("10,000 random ops match a plain vector (gaps run out and renumber)",
                   "[papers][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType pair;
  auto& papers = pair.store().papers();
  const auto pool = pair.questions(40);
  std::mt19937 rng(20240422);
  std::vector<QuestionId> model;
  const auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
  std::vector<PaperOp> batch;
  std::vector<QuestionId> expect_batch;
  for (int i = 1; i <= 10000; ++i) {
    const int n = static_cast<int>(model.size());
    std::vector<QuestionId> absent;
    for (QuestionId id : pool) {
      if (std::find(model.begin(), model.end(), id) == model.end()) absent.push_back(id);
    }
    const int r = pick(100);
    if (n < 2 || (r < 15 && !absent.empty() && n < 35)) {
      const QuestionId id = absent[static_cast<std::size_t>(pick(static_cast<int>(absent.size())))];
      if (pick(2) == 0) {
        batch.push_back(append(id));
        model.push_back(id);
      } else {
        const int pos = pick(n + 1);
        batch.push_back(insert(pos, id));
        model.insert(model.begin() + pos, id);
      }
    } else if (r < 25 && n > 5) {
      const int pos = pick(n);
      batch.push_back(remove(pos));
      model.erase(model.begin() + pos);
    } else if (r < 30 && !absent.empty()) {
      const int pos = pick(n);
      const QuestionId id = absent[static_cast<std::size_t>(pick(static_cast<int>(absent.size())))];
      batch.push_back(replace(pos, id));
      model[static_cast<std::size_t>(pos)] = id;
    } else {
      // mostly into the same slot (between the first two), which halves one gap every time
      const int from = pick(n);
      const int to = r < 80 ? 1 : pick(n);
      batch.push_back(move(from, to));
      const QuestionId id = model[static_cast<std::size_t>(from)];
      model.erase(model.begin() + from);
      model.insert(model.begin() + to, id);
    }
    if (batch.size() == 20 || i % 100 == 0) {
      const auto got = papers.apply(kPaper, batch);
      batch.clear();
      if (i % 100 == 0) {
        INFO("after op " << i);
        REQUIRE(ids(got) == model);
        REQUIRE(ids(papers.items(kPaper)) == model);
        REQUIRE(papers.count(kPaper) == static_cast<std::int64_t>(model.size()));
        const int probe = pick(static_cast<int>(model.size()));
        REQUIRE(papers.at(kPaper, probe)->question_id == model[static_cast<std::size_t>(probe)]);
        // scores strictly increase in the hot tier, and renumbering happened (scores that are
        // whole multiples of the gap again after many halvings)
        const auto scores = pair.store().cache().zrange(pair.hot_keys(kPaper)[0], 0, -1);
        REQUIRE(scores.size() == model.size());
        for (std::size_t k = 1; k < scores.size(); ++k)
          REQUIRE(scores[k - 1].score < scores[k].score);
      }
    }
  }
}

TEMPLATE_TEST_CASE("a move with no gap left renumbers the paper in the same script",
                   "[papers][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType pair;
  auto& papers = pair.store().papers();
  const auto q = pair.questions(3);
  std::vector<QuestionId> model{q[0], q[1], q[2]};
  papers.apply(kPaper, {append(q[0]), append(q[1]), append(q[2])});
  const auto gap01 = [&]() {
    const auto s = pair.store().cache().zrange(pair.hot_keys(kPaper)[0], 0, -1);
    REQUIRE(s.size() == 3);
    return s[1].score - s[0].score;
  };
  CHECK(gap01() == 1024);
  double smallest = 1024;
  bool renumbered = false;
  for (int i = 0; i < 15; ++i) {  // the last item into slot 1 again and again: 1024, 512, ... 1
    const auto got = papers.apply(kPaper, {move(2, 1)});
    std::rotate(model.begin() + 1, model.begin() + 2, model.end());
    REQUIRE(ids(got) == model);
    const double g = gap01();
    if (g > smallest) renumbered = true;
    smallest = std::min(smallest, g);
  }
  CHECK(smallest == 1);
  CHECK(renumbered);
  CHECK(ids(papers.items(kPaper)) == model);
}

TEMPLATE_TEST_CASE("two threads editing one paper never lose or duplicate an item",
                   "[papers][contract][concurrency]", MemoryPair, RedisPostgresPair,
                   ClusterPostgresPair) {
  TestType pair;
  auto& papers = pair.store().papers();
  const auto base = pair.questions(10);
  std::vector<PaperOp> fill;
  for (QuestionId id : base) fill.push_back(append(id));
  papers.apply(kPaper, fill);
  const auto mine = [&](int n) { return pair.questions(n); };
  const auto a = mine(40);
  const auto b = mine(40);
  const auto worker = [&](const std::vector<QuestionId>& qs) {
    for (QuestionId id : qs) papers.apply(kPaper, {append(id), move(0, 9), move(3, 1)});
  };
  std::thread ta(worker, a);
  std::thread tb(worker, b);
  ta.join();
  tb.join();
  std::multiset<QuestionId> want(base.begin(), base.end());
  want.insert(a.begin(), a.end());
  want.insert(b.begin(), b.end());
  const auto got = ids(papers.items(kPaper));
  CHECK(std::multiset<QuestionId>(got.begin(), got.end()) == want);
  if (pair.postgres()) {  // Redis and PostgreSQL agree
    auto second = pair.open_second();
    pair.store().cache().del(pair.hot_keys(kPaper));
    CHECK(ids(second->papers().items(kPaper)) == got);
  }
}

TEMPLATE_TEST_CASE("the near cache sees another store's edit within a bounded time",
                   "[papers][contract]", MemoryPair, RedisPostgresPair, ClusterPostgresPair) {
  TestType pair(10s);  // a long TTL: only the invalidation message can make the edit visible
  const auto q = pair.questions(3);
  pair.store().papers().apply(kPaper, {append(q[0]), append(q[1])});
  std::unique_ptr<Store> second_owner;
  Store* reader = &pair.store();
  if (pair.postgres()) {
    second_owner = pair.open_second();
    reader = second_owner.get();
  }
  REQUIRE(reader->papers().count(kPaper) == 2);  // cached now
  REQUIRE(reader->papers().count(kPaper) == 2);
  const auto t0 = std::chrono::steady_clock::now();
  pair.store().papers().apply(kPaper, {insert(0, q[2])});
  auto seen = std::chrono::steady_clock::duration::max();
  while (std::chrono::steady_clock::now() - t0 < 5s) {
    auto at0 = reader->papers().at(kPaper, 0);
    if (at0 && at0->question_id == q[2]) {
      seen = std::chrono::steady_clock::now() - t0;
      break;
    }
    std::this_thread::sleep_for(200us);
  }
  const auto ms = std::chrono::duration<double, std::milli>(seen).count();
  WARN("near-cache invalidation delay (" << (pair.postgres() ? "redis" : "memory")
                                         << ", from the start of apply): " << ms << " ms");
  CHECK(seen < std::chrono::steady_clock::duration(2s));
  CHECK(reader->papers().count(kPaper) == 3);
}

// ---- the command line ----

namespace {

using Run = examstore::test::CommandResult;
using examstore::test::run_cli;

std::string write_file(const std::string& name, const std::string& text) {
  const auto path = std::filesystem::temp_directory_path() / examstore::test::unique_name(name);
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace

TEST_CASE("paper CLI: bad usage exits 2", "[papers][cli]") {
  for (const char* args : {"paper", "paper sideways", "paper list", "paper list --paper a/b/c",
                           "paper apply --paper a/b/c/d", "paper list --paper a/b/c/d --bogus 1"}) {
    INFO(args);
    const Run r = run_cli(args);
    CHECK(r.exit_code == 2);
  }
}

TEST_CASE("paper CLI: apply and list on Redis and PostgreSQL", "[papers][cli]") {
  RedisPostgresPair pair;
  const auto q = pair.questions(4);
  const std::string backends =
      "--redis '" + examstore::test::redis_url() + "' --database '" + pair.database_url() + "'";
  const std::string prefix_env = "EXAMSTORE_KEY_PREFIX=" + pair.config().key_prefix + " ";
  const auto run = [&](const std::string& a) {
    return examstore::test::run_command(prefix_env + std::string(EXAMSTORE_CLI_PATH) + " " +
                                        backends + " " + a + " 2>&1");
  };
  const std::string key = "--paper tsinghua/cs/se/db101";
  const std::string good = write_file(
      "ops", "# build\nappend " + std::to_string(q[0]) + "\nappend " + std::to_string(q[1]) +
                 "\n\ninsert 0 " + std::to_string(q[2]) + "\nmove 2 0\r\n");
  Run r = run("paper apply " + key + " --ops " + good + " --json");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  const std::string want =
      "[" + std::to_string(q[1]) + "," + std::to_string(q[2]) + "," + std::to_string(q[0]) + "]\n";
  CHECK(r.output == want);
  r = run("paper list " + key + " --json");
  CHECK(r.exit_code == 0);
  CHECK(r.output == want);
  r = run("paper list " + key);
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("0  " + std::to_string(q[1]) + "  v1  single"));
  CHECK(ids(pair.store().papers().items(kPaper)) == std::vector<QuestionId>{q[1], q[2], q[0]});

  for (const auto& [text, message] : std::vector<std::pair<std::string, std::string>>{
           {"append " + std::to_string(q[3]) + "\nremove 0\nappend 999999\n",
            "line 3: question 999999 does not exist"},
           {"append " + std::to_string(q[3]) + "\n\nappend " + std::to_string(q[0]) + "\n",
            "line 3: question " + std::to_string(q[0]) + " is already in the paper"},
           {"remove 0\nmove 0 5\n", "line 2: to 5 is out of range 0..1"},
           {"append " + std::to_string(q[3]) + "\nshuffle 1\n", "line 2: unknown operation"},
           {"remove x\n", "line 1: POS must be a non-negative number"},
           {"insert 1\n", "line 1: expected 'insert POS QID'"}}) {
    INFO(text);
    const std::string bad = write_file("bad", text);
    r = run("paper apply " + key + " --ops " + bad);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains(message));
    r = run("paper list " + key + " --json");
    CHECK(r.output == want);  // unchanged
    std::filesystem::remove(bad);
  }
  std::filesystem::remove(good);
  r = run("paper apply " + key + " --ops /nonexistent/ops");
  CHECK(r.exit_code == 1);
}
