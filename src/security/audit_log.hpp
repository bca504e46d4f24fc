// security/audit_log.hpp: the audit log's chain arithmetic and its two backends.
//
// An entry's hash is BLAKE2b-256 over the previous entry's hash (32 raw bytes) followed by its
// canonical content: every field (at in microseconds, actor id, actor name, actor role, ip,
// action, target, before, after) as an 8-byte little-endian length and its bytes, so no two
// different entries share a canonical form. The first entry's previous hash is 32 zero bytes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "examstore/audit.hpp"

namespace examstore::db {
class PgPool;
}  // namespace examstore::db

namespace examstore::security {

/// 64 hex zeros: the previous hash of the first entry.
const std::string& audit_genesis_hash();

/// The hex hash of `e` chained after `prev_hash_hex` (e.prev_hash and e.hash are ignored).
std::string audit_entry_hash(const std::string& prev_hash_hex, const AuditEntry& e);

/// Where entries are kept: the only part that differs between PostgreSQL and memory.
class AuditBackend {
 public:
  virtual ~AuditBackend() = default;
  /// Appends `e` (its actor, ip, action, target, before, after set) under the head's lock,
  /// filling id, at, prev_hash and hash. Returns the stored entry.
  virtual AuditEntry append(AuditEntry e) = 0;
  /// Entries matching the filter, in id order.
  virtual std::vector<AuditEntry> list(const AuditFilter& filter) = 0;
  /// The head: (newest id, its hash); (0, genesis) when empty.
  virtual std::pair<std::int64_t, std::string> head() = 0;
};

std::unique_ptr<AuditBackend> make_pg_audit_backend(db::PgPool& pool);
std::unique_ptr<AuditBackend> make_memory_audit_backend();

/// The public AuditLog over a backend (validation, verify()).
std::unique_ptr<AuditLog> make_audit_log(std::unique_ptr<AuditBackend> backend);

}  // namespace examstore::security
