// examstore/store.hpp: the entry point. A Store opens the hot tier and the durable tier named by
// a Config, owns their pools, and hands out the repositories built on them.
//
//   auto store = examstore::Store::open(examstore::Config::from_env());
//   store->migrate_up();                       // a no-op on the in-memory database
//   for (auto& h : store->health()) std::cout << h.kind << " " << (h.ok ? "up" : "down") << "\n";
//
// Opening contacts no server unless config.migrate_on_open is set or the write-behind journal
// holds writes from an earlier run (they are re-queued at once): connections are made on first
// use, so a Store can be opened while a server is still starting. health() tells whether each
// backend is reachable. Destroying a Store drains the write-behind queue (drain_timeout).
//
// Thread-safety: a Store and everything it hands out may be used from any number of threads.
// Destroy it after every thread has stopped using it.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "examstore/access.hpp"
#include "examstore/accounts.hpp"
#include "examstore/attempts.hpp"
#include "examstore/audit.hpp"
#include "examstore/cache.hpp"
#include "examstore/config.hpp"
#include "examstore/exam_repo.hpp"
#include "examstore/grading.hpp"
#include "examstore/metrics.hpp"
#include "examstore/paper_store.hpp"
#include "examstore/personal_data.hpp"
#include "examstore/question_bank.hpp"
#include "examstore/student_repo.hpp"
#include "examstore/violation_repo.hpp"
#include "examstore/write_behind.hpp"

namespace examstore {

/// The state of one backend, as measured by one round trip.
struct BackendHealth {
  /// "cache" or "database".
  std::string role;
  /// "memory", "redis" or "postgresql".
  std::string kind;
  /// Where it is, without credentials ("127.0.0.1:6379/0", "postgres@127.0.0.1:5432/exams").
  std::string endpoint;
  /// True when the round trip succeeded.
  bool ok = false;
  /// The measured round trip (zero when !ok).
  std::chrono::microseconds round_trip{0};
  /// The server's version ("7.0.15", "15.18"), or "embedded" for memory backends.
  std::string server_version;
  /// Why it is down (empty when ok).
  std::string error;
};

/// One schema migration as the database sees it.
struct MigrationInfo {
  /// The migration's number (1, 2, ...): applied in ascending order.
  int version = 0;
  /// Its name ("core_tables").
  std::string name;
  /// Whether it is recorded as applied.
  bool applied = false;
  /// When it was applied (UTC, ISO 8601), empty when pending.
  std::string applied_at;
  /// True when it is applied but the shipped SQL no longer matches the recorded checksum.
  bool checksum_mismatch = false;
};

/// Opens and owns the backends named by a Config.
class Store {
 public:
  /// Opens the backends named by `config` (without connecting yet). Throws
  /// Error(kInvalidArgument) when the config is invalid.
  static std::unique_ptr<Store> open(const Config& config);

  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  ~Store();

  /// The configuration this store was opened with.
  const Config& config() const;
  /// The hot tier.
  Cache& cache();
  /// Exams and their configuration.
  ExamRepo& exams();
  /// Student profiles, enrollment and presence.
  StudentRepo& students();
  /// Violations and the event log.
  ViolationRepo& violations();
  /// The question bank.
  QuestionBank& questions();
  /// Papers (ordered question lists), their assembly and per-student variants.
  PaperStore& papers();
  /// Attempts, autosaved answers and final submissions.
  AttemptRepo& attempts();
  /// Classes, assignments, submissions, grading tasks with leases, results, statistics and
  /// rankings.
  GradingRepo& grading();

  // ---- accounts and security (see accounts.hpp, access.hpp, audit.hpp, personal_data.hpp) ----
  /// Users, passwords and the login log.
  AccountRepo& accounts();
  /// Sessions in the hot tier.
  SessionStore& sessions();
  /// The rules and the grants they consult.
  AccessControl& access();
  /// The hash-chained audit log.
  AuditLog& audit();
  /// Encrypted personal fields, key rotation, GDPR export, correction and erasure.
  PersonalData& personal_data();
  /// `who` acting through this store: every call decided by access(), every change audited.
  Actor act_as(Principal who);

  // ---- the write-behind queue ----
  /// Waits until every write queued before the call is committed (or dead-lettered).
  /// Throws kTimeout when `timeout` passes first.
  void flush(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  /// The queue's counters.
  WriteBehindMetrics write_behind_metrics();
  /// The folder of the write-behind journal this store holds: write_behind.journal_dir, or the
  /// slot it took under write_behind.journal_root (docs/write-behind.md). Empty without one.
  const std::string& journal_dir() const;
  /// Writes PostgreSQL rejected for good, oldest first.
  std::vector<DeadLetterInfo> dead_letters(int limit = 100);
  /// Queues a dead letter again (committed durability: returns once it is written, or throws
  /// and keeps it when it is rejected again). kNotFound when there is no such dead letter.
  void retry_dead_letter(std::int64_t id);
  /// Deletes a dead letter; false when there was none.
  bool drop_dead_letter(std::int64_t id);

  /// The counters of the repositories, caches, pools and write-behind queue (see metrics.hpp).
  /// Cheap (a few hundred relaxed loads and a short lock on each pool); never throws except
  /// std::bad_alloc; contacts no server.
  MetricsSnapshot metrics();

  /// One round trip to each backend (cache first, then database); never throws.
  std::vector<BackendHealth> health();

  // ---- schema migrations (PostgreSQL; the in-memory database needs none) ----
  /// Every migration shipped with this library, with whether it is applied. Throws
  /// kUnavailable when the database cannot be reached.
  std::vector<MigrationInfo> migration_status();
  /// Applies pending migrations in order, each in its own transaction, under an advisory lock
  /// (a concurrent migrate waits). Applies at most `max_steps` when given. Returns the versions
  /// applied. Throws kDataIntegrity, changing nothing, when an applied migration's checksum no
  /// longer matches or the database has a version this library does not know.
  std::vector<int> migrate_up(std::optional<int> max_steps = std::nullopt);
  /// Reverts the `steps` most recent migrations (default 1) with their down steps, newest first.
  /// Returns the versions reverted.
  std::vector<int> migrate_down(int steps = 1);

  // ---- database privileges (docs/security.md) ----
  /// The SQL that makes `role` a least-privilege application role: it may read and write the
  /// data (no DDL, no TRUNCATE), read but not write schema_migrations, and only append to the
  /// audit log (no UPDATE or DELETE of audit_log). Run it as the tables' owner after migrating.
  /// Throws kInvalidArgument naming the role unless it is 1..63 of [a-z0-9_], not starting with
  /// a digit or "pg_".
  static std::string application_role_sql(std::string_view role);
  /// Runs application_role_sql(role) on this store's database (connected as the owner) and sets
  /// the role's password when given. kInvalidArgument on the in-memory database.
  void apply_application_role(std::string_view role,
                              const std::optional<std::string>& password = std::nullopt);

 private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace examstore
