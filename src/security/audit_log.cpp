#include "security/audit_log.hpp"

#include <sodium.h>

#include <array>
#include <mutex>

#include "db/pg_pool.hpp"
#include "db/pg_text.hpp"
#include "db/sql_params.hpp"
#include "db/store_checks.hpp"
#include "examstore/error.hpp"
#include "repo/context.hpp"

namespace examstore::security {
namespace {

constexpr std::size_t kHashBytes = 32;
constexpr std::size_t kMaxField = std::size_t{64} * 1024;

std::string to_hex(const unsigned char* bytes, std::size_t n) {
  std::string out(2 * n + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes, n);
  out.pop_back();
  return out;
}

void absorb(crypto_generichash_state& st, std::string_view field) {
  std::array<unsigned char, 8> len{};
  std::uint64_t n = field.size();
  for (auto& b : len) {
    b = static_cast<unsigned char>(n & 0xffu);
    n >>= 8u;
  }
  crypto_generichash_update(&st, len.data(), len.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(field.data()),
                            field.size());
}

/// An entry's role name: the principal's role, or "system".
std::string role_name(const Principal& p) {
  return p.is_system() ? std::string("system") : std::string(to_string(p.role));
}

// ---- PostgreSQL ----

const std::string kColumns =
    "id, " + db::us("at") +
    " AS at_us, actor_id, actor_name, actor_role, ip, action, target, before, after, prev_hash, "
    "hash";

AuditEntry read_entry(const pqxx::row& r) {
  AuditEntry e;
  e.id = r["id"].as<std::int64_t>();
  e.at = db::check::from_micros(r["at_us"].as<std::int64_t>());
  e.actor_id = r["actor_id"].as<std::int64_t>();
  e.actor_name = r["actor_name"].as<std::string>();
  e.actor_role = r["actor_role"].as<std::string>();
  e.ip = r["ip"].as<std::string>();
  e.action = r["action"].as<std::string>();
  e.target = r["target"].as<std::string>();
  e.before = r["before"].as<std::string>();
  e.after = r["after"].as<std::string>();
  e.prev_hash = r["prev_hash"].as<std::string>();
  e.hash = r["hash"].as<std::string>();
  return e;
}

class PgAuditBackend final : public AuditBackend {
 public:
  explicit PgAuditBackend(db::PgPool& pool) : pool_(pool) {}

  AuditEntry append(AuditEntry e) override {
    AuditEntry out;
    pool_.transact("audit append", [&](pqxx::work& tx) {
      const auto head = tx.exec("SELECT last_id, last_hash, " + db::us("clock_timestamp()") +
                                " AS now_us FROM audit_head WHERE one FOR UPDATE");
      if (head.empty()) {
        throw Error(ErrorCode::kDataIntegrity, "audit append",
                    "the audit_head row is missing: the audit log cannot be extended");
      }
      out = e;
      out.id = head[0][0].as<std::int64_t>() + 1;
      out.prev_hash = head[0][1].as<std::string>();
      out.at = db::check::from_micros(head[0][2].as<std::int64_t>());
      out.hash = audit_entry_hash(out.prev_hash, out);
      db::exec_prepared(tx, "es_audit_insert",
                        "INSERT INTO audit_log (id, at, actor_id, actor_name, actor_role, ip, "
                        "action, target, before, after, prev_hash, hash) VALUES ($1, " +
                            db::ts("$2") + ", $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                        out.id, db::check::to_micros(out.at), out.actor_id, out.actor_name,
                        out.actor_role, out.ip, out.action, out.target, out.before, out.after,
                        out.prev_hash, out.hash);
      db::exec_prepared(tx, "es_audit_head",
                        "UPDATE audit_head SET last_id = $1, last_hash = $2 WHERE one", out.id,
                        out.hash);
    });
    return out;
  }

