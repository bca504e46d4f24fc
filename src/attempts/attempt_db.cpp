// The durable attempt stores: PostgreSQL (one PgPool::transact per call, values as parameters,
// batches as unnest arrays) and in memory (one mutex), keeping the rules of attempt_db.hpp.
#include "attempts/attempt_db.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <mutex>
#include <set>
#include <tuple>
#include <utility>

#include <pqxx/pqxx>

#include "db/pg_pool.hpp"
#include "db/pg_text.hpp"
#include "db/sql_params.hpp"
#include "db/store_checks.hpp"
#include "db/stores.hpp"
#include "examstore/error.hpp"

namespace examstore {
namespace {

constexpr std::array<std::string_view, 7> kStateNames = {
    "not_started", "in_progress", "submitted", "graded", "overdue", "abandoned", "voided"};

}  // namespace

std::string_view to_string(AttemptState s) noexcept {
  return kStateNames[static_cast<std::size_t>(s)];
}

std::optional<AttemptState> parse_attempt_state(std::string_view s) noexcept {
  for (std::size_t i = 0; i < kStateNames.size(); ++i) {
    if (kStateNames[i] == s) return static_cast<AttemptState>(i);
  }
  return std::nullopt;
}

bool is_legal_transition(AttemptState from, AttemptState to) noexcept {
  using S = AttemptState;
  switch (from) {
    case S::kNotStarted:
      return to == S::kInProgress || to == S::kAbandoned || to == S::kVoided;
    case S::kInProgress:
      return to == S::kSubmitted || to == S::kOverdue || to == S::kAbandoned || to == S::kVoided;
    case S::kSubmitted:
    case S::kOverdue:
      return to == S::kGraded || to == S::kVoided;
    case S::kGraded:
    case S::kAbandoned:
    case S::kVoided:
      return false;
  }
  return false;
}

}  // namespace examstore

