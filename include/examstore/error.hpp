// examstore/error.hpp: the one error model of the whole API.
//
// Every failure that crosses the public API is an examstore::Error (or a subclass). Backend
// exceptions and error codes (hiredis, libpq/libpqxx) are translated once, in the adapter that
// talks to the backend, so callers never see a foreign exception type.
//
// An error says three things a caller needs to decide what to do next:
//   - code():            what kind of failure it was (see ErrorCode);
//   - retryable():       whether trying the same call again, after a backoff, can succeed;
//   - outcome_unknown(): whether the operation may or may not have taken effect (a write whose
//                        acknowledgement was lost). Such a call must not be blindly repeated
//                        unless it is idempotent.
// A cache miss, a missing row or an absent field is not an error: it is an empty std::optional.
//
// Thread-safety: Error objects are immutable values; copy them freely across threads.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace examstore {

/// What went wrong. The comment of each code says what the caller should do.
enum class ErrorCode {
  /// The caller passed something malformed (a URL, an id, a value out of range). Do not retry:
  /// fix the input. The message names the field and the offending text.
  kInvalidArgument,
  /// The named entity does not exist where the operation needs it to. Do not retry.
  kNotFound,
  /// The operation conflicts with the current state (illegal transition, duplicate key, a
  /// version that moved on). Re-read the state, then decide.
  kConflict,
  /// A backend could not be reached or the connection was lost before the outcome was known to
  /// be anything but "not applied". Retry with backoff.
  kUnavailable,
  /// A deadline passed (connect, command, pool checkout). Retry with backoff; check
  /// outcome_unknown() before repeating a write.
  kTimeout,
  /// A bounded resource is full (a pool, a queue). Retry later or shed load.
  kResourceExhausted,
  /// Stored state is not what this library expects (a tampered migration, an unknown schema
  /// version, a reply of the wrong type). Do not retry: an operator must look.
  kDataIntegrity,
  /// The acting principal may not do this. Do not retry.
  kPermissionDenied,
  /// A bug in examstore or an unexpected backend response. Do not retry; report it.
  kInternal,
};

/// The stable lower-case name of a code ("invalid_argument", "unavailable", ...).
std::string_view to_string(ErrorCode code) noexcept;

/// The base of every exception the examstore API throws.
///
/// what() reads "<operation>[ on <backend>]: <message>", e.g.
/// "redis GET on 127.0.0.1:6379: connection refused".
class Error : public std::runtime_error {
 public:
  /// @param code       the kind of failure.
  /// @param operation  what was being done ("config.redis_url", "redis GET", "migrate up").
  /// @param message    what went wrong, naming the offending value where there is one.
  /// @param backend    which backend, if any ("127.0.0.1:6379", "postgresql db@host"); empty if
  ///                   none.
  /// @param outcome_unknown  true when a write may or may not have been applied.
  Error(ErrorCode code, std::string operation, std::string message, std::string backend = {},
        bool outcome_unknown = false);

  /// The kind of failure.
  ErrorCode code() const noexcept { return code_; }
  /// What was being done when it failed.
  const std::string& operation() const noexcept { return operation_; }
  /// The bare message, without operation and backend.
  const std::string& message() const noexcept { return message_; }
  /// The backend involved, or empty.
  const std::string& backend() const noexcept { return backend_; }
  /// True when repeating the same call after a backoff can succeed.
  bool retryable() const noexcept;
  /// True when a write may have taken effect although the call failed.
  bool outcome_unknown() const noexcept { return outcome_unknown_; }

 private:
  ErrorCode code_;
  std::string operation_;
  std::string message_;
  std::string backend_;
  bool outcome_unknown_;
};

}  // namespace examstore
