// PersonalData: the GDPR rights over the sealed personal fields, and key rotation
// (include/examstore/personal_data.hpp, docs/personal-data.md).
//
// Sealing itself happens in the StudentRepo (create) and here (correct, rotate): the stores
// only ever hold sealed email and phone values (security/crypto.hpp).
#include "examstore/personal_data.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <set>

#include "common/json.hpp"
#include "db/store_checks.hpp"
#include "examstore/audit.hpp"
#include "examstore/error.hpp"
#include "grading/grading_keys.hpp"
#include "repo/context.hpp"
#include "security/crypto.hpp"

namespace examstore::repo {
namespace {

constexpr int kFindLimit = 100;
constexpr int kPage = 10000;  // the stores' largest page
constexpr int kMaxBatch = 10000;

// "2026-11-22T04:18:40.123456Z"
std::string iso(TimePoint t) {
  const std::int64_t us = db::check::to_micros(t);
  std::int64_t secs = us / 1'000'000;
  std::int64_t frac = us % 1'000'000;
  if (frac < 0) {
    frac += 1'000'000;
    --secs;
  }
  const auto tt = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%06lldZ", buf, static_cast<long long>(frac));
  return out;
}

void add_time(json::ObjectWriter& w, std::string_view key, const std::optional<TimePoint>& t) {
  if (t) {
    w.add(key, iso(*t));
  } else {
    w.add_null(key);
  }
}

std::string array(const std::vector<std::string>& items) {
  std::string out = "[";
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i != 0) out += ',';
    out += items[i];
  }
  return out + "]";
}

std::string student_target(StudentId id) { return "student:" + std::to_string(id); }

// True when an audit target names the student: "student:9", "exam:7/student:9", ...
bool names_student(const std::string& target, StudentId id) {
  const std::string needle = student_target(id);
  for (auto at = target.find(needle); at != std::string::npos; at = target.find(needle, at + 1)) {
    const bool starts = at == 0 || target[at - 1] == '/';
    const auto end = at + needle.size();
    const bool ends = end == target.size() || target[end] == '/';
    if (starts && ends) return true;
  }
  return false;
}

std::string to_json(const Student& s, bool erased) {
  json::ObjectWriter w;
  w.add("id", s.id)
      .add("external_no", s.external_no)
      .add("name", s.name)
      .add("class_name", s.class_name)
      .add("email", s.email)
      .add("phone", s.phone)
      .add("erased", erased);
  return w.str();
}

std::string to_json(const User& u) {
  json::ObjectWriter w;
  w.add("id", u.id).add("name", u.name).add("role", to_string(u.role));
  w.add("status", to_string(u.status));
  if (u.student_id) {
    w.add("student_id", *u.student_id);
  } else {
    w.add_null("student_id");
  }
  w.add("created_at", iso(u.created_at)).add("password_changed_at", iso(u.password_changed_at));
  return w.str();
}

std::string to_json(const LoginRecord& r) {
  json::ObjectWriter w;
  w.add("id", r.id).add("name", r.name).add("ip", r.ip).add("at", iso(r.at));
  w.add("success", r.success).add("reason", r.reason);
  return w.str();
}

std::string to_json(const Attendance& a) {
  json::ObjectWriter w;
  w.add("exam_id", a.exam_id).add("status", to_string(a.status));
  add_time(w, "login_at", a.login_at);
  add_time(w, "logout_at", a.logout_at);
  w.add("last_ip", a.last_ip);
  add_time(w, "last_heartbeat_at", a.last_heartbeat_at);
  return w.str();
}

std::string to_json(const SavedAnswer& a) {
  json::ObjectWriter w;
  w.add("question_id", a.question_id).add("seq", a.seq);
  // The answer is JSON already (validated when saved).
  w.add_raw("answer", a.answer.empty() ? "null" : a.answer);
  w.add("saved_at", iso(a.saved_at));
  w.add("since_previous_ms", static_cast<std::int64_t>(a.since_previous.count()));
  return w.str();
}

std::string answers_json(const std::vector<SavedAnswer>& answers) {
  std::vector<std::string> items;
  items.reserve(answers.size());
  for (const auto& a : answers) items.push_back(to_json(a));
  return array(items);
}

