// tests/contract/question_bank_test.cpp: the contract of examstore/question_bank.hpp, run
// against both backend pairs (MemoryPair: memory:// cache and database; RedisPostgresPair: the
// test Redis and a fresh, migrated TempDatabase), plus the `examstore questions` command.
//
// Every test opens its own Store with a key_prefix of its own and (server pair) its own
// database, so ids start at 1 on both pairs and the two must agree value for value.
#include <catch2/catch.hpp>

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/question_bank.hpp"
#include "examstore/store.hpp"
#include "support/test_env.hpp"

namespace {

using examstore::Config;
using examstore::Error;
using examstore::ErrorCode;
using examstore::Question;
using examstore::QuestionBank;
using examstore::QuestionDraft;
using examstore::QuestionId;
using examstore::QuestionSearch;
using examstore::QuestionType;
using examstore::Store;
namespace fs = std::filesystem;

class Harness {
 public:
  explicit Harness(bool postgres) : postgres_(postgres) {
    if (postgres_) db_ = std::make_unique<examstore::test::TempDatabase>();
    config_.key_prefix = examstore::test::unique_name("qb");
    if (postgres_) {
      config_.with_redis_url(examstore::test::redis_url());
      config_.with_database_url(db_->migrate_and_restrict());  // runs as the app role
    }
    store_ = Store::open(config_);
  }
  ~Harness() { store_.reset(); }
  Harness(const Harness&) = delete;
  Harness& operator=(const Harness&) = delete;

  QuestionBank& bank() { return store_->questions(); }
  bool postgres() const { return postgres_; }
  std::string sql(const std::string& statement) const {
    REQUIRE(postgres_);
    return db_->query_value(statement);
  }

 private:
  bool postgres_;
  std::unique_ptr<examstore::test::TempDatabase> db_;
  Config config_;
  std::unique_ptr<Store> store_;
};

struct MemoryPair : Harness {
  MemoryPair() : Harness(false) {}
};
struct RedisPostgresPair : Harness {
  RedisPostgresPair() : Harness(true) {}
};

template <typename F>
Error error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e;
  }
  FAIL("expected an examstore::Error, but the call succeeded");
  throw std::logic_error("unreachable");
}

#define CHECK_ERROR(expr, want_code, needle)                             \
  do {                                                                   \
    const Error err_ = error_of([&] { (void)(expr); });                  \
    INFO("error: " << err_.what());                                      \
    CHECK(static_cast<int>(err_.code()) == static_cast<int>(want_code)); \
    CHECK_THAT(std::string(err_.what()), Catch::Contains(needle));       \
  } while (false)

QuestionDraft single(const std::string& stem, const std::string& subject = "math",
                     std::vector<std::string> points = {"math/algebra/linear"},
                     int difficulty = 3) {
  QuestionDraft d;
  d.type = QuestionType::kSingle;
  d.stem = stem;
  d.options = {"1", "2", "3"};
  d.answer = "\"B\"";
  d.score = 2.5;
  d.difficulty = difficulty;
  d.subject = subject;
  d.knowledge_points = std::move(points);
  d.media = {"img/q1.png"};
  d.author = "ada";
  return d;
}

std::vector<QuestionId> ids_of(const std::vector<Question>& qs) {
  std::vector<QuestionId> out;
  for (const auto& q : qs) out.push_back(q.id);
  return out;
}

/// Every field but created_at.
void check_same(const Question& a, const Question& b) {
  CHECK(a.id == b.id);
  CHECK(a.version == b.version);
  CHECK(a.type == b.type);
  CHECK(a.stem == b.stem);
  CHECK(a.options == b.options);
  CHECK(a.answer == b.answer);
  CHECK(a.score == b.score);
  CHECK(a.difficulty == b.difficulty);
  CHECK(a.subject == b.subject);
  CHECK(a.knowledge_points == b.knowledge_points);
  CHECK(a.media == b.media);
  CHECK(a.author == b.author);
}

