// tests/contract/paper_assembly_test.cpp: PaperStore::assemble, variants and to_original_answer
// (examstore/paper_store.hpp, docs/papers.md "Assembly" and "Per-student variants") on both
// backend pairs. Every rule is checked by recomputing it from the returned items and the bank.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "support/store_pair.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::AssembledPaper;
using examstore::AssemblyRules;
using examstore::Error;
using examstore::ErrorCode;
using examstore::PaperItem;
using examstore::PaperKey;
using examstore::PaperOp;
using examstore::PaperVariant;
using examstore::Question;
using examstore::QuestionId;
using examstore::QuestionType;
using examstore::VariantItem;
using examstore::test::MemoryPair;
using examstore::test::RedisPostgresPair;
using examstore::test::StorePair;

const PaperKey kPaper{"tsinghua", "cs", "se", "db101"};
PaperKey paper(const std::string& course) { return {"tsinghua", "cs", "se", course}; }

/// A bank of 60 math questions: 40 single (difficulty i % 5 + 1), 15 multiple, 5 essay, over
/// the points math/algebra, math/geometry/triangles (every 7th) and math/calculus (every 11th),
/// plus 5 physics singles.
void fill_bank(StorePair& pair) {
  for (int i = 0; i < 60; ++i) {
    const QuestionType type = i < 40   ? QuestionType::kSingle
                              : i < 55 ? QuestionType::kMultiple
                                       : QuestionType::kEssay;
    std::vector<std::string> kps{"math/algebra"};
    if (i % 7 == 3) kps = {"math/geometry/triangles"};
    if (i % 11 == 5) kps = {"math/calculus"};
    pair.question(type, i % 5 + 1, kps);
  }
  for (int i = 0; i < 5; ++i)
    pair.question(QuestionType::kSingle, 5, {"physics/optics"}, "physics");
}

std::vector<QuestionId> ids_of(const std::vector<PaperItem>& items) {
  std::vector<QuestionId> out;
  for (const auto& i : items) out.push_back(i.question_id);
  return out;
}

std::vector<Question> questions_of(StorePair& pair, const std::vector<PaperItem>& items) {
  std::vector<Question> out;
  for (const auto& i : items) {
    auto q = pair.store().questions().get_version(i.question_id, i.question_version);
    REQUIRE(q);
    out.push_back(*q);
  }
  return out;
}

std::string assemble_error(StorePair& pair, const AssemblyRules& rules,
                           const PaperKey& key = paper("short")) {
  try {
    pair.store().papers().assemble(key, rules);
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    return e.message();
  }
  FAIL("assemble succeeded");
  return {};
}

AssemblyRules basic_rules(std::uint64_t seed = 7) {
  AssemblyRules r;
  r.subject = "math";
  r.count_by_type = {{QuestionType::kSingle, 10}, {QuestionType::kMultiple, 4}};
  r.seed = seed;
  return r;
}

bool covers(const Question& q, const std::string& path) {
  return std::any_of(q.knowledge_points.begin(), q.knowledge_points.end(),
                     [&](const auto& kp) { return kp == path || kp.rfind(path + "/", 0) == 0; });
}

}  // namespace

