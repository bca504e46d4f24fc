// repo/violation_counts.hpp: the scripts behind the live violation counters (violation_repo.cpp).
//
// Keys, under the exam's hash tag: violations:{e:ID}:kind (kind -> n), violations:{e:ID}:student
// ("<student>:<kind>" -> n) and violations:{e:ID}:counted, a sorted set of the violations
// counted lately ("<id>:<student>:<kind>" -> ms). A count adds a violation only when its member
// is not in the set yet, so resending it after a failover adds nothing (the script is
// idempotent); members older than counted_window() are forgotten. Declared here so the contract
// suite can run them on every Cache. Thread-safety: the scripts are immutable.
#pragma once

#include <chrono>
#include <string>

#include "examstore/cache.hpp"
#include "examstore/config.hpp"
#include "examstore/model.hpp"

namespace examstore::repo {

/// How long a counted id is remembered: at least 5 min, and twice failover_wait when that is
/// longer, so a count resent within a failover always finds its id.
std::chrono::milliseconds counted_window(const Config& config);
/// "<id>:<student>:<kind>", the counted set's member for `v`.
std::string counted_member(const Violation& v);

/// KEYS: by kind, by student, counted. ARGV: now_ms, forget-before ms, window ms, then members.
/// Counts each member not counted yet; returns how many it counted.
const Script& violation_count_script();
/// KEYS: as above. ARGV: nk, ns, nk field/count pairs by kind, ns by student, then the counted
/// members the counts already include. Replaces both counters with the counts given, then adds
/// each counted member not among those. Returns how many it added.
const Script& violation_recount_script();

}  // namespace examstore::repo
