// bench_cache_hit: ExamRepo::get of an exam cached in Redis, one thread, near cache off.
// The baseline (scripts/bench.sh) is redis-benchmark GET on one connection without pipelining,
// of a byte-identical copy of the cached value, written by `--prepare-baseline KEY`.
//
//   bench_cache_hit --redis URL [--seconds 2]
//   bench_cache_hit --redis URL --prepare-baseline KEY    copy the cached value to KEY, exit
//
// Also reports heap allocations (alloc_counter.hpp) and client CPU per read.
#include <unistd.h>

#include "alloc_counter.hpp"
#include "bench_common.hpp"
#include "examstore/examstore.hpp"

using namespace examstore;

int main(int argc, char** argv) {
  const bench::Args args(argc, argv);
  const std::string redis_url = args.required("redis");
  const double seconds = args.real("seconds", 2);

  Config config;
  config.with_redis_url(redis_url);
  config.near_cache_ttl = std::chrono::milliseconds(0);
  config.key_prefix = "bch" + std::to_string(::getpid());
  auto store = Store::open(config);

  // A realistic exam: a config document of a few hundred bytes.
  const auto now = std::chrono::system_clock::now();
  const Exam exam = store->exams().create(
      {"Algebra final, spring term", now, now + std::chrono::hours(2),
       R"({"duration_minutes":120,"shuffle_questions":true,"shuffle_options":true,)"
       R"("allow_back":false,"proctoring":{"camera":true,"screen":true,"tab_switch_limit":3},)"
       R"("heartbeat_seconds":30,"late_join_minutes":15,"show_score":false,)"
       R"("sections":[{"name":"A","questions":20,"points":2},{"name":"B","questions":10,"points":6}]})"});
  bench::check(store->exams().get(exam.id).has_value(), "the exam cannot be read back");  // fills
  const std::string key = config.key_prefix + ":exam:{e:" + std::to_string(exam.id) + "}";
  bench::RawRedis raw(redis_url);
  const std::string cached = raw.command({"GET", key});
  bench::check(!cached.empty(), "the exam is not cached at " + key);

  if (args.flag("prepare-baseline")) {
    raw.command({"SET", args.required("prepare-baseline"), cached});
    bench::note("baseline value of " + std::to_string(cached.size()) + " bytes written to " +
                args.required("prepare-baseline"));
    raw.command({"DEL", key});
    return 0;
  }

  const auto hits_before = raw.info_number("stats", "keyspace_hits");
  for (int i = 0; i < 1000; ++i) store->exams().get(exam.id);  // warm up
  std::int64_t reads = 0;
  const std::int64_t alloc0 = bench::allocations();
  const double cpu0 = bench::cpu_micros();
  const auto t0 = bench::Clock::now();
  const auto deadline = t0 + std::chrono::duration_cast<bench::Clock::duration>(
                                 std::chrono::duration<double>(seconds));
  while (true) {
    for (int i = 0; i < 256; ++i) {
      auto e = store->exams().get(exam.id);
      if (!e || e->id != exam.id) bench::fail("a read returned the wrong exam");
    }
    reads += 256;
    if (bench::Clock::now() >= deadline) break;
  }
  const double elapsed = bench::seconds_since(t0);
  const double cpu = bench::cpu_micros() - cpu0;
  const std::int64_t allocs = bench::allocations() - alloc0;
  const auto hits = raw.info_number("stats", "keyspace_hits") - hits_before;
  bench::check(hits >= static_cast<double>(reads), "reads did not all hit Redis (near cache on?)");

  // Informational: the same read with the exam near cache on (issue 4's paper reads will have
  // a zero-allocation target on this path).
  double near_rate = 0;
  double near_allocs = 0;
  {
    Config near_config = config;
    near_config.near_cache_ttl = std::chrono::minutes(1);
    auto near_store = Store::open(near_config);
    bench::check(near_store->exams().get(exam.id).has_value(), "near: the exam cannot be read");
    std::int64_t n = 0;
    const std::int64_t a0 = bench::allocations();
    const auto n0 = bench::Clock::now();
    const auto near_deadline = n0 + std::chrono::milliseconds(300);
    do {
      for (int i = 0; i < 1024; ++i) {
        if (!near_store->exams().get(exam.id)) bench::fail("near: the exam disappeared");
      }
      n += 1024;
    } while (bench::Clock::now() < near_deadline);
    near_rate = static_cast<double>(n) / bench::seconds_since(n0);
    near_allocs = static_cast<double>(bench::allocations() - a0) / static_cast<double>(n);
  }

  bench::JsonLine out;
  out.add("scenario", "cache_hit")
      .add("ours", static_cast<double>(reads) / elapsed)
      .add("unit", "ops/s")
      .add("reads", reads)
      .add("seconds", elapsed)
      .add("value_bytes", static_cast<std::int64_t>(cached.size()))
      .add("allocations_per_read", static_cast<double>(allocs) / static_cast<double>(reads))
      .add("client_cpu_us_per_read", cpu / static_cast<double>(reads))
      .add("round_trip_us", elapsed * 1e6 / static_cast<double>(reads))
      .add("near_cache_reads_per_s", near_rate)
      .add("near_cache_allocations_per_read", near_allocs);
  out.print();
  raw.command({"DEL", key});
  return 0;
}
