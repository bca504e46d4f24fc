// PaperStore: paper order in a Redis sorted set with score gaps, durable in PostgreSQL
// (write-through), served to readers from an in-process near cache. See docs/papers.md.
//
// Hot-tier keys of one paper, all under one hash tag so its scripts are atomic on a cluster:
//   <prefix>:paper:{school/department/major/course}:order  zset: question id -> position score
//   <prefix>:paper:{...}:items                             hash: question id -> "version:type"
//   <prefix>:paper:{...}:ver                               the committed version held in Redis
// The version key also marks the paper as loaded: an empty paper has no zset, a missing paper
// (evicted, flushed) has no version, and a read without one rebuilds from the database.
#include "examstore/paper_store.hpp"
#include "obs/telemetry.hpp"
#include "repo/lazy_subscription.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>

#include "db/store_checks.hpp"
#include "examstore/cache.hpp"
#include "examstore/error.hpp"
#include "papers/assembly.hpp"
#include "papers/paper_db.hpp"
#include "papers/variant.hpp"
#include "repo/context.hpp"

namespace examstore {

namespace {

constexpr std::size_t kMaxPart = 64;

bool part_char_ok(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

void check_part(std::string_view name, std::string_view value) {
  const bool ok = !value.empty() && value.size() <= kMaxPart &&
                  std::all_of(value.begin(), value.end(), part_char_ok);
  if (!ok) {
    throw Error(ErrorCode::kInvalidArgument, "paper key",
                std::string(name) + ": must be 1..64 letters, digits, '_' or '-', got \"" +
                    std::string(value) + "\"");
  }
}

void check_key(const PaperKey& k) {
  check_part("school", k.school);
  check_part("department", k.department);
  check_part("major", k.major);
  check_part("course", k.course);
}

}  // namespace

PaperKey PaperKey::parse(std::string_view text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = text.find('/', start);
    parts.emplace_back(
        text.substr(start, slash == std::string_view::npos ? text.npos : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (parts.size() != 4) {
    throw Error(ErrorCode::kInvalidArgument, "paper key",
                "expected school/department/major/course, got \"" + std::string(text) + "\"");
  }
  PaperKey k{parts[0], parts[1], parts[2], parts[3]};
  check_key(k);
  return k;
}

std::string PaperKey::str() const { return school + "/" + department + "/" + major + "/" + course; }

namespace papers {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kGap = 1024;  // score distance between neighbours after (re)numbering
constexpr std::chrono::milliseconds kDefaultNearTtl = 1s;

// ---- hot-tier scripts (Lua for Redis, the same steps in C++ for the memory cache) ----

std::string meta_of(const PaperItem& i) {
  return std::to_string(i.question_version) + ":" + std::string(to_string(i.type));
}

std::optional<PaperItem> item_of(std::string_view member, std::string_view meta) {
  const std::size_t colon = meta.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const auto type = parse_question_type(meta.substr(colon + 1));
  if (!type) return std::nullopt;
  try {
    PaperItem i;
    i.question_id = std::stoll(std::string(member));
    i.question_version = std::stoi(std::string(meta.substr(0, colon)));
    i.type = *type;
    return i;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The Lua helpers shared by the edit script: renumber() and place(pos, member).
const char* const kLuaPlace = R"lua(
local GAP = 1024
local function renumber(order)
  local all = redis.call('ZRANGE', order, 0, -1)
  for i = 1, #all do redis.call('ZADD', order, i * GAP, all[i]) end
end
local function score_at(order, pos)
  return tonumber(redis.call('ZRANGE', order, pos, pos, 'WITHSCORES')[2])
end
local function place(order, pos, member)
  local n = redis.call('ZCARD', order)
  for attempt = 1, 2 do
    local left = 0
    if pos > 0 then left = score_at(order, pos - 1) end
    local s = nil
    if pos >= n then
      s = left + GAP
    else
      local right = score_at(order, pos)
      if right - left >= 2 then s = left + math.floor((right - left) / 2) end
    end
    if s then
      redis.call('ZADD', order, s, member)
      return
    end
    renumber(order)
  end
  error('paper: no gap after renumbering')
end
)lua";

// The position index: KEYS[4] maps each 0-based position to "member|meta", so that at() is one
// HGET. Rebuilt whole by every script that changes the order (papers hold at most a few hundred
// items; HMGET/HSET go in chunks to stay within Lua's stack).
const char* const kLuaIndex = R"lua(
local function reindex(order, items, pos)
  redis.call('DEL', pos)
  local ms = redis.call('ZRANGE', order, 0, -1)
  for first = 1, #ms, 500 do
    local last = math.min(first + 499, #ms)
    local chunk = {}
    for i = first, last do chunk[#chunk + 1] = ms[i] end
    local metas = redis.call('HMGET', items, unpack(chunk))
    local args = {}
    for i = 1, #chunk do
      args[#args + 1] = first + i - 2
      args[#args + 1] = chunk[i] .. '|' .. (metas[i] or '')
    end
    redis.call('HSET', pos, unpack(args))
  end
end
)lua";

/// The position index's field for `member` and its `meta`.
std::string index_entry(const std::string& member, const std::string& meta) {
  return member + "|" + meta;
}

/// The memory cache's reindex (the scripts' fallback): same layout as kLuaIndex.
void reindex_local(Cache& c, const std::string& order, const std::string& items,
                   const std::string& pos) {
  c.del({pos});
  const auto members = c.zrange(order, 0, -1);
  FieldValues fields;
  fields.reserve(members.size());
  for (std::size_t i = 0; i < members.size(); ++i) {
    fields.emplace_back(
        std::to_string(i),
        index_entry(members[i].member, c.hget(items, members[i].member).value_or("")));
  }
  if (!fields.empty()) c.hset(pos, fields);
}

void renumber_local(Cache& c, const std::string& order) {
  const auto all = c.zrange(order, 0, -1);
  std::vector<ScoredMember> fresh;
  fresh.reserve(all.size());
  for (std::size_t i = 0; i < all.size(); ++i) {
    fresh.push_back(
        {all[i].member, static_cast<double>((static_cast<std::int64_t>(i) + 1) * kGap)});
  }
  if (!fresh.empty()) c.zadd(order, fresh);
}

double score_at_local(Cache& c, const std::string& order, std::int64_t pos) {
  return c.zrange(order, pos, pos).at(0).score;
}

void place_local(Cache& c, const std::string& order, std::int64_t pos, const std::string& member) {
  const std::int64_t n = c.zcard(order);
  for (int attempt = 0; attempt < 2; ++attempt) {
    const double left = pos > 0 ? score_at_local(c, order, pos - 1) : 0;
    std::optional<double> s;
    if (pos >= n) {
      s = left + kGap;
    } else {
      const double right = score_at_local(c, order, pos);
      if (right - left >= 2) s = left + std::floor((right - left) / 2);
    }
    if (s) {
      c.zadd(order, {{member, *s}});
      return;
    }
    renumber_local(c, order);
  }
  throw Error(ErrorCode::kInternal, "paper.edit", "no gap after renumbering");
}

// KEYS: order, items, ver, pos. ARGV[1]: the version Redis must hold, ARGV[2]: the new version,
// then per op: kind (a i r p m), position, to, member, meta. Returns 1 when applied, 0 when
// Redis holds another version (nothing changed), -1 when the set did not match the version
// (the keys are dropped: the next read rebuilds them).
const Script& edit_script() {
  static const Script s{
      "paper.edit", std::string(kLuaPlace) + kLuaIndex + R"lua(
local order, items, ver, pos_index = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('GET', ver) ~= ARGV[1] then return 0 end
for i = 3, #ARGV, 5 do
  local kind, pos, to = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  local member, meta = ARGV[i + 3], ARGV[i + 4]
  local n = redis.call('ZCARD', order)
  if kind == 'a' or kind == 'i' then
    if kind == 'a' then pos = n end
    if pos > n or redis.call('ZSCORE', order, member) then
      redis.call('DEL', order, items, ver, pos_index)
      return -1
    end
    place(order, pos, member)
    redis.call('HSET', items, member, meta)
  else
    local e = redis.call('ZRANGE', order, pos, pos, 'WITHSCORES')
    if #e == 0 then
      redis.call('DEL', order, items, ver, pos_index)
      return -1
    end
    redis.call('ZREM', order, e[1])
    if kind == 'r' then
      redis.call('HDEL', items, e[1])
    elseif kind == 'p' then
      redis.call('HDEL', items, e[1])
      redis.call('ZADD', order, e[2], member)
      redis.call('HSET', items, member, meta)
    else
      place(order, to, e[1])
    end
  end
end
redis.call('SET', ver, ARGV[2])
reindex(order, items, pos_index)
return 1
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        const std::string& order = k[0];
        const std::string& items = k[1];
        const std::string& ver = k[2];
        const std::string& pos_index = k[3];
        const auto drop = [&]() {
          c.del({order, items, ver, pos_index});
          return Reply::of(std::int64_t{-1});
        };
        if (c.get(ver) != a[0]) return Reply::of(std::int64_t{0});
        for (std::size_t i = 2; i + 4 < a.size(); i += 5) {
          const std::string& kind = a[i];
          std::int64_t pos = std::stoll(a[i + 1]);
          const std::int64_t to = std::stoll(a[i + 2]);
          const std::string& member = a[i + 3];
          const std::string& meta = a[i + 4];
          const std::int64_t n = c.zcard(order);
          if (kind == "a" || kind == "i") {
            if (kind == "a") pos = n;
            if (pos > n || c.zscore(order, member)) return drop();
            place_local(c, order, pos, member);
            c.hset(items, {{member, meta}});
            continue;
          }
          const auto e = c.zrange(order, pos, pos);
          if (e.empty()) return drop();
          c.zrem(order, {e[0].member});
          if (kind == "r") {
            c.hdel(items, {e[0].member});
          } else if (kind == "p") {
            c.hdel(items, {e[0].member});
            c.zadd(order, {{member, e[0].score}});
            c.hset(items, {{member, meta}});
          } else {
            place_local(c, order, to, e[0].member);
          }
        }
        c.set(ver, a[1]);
        reindex_local(c, order, items, pos_index);
        return Reply::of(std::int64_t{1});
      },
      /*idempotent=*/true};
  return s;
}

// KEYS: order, items, ver, pos. ARGV[1]: the version; then member, meta per item in order. Replaces
// the paper unless Redis already holds this version or a newer one. Returns 1 when replaced.
const Script& replace_script() {
  static const Script s{
      "paper.replace", std::string(kLuaIndex) + R"lua(
local GAP = 1024
local cur = redis.call('GET', KEYS[3])
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
for i = 2, #ARGV, 2 do
  redis.call('ZADD', KEYS[1], (i / 2) * GAP, ARGV[i])
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
redis.call('SET', KEYS[3], ARGV[1])
reindex(KEYS[1], KEYS[2], KEYS[4])
return 1
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        const auto cur = c.get(k[2]);
        if (cur && std::stoll(*cur) >= std::stoll(a[0])) return Reply::of(std::int64_t{0});
        c.del({k[0], k[1]});
        std::vector<ScoredMember> members;
        FieldValues metas;
        for (std::size_t i = 1; i + 1 < a.size(); i += 2) {
          const auto rank = static_cast<std::int64_t>((i + 1) / 2);  // 1, 2, 3, ...
          members.push_back({a[i], static_cast<double>(rank * kGap)});
          metas.emplace_back(a[i], a[i + 1]);
        }
        if (!members.empty()) {
          c.zadd(k[0], members);
          std::sort(metas.begin(), metas.end());
          c.hset(k[1], metas);
        }
        c.set(k[2], a[0]);
        reindex_local(c, k[0], k[1], k[3]);
        return Reply::of(std::int64_t{1});
      },
      /*idempotent=*/true};
  return s;
}

// KEYS: order, items, ver, pos. Rebuilds the position index alone from the order and items
// Redis holds (keys written before the index existed, or an index lost on its own). Returns 1
// when rebuilt, 0 when Redis holds no paper.
const Script& reindex_script() {
  static const Script s{
      "paper.reindex", std::string(kLuaIndex) + R"lua(
if not redis.call('GET', KEYS[3]) then return 0 end
reindex(KEYS[1], KEYS[2], KEYS[4])
return 1
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>&) {
        if (!c.get(k[2])) return Reply::of(std::int64_t{0});
        reindex_local(c, k[0], k[1], k[3]);
        return Reply::of(std::int64_t{1});
      },
      /*idempotent=*/true};
  return s;
}

// KEYS: order, items, ver. Returns nil when the paper is not loaded, else {version, member,
// meta, member, meta, ...} in order (meta "" when missing).
const Script& read_script() {
  static const Script s{
      "paper.read",
      R"lua(
local v = redis.call('GET', KEYS[3])
if not v then return nil end
local ms = redis.call('ZRANGE', KEYS[1], 0, -1)
local h = redis.call('HGETALL', KEYS[2])
local meta = {}
for i = 1, #h, 2 do meta[h[i]] = h[i + 1] end
local out = {v}
for i = 1, #ms do
  out[#out + 1] = ms[i]
  out[#out + 1] = meta[ms[i]] or ''
end
return out
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>&) {
        const auto v = c.get(k[2]);
        if (!v) return Reply::nil();
        Reply out;
        out.type = Reply::Type::kArray;
        out.elements.push_back(Reply::of(*v));
        const auto all = c.hgetall(k[1]);
        std::unordered_map<std::string, std::string> meta(all.begin(), all.end());
        for (const auto& m : c.zrange(k[0], 0, -1)) {
          out.elements.push_back(Reply::of(m.member));
          const auto it = meta.find(m.member);
          out.elements.push_back(Reply::of(it == meta.end() ? std::string() : it->second));
        }
        return out;
      },
      /*idempotent=*/true};
  return s;
}

// ---- the near cache ----

/// "school/department/major/course" in a buffer of its own: the near-cache lookup of a hot read
/// allocates nothing.
class PaperName {
 public:
  explicit PaperName(const PaperKey& k) {
    for (const std::string* part : {&k.school, &k.department, &k.major, &k.course}) {
      if (n_ > 0) buf_[n_++] = '/';
      n_ += part->copy(buf_ + n_, kMaxPart);
    }
  }
  std::string_view view() const { return {buf_, n_}; }

 private:
  char buf_[4 * kMaxPart + 3];
  std::size_t n_ = 0;
};

/// A paper as readers see it: immutable once built, shared by every reader.
struct Snapshot {
  std::vector<PaperItem> items;
  std::map<QuestionType, std::int64_t> by_type;
};
using SnapshotPtr = std::shared_ptr<const Snapshot>;

SnapshotPtr make_snapshot(std::vector<PaperItem> items) {
  auto s = std::make_shared<Snapshot>();
  for (const auto& i : items) ++s->by_type[i.type];
  s->items = std::move(items);
  return s;
}

/// Per process, keyed by paper. An entry is dropped by the edit broadcast and expires after
/// `ttl` anyway (a lost message costs at most that). A fill that raced an invalidation is not
/// stored (the generation moved), so a stale read cannot outlive the message.
class NearCache {
 public:
  NearCache(Cache& cache, std::string channel, std::chrono::milliseconds ttl)
      : ttl_(ttl),
        edits_(cache, std::move(channel),
               [this](std::string_view, std::string_view paper) { drop(std::string(paper)); }) {}
  SnapshotPtr get(std::string_view paper) {
    if (!edits_.live()) return nullptr;
    std::lock_guard<std::mutex> l(mu_);
    const auto it = entries_.find(paper);
    if (it == entries_.end()) return nullptr;
    if (std::chrono::steady_clock::now() >= it->second.expires) {
      entries_.erase(it);
      return nullptr;
    }
    return it->second.snapshot;
  }
  std::uint64_t generation() {
    std::lock_guard<std::mutex> l(mu_);
    return generation_;
  }
  void put(const std::string& paper, SnapshotPtr s, std::uint64_t seen_generation) {
    if (!edits_.live()) return;
    std::lock_guard<std::mutex> l(mu_);
    if (seen_generation != generation_) return;
    entries_[paper] = Entry{std::move(s), std::chrono::steady_clock::now() + ttl_};
  }
  void drop(const std::string& paper) {
    std::lock_guard<std::mutex> l(mu_);
    ++generation_;
    const auto it = entries_.find(paper);
    if (it != entries_.end()) entries_.erase(it);
  }

 private:
  struct Entry {
    SnapshotPtr snapshot;
    std::chrono::steady_clock::time_point expires;
  };
  const std::chrono::milliseconds ttl_;
  std::mutex mu_;                                      // guards entries_ and generation_
  std::map<std::string, Entry, std::less<>> entries_;  // finds by string_view
  std::uint64_t generation_ = 0;                       // bumped by every drop
  repo::LazySubscription edits_;                       // last: unsubscribed first
};

// ---- the store ----

class PaperStoreImpl final : public PaperStore {
 public:
  PaperStoreImpl(repo::Context& ctx, QuestionBank& bank)
      : ctx_(ctx),
        bank_(bank),
        order_(ctx.pool != nullptr ? make_pg_order_store(*ctx.pool) : make_memory_order_store()),
        channel_(ctx.config.key_prefix + ":paper-edits"),
        near_(ctx.cache, channel_,
              ctx.config.near_cache_ttl.count() > 0 ? ctx.config.near_cache_ttl : kDefaultNearTtl),
        near_enabled_(ctx.config.paper_near_cache) {}

  std::vector<PaperItem> apply(const PaperKey& paper, const std::vector<PaperOp>& ops) override {
    check_key(paper);
    QuestionLookup lookup;
    for (const auto& op : ops) {
      const bool names_question = op.kind == PaperOp::Kind::kAppend ||
                                  op.kind == PaperOp::Kind::kInsert ||
                                  op.kind == PaperOp::Kind::kReplace;
      if (!names_question || lookup.count(op.question_id)) continue;
      std::optional<PaperItem> item;
      if (op.question_id > 0) {
        if (auto q = bank_.get(op.question_id)) item = PaperItem{q->id, q->version, q->type};
      }
      lookup.emplace(op.question_id, item);
    }
    return commit(paper, ops, lookup, false).items;
  }

  std::vector<PaperItem> items(const PaperKey& paper) override { return snapshot(paper)->items; }

  std::optional<PaperItem> at(const PaperKey& paper, int position) override {
    if (!near_enabled_) return at_hot(paper, position);
    return item_at(*snapshot(paper), position);
  }

  std::vector<PaperItem> range(const PaperKey& paper, int start, int stop) override {
    const SnapshotPtr s = snapshot(paper);
    const auto n = static_cast<std::int64_t>(s->items.size());
    const std::int64_t lo = std::max<std::int64_t>(start, 0);
    const std::int64_t hi = std::min<std::int64_t>(stop, n - 1);
    if (lo > hi) return {};
    return {s->items.begin() + lo, s->items.begin() + hi + 1};
  }

  std::int64_t count(const PaperKey& paper) override {
    return static_cast<std::int64_t>(snapshot(paper)->items.size());
  }

  std::map<QuestionType, std::int64_t> count_by_type(const PaperKey& paper) override {
    return snapshot(paper)->by_type;
  }

  void warm_up(const std::vector<PaperKey>& papers) override {
    for (const auto& p : papers) snapshot(p);
  }

  AssembledPaper assemble(const PaperKey& key, const AssemblyRules& rules) override {
    check_key(key);
    check_rules(rules);
    std::vector<Candidate> candidates;
    for (const auto& [type, wanted] : rules.count_by_type) {
      if (wanted == 0) continue;
      QuestionSearch page;
      page.subject = rules.subject;
      page.type = type;
      page.limit = kSearchPage;
      while (true) {
        const std::vector<Question> found = bank_.search(page);
        for (const auto& q : found) {
          candidates.push_back(
              {q.id, q.version, q.type, q.difficulty, q.score, q.knowledge_points});
        }
        if (found.size() < static_cast<std::size_t>(kSearchPage)) break;
        page.after_id = found.back().id;
      }
    }
    const std::vector<Candidate> chosen = select(std::move(candidates), rules);
    AssembledPaper out;
    out.key = key;
    QuestionLookup lookup;
    std::vector<PaperOp> ops;
    double difficulty = 0;
    for (const auto& c : chosen) {
      lookup.emplace(c.id, PaperItem{c.id, c.version, c.type});
      ops.push_back({PaperOp::Kind::kAppend, 0, 0, c.id});
      difficulty += c.difficulty;
      out.total_score += c.score;
    }
    const Edit edit = commit(key, ops, lookup, true);
    out.paper_id = edit.paper_id;
    out.items = edit.items;
    out.mean_difficulty = difficulty / static_cast<double>(chosen.size());
    return out;
  }

  PaperVariant variant(const PaperKey& paper, StudentId student) override {
    db::check::positive_id("paper variant", "student", student);
    const SnapshotPtr s = snapshot(paper);
    return {paper, student,
            variant_items(paper_hash(paper), student, s->items,
                          [this](const PaperItem& i) { return option_count(i); })};
  }

  std::optional<VariantItem> variant_at(const PaperKey& paper, StudentId student,
                                        int position) override {
    db::check::positive_id("paper variant", "student", student);
    const SnapshotPtr s = snapshot(paper);
    return variant_item_at(paper_hash(paper), student, s->items, position,
                           [this](const PaperItem& i) { return option_count(i); });
  }

 private:
  static constexpr int kSearchPage = 1000;

  // Commits `ops` (checked against `lookup`), then brings Redis and the near caches along.
  // With `only_if_empty`, kConflict (and nothing written) when the paper holds questions.
  Edit commit(const PaperKey& paper, const std::vector<PaperOp>& ops, const QuestionLookup& lookup,
              bool only_if_empty) {
    Edit edit = order_->apply(paper, [&](std::vector<PaperItem> items) {
      if (only_if_empty && !items.empty()) {
        throw Error(ErrorCode::kConflict, "paper assemble",
                    "paper " + paper.str() + " already holds " + std::to_string(items.size()) +
                        " question(s)");
      }
      apply_ops(items, ops, lookup);
      return items;
    });
    sync_hot_tier(paper, ops, lookup, edit);
    const std::string name = paper.str();
    near_.drop(name);
    try {
      ctx_.cache.publish(channel_, name);
    } catch (const Error&) {  // other processes' entries expire after the near-cache TTL
    }
    return edit;
  }

  // The option count of a pinned version. Versions never change, so the count is kept for the
  // life of the store (one int per question version ever served) and read under a shared lock:
  // the exam-start burst costs no round trip once a question has been seen.
  int option_count(const PaperItem& item) {
    const std::pair<QuestionId, int> k{item.question_id, item.question_version};
    {
      std::shared_lock<std::shared_mutex> l(options_mu_);
      const auto it = options_.find(k);
      if (it != options_.end()) return it->second;
    }
    const auto q = bank_.get_version(item.question_id, item.question_version);
    if (!q) {
      throw Error(ErrorCode::kDataIntegrity, "paper variant",
                  "question " + std::to_string(item.question_id) + " version " +
                      std::to_string(item.question_version) + " is missing");
    }
    const int n = static_cast<int>(q->options.size());
    std::unique_lock<std::shared_mutex> l(options_mu_);
    options_.emplace(k, n);
    return n;
  }

  struct Keys {
    std::vector<std::string> all;  // order, items, ver, pos
    const std::string& pos() const { return all[3]; }
  };
  Keys keys_of(const PaperKey& paper) const {
    const std::string base = ctx_.config.key_prefix + ":paper:{" + paper.str() + "}:";
    return {{base + "order", base + "items", base + "ver", base + "pos"}};
  }

  // Brings Redis to the committed order: the ops by script when Redis holds the version they
  // were applied to, else the whole order (unless Redis already holds a newer one).
  void sync_hot_tier(const PaperKey& paper, const std::vector<PaperOp>& ops,
                     const QuestionLookup& lookup, const Edit& edit) {
    const Keys k = keys_of(paper);
    try {
      std::vector<std::string> args{std::to_string(edit.previous_version),
                                    std::to_string(edit.version)};
      for (const auto& op : ops) {
        static const char* const kKinds = "airpm";
        args.emplace_back(1, kKinds[static_cast<int>(op.kind)]);
        args.push_back(std::to_string(op.position));
        args.push_back(std::to_string(op.to));
        args.push_back(std::to_string(op.question_id));
        const auto it = lookup.find(op.question_id);
        args.push_back(it == lookup.end() || !it->second ? std::string() : meta_of(*it->second));
      }
      const Reply r = ctx_.cache.run(edit_script(), k.all, args);
      if (r.integer == 1) return;
      replace(k, edit.version, edit.items);
    } catch (const Error&) {
      // The edit is committed; drop what Redis holds so that the next read rebuilds it.
      try {
        ctx_.cache.del(k.all);
      } catch (const Error&) {  // Redis is down: see docs/papers.md, "durability"
      }
    }
  }

  void replace(const Keys& k, std::int64_t version, const std::vector<PaperItem>& items) {
    std::vector<std::string> args{std::to_string(version)};
    for (const auto& i : items) {
      args.push_back(std::to_string(i.question_id));
      args.push_back(meta_of(i));
    }
    ctx_.cache.run(replace_script(), k.all, args);
  }

  static std::optional<PaperItem> item_at(const Snapshot& s, int position) {
    if (position < 0 || static_cast<std::size_t>(position) >= s.items.size()) return std::nullopt;
    return s.items[static_cast<std::size_t>(position)];
  }

  // Without the near cache: one HGET of the position index reads the item from Redis. A miss
  // (a paper Redis does not hold, a position past the end) or a damaged entry takes the
  // whole-paper path, which checks the version and rebuilds the keys when needed.
  std::optional<PaperItem> at_hot(const PaperKey& paper, int position) {
    check_key(paper);
    if (position < 0) return std::nullopt;
    std::optional<std::string> entry;
    try {
      entry = ctx_.cache.hget(keys_of(paper).pos(), std::to_string(position));
    } catch (const Error&) {
      return item_at(*snapshot(paper), position);
    }
    if (entry) {
      const auto bar = entry->find('|');
      if (bar != std::string::npos) {
        if (auto item = item_of(std::string_view(*entry).substr(0, bar),
                                std::string_view(*entry).substr(bar + 1))) {
          return item;
        }
      }
    }
    SnapshotPtr s = snapshot(paper);
    if (static_cast<std::size_t>(position) < s->items.size()) {
      // The paper is there but its index is not (or is damaged): rebuild it for the next read.
      try {
        ctx_.cache.run(reindex_script(), keys_of(paper).all, {});
      } catch (const Error&) {
      }
    }
    return item_at(*s, position);
  }

  // The paper from the near cache, else Redis, else the database (then loaded into Redis).
  SnapshotPtr snapshot(const PaperKey& paper) {
    check_key(paper);
    const PaperName name(paper);
    if (near_enabled_) {
      auto hit = near_.get(name.view());
      if (ctx_.telemetry) ctx_.telemetry->paper_near_cache.count(hit != nullptr);
      if (hit) return hit;
    }
    const std::uint64_t generation = near_.generation();
    const Keys k = keys_of(paper);
    std::optional<std::vector<PaperItem>> items = read_hot(k);
    if (!items) {
      Committed c = order_->load(paper);
      try {
        replace(k, c.version, c.items);
      } catch (const Error&) {  // serve from the database while Redis is away
      }
      items = std::move(c.items);
    }
    SnapshotPtr s = make_snapshot(std::move(*items));
    if (near_enabled_) near_.put(std::string(name.view()), s, generation);
    return s;
  }

  std::optional<std::vector<PaperItem>> read_hot(const Keys& k) {
    Reply r;
    try {
      r = ctx_.cache.run(read_script(), k.all, {});
    } catch (const Error&) {
      return std::nullopt;
    }
    if (r.is_nil() || r.type != Reply::Type::kArray) return std::nullopt;
    std::vector<PaperItem> items;
    items.reserve(r.elements.size() / 2);
    for (std::size_t i = 1; i + 1 < r.elements.size(); i += 2) {
      auto item = item_of(r.elements[i].str, r.elements[i + 1].str);
      if (!item) {  // damaged: rebuild from the database
        try {
          ctx_.cache.del(k.all);
        } catch (const Error&) {
        }
        return std::nullopt;
      }
      items.push_back(*item);
    }
    return items;
  }

  repo::Context& ctx_;
  QuestionBank& bank_;
  std::unique_ptr<OrderStore> order_;
  const std::string channel_;
  NearCache near_;
  const bool near_enabled_;
  std::shared_mutex options_mu_;                       // guards options_
  std::map<std::pair<QuestionId, int>, int> options_;  // (question, version) -> option count
};

}  // namespace
}  // namespace papers

namespace repo {
std::unique_ptr<PaperStore> make_paper_store(Context& ctx, QuestionBank& bank) {
  return std::make_unique<papers::PaperStoreImpl>(ctx, bank);
}
}  // namespace repo

}  // namespace examstore
