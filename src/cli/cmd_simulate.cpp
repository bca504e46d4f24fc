// examstore simulate: a realistic exam against the configured backends.
//
// Students join over the first seconds, send heartbeats every interval (server-timed, in
// batches), some drop out for a while and come back, and violations and events arrive at the
// given rate per student-minute. Presence thresholds scale with the interval (missing after 3,
// offline after 10 intervals) so drop-outs show within a short run. Each acknowledged violation
// id can be appended to --ack-log at once (flushed to the kernel per line, so it survives a
// SIGKILL of this process; `examstore drain` then persists what the journal holds).
//
// It behaves like a real client of a platform: a retryable error (a backend failing over or
// restarting past the library's own failover_wait) is counted, and the call is tried again on
// the next tick (heartbeats, violations and events that were not in doubt; setup and the final
// flush with a backoff, for up to kSetupPatience). It never exits on a retryable error. The
// summary counts every kind of call (ok, failed, tried again, in doubt) and the longest error
// window each saw (first failure to the next success). The exit status is non-zero only for a
// non-retryable error (thrown) or an acknowledged violation that did not reach the database.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <deque>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cli/args.hpp"
#include "common/json.hpp"
#include "examstore/error.hpp"
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

/// How long setup and the final flush keep trying through retryable errors before giving up.
constexpr std::chrono::minutes kSetupPatience{2};

using std::chrono::milliseconds;

/// What one kind of call saw, as the platform's client sees it.
class CallStats {
 public:
  explicit CallStats(const char* name) : name_(name) {}

  /// Runs `call`; true when it succeeded. A retryable failure is counted and false returned;
  /// any other error is thrown (the run ends).
  template <class F>
  bool attempt(F&& call, bool retry = false) {
    if (retry) ++retried_;
    try {
      call();
    } catch (const Error& e) {
      if (!e.retryable()) throw;
      failed(e);
      return false;
    }
    ok();
    return true;
  }

