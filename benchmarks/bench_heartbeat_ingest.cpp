// bench_heartbeat_ingest: StudentRepo::heartbeat_batch on Redis, steady state (every student
// already online), from `--threads` threads of one process. The figure is the number of Redis
// commands the server executes per second on our behalf (INFO commandstats deltas of setrange,
// getrange, hincrby, evalsha and eval), so it compares directly with redis-benchmark's rate for
// the same commands (scripts/bench.sh runs it with the same connection count, -P 16).
//
//   bench_heartbeat_ingest --redis URL [--students 20000] [--batch 1000] [--threads 2]
//                          [--seconds 2]
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "bench_common.hpp"
#include "examstore/examstore.hpp"

using namespace examstore;

int main(int argc, char** argv) {
  const bench::Args args(argc, argv);
  const std::string redis_url = args.required("redis");
  const auto students = args.num("students", 20000);
  const auto batch = args.num("batch", 1000);
  const auto threads = static_cast<int>(args.num("threads", 2));
  const double seconds = args.real("seconds", 2);
  bench::check(students >= batch * threads, "--students must be >= --batch x --threads");

  Config config;
  config.with_redis_url(redis_url);
  config.redis.pool_size = threads + 1;
  config.key_prefix = "bhb" + std::to_string(::getpid());
  config.write_behind.capacity = static_cast<std::size_t>(students) * 2;
  auto store = Store::open(config);
  bench::RawRedis raw(redis_url);

  // Setup (memory database: heartbeats never reach it, only transitions do).
  const auto now = std::chrono::system_clock::now();
  const Exam exam = store->exams().create({"heartbeat ingest", now, now + std::chrono::hours(2)});
  std::vector<StudentId> ids;
  ids.reserve(static_cast<std::size_t>(students));
  for (std::int64_t i = 0; i < students; ++i) {
    const Student s = store->students().create({"HB-" + std::to_string(i), "Student", "", "", ""});
    store->students().enroll(exam.id, s.id);
    ids.push_back(s.id);
  }
  auto beats_of = [&](std::size_t from, std::size_t n) {
    std::vector<Heartbeat> out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      const StudentId id = ids[(from + i) % ids.size()];
      out.push_back(
          {id, "10.0." + std::to_string(id / 250 % 256) + "." + std::to_string(id % 250)});
    }
    return out;
  };
  // Everyone online first: the timed loop measures the steady state (no transitions).
  for (std::size_t i = 0; i < ids.size(); i += static_cast<std::size_t>(batch)) {
    store->students().heartbeat_batch(
        exam.id, beats_of(i, std::min<std::size_t>(batch, ids.size() - i)), now);
  }
  bench::check(store->students().online_count(exam.id) == students, "not everyone is online");
  store->flush();

  // Prebuilt batches per thread (building them is the caller's work, not the library's).
  std::vector<std::vector<std::vector<Heartbeat>>> work(static_cast<std::size_t>(threads));
  const std::size_t per_thread = ids.size() / static_cast<std::size_t>(threads);
  for (int t = 0; t < threads; ++t) {
    for (std::size_t i = 0; i + static_cast<std::size_t>(batch) <= per_thread;
         i += static_cast<std::size_t>(batch)) {
      work[static_cast<std::size_t>(t)].push_back(
          beats_of(static_cast<std::size_t>(t) * per_thread + i, static_cast<std::size_t>(batch)));
    }
  }

  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> beats{0};
  std::atomic<std::int64_t> transitions{0};
  bench::StartGate start;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      const auto& mine = work[static_cast<std::size_t>(t)];
      std::int64_t n = 0;
      std::int64_t moved = 0;
      start.wait();
      for (std::size_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        const auto& b = mine[i % mine.size()];
        moved += static_cast<std::int64_t>(
            store->students().heartbeat_batch(exam.id, b, std::chrono::system_clock::now()).size());
        n += static_cast<std::int64_t>(b.size());
      }
      beats += n;
      transitions += moved;
    });
  }
  const auto before = raw.command_calls();
  const double cpu0 = bench::cpu_micros();
  const auto t0 = bench::Clock::now();
  start.open();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : pool) th.join();
  const double elapsed = bench::seconds_since(t0);
  const double cpu = bench::cpu_micros() - cpu0;
  const auto after = raw.command_calls();

  std::int64_t commands = 0;
  bench::JsonLine out;
  out.add("scenario", "heartbeat_ingest");
  std::map<std::string, std::int64_t> delta;
  for (const char* name : {"setrange", "getrange", "hincrby", "evalsha", "eval"}) {
    const auto d =
        (after.count(name) ? after.at(name) : 0) - (before.count(name) ? before.at(name) : 0);
    delta[name] = d;
    commands += d;
  }
  const double rate = static_cast<double>(commands) / elapsed;
  out.add("ours", rate).add("unit", "commands/s");
  out.add("heartbeats_per_s", static_cast<double>(beats.load()) / elapsed);
  for (const auto& [name, d] : delta) out.add("calls_" + name, d);
  out.add("transitions", transitions.load());
  out.add("threads", threads).add("batch", batch).add("students", students);
  out.add("seconds", elapsed);
  out.add("client_cpu_us_per_heartbeat",
          cpu / static_cast<double>(std::max<std::int64_t>(1, beats)));
  out.print();

  const std::string tag = config.key_prefix + ":presence:{e:" + std::to_string(exam.id) + "}";
  raw.command({"DEL", tag + ":hb", tag + ":st", tag + ":n"});
  return 0;
}
