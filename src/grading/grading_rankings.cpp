#include "grading/grading_rankings.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "cache/format.hpp"
#include "examstore/error.hpp"

namespace examstore::grading {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// How long a generation outlives its last bump: longer than any ranking query can take.
constexpr std::chrono::milliseconds kGenerationTtl = std::chrono::minutes(10);
// Never a generation (those are integers): makes the update script drop the ranking.
const std::string kDropGeneration = "drop";

std::string member_of(StudentId id) { return fmt::format("{:019d}", id); }
StudentId student_of(const std::string& member) { return std::stoll(member); }

bool hot_tier_down(const Error& e) {
  return e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kTimeout;
}

std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()); }

// KEYS: ranking, generation, empty marker. ARGV: generation read before the query, ttl_ms,
// then member, score pairs. Writes the rows (or the marker) only if the generation is unchanged.
const Script& rebuild_script() {
  static const Script s{
      "grading.ranking_rebuild",
      R"lua(
local g = redis.call('GET', KEYS[2]) or ''
if g ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[3])
if #ARGV <= 2 then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
  return 1
end
local args = {}
for i = 3, #ARGV, 2 do
  args[#args + 1] = ARGV[i + 1]
  args[#args + 1] = ARGV[i]
  if #args >= 1000 then
    redis.call('ZADD', KEYS[1], unpack(args))
    args = {}
  end
end
if #args > 0 then redis.call('ZADD', KEYS[1], unpack(args)) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        if (c.get(k[1]).value_or("") != a[0]) return Reply::of(std::int64_t{0});
        c.del({k[0], k[2]});
        const std::chrono::milliseconds ttl(std::stoll(a[1]));
        if (a.size() <= 2) {
          c.set(k[2], "1", ttl);
          return Reply::of(std::int64_t{1});
        }
        std::vector<ScoredMember> rows;
        for (std::size_t i = 2; i + 1 < a.size(); i += 2) {
          rows.push_back({a[i], *parse_score(a[i + 1])});
        }
        c.zadd(k[0], rows);
        c.expire(k[0], ttl);
        return Reply::of(std::int64_t{1});
      },
      /*idempotent=*/true};
  return s;
}

// KEYS: ranking, generation, empty marker. ARGV: generation read before the row was read,
// ttl_ms, member, score ('' when the student has no row), generation ttl_ms. Bumps the
// generation; applies the row to a loaded ranking when nothing else bumped it in between, else
// deletes the ranking. Returns 1 applied, 2 not loaded (left to the next rebuild), 0 dropped.
// Not idempotent (a resend bumps the generation again and drops the ranking); a failure is
// handled by dropping the ranking anyway (mark_stale), which is what a resend would do.
const Script& update_script() {
  static const Script s{
      "grading.ranking_update",
      R"lua(
local g = redis.call('GET', KEYS[2]) or ''
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
if g ~= ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[3])
  return 0
end
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('EXISTS', KEYS[3]) == 0 then return 2 end
if ARGV[4] == '' then
  redis.call('ZREM', KEYS[1], ARGV[3])
else
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
  redis.call('DEL', KEYS[3])
end
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
end
return 1
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        const std::string g = c.get(k[1]).value_or("");
        c.incr_by(k[1], 1);
        c.expire(k[1], std::chrono::milliseconds(std::stoll(a[4])));
        if (g != a[0]) {
          c.del({k[0], k[2]});
          return Reply::of(std::int64_t{0});
        }
        if (c.zcard(k[0]) == 0 && !c.get(k[2])) return Reply::of(std::int64_t{2});
        if (a[3].empty()) {
          c.zrem(k[0], {a[2]});
        } else {
          c.zadd(k[0], {{a[2], *parse_score(a[3])}});
          c.del({k[2]});
        }
        const std::chrono::milliseconds ttl(std::stoll(a[1]));
        if (c.zcard(k[0]) > 0) {
          c.expire(k[0], ttl);
        } else {
          c.set(k[2], "1", ttl);
        }
        return Reply::of(std::int64_t{1});
      }};
  return s;
}

