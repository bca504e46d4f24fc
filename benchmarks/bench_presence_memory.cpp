// bench_presence_memory: Redis memory per online student with `--students` (1,000,000) students
// online in one exam, measured as the used_memory delta around bringing them all online
// (presence keys deleted first). Baseline, measured in the same process and alternated with it
// round by round: the design documents' layout, one 5-field hash per student
// (exam:{exam}:student:{id} = id, username, status, last_active, ip) for `--baseline-students`
// students, reported per student.
//
// Each round also checks that presence still works at this size: online_count is exact, a
// sample of students heartbeated 100 s earlier than the rest is exactly what missing() returns,
// a single heartbeat at seat 0 and at the last seat costs the same (O(1)).
//
//   bench_presence_memory --redis URL --flush-ok [--students 1000000]
//                         [--baseline-students 100000] [--rounds 3] [--batch 10000]
//                         [--setup-threads 32]
// Uses the in-memory database (enrolling a million students needs no PostgreSQL). DESTRUCTIVE:
// after the setup it empties the URL's Redis database (FLUSHDB: creating the students left a
// million `student:{s:ID}:gen` invalidation keys whose expiry or dict resizing would move
// used_memory in the middle of a measurement), and it builds the baseline in database 1 and
// empties that too. Hence --flush-ok. Run it on a Redis where nothing else changes memory
// meanwhile (scripts/bench.sh starts its own).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "bench_common.hpp"
#include "examstore/examstore.hpp"

using namespace examstore;

namespace {

// used_memory after the server settles (client buffers of the last commands released).
double used_memory(bench::RawRedis& raw) {
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  return raw.info_number("memory", "used_memory");
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args(argc, argv);
  const std::string redis_url = args.required("redis");
  const auto n = args.num("students", 1000000);
  const auto n_base = args.num("baseline-students", 100000);
  const int rounds = static_cast<int>(args.num("rounds", 3));
  const auto batch = static_cast<std::size_t>(args.num("batch", 10000));
  const int setup_threads = static_cast<int>(args.num("setup-threads", 32));
  bench::check(n >= 2000, "--students must be >= 2000");
  bench::check(args.flag("flush-ok"),
               "--flush-ok is required: this program empties Redis "
               "databases (see the header of bench_presence_memory.cpp)");

  Config config;
  config.with_redis_url(redis_url);
  config.redis.pool_size = setup_threads + 1;
  config.key_prefix = "bpm" + std::to_string(::getpid());
  config.write_behind.capacity = static_cast<std::size_t>(n) * 2 + 1000;
  auto store = Store::open(config);
  bench::RawRedis raw(redis_url);

  // ---- setup: one exam, n students enrolled (in parallel: each create is a Redis round trip
  // for the cache invalidation)
  const auto setup0 = bench::Clock::now();
  const auto wall = std::chrono::system_clock::now();
  const Exam exam = store->exams().create({"presence memory", wall, wall + std::chrono::hours(3)});
  std::vector<StudentId> ids(static_cast<std::size_t>(n));
  {
    std::atomic<std::int64_t> next{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < setup_threads; ++t) {
      pool.emplace_back([&] {
        for (std::int64_t i; (i = next.fetch_add(1)) < n;) {
          ids[static_cast<std::size_t>(i)] =
              store->students().create({"PM-" + std::to_string(i), "Student", "", "", ""}).id;
        }
      });
    }
    for (auto& th : pool) th.join();
  }
  for (const StudentId id : ids) store->students().enroll(exam.id, id);
  raw.command({"FLUSHDB"});
  bench::RawRedis base_raw(redis_url);  // the baseline's hashes live in database 1
  base_raw.command({"SELECT", "1"});
  base_raw.command({"FLUSHDB"});
  const double setup_s = bench::seconds_since(setup0);
  bench::note("setup: " + std::to_string(n) + " students enrolled in " + std::to_string(setup_s) +
              " s");

  const std::string tag = config.key_prefix + ":presence:{e:" + std::to_string(exam.id) + "}";
  const std::vector<std::string> presence_keys = {tag + ":hb", tag + ":st", tag + ":n"};
  const std::int64_t sample_every = 997;
  std::vector<StudentId> sample;
  std::vector<Heartbeat> sample_beats;
  std::vector<std::vector<Heartbeat>> rest_batches(1);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    Heartbeat b{ids[i], "10.1." + std::to_string(i / 250 % 256) + "." + std::to_string(i % 250)};
    if (static_cast<std::int64_t>(i) % sample_every == 0) {
      sample.push_back(ids[i]);
      sample_beats.push_back(std::move(b));
    } else {
      if (rest_batches.back().size() == batch) rest_batches.emplace_back();
      rest_batches.back().push_back(std::move(b));
    }
  }
  std::sort(sample.begin(), sample.end());

