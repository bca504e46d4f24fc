// examstore/accounts.hpp: users, roles, passwords, the login log and sessions.
//
// Users
//   - one row per person who signs in: a role (student, teacher, proctor, administrator), a
//     status (active, locked, deleted) and, for students, the link to their student record;
//   - passwords are hashed with Argon2id (libsodium crypto_pwhash_str) using the work factors of
//     Config::security.passwords; a hash made with older (weaker) factors is rehashed on the next
//     successful login. Passwords never appear in a log, a message or an error;
//   - every login attempt is recorded (user, name tried, IP, time, success, reason); after
//     `max_failures_per_user` failures for one user, or `max_failures_per_ip` from one IP, within
//     `window`, further attempts are refused until `lockout` has passed (Redis counters), with a
//     kResourceExhausted error that says until when. A refused attempt is recorded too.
//
// Sessions (SessionStore)
//   - a token is 256 random bits (libsodium randombytes), returned once, base64url without
//     padding (43 characters); the hot tier stores only a BLAKE2b-256 hash of it, so a dump of
//     Redis does not reveal a live token;
//   - a session lives `ttl`; with `sliding` each lookup renews it; extend() renews it on
//     request; invalidate() ends one, invalidate_user() ends every session of a user (called by
//     password changes, lock and delete); at most `max_per_user` live sessions per user, the
//     oldest dropped when a new one is created;
//   - lookup() is one hot-tier round trip.
//   Sessions live only in the hot tier: a flushed or lost Redis signs everybody out (they sign
//   in again); nothing else is lost.
//
// Every change here (create, password, lock, unlock, delete, role) is written to the audit log
// (audit.hpp) with the acting principal.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "examstore/model.hpp"

namespace examstore {

using UserId = std::int64_t;

/// What a user may do (see access.hpp for the rules).
enum class Role { kStudent, kTeacher, kProctor, kAdministrator };
std::string_view to_string(Role r) noexcept;
/// Parses "student", "teacher", "proctor", "administrator"; nullopt when unknown.
std::optional<Role> parse_role(std::string_view s) noexcept;

/// active -> locked -> active; any -> deleted (terminal: the name stays reserved).
enum class UserStatus { kActive, kLocked, kDeleted };
std::string_view to_string(UserStatus s) noexcept;
std::optional<UserStatus> parse_user_status(std::string_view s) noexcept;

/// Who is acting: the subject of every authorization decision and audit entry.
struct Principal {
  UserId user_id = 0;  ///< 0 for the system principal
  std::string name;    ///< the user name ("system" for the system principal)
  Role role = Role::kStudent;
  std::optional<StudentId> student_id;  ///< set for students linked to a student record
  std::string ip;                       ///< where the request came from; may be empty

  /// The library's own principal, used by operators' tools and background jobs: allowed
  /// everything, recorded in the audit log as `name` (e.g. "cli:root").
  static Principal system(std::string name = "system", std::string ip = {});
  bool is_system() const noexcept { return user_id == 0; }
};

/// What a caller supplies to create a user.
struct NewUser {
  std::string name;  ///< 1..64 characters of [A-Za-z0-9._@-], unique (case-sensitive)
  Role role = Role::kStudent;
  std::string password;  ///< Config::security.passwords.min_length..1024 bytes
  /// Required for students (the student record must exist), absent for other roles.
  std::optional<StudentId> student_id;
};

/// A user as stored (never with the password hash).
struct User {
  UserId id = 0;
  std::string name;
  Role role = Role::kStudent;
  UserStatus status = UserStatus::kActive;
  std::optional<StudentId> student_id;
  TimePoint created_at;
  TimePoint password_changed_at;

  /// The principal acting as this user from `ip`.
  Principal principal(std::string request_ip = {}) const;
};

/// One recorded login attempt.
struct LoginRecord {
  std::int64_t id = 0;
  std::optional<UserId> user_id;  ///< absent when the name matched no user
  std::string name;               ///< the name tried (truncated to 64 characters)
  std::string ip;
  TimePoint at;
  bool success = false;
  /// "ok", "bad_credentials", "locked", "deleted", "throttled_user", "throttled_ip".
  std::string reason;
};

/// A live session as the hot tier knows it.
struct SessionInfo {
  /// A public handle of the session: the first 16 hex digits of the token's hash. Safe to log
  /// and to show in a "your sessions" list; it cannot be used to act.
  std::string handle;
  UserId user_id = 0;
  Role role = Role::kStudent;
  std::optional<StudentId> student_id;
  std::string user_name;
  std::string ip;  ///< the IP the session was created from
  TimePoint created_at;
  TimePoint expires_at;

