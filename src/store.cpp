#include "examstore/store.hpp"

#include "cache/redis/redis_cache.hpp"
#include "common/config_check.hpp"
#include "db/database.hpp"
#include "db/pg_pool.hpp"
#include "db/roles.hpp"
#include "grading/grading_repo.hpp"
#include "obs/telemetry.hpp"
#include "repo/context.hpp"
#include "security/crypto.hpp"
#include "write_behind/queue.hpp"

namespace examstore {

// Members are destroyed in reverse order: the repositories first, then the queue (which drains
// into the stores), then the stores, the database and the cache they use; the telemetry they
// all count into goes last.
struct Store::Impl {
  Config config;
  std::unique_ptr<obs::Telemetry> telemetry;
  std::unique_ptr<Cache> cache;
  std::unique_ptr<db::Database> database;
  std::unique_ptr<wb::Sink> sink;
  std::unique_ptr<wb::WriteBehindQueue> queue;
  std::unique_ptr<repo::SeatMaps> seats;
  std::unique_ptr<keys::KeySchema> keys;
  std::unique_ptr<crypto::Keyring> personal_keys;
  std::unique_ptr<repo::CacheAside> cache_aside;
  std::unique_ptr<repo::Context> context;
  std::unique_ptr<ExamRepo> exams;
  std::unique_ptr<StudentRepo> students;
  std::unique_ptr<ViolationRepo> violations;
  std::unique_ptr<QuestionBank> questions;
  std::unique_ptr<PaperStore> papers;
  std::unique_ptr<AttemptRepo> attempts;
  std::unique_ptr<GradingRepo> grading;
  std::unique_ptr<AuditLog> audit;
  std::unique_ptr<SessionStore> sessions;
  std::unique_ptr<AccountRepo> accounts;
  std::unique_ptr<AccessControl> access;
  std::unique_ptr<PersonalData> personal_data;
};

std::unique_ptr<Store> Store::open(const Config& config) {
  validate(config);
  auto impl = std::make_unique<Impl>();
  Impl& i = *impl;
  i.config = config;
  i.telemetry = std::make_unique<obs::Telemetry>(config);
  i.cache = config.cache_backend == BackendKind::kRedis
                ? redis::make_redis_cache(config.redis, i.telemetry.get())
                : make_memory_cache();
  i.database = config.database_backend == BackendKind::kPostgres
                   ? db::make_postgres_database(config.postgres, i.telemetry.get())
                   : db::make_memory_database();
  if (config.migrate_on_open) i.database->migrate_up(std::nullopt);
  db::Stores& stores = i.database->stores();
  i.sink = wb::make_store_sink(stores);
  // Without a journal_dir, a Store on PostgreSQL takes a journal slot of its own database and key
  // prefix (write_behind/journal_slots.hpp); the in-memory database has nothing to replay into.
  const wb::JournalPlacement placement{
      wb::journal_identity(config),
      config.database_backend == BackendKind::kPostgres && config.write_behind.auto_journal};
  i.queue = std::make_unique<wb::WriteBehindQueue>(config.write_behind, *i.sink, &i.telemetry->log,
                                                   placement);
  i.seats = std::make_unique<repo::SeatMaps>(*stores.students);
  i.keys =
      std::make_unique<keys::KeySchema>(config.key_prefix.empty() ? "" : config.key_prefix + ":");
  i.cache_aside =
      std::make_unique<repo::CacheAside>(*i.cache, i.keys->invalidation_channel(), config.cache_ttl,
                                         config.cache_ttl_jitter, config.negative_ttl);
  // Nothing is at rest in the in-memory database: a random key serves when none is configured.
  i.personal_keys = std::make_unique<crypto::Keyring>(
      config.security.personal_data, config.database_backend == BackendKind::kMemory);
  i.context = std::make_unique<repo::Context>(
      repo::Context{*i.cache, stores, *i.queue, i.config, *i.cache_aside, *i.seats, *i.keys,
                    i.database->pg_pool(), i.telemetry.get(), i.personal_keys.get()});
  i.exams = repo::make_exam_repo(*i.context);
  i.students = repo::make_student_repo(*i.context);
  i.violations = repo::make_violation_repo(*i.context);
  i.questions = repo::make_question_bank(*i.context);
  i.papers = repo::make_paper_store(*i.context, *i.questions);
  i.attempts = repo::make_attempt_repo(*i.context, *i.papers);
  i.grading = repo::make_grading_repo(*i.context, *i.papers);
  i.audit = repo::make_audit_log(*i.context);
  auto accounts = repo::make_account_services(*i.context, *i.audit);
  i.sessions = std::move(accounts.sessions);
  i.accounts = std::move(accounts.accounts);
  i.access = repo::make_access_control(*i.context, *i.audit, *i.questions);
  i.personal_data = repo::make_personal_data(*i.context, *i.audit, *i.accounts, *i.sessions);
  return std::unique_ptr<Store>(new Store(std::move(impl)));
}

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

const Config& Store::config() const { return impl_->config; }
Cache& Store::cache() { return *impl_->cache; }
ExamRepo& Store::exams() { return *impl_->exams; }
StudentRepo& Store::students() { return *impl_->students; }
ViolationRepo& Store::violations() { return *impl_->violations; }
QuestionBank& Store::questions() { return *impl_->questions; }
PaperStore& Store::papers() { return *impl_->papers; }
AttemptRepo& Store::attempts() { return *impl_->attempts; }
GradingRepo& Store::grading() { return *impl_->grading; }
AccountRepo& Store::accounts() { return *impl_->accounts; }
SessionStore& Store::sessions() { return *impl_->sessions; }
AccessControl& Store::access() { return *impl_->access; }
AuditLog& Store::audit() { return *impl_->audit; }
PersonalData& Store::personal_data() { return *impl_->personal_data; }
Actor Store::act_as(Principal who) { return Actor(*this, std::move(who)); }

std::vector<BackendHealth> Store::health() {
  return {impl_->cache->health(), impl_->database->health()};
}

std::vector<MigrationInfo> Store::migration_status() { return impl_->database->migration_status(); }
std::vector<int> Store::migrate_up(std::optional<int> max_steps) {
  return impl_->database->migrate_up(max_steps);
}
std::vector<int> Store::migrate_down(int steps) { return impl_->database->migrate_down(steps); }

std::string Store::application_role_sql(std::string_view role) {
  return db::application_role_sql(role);
}
void Store::apply_application_role(std::string_view role,
                                   const std::optional<std::string>& password) {
  db::PgPool* pool = impl_->database->pg_pool();
  if (pool == nullptr) {
    throw Error(ErrorCode::kInvalidArgument, "db roles",
                "database_url is memory://: database roles need PostgreSQL");
  }
  db::apply_application_role(*pool, role, password);
}

void Store::flush(std::chrono::milliseconds timeout) { impl_->queue->flush(timeout); }
WriteBehindMetrics Store::write_behind_metrics() { return impl_->queue->metrics(); }
const std::string& Store::journal_dir() const { return impl_->queue->journal_dir(); }

MetricsSnapshot Store::metrics() {
  MetricsSnapshot m;
  m.cache_aside = repo::snapshot(impl_->cache_aside->stats());

  const obs::Telemetry& t = *impl_->telemetry;
  m.paper_near_cache = t.paper_near_cache.snapshot();
  m.exam_near_cache = t.exam_near_cache.snapshot();
  if (impl_->config.cache_backend == BackendKind::kRedis) {
    m.redis = t.redis.snapshot();
    m.redis.enabled = true;
    m.redis.endpoint = impl_->config.redis.redacted();
    m.redis.max_size = impl_->config.redis.pool_size;
  }
  if (db::PgPool* pool = impl_->database->pg_pool()) {
    m.postgres = t.postgres.snapshot();
    m.postgres.enabled = true;
    m.postgres.endpoint = pool->endpoint();
    m.postgres.max_size = pool->options().pool_size;
    m.postgres.retries = pool->stats().retries;
  }
  if (db::PgPool* pool = impl_->database->pg_pool(); pool && !pool->options().replicas.empty()) {
    m.postgres_replicas = t.postgres_replicas.snapshot();
    m.postgres_replicas.enabled = true;
    m.postgres_replicas.replicas = static_cast<std::int64_t>(pool->options().replicas.size());
  }
  m.grading = grading::metrics_of(*impl_->grading);
  m.write_behind = impl_->queue->metrics();
  m.hot_repairs = t.hot_repairs.snapshot();
  m.log_sink_errors = t.log.sink_errors();
  return m;
}

std::vector<DeadLetterInfo> Store::dead_letters(int limit) {
  std::vector<DeadLetterInfo> out;
  for (auto& d : impl_->database->stores().dead_letters->list(std::nullopt, limit)) {
    out.push_back(DeadLetterInfo{d.id, std::move(d.queue), std::move(d.payload), std::move(d.error),
                                 std::move(d.sqlstate), d.attempts, d.failed_at});
  }
  return out;
}

void Store::retry_dead_letter(std::int64_t id) {
  auto& dead = *impl_->database->stores().dead_letters;
  auto letter = dead.take(id);
  if (!letter) {
    throw Error(ErrorCode::kNotFound, "deadletter retry", "no dead letter " + std::to_string(id));
  }
  try {
    impl_->queue->enqueue({wb::decode(letter->payload)}, Durability::kCommitted);
  } catch (const Error& e) {
    // Rejected again: the queue has stored it as a new dead letter with the new error.
    if (!e.retryable() && !e.outcome_unknown()) throw;
    // Not accepted, or the outcome is unknown: keep it. If it was written after all, retrying
    // it again is harmless (writes are idempotent).
    dead.add(letter->queue, letter->payload, letter->error, letter->sqlstate);
    throw;
  }
}

bool Store::drop_dead_letter(std::int64_t id) {
  return impl_->database->stores().dead_letters->drop(id);
}

}  // namespace examstore
