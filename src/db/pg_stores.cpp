// The PostgreSQL durable tier: every store of db/stores.hpp over one PgPool.
//
// Rules this file keeps:
//   - SQL text is built only from constants; every value travels as a parameter. Batches travel
//     as one array parameter per column (array literals built by array_text(), which escapes
//     every element) and are written by a single INSERT/UPDATE over unnest(): one round trip
//     and one statement per batch, whatever its size.
//   - Inputs are checked by db/store_checks.hpp before any SQL runs, exactly as the in-memory
//     stores check them, so both reject the same input with the same error.
//   - Times travel as bigint microseconds since the epoch and are converted by SQL that is
//     exact at microsecond precision in both directions (see ts() and us()).
//   - Every call is one PgPool::transact (the retry rule), reads included: a read after a
//     server restart gets a fresh connection instead of failing on a stale one. Hot reads of
//     one statement (exam get: the cache-miss path) use PgPool::read instead, outside a
//     transaction block and prepared once per connection, under the same retry rule.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "db/pg_pool.hpp"
#include "db/pg_text.hpp"
#include "db/pg_violation_sql.hpp"
#include "db/sql_params.hpp"
#include "db/store_checks.hpp"
#include "db/stores.hpp"
#include "examstore/error.hpp"

namespace examstore::db {
namespace {

using check::from_micros;
using check::to_micros;

// ---- SQL fragments (constants only) ----

const std::string& exam_columns() {
  static const std::string s = "id, name, " + us("starts_at") + ", " + us("ends_at") +
                               ", status, config, config_version, version, " + us("created_at") +
                               ", " + us("updated_at");
  return s;
}
const std::string& attendance_columns() {
  static const std::string s = "exam_id, student_id, status, " + us("login_at") + ", " +
                               us("logout_at") + ", last_ip, " + us("last_heartbeat_at") +
                               ", version";
  return s;
}
const std::string& violation_columns() {
  static const std::string s =
      "id, exam_id, student_id, kind, severity, reason, screenshot_path, " + us("occurred_at") +
      ", state, reviewed_by, " + us("reviewed_at") + ", review_note";
  return s;
}
const std::string& event_columns() {
  static const std::string s = "id, exam_id, student_id, kind, payload, " + us("occurred_at");
  return s;
}
const std::string& dead_letter_columns() {
  static const std::string s = "id, queue, payload, error, sqlstate, attempts, " + us("failed_at");
  return s;
}

// ---- parameters ----

using Params = db::SqlParams;

// ---- reading rows ----

std::string text_or_empty(const pqxx::field& f) { return f.is_null() ? std::string() : f.c_str(); }
TimePoint time_of(const pqxx::field& f) { return from_micros(f.as<std::int64_t>()); }
std::optional<TimePoint> optional_time(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return from_micros(f.as<std::int64_t>());
}

template <typename T>
T parsed(std::optional<T> v, const pqxx::field& f, const char* what) {
  if (!v) {
    throw Error(ErrorCode::kDataIntegrity, "postgres read",
                std::string("unknown ") + what + " '" + f.c_str() + "' in the database");
  }
  return *v;
}

Exam read_exam(const pqxx::row& r) {
  Exam e;
  e.id = r[0].as<std::int64_t>();
  e.name = r[1].c_str();
  e.starts_at = time_of(r[2]);
  e.ends_at = time_of(r[3]);
  e.status = parsed(parse_exam_status(r[4].c_str()), r[4], "exam status");
  e.config = r[5].c_str();
  e.config_version = r[6].as<std::int64_t>();
  e.version = r[7].as<std::int64_t>();
  e.created_at = time_of(r[8]);
  e.updated_at = time_of(r[9]);
  return e;
}

constexpr const char* kStudentColumns = "id, external_no, name, class_name, email, phone";

Student read_student(const pqxx::row& r) {
  Student s;
  s.id = r[0].as<std::int64_t>();
  s.external_no = r[1].c_str();
  s.name = r[2].c_str();
  s.class_name = text_or_empty(r[3]);
  s.email = text_or_empty(r[4]);
  s.phone = text_or_empty(r[5]);
  return s;
}

Attendance read_attendance(const pqxx::row& r) {
  Attendance a;
  a.exam_id = r[0].as<std::int64_t>();
  a.student_id = r[1].as<std::int64_t>();
  a.status = parsed(parse_presence(r[2].c_str()), r[2], "presence");
  a.login_at = optional_time(r[3]);
  a.logout_at = optional_time(r[4]);
  a.last_ip = text_or_empty(r[5]);
  a.last_heartbeat_at = optional_time(r[6]);
  a.version = r[7].as<std::int64_t>();
  return a;
}

Violation read_violation(const pqxx::row& r) {
  Violation v;
  v.id = r[0].as<std::int64_t>();
  v.exam_id = r[1].as<std::int64_t>();
  v.student_id = r[2].as<std::int64_t>();
  v.kind = parsed(parse_violation_kind(r[3].c_str()), r[3], "violation kind");
  v.severity = r[4].as<int>();
  v.reason = r[5].c_str();
  v.screenshot_path = text_or_empty(r[6]);
  v.occurred_at = time_of(r[7]);
  v.state = parsed(parse_review_state(r[8].c_str()), r[8], "review state");
  v.reviewed_by = text_or_empty(r[9]);
  v.reviewed_at = optional_time(r[10]);
  v.review_note = text_or_empty(r[11]);
  return v;
}

Event read_event(const pqxx::row& r) {
  Event e;
  e.id = r[0].as<std::int64_t>();
  e.exam_id = r[1].as<std::int64_t>();
  e.student_id = r[2].as<std::int64_t>();
  e.kind = r[3].c_str();
  e.payload = r[4].c_str();
  e.occurred_at = time_of(r[5]);
  return e;
}

DeadLetter read_dead_letter(const pqxx::row& r) {
  DeadLetter d;
  d.id = r[0].as<std::int64_t>();
  d.queue = r[1].c_str();
  d.payload = r[2].c_str();
  d.error = r[3].c_str();
  d.sqlstate = text_or_empty(r[4]);
  d.attempts = r[5].as<int>();
  d.failed_at = time_of(r[6]);
  return d;
}

// ---- exams ----

class PgExamStore final : public ExamStore {
 public:
  explicit PgExamStore(PgPool& pool) : pool_(pool) {}

