#include "db/database.hpp"

#include <chrono>

#include "db/migrator.hpp"

#include <fmt/ranges.h>
#include "db/pg_pool.hpp"

namespace examstore::db {
namespace {

class MemoryDatabase final : public Database {
 public:
  BackendHealth health() override {
    return BackendHealth{"database", "memory", "memory://", true, {}, "embedded", {}};
  }
  // The in-memory stores are built in their final shape: there is no schema to migrate.
  std::vector<MigrationInfo> migration_status() override { return {}; }
  std::vector<int> migrate_up(std::optional<int>) override { return {}; }
  std::vector<int> migrate_down(int) override { return {}; }
  PgPool* pg_pool() override { return nullptr; }
  Stores& stores() override { return stores_; }

 private:
  Stores stores_ = make_memory_stores();
};

class PostgresDatabase final : public Database {
 public:
  PostgresDatabase(const PostgresOptions& options, obs::Telemetry* telemetry)
      : pool_(options, telemetry) {}

  BackendHealth health() override {
    BackendHealth h;
    h.role = "database";
    h.kind = "postgresql";
    h.endpoint = pool_.endpoint();
    try {
      pool_.with_connection("postgres health", [&](pqxx::connection& c) {
        const auto t0 = std::chrono::steady_clock::now();
        pqxx::nontransaction nt(c);
        nt.exec("SELECT 1");
        h.round_trip = std::chrono::duration_cast<std::chrono::microseconds>(
            std::chrono::steady_clock::now() - t0);
        const int v = c.server_version();  // e.g. 150018
        h.server_version = std::to_string(v / 10000) + "." + std::to_string(v % 100);
      });
      h.ok = true;
    } catch (const Error& e) {
      h.ok = false;
      h.round_trip = {};
      h.error = e.what();
    }
    return h;
  }

  std::vector<MigrationInfo> migration_status() override { return migrator().status(); }
  std::vector<int> migrate_up(std::optional<int> max_steps) override {
    std::vector<int> applied = migrator().up(max_steps);
    if (!applied.empty()) {
      pool_.log().log(LogLevel::kInfo, "migrations", "applied migration(s) {} on {}",
                      fmt::join(applied, ", "), pool_.endpoint());
    }
    return applied;
  }
  std::vector<int> migrate_down(int steps) override {
    std::vector<int> reverted = migrator().down(steps);
    if (!reverted.empty()) {
      pool_.log().log(LogLevel::kWarn, "migrations", "reverted migration(s) {} on {}",
                      fmt::join(reverted, ", "), pool_.endpoint());
    }
    return reverted;
  }
  PgPool* pg_pool() override { return &pool_; }
  Stores& stores() override { return stores_; }

 private:
  Migrator migrator() { return Migrator(pool_, shipped_migrations()); }
  PgPool pool_;
  Stores stores_ = make_postgres_stores(pool_);
};

}  // namespace

std::unique_ptr<Database> make_memory_database() { return std::make_unique<MemoryDatabase>(); }

std::unique_ptr<Database> make_postgres_database(const PostgresOptions& options,
                                                 obs::Telemetry* telemetry) {
  return std::make_unique<PostgresDatabase>(options, telemetry);
}

}  // namespace examstore::db