  /// The principal of this session, acting from `ip` (the request's IP, not necessarily the one
  /// the session was created from).
  Principal principal(std::string request_ip) const;
};

/// A new session: the only time the token is available.
struct NewSession {
  std::string token;  ///< 43 characters, base64url: give it to the client, store it nowhere
  SessionInfo info;
};

/// Sessions, in the hot tier.
class SessionStore {
 public:
  virtual ~SessionStore() = default;
  /// Opens a session for an active user (kNotFound if absent, kPermissionDenied if locked or
  /// deleted; kInvalidArgument when `ip` is neither empty nor a numeric IPv4/IPv6 address);
  /// drops the user's oldest sessions beyond max_per_user.
  virtual NewSession create(UserId user, const std::string& ip) = 0;
  /// The live session of `token`, renewing it when sliding. nullopt for an unknown, expired,
  /// invalidated or malformed token. One round trip.
  virtual std::optional<SessionInfo> lookup(std::string_view token) = 0;
  /// Renews the session for `ttl` (default: the configured ttl) from now; false when it is not
  /// live. kInvalidArgument when ttl is not positive or exceeds max_ttl.
  virtual bool extend(std::string_view token,
                      std::optional<std::chrono::seconds> ttl = std::nullopt) = 0;
  /// Ends the session; false when it was not live.
  virtual bool invalidate(std::string_view token) = 0;
  /// Ends every session of the user; returns how many were live.
  virtual std::int64_t invalidate_user(UserId user) = 0;
  /// The user's live sessions, oldest first.
  virtual std::vector<SessionInfo> list(UserId user) = 0;
};

/// Users, passwords and the login log.
class AccountRepo {
 public:
  virtual ~AccountRepo() = default;
  /// Creates a user. kInvalidArgument naming the field (name, password, student_id);
  /// kConflict when the name is taken; kNotFound when student_id names no student. `by` is
  /// recorded in the audit log.
  virtual User create(const NewUser& user, const Principal& by) = 0;
  virtual std::optional<User> get(UserId id) = 0;
  virtual std::optional<User> find_by_name(std::string_view name) = 0;
  /// The user linked to a student record, if any.
  virtual std::optional<User> find_by_student(StudentId student) = 0;

  /// Checks the password and opens a session. Every call is recorded in the login log.
  /// kPermissionDenied "wrong user name or password" for an unknown name or a wrong password
  /// (the same message for both), or naming the status for a locked or deleted user (said only
  /// after the right password, so that guessing does not reveal it); kInvalidArgument when `ip`
  /// is neither empty nor a numeric IPv4/IPv6 address;
  /// kResourceExhausted naming the user or the IP and the time until which attempts are refused
  /// when throttled. Rehashes the password when its hash used weaker factors than configured.
  virtual NewSession login(std::string_view name, std::string_view password,
                           const std::string& ip) = 0;

  /// Changes the password after checking the current one (kPermissionDenied when wrong); ends
  /// every session of the user.
  virtual void change_password(UserId id, std::string_view current, std::string_view next,
                               const Principal& by) = 0;
  /// Sets a password without the current one (an administrator's reset); ends every session.
  virtual void reset_password(UserId id, std::string_view next, const Principal& by) = 0;
  /// active -> locked; ends every session. kConflict when deleted; idempotent when locked.
  virtual User lock(UserId id, const Principal& by) = 0;
  /// locked -> active, and clears the user's failure counter. kConflict when deleted.
  virtual User unlock(UserId id, const Principal& by) = 0;
  /// any -> deleted (terminal); ends every session.
  virtual User remove(UserId id, const Principal& by) = 0;

  /// Login attempts, newest first, optionally of one user or one IP; limit 1..10000.
  virtual std::vector<LoginRecord> login_log(std::optional<UserId> user,
                                             std::optional<std::string> ip, int limit = 100) = 0;
};

}  // namespace examstore
