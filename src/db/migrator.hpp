// db/migrator.hpp: versioned schema migrations, applied in order under an advisory lock.
//
// Each migration is an up step and a down step of plain SQL. They ship inside the library
// (cmake/EmbedMigrations.cmake turns src/db/migrations/*.sql into shipped_migrations()).
// Applied migrations are recorded in schema_migrations with a SHA-256 of their up SQL; before
// changing anything, every applied migration's checksum is compared with the shipped SQL, and a
// mismatch (someone edited an applied migration) or an applied version this build does not
// know (a newer build migrated this database) refuses the whole operation with kDataIntegrity.
//
// Concurrency: every operation holds a PostgreSQL session advisory lock for its whole length, so
// two processes migrating at once run one after the other; the second finds nothing to do.
// Each migration runs, and is recorded, in its own transaction.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "examstore/store.hpp"

namespace examstore::db {

class PgPool;

/// One migration as shipped.
struct Migration {
  int version;
  std::string name;
  std::string up;
  std::string down;
};

/// The migrations compiled into this library, ascending by version.
const std::vector<Migration>& shipped_migrations();

/// Hex SHA-256 of a migration's up SQL, as recorded in schema_migrations.checksum.
std::string migration_checksum(const Migration& m);

class Migrator {
 public:
  /// `migrations` must be ascending by version with unique versions (checked: kInternal).
  Migrator(PgPool& pool, std::vector<Migration> migrations);

  /// Every known migration plus any applied version unknown to this build (its recorded name
  /// followed by " (unknown to this build)").
  std::vector<MigrationInfo> status();
  /// Applies pending migrations (at most max_steps); returns the versions applied.
  std::vector<int> up(std::optional<int> max_steps = std::nullopt);
  /// Reverts the `steps` newest applied migrations; returns the versions reverted.
  std::vector<int> down(int steps);

 private:
  PgPool& pool_;
  std::vector<Migration> migrations_;
};

}  // namespace examstore::db
