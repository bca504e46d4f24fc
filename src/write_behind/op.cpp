#include "write_behind/op.hpp"

#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>

#include "common/json.hpp"
#include "examstore/error.hpp"
#include "examstore/write_behind.hpp"

namespace examstore {
namespace {

constexpr std::array<std::string_view, 3> kDurability = {"cached", "journaled", "committed"};

}  // namespace

std::string_view to_string(Durability d) noexcept {
  return kDurability[static_cast<std::size_t>(d)];
}

std::optional<Durability> parse_durability(std::string_view s) noexcept {
  for (std::size_t i = 0; i < kDurability.size(); ++i) {
    if (kDurability[i] == s) return static_cast<Durability>(i);
  }
  return std::nullopt;
}

}  // namespace examstore

namespace examstore::wb {
namespace {

constexpr std::string_view kDecodeOp = "write_behind decode";

// json::parse accepts only valid UTF-8, but the model's strings are raw bytes. A string that is
// not valid UTF-8 is written as {"hex":"..."} so that every op survives the journal exactly.
bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::array<std::uint32_t, 4> kMin = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

std::string to_hex(std::string_view s) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    out += kDigits[c >> 4];
    out += kDigits[c & 0x0F];
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view s) {
  if (s.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size() / 2);
  for (std::size_t i = 0; i < s.size(); i += 2) {
    const int hi = nibble(s[i]);
    const int lo = nibble(s[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>((hi << 4) | lo);
  }
  return out;
}

std::int64_t to_micros(TimePoint t) {
  return std::chrono::floor<std::chrono::microseconds>(t.time_since_epoch()).count();
}

TimePoint from_micros(std::int64_t us) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(us)));
}

void add_text(json::ObjectWriter& w, std::string_view key, std::string_view value) {
  if (is_valid_utf8(value)) {
    w.add(key, value);
  } else {
    w.add_raw(key, json::ObjectWriter().add("hex", to_hex(value)).str());
  }
}

void add_time(json::ObjectWriter& w, std::string_view key, TimePoint t) {
  w.add(key, to_micros(t));
}

void add_time(json::ObjectWriter& w, std::string_view key, const std::optional<TimePoint>& t) {
  if (t) {
    w.add(key, to_micros(*t));
  } else {
    w.add_null(key);
  }
}

// Reads the members of one encoded op, naming the member that is missing or malformed.
class Reader {
 public:
  explicit Reader(const json::Value& v) : v_(v) {}

  const json::Value& member(std::string_view key) const {
    const json::Value* m = v_.find(key);
    if (m == nullptr) fail("missing member \"" + std::string(key) + "\"");
    return *m;
  }

  std::int64_t integer(std::string_view key) const {
    const auto n = member(key).as_int64();
    if (!n) fail("member \"" + std::string(key) + "\" is not an integer");
    return *n;
  }

  std::string text(std::string_view key) const {
    const json::Value& m = member(key);
    if (m.is_string()) return m.text;
    if (m.is_object()) {
      const json::Value* hex = m.find("hex");
      if (hex != nullptr && hex->is_string()) {
        if (auto bytes = from_hex(hex->text)) return *bytes;
      }
    }
    fail("member \"" + std::string(key) + "\" is not a string");
  }

  TimePoint time(std::string_view key) const { return from_micros(integer(key)); }

  std::optional<TimePoint> optional_time(std::string_view key) const {
    if (member(key).is_null()) return std::nullopt;
    return time(key);
  }

  template <typename E>
  E name(std::string_view key, std::optional<E> (*parse)(std::string_view) noexcept) const {
    const std::string s = text(key);
    const auto e = parse(s);
    if (!e) fail("member \"" + std::string(key) + "\" has an unknown value \"" + s + "\"");
    return *e;
  }

  [[noreturn]] static void fail(const std::string& why) {
    throw Error(ErrorCode::kDataIntegrity, std::string(kDecodeOp), why);
  }

 private:
  const json::Value& v_;
};

}  // namespace

std::string_view Op::kind_name() const {
  switch (kind()) {
    case Kind::kViolation:
      return "violation";
    case Kind::kEvent:
      return "event";
    case Kind::kAttendance:
      return "attendance";
    case Kind::kAttemptStart:
      return "attempt_start";
    case Kind::kAnswerRevision:
      return "answer_revision";
  }
  return "unknown";
}

std::string Op::key() const {
  switch (kind()) {
    case Kind::kViolation:
      return "v:" + std::to_string(std::get<Violation>(data).id);
    case Kind::kEvent:
      return "e:" + std::to_string(std::get<Event>(data).id);
    case Kind::kAttendance: {
      const auto& a = std::get<db::AttendanceUpdate>(data);
      return "a:" + std::to_string(a.exam_id) + ":" + std::to_string(a.student_id);
    }
    case Kind::kAttemptStart:
      return "as:" + std::to_string(std::get<db::AttemptStart>(data).attempt_id);
    case Kind::kAnswerRevision: {
      const auto& r = std::get<db::AnswerRevision>(data);
      return "ar:" + std::to_string(r.attempt_id) + ":" + std::to_string(r.question_id) + ":" +
             std::to_string(r.seq);
    }
  }
  return {};
}

db::AttendanceUpdate merge(const db::AttendanceUpdate& older, const db::AttendanceUpdate& newer) {
  db::AttendanceUpdate out = newer;
  if (older.login_at) out.login_at = older.login_at;
  if (!newer.logout_at) out.logout_at = older.logout_at;
  if (newer.last_ip.empty()) out.last_ip = older.last_ip;
  if (!newer.last_heartbeat_at) out.last_heartbeat_at = older.last_heartbeat_at;
  return out;
}

