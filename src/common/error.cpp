#include "examstore/error.hpp"

#include <utility>

namespace examstore {
namespace {

std::string compose(const std::string& operation, const std::string& message,
                    const std::string& backend) {
  std::string s = operation;
  if (!backend.empty()) s += " on " + backend;
  s += ": ";
  s += message;
  return s;
}

}  // namespace

std::string_view to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid_argument";
    case ErrorCode::kNotFound:
      return "not_found";
    case ErrorCode::kConflict:
      return "conflict";
    case ErrorCode::kUnavailable:
      return "unavailable";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kResourceExhausted:
      return "resource_exhausted";
    case ErrorCode::kDataIntegrity:
      return "data_integrity";
    case ErrorCode::kPermissionDenied:
      return "permission_denied";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "unknown";
}

Error::Error(ErrorCode code, std::string operation, std::string message, std::string backend,
             bool outcome_unknown)
    : std::runtime_error(compose(operation, message, backend)),
      code_(code),
      operation_(std::move(operation)),
      message_(std::move(message)),
      backend_(std::move(backend)),
      outcome_unknown_(outcome_unknown) {}

bool Error::retryable() const noexcept {
  switch (code_) {
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
    case ErrorCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

}  // namespace examstore
