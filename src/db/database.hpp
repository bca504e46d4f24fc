// db/database.hpp: the durable tier as the Store sees it.
//
// Each repository (issue by issue) adds the per-entity store interface it needs, with a
// PostgreSQL and an in-memory implementation, both run through one contract suite. This class
// owns what they share: the connection pool, migrations and the health check.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "db/stores.hpp"
#include "examstore/config.hpp"
#include "examstore/store.hpp"

namespace examstore::obs {
struct Telemetry;
}  // namespace examstore::obs

namespace examstore::db {

class PgPool;

class Database {
 public:
  Database() = default;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  virtual ~Database() = default;

  /// One round trip; never throws.
  virtual BackendHealth health() = 0;
  virtual std::vector<MigrationInfo> migration_status() = 0;
  virtual std::vector<int> migrate_up(std::optional<int> max_steps) = 0;
  virtual std::vector<int> migrate_down(int steps) = 0;
  /// The PostgreSQL pool, or nullptr for the in-memory database.
  virtual PgPool* pg_pool() = 0;
  /// The per-entity stores (made once, on first call).
  virtual Stores& stores() = 0;
};

/// The embedded database: keeps everything in process memory; needs no migrations.
std::unique_ptr<Database> make_memory_database();
/// PostgreSQL through a PgPool; connects lazily.
/// Counts into and logs through `telemetry` when given (it must outlive the database).
std::unique_ptr<Database> make_postgres_database(const PostgresOptions& options,
                                                 obs::Telemetry* telemetry = nullptr);

}  // namespace examstore::db
