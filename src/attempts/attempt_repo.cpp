// AttemptRepo: attempt state and live answers in the hot tier, persisted behind through the
// write-behind queue (start, every answer revision) or synchronously (precreate, transitions,
// submit). See docs/attempts.md.
//
// Hot keys, per attempt, under the exam's hash tag (so one script can touch both):
//   attempt:{e:E}:S       hash: id, paper, state, duration, extra (s); started, base, deadline,
//                         submitted, last (last applied save) in microseconds; receipt, nans
//   attempt:{e:E}:S:ans   hash: question id -> "seq:saved_us:since_ms:answer"
// A missing attempt key means "not loaded" (never "no attempt"): it is filled from the database
// (plus the writes still queued) by a script that writes only when the key is still missing, so
// racing fills cannot overwrite a change made in between.
#include "examstore/attempts.hpp"

#include <sodium.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>

#include "attempts/attempt_db.hpp"
#include "common/failover.hpp"
#include "common/json.hpp"
#include "db/store_checks.hpp"
#include "examstore/error.hpp"
#include "repo/context.hpp"
#include "repo/hot_repairs.hpp"
#include "repo/keys.hpp"

namespace examstore::repo {
namespace {

using db::check::from_micros;
using db::check::to_micros;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr std::int64_t kMicros = 1000000;
// Durations and extra time are added to microsecond times (in Lua, as doubles, too): bounded
// far below where that overflows or loses precision. A year is more than any exam needs.
constexpr seconds kMaxAttemptTime{366 * 24 * 3600};
// How long exam times and paper contents are reused in this process before being read again.
constexpr auto kLocalTtl = std::chrono::seconds(2);
constexpr std::size_t kPrecreateChunk = 500;  // attempts per atomic hot-tier batch

// Script reply codes.
constexpr std::int64_t kMissing = 0;
constexpr std::int64_t kDone = 1;
constexpr std::int64_t kUnchanged = 2;
constexpr std::int64_t kNotInProgress = 3;
constexpr std::int64_t kLate = 4;

std::int64_t int_of(const Reply& r) {
  if (r.type == Reply::Type::kInteger) return r.integer;
  if (r.type == Reply::Type::kString && !r.str.empty()) return std::stoll(r.str);
  return 0;
}

std::optional<std::string> field(Cache& c, const std::string& key, const char* f) {
  return c.hget(key, f);
}

Reply array_of(std::int64_t code, const FieldValues& fields = {}) {
  Reply out;
  out.type = Reply::Type::kArray;
  out.elements.push_back(Reply::of(code));
  for (const auto& [f, v] : fields) {
    out.elements.push_back(Reply::of(f));
    out.elements.push_back(Reply::of(v));
  }
  return out;
}

// "seq:saved_us:since_ms:answer"
struct LiveAnswer {
  std::int64_t seq = 0;
  std::int64_t saved_us = 0;
  std::int64_t since_ms = 0;
  std::string answer;
};

std::string encode_answer(const LiveAnswer& a) {
  return std::to_string(a.seq) + ":" + std::to_string(a.saved_us) + ":" +
         std::to_string(a.since_ms) + ":" + a.answer;
}

LiveAnswer decode_answer(const std::string& v) {
  LiveAnswer a;
  const auto p1 = v.find(':');
  const auto p2 = v.find(':', p1 + 1);
  const auto p3 = v.find(':', p2 + 1);
  if (p1 == std::string::npos || p2 == std::string::npos || p3 == std::string::npos) {
    throw Error(ErrorCode::kDataIntegrity, "attempt answers", "malformed live answer");
  }
  a.seq = std::stoll(v.substr(0, p1));
  a.saved_us = std::stoll(v.substr(p1 + 1, p2 - p1 - 1));
  a.since_ms = std::stoll(v.substr(p2 + 1, p3 - p2 - 1));
  a.answer = v.substr(p3 + 1);
  return a;
}

std::int64_t seq_of(const std::string& v) { return std::stoll(v.substr(0, v.find(':'))); }

// KEYS: attempt. ARGV: now_us, exam ends_us. not_started -> in_progress with the deadline
// min(now + duration, ends) + extra. Returns {code, hash...}: kDone when started now,
// kUnchanged (with the hash) when it was in another state, kMissing when not loaded.
const Script& start_script() {
  static const Script s{
      "attempt.start",
      R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local code = 2
if redis.call('HGET', KEYS[1], 'state') == 'not_started' then
  local now = tonumber(ARGV[1])
  local base = now + tonumber(redis.call('HGET', KEYS[1], 'duration')) * 1000000
  if base > tonumber(ARGV[2]) then base = tonumber(ARGV[2]) end
  local extra = tonumber(redis.call('HGET', KEYS[1], 'extra')) * 1000000
  redis.call('HSET', KEYS[1], 'state', 'in_progress', 'started', ARGV[1],
             'base', string.format('%.0f', base), 'deadline', string.format('%.0f', base + extra))
  code = 1
end
local r = redis.call('HGETALL', KEYS[1])
table.insert(r, 1, code)
return r
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        if (c.hgetall(k[0]).empty()) return array_of(kMissing);
        std::int64_t code = kUnchanged;
        if (field(c, k[0], "state") == std::string("not_started")) {
          const std::int64_t now = std::stoll(a[0]);
          std::int64_t base = now + std::stoll(*field(c, k[0], "duration")) * kMicros;
          base = std::min<std::int64_t>(base, std::stoll(a[1]));
          const std::int64_t extra = std::stoll(*field(c, k[0], "extra")) * kMicros;
          c.hset(k[0], {{"state", "in_progress"},
                        {"started", a[0]},
                        {"base", std::to_string(base)},
                        {"deadline", std::to_string(base + extra)}});
          code = kDone;
        }
        return array_of(code, c.hgetall(k[0]));
      },
      /*idempotent=*/true};
  return s;
}

// KEYS: attempt. ARGV: started_us. Undoes a start whose write could not be queued (only when the
// attempt is still in that start).
const Script& unstart_script() {
  static const Script s{
      "attempt.unstart",
      R"lua(
if redis.call('HGET', KEYS[1], 'state') == 'in_progress' and
   redis.call('HGET', KEYS[1], 'started') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'state', 'not_started')
  redis.call('HDEL', KEYS[1], 'started', 'base', 'deadline')
end
return 1
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        if (field(c, k[0], "state") == std::string("in_progress") &&
            field(c, k[0], "started") == a[0]) {
          c.hset(k[0], {{"state", "not_started"}});
          c.hdel(k[0], {"started", "base", "deadline"});
        }
        return Reply::of(std::int64_t{1});
      },
      /*idempotent=*/true};
  return s;
}

