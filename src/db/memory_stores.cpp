// The in-memory durable tier: every store over one in-process database guarded by one mutex.
//
// It enforces what the schema enforces (sequences, uniqueness, foreign keys, the attendance
// version rule, all-or-nothing batches) so code tested against it behaves the same on
// PostgreSQL; tests/contract/store_contract_test.cpp holds both to one contract. Every write
// validates its whole input first and only then changes anything, which is how a failed call
// leaves nothing behind without a rollback.
#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "db/store_checks.hpp"
#include "db/stores.hpp"
#include "examstore/error.hpp"

namespace examstore::db {
namespace {

struct AttendanceRow {
  int seat = 0;
  Attendance data;
};

/// The whole database. Sequences start at 1 like fresh PostgreSQL sequences; the violation and
/// event sequences step by kIdBlockSize as theirs do.
struct MemoryDb {
  std::mutex mu;  // guards everything below

  std::int64_t next_exam_id = 1;
  std::map<ExamId, Exam> exams;
  std::map<ExamId, std::vector<ConfigChange>> config_changes;

  std::int64_t next_student_id = 1;
  std::map<StudentId, Student> students;
  std::unordered_map<std::string, StudentId> student_by_external_no;
  std::map<StudentId, std::string> student_email_bidx;  // the email_bidx column
  std::set<StudentId> erased_students;                  // erased_at IS NOT NULL

  std::map<std::pair<ExamId, StudentId>, AttendanceRow> attendance;
  std::map<ExamId, std::vector<StudentId>> seats;  // index = seat

  std::int64_t next_violation_block = 1;
  std::int64_t next_event_block = 1;
  std::map<ViolationId, Violation> violations;
  std::map<EventId, Event> events;

  std::int64_t next_dead_letter_id = 1;
  std::map<std::int64_t, DeadLetter> dead_letters;
};

TimePoint now() { return check::truncate(std::chrono::system_clock::now()); }

using check::conflict;
using check::exam_label;
using check::not_found;
using check::student_label;

// ---- exams ----

class MemoryExamStore final : public ExamStore {
 public:
  explicit MemoryExamStore(std::shared_ptr<MemoryDb> db) : db_(std::move(db)) {}

  Exam create(const NewExam& in) override {
    const std::string op = "exam create";
    check::new_exam(op, in);
    std::lock_guard<std::mutex> l(db_->mu);
    Exam e;
    e.id = db_->next_exam_id++;
    e.name = in.name;
    e.starts_at = check::truncate(in.starts_at);
    e.ends_at = check::truncate(in.ends_at);
    e.status = ExamStatus::kPending;
    e.config = in.config;
    e.config_version = 1;
    e.version = 1;
    e.created_at = e.updated_at = now();
    db_->exams.emplace(e.id, e);
    return e;
  }

  std::optional<Exam> get(ExamId id) override {
    std::lock_guard<std::mutex> l(db_->mu);
    const auto it = db_->exams.find(id);
    if (it == db_->exams.end()) return std::nullopt;
    return it->second;
  }

  std::vector<Exam> list(std::optional<ExamStatus> status, std::optional<TimePoint> from,
                         std::optional<TimePoint> to, int limit) override {
    const std::string op = "exam list";
    check::limit(op, limit);
    if (status) check::status(op, *status);
    from = check::truncate(from);
    to = check::truncate(to);
    std::vector<Exam> out;
    {
      std::lock_guard<std::mutex> l(db_->mu);
      for (const auto& [id, e] : db_->exams) {
        if (status && e.status != *status) continue;
        if (from && e.starts_at < *from) continue;
        if (to && !(e.starts_at < *to)) continue;
        out.push_back(e);
      }
    }
    std::sort(out.begin(), out.end(), [](const Exam& a, const Exam& b) {
      return a.starts_at != b.starts_at ? a.starts_at < b.starts_at : a.id < b.id;
    });
    if (out.size() > static_cast<std::size_t>(limit)) out.resize(static_cast<std::size_t>(limit));
    return out;
  }

