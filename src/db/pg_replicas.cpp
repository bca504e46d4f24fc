#include "db/pg_replicas.hpp"

#include <algorithm>
#include <charconv>
#include <thread>

#include "db/pg_pool.hpp"

namespace examstore::db {

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// The first column of the first row as an LSN; nullopt when NULL (not a standby / no WAL).
std::optional<std::uint64_t> lsn_of(const pqxx::result& r) {
  if (r.empty() || r[0][0].is_null()) return std::nullopt;
  const auto lsn = parse_lsn(r[0][0].c_str());
  if (!lsn)
    throw std::runtime_error(std::string("unreadable WAL position '") + r[0][0].c_str() + "'");
  return lsn;
}

constexpr const char* kPrimaryPosition = "SELECT pg_current_wal_insert_lsn()";

}  // namespace

std::optional<std::uint64_t> parse_lsn(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size()) {
    return std::nullopt;
  }
  auto half = [](std::string_view s) -> std::optional<std::uint32_t> {
    std::uint32_t v = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
    if (ec != std::errc() || ptr != s.data() + s.size() || s.size() > 8) return std::nullopt;
    return v;
  };
  const auto hi = half(text.substr(0, slash));
  const auto lo = half(text.substr(slash + 1));
  if (!hi || !lo) return std::nullopt;
  return (std::uint64_t{*hi} << 32U) | *lo;
}

struct ReplicaSet::Replica {
  explicit Replica(PostgresOptions options) : pool(std::move(options)) {}
  PgPool pool;
  std::atomic<std::int64_t> down_until_ns{0};  // skipped until then (steady clock)
};

ReplicaSet::ReplicaSet(const PostgresOptions& options, PgPool& primary, obs::Telemetry* telemetry)
    : primary_(primary),
      wait_(options.replica_wait),
      counters_(telemetry ? &telemetry->postgres_replicas : nullptr),
      log_(telemetry ? telemetry->log : obs::Logger::silent()) {
  for (const std::string& conninfo : options.replicas) {
    PostgresOptions o = options;
    o.conninfo = conninfo;
    o.replicas.clear();
    o.max_attempts = 1;  // a failed replica read goes to the primary instead of repeating
    replicas_.push_back(std::make_unique<Replica>(std::move(o)));
  }
}

ReplicaSet::~ReplicaSet() = default;

void ReplicaSet::raise(std::uint64_t lsn) noexcept {
  std::uint64_t seen = high_water_.load(std::memory_order_relaxed);
  while (lsn > seen && !high_water_.compare_exchange_weak(seen, lsn, std::memory_order_acq_rel)) {
  }
}

void ReplicaSet::note_commit(pqxx::connection& conn) noexcept {
  // The insert position read after COMMIT returned is at or past the end of the commit record
  // (read before COMMIT it would be short of it); pg_current_wal_lsn() could be short of it too
  // under synchronous_commit=off, as it only counts WAL already written out.
  try {
    record_position(conn);
  } catch (...) {
    note_unknown_write();
  }
}

void ReplicaSet::record_position(pqxx::connection& primary_conn) {
  pqxx::nontransaction nt(primary_conn);
  if (const auto lsn = lsn_of(nt.exec(kPrimaryPosition))) raise(*lsn);
  if (counters_) counters_->add(counters_->positions_recorded);
}

bool ReplicaSet::refresh_if_stale() {
  if (!stale_.exchange(false, std::memory_order_acq_rel)) return true;
  try {
    PgPool::Lease lease = primary_.acquire();
    try {
      record_position(lease.conn());
      return true;
    } catch (const pqxx::broken_connection&) {
      lease.discard();
      throw;
    }
  } catch (...) {
    note_unknown_write();  // still unknown: the primary read that follows is what is left
    return false;
  }
}

void ReplicaSet::mark_down(Replica& r, const std::string& why) {
  r.down_until_ns.store(
      now_ns() + std::chrono::duration_cast<std::chrono::nanoseconds>(kRetryAfter).count(),
      std::memory_order_relaxed);
  log_.log(LogLevel::kWarn, "postgres",
           "replica {} skipped for {} s, its reads go to the primary: {}", r.pool.endpoint(),
           kRetryAfter.count(), why);
}

