// bench_grading: what a grading run costs (docs/grading.md). On the server pair, `--tasks`
// submissions of one assignment are graded by `--threads` graders, each looping claim ->
// complete (`--questions` grades a task) until nothing is claimable. Then rankings and
// statistics are read. Prints one JSON line:
//   tasks_per_s            claim + complete pairs per second, all graders together
//   claim_p50_us, claim_p99_us, complete_p50_us, complete_p99_us   per call
//   raw_commits_per_s      the machine's limit for comparison: single-row UPDATE transactions
//                          per second over libpqxx from the same number of threads
//   ratio                  tasks_per_s / raw_commits_per_s (a claim and a completion are at least
//                          two committed transactions, so 0.5 is the ceiling of this design)
//   rank_of_per_s, top10_per_s, statistics_per_s   single-thread reads (cached)
//   ping_per_s             single-thread Redis PING round trips, the ceiling of a cached read
//
//   bench_grading --redis URL --database URL [--tasks 2000] [--threads 4] [--questions 5]
// The database must be empty (bench.sh creates one); it is migrated here.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <pqxx/pqxx>

#include <thread>
#include "db/pq.hpp"

#include "bench_common.hpp"
#include "examstore/examstore.hpp"

using namespace examstore;

namespace {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

template <typename F>
double rate(double seconds, F&& op) {
  std::int64_t n = 0;
  const auto t0 = bench::Clock::now();
  while (bench::seconds_since(t0) < seconds) {
    op(n);
    ++n;
  }
  return static_cast<double>(n) / bench::seconds_since(t0);
}

double raw_commits_per_s(const std::string& url, int threads, double seconds) {
  bench::sql_exec(url,
                  "CREATE TABLE IF NOT EXISTS bench_grading_raw (id int PRIMARY KEY, n bigint); "
                  "INSERT INTO bench_grading_raw SELECT g, 0 FROM generate_series(1, 1000) g "
                  "ON CONFLICT DO NOTHING");
  std::atomic<std::int64_t> total{0};
  std::vector<std::thread> pool;
  bench::StartGate start;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      pqxx::connection c(url);
      c.prepare("bump", "UPDATE bench_grading_raw SET n = n + 1 WHERE id = $1");
      start.wait();
      std::int64_t n = 0;
      const auto t0 = bench::Clock::now();
      while (bench::seconds_since(t0) < seconds) {
        pqxx::work tx(c);
        examstore::db::exec_named(tx, "bump", static_cast<int>((n * threads + t) % 1000) + 1);
        tx.commit();
        ++n;
      }
      total += n;
    });
  }
  start.open();
  for (auto& th : pool) th.join();
  bench::sql_exec(url, "DROP TABLE bench_grading_raw");
  return static_cast<double>(total.load()) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args(argc, argv);
  const std::string redis = args.required("redis");
  const std::string database = args.required("database");
  const std::int64_t tasks = args.num("tasks", 2000);
  const int threads = static_cast<int>(args.num("threads", 4));
  const int questions = static_cast<int>(args.num("questions", 5));

  Config config;
  config.with_redis_url(redis);
  config.with_database_url(database);
  config.redis.pool_size = threads + 2;
  config.postgres.pool_size = threads + 2;
  config.key_prefix = "bgr" + std::to_string(::getpid());
  auto store = Store::open(config);
  store->migrate_up();
  GradingRepo& g = store->grading();

  bench::note("setup: " + std::to_string(tasks) + " students and submissions");
  const auto now = std::chrono::system_clock::now();
  const SchoolClass cls = g.create_class({"bench class", "teacher-1", "math"});
  std::vector<StudentId> students;
  for (std::int64_t i = 0; i < tasks; ++i) {
    students.push_back(
        store->students().create({"BG-" + std::to_string(i), "Student", "", "", ""}).id);
  }
  g.add_members(cls.id, students);
  NewAssignment na;
  na.class_id = cls.id;
  na.teacher = "teacher-1";
  na.subject = "math";
  na.title = "bench assignment";
  na.question_count = questions;
  na.max_score = 10.0 * questions;
  na.deadline = now + std::chrono::hours(24);
  const Assignment a = g.create_assignment(na);
  for (StudentId s : students) g.submit({a.id, s, {"s3://bench/" + std::to_string(s)}, now});

  bench::note("grading with " + std::to_string(threads) + " graders");
  std::mutex mu;  // guards claim_us, complete_us
  std::vector<double> claim_us;
  std::vector<double> complete_us;
  std::atomic<std::int64_t> done{0};
  bench::StartGate start;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::vector<double> mine_claim;
      std::vector<double> mine_complete;
      ClaimRequest req;
      req.grader.name = "bench-grader-" + std::to_string(t);
      req.grader.model = "bench-model";
      req.grader.model_version = "1";
      req.assignment_id = a.id;
      start.wait();
      for (;;) {
        req.now = std::chrono::system_clock::now();
        auto t0 = bench::Clock::now();
        const auto lease = g.claim(req);
        mine_claim.push_back(bench::seconds_since(t0) * 1e6);
        if (!lease) break;
        GradingOutcome out;
        for (int q = 1; q <= questions; ++q) {
          out.grades.push_back({q, static_cast<double>((lease->task.student_id + q) % 11), 10.0,
                                "feedback", "rubric"});
        }
        t0 = bench::Clock::now();
        g.complete(*lease, out, std::chrono::system_clock::now());
        mine_complete.push_back(bench::seconds_since(t0) * 1e6);
        ++done;
      }
      const std::lock_guard<std::mutex> lock(mu);
      claim_us.insert(claim_us.end(), mine_claim.begin(), mine_claim.end());
      complete_us.insert(complete_us.end(), mine_complete.begin(), mine_complete.end());
    });
  }
  const auto t0 = bench::Clock::now();
  start.open();
  for (auto& th : pool) th.join();
  const double wall = bench::seconds_since(t0);
  bench::check(done.load() == tasks, "every task completed once: " + std::to_string(done.load()) +
                                         " of " + std::to_string(tasks));

  bench::note("reads");
  const Scope scope{ScopeKind::kAssignment, a.id};
  g.top(scope, 10);  // builds the ranking
  g.statistics(scope);
  const double rank_rate = rate(2.0, [&](std::int64_t i) {
    g.rank_of(scope, students[static_cast<std::size_t>(i) % students.size()]);
  });
  const double top_rate = rate(2.0, [&](std::int64_t) { g.top(scope, 10); });
  const double stats_rate = rate(2.0, [&](std::int64_t) { g.statistics(scope); });
  bench::RawRedis raw(redis);
  const double ping_rate = rate(2.0, [&](std::int64_t) { raw.command({"PING"}); });
  const double raw_rate = raw_commits_per_s(database, threads, 3.0);

  const double tasks_rate = static_cast<double>(tasks) / wall;
  bench::JsonLine()
      .add("scenario", "grading")
      .add("tasks", tasks)
      .add("threads", threads)
      .add("questions", questions)
      .add("tasks_per_s", tasks_rate)
      .add("claim_p50_us", percentile(claim_us, 0.5))
      .add("claim_p99_us", percentile(claim_us, 0.99))
      .add("complete_p50_us", percentile(complete_us, 0.5))
      .add("complete_p99_us", percentile(complete_us, 0.99))
      .add("raw_commits_per_s", raw_rate)
      .add("ratio", tasks_rate / raw_rate)
      .add("rank_of_per_s", rank_rate)
      .add("top10_per_s", top_rate)
      .add("statistics_per_s", stats_rate)
      .add("ping_per_s", ping_rate)
      .print();
  return 0;
}