  Exam update_config(ExamId id, const std::string& config, const std::string& changed_by,
                     std::optional<std::int64_t> expected_config_version) override {
    const std::string op = "exam update_config";
    check::json_document(op, "config", config);
    check::text(op, "changed_by", changed_by);
    std::lock_guard<std::mutex> l(db_->mu);
    const auto it = db_->exams.find(id);
    if (it == db_->exams.end()) not_found(op, exam_label(id));
    Exam& e = it->second;
    if (expected_config_version && *expected_config_version != e.config_version) {
      check::config_version_moved(op, id, e.config_version, *expected_config_version);
    }
    const TimePoint t = now();
    ConfigChange change;
    change.version = e.config_version + 1;
    change.changed_by = changed_by;
    change.changed_at = t;
    change.old_config = e.config;
    change.new_config = config;
    e.config = config;
    e.config_version += 1;
    e.version += 1;
    e.updated_at = t;
    db_->config_changes[id].push_back(std::move(change));
    return e;
  }

  std::vector<ConfigChange> config_history(ExamId id) override {
    std::lock_guard<std::mutex> l(db_->mu);
    const auto it = db_->config_changes.find(id);
    if (it == db_->config_changes.end()) return {};
    return it->second;
  }

  Exam transition(ExamId id, ExamStatus to) override {
    const std::string op = "exam transition";
    check::status(op, to);
    std::lock_guard<std::mutex> l(db_->mu);
    const auto it = db_->exams.find(id);
    if (it == db_->exams.end()) not_found(op, exam_label(id));
    Exam& e = it->second;
    if (!is_legal_transition(e.status, to)) {
      check::illegal_transition(op, id, e.status, to);
    }
    e.status = to;
    e.version += 1;
    e.updated_at = now();
    return e;
  }

 private:
  std::shared_ptr<MemoryDb> db_;
};

// ---- students and attendance ----

class MemoryStudentStore final : public StudentStore {
 public:
  explicit MemoryStudentStore(std::shared_ptr<MemoryDb> db) : db_(std::move(db)) {}

  Student create(const NewStudent& in) override {
    check::new_student("student create", in);
    return insert(reserve_id(), in, "");
  }

  StudentId reserve_id() override {
    std::lock_guard<std::mutex> l(db_->mu);
    return db_->next_student_id++;
  }

  Student insert(StudentId id, const NewStudent& in, const std::string& email_bidx) override {
    const std::string op = "student create";
    check::new_student(op, in);
    check::positive_id(op, "id", id);
    std::lock_guard<std::mutex> l(db_->mu);
    if (db_->students.count(id) != 0) conflict(op, student_label(id) + " exists already");
    if (db_->student_by_external_no.count(in.external_no) != 0) {
      check::duplicate_external_no(op, in.external_no);
    }
    Student s;
    s.id = id;
    s.external_no = in.external_no;
    s.name = in.name;
    s.class_name = in.class_name;
    s.email = in.email;
    s.phone = in.phone;
    db_->students.emplace(s.id, s);
    db_->student_by_external_no.emplace(s.external_no, s.id);
    if (!email_bidx.empty()) db_->student_email_bidx[id] = email_bidx;
    db_->next_student_id = std::max(db_->next_student_id, id + 1);
    return s;
  }

  std::optional<Student> get(StudentId id) override {
    std::lock_guard<std::mutex> l(db_->mu);
    const auto it = db_->students.find(id);
    if (it == db_->students.end()) return std::nullopt;
    return it->second;
  }

  std::vector<Student> find_by_email_index(const std::string& email_bidx, int limit) override {
    check::text("student find_by_email", "email_bidx", email_bidx, 1, 128);
    std::lock_guard<std::mutex> l(db_->mu);
    std::vector<Student> out;
    for (const auto& [id, bidx] : db_->student_email_bidx) {
      if (static_cast<int>(out.size()) >= limit) break;
      if (bidx == email_bidx) out.push_back(db_->students.at(id));
    }
    return out;
  }

