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
// update_many() does this for every scope of a completion with fewer round trips: the
// generations in one Batch, the rows in one database call (GradingStore::ranking_rows), then one
// script per scope (scopes have different hash tags, so no script can span them).
//
// Self-healing: an update (or drop) that fails (hot tier or database unreachable) may leave the
// ranking without the student's new row. The scope is remembered, and the next call of this object
// drops that ranking (as drop() does) before anything else; until that drop succeeds, reads of the
// scope here are served from the database, uncached. Other processes may read the stale ranking
// until the drop (at the latest until ranking_ttl ends).
//
// Reads of a hot ranking take a few commands, not one atomic step; a read racing an update may
// see either side of it. Hot-tier failures degrade to the database's rows.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <utility>
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
  void update(const Scope& s, StudentId student) { update_many({s}, student); }
  /// update() of every scope in `scopes` (see the file comment); hot-tier and database
  /// unavailability is not thrown but remembered, and healed by the next call.
  void update_many(const std::vector<Scope>& scopes, StudentId student);
  /// Forgets the ranking (its membership changed): the next read rebuilds it. When the hot tier
  /// is down, the drop is remembered and retried like a failed update.
  void drop(const Scope& s);

  const RankingCounters& counters() const { return counters_; }

 private:
  struct View {
    bool hot = false;
    std::vector<RankEntry> rows;  ///< when !hot: every entry, in ranking order
  };
  View open(const Scope& s);
  std::vector<RankEntry> window(const std::string& key, std::int64_t from, std::int64_t to);
  /// Runs the drop script of `s`; false when the hot tier is down.
  bool try_drop(const Scope& s);
  void mark_stale(const Scope& s);
  /// Drops the rankings of failed updates; false when `s` (if given) is still not dropped.
  bool heal(const Scope* s);

  Cache& cache_;
  const GradingKeys& keys_;
  db::GradingStore& store_;
  const std::chrono::seconds ttl_;
  RankingCounters counters_;
  std::mutex mu_;                                       // guards stale_
  std::set<std::pair<ScopeKind, std::int64_t>> stale_;  // failed updates' scopes, to drop
  std::atomic<bool> any_stale_{false};
};

}  // namespace examstore::grading