  Exam create(const NewExam& in) override {
    const std::string op = "exam create";
    check::new_exam(op, in);
    Exam out;
    pool_.transact(op, [&](pqxx::work& tx) {
      out = read_exam(
          db::exec1(tx,
                    "INSERT INTO exams (name, starts_at, ends_at, config) VALUES ($1, " + ts("$2") +
                        ", " + ts("$3") + ", $4::json) RETURNING " + exam_columns(),
                    in.name, to_micros(in.starts_at), to_micros(in.ends_at), in.config));
    });
    return out;
  }

  std::optional<Exam> get(ExamId id) override {
    std::optional<Exam> out;
    static const std::string sql = "SELECT " + exam_columns() + " FROM exams WHERE id = $1";
    pool_.read("exam get", [&](pqxx::nontransaction& tx) {
      out.reset();
      const auto r = exec_prepared(tx, "examstore_exam_get", sql, id);
      if (!r.empty()) out = read_exam(r[0]);
    });
    return out;
  }

  std::vector<Exam> list(std::optional<ExamStatus> status, std::optional<TimePoint> from,
                         std::optional<TimePoint> to, int limit) override {
    const std::string op = "exam list";
    check::limit(op, limit);
    if (status) check::status(op, *status);
    Params p;
    std::string sql = "SELECT " + exam_columns() + " FROM exams WHERE true";
    if (status) sql += " AND status = " + p.add(to_string(*status));
    if (from) sql += " AND starts_at >= " + ts(p.add(to_micros(*from)));
    if (to) sql += " AND starts_at < " + ts(p.add(to_micros(*to)));
    sql += " ORDER BY starts_at, id LIMIT " + p.add(std::int64_t{limit});
    std::vector<Exam> out;
    pool_.transact(op, [&](pqxx::work& tx) {
      out.clear();
      for (const auto& row : p.exec(tx, sql)) out.push_back(read_exam(row));
    });
    return out;
  }

  Exam update_config(ExamId id, const std::string& config, const std::string& changed_by,
                     std::optional<std::int64_t> expected_config_version) override {
    const std::string op = "exam update_config";
    check::json_document(op, "config", config);
    check::text(op, "changed_by", changed_by);
    Exam out;
    pool_.transact(op, [&](pqxx::work& tx) {
      // The row lock orders concurrent updates, so the expected-version check cannot race.
      const auto cur = db::exec(
          tx, "SELECT config_version, config FROM exams WHERE id = $1 FOR NO KEY UPDATE", id);
      if (cur.empty()) check::not_found(op, check::exam_label(id));
      const auto stored = cur[0][0].as<std::int64_t>();
      if (expected_config_version && *expected_config_version != stored) {
        check::config_version_moved(op, id, stored, *expected_config_version);
      }
      out = read_exam(
          db::exec1(tx,
                    "WITH upd AS ("
                    "  UPDATE exams SET config = $2::json, config_version = config_version + 1,"
                    "                   version = version + 1, updated_at = now()"
                    "  WHERE id = $1 RETURNING *),"
                    " log AS ("
                    "  INSERT INTO exam_config_changes"
                    "    (exam_id, version, changed_by, changed_at, old_config, new_config)"
                    "  SELECT id, config_version, $3, updated_at, $4::json, config FROM upd)"
                    " SELECT " +
                        exam_columns() + " FROM upd",
                    id, config, changed_by, std::string(cur[0][1].c_str())));
    });
    return out;
  }

