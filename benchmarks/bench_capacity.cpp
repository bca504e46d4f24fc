// bench_capacity: the Redis memory the paper-storage design's workload costs in our layout, for
// the capacity plan (docs/scaling.md). Not a scenario of issue 5: it measures bytes, not speed.
//
// The design's paper: 20 true/false questions (100 characters), 20 single-choice questions (a
// 100-character stem and 4 options of 50 characters) and 4 essay questions (500 characters),
// "about 10 KB" in UTF-16. Here the characters are CJK, 3 bytes each in UTF-8 as stored.
//
// Measured with MEMORY USAGE of the keys (docs/keys.md names them), divided by the count:
//   paper_index_bytes      one paper's hot keys (order, items, ver, pos) for a 44-item paper;
//                          also as Redis `used_memory` after minus before over all the papers
//   question_cache_bytes   one cached question of the mix above (QuestionBank::get fills it),
//                          and question_guard_bytes: its fill-guard generation keys (TTL'd)
//   attempt_hot_bytes      one started attempt with all 44 questions answered (essays 500
//                          characters), as `used_memory` after minus before over --students
// Also the PostgreSQL bytes of one stored question (pg_column_size of its rows).
//
//   bench_capacity --redis URL --database URL [--papers 500] [--students 500]
// The database is migrated on open; each run adds its own 44 questions and papers.
#include <unistd.h>

#include <filesystem>

#include "bench_common.hpp"
#include "examstore/examstore.hpp"

using namespace examstore;

