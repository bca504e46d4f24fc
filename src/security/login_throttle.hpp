// security/login_throttle.hpp: counters of failed logins in the hot tier.
//
// Per user (keys login:{lu:ID}:fails / :until) and per client IP (login:{li:HEX}:...), a
// failure increments `fails`, which expires `window` after the first failure of the window; the
// failure that reaches the limit sets `until` (µs since the epoch) with a TTL of `lockout` and
// resets `fails`. A login is refused while either `until` key lives. Both steps are one script
// each, so concurrent failures count exactly. A lost Redis forgets the counters (documented).
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <optional>
#include <string_view>

#include "examstore/accounts.hpp"
#include "examstore/cache.hpp"
#include "examstore/config.hpp"
#include "repo/keys.hpp"

namespace examstore::security {

class LoginThrottle {
 public:
  /// Throws kInvalidArgument naming the field of `options` that is unusable.
  LoginThrottle(Cache& cache, const keys::KeySchema& keys, const LoginThrottleOptions& options);

  struct Refusal {
    bool of_user = false;  ///< the user's limit (else the IP's)
    TimePoint until;
  };
  /// Whether logins of `user` (when known) or from `ip` are refused now; one round trip.
  std::optional<Refusal> refused(std::optional<UserId> user, std::string_view ip);
  /// Counts one failure against `user` (when known) and `ip`.
  void failed(std::optional<UserId> user, std::string_view ip);
  /// Forgets the user's failures (after a successful login); with `block` also lifts a refusal.
  void clear(UserId user, bool block);

 private:
  void count(const std::string& fails, const std::string& until, int max);

  Cache& cache_;
  const keys::KeySchema& keys_;
  const LoginThrottleOptions& o_;
};

}  // namespace examstore::security
