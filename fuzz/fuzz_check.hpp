// fuzz/fuzz_check.hpp: the assertion of the fuzz targets (kept in release builds, unlike assert).
#pragma once

#include <cstdio>
#include <cstdlib>

#include "examstore/error.hpp"

namespace examstore::fuzz {

/// Aborts with `what` when `ok` is false.
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz property violated: %s\n", what);
    std::abort();
  }
}

/// The only error hostile input may produce: kInvalidArgument.
inline void require_invalid_argument(const Error& e) {
  if (e.code() != ErrorCode::kInvalidArgument) {
    std::fprintf(stderr, "unexpected error %d: %s\n", static_cast<int>(e.code()), e.what());
    std::abort();
  }
}

}  // namespace examstore::fuzz