// Sorts into ranking order and gives each row its competition rank.
std::vector<RankEntry> ranked(std::vector<RankEntry> rows, std::int64_t offset = 0) {
  std::sort(rows.begin(), rows.end(), [](const RankEntry& x, const RankEntry& y) {
    if (x.score != y.score) return x.score > y.score;
    return x.student_id < y.student_id;
  });
  for (std::size_t i = 0; i < rows.size(); ++i) {
    rows[i].rank = (i > 0 && rows[i].score == rows[i - 1].score)
                       ? rows[i - 1].rank
                       : offset + static_cast<std::int64_t>(i) + 1;
  }
  return rows;
}

}  // namespace

Rankings::Rankings(Cache& cache, const GradingKeys& keys, db::GradingStore& store,
                   std::chrono::seconds ttl)
    : cache_(cache), keys_(keys), store_(store), ttl_(ttl) {}

Rankings::View Rankings::open(const Scope& s) {
  const std::string key = keys_.ranking(s);
  std::optional<std::string> generation;
  try {
    if (heal(&s)) {  // else a failed update's ranking is still there: read the database
      if (cache_.zcard(key) > 0) {
        ++counters_.hits;
        return {true, {}};
      }
      if (cache_.get(keys_.ranking_empty(s))) {
        ++counters_.hits;
        return {false, {}};
      }
      generation = cache_.get(keys_.ranking_generation(s)).value_or("");
    }
  } catch (const Error& e) {
    if (!hot_tier_down(e)) throw;  // degrade: the database's rows, uncached
  }
  ++counters_.rebuilds;
  std::vector<RankEntry> rows;
  std::vector<std::string> args;
  if (generation)
    args = {*generation, ms(std::chrono::duration_cast<std::chrono::milliseconds>(ttl_))};
  for (const db::RankingRow& r : store_.ranking(s)) {
    rows.push_back(RankEntry{0, r.student_id, r.score});
    if (generation) {
      args.push_back(member_of(r.student_id));
      args.push_back(format_score(r.score));
    }
  }
  if (generation) {
    try {
      cache_.run(rebuild_script(), {key, keys_.ranking_generation(s), keys_.ranking_empty(s)},
                 args);
    } catch (const Error& e) {
      if (!hot_tier_down(e)) throw;
    }
  }
  return {false, ranked(std::move(rows))};
}

std::vector<RankEntry> Rankings::window(const std::string& key, std::int64_t from,
                                        std::int64_t to) {
  const std::int64_t n = cache_.zcard(key);
  from = std::max<std::int64_t>(from, 0);
  to = std::min(to, n - 1);
  if (from > to) return {};
  // Ranking position p is Redis' ascending index n-1-p, up to the order among equal scores:
  // fetch whole groups of equal scores at both ends and order them here.
  const auto lo = cache_.zrange(key, n - 1 - to, n - 1 - to);
  const auto hi = cache_.zrange(key, n - 1 - from, n - 1 - from);
  if (lo.empty() || hi.empty()) return {};  // shrank in between
  const double high = hi.front().score;
  const std::int64_t above = cache_.zcount(key, std::nextafter(high, kInf), kInf);
  std::vector<RankEntry> rows;
  for (const ScoredMember& m : cache_.zrange_by_score(key, lo.front().score, high)) {
    rows.push_back(RankEntry{0, student_of(m.member), m.score});
  }
  rows = ranked(std::move(rows), above);
  std::vector<RankEntry> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const std::int64_t pos = above + static_cast<std::int64_t>(i);
    if (pos >= from && pos <= to) out.push_back(rows[i]);
  }
  return out;
}

std::optional<RankEntry> Rankings::rank_of(const Scope& s, StudentId student) {
  View v = open(s);
  if (!v.hot) {
    for (const RankEntry& e : v.rows) {
      if (e.student_id == student) return e;
    }
    return std::nullopt;
  }
  const std::string key = keys_.ranking(s);
  const auto score = cache_.zscore(key, member_of(student));
  if (!score) return std::nullopt;
  return RankEntry{1 + cache_.zcount(key, std::nextafter(*score, kInf), kInf), student, *score};
}

std::vector<RankEntry> Rankings::top(const Scope& s, int n) {
  View v = open(s);
  if (!v.hot) {
    if (v.rows.size() > static_cast<std::size_t>(n)) v.rows.resize(static_cast<std::size_t>(n));
    return v.rows;
  }
  return window(keys_.ranking(s), 0, n - 1);
}