// KEYS: attempt, answers. ARGV: question, seq, at_us, grace_us, answer. Not idempotent: a resend
// after a lost reply would answer kUnchanged and the revision would never be queued; autosave
// takes the database path instead (save_durably). Returns
//   {kMissing} | {kNotInProgress, state} | {kLate, deadline_us} | {kUnchanged, stored seq} |
//   {kDone, attempt id, since_ms, previous value or '', previous last or ''}.
const Script& save_script() {
  static const Script s{
      "attempt.save",
      R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local a = redis.call('HMGET', KEYS[1], 'state', 'deadline', 'last', 'id')
if a[1] ~= 'in_progress' then return {3, a[1]} end
local at = tonumber(ARGV[3])
if at > tonumber(a[2]) + tonumber(ARGV[4]) then return {4, a[2]} end
local prev = redis.call('HGET', KEYS[2], ARGV[1])
if prev then
  local ps = string.match(prev, '^(%d+):')
  if tonumber(ARGV[2]) <= tonumber(ps) then return {2, ps} end
end
local since = 0
local last = ''
if a[3] then
  last = a[3]
  since = math.floor((at - tonumber(a[3])) / 1000)
  if since < 0 then since = 0 end
end
local sincetext = string.format('%d', since)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2] .. ':' .. ARGV[3] .. ':' .. sincetext .. ':' .. ARGV[5])
if last == '' or at > tonumber(last) then redis.call('HSET', KEYS[1], 'last', ARGV[3]) end
return {1, a[4], sincetext, prev or '', last}
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        if (c.hgetall(k[0]).empty()) return array_of(kMissing);
        const auto state = field(c, k[0], "state");
        Reply out;
        out.type = Reply::Type::kArray;
        if (state != std::string("in_progress")) {
          out.elements = {Reply::of(kNotInProgress), Reply::of(state.value_or(""))};
          return out;
        }
        const std::string deadline = field(c, k[0], "deadline").value_or("0");
        const std::int64_t at = std::stoll(a[2]);
        if (at > std::stoll(deadline) + std::stoll(a[3])) {
          out.elements = {Reply::of(kLate), Reply::of(deadline)};
          return out;
        }
        const auto prev = c.hget(k[1], a[0]);
        if (prev && std::stoll(a[1]) <= seq_of(*prev)) {
          out.elements = {Reply::of(kUnchanged), Reply::of(std::to_string(seq_of(*prev)))};
          return out;
        }
        const std::string last = field(c, k[0], "last").value_or("");
        std::int64_t since = 0;
        if (!last.empty()) since = std::max<std::int64_t>(0, (at - std::stoll(last)) / 1000);
        const std::string since_text = std::to_string(since);
        c.hset(k[1], {{a[0], a[1] + ":" + a[2] + ":" + since_text + ":" + a[4]}});
        if (last.empty() || at > std::stoll(last)) c.hset(k[0], {{"last", a[2]}});
        out.elements = {Reply::of(kDone), Reply::of(field(c, k[0], "id").value_or("0")),
                        Reply::of(since_text), Reply::of(prev.value_or("")), Reply::of(last)};
        return out;
      }};
  return s;
}

// KEYS: attempt, answers. ARGV: question, value written, previous value, at_us written,
// previous last. Undoes a save whose write could not be queued, if nothing replaced it since.
const Script& unsave_script() {
  static const Script s{
      "attempt.unsave",
      R"lua(
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  if ARGV[3] == '' then redis.call('HDEL', KEYS[2], ARGV[1])
  else redis.call('HSET', KEYS[2], ARGV[1], ARGV[3]) end
end
if redis.call('HGET', KEYS[1], 'last') == ARGV[4] then
  if ARGV[5] == '' then redis.call('HDEL', KEYS[1], 'last')
  else redis.call('HSET', KEYS[1], 'last', ARGV[5]) end
end
return 1
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        auto restore = [&c](const std::string& key, const std::string& f, const std::string& now,
                            const std::string& before) {
          if (c.hget(key, f) != now) return;
          if (before.empty()) {
            c.hdel(key, {f});
          } else {
            c.hset(key, {{f, before}});
          }
        };
        restore(k[1], a[0], a[1], a[2]);
        restore(k[0], "last", a[3], a[4]);
        return Reply::of(std::int64_t{1});
      },
      /*idempotent=*/true};
  return s;
}

