// obs/metrics.cpp: snapshots of the atomic counters and the two renderings of a snapshot.
#include <fmt/format.h>

#include "common/json.hpp"
#include "examstore/error.hpp"
#include "obs/telemetry.hpp"

namespace examstore {
namespace obs {

Histogram AtomicHistogram::snapshot() const {
  Histogram h;
  h.bounds.reserve(kLatencyBoundsUs.size());
  h.cumulative.reserve(kLatencyBoundsUs.size());
  std::uint64_t running = 0;
  for (std::size_t i = 0; i < kLatencyBoundsUs.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    h.bounds.push_back(static_cast<double>(kLatencyBoundsUs[i]) / 1e6);
    h.cumulative.push_back(running);
  }
  h.count = running + buckets_.back().load(std::memory_order_relaxed);
  h.sum = static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return h;
}

PoolMetrics PoolCounters::snapshot() const {
  PoolMetrics p;
  p.size = size.load(std::memory_order_relaxed);
  p.in_use = in_use.load(std::memory_order_relaxed);
  p.connects = connects.load(std::memory_order_relaxed);
  p.waits = waits.load(std::memory_order_relaxed);
  p.wait_timeouts = wait_timeouts.load(std::memory_order_relaxed);
  p.commands = commands.load(std::memory_order_relaxed);
  p.errors = errors.load(std::memory_order_relaxed);
  p.retries = retries.load(std::memory_order_relaxed);
  p.latency = latency.snapshot();
  return p;
}

}  // namespace obs

namespace {

bool valid_metric_name(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

// Label values escape backslash, double quote and line feed (exposition format 0.0.4).
std::string escape_label(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

class Writer {
 public:
  explicit Writer(std::string_view prefix) : prefix_(prefix) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {}_{} {}\n# TYPE {}_{} {}\n", prefix_, name,
                   help, prefix_, name, type);
  }
  template <typename T>
  void sample(std::string_view name, std::string_view labels, T value) {
    fmt::format_to(std::back_inserter(out_), "{}_{}{}{}{} {}\n", prefix_, name,
                   labels.empty() ? "" : "{", labels, labels.empty() ? "" : "}", value);
  }
  template <typename T>
  void one(std::string_view name, std::string_view type, std::string_view help, T value) {
    family(name, type, help);
    sample(name, "", value);
  }
  void histogram(std::string_view name, std::string_view labels, const Histogram& h) {
    const std::string sep = labels.empty() ? "" : std::string(labels) + ",";
    for (std::size_t i = 0; i < h.bounds.size(); ++i) {
      fmt::format_to(std::back_inserter(out_), "{}_{}_bucket{{{}le=\"{}\"}} {}\n", prefix_, name,
                     sep, h.bounds[i], h.cumulative[i]);
    }
    fmt::format_to(std::back_inserter(out_), "{}_{}_bucket{{{}le=\"+Inf\"}} {}\n", prefix_, name,
                   sep, h.count);
    sample(std::string(name) + "_sum", labels, h.sum);
    sample(std::string(name) + "_count", labels, h.count);
  }
  std::string take() { return std::move(out_); }

 private:
  std::string_view prefix_;
  std::string out_;
};

struct PoolSeries {
  std::string_view label;  // backend="..."
  const PoolMetrics* pool;
};

void render_pools(Writer& w, const MetricsSnapshot& m) {
  std::vector<PoolSeries> pools;
  if (m.redis.enabled) pools.push_back({"backend=\"redis\"", &m.redis});
  if (m.postgres.enabled) pools.push_back({"backend=\"postgresql\"", &m.postgres});
  if (pools.empty()) return;
  w.family("backend_info", "gauge", "Backend in use; the endpoint label has no credentials.");
  for (const auto& p : pools) {
    w.sample("backend_info",
             fmt::format("{},endpoint=\"{}\"", p.label, escape_label(p.pool->endpoint)), 1);
  }
  struct Gauge {
    std::string_view name, type, help;
    std::int64_t PoolMetrics::*field;
  };
  static const Gauge kFields[] = {
      {"pool_max_connections", "gauge", "Configured pool size.", &PoolMetrics::max_size},
      {"pool_connections", "gauge", "Connections open (idle and in use).", &PoolMetrics::size},
      {"pool_connections_in_use", "gauge", "Connections leased now.", &PoolMetrics::in_use},
      {"pool_connects_total", "counter", "Connections made.", &PoolMetrics::connects},
      {"pool_waits_total", "counter", "Leases that waited for a free connection.",
       &PoolMetrics::waits},
      {"pool_wait_timeouts_total", "counter", "Leases that gave up waiting.",
       &PoolMetrics::wait_timeouts},
      {"pool_commands_total", "counter",
       "Redis commands sent; PostgreSQL transactions and session calls attempted.",
       &PoolMetrics::commands},
      {"pool_errors_total", "counter", "Commands or transactions that failed.",
       &PoolMetrics::errors},
      {"pool_retries_total", "counter",
       "Transaction attempts (PostgreSQL) or commands (Redis) sent again after a retryable "
       "failure.",
       &PoolMetrics::retries},
  };
  for (const Gauge& g : kFields) {
    w.family(g.name, g.type, g.help);
    for (const auto& p : pools) w.sample(g.name, p.label, p.pool->*(g.field));
  }
  if (m.redis.enabled) {
    w.family("redis_command_duration_seconds", "histogram",
             "Redis round trips (one command or one pipeline), in seconds.");
    w.histogram("redis_command_duration_seconds", "", m.redis.latency);
  }
  if (m.postgres.enabled) {
    w.family("postgres_transaction_duration_seconds", "histogram",
             "PostgreSQL transaction attempts, lease to commit, in seconds.");
    w.histogram("postgres_transaction_duration_seconds", "", m.postgres.latency);
  }
}

void render_replicas(Writer& w, const ReplicaMetrics& r) {
  if (!r.enabled) return;
  w.one("postgres_replicas", "gauge", "PostgreSQL read replicas configured.", r.replicas);
  w.one("postgres_replica_reads_total", "counter", "Lag-tolerant reads a replica served.", r.reads);
  w.family("postgres_replica_fallbacks_total", "counter",
           "Lag-tolerant reads sent to the primary, by reason.");
  w.sample("postgres_replica_fallbacks_total", "reason=\"lag\"", r.fallback_lag);
  w.sample("postgres_replica_fallbacks_total", "reason=\"unavailable\"", r.fallback_unavailable);
  w.one("postgres_replica_waits_total", "counter", "Replica reads that waited for replay.",
        r.waits);
  w.one("postgres_wal_positions_recorded_total", "counter",
        "WAL positions read on the primary after a commit (read-your-writes).",
        r.positions_recorded);
  w.one("postgres_replica_lag_bytes", "gauge",
        "WAL bytes a replica was behind this process's latest write when last checked.",
        r.lag_bytes);
  w.one("postgres_replica_max_lag_bytes", "gauge", "Largest replica lag seen, in WAL bytes.",
        r.max_lag_bytes);
}

}  // namespace

std::string to_prometheus(const MetricsSnapshot& m, std::string_view prefix) {
  if (!valid_metric_name(prefix)) {
    throw Error(
        ErrorCode::kInvalidArgument, "to_prometheus",
        "prefix '" + std::string(prefix) + "' is not a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)");
  }
  Writer w(prefix);
  const CacheAsideMetrics& c = m.cache_aside;
  w.one("cache_hits_total", "counter", "Cache-aside reads served by the hot tier.", c.hits);
  w.one("cache_negative_hits_total", "counter",
        "Cache-aside reads answered absent by a cached marker.", c.negative_hits);
  w.one("cache_misses_total", "counter", "Cache-aside reads that missed the hot tier.", c.misses);
  w.one("cache_loads_total", "counter", "Database loads by the cache-aside path.", c.loads);
  w.one("cache_load_errors_total", "counter", "Database loads that failed.", c.load_errors);
  w.one("cache_fills_refused_total", "counter", "Fills refused because a write raced them.",
        c.fills_refused);
  w.one("cache_invalidations_total", "counter", "Invalidations after database writes.",
        c.invalidations);
  w.one("cache_invalidations_retried_total", "counter",
        "Invalidations that failed and were resent.", c.invalidations_retried);
  w.one("cache_errors_total", "counter", "Hot-tier failures degraded to database reads.",
        c.cache_errors);
  w.one("cache_hit_ratio", "gauge", "Share of cache-aside reads served by the hot tier.",
        c.hit_rate);

  w.family("near_cache_hits_total", "counter", "Reads served by an in-process near cache.");
  w.sample("near_cache_hits_total", "cache=\"papers\"", m.paper_near_cache.hits);
  w.sample("near_cache_hits_total", "cache=\"exams\"", m.exam_near_cache.hits);
  w.family("near_cache_misses_total", "counter", "Near-cache reads that went to the hot tier.");
  w.sample("near_cache_misses_total", "cache=\"papers\"", m.paper_near_cache.misses);
  w.sample("near_cache_misses_total", "cache=\"exams\"", m.exam_near_cache.misses);

  render_pools(w, m);
  render_replicas(w, m.postgres_replicas);

  const GradingMetrics& g = m.grading;
  w.one("grading_cache_hits_total", "counter", "Grading reads served by the hot tier.",
        g.cache.hits);
  w.one("grading_cache_negative_hits_total", "counter",
        "Grading reads answered absent by a cached marker.", g.cache.negative_hits);
  w.one("grading_cache_misses_total", "counter", "Grading reads that missed the hot tier.",
        g.cache.misses);
  w.one("grading_cache_loads_total", "counter", "Database loads by the grading read path.",
        g.cache.loads);
  w.one("grading_cache_invalidations_total", "counter",
        "Grading cache invalidations after database writes.", g.cache.invalidations);
  w.one("grading_cache_errors_total", "counter",
        "Hot-tier failures of the grading read path degraded to database reads.",
        g.cache.cache_errors);
  w.one("grading_cache_hit_ratio", "gauge", "Share of grading reads served by the hot tier.",
        g.cache.hit_rate);
  w.one("grading_claims_total", "counter", "Grading leases handed out.", g.claims);
  w.one("grading_reclaims_total", "counter", "Leases of tasks whose earlier lease had expired.",
        g.reclaims);
  w.one("grading_completions_total", "counter", "Completions that wrote a run.", g.completions);
  w.one("grading_replays_total", "counter", "Completions repeated with the same token.", g.replays);
  w.one("grading_fenced_total", "counter", "Calls refused for a stale fencing token.", g.fenced);
  w.one("grading_failures_total", "counter", "Tries given back by fail().", g.failures);
  w.one("grading_ranking_hits_total", "counter", "Ranking reads served by the hot tier.",
        g.ranking_hits);
  w.one("grading_ranking_rebuilds_total", "counter", "Rankings rebuilt from the database.",
        g.ranking_rebuilds);

  const WriteBehindMetrics& q = m.write_behind;
  w.one("write_behind_depth", "gauge", "Writes accepted and not yet committed.", q.depth);
  w.one("write_behind_oldest_pending_age_seconds", "gauge",
        "Age of the oldest write not yet committed (the lag).",
        static_cast<double>(q.oldest_pending_age.count()) / 1000.0);
  w.one("write_behind_enqueued_total", "counter", "Writes accepted.", q.enqueued);
  w.one("write_behind_coalesced_total", "counter", "Writes merged into a pending one.",
        q.coalesced);
  w.one("write_behind_committed_total", "counter", "Writes committed to the database.",
        q.committed);
  w.one("write_behind_retries_total", "counter", "Batch attempts that failed and were retried.",
        q.retried);
  w.one("write_behind_dead_letters_total", "counter", "Writes rejected for good (dead letters).",
        q.dead_lettered);
  w.one("write_behind_batches_total", "counter", "Transactions committed.", q.batches);
  w.one("write_behind_max_batch_size", "gauge", "Largest batch committed.", q.max_batch_size);
  w.one("write_behind_mean_batch_size", "gauge", "Mean batch size.", q.mean_batch_size);
  w.one("write_behind_journal_appends_total", "counter", "Group commits to the journal.",
        q.journal_appends);
  w.one("write_behind_replayed_total", "counter", "Journaled writes re-queued at open.",
        q.replayed);
  const HotRepairMetrics& h = m.hot_repairs;
  w.one("hot_repair_skipped_total", "counter",
        "Hot-tier updates skipped by writes acknowledged while Redis failed.", h.skipped);
  w.one("hot_repair_repaired_total", "counter", "Hot-tier repairs done once Redis answered.",
        h.repaired);
  w.one("hot_repair_failed_total", "counter", "Hot-tier repair attempts that failed (kept).",
        h.failed);
  w.one("hot_repair_pending", "gauge", "Hot-tier repairs waiting: live views lag meanwhile.",
        h.pending);
  w.one("log_sink_errors_total", "counter", "Log messages dropped because the sink threw.",
        m.log_sink_errors);
  return w.take();
}

namespace {

std::string histogram_json(const Histogram& h) {
  std::string out = "{\"bounds\":[";
  for (std::size_t i = 0; i < h.bounds.size(); ++i) {
    fmt::format_to(std::back_inserter(out), "{}{}", i ? "," : "", h.bounds[i]);
  }
  out += "],\"cumulative\":[";
  for (std::size_t i = 0; i < h.cumulative.size(); ++i) {
    fmt::format_to(std::back_inserter(out), "{}{}", i ? "," : "", h.cumulative[i]);
  }
  fmt::format_to(std::back_inserter(out), "],\"count\":{},\"sum\":{}}}", h.count, h.sum);
  return out;
}

std::string pool_json(const PoolMetrics& p) {
  return fmt::format(
      "{{\"enabled\":{},\"endpoint\":{},\"max_size\":{},\"size\":{},\"in_use\":{},"
      "\"connects\":{},\"waits\":{},\"wait_timeouts\":{},\"commands\":{},\"errors\":{},"
      "\"retries\":{},\"latency\":{}}}",
      p.enabled, json::quote(p.endpoint), p.max_size, p.size, p.in_use, p.connects, p.waits,
      p.wait_timeouts, p.commands, p.errors, p.retries, histogram_json(p.latency));
}

std::string replicas_json(const ReplicaMetrics& r) {
  return fmt::format(
      "{{\"enabled\":{},\"replicas\":{},\"reads\":{},\"fallback_lag\":{},"
      "\"fallback_unavailable\":{},\"waits\":{},\"positions_recorded\":{},\"lag_bytes\":{},"
      "\"max_lag_bytes\":{}}}",
      r.enabled, r.replicas, r.reads, r.fallback_lag, r.fallback_unavailable, r.waits,
      r.positions_recorded, r.lag_bytes, r.max_lag_bytes);
}

std::string grading_json(const GradingMetrics& g) {
  const CacheAsideMetrics& c = g.cache;
  return fmt::format(
      "{{\"cache\":{{\"hits\":{},\"negative_hits\":{},\"misses\":{},\"loads\":{},"
      "\"load_errors\":{},\"fills_refused\":{},\"invalidations\":{},"
      "\"invalidations_retried\":{},\"cache_errors\":{},\"hit_rate\":{}}},"
      "\"claims\":{},\"reclaims\":{},\"completions\":{},\"replays\":{},\"fenced\":{},"
      "\"failures\":{},\"ranking_hits\":{},\"ranking_rebuilds\":{}}}",
      c.hits, c.negative_hits, c.misses, c.loads, c.load_errors, c.fills_refused, c.invalidations,
      c.invalidations_retried, c.cache_errors, c.hit_rate, g.claims, g.reclaims, g.completions,
      g.replays, g.fenced, g.failures, g.ranking_hits, g.ranking_rebuilds);
}

}  // namespace

std::string to_json(const MetricsSnapshot& m) {
  const CacheAsideMetrics& c = m.cache_aside;
  const WriteBehindMetrics& q = m.write_behind;
  return fmt::format(
      "{{\"cache_aside\":{{\"hits\":{},\"negative_hits\":{},\"misses\":{},\"loads\":{},"
      "\"load_errors\":{},\"fills_refused\":{},\"invalidations\":{},"
      "\"invalidations_retried\":{},\"cache_errors\":{},\"hit_rate\":{}}},"
      "\"paper_near_cache\":{{\"hits\":{},\"misses\":{}}},"
      "\"exam_near_cache\":{{\"hits\":{},\"misses\":{}}},"
      "\"redis\":{},\"postgres\":{},\"postgres_replicas\":{},\"grading\":{},"
      "\"write_behind\":{{\"depth\":{},\"oldest_pending_age_ms\":{},\"enqueued\":{},"
      "\"coalesced\":{},\"committed\":{},\"retried\":{},\"dead_lettered\":{},\"batches\":{},"
      "\"max_batch_size\":{},\"mean_batch_size\":{},\"journal_appends\":{},\"replayed\":{}}},"
      "\"hot_repairs\":{{\"skipped\":{},\"repaired\":{},\"failed\":{},\"pending\":{}}},"
      "\"log_sink_errors\":{}}}",
      c.hits, c.negative_hits, c.misses, c.loads, c.load_errors, c.fills_refused, c.invalidations,
      c.invalidations_retried, c.cache_errors, c.hit_rate, m.paper_near_cache.hits,
      m.paper_near_cache.misses, m.exam_near_cache.hits, m.exam_near_cache.misses,
      pool_json(m.redis), pool_json(m.postgres), replicas_json(m.postgres_replicas),
      grading_json(m.grading), q.depth, q.oldest_pending_age.count(), q.enqueued, q.coalesced,
      q.committed, q.retried, q.dead_lettered, q.batches, q.max_batch_size, q.mean_batch_size,
      q.journal_appends, q.replayed, m.hot_repairs.skipped, m.hot_repairs.repaired,
      m.hot_repairs.failed, m.hot_repairs.pending, m.log_sink_errors);
}

}  // namespace examstore