  std::vector<AuditEntry> list(const AuditFilter& f) override {
    db::SqlParams p;
    std::string sql = "SELECT " + kColumns + " FROM audit_log WHERE id > " + p.add(f.after_id);
    if (f.actor_id) sql += " AND actor_id = " + p.add(*f.actor_id);
    if (f.action) sql += " AND action = " + p.add(*f.action);
    if (f.target) sql += " AND target = " + p.add(*f.target);
    sql += " ORDER BY id LIMIT " + p.add(std::int64_t{f.limit});
    std::vector<AuditEntry> out;
    pool_.read("audit list", [&](pqxx::nontransaction& tx) {
      out.clear();
      for (const auto& row : p.exec(tx, sql)) out.push_back(read_entry(row));
    });
    return out;
  }

  std::pair<std::int64_t, std::string> head() override {
    std::pair<std::int64_t, std::string> out{0, audit_genesis_hash()};
    pool_.read("audit head", [&](pqxx::nontransaction& tx) {
      const auto r = tx.exec("SELECT last_id, last_hash FROM audit_head WHERE one");
      if (r.empty()) {
        throw Error(ErrorCode::kDataIntegrity, "audit verify", "the audit_head row is missing");
      }
      out = {r[0][0].as<std::int64_t>(), r[0][1].as<std::string>()};
    });
    return out;
  }

 private:
  db::PgPool& pool_;
};

// ---- memory ----

class MemoryAuditBackend final : public AuditBackend {
 public:
  AuditEntry append(AuditEntry e) override {
    std::lock_guard<std::mutex> lock(mu_);
    e.id = static_cast<std::int64_t>(entries_.size()) + 1;
    e.prev_hash = entries_.empty() ? audit_genesis_hash() : entries_.back().hash;
    e.at = db::check::truncate(std::chrono::system_clock::now());
    e.hash = audit_entry_hash(e.prev_hash, e);
    entries_.push_back(e);
    return e;
  }

  std::vector<AuditEntry> list(const AuditFilter& f) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<AuditEntry> out;
    for (const auto& e : entries_) {
      if (static_cast<int>(out.size()) >= f.limit) break;
      if (e.id <= f.after_id) continue;
      if (f.actor_id && e.actor_id != *f.actor_id) continue;
      if (f.action && e.action != *f.action) continue;
      if (f.target && e.target != *f.target) continue;
      out.push_back(e);
    }
    return out;
  }

  std::pair<std::int64_t, std::string> head() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (entries_.empty()) return {0, audit_genesis_hash()};
    return {entries_.back().id, entries_.back().hash};
  }

 private:
  std::mutex mu_;
  std::vector<AuditEntry> entries_;
};

// ---- the public log ----

class AuditLogImpl final : public AuditLog {
 public:
  explicit AuditLogImpl(std::unique_ptr<AuditBackend> backend) : backend_(std::move(backend)) {}

  AuditEntry append(const Principal& by, const NewAuditEntry& entry) override {
    const std::string op = "audit append";
    db::check::text(op, "action", entry.action, 1, 64);
    db::check::text(op, "target", entry.target, 0, 1024);
    db::check::text(op, "before", entry.before, 0, kMaxField);
    db::check::text(op, "after", entry.after, 0, kMaxField);
    db::check::text(op, "principal.name", by.name, 0, 256);
    db::check::text(op, "principal.ip", by.ip, 0, 64);
    AuditEntry e;
    e.actor_id = by.user_id;
    e.actor_name = by.name;
    e.actor_role = role_name(by);
    e.ip = by.ip;
    e.action = entry.action;
    e.target = entry.target;
    e.before = entry.before;
    e.after = entry.after;
    return backend_->append(std::move(e));
  }

  std::vector<AuditEntry> list(const AuditFilter& filter) override {
    db::check::limit("audit list", filter.limit);
    return backend_->list(filter);
  }

