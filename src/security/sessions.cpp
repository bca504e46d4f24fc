#include "security/sessions.hpp"

#include <sodium.h>

#include <array>

#include "db/store_checks.hpp"
#include "examstore/error.hpp"
#include "security/account_db.hpp"

namespace examstore::security {
namespace {

using std::chrono::milliseconds;

constexpr std::size_t kTokenBytes = 32;
constexpr std::size_t kTokenChars = 43;  // base64url of 32 bytes, no padding
constexpr std::size_t kHandleDigits = 16;
constexpr int kVariant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;

std::string hex(const unsigned char* bytes, std::size_t n) {
  std::string out(2 * n + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes, n);
  out.pop_back();
  return out;
}

std::string hash_hex(const unsigned char* token, std::size_t n) {
  std::array<unsigned char, 32> h{};
  crypto_generichash(h.data(), h.size(), token, n, nullptr, 0);
  return hex(h.data(), h.size());
}

/// The hex hash of a well-formed token, else nullopt (any other text is simply not a token).
std::optional<std::string> token_hash(std::string_view token) {
  if (token.size() != kTokenChars) return std::nullopt;
  std::array<unsigned char, kTokenBytes> bin{};
  std::size_t len = 0;
  if (sodium_base642bin(bin.data(), bin.size(), token.data(), token.size(), nullptr, &len, nullptr,
                        kVariant) != 0 ||
      len != kTokenBytes) {
    return std::nullopt;
  }
  return hash_hex(bin.data(), bin.size());
}

std::string encode(const SessionInfo& s) {
  return std::to_string(s.user_id) + "|" + std::to_string(static_cast<int>(s.role)) + "|" +
         (s.student_id ? std::to_string(*s.student_id) : std::string()) + "|" +
         std::to_string(db::check::to_micros(s.created_at)) + "|" + s.user_name + "|" + s.ip;
}

/// Parses a stored value; nullopt when it is not one of ours (treated as no session).
std::optional<SessionInfo> decode(const std::string& hash, const std::string& v) {
  std::array<std::string, 6> f;
  std::size_t start = 0;
  for (std::size_t i = 0; i < f.size(); ++i) {
    const std::size_t bar = i + 1 < f.size() ? v.find('|', start) : v.size();
    if (bar == std::string::npos) return std::nullopt;
    f[i] = v.substr(start, bar - start);
    start = bar + 1;
  }
  try {
    SessionInfo s;
    s.handle = hash.substr(0, kHandleDigits);
    s.user_id = std::stoll(f[0]);
    const int role = std::stoi(f[1]);
    if (role < 0 || role > static_cast<int>(Role::kAdministrator)) return std::nullopt;
    s.role = static_cast<Role>(role);
    if (!f[2].empty()) s.student_id = std::stoll(f[2]);
    s.created_at = db::check::from_micros(std::stoll(f[3]));
    s.user_name = f[4];
    s.ip = f[5];
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// KEYS: session. ARGV: renew_ms (0: do not renew), exact ("1": set the TTL to renew_ms; "0":
// only raise it to renew_ms, so a sliding lookup never shortens an extended session). Returns
// nil or {value, remaining ms}: the read and the renewal in one round trip.
const Script& touch_script() {
  static const Script s{
      "session.touch",
      R"lua(
local v = redis.call('GET', KEYS[1])
if not v then return nil end
local left = redis.call('PTTL', KEYS[1])
local renew = tonumber(ARGV[1])
if renew > 0 and (ARGV[2] == '1' or left < renew) then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = renew
end
return {v, left}
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        const auto v = c.get(k[0]);
        if (!v) return Reply::nil();
        std::int64_t left = c.ttl(k[0]).value_or(milliseconds(0)).count();
        const std::int64_t renew = std::stoll(a[0]);
        if (renew > 0 && (a[1] == "1" || left < renew)) {
          c.expire(k[0], milliseconds(renew));
          left = renew;
        }
        Reply r;
        r.type = Reply::Type::kArray;
        r.elements = {Reply::of(*v), Reply::of(left)};
        return r;
      },
      /*idempotent=*/true};
  return s;
}

class HotSessionsImpl final : public HotSessions {
 public:
  HotSessionsImpl(Cache& cache, const keys::KeySchema& keys, const SessionOptions& o, AccountDb& db)
      : cache_(cache), keys_(keys), o_(o), db_(db) {}

  NewSession create(UserId user, const std::string& ip) override {
    const std::string op = "session create";
    db::check::positive_id(op, "user", user);
    keys::ip_part(ip);
    const auto u = db_.get(user);
    if (!u) throw Error(ErrorCode::kNotFound, op, "user: there is no user " + std::to_string(user));
    if (u->user.status != UserStatus::kActive) {
      throw Error(ErrorCode::kPermissionDenied, op,
                  "user " + u->user.name + " is " + std::string(to_string(u->user.status)));
    }
    return open(u->user, ip);
  }

  NewSession open(const User& user, const std::string& ip) override {
    keys::ip_part(ip);
    std::array<unsigned char, kTokenBytes> raw{};
    randombytes_buf(raw.data(), raw.size());
    NewSession out;
    out.token.assign(sodium_base64_ENCODED_LEN(kTokenBytes, kVariant), '\0');
    sodium_bin2base64(out.token.data(), out.token.size(), raw.data(), raw.size(), kVariant);
    out.token.resize(kTokenChars);
    const std::string hash = hash_hex(raw.data(), raw.size());
    sodium_memzero(raw.data(), raw.size());

    SessionInfo& s = out.info;
    s.handle = hash.substr(0, kHandleDigits);
    s.user_id = user.id;
    s.role = user.role;
    s.student_id = user.student_id;
    s.user_name = user.name;
    s.ip = ip;
    s.created_at = db::check::truncate(std::chrono::system_clock::now());
    s.expires_at = s.created_at + o_.ttl;

    const std::string index = keys_.user_sessions(user.id);
    Batch w;
    auto live = trim(index, w);
    const auto keep = static_cast<std::size_t>(o_.max_per_user - 1);
    for (std::size_t i = 0; live.size() - i > keep && i < live.size(); ++i) {
      w.del(keys_.session(live[i]));
      w.zrem(index, live[i]);
    }
    w.set(keys_.session(hash), encode(s), o_.ttl);
    w.zadd(index, hash, static_cast<double>(db::check::to_micros(s.created_at)));
    cache_.execute(w);
    return out;
  }

  std::optional<SessionInfo> lookup(std::string_view token) override {
    const auto hash = token_hash(token);
    if (!hash) return std::nullopt;
    return touch(*hash, o_.sliding ? o_.ttl : std::chrono::seconds(0), false);
  }

  bool extend(std::string_view token, std::optional<std::chrono::seconds> ttl) override {
    const auto t = ttl.value_or(o_.ttl);
    if (t.count() <= 0 || t > o_.max_ttl) {
      throw Error(ErrorCode::kInvalidArgument, "session extend",
                  "ttl: must be 1.." + std::to_string(o_.max_ttl.count()) + " s, got " +
                      std::to_string(t.count()));
    }
    const auto hash = token_hash(token);
    return hash && touch(*hash, t, true).has_value();
  }

  bool invalidate(std::string_view token) override {
    const auto hash = token_hash(token);
    if (!hash) return false;
    const std::string key = keys_.session(*hash);
    const auto v = cache_.get(key);
    const auto s = v ? decode(*hash, *v) : std::nullopt;
    if (!s) return cache_.del({key}) > 0;
    Batch b;
    b.del(key);
    if (s->user_id > 0) b.zrem(keys_.user_sessions(s->user_id), *hash);
    return cache_.execute(b).front().integer > 0;
  }

  std::int64_t invalidate_user(UserId user) override {
    db::check::positive_id("session invalidate_user", "user", user);
    const std::string index = keys_.user_sessions(user);
    const auto members = cache_.zrange(index, 0, -1);
    Batch b;
    for (const auto& m : members) b.del(keys_.session(m.member));
    b.del(index);
    const auto replies = cache_.execute(b);
    std::int64_t ended = 0;
    for (std::size_t i = 0; i < members.size(); ++i) ended += replies[i].integer;
    return ended;
  }

  std::vector<SessionInfo> list(UserId user) override {
    db::check::positive_id("session list", "user", user);
    const std::string index = keys_.user_sessions(user);
    std::vector<SessionInfo> out;
    std::vector<std::string> dead;
    for (const auto& m : cache_.zrange(index, 0, -1)) {
      if (auto s = touch(m.member, std::chrono::seconds(0), false)) {
        out.push_back(std::move(*s));
      } else {
        dead.push_back(m.member);
      }
    }
    if (!dead.empty()) cache_.zrem(index, dead);
    return out;
  }

 private:
  /// Reads the session of `hash`, renewing it for `renew` unless zero (to exactly `renew` when
  /// `exact`, else at least); one round trip.
  std::optional<SessionInfo> touch(const std::string& hash, std::chrono::seconds renew,
                                   bool exact) {
    const auto r = cache_.run(touch_script(), {keys_.session(hash)},
                              {std::to_string(milliseconds(renew).count()), exact ? "1" : "0"});
    if (r.type != Reply::Type::kArray || r.elements.size() != 2) return std::nullopt;
    auto s = decode(hash, r.elements[0].str);
    if (!s) return std::nullopt;
    s->expires_at =
        db::check::truncate(std::chrono::system_clock::now()) + milliseconds(r.elements[1].integer);
    return s;
  }

  /// The live members of `index`, oldest first; adds to `w` the removal of the dead ones.
  std::vector<std::string> trim(const std::string& index, Batch& w) {
    const auto members = cache_.zrange(index, 0, -1);
    std::vector<std::string> live;
    if (members.empty()) return live;
    Batch probe;
    for (const auto& m : members) probe.get(keys_.session(m.member));
    const auto replies = cache_.execute(probe);
    for (std::size_t i = 0; i < members.size(); ++i) {
      if (replies[i].is_nil()) {
        w.zrem(index, members[i].member);
      } else {
        live.push_back(members[i].member);
      }
    }
    return live;
  }

  Cache& cache_;
  const keys::KeySchema& keys_;
  const SessionOptions& o_;
  AccountDb& db_;
};

}  // namespace

std::unique_ptr<HotSessions> make_hot_sessions(Cache& cache, const keys::KeySchema& keys,
                                               const SessionOptions& options, AccountDb& db) {
  if (sodium_init() < 0) {
    throw Error(ErrorCode::kInternal, "sessions", "libsodium failed to initialise");
  }
  return std::make_unique<HotSessionsImpl>(cache, keys, options, db);
}

}  // namespace examstore::security