// KEYS: attempt, answers. ARGV: n, then n field/value pairs of the attempt, then field/value
// pairs of answers. Writes only when the attempt key is missing; an answer only when it is
// missing or has a lower seq (answers saved after the attempt key was lost are kept).
const Script& fill_script() {
  static const Script s{
      "attempt.fill",
      R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local n = tonumber(ARGV[1])
for i = 2, 1 + 2 * n, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
for i = 2 + 2 * n, #ARGV, 2 do
  local cur = redis.call('HGET', KEYS[2], ARGV[i])
  if not cur or tonumber(string.match(cur, '^(%d+):')) < tonumber(string.match(ARGV[i + 1], '^(%d+):')) then
    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
return 1
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        if (!c.hgetall(k[0]).empty()) return Reply::of(std::int64_t{0});
        const auto n = static_cast<std::size_t>(std::stoll(a[0]));
        FieldValues attempt;
        for (std::size_t i = 1; i < 1 + 2 * n; i += 2) attempt.emplace_back(a[i], a[i + 1]);
        c.hset(k[0], attempt);
        for (std::size_t i = 1 + 2 * n; i + 1 < a.size(); i += 2) {
          const auto cur = c.hget(k[1], a[i]);
          if (!cur || seq_of(*cur) < seq_of(a[i + 1])) c.hset(k[1], {{a[i], a[i + 1]}});
        }
        return Reply::of(std::int64_t{1});
      },
      /*idempotent=*/true};
  return s;
}

// KEYS: attempt. ARGV: extra seconds. Sets the extra time; a started attempt's deadline becomes
// base + extra. Returns 0 when not loaded.
const Script& extra_script() {
  static const Script s{
      "attempt.extra",
      R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'extra', ARGV[1])
local base = redis.call('HGET', KEYS[1], 'base')
if base then
  redis.call('HSET', KEYS[1], 'deadline',
             string.format('%.0f', tonumber(base) + tonumber(ARGV[1]) * 1000000))
end
return 1
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        if (c.hgetall(k[0]).empty()) return Reply::of(std::int64_t{0});
        c.hset(k[0], {{"extra", a[0]}});
        if (const auto base = field(c, k[0], "base")) {
          c.hset(k[0],
                 {{"deadline", std::to_string(std::stoll(*base) + std::stoll(a[0]) * kMicros)}});
        }
        return Reply::of(std::int64_t{1});
      },
      /*idempotent=*/true};
  return s;
}

// The hot hash of an attempt (without "last", which only saves write).
FieldValues to_fields(const Attempt& a, std::optional<std::int64_t> nans) {
  FieldValues f = {{"id", std::to_string(a.id)},
                   {"paper", a.paper.str()},
                   {"state", std::string(to_string(a.state))},
                   {"duration", std::to_string(a.duration.count())},
                   {"extra", std::to_string(a.extra_time.count())}};
  if (a.started_at) f.emplace_back("started", std::to_string(to_micros(*a.started_at)));
  if (a.deadline) {
    f.emplace_back("deadline", std::to_string(to_micros(*a.deadline)));
    f.emplace_back("base", std::to_string(to_micros(*a.deadline - a.extra_time)));
  }
  if (a.submitted_at) f.emplace_back("submitted", std::to_string(to_micros(*a.submitted_at)));
  if (!a.receipt.empty()) f.emplace_back("receipt", a.receipt);
  if (nans) f.emplace_back("nans", std::to_string(*nans));
  return f;
}

Attempt from_fields(ExamId exam, StudentId student, const std::map<std::string, std::string>& f) {
  auto get = [&f](const char* name) -> const std::string* {
    const auto it = f.find(name);
    return it == f.end() ? nullptr : &it->second;
  };
  auto time = [&](const char* name) -> std::optional<TimePoint> {
    const std::string* v = get(name);
    if (v == nullptr || v->empty()) return std::nullopt;
    return from_micros(std::stoll(*v));
  };
  Attempt a;
  a.exam_id = exam;
  a.student_id = student;
  const std::string* id = get("id");
  const std::string* state = get("state");
  const auto parsed = state ? parse_attempt_state(*state) : std::nullopt;
  if (id == nullptr || !parsed) {
    throw Error(ErrorCode::kDataIntegrity, "attempt get", "malformed hot attempt");
  }
  a.id = std::stoll(*id);
  a.state = *parsed;
  if (const std::string* p = get("paper")) a.paper = PaperKey::parse(*p);
  if (const std::string* d = get("duration")) a.duration = seconds(std::stoll(*d));
  if (const std::string* e = get("extra")) a.extra_time = seconds(std::stoll(*e));
  a.started_at = time("started");
  a.deadline = time("deadline");
  a.submitted_at = time("submitted");
  if (const std::string* r = get("receipt")) a.receipt = *r;
  return a;
}

std::map<std::string, std::string> to_map(const std::vector<Reply>& e, std::size_t from) {
  std::map<std::string, std::string> m;
  for (std::size_t i = from; i + 1 < e.size(); i += 2) m[e[i].str] = e[i + 1].str;
  return m;
}

std::string format_time(TimePoint t) {
  const auto s = std::chrono::duration_cast<seconds>(t.time_since_epoch()).count();
  return "@" + std::to_string(s) + "s";
}