std::vector<RankEntry> Rankings::around(const Scope& s, StudentId student, int radius) {
  View v = open(s);
  if (!v.hot) {
    const auto it = std::find_if(v.rows.begin(), v.rows.end(),
                                 [&](const RankEntry& e) { return e.student_id == student; });
    if (it == v.rows.end()) return {};
    const std::ptrdiff_t p = it - v.rows.begin();
    const auto first = v.rows.begin() + std::max<std::ptrdiff_t>(0, p - radius);
    const auto last =
        v.rows.begin() +
        std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(v.rows.size()), p + radius + 1);
    return std::vector<RankEntry>(first, last);
  }
  const std::string key = keys_.ranking(s);
  const std::string member = member_of(student);
  const auto score = cache_.zscore(key, member);
  const auto asc = cache_.zrank(key, member);
  if (!score || !asc) return {};
  // Its position: those scoring higher, plus those scoring the same with a smaller id.
  const std::int64_t p = cache_.zcount(key, std::nextafter(*score, kInf), kInf) +
                         (*asc - cache_.zcount(key, -kInf, std::nextafter(*score, -kInf)));
  return window(key, p - radius, p + radius);
}

bool Rankings::warm(const Scope& s) {
  const View v = open(s);
  return v.hot || v.rows.empty() || cache_.zcard(keys_.ranking(s)) > 0;
}

void Rankings::update_many(const std::vector<Scope>& scopes, StudentId student) {
  if (scopes.empty()) return;
  heal(nullptr);
  const std::string ttl = ms(std::chrono::duration_cast<std::chrono::milliseconds>(ttl_));
  std::vector<Reply> generations;
  std::vector<std::optional<db::RankingRow>> rows;
  try {
    Batch b;  // each generation read before the rows (see update_script)
    for (const Scope& s : scopes) b.get(keys_.ranking_generation(s));
    generations = cache_.execute(b);
    rows = store_.ranking_rows(scopes, student);
  } catch (const Error& e) {
    if (!hot_tier_down(e)) throw;
    for (const Scope& s : scopes) mark_stale(s);
    return;
  }
  for (std::size_t i = 0; i < scopes.size(); ++i) {
    const Scope& s = scopes[i];
    try {
      cache_.run(update_script(),
                 {keys_.ranking(s), keys_.ranking_generation(s), keys_.ranking_empty(s)},
                 {generations[i].str, ttl, member_of(student),
                  rows[i] ? format_score(rows[i]->score) : "", ms(kGenerationTtl)});
    } catch (const Error& e) {
      if (!hot_tier_down(e)) throw;
      mark_stale(s);  // the script may or may not have run: drop the ranking at the next call
    }
  }
}

bool Rankings::try_drop(const Scope& s) {
  try {
    cache_.run(update_script(),
               {keys_.ranking(s), keys_.ranking_generation(s), keys_.ranking_empty(s)},
               {kDropGeneration, "1", "", "", ms(kGenerationTtl)});
    return true;
  } catch (const Error& e) {
    if (!hot_tier_down(e)) throw;
    return false;
  }
}

void Rankings::mark_stale(const Scope& s) {
  std::lock_guard<std::mutex> l(mu_);
  stale_.insert({s.kind, s.id});
  any_stale_ = true;
}

bool Rankings::heal(const Scope* s) {
  if (!any_stale_) return true;  // the common case: one atomic load
  std::set<std::pair<ScopeKind, std::int64_t>> todo;
  {
    std::lock_guard<std::mutex> l(mu_);
    todo.swap(stale_);
    any_stale_ = false;
  }
  auto it = todo.begin();
  // The first failure means the hot tier is still down: keep the rest without trying them.
  while (it != todo.end() && try_drop(Scope{it->first, it->second})) it = todo.erase(it);
  if (todo.empty()) return true;
  const bool healed = !s || todo.count({s->kind, s->id}) == 0;
  std::lock_guard<std::mutex> l(mu_);
  stale_.insert(todo.begin(), todo.end());
  any_stale_ = true;
  return healed;
}

void Rankings::drop(const Scope& s) {
  if (!try_drop(s)) mark_stale(s);
}

}  // namespace examstore::grading