  AuditVerification verify() override {
    // Read the head first: entries appended while verifying lie beyond it and are not judged.
    const auto [head_id, head_hash] = backend_->head();
    AuditVerification v;
    std::string prev = audit_genesis_hash();
    std::int64_t expected_id = 1;
    AuditFilter page;
    page.limit = 1000;
    for (;;) {
      const auto entries = backend_->list(page);
      for (const auto& e : entries) {
        if (e.id > head_id) return finish(v, head_id, head_hash, expected_id - 1, prev);
        ++v.checked;
        if (e.id != expected_id) {
          return broken(v, e.id,
                        "entry " + std::to_string(e.id) + ": expected entry " +
                            std::to_string(expected_id) + " before it (entries deleted)");
        }
        if (e.prev_hash != prev) {
          return broken(v, e.id,
                        "entry " + std::to_string(e.id) +
                            ": previous hash does not match the entry before it (an earlier "
                            "entry was edited, deleted or replaced)");
        }
        if (audit_entry_hash(prev, e) != e.hash) {
          return broken(
              v, e.id,
              "entry " + std::to_string(e.id) + ": content does not match its hash (edited)");
        }
        prev = e.hash;
        ++expected_id;
      }
      if (static_cast<int>(entries.size()) < page.limit) break;
      page.after_id = entries.back().id;
    }
    return finish(v, head_id, head_hash, expected_id - 1, prev);
  }

 private:
  static AuditVerification broken(AuditVerification v, std::int64_t id, std::string problem) {
    v.ok = false;
    v.first_broken_id = id;
    v.problem = std::move(problem);
    return v;
  }

  static AuditVerification finish(AuditVerification v, std::int64_t head_id,
                                  const std::string& head_hash, std::int64_t last_id,
                                  const std::string& last_hash) {
    if (last_id != head_id) {
      v.ok = false;
      v.problem = "head names entry " + std::to_string(head_id) + " but the newest entry is " +
                  std::to_string(last_id) + " (newest entries deleted)";
    } else if (last_hash != head_hash) {
      v.ok = false;
      v.problem = "head hash does not match entry " + std::to_string(last_id) +
                  " (the newest entry was replaced)";
    }
    return v;
  }

  std::unique_ptr<AuditBackend> backend_;
};

}  // namespace

const std::string& audit_genesis_hash() {
  static const std::string genesis(2 * kHashBytes, '0');
  return genesis;
}

std::string audit_entry_hash(const std::string& prev_hash_hex, const AuditEntry& e) {
  std::array<unsigned char, kHashBytes> prev{};
  std::size_t prev_len = 0;
  if (sodium_hex2bin(prev.data(), prev.size(), prev_hash_hex.data(), prev_hash_hex.size(), nullptr,
                     &prev_len, nullptr) != 0 ||
      prev_len != kHashBytes) {
    // A malformed stored hash cannot chain: hash it as text so the comparison fails cleanly.
    prev.fill(0xff);
  }
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, kHashBytes);
  crypto_generichash_update(&st, prev.data(), prev.size());
  absorb(st, std::to_string(db::check::to_micros(e.at)));
  absorb(st, std::to_string(e.actor_id));
  absorb(st, e.actor_name);
  absorb(st, e.actor_role);
  absorb(st, e.ip);
  absorb(st, e.action);
  absorb(st, e.target);
  absorb(st, e.before);
  absorb(st, e.after);
  std::array<unsigned char, kHashBytes> out{};
  crypto_generichash_final(&st, out.data(), out.size());
  return to_hex(out.data(), out.size());
}

std::unique_ptr<AuditBackend> make_pg_audit_backend(db::PgPool& pool) {
  return std::make_unique<PgAuditBackend>(pool);
}
std::unique_ptr<AuditBackend> make_memory_audit_backend() {
  return std::make_unique<MemoryAuditBackend>();
}
std::unique_ptr<AuditLog> make_audit_log(std::unique_ptr<AuditBackend> backend) {
  if (sodium_init() < 0) {
    throw Error(ErrorCode::kInternal, "audit log", "libsodium failed to initialise");
  }
  return std::make_unique<AuditLogImpl>(std::move(backend));
}

}  // namespace examstore::security

namespace examstore::repo {
std::unique_ptr<AuditLog> make_audit_log(Context& ctx) {
  return security::make_audit_log(ctx.pool != nullptr ? security::make_pg_audit_backend(*ctx.pool)
                                                      : security::make_memory_audit_backend());
}
}  // namespace examstore::repo
