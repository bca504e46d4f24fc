// db/stores.hpp: the durable tier as the repositories need it, one interface per entity.
//
// Each interface has two implementations: PostgreSQL (db/pg_stores.cpp, over PgPool) and
// in-memory (db/memory_stores.cpp). One contract suite (tests/contract/store_contract_test.cpp)
// runs against both, so the in-memory database enforces what PostgreSQL enforces: the same
// validation, uniqueness, foreign keys, legal transitions, idempotency, ordering.
//
// Errors (examstore::Error): kInvalidArgument for bad input (named field), kNotFound for a
// missing entity the operation needs, kConflict for uniqueness/foreign-key/transition/version
// conflicts, kUnavailable/kTimeout when PostgreSQL cannot be reached.
//
// Thread-safety: every method is thread-safe.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "attempts/attempt_db.hpp"
#include "examstore/model.hpp"
#include "grading/grading_db.hpp"

namespace examstore::db {

class PgPool;

// ---- exams ----

class ExamStore {
 public:
  virtual ~ExamStore() = default;
  /// Validates (name 1..200 chars, ends_at > starts_at, config valid JSON) and inserts with an id
  /// from the exam sequence; status pending, versions 1.
  virtual Exam create(const NewExam& exam) = 0;
  virtual std::optional<Exam> get(ExamId id) = 0;
  /// Exams with starts_at in [from, to) (either bound optional) and the given status (optional),
  /// ordered by starts_at then id, at most `limit` (1..10000).
  virtual std::vector<Exam> list(std::optional<ExamStatus> status, std::optional<TimePoint> from,
                                 std::optional<TimePoint> to, int limit) = 0;
  /// Replaces the config (valid JSON) and logs the change in the same transaction;
  /// config_version and version +1. When `expected_config_version` is given and differs from
  /// the stored one: kConflict, nothing changes. kNotFound when the exam does not exist.
  virtual Exam update_config(ExamId id, const std::string& config, const std::string& changed_by,
                             std::optional<std::int64_t> expected_config_version) = 0;
  /// The config history, oldest first.
  virtual std::vector<ConfigChange> config_history(ExamId id) = 0;
  /// Moves the status; version +1. Illegal transitions (see is_legal_transition) throw kConflict
  /// naming both statuses and change nothing. kNotFound when the exam does not exist.
  virtual Exam transition(ExamId id, ExamStatus to) = 0;
};

// ---- students and attendance ----

/// One persisted presence transition (written by the write-behind queue). Versioned: applied
/// only when `version` is higher than the stored one, so replays and reordering are harmless.
struct AttendanceUpdate {
  ExamId exam_id = 0;
  StudentId student_id = 0;
  std::int64_t version = 0;
  Presence status = Presence::kOnline;
  std::optional<TimePoint> login_at;           ///< kept only if the row has none yet (first login)
  std::optional<TimePoint> logout_at;          ///< overwrites when given
  std::string last_ip;                         ///< overwrites when non-empty
  std::optional<TimePoint> last_heartbeat_at;  ///< overwrites when given
};

/// Changes of a student's personal fields; absent fields stay. email and phone are stored as
/// given (sealed by the caller, "" stores none), email_bidx is the email's blind index.
struct PersonalUpdate {
  std::optional<std::string> name;
  std::optional<std::string> class_name;
  std::optional<std::string> email;
  std::optional<std::string> phone;
  std::optional<std::string> email_bidx;
};

/// The sealed fields of one student, for key rotation.
struct SealedFields {
  StudentId id = 0;
  std::string email;  ///< as stored ("" when none)
  std::string phone;
  std::string email_bidx;
};

/// Replaces the sealed fields of one student when they are still `old` (compare-and-set).
struct Reseal {
  SealedFields old;
  SealedFields now;
};

/// What erase() found.
enum class ErasureOutcome { kAbsent, kErased, kAlreadyErased };

// Email and phone are stored exactly as given: the repositories seal them before they reach the
// store (security/crypto.hpp), so the store never sees plaintext and both implementations hold
// the same sealed form. The id a value is bound to is reserved first (reserve_id), then used by
// insert(): the sealed value can name its row before the row exists.
class StudentStore {
 public:
  virtual ~StudentStore() = default;
  /// Validates (external_no 1..64 chars, name non-empty) and inserts with a reserved id and no
  /// blind index. A duplicate external_no throws kConflict naming it.
  virtual Student create(const NewStudent& student) = 0;
  /// A fresh id from the student sequence, never handed out again.
  virtual StudentId reserve_id() = 0;
  /// As create(), with the id from reserve_id() and the email's blind index ("" for none).
  /// kConflict when the id is taken.
  virtual Student insert(StudentId id, const NewStudent& student,
                         const std::string& email_bidx) = 0;
  virtual std::optional<Student> get(StudentId id) = 0;
  /// Students whose email blind index is `email_bidx`, by id, at most `limit`.
  virtual std::vector<Student> find_by_email_index(const std::string& email_bidx, int limit) = 0;
  /// Applies `u` (validated like create) to a student that is not erased; returns the row.
  /// kNotFound when absent, kConflict when erased.
  virtual Student update_personal(StudentId id, const PersonalUpdate& u) = 0;
  /// Anonymises: name and external_no "erased-<id>", email, phone and blind index removed,
  /// erased_at set. Idempotent.
  virtual ErasureOutcome erase(StudentId id) = 0;
  /// Whether the student was erased; nullopt when absent.
  virtual std::optional<bool> erased(StudentId id) = 0;
  /// Students with a sealed email or phone and an id > after_id, by id, at most `limit`.
  virtual std::vector<SealedFields> sealed_after(StudentId after_id, int limit) = 0;
  /// Applies the reseals whose row still holds `old`, in one transaction; returns the ids
  /// changed.
  virtual std::vector<StudentId> reseal(const std::vector<Reseal>& batch) = 0;
  /// Every attendance row of one student, by exam id.
  virtual std::vector<Attendance> attendance_of_student(StudentId student) = 0;
  virtual std::optional<Student> find_by_external_no(const std::string& external_no) = 0;
  /// Enrolls a student in an exam and returns the seat: a dense 0-based index per exam in
  /// enrollment order. Idempotent (enrolling again returns the same seat). kNotFound when the
  /// exam or the student does not exist.
  virtual int enroll(ExamId exam, StudentId student) = 0;
  /// Every (seat, student) of an exam, ordered by seat.
  virtual std::vector<std::pair<int, StudentId>> seats(ExamId exam) = 0;
  /// Applies versioned updates in one transaction (see AttendanceUpdate). An update for a
  /// student not enrolled in the exam throws kConflict and applies nothing of the batch.
  virtual void apply_attendance(const std::vector<AttendanceUpdate>& updates) = 0;
  virtual std::optional<Attendance> attendance(ExamId exam, StudentId student) = 0;
  /// Attendance rows of an exam (optionally of one status), ordered by student id.
  virtual std::vector<Attendance> attendance_of_exam(ExamId exam,
                                                     std::optional<Presence> status) = 0;
};

// ---- violations, events, id blocks ----

/// A block of ids reserved from a PostgreSQL sequence: [first, first + count). Blocks never
/// overlap, across processes and restarts; ids are never reused.
struct IdBlock {
  std::int64_t first = 0;
  std::int64_t count = 0;
};
enum class IdSequence { kViolation, kEvent };
/// The size of every reserved block (the sequences' INCREMENT).
constexpr std::int64_t kIdBlockSize = 1000;

struct ViolationFilter {
  std::optional<ExamId> exam_id;
  std::optional<StudentId> student_id;
  std::optional<TimePoint> from;  ///< occurred_at >= from
  std::optional<TimePoint> to;    ///< occurred_at < to
  std::optional<ViolationKind> kind;
  std::optional<ReviewState> state;
  ViolationId after_id = 0;  ///< keyset paging: only ids > after_id
  int limit = 1000;          ///< 1..10000
};

struct ViolationStats {
  std::int64_t total = 0;
  std::map<ViolationKind, std::int64_t> by_kind;
  std::map<int, std::int64_t> by_severity;  ///< severity 1..5
};

class ViolationStore {
 public:
  virtual ~ViolationStore() = default;
  virtual IdBlock reserve_ids(IdSequence which) = 0;
  /// Inserts in one transaction; rows whose id exists already are skipped (idempotent replay).
  /// A row that violates a constraint (unknown exam/student: kConflict; severity, kind, length:
  /// kInvalidArgument) fails the whole call and nothing of it is written.
  virtual void insert_violations(const std::vector<Violation>& rows) = 0;
  /// As insert_violations, for events (payload must be valid JSON).
  virtual void insert_events(const std::vector<Event>& rows) = 0;
  virtual std::optional<Violation> get(ViolationId id) = 0;
  /// Matching violations ordered by id, at most filter.limit.
  virtual std::vector<Violation> query(const ViolationFilter& filter) = 0;
  virtual ViolationStats stats(ExamId exam) = 0;
  /// Sets the review state (confirmed or dismissed; open is kInvalidArgument), reviewer
  /// (non-empty), note and reviewed_at = now. kNotFound when missing. A violation may be
  /// reviewed again (a later review replaces an earlier one).
  virtual Violation review(ViolationId id, ReviewState state, const std::string& reviewer,
                           const std::string& note) = 0;
  /// Events of an exam (optionally one student), ordered by occurred_at then id, at most limit.
  virtual std::vector<Event> events(ExamId exam, std::optional<StudentId> student, int limit) = 0;
};

// ---- dead letters of the write-behind queue ----

struct DeadLetter {
  std::int64_t id = 0;
  std::string queue;    ///< which kind of write ("violation", "event", "attendance")
  std::string payload;  ///< the encoded operation (JSON)
  std::string error;    ///< why PostgreSQL rejected it
  std::string sqlstate;
  int attempts = 1;
  TimePoint failed_at;
};

class DeadLetterStore {
 public:
  virtual ~DeadLetterStore() = default;
  virtual void add(const std::string& queue, const std::string& payload, const std::string& error,
                   const std::string& sqlstate) = 0;
  /// Oldest first, optionally of one queue, at most limit.
  virtual std::vector<DeadLetter> list(std::optional<std::string> queue, int limit) = 0;
  /// Removes and returns one (for a retry); nullopt when it does not exist.
  virtual std::optional<DeadLetter> take(std::int64_t id) = 0;
  /// Removes one; false when it did not exist.
  virtual bool drop(std::int64_t id) = 0;
};

/// All the stores of one database.
struct Stores {
  std::unique_ptr<ExamStore> exams;
  std::unique_ptr<StudentStore> students;
  std::unique_ptr<ViolationStore> violations;
  std::unique_ptr<DeadLetterStore> dead_letters;
  std::unique_ptr<AttemptStore> attempts;  ///< attempts/attempt_db.hpp
  std::unique_ptr<GradingStore> grading;   ///< grading/grading_db.hpp
};

/// The PostgreSQL stores over `pool` (which must outlive them). Needs the migrations applied.
Stores make_postgres_stores(PgPool& pool);
/// The in-memory stores, sharing one in-process database.
Stores make_memory_stores();

}  // namespace examstore::db
