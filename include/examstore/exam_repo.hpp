// examstore/exam_repo.hpp: exams, their configuration and lifecycle.
//
// Reads are cache-aside: the hot tier first, then the database, filling the cache with a
// jittered TTL; one loader per key at a time (concurrent misses of one exam make one query);
// missing ids are cached briefly as absent. Every write goes to the database first (write-
// through, returns after the commit), then invalidates the cached copy in a way that a reader
// which loaded the old row before the write can no longer put it back (a generation check on
// fill), and publishes an invalidation message so in-process near caches drop it too.
//
// A returned Exam is an immutable snapshot: it carries `version`, and a newer state always has a
// higher one. If the hot tier fails, reads fall back to the database (counted, never thrown).
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "examstore/model.hpp"

namespace examstore {

class ExamRepo {
 public:
  virtual ~ExamRepo() = default;

  /// Validates and stores a new exam (status pending). Throws kInvalidArgument naming the bad
  /// field (name length, ends_at not after starts_at, config not JSON).
  virtual Exam create(const NewExam& exam) = 0;
  /// The exam, or nullopt when no exam has this id.
  virtual std::optional<Exam> get(ExamId id) = 0;
  /// Exams starting in [from, to) (either bound optional), of one status (optional), ordered by
  /// start, at most `limit` (1..10000). Always from the database.
  virtual std::vector<Exam> list(std::optional<ExamStatus> status, std::optional<TimePoint> from,
                                 std::optional<TimePoint> to, int limit = 100) = 0;
  /// Replaces the configuration (a JSON document) and records the change with `changed_by`.
  /// With `expected_config_version`, fails with kConflict (changing nothing) when another change
  /// came first. kNotFound when the exam does not exist.
  virtual Exam update_config(
      ExamId id, const std::string& config, const std::string& changed_by,
      std::optional<std::int64_t> expected_config_version = std::nullopt) = 0;
  /// Every configuration change, oldest first.
  virtual std::vector<ConfigChange> config_history(ExamId id) = 0;
  /// Moves the exam to `to`. An illegal transition (see is_legal_transition) throws kConflict
  /// naming both statuses and changes nothing; kNotFound when the exam does not exist.
  virtual Exam transition(ExamId id, ExamStatus to) = 0;
};

}  // namespace examstore
