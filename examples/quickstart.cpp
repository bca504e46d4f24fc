// quickstart: open a store, write and read through the cache, show each backend's health.
//
// Runs on the embedded in-memory backends by default; set EXAMSTORE_REDIS_URL and/or
// EXAMSTORE_DATABASE_URL to run the same code on real servers.
#include <chrono>
#include <iostream>

#include "examstore/examstore.hpp"

int main() {
  try {
    auto store = examstore::Store::open(examstore::Config::from_env());
    std::cout << "examstore " << examstore::version() << " quickstart\n\n";

    if (store->config().database_backend == examstore::BackendKind::kPostgres) {
      const auto applied = store->migrate_up();
      std::cout << "schema: " << applied.size() << " migration(s) applied\n";
    }

    // Keys of one exam share the hash tag {e:42}, so they stay together on Redis Cluster.
    examstore::Cache& cache = store->cache();
    const std::string config_key = "exam:{e:42}:config";
    cache.set(config_key, R"({"name":"Algebra final","duration_min":90})",
              std::chrono::minutes(10));
    std::cout << "cached exam config: " << cache.get(config_key).value_or("(missing)") << "\n";

    // Presence: one sorted set per exam, scored by the last heartbeat.
    const std::string online_key = "exam:{e:42}:online";
    const double now = 1'700'000'000;
    cache.zadd(online_key, {{"student-1", now}, {"student-2", now - 5}, {"student-3", now - 90}});
    std::cout << "students seen in the last 60 s: " << cache.zcount(online_key, now - 60, now)
              << " of " << cache.zcard(online_key) << "\n";

    // Counters, pipelined: several commands in one round trip.
    examstore::Batch batch;
    batch.incr_by("exam:{e:42}:violations:tab_switch", 1)
        .incr_by("exam:{e:42}:violations:total", 1);
    const auto replies = cache.execute_atomic(batch);
    std::cout << "violations recorded: " << replies.back().integer << "\n\n";

    bool all_ok = true;
    for (const auto& h : store->health()) {
      all_ok = all_ok && h.ok;
      std::cout << h.role << ": " << h.kind << " " << (h.ok ? "up" : "DOWN") << " (" << h.endpoint
                << ", version " << h.server_version << ", round trip " << h.round_trip.count()
                << " us)" << (h.ok ? "" : " " + h.error) << "\n";
    }
    cache.del({config_key, online_key, "exam:{e:42}:violations:tab_switch",
               "exam:{e:42}:violations:total"});
    return all_ok ? 0 : 1;
  } catch (const examstore::Error& e) {
    std::cerr << "quickstart: " << e.what() << (e.retryable() ? " (retryable)" : "") << "\n";
    return 1;
  }
}
