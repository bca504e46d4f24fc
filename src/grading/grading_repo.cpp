// grading/grading_repo.cpp: GradingRepo over the grading store, the hot tier and the papers.
//
// Every call checks its arguments first (grading_checks.hpp). Reads of classes, member lists,
// assignments, a task's current results and statistics go through a CacheAside of the
// repository's own (counted as MetricsSnapshot::grading.cache) with GradingOptions' TTLs;
// writes invalidate what they change after the database committed. Rankings live in sorted
// sets (grading_rankings.hpp). See docs/grading-repository.md.
#include <atomic>
#include <set>
#include <string>
#include <vector>

#include "examstore/error.hpp"
#include "examstore/grading.hpp"
#include "examstore/paper_store.hpp"
#include "grading/grading_checks.hpp"
#include "grading/grading_codec.hpp"
#include "grading/grading_db.hpp"
#include "grading/grading_keys.hpp"
#include "grading/grading_rankings.hpp"
#include "grading/grading_repo.hpp"
#include "repo/context.hpp"

namespace examstore {
namespace grading {
namespace {

struct Counters {
  std::atomic<std::int64_t> claims{0};
  std::atomic<std::int64_t> reclaims{0};
  std::atomic<std::int64_t> completions{0};
  std::atomic<std::int64_t> replays{0};
  std::atomic<std::int64_t> fenced{0};
  std::atomic<std::int64_t> failures{0};
};

TimePoint system_now() { return std::chrono::system_clock::now(); }

[[noreturn]] void not_found(const std::string& op, const std::string& what) {
  throw Error(ErrorCode::kNotFound, op, what + " does not exist");
}

}  // namespace

class GradingRepoImpl final : public GradingRepo {
 public:
  GradingRepoImpl(repo::Context& ctx, PaperStore& papers)
      : ctx_(ctx),
        store_(*ctx.stores.grading),
        papers_(papers),
        options_(ctx.config.grading),
        keys_(ctx.config.key_prefix.empty() ? "" : ctx.config.key_prefix + ":", options_),
        cache_(ctx.cache, ctx.keys.invalidation_channel(), ctx.config.cache_ttl,
               ctx.config.cache_ttl_jitter, ctx.config.negative_ttl),
        rankings_(ctx.cache, keys_, store_, options_.ranking_ttl) {}

  GradingMetrics metrics() const {
    GradingMetrics m;
    m.cache = repo::snapshot(cache_.stats());
    m.claims = counters_.claims;
    m.reclaims = counters_.reclaims;
    m.completions = counters_.completions;
    m.replays = counters_.replays;
    m.fenced = counters_.fenced;
    m.failures = counters_.failures;
    m.ranking_hits = rankings_.counters().hits;
    m.ranking_rebuilds = rankings_.counters().rebuilds;
    return m;
  }

  // ---- classes ----

  SchoolClass create_class(const NewClass& c) override {
    check::new_class("grading create_class", c);
    SchoolClass k = store_.create_class(c, system_now());
    membership_changed(k.id);  // an "absent" marker for this id may be cached
    return k;
  }

  std::optional<SchoolClass> get_class(ClassId id) override {
    check::id("grading get_class", "class_id", id);
    return cached<SchoolClass>(
        keys_.school_class(id), options_.class_ttl, [&] { return store_.get_class(id); },
        decode_class);
  }

  std::int64_t add_members(ClassId id, const std::vector<StudentId>& students) override {
    const std::string op = "grading add_members";
    check::id(op, "class_id", id);
    check::members(op, students);
    const std::int64_t n = store_.add_members(id, students);
    membership_changed(id);
    return n;
  }

  std::int64_t remove_members(ClassId id, const std::vector<StudentId>& students) override {
    const std::string op = "grading remove_members";
    check::id(op, "class_id", id);
    check::members(op, students);
    const std::int64_t n = store_.remove_members(id, students);
    membership_changed(id);
    return n;
  }

  std::vector<StudentId> members(ClassId id) override {
    check::id("grading members", "class_id", id);
    return *cached<std::vector<StudentId>>(
        keys_.members(id), options_.class_ttl,
        [&] { return std::optional<std::vector<StudentId>>(store_.members(id)); }, decode_ids);
  }

  // ---- assignments and submissions ----

