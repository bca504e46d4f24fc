#include "examstore/store.hpp"

#include "cache/redis/redis_cache.hpp"
#include "common/config_check.hpp"
#include "db/database.hpp"

namespace examstore {

struct Store::Impl {
  Config config;
  std::unique_ptr<Cache> cache;
  std::unique_ptr<db::Database> database;
};

std::unique_ptr<Store> Store::open(const Config& config) {
  validate(config);
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  impl->cache = config.cache_backend == BackendKind::kRedis ? redis::make_redis_cache(config.redis)
                                                            : make_memory_cache();
  impl->database = config.database_backend == BackendKind::kPostgres
                       ? db::make_postgres_database(config.postgres)
                       : db::make_memory_database();
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

const Config& Store::config() const { return impl_->config; }
Cache& Store::cache() { return *impl_->cache; }

std::vector<BackendHealth> Store::health() {
  return {impl_->cache->health(), impl_->database->health()};
}

std::vector<MigrationInfo> Store::migration_status() { return impl_->database->migration_status(); }
std::vector<int> Store::migrate_up(std::optional<int> max_steps) {
  return impl_->database->migrate_up(max_steps);
}
std::vector<int> Store::migrate_down(int steps) { return impl_->database->migrate_down(steps); }

}  // namespace examstore