  std::vector<ConfigChange> config_history(ExamId id) override {
    std::vector<ConfigChange> out;
    pool_.transact("exam config_history", [&](pqxx::work& tx) {
      out.clear();
      const auto r = db::exec(tx,
                              "SELECT version, changed_by, " + us("changed_at") +
                                  ", old_config, new_config FROM exam_config_changes"
                                  " WHERE exam_id = $1 ORDER BY version",
                              id);
      for (const auto& row : r) {
        ConfigChange c;
        c.version = row[0].as<std::int64_t>();
        c.changed_by = row[1].c_str();
        c.changed_at = time_of(row[2]);
        c.old_config = row[3].c_str();
        c.new_config = row[4].c_str();
        out.push_back(std::move(c));
      }
    });
    return out;
  }

  Exam transition(ExamId id, ExamStatus to) override {
    const std::string op = "exam transition";
    check::status(op, to);
    Exam out;
    pool_.transact(op, [&](pqxx::work& tx) {
      const auto cur = db::exec(tx, "SELECT status FROM exams WHERE id = $1 FOR NO KEY UPDATE", id);
      if (cur.empty()) check::not_found(op, check::exam_label(id));
      const ExamStatus from =
          parsed(parse_exam_status(cur[0][0].c_str()), cur[0][0], "exam status");
      if (!is_legal_transition(from, to)) check::illegal_transition(op, id, from, to);
      out = read_exam(
          db::exec1(tx,
                    "UPDATE exams SET status = $2, version = version + 1, updated_at = now()"
                    " WHERE id = $1 RETURNING " +
                        exam_columns(),
                    id, std::string(to_string(to))));
    });
    return out;
  }

 private:
  PgPool& pool_;
};

// ---- students and attendance ----

class PgStudentStore final : public StudentStore {
 public:
  explicit PgStudentStore(PgPool& pool) : pool_(pool) {}

  Student create(const NewStudent& in) override {
    check::new_student("student create", in);
    return insert(reserve_id(), in, "");
  }

  StudentId reserve_id() override {
    StudentId id = 0;
    pool_.transact("student reserve_id", [&](pqxx::work& tx) {
      id = tx.exec("SELECT nextval('student_id_seq')")[0][0].as<std::int64_t>();
    });
    return id;
  }

  Student insert(StudentId id, const NewStudent& in, const std::string& email_bidx) override {
    const std::string op = "student create";
    check::new_student(op, in);
    check::positive_id(op, "id", id);
    Student out;
    pool_.transact(op, [&](pqxx::work& tx) {
      if (!db::exec(tx, "SELECT 1 FROM students WHERE id = $1", id).empty()) {
        check::conflict(op, check::student_label(id) + " exists already");
      }
      const auto r = db::exec(
          tx,
          "INSERT INTO students (id, external_no, name, class_name, email, phone, email_bidx)"
          " VALUES ($1, $2, $3, NULLIF($4, ''), NULLIF($5, ''), NULLIF($6, ''), NULLIF($7, ''))"
          " ON CONFLICT (external_no) DO NOTHING"
          " RETURNING " +
              std::string(kStudentColumns),
          id, in.external_no, in.name, in.class_name, in.email, in.phone, email_bidx);
      if (r.empty()) check::duplicate_external_no(op, in.external_no);
      out = read_student(r[0]);
    });
    return out;
  }

  std::optional<Student> get(StudentId id) override {
    return find("student get", "id = $1::bigint", std::to_string(id));
  }

  std::vector<Student> find_by_email_index(const std::string& email_bidx, int limit) override {
    const std::string op = "student find_by_email";
    check::text(op, "email_bidx", email_bidx, 1, 128);
    std::vector<Student> out;
    pool_.transact(op, [&](pqxx::work& tx) {
      out.clear();
      const auto rows = db::exec(tx,
                                 std::string("SELECT ") + kStudentColumns +
                                     " FROM students WHERE email_bidx = $1"
                                     " ORDER BY id LIMIT $2",
                                 email_bidx, limit);
      for (const auto& r : rows) out.push_back(read_student(r));
    });
    return out;
  }