namespace examstore::db {
namespace {

using check::from_micros;
using check::to_micros;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string attempt_label(AttemptId id) { return "attempt " + std::to_string(id); }

[[noreturn]] void cas_failed(const std::string& op, AttemptId id, AttemptState stored,
                             AttemptState to) {
  throw Error(ErrorCode::kConflict, op,
              attempt_label(id) + " is " + std::string(to_string(stored)) + ", cannot become " +
                  std::string(to_string(to)));
}

std::string states_text(const std::vector<AttemptState>& states) {
  ArrayText a(states.size());
  for (const AttemptState s : states) a.add(to_string(s));
  return a.str();
}

bool contains(const std::vector<AttemptState>& v, AttemptState s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// ---- PostgreSQL ----

const std::string& attempt_columns() {
  static const std::string s =
      "a.id, a.exam_id, a.student_id, p.school, p.department, p.major, p.course, a.state, "
      "a.duration, a.extra_time, " +
      us("a.started_at") + ", " + us("a.deadline") + ", " + us("a.submitted_at") +
      ", coalesce(a.receipt, '')";
  return s;
}
const std::string kAttemptFrom = " FROM attempts a JOIN papers p ON p.id = a.paper_id ";

std::optional<TimePoint> opt_time(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return from_micros(f.as<std::int64_t>());
}

Attempt read_attempt(const pqxx::row& r) {
  Attempt a;
  a.id = r[0].as<std::int64_t>();
  a.exam_id = r[1].as<std::int64_t>();
  a.student_id = r[2].as<std::int64_t>();
  a.paper = PaperKey{r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>(),
                     r[6].as<std::string>()};
  const auto state = parse_attempt_state(r[7].as<std::string>());
  if (!state) throw Error(ErrorCode::kDataIntegrity, "attempt read", "unknown state");
  a.state = *state;
  a.duration = seconds(r[8].as<std::int64_t>());
  a.extra_time = seconds(r[9].as<std::int64_t>());
  a.started_at = opt_time(r[10]);
  a.deadline = opt_time(r[11]);
  a.submitted_at = opt_time(r[12]);
  a.receipt = r[13].as<std::string>();
  return a;
}

SavedAnswer read_answer(const pqxx::row& r) {
  SavedAnswer s;
  s.question_id = r[0].as<std::int64_t>();
  s.seq = r[1].as<std::int64_t>();
  s.answer = r[2].as<std::string>();
  s.saved_at = from_micros(r[3].as<std::int64_t>());
  s.since_previous = milliseconds(r[4].as<std::int64_t>());
  return s;
}

// The statements writing revisions and raising the latest answers, over unnest arrays
// $1 attempt, $2 question, $3 seq, $4 answer, $5 saved_us, $6 since_ms.
const std::string& insert_revisions_sql() {
  static const std::string s =
      "INSERT INTO answer_revisions (attempt_id, question_id, seq, answer, saved_at,"
      " since_previous_ms)"
      " SELECT u.a, u.q, u.s, u.ans::json, " +
      ts("u.t") +
      ", u.m FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[],"
      " $6::bigint[]) AS u(a, q, s, ans, t, m)"
      " ON CONFLICT (attempt_id, question_id, seq) DO NOTHING";
  return s;
}
// `open_only`: only for attempts still open (not_started or in_progress), so that a revision
// queued before a submission but written after it never changes the submitted answers.
const std::string& upsert_answers_sql(bool open_only) {
  static const auto make = [](bool open) {
    return "INSERT INTO answers (attempt_id, question_id, seq, answer, saved_at)"
           " SELECT DISTINCT ON (u.a, u.q) u.a, u.q, u.s, u.ans::json, " +
           ts("u.t") +
           " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::bigint[],"
           " $6::bigint[]) AS u(a, q, s, ans, t, m)" +
           std::string(open ? " WHERE EXISTS (SELECT 1 FROM attempts t WHERE t.id = u.a"
                              " AND t.state IN ('not_started', 'in_progress'))"
                            : "") +
           " ORDER BY u.a, u.q, u.s DESC"
           " ON CONFLICT (attempt_id, question_id) DO UPDATE SET seq = excluded.seq,"
           " answer = excluded.answer, saved_at = excluded.saved_at"
           " WHERE answers.seq < excluded.seq";
  };
  static const std::string open = make(true);
  static const std::string any = make(false);
  return open_only ? open : any;
}

// Inserts the revisions and raises the latest answers (of open attempts only when `open_only`).
void write_revisions(pqxx::work& tx, const std::vector<AnswerRevision>& revs, bool open_only) {
  if (revs.empty()) return;
  ArrayText a(revs.size()), q(revs.size()), s(revs.size()), ans(revs.size()), t(revs.size()),
      m(revs.size());
  for (const auto& r : revs) {
    a.add(r.attempt_id);
    q.add(r.question_id);
    s.add(r.seq);
    ans.add(r.answer);
    t.add(to_micros(r.saved_at));
    m.add(static_cast<std::int64_t>(r.since_previous.count()));
  }
  db::exec0(tx, insert_revisions_sql(), a.str(), q.str(), s.str(), ans.str(), t.str(), m.str());
  if (open_only) {
    // Waits for a submit holding an attempt's row lock; the upsert below, a new statement,
    // then sees the submitted state (READ COMMITTED) and leaves that attempt's answers alone.
    // Locked in id order; a deadlock with a many-row update (mark_overdue) is retried by PgPool.
    db::exec(tx, "SELECT 1 FROM attempts WHERE id = ANY($1::bigint[]) ORDER BY id FOR SHARE",
             a.str());
  }
  db::exec0(tx, upsert_answers_sql(open_only), a.str(), q.str(), s.str(), ans.str(), t.str(),
            m.str());
}

// Applies a start to a row that has none: started_at, deadline = base + extra_time.
const std::string& start_set_sql() {
  static const std::string s = "started_at = coalesce(started_at, " + ts("$2") +
                               "), deadline = coalesce(deadline, " + ts("$3") +
                               " + extra_time * interval '1 second')";
  return s;
}

class PgAttemptStore final : public AttemptStore {
 public:
  explicit PgAttemptStore(PgPool& pool) : pool_(pool) {}

  std::vector<Attempt> precreate(const AttemptPlan& plan) override {
    const std::string op = "attempts precreate";
    ArrayText ids(plan.students.size());
    for (const StudentId s : plan.students) ids.add(s);
    std::vector<Attempt> out;
    pool_.transact(op, [&](pqxx::work& tx) {
      out.clear();
      const auto paper =
          db::exec(tx,
                   "SELECT id FROM papers WHERE school = $1 AND department = $2 AND major = $3 AND "
                   "course = $4",
                   plan.paper.school, plan.paper.department, plan.paper.major, plan.paper.course);
      if (paper.empty()) {
        throw Error(ErrorCode::kNotFound, op, "no paper " + plan.paper.str());
      }
      if (db::exec(tx, "SELECT 1 FROM exams WHERE id = $1", plan.exam_id).empty()) {
        throw Error(ErrorCode::kNotFound, op, check::exam_label(plan.exam_id));
      }
      const auto missing =
          db::exec(tx,
                   "SELECT u.s FROM unnest($1::bigint[]) WITH ORDINALITY AS u(s, o)"
                   " WHERE NOT EXISTS (SELECT 1 FROM students WHERE id = u.s) ORDER BY u.o LIMIT 1",
                   ids.str());
      if (!missing.empty()) {
        throw Error(ErrorCode::kNotFound, op, check::student_label(missing[0][0].as<StudentId>()));
      }
      const auto live = db::exec(
          tx,
          "SELECT u.s FROM unnest($1::bigint[]) WITH ORDINALITY AS u(s, o)"
          " WHERE EXISTS (SELECT 1 FROM attempts a WHERE a.exam_id = $2 AND a.student_id = u.s"
          " AND a.state <> 'voided') ORDER BY u.o LIMIT 1",
          ids.str(), plan.exam_id);
      if (!live.empty()) {
        throw Error(ErrorCode::kConflict, op,
                    check::student_label(live[0][0].as<StudentId>()) +
                        " already has a live attempt in " + check::exam_label(plan.exam_id));
      }
      // One statement for every student; a duplicate in the plan hits the unique index (23505
      // -> kConflict) and rolls everything back.
      const auto rows = db::exec(
          tx,
          "WITH ins AS (INSERT INTO attempts (exam_id, student_id, paper_id, duration)"
          " SELECT $2, u.s, $3, $4 FROM unnest($1::bigint[]) AS u(s) RETURNING *)"
          " SELECT " +
              attempt_columns() + " FROM ins a JOIN papers p ON p.id = a.paper_id ORDER BY a.id",
          ids.str(), plan.exam_id, paper[0][0].as<std::int64_t>(),
          static_cast<std::int64_t>(plan.duration.count()));
      for (const auto& r : rows) out.push_back(read_attempt(r));
    });
    return out;
  }

  std::optional<Attempt> live(ExamId exam, StudentId student) override {
    std::optional<Attempt> out;
    pool_.transact("attempt get", [&](pqxx::work& tx) {
      out.reset();
      const auto r = db::exec(tx,
                              "SELECT " + attempt_columns() + kAttemptFrom +
                                  "WHERE a.exam_id = $1 AND a.student_id = $2"
                                  " AND a.state <> 'voided'",
                              exam, student);
      if (!r.empty()) out = read_attempt(r[0]);
    });
    return out;
  }

  std::vector<Attempt> of_student(StudentId student) override {
    std::vector<Attempt> out;
    pool_.transact("attempts of student", [&](pqxx::work& tx) {
      out.clear();
      const auto rows = db::exec(
          tx,
          "SELECT " + attempt_columns() + kAttemptFrom + "WHERE a.student_id = $1 ORDER BY a.id",
          student);
      for (const auto& r : rows) out.push_back(read_attempt(r));
    });
    return out;
  }

  std::vector<Attempt> of_exam(ExamId exam) override {
    std::vector<Attempt> out;
    pool_.transact("attempts of exam", [&](pqxx::work& tx) {
      out.clear();
      const auto rows = db::exec(
          tx, "SELECT " + attempt_columns() + kAttemptFrom + "WHERE a.exam_id = $1 ORDER BY a.id",
          exam);
      for (const auto& r : rows) out.push_back(read_attempt(r));
    });
    return out;
  }

  Attempt transition(AttemptId id, const std::vector<AttemptState>& from, AttemptState to,
                     const std::optional<AttemptStart>& start) override {
    const std::string op = "attempt transition";
    Attempt out;
    pool_.transact(op, [&](pqxx::work& tx) {
      const auto t = start ? to_micros(start->started_at) : 0;
      const auto d = start ? to_micros(start->base_deadline) : 0;
      // $6: whether to apply the start (every parameter must appear in the statement).
      static const std::string sql =
          "WITH u AS (UPDATE attempts SET state = $4, version = version + 1, updated_at = now(),"
          " started_at = CASE WHEN $6::boolean THEN coalesce(started_at, " +
          ts("$2") +
          ") ELSE started_at END,"
          " deadline = CASE WHEN $6::boolean THEN coalesce(deadline, " +
          ts("$3") +
          " + extra_time * interval '1 second') ELSE deadline END"
          " WHERE id = $1 AND state = ANY($5::text[]) RETURNING *)"
          " SELECT " +
          attempt_columns() + " FROM u a JOIN papers p ON p.id = a.paper_id";
      const auto r = db::exec(tx, sql, id, t, d, std::string(to_string(to)), states_text(from),
                              start.has_value());
      if (!r.empty()) {
        out = read_attempt(r[0]);
        return;
      }
      out = get_by_id(tx, op, id);
      cas_failed(op, id, out.state, to);
    });
    return out;
  }

  void apply_starts(const std::vector<AttemptStart>& starts) override {
    if (starts.empty()) return;
    ArrayText id(starts.size()), t(starts.size()), d(starts.size());
    for (const auto& s : starts) {
      id.add(s.attempt_id);
      t.add(to_micros(s.started_at));
      d.add(to_micros(s.base_deadline));
    }
    static const std::string sql =
        "UPDATE attempts a SET state = 'in_progress', version = a.version + 1, updated_at = now(),"
        " started_at = " +
        ts("u.t") + ", deadline = " + ts("u.d") +
        " + a.extra_time * interval '1 second'"
        " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS u(id, t, d)"
        " WHERE a.id = u.id AND a.state = 'not_started'";
    pool_.transact("attempt start apply",
                   [&](pqxx::work& tx) { db::exec0(tx, sql, id.str(), t.str(), d.str()); });
  }

  void insert_revisions(const std::vector<AnswerRevision>& revisions) override {
    pool_.transact("answer revisions insert",
                   [&](pqxx::work& tx) { write_revisions(tx, revisions, true); });
  }

  Attempt submit(const Submission& s) override {
    const std::string op = "attempt submit";
    Attempt out;
    pool_.transact(op, [&](pqxx::work& tx) {
      // The row lock orders concurrent submits: the second sees the first's receipt.
      out = get_by_id(tx, op, s.attempt_id, true);
      if (out.state == AttemptState::kSubmitted ||
          (out.state == AttemptState::kGraded && !out.receipt.empty())) {
        return;
      }
      if (out.state != AttemptState::kInProgress && out.state != AttemptState::kNotStarted) {
        cas_failed(op, s.attempt_id, out.state, AttemptState::kSubmitted);
      }
      write_revisions(tx, s.answers, false);
      const auto t = s.start ? to_micros(s.start->started_at) : 0;
      const auto d = s.start ? to_micros(s.start->base_deadline) : 0;
      const std::string set_start = s.start ? ", " + start_set_sql() : std::string();
      db::exec0(tx,
                "UPDATE attempts SET state = 'submitted', version = version + 1,"
                " updated_at = now(), submitted_at = " +
                    ts("$4") + ", receipt = $5" + set_start + " WHERE id = $1",
                s.attempt_id, t, d, to_micros(s.submitted_at), s.receipt);
      out = get_by_id(tx, op, s.attempt_id);
    });
    return out;
  }

  Attempt set_extra_time(AttemptId id, seconds extra) override {
    const std::string op = "attempt set_extra_time";
    Attempt out;
    pool_.transact(op, [&](pqxx::work& tx) {
      db::exec0(tx,
                "UPDATE attempts SET deadline = deadline + ($2 - extra_time) * interval '1 second',"
                " extra_time = $2, version = version + 1, updated_at = now() WHERE id = $1",
                id, static_cast<std::int64_t>(extra.count()));
      out = get_by_id(tx, op, id);
    });
    return out;
  }

  std::vector<StudentId> mark_overdue(ExamId exam, TimePoint now, seconds grace) override {
    std::vector<StudentId> out;
    pool_.transact("attempts mark_overdue", [&](pqxx::work& tx) {
      out.clear();
      const auto r = db::exec(
          tx,
          "UPDATE attempts SET state = 'overdue', version = version + 1, updated_at = now()"
          " WHERE exam_id = $1 AND state = 'in_progress' AND deadline + $3 * interval '1 second' "
          "< " +
              ts("$2") + " RETURNING student_id",
          exam, to_micros(now), static_cast<std::int64_t>(grace.count()));
      for (const auto& row : r) out.push_back(row[0].as<StudentId>());
    });
    return out;
  }

  std::vector<SavedAnswer> answers(AttemptId id) override {
    return read_answers("attempt answers",
                        "SELECT question_id, seq, answer::text, " + us("saved_at") +
                            ", 0 FROM answers WHERE attempt_id = $1 ORDER BY question_id",
                        id);
  }

  std::vector<SavedAnswer> revisions(AttemptId id) override {
    return read_answers("attempt revisions",
                        "SELECT question_id, seq, answer::text, " + us("saved_at") +
                            ", since_previous_ms FROM answer_revisions WHERE attempt_id = $1"
                            " ORDER BY saved_at, question_id, seq",
                        id);
  }

  std::vector<PaperKey> papers_of_recent_exams(int n) override {
    std::vector<PaperKey> out;
    pool_.transact("attempts recent papers", [&](pqxx::work& tx) {
      out.clear();
      const auto r = db::exec(
          tx,
          "SELECT DISTINCT p.school, p.department, p.major, p.course FROM papers p"
          " JOIN attempts a ON a.paper_id = p.id WHERE a.exam_id IN ("
          "  SELECT e.id FROM exams e WHERE EXISTS (SELECT 1 FROM attempts x WHERE x.exam_id ="
          " e.id) ORDER BY e.starts_at DESC, e.id DESC LIMIT $1)",
          n);
      for (const auto& row : r) {
        out.push_back(PaperKey{row[0].as<std::string>(), row[1].as<std::string>(),
                               row[2].as<std::string>(), row[3].as<std::string>()});
      }
    });
    return out;
  }

 private:
  static Attempt get_by_id(pqxx::work& tx, const std::string& op, AttemptId id, bool lock = false) {
    const auto r = db::exec(tx,
                            "SELECT " + attempt_columns() + kAttemptFrom + "WHERE a.id = $1" +
                                (lock ? " FOR UPDATE OF a" : ""),
                            id);
    if (r.empty()) throw Error(ErrorCode::kNotFound, op, "no " + attempt_label(id));
    return read_attempt(r[0]);
  }

  std::vector<SavedAnswer> read_answers(const std::string& op, const std::string& sql,
                                        AttemptId id) {
    std::vector<SavedAnswer> out;
    pool_.transact(op, [&](pqxx::work& tx) {
      out.clear();
      for (const auto& r : db::exec(tx, sql, id)) out.push_back(read_answer(r));
    });
    return out;
  }

  PgPool& pool_;
};

// ---- in memory ----

class MemoryAttemptStore final : public AttemptStore {
 public:
  MemoryAttemptStore(ExamStore& exams, StudentStore& students)
      : exams_(exams), students_(students) {}

  std::vector<Attempt> precreate(const AttemptPlan& plan) override {
    const std::string op = "attempts precreate";
    // Foreign keys first (their stores lock on their own), then everything under mu_.
    if (!exams_.get(plan.exam_id))
      throw Error(ErrorCode::kNotFound, op, check::exam_label(plan.exam_id));
    for (const StudentId s : plan.students) {
      if (!students_.get(s)) throw Error(ErrorCode::kNotFound, op, check::student_label(s));
    }
    std::lock_guard<std::mutex> l(mu_);
    std::set<StudentId> seen;
    for (const StudentId s : plan.students) {
      if (live_.count({plan.exam_id, s}) != 0) {
        throw Error(ErrorCode::kConflict, op,
                    check::student_label(s) + " already has a live attempt in " +
                        check::exam_label(plan.exam_id));
      }
      if (!seen.insert(s).second) {
        throw Error(ErrorCode::kConflict, op,
                    check::student_label(s) + " appears twice (one live attempt per student)");
      }
    }
    std::vector<Attempt> out;
    out.reserve(plan.students.size());
    for (const StudentId s : plan.students) {
      Row row;
      row.a.id = ++next_id_;
      row.a.exam_id = plan.exam_id;
      row.a.student_id = s;
      row.a.paper = plan.paper;
      row.a.duration = plan.duration;
      live_[{plan.exam_id, s}] = row.a.id;
      out.push_back(row.a);
      rows_.emplace(row.a.id, std::move(row));
    }
    return out;
  }

  std::optional<Attempt> live(ExamId exam, StudentId student) override {
    std::lock_guard<std::mutex> l(mu_);
    const auto it = live_.find({exam, student});
    if (it == live_.end()) return std::nullopt;
    return rows_.at(it->second).a;
  }

  std::vector<Attempt> of_student(StudentId student) override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<Attempt> out;
    for (const auto& [id, row] : rows_) {
      if (row.a.student_id == student) out.push_back(row.a);
    }
    return out;
  }

  std::vector<Attempt> of_exam(ExamId exam) override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<Attempt> out;
    for (const auto& [id, row] : rows_) {
      if (row.a.exam_id == exam) out.push_back(row.a);
    }
    return out;
  }

