// bench_cluster: what one Redis Cluster node holds and serves of online students
// (docs/redis-cluster.md). Every key of an exam shares the hash tag {e:ID}, so one exam's presence
// lives on one node. Measured, through the public API on a redis-cluster:// URL:
//   - bytes per online student on the exam's node: MEMORY USAGE of the exam's presence keys
//     there, after bringing `--students` students of one exam online;
//   - the node's CPU time per heartbeat (INFO commandstats usec_per_call of EVALSHA while only
//     heartbeats run on it), which bounds what one node serves: 1e6 / that, per second;
//   - heartbeat throughput (single heartbeat() calls, `--threads` client threads, `--seconds`)
//     when all threads beat for ONE exam (one node serves everything) versus when they beat for
//     `--exams` exams whose slots are on different masters (the load spreads over the nodes).
//
//   bench_cluster --cluster redis-cluster://127.0.0.1:6810,... [--students 20000] [--exams 3]
//                 [--threads 8] [--seconds 3] [--rounds 3]
// Uses the in-memory database. Deletes only the presence keys it made (key prefix bcl<pid>).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <sstream>
#include <thread>

#include "bench_common.hpp"
#include "examstore/examstore.hpp"

using namespace examstore;

namespace {

struct Master {
  int port = 0;
  std::vector<std::pair<int, int>> ranges;  // slot ranges it serves
};

// The masters and their slots, from CLUSTER NODES of the first seed.
std::vector<Master> masters_of(const std::string& cluster_url) {
  const auto host_start = cluster_url.find("//") + 2;
  const auto first_end = cluster_url.find(',', host_start);
  bench::RawRedis seed("redis://" + cluster_url.substr(host_start, first_end - host_start));
  std::vector<Master> out;
  std::istringstream lines(seed.command({"CLUSTER", "NODES"}));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::vector<std::string> w;
    for (std::string s; words >> s;) w.push_back(s);
    if (w.size() < 9 || w[2].find("master") == std::string::npos) continue;
    Master m;
    m.port = std::stoi(w[1].substr(w[1].find(':') + 1));
    for (std::size_t i = 8; i < w.size(); ++i) {
      if (w[i].front() == '[') continue;
      const auto dash = w[i].find('-');
      const int a = std::stoi(w[i].substr(0, dash));
      m.ranges.emplace_back(a, dash == std::string::npos ? a : std::stoi(w[i].substr(dash + 1)));
    }
    out.push_back(m);
  }
  bench::check(!out.empty(), "no master in CLUSTER NODES");
  return out;
}

// The node's own CPU time per script call (INFO commandstats, since the last CONFIG RESETSTAT):
// what one heartbeat costs the node, whatever the client machine adds.
double script_usec_per_call(bench::RawRedis& node) {
  const std::string stats = node.command({"INFO", "commandstats"});
  const auto at = stats.find("cmdstat_evalsha:");
  if (at == std::string::npos) bench::fail("no EVALSHA in INFO commandstats");
  const auto us = stats.find("usec_per_call=", at);
  return std::stod(stats.substr(us + 14));
}