// The record objects start on lines 2, 3, 7 and 11.
const char* const kBadFile = R"([
  {"type": "single", "stem": "ok", "options": ["a", "b"], "answer": "A", "score": 1, "difficulty": 1, "subject": "math", "knowledge_points": ["math"]},
  {"type": "single", "stem": "2+2", "options": ["3", "4"], "answer": "C",
   "score": 1.005, "difficulty": 9, "subject": "math",
   "knowledge_points": ["math//x"]
  },
  {
    "type": "essay", "stem": "", "answer": "x", "score": 2,
    "difficulty": 2, "subject": "history", "knowledge_points": [], "colour": 1
  },
  {"type": "true_false", "stem": "yes?", "options": ["x"], "answer": "true", "score": 1,
   "difficulty": 2, "subject": "logic", "knowledge_points": ["logic"]}
]
)";

const std::vector<std::string> kBadFileErrors = {
    "line 3: field answer: must be the letter of one option, \"A\"..\"B\"",
    "line 3: field score: must have at most 2 decimals",
    "line 3: field difficulty: must be an integer 1..5",
    "line 3: field knowledge_points: \"math//x\" is not a path: part 2 must be 1..64 of A-Z a-z "
    "0-9 _ -",
    "line 7: field stem: must not be empty",
    "line 7: field knowledge_points: at least one is needed",
    "line 7: field colour: unknown field",
    "line 11: field options: a true_false question has no options",
};

}  // namespace

TEMPLATE_TEST_CASE("question create, get, edit and versions", "[questions][contract]", MemoryPair,
                   RedisPostgresPair) {
  TestType h;
  QuestionBank& bank = h.bank();
  const Question q1 = bank.create(single("1+1?"));
  CHECK(q1.id == 1);
  CHECK(q1.version == 1);
  CHECK(q1.score == 2.5);
  CHECK(q1.answer == "\"B\"");
  CHECK(q1.knowledge_points == std::vector<std::string>{"math/algebra/linear"});
  auto got = bank.get(1);
  REQUIRE(got);
  check_same(*got, q1);
  CHECK(got->created_at == q1.created_at);

  QuestionDraft d2 = single("1+1=?");
  d2.score = 3.25;
  d2.knowledge_points = {"math/b", "math/a", "math/b"};
  const Question v2 = bank.edit(1, d2);
  CHECK(v2.version == 2);
  CHECK(v2.knowledge_points == std::vector<std::string>{"math/a", "math/b"});
  got = bank.get(1);  // the edit invalidated the cached version 1
  REQUIRE(got);
  CHECK(got->version == 2);
  CHECK(got->stem == "1+1=?");
  CHECK(got->score == 3.25);
  const auto old = bank.get_version(1, 1);
  REQUIRE(old);
  check_same(*old, q1);
  const auto now2 = bank.get_version(1, 2);
  REQUIRE(now2);
  check_same(*now2, v2);
  CHECK_FALSE(bank.get_version(1, 3));
  CHECK_FALSE(bank.get(2));
  // an "absent" marker cached for version 3 must not hide the version an edit writes
  CHECK(bank.edit(1, single("third")).version == 3);
  REQUIRE(bank.get_version(1, 3));
  CHECK(bank.get_version(1, 3)->stem == "third");
  CHECK_ERROR(bank.edit(7, single("x")), ErrorCode::kNotFound, "question 7 does not exist");
  CHECK_ERROR(bank.get(0), ErrorCode::kInvalidArgument, "id");

  if (h.postgres()) {
    CHECK(h.sql("SELECT count(*) FROM question_versions WHERE question_id = 1") == "3");
    CHECK(h.sql("SELECT current_version FROM questions WHERE id = 1") == "3");
    CHECK(h.sql("SELECT score FROM question_versions WHERE question_id = 1 AND version = 2") ==
          "3.25");
  }
}

