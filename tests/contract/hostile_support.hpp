// tests/contract/hostile_support.hpp: the harness of the hostile-input suite
// (hostile_input_test.cpp): tables of hostile values, a table of entry points, and a snapshot of
// everything a backend pair holds, so a case can check that nothing but what it may change did.
//
// An entry point is one public call with one hostile value in one place. For each value it must
// either throw Error(kInvalidArgument) whose text names `field` (or kNotFound when `not_found_ok`)
// or succeed with an exact round trip, checked by the entry's own `call`, which returns "" when
// the value read back byte-identical (or the read found nothing, for read-only calls) and a
// description of the mismatch otherwise. Any other outcome fails the case. Before and after the
// call the harness takes a Snapshot: on an error nothing may differ; on a success only the parts
// whose name starts with one of `may_change` may.
//
// To cover a new entry point, add a row to the table of its value type in
// hostile_input_test.cpp; new tables and Redis keys are picked up by the snapshot by themselves.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "examstore/error.hpp"
#include "support/store_pair.hpp"

namespace examstore::test::hostile {

/// One hostile value with a label for the test output.
template <typename V>
struct Value {
  std::string label;
  V value;
};

/// What a pair holds, as named parts: "pg:<table>" (row count and checksum), "redis:<key>"
/// (type and content, TTL left out), "view:<what>" (the durable state read back through the
/// public API, for the memory database, which has no other window) and "hot:<key>" (known keys
/// read through the Cache API, for the memory cache).
using Snapshot = std::map<std::string, std::string>;

/// The entities every case starts from (see seed()).
struct Seed {
  ExamId exam = 0;  ///< running, with student enrolled, an attempt started, a violation recorded
  StudentId student = 0;
  QuestionId single = 0;  ///< on the paper
  QuestionId fill = 0;    ///< on the paper
  PaperKey paper;
  ViolationId violation = 0;
  StudentId max_student = 0;  ///< highest student id made so far (the view reads up to it)
  std::int64_t seq = 0;       ///< the last autosave seq used
  std::int64_t tick = 0;      ///< advanced by the calls that need a fresh, later time
};

/// The connections a snapshot reads the raw Redis and PostgreSQL state through (made by the
/// first snapshot, kept for the next ones).
struct Probe;

/// A pair with its seeded entities.
struct Ctx {
  StorePair& pair;
  Seed seed;
  std::shared_ptr<Probe> probe = {};
};

template <typename V>
struct Entry {
  std::string name;   ///< "exams.create name"
  std::string field;  ///< the text a kInvalidArgument must contain
  /// Snapshot parts a successful call may change (prefixes of part names; "redis:" keys are
  /// written without the pair's key prefix, the harness adds it).
  std::vector<std::string> may_change;
  std::function<std::string(Ctx&, const V&)> call;
  bool not_found_ok = false;
  /// Extra codes this entry documents as a clear answer (kResourceExhausted for a batch larger
  /// than the queue).
  std::vector<ErrorCode> also_ok = {};
  /// Runs before the first snapshot (setting up the state the call needs, e.g. a transition).
  std::function<void(Ctx&)> prepare = {};
  /// True when a refused call records its refusal in `may_change` parts too (a login records
  /// every attempt and counts failures); otherwise a refused call must change nothing.
  bool records_refusals = false;
};

/// Creates the seeded entities (time `now`, whole seconds).
Seed seed(StorePair& pair, TimePoint now);
/// Everything the pair holds; flushes the write-behind queue first.
Snapshot snapshot(Ctx& ctx);
/// The names of the parts that differ (added, removed or changed). A negative-cache marker
/// (an "absent" entry, which expires after Config::negative_ttl) appearing, expiring or being
/// replaced by a filled value (and back) is not a change: the view parts compare what readers
/// see.
std::vector<std::string> diff(const Snapshot& before, const Snapshot& after);
/// A short printable form of a hostile value (long ones cut, bytes escaped).
std::string printable(const std::string& s);
std::string printable(std::int64_t v);
std::string printable(double v);
std::string printable(TimePoint t);

/// Runs one entry with one value and checks the contract; failures are reported through Catch
/// with the entry's name and the value's label.
template <typename V>
void run_case(Ctx& ctx, const Entry<V>& entry, const Value<V>& value);

/// Every entry with every value.
template <typename V>
void run_table(Ctx& ctx, const std::vector<Value<V>>& values,
               const std::vector<Entry<V>>& entries) {
  for (const auto& v : values) {
    for (const auto& e : entries) run_case(ctx, e, v);
  }
}

}  // namespace examstore::test::hostile
