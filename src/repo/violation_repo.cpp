// ViolationRepo: ids from reserved sequence blocks, live counters in the hot tier, rows through
// the write-behind queue; reads from the database merged with what is still queued.
//
// The live counters are counted by violation id (the count script below), so a count resent
// after a failover adds nothing. They are best-effort: a violation whose row is queued is
// acknowledged even when Redis is away, and the exam's counters are then recounted from the
// database (plus this process's queue) once Redis answers again (HotRepairs).
#include "examstore/violation_repo.hpp"

#include <algorithm>
#include <limits>
#include <set>
#include <unordered_set>

#include "common/failover.hpp"
#include "db/store_checks.hpp"
#include "repo/context.hpp"
#include "repo/hot_repairs.hpp"
#include "repo/keys.hpp"
#include "repo/violation_counts.hpp"

namespace examstore::repo {

std::chrono::milliseconds counted_window(const Config& config) {
  return std::max<std::chrono::milliseconds>(std::chrono::minutes(5),
                                             2 * config.redis.failover_wait);
}

std::string counted_member(const Violation& v) {
  return std::to_string(v.id) + ":" + std::to_string(v.student_id) + ":" +
         std::string(to_string(v.kind));
}

namespace {

// The counter fields of a counted member: {kind, "<student>:<kind>"}.
std::pair<std::string, std::string> fields_of(const std::string& member) {
  const auto a = member.find(':');
  const auto b = member.find(':', a + 1);
  if (a == std::string::npos || b == std::string::npos) {
    throw Error(ErrorCode::kDataIntegrity, "violation counts", "malformed counted member");
  }
  return {member.substr(b + 1), member.substr(a + 1)};
}

// Adds one counted member ("<id>:<student>:<kind>") to both counters (KEYS[1], KEYS[2]).
constexpr const char* kLuaAdd = R"lua(
local function add(m)
  local rest = string.match(m, '^%d+:(.+)$')
  redis.call('HINCRBY', KEYS[1], string.match(rest, '^%d+:(.+)$'), 1)
  redis.call('HINCRBY', KEYS[2], rest, 1)
end
)lua";

void add_local(Cache& c, const std::vector<std::string>& k, const std::string& member) {
  const auto [kind, by_student] = fields_of(member);
  c.hincr_by(k[0], kind, 1);
  c.hincr_by(k[1], by_student, 1);
}

}  // namespace

// KEYS: counts by kind, counts by student, counted. ARGV: now_ms, remove-before ms, window ms,
// then counted members. Counts each member not counted yet (ZADD NX) and forgets members older
// than the window. Idempotent: a resend finds its members and adds nothing. Returns how many
// were counted now.
const Script& violation_count_script() {
  static const Script s{
      "violation.count", std::string(kLuaAdd) + R"lua(
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[2])
local n = 0
for i = 4, #ARGV do
  if redis.call('ZADD', KEYS[3], 'NX', ARGV[1], ARGV[i]) == 1 then
    add(ARGV[i])
    n = n + 1
  end
end
redis.call('PEXPIRE', KEYS[3], ARGV[3])
return n
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        const double now = std::stod(a[0]);
        std::vector<std::string> old;
        for (const auto& m : c.zrange_by_score(k[2], -std::numeric_limits<double>::infinity(),
                                               std::stod(a[1]) - 1)) {
          old.push_back(m.member);
        }
        if (!old.empty()) c.zrem(k[2], old);
        std::int64_t n = 0;
        for (std::size_t i = 3; i < a.size(); ++i) {
          if (c.zscore(k[2], a[i])) continue;
          c.zadd(k[2], {{a[i], now}});
          add_local(c, k, a[i]);
          ++n;
        }
        c.expire(k[2], std::chrono::milliseconds(std::stoll(a[2])));
        return Reply::of(n);
      },
      /*idempotent=*/true};
  return s;
}

// KEYS: as count_script. ARGV: nk, ns, then nk field/count pairs by kind, ns by student, then
// the counted members the caller's counts already include. Replaces both counters, then adds
// every counted member not among those (counted while the caller read the database).
// Idempotent: it sets values. Returns how many members it added.
const Script& violation_recount_script() {
  static const Script s{
      "violation.recount", std::string(kLuaAdd) + R"lua(
local nk, ns = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('DEL', KEYS[1], KEYS[2])
local i = 3
for j = 1, nk do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
for j = 1, ns do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]); i = i + 2 end
local known = {}
for j = i, #ARGV do known[ARGV[j]] = true end
local n = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  if not known[m] then
    add(m)
    n = n + 1
  end
