// bench_sentinel: the cost of RedisOptions::wait_replicas (Redis WAIT after every write round
// trip) on heartbeat ingest behind Sentinel. StudentRepo::heartbeat_batch in steady state (every
// student already online) from `--threads` threads, with wait_replicas 0 and then N, alternating
// for `--rounds` rounds so that drift of the shared machine hits both alike; the figures are the
// medians over the rounds.
//
//   bench_sentinel --sentinel URL [--wait 1] [--students 4000] [--batch 100] [--threads 2]
//                  [--seconds 2] [--rounds 3]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "bench_common.hpp"
#include "examstore/examstore.hpp"

using namespace examstore;

namespace {

struct Round {
  double heartbeats_per_s = 0;
  double batch_median_us = 0;
  double batch_p99_us = 0;
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

Round run(const std::string& url, int wait_replicas, std::int64_t students, std::int64_t batch,
          int threads, double seconds) {
  Config config;
  config.with_redis_url(url);
  config.redis.pool_size = threads + 1;
  config.redis.wait_replicas = wait_replicas;
  config.redis.wait_timeout = std::chrono::milliseconds(1000);
  config.key_prefix = "bsn" + std::to_string(::getpid()) + "w" + std::to_string(wait_replicas);
  config.write_behind.capacity = static_cast<std::size_t>(students) * 2;
  auto store = Store::open(config);

  const auto now = std::chrono::system_clock::now();
  const Exam exam = store->exams().create({"sentinel wait", now, now + std::chrono::hours(2)});
  std::vector<StudentId> ids;
  for (std::int64_t i = 0; i < students; ++i) {
    const Student s = store->students().create({"SN-" + std::to_string(i), "Student", "", "", ""});
    store->students().enroll(exam.id, s.id);
    ids.push_back(s.id);
  }
  std::vector<std::vector<Heartbeat>> batches;
  for (std::size_t i = 0; i < ids.size(); i += static_cast<std::size_t>(batch)) {
    std::vector<Heartbeat> b;
    for (std::size_t j = i; j < std::min(ids.size(), i + static_cast<std::size_t>(batch)); ++j) {
      b.push_back({ids[j], "10.0.0." + std::to_string(j % 250)});
    }
    store->students().heartbeat_batch(exam.id, b, now);  // everyone online first
    batches.push_back(std::move(b));
  }
  store->flush();

  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> beats{0};
  std::mutex mu;  // guards latencies
  std::vector<double> latencies;
  bench::StartGate start;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::vector<double> mine;
      std::int64_t n = 0;
      start.wait();
      for (std::size_t i = static_cast<std::size_t>(t); !stop.load(std::memory_order_relaxed);
           i += static_cast<std::size_t>(threads)) {
        const auto& b = batches[i % batches.size()];
        const auto t0 = bench::Clock::now();
        store->students().heartbeat_batch(exam.id, b, std::chrono::system_clock::now());
        mine.push_back(bench::seconds_since(t0) * 1e6);
        n += static_cast<std::int64_t>(b.size());
      }
      beats += n;
      std::lock_guard<std::mutex> l(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  const auto t0 = bench::Clock::now();
  start.open();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : pool) th.join();
  const double elapsed = bench::seconds_since(t0);

  Round r;
  r.heartbeats_per_s = static_cast<double>(beats.load()) / elapsed;
  r.batch_median_us = bench::median(latencies);
  r.batch_p99_us = percentile(latencies, 0.99);
  const std::string tag = config.key_prefix + ":presence:{e:" + std::to_string(exam.id) + "}";
  store->cache().del({tag + ":hb", tag + ":st", tag + ":n"});
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args(argc, argv);
  const std::string url = args.required("sentinel");
  const auto wait = static_cast<int>(args.num("wait", 1));
  const auto students = args.num("students", 4000);
  const auto batch = args.num("batch", 100);
  const auto threads = static_cast<int>(args.num("threads", 2));
  const double seconds = args.real("seconds", 2);
  const auto rounds = args.num("rounds", 3);
  bench::check(wait > 0, "--wait must be > 0");
  bench::check(students >= batch, "--students must be >= --batch");

  std::vector<double> rate0, rate1, med0, med1, p99_0, p99_1;
  for (std::int64_t i = 0; i < rounds; ++i) {
    const Round a = run(url, 0, students, batch, threads, seconds);
    const Round b = run(url, wait, students, batch, threads, seconds);
    rate0.push_back(a.heartbeats_per_s);
    rate1.push_back(b.heartbeats_per_s);
    med0.push_back(a.batch_median_us);
    med1.push_back(b.batch_median_us);
    p99_0.push_back(a.batch_p99_us);
    p99_1.push_back(b.batch_p99_us);
    bench::note("round " + std::to_string(i + 1) + ": " + std::to_string(a.heartbeats_per_s) +
                " vs " + std::to_string(b.heartbeats_per_s) + " heartbeats/s");
  }
  bench::JsonLine out;
  out.add("scenario", "sentinel_wait");
  out.add("heartbeats_per_s_wait0", bench::median(rate0));
  out.add("heartbeats_per_s_wait" + std::to_string(wait), bench::median(rate1));
  out.add("throughput_ratio", bench::median(rate1) / std::max(1.0, bench::median(rate0)));
  out.add("batch_median_us_wait0", bench::median(med0));
  out.add("batch_median_us_wait" + std::to_string(wait), bench::median(med1));
  out.add("batch_p99_us_wait0", bench::median(p99_0));
  out.add("batch_p99_us_wait" + std::to_string(wait), bench::median(p99_1));
  out.add("threads", threads).add("batch", batch).add("students", students);
  out.add("rounds", rounds).add("seconds", seconds);
  out.print();
  return 0;
}