class AttemptRepoImpl final : public AttemptRepo {
 public:
  AttemptRepoImpl(Context& ctx, PaperStore& papers)
      : ctx_(ctx),
        store_(*ctx.stores.attempts),
        papers_(papers),
        stale_([this](const std::string& item) { drop_hot(item); },
               ctx.telemetry ? &ctx.telemetry->hot_repairs : nullptr) {
    if (sodium_init() < 0) {
      throw Error(ErrorCode::kInternal, "attempts", "libsodium could not be initialised");
    }
  }

  std::int64_t precreate(const AttemptPlan& plan) override {
    const std::string op = "attempts precreate";
    keys::check_id("exam id", plan.exam_id);
    if (plan.duration.count() <= 0 || plan.duration > kMaxAttemptTime) {
      throw Error(ErrorCode::kInvalidArgument, "duration",
                  "must be 1.." + std::to_string(kMaxAttemptTime.count()) + " seconds");
    }
    for (const StudentId s : plan.students) keys::check_id("student id", s);
    if (plan.students.empty()) return 0;
    // The in-memory database has no paper table: a paper exists when it has questions.
    if (papers_.count(plan.paper) == 0) {
      throw Error(ErrorCode::kNotFound, op, "no paper " + plan.paper.str() + " (or it is empty)");
    }
    const std::vector<Attempt> made = store_.precreate(plan);
    for (std::size_t i = 0; i < made.size(); i += kPrecreateChunk) {
      Batch b;
      for (std::size_t j = i; j < std::min(made.size(), i + kPrecreateChunk); ++j) {
        const Attempt& a = made[j];
        const std::string key = ctx_.keys.attempt(a.exam_id, a.student_id);
        b.del(key).del(ctx_.keys.attempt_answers(a.exam_id, a.student_id));
        for (const auto& [f, v] : to_fields(a, std::nullopt)) b.hset(key, f, v);
      }
      try {
        ctx_.cache.execute_atomic(b);
      } catch (const Error&) {  // committed: the hot tier fills itself from the database later
      }
    }
    return static_cast<std::int64_t>(made.size());
  }

  Attempt set_extra_time(ExamId exam, StudentId student, seconds extra) override {
    if (extra.count() < 0 || extra > kMaxAttemptTime) {
      throw Error(ErrorCode::kInvalidArgument, "extra_time",
                  "must be 0.." + std::to_string(kMaxAttemptTime.count()) + " seconds");
    }
    const Attempt a = require(exam, student, "attempt set_extra_time");
    store_.set_extra_time(a.id, extra);
    // Not loaded (kept 0): the next get() loads the new extra time from the database.
    ctx_.cache.run(extra_script(), {ctx_.keys.attempt(exam, student)},
                   {std::to_string(extra.count())});
    return require(exam, student, "attempt set_extra_time");
  }

  Attempt start(ExamId exam, StudentId student, TimePoint now, Durability durability) override {
    const std::string op = "attempt start";
    const Exam e = exam_of(exam);
    if (e.status == ExamStatus::kCancelled || e.status == ExamStatus::kFinished ||
        now < e.starts_at || now >= e.ends_at) {
      throw Error(ErrorCode::kConflict, op,
                  db::check::exam_label(exam) + " is not running at " + format_time(now) +
                      " (it runs from " + format_time(e.starts_at) + " to " +
                      format_time(e.ends_at) + ", status " + std::string(to_string(e.status)) +
                      ")");
    }
    const std::string key = ctx_.keys.attempt(exam, student);
    const std::string now_us = std::to_string(to_micros(now));
    const Reply r = run_loaded(exam, student, op, start_script(), {key},
                               {now_us, std::to_string(to_micros(e.ends_at))});
    Attempt a = from_fields(exam, student, to_map(r.elements, 1));
    if (a.state != AttemptState::kInProgress) {
      throw Error(ErrorCode::kConflict, op,
                  "attempt " + std::to_string(a.id) + " is " + std::string(to_string(a.state)) +
                      ", cannot start");
    }
    // A repeated start journals the start again (idempotent): the first call may have died
    // between the hot-tier change and the journal.
    const bool started_now = int_of(r.elements[0]) == kDone;
    db::AttemptStart s{a.id, exam, student, *a.started_at, *a.deadline - a.extra_time};
    try {
      ctx_.queue.enqueue({wb::Op{s}}, ctx_.effective(durability));
    } catch (const Error& err) {
      if (started_now && !err.outcome_unknown()) {
        try {
          ctx_.cache.run(unstart_script(), {key}, {now_us});
        } catch (const Error&) {  // the hot tier failed too: submit() still carries the start
        }
      }
      throw;
    }
    return a;
  }

  std::optional<Attempt> get(ExamId exam, StudentId student) override {
    std::optional<failover::WaitScope> quick;
    quick_while_away(quick);
    if (!stale(exam, student)) {
      try {
        return get_hot(exam, student);
      } catch (const Error& e) {
        if (!failover::failover_class(e)) throw;
        stale_.add(item_of(exam, student));
      }
    }
    // Redis is away: the database plus this process's queue, as a fill would load it.
    auto l = load(exam, student);
    if (!l || l->attempt.state == AttemptState::kVoided) return std::nullopt;
    return l->attempt;
  }