  /// Runs `call` until it succeeds, with a backoff, for up to kSetupPatience; then rethrows.
  template <class F>
  void until_ok(F&& call) {
    const auto give_up = Clock::now() + kSetupPatience;
    milliseconds pause{100};
    for (bool retry = false;; retry = true) {
      if (retry) ++retried_;
      try {
        call();
        ok();
        return;
      } catch (const Error& e) {
        if (!e.retryable() || Clock::now() >= give_up) throw;
        failed(e);
      }
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, milliseconds(2000));
    }
  }

  /// Closes an error window still open at the end of the run.
  void finish() {
    if (streak_) longest_ = std::max(longest_, since(*streak_));
    streak_.reset();
  }

  const char* name() const { return name_; }
  std::int64_t failed_count() const { return failed_; }
  std::int64_t retried_count() const { return retried_; }
  std::int64_t in_doubt_count() const { return in_doubt_; }
  milliseconds longest_window() const { return longest_; }

  std::string json() const {
    return json::ObjectWriter()
        .add("ok", ok_)
        .add("failed", failed_)
        .add("retried", retried_)
        .add("in_doubt", in_doubt_)
        .add("longest_error_window_ms", static_cast<std::int64_t>(longest_.count()))
        .add("last_error", last_error_)
        .str();
  }

 private:
  static milliseconds since(Clock::time_point t) {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - t);
  }
  void ok() {
    ++ok_;
    finish();
  }
  void failed(const Error& e) {
    ++failed_;
    last_error_ = e.what();
    if (e.outcome_unknown()) ++in_doubt_;
    if (!streak_) streak_ = Clock::now();
  }

  const char* name_;
  std::int64_t ok_ = 0, failed_ = 0, retried_ = 0, in_doubt_ = 0;
  std::optional<Clock::time_point> streak_;  // the first failure since the last success
  milliseconds longest_{0};
  std::string last_error_;
};

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

  CallStats setup("setup"), beats("heartbeat_batch"), sweeps("sweep"), records("violation"),
      event_calls("event"), reads("read"), finish("flush");
  std::unique_ptr<Store> store;
  setup.until_ok([&] { store = Store::open(config); });
  std::mt19937_64 rng(seed);
  const auto wall_start = std::chrono::system_clock::now();
  NewExam ne;
  ne.name = "simulated exam";
  ne.starts_at = wall_start;
  ne.ends_at = wall_start + std::chrono::seconds(static_cast<std::int64_t>(duration_s) + 3600);
  ne.config = R"({"simulated":true})";
  Exam exam;
  setup.until_ok([&] { exam = store->exams().create(ne); });
  setup.until_ok([&] {
    if (store->exams().get(exam.id)->status != ExamStatus::kRunning) {
      store->exams().transition(exam.id, ExamStatus::kRunning);
    }
  });

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
    // A create whose outcome was unknown may have happened: find it by its number first.
    setup.until_ok([&] {
      auto existing = store->students().find_by_external_no(s.external_no);
      st.id = existing ? existing->id : store->students().create(s).id;
    });
    setup.until_ok([&] { store->students().enroll(exam.id, st.id); });
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
  // Violations and events that failed retryably without doubt: sent again on the next tick, as
  // a browser's client would.
  std::deque<NewViolation> pending_violations;
  std::deque<NewEvent> pending_events;
  auto record_violation = [&](const NewViolation& v, bool retry) {
    ViolationId id = 0;
    if (records.attempt([&] { id = store->violations().record(v, durability); }, retry)) {
      ++violations;
      if (ack_log != nullptr) {
        std::fprintf(ack_log, "%lld\n", static_cast<long long>(id));
        std::fflush(ack_log);  // in the kernel: survives a SIGKILL of this process
      }
      return true;
    }
    return false;
  };
  auto record_event = [&](const NewEvent& e, bool retry) {
    if (event_calls.attempt([&] { store->violations().record_event(e, durability); }, retry)) {
      ++events;
      return true;
    }
    return false;
  };
  // Sends `failed` again later unless its outcome is unknown (it may have been recorded).
  auto keep = [](auto& queue, const auto& item, const CallStats& stats, std::int64_t doubt_before) {
    if (stats.in_doubt_count() == doubt_before) queue.push_back(item);
  };
  std::vector<Heartbeat> unsent;  // beats of a failed batch, sent with the next one
  std::int64_t online = 0;
  auto next_progress = start + std::chrono::seconds(1);
  for (auto now = Clock::now(); now < end; now = Clock::now()) {
    const auto wall_now = std::chrono::system_clock::now();
    std::vector<Heartbeat> due = std::move(unsent);
    unsent.clear();
    const bool retry_beats = !due.empty();
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
      std::size_t applied = 0;
      if (beats.attempt(
              [&] { applied = store->students().heartbeat_batch(exam.id, due, wall_now).size(); },
              retry_beats)) {
        heartbeats += static_cast<std::int64_t>(due.size());
        transitions += static_cast<std::int64_t>(applied);
      } else {
        unsent = std::move(due);  // a heartbeat is idempotent by its time: send it again
      }
    }
    sweeps.attempt([&] {
      transitions += static_cast<std::int64_t>(store->students().sweep(exam.id, wall_now).size());
    });

    for (std::size_t k = pending_violations.size(); k > 0; --k) {
      NewViolation v = std::move(pending_violations.front());
      pending_violations.pop_front();
      const std::int64_t doubt = records.in_doubt_count();
      if (!record_violation(v, true)) keep(pending_violations, v, records, doubt);
    }
    for (std::size_t k = pending_events.size(); k > 0; --k) {
      NewEvent e = std::move(pending_events.front());
      pending_events.pop_front();
      const std::int64_t doubt = event_calls.in_doubt_count();
      if (!record_event(e, true)) keep(pending_events, e, event_calls, doubt);
    }
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
      const std::int64_t vdoubt = records.in_doubt_count();
      if (!record_violation(v, false)) keep(pending_violations, v, records, vdoubt);
      NewEvent e;
      e.exam_id = exam.id;
      e.student_id = who;
      e.kind = "focus_change";
      e.payload = R"({"source":"simulate"})";
      e.occurred_at = wall_now;
      const std::int64_t edoubt = event_calls.in_doubt_count();
      if (!record_event(e, false)) keep(pending_events, e, event_calls, edoubt);
    }
    if (!args.json && now >= next_progress) {
      reads.attempt([&] { online = store->students().online_count(exam.id); });
      const auto m = store->write_behind_metrics();
      const std::int64_t failed = beats.failed_count() + sweeps.failed_count() +
                                  records.failed_count() + event_calls.failed_count() +
                                  reads.failed_count();
      std::fprintf(stderr,
                   "\rt=%3llds online=%lld violations=%lld queue depth=%lld committed=%lld "
                   "failed calls=%lld   ",
                   static_cast<long long>(
                       std::chrono::duration_cast<std::chrono::seconds>(now - start).count()),
                   static_cast<long long>(online), static_cast<long long>(violations),
                   static_cast<long long>(m.depth), static_cast<long long>(m.committed),
                   static_cast<long long>(failed));
      next_progress += std::chrono::seconds(1);
    }
    std::this_thread::sleep_until(now + tick);
  }
  if (!args.json) std::fprintf(stderr, "\n");
  // What is still pending was never acknowledged: it is reported, not persisted.
  const auto unacknowledged =
      static_cast<std::int64_t>(pending_violations.size() + pending_events.size());

  finish.until_ok([&] { store->flush(std::chrono::minutes(2)); });
  ViolationSummary summary;
  std::vector<std::pair<Presence, std::int64_t>> counts;
  finish.until_ok([&] { summary = store->violations().stats(exam.id); });
  finish.until_ok([&] { counts = store->students().presence_counts(exam.id); });
  const auto m = store->write_behind_metrics();
  const auto metrics = store->metrics();
  if (ack_log != nullptr) std::fclose(ack_log);

  std::vector<CallStats*> kinds{&setup, &beats, &sweeps, &records, &event_calls, &reads, &finish};
  std::int64_t failed = 0, retried = 0, in_doubt = 0;
  const CallStats* worst = kinds.front();
  for (CallStats* c : kinds) {
    c->finish();
    failed += c->failed_count();
    retried += c->retried_count();
    in_doubt += c->in_doubt_count();
    if (c->longest_window() > worst->longest_window()) worst = c;
  }
  // Lost: acknowledged but not persisted. A violation whose record() failed in doubt may have
  // been persisted too, so up to `records.in_doubt_count()` more is not a duplicate.
  const std::int64_t doubtful = records.in_doubt_count();
  const bool lost = summary.total < violations || m.dead_lettered != 0;
  const bool duplicated = summary.total > violations + doubtful;

  if (args.json) {
    json::ObjectWriter presence, queue, calls;
    for (const auto& [p, c] : counts) presence.add(to_string(p), c);
    queue.add("committed", m.committed)
        .add("batches", m.batches)
        .add_raw("mean_batch_size", json::number(m.mean_batch_size))
        .add("max_batch_size", m.max_batch_size)
        .add("retried", m.retried)
        .add("dead_lettered", m.dead_lettered)
        .add("coalesced", m.coalesced)
        .add("depth", m.depth);
    for (const CallStats* c : kinds) calls.add_raw(c->name(), c->json());
    std::cout << json::ObjectWriter()
                     .add("exam_id", exam.id)
                     .add("students", n)
                     .add("heartbeats", heartbeats)
                     .add("presence_transitions", transitions)
                     .add("violations_recorded", violations)
                     .add("violations_persisted", summary.total)
                     .add("violations_in_doubt", doubtful)
                     .add("events_recorded", events)
                     .add("unacknowledged", unacknowledged)
                     .add("durability", to_string(durability))
                     .add_raw("presence", presence.str())
                     .add_raw("queue", queue.str())
                     .add("failed_calls", failed)
                     .add("retried_calls", retried)
                     .add("in_doubt_calls", in_doubt)
                     .add("longest_error_window_ms",
                          static_cast<std::int64_t>(worst->longest_window().count()))
                     .add("longest_error_window_call", worst->name())
                     .add_raw("calls", calls.str())
                     .add("library_resends_redis", metrics.redis.retries)
                     .add("library_retries_postgres", metrics.postgres.retries)
                     .add("lost_acknowledged", lost)
                     .add("peak_rss_kib", static_cast<std::int64_t>(peak_rss_kib()))
                     .str()
              << "\n";
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
              << "  failed calls          " << failed << " (retryable; " << retried
              << " tried again, " << in_doubt << " in doubt, " << unacknowledged
              << " never acknowledged)\n"
              << "  longest error window  " << worst->longest_window().count() << " ms ("
              << worst->name() << ")\n"
              << "  library resends       redis " << metrics.redis.retries << ", postgresql "
              << metrics.postgres.retries << "\n"
              << "  peak memory           " << peak_rss_kib() / 1024 << " MiB\n";
  }
  // The full metrics snapshot as one more line of JSON, after the report.
  if (opt.count("--stats-json") != 0) std::cout << to_json(metrics) << "\n";
  if (lost) std::cerr << "examstore: an acknowledged violation did not reach the database\n";
  if (duplicated) std::cerr << "examstore: more violations persisted than were recorded\n";
  return lost || duplicated ? kExitFailed : kExitOk;
}

}  // namespace examstore::cli