std::string to_json(const Attempt& a, const std::vector<SavedAnswer>& answers,
                    const std::vector<SavedAnswer>& revisions) {
  json::ObjectWriter w;
  w.add("id", a.id).add("exam_id", a.exam_id).add("paper", a.paper.str());
  w.add("state", to_string(a.state));
  w.add("duration_s", static_cast<std::int64_t>(a.duration.count()));
  w.add("extra_time_s", static_cast<std::int64_t>(a.extra_time.count()));
  add_time(w, "started_at", a.started_at);
  add_time(w, "deadline", a.deadline);
  add_time(w, "submitted_at", a.submitted_at);
  w.add("receipt", a.receipt);
  w.add_raw("answers", answers_json(answers)).add_raw("revisions", answers_json(revisions));
  return w.str();
}

std::string to_json(const Violation& v) {
  json::ObjectWriter w;
  w.add("id", v.id).add("exam_id", v.exam_id).add("kind", to_string(v.kind));
  w.add("severity", v.severity).add("reason", v.reason).add("screenshot_path", v.screenshot_path);
  w.add("occurred_at", iso(v.occurred_at)).add("state", to_string(v.state));
  w.add("reviewed_by", v.reviewed_by);
  add_time(w, "reviewed_at", v.reviewed_at);
  w.add("review_note", v.review_note);
  return w.str();
}

std::string to_json(const Event& e) {
  json::ObjectWriter w;
  w.add("id", e.id).add("exam_id", e.exam_id).add("kind", e.kind);
  w.add_raw("payload", e.payload.empty() ? "null" : e.payload);
  w.add("occurred_at", iso(e.occurred_at));
  return w.str();
}

std::string to_json(const AuditEntry& e) {
  json::ObjectWriter w;
  w.add("id", e.id).add("at", iso(e.at)).add("actor_name", e.actor_name);
  w.add("actor_role", e.actor_role).add("action", e.action).add("target", e.target);
  w.add("before", e.before).add("after", e.after);
  return w.str();
}

// ---- grading records (include/examstore/grading.hpp) ----

std::string raw_or_null(const std::string& json_text) {
  return json_text.empty() ? "null" : json_text;  // validated as JSON when written
}

template <typename T>
void add_optional(json::ObjectWriter& w, std::string_view key, const std::optional<T>& v) {
  if (!v) {
    w.add_null(key);
  } else if constexpr (std::is_same_v<T, double>) {
    w.add_raw(key, json::number(*v));
  } else {
    w.add(key, static_cast<std::int64_t>(*v));
  }
}

std::string to_json(const SchoolClass& c) {
  json::ObjectWriter w;
  w.add("id", c.id).add("name", c.name).add("teacher", c.teacher).add("subject", c.subject);
  return w.str();
}

std::string to_json(const examstore::Submission& s, const std::optional<Assignment>& assignment) {
  std::vector<std::string> files;
  files.reserve(s.answer_files.size());
  for (const auto& f : s.answer_files) files.push_back(json::quote(f));
  json::ObjectWriter w;
  w.add("id", s.id).add("assignment_id", s.assignment_id);
  w.add("assignment_title", assignment ? assignment->title : std::string());
  w.add_raw("answer_files", array(files)).add("submitted_at", iso(s.submitted_at));
  w.add("late", s.late).add("grading_state", to_string(s.grading_state));
  add_optional(w, "total_score", s.total_score);
  add_optional(w, "max_score", s.max_score);
  add_optional(w, "percentage", s.percentage);
  w.add("grade_level", s.grade_level);
  w.add_raw("evaluations", raw_or_null(s.evaluations));
  w.add_raw("annotations", raw_or_null(s.annotations));
  return w.str();
}

std::string to_json(const GradingResult& r) {
  json::ObjectWriter grader;
  grader.add("kind", r.grader.kind == GraderIdentity::Kind::kAi ? "ai" : "human");
  grader.add("name", r.grader.name).add("model", r.grader.model);
  grader.add("model_version", r.grader.model_version).add("prompt_sha256", r.grader.prompt_sha256);
  json::ObjectWriter w;
  w.add("run", r.run).add("question", r.grade.question);
  w.add_raw("score", json::number(r.grade.score));
  w.add_raw("max_score", json::number(r.grade.max_score));
  w.add("feedback", r.grade.feedback).add("strategy", r.grade.strategy);
  w.add_raw("grader", grader.str()).add("created_at", iso(r.created_at));
  w.add("superseded", r.superseded);
  return w.str();
}

std::string to_json(const ErrorFinding& e) {
  json::ObjectWriter w;
  w.add("question", e.question).add("kind", e.kind).add("knowledge_point", e.knowledge_point);
  w.add("note", e.note);
  return w.str();
}

