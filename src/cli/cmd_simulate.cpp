// examstore simulate: a realistic exam against the configured backends.
//
// Students join over the first seconds, send heartbeats every interval (server-timed, in
// batches), some drop out for a while and come back, and violations and events arrive at the
// given rate per student-minute. Presence thresholds scale with the interval (missing after 3,
// offline after 10 intervals) so drop-outs show within a short run. Each acknowledged violation
// id can be appended to --ack-log at once (flushed to the kernel per line, so it survives a
// SIGKILL of this process; `examstore drain` then persists what the journal holds).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <random>
#include <thread>

#include "cli/args.hpp"
#include "examstore/metrics.hpp"
#include "examstore/store.hpp"

namespace examstore::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct SimStudent {
  StudentId id = 0;
  Clock::time_point joins;
  Clock::time_point next_beat;
  Clock::time_point silent_until;  // dropped out until then
};

long peak_rss_kib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

}  // namespace

int cmd_simulate(const Args& args) {
  const auto opt = command_options(args, 1,
                                   {"--students", "--duration", "--heartbeat-interval",
                                    "--violation-rate", "--ack-log", "--durability", "--seed"},
                                   {"--stats-json"});
  for (const char* required :
       {"--students", "--duration", "--heartbeat-interval", "--violation-rate"}) {
    if (opt.count(required) == 0) throw UsageError(std::string("simulate needs ") + required);
  }
  const int n = parse_count(opt.at("--students"), "--students");
  const double duration_s = parse_positive(opt.at("--duration"), "--duration");
  const double interval_s = parse_positive(opt.at("--heartbeat-interval"), "--heartbeat-interval");
  const double rate = opt.at("--violation-rate") == "0"
                          ? 0.0
                          : parse_positive(opt.at("--violation-rate"), "--violation-rate");
  Durability durability = Durability::kJournaled;
  if (opt.count("--durability") != 0) {
    auto d = parse_durability(opt.at("--durability"));
    if (!d) throw UsageError("--durability must be cached, journaled or committed");
    durability = *d;
  }
  const unsigned seed = opt.count("--seed") != 0
                            ? static_cast<unsigned>(parse_count(opt.at("--seed"), "--seed"))
                            : std::random_device{}();

  Config config = make_config(args);
  config.write_behind.journal_dir = journal_dir_of(args, config);
  config.migrate_on_open = config.database_backend == BackendKind::kPostgres;
  const auto interval = std::chrono::milliseconds(static_cast<std::int64_t>(interval_s * 1000));
  config.presence.missing_after =
      std::chrono::seconds(std::max<std::int64_t>(2, static_cast<std::int64_t>(interval_s * 3)));
  config.presence.offline_after = config.presence.missing_after * 3;

  std::FILE* ack_log = nullptr;
  if (opt.count("--ack-log") != 0) {
    ack_log = std::fopen(opt.at("--ack-log").c_str(), "a");
    if (ack_log == nullptr)
      throw UsageError("cannot open --ack-log file '" + opt.at("--ack-log") + "'");
  }

  auto store = Store::open(config);
  std::mt19937_64 rng(seed);
  const auto wall_start = std::chrono::system_clock::now();
  NewExam ne;
  ne.name = "simulated exam";
  ne.starts_at = wall_start;
  ne.ends_at = wall_start + std::chrono::seconds(static_cast<std::int64_t>(duration_s) + 3600);
  ne.config = R"({"simulated":true})";
  const Exam exam = store->exams().create(ne);
  store->exams().transition(exam.id, ExamStatus::kRunning);

  auto start = Clock::now();
  const auto join_window =
      std::chrono::milliseconds(static_cast<std::int64_t>(std::min(5.0, duration_s / 4) * 1000));
  std::vector<SimStudent> students(static_cast<std::size_t>(n));
  std::uniform_int_distribution<std::int64_t> join(0,
                                                   std::max<std::int64_t>(1, join_window.count()));
  const std::string run = std::to_string(exam.id);
  for (int i = 0; i < n; ++i) {
    NewStudent s;
    s.external_no = "sim-" + run + "-" + std::to_string(i);
    s.name = "Student " + std::to_string(i);
    s.class_name = "class " + std::to_string(i % 20);
    auto& st = students[static_cast<std::size_t>(i)];
    st.id = store->students().create(s).id;
    store->students().enroll(exam.id, st.id);
  }
  start = Clock::now();  // the exam begins once everyone is enrolled
  for (auto& st : students) {
    st.joins = start + std::chrono::milliseconds(join(rng));
    st.next_beat = st.joins;
  }

  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::uniform_int_distribution<int> kind(0, static_cast<int>(ViolationKind::kCustom));
  std::uniform_int_distribution<int> severity(1, 5);
  const double dropout_per_tick = 0.002;  // chance a connected student drops out in one tick
  const auto tick = std::chrono::milliseconds(100);
  const auto end = start + std::chrono::milliseconds(static_cast<std::int64_t>(duration_s * 1000));

  std::int64_t heartbeats = 0, transitions = 0, violations = 0, events = 0;
  auto next_progress = start + std::chrono::seconds(1);
  for (auto now = Clock::now(); now < end; now = Clock::now()) {
    const auto wall_now = std::chrono::system_clock::now();
    std::vector<Heartbeat> due;
    std::vector<StudentId> connected;
    for (auto& s : students) {
      if (now < s.joins || now < s.silent_until) continue;
      connected.push_back(s.id);
      if (unit(rng) < dropout_per_tick) {  // Wi-Fi gone for 4..12 intervals
        s.silent_until = now + interval * (4 + static_cast<int>(unit(rng) * 8));
        continue;
      }
      if (now >= s.next_beat) {
        due.push_back(
            {s.id, "10.0." + std::to_string((s.id >> 8) & 255) + "." + std::to_string(s.id & 255)});
        s.next_beat = now + interval;
      }
    }
    if (!due.empty()) {
      heartbeats += static_cast<std::int64_t>(due.size());
      transitions += static_cast<std::int64_t>(
          store->students().heartbeat_batch(exam.id, due, wall_now).size());
    }
    transitions += static_cast<std::int64_t>(store->students().sweep(exam.id, wall_now).size());

    const double expected = rate * static_cast<double>(connected.size()) *
                            (static_cast<double>(tick.count()) / 60000.0);
    const int count = expected > 0 ? std::poisson_distribution<int>(expected)(rng) : 0;
    for (int i = 0; i < count && !connected.empty(); ++i) {
      const StudentId who =
          connected[static_cast<std::size_t>(unit(rng) * static_cast<double>(connected.size())) %
                    connected.size()];
      NewViolation v;
      v.exam_id = exam.id;
      v.student_id = who;
      v.kind = static_cast<ViolationKind>(kind(rng));
      v.severity = severity(rng);
      v.reason = "simulated";
      v.occurred_at = wall_now;
      const ViolationId id = store->violations().record(v, durability);
      ++violations;
      if (ack_log != nullptr) {
        std::fprintf(ack_log, "%lld\n", static_cast<long long>(id));
        std::fflush(ack_log);  // in the kernel: survives a SIGKILL of this process
      }
      NewEvent e;
      e.exam_id = exam.id;
      e.student_id = who;
      e.kind = "focus_change";
      e.payload = R"({"source":"simulate"})";
      e.occurred_at = wall_now;
      store->violations().record_event(e, durability);
      ++events;
    }
    if (!args.json && now >= next_progress) {
      const auto m = store->write_behind_metrics();
      std::fprintf(stderr,
                   "\rt=%3llds online=%lld violations=%lld queue depth=%lld committed=%lld   ",
                   static_cast<long long>(
                       std::chrono::duration_cast<std::chrono::seconds>(now - start).count()),
                   static_cast<long long>(store->students().online_count(exam.id)),
                   static_cast<long long>(violations), static_cast<long long>(m.depth),
                   static_cast<long long>(m.committed));
      next_progress += std::chrono::seconds(1);
    }
    std::this_thread::sleep_until(now + tick);
  }
  if (!args.json) std::fprintf(stderr, "\n");

  store->flush(std::chrono::minutes(2));
  const auto summary = store->violations().stats(exam.id);
  const auto m = store->write_behind_metrics();
  const auto counts = store->students().presence_counts(exam.id);
  if (ack_log != nullptr) std::fclose(ack_log);

  if (args.json) {
    std::cout << "{\"exam_id\":" << exam.id << ",\"students\":" << n
              << ",\"heartbeats\":" << heartbeats << ",\"presence_transitions\":" << transitions
              << ",\"violations_recorded\":" << violations
              << ",\"violations_persisted\":" << summary.total << ",\"events_recorded\":" << events
              << ",\"durability\":" << json_string(to_string(durability)) << ",\"presence\":{";
    for (std::size_t i = 0; i < counts.size(); ++i) {
      std::cout << (i ? "," : "") << json_string(to_string(counts[i].first)) << ":"
                << counts[i].second;
    }
    std::cout << "},\"queue\":{\"committed\":" << m.committed << ",\"batches\":" << m.batches
              << ",\"mean_batch_size\":" << m.mean_batch_size
              << ",\"max_batch_size\":" << m.max_batch_size << ",\"retried\":" << m.retried
              << ",\"dead_lettered\":" << m.dead_lettered << ",\"coalesced\":" << m.coalesced
              << ",\"depth\":" << m.depth << "},\"peak_rss_kib\":" << peak_rss_kib() << "}\n";
  } else {
    std::cout << "exam " << exam.id << ": " << n << " students, " << duration_s
              << " s, heartbeat every " << interval_s << " s\n"
              << "  heartbeats            " << heartbeats << "\n"
              << "  presence transitions  " << transitions << "\n";
    for (const auto& [p, c] : counts) std::cout << "    " << to_string(p) << ": " << c << "\n";
    std::cout << "  violations recorded   " << violations << " (" << to_string(durability) << ")\n"
              << "  violations persisted  " << summary.total << "\n"
              << "  events recorded       " << events << "\n"
              << "  queue: committed " << m.committed << " in " << m.batches << " batches (mean "
              << m.mean_batch_size << ", max " << m.max_batch_size << "), retried " << m.retried
              << ", dead-lettered " << m.dead_lettered << ", coalesced " << m.coalesced << "\n"
              << "  peak memory           " << peak_rss_kib() / 1024 << " MiB\n";
  }
  // The full metrics snapshot as one more line of JSON, after the report.
  if (opt.count("--stats-json") != 0) std::cout << to_json(store->metrics()) << "\n";
  return summary.total == violations && m.dead_lettered == 0 ? kExitOk : kExitFailed;
}

}  // namespace examstore::cli