  Student update_personal(StudentId id, const PersonalUpdate& u) override {
    const std::string op = "student correct";
    check::personal_update(op, u);
    std::lock_guard<std::mutex> l(db_->mu);
    const auto it = db_->students.find(id);
    if (it == db_->students.end()) not_found(op, student_label(id));
    if (db_->erased_students.count(id) != 0) conflict(op, student_label(id) + " is erased");
    Student& s = it->second;
    if (u.name) s.name = *u.name;
    if (u.class_name) s.class_name = *u.class_name;
    if (u.email) s.email = *u.email;
    if (u.phone) s.phone = *u.phone;
    if (u.email_bidx) set_bidx(id, *u.email_bidx);
    return s;
  }

  ErasureOutcome erase(StudentId id) override {
    std::lock_guard<std::mutex> l(db_->mu);
    const auto it = db_->students.find(id);
    if (it == db_->students.end()) return ErasureOutcome::kAbsent;
    if (!db_->erased_students.insert(id).second) return ErasureOutcome::kAlreadyErased;
    Student& s = it->second;
    db_->student_by_external_no.erase(s.external_no);
    s.name = s.external_no = "erased-" + std::to_string(id);
    s.email.clear();
    s.phone.clear();
    db_->student_by_external_no[s.external_no] = id;
    db_->student_email_bidx.erase(id);
    return ErasureOutcome::kErased;
  }

  std::optional<bool> erased(StudentId id) override {
    std::lock_guard<std::mutex> l(db_->mu);
    if (db_->students.count(id) == 0) return std::nullopt;
    return db_->erased_students.count(id) != 0;
  }

  std::vector<SealedFields> sealed_after(StudentId after_id, int limit) override {
    std::lock_guard<std::mutex> l(db_->mu);
    std::vector<SealedFields> out;
    for (auto it = db_->students.upper_bound(after_id);
         it != db_->students.end() && static_cast<int>(out.size()) < limit; ++it) {
      const Student& s = it->second;
      if (s.email.empty() && s.phone.empty()) continue;
      out.push_back(SealedFields{s.id, s.email, s.phone, bidx_of(s.id)});
    }
    return out;
  }

  std::vector<StudentId> reseal(const std::vector<Reseal>& batch) override {
    std::lock_guard<std::mutex> l(db_->mu);
    std::vector<StudentId> changed;
    for (const Reseal& r : batch) {
      const auto it = db_->students.find(r.old.id);
      if (it == db_->students.end()) continue;
      Student& s = it->second;
      if (s.email != r.old.email || s.phone != r.old.phone || bidx_of(s.id) != r.old.email_bidx) {
        continue;  // changed since it was read: the next run sees the new value
      }
      s.email = r.now.email;
      s.phone = r.now.phone;
      set_bidx(s.id, r.now.email_bidx);
      changed.push_back(s.id);
    }
    return changed;
  }

  std::vector<Attendance> attendance_of_student(StudentId student) override {
    std::lock_guard<std::mutex> l(db_->mu);
    std::vector<Attendance> out;
    for (const auto& [key, row] : db_->attendance) {
      if (key.second == student) out.push_back(row.data);
    }
    return out;
  }

  std::optional<Student> find_by_external_no(const std::string& external_no) override {
    check::text("student find_by_external_no", "external_no", external_no);
    std::lock_guard<std::mutex> l(db_->mu);
    const auto it = db_->student_by_external_no.find(external_no);
    if (it == db_->student_by_external_no.end()) return std::nullopt;
    return db_->students.at(it->second);
  }

  int enroll(ExamId exam, StudentId student) override {
    const std::string op = "student enroll";
    std::lock_guard<std::mutex> l(db_->mu);
    if (db_->exams.count(exam) == 0) not_found(op, exam_label(exam));
    if (db_->students.count(student) == 0) not_found(op, student_label(student));
    const auto key = std::make_pair(exam, student);
    if (const auto it = db_->attendance.find(key); it != db_->attendance.end()) {
      return it->second.seat;
    }
    auto& seats = db_->seats[exam];
    AttendanceRow row;
    row.seat = static_cast<int>(seats.size());
    row.data.exam_id = exam;
    row.data.student_id = student;
    seats.push_back(student);
    db_->attendance.emplace(key, row);
    return row.seat;
  }