  std::vector<double> ours_rounds, base_rounds, hb_rates, missing_ms, single_low_us, single_high_us;
  for (int round = 0; round < rounds; ++round) {
    // ---- baseline: one 5-field hash per student
    {
      const std::string prefix =
          config.key_prefix + ":base:exam:{e:" + std::to_string(exam.id) + "}:student:";
      const double m0 = used_memory(base_raw);
      std::vector<std::vector<std::string>> cmds;
      for (std::int64_t i = 0; i < n_base; ++i) {
        const std::string id = std::to_string(1000000 + i);
        cmds.push_back({"HSET", prefix + id, "id", id, "username", "Student " + id, "status",
                        "online", "last_active", "2026-01-01 10:00:00", "ip",
                        "10.1." + std::to_string(i / 250 % 256) + "." + std::to_string(i % 250)});
        if (cmds.size() == 1000) {
          base_raw.pipeline(cmds);
          cmds.clear();
        }
      }
      base_raw.pipeline(cmds);
      cmds.clear();
      const double m1 = used_memory(base_raw);
      base_rounds.push_back((m1 - m0) / static_cast<double>(n_base));
      base_raw.command({"FLUSHDB"});  // frees the keys and their dict at once
    }

    // ---- ours: everyone online; the sample 100 s before the rest
    {
      raw.command({"DEL", presence_keys[0], presence_keys[1], presence_keys[2]});
      store->flush(std::chrono::minutes(2));  // the previous round's transitions
      const double m0 = used_memory(raw);
      const auto t_sample = std::chrono::system_clock::now();
      const auto t_rest = t_sample + std::chrono::seconds(100);
      store->students().heartbeat_batch(exam.id, sample_beats, t_sample);
      const auto hb0 = bench::Clock::now();
      for (const auto& b : rest_batches) store->students().heartbeat_batch(exam.id, b, t_rest);
      hb_rates.push_back(static_cast<double>(n - static_cast<std::int64_t>(sample.size())) /
                         bench::seconds_since(hb0));
      const double m1 = used_memory(raw);
      ours_rounds.push_back((m1 - m0) / static_cast<double>(n));

      // still correct at this size
      bench::check(store->students().online_count(exam.id) == n,
                   "online_count is not " + std::to_string(n));
      const auto q0 = bench::Clock::now();
      const auto missing = store->students().missing(exam.id, std::chrono::seconds(90), t_rest);
      missing_ms.push_back(bench::seconds_since(q0) * 1e3);
      bench::check(missing == sample, "missing() returned " + std::to_string(missing.size()) +
                                          " students, expected the " +
                                          std::to_string(sample.size()) + " of the sample");
      const auto info = store->students().presence(exam.id, ids.back());
      bench::check(info.status == Presence::kOnline && info.last_heartbeat.has_value(),
                   "the last student is not online");

      // O(1): a single heartbeat at the first seat and at the last one (steady state)
      auto single = [&](StudentId id) {
        std::vector<double> t;
        for (int i = 0; i < 200; ++i) {
          const auto s0 = bench::Clock::now();
          store->students().heartbeat(exam.id, id, "10.0.0.1", t_rest);
          t.push_back(bench::seconds_since(s0) * 1e6);
        }
        return bench::median(t);
      };
      single_low_us.push_back(single(ids.front()));
      single_high_us.push_back(single(ids.back()));
    }
    bench::note("round " + std::to_string(round + 1) + ": baseline " +
                std::to_string(base_rounds.back()) + " B/student, ours " +
                std::to_string(ours_rounds.back()) + " B/student");
  }
  raw.command({"DEL", presence_keys[0], presence_keys[1], presence_keys[2]});

  bench::JsonLine out;
  out.add("scenario", "presence_memory")
      .add("ours", bench::median(ours_rounds))
      .add("unit", "bytes/student")
      .add("baseline_value", bench::median(base_rounds))
      .add("students", n)
      .add("baseline_students", n_base)
      .add("rounds", rounds)
      .add("ours_rounds", ours_rounds)
      .add("baseline_rounds", base_rounds)
      .add("heartbeats_per_s_at_1m", bench::median(hb_rates))
      .add("missing_scan_ms", bench::median(missing_ms))
      .add("missing_sample", static_cast<std::int64_t>(sample.size()))
      .add("single_heartbeat_us_seat0", bench::median(single_low_us))
      .add("single_heartbeat_us_last_seat", bench::median(single_high_us))
      .add("setup_s", setup_s);
  out.print();
  return 0;
}
