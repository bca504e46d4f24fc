// security/sessions.hpp: the SessionStore over the hot tier (Redis or the memory Cache).
//
// Layout (docs/accounts.md):
//   session:{t:H}  string, TTL = the session's remaining life; H = hex BLAKE2b-256 of the raw
//                  32 token bytes. Value "user_id|role|student_id|created_us|name|ip".
//   sessions:{u:ID} sorted set, member H, score = creation time in µs: the user's sessions, for
//                  max_per_user and invalidate_user. No TTL: members whose session expired are
//                  trimmed on create(), list() and invalidate_user(), so it holds at most
//                  max_per_user live members plus those that expired since.
// Only H ever reaches the hot tier, never the token.
//
// Thread-safety: all methods are thread-safe (two concurrent create() of one user may leave
// max_per_user + 1 sessions until the next create()).
#pragma once

#include <memory>
#include <string>

#include "examstore/accounts.hpp"
#include "examstore/cache.hpp"
#include "examstore/config.hpp"
#include "repo/keys.hpp"

namespace examstore::security {

class AccountDb;

class HotSessions : public SessionStore {
 public:
  /// Opens a session for `user`, whose status the caller has checked.
  virtual NewSession open(const User& user, const std::string& ip) = 0;
};

std::unique_ptr<HotSessions> make_hot_sessions(Cache& cache, const keys::KeySchema& keys,
                                               const SessionOptions& options, AccountDb& db);

}  // namespace examstore::security