  Student update_personal(StudentId id, const PersonalUpdate& u) override {
    const std::string op = "student correct";
    check::personal_update(op, u);
    Student out;
    pool_.transact(op, [&](pqxx::work& tx) {
      const auto cur = db::exec(tx,
                                "SELECT erased_at IS NOT NULL FROM students WHERE id = $1"
                                " FOR UPDATE",
                                id);
      if (cur.empty()) check::not_found(op, check::student_label(id));
      if (cur[0][0].as<bool>()) check::conflict(op, check::student_label(id) + " is erased");
      Params p;
      const std::string id_param = p.add(std::int64_t{id});
      std::string set = "updated_at = now()";
      auto put = [&](const char* column, const std::optional<std::string>& v, bool nullable) {
        if (!v) return;  // absent: stays as it is
        const std::string param = p.add(*v);
        set +=
            std::string(", ") + column + " = " + (nullable ? "NULLIF(" + param + ", '')" : param);
      };
      put("name", u.name, false);
      put("class_name", u.class_name, true);
      put("email", u.email, true);
      put("phone", u.phone, true);
      put("email_bidx", u.email_bidx, true);
      const auto r = p.exec(tx, "UPDATE students SET " + set + " WHERE id = " + id_param +
                                    " RETURNING " + kStudentColumns);
      out = read_student(r[0]);
    });
    return out;
  }

  ErasureOutcome erase(StudentId id) override {
    const std::string op = "student erase";
    ErasureOutcome out = ErasureOutcome::kAbsent;
    pool_.transact(op, [&](pqxx::work& tx) {
      const auto cur =
          db::exec(tx, "SELECT erased_at IS NOT NULL FROM students WHERE id = $1 FOR UPDATE", id);
      if (cur.empty()) {
        out = ErasureOutcome::kAbsent;
        return;
      }
      if (cur[0][0].as<bool>()) {
        out = ErasureOutcome::kAlreadyErased;
        return;
      }
      const std::string anonymous = "erased-" + std::to_string(id);
      db::exec0(tx,
                "UPDATE students SET name = $2, external_no = $2, email = NULL, phone = NULL,"
                " email_bidx = NULL, erased_at = now(), updated_at = now() WHERE id = $1",
                id, anonymous);
      out = ErasureOutcome::kErased;
    });
    return out;
  }

  std::optional<bool> erased(StudentId id) override {
    std::optional<bool> out;
    pool_.transact("student erased", [&](pqxx::work& tx) {
      const auto r = db::exec(tx, "SELECT erased_at IS NOT NULL FROM students WHERE id = $1", id);
      out = r.empty() ? std::nullopt : std::optional<bool>(r[0][0].as<bool>());
    });
    return out;
  }

  std::vector<SealedFields> sealed_after(StudentId after_id, int limit) override {
    std::vector<SealedFields> out;
    pool_.transact("student sealed_after", [&](pqxx::work& tx) {
      out.clear();
      const auto rows = db::exec(
          tx,
          "SELECT id, email, phone, email_bidx FROM students"
          " WHERE id > $1 AND (email IS NOT NULL OR phone IS NOT NULL) ORDER BY id LIMIT $2",
          after_id, limit);
      for (const auto& r : rows) {
        out.push_back(SealedFields{r[0].as<std::int64_t>(), text_or_empty(r[1]),
                                   text_or_empty(r[2]), text_or_empty(r[3])});
      }
    });
    return out;
  }

  std::vector<StudentId> reseal(const std::vector<Reseal>& batch) override {
    std::vector<StudentId> changed;
    pool_.transact("student reseal", [&](pqxx::work& tx) {
      changed.clear();
      for (const Reseal& r : batch) {
        const auto done =
            db::exec(tx,
                     "UPDATE students SET email = NULLIF($2, ''), phone = NULLIF($3, ''),"
                     " email_bidx = NULLIF($4, ''), updated_at = now()"
                     " WHERE id = $1 AND coalesce(email, '') = $5 AND coalesce(phone, '') = $6"
                     " AND coalesce(email_bidx, '') = $7 RETURNING id",
                     r.old.id, r.now.email, r.now.phone, r.now.email_bidx, r.old.email, r.old.phone,
                     r.old.email_bidx);
        if (!done.empty()) changed.push_back(r.old.id);
      }
    });
    return changed;
  }

  std::vector<Attendance> attendance_of_student(StudentId student) override {
    std::vector<Attendance> out;
    pool_.transact("attendance of student", [&](pqxx::work& tx) {
      out.clear();
      const auto rows = db::exec(tx,
                                 "SELECT " + attendance_columns() +
                                     " FROM exam_attendance WHERE student_id = $1"
                                     " ORDER BY exam_id",
                                 student);
      for (const auto& r : rows) out.push_back(read_attendance(r));
    });
    return out;
  }

  std::optional<Student> find_by_external_no(const std::string& external_no) override {
    const std::string op = "student find_by_external_no";
    check::text(op, "external_no", external_no);
    return find(op, "external_no = $1", external_no);
  }