std::string to_json(const GradingTask& t, const std::vector<GradingResult>& results,
                    const std::vector<ErrorFinding>& findings) {
  std::vector<std::string> rows;
  rows.reserve(results.size());
  for (const auto& r : results) rows.push_back(to_json(r));
  std::vector<std::string> errors;
  errors.reserve(findings.size());
  for (const auto& e : findings) errors.push_back(to_json(e));
  json::ObjectWriter w;
  w.add("id", t.id);
  add_optional(w, "submission_id", t.submission_id);
  add_optional(w, "attempt_id", t.attempt_id);
  add_optional(w, "assignment_id", t.assignment_id);
  add_optional(w, "class_id", t.class_id);
  add_optional(w, "exam_id", t.exam_id);
  w.add("state", to_string(t.state)).add("run", t.run);
  add_time(w, "completed_at", t.completed_at);
  w.add_raw("results", array(rows)).add_raw("findings", array(errors));
  return w.str();
}

class PersonalDataImpl final : public PersonalData {
 public:
  PersonalDataImpl(Context& ctx, AuditLog& audit, AccountRepo& accounts, SessionStore& sessions)
      : ctx_(ctx),
        ring_(*ctx.personal),
        students_(*ctx.stores.students),
        audit_(audit),
        accounts_(accounts),
        sessions_(sessions),
        grading_(*ctx.stores.grading),
        grading_keys_(ctx.config.key_prefix.empty() ? "" : ctx.config.key_prefix + ":",
                      ctx.config.grading) {}

  std::optional<Student> find_by_email(std::string_view email) override {
    const std::string bidx = ring_.blind_index(email);
    if (bidx.empty()) return std::nullopt;
    const std::string wanted = crypto::normalise_email(email);
    for (Student& s : students_.find_by_email_index(bidx, kFindLimit)) {
      Student open = ring_.open_student(std::move(s));
      // The index is a keyed hash: a collision is not expected, but the sealed value decides.
      if (crypto::normalise_email(open.email) == wanted) return open;
    }
    return std::nullopt;
  }

  Student correct_student(StudentId id, const StudentCorrection& c, const Principal& by) override {
    const std::string op = "student correct";
    keys::check_id("student id", id);
    db::check::personal_update(op, c);
    db::PersonalUpdate u;
    u.name = c.name;
    u.class_name = c.class_name;
    std::vector<std::string> changed;
    if (c.name) changed.emplace_back("name");
    if (c.class_name) changed.emplace_back("class_name");
    if (c.email) {
      ring_.require_key("email", *c.email);
      u.email = ring_.seal(id, "email", *c.email);
      u.email_bidx = ring_.blind_index(*c.email);
      changed.emplace_back("email");
    }
    if (c.phone) {
      ring_.require_key("phone", *c.phone);
      u.phone = ring_.seal(id, "phone", *c.phone);
      changed.emplace_back("phone");
    }
    Student s = students_.update_personal(id, u);
    ctx_.cache_aside.invalidate(ctx_.keys.student(id));
    std::vector<std::string> quoted;
    quoted.reserve(changed.size());
    for (const auto& f : changed) quoted.push_back(json::quote(f));
    audit_.append(by, NewAuditEntry{"student.correct", student_target(id), "",
                                    json::ObjectWriter().add_raw("fields", array(quoted)).str()});
    return ring_.open_student(std::move(s));
  }

