// grading/grading_db_memory.cpp: the in-memory GradingStore (the embedded default). One mutex
// over plain maps; foreign keys through the student, exam and attempt stores, which are asked
// before taking the mutex (they lock on their own) except for the attempt's graded transition,
// made under it so that a completion stays one step (those stores never call back into this one).
// Statistics are computed here with the same definitions as the SQL of the PostgreSQL store.
#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <tuple>
#include <utility>

#include "db/store_checks.hpp"
#include "db/stores.hpp"
#include "examstore/error.hpp"
#include "grading/grading_db.hpp"
#include "grading/grading_store_rules.hpp"

namespace examstore::db {
namespace {

using check::truncate;
using grading_rules::assignment_label;
using grading_rules::class_label;
using grading_rules::task_label;

// The population standard deviation and Pearson correlation, two-pass (exactly 0 for equal
// values, like PostgreSQL's stddev_pop and corr).
double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (const double x : v) s += x;
  return s / static_cast<double>(v.size());
}

std::optional<double> correlation(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() < 2) return std::nullopt;
  const double mx = mean_of(x);
  const double my = mean_of(y);
  double sxx = 0, syy = 0, sxy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
    sxy += (x[i] - mx) * (y[i] - my);
  }
  if (sxx <= 0 || syy <= 0) return std::nullopt;
  // Rounding can carry it a hair past 1; both stores clamp.
  return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

class MemoryGradingStore final : public GradingStore {
 public:
  MemoryGradingStore(StudentStore& students, AttemptStore& attempts, ExamStore& exams)
      : students_(students), attempts_(attempts), exams_(exams) {}

  SchoolClass create_class(const NewClass& c, TimePoint now) override {
    std::lock_guard<std::mutex> l(mu_);
    SchoolClass out;
    out.id = ++next_class_;
    out.name = c.name;
    out.teacher = c.teacher;
    out.subject = c.subject;
    out.created_at = truncate(now);
    classes_.emplace(out.id, out);
    members_[out.id];
    return out;
  }

  std::optional<SchoolClass> get_class(ClassId id) override {
    std::lock_guard<std::mutex> l(mu_);
    const auto it = classes_.find(id);
    if (it == classes_.end()) return std::nullopt;
    SchoolClass out = it->second;
    out.student_count = static_cast<std::int64_t>(members_.at(id).size());
    return out;
  }

  std::int64_t add_members(ClassId id, const std::vector<StudentId>& students) override {
    const std::string op = "grading add_members";
    require_class(op, id);
    for (const StudentId s : students) {
      if (!students_.get(s)) check::not_found(op, check::student_label(s));
    }
    std::lock_guard<std::mutex> l(mu_);
    auto& m = members_.at(id);
    std::int64_t added = 0;
    for (const StudentId s : students) added += m.insert(s).second ? 1 : 0;
    return added;
  }

  std::int64_t remove_members(ClassId id, const std::vector<StudentId>& students) override {
    std::lock_guard<std::mutex> l(mu_);
    auto& m = member_set("grading remove_members", id);
    std::int64_t removed = 0;
    for (const StudentId s : students) removed += static_cast<std::int64_t>(m.erase(s));
    return removed;
  }

  std::vector<StudentId> members(ClassId id) override {
    std::lock_guard<std::mutex> l(mu_);
    const auto& m = member_set("grading members", id);
    return {m.begin(), m.end()};
  }