  Assignment create_assignment(const NewAssignment& a) override {
    check::new_assignment("grading create_assignment", a);
    Assignment made = store_.create_assignment(a, system_now());
    // An "absent" marker for this id may be cached, or values left by a database that was reset
    // while the hot tier kept its data.
    const Scope scope{ScopeKind::kAssignment, made.id};
    cache_.invalidate_many({keys_.assignment(made.id), keys_.statistics(scope)});
    rankings_.drop(scope);
    return made;
  }

  std::optional<Assignment> get_assignment(AssignmentId id) override {
    check::id("grading get_assignment", "assignment_id", id);
    return cached<Assignment>(
        keys_.assignment(id), options_.assignment_ttl, [&] { return store_.get_assignment(id); },
        decode_assignment);
  }

  std::vector<Assignment> assignments(ClassId id) override {
    check::id("grading assignments", "class_id", id);
    return store_.assignments(id);
  }

  Submission submit(const NewSubmission& s) override {
    check::new_submission("grading submit", s);
    // The caller's time, as for every grading call: its task is claimable from then on.
    return store_.submit(s, options_.max_tries, s.submitted_at);
  }

  std::optional<Submission> get_submission(SubmissionId id) override {
    check::id("grading get_submission", "submission_id", id);
    return store_.get_submission(id);
  }

  std::vector<Submission> submissions(AssignmentId id) override {
    check::id("grading submissions", "assignment_id", id);
    return store_.submissions(id);
  }

  // ---- tasks ----

  std::int64_t create_exam_tasks(ExamId exam) override {
    check::id("grading create_exam_tasks", "exam_id", exam);
    return store_.create_exam_tasks(exam, options_.max_tries, system_now());
  }

  std::optional<GradingTask> get_task(GradingTaskId id) override {
    check::id("grading get_task", "task_id", id);
    return store_.get_task(id);
  }

  std::vector<GradingTask> tasks(const TaskFilter& filter) override {
    check::task_filter("grading tasks", filter);
    return store_.tasks(filter);
  }

  std::optional<Lease> claim(const ClaimRequest& request) override {
    check::claim("grading claim", request);
    auto lease = store_.claim(request, request.now);
    if (!lease) return std::nullopt;
    ++counters_.claims;
    // A try after one that did not end with fail() (which records a reason): its lease expired.
    if (lease->task.tries > 1 && lease->task.last_error.empty()) ++counters_.reclaims;
    lease->grader = request.grader;
    return lease;
  }

  Lease renew(const Lease& lease, std::chrono::seconds lease_for, TimePoint now) override {
    const std::string op = "grading renew";
    check::lease(op, lease);
    check::lease_length(op, "lease_for", lease_for);
    db::check::time(op, "now", now);
    Lease out =
        fenced(lease, [&] { return store_.renew(lease.task.id, lease.token, lease_for, now); });
    out.grader = lease.grader;
    return out;
  }

  CompletionReceipt complete(const Lease& lease, const GradingOutcome& outcome,
                             TimePoint now) override {
    const std::string op = "grading complete";
    check::lease(op, lease);
    if (!lease.grader.name.empty()) check::grader(op, lease.grader);
    check::outcome(op, outcome);
    db::check::time(op, "now", now);
    const GradingTask task = require_task(op, lease.task.id);
    check_gradable(op, task, outcome);

    db::Completion c;
    c.task_id = task.id;
    c.token = lease.token;
    c.grader = lease.grader;
    if (c.grader.name.empty()) {
      c.grader = GraderIdentity{};
      c.grader.name = task.lease_owner;
    }
    c.outcome = outcome;
    for (const QuestionGrade& g : outcome.grades) {
      c.total_score += g.score;
      c.max_score += g.max_score;
    }
    c.percentage = 100.0 * c.total_score / c.max_score;
    if (c.outcome.grade_level.empty()) c.outcome.grade_level = level_of(c.percentage);
    c.now = now;
    const db::CompletionEffect effect = fenced(lease, [&] { return store_.complete(c); });
    if (effect.receipt.replayed) {
      ++counters_.replays;
    } else {
      ++counters_.completions;
    }
    // Also on a replay: the first call may have died between its commit and these.
    graded(effect.task);
    return effect.receipt;
  }

  GradingTask fail(const Lease& lease, const std::string& reason, TimePoint now) override {
    const std::string op = "grading fail";
    check::lease(op, lease);
    check::reason(op, reason);
    db::check::time(op, "now", now);
    GradingTask t = fenced(lease, [&] {
      return store_.fail(lease.task.id, lease.token, reason, options_.retry_backoff, now);
    });
    ++counters_.failures;
    return t;
  }

