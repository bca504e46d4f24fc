// examstore/violation_repo.hpp: anti-cheat violations, the raw event log, live counts, review.
//
// record() validates, assigns the id at once (from blocks reserved in a PostgreSQL sequence: an
// id is never reused, even if Redis is flushed), bumps the live counters in the hot tier, and
// hands the row to the write-behind queue at the Durability the caller chose. Queries run on
// the database and include writes still queued (read-your-writes). review() is a rare, precious
// write: database first.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "examstore/model.hpp"
#include "examstore/write_behind.hpp"

namespace examstore {

/// Filter of ViolationRepo::query; every field optional.
struct ViolationQuery {
  std::optional<ExamId> exam_id;
  std::optional<StudentId> student_id;
  std::optional<TimePoint> from;  ///< occurred_at >= from
  std::optional<TimePoint> to;    ///< occurred_at < to
  std::optional<ViolationKind> kind;
  std::optional<ReviewState> state;
  ViolationId after_id = 0;  ///< keyset paging: only ids greater than this
  int limit = 1000;          ///< 1..10000
};

/// Counts of an exam's violations.
struct ViolationSummary {
  std::int64_t total = 0;
  std::map<ViolationKind, std::int64_t> by_kind;
  std::map<int, std::int64_t> by_severity;
};

class ViolationRepo {
 public:
  virtual ~ViolationRepo() = default;

  /// Records a violation and returns its id once acknowledged at `durability`.
  /// kInvalidArgument naming the bad field (severity 1..5, reason <= 2000 characters,
  /// screenshot_path <= 500); kNotFound when the student is not enrolled in the exam (checked
  /// against the exam's cached seat map, no database round trip); kResourceExhausted when the
  /// queue is full; kInvalidArgument for kJournaled without a journal (see Durability).
  virtual ViolationId record(const NewViolation& v,
                             Durability durability = Durability::kJournaled) = 0;
  /// Records many violations at once, for a caller that receives them in bulk: each row gets
  /// what record() gives it (checks, id, live counters, durability), but the rows share one
  /// queue admission, one journal append and one hot-tier round trip. Returns the ids in the
  /// order of `vs` (empty for an empty `vs`). All or nothing before anything is recorded: a bad
  /// row fails the call with record()'s error, its message prefixed by "violations[i]: ";
  /// kResourceExhausted also when `vs` alone exceeds the queue's capacity.
  virtual std::vector<ViolationId> record_batch(const std::vector<NewViolation>& vs,
                                                Durability durability = Durability::kJournaled) = 0;
  /// Records a raw event (payload must be JSON) and returns its id.
  virtual EventId record_event(const NewEvent& e,
                               Durability durability = Durability::kJournaled) = 0;

  /// Live counts per kind for the exam (hot tier; rebuilt by nothing: they restart at zero if
  /// the hot tier loses them, the database stays the record, see stats()).
  virtual std::map<ViolationKind, std::int64_t> live_counts(ExamId exam) = 0;
  /// Live counts per kind for one student in the exam.
  virtual std::map<ViolationKind, std::int64_t> live_counts(ExamId exam, StudentId student) = 0;

  /// One violation (queued ones included), or nullopt.
  virtual std::optional<Violation> get(ViolationId id) = 0;
  /// Matching violations ordered by id (queued ones included).
  virtual std::vector<Violation> query(const ViolationQuery& q) = 0;
  /// Counts by kind and severity from the durable record (queued ones included).
  virtual ViolationSummary stats(ExamId exam) = 0;
  /// Confirms or dismisses a violation (state kConfirmed or kDismissed) with the reviewer and a
  /// note. kNotFound when it does not exist; kInvalidArgument for kOpen or an empty reviewer.
  virtual Violation review(ViolationId id, ReviewState state, const std::string& reviewer,
                           const std::string& note) = 0;
  /// Events of an exam (optionally one student), oldest first (queued ones included).
  virtual std::vector<Event> events(ExamId exam, std::optional<StudentId> student,
                                    int limit = 1000) = 0;
};

}  // namespace examstore