  std::vector<std::pair<int, StudentId>> seats(ExamId exam) override {
    std::lock_guard<std::mutex> l(db_->mu);
    std::vector<std::pair<int, StudentId>> out;
    const auto it = db_->seats.find(exam);
    if (it == db_->seats.end()) return out;
    out.reserve(it->second.size());
    for (std::size_t i = 0; i < it->second.size(); ++i) {
      out.emplace_back(static_cast<int>(i), it->second[i]);
    }
    return out;
  }

  void apply_attendance(const std::vector<AttendanceUpdate>& updates) override {
    const std::string op = "attendance apply";
    for (const auto& u : updates) check::attendance_update(op, u);
    std::lock_guard<std::mutex> l(db_->mu);
    for (const auto& u : updates) {
      if (db_->attendance.count({u.exam_id, u.student_id}) == 0) {
        check::not_enrolled(op, u.exam_id, u.student_id);
      }
    }
    // Folded in ascending version order (stable: among equal versions the first one given
    // applies), each only when newer than the stored row: reordering a batch changes nothing.
    std::vector<const AttendanceUpdate*> order;
    order.reserve(updates.size());
    for (const auto& u : updates) order.push_back(&u);
    std::stable_sort(order.begin(), order.end(),
                     [](const AttendanceUpdate* a, const AttendanceUpdate* b) {
                       return a->version < b->version;
                     });
    for (const AttendanceUpdate* u : order) {
      Attendance& a = db_->attendance.at({u->exam_id, u->student_id}).data;
      if (u->version <= a.version) continue;
      a.version = u->version;
      a.status = u->status;
      if (!a.login_at && u->login_at) a.login_at = check::truncate(u->login_at);
      if (u->logout_at) a.logout_at = check::truncate(u->logout_at);
      if (!u->last_ip.empty()) a.last_ip = u->last_ip;
      if (u->last_heartbeat_at) a.last_heartbeat_at = check::truncate(u->last_heartbeat_at);
    }
  }

  std::optional<Attendance> attendance(ExamId exam, StudentId student) override {
    std::lock_guard<std::mutex> l(db_->mu);
    const auto it = db_->attendance.find({exam, student});
    if (it == db_->attendance.end()) return std::nullopt;
    return it->second.data;
  }

  std::vector<Attendance> attendance_of_exam(ExamId exam, std::optional<Presence> status) override {
    if (status) check::presence("attendance of exam", *status);
    std::lock_guard<std::mutex> l(db_->mu);
    std::vector<Attendance> out;
    // keys are ordered by (exam, student): one exam's rows are contiguous, by student id
    for (auto it = db_->attendance.lower_bound({exam, 0});
         it != db_->attendance.end() && it->first.first == exam; ++it) {
      if (status && it->second.data.status != *status) continue;
      out.push_back(it->second.data);
    }
    return out;
  }

 private:
  // Callers hold db_->mu.
  std::string bidx_of(StudentId id) const {
    const auto it = db_->student_email_bidx.find(id);
    return it == db_->student_email_bidx.end() ? std::string() : it->second;
  }
  void set_bidx(StudentId id, const std::string& bidx) {
    if (bidx.empty()) {
      db_->student_email_bidx.erase(id);
    } else {
      db_->student_email_bidx[id] = bidx;
    }
  }

  std::shared_ptr<MemoryDb> db_;
};

// ---- violations and events ----

class MemoryViolationStore final : public ViolationStore {
 public:
  explicit MemoryViolationStore(std::shared_ptr<MemoryDb> db) : db_(std::move(db)) {}

  IdBlock reserve_ids(IdSequence which) override {
    std::lock_guard<std::mutex> l(db_->mu);
    std::int64_t& next =
        which == IdSequence::kViolation ? db_->next_violation_block : db_->next_event_block;
    const IdBlock block{next, kIdBlockSize};
    next += kIdBlockSize;
    return block;
  }

