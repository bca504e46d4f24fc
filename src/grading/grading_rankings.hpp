// grading/grading_rankings.hpp: rankings of exams, assignments and classes as sorted sets in the
// hot tier (member: the student id as 19 digits, so that Redis' member order is id order;
// score: the ranking score), rebuilt from GradingStore::ranking() when missing.
//
// Order: score descending, then student id ascending; equal scores share a rank, which is
// 1 + the number of students with a strictly higher score (1, 2, 2, 4).
//
// Read path: a ranking key with members, or its ":none" marker (a ranking known to be empty, so
// that an empty ranking does not query the database on every read), is served from the hot
// tier (ranking_hits). Otherwise it is rebuilt: read the generation, query the database, and
// write the rows with a script that writes only when the generation is still the one read. A
// completion that raced the query has bumped it, so a rebuild can never store rows older than
// a completion; the refused rows are served uncached.
//
// Updates: after a completion (or regrade) commits, update() reads the generation, then the
// student's row from the database, then runs a script that bumps the generation and, when the
// generation is still the one read, applies the row to a ranking that is loaded (ZADD, or ZREM
// when the student has no row; an empty-marked ranking takes the row), leaving a missing ranking
// to the next rebuild. When another update or drop bumped the generation in between, the row may
// be older than theirs: the ranking is deleted instead and rebuilt on the next read.
//
// Reads of a hot ranking take a few commands, not one atomic step; a read racing an update may
// see either side of it. Hot-tier failures degrade to the database's rows.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "examstore/cache.hpp"
#include "examstore/grading.hpp"
#include "grading/grading_db.hpp"
#include "grading/grading_keys.hpp"

namespace examstore::grading {

struct RankingCounters {
  std::atomic<std::int64_t> hits{0};
  std::atomic<std::int64_t> rebuilds{0};
};

class Rankings {
 public:
  Rankings(Cache& cache, const GradingKeys& keys, db::GradingStore& store,
           std::chrono::seconds ttl);

  /// The scopes are checked by the caller (an exam, assignment or class, id > 0).
  std::optional<RankEntry> rank_of(const Scope& s, StudentId student);
  std::vector<RankEntry> top(const Scope& s, int n);
  std::vector<RankEntry> around(const Scope& s, StudentId student, int radius);
  /// Loads the ranking into the hot tier when it is not there; true when it is there now.
  bool warm(const Scope& s);
  /// Applies the student's current row after a completion or regrade committed.
  void update(const Scope& s, StudentId student);
  /// Forgets the ranking (its membership changed): the next read rebuilds it.
  void drop(const Scope& s);

  const RankingCounters& counters() const { return counters_; }

 private:
  struct View {
    bool hot = false;
    std::vector<RankEntry> rows;  ///< when !hot: every entry, in ranking order
  };
  View open(const Scope& s);
  std::vector<RankEntry> window(const std::string& key, std::int64_t from, std::int64_t to);

  Cache& cache_;
  const GradingKeys& keys_;
  db::GradingStore& store_;
  const std::chrono::seconds ttl_;
  RankingCounters counters_;
};

}  // namespace examstore::grading
