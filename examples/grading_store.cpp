// grading_store: a teacher's class hands in an assignment and two AI graders race to grade it.
//
// A class of 30 students, an assignment of 5 questions (20 points each) and 30 submissions.
// Two grader threads claim and complete tasks as fast as they can; grader-a "crashes" once: it
// claims a task and never completes it. When the race is over that task is still running under
// grader-a's lease, so nobody can take it. The clock moves past the lease, grader-b reclaims it
// and grades it, and grader-a's late completion is refused by the fencing token. Then the
// assignment's statistics, its top 5 and one student's neighbourhood in the ranking.
//
// Times are passed in, so the example moves its own clock instead of sleeping through a lease.
// Runs on the embedded in-memory backends; set EXAMSTORE_REDIS_URL / EXAMSTORE_DATABASE_URL to
// run the same code on Redis and PostgreSQL (the schema is migrated on open).
#include <atomic>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "examstore/examstore.hpp"

namespace {

using examstore::GradingRepo;
using examstore::Lease;
using examstore::TimePoint;
using std::chrono::seconds;

constexpr int kStudents = 30;
constexpr int kQuestions = 5;
constexpr double kPointsPerQuestion = 20;
constexpr seconds kLease{120};

/// What a grader would compute from the answer files: here a deterministic score per student.
examstore::GradingOutcome grade(const examstore::GradingTask& task) {
  examstore::GradingOutcome out;
  for (int q = 1; q <= kQuestions; ++q) {
    examstore::QuestionGrade g;
    g.question = q;
    g.max_score = kPointsPerQuestion;
    const std::int64_t s = task.student_id;
    g.score = static_cast<double>((s * s * 7 + q * 13 + s * q * 5) % 21);
    g.strategy = "rubric";
    g.feedback = g.score >= 15 ? "well argued" : "see the marking scheme";
    if (g.score < 8) {
      out.errors.push_back({q, q % 2 == 0 ? "calculation" : "concept", "math/algebra", ""});
    }
    out.grades.push_back(g);
  }
  out.evaluations = R"({"summary":"graded by rubric"})";
  return out;
}

examstore::GraderIdentity grader(const std::string& name) {
  examstore::GraderIdentity g;
  g.kind = examstore::GraderIdentity::Kind::kAi;
  g.name = name;
  g.model = "example-model";
  g.model_version = "2026-01";
  return g;
}

std::string fixed1(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

struct Race {
  Race(GradingRepo& g, examstore::AssignmentId a, TimePoint t)
      : grading(g), assignment(a), now(t) {}

  GradingRepo& grading;
  examstore::AssignmentId assignment;
  TimePoint now;
  std::mutex print_mutex;          // guards std::cout between the graders
  std::optional<Lease> abandoned;  // grader-a's lease when it crashed; written by grader-a only
  // So that the crash always happens however the threads are scheduled: grader-b starts after
  // grader-a's first claim, and leaves work over until grader-a has crashed.
  std::atomic<int> a_claims{0};
  std::atomic<bool> a_crashed{false};

  std::optional<Lease> claim(const std::string& name) {
    examstore::ClaimRequest r;
    r.grader = grader(name);
    r.lease = kLease;
    r.now = now;
    r.assignment_id = assignment;
    return grading.claim(r);
  }

  /// grader-a: completes its first task, then claims a second one and dies holding it.
  int run_a() {
    const auto first = claim("grader-a");
    a_claims = 1;
    if (!first) return 0;
    grading.complete(*first, grade(first->task), now);
    abandoned = claim("grader-a");
    a_crashed = true;
    std::lock_guard<std::mutex> lock(print_mutex);
    std::cout << "  grader-a claimed task " << abandoned->task.id << " (student "
              << abandoned->task.student_id << ", token " << abandoned->token << ") and crashed\n";
    return 1;
  }

  /// grader-b: claims and completes until nothing is claimable.
  int run_b() {
    while (a_claims == 0) std::this_thread::yield();
    for (int graded = 0;; ++graded) {
      while (graded >= kStudents / 2 && !a_crashed) std::this_thread::yield();
      const auto lease = claim("grader-b");
      if (!lease) return graded;
      const auto receipt = grading.complete(*lease, grade(lease->task), now);
      if (receipt.replayed) {
        std::lock_guard<std::mutex> lock(print_mutex);
        std::cout << "  grader-b: task " << lease->task.id << " was already graded\n";
      }
    }
  }
};

}  // namespace

int main() {
  try {
    examstore::Config config = examstore::Config::from_env();
    config.migrate_on_open = config.database_backend == examstore::BackendKind::kPostgres;
    auto store = examstore::Store::open(config);
    auto& grading = store->grading();
    const TimePoint start = std::chrono::system_clock::now();
    // Unique per run, so the example can run again against the same servers.
    const std::string run_id =
        std::to_string(std::chrono::duration_cast<seconds>(start.time_since_epoch()).count());

    // The class, its members and the assignment.
    const auto cls = grading.create_class({"Algebra 7B " + run_id, "ms.wang", "math"});
    std::vector<examstore::StudentId> students;
    for (int i = 1; i <= kStudents; ++i) {
      examstore::NewStudent s;
      s.external_no = "g" + run_id + "-" + std::to_string(i);
      s.name = "Student " + std::to_string(i);
      s.class_name = cls.name;
      students.push_back(store->students().create(s).id);
    }
    grading.add_members(cls.id, students);
    examstore::NewAssignment na;
    na.class_id = cls.id;
    na.teacher = "ms.wang";
    na.subject = "math";
    na.title = "Quadratic equations";
    na.rubric_text = "4 points per correct step";
    na.question_count = kQuestions;
    na.max_score = kQuestions * kPointsPerQuestion;
    na.deadline = start + std::chrono::hours(1);
    const auto assignment = grading.create_assignment(na);
    for (int i = 0; i < kStudents; ++i) {
      examstore::NewSubmission s;
      s.assignment_id = assignment.id;
      s.student_id = students[static_cast<std::size_t>(i)];
      s.answer_files = {"s3://homework/" + run_id + "/" + std::to_string(i) + "/answers.pdf"};
      s.submitted_at = start;
      grading.submit(s);
    }
    std::cout << "class " << cls.id << " \"" << cls.name << "\": " << grading.members(cls.id).size()
              << " students; assignment " << assignment.id << " \"" << assignment.title
              << "\": " << grading.submissions(assignment.id).size() << " submissions\n";

    // Two graders race; grader-a crashes on its second claim.
    Race race(grading, assignment.id, start);
    std::cout << "\ntwo graders race at t = 0 s (leases of " << kLease.count() << " s):\n";
    int graded_a = 0;
    int graded_b = 0;
    std::thread a([&] { graded_a = race.run_a(); });
    std::thread b([&] { graded_b = race.run_b(); });
    a.join();
    b.join();
    std::cout << "  grader-a graded " << graded_a << ", grader-b graded " << graded_b
              << "; nothing claimable while grader-a's lease runs\n";
    const auto stuck = grading.get_task(race.abandoned->task.id);
    std::cout << "  task " << stuck->id << " is " << examstore::to_string(stuck->state)
              << ", leased to " << stuck->lease_owner << "\n";

    // The clock moves past the lease: grader-b reclaims the abandoned task.
    race.now = start + kLease + seconds(1);
    std::cout << "\nt = " << (kLease + seconds(1)).count() << " s: grader-a's lease has expired\n";
    const int reclaimed = race.run_b();
    const auto after = grading.get_task(race.abandoned->task.id);
    std::cout << "  grader-b graded " << reclaimed << " more: task " << after->id << " is "
              << examstore::to_string(after->state) << " (token " << after->token << ", "
              << after->tries << " tries)\n";
    try {
      grading.complete(*race.abandoned, grade(race.abandoned->task), race.now);
      std::cout << "  grader-a's late completion was accepted: this is a bug\n";
      return 1;
    } catch (const examstore::Error& e) {
      std::cout << "  grader-a wakes up and completes with token " << race.abandoned->token
                << ": refused (" << examstore::to_string(e.code()) << ")\n";
    }

    // Statistics and the ranking.
    const examstore::Scope scope{examstore::ScopeKind::kAssignment, assignment.id};
    const auto stats = grading.statistics(scope);
    std::cout << "\nstatistics of " << stats.count << " graded submissions: mean "
              << fixed1(stats.mean_percentage) << "%, median " << fixed1(stats.median_percentage)
              << "%, stddev " << fixed1(stats.stddev_percentage) << ", range "
              << fixed1(stats.min_percentage) << "%.." << fixed1(stats.max_percentage) << "%\n";
    std::cout << "  distribution by 10%:";
    for (const auto n : stats.distribution) std::cout << " " << n;
    std::cout << "\n";
    for (const auto& q : stats.questions) {
      std::cout << "  question " << q.question << ": mean " << fixed1(q.mean_score) << "/"
                << fixed1(q.max_score) << ", difficulty " << fixed1(q.difficulty)
                << ", discrimination "
                << (q.discrimination ? fixed1(*q.discrimination) : std::string("n/a")) << "\n";
    }
    for (const auto& [kind, n] : stats.error_kinds) {
      std::cout << "  mistakes of kind " << kind << ": " << n << "\n";
    }
    std::cout << "\ntop 5:\n";
    for (const auto& e : grading.top(scope, 5)) {
      std::cout << "  #" << e.rank << " student " << e.student_id << " " << fixed1(e.score) << "\n";
    }
    const examstore::StudentId someone = students[11];
    const auto place = grading.rank_of(scope, someone);
    std::cout << "\nstudent " << someone << " is #" << (place ? place->rank : 0)
              << "; the ranking around them:\n";
    for (const auto& e : grading.around(scope, someone, 2)) {
      std::cout << "  #" << e.rank << " student " << e.student_id << " " << fixed1(e.score)
                << (e.student_id == someone ? "  <-" : "") << "\n";
    }
    return 0;
  } catch (const examstore::Error& e) {
    std::cerr << "grading_store: " << e.what() << "\n";
    return 1;
  }
}