  std::optional<Attempt> get_hot(ExamId exam, StudentId student) {
    const std::string key = ctx_.keys.attempt(exam, student);
    for (int i = 0; i < 2; ++i) {
      const FieldValues f = ctx_.cache.hgetall(key);
      if (!f.empty()) {
        const Attempt a = from_fields(exam, student, {f.begin(), f.end()});
        if (a.state == AttemptState::kVoided) return std::nullopt;
        return a;
      }
      if (!fill(exam, student)) return std::nullopt;
    }
    throw Error(ErrorCode::kUnavailable, "attempt get",
                "the hot tier lost the attempt again while it was being loaded");
  }

  SaveAck autosave(const AnswerSave& save, Durability durability) override {
    const std::string op = "attempt autosave";
    std::optional<failover::WaitScope> quick;
    quick_while_away(quick);
    keys::check_id("question id", save.question_id);
    if (save.seq <= 0) throw Error(ErrorCode::kInvalidArgument, "seq", "must be > 0");
    if (save.answer.size() > ctx_.config.attempts.max_answer_bytes) {
      throw Error(ErrorCode::kInvalidArgument, "answer",
                  "is " + std::to_string(save.answer.size()) + " bytes, more than " +
                      std::to_string(ctx_.config.attempts.max_answer_bytes));
    }
    if (const auto bad = json::validate(save.answer)) {
      throw Error(ErrorCode::kInvalidArgument, "answer", "is not valid JSON");
    }
    const Attempt a = require(save.exam_id, save.student_id, op);
    if (!on_paper(a.paper, save.question_id)) {
      throw Error(
          ErrorCode::kInvalidArgument, "question_id",
          "question " + std::to_string(save.question_id) + " is not on paper " + a.paper.str());
    }
    const std::vector<std::string> k = {ctx_.keys.attempt(save.exam_id, save.student_id),
                                        ctx_.keys.attempt_answers(save.exam_id, save.student_id)};
    if (stale(save.exam_id, save.student_id)) return save_durably(save, durability, op);
    const std::string q = std::to_string(save.question_id);
    const std::string seq = std::to_string(save.seq);
    const std::string at = std::to_string(to_micros(save.at));
    const std::string grace = std::to_string(ctx_.config.attempts.submit_grace.count() * kMicros);
    Reply r;
    try {
      r = run_loaded(save.exam_id, save.student_id, op, save_script(), k,
                     {q, seq, at, grace, save.answer});
    } catch (const Error& e) {
      if (!failover::failover_class(e)) throw;
      return save_durably(save, durability, op);
    }
    switch (int_of(r.elements[0])) {
      case kNotInProgress:
        throw Error(
            ErrorCode::kConflict, op,
            "attempt " + std::to_string(a.id) + " is " + r.elements[1].str + ", not in_progress");
      case kLate:
        throw late(op, a, save.at);
      case kUnchanged:
        return SaveAck{false, int_of(r.elements[1])};
      default:
        break;
    }
    const std::int64_t since = int_of(r.elements[2]);
    db::AnswerRevision rev{a.id,
                           save.exam_id,
                           save.student_id,
                           save.question_id,
                           save.seq,
                           save.answer,
                           from_micros(to_micros(save.at)),
                           milliseconds(since)};
    try {
      ctx_.queue.enqueue({wb::Op{rev}}, ctx_.effective(durability));
    } catch (const Error& err) {
      if (!err.outcome_unknown()) {
        const std::string written = seq + ":" + at + ":" + r.elements[2].str + ":" + save.answer;
        try {
          ctx_.cache.run(unsave_script(), k,
                         {q, written, r.elements[3].str, at, r.elements[4].str});
        } catch (const Error&) {  // the hot tier failed too: nothing can be undone there now
        }
      }
      throw;
    }
    return SaveAck{true, save.seq};
  }

  std::vector<SavedAnswer> answers(ExamId exam, StudentId student) override {
    std::optional<failover::WaitScope> quick;
    quick_while_away(quick);
    require(exam, student, "attempt answers");
    std::vector<SavedAnswer> out;
    bool hot = !stale(exam, student);
    if (hot) {
      try {
        for (const auto& [q, v] : ctx_.cache.hgetall(ctx_.keys.attempt_answers(exam, student))) {
          const LiveAnswer a = decode_answer(v);
          out.push_back(SavedAnswer{std::stoll(q), a.seq, a.answer, from_micros(a.saved_us),
                                    milliseconds(a.since_ms)});
        }
      } catch (const Error& e) {
        if (!failover::failover_class(e)) throw;
        out.clear();
        hot = false;
      }
    }
    if (!hot) {  // Redis is away, or its copy is stale: the database plus the queue
      if (auto l = load(exam, student)) {
        for (auto& [q, a] : l->latest) out.push_back(std::move(a));
      }
    }
    std::sort(out.begin(), out.end(), [](const SavedAnswer& x, const SavedAnswer& y) {
      return x.question_id < y.question_id;
    });
    return out;
  }

  std::vector<SavedAnswer> revisions(ExamId exam, StudentId student) override {
    return store_.revisions(require(exam, student, "attempt revisions").id);
  }

