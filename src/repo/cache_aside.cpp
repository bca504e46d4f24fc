#include "repo/cache_aside.hpp"

#include "common/failover.hpp"
#include "examstore/error.hpp"
#include "repo/keys.hpp"

namespace examstore::repo {
namespace {

// The marker of an entity known not to exist. Encoded entities are JSON objects, never this.
const std::string kAbsent(1, '\0');

// How long a generation outlives its last invalidation: longer than any load can take
// (statement_timeout), so a fill can never see a generation that expired under it.
constexpr std::chrono::milliseconds kGenerationTtl = std::chrono::minutes(10);

const Script& fill_script() {
  static const Script s{
      "cache_aside.fill",
      R"lua(
local g = redis.call('GET', KEYS[2]) or ''
if g ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        if (c.get(k[1]).value_or("") != a[0]) return Reply::of(std::int64_t{0});
        c.set(k[0], a[1], std::chrono::milliseconds(std::stoll(a[2])));
        return Reply::of(std::int64_t{1});
      },
      /*idempotent=*/true};
  return s;
}

}  // namespace

CacheAsideMetrics snapshot(const CacheAsideStats& s) {
  CacheAsideMetrics c;
  c.hits = s.hits.load(std::memory_order_relaxed);
  c.negative_hits = s.negative_hits.load(std::memory_order_relaxed);
  c.misses = s.misses.load(std::memory_order_relaxed);
  c.loads = s.loads.load(std::memory_order_relaxed);
  c.load_errors = s.load_errors.load(std::memory_order_relaxed);
  c.fills_refused = s.fills_refused.load(std::memory_order_relaxed);
  c.invalidations = s.invalidations.load(std::memory_order_relaxed);
  c.invalidations_retried = s.invalidations_retried.load(std::memory_order_relaxed);
  c.cache_errors = s.cache_errors.load(std::memory_order_relaxed);
  const std::int64_t reads = c.hits + c.negative_hits + c.misses;
  c.hit_rate =
      reads == 0 ? 0.0 : static_cast<double>(c.hits + c.negative_hits) / static_cast<double>(reads);
  return c;
}

struct CacheAside::Flight {
  std::mutex mu;  // guards the members below
  std::condition_variable done_cv;
  bool done = false;
  std::optional<std::string> value;
  std::exception_ptr error;
};

CacheAside::CacheAside(Cache& cache, std::string channel, std::chrono::seconds ttl,
                       double ttl_jitter, std::chrono::seconds negative_ttl)
    : cache_(cache),
      channel_(std::move(channel)),
      ttl_(ttl),
      jitter_(ttl_jitter),
      negative_ttl_(negative_ttl),
      rng_(std::random_device{}()) {}

std::chrono::milliseconds CacheAside::jittered_ttl(std::chrono::seconds ttl) {
  const auto base = std::chrono::duration_cast<std::chrono::milliseconds>(ttl);
  std::lock_guard<std::mutex> l(mu_);
  std::uniform_real_distribution<double> extra(0.0, jitter_);
  return base + std::chrono::milliseconds(
                    static_cast<std::int64_t>(static_cast<double>(base.count()) * extra(rng_)));
}

// Reads never wait for a failover of the hot tier (common/failover.hpp): the database is the
// record and answers at once, so a read falls back to it on the first failure. Invalidations do
// ride through (they are rare, and a new master must not keep serving the old copy).
std::optional<std::string> CacheAside::get(const std::string& key, const Loader& load,
                                           std::optional<std::chrono::seconds> ttl) {
  const failover::WaitScope no_wait(std::chrono::milliseconds(0));
  if (!settle_invalidations(key)) {  // our own write is not invalidated yet: read the database
    ++stats_.loads;
    return load();
  }
  std::optional<std::string> cached;
  try {
    cached = cache_.get(key);
  } catch (const Error&) {
    ++stats_.cache_errors;  // degrade: read the database, do not fill
    ++stats_.loads;
    return load();
  }
  if (cached) {
    if (*cached == kAbsent) {
      ++stats_.negative_hits;
      return std::nullopt;
    }
    ++stats_.hits;
    return cached;
  }
  ++stats_.misses;

  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    std::lock_guard<std::mutex> l(mu_);
    auto [it, inserted] = flights_.try_emplace(key);
    if (inserted) it->second = std::make_shared<Flight>();
    flight = it->second;
    leader = inserted;
  }
  if (leader) return lead(key, *flight, load, ttl.value_or(ttl_));
  std::unique_lock<std::mutex> l(flight->mu);
  flight->done_cv.wait(l, [&] { return flight->done; });
  if (flight->error) std::rethrow_exception(flight->error);
  return flight->value;
}

