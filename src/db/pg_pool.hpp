// db/pg_pool.hpp: the PostgreSQL connection pool and the transaction retry rule.
//
// libpqxx has no pool and a connection is not thread-safe, so the pool hands each caller a
// connection of its own for the length of one transaction. Connections are made lazily, checked
// on checkout (a closed one is replaced), and dropped after any broken_connection. Each keeps
// the names of the statements prepared on it (exec_prepared in db/pq.hpp): a statement is
// prepared once per connection, and again on the fresh connection that replaces a broken one.
//
// The retry rule (transact):
//   - the transaction body may run more than once, so it must not have effects outside the
//     database that cannot be repeated;
//   - retried, up to max_attempts with jittered exponential backoff: connection lost before
//     COMMIT was sent (nothing was applied; a fresh connection is made), serialization
//     failure (40001), deadlock (40P01), a server that refuses writes (25006: it is, or has
//     become, a standby; the connection is dropped so that libpq picks the primary again);
//   - ridden through a failover (PostgresOptions::failover_wait, by failover::ride_through, the one
//     failover mechanism of both tiers): a transaction that still fails with kUnavailable or
//     kTimeout after those attempts, or cannot connect at all, is tried again (waits of 10 to
//     200 ms) until failover_wait has passed since the call began; a statement timeout (57014)
//     is not a failover and is thrown at once. failover_wait 0: the first such error is thrown;
//   - never retried: a connection lost during COMMIT (libpqxx's in_doubt_error): the outcome is
//     unknown, so it surfaces as Error(kUnavailable) with outcome_unknown() set (reads, whose
//     outcome does not matter, are ridden through even then);
//   - SQL errors are translated by SQLSTATE class: 23 (constraint) -> kConflict,
//     22 (data) -> kInvalidArgument, 08, 57P and 25006 (connection, shutdown, read-only) ->
//     kUnavailable, 57014 (statement timeout) -> kTimeout, 40 (after the last attempt) ->
//     kConflict, 53 (out of resources) -> kResourceExhausted, anything else -> kInternal.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <pqxx/pqxx>

#include "db/pq.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "obs/telemetry.hpp"

namespace examstore::db {

/// Translates a libpqxx/std exception (the current one, or `e`) into examstore::Error.
/// `operation` names what was being done.
[[noreturn]] void rethrow_as_error(const std::string& operation, const std::string& backend);

/// Pool statistics for tests and metrics.
struct PgPoolStats {
  int open = 0;             ///< connections currently open (idle + leased)
  int idle = 0;             ///< connections waiting in the pool
  long long created = 0;    ///< connections made since start
  long long discarded = 0;  ///< connections dropped as broken
  long long retries = 0;    ///< transaction attempts repeated (retry rule and failover_wait)
};

/// A pooled connection: libpqxx's connection, a handler that keeps server notices off stderr
/// (library code never writes to the terminal), and the statements prepared on it.
struct PooledConnection;

class ReplicaSet;

class PgPool {
 public:
  /// Counts into and logs through `telemetry` (nullptr: neither).
  explicit PgPool(PostgresOptions options, obs::Telemetry* telemetry = nullptr);
  ~PgPool();
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  /// A connection leased from the pool; returns to the pool when destroyed unless discarded.
  class Lease {
   public:
    Lease(Lease&&) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    pqxx::connection& conn();
    /// Drops the connection instead of returning it (after it broke or its state is unknown).
    void discard() { discard_ = true; }

   private:
    friend class PgPool;
    friend class ConnectionScope;
    Lease(PgPool* pool, std::unique_ptr<PooledConnection> conn);
    PgPool* pool_;
    std::unique_ptr<PooledConnection> conn_;
    bool discard_ = false;
  };

  /// Leases a connection, connecting if needed. Throws kResourceExhausted when none is free
  /// within pool_wait_timeout, kUnavailable when the server cannot be reached.
  Lease acquire();

  /// Runs `body` in a read-write transaction (READ COMMITTED unless `serializable`) and commits,
  /// applying the retry rule above. `operation` names the work in errors ("migrate up").
  void transact(const std::string& operation, const std::function<void(pqxx::work&)>& body);
  void transact_serializable(
      const std::string& operation,
      const std::function<void(pqxx::transaction<pqxx::serializable>&)>& body);

  /// Runs `body` outside any transaction block (autocommit): for reads of one statement, which
  /// see one snapshot anyway, this saves the BEGIN and COMMIT round trips. Retried like
  /// transact on a lost connection (a read is safe to repeat). Prepare the statement with
  /// prepared() so that it is parsed and planned once per connection.
  void read(const std::string& operation, const std::function<void(pqxx::nontransaction&)>& body);

  /// Runs `body`, a read that tolerates replication lag, in a transaction on a read replica
  /// that has replayed this process's latest committed write (db/pg_replicas.hpp), else on the
  /// primary like transact (the body may run twice: it must start from scratch). Without
  /// replicas, exactly transact.
  void read_lag_tolerant(const std::string& operation,
                         const std::function<void(pqxx::work&)>& body);

  /// Runs `body` on a leased connection outside any transaction (for session-level work such as
  /// advisory locks), translating errors; no retry.
  void with_connection(const std::string& operation,
                       const std::function<void(pqxx::connection&)>& body);

  /// "user@host:port/db" for messages.
  const std::string& endpoint() const { return endpoint_; }
  const PostgresOptions& options() const { return options_; }
  PgPoolStats stats() const;
  /// The logger given at construction (silent without one).
  const obs::Logger& log() const { return log_; }

 private:
  // kWrites: the transaction may write, so read-your-writes records the WAL position after it.
  template <typename Tx, bool kWrites, typename Body>
  void transact_impl(const std::string& operation, const Body& body);
  // One call of the retry rule without failover_wait; sets `statement_timeout` when it throws
  // because of one.
  template <typename Tx, bool kWrites, typename Body>
  void transact_once(const std::string& operation, const Body& body, bool& statement_timeout);
  std::unique_ptr<PooledConnection> connect();
  void release(std::unique_ptr<PooledConnection> conn, bool discard);
  void count(std::atomic<std::int64_t> obs::PoolCounters::*counter) {
    if (counters_) counters_->add(counters_->*counter);
  }
  void publish_locked() {
    if (counters_) counters_->publish(open_, static_cast<std::int64_t>(idle_.size()));
  }

  const PostgresOptions options_;
  const std::string endpoint_;
  const std::string conninfo_;  // options_.conninfo plus connect_timeout
  obs::PoolCounters* const counters_;
  const obs::Logger& log_;

  mutable std::mutex mu_;  // guards idle_, open_, created_ and discarded_
  std::condition_variable freed_;
  std::vector<std::unique_ptr<PooledConnection>> idle_;
  int open_ = 0;
  long long created_ = 0;
  long long discarded_ = 0;
  std::atomic<std::int64_t> retries_{0};

  std::unique_ptr<ReplicaSet> replicas_;  // null without replicas; last: it uses this pool
};

/// Marks a lease's connection as the one the running thread executes statements on, for as
/// long as it lives, so that exec_prepared (db/pq.hpp) prepares each statement once on it.
/// Scopes nest (the inner one wins until it ends); one thread.
class ConnectionScope {
 public:
  explicit ConnectionScope(PgPool::Lease& lease);
  ~ConnectionScope();
  ConnectionScope(const ConnectionScope&) = delete;
  ConnectionScope& operator=(const ConnectionScope&) = delete;

 private:
  PooledConnection* previous_;
};

}  // namespace examstore::db
