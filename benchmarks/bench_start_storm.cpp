// bench_start_storm: the start of an exam (issue 5, scenario start_storm). 10,000 pre-created
// attempts are started by 64 threads of one process at once, each followed by the student's
// first question (PaperStore::at(paper, 0)), on Redis + PostgreSQL with the write-behind journal
// (start() is acknowledged at Durability::kJournaled). Prints total wall time and the p50/p99
// of one start + first read in ms.
//
// Where the tail comes from: each worker also reads its own run-queue wait (the second field of
// /proc/thread-self/schedstat: time runnable but not running) around every start, and the
// program reports the p99 of the latency without that wait, and the mean wait per start; and
// the CPU one start costs this process and the Redis server (INFO cpu), which bound how many
// starts a second the machine can run, and so (Little's law) the latency of 64 at once.
//
//   bench_start_storm --redis URL --database URL [--students 10000] [--threads 64]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "bench_common.hpp"
#include "examstore/examstore.hpp"

using namespace examstore;

namespace {

// This thread's time spent waiting on a run queue so far, in ms (0 when schedstat is absent).
double run_queue_wait_ms() {
  std::ifstream f("/proc/thread-self/schedstat");
  unsigned long long on_cpu = 0, waited = 0;
  f >> on_cpu >> waited;
  return static_cast<double>(waited) / 1e6;
}

}  // namespace

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
  std::vector<std::vector<double>> unqueued(static_cast<std::size_t>(threads));
  std::atomic<std::int64_t> next{0};
  std::atomic<std::int64_t> errors{0};
  bench::StartGate gate;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      gate.wait();
      auto& lat = per_thread[static_cast<std::size_t>(t)];
      auto& lat_unqueued = unqueued[static_cast<std::size_t>(t)];
      for (std::int64_t i = next++; i < n; i = next++) {
        const double q0 = run_queue_wait_ms();
        const auto s0 = bench::Clock::now();
        try {
          store->attempts().start(exam, students[static_cast<std::size_t>(i)],
                                  std::chrono::system_clock::now());
          if (!store->papers().at(paper, 0)) ++errors;
        } catch (const Error& e) {
          if (errors++ == 0) bench::note(std::string("error: ") + e.what());
        }
        const double ms = bench::seconds_since(s0) * 1000.0;
        lat.push_back(ms);
        lat_unqueued.push_back(ms - (run_queue_wait_ms() - q0));
      }
    });
  }
  const MetricsSnapshot m0 = store->metrics();
  bench::RawRedis raw(redis_url);
  const auto redis_cpu_s = [&raw] {
    return raw.info_number("cpu", "used_cpu_user") + raw.info_number("cpu", "used_cpu_sys");
  };
  const double redis_cpu0 = redis_cpu_s();
  const double cpu0 = bench::cpu_micros();
  t0 = bench::Clock::now();
  gate.open();
  for (auto& th : pool) th.join();
  const double wall = bench::seconds_since(t0);
  const double client_cpu_us = bench::cpu_micros() - cpu0;
  const double redis_cpu_us = (redis_cpu_s() - redis_cpu0) * 1e6;
  const auto sorted = [](const std::vector<std::vector<double>>& parts) {
    std::vector<double> v;
    for (const auto& part : parts) v.insert(v.end(), part.begin(), part.end());
    std::sort(v.begin(), v.end());
    return v;
  };
  const std::vector<double> all = sorted(per_thread);
  const std::vector<double> all_unqueued = sorted(unqueued);
  const auto pct_of = [](const std::vector<double>& v, double p) {
    return v.empty() ? 0.0 : v[std::min(v.size() - 1, static_cast<std::size_t>(p * v.size()))];
  };
  const auto pct = [&](double p) { return pct_of(all, p); };
  double sum = 0, sum_unqueued = 0;
  for (double x : all) sum += x;
  for (double x : all_unqueued) sum_unqueued += x;
  const MetricsSnapshot m1 = store->metrics();
  const auto near_hits = m1.paper_near_cache.hits - m0.paper_near_cache.hits;
  const auto near_misses = m1.paper_near_cache.misses - m0.paper_near_cache.misses;
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
      .add("client_cpu_us_per_start", client_cpu_us / static_cast<double>(n))
      .add("redis_cpu_us_per_start", redis_cpu_us / static_cast<double>(n))
      .add("p99_without_run_queue_ms", pct_of(all_unqueued, 0.99))
      .add("run_queue_ms_per_start",
           all.empty() ? 0.0 : (sum - sum_unqueued) / static_cast<double>(all.size()))
      .add("precreate_s", precreate_s)
      .add("paper_near_cache_hit_ratio",
           near_hits + near_misses == 0
               ? 0.0
               : static_cast<double>(near_hits) / static_cast<double>(near_hits + near_misses))
      .print();
  return 0;
}