end
return n
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        const auto nk = static_cast<std::size_t>(std::stoll(a[0]));
        const auto ns = static_cast<std::size_t>(std::stoll(a[1]));
        c.del({k[0], k[1]});
        std::size_t i = 2;
        FieldValues by_kind, by_student;
        for (std::size_t j = 0; j < nk; ++j, i += 2) by_kind.emplace_back(a[i], a[i + 1]);
        for (std::size_t j = 0; j < ns; ++j, i += 2) by_student.emplace_back(a[i], a[i + 1]);
        if (!by_kind.empty()) c.hset(k[0], by_kind);
        if (!by_student.empty()) c.hset(k[1], by_student);
        const std::set<std::string> known(a.begin() + static_cast<std::ptrdiff_t>(i), a.end());
        std::int64_t n = 0;
        for (const auto& m : c.zrange(k[2], 0, -1)) {
          if (known.count(m.member) != 0) continue;
          add_local(c, k, m.member);
          ++n;
        }
        return Reply::of(n);
      },
      /*idempotent=*/true};
  return s;
}

namespace {

bool matches(const Violation& v, const ViolationQuery& q) {
  return (!q.exam_id || v.exam_id == *q.exam_id) &&
         (!q.student_id || v.student_id == *q.student_id) &&
         (!q.from || v.occurred_at >= *q.from) && (!q.to || v.occurred_at < *q.to) &&
         (!q.kind || v.kind == *q.kind) && (!q.state || v.state == *q.state) && v.id > q.after_id;
}

class ViolationRepoImpl final : public ViolationRepo {
 public:
  explicit ViolationRepoImpl(Context& ctx)
      : ctx_(ctx),
        store_(*ctx.stores.violations),
        violation_ids_([&s = store_] { return s.reserve_ids(db::IdSequence::kViolation); }),
        event_ids_([&s = store_] { return s.reserve_ids(db::IdSequence::kEvent); }),
        recounts_([this](const std::string& exam) { recount(std::stoll(exam)); },
                  ctx.telemetry ? &ctx.telemetry->hot_repairs : nullptr) {}

  ViolationId record(const NewViolation& v, Durability durability) override {
    Violation row = checked(v);
    row.id = violation_ids_.next();
    ctx_.queue.enqueue({wb::Op{row}}, ctx_.effective(durability));
    count({row});
    return row.id;
  }

  std::vector<ViolationId> record_batch(const std::vector<NewViolation>& vs,
                                        Durability durability) override {
    std::vector<Violation> rows;
    rows.reserve(vs.size());
    for (std::size_t i = 0; i < vs.size(); ++i) {
      try {
        rows.push_back(checked(vs[i]));
      } catch (const Error& e) {
        throw Error(e.code(), e.operation(),
                    "violations[" + std::to_string(i) + "]: " + e.message(), e.backend());
      }
    }
    std::vector<ViolationId> ids;
    ids.reserve(rows.size());
    std::vector<wb::Op> ops;
    ops.reserve(rows.size());
    for (Violation& row : rows) {
      row.id = violation_ids_.next();
      ids.push_back(row.id);
      ops.push_back(wb::Op{row});
    }
    ctx_.queue.enqueue(std::move(ops), ctx_.effective(durability));
    count(rows);
    return ids;
  }

  EventId record_event(const NewEvent& e, Durability durability) override {
    keys::check_id("event.exam_id", e.exam_id);
    keys::check_id("event.student_id", e.student_id);
    Event row;
    row.exam_id = e.exam_id;
    row.student_id = e.student_id;
    row.kind = e.kind;
    row.payload = e.payload;
    db::check::time("event.record", "occurred_at", e.occurred_at);  // before truncate()
    row.occurred_at = db::check::truncate(e.occurred_at);
    row.id = 1;
    db::check::event("event.record", row);
    ctx_.seats.seat_of(e.exam_id, e.student_id);
    row.id = event_ids_.next();
    ctx_.queue.enqueue({wb::Op{row}}, ctx_.effective(durability));
    return row.id;
  }

  std::map<ViolationKind, std::int64_t> live_counts(ExamId exam) override {
    keys::check_id("exam id", exam);
    recounts_.settle();
    std::map<ViolationKind, std::int64_t> out;
    for (const auto& [field, value] : ctx_.cache.hgetall(ctx_.keys.violation_counts(exam))) {
      if (auto k = parse_violation_kind(field)) out[*k] = std::stoll(value);
    }
    return out;
  }

