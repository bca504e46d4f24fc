// tests/support/store_pair.hpp: a Store on one of the two backend pairs, for contract tests
// that must hold on both: MemoryPair (memory cache and database) and RedisPostgresPair (the test
// Redis with a key_prefix of its own and a fresh, migrated TempDatabase); ClusterPostgresPair is
// the server pair on the Redis Cluster (EXAMSTORE_TEST_CLUSTER_URL). The server pair needs
// EXAMSTORE_TEST_REDIS_URL and EXAMSTORE_TEST_DATABASE_URL. Passwords use the fastest Argon2id
// factors (opslimit 1, memlimit 8 KiB) so that tests creating users stay quick.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "examstore/config.hpp"
#include "examstore/store.hpp"
#include "support/test_env.hpp"

namespace examstore::test {

/// A fixed 32-byte data key named `id`, derived from the id (tests only). Every pair seals
/// personal data under test_data_key("test1") with a fixed blind-index key.
DataKey test_data_key(const std::string& id);

class StorePair {
 public:
  /// The hot tier of a server pair: the single Redis, or the Redis Cluster.
  enum class Redis { kSingle, kCluster };
  StorePair(bool postgres, std::chrono::milliseconds near_ttl, Redis redis = Redis::kSingle);
  ~StorePair();
  StorePair(const StorePair&) = delete;
  StorePair& operator=(const StorePair&) = delete;

  Store& store() { return *store_; }
  bool postgres() const { return postgres_; }
  const Config& config() const { return config_; }
  /// Runs one SQL statement on the pair's database (server pair only); see TempDatabase.
  std::string query_value(const std::string& sql) const;
  /// query_value() connected as `user` (server pair only).
  std::string query_value_as(const std::string& user, const std::string& sql) const;
  /// The URL of the pair's database (server pair only).
  std::string database_url() const { return db_->url(); }
  /// Another Store over the same servers (server pair only), its Config first changed by
  /// `adjust` when given.
  std::unique_ptr<Store> open_second(const std::function<void(Config&)>& adjust = {}) const;
  /// Closes the store and opens it again with the Config changed by `adjust` (for options a test
  /// needs, such as short session TTLs). The server pair keeps its data; the memory pair starts
  /// empty. Returns the new store.
  Store& reopen(const std::function<void(Config&)>& adjust);
  /// The hot-tier keys of a paper (order, items, ver, pos), as docs/papers.md lays them out.
  std::vector<std::string> paper_keys(const PaperKey& p) const;

  /// Creates a question; single/multiple get `options` options and the key "A" / ["A","B"]...
  QuestionId question(QuestionType type, int difficulty = 3,
                      std::vector<std::string> knowledge_points = {"math/algebra"},
                      const std::string& subject = "math", int options = 4);

 private:
  bool postgres_;
  std::unique_ptr<TempDatabase> db_;
  Config config_;
  std::unique_ptr<Store> store_;
  int made_ = 0;
};

struct MemoryPair : StorePair {
  explicit MemoryPair(std::chrono::milliseconds ttl = std::chrono::milliseconds(0))
      : StorePair(false, ttl) {}
};
struct RedisPostgresPair : StorePair {
  explicit RedisPostgresPair(std::chrono::milliseconds ttl = std::chrono::milliseconds(0))
      : StorePair(true, ttl) {}
};
/// The server pair with the shared Redis Cluster (EXAMSTORE_TEST_CLUSTER_URL) as its hot tier.
struct ClusterPostgresPair : StorePair {
  explicit ClusterPostgresPair(std::chrono::milliseconds ttl = std::chrono::milliseconds(0))
      : StorePair(true, ttl, Redis::kCluster) {}
};

}  // namespace examstore::test