  void insert_violations(const std::vector<Violation>& rows) override {
    const std::string op = "violation insert";
    for (const auto& v : rows) check::violation(op, v);
    std::lock_guard<std::mutex> l(db_->mu);
    // As ON CONFLICT (id) DO NOTHING: a row whose id exists (already, or earlier in the batch)
    // is skipped before any foreign key is looked at.
    std::vector<const Violation*> fresh = new_rows(rows, db_->violations, op);
    for (const Violation* v : fresh) {
      Violation stored = *v;
      stored.occurred_at = check::truncate(stored.occurred_at);
      stored.reviewed_at = check::truncate(stored.reviewed_at);
      db_->violations.emplace(stored.id, std::move(stored));
    }
  }

  void insert_events(const std::vector<Event>& rows) override {
    const std::string op = "event insert";
    for (const auto& e : rows) check::event(op, e);
    std::lock_guard<std::mutex> l(db_->mu);
    std::vector<const Event*> fresh = new_rows(rows, db_->events, op);
    for (const Event* e : fresh) {
      Event stored = *e;
      stored.occurred_at = check::truncate(stored.occurred_at);
      db_->events.emplace(stored.id, std::move(stored));
    }
  }

  std::optional<Violation> get(ViolationId id) override {
    std::lock_guard<std::mutex> l(db_->mu);
    const auto it = db_->violations.find(id);
    if (it == db_->violations.end()) return std::nullopt;
    return it->second;
  }

  std::vector<Violation> query(const ViolationFilter& f) override {
    const std::string op = "violation query";
    check::limit(op, f.limit);
    if (f.kind) check::violation_kind(op, *f.kind);
    if (f.state) check::review_state(op, *f.state);
    const auto from = check::truncate(f.from);
    const auto to = check::truncate(f.to);
    std::lock_guard<std::mutex> l(db_->mu);
    std::vector<Violation> out;
    for (auto it = db_->violations.upper_bound(f.after_id);
         it != db_->violations.end() && out.size() < static_cast<std::size_t>(f.limit); ++it) {
      const Violation& v = it->second;
      if (f.exam_id && v.exam_id != *f.exam_id) continue;
      if (f.student_id && v.student_id != *f.student_id) continue;
      if (from && v.occurred_at < *from) continue;
      if (to && !(v.occurred_at < *to)) continue;
      if (f.kind && v.kind != *f.kind) continue;
      if (f.state && v.state != *f.state) continue;
      out.push_back(v);
    }
    return out;
  }

  ViolationStats stats(ExamId exam) override {
    std::lock_guard<std::mutex> l(db_->mu);
    ViolationStats s;
    for (const auto& [id, v] : db_->violations) {
      if (v.exam_id != exam) continue;
      ++s.total;
      ++s.by_kind[v.kind];
      ++s.by_severity[v.severity];
    }
    return s;
  }

  Violation review(ViolationId id, ReviewState state, const std::string& reviewer,
                   const std::string& note) override {
    const std::string op = "violation review";
    check::review(op, state, reviewer, note);
    std::lock_guard<std::mutex> l(db_->mu);
    const auto it = db_->violations.find(id);
    if (it == db_->violations.end()) not_found(op, "violation " + std::to_string(id));
    Violation& v = it->second;
    v.state = state;
    v.reviewed_by = reviewer;
    v.review_note = note;
    v.reviewed_at = now();
    return v;
  }

  std::vector<Event> events(ExamId exam, std::optional<StudentId> student, int limit) override {
    check::limit("event query", limit);
    std::vector<Event> out;
    {
      std::lock_guard<std::mutex> l(db_->mu);
      for (const auto& [id, e] : db_->events) {
        if (e.exam_id != exam) continue;
        if (student && e.student_id != *student) continue;
        out.push_back(e);
      }
    }
    std::sort(out.begin(), out.end(), [](const Event& a, const Event& b) {
      return a.occurred_at != b.occurred_at ? a.occurred_at < b.occurred_at : a.id < b.id;
    });
    if (out.size() > static_cast<std::size_t>(limit)) out.resize(static_cast<std::size_t>(limit));
    return out;
  }

