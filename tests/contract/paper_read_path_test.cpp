// tests/contract/paper_read_path_test.cpp: PaperStore reads with Config::paper_near_cache off
// (every read goes to the hot tier; PaperStore::at is one script) and on, on both backend pairs
// (memory cache and database; the test Redis and a fresh, migrated TempDatabase).
#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "examstore/config.hpp"
#include "examstore/store.hpp"
#include "support/test_env.hpp"

namespace {

using examstore::Config;
using examstore::PaperItem;
using examstore::PaperKey;
using examstore::PaperOp;
using examstore::QuestionId;
using examstore::QuestionType;
using examstore::Store;
using Kind = PaperOp::Kind;

// Two stores over the same backends (on the memory pair: one store, opened once), so that an
// edit made by one is read by the other.
class ReadPair {
 public:
  ReadPair(bool postgres, bool near_cache) : postgres_(postgres) {
    if (postgres_) db_ = std::make_unique<examstore::test::TempDatabase>();
    config_.key_prefix = examstore::test::unique_name("prp");
    config_.paper_near_cache = near_cache;
    if (postgres_) {
      config_.with_redis_url(examstore::test::redis_url());
      config_.with_database_url(db_->migrate_and_restrict());  // runs as the app role
    }
    writer_ = Store::open(config_);
    if (postgres_) {
      Config c = config_;
      c.migrate_on_open = false;
      reader_ = Store::open(c);
    }
  }
  ~ReadPair() {
    reader_.reset();
    writer_.reset();
  }
  ReadPair(const ReadPair&) = delete;
  ReadPair& operator=(const ReadPair&) = delete;

  Store& writer() { return *writer_; }
  Store& reader() { return reader_ ? *reader_ : *writer_; }
  std::vector<std::string> hot_keys(const PaperKey& p) const {
    const std::string base = config_.key_prefix + ":paper:{" + p.str() + "}:";
    return {base + "order", base + "items", base + "ver", base + "pos"};
  }
  std::vector<QuestionId> questions(int n) {
    std::vector<QuestionId> out;
    for (int i = 0; i < n; ++i) {
      examstore::QuestionDraft d;
      d.type = i % 2 == 0 ? QuestionType::kSingle : QuestionType::kTrueFalse;
      d.stem = "read path question " + std::to_string(i);
      d.options = i % 2 == 0 ? std::vector<std::string>{"a", "b"} : std::vector<std::string>{};
      d.answer = i % 2 == 0 ? "\"A\"" : "true";
      d.subject = "math";
      d.knowledge_points = {"math/algebra"};
      out.push_back(writer_->questions().create(d).id);
    }
    return out;
  }

 private:
  bool postgres_;
  std::unique_ptr<examstore::test::TempDatabase> db_;
  Config config_;
  std::unique_ptr<Store> writer_;
  std::unique_ptr<Store> reader_;
};

struct MemoryNoNear : ReadPair {
  MemoryNoNear() : ReadPair(false, false) {}
};
struct RedisPostgresNoNear : ReadPair {
  RedisPostgresNoNear() : ReadPair(true, false) {}
};
struct MemoryNear : ReadPair {
  MemoryNear() : ReadPair(false, true) {}
};
struct RedisPostgresNear : ReadPair {
  RedisPostgresNear() : ReadPair(true, true) {}
};

const PaperKey kPaper{"pku", "math", "applied", "calc201"};

std::vector<QuestionId> ids_by_at(examstore::PaperStore& papers, int n) {
  std::vector<QuestionId> out;
  for (int i = 0; i < n; ++i) {
    const auto item = papers.at(kPaper, i);
    out.push_back(item ? item->question_id : 0);
  }
  return out;
}

}  // namespace