  std::vector<ClassId> classes_of(StudentId student) override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<ClassId> out;
    for (const auto& [id, m] : members_) {
      if (m.count(student) != 0) out.push_back(id);
    }
    return out;
  }

  Assignment create_assignment(const NewAssignment& a, TimePoint now) override {
    std::lock_guard<std::mutex> l(mu_);
    member_set("grading create_assignment", a.class_id);
    Assignment out;
    out.id = ++next_assignment_;
    out.class_id = a.class_id;
    out.teacher = a.teacher;
    out.subject = a.subject;
    out.title = a.title;
    out.description = a.description;
    out.rubric_text = a.rubric_text;
    out.rubric_json = a.rubric_json;
    out.question_count = a.question_count;
    out.max_score = a.max_score;
    out.mode = a.mode;
    out.deadline = truncate(a.deadline);
    out.created_at = truncate(now);
    assignments_.emplace(out.id, out);
    return out;
  }

  std::optional<Assignment> get_assignment(AssignmentId id) override {
    std::lock_guard<std::mutex> l(mu_);
    const auto it = assignments_.find(id);
    if (it == assignments_.end()) return std::nullopt;
    return it->second;
  }

  std::vector<Assignment> assignments(ClassId id) override {
    std::lock_guard<std::mutex> l(mu_);
    member_set("grading assignments", id);
    std::vector<Assignment> out;
    for (const auto& [aid, a] : assignments_) {
      if (a.class_id == id) out.push_back(a);
    }
    return out;
  }

  examstore::Submission submit(const NewSubmission& s, int max_tries, TimePoint now) override {
    const std::string op = "grading submit";
    if (!students_.get(s.student_id)) check::not_found(op, check::student_label(s.student_id));
    std::lock_guard<std::mutex> l(mu_);
    const auto a = assignments_.find(s.assignment_id);
    if (a == assignments_.end()) check::not_found(op, assignment_label(s.assignment_id));
    if (members_.at(a->second.class_id).count(s.student_id) == 0) {
      check::conflict(op, check::student_label(s.student_id) + " is not a member of " +
                              class_label(a->second.class_id));
    }
    if (!submitted_.insert({s.assignment_id, s.student_id}).second) {
      check::conflict(op, check::student_label(s.student_id) + " has already submitted " +
                              assignment_label(s.assignment_id));
    }
    examstore::Submission out;
    out.id = ++next_submission_;
    out.assignment_id = s.assignment_id;
    out.student_id = s.student_id;
    out.answer_files = s.answer_files;
    out.submitted_at = truncate(s.submitted_at);
    out.late = out.submitted_at > a->second.deadline;
    GradingTask& t = new_task(max_tries, out.submitted_at, now);
    t.submission_id = out.id;
    t.assignment_id = s.assignment_id;
    t.class_id = a->second.class_id;
    t.student_id = s.student_id;
    out.task_id = t.id;
    submissions_.emplace(out.id, out);
    return out;
  }

  std::optional<examstore::Submission> get_submission(SubmissionId id) override {
    std::lock_guard<std::mutex> l(mu_);
    const auto it = submissions_.find(id);
    if (it == submissions_.end()) return std::nullopt;
    return with_state(it->second);
  }

  std::vector<examstore::Submission> submissions(AssignmentId id) override {
    std::lock_guard<std::mutex> l(mu_);
    if (assignments_.count(id) == 0) check::not_found("grading submissions", assignment_label(id));
    std::vector<examstore::Submission> out;
    for (const auto& [sid, s] : submissions_) {
      if (s.assignment_id == id) out.push_back(with_state(s));
    }
    return out;
  }

  std::int64_t create_exam_tasks(ExamId exam, int max_tries, TimePoint now) override {
    if (!exams_.get(exam)) check::not_found("grading create_exam_tasks", check::exam_label(exam));
    const auto attempts = attempts_.of_exam(exam);
    std::lock_guard<std::mutex> l(mu_);
    std::int64_t created = 0;
    for (const Attempt& a : attempts) {
      if (a.state != AttemptState::kSubmitted && a.state != AttemptState::kOverdue &&
          a.state != AttemptState::kGraded) {
        continue;
      }
      if (attempt_tasks_.count(a.id) != 0) continue;
      GradingTask& t = new_task(max_tries, truncate(now), now);
      t.attempt_id = a.id;
      t.exam_id = exam;
      t.student_id = a.student_id;
      attempt_tasks_.emplace(a.id, t.id);
      ++created;
    }
    return created;
  }

  std::optional<GradingTask> get_task(GradingTaskId id) override {
    std::lock_guard<std::mutex> l(mu_);
    const auto it = tasks_.find(id);
    if (it == tasks_.end()) return std::nullopt;
    return it->second;
  }

  std::vector<GradingTask> tasks(const TaskFilter& f) override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<GradingTask> out;
    for (const auto& [id, t] : tasks_) {
      if (static_cast<int>(out.size()) >= f.limit) break;
      if (f.assignment_id && t.assignment_id != f.assignment_id) continue;
      if (f.exam_id && t.exam_id != f.exam_id) continue;
      if (f.state && t.state != *f.state) continue;
      out.push_back(t);
    }
    return out;
  }

  std::vector<std::int64_t> gradable_questions(GradingTaskId id) override {
    std::lock_guard<std::mutex> l(mu_);
    const GradingTask& t = task("grading gradable_questions", id);
    std::vector<std::int64_t> out;
    if (!t.assignment_id) return out;
    const int n = assignments_.at(*t.assignment_id).question_count;
    for (int q = 1; q <= n; ++q) out.push_back(q);
    return out;
  }

  std::optional<Lease> claim(const ClaimRequest& r, TimePoint now) override {
    now = truncate(now);
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [id, t] : tasks_) {
      if (t.state == GradingState::kRunning && *t.lease_expires_at <= now &&
          t.tries >= t.max_tries) {
        t.state = GradingState::kFailed;
        t.last_error = "lease expired after " + std::to_string(t.tries) + " tries";
      }
    }
    GradingTask* best = nullptr;
    for (auto& [id, t] : tasks_) {
      if (r.assignment_id && t.assignment_id != r.assignment_id) continue;
      if (r.exam_id && t.exam_id != r.exam_id) continue;
      const bool claimable = (t.state == GradingState::kPending && t.available_at <= now) ||
                             (t.state == GradingState::kRunning && *t.lease_expires_at <= now);
      if (claimable && (best == nullptr || t.available_at < best->available_at)) best = &t;
    }
    if (best == nullptr) return std::nullopt;
    best->state = GradingState::kRunning;
    best->tries += 1;
    best->token += 1;
    best->lease_owner = r.grader.name;
    best->lease_expires_at = grading_rules::later(now, r.lease);
    return Lease{*best, best->token, *best->lease_expires_at};
  }

  Lease renew(GradingTaskId id, std::int64_t token, std::chrono::seconds lease_for,
              TimePoint now) override {
    std::lock_guard<std::mutex> l(mu_);
    GradingTask& t = leased("grading renew", id, token);
    t.lease_expires_at = grading_rules::later(now, lease_for);
    return Lease{t, t.token, *t.lease_expires_at};
  }

  CompletionEffect complete(const Completion& c) override {
    const std::string op = "grading complete";
    const TimePoint now = truncate(c.now);
    std::lock_guard<std::mutex> l(mu_);
    GradingTask& t = task(op, c.task_id);
    for (auto it = runs_.lower_bound({c.task_id, 0});
         it != runs_.end() && it->first.first == c.task_id; ++it) {
      if (it->second.token == c.token) {
        CompletionEffect replay{it->second, t};
        replay.receipt.replayed = true;
        return replay;
      }
    }
    grading_rules::require_lease(op, t.id, t.state, t.token, c.token);
    if (t.attempt_id) {
      // The attempt's own compare-and-set: graded from submitted or overdue, else left alone.
      try {
        attempts_.transition(*t.attempt_id, {AttemptState::kSubmitted, AttemptState::kOverdue},
                             AttemptState::kGraded, std::nullopt);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kConflict) throw;
      }
    }
    auto& rows = results_[t.id];
    for (const QuestionGrade& g : c.outcome.grades) {
      GradingResult r;
      r.task_id = t.id;
      r.run = t.run;
      r.grade = g;
      r.grader = c.grader;
      r.token = c.token;
      r.created_at = now;
      rows.push_back(std::move(r));
    }
    for (const ErrorFinding& e : c.outcome.errors) errors_[{t.id, t.run}].push_back(e);
    CompletionReceipt receipt;
    receipt.task_id = t.id;
    receipt.run = t.run;
    receipt.token = c.token;
    receipt.total_score = c.total_score;
    receipt.max_score = c.max_score;
    receipt.percentage = c.percentage;
    receipt.grade_level = c.outcome.grade_level;
    receipt.completed_at = now;
    runs_[{t.id, t.run}] = receipt;
    t.state = GradingState::kCompleted;
    t.completed_at = now;
    if (t.submission_id) {
      examstore::Submission& s = submissions_.at(*t.submission_id);
      s.total_score = c.total_score;
      s.max_score = c.max_score;
      s.percentage = c.percentage;
      s.grade_level = c.outcome.grade_level;
      s.evaluations = c.outcome.evaluations;
      s.annotations = c.outcome.annotations;
    }
    return CompletionEffect{receipt, t};
  }

  GradingTask fail(GradingTaskId id, std::int64_t token, const std::string& reason,
                   std::chrono::seconds backoff, TimePoint now) override {
    std::lock_guard<std::mutex> l(mu_);
    GradingTask& t = leased("grading fail", id, token);
    if (t.tries < t.max_tries) {
      t.state = GradingState::kPending;
      t.available_at = grading_rules::later(now, backoff);
    } else {
      t.state = GradingState::kFailed;
    }
    t.last_error = reason;
    return t;
  }

  GradingTask regrade(GradingTaskId id, const std::string& reason, TimePoint now) override {
    const std::string op = "grading regrade";
    std::lock_guard<std::mutex> l(mu_);
    GradingTask& t = task(op, id);
    if (t.state != GradingState::kCompleted && t.state != GradingState::kFailed) {
      check::conflict(op, task_label(id) + " is " + grading_rules::state_name(t.state) +
                              ": only a completed or failed task can be regraded");
    }
    t.state = GradingState::kPending;
    t.run += 1;
    t.tries = 0;
    t.available_at = truncate(now);
    t.completed_at.reset();
    t.last_error = reason;
    return t;
  }

  std::vector<GradingResult> results(GradingTaskId id) override {
    std::lock_guard<std::mutex> l(mu_);
    task("grading results", id);
    std::vector<GradingResult> out;
    const int run = latest_run(id);
    for (const GradingResult& r : rows_of(id)) {
      if (r.run == run) out.push_back(r);
    }
    sort_results(out);
    return out;
  }

  std::vector<GradingResult> result_history(GradingTaskId id) override {
    std::lock_guard<std::mutex> l(mu_);
    task("grading result_history", id);
    std::vector<GradingResult> out = rows_of(id);
    const int run = latest_run(id);
    for (GradingResult& r : out) r.superseded = r.run < run;
    sort_results(out);
    return out;
  }

  std::vector<ErrorFinding> error_analysis(GradingTaskId id) override {
    std::lock_guard<std::mutex> l(mu_);
    task("grading error_analysis", id);
    return findings(id, latest_run(id));
  }

  GradingStatistics statistics(const Scope& scope, TimePoint now) override {
    require_scope("grading statistics", scope);
    std::lock_guard<std::mutex> l(mu_);
    GradingStatistics st;
    st.scope = scope;
    st.computed_at = truncate(now);
    st.distribution.assign(10, 0);
    std::vector<double> pcts;
    std::map<std::int64_t, std::vector<std::pair<double, double>>> by_question;  // score, total
    std::map<std::int64_t, double> question_max;
    std::map<std::string, std::int64_t> kinds;
    for (const auto& [id, t] : tasks_) {
      if (t.state != GradingState::kCompleted || !in_scope(t, scope)) continue;
      const int run = latest_run(id);
      const CompletionReceipt& rc = runs_.at({id, run});
      pcts.push_back(rc.percentage);
      st.distribution[grading_rules::band_of(rc.percentage)] += 1;
      for (const GradingResult& r : rows_of(id)) {
        if (r.run != run) continue;
        by_question[r.grade.question].emplace_back(r.grade.score, rc.total_score);
        auto [m, fresh] = question_max.emplace(r.grade.question, r.grade.max_score);
        if (!fresh) m->second = std::max(m->second, r.grade.max_score);
      }
      for (const ErrorFinding& e : findings(id, run)) kinds[e.kind] += 1;
    }
    st.count = static_cast<std::int64_t>(pcts.size());
    if (!pcts.empty()) {
      st.mean_percentage = mean_of(pcts);
      double ss = 0;
      for (const double p : pcts) ss += (p - st.mean_percentage) * (p - st.mean_percentage);
      st.stddev_percentage = std::sqrt(ss / static_cast<double>(pcts.size()));
      std::sort(pcts.begin(), pcts.end());
      st.min_percentage = pcts.front();
      st.max_percentage = pcts.back();
      const std::size_t n = pcts.size();
      st.median_percentage = n % 2 == 1 ? pcts[n / 2] : (pcts[n / 2 - 1] + pcts[n / 2]) / 2;
    }
    for (const auto& [q, pairs] : by_question) {
      QuestionStatistics qs;
      qs.question = q;
      qs.count = static_cast<std::int64_t>(pairs.size());
      std::vector<double> scores, totals;
      for (const auto& [s, total] : pairs) {
        scores.push_back(s);
        totals.push_back(total);
      }
      qs.mean_score = mean_of(scores);
      qs.max_score = question_max.at(q);
      qs.difficulty = qs.mean_score / qs.max_score;
      qs.discrimination = correlation(scores, totals);
      st.questions.push_back(qs);
    }
    st.error_kinds.assign(kinds.begin(), kinds.end());
    std::stable_sort(st.error_kinds.begin(), st.error_kinds.end(),
                     [](const auto& x, const auto& y) { return x.second > y.second; });
    return st;
  }

  std::vector<RankingRow> ranking(const Scope& scope) override {
    grading_rules::require_rankable("grading ranking", scope);
    require_scope("grading ranking", scope);
    std::lock_guard<std::mutex> l(mu_);
    return ranking_locked(scope);
  }

  std::optional<RankingRow> ranking_row(const Scope& scope, StudentId student) override {
    grading_rules::require_rankable("grading ranking_row", scope);
    require_scope("grading ranking_row", scope);
    std::lock_guard<std::mutex> l(mu_);
    for (const RankingRow& r : ranking_locked(scope)) {
      if (r.student_id == student) return r;
    }
    return std::nullopt;
  }

  std::vector<examstore::Submission> submissions_of(StudentId student) override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<examstore::Submission> out;
    for (const auto& [id, s] : submissions_) {
      if (s.student_id == student) out.push_back(with_state(s));
    }
    return out;
  }

  std::vector<GradingTask> tasks_of(StudentId student) override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<GradingTask> out;
    for (const auto& [id, t] : tasks_) {
      if (t.student_id == student) out.push_back(t);
    }
    return out;
  }

  std::int64_t erase_text(StudentId student) override {
    const std::string op = "grading erase_text";
    const auto erased = students_.erased(student);
    if (!erased) check::not_found(op, check::student_label(student));
    if (!*erased) check::conflict(op, check::student_label(student) + " is not erased");
    std::lock_guard<std::mutex> l(mu_);
    std::int64_t changed = 0;
    for (auto& [id, s] : submissions_) {
      if (s.student_id != student) continue;
      if (s.answer_files.empty() && s.evaluations.empty() && s.annotations.empty()) continue;
      s.answer_files.clear();
      s.evaluations.clear();
      s.annotations.clear();
      ++changed;
    }
    for (const auto& [id, t] : tasks_) {
      if (t.student_id != student) continue;
      if (const auto rows = results_.find(id); rows != results_.end()) {
        for (GradingResult& r : rows->second) {
          if (r.grade.feedback.empty()) continue;
          r.grade.feedback.clear();
          ++changed;
        }
      }
      for (auto it = errors_.lower_bound({id, 0}); it != errors_.end() && it->first.first == id;
           ++it) {
        for (ErrorFinding& e : it->second) {
          if (e.note.empty()) continue;
          e.note.clear();
          ++changed;
        }
      }
    }
    return changed;
  }

  std::vector<std::optional<RankingRow>> ranking_rows(const std::vector<Scope>& scopes,
                                                      StudentId student) override {
    for (const Scope& scope : scopes)
      grading_rules::require_rankable("grading ranking_rows", scope);
    std::vector<std::optional<RankingRow>> out(scopes.size());
    std::lock_guard<std::mutex> l(mu_);
    for (std::size_t i = 0; i < scopes.size(); ++i) {
      if (scopes[i].kind == ScopeKind::kClass && members_.count(scopes[i].id) == 0) continue;
      for (const RankingRow& r : ranking_locked(scopes[i])) {
        if (r.student_id == student) out[i] = r;
      }
    }
    return out;
  }

 private:
  using RunKey = std::pair<GradingTaskId, int>;

  void require_class(const std::string& op, ClassId id) {
    std::lock_guard<std::mutex> l(mu_);
    member_set(op, id);
  }

  // Under mu_: the members of an existing class; kNotFound naming it otherwise.
  std::set<StudentId>& member_set(const std::string& op, ClassId id) {
    const auto it = members_.find(id);
    if (it == members_.end()) check::not_found(op, class_label(id));
    return it->second;
  }

  GradingTask& task(const std::string& op, GradingTaskId id) {
    const auto it = tasks_.find(id);
    if (it == tasks_.end()) check::not_found(op, task_label(id));
    return it->second;
  }

  GradingTask& leased(const std::string& op, GradingTaskId id, std::int64_t token) {
    GradingTask& t = task(op, id);
    grading_rules::require_lease(op, id, t.state, t.token, token);
    return t;
  }

  GradingTask& new_task(int max_tries, TimePoint available_at, TimePoint now) {
    GradingTask t;
    t.id = ++next_task_;
    t.max_tries = max_tries;
    t.available_at = available_at;
    t.created_at = truncate(now);
    return tasks_.emplace(t.id, t).first->second;
  }

  examstore::Submission with_state(examstore::Submission s) const {
    s.grading_state = tasks_.at(s.task_id).state;
    return s;
  }

  // The latest completed run of a task (0 when none).
  int latest_run(GradingTaskId id) const {
    int run = 0;
    for (auto it = runs_.lower_bound({id, 0}); it != runs_.end() && it->first.first == id; ++it) {
      run = it->first.second;
    }
    return run;
  }

  std::vector<GradingResult> rows_of(GradingTaskId id) const {
    const auto it = results_.find(id);
    return it == results_.end() ? std::vector<GradingResult>{} : it->second;
  }

  static void sort_results(std::vector<GradingResult>& v) {
    std::sort(v.begin(), v.end(), [](const GradingResult& x, const GradingResult& y) {
      return std::tie(x.run, x.grade.question) < std::tie(y.run, y.grade.question);
    });
  }

  std::vector<ErrorFinding> findings(GradingTaskId id, int run) const {
    const auto it = errors_.find({id, run});
    if (it == errors_.end()) return {};
    std::vector<ErrorFinding> out = it->second;
    std::stable_sort(out.begin(), out.end(), [](const ErrorFinding& x, const ErrorFinding& y) {
      return std::tie(x.question, x.kind) < std::tie(y.question, y.kind);
    });
    return out;
  }

  void require_scope(const std::string& op, const Scope& scope) {
    switch (scope.kind) {
      case ScopeKind::kExam:
        if (!exams_.get(scope.id)) check::not_found(op, check::exam_label(scope.id));
        return;
      case ScopeKind::kTask: {
        std::lock_guard<std::mutex> l(mu_);
        task(op, scope.id);
        return;
      }
      case ScopeKind::kAssignment: {
        std::lock_guard<std::mutex> l(mu_);
        if (assignments_.count(scope.id) == 0) check::not_found(op, assignment_label(scope.id));
        return;
      }
      case ScopeKind::kClass:
        require_class(op, scope.id);
        return;
    }
  }

  static bool in_scope(const GradingTask& t, const Scope& scope) {
    switch (scope.kind) {
      case ScopeKind::kTask:
        return t.id == scope.id;
      case ScopeKind::kAssignment:
        return t.assignment_id == scope.id;
      case ScopeKind::kClass:
        return t.class_id == scope.id;
      case ScopeKind::kExam:
        return t.exam_id == scope.id;
    }
    return false;
  }

  // Under mu_: assignment and exam: a student's best completed total; class: the mean
  // percentage over the member's completed submissions. By score descending, then student.
  std::vector<RankingRow> ranking_locked(const Scope& scope) const {
    if (scope.kind == ScopeKind::kTask) {
      throw Error(ErrorCode::kInvalidArgument, "grading ranking", "scope: a task has no ranking");
    }
    std::map<StudentId, std::vector<double>> values;
    for (const auto& [id, t] : tasks_) {
      if (t.state != GradingState::kCompleted || !in_scope(t, scope)) continue;
      if (scope.kind == ScopeKind::kClass && members_.at(scope.id).count(t.student_id) == 0) {
        continue;
      }
      const CompletionReceipt& rc = runs_.at({id, latest_run(id)});
      values[t.student_id].push_back(scope.kind == ScopeKind::kClass ? rc.percentage
                                                                     : rc.total_score);
    }
    std::vector<RankingRow> out;
    for (const auto& [student, v] : values) {
      const double score =
          scope.kind == ScopeKind::kClass ? mean_of(v) : *std::max_element(v.begin(), v.end());
      out.push_back(RankingRow{student, score});
    }
    std::stable_sort(out.begin(), out.end(),
                     [](const RankingRow& x, const RankingRow& y) { return x.score > y.score; });
    return out;
  }

  StudentStore& students_;
  AttemptStore& attempts_;
  ExamStore& exams_;
  std::mutex mu_;  // guards everything below
  std::map<ClassId, SchoolClass> classes_;
  std::map<ClassId, std::set<StudentId>> members_;
  std::map<AssignmentId, Assignment> assignments_;
  std::map<SubmissionId, examstore::Submission>
      submissions_;  // scores as of the latest completed run
  std::set<std::pair<AssignmentId, StudentId>> submitted_;
  std::map<GradingTaskId, GradingTask> tasks_;
  std::map<AttemptId, GradingTaskId> attempt_tasks_;
  std::map<GradingTaskId, std::vector<GradingResult>> results_;  // append-only
  std::map<RunKey, std::vector<ErrorFinding>> errors_;           // in the order given
  std::map<RunKey, CompletionReceipt> runs_;                     // completed runs
  ClassId next_class_ = 0;
  AssignmentId next_assignment_ = 0;
  SubmissionId next_submission_ = 0;
  GradingTaskId next_task_ = 0;
};

}  // namespace

std::unique_ptr<GradingStore> make_memory_grading_store(StudentStore& students,
                                                        AttemptStore& attempts, ExamStore& exams) {
  return std::make_unique<MemoryGradingStore>(students, attempts, exams);
}

}  // namespace examstore::db