  SubmissionReceipt submit(ExamId exam, StudentId student, TimePoint now) override {
    const std::string op = "attempt submit";
    std::optional<failover::WaitScope> quick;
    quick_while_away(quick);
    const Attempt a = require(exam, student, op);
    if (a.state == AttemptState::kSubmitted ||
        (a.state == AttemptState::kGraded && !a.receipt.empty())) {
      return receipt_of(a);
    }
    if (a.state != AttemptState::kInProgress) {
      throw Error(ErrorCode::kConflict, op,
                  "attempt " + std::to_string(a.id) + " is " + std::string(to_string(a.state)) +
                      ", cannot be submitted");
    }
    if (a.deadline && now > *a.deadline + ctx_.config.attempts.submit_grace) {
      throw late(op, a, now);
    }
    db::Submission s;
    s.attempt_id = a.id;
    s.start = db::AttemptStart{a.id, exam, student, *a.started_at, *a.deadline - a.extra_time};
    s.submitted_at = from_micros(to_micros(now));
    for (const auto& live : answers(exam, student)) {
      s.answers.push_back(db::AnswerRevision{a.id, exam, student, live.question_id, live.seq,
                                             live.answer, live.saved_at, live.since_previous});
    }
    s.receipt = receipt_text(a.id, s.answers);
    const Attempt stored = store_.submit(s);
    const auto n = static_cast<std::int64_t>(
        stored.receipt == s.receipt ? s.answers.size() : store_.answers(a.id).size());
    put(stored, n);
    SubmissionReceipt out = receipt_of(stored);
    out.answers = static_cast<int>(n);
    return out;
  }