  std::map<ViolationKind, std::int64_t> live_counts(ExamId exam, StudentId student) override {
    keys::check_id("exam id", exam);
    keys::check_id("student id", student);
    recounts_.settle();
    constexpr int kKinds = static_cast<int>(ViolationKind::kCustom) + 1;
    Batch b;
    const std::string key = ctx_.keys.violation_counts_by_student(exam);
    for (int k = 0; k < kKinds; ++k) {
      b.hget(key,
             std::to_string(student) + ":" + std::string(to_string(static_cast<ViolationKind>(k))));
    }
    const auto replies = ctx_.cache.execute(b);
    std::map<ViolationKind, std::int64_t> out;
    for (int k = 0; k < kKinds; ++k) {
      if (!replies[static_cast<std::size_t>(k)].is_nil()) {
        out[static_cast<ViolationKind>(k)] = std::stoll(replies[static_cast<std::size_t>(k)].str);
      }
    }
    return out;
  }

  std::optional<Violation> get(ViolationId id) override {
    keys::check_id("violation id", id);
    if (auto p = ctx_.queue.pending("v:" + std::to_string(id))) return std::get<Violation>(p->data);
    return store_.get(id);
  }

  std::vector<Violation> query(const ViolationQuery& q) override {
    db::check::limit("violation.query", q.limit);
    // Queued first: a row committed between the two reads is then seen twice and deduplicated,
    // never missed.
    std::vector<Violation> queued;
    for (const auto& op : ctx_.queue.pending_of(wb::Op::Kind::kViolation)) {
      const auto& v = std::get<Violation>(op.data);
      if (matches(v, q)) queued.push_back(v);
    }
    db::ViolationFilter f;
    f.exam_id = q.exam_id;
    f.student_id = q.student_id;
    f.from = q.from;
    f.to = q.to;
    f.kind = q.kind;
    f.state = q.state;
    f.after_id = q.after_id;
    f.limit = q.limit;
    std::vector<Violation> rows = store_.query(f);
    return merge_by_id(
        std::move(rows), std::move(queued),
        [](const Violation& a, const Violation& b) { return a.id < b.id; },
        static_cast<std::size_t>(q.limit));
  }

  ViolationSummary stats(ExamId exam) override {
    keys::check_id("exam id", exam);
    // Counting queued rows without double-counting one that commits meanwhile needs them
    // committed first: statistics are a database read anyway.
    ctx_.queue.flush(ctx_.config.write_behind.commit_timeout);
    const db::ViolationStats s = store_.stats(exam);
    return ViolationSummary{s.total, s.by_kind, s.by_severity};
  }

  Violation review(ViolationId id, ReviewState state, const std::string& reviewer,
                   const std::string& note) override {
    keys::check_id("violation id", id);
    if (ctx_.queue.pending("v:" + std::to_string(id))) {
      ctx_.queue.flush(ctx_.config.write_behind.commit_timeout);  // the row must exist first
    }
    return store_.review(id, state, reviewer, note);
  }

  std::vector<Event> events(ExamId exam, std::optional<StudentId> student, int limit) override {
    keys::check_id("exam id", exam);
    db::check::limit("violation.events", limit);
    std::vector<Event> queued;
    for (const auto& op : ctx_.queue.pending_of(wb::Op::Kind::kEvent)) {
      const auto& e = std::get<Event>(op.data);
      if (e.exam_id == exam && (!student || e.student_id == *student)) queued.push_back(e);
    }
    return merge_by_id(
        store_.events(exam, student, limit), std::move(queued),
        [](const Event& a, const Event& b) {
          return a.occurred_at != b.occurred_at ? a.occurred_at < b.occurred_at : a.id < b.id;
        },
        static_cast<std::size_t>(limit));
  }

 private:
  // Stored rows plus queued ones not among them, in `order`, at most `limit`.
  template <typename Row, typename Order>
  static std::vector<Row> merge_by_id(std::vector<Row> stored, std::vector<Row> queued, Order order,
                                      std::size_t limit) {
    std::set<std::int64_t> ids;
    for (const auto& r : stored) ids.insert(r.id);
    for (auto& r : queued) {
      if (ids.insert(r.id).second) stored.push_back(std::move(r));
    }
    std::sort(stored.begin(), stored.end(), order);
    if (stored.size() > limit) stored.resize(limit);
    return stored;
  }