TEMPLATE_TEST_CASE("assembly is deterministic for a seed", "[papers][assembly]", MemoryPair,
                   RedisPostgresPair) {
  TestType pair;
  fill_bank(pair);
  auto& papers = pair.store().papers();
  const AssembledPaper a = papers.assemble(paper("a"), basic_rules(7));
  const AssembledPaper b = papers.assemble(paper("b"), basic_rules(7));
  const AssembledPaper c = papers.assemble(paper("c"), basic_rules(8));
  CHECK(a.items.size() == 14);
  CHECK(a.items == b.items);
  CHECK(ids_of(a.items) != ids_of(c.items));  // 40 choose 10 singles: a collision is ~1e-9
  CHECK(a.key == paper("a"));
  CHECK(a.paper_id > 0);
  CHECK(b.paper_id != a.paper_id);
  CHECK(papers.items(paper("a")) == a.items);

  // the reported figures match the items
  const auto qs = questions_of(pair, a.items);
  double difficulty = 0;
  double score = 0;
  for (const auto& q : qs) {
    difficulty += q.difficulty;
    score += q.score;
  }
  CHECK(a.mean_difficulty == Approx(difficulty / 14));
  CHECK(a.total_score == Approx(score));
  // grouped by type, singles first
  CHECK(std::is_sorted(a.items.begin(), a.items.end(), [](const auto& x, const auto& y) {
    return static_cast<int>(x.type) < static_cast<int>(y.type);
  }));
  if (pair.postgres()) {
    CHECK(pair.query_value("SELECT id FROM papers WHERE course = 'a'") ==
          std::to_string(a.paper_id));
  }
}

TEMPLATE_TEST_CASE("assembly satisfies every rule kind when satisfiable", "[papers][assembly]",
                   MemoryPair, RedisPostgresPair) {
  TestType pair;
  fill_bank(pair);
  auto& papers = pair.store().papers();
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    INFO("seed " << seed);
    AssemblyRules r = basic_rules(seed);
    r.count_by_type[QuestionType::kEssay] = 2;
    r.cover_knowledge_points = {"math/geometry", "math/calculus"};
    r.exclude = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 41, 42};
    SECTION("count_by_difficulty") {
      r.count_by_difficulty = {{1, 2}, {2, 4}, {3, 4}, {4, 2}, {5, 4}};
    }
    SECTION("target_mean_difficulty") {
      r.target_mean_difficulty = 4.2;
      r.mean_tolerance = 0.1;
    }
    const PaperKey key = paper("rules" + std::to_string(seed));
    const AssembledPaper p = papers.assemble(key, r);
    const auto qs = questions_of(pair, p.items);
    std::map<QuestionType, int> by_type;
    std::map<int, int> by_difficulty;
    double sum = 0;
    for (const auto& q : qs) {
      ++by_type[q.type];
      ++by_difficulty[q.difficulty];
      sum += q.difficulty;
      CHECK(q.subject == "math");
      CHECK(std::find(r.exclude.begin(), r.exclude.end(), q.id) == r.exclude.end());
      CHECK(pair.store().questions().get(q.id)->version == q.version);  // current versions
    }
    CHECK(by_type == r.count_by_type);
    if (!r.count_by_difficulty.empty()) CHECK(by_difficulty == r.count_by_difficulty);
    if (r.target_mean_difficulty) {
      CHECK(std::abs(sum / static_cast<double>(qs.size()) - 4.2) <= 0.1 + 1e-9);
    }
    for (const auto& path : r.cover_knowledge_points) {
      CHECK(std::any_of(qs.begin(), qs.end(), [&](const Question& q) { return covers(q, path); }));
    }
    std::set<QuestionId> distinct;
    for (const auto& i : p.items) distinct.insert(i.question_id);
    CHECK(distinct.size() == p.items.size());
  }
}

