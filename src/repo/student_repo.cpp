// StudentRepo: profiles (cache-aside), enrollment (database first), and presence on packed
// per-exam arrays in the hot tier (see student_repo.hpp and docs/keys.md).
//
// Presence arrays, per exam, indexed by seat:
//   presence:{e:ID}:hb   4 bytes a seat: last heartbeat, big-endian seconds since 2020-01-01 UTC
//   presence:{e:ID}:st   1 byte a seat: the Presence code (0 enrolled .. 4 submitted)
//   presence:{e:ID}:n    hash: code -> number of seats in that state (codes 1..4)
// Each change of a seat's state happens inside one script, which also keeps the counts, so the
// counts can never drift from the arrays.
#include "examstore/student_repo.hpp"

#include <algorithm>
#include <unordered_map>

#include "common/failover.hpp"
#include "db/store_checks.hpp"
#include "repo/codec.hpp"
#include "repo/context.hpp"
#include "repo/hot_repairs.hpp"
#include "repo/keys.hpp"
#include "security/crypto.hpp"

namespace examstore::repo {
namespace {

constexpr std::int64_t kPresenceEpoch = 1577836800;  // 2020-01-01T00:00:00Z
constexpr std::uint8_t kOnline = static_cast<std::uint8_t>(Presence::kOnline);
constexpr std::uint8_t kSubmitted = static_cast<std::uint8_t>(Presence::kSubmitted);
constexpr std::size_t kSweepChunk = 1000;  // seats per sweep script call
constexpr std::size_t kMaxIp = 64;         // an IPv6 literal with zone fits easily

std::int64_t presence_seconds(TimePoint t) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  return std::clamp<std::int64_t>(s - kPresenceEpoch, 1, 0xFFFFFFFFLL);
}

TimePoint from_presence_seconds(std::uint32_t s) {
  return TimePoint(std::chrono::seconds(kPresenceEpoch + s));
}

std::string pack_u32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::uint32_t unpack_u32(const std::string& s, std::size_t at) {
  if (at + 4 > s.size()) return 0;
  auto b = [&](std::size_t i) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + i]));
  };
  return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

std::uint8_t code_at(const std::string& states, std::size_t seat) {
  return seat < states.size() ? static_cast<std::uint8_t>(states[seat]) : 0;
}

std::uint8_t code_of(Cache& c, const std::string& key, std::int64_t seat) {
  const std::string s = c.getrange(key, seat, seat);
  return s.empty() ? 0 : static_cast<std::uint8_t>(s[0]);
}

// Moves one seat's state and its counts (local bodies only; the Lua does the same inline).
void move_state(Cache& c, const std::vector<std::string>& k, std::int64_t seat, std::uint8_t from,
                std::uint8_t to) {
  c.setrange(k[1], seat, std::string(1, static_cast<char>(to)));
  if (from != 0) c.hincr_by(k[2], std::to_string(from), -1);
  c.hincr_by(k[2], std::to_string(to), 1);
}

