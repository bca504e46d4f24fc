// common/config_check.hpp: validation of a whole Config before a Store opens it.
#pragma once

#include "examstore/config.hpp"

namespace examstore {

/// Throws Error(kInvalidArgument) naming the first field that is out of range.
void validate(const Config& config);

}  // namespace examstore
