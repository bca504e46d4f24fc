#include "db/migrator.hpp"

#include <sodium.h>

#include <algorithm>
#include <map>

#include "db/pg_pool.hpp"
#include "examstore/error.hpp"

namespace examstore::db {
namespace {

// Both halves of the advisory lock key: "EXMS" and the migrations' lock number.
constexpr int kLockClass = 0x45584D53;
constexpr int kLockMigrations = 1;

struct Applied {
  std::string name;
  std::string checksum;
  std::string applied_at;
};

// Holds the session-level advisory lock for its lifetime.
class AdvisoryLock {
 public:
  explicit AdvisoryLock(pqxx::connection& c) : c_(c) {
    pqxx::nontransaction nt(c_);
    db::exec(nt, "SELECT pg_advisory_lock($1, $2)", kLockClass, kLockMigrations);
  }
  ~AdvisoryLock() {
    if (!c_.is_open()) return;  // the server released it with the session
    try {
      pqxx::nontransaction nt(c_);
      db::exec(nt, "SELECT pg_advisory_unlock($1, $2)", kLockClass, kLockMigrations);
    } catch (...) {  // the session is going away; the server releases the lock with it
    }
  }
  AdvisoryLock(const AdvisoryLock&) = delete;
  AdvisoryLock& operator=(const AdvisoryLock&) = delete;

 private:
  pqxx::connection& c_;
};

void ensure_table(pqxx::connection& c) {
  pqxx::work tx(c);
  tx.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version integer PRIMARY KEY,"
      " name text NOT NULL,"
      " checksum text NOT NULL,"
      " applied_at timestamptz NOT NULL DEFAULT now())");
  tx.commit();
}

std::map<int, Applied> load_applied(pqxx::connection& c, bool table_may_be_missing) {
  std::map<int, Applied> out;
  pqxx::read_transaction tx(c);
  if (table_may_be_missing &&
      tx.exec("SELECT to_regclass('schema_migrations') IS NULL")[0][0].as<bool>()) {
    return out;
  }
  for (const auto& row :
       tx.exec("SELECT version, name, checksum,"
               " to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
               " FROM schema_migrations ORDER BY version")) {
    out.emplace(row[0].as<int>(), Applied{row[1].as<std::string>(), row[2].as<std::string>(),
                                          row[3].as<std::string>()});
  }
  return out;
}

}  // namespace

std::string migration_checksum(const Migration& m) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(m.up.data()), m.up.size());
  char hex[crypto_hash_sha256_BYTES * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  return hex;
}

Migrator::Migrator(PgPool& pool, std::vector<Migration> migrations)
    : pool_(pool), migrations_(std::move(migrations)) {
  for (std::size_t i = 1; i < migrations_.size(); ++i) {
    if (migrations_[i].version <= migrations_[i - 1].version) {
      throw Error(ErrorCode::kInternal, "migrations",
                  "migration versions are not strictly ascending at version " +
                      std::to_string(migrations_[i].version));
    }
  }
}

namespace {

// Refuses to go on when the database's history does not match this build's migrations.
void verify(const std::vector<Migration>& known, const std::map<int, Applied>& applied,
            const std::string& operation, const std::string& backend) {
  for (const auto& [version, a] : applied) {
    auto it = std::find_if(known.begin(), known.end(),
                           [v = version](const Migration& m) { return m.version == v; });
    if (it == known.end()) {
      throw Error(ErrorCode::kDataIntegrity, operation,
                  "the database has migration " + std::to_string(version) + " ('" + a.name +
                      "') applied, which this build of examstore does not know; use a build "
                      "that includes it",
                  backend);
    }
    if (migration_checksum(*it) != a.checksum) {
      throw Error(ErrorCode::kDataIntegrity, operation,
                  "migration " + std::to_string(version) + " ('" + a.name +
                      "') was edited after it was applied (checksum mismatch); restore its "
                      "original SQL and add a new migration instead",
                  backend);
    }
  }
}

}  // namespace

std::vector<MigrationInfo> Migrator::status() {
  std::vector<MigrationInfo> out;
  pool_.with_connection("migrate status", [&](pqxx::connection& c) {
    const auto applied = load_applied(c, true);
    for (const auto& m : migrations_) {
      MigrationInfo info;
      info.version = m.version;
      info.name = m.name;
      if (auto it = applied.find(m.version); it != applied.end()) {
        info.applied = true;
        info.applied_at = it->second.applied_at;
        info.checksum_mismatch = it->second.checksum != migration_checksum(m);
      }
      out.push_back(std::move(info));
    }
    for (const auto& [version, a] : applied) {
      const bool known = std::any_of(migrations_.begin(), migrations_.end(),
                                     [v = version](const Migration& m) { return m.version == v; });
      if (!known)
        out.push_back(
            MigrationInfo{version, a.name + " (unknown to this build)", true, a.applied_at, false});
    }
  });
  std::sort(out.begin(), out.end(),
            [](const MigrationInfo& a, const MigrationInfo& b) { return a.version < b.version; });
  return out;
}

std::vector<int> Migrator::up(std::optional<int> max_steps) {
  if (max_steps && *max_steps < 0) {
    throw Error(ErrorCode::kInvalidArgument, "migrate up",
                "steps must be >= 0, got " + std::to_string(*max_steps));
  }
  std::vector<int> done;
  pool_.with_connection("migrate up", [&](pqxx::connection& c) {
    AdvisoryLock lock(c);
    ensure_table(c);
    const auto applied = load_applied(c, false);
    verify(migrations_, applied, "migrate up", pool_.endpoint());
    for (const auto& m : migrations_) {
      if (max_steps && static_cast<int>(done.size()) >= *max_steps) break;
      if (applied.count(m.version) != 0) continue;
      pqxx::work tx(c);
      try {
        tx.exec(m.up);
      } catch (const pqxx::sql_error& e) {
        throw Error(ErrorCode::kDataIntegrity, "migrate up",
                    "migration " + std::to_string(m.version) + " ('" + m.name +
                        "') failed and was rolled back: " + e.what(),
                    pool_.endpoint());
      }
      db::exec(tx, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
               m.version, m.name, migration_checksum(m));
      tx.commit();
      done.push_back(m.version);
    }
  });
  return done;
}

std::vector<int> Migrator::down(int steps) {
  if (steps < 0) {
    throw Error(ErrorCode::kInvalidArgument, "migrate down",
                "steps must be >= 0, got " + std::to_string(steps));
  }
  std::vector<int> done;
  pool_.with_connection("migrate down", [&](pqxx::connection& c) {
    AdvisoryLock lock(c);
    ensure_table(c);
    const auto applied = load_applied(c, false);
    verify(migrations_, applied, "migrate down", pool_.endpoint());
    for (auto it = applied.rbegin(); it != applied.rend() && static_cast<int>(done.size()) < steps;
         ++it) {
      const int version = it->first;
      const auto m = std::find_if(migrations_.begin(), migrations_.end(),
                                  [version](const Migration& x) { return x.version == version; });
      pqxx::work tx(c);
      tx.exec(m->down);
      db::exec(tx, "DELETE FROM schema_migrations WHERE version = $1", version);
      tx.commit();
      done.push_back(version);
    }
  });
  return done;
}

}  // namespace examstore::db