TEMPLATE_TEST_CASE("assembly names the rule that fell short and by how much", "[papers][assembly]",
                   MemoryPair, RedisPostgresPair) {
  TestType pair;
  fill_bank(pair);
  AssemblyRules r = basic_rules();

  r.count_by_type = {{QuestionType::kEssay, 10}};
  CHECK(assemble_error(pair, r) == "count_by_type[essay]: 10 wanted, 5 eligible: short by 5");
  r.count_by_type = {{QuestionType::kTrueFalse, 1}};
  CHECK(assemble_error(pair, r) == "count_by_type[true_false]: 1 wanted, 0 eligible: short by 1");
  // exclusions count: 5 essays minus 2 excluded
  r.count_by_type = {{QuestionType::kEssay, 4}};
  r.exclude = {56, 57};
  CHECK(assemble_error(pair, r) == "count_by_type[essay]: 4 wanted, 3 eligible: short by 1");
  r.exclude.clear();

  // singles of difficulty 5 in math: ids 5, 10, ..., 40 (8 of them); the subject filter counts
  r.count_by_type = {{QuestionType::kSingle, 10}};
  r.count_by_difficulty = {{5, 9}, {1, 1}};
  CHECK(assemble_error(pair, r) == "count_by_difficulty[5]: 9 wanted, 8 eligible: short by 1");

  // each rule alone can be met, both together cannot: essays are ids 56..60, difficulty 1..5
  r.count_by_type = {{QuestionType::kEssay, 3}, {QuestionType::kSingle, 1}};
  r.count_by_difficulty = {{1, 2}, {2, 2}};
  CHECK(assemble_error(pair, r) ==
        "count_by_type with count_by_difficulty: 4 wanted, at most 3 meet both: short by 1");
  r.count_by_difficulty.clear();

  r.count_by_type = {{QuestionType::kSingle, 5}};
  r.cover_knowledge_points = {"math/algebra", "math/topology"};
  CHECK(assemble_error(pair, r) == "cover_knowledge_points[math/topology]: no eligible question");
  // essays 56..60: only 60 is on geometry (59 % 7 == 3); excluding it leaves none eligible
  r.count_by_type = {{QuestionType::kEssay, 2}};
  r.cover_knowledge_points = {"math/geometry"};
  r.exclude = {60};
  CHECK(assemble_error(pair, r) == "cover_knowledge_points[math/geometry]: no eligible question");
  r.exclude.clear();
  const auto covered = ids_of(pair.store().papers().assemble(paper("covered"), r).items);
  CHECK(std::find(covered.begin(), covered.end(), 60) != covered.end());
  r.cover_knowledge_points.clear();

  // math essays have difficulty 1..5 once each: two of them average at most 4.5
  r.count_by_type = {{QuestionType::kEssay, 2}};
  r.target_mean_difficulty = 5.0;
  r.mean_tolerance = 0.25;
  CHECK(assemble_error(pair, r) ==
        "target_mean_difficulty: best reachable 4.50, wanted 5.00 +- 0.25");
  r.target_mean_difficulty = 1.2;
  r.mean_tolerance = 0.1;
  CHECK(assemble_error(pair, r) ==
        "target_mean_difficulty: best reachable 1.50, wanted 1.20 +- 0.10");

  // nothing was stored by a failed assembly
  CHECK(pair.store().papers().count(paper("short")) == 0);
}