  GradingTask regrade(GradingTaskId id, const std::string& reason, TimePoint now) override {
    const std::string op = "grading regrade";
    check::id(op, "task_id", id);
    check::reason(op, reason);
    db::check::time(op, "now", now);
    GradingTask t = store_.regrade(id, reason, now);
    graded(t);
    return t;
  }

  // ---- results ----

  std::vector<GradingResult> results(GradingTaskId id) override {
    const std::string op = "grading results";
    check::id(op, "task_id", id);
    return *cached<std::vector<GradingResult>>(
        keys_.results(id), options_.result_ttl,
        [&] {
          auto rows = store_.results(id);
          if (rows.empty()) require_task(op, id);
          return std::optional<std::vector<GradingResult>>(std::move(rows));
        },
        decode_results);
  }

  std::vector<GradingResult> result_history(GradingTaskId id) override {
    const std::string op = "grading result_history";
    check::id(op, "task_id", id);
    auto rows = store_.result_history(id);
    if (rows.empty()) require_task(op, id);
    return rows;
  }

  std::vector<ErrorFinding> error_analysis(GradingTaskId id) override {
    const std::string op = "grading error_analysis";
    check::id(op, "task_id", id);
    auto rows = store_.error_analysis(id);
    if (rows.empty()) require_task(op, id);
    return rows;
  }

  GradingStatistics statistics(const Scope& scope) override {
    check::scope("grading statistics", scope);
    return *cached<GradingStatistics>(
        keys_.statistics(scope), options_.analytics_ttl,
        [&] { return std::optional<GradingStatistics>(store_.statistics(scope, system_now())); },
        decode_statistics);
  }

  // ---- rankings ----

  std::optional<RankEntry> rank_of(const Scope& scope, StudentId student) override {
    const std::string op = "grading rank_of";
    check::ranked_scope(op, scope);
    check::id(op, "student_id", student);
    return rankings_.rank_of(scope, student);
  }

  std::vector<RankEntry> top(const Scope& scope, int n) override {
    const std::string op = "grading top";
    check::ranked_scope(op, scope);
    check::top_n(op, n);
    return rankings_.top(scope, n);
  }

  std::vector<RankEntry> around(const Scope& scope, StudentId student, int radius) override {
    const std::string op = "grading around";
    check::ranked_scope(op, scope);
    check::id(op, "student_id", student);
    check::radius(op, radius);
    return rankings_.around(scope, student, radius);
  }

  // ---- warm-up ----

  WarmUpReport warm_up_class(ClassId id) override {
    const std::string op = "grading warm_up_class";
    check::id(op, "class_id", id);
    WarmUpReport r;
    if (!get_class(id)) not_found(op, "class " + std::to_string(id));
    r.classes = 1;
    members(id);
    r.member_lists = 1;
    for (const Assignment& a : store_.assignments(id)) {
      prime(keys_.assignment(a.id), options_.assignment_ttl, encode(a));
      ++r.assignments;
      warm_scope({ScopeKind::kAssignment, a.id}, r);
    }
    warm_scope({ScopeKind::kClass, id}, r);
    return r;
  }

  WarmUpReport warm_up_assignment(AssignmentId id) override {
    const std::string op = "grading warm_up_assignment";
    check::id(op, "assignment_id", id);
    WarmUpReport r;
    if (!get_assignment(id)) not_found(op, "assignment " + std::to_string(id));
    r.assignments = 1;
    for (const examstore::Submission& s : store_.submissions(id)) {
      if (!s.total_score) continue;  // never completed: no results to load
      results(s.task_id);
      ++r.results;
    }
    warm_scope({ScopeKind::kAssignment, id}, r);
    return r;
  }

 private:
  // The value of `key` through the cache: `load` on a miss. A cached value that does not
  // decode is dropped and the database read instead.
  template <typename T, typename Load, typename Decode>
  std::optional<T> cached(const std::string& key, std::chrono::seconds ttl, const Load& load,
                          const Decode& decode) {
    std::optional<T> loaded;
    const auto value = cache_.get(
        key,
        [&]() -> std::optional<std::string> {
          loaded = load();
          if (!loaded) return std::nullopt;
          return encode(*loaded);
        },
        ttl);
    if (loaded || !value) return loaded;
    try {
      return decode(*value);
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kDataIntegrity) throw;
      cache_.invalidate(key);
      return load();
    }
  }