  int enroll(ExamId exam, StudentId student) override {
    const std::string op = "student enroll";
    int seat = -1;
    pool_.transact(op, [&](pqxx::work& tx) {
      // Locking the exam row serialises enrollments of one exam, so max(seat) + 1 is dense and
      // race-free (NO KEY UPDATE: it does not block the foreign-key checks of other writers).
      if (db::exec(tx, "SELECT 1 FROM exams WHERE id = $1 FOR NO KEY UPDATE", exam).empty()) {
        check::not_found(op, check::exam_label(exam));
      }
      if (db::exec(tx, "SELECT 1 FROM students WHERE id = $1", student).empty()) {
        check::not_found(op, check::student_label(student));
      }
      auto r = db::exec(tx,
                        "INSERT INTO exam_attendance (exam_id, student_id, seat)"
                        " SELECT $1::bigint, $2::bigint, COALESCE(max(seat) + 1, 0)"
                        " FROM exam_attendance WHERE exam_id = $1::bigint"
                        " ON CONFLICT (exam_id, student_id) DO NOTHING RETURNING seat",
                        exam, student);
      if (r.empty()) {
        r = db::exec(tx, "SELECT seat FROM exam_attendance WHERE exam_id = $1 AND student_id = $2",
                     exam, student);
      }
      seat = r.at(0)[0].as<int>();
    });
    return seat;
  }

  std::vector<std::pair<int, StudentId>> seats(ExamId exam) override {
    std::vector<std::pair<int, StudentId>> out;
    pool_.transact("student seats", [&](pqxx::work& tx) {
      out.clear();
      const auto r = db::exec(
          tx, "SELECT seat, student_id FROM exam_attendance WHERE exam_id = $1 ORDER BY seat",
          exam);
      out.reserve(r.size());
      for (const auto& row : r) out.emplace_back(row[0].as<int>(), row[1].as<std::int64_t>());
    });
    return out;
  }

  void apply_attendance(const std::vector<AttendanceUpdate>& updates) override {
    const std::string op = "attendance apply";
    for (const auto& u : updates) check::attendance_update(op, u);
    if (updates.empty()) return;
    ArrayText exam(updates.size()), student(updates.size()), version(updates.size()),
        status(updates.size()), login(updates.size()), logout(updates.size()), ip(updates.size()),
        heartbeat(updates.size());
    for (const auto& u : updates) {
      exam.add(u.exam_id);
      student.add(u.student_id);
      version.add(u.version);
      status.add(to_string(u.status));
      login.add(u.login_at);
      logout.add(u.logout_at);
      ip.add(u.last_ip);
      heartbeat.add(u.last_heartbeat_at);
    }
    // One statement: find the first update whose student is not enrolled (the caller throws,
    // rolling back), and fold the rest into their rows. The fold is the in-memory store's:
    // updates newer than the stored row, in ascending version order (the first of equal
    // versions wins), each overwriting status/version and, when given, logout_at, last_ip and
    // last_heartbeat_at, while login_at keeps the first one ever set.
    static const std::string sql =
        "WITH u AS ("
        "  SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[],"
        "                       $5::bigint[], $6::bigint[], $7::text[], $8::bigint[])"
        "    WITH ORDINALITY AS u(exam_id, student_id, version, status, login_us, logout_us,"
        "                         last_ip, heartbeat_us, ord)),"
        " missing AS ("
        "  SELECT u.exam_id, u.student_id FROM u WHERE NOT EXISTS ("
        "    SELECT 1 FROM exam_attendance a"
        "    WHERE a.exam_id = u.exam_id AND a.student_id = u.student_id)"
        "  ORDER BY u.ord LIMIT 1),"
        " newer AS ("
        "  SELECT DISTINCT ON (u.exam_id, u.student_id, u.version) u.* FROM u"
        "  JOIN exam_attendance a ON a.exam_id = u.exam_id AND a.student_id = u.student_id"
        "  WHERE u.version > a.version"
        "  ORDER BY u.exam_id, u.student_id, u.version, u.ord),"
        " folded AS ("
        "  SELECT exam_id, student_id, max(version) AS version,"
        "    (array_agg(status ORDER BY version DESC))[1] AS status,"
        "    (array_agg(login_us ORDER BY version) FILTER (WHERE login_us IS NOT NULL))[1]"
        "      AS login_us,"
        "    (array_agg(logout_us ORDER BY version DESC)"
        "       FILTER (WHERE logout_us IS NOT NULL))[1] AS logout_us,"
        "    (array_agg(last_ip ORDER BY version DESC) FILTER (WHERE last_ip <> ''))[1]"
        "      AS last_ip,"
        "    (array_agg(heartbeat_us ORDER BY version DESC)"
        "       FILTER (WHERE heartbeat_us IS NOT NULL))[1] AS heartbeat_us"
        "  FROM newer GROUP BY exam_id, student_id),"
        " applied AS ("
        "  UPDATE exam_attendance a SET version = f.version, status = f.status,"
        "    login_at = COALESCE(a.login_at, " +
        ts("f.login_us") +
        "),"
        "    logout_at = COALESCE(" +
        ts("f.logout_us") +
        ", a.logout_at),"
        "    last_ip = COALESCE(f.last_ip, a.last_ip),"
        "    last_heartbeat_at = COALESCE(" +
        ts("f.heartbeat_us") +
        ", a.last_heartbeat_at),"
        "    updated_at = now()"
        "  FROM folded f"
        "  WHERE a.exam_id = f.exam_id AND a.student_id = f.student_id"
        "    AND a.version < f.version AND NOT EXISTS (SELECT 1 FROM missing)"
        "  RETURNING 1)"
        " SELECT m.exam_id, m.student_id, (SELECT count(*) FROM applied)"
        " FROM (VALUES (1)) AS one LEFT JOIN missing m ON true";
    pool_.transact(op, [&](pqxx::work& tx) {
      const auto r = db::exec1(tx, sql, exam.str(), student.str(), version.str(), status.str(),
                               login.str(), logout.str(), ip.str(), heartbeat.str());
      if (!r[0].is_null()) {
        check::not_enrolled(op, r[0].as<std::int64_t>(), r[1].as<std::int64_t>());
      }
    });
  }