  std::string export_student(StudentId id, const Principal& by) override {
    keys::check_id("student id", id);
    // Queued writes (attendance, violations, events, answers) belong in the export.
    ctx_.queue.flush(ctx_.config.write_behind.commit_timeout);
    auto stored = students_.get(id);
    if (!stored) db::check::not_found("gdpr export", db::check::student_label(id));
    const bool erased = is_erased(*stored);
    const Student s = ring_.open_student(std::move(*stored));

    json::ObjectWriter doc;
    doc.add("format", "examstore.gdpr-export.v1")
        .add("exported_at", iso(std::chrono::system_clock::now()));
    doc.add_raw("student", to_json(s, erased));

    // The account, never its password hash (User carries none), and its login records.
    if (const auto user = accounts_.find_by_student(id)) {
      doc.add_raw("account", to_json(*user));
      std::vector<std::string> logins;
      for (const auto& r : accounts_.login_log(user->id, std::nullopt, kPage)) {
        logins.push_back(to_json(r));
      }
      doc.add_raw("login_log", array(logins));
    } else {
      doc.add_null("account");
      doc.add_raw("login_log", "[]");
    }

    std::set<ExamId> exams;
    std::vector<std::string> items;
    for (const auto& a : students_.attendance_of_student(id)) {
      exams.insert(a.exam_id);
      items.push_back(to_json(a));
    }
    doc.add_raw("enrollments", array(items));

    items.clear();
    auto& attempts = *ctx_.stores.attempts;
    for (const auto& a : attempts.of_student(id)) {
      exams.insert(a.exam_id);
      items.push_back(to_json(a, attempts.answers(a.id), attempts.revisions(a.id)));
    }
    doc.add_raw("attempts", array(items));

    items.clear();
    auto& violations = *ctx_.stores.violations;
    db::ViolationFilter f;
    f.student_id = id;
    f.limit = kPage;
    for (;;) {
      const auto page = violations.query(f);
      for (const auto& v : page) {
        exams.insert(v.exam_id);
        items.push_back(to_json(v));
      }
      if (static_cast<int>(page.size()) < f.limit) break;
      f.after_id = page.back().id;
    }
    doc.add_raw("violations", array(items));

    items.clear();
    bool events_truncated = false;
    for (const ExamId exam : exams) {
      const auto events = violations.events(exam, id, kPage);
      events_truncated = events_truncated || static_cast<int>(events.size()) == kPage;
      for (const auto& e : events) items.push_back(to_json(e));
    }
    doc.add_raw("events", array(items)).add("events_truncated", events_truncated);

    // Entries whose target names the student, found by reading the log in pages: an export is
    // rare, and targets are free text ("exam:7/student:9"), not an indexed column of ids.
    items.clear();
    AuditFilter af;
    af.limit = kPage;
    for (;;) {
      const auto page = audit_.list(af);
      for (const auto& e : page) {
        if (names_student(e.target, id)) items.push_back(to_json(e));
      }
      if (static_cast<int>(page.size()) < af.limit) break;
      af.after_id = page.back().id;
    }
    doc.add_raw("audit", array(items));

    // Grading: classes, submissions (answer file references: the files themselves are in the
    // platform's object store), and every task's results, with all runs, and current findings.
    items.clear();
    for (const ClassId c : grading_.classes_of(id)) {
      if (const auto k = grading_.get_class(c)) items.push_back(to_json(*k));
    }
    doc.add_raw("classes", array(items));
    items.clear();
    for (const auto& sub : grading_.submissions_of(id)) {
      items.push_back(to_json(sub, grading_.get_assignment(sub.assignment_id)));
    }
    doc.add_raw("submissions", array(items));
    items.clear();
    for (const auto& t : grading_.tasks_of(id)) {
      items.push_back(to_json(t, grading_.result_history(t.id), grading_.error_analysis(t.id)));
    }
    doc.add_raw("grading_tasks", array(items));

    audit_.append(by, NewAuditEntry{"gdpr.export", student_target(id), "", ""});
    return doc.str();
  }

  ErasureReport erase_student(StudentId id, const Principal& by) override {
    keys::check_id("student id", id);
    // Queued writes for the student land first; its attempt hot state is removed below.
    ctx_.queue.flush(ctx_.config.write_behind.commit_timeout);
    ErasureReport report;
    report.student_id = id;
    const db::ErasureOutcome outcome = students_.erase(id);
    if (outcome == db::ErasureOutcome::kAbsent) {
      db::check::not_found("gdpr erase", db::check::student_label(id));
    }

    if (const auto user = accounts_.find_by_student(id)) {
      report.sessions_ended = sessions_.invalidate_user(user->id);
      accounts_.remove(user->id, by);
      report.user_deleted = user->id;
    }

    // After the row is marked erased: the grading store blanks text of erased students only.
    report.grading_texts_erased = grading_.erase_text(id);
    report.cache_keys_removed = remove_cache_keys(id);
    // Cache keys do not count: copies refilled since hold the anonymised row only.
    report.already_erased = outcome == db::ErasureOutcome::kAlreadyErased && !report.user_deleted &&
                            report.sessions_ended == 0 && report.grading_texts_erased == 0;

    json::ObjectWriter after;
    after.add("already_erased", report.already_erased)
        .add("cache_keys_removed", report.cache_keys_removed)
        .add("sessions_ended", report.sessions_ended)
        .add("grading_texts_erased", report.grading_texts_erased);
    if (report.user_deleted) {
      after.add("user_deleted", *report.user_deleted);
    } else {
      after.add_null("user_deleted");
    }
    audit_.append(by, NewAuditEntry{"gdpr.erase", student_target(id), "", after.str()});
    return report;
  }