  // Puts a value already read into the cache (through the same guarded fill).
  void prime(const std::string& key, std::chrono::seconds ttl, std::string value) {
    cache_.get(
        key, [&] { return std::optional<std::string>(std::move(value)); }, ttl);
  }

  void warm_scope(const Scope& s, WarmUpReport& r) {
    statistics(s);
    ++r.statistics;
    if (rankings_.warm(s)) ++r.rankings;
  }

  GradingTask require_task(const std::string& op, GradingTaskId id) {
    auto t = store_.get_task(id);
    if (!t) not_found(op, "task " + std::to_string(id));
    return *t;
  }

  // Runs a call presenting `lease`'s token; a kConflict because the token is no longer the
  // task's counts as fenced.
  template <typename F>
  auto fenced(const Lease& lease, const F& f) -> decltype(f()) {
    try {
      return f();
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kConflict) {
        const auto t = store_.get_task(lease.task.id);
        if (t && t->token != lease.token) ++counters_.fenced;
      }
      throw;
    }
  }

  void check_gradable(const std::string& op, const GradingTask& task, const GradingOutcome& o) {
    const auto qs = store_.gradable_questions(task.id);
    std::set<std::int64_t> questions(qs.begin(), qs.end());
    std::string what = "the assignment";
    if (task.attempt_id) {
      std::optional<PaperKey> paper;
      for (const Attempt& a : ctx_.stores.attempts->of_student(task.student_id)) {
        if (a.id == *task.attempt_id) paper = a.paper;
      }
      if (!paper) not_found(op, "attempt " + std::to_string(*task.attempt_id));
      for (const PaperItem& item : papers_.items(*paper)) questions.insert(item.question_id);
      what = "paper " + paper->str();
    }
    check::gradable(op, o, questions, what);
  }

  std::string level_of(double percentage) const {
    for (const auto& [min, name] : options_.grade_levels) {
      if (percentage >= min) return name;
    }
    return "";
  }

  // After a task's run completed or restarted: drop what it changed from the hot tier. Round
  // trips: one for all invalidations, then for the rankings one for the generations, one
  // database read and one script per scope, then one for the attempt.
  void graded(const GradingTask& t) {
    std::vector<std::string> stale{keys_.results(t.id), keys_.statistics({ScopeKind::kTask, t.id})};
    std::vector<Scope> ranked;
    if (t.assignment_id) ranked.push_back({ScopeKind::kAssignment, *t.assignment_id});
    if (t.class_id) ranked.push_back({ScopeKind::kClass, *t.class_id});
    if (t.exam_id) ranked.push_back({ScopeKind::kExam, *t.exam_id});
    for (const Scope& s : ranked) stale.push_back(keys_.statistics(s));
    cache_.invalidate_many(stale);
    rankings_.update_many(ranked, t.student_id);
    if (t.attempt_id && t.exam_id) {
      // The attempt is graded now: its hot copy is reloaded from the database on next access.
      try {
        ctx_.cache.del({ctx_.keys.attempt(*t.exam_id, t.student_id),
                        ctx_.keys.attempt_answers(*t.exam_id, t.student_id)});
      } catch (const Error&) {  // an unreachable hot tier holds nothing to read either
      }
    }
  }

  void membership_changed(ClassId id) {
    cache_.invalidate_many(
        {keys_.school_class(id), keys_.members(id), keys_.statistics({ScopeKind::kClass, id})});
    rankings_.drop({ScopeKind::kClass, id});
  }

  repo::Context& ctx_;
  db::GradingStore& store_;
  PaperStore& papers_;
  const GradingOptions& options_;
  const GradingKeys keys_;
  repo::CacheAside cache_;
  Rankings rankings_;
  Counters counters_;
};

GradingMetrics metrics_of(const GradingRepo& repo) {
  const auto* impl = dynamic_cast<const GradingRepoImpl*>(&repo);
  return impl ? impl->metrics() : GradingMetrics{};
}

}  // namespace grading

namespace repo {

std::unique_ptr<GradingRepo> make_grading_repo(Context& ctx, PaperStore& papers) {
  return std::make_unique<grading::GradingRepoImpl>(ctx, papers);
}

}  // namespace repo
}  // namespace examstore
