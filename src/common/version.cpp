#include "examstore/version.hpp"

namespace examstore {

std::string_view version() noexcept { return EXAMSTORE_VERSION_STRING; }

}  // namespace examstore