void ReplicaSet::failed_once(Replica& r, const std::string& operation, const char* why) {
  log_.log(LogLevel::kInfo, "postgres", "{} on replica {} failed, reading the primary: {}",
           operation, r.pool.endpoint(), why);
}

ReplicaSet::Outcome ReplicaSet::read_on(Replica& r, std::uint64_t target,
                                        const std::string& operation,
                                        const std::function<void(pqxx::work&)>& body) {
  std::optional<PgPool::Lease> lease;
  try {
    lease.emplace(r.pool.acquire());
  } catch (const Error& e) {
    // An exhausted pool is busy, not down: only this read goes elsewhere.
    if (e.code() != ErrorCode::kResourceExhausted) mark_down(r, e.message());
    return Outcome::kFailed;
  }
  const ConnectionScope scope(*lease);
  try {
    // One READ COMMITTED transaction: each later statement's snapshot includes what was
    // replayed when the position was read.
    pqxx::work tx(lease->conn());
    auto replayed = [&] {
      const auto lsn = lsn_of(tx.exec("SELECT pg_last_wal_replay_lsn()"));
      if (!lsn) throw std::runtime_error("not a standby (pg_last_wal_replay_lsn() is NULL)");
      return *lsn;
    };
    std::uint64_t at = replayed();
    if (at < target && wait_.count() > 0) {
      if (counters_) counters_->add(counters_->waits);
      const auto deadline = Clock::now() + wait_;
      auto pause = std::chrono::microseconds(500);
      while (at < target && Clock::now() < deadline) {
        std::this_thread::sleep_for(std::min<Clock::duration>(pause, deadline - Clock::now()));
        pause = std::min(pause * 2, std::chrono::microseconds(10'000));
        at = replayed();
      }
    }
    if (counters_) counters_->saw_lag(at < target ? static_cast<std::int64_t>(target - at) : 0);
    if (at < target) return Outcome::kLagging;  // the destructor rolls back
    body(tx);
    tx.commit();
    return Outcome::kServed;
  } catch (const pqxx::broken_connection& e) {
    lease->discard();
    mark_down(r, e.what());
  } catch (const pqxx::sql_error& e) {
    const std::string& state = e.sqlstate();
    if (state.compare(0, 2, "08") == 0 || state.compare(0, 3, "57P") == 0) {
      lease->discard();
      mark_down(r, e.what());
    } else {
      // e.g. a query cancelled by a conflict with recovery: this read only
      failed_once(r, operation, e.what());
    }
  } catch (const Error& e) {
    failed_once(r, operation, e.what());  // the body's own error: the primary's answer decides
  } catch (const std::exception& e) {
    if (!lease->conn().is_open()) lease->discard();
    mark_down(r, e.what());
  }
  return Outcome::kFailed;
}

bool ReplicaSet::try_read(const std::string& operation,
                          const std::function<void(pqxx::work&)>& body) {
  if (replicas_.empty()) return false;
  if (!refresh_if_stale()) {
    // the primary's position is unknown: no replica can be trusted with this read
    if (counters_) counters_->add(counters_->fallback_unavailable);
    return false;
  }
  const std::uint64_t target = high_water();
  const std::size_t n = replicas_.size();
  const std::size_t first = next_.fetch_add(1, std::memory_order_relaxed);
  const std::int64_t now = now_ns();
  for (std::size_t i = 0; i < n; ++i) {
    Replica& r = *replicas_[(first + i) % n];
    if (r.down_until_ns.load(std::memory_order_relaxed) > now) continue;
    switch (read_on(r, target, operation, body)) {
      case Outcome::kServed:
        if (counters_) counters_->add(counters_->reads);
        return true;
      case Outcome::kLagging:
        // replica_wait is spent: the primary answers at once rather than another replica
        if (counters_) counters_->add(counters_->fallback_lag);
        return false;
      case Outcome::kFailed:
        break;
    }
  }
  if (counters_) counters_->add(counters_->fallback_unavailable);
  return false;
}

}  // namespace examstore::db