  Attempt transition(AttemptId id, const std::vector<AttemptState>& from, AttemptState to,
                     const std::optional<AttemptStart>& start) override {
    std::lock_guard<std::mutex> l(mu_);
    Row& row = row_of("attempt transition", id);
    if (!contains(from, row.a.state)) cas_failed("attempt transition", id, row.a.state, to);
    if (start) apply_start(row, *start);
    set_state(row, to);
    return row.a;
  }

  void apply_starts(const std::vector<AttemptStart>& starts) override {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& s : starts) {
      const auto it = rows_.find(s.attempt_id);
      if (it == rows_.end() || it->second.a.state != AttemptState::kNotStarted) continue;
      apply_start(it->second, s);
      it->second.a.state = AttemptState::kInProgress;
    }
  }

  void insert_revisions(const std::vector<AnswerRevision>& revisions) override {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& r : revisions) row_of("answer revisions insert", r.attempt_id, kConflict);
    for (const auto& r : revisions) {
      Row& row = rows_.at(r.attempt_id);
      const bool open =
          row.a.state == AttemptState::kNotStarted || row.a.state == AttemptState::kInProgress;
      write_revision(row, r, open);
    }
  }

  Attempt submit(const Submission& s) override {
    const std::string op = "attempt submit";
    std::lock_guard<std::mutex> l(mu_);
    Row& row = row_of(op, s.attempt_id);
    const AttemptState st = row.a.state;
    if (st == AttemptState::kSubmitted || (st == AttemptState::kGraded && !row.a.receipt.empty())) {
      return row.a;
    }
    if (st != AttemptState::kInProgress && st != AttemptState::kNotStarted) {
      cas_failed(op, s.attempt_id, st, AttemptState::kSubmitted);
    }
    for (const auto& r : s.answers) write_revision(row, r, true);
    if (s.start) apply_start(row, *s.start);
    row.a.state = AttemptState::kSubmitted;
    row.a.submitted_at = check::truncate(s.submitted_at);
    row.a.receipt = s.receipt;
    return row.a;
  }

  Attempt set_extra_time(AttemptId id, seconds extra) override {
    std::lock_guard<std::mutex> l(mu_);
    Row& row = row_of("attempt set_extra_time", id);
    if (row.a.deadline) *row.a.deadline += extra - row.a.extra_time;
    row.a.extra_time = extra;
    return row.a;
  }

  std::vector<StudentId> mark_overdue(ExamId exam, TimePoint now, seconds grace) override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<StudentId> n;
    for (auto& [id, row] : rows_) {
      if (row.a.exam_id == exam && row.a.state == AttemptState::kInProgress && row.a.deadline &&
          *row.a.deadline + grace < now) {
        row.a.state = AttemptState::kOverdue;
        n.push_back(row.a.student_id);
      }
    }
    return n;
  }

  std::vector<SavedAnswer> answers(AttemptId id) override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<SavedAnswer> out;
    const auto it = rows_.find(id);
    if (it == rows_.end()) return out;
    for (const auto& [q, a] : it->second.latest) {
      SavedAnswer s = a;
      s.since_previous = milliseconds(0);
      out.push_back(s);
    }
    return out;
  }

  std::vector<SavedAnswer> revisions(AttemptId id) override {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<SavedAnswer> out;
    const auto it = rows_.find(id);
    if (it == rows_.end()) return out;
    for (const auto& [k, a] : it->second.revisions) out.push_back(a);
    std::sort(out.begin(), out.end(), [](const SavedAnswer& x, const SavedAnswer& y) {
      return std::tie(x.saved_at, x.question_id, x.seq) <
             std::tie(y.saved_at, y.question_id, y.seq);
    });
    return out;
  }

  std::vector<PaperKey> papers_of_recent_exams(int n) override {
    std::map<ExamId, std::vector<PaperKey>> by_exam;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (const auto& [id, row] : rows_) by_exam[row.a.exam_id].push_back(row.a.paper);
    }
    std::vector<std::pair<TimePoint, ExamId>> exams;
    for (const auto& [exam, papers] : by_exam) {
      if (auto e = exams_.get(exam)) exams.emplace_back(e->starts_at, exam);
    }
    std::sort(exams.rbegin(), exams.rend());
    if (exams.size() > static_cast<std::size_t>(std::max(n, 0)))
      exams.resize(static_cast<std::size_t>(std::max(n, 0)));
    std::vector<PaperKey> out;
    std::set<std::string> seen;
    for (const auto& [t, exam] : exams) {
      for (const auto& p : by_exam[exam]) {
        if (seen.insert(p.str()).second) out.push_back(p);
      }
    }
    return out;
  }

 private:
  static constexpr ErrorCode kConflict = ErrorCode::kConflict;
  struct Row {
    Attempt a;
    std::map<QuestionId, SavedAnswer> latest;
    std::map<std::pair<QuestionId, std::int64_t>, SavedAnswer> revisions;
  };

  Row& row_of(const std::string& op, AttemptId id, ErrorCode missing = ErrorCode::kNotFound) {
    const auto it = rows_.find(id);
    if (it == rows_.end()) throw Error(missing, op, "no " + attempt_label(id));
    return it->second;
  }

  static void apply_start(Row& row, const AttemptStart& s) {
    if (!row.a.started_at) row.a.started_at = check::truncate(s.started_at);
    if (!row.a.deadline) row.a.deadline = check::truncate(s.base_deadline) + row.a.extra_time;
  }

  void set_state(Row& row, AttemptState to) {
    row.a.state = to;
    if (to == AttemptState::kVoided) live_.erase({row.a.exam_id, row.a.student_id});
  }

  // Keeps the revision; raises the latest answer too when `raise_latest` (see the PostgreSQL
  // store: a submitted attempt's answers never change).
  static void write_revision(Row& row, const AnswerRevision& r, bool raise_latest) {
    SavedAnswer s{r.question_id, r.seq, r.answer, check::truncate(r.saved_at), r.since_previous};
    row.revisions.emplace(std::make_pair(r.question_id, r.seq), s);
    if (!raise_latest) return;
    auto [it, inserted] = row.latest.emplace(r.question_id, s);
    if (!inserted && it->second.seq < r.seq) it->second = s;
  }

  ExamStore& exams_;
  StudentStore& students_;
  std::mutex mu_;  // guards everything below
  std::map<AttemptId, Row> rows_;
  std::map<std::pair<ExamId, StudentId>, AttemptId> live_;
  AttemptId next_id_ = 0;
};

}  // namespace

std::unique_ptr<AttemptStore> make_pg_attempt_store(PgPool& pool) {
  return std::make_unique<PgAttemptStore>(pool);
}

std::unique_ptr<AttemptStore> make_memory_attempt_store(ExamStore& exams, StudentStore& students) {
  return std::make_unique<MemoryAttemptStore>(exams, students);
}

}  // namespace examstore::db