  std::optional<Attendance> attendance(ExamId exam, StudentId student) override {
    std::optional<Attendance> out;
    pool_.transact("student attendance", [&](pqxx::work& tx) {
      out.reset();
      const auto r = db::exec(tx,
                              "SELECT " + attendance_columns() +
                                  " FROM exam_attendance"
                                  " WHERE exam_id = $1 AND student_id = $2",
                              exam, student);
      if (!r.empty()) out = read_attendance(r[0]);
    });
    return out;
  }

  std::vector<Attendance> attendance_of_exam(ExamId exam, std::optional<Presence> status) override {
    const std::string op = "attendance of exam";
    if (status) check::presence(op, *status);
    Params p;
    std::string sql = "SELECT " + attendance_columns() +
                      " FROM exam_attendance WHERE exam_id = " + p.add(std::int64_t{exam});
    if (status) sql += " AND status = " + p.add(to_string(*status));
    sql += " ORDER BY student_id";
    std::vector<Attendance> out;
    pool_.transact(op, [&](pqxx::work& tx) {
      out.clear();
      for (const auto& row : p.exec(tx, sql)) out.push_back(read_attendance(row));
    });
    return out;
  }

 private:
  std::optional<Student> find(const std::string& op, const std::string& where,
                              const std::string& key) {
    std::optional<Student> out;
    pool_.transact(op, [&](pqxx::work& tx) {
      out.reset();
      const auto r = db::exec(
          tx, std::string("SELECT ") + kStudentColumns + " FROM students WHERE " + where, key);
      if (!r.empty()) out = read_student(r[0]);
    });
    return out;
  }

  PgPool& pool_;
};

// ---- violations and events ----

class PgViolationStore final : public ViolationStore {
 public:
  explicit PgViolationStore(PgPool& pool) : pool_(pool) {}

  IdBlock reserve_ids(IdSequence which) override {
    const char* sequence = which == IdSequence::kViolation ? "violation_id_seq" : "event_id_seq";
    IdBlock block{0, kIdBlockSize};
    pool_.transact("reserve ids", [&](pqxx::work& tx) {
      block.first = db::exec1(tx, "SELECT nextval($1::regclass)", sequence)[0].as<std::int64_t>();
    });
    return block;
  }