// KEYS: hb, st, n. ARGV[1]: the packed time; ARGV[2..]: seats. Returns {seat, old code}... for
// the seats that became online. Idempotent in what it leaves (the same time, the same states),
// as sweep and submit are; a resend after a lost reply answers "no transition", so that one
// transition's attendance row is not queued (a later transition writes a later version).
const Script& heartbeat_script() {
  static const Script s{
      "presence.heartbeat",
      R"lua(
local out = {}
for i = 2, #ARGV do
  local seat = tonumber(ARGV[i])
  redis.call('SETRANGE', KEYS[1], seat * 4, ARGV[1])
  local s = redis.call('GETRANGE', KEYS[2], seat, seat)
  local code = 0
  if s ~= '' then code = string.byte(s) end
  if code ~= 1 and code ~= 4 then
    redis.call('SETRANGE', KEYS[2], seat, '\1')
    if code ~= 0 then redis.call('HINCRBY', KEYS[3], tostring(code), -1) end
    redis.call('HINCRBY', KEYS[3], '1', 1)
    out[#out + 1] = seat
    out[#out + 1] = code
  end
end
return out
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        Reply out;
        out.type = Reply::Type::kArray;
        for (std::size_t i = 1; i < a.size(); ++i) {
          const std::int64_t seat = std::stoll(a[i]);
          c.setrange(k[0], seat * 4, a[0]);
          const std::uint8_t code = code_of(c, k[1], seat);
          if (code != kOnline && code != kSubmitted) {
            move_state(c, k, seat, code, kOnline);
            out.elements.push_back(Reply::of(seat));
            out.elements.push_back(Reply::of(std::int64_t{code}));
          }
        }
        return out;
      },
      /*idempotent=*/true};
  return s;
}

// KEYS: hb, st, n. ARGV[1]: missing-before, ARGV[2]: offline-before (presence seconds);
// ARGV[3..]: candidate seats. Re-checks each seat and returns {seat, from, to}... applied.
const Script& sweep_script() {
  static const Script s{
      "presence.sweep",
      R"lua(
local miss_before = tonumber(ARGV[1])
local off_before = tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local seat = tonumber(ARGV[i])
  local s = redis.call('GETRANGE', KEYS[2], seat, seat)
  local code = 0
  if s ~= '' then code = string.byte(s) end
  if code == 1 or code == 2 then
    local hb = redis.call('GETRANGE', KEYS[1], seat * 4, seat * 4 + 3)
    local t = 0
    if #hb == 4 then
      local a, b, c, d = string.byte(hb, 1, 4)
      t = ((a * 256 + b) * 256 + c) * 256 + d
    end
    local to = 0
    if t < off_before then to = 3 elseif code == 1 and t < miss_before then to = 2 end
    if to ~= 0 and to ~= code then
      redis.call('SETRANGE', KEYS[2], seat, string.char(to))
      redis.call('HINCRBY', KEYS[3], tostring(code), -1)
      redis.call('HINCRBY', KEYS[3], tostring(to), 1)
      out[#out + 1] = seat
      out[#out + 1] = code
      out[#out + 1] = to
    end
  end
end
return out
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        const std::int64_t miss_before = std::stoll(a[0]);
        const std::int64_t off_before = std::stoll(a[1]);
        Reply out;
        out.type = Reply::Type::kArray;
        for (std::size_t i = 2; i < a.size(); ++i) {
          const std::int64_t seat = std::stoll(a[i]);
          const std::uint8_t code = code_of(c, k[1], seat);
          if (code != 1 && code != 2) continue;
          const std::int64_t t = unpack_u32(c.getrange(k[0], seat * 4, seat * 4 + 3), 0);
          std::uint8_t to = 0;
          if (t < off_before) {
            to = 3;
          } else if (code == 1 && t < miss_before) {
            to = 2;
          }
          if (to == 0 || to == code) continue;
          move_state(c, k, seat, code, to);
          out.elements.push_back(Reply::of(seat));
          out.elements.push_back(Reply::of(std::int64_t{code}));
          out.elements.push_back(Reply::of(std::int64_t{to}));
        }
        return out;
      },
      /*idempotent=*/true};
  return s;
}

// KEYS: hb, st, n. ARGV[1]: seat. Returns the old code.
const Script& submit_script() {
  static const Script s{
      "presence.submit",
      R"lua(
local seat = tonumber(ARGV[1])
local s = redis.call('GETRANGE', KEYS[2], seat, seat)
local code = 0
if s ~= '' then code = string.byte(s) end
if code == 4 then return 4 end
redis.call('SETRANGE', KEYS[2], seat, '\4')
if code ~= 0 then redis.call('HINCRBY', KEYS[3], tostring(code), -1) end
redis.call('HINCRBY', KEYS[3], '4', 1)
return code
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        const std::int64_t seat = std::stoll(a[0]);
        const std::uint8_t code = code_of(c, k[1], seat);
        if (code != kSubmitted) move_state(c, k, seat, code, kSubmitted);
        return Reply::of(std::int64_t{code});
      },
      /*idempotent=*/true};
  return s;
}

// KEYS: hb, st, n. ARGV: {seat, from, to}... Puts each seat still in `to` back to `from` (with
// its counts): undoes transitions whose database write could not be queued.
const Script& revert_script() {
  static const Script s{
      "presence.revert",
      R"lua(
for i = 1, #ARGV, 3 do
  local seat = tonumber(ARGV[i])
  local from = tonumber(ARGV[i + 1])
  local to = tonumber(ARGV[i + 2])
  local s = redis.call('GETRANGE', KEYS[2], seat, seat)
  local code = 0
  if s ~= '' then code = string.byte(s) end
  if code == to then
    redis.call('SETRANGE', KEYS[2], seat, string.char(from))
    redis.call('HINCRBY', KEYS[3], tostring(to), -1)
    if from ~= 0 then redis.call('HINCRBY', KEYS[3], tostring(from), 1) end
  end
end
return 1
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        for (std::size_t i = 0; i + 2 < a.size(); i += 3) {
          const std::int64_t seat = std::stoll(a[i]);
          const auto from = static_cast<std::uint8_t>(std::stoi(a[i + 1]));
          const auto to = static_cast<std::uint8_t>(std::stoi(a[i + 2]));
          if (code_of(c, k[1], seat) != to) continue;
          c.setrange(k[1], seat, std::string(1, static_cast<char>(from)));
          c.hincr_by(k[2], std::to_string(to), -1);
          if (from != 0) c.hincr_by(k[2], std::to_string(from), 1);
        }
        return Reply::of(std::int64_t{1});
      },
      /*idempotent=*/true};
  return s;
}

// Applies a queued update over a persisted row the way the database would.
void apply(Attendance& row, const db::AttendanceUpdate& u) {
  if (u.version <= row.version) return;
  row.status = u.status;
  if (!row.login_at) row.login_at = u.login_at;
  if (u.logout_at) row.logout_at = u.logout_at;
  if (!u.last_ip.empty()) row.last_ip = u.last_ip;
  if (u.last_heartbeat_at) row.last_heartbeat_at = u.last_heartbeat_at;
  row.version = u.version;
}

class StudentRepoImpl final : public StudentRepo {
 public:
  explicit StudentRepoImpl(Context& ctx)
      : ctx_(ctx),
        store_(*ctx.stores.students),
        submits_([this](const std::string& item) { resubmit(item); },
                 ctx.telemetry ? &ctx.telemetry->hot_repairs : nullptr) {}

  // Sealed before the student reaches the database or the hot tier: the id the values are bound
  // to is reserved first (docs/personal-data.md).
  Student create(const NewStudent& student) override {
    const std::string op = "student create";
    db::check::new_student(op, student);
    const crypto::Keyring& ring = *ctx_.personal;
    ring.require_key("email", student.email);
    ring.require_key("phone", student.phone);
    const StudentId id = store_.reserve_id();
    NewStudent sealed = student;
    sealed.email = ring.seal(id, "email", student.email);
    sealed.phone = ring.seal(id, "phone", student.phone);
    Student s = store_.insert(id, sealed, ring.blind_index(student.email));
    ctx_.cache_aside.invalidate(ctx_.keys.student(s.id));  // an "absent" marker may be cached
    s.email = student.email;
    s.phone = student.phone;
    return s;
  }

  std::optional<Student> get(StudentId id) override {
    keys::check_id("student id", id);
    const std::string key = ctx_.keys.student(id);
    auto encoded = ctx_.cache_aside.get(key, [&]() -> std::optional<std::string> {
      auto s = store_.get(id);
      if (!s) return std::nullopt;
      return encode(*s);
    });
    if (!encoded) return std::nullopt;
    try {
      return ctx_.personal->open_student(decode_student(*encoded));
    } catch (const Error&) {
      // Undecodable, or sealed under a key this process lacks: the database copy decides.
      ctx_.cache_aside.invalidate(key);
      auto s = store_.get(id);
      if (!s) return s;
      return ctx_.personal->open_student(std::move(*s));
    }
  }

  std::optional<Student> find_by_external_no(const std::string& external_no) override {
    auto s = store_.find_by_external_no(external_no);
    if (!s) return s;
    return ctx_.personal->open_student(std::move(*s));
  }

  void enroll(ExamId exam, StudentId student) override {
    keys::check_id("exam id", exam);
    keys::check_id("student id", student);
    const int seat = store_.enroll(exam, student);
    ctx_.seats.add(exam, student, seat);
  }

  std::optional<PresenceTransition> heartbeat(ExamId exam, StudentId student, const std::string& ip,
                                              TimePoint at) override {
    auto t = heartbeat_batch(exam, {Heartbeat{student, ip}}, at);
    if (t.empty()) return std::nullopt;
    return t.front();
  }

  std::vector<PresenceTransition> heartbeat_batch(ExamId exam, const std::vector<Heartbeat>& beats,
                                                  TimePoint at) override {
    keys::check_id("exam id", exam);
    // The hot tier keeps heartbeat times as 32-bit seconds since kPresenceEpoch: a time outside
    // that range would be clamped, i.e. silently stored as another time.
    const auto secs = std::chrono::floor<std::chrono::seconds>(at.time_since_epoch()).count();
    if (secs <= kPresenceEpoch || secs - kPresenceEpoch > 0xFFFFFFFFLL) {
      db::check::invalid("presence.heartbeat", "at",
                         "must be between 2020-01-01 and 2156-02-07 (UTC), got " +
                             std::to_string(secs) + " s since the epoch");
    }
    if (beats.empty()) return {};
    submits_.settle();
    std::vector<StudentId> ids;
    ids.reserve(beats.size());
    for (const auto& b : beats) {
      // The IP is stored with the next transition: refuse here what the database would refuse.
      db::check::text("presence.heartbeat", "ip", b.ip, 0, kMaxIp);
      ids.push_back(b.student_id);
    }
    const std::vector<int> seats = ctx_.seats.seats_of(exam, ids);

    std::vector<std::string> args;
    args.reserve(beats.size() + 1);
    args.push_back(pack_u32(static_cast<std::uint32_t>(presence_seconds(at))));
    for (const int s : seats) args.push_back(std::to_string(s));
    const Reply r = ctx_.cache.run(heartbeat_script(), presence_keys(exam), args);

    std::vector<PresenceTransition> out;
    std::vector<wb::Op> ops;
    std::vector<std::string> reverts;
    if (r.elements.empty()) return out;  // the common case: everyone was online already
    std::unordered_map<int, std::size_t> index_of_seat;
    for (std::size_t i = 0; i < seats.size(); ++i) index_of_seat[seats[i]] = i;
    for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
      const int seat = static_cast<int>(r.elements[i].integer);
      const auto from = static_cast<Presence>(r.elements[i + 1].integer);
      const Heartbeat& b = beats[index_of_seat.at(seat)];
      out.push_back({b.student_id, from, Presence::kOnline});
      add_revert(reverts, seat, from, Presence::kOnline);
      db::AttendanceUpdate u;
      u.exam_id = exam;
      u.student_id = b.student_id;
      u.version = version_of(at, Presence::kOnline);
      u.status = Presence::kOnline;
      u.login_at = at;
      u.last_ip = b.ip;
      u.last_heartbeat_at = at;
      ops.push_back(wb::Op{u});
    }
    queue_or_revert(exam, std::move(ops), reverts, ctx_.presence_durability());
    return out;
  }

  std::vector<PresenceTransition> sweep(ExamId exam, TimePoint now) override {
    keys::check_id("exam id", exam);
    const auto k = presence_keys(exam);
    const std::string states = ctx_.cache.getrange(k[1], 0, -1);
    const std::string beats = ctx_.cache.getrange(k[0], 0, -1);
    const std::int64_t t_now = presence_seconds(now);
    const std::int64_t miss_before = t_now - ctx_.config.presence.missing_after.count();
    const std::int64_t off_before = t_now - ctx_.config.presence.offline_after.count();

    std::vector<int> candidates;
    for (std::size_t seat = 0; seat < states.size(); ++seat) {
      const std::uint8_t code = code_at(states, seat);
      if (code != 1 && code != 2) continue;
      const std::int64_t t = unpack_u32(beats, seat * 4);
      if (t < off_before || (code == 1 && t < miss_before)) {
        candidates.push_back(static_cast<int>(seat));
      }
    }
    if (candidates.empty()) return {};
    // Who sits where is resolved before anything changes: a transition the script applies must
    // always be one we can queue. A seat no process can resolve yet is left for the next sweep.
    const std::vector<StudentId> who = ctx_.seats.students_at(exam, candidates);
    std::unordered_map<int, StudentId> student_of_seat;
    std::vector<std::string> seat_args;
    for (std::size_t i = 0; i < candidates.size(); ++i) {
      if (who[i] == 0) continue;
      student_of_seat[candidates[i]] = who[i];
      seat_args.push_back(std::to_string(candidates[i]));
    }
    std::vector<PresenceTransition> out;
    std::vector<wb::Op> ops;
    std::vector<std::string> reverts;
    for (std::size_t i = 0; i < seat_args.size(); i += kSweepChunk) {
      std::vector<std::string> args = {std::to_string(miss_before), std::to_string(off_before)};
      const auto end = std::min(seat_args.size(), i + kSweepChunk);
      args.insert(args.end(), seat_args.begin() + static_cast<std::ptrdiff_t>(i),
                  seat_args.begin() + static_cast<std::ptrdiff_t>(end));
      Reply r;
      try {
        r = ctx_.cache.run(sweep_script(), k, args);
      } catch (const Error&) {
        if (!reverts.empty()) revert(exam, reverts);  // earlier chunks: applied, not queued
        throw;
      }
      for (std::size_t j = 0; j + 2 < r.elements.size(); j += 3) {
        const int seat = static_cast<int>(r.elements[j].integer);
        const auto from = static_cast<Presence>(r.elements[j + 1].integer);
        const auto to = static_cast<Presence>(r.elements[j + 2].integer);
        const StudentId student = student_of_seat.at(seat);
        out.push_back({student, from, to});
        add_revert(reverts, seat, from, to);
        db::AttendanceUpdate u;
        u.exam_id = exam;
        u.student_id = student;
        u.version = version_of(now, to);
        u.status = to;
        if (to == Presence::kOffline) u.logout_at = now;
        const std::uint32_t last = unpack_u32(beats, static_cast<std::size_t>(seat) * 4);
        if (last != 0) u.last_heartbeat_at = from_presence_seconds(last);
        ops.push_back(wb::Op{u});
      }
    }
    queue_or_revert(exam, std::move(ops), reverts, ctx_.presence_durability());
    return out;
  }

  void mark_submitted(ExamId exam, StudentId student, TimePoint at) override {
    keys::check_id("exam id", exam);
    const int seat = ctx_.seats.seat_of(exam, student);
    submits_.settle();
    std::vector<std::string> reverts;
    try {
      // The submission is durable below: Redis is not waited for, and marked later if away.
      const failover::WaitScope quick(std::chrono::milliseconds(0));
      const Reply r = ctx_.cache.run(submit_script(), presence_keys(exam), {std::to_string(seat)});
      if (r.integer == kSubmitted) return;  // already terminal
      add_revert(reverts, seat, static_cast<Presence>(r.integer), Presence::kSubmitted);
    } catch (const Error& e) {
      if (!failover::failover_class(e)) throw;
      submits_.add(std::to_string(exam) + ":" + std::to_string(seat));
    }
    db::AttendanceUpdate u;
    u.exam_id = exam;
    u.student_id = student;
    u.version = version_of(at, Presence::kSubmitted);
    u.status = Presence::kSubmitted;
    u.logout_at = at;
    // A submission is precious: acknowledged only once committed (DESIGN.md).
    queue_or_revert(exam, {wb::Op{u}}, reverts, Durability::kCommitted);
  }

  std::int64_t online_count(ExamId exam) override {
    keys::check_id("exam id", exam);
    const auto v = ctx_.cache.hget(ctx_.keys.presence_counts(exam), "1");
    return v ? std::stoll(*v) : 0;
  }

  std::vector<StudentId> online(ExamId exam) override {
    keys::check_id("exam id", exam);
    const std::string states = ctx_.cache.getrange(ctx_.keys.presence_states(exam), 0, -1);
    std::vector<int> seats;
    for (std::size_t seat = 0; seat < states.size(); ++seat) {
      if (code_at(states, seat) == kOnline) seats.push_back(static_cast<int>(seat));
    }
    return students_of(exam, seats);
  }

  std::vector<StudentId> missing(ExamId exam, std::chrono::seconds older_than,
                                 TimePoint now) override {
    keys::check_id("exam id", exam);
    const auto k = presence_keys(exam);
    const std::string states = ctx_.cache.getrange(k[1], 0, -1);
    const std::string beats = ctx_.cache.getrange(k[0], 0, -1);
    const std::int64_t before = presence_seconds(now) - older_than.count();
    std::vector<int> seats;
    for (std::size_t seat = 0; seat < states.size(); ++seat) {
      const std::uint8_t code = code_at(states, seat);
      if ((code == 1 || code == 2) && unpack_u32(beats, seat * 4) < before) {
        seats.push_back(static_cast<int>(seat));
      }
    }
    return students_of(exam, seats);
  }

  PresenceInfo presence(ExamId exam, StudentId student) override {
    keys::check_id("exam id", exam);
    submits_.settle();
    const int seat = ctx_.seats.seat_of(exam, student);
    PresenceInfo info;
    info.student_id = student;
    info.status = static_cast<Presence>(code_of(ctx_.cache, ctx_.keys.presence_states(exam), seat));
    const std::string hb =
        ctx_.cache.getrange(ctx_.keys.presence_heartbeats(exam), seat * 4LL, seat * 4LL + 3);
    if (const std::uint32_t t = unpack_u32(hb, 0); t != 0)
      info.last_heartbeat = from_presence_seconds(t);
    return info;
  }

  std::vector<std::pair<Presence, std::int64_t>> presence_counts(ExamId exam) override {
    keys::check_id("exam id", exam);
    submits_.settle();
    std::int64_t counts[5] = {0, 0, 0, 0, 0};
    for (const auto& [field, value] : ctx_.cache.hgetall(ctx_.keys.presence_counts(exam))) {
      const int code = std::stoi(field);
      if (code >= 1 && code <= 4) counts[code] = std::stoll(value);
    }
    const auto seats = static_cast<std::int64_t>(ctx_.seats.size(exam));
    counts[0] = std::max<std::int64_t>(0, seats - counts[1] - counts[2] - counts[3] - counts[4]);
    std::vector<std::pair<Presence, std::int64_t>> out;
    out.reserve(5);
    for (int c = 0; c < 5; ++c) out.emplace_back(static_cast<Presence>(c), counts[c]);
    return out;
  }

  std::optional<Attendance> attendance(ExamId exam, StudentId student) override {
    keys::check_id("exam id", exam);
    keys::check_id("student id", student);
    auto row = store_.attendance(exam, student);
    db::AttendanceUpdate key_only;
    key_only.exam_id = exam;
    key_only.student_id = student;
    const auto pending = ctx_.queue.pending(wb::Op{key_only}.key());
    if (pending) {
      if (!row) return row;  // not enrolled: the queued write will be dead-lettered
      apply(*row, std::get<db::AttendanceUpdate>(pending->data));
    }
    return row;
  }

 private:
  std::vector<std::string> presence_keys(ExamId exam) const {
    return {ctx_.keys.presence_heartbeats(exam), ctx_.keys.presence_states(exam),
            ctx_.keys.presence_counts(exam)};
  }

  // Transitions are versioned by time, then by target state, so a later transition always wins
  // and two transitions of one instant order as the state machine does.
  static std::int64_t version_of(TimePoint at, Presence to) {
    return to_micros(at) * 8 + static_cast<std::int64_t>(to);
  }

  // The students at `seats`, sorted, skipping seats no process has enrolled yet.
  std::vector<StudentId> students_of(ExamId exam, const std::vector<int>& seats) {
    std::vector<StudentId> out;
    if (seats.empty()) return out;
    for (const StudentId s : ctx_.seats.students_at(exam, seats)) {
      if (s != 0) out.push_back(s);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  static void add_revert(std::vector<std::string>& reverts, int seat, Presence from, Presence to) {
    reverts.push_back(std::to_string(seat));
    reverts.push_back(std::to_string(static_cast<int>(from)));
    reverts.push_back(std::to_string(static_cast<int>(to)));
  }

  // Marks a seat submitted whose mark_submitted() found Redis away ("exam:seat").
  void resubmit(const std::string& item) {
    const auto colon = item.find(':');
    ctx_.cache.run(submit_script(), presence_keys(std::stoll(item.substr(0, colon))),
                   {item.substr(colon + 1)});
  }

  void revert(ExamId exam, const std::vector<std::string>& reverts) {
    if (reverts.empty()) return;
    try {
      ctx_.cache.run(revert_script(), presence_keys(exam), reverts);
    } catch (const Error&) {  // the hot tier failed too: nothing can be undone there now
    }
  }

  // Queues the database writes of transitions the scripts applied. When they cannot be queued
  // (full, closed, rejected), the transitions are undone in the hot tier and the error is
  // thrown, so a retried call makes them again: presence never runs ahead of what will be
  // persisted. When the outcome is unknown (a committed write still queued) nothing is undone.
  void queue_or_revert(ExamId exam, std::vector<wb::Op> ops,
                       const std::vector<std::string>& reverts, Durability durability) {
    if (ops.empty()) return;
    try {
      ctx_.queue.enqueue(std::move(ops), durability);
    } catch (const Error& e) {
      if (!e.outcome_unknown()) revert(exam, reverts);
      throw;
    }
  }

  Context& ctx_;
  db::StudentStore& store_;
  HotRepairs submits_;  // seats to mark submitted once Redis answers again
};

}  // namespace

std::unique_ptr<StudentRepo> make_student_repo(Context& ctx) {
  return std::make_unique<StudentRepoImpl>(ctx);
}

}  // namespace examstore::repo
