#include "db/pg_pool.hpp"

#include "common/conninfo.hpp"
#include "common/failover.hpp"
#include "db/pg_replicas.hpp"

#include <algorithm>
#include <exception>
#include <optional>
#include <random>
#include <thread>
#include <unordered_set>

namespace examstore::db {

struct PooledConnection {
  explicit PooledConnection(const std::string& conninfo) : conn(conninfo), quiet(conn) {}

  pqxx::connection conn;
  QuietNotices quiet;  // after conn: unregistered before the connection closes
  std::unordered_set<std::string> prepared;  // statement names prepared on conn
};

namespace {

// The connection of the innermost ConnectionScope of this thread.
thread_local PooledConnection* active_connection = nullptr;

bool starts_with(const std::string& s, std::string_view p) {
  return s.compare(0, p.size(), p) == 0;
}

// libpq wants whole seconds, at least 2.
long long connect_timeout_s(std::chrono::milliseconds ms) {
  return std::max<long long>(2, (ms.count() + 999) / 1000);
}

std::string with_connect_timeout(const PostgresOptions& o) {
  const std::string& c = o.conninfo;
  // parsed, not searched: "connect_timeout" may be part of a path (sslrootcert=...) or a name
  if (conninfo_sets(c, "connect_timeout")) return c;
  const std::string value = std::to_string(connect_timeout_s(o.connect_timeout));
  if (c.find("://") == std::string::npos) return c + " connect_timeout=" + value;
  return c + (c.find('?') == std::string::npos ? "?" : "&") + "connect_timeout=" + value;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

ErrorCode code_for_sqlstate(const std::string& state) {
  if (state == "57014") return ErrorCode::kTimeout;  // statement_timeout / cancel
  if (starts_with(state, "23")) return ErrorCode::kConflict;
  if (starts_with(state, "22")) return ErrorCode::kInvalidArgument;
  if (starts_with(state, "08") || starts_with(state, "57P")) return ErrorCode::kUnavailable;
  // read_only_sql_transaction: a standby (the old primary, or a host picked without
  // target_session_attrs=read-write); a connection to the primary may succeed
  if (state == "25006") return ErrorCode::kUnavailable;
  if (starts_with(state, "40")) return ErrorCode::kConflict;
  if (starts_with(state, "53")) return ErrorCode::kResourceExhausted;
  if (state == "42501") return ErrorCode::kPermissionDenied;  // insufficient_privilege
  if (starts_with(state, "42")) return ErrorCode::kInternal;  // our SQL is wrong: a bug
  return ErrorCode::kInternal;
}

bool retryable_sqlstate(const std::string& state) {
  return state == "40001" || state == "40P01" || starts_with(state, "08") || state == "57P01" ||
         state == "25006";
}

void backoff(int attempt) {
  static thread_local std::minstd_rand rng(std::random_device{}());
  const int base_ms = std::min(500, 10 << std::min(attempt, 6));
  std::uniform_int_distribution<int> jitter(base_ms / 2, base_ms);
  std::this_thread::sleep_for(std::chrono::milliseconds(jitter(rng)));
}

}  // namespace

void rethrow_as_error(const std::string& operation, const std::string& backend) {
  try {
    throw;
  } catch (const Error&) {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    throw Error(ErrorCode::kUnavailable, operation,
                "connection lost during COMMIT; the transaction may or may not have been applied",
                backend, /*outcome_unknown=*/true);
  } catch (const pqxx::broken_connection& e) {
    const std::string why = trim(e.what());
    const bool timed_out = why.find("timeout expired") != std::string::npos;
    throw Error(timed_out ? ErrorCode::kTimeout : ErrorCode::kUnavailable, operation,
                why.empty() ? "connection lost" : why, backend);
  } catch (const pqxx::insufficient_privilege& e) {
    // The connected role lacks a privilege: a deployment problem, not a bug (docs/security.md).
    throw Error(
        ErrorCode::kPermissionDenied, operation,
        trim(e.what()) + " (the database role lacks this privilege: see examstore db roles)",
        backend);
  } catch (const pqxx::transaction_rollback& e) {
    // Before sql_error: libpqxx 7 derives transaction_rollback from it, 6.4 does not.
    throw Error(ErrorCode::kConflict, operation, trim(e.what()), backend);
  } catch (const pqxx::sql_error& e) {
    throw Error(code_for_sqlstate(e.sqlstate()), operation,
                trim(e.what()) + " [SQLSTATE " + e.sqlstate() + "]", backend);
  } catch (const pqxx::conversion_error& e) {
    throw Error(ErrorCode::kDataIntegrity, operation, trim(e.what()), backend);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::kInternal, operation, trim(e.what()), backend);
  }
}

PgPool::Lease::Lease(PgPool* pool, std::unique_ptr<PooledConnection> conn)
    : pool_(pool), conn_(std::move(conn)) {}
PgPool::Lease::Lease(Lease&& o) noexcept
    : pool_(o.pool_), conn_(std::move(o.conn_)), discard_(o.discard_) {}
PgPool::Lease::~Lease() {
  if (conn_) pool_->release(std::move(conn_), discard_);
}
pqxx::connection& PgPool::Lease::conn() { return conn_->conn; }

ConnectionScope::ConnectionScope(PgPool::Lease& lease) : previous_(active_connection) {
  active_connection = lease.conn_.get();
}
ConnectionScope::~ConnectionScope() { active_connection = previous_; }

bool prepare_once(TxConnection& conn, const std::string& name, const std::string& sql) {
  PooledConnection* const pooled = active_connection;
  if (pooled == nullptr || &pooled->conn != &conn) return false;
  if (pooled->prepared.count(name) == 0) {
    conn.prepare(name, sql);  // libpqxx 7 prepares on the server here; 6.4 records it
    pooled->prepared.insert(name);
  }
  return true;
}

PgPool::PgPool(PostgresOptions options, obs::Telemetry* telemetry)
    : options_(std::move(options)),
      endpoint_(options_.redacted()),
      conninfo_(with_connect_timeout(options_)),
      counters_(telemetry ? &telemetry->postgres : nullptr),
      log_(telemetry ? telemetry->log : obs::Logger::silent()),
      replicas_(options_.replicas.empty()
                    ? nullptr
                    : std::make_unique<ReplicaSet>(options_, *this, telemetry)) {}

PgPool::~PgPool() = default;

std::unique_ptr<PooledConnection> PgPool::connect() {
  try {
    auto c = std::make_unique<PooledConnection>(conninfo_);
    if (options_.statement_timeout.count() > 0) {
      pqxx::nontransaction nt(c->conn);
      nt.exec("SET statement_timeout = " + std::to_string(options_.statement_timeout.count()));
    }
    count(&obs::PoolCounters::connects);
    log_.log(LogLevel::kDebug, "postgres", "connected to {}", endpoint_);
    return c;
  } catch (...) {
    count(&obs::PoolCounters::errors);
    try {
      rethrow_as_error("postgres connect", endpoint_);
    } catch (const Error& e) {
      // libpq names the sslkey file in its messages ("could not open private key file ...")
      const Error masked(e.code(), e.operation(),
                         mask_conninfo_secrets(e.message(), options_.conninfo), e.backend(),
                         e.outcome_unknown());
      log_.log(LogLevel::kWarn, "postgres", "cannot connect to {}: {}", endpoint_,
               masked.message());
      throw masked;
    }
  }
}

PgPool::Lease PgPool::acquire() {
  std::unique_lock<std::mutex> l(mu_);
  const auto deadline = std::chrono::steady_clock::now() + options_.pool_wait_timeout;
  bool waited = false;
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<PooledConnection> c = std::move(idle_.back());
      idle_.pop_back();
      if (c->conn.is_open()) {
        publish_locked();
        return Lease(this, std::move(c));
      }
      --open_;
      ++discarded_;
    }
    if (open_ < options_.pool_size) {
      ++open_;
      publish_locked();
      l.unlock();
      try {
        auto c = connect();
        l.lock();
        ++created_;
        return Lease(this, std::move(c));
      } catch (...) {
        if (!l.owns_lock()) l.lock();
        --open_;
        publish_locked();
        freed_.notify_one();
        throw;
      }
    }
    if (!waited) count(&obs::PoolCounters::waits);
    waited = true;
    if (freed_.wait_until(l, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= options_.pool_size) {
      count(&obs::PoolCounters::wait_timeouts);
      throw Error(ErrorCode::kResourceExhausted, "postgres pool",
                  "no free connection within " +
                      std::to_string(options_.pool_wait_timeout.count()) + " ms (pool_size " +
                      std::to_string(options_.pool_size) + ")",
                  endpoint_);
    }
  }
}