  void insert_violations(const std::vector<Violation>& rows) override {
    const std::string op = "violation insert";
    for (const auto& v : rows) check::violation(op, v);
    if (rows.empty()) return;
    const std::size_t n = rows.size();
    ArrayText id(n), exam(n), student(n), kind(n), severity(n), reason(n), shot(n), occurred(n),
        state(n), reviewed_by(n), reviewed_at(n), note(n);
    for (const auto& v : rows) {
      id.add(v.id);
      exam.add(v.exam_id);
      student.add(v.student_id);
      kind.add(to_string(v.kind));
      severity.add(std::int64_t{v.severity});
      reason.add(v.reason);
      shot.add(v.screenshot_path);
      occurred.add(std::optional<TimePoint>(v.occurred_at));
      state.add(to_string(v.state));
      reviewed_by.add(v.reviewed_by);
      reviewed_at.add(v.reviewed_at);
      note.add(v.review_note);
    }
    static const std::string sql =
        "INSERT INTO violations (id, exam_id, student_id, kind, severity, reason,"
        "                        screenshot_path, occurred_at, state, reviewed_by, reviewed_at,"
        "                        review_note)"
        " SELECT DISTINCT ON (u.id) u.id, u.exam_id, u.student_id, u.kind, u.severity, u.reason,"
        "        NULLIF(u.screenshot_path, ''), " +
        ts("u.occurred_us") +
        ", u.state,"
        "        NULLIF(u.reviewed_by, ''), " +
        ts("u.reviewed_us") +
        ", NULLIF(u.review_note, '')"
        " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::smallint[],"
        "             $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[],"
        "             $11::bigint[], $12::text[])"
        "   WITH ORDINALITY"
        "   AS u(id, exam_id, student_id, kind, severity, reason, screenshot_path, occurred_us,"
        "        state, reviewed_by, reviewed_us, review_note, ord)"
        " WHERE NOT EXISTS (SELECT 1 FROM violations x WHERE x.id = u.id)"
        " ORDER BY u.id, u.ord"
        " ON CONFLICT (id, occurred_at) DO NOTHING";
    pool_.transact(op, [&](pqxx::work& tx) {
      db::exec0(tx, sql, id.str(), exam.str(), student.str(), kind.str(), severity.str(),
                reason.str(), shot.str(), occurred.str(), state.str(), reviewed_by.str(),
                reviewed_at.str(), note.str());
    });
  }

  void insert_events(const std::vector<Event>& rows) override {
    const std::string op = "event insert";
    for (const auto& e : rows) check::event(op, e);
    if (rows.empty()) return;
    const std::size_t n = rows.size();
    ArrayText id(n), exam(n), student(n), kind(n), payload(n), occurred(n);
    for (const auto& e : rows) {
      id.add(e.id);
      exam.add(e.exam_id);
      student.add(e.student_id);
      kind.add(e.kind);
      payload.add(e.payload);
      occurred.add(std::optional<TimePoint>(e.occurred_at));
    }
    static const std::string sql =
        "INSERT INTO events (id, exam_id, student_id, kind, payload, occurred_at)"
        " SELECT DISTINCT ON (u.id) u.id, u.exam_id, u.student_id, u.kind, u.payload::json, " +
        ts("u.occurred_us") +
        " FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[],"
        "             $6::bigint[]) WITH ORDINALITY"
        "   AS u(id, exam_id, student_id, kind, payload, occurred_us, ord)"
        " WHERE NOT EXISTS (SELECT 1 FROM events x WHERE x.id = u.id)"
        " ORDER BY u.id, u.ord"
        " ON CONFLICT (id, occurred_at) DO NOTHING";
    pool_.transact(op, [&](pqxx::work& tx) {
      db::exec0(tx, sql, id.str(), exam.str(), student.str(), kind.str(), payload.str(),
                occurred.str());
    });
  }

  std::optional<Violation> get(ViolationId id) override {
    std::optional<Violation> out;
    pool_.transact("violation get", [&](pqxx::work& tx) {
      out.reset();
      const auto r =
          db::exec(tx, "SELECT " + violation_columns() + " FROM violations WHERE id = $1", id);
      if (!r.empty()) out = read_violation(r[0]);
    });
    return out;
  }

  std::vector<Violation> query(const ViolationFilter& f) override {
    const std::string op = "violation query";
    check::limit(op, f.limit);
    if (f.kind) check::violation_kind(op, *f.kind);
    if (f.state) check::review_state(op, *f.state);
    Params p;
    const std::string sql = violation_query_sql(f, p);
    std::vector<Violation> out;
    pool_.read_lag_tolerant(op, [&](pqxx::work& tx) {
      out.clear();
      for (const auto& row : p.exec(tx, sql)) out.push_back(read_violation(row));
    });
    return out;
  }

  ViolationStats stats(ExamId exam) override {
    ViolationStats s;
    pool_.read_lag_tolerant("violation stats", [&](pqxx::work& tx) {
      s = ViolationStats{};
      const auto r = db::exec(tx,
                              "SELECT kind, severity, count(*) FROM violations WHERE exam_id = $1"
                              " GROUP BY kind, severity",
                              exam);
      for (const auto& row : r) {
        const auto kind = parsed(parse_violation_kind(row[0].c_str()), row[0], "violation kind");
        const auto count = row[2].as<std::int64_t>();
        s.total += count;
        s.by_kind[kind] += count;
        s.by_severity[row[1].as<int>()] += count;
      }
    });
    return s;
  }

  Violation review(ViolationId id, ReviewState state, const std::string& reviewer,
                   const std::string& note) override {
    const std::string op = "violation review";
    check::review(op, state, reviewer, note);
    Violation out;
    pool_.transact(op, [&](pqxx::work& tx) {
      const auto r = db::exec(
          tx,
          "UPDATE violations SET state = $2, reviewed_by = $3, review_note = NULLIF($4, ''),"
          " reviewed_at = now() WHERE id = $1 RETURNING " +
              violation_columns(),
          id, std::string(to_string(state)), reviewer, note);
      if (r.empty()) check::not_found(op, "violation " + std::to_string(id));
      out = read_violation(r[0]);
    });
    return out;
  }

