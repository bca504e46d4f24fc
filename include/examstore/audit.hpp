// examstore/audit.hpp: the append-only, hash-chained audit log.
//
// Every change made on someone's behalf (accounts, authorization grants, changes made through an
// Actor, key rotation, GDPR erasure) appends one entry: who (principal), role, action, target,
// IP, time, and a short before/after summary (never a password, a token or a decrypted personal
// field). Entries are chained: each stores the BLAKE2b-256 hash of the previous entry's hash and
// its own canonical content, and a head row holds the newest (id, hash). verify() recomputes the
// chain and names the first entry that was edited, deleted or inserted out of band, or says the
// newest entries were removed when the head no longer matches.
//
// Appends are serialized (in PostgreSQL by a row lock on the head), so the chain is a total
// order; an append is a short transaction of its own. The application's database role may
// INSERT into the audit table but not UPDATE or DELETE it (see `examstore db roles`).
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "examstore/accounts.hpp"
#include "examstore/model.hpp"

namespace examstore {

/// What a caller records.
struct NewAuditEntry {
  /// A dotted verb, e.g. "user.create", "user.lock", "session.invalidate_user",
  /// "question.edit", "violation.review", "student.correct", "gdpr.erase", "keys.rotate".
  std::string action;
  /// What was acted on, e.g. "user:42", "exam:7/student:9", "question:12".
  std::string target;
  /// Short summaries (a few fields, JSON or text); empty when not applicable.
  std::string before;
  std::string after;
};

/// An entry as stored.
struct AuditEntry {
  std::int64_t id = 0;  ///< ascending in chain order
  TimePoint at;
  UserId actor_id = 0;  ///< 0 for the system principal
  std::string actor_name;
  std::string actor_role;  ///< "student", ..., or "system"
  std::string ip;
  std::string action;
  std::string target;
  std::string before;
  std::string after;
  std::string prev_hash;  ///< hex; 64 zeros for the first entry
  std::string hash;       ///< hex BLAKE2b-256 of prev_hash and the canonical content
};

/// Which entries list() returns; every field optional.
struct AuditFilter {
  std::optional<UserId> actor_id;
  std::optional<std::string> action;  ///< exact
  std::optional<std::string> target;  ///< exact
  std::int64_t after_id = 0;          ///< keyset paging: only ids > after_id
  int limit = 100;                    ///< 1..10000
};

/// The result of AuditLog::verify().
struct AuditVerification {
  bool ok = true;
  std::int64_t checked = 0;  ///< entries whose hash was recomputed
  /// The first entry whose stored hash or prev_hash does not match (absent when ok, or when
  /// only the newest entries are missing).
  std::optional<std::int64_t> first_broken_id;
  /// What is wrong, e.g. "entry 17: content does not match its hash (edited)", "entry 18:
  /// previous hash does not match entry 16 (an entry before it was deleted)", "head names entry
  /// 40 but the newest entry is 38 (newest entries deleted)". Empty when ok.
  std::string problem;
};

class AuditLog {
 public:
  virtual ~AuditLog() = default;
  /// Appends one entry by `by`, at the database's clock. Returns it with id and hash.
  /// kInvalidArgument when action is empty or a field is over 64 KiB.
  virtual AuditEntry append(const Principal& by, const NewAuditEntry& entry) = 0;
  /// Entries in chain order.
  virtual std::vector<AuditEntry> list(const AuditFilter& filter) = 0;
  /// Recomputes the whole chain, in pages (constant memory).
  virtual AuditVerification verify() = 0;
};

}  // namespace examstore