void PgPool::release(std::unique_ptr<PooledConnection> conn, bool discard) {
  std::lock_guard<std::mutex> l(mu_);
  if (discard || !conn->conn.is_open()) {
    --open_;
    ++discarded_;
    conn.reset();
  } else {
    idle_.push_back(std::move(conn));
  }
  publish_locked();
  freed_.notify_one();
}

PgPoolStats PgPool::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return PgPoolStats{open_, static_cast<int>(idle_.size()), created_, discarded_,
                     retries_.load(std::memory_order_relaxed)};
}

template <typename Tx, bool kWrites, typename Body>
void PgPool::transact_impl(const std::string& operation, const Body& body) {
  // A statement timeout is kTimeout too, but no failover: it is thrown at once.
  std::optional<Error> not_a_failover;
  // Reads may be repeated even when their outcome is unknown; a write whose COMMIT was in
  // flight may not (see the retry rule in pg_pool.hpp).
  failover::ride_through(options_.failover_wait, nullptr, &retries_, /*idempotent=*/!kWrites, [&] {
    bool statement_timeout = false;
    try {
      transact_once<Tx, kWrites>(operation, body, statement_timeout);
    } catch (const Error& e) {
      if (!statement_timeout) throw;
      not_a_failover = e;
    }
  });
  if (not_a_failover) throw *not_a_failover;
}