TEMPLATE_TEST_CASE("inconsistent assembly rules are rejected naming the rule", "[papers][assembly]",
                   MemoryPair, RedisPostgresPair) {
  TestType pair;
  fill_bank(pair);
  const auto with = [](auto change) {
    AssemblyRules r = basic_rules();
    change(r);
    return r;
  };
  CHECK(assemble_error(pair, with([](AssemblyRules& r) { r.count_by_type.clear(); })) ==
        "count_by_type: at least one type is needed");
  CHECK(assemble_error(pair, with([](AssemblyRules& r) {
                         r.count_by_type = {{QuestionType::kSingle, 0}};
                       })) ==
        "count_by_type: the counts sum to 0, a paper needs at least one question");
  CHECK(assemble_error(pair, with([](AssemblyRules& r) {
                         r.count_by_type[QuestionType::kMultiple] = -1;
                       })) == "count_by_type[multiple]: must not be negative, got -1");
  CHECK(assemble_error(pair, with([](AssemblyRules& r) {
                         r.count_by_difficulty = {{3, 10}, {4, 3}};
                       })) == "count_by_difficulty: the counts sum to 13, count_by_type to 14");
  CHECK(assemble_error(pair, with([](AssemblyRules& r) {
                         r.count_by_difficulty = {{0, 4}, {3, 10}};
                       })) == "count_by_difficulty[0]: difficulty must be 1..5");
  CHECK(assemble_error(pair, with([](AssemblyRules& r) {
                         r.count_by_difficulty = {{6, 4}, {3, 10}};
                       })) == "count_by_difficulty[6]: difficulty must be 1..5");
  CHECK(assemble_error(pair, with([](AssemblyRules& r) {
                         r.count_by_difficulty = {{2, -1}, {3, 15}};
                       })) == "count_by_difficulty[2]: must not be negative, got -1");
  CHECK(assemble_error(pair, with([](AssemblyRules& r) { r.target_mean_difficulty = 5.5; })) ==
        "target_mean_difficulty: must be 1..5, got 5.50");
  CHECK(assemble_error(pair, with([](AssemblyRules& r) {
                         r.target_mean_difficulty = 3;
                         r.count_by_difficulty = {{3, 14}};
                       })) ==
        "target_mean_difficulty: cannot be combined with count_by_difficulty, which fixes the "
        "mean");
  CHECK(assemble_error(pair, with([](AssemblyRules& r) { r.mean_tolerance = -0.5; })) ==
        "mean_tolerance: must be >= 0, got -0.50");
  CHECK(assemble_error(pair, with([](AssemblyRules& r) { r.cover_knowledge_points = {""}; })) ==
        "cover_knowledge_points: \"\" is not a knowledge-point path");
  CHECK(assemble_error(pair, with([](AssemblyRules& r) { r.subject = ""; })) ==
        "subject: must be 1..64 characters");
  CHECK_THROWS_AS(pair.store().papers().assemble(PaperKey{"a", "b", "c", "d e"}, basic_rules()),
                  Error);
}

TEMPLATE_TEST_CASE("assembling onto a paper that holds questions is a conflict",
                   "[papers][assembly]", MemoryPair, RedisPostgresPair) {
  TestType pair;
  fill_bank(pair);
  auto& papers = pair.store().papers();
  const auto first = papers.assemble(kPaper, basic_rules(1));
  try {
    papers.assemble(kPaper, basic_rules(2));
    FAIL("assembled twice");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kConflict);
    CHECK(e.message() == "paper tsinghua/cs/se/db101 already holds 14 question(s)");
  }
  CHECK(papers.items(kPaper) == first.items);
  // a paper emptied by edits may be assembled again, keeping its id
  std::vector<PaperOp> clear(first.items.size(), PaperOp{PaperOp::Kind::kRemove, 0, 0, 0});
  papers.apply(kPaper, clear);
  const auto again = papers.assemble(kPaper, basic_rules(2));
  CHECK(again.paper_id == first.paper_id);
  CHECK(papers.items(kPaper) == again.items);
}

TEMPLATE_TEST_CASE("an assembled paper is rebuilt from the database when Redis loses it",
                   "[papers][assembly]", MemoryPair, RedisPostgresPair) {
  TestType pair(30ms);
  fill_bank(pair);
  auto& papers = pair.store().papers();
  const auto p = papers.assemble(kPaper, basic_rules());
  CHECK(pair.store().cache().zcard(pair.paper_keys(kPaper)[0]) == 14);  // written through
  CHECK(pair.store().cache().del(pair.paper_keys(kPaper)) == 4);
  std::this_thread::sleep_for(60ms);  // past the near-cache TTL
  CHECK(papers.items(kPaper) == p.items);
  CHECK(pair.store().cache().zcard(pair.paper_keys(kPaper)[0]) == 14);  // loaded again
  if (pair.postgres()) {
    auto second = pair.open_second();
    CHECK(second->papers().items(kPaper) == p.items);
  }
}

// ---- variants ----

