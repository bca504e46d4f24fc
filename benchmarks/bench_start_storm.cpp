// bench_start_storm: the start of an exam (issue 5, scenario start_storm). 10,000 pre-created
// attempts are started by 64 threads of one process at once, each followed by the student's
// first question (PaperStore::at(paper, 0)), on Redis + PostgreSQL with the write-behind journal
// (start() is acknowledged at Durability::kJournaled). Prints total wall time and the p50/p99
// of one start + first read in ms.
//
//   bench_start_storm --redis URL --database URL [--students 10000] [--threads 64]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "bench_common.hpp"
#include "examstore/examstore.hpp"

using namespace examstore;

int main(int argc, char** argv) {
  const bench::Args args(argc, argv);
  const std::string redis_url = args.required("redis");
  const std::string db_url = args.required("database");
  const auto n = args.num("students", 10000);
  const auto threads = static_cast<int>(args.num("threads", 64));

  const auto journal =
      std::filesystem::temp_directory_path() / ("bench-start-" + std::to_string(::getpid()));
  Config config;
  config.with_redis_url(redis_url).with_database_url(db_url);
  config.key_prefix = "bss" + std::to_string(::getpid());
  config.migrate_on_open = true;
  config.write_behind.journal_dir = journal.string();
  config.redis.pool_size = threads;
  config.postgres.pool_size = 8;
  auto store = Store::open(config);

  const auto now = std::chrono::system_clock::now();
  const ExamId exam =
      store->exams()
          .create({"start storm", now - std::chrono::minutes(1), now + std::chrono::hours(2), "{}"})
          .id;
  const PaperKey paper{"bench", "cs", "se", "storm" + std::to_string(::getpid())};
  std::vector<PaperOp> ops;
  for (int i = 0; i < 20; ++i) {
    QuestionDraft d;
    d.type = QuestionType::kTrueFalse;
    d.stem = "question " + std::to_string(i);
    d.answer = "true";
    d.subject = "math";
    d.knowledge_points = {"math/algebra"};
    ops.push_back({PaperOp::Kind::kAppend, 0, 0, store->questions().create(d).id});
  }
  store->papers().apply(paper, ops);
  std::vector<StudentId> students;
  students.reserve(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    students.push_back(store->students()
                           .create({config.key_prefix + "-" + std::to_string(i), "s", "c", "", ""})
                           .id);
  }
  auto t0 = bench::Clock::now();
  const auto made = store->attempts().precreate({exam, paper, std::chrono::hours(1), students});
  const double precreate_s = bench::seconds_since(t0);
  bench::check(made == n, "precreate created " + std::to_string(made));
  bench::note("precreated " + std::to_string(made) + " attempts in " + std::to_string(precreate_s) +
              " s");

  std::vector<std::vector<double>> per_thread(static_cast<std::size_t>(threads));
  std::atomic<std::int64_t> next{0};
  std::atomic<std::int64_t> errors{0};
  bench::StartGate gate;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      gate.wait();
      auto& lat = per_thread[static_cast<std::size_t>(t)];
      for (std::int64_t i = next++; i < n; i = next++) {
        const auto s0 = bench::Clock::now();
        try {
          store->attempts().start(exam, students[static_cast<std::size_t>(i)],
                                  std::chrono::system_clock::now());
          if (!store->papers().at(paper, 0)) ++errors;
        } catch (const Error& e) {
          if (errors++ == 0) bench::note(std::string("error: ") + e.what());
        }
        lat.push_back(bench::seconds_since(s0) * 1000.0);
      }
    });
  }
  t0 = bench::Clock::now();
  gate.open();
  for (auto& th : pool) th.join();
  const double wall = bench::seconds_since(t0);
  std::vector<double> all;
  for (const auto& v : per_thread) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end());
  auto pct = [&all](double p) {
    return all.empty() ? 0.0
                       : all[std::min(all.size() - 1, static_cast<std::size_t>(p * all.size()))];
  };
  store->flush(std::chrono::seconds(60));
  bench::check(errors == 0, std::to_string(errors.load()) + " starts failed");
  store.reset();
  std::filesystem::remove_all(journal);

  bench::JsonLine()
      .add("scenario", "start_storm")
      .add("ours", pct(0.99))
      .add("unit", "ms p99")
      .add("p50_ms", pct(0.50))
      .add("max_ms", all.empty() ? 0.0 : all.back())
      .add("wall_s", wall)
      .add("starts", static_cast<std::int64_t>(all.size()))
      .add("threads", threads)
      .add("precreate_s", precreate_s)
      .print();
  return 0;
}