  std::vector<Event> events(ExamId exam, std::optional<StudentId> student, int limit) override {
    const std::string op = "event query";
    check::limit(op, limit);
    Params p;
    std::string sql =
        "SELECT " + event_columns() + " FROM events WHERE exam_id = " + p.add(std::int64_t{exam});
    if (student) sql += " AND student_id = " + p.add(std::int64_t{*student});
    sql += " ORDER BY occurred_at, id LIMIT " + p.add(std::int64_t{limit});
    std::vector<Event> out;
    pool_.read_lag_tolerant(op, [&](pqxx::work& tx) {
      out.clear();
      for (const auto& row : p.exec(tx, sql)) out.push_back(read_event(row));
    });
    return out;
  }

 private:
  PgPool& pool_;
};

// ---- dead letters ----

class PgDeadLetterStore final : public DeadLetterStore {
 public:
  explicit PgDeadLetterStore(PgPool& pool) : pool_(pool) {}

  void add(const std::string& queue, const std::string& payload, const std::string& error,
           const std::string& sqlstate) override {
    const std::string op = "dead letter add";
    check::text(op, "queue", queue);
    check::text(op, "payload", payload);
    check::text(op, "error", error);
    check::text(op, "sqlstate", sqlstate);
    pool_.transact(op, [&](pqxx::work& tx) {
      db::exec0(tx,
                "INSERT INTO dead_letters (queue, payload, error, sqlstate)"
                " VALUES ($1, $2, $3, NULLIF($4, ''))",
                queue, payload, error, sqlstate);
    });
  }

  std::vector<DeadLetter> list(std::optional<std::string> queue, int limit) override {
    const std::string op = "dead letter list";
    check::limit(op, limit);
    if (queue) check::text(op, "queue", *queue);
    Params p;
    std::string sql = "SELECT " + dead_letter_columns() + " FROM dead_letters";
    if (queue) sql += " WHERE queue = " + p.add(*queue);
    sql += " ORDER BY id LIMIT " + p.add(std::int64_t{limit});
    std::vector<DeadLetter> out;
    pool_.transact(op, [&](pqxx::work& tx) {
      out.clear();
      for (const auto& row : p.exec(tx, sql)) out.push_back(read_dead_letter(row));
    });
    return out;
  }

  std::optional<DeadLetter> take(std::int64_t id) override {
    std::optional<DeadLetter> out;
    pool_.transact("dead letter take", [&](pqxx::work& tx) {
      out.reset();
      const auto r = db::exec(
          tx, "DELETE FROM dead_letters WHERE id = $1 RETURNING " + dead_letter_columns(), id);
      if (!r.empty()) out = read_dead_letter(r[0]);
    });
    return out;
  }

  bool drop(std::int64_t id) override {
    bool dropped = false;
    pool_.transact("dead letter drop", [&](pqxx::work& tx) {
      dropped = db::exec(tx, "DELETE FROM dead_letters WHERE id = $1", id).affected_rows() > 0;
    });
    return dropped;
  }

 private:
  PgPool& pool_;
};

}  // namespace

std::string violation_query_sql(const ViolationFilter& f, SqlParams& p) {
  std::string sql = "SELECT " + violation_columns() + " FROM violations WHERE id > " +
                    p.add(std::int64_t{f.after_id});
  if (f.exam_id) sql += " AND exam_id = " + p.add(std::int64_t{*f.exam_id});
  if (f.student_id) sql += " AND student_id = " + p.add(std::int64_t{*f.student_id});
  // A time range prunes the partitions of other months (docs/partitioning.md).
  if (f.from) sql += " AND occurred_at >= " + ts(p.add(to_micros(*f.from)));
  if (f.to) sql += " AND occurred_at < " + ts(p.add(to_micros(*f.to)));
  if (f.kind) sql += " AND kind = " + p.add(to_string(*f.kind));
  if (f.state) sql += " AND state = " + p.add(to_string(*f.state));
  sql += " ORDER BY id LIMIT " + p.add(std::int64_t{f.limit});
  return sql;
}

Stores make_postgres_stores(PgPool& pool) {
  Stores s;
  s.exams = std::make_unique<PgExamStore>(pool);
  s.students = std::make_unique<PgStudentStore>(pool);
  s.violations = std::make_unique<PgViolationStore>(pool);
  s.dead_letters = std::make_unique<PgDeadLetterStore>(pool);
  s.attempts = make_pg_attempt_store(pool);
  s.grading = make_pg_grading_store(pool);
  return s;
}

}  // namespace examstore::db