namespace {

/// 20 questions: 8 single (2..6 options), 6 multiple, 3 true/false, 3 fill; appended in order.
std::vector<QuestionId> variant_paper(StorePair& pair, const PaperKey& key) {
  std::vector<QuestionId> ids;
  std::vector<PaperOp> ops;
  for (int i = 0; i < 20; ++i) {
    const QuestionType type = i < 8    ? QuestionType::kSingle
                              : i < 14 ? QuestionType::kMultiple
                              : i < 17 ? QuestionType::kTrueFalse
                                       : QuestionType::kFill;
    ids.push_back(pair.question(type, 3, {"math/algebra"}, "math", 2 + i % 5));
    ops.push_back({PaperOp::Kind::kAppend, 0, 0, ids.back()});
  }
  pair.store().papers().apply(key, ops);
  return ids;
}

std::vector<QuestionId> shown_ids(const PaperVariant& v) {
  std::vector<QuestionId> out;
  for (const auto& i : v.items) out.push_back(i.item.question_id);
  return out;
}

bool is_permutation_of_range(std::vector<int> v) {
  std::sort(v.begin(), v.end());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != static_cast<int>(i)) return false;
  }
  return true;
}

/// The answer a student gives who picks the shown letters of the key's options.
std::string shown_answer(const VariantItem& v, const std::string& key) {
  const auto shown = [&](char original) {
    const auto it = std::find(v.option_order.begin(), v.option_order.end(), original - 'A');
    return std::string(1, static_cast<char>('A' + (it - v.option_order.begin())));
  };
  if (v.item.type == QuestionType::kSingle) return "\"" + shown(key[1]) + "\"";
  std::string out = "[";
  for (const char c : key) {
    if (c >= 'A' && c <= 'Z') out += (out.size() > 1 ? ",\"" : "\"") + shown(c) + "\"";
  }
  return out + "]";
}

}  // namespace

TEMPLATE_TEST_CASE("a variant is a deterministic permutation of the paper", "[papers][variant]",
                   MemoryPair, RedisPostgresPair) {
  TestType pair;
  const auto ids = variant_paper(pair, kPaper);
  auto& papers = pair.store().papers();
  const PaperVariant v = papers.variant(kPaper, 1001);
  CHECK(v.paper == kPaper);
  CHECK(v.student_id == 1001);
  REQUIRE(v.items.size() == 20);
  const auto items = papers.items(kPaper);
  for (std::size_t k = 0; k < v.items.size(); ++k) {
    const VariantItem& i = v.items[k];
    CHECK(i.position == static_cast<int>(k));
    CHECK(items.at(static_cast<std::size_t>(i.paper_position)) == i.item);
    const bool shuffled =
        i.item.type == QuestionType::kSingle || i.item.type == QuestionType::kMultiple;
    if (shuffled) {
      const auto q = pair.store().questions().get_version(i.item.question_id, 1);
      CHECK(i.option_order.size() == q->options.size());
      CHECK(is_permutation_of_range(i.option_order));
    } else {
      CHECK(i.option_order.empty());
    }
    // the hot path gives the same item
    const auto at = papers.variant_at(kPaper, 1001, static_cast<int>(k));
    REQUIRE(at);
    CHECK(at->position == i.position);
    CHECK(at->paper_position == i.paper_position);
    CHECK(at->item == i.item);
    CHECK(at->option_order == i.option_order);
  }
  auto sorted = shown_ids(v);
  std::sort(sorted.begin(), sorted.end());
  CHECK(sorted == ids);
  CHECK_FALSE(papers.variant_at(kPaper, 1001, 20));
  CHECK_FALSE(papers.variant_at(kPaper, 1001, -1));
  CHECK(papers.variant(paper("none"), 1001).items.empty());
  CHECK_FALSE(papers.variant_at(paper("none"), 1001, 0));
  CHECK_THROWS_AS(papers.variant(kPaper, 0), Error);

  // the same again, and on an independent store built the same way
  CHECK(shown_ids(papers.variant(kPaper, 1001)) == shown_ids(v));
  TestType other;
  variant_paper(other, kPaper);
  const PaperVariant w = other.store().papers().variant(kPaper, 1001);
  REQUIRE(w.items.size() == v.items.size());
  for (std::size_t k = 0; k < v.items.size(); ++k) {
    CHECK(w.items[k].item == v.items[k].item);
    CHECK(w.items[k].option_order == v.items[k].option_order);
  }
  if (pair.postgres()) {
    auto second = pair.open_second();
    CHECK(shown_ids(second->papers().variant(kPaper, 1001)) == shown_ids(v));
  }

  // different students see different orders (20! orders: a collision is ~1e-18)
  std::set<std::vector<QuestionId>> orders;
  for (examstore::StudentId s = 1; s <= 30; ++s)
    orders.insert(shown_ids(papers.variant(kPaper, s)));
  CHECK(orders.size() == 30);
  CHECK(shown_ids(v) != ids);
}

