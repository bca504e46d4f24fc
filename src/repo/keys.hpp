// repo/keys.hpp: every Redis key the repositories use, built in one place (docs/keys.md).
//
// Key parts are numeric ids, checked positive, so no caller-supplied text can ever become part
// of a key (no ':', '{' or '}' can be smuggled in). Every key of one exam carries the hash tag
// {e:<id>} so they live on one Redis Cluster slot; a student's profile key carries {s:<id>}.
// Every key and channel starts with the configured prefix (Config::key_prefix), so several
// databases (or test runs) can share one Redis without their ids colliding.
#pragma once

#include <string>
#include <string_view>

#include "examstore/accounts.hpp"
#include "examstore/model.hpp"

namespace examstore::keys {

/// Throws Error(kInvalidArgument) naming `field` unless id > 0.
void check_id(const char* field, std::int64_t id);

/// The key part of a client IP address: the hex of its binary form (8 digits for IPv4, 32 for
/// IPv6), or "none" when `ip` is empty. The text itself never reaches a key. Throws
/// Error(kInvalidArgument, ..., "ip: ...") unless `ip` is empty or a numeric IPv4/IPv6 address.
std::string ip_part(std::string_view ip);

/// The generation (fill guard) of a cached key: the key plus ":gen", same hash tag.
std::string generation(const std::string& key);

class KeySchema {
 public:
  /// `prefix` was validated by Config (letters, digits, '_', '-', '.').
  explicit KeySchema(std::string prefix) : p_(std::move(prefix)) {}

  std::string exam(ExamId id) const;                 ///< cached exam snapshot (string)
  std::string student(StudentId id) const;           ///< cached student profile (string)
  std::string presence_heartbeats(ExamId id) const;  ///< packed u32 last heartbeat per seat
  std::string presence_states(ExamId id) const;      ///< u8 presence state per seat (string)
  std::string presence_counts(ExamId id) const;      ///< counts per presence state (hash)
  std::string violation_counts(ExamId id) const;     ///< live counts per kind (hash)
  std::string violation_counts_by_student(ExamId id) const;  ///< "<student>:<kind>" -> n
  /// The violations counted lately (sorted set "<id>:<student>:<kind>" -> ms): a resent count
  /// finds its id here and adds nothing.
  std::string violation_counted(ExamId id) const;
  /// One attempt's hot state (hash), under the exam's tag: "attempt:{e:ID}:<student>".
  std::string attempt(ExamId exam, StudentId student) const;
  /// Its live answers (hash: question id -> "seq:saved_us:since_ms:answer").
  std::string attempt_answers(ExamId exam, StudentId student) const;
  /// A session (string), by the hex BLAKE2b-256 of its token (64 lowercase hex digits, checked).
  std::string session(std::string_view token_hash_hex) const;
  /// A user's sessions (sorted set: token hash -> creation time in ms).
  std::string user_sessions(UserId user) const;
  /// Failed logins of a user in the current window (integer), and the time until which the
  /// user's logins are refused (string, µs since the epoch); one tag {lu:ID}.
  std::string login_failures_of_user(UserId user) const;
  std::string login_block_of_user(UserId user) const;
  /// The same for a client IP (`ip` as accepted by ip_part()); one tag {li:HEX}.
  std::string login_failures_of_ip(std::string_view ip) const;
  std::string login_block_of_ip(std::string_view ip) const;
  /// The channel on which invalidated keys are published.
  std::string invalidation_channel() const { return p_ + "invalidate"; }

 private:
  std::string tagged(const char* kind, const char* tag, std::int64_t id, const char* suffix) const;
  std::string p_;  // "" or "<prefix>:"
};

}  // namespace examstore::keys