  KeyRotationReport rotate_keys(const Principal& by, int batch_size) override {
    if (batch_size < 1 || batch_size > kMaxBatch) {
      throw Error(ErrorCode::kInvalidArgument, "keys rotate",
                  "batch_size must be 1.." + std::to_string(kMaxBatch) + ", got " +
                      std::to_string(batch_size));
    }
    KeyRotationReport report;
    report.active_key_id = ring_.active_key_id();
    StudentId after = 0;
    for (;;) {
      const auto rows = students_.sealed_after(after, batch_size);
      if (rows.empty()) break;
      after = rows.back().id;
      std::vector<db::Reseal> batch;
      std::vector<std::int64_t> resealed_values;
      for (const auto& row : rows) {
        db::SealedFields now = row;
        std::int64_t values = 0;
        const std::string email = open_or_legacy(row.id, "email", row.email);
        report.values_checked += (row.email.empty() ? 0 : 1) + (row.phone.empty() ? 0 : 1);
        if (ring_.needs_reseal(row.email)) {
          now.email = ring_.seal(row.id, "email", email);
          ++values;
        }
        if (ring_.needs_reseal(row.phone)) {
          now.phone = ring_.seal(row.id, "phone", open_or_legacy(row.id, "phone", row.phone));
          ++values;
        }
        now.email_bidx = ring_.blind_index(email);  // rebuilt when the index key changed
        if (values == 0 && now.email_bidx == row.email_bidx) continue;
        batch.push_back(db::Reseal{row, now});
        resealed_values.push_back(values);
      }
      if (batch.empty()) continue;
      const auto changed = students_.reseal(batch);  // one transaction
      const std::set<StudentId> done(changed.begin(), changed.end());
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (done.count(batch[i].old.id) == 0) continue;  // corrected meanwhile: sealed anew
        report.values_reencrypted += resealed_values[i];
        ctx_.cache_aside.invalidate(ctx_.keys.student(batch[i].old.id));
      }
    }
    json::ObjectWriter after_json;
    after_json.add("active_key", report.active_key_id)
        .add("values_reencrypted", report.values_reencrypted)
        .add("values_checked", report.values_checked);
    audit_.append(
        by, NewAuditEntry{"keys.rotate", "keys:" + report.active_key_id, "", after_json.str()});
    return report;
  }

 private:
  // A value written before migration 0008 is plaintext: rotation seals it.
  std::string open_or_legacy(StudentId id, std::string_view field, const std::string& stored) {
    if (!stored.empty() && !crypto::key_id_of(stored)) return stored;
    return ring_.open(id, field, stored);
  }

  static bool is_erased(const Student& s) {
    const std::string anonymous = "erased-" + std::to_string(s.id);
    return s.external_no == anonymous && s.name == anonymous && s.email.empty() && s.phone.empty();
  }

  // Every hot-tier key that embeds the student's id and holds data (docs/personal-data.md): the
  // cached profile and the hot state of each of the student's attempts. One DEL per key: they
  // live on different cluster slots. The profile's fill generation (a counter) stays: it is what
  // refuses a concurrent reader's late fill of the old profile.
  std::int64_t remove_cache_keys(StudentId id) {
    // The cache-aside values: the profile, and the results of the student's grading tasks,
    // which held the feedback just blanked.
    std::vector<std::string> values = {ctx_.keys.student(id)};
    for (const auto& t : grading_.tasks_of(id)) values.push_back(grading_keys_.results(t.id));
    std::vector<std::string> keys = values;
    std::set<ExamId> exams;
    for (const auto& a : students_.attendance_of_student(id)) exams.insert(a.exam_id);
    for (const auto& a : ctx_.stores.attempts->of_student(id)) exams.insert(a.exam_id);
    for (const ExamId exam : exams) {
      keys.push_back(ctx_.keys.attempt(exam, id));
      keys.push_back(ctx_.keys.attempt_answers(exam, id));
    }
    std::int64_t removed = 0;
    for (const auto& k : keys) removed += ctx_.cache.del({k});
    // Then invalidated, in one round trip: their generations are bumped, so a reader that loaded
    // the old rows before the erasure cannot put them back, and near caches of other processes
    // drop them.
    ctx_.cache_aside.invalidate_many(values);
    return removed;
  }

  Context& ctx_;
  const crypto::Keyring& ring_;
  db::StudentStore& students_;
  AuditLog& audit_;
  AccountRepo& accounts_;
  SessionStore& sessions_;
  db::GradingStore& grading_;
  const grading::GradingKeys grading_keys_;
};

}  // namespace

std::unique_ptr<PersonalData> make_personal_data(Context& ctx, AuditLog& audit,
                                                 AccountRepo& accounts, SessionStore& sessions) {
  return std::make_unique<PersonalDataImpl>(ctx, audit, accounts, sessions);
}

}  // namespace examstore::repo