TEMPLATE_TEST_CASE("a shown answer maps back to the answer key", "[papers][variant]", MemoryPair,
                   RedisPostgresPair) {
  TestType pair;
  variant_paper(pair, kPaper);
  auto& papers = pair.store().papers();
  int checked = 0;
  for (examstore::StudentId s = 1; s <= 5; ++s) {
    for (const auto& i : papers.variant(kPaper, s).items) {
      const auto q = pair.store().questions().get_version(i.item.question_id, 1);
      if (i.option_order.empty()) {
        CHECK(examstore::to_original_answer(i, q->answer) == q->answer);
        continue;
      }
      const std::string shown = shown_answer(i, q->answer);
      INFO(q->answer << " shown as " << shown);
      CHECK(examstore::to_original_answer(i, shown) == q->answer);
      ++checked;
    }
  }
  CHECK(checked == 5 * 14);

  // a letter out of range names itself
  VariantItem v;
  v.item.type = QuestionType::kMultiple;
  v.option_order = {2, 0, 1};
  CHECK(examstore::to_original_answer(v, "[\"C\",\"A\"]") == "[\"B\",\"C\"]");
  try {
    examstore::to_original_answer(v, "[\"A\",\"D\"]");
    FAIL("mapped");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    CHECK(e.message() == "answer: letter \"D\" is out of range \"A\"..\"C\"");
  }
  v.item.type = QuestionType::kSingle;
  CHECK(examstore::to_original_answer(v, "\"A\"") == "\"C\"");
  CHECK_THROWS_AS(examstore::to_original_answer(v, "\"a\""), Error);
  CHECK_THROWS_WITH(examstore::to_original_answer(v, "[\"A\"]"),
                    Catch::Contains("answer: must be one option letter \"A\"..\"C\""));
  v.item.type = QuestionType::kMultiple;
  CHECK_THROWS_WITH(examstore::to_original_answer(v, "\"A\""),
                    Catch::Contains("answer: must be an array of option letters \"A\"..\"C\""));
  CHECK_THROWS_AS(examstore::to_original_answer(v, "not json"), Error);
}

TEMPLATE_TEST_CASE("adding or removing a question keeps the others' relative order",
                   "[papers][variant]", MemoryPair, RedisPostgresPair) {
  TestType pair;
  const auto ids = variant_paper(pair, kPaper);
  auto& papers = pair.store().papers();
  const auto before = shown_ids(papers.variant(kPaper, 77));
  const QuestionId added = pair.question(QuestionType::kSingle);
  papers.apply(kPaper, {{PaperOp::Kind::kInsert, 3, 0, added}, {PaperOp::Kind::kRemove, 10, 0, 0}});
  const QuestionId removed = ids[9];  // position 10 after the insert
  auto after = shown_ids(papers.variant(kPaper, 77));
  REQUIRE(after.size() == 20);
  CHECK(std::find(after.begin(), after.end(), added) != after.end());
  after.erase(std::remove(after.begin(), after.end(), added), after.end());
  auto expected = before;
  expected.erase(std::remove(expected.begin(), expected.end(), removed), expected.end());
  CHECK(after == expected);
}