TEMPLATE_TEST_CASE("question create checks every field per type", "[questions][contract]",
                   MemoryPair, RedisPostgresPair) {
  TestType h;
  QuestionBank& bank = h.bank();
  QuestionDraft d = single("q");
  d.options = {"only"};
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "options: a single question needs 2");
  d = single("q");
  d.answer = "\"D\"";
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "answer: must be the letter");
  d.answer = "\"2\"";  // the option's text is not the rule: its letter is
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "answer: must be the letter");
  d = single("q");
  d.type = QuestionType::kMultiple;
  d.answer = "[\"A\",\"A\"]";
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "answer: must be an array of distinct");
  d.answer = "[\"A\",\"C\"]";
  CHECK(bank.create(d).answer == "[\"A\",\"C\"]");
  d = single("q");
  d.type = QuestionType::kTrueFalse;
  d.answer = "true";
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "options: a true_false question has");
  d.options.clear();
  d.answer = "\"true\"";
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "answer: must be true or false");
  d.answer = "false";
  CHECK(bank.create(d).type == QuestionType::kTrueFalse);
  d = single("q");
  d.type = QuestionType::kFill;
  d.options.clear();
  d.answer = "42";
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "answer: must be a string");
  d.answer = "not json";
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "answer: not valid JSON");
  d = single("q");
  d.score = 0;
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "score: must be greater than 0");
  d.score = 1.234;
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "score: must have at most 2 decimals");
  d.score = 1000000;
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "score: must be at most 999999.99");
  d = single("q", "math", {"math/algebra/linear"}, 6);
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "difficulty: must be 1..5, got 6");
  d = single("q", std::string(65, 's'));
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "subject: must be 1..64 characters");
  d = single("q", "math", {});
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "knowledge_points: at least one");
  d = single("q", "math", {"math/al gebra"});
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "is not a path: part 2");
  d = single("q", "math", {std::string(65, 'a')});
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "is not a path: part 1");
  d = single("");
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "stem: must not be empty");
  // nothing bad was stored; the two good ones got ids 1 and 2
  CHECK(ids_of(bank.search({})) == std::vector<QuestionId>{1, 2});
}

TEMPLATE_TEST_CASE("question ids: sequence, given ids, conflicts", "[questions][contract]",
                   MemoryPair, RedisPostgresPair) {
  TestType h;
  QuestionBank& bank = h.bank();
  CHECK(bank.create(single("a")).id == 1);
  QuestionDraft d = single("b");
  d.id = 10;
  CHECK(bank.create(d).id == 10);
  CHECK(bank.create(single("c")).id == 11);  // the sequence moved past the given id
  CHECK_ERROR(bank.create(d), ErrorCode::kConflict, "question 10 already exists");
  d.id = 5;
  CHECK(bank.create(d).id == 5);
  CHECK(bank.create(single("d")).id == 13);  // setval(GREATEST(5, nextval)) used up 12
  d.id = 0;
  CHECK_ERROR(bank.create(d), ErrorCode::kInvalidArgument, "id: must be positive");
}