template <typename Tx, bool kWrites, typename Body>
void PgPool::transact_once(const std::string& operation, const Body& body,
                           bool& statement_timeout) {
  for (int attempt = 1;; ++attempt) {
    std::exception_ptr failure;  // a failure that is safe to retry
    {
      Lease lease = acquire();
      const ConnectionScope scope(lease);
      count(&obs::PoolCounters::commands);
      obs::Timer timer(counters_);
      try {
        {
          Tx tx(lease.conn());
          body(tx);
          tx.commit();
        }
        if (kWrites && replicas_) replicas_->note_commit(lease.conn());
        timer.done();
        return;
      } catch (const Error&) {
        count(&obs::PoolCounters::errors);
        throw;
      } catch (const pqxx::in_doubt_error&) {
        lease.discard();
        count(&obs::PoolCounters::errors);
        log_.log(LogLevel::kError, "postgres",
                 "{}: connection to {} lost during COMMIT; the outcome is unknown and is not "
                 "retried",
                 operation, endpoint_);
        rethrow_as_error(operation, endpoint_);  // never retried: the outcome is unknown
      } catch (const pqxx::broken_connection&) {
        lease.discard();
        failure = std::current_exception();
      } catch (const pqxx::serialization_failure&) {
        failure = std::current_exception();
      } catch (const pqxx::deadlock_detected&) {
        failure = std::current_exception();
      } catch (const pqxx::transaction_rollback&) {
        // Before sql_error (libpqxx 7 derives it from sql_error): the other rollbacks, such as
        // statement_completion_unknown, are not known to be safe to repeat.
        count(&obs::PoolCounters::errors);
        rethrow_as_error(operation, endpoint_);
      } catch (const pqxx::sql_error& e) {
        if (!retryable_sqlstate(e.sqlstate())) {
          count(&obs::PoolCounters::errors);
          statement_timeout = e.sqlstate() == "57014";
          rethrow_as_error(operation, endpoint_);
        }
        // 08xxx / 57P01: the session is gone or going; 25006: the server is (now) a standby,
        // and a fresh connection lets libpq find the primary (target_session_attrs)
        lease.discard();
        failure = std::current_exception();
      } catch (const std::exception& e) {
        if (!is_libpqxx_error(e)) throw;
        count(&obs::PoolCounters::errors);
        rethrow_as_error(operation, endpoint_);
      }
      // Any other exception is the caller's own: it propagates unchanged (the tx rolled back).
      // Here the attempt failed in a way that is safe to retry.
      count(&obs::PoolCounters::errors);
      timer.done();
    }
    if (attempt >= options_.max_attempts) {
      try {
        std::rethrow_exception(failure);
      } catch (...) {
        rethrow_as_error(operation + " (after " + std::to_string(attempt) + " attempts)",
                         endpoint_);
      }
    }
    retries_.fetch_add(1, std::memory_order_relaxed);
    if (log_.enabled(LogLevel::kWarn)) {
      std::string why = "unknown error";
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        why = e.what();
      } catch (...) {
      }
      log_.log(LogLevel::kWarn, "postgres", "{} on {}: attempt {} of {} failed ({}); retrying",
               operation, endpoint_, attempt, options_.max_attempts, why);
    }
    backoff(attempt);
  }
}

void PgPool::transact(const std::string& operation, const std::function<void(pqxx::work&)>& body) {
  transact_impl<pqxx::work, true>(operation, body);
}

void PgPool::read_lag_tolerant(const std::string& operation,
                               const std::function<void(pqxx::work&)>& body) {
  if (replicas_ && replicas_->try_read(operation, body)) return;
  transact_impl<pqxx::work, false>(operation, body);
}

void PgPool::transact_serializable(
    const std::string& operation,
    const std::function<void(pqxx::transaction<pqxx::serializable>&)>& body) {
  transact_impl<pqxx::transaction<pqxx::serializable>, true>(operation, body);
}

void PgPool::read(const std::string& operation,
                  const std::function<void(pqxx::nontransaction&)>& body) {
  transact_impl<pqxx::nontransaction, false>(operation, body);
}

void PgPool::with_connection(const std::string& operation,
                             const std::function<void(pqxx::connection&)>& body) {
  Lease lease = acquire();
  const ConnectionScope scope(lease);
  count(&obs::PoolCounters::commands);
  // Session-level work may write without a transaction the pool sees commit: once it is done
  // (or failed), the next replica read asks the primary how far its WAL is.
  struct MarkStale {
    ReplicaSet* replicas;
    ~MarkStale() {
      if (replicas) replicas->note_unknown_write();
    }
  } mark_stale{replicas_.get()};
  try {
    body(lease.conn());
  } catch (const Error&) {
    count(&obs::PoolCounters::errors);
    throw;
  } catch (const pqxx::broken_connection&) {
    lease.discard();
    count(&obs::PoolCounters::errors);
    log_.log(LogLevel::kWarn, "postgres", "{}: connection to {} lost", operation, endpoint_);
    rethrow_as_error(operation, endpoint_);
  } catch (const std::exception& e) {
    if (!is_libpqxx_error(e)) throw;
    if (!lease.conn().is_open()) lease.discard();
    count(&obs::PoolCounters::errors);
    rethrow_as_error(operation, endpoint_);
  }
}

}  // namespace examstore::db