namespace {

// `n` CJK characters (U+4E00.., 3 bytes each in UTF-8), varied so that nothing compresses.
std::string cjk(int n, int seed) {
  std::string s;
  s.reserve(static_cast<std::size_t>(n) * 3);
  for (int i = 0; i < n; ++i) {
    const unsigned cp = 0x4E00U + static_cast<unsigned>((seed * 131 + i * 7) % 20000);
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

QuestionDraft design_question(int i) {
  QuestionDraft d;
  d.subject = "math";
  d.knowledge_points = {"math/numbers/primes"};
  if (i < 20) {  // true/false: 100 characters
    d.type = QuestionType::kTrueFalse;
    d.stem = cjk(100, i);
    d.answer = "true";
  } else if (i < 40) {  // single choice: 100 + 4 x 50 characters
    d.type = QuestionType::kSingle;
    d.stem = cjk(100, i);
    d.options = {cjk(50, i + 1000), cjk(50, i + 2000), cjk(50, i + 3000), cjk(50, i + 4000)};
    d.answer = R"("B")";
  } else {  // essay: 500 characters
    d.type = QuestionType::kEssay;
    d.stem = cjk(500, i);
    d.answer = R"("see the rubric")";
  }
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args(argc, argv);
  const std::string redis_url = args.required("redis");
  const std::string db_url = args.required("database");
  const int papers = static_cast<int>(args.num("papers", 500));
  const auto students = args.num("students", 500);
  constexpr int kItems = 44;

  Config config;
  config.with_redis_url(redis_url).with_database_url(db_url);
  config.key_prefix = "bcap" + std::to_string(::getpid());
  config.migrate_on_open = true;
  const auto journal =
      std::filesystem::temp_directory_path() / ("bench-capacity-" + std::to_string(::getpid()));
  config.write_behind.journal_dir = journal.string();
  auto store = Store::open(config);
  bench::RawRedis raw(redis_url);

  const auto usage = [&raw](const std::string& key) {
    const std::string v = raw.command({"MEMORY", "USAGE", key});
    if (v.empty()) bench::fail("no such key: " + key);
    return std::stod(v);
  };
  std::vector<PaperOp> ops;
  std::int64_t content_bytes = 0;
  for (int i = 0; i < kItems; ++i) {
    const QuestionDraft d = design_question(i);
    content_bytes += static_cast<std::int64_t>(d.stem.size());
    for (const auto& o : d.options) content_bytes += static_cast<std::int64_t>(o.size());
    ops.push_back({PaperOp::Kind::kAppend, 0, 0, store->questions().create(d).id});
  }
  const double pg_per_question =
      std::stod(bench::sql_value(db_url, "SELECT avg(pg_column_size(q.*)) FROM questions q")) +
      std::stod(bench::sql_value(
          db_url, "SELECT coalesce(avg(pg_column_size(v.*)), 0) FROM question_versions v"));

  // Cached questions: read each once (a miss fills the hot tier).
  double question_bytes = 0, guard_bytes = 0;
  for (const auto& op : ops) {
    if (!store->questions().get(op.question_id)) bench::fail("a created question is missing");
    const std::string key =
        config.key_prefix + ":question:{q:" + std::to_string(op.question_id) + "}";
    question_bytes += usage(key);
    guard_bytes += usage(key + ":gen") + usage(key + ":v1:gen");
  }

  // Paper indexes: `papers` papers of the same 44 questions (the index holds references only).
  const double p0 = raw.info_number("memory", "used_memory");
  std::vector<PaperKey> keys;
  for (int p = 0; p < papers; ++p) {
    keys.push_back({"school_" + std::to_string(p % 450), "dept", "major",
                    "c" + std::to_string(::getpid()) + "_" + std::to_string(p)});
    store->papers().apply(keys.back(), ops);
  }
  store->papers().warm_up(keys);
  for (const auto& k : keys) {
    if (store->papers().count(k) != kItems) bench::fail("a paper lost items");
  }
  const double used_per_paper = (raw.info_number("memory", "used_memory") - p0) / papers;
  double index_bytes = 0;
  for (const auto& k : keys) {
    const std::string base = config.key_prefix + ":paper:{" + k.str() + "}:";
    for (const char* part : {"order", "items", "ver", "pos"}) index_bytes += usage(base + part);
  }

  // Attempts: every student starts and answers every question once.
  const auto now = std::chrono::system_clock::now();
  const ExamId exam =
      store->exams()
          .create({"capacity", now - std::chrono::minutes(1), now + std::chrono::hours(3), "{}"})
          .id;
  std::vector<StudentId> ids;
  for (std::int64_t i = 0; i < students; ++i) {
    ids.push_back(store->students()
                      .create({config.key_prefix + "-" + std::to_string(i), "s", "c", "", ""})
                      .id);
  }
  const double a0 = raw.info_number("memory", "used_memory");
  store->attempts().precreate({exam, keys.front(), std::chrono::hours(2), ids});
  for (const StudentId sid : ids) {
    store->attempts().start(exam, sid, std::chrono::system_clock::now());
    for (int i = 0; i < kItems; ++i) {
      const std::string answer = i < 20 ? "true" : i < 40 ? R"("B")" : "\"" + cjk(500, i) + "\"";
      store->attempts().autosave({exam, sid, ops[static_cast<std::size_t>(i)].question_id, 1,
                                  answer, std::chrono::system_clock::now()});
    }
  }
  store->flush(std::chrono::seconds(120));
  const double per_attempt =
      (raw.info_number("memory", "used_memory") - a0) / static_cast<double>(students);

  store.reset();
  std::filesystem::remove_all(journal);

  bench::JsonLine out;
  out.add("scenario", "capacity")
      .add("papers", papers)
      .add("items_per_paper", kItems)
      .add("paper_index_bytes", index_bytes / papers)
      .add("paper_used_memory_bytes", used_per_paper)
      .add("question_cache_bytes", question_bytes / kItems)
      .add("question_guard_bytes", guard_bytes / kItems)
      .add("question_content_bytes", static_cast<double>(content_bytes) / kItems)
      .add("question_pg_bytes", pg_per_question)
      .add("students", students)
      .add("attempt_hot_bytes", per_attempt);
  out.print();
  return 0;
}