std::string encode(const Op& op) {
  json::ObjectWriter w;
  w.add("kind", op.kind_name());
  switch (op.kind()) {
    case Op::Kind::kViolation: {
      const auto& v = std::get<Violation>(op.data);
      w.add("id", v.id)
          .add("exam_id", v.exam_id)
          .add("student_id", v.student_id)
          .add("violation_kind", to_string(v.kind))
          .add("severity", v.severity);
      add_text(w, "reason", v.reason);
      add_text(w, "screenshot_path", v.screenshot_path);
      add_time(w, "occurred_at", v.occurred_at);
      w.add("state", to_string(v.state));
      add_text(w, "reviewed_by", v.reviewed_by);
      add_time(w, "reviewed_at", v.reviewed_at);
      add_text(w, "review_note", v.review_note);
      break;
    }
    case Op::Kind::kEvent: {
      const auto& e = std::get<Event>(op.data);
      w.add("id", e.id).add("exam_id", e.exam_id).add("student_id", e.student_id);
      add_text(w, "event_kind", e.kind);
      // A string, not raw JSON: the payload is kept verbatim, byte for byte.
      add_text(w, "payload", e.payload);
      add_time(w, "occurred_at", e.occurred_at);
      break;
    }
    case Op::Kind::kAttendance: {
      const auto& a = std::get<db::AttendanceUpdate>(op.data);
      w.add("exam_id", a.exam_id)
          .add("student_id", a.student_id)
          .add("version", a.version)
          .add("status", to_string(a.status));
      add_time(w, "login_at", a.login_at);
      add_time(w, "logout_at", a.logout_at);
      add_text(w, "last_ip", a.last_ip);
      add_time(w, "last_heartbeat_at", a.last_heartbeat_at);
      break;
    }
    case Op::Kind::kAttemptStart: {
      const auto& a = std::get<db::AttemptStart>(op.data);
      w.add("attempt_id", a.attempt_id).add("exam_id", a.exam_id).add("student_id", a.student_id);
      add_time(w, "started_at", a.started_at);
      add_time(w, "base_deadline", a.base_deadline);
      break;
    }
    case Op::Kind::kAnswerRevision: {
      const auto& a = std::get<db::AnswerRevision>(op.data);
      w.add("attempt_id", a.attempt_id)
          .add("exam_id", a.exam_id)
          .add("student_id", a.student_id)
          .add("question_id", a.question_id)
          .add("seq", a.seq);
      add_text(w, "answer", a.answer);
      add_time(w, "saved_at", a.saved_at);
      w.add("since_previous_ms", static_cast<std::int64_t>(a.since_previous.count()));
      break;
    }
  }
  return w.str();
}

Op decode(std::string_view text) {
  json::Value root;
  try {
    root = json::parse(text);
  } catch (const Error& e) {
    throw Error(ErrorCode::kDataIntegrity, std::string(kDecodeOp),
                "not a JSON document: " + e.message());
  }
  if (!root.is_object()) Reader::fail("not a JSON object");
  const Reader r(root);
  const std::string kind = r.text("kind");
  auto as_int = [&r](std::string_view key) {
    const std::int64_t n = r.integer(key);
    if (n < std::numeric_limits<int>::min() || n > std::numeric_limits<int>::max()) {
      Reader::fail("member \"" + std::string(key) + "\" is out of range");
    }
    return static_cast<int>(n);
  };
  if (kind == "violation") {
    Violation v;
    v.id = r.integer("id");
    v.exam_id = r.integer("exam_id");
    v.student_id = r.integer("student_id");
    v.kind = r.name<ViolationKind>("violation_kind", &parse_violation_kind);
    v.severity = as_int("severity");
    v.reason = r.text("reason");
    v.screenshot_path = r.text("screenshot_path");
    v.occurred_at = r.time("occurred_at");
    v.state = r.name<ReviewState>("state", &parse_review_state);
    v.reviewed_by = r.text("reviewed_by");
    v.reviewed_at = r.optional_time("reviewed_at");
    v.review_note = r.text("review_note");
    return Op{std::move(v)};
  }
  if (kind == "event") {
    Event e;
    e.id = r.integer("id");
    e.exam_id = r.integer("exam_id");
    e.student_id = r.integer("student_id");
    e.kind = r.text("event_kind");
    e.payload = r.text("payload");
    e.occurred_at = r.time("occurred_at");
    return Op{std::move(e)};
  }
  if (kind == "attendance") {
    db::AttendanceUpdate a;
    a.exam_id = r.integer("exam_id");
    a.student_id = r.integer("student_id");
    a.version = r.integer("version");
    a.status = r.name<Presence>("status", &parse_presence);
    a.login_at = r.optional_time("login_at");
    a.logout_at = r.optional_time("logout_at");
    a.last_ip = r.text("last_ip");
    a.last_heartbeat_at = r.optional_time("last_heartbeat_at");
    return Op{std::move(a)};
  }
  if (kind == "attempt_start") {
    db::AttemptStart a;
    a.attempt_id = r.integer("attempt_id");
    a.exam_id = r.integer("exam_id");
    a.student_id = r.integer("student_id");
    a.started_at = r.time("started_at");
    a.base_deadline = r.time("base_deadline");
    return Op{a};
  }
  if (kind == "answer_revision") {
    db::AnswerRevision a;
    a.attempt_id = r.integer("attempt_id");
    a.exam_id = r.integer("exam_id");
    a.student_id = r.integer("student_id");
    a.question_id = r.integer("question_id");
    a.seq = r.integer("seq");
    a.answer = r.text("answer");
    a.saved_at = r.time("saved_at");
    a.since_previous = std::chrono::milliseconds(r.integer("since_previous_ms"));
    return Op{std::move(a)};
  }
  Reader::fail("unknown kind \"" + kind + "\"");
}

}  // namespace examstore::wb