TEMPLATE_TEST_CASE("many threads read a variant at once", "[papers][variant][concurrency]",
                   MemoryPair, RedisPostgresPair) {
  TestType pair;
  variant_paper(pair, kPaper);
  auto& papers = pair.store().papers();
  std::vector<VariantItem> want;
  for (examstore::StudentId s = 1; s <= 8; ++s) want.push_back(*papers.variant_at(kPaper, s, 0));
  std::vector<int> wrong(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < 200; ++n) {
        const auto got = papers.variant_at(kPaper, t + 1, 0);
        const auto& w = want[static_cast<std::size_t>(t)];
        if (!got || !(got->item == w.item) || got->option_order != w.option_order) {
          ++wrong[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wrong == std::vector<int>(8, 0));
}

// ---- command line ----

namespace {

using Run = examstore::test::CommandResult;

Run run_cli(const std::string& env, const std::string& args) {
  return examstore::test::run_command(env + " " + EXAMSTORE_CLI_PATH + " " + args + " 2>&1");
}

}  // namespace

TEST_CASE("paper assemble on the command line draws the same paper as the library",
          "[papers][assembly][cli]") {
  RedisPostgresPair pair;
  fill_bank(pair);
  const std::string rules_file = "/tmp/" + examstore::test::unique_name("rules") + ".json";
  std::ofstream(rules_file)
      << R"({"subject": "math", "count_by_type": {"single": 10, "multiple": 4},
                                  "cover_knowledge_points": ["math/calculus"], "seed": 7})";
  const std::string env = "EXAMSTORE_KEY_PREFIX=" + pair.config().key_prefix;
  const std::string servers =
      "--redis " + examstore::test::redis_url() + " --database " + pair.database_url();
  const Run r = run_cli(env, servers + " paper assemble --paper tsinghua/cs/se/cli --rules " +
                                 rules_file + " --json");
  CHECK(r.exit_code == 0);
  AssemblyRules same = basic_rules(7);
  same.cover_knowledge_points = {"math/calculus"};
  const auto want = pair.store().papers().assemble(paper("lib"), same);
  CHECK(pair.store().papers().items(paper("cli")) == want.items);
  std::string ids = "[";
  for (const auto& i : want.items)
    ids += (ids.size() > 1 ? "," : "") + std::to_string(i.question_id);
  CHECK_THAT(r.output, Catch::StartsWith("{\"paper\":\"tsinghua/cs/se/cli\",\"paper_id\":") &&
                           Catch::Contains("\"items\":" + ids + "]"));

  // a second time is a conflict; a short bank and a bad file are reported, exit 1
  const Run again =
      run_cli(env, servers + " paper assemble --paper tsinghua/cs/se/cli --rules " + rules_file);
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.output, Catch::Contains("already holds 14 question(s) (nothing stored)"));
  std::ofstream(rules_file) << R"({"count_by_type": {"essay": 9}})";
  const Run short_bank =
      run_cli(env, servers + " paper assemble --paper tsinghua/cs/se/x --rules " + rules_file);
  CHECK(short_bank.exit_code == 1);
  CHECK_THAT(short_bank.output,
             Catch::Contains("count_by_type[essay]: 9 wanted, 5 eligible: short by 4"));
  std::ofstream(rules_file) << R"({"count_by_type": {"poem": 1}})";
  const Run bad =
      run_cli(env, servers + " paper assemble --paper tsinghua/cs/se/x --rules " + rules_file);
  CHECK(bad.exit_code == 1);
  CHECK_THAT(bad.output, Catch::Contains("field count_by_type: unknown question type \"poem\""));
  CHECK(run_cli(env, servers + " paper assemble --paper tsinghua/cs/se/x").exit_code == 2);
  std::remove(rules_file.c_str());
}
