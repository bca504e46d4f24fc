#include "support/store_pair.hpp"

#include <utility>

namespace examstore::test {

StorePair::StorePair(bool postgres, std::chrono::milliseconds near_ttl, Redis redis)
    : postgres_(postgres) {
  if (postgres_) db_ = std::make_unique<TempDatabase>();
  config_.key_prefix = unique_name("sp");
  // Personal data is sealed on both pairs under one fixed test key (PostgreSQL refuses an email
  // without a key; the memory pair would otherwise use a random one).
  config_.security.personal_data.keys = {test_data_key("test1")};
  config_.security.personal_data.blind_index_key = std::string(32, 'b');
  config_.near_cache_ttl = near_ttl;
  config_.security.passwords.opslimit = 1;
  config_.security.passwords.memlimit = 8192;
  if (postgres_) {
    config_.with_redis_url(redis == Redis::kCluster ? cluster_url() : redis_url());
    // Migrated by the owner; the store under test runs as the least-privilege role.
    config_.with_database_url(db_->migrate_and_restrict());
  }
  store_ = Store::open(config_);
}

DataKey test_data_key(const std::string& id) {
  std::string key(32, '\0');
  for (std::size_t i = 0; i < key.size(); ++i) {
    key[i] = static_cast<char>(id[i % id.size()] + static_cast<char>(i));
  }
  return DataKey{id, key};
}

StorePair::~StorePair() { store_.reset(); }

std::string StorePair::query_value(const std::string& sql) const { return db_->query_value(sql); }
std::string StorePair::query_value_as(const std::string& user, const std::string& sql) const {
  return db_->query_value_as(user, sql);
}

std::unique_ptr<Store> StorePair::open_second(const std::function<void(Config&)>& adjust) const {
  Config c = config_;
  c.migrate_on_open = false;
  if (adjust) adjust(c);
  return Store::open(c);
}

Store& StorePair::reopen(const std::function<void(Config&)>& adjust) {
  store_.reset();
  adjust(config_);
  store_ = Store::open(config_);
  return *store_;
}

std::vector<std::string> StorePair::paper_keys(const PaperKey& p) const {
  const std::string base = config_.key_prefix + ":paper:{" + p.str() + "}:";
  return {base + "order", base + "items", base + "ver", base + "pos"};
}

QuestionId StorePair::question(QuestionType type, int difficulty,
                               std::vector<std::string> knowledge_points,
                               const std::string& subject, int options) {
  QuestionDraft d;
  d.type = type;
  d.stem = "question " + std::to_string(++made_);
  d.difficulty = difficulty;
  d.subject = subject;
  d.knowledge_points = std::move(knowledge_points);
  d.score = 1 + (made_ % 4) * 0.5;
  switch (type) {
    case QuestionType::kSingle:
    case QuestionType::kMultiple:
      for (int i = 0; i < options; ++i) d.options.push_back("option " + std::to_string(i));
      // the key depends on the question, so a shuffle that ignores it would show
      d.answer = type == QuestionType::kSingle
                     ? "\"" + std::string(1, static_cast<char>('A' + made_ % options)) + "\""
                     : "[\"A\",\"" +
                           std::string(1, static_cast<char>('A' + 1 + made_ % (options - 1))) +
                           "\"]";
      break;
    case QuestionType::kTrueFalse:
      d.answer = "true";
      break;
    default:
      d.answer = "\"text\"";
  }
  return store_->questions().create(d).id;
}

}  // namespace examstore::test