TEMPLATE_TEST_CASE("question search: subject, knowledge point subtree, type, difficulty, paging",
                   "[questions][contract]", MemoryPair, RedisPostgresPair) {
  TestType h;
  QuestionBank& bank = h.bank();
  bank.create(single("q1", "math", {"math/algebra/linear"}, 1));        // 1
  bank.create(single("q2", "math", {"math/algebra"}, 2));               // 2
  bank.create(single("q3", "math", {"math/algebraic"}, 3));             // 3
  bank.create(single("q4", "physics", {"physics/optics", "math"}, 4));  // 4
  QuestionDraft tf = single("q5", "math", {"axb/c"}, 5);
  tf.type = QuestionType::kTrueFalse;
  tf.options.clear();
  tf.answer = "true";
  bank.create(tf);  // 5

  QuestionSearch f;
  CHECK(ids_of(bank.search(f)) == std::vector<QuestionId>{1, 2, 3, 4, 5});
  f.subject = "math";
  CHECK(ids_of(bank.search(f)) == std::vector<QuestionId>{1, 2, 3, 5});
  f = {};
  f.knowledge_point = "math/algebra";  // itself and descendants, not a sibling "math/algebraic"
  CHECK(ids_of(bank.search(f)) == std::vector<QuestionId>{1, 2});
  f.knowledge_point = "math";
  CHECK(ids_of(bank.search(f)) == std::vector<QuestionId>{1, 2, 3, 4});
  f.knowledge_point = "a_b";  // '_' is not a wildcard
  CHECK(bank.search(f).empty());
  f.knowledge_point = "axb";
  CHECK(ids_of(bank.search(f)) == std::vector<QuestionId>{5});
  f.knowledge_point = "nowhere";
  CHECK(bank.search(f).empty());
  f = {};
  f.type = QuestionType::kTrueFalse;
  CHECK(ids_of(bank.search(f)) == std::vector<QuestionId>{5});
  f = {};
  f.min_difficulty = 2;
  f.max_difficulty = 4;
  CHECK(ids_of(bank.search(f)) == std::vector<QuestionId>{2, 3, 4});
  f.limit = 2;
  CHECK(ids_of(bank.search(f)) == std::vector<QuestionId>{2, 3});
  f.after_id = 3;
  CHECK(ids_of(bank.search(f)) == std::vector<QuestionId>{4});
  // search reads current versions: an edit moves q1 out of "math"
  bank.edit(1, single("q1b", "chemistry", {"chem"}, 1));
  f = {};
  f.subject = "math";
  CHECK(ids_of(bank.search(f)) == std::vector<QuestionId>{2, 3, 5});
  f.subject = "chemistry";
  const auto chem = bank.search(f);
  REQUIRE(chem.size() == 1);
  CHECK(chem[0].version == 2);
  f = {};
  f.limit = 0;
  CHECK_ERROR(bank.search(f), ErrorCode::kInvalidArgument, "limit");
  f = {};
  f.min_difficulty = 4;
  f.max_difficulty = 2;
  CHECK_ERROR(bank.search(f), ErrorCode::kInvalidArgument, "difficulty");
  f = {};
  f.knowledge_point = "bad path";
  CHECK_ERROR(bank.search(f), ErrorCode::kInvalidArgument, "knowledge_point");

  if (h.postgres()) {  // the tree: every prefix exists once, linked to its parent
    CHECK(h.sql("SELECT count(*) FROM knowledge_points WHERE path LIKE 'math%'") == "4");
    CHECK(h.sql("SELECT p.path FROM knowledge_points c JOIN knowledge_points p ON p.id = "
                "c.parent_id WHERE c.path = 'math/algebra/linear'") == "math/algebra");
    CHECK(h.sql("SELECT name FROM knowledge_points WHERE path = 'math/algebra/linear'") ==
          "linear");
    CHECK(h.sql("SELECT count(*) FROM knowledge_points WHERE path = 'math' AND parent_id IS "
                "NULL") == "1");
  }
}

TEMPLATE_TEST_CASE("question import names every bad record and imports nothing",
                   "[questions][contract]", MemoryPair, RedisPostgresPair) {
  TestType h;
  QuestionBank& bank = h.bank();
  const Error e = error_of([&] { bank.import_json(kBadFile); });
  CHECK(e.code() == ErrorCode::kInvalidArgument);
  std::string want;
  for (const auto& line : kBadFileErrors) want += (want.empty() ? "" : "\n") + line;
  CHECK(e.message() == want);
  CHECK(bank.search({}).empty());  // the good first record was not stored either
  CHECK(bank.create(single("after")).id == 1);
  if (h.postgres()) CHECK(h.sql("SELECT count(*) FROM knowledge_points") == "3");

  // duplicate ids: within the file, and already in the bank
  const std::string dup = R"([
{"id": 7, "type": "fill", "stem": "a", "answer": "x", "score": 1, "difficulty": 1, "subject": "s", "knowledge_points": ["k"]},
{"id": 7, "type": "fill", "stem": "b", "answer": "y", "score": 1, "difficulty": 1, "subject": "s", "knowledge_points": ["k"]},
{"id": 1, "type": "fill", "stem": "c", "answer": "z", "score": 1, "difficulty": 1, "subject": "s", "knowledge_points": ["k"]},
"text",
{"id": "9"}
])";
  const Error d = error_of([&] { bank.import_json(dup); });
  CHECK(d.message() ==
        "line 3: field id: duplicate of the record on line 2\n"
        "line 4: field id: question 1 already exists\n"
        "line 5: field (record): must be an object, got a string\n"
        "line 6: field id: must be an integer\n"
        "line 6: field type: is required\n"
        "line 6: field stem: is required\n"
        "line 6: field answer: is required\n"
        "line 6: field score: is required\n"
        "line 6: field difficulty: is required\n"
        "line 6: field subject: is required\n"
        "line 6: field knowledge_points: is required");
  CHECK(ids_of(bank.search({})) == std::vector<QuestionId>{1});
  CHECK_ERROR(bank.import_json("[1,"), ErrorCode::kInvalidArgument, "not valid JSON: line 1");
  CHECK_ERROR(bank.import_json("{}"), ErrorCode::kInvalidArgument, "must be a JSON array");
  CHECK(bank.import_json("[]").empty());
}