std::optional<std::string> CacheAside::lead(const std::string& key, Flight& flight,
                                            const Loader& load, std::chrono::seconds ttl) {
  auto finish = [&](std::optional<std::string> value, std::exception_ptr error) {
    {
      std::lock_guard<std::mutex> l(mu_);
      flights_.erase(key);
    }
    std::lock_guard<std::mutex> l(flight.mu);
    flight.value = std::move(value);
    flight.error = std::move(error);
    flight.done = true;
    flight.done_cv.notify_all();
  };

  const std::string gen_key = keys::generation(key);
  std::optional<std::string> generation;
  try {
    generation = cache_.get(gen_key).value_or("");
  } catch (const Error&) {
    ++stats_.cache_errors;  // no fill without a generation to guard it
  }
  std::optional<std::string> value;
  try {
    ++stats_.loads;
    value = load();
  } catch (...) {
    ++stats_.load_errors;
    finish(std::nullopt, std::current_exception());
    throw;
  }
  if (generation) {
    const auto fill_ttl = value ? jittered_ttl(ttl) : std::chrono::milliseconds(negative_ttl_);
    try {
      const Reply r =
          cache_.run(fill_script(), {key, gen_key},
                     {*generation, value.value_or(kAbsent), std::to_string(fill_ttl.count())});
      if (r.integer == 0) ++stats_.fills_refused;
    } catch (const Error&) {
      ++stats_.cache_errors;
    }
  }
  finish(value, nullptr);
  return value;
}

void CacheAside::invalidate(const std::string& key) { invalidate_many({key}); }

void CacheAside::invalidate_many(const std::vector<std::string>& keys) {
  if (keys.empty()) return;
  stats_.invalidations += static_cast<std::int64_t>(keys.size());
  const std::set<std::string> todo(keys.begin(), keys.end());
  settle_invalidations(*todo.begin());
  if (try_invalidate(todo)) return;
  std::lock_guard<std::mutex> l(mu_);
  unsent_.insert(todo.begin(), todo.end());
  any_unsent_ = true;
}

// Per key: INCR gen, PEXPIRE gen, DEL key, pipelined, not atomic like a script; as safe, because
// the bump comes before the delete. A fill is atomic and writes only if the generation is the
// one its reader noted before loading. A reader that noted it before our INCR is refused from
// the INCR on, and a fill of its (possibly old) row that ran before the INCR is removed by our
// DEL, which follows. A reader that noted it after the INCR began loading after our commit and
// holds the new row. (DEL before INCR would let a fill of an old row land between the two.)
// A PEXPIRE lost with a broken pipeline leaves a generation without TTL until the retry, which
// sets it. On a cluster the three share the key's hash tag, so one node runs them in this order;
// only a command redirected mid-resharding is resent after the others. The messages follow the
// deletes (Batch: a publish runs after the commands before it), so a near cache that rereads on
// a message cannot reread the old copy.
bool CacheAside::try_invalidate(const std::set<std::string>& keys) {
  Batch b;
  for (const auto& k : keys) {
    const std::string gen = keys::generation(k);
    b.incr_by(gen, 1).expire(gen, kGenerationTtl).del(k);
  }
  for (const auto& k : keys) b.publish(channel_, k);
  try {
    cache_.execute(b);
    return true;
  } catch (const Error&) {
    ++stats_.cache_errors;
    return false;
  }
}

bool CacheAside::settle_invalidations(const std::string& key) {
  if (!any_unsent_) return true;  // the common case: one atomic load
  std::set<std::string> todo;
  {
    std::lock_guard<std::mutex> l(mu_);
    todo.swap(unsent_);
    any_unsent_ = false;
  }
  if (todo.empty()) return true;  // another thread is sending them
  std::set<std::string> failed;
  if (try_invalidate(todo)) {
    stats_.invalidations_retried += static_cast<std::int64_t>(todo.size());
  } else {
    failed = std::move(todo);
  }
  const bool settled = failed.count(key) == 0;
  if (!failed.empty()) {
    std::lock_guard<std::mutex> l(mu_);
    unsent_.insert(failed.begin(), failed.end());
    any_unsent_ = true;
  }
  return settled;
}

}  // namespace examstore::repo