TEMPLATE_TEST_CASE("with the near cache off a paper read sees another store's edit at once",
                   "[papers][contract]", MemoryNoNear, RedisPostgresNoNear) {
  TestType pair;
  const auto q = pair.questions(4);
  auto& writer = pair.writer().papers();
  auto& reader = pair.reader().papers();
  writer.apply(
      kPaper,
      {{Kind::kAppend, 0, 0, q[0]}, {Kind::kAppend, 0, 0, q[1]}, {Kind::kAppend, 0, 0, q[2]}});
  CHECK(ids_by_at(reader, 3) == std::vector<QuestionId>{q[0], q[1], q[2]});
  const auto second = reader.at(kPaper, 1);
  REQUIRE(second);
  CHECK(*second == writer.items(kPaper)[1]);
  CHECK(second->type == QuestionType::kTrueFalse);

  // No sleep: without the near cache nothing can serve the old order.
  writer.apply(kPaper, {{Kind::kMove, 2, 0, 0}, {Kind::kInsert, 1, 0, q[3]}});
  CHECK(ids_by_at(reader, 4) == std::vector<QuestionId>{q[2], q[3], q[0], q[1]});
  writer.apply(kPaper, {{Kind::kRemove, 0, 0, 0}});
  CHECK(ids_by_at(reader, 3) == std::vector<QuestionId>{q[3], q[0], q[1]});
  CHECK_FALSE(reader.at(kPaper, 3));
  CHECK_FALSE(reader.at(kPaper, -1));
  CHECK_FALSE(reader.at(PaperKey{"pku", "math", "applied", "nosuch"}, 0));
}

TEMPLATE_TEST_CASE("with the near cache off a paper item read rebuilds a paper the hot tier lost",
                   "[papers][contract]", MemoryNoNear, RedisPostgresNoNear) {
  TestType pair;
  const auto q = pair.questions(3);
  auto& papers = pair.reader().papers();
  pair.writer().papers().apply(
      kPaper,
      {{Kind::kAppend, 0, 0, q[0]}, {Kind::kAppend, 0, 0, q[1]}, {Kind::kAppend, 0, 0, q[2]}});
  CHECK(pair.writer().cache().del(pair.hot_keys(kPaper)) == 4);  // "flush Redis"
  const auto item = papers.at(kPaper, 2);
  REQUIRE(item);
  CHECK(item->question_id == q[2]);
  CHECK(pair.writer().cache().zcard(pair.hot_keys(kPaper)[0]) == 3);  // loaded again

  // A damaged position-index entry is not served: the read takes the whole-paper path.
  const std::string pos_key = pair.hot_keys(kPaper)[3];
  auto& cache = pair.writer().cache();
  cache.hset(pos_key, {{"1", "garbage"}});
  const auto again = papers.at(kPaper, 1);
  REQUIRE(again);
  CHECK(again->question_id == q[1]);
  CHECK(again->question_version == 1);
  // ... and rebuilds the index for the next read.
  CHECK(cache.hget(pos_key, "1") == std::to_string(q[1]) + "|1:true_false");

  // An index lost on its own (keys written before it existed) is rebuilt on the first read.
  CHECK(cache.del({pos_key}) == 1);
  const auto third = papers.at(kPaper, 2);
  REQUIRE(third);
  CHECK(third->question_id == q[2]);
  CHECK(cache.hgetall(pos_key).size() == 3);
  CHECK(cache.hget(pos_key, "0") == std::to_string(q[0]) + "|1:single");
}

TEMPLATE_TEST_CASE("paper item reads through the near cache match the whole order",
                   "[papers][contract]", MemoryNear, RedisPostgresNear) {
  TestType pair;
  const auto q = pair.questions(5);
  auto& papers = pair.writer().papers();
  std::vector<PaperOp> ops;
  for (const QuestionId id : q) ops.push_back({Kind::kAppend, 0, 0, id});
  ops.push_back({Kind::kMove, 4, 1, 0});
  const std::vector<PaperItem> items = papers.apply(kPaper, ops);
  papers.warm_up({kPaper});
  for (int round = 0; round < 3; ++round) {  // the later rounds are near-cache hits
    for (int i = 0; i < 5; ++i) {
      const auto item = papers.at(kPaper, i);
      REQUIRE(item);
      CHECK(*item == items[static_cast<std::size_t>(i)]);
    }
    CHECK_FALSE(papers.at(kPaper, 5));
    CHECK_FALSE(papers.at(kPaper, -1));
  }
  // The writer's own edit drops its near-cache entry at once.
  papers.apply(kPaper, {{Kind::kRemove, 0, 0, 0}});
  CHECK(ids_by_at(papers, 4) == std::vector<QuestionId>{q[4], q[1], q[2], q[3]});
}