TEMPLATE_TEST_CASE("question import keeps given ids and moves the sequence past them",
                   "[questions][contract]", MemoryPair, RedisPostgresPair) {
  TestType h;
  QuestionBank& bank = h.bank();
  const std::string file = R"([
{"type": "fill", "stem": "first", "answer": "x", "score": 1, "difficulty": 1, "subject": "s", "knowledge_points": ["k/a"]},
{"id": 2, "type": "single", "stem": "two", "options": ["p", "q"], "answer": "B", "score": 0.5, "difficulty": 2, "subject": "s", "knowledge_points": ["k/b", "k/a"], "media": ["m.png"], "author": "bo"},
{"type": "multiple", "stem": "third", "options": ["p", "q", "r"], "answer": [ "A",
  "C" ], "score": 12.75, "difficulty": 5, "subject": "t", "knowledge_points": ["k"]}
])";
  // records with ids first (2), then the sequence: setval(GREATEST(2, 1)) -> 3, 4
  CHECK(bank.import_json(file) == std::vector<QuestionId>{3, 2, 4});
  const auto two = bank.get(2);
  REQUIRE(two);
  CHECK(two->type == QuestionType::kSingle);
  CHECK(two->answer == "\"B\"");
  CHECK(two->score == 0.5);
  CHECK(two->knowledge_points == std::vector<std::string>{"k/a", "k/b"});
  CHECK(two->media == std::vector<std::string>{"m.png"});
  CHECK(two->author == "bo");
  const auto four = bank.get(4);
  REQUIRE(four);
  CHECK(four->answer == "[\"A\",\"C\"]");  // answers are kept in compact form
  CHECK(four->score == 12.75);
  CHECK(bank.create(single("next")).id == 5);
}

TEMPLATE_TEST_CASE("question export then import into an empty bank gives equal questions",
                   "[questions][contract]", MemoryPair, RedisPostgresPair) {
  std::vector<Question> originals;
  std::string exported;
  {
    TestType h;
    QuestionBank& bank = h.bank();
    bank.create(single("s\"q\"\n", "math", {"math/algebra"}, 2));
    QuestionDraft m = single("multi", "math", {"math", "logic/sets"}, 4);
    m.type = QuestionType::kMultiple;
    m.answer = "[\"A\",\"B\"]";
    m.score = 0.05;
    bank.create(m);
    QuestionDraft tf = single("tf", "logic", {"logic"}, 1);
    tf.type = QuestionType::kTrueFalse;
    tf.options.clear();
    tf.answer = "false";
    tf.media.clear();
    tf.author.clear();
    tf.id = 40;
    bank.create(tf);
    QuestionDraft essay = single("essay", "history", {"h"}, 5);
    essay.type = QuestionType::kEssay;
    essay.options.clear();
    essay.answer = "\"rubric: \\u00e9\"";
    essay.score = 100;
    bank.edit(bank.create(essay).id, essay);  // exports the current version, as version 1
    originals = bank.search({});
    REQUIRE(originals.size() == 4);
    exported = bank.export_json({});
    QuestionSearch f;
    f.subject = "logic";
    CHECK(bank.export_json(f) ==
          "[\n  {\"id\":40,\"type\":\"true_false\",\"stem\":\"tf\",\"options\":[],\"answer\":"
          "false,\"score\":2.5,\"difficulty\":1,\"subject\":\"logic\",\"knowledge_points\":["
          "\"logic\"],\"media\":[],\"author\":\"\"}\n]");
    f.subject = "none";
    CHECK(bank.export_json(f) == "[]");
    QuestionSearch small;
    small.limit = 1;  // a page size: the export still has every question
    CHECK(bank.export_json(small) == exported);
  }
  TestType fresh;
  CHECK(fresh.bank().import_json(exported) == ids_of(originals));
  const auto copies = fresh.bank().search({});
  REQUIRE(copies.size() == originals.size());
  for (std::size_t i = 0; i < copies.size(); ++i) {
    Question want = originals[i];
    want.version = 1;
    if (want.type == QuestionType::kEssay) want.answer = "\"rubric: é\"";  // compact form
    check_same(copies[i], want);
  }
  CHECK(fresh.bank().export_json({}) == exported);
}

