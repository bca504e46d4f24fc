// exam_monitor: the scenario of the exam-monitoring design, compressed into a few seconds.
//
// 400 students join an exam and send a heartbeat every 30 s of exam time; here one exam second
// passes every 10 ms of real time (simulated clock), so a 10-minute stretch runs in about 6 s. A
// few students lose their connection for a while (missing, some long enough to go offline) and
// come back; some trigger anti-cheat violations. A live line shows online/missing/offline,
// violations by kind and the write-behind queue; the end shows what reached the database.
//
// Runs on the embedded in-memory backends; set EXAMSTORE_REDIS_URL / EXAMSTORE_DATABASE_URL to
// run the same code on Redis and PostgreSQL (the schema is migrated on open).
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <random>
#include <thread>

#include "examstore/examstore.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::Presence;

constexpr int kStudents = 400;
constexpr auto kInterval = 30s;      // heartbeat interval, exam time
constexpr auto kExamLength = 10min;  // how much exam time the demo covers
constexpr auto kStep = 1s;           // exam time per loop step
constexpr auto kRealPerStep = 10ms;  // real time per loop step

std::string counts_line(examstore::Store& store, examstore::ExamId exam) {
  std::map<Presence, std::int64_t> p;
  for (const auto& [state, n] : store.students().presence_counts(exam)) p[state] = n;
  std::int64_t violations = 0;
  for (const auto& [kind, n] : store.violations().live_counts(exam)) violations += n;
  const auto m = store.write_behind_metrics();
  char line[200];
  std::snprintf(
      line, sizeof line,
      "online %3lld  missing %2lld  offline %2lld  | violations %3lld | queue depth %3lld, "
      "committed %4lld",
      static_cast<long long>(p[Presence::kOnline]), static_cast<long long>(p[Presence::kMissing]),
      static_cast<long long>(p[Presence::kOffline]), static_cast<long long>(violations),
      static_cast<long long>(m.depth), static_cast<long long>(m.committed));
  return line;
}

}  // namespace

int main() {
  try {
    examstore::Config config = examstore::Config::from_env();
    config.migrate_on_open = config.database_backend == examstore::BackendKind::kPostgres;
    auto store = examstore::Store::open(config);
    std::cout << "examstore " << examstore::version() << " exam monitor: " << kStudents
              << " students, heartbeat every " << kInterval.count() << " s (cache "
              << (config.cache_backend == examstore::BackendKind::kRedis ? "redis" : "memory")
              << ", database "
              << (config.database_backend == examstore::BackendKind::kPostgres ? "postgresql"
                                                                               : "memory")
              << ")\n\n";

    // Exam time starts now and advances by kStep per loop step.
    auto clock = std::chrono::system_clock::now();
    examstore::NewExam ne;
    ne.name = "Physics midterm";
    ne.starts_at = clock;
    ne.ends_at = clock + kExamLength + 10min;
    ne.config = R"({"duration_min":90,"allow_calculator":true})";
    const auto exam = store->exams().create(ne);
    store->exams().transition(exam.id, examstore::ExamStatus::kRunning);

    std::vector<examstore::StudentId> ids;
    for (int i = 0; i < kStudents; ++i) {
      examstore::NewStudent s;
      s.external_no = "PHY-" + std::to_string(exam.id) + "-" + std::to_string(1000 + i);
      s.name = "Student " + std::to_string(i + 1);
      s.class_name = "10" + std::string(1, static_cast<char>('A' + i % 8));
      ids.push_back(store->students().create(s).id);
      store->students().enroll(exam.id, ids.back());
    }

    std::mt19937 rng(42);  // the same story every run
    std::uniform_int_distribution<int> join_s(0, 20), phase_s(0, 29);
    using TimePoint = std::chrono::system_clock::time_point;
    std::vector<TimePoint> next_beat(kStudents), silent_from(kStudents), silent_until(kStudents);
    for (int i = 0; i < kStudents; ++i) {
      next_beat[i] = clock + std::chrono::seconds(join_s(rng)) + std::chrono::seconds(phase_s(rng));
    }
    // Connection losses: 12 students drop for 2-4 minutes (missing, then back online), 3 for 7
    // minutes (offline, then back), each starting somewhere in the first 3 minutes.
    for (int i = 0; i < 15; ++i) {
      const int who = static_cast<int>(rng() % kStudents);
      silent_from[who] = clock + 1min + std::chrono::seconds(rng() % 120);
      silent_until[who] =
          silent_from[who] + (i < 3 ? 7min : 2min + std::chrono::seconds(rng() % 120));
    }
    std::uniform_real_distribution<double> unit(0, 1);
    std::uniform_int_distribution<int> kind(0, static_cast<int>(examstore::ViolationKind::kCustom));

    const auto end = clock + kExamLength;
    int step = 0;
    for (; clock < end; clock += kStep, ++step) {
      std::vector<examstore::Heartbeat> due;
      for (int i = 0; i < kStudents; ++i) {
        if (clock >= next_beat[i]) {
          if (clock < silent_from[i] || clock >= silent_until[i]) {
            due.push_back(
                {ids[i], "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250)});
          }
          next_beat[i] += kInterval;
        }
      }
      store->students().heartbeat_batch(exam.id, due, clock);
      if (step % 5 == 0) store->students().sweep(exam.id, clock);

      if (unit(rng) < 0.25) {  // about 150 violations over the 10 minutes
        examstore::NewViolation v;
        v.exam_id = exam.id;
        v.student_id = ids[rng() % kStudents];
        v.kind = static_cast<examstore::ViolationKind>(kind(rng));
        v.severity = 1 + static_cast<int>(rng() % 5);
        v.reason = "detected by the proctoring client";
        v.occurred_at = clock;
        store->violations().record(v);
      }
      if (step % 60 == 0) {
        std::cout << "t=" << (step / 60) << " min  " << counts_line(*store, exam.id) << "\n";
      }
      std::this_thread::sleep_for(kRealPerStep);
    }
    store->flush();

    std::cout << "\nat the end: " << counts_line(*store, exam.id)
              << "\n\nviolations by kind (live):\n";
    for (const auto& [k, n] : store->violations().live_counts(exam.id)) {
      std::cout << "  " << examstore::to_string(k) << ": " << n << "\n";
    }
    const auto stats = store->violations().stats(exam.id);
    std::cout << "persisted: " << stats.total << " violations;";
    for (const auto& [sev, n] : stats.by_severity)
      std::cout << " severity " << sev << ": " << n << ";";
    const auto missing = store->students().missing(exam.id, 90s, clock);
    std::cout << "\nstudents silent for more than 90 s right now: " << missing.size() << "\n";
    if (!ids.empty()) {
      const auto a = store->students().attendance(exam.id, ids.front());
      if (a) {
        std::cout << "attendance of student " << ids.front() << ": "
                  << examstore::to_string(a->status) << ", last IP " << a->last_ip << "\n";
      }
    }
    return 0;
  } catch (const examstore::Error& e) {
    std::cerr << "exam_monitor: " << e.what() << "\n";
    return 1;
  }
}