 private:
  // The rows of `rows` to insert: not stored yet and not repeated earlier in the batch. Throws
  // kConflict (nothing inserted) when one of them names an unknown exam or student.
  template <typename Row>
  std::vector<const Row*> new_rows(const std::vector<Row>& rows,
                                   const std::map<std::int64_t, Row>& table,
                                   const std::string& op) {
    std::vector<const Row*> fresh;
    std::unordered_set<std::int64_t> seen;
    fresh.reserve(rows.size());
    for (const Row& r : rows) {
      if (table.count(r.id) != 0) continue;
      if (seen.count(r.id) != 0) continue;
      if (db_->exams.count(r.exam_id) == 0) {
        conflict(op, "row " + std::to_string(r.id) + " references " + exam_label(r.exam_id) +
                         ", which does not exist");
      }
      if (db_->students.count(r.student_id) == 0) {
        conflict(op, "row " + std::to_string(r.id) + " references " + student_label(r.student_id) +
                         ", which does not exist");
      }
      seen.insert(r.id);
      fresh.push_back(&r);
    }
    return fresh;
  }

  std::shared_ptr<MemoryDb> db_;
};

// ---- dead letters ----

class MemoryDeadLetterStore final : public DeadLetterStore {
 public:
  explicit MemoryDeadLetterStore(std::shared_ptr<MemoryDb> db) : db_(std::move(db)) {}

  void add(const std::string& queue, const std::string& payload, const std::string& error,
           const std::string& sqlstate) override {
    const std::string op = "dead letter add";
    check::text(op, "queue", queue);
    check::text(op, "payload", payload);
    check::text(op, "error", error);
    check::text(op, "sqlstate", sqlstate);
    std::lock_guard<std::mutex> l(db_->mu);
    DeadLetter d;
    d.id = db_->next_dead_letter_id++;
    d.queue = queue;
    d.payload = payload;
    d.error = error;
    d.sqlstate = sqlstate;
    d.attempts = 1;
    d.failed_at = now();
    db_->dead_letters.emplace(d.id, std::move(d));
  }

  std::vector<DeadLetter> list(std::optional<std::string> queue, int limit) override {
    const std::string op = "dead letter list";
    check::limit(op, limit);
    if (queue) check::text(op, "queue", *queue);
    std::lock_guard<std::mutex> l(db_->mu);
    std::vector<DeadLetter> out;
    for (const auto& [id, d] : db_->dead_letters) {
      if (out.size() >= static_cast<std::size_t>(limit)) break;
      if (queue && d.queue != *queue) continue;
      out.push_back(d);
    }
    return out;
  }

  std::optional<DeadLetter> take(std::int64_t id) override {
    std::lock_guard<std::mutex> l(db_->mu);
    const auto it = db_->dead_letters.find(id);
    if (it == db_->dead_letters.end()) return std::nullopt;
    DeadLetter d = std::move(it->second);
    db_->dead_letters.erase(it);
    return d;
  }

  bool drop(std::int64_t id) override {
    std::lock_guard<std::mutex> l(db_->mu);
    return db_->dead_letters.erase(id) != 0;
  }

 private:
  std::shared_ptr<MemoryDb> db_;
};

}  // namespace

Stores make_memory_stores() {
  auto db = std::make_shared<MemoryDb>();
  Stores s;
  s.exams = std::make_unique<MemoryExamStore>(db);
  s.students = std::make_unique<MemoryStudentStore>(db);
  s.violations = std::make_unique<MemoryViolationStore>(db);
  s.dead_letters = std::make_unique<MemoryDeadLetterStore>(db);
  s.attempts = make_memory_attempt_store(*s.exams, *s.students);
  s.grading = make_memory_grading_store(*s.students, *s.attempts, *s.exams);
  return s;
}

}  // namespace examstore::db