  // The row record() would write for `v`, id not yet taken. The same checks the stores make: a
  // bad row is refused here, never dead-lettered later.
  Violation checked(const NewViolation& v) {
    keys::check_id("violation.exam_id", v.exam_id);
    keys::check_id("violation.student_id", v.student_id);
    Violation row;
    row.exam_id = v.exam_id;
    row.student_id = v.student_id;
    row.kind = v.kind;
    row.severity = v.severity;
    row.reason = v.reason;
    row.screenshot_path = v.screenshot_path;
    // before truncate(), which cannot represent TimePoint::min() rounded down
    db::check::time("violation.record", "occurred_at", v.occurred_at);
    row.occurred_at = db::check::truncate(v.occurred_at);
    row.id = 1;  // checked with the rest; the real id is taken only for a valid row
    db::check::violation("violation.record", row);
    ctx_.seats.seat_of(v.exam_id, v.student_id);  // kNotFound when not enrolled
    return row;
  }

  std::vector<std::string> counter_keys(ExamId exam) const {
    return {ctx_.keys.violation_counts(exam), ctx_.keys.violation_counts_by_student(exam),
            ctx_.keys.violation_counted(exam)};
  }

  // Counts queued rows in the live view, one script per exam. Best-effort: the rows are
  // acknowledged already, so a hot-tier failure does not hold the caller for failover_wait nor
  // fail the call; the exam is recounted once Redis answers again.
  void count(const std::vector<Violation>& rows) {
    recounts_.settle();
    std::map<ExamId, std::vector<std::string>> by_exam;
    for (const Violation& v : rows) by_exam[v.exam_id].push_back(counted_member(v));
    const auto window = counted_window(ctx_.config);
    const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    const failover::WaitScope quick(std::chrono::milliseconds(0));
    for (auto& [exam, members] : by_exam) {
      std::vector<std::string> args = {std::to_string(now), std::to_string(now - window.count()),
                                       std::to_string(window.count())};
      args.insert(args.end(), std::make_move_iterator(members.begin()),
                  std::make_move_iterator(members.end()));
      try {
        ctx_.cache.run(violation_count_script(), counter_keys(exam), args);
      } catch (const Error&) {
        recounts_.add(std::to_string(exam));
      }
    }
  }

  // Rebuilds an exam's live counters from its rows (committed, plus this process's queued ones)
  // and the counted set (rows other processes counted but have not committed yet).
  void recount(ExamId exam) {
    const auto keys = counter_keys(exam);
    std::vector<Violation> rows;
    for (const auto& op : ctx_.queue.pending_of(wb::Op::Kind::kViolation)) {
      const auto& v = std::get<Violation>(op.data);
      if (v.exam_id == exam) rows.push_back(v);
    }
    db::ViolationFilter f;
    f.exam_id = exam;
    f.limit = db::check::kMaxLimit;
    for (;;) {
      std::vector<Violation> page = store_.query(f);
      if (page.empty()) break;
      f.after_id = page.back().id;
      const bool last = page.size() < static_cast<std::size_t>(f.limit);
      rows.insert(rows.end(), std::make_move_iterator(page.begin()),
                  std::make_move_iterator(page.end()));
      if (last) break;
    }
    std::map<std::string, std::int64_t> by_kind, by_student;
    std::unordered_set<ViolationId> ids;
    auto add = [&](const std::string& member) {
      const auto [kind, student] = fields_of(member);
      ++by_kind[kind];
      ++by_student[student];
    };
    for (const Violation& v : rows) {
      if (ids.insert(v.id).second) add(counted_member(v));
    }
    std::vector<std::string> known;
    for (const auto& m : ctx_.cache.zrange(keys[2], 0, -1)) {
      known.push_back(m.member);
      if (ids.count(std::stoll(m.member)) == 0) add(m.member);
    }
    std::vector<std::string> args = {std::to_string(by_kind.size()),
                                     std::to_string(by_student.size())};
    for (const auto* counts : {&by_kind, &by_student}) {
      for (const auto& [field, n] : *counts) {
        args.push_back(field);
        args.push_back(std::to_string(n));
      }
    }
    args.insert(args.end(), known.begin(), known.end());
    ctx_.cache.run(violation_recount_script(), keys, args);
  }

  Context& ctx_;
  db::ViolationStore& store_;
  IdAllocator violation_ids_;
  IdAllocator event_ids_;
  HotRepairs recounts_;  // exams whose live counters missed a count
};

}  // namespace

std::unique_ptr<ViolationRepo> make_violation_repo(Context& ctx) {
  return std::make_unique<ViolationRepoImpl>(ctx);
}

}  // namespace examstore::repo