TEMPLATE_TEST_CASE("question reads are served from the cache", "[questions][contract]", MemoryPair,
                   RedisPostgresPair) {
  TestType h;
  QuestionBank& bank = h.bank();
  bank.create(single("cached"));
  REQUIRE(bank.get(1));
  REQUIRE(bank.get_version(1, 1));
  if (h.postgres()) {
    // a change behind the bank's back is not seen: both reads come from Redis
    h.sql("UPDATE question_versions SET stem = 'behind' WHERE question_id = 1");
    CHECK(bank.get(1)->stem == "cached");
    CHECK(bank.get_version(1, 1)->stem == "cached");
  }
  bank.edit(1, single("edited"));
  CHECK(bank.get(1)->stem == "edited");
  CHECK(bank.get_version(1, 2)->stem == "edited");
}

// ---- the command line ----

namespace {

using Run = examstore::test::CommandResult;
Run run(const std::string& args) { return examstore::test::run_cli(args); }

std::string write_temp(const std::string& text) {
  const fs::path path =
      fs::temp_directory_path() / (examstore::test::unique_name("questions-") + ".json");
  std::ofstream(path) << text;
  return path.string();
}

}  // namespace

TEST_CASE("examstore questions import and export", "[questions][cli][redis][postgres]") {
  examstore::test::TempDatabase db;
  const std::string both = "--redis " + examstore::test::redis_url() + " --database " + db.url();
  REQUIRE(run(both + " migrate up").exit_code == 0);

  const std::string bad = write_temp(kBadFile);
  Run r = run(both + " questions import " + bad);
  CHECK(r.exit_code == 1);
  for (const auto& line : kBadFileErrors) CHECK_THAT(r.output, Catch::Contains(line));
  CHECK_THAT(r.output, Catch::Contains("nothing imported"));
  r = run(both + " questions export");
  CHECK(r.exit_code == 0);
  CHECK(r.output == "[]\n");

  const std::string good = write_temp(R"([
{"id": 3, "type": "fill", "stem": "capital of France", "answer": "Paris", "score": 2, "difficulty": 1, "subject": "geo", "knowledge_points": ["geo/europe"]},
{"type": "true_false", "stem": "sky is blue", "answer": true, "score": 1.5, "difficulty": 2, "subject": "sci", "knowledge_points": ["sci"]}
])");
  r = run(both + " questions import " + good);
  CHECK(r.exit_code == 0);
  CHECK(r.output == "imported 2 questions\n");
  r = run(both + " questions export --subject geo");
  CHECK(r.exit_code == 0);
  CHECK(r.output ==
        "[\n  {\"id\":3,\"type\":\"fill\",\"stem\":\"capital of France\",\"options\":[],"
        "\"answer\":\"Paris\",\"score\":2,\"difficulty\":1,\"subject\":\"geo\","
        "\"knowledge_points\":[\"geo/europe\"],\"media\":[],\"author\":\"\"}\n]\n");
  r = run(both + " questions export --type true_false");
  CHECK(r.exit_code == 0);
  CHECK_THAT(r.output, Catch::Contains("\"id\":4,") && Catch::Contains("\"score\":1.5"));
  CHECK(run(both + " questions import " + good).exit_code == 1);  // ids taken now
  CHECK(run(both + " questions export --type bogus").exit_code == 2);
  CHECK(run(both + " questions import").exit_code == 2);
  CHECK(run(both + " questions import /nonexistent/file.json").exit_code == 1);
  fs::remove(bad);
  fs::remove(good);
}
