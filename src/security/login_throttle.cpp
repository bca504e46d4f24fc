#include "security/login_throttle.hpp"

#include "db/store_checks.hpp"
#include "examstore/error.hpp"

namespace examstore::security {
namespace {

using std::chrono::milliseconds;

// KEYS: fails, until. ARGV: max, window_ms, lockout_ms, until_us. Returns 1 when this failure
// reached the limit. Not idempotent (INCR): a lost reply fails the call with outcome_unknown.
const Script& fail_script() {
  static const Script s{
      "login.fail",
      R"lua(
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[3])
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
)lua",
      [](Cache& c, const std::vector<std::string>& k, const std::vector<std::string>& a) {
        const std::int64_t n = c.incr_by(k[0], 1);
        if (n == 1) c.expire(k[0], milliseconds(std::stoll(a[1])));
        if (n >= std::stoll(a[0])) {
          c.set(k[1], a[3], milliseconds(std::stoll(a[2])));
          c.del({k[0]});
          return Reply::of(std::int64_t{1});
        }
        return Reply::of(std::int64_t{0});
      }};
  return s;
}

[[noreturn]] void invalid(const char* field, const std::string& why) {
  throw Error(ErrorCode::kInvalidArgument, "config", std::string(field) + ": " + why);
}

}  // namespace

LoginThrottle::LoginThrottle(Cache& cache, const keys::KeySchema& keys,
                             const LoginThrottleOptions& o)
    : cache_(cache), keys_(keys), o_(o) {
  if (o.max_failures_per_user < 1) invalid("security.login.max_failures_per_user", "must be >= 1");
  if (o.max_failures_per_ip < 1) invalid("security.login.max_failures_per_ip", "must be >= 1");
  if (o.window.count() <= 0) invalid("security.login.window", "must be positive");
  if (o.lockout.count() <= 0) invalid("security.login.lockout", "must be positive");
}

std::optional<LoginThrottle::Refusal> LoginThrottle::refused(std::optional<UserId> user,
                                                             std::string_view ip) {
  Batch b;
  if (user) b.get(keys_.login_block_of_user(*user));
  b.get(keys_.login_block_of_ip(ip));
  const auto replies = cache_.execute(b);
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (replies[i].is_nil()) continue;
    Refusal r;
    r.of_user = user.has_value() && i == 0;
    try {
      r.until = db::check::from_micros(std::stoll(replies[i].str));
    } catch (const std::exception&) {
      r.until = std::chrono::system_clock::now() + o_.lockout;  // not ours: refuse anyway
    }
    return r;
  }
  return std::nullopt;
}

void LoginThrottle::failed(std::optional<UserId> user, std::string_view ip) {
  if (user) {
    count(keys_.login_failures_of_user(*user), keys_.login_block_of_user(*user),
          o_.max_failures_per_user);
  }
  count(keys_.login_failures_of_ip(ip), keys_.login_block_of_ip(ip), o_.max_failures_per_ip);
}

void LoginThrottle::count(const std::string& fails, const std::string& until, int max) {
  const auto until_us = db::check::to_micros(
      std::chrono::system_clock::now() +
      std::chrono::duration_cast<std::chrono::system_clock::duration>(o_.lockout));
  cache_.run(fail_script(), {fails, until},
             {std::to_string(max), std::to_string(milliseconds(o_.window).count()),
              std::to_string(milliseconds(o_.lockout).count()), std::to_string(until_us)});
}

void LoginThrottle::clear(UserId user, bool block) {
  std::vector<std::string> keys{keys_.login_failures_of_user(user)};
  if (block) keys.push_back(keys_.login_block_of_user(user));
  cache_.del(keys);
}

}  // namespace examstore::security