  Attempt transition(ExamId exam, StudentId student, AttemptState to) override {
    const std::string op = "attempt transition";
    if (to == AttemptState::kInProgress || to == AttemptState::kSubmitted) {
      throw Error(ErrorCode::kInvalidArgument, "to",
                  std::string(to_string(to)) + " is reached through start() or submit()");
    }
    const Attempt a = require(exam, student, op);
    if (!is_legal_transition(a.state, to)) {
      throw Error(ErrorCode::kConflict, op,
                  "attempt " + std::to_string(a.id) + " is " + std::string(to_string(a.state)) +
                      ", cannot become " + std::string(to_string(to)));
    }
    std::vector<AttemptState> from = {a.state};
    std::optional<db::AttemptStart> start;
    if (a.state == AttemptState::kInProgress) {
      from.push_back(AttemptState::kNotStarted);  // its start may still be queued
      start = db::AttemptStart{a.id, exam, student, *a.started_at, *a.deadline - a.extra_time};
    }
    Attempt stored;
    try {
      stored = store_.transition(a.id, from, to, start);
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kConflict) forget(exam, student);  // the hot tier was stale
      throw;
    }
    put(stored, std::nullopt);
    return stored;
  }

  std::int64_t mark_overdue(ExamId exam, TimePoint now) override {
    keys::check_id("exam id", exam);
    // Starts still queued must reach the database first, or their attempts would be missed.
    ctx_.queue.flush(ctx_.config.write_behind.commit_timeout);
    const std::vector<StudentId> moved =
        store_.mark_overdue(exam, now, ctx_.config.attempts.submit_grace);
    Batch b;
    const std::chrono::seconds ttl = ctx_.config.attempts.finished_ttl;
    for (const StudentId s : moved) {
      b.hset(ctx_.keys.attempt(exam, s), "state", "overdue");
      if (ttl.count() > 0) {  // as expire_if_finished, in the same round trip
        b.expire(ctx_.keys.attempt(exam, s), ttl);
        b.expire(ctx_.keys.attempt_answers(exam, s), ttl + std::chrono::minutes(1));
      }
    }
    if (!b.empty()) ctx_.cache.execute(b);
    return static_cast<std::int64_t>(moved.size());
  }

  std::vector<QuestionId> questions_used_in_recent_exams(int n) override {
    if (n <= 0) throw Error(ErrorCode::kInvalidArgument, "n", "must be > 0");
    std::set<QuestionId> ids;
    for (const PaperKey& p : store_.papers_of_recent_exams(n)) {
      for (const PaperItem& item : papers_.items(p)) ids.insert(item.question_id);
    }
    return {ids.begin(), ids.end()};
  }

 private:
  Attempt require(ExamId exam, StudentId student, const std::string& op) {
    auto a = get(exam, student);
    if (!a) {
      throw Error(ErrorCode::kNotFound, op,
                  db::check::student_label(student) + " has no live attempt in " +
                      db::check::exam_label(exam));
    }
    return *a;
  }

  // Runs a script that answers kMissing when the attempt is not loaded: loads it and retries.
  Reply run_loaded(ExamId exam, StudentId student, const std::string& op, const Script& script,
                   const std::vector<std::string>& keys, const std::vector<std::string>& args) {
    for (int i = 0; i < 3; ++i) {
      Reply r = ctx_.cache.run(script, keys, args);
      if (int_of(r.elements.at(0)) != kMissing) return r;
      if (!fill(exam, student)) {
        throw Error(ErrorCode::kNotFound, op,
                    db::check::student_label(student) + " has no live attempt in " +
                        db::check::exam_label(exam));
      }
    }
    throw Error(ErrorCode::kUnavailable, op,
                "the hot tier lost the attempt again while it was being loaded");
  }

  // The live attempt as the database holds it plus the writes still queued here: its newest
  // answer per question and the time of the last save.
  struct Loaded {
    Attempt attempt;
    std::map<QuestionId, SavedAnswer> latest;
    std::optional<std::int64_t> last;
  };

  std::optional<Loaded> load(ExamId exam, StudentId student) {
    auto a = store_.live(exam, student);
    if (!a) return std::nullopt;
    std::map<QuestionId, SavedAnswer> latest;
    for (auto& s : store_.answers(a->id)) latest[s.question_id] = s;
    std::optional<std::int64_t> last;
    for (const auto& [q, s] : latest) last = std::max(last.value_or(0), to_micros(s.saved_at));
    for (const wb::Op& op : ctx_.queue.pending_of(wb::Op::Kind::kAnswerRevision)) {
      const auto& r = std::get<db::AnswerRevision>(op.data);
      if (r.attempt_id != a->id) continue;
      last = std::max(last.value_or(0), to_micros(r.saved_at));
      auto it = latest.find(r.question_id);
      if (it == latest.end() || it->second.seq < r.seq) {
        latest[r.question_id] =
            SavedAnswer{r.question_id, r.seq, r.answer, r.saved_at, r.since_previous};
      }
    }
    if (a->state == AttemptState::kNotStarted) {
      db::AttemptStart key_only;
      key_only.attempt_id = a->id;
      if (auto p = ctx_.queue.pending(wb::Op{key_only}.key())) {
        const auto& s = std::get<db::AttemptStart>(p->data);
        a->state = AttemptState::kInProgress;
        a->started_at = s.started_at;
        a->deadline = s.base_deadline + a->extra_time;
      }
    }
    return Loaded{std::move(*a), std::move(latest), last};
  }

  // Loads the live attempt into the hot tier (load() above). False when there is none.
  bool fill(ExamId exam, StudentId student) {
    auto l = load(exam, student);
    if (!l) return false;
    Attempt* a = &l->attempt;
    const auto& latest = l->latest;
    const auto& last = l->last;
    std::optional<std::int64_t> nans;
    if (!a->receipt.empty()) nans = static_cast<std::int64_t>(latest.size());
    FieldValues f = to_fields(*a, nans);
    if (last) f.emplace_back("last", std::to_string(*last));
    std::vector<std::string> args = {std::to_string(f.size())};
    for (auto& [k, v] : f) {
      args.push_back(k);
      args.push_back(v);
    }
    for (const auto& [q, s] : latest) {
      args.push_back(std::to_string(q));
      args.push_back(encode_answer(
          LiveAnswer{s.seq, to_micros(s.saved_at), s.since_previous.count(), s.answer}));
    }
    ctx_.cache.run(fill_script(),
                   {ctx_.keys.attempt(exam, student), ctx_.keys.attempt_answers(exam, student)},
                   args);
    expire_if_finished(a->exam_id, a->student_id, a->state);
    return true;
  }

  // A finished attempt leaves the hot tier `finished_ttl` after its last change (its answers a
  // minute later, so a read never finds the attempt without them); a later read reloads it from
  // the database. Without this, every exam's attempts would stay in Redis for good.
  void expire_if_finished(ExamId exam, StudentId student, AttemptState state) {
    const std::chrono::seconds ttl = ctx_.config.attempts.finished_ttl;
    if (!is_finished(state) || ttl.count() == 0) return;
    Batch b;
    b.expire(ctx_.keys.attempt(exam, student), ttl);
    b.expire(ctx_.keys.attempt_answers(exam, student), ttl + std::chrono::minutes(1));
    ctx_.cache.execute(b);
  }

  static bool is_finished(AttemptState s) {
    return s == AttemptState::kSubmitted || s == AttemptState::kGraded ||
           s == AttemptState::kOverdue || s == AttemptState::kAbandoned;
  }

  // Writes the database's view of an attempt over the hot one (after a synchronous change).
  void put(const Attempt& a, std::optional<std::int64_t> nans) {
    const std::string key = ctx_.keys.attempt(a.exam_id, a.student_id);
    if (a.state == AttemptState::kVoided) {
      forget(a.exam_id, a.student_id);
      return;
    }
    try {
      ctx_.cache.hset(key, to_fields(a, nans));
      expire_if_finished(a.exam_id, a.student_id, a.state);
    } catch (const Error&) {
      forget(a.exam_id, a.student_id);
    }
  }

  // Drops the hot copy: the next access reloads it from the database. When the hot tier is
  // away, the drop is repeated once it answers again (its copy may be stale by then).
  void forget(ExamId exam, StudentId student) {
    const std::string item = item_of(exam, student);
    try {
      drop_hot(item);
    } catch (const Error&) {
      stale_.add(item);
    }
  }

  void drop_hot(const std::string& item) {
    const auto colon = item.find(':');
    const ExamId exam = std::stoll(item.substr(0, colon));
    const StudentId student = std::stoll(item.substr(colon + 1));
    ctx_.cache.del({ctx_.keys.attempt(exam, student), ctx_.keys.attempt_answers(exam, student)});
  }

  static std::string item_of(ExamId exam, StudentId student) {
    return std::to_string(exam) + ":" + std::to_string(student);
  }

  // Whether the attempt's hot copy waits to be dropped (it may miss writes made while Redis
  // was away): until then it is read from the database plus the queue.
  bool stale(ExamId exam, StudentId student) const {
    return stale_.any() && stale_.contains(item_of(exam, student));
  }

  // While hot-tier repairs are pending (Redis failed lately), calls do not wait failover_wait
  // for it: they go to the database at once. First settles the repairs (Redis may be back).
  void quick_while_away(std::optional<failover::WaitScope>& quick) {
    stale_.settle();
    if (stale_.any()) quick.emplace(std::chrono::milliseconds(0));
  }

  // autosave() while Redis is away (or the save's outcome there is unknown): the same checks
  // against the database plus the queue, the revision queued, and the hot copy dropped once
  // Redis answers (it may hold an older answer, or this one without its revision queued).
  SaveAck save_durably(const AnswerSave& save, Durability durability, const std::string& op) {
    forget(save.exam_id, save.student_id);
    auto l = load(save.exam_id, save.student_id);
    if (!l || l->attempt.state == AttemptState::kVoided) {
      throw Error(ErrorCode::kNotFound, op,
                  db::check::student_label(save.student_id) + " has no live attempt in " +
                      db::check::exam_label(save.exam_id));
    }
    const Attempt& a = l->attempt;
    if (a.state != AttemptState::kInProgress) {
      throw Error(ErrorCode::kConflict, op,
                  "attempt " + std::to_string(a.id) + " is " + std::string(to_string(a.state)) +
                      ", not in_progress");
    }
    if (a.deadline && save.at > *a.deadline + ctx_.config.attempts.submit_grace) {
      throw late(op, a, save.at);
    }
    const auto prev = l->latest.find(save.question_id);
    if (prev != l->latest.end() && save.seq <= prev->second.seq) {
      return SaveAck{false, prev->second.seq};
    }
    const std::int64_t at = to_micros(save.at);
    const std::int64_t since = l->last ? std::max<std::int64_t>(0, (at - *l->last) / 1000) : 0;
    db::AnswerRevision rev{a.id,     save.exam_id, save.student_id, save.question_id,
                           save.seq, save.answer,  from_micros(at), milliseconds(since)};
    ctx_.queue.enqueue({wb::Op{rev}}, ctx_.effective(durability));
    return SaveAck{true, save.seq};
  }

  SubmissionReceipt receipt_of(const Attempt& a) {
    SubmissionReceipt r;
    r.attempt_id = a.id;
    r.receipt = a.receipt;
    r.submitted_at = a.submitted_at.value_or(TimePoint{});
    std::optional<std::string> n;
    try {
      n = field(ctx_.cache, ctx_.keys.attempt(a.exam_id, a.student_id), "nans");
    } catch (const Error& e) {
      if (!failover::failover_class(e)) throw;
    }
    r.answers = n ? std::stoi(*n) : static_cast<int>(store_.answers(a.id).size());
    return r;
  }

  static std::string receipt_text(AttemptId id, std::vector<db::AnswerRevision> answers) {
    std::sort(answers.begin(), answers.end(), [](const auto& x, const auto& y) {
      return std::tie(x.question_id, x.seq) < std::tie(y.question_id, y.seq);
    });
    std::string text = "attempt:" + std::to_string(id);
    for (const auto& a : answers) {
      text += "|" + std::to_string(a.question_id) + ":" + std::to_string(a.seq);
    }
    unsigned char hash[crypto_generichash_BYTES];
    crypto_generichash(hash, sizeof hash, reinterpret_cast<const unsigned char*>(text.data()),
                       text.size(), nullptr, 0);
    char hex[2 * crypto_generichash_BYTES + 1];
    sodium_bin2hex(hex, sizeof hex, hash, sizeof hash);
    return hex;
  }

  Error late(const std::string& op, const Attempt& a, TimePoint at) const {
    return Error(ErrorCode::kConflict, op,
                 "attempt " + std::to_string(a.id) + ": " + format_time(at) +
                     " is past the deadline " +
                     (a.deadline ? format_time(*a.deadline) : std::string("(none)")) +
                     " plus the grace of " +
                     std::to_string(ctx_.config.attempts.submit_grace.count()) + " s");
  }

  Exam exam_of(ExamId id) {
    keys::check_id("exam id", id);
    const auto now = std::chrono::steady_clock::now();
    {
      std::lock_guard<std::mutex> l(mu_);
      const auto it = exams_.find(id);
      if (it != exams_.end() && now - it->second.second < kLocalTtl) return it->second.first;
    }
    auto e = ctx_.stores.exams->get(id);
    if (!e) throw Error(ErrorCode::kNotFound, "attempt start", db::check::exam_label(id));
    std::lock_guard<std::mutex> l(mu_);
    exams_[id] = {*e, now};
    return *e;
  }

  bool on_paper(const PaperKey& paper, QuestionId q) {
    const auto now = std::chrono::steady_clock::now();
    const std::string name = paper.str();
    {
      std::lock_guard<std::mutex> l(mu_);
      const auto it = papers_cache_.find(name);
      if (it != papers_cache_.end() && now - it->second.second < kLocalTtl) {
        return it->second.first.count(q) != 0;
      }
    }
    std::set<QuestionId> ids;
    for (const PaperItem& item : papers_.items(paper)) ids.insert(item.question_id);
    const bool found = ids.count(q) != 0;
    std::lock_guard<std::mutex> l(mu_);
    papers_cache_[name] = {std::move(ids), now};
    return found;
  }

  Context& ctx_;
  db::AttemptStore& store_;
  PaperStore& papers_;
  std::mutex mu_;  // guards exams_ and papers_cache_
  std::unordered_map<ExamId, std::pair<Exam, std::chrono::steady_clock::time_point>> exams_;
  std::map<std::string, std::pair<std::set<QuestionId>, std::chrono::steady_clock::time_point>>
      papers_cache_;
  HotRepairs stale_;  // "exam:student" of hot copies to drop once Redis answers again
};

}  // namespace

std::unique_ptr<AttemptRepo> make_attempt_repo(Context& ctx, PaperStore& papers) {
  return std::make_unique<AttemptRepoImpl>(ctx, papers);
}

}  // namespace examstore::repo
