// The error model: what() composition, retryability by code, outcome_unknown.
#include <catch2/catch.hpp>

#include "examstore/error.hpp"
#include "examstore/version.hpp"

using examstore::Error;
using examstore::ErrorCode;

TEST_CASE("Error composes operation, backend and message", "[error][unit]") {
  const Error e(ErrorCode::kUnavailable, "redis GET", "connection refused", "127.0.0.1:6379/0");
  CHECK(std::string(e.what()) == "redis GET on 127.0.0.1:6379/0: connection refused");
  CHECK(e.operation() == "redis GET");
  CHECK(e.message() == "connection refused");
  CHECK(e.backend() == "127.0.0.1:6379/0");
  CHECK_FALSE(e.outcome_unknown());
  const Error f(ErrorCode::kInvalidArgument, "config.redis_url", "bad port");
  CHECK(std::string(f.what()) == "config.redis_url: bad port");
}

TEST_CASE("retryable() follows the code", "[error][unit]") {
  auto retryable = [](ErrorCode c) { return Error(c, "op", "m").retryable(); };
  CHECK(retryable(ErrorCode::kUnavailable));
  CHECK(retryable(ErrorCode::kTimeout));
  CHECK(retryable(ErrorCode::kResourceExhausted));
  CHECK_FALSE(retryable(ErrorCode::kInvalidArgument));
  CHECK_FALSE(retryable(ErrorCode::kNotFound));
  CHECK_FALSE(retryable(ErrorCode::kConflict));
  CHECK_FALSE(retryable(ErrorCode::kDataIntegrity));
  CHECK_FALSE(retryable(ErrorCode::kPermissionDenied));
  CHECK_FALSE(retryable(ErrorCode::kInternal));
  CHECK(Error(ErrorCode::kUnavailable, "commit", "lost", "", true).outcome_unknown());
}

TEST_CASE("every code has a stable name", "[error][unit]") {
  CHECK(examstore::to_string(ErrorCode::kInvalidArgument) == "invalid_argument");
  CHECK(examstore::to_string(ErrorCode::kResourceExhausted) == "resource_exhausted");
  CHECK(examstore::to_string(ErrorCode::kDataIntegrity) == "data_integrity");
  CHECK(examstore::to_string(ErrorCode::kPermissionDenied) == "permission_denied");
}

TEST_CASE("version() matches the compiled-in macros", "[error][unit]") {
  CHECK(examstore::version() == EXAMSTORE_VERSION_STRING);
  CHECK(examstore::version() == std::to_string(EXAMSTORE_VERSION_MAJOR) + "." +
                                    std::to_string(EXAMSTORE_VERSION_MINOR) + "." +
                                    std::to_string(EXAMSTORE_VERSION_PATCH));
}