int owner_port(const std::vector<Master>& masters, int slot) {
  for (const auto& m : masters) {
    for (const auto& [a, b] : m.ranges) {
      if (slot >= a && slot <= b) return m.port;
    }
  }
  bench::fail("slot " + std::to_string(slot) + " has no master");
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args(argc, argv);
  const std::string url = args.required("cluster");
  const auto n = args.num("students", 20000);
  const int n_exams = static_cast<int>(args.num("exams", 3));
  const int threads = static_cast<int>(args.num("threads", 8));
  const double seconds = args.real("seconds", 3);
  const int rounds = static_cast<int>(args.num("rounds", 3));
  bench::check(url.rfind("redis-cluster://", 0) == 0, "--cluster needs a redis-cluster:// URL");

  Config config;
  config.with_redis_url(url);
  config.redis.pool_size = threads + 2;
  config.key_prefix = "bcl" + std::to_string(::getpid());
  config.write_behind.capacity = static_cast<std::size_t>(n * n_exams) * 4 + 1000;
  auto store = Store::open(config);
  const auto masters = masters_of(url);
  bench::check(static_cast<int>(masters.size()) >= n_exams,
               "--exams must not exceed the number of masters");

  // ---- exams whose tags live on different masters, n students enrolled in each
  const auto setup0 = bench::Clock::now();
  const auto wall = std::chrono::system_clock::now();
  bench::RawRedis probe("redis://127.0.0.1:" + std::to_string(masters.front().port));
  std::vector<Exam> exams;
  std::vector<int> exam_node;
  for (int tries = 0; static_cast<int>(exams.size()) < n_exams; ++tries) {
    bench::check(tries < 1000, "could not place exams on distinct masters");
    const Exam e = store->exams().create({"cluster bench", wall, wall + std::chrono::hours(3)});
    const std::string tag = "{e:" + std::to_string(e.id) + "}";
    const int port =
        owner_port(masters, std::stoi(probe.command({"CLUSTER", "KEYSLOT", "presence:" + tag})));
    if (std::find(exam_node.begin(), exam_node.end(), port) == exam_node.end()) {
      exams.push_back(e);
      exam_node.push_back(port);
    }
  }
  std::vector<std::vector<StudentId>> students(static_cast<std::size_t>(n_exams));
  {
    std::atomic<std::int64_t> next{0};
    std::mutex mu;  // guards students
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        for (std::int64_t i; (i = next.fetch_add(1)) < n * n_exams;) {
          const auto e = static_cast<std::size_t>(i % n_exams);
          const StudentId id =
              store->students().create({"CL-" + std::to_string(i), "Student", "", "", ""}).id;
          store->students().enroll(exams[e].id, id);
          std::lock_guard<std::mutex> l(mu);
          students[e].push_back(id);
        }
      });
    }
    for (auto& th : pool) th.join();
  }
  bench::note("setup: " + std::to_string(n * n_exams) + " students in " +
              std::to_string(bench::seconds_since(setup0)) + " s");

  auto presence_keys = [&](const Exam& e) {
    const std::string tag = config.key_prefix + ":presence:{e:" + std::to_string(e.id) + "}";
    return std::vector<std::string>{tag + ":hb", tag + ":st", tag + ":n"};
  };
  auto beats_of = [&](std::size_t e) {
    std::vector<Heartbeat> b;
    for (std::size_t i = 0; i < students[e].size(); ++i) {
      b.push_back({students[e][i],
                   "10.2." + std::to_string(i / 250 % 256) + "." + std::to_string(i % 250)});
    }
    return b;
  };

  // Heartbeats per second with every thread t beating for exam (t % spread).
  auto throughput = [&](int spread) {
    std::atomic<bool> stop{false};
    std::atomic<std::int64_t> done{0};
    bench::StartGate gate;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const auto e = static_cast<std::size_t>(t % spread);
        const auto& ids = students[e];
        std::int64_t mine = 0;
        gate.wait();
        for (std::size_t i = static_cast<std::size_t>(t); !stop;
             i += static_cast<std::size_t>(threads)) {
          store->students().heartbeat(exams[e].id, ids[i % ids.size()], "10.0.0.1",
                                      std::chrono::system_clock::now());
          ++mine;
        }
        done += mine;
      });
    }
    const auto t0 = bench::Clock::now();
    gate.open();
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (auto& th : pool) th.join();
    return static_cast<double>(done.load()) / bench::seconds_since(t0);
  };

  std::vector<double> bytes_rounds, one_rounds, spread_rounds, script_us_rounds;
  bench::RawRedis node("redis://127.0.0.1:" + std::to_string(exam_node.front()));
  for (int round = 0; round < rounds; ++round) {
    for (const auto& e : exams) {
      const auto k = presence_keys(e);
      for (const auto& key : k) store->cache().del({key});
    }
    const auto beats = beats_of(0);
    for (std::size_t i = 0; i < beats.size(); i += 5000) {
      const std::vector<Heartbeat> part(
          beats.begin() + static_cast<std::ptrdiff_t>(i),
          beats.begin() + static_cast<std::ptrdiff_t>(std::min(beats.size(), i + 5000)));
      store->students().heartbeat_batch(exams[0].id, part, std::chrono::system_clock::now());
    }
    // MEMORY USAGE of the exam's presence keys: used_memory deltas drown in the node's other
    // activity (expiring invalidation keys of the setup) at this size.
    double m1 = 0;
    for (const auto& key : presence_keys(exams[0])) {
      m1 += std::stod(node.command({"MEMORY", "USAGE", key, "SAMPLES", "0"}));
    }
    bytes_rounds.push_back(m1 / static_cast<double>(beats.size()));
    bench::check(store->students().online_count(exams[0].id) == static_cast<std::int64_t>(n),
                 "online_count is not " + std::to_string(n));
    node.command({"CONFIG", "RESETSTAT"});
    one_rounds.push_back(throughput(1));
    script_us_rounds.push_back(script_usec_per_call(node));
    spread_rounds.push_back(throughput(n_exams));
    bench::note("round " + std::to_string(round + 1) + ": " + std::to_string(bytes_rounds.back()) +
                " B/student, one exam " + std::to_string(one_rounds.back()) + " hb/s, " +
                std::to_string(n_exams) + " exams " + std::to_string(spread_rounds.back()) +
                " hb/s");
  }
  store->flush(std::chrono::minutes(2));
  for (const auto& e : exams) {
    for (const auto& key : presence_keys(e)) store->cache().del({key});
  }

  bench::JsonLine out;
  out.add("scenario", "cluster")
      .add("ours", bench::median(spread_rounds))
      .add("unit", "heartbeats/s")
      .add("baseline_value", bench::median(one_rounds))
      .add("bytes_per_student_on_node", bench::median(bytes_rounds))
      .add("students_per_exam", n)
      .add("exams", n_exams)
      .add("threads", threads)
      .add("seconds", seconds)
      .add("rounds", rounds)
      .add("one_exam_rounds", one_rounds)
      .add("spread_rounds", spread_rounds)
      .add("bytes_rounds", bytes_rounds)
      .add("node_us_per_heartbeat", bench::median(script_us_rounds))
      .add("node_us_per_heartbeat_rounds", script_us_rounds);
  out.print();
  return 0;
}
