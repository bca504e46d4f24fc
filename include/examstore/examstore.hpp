// examstore/examstore.hpp: the umbrella header. Include it to get the whole public API.
#pragma once

#include "examstore/cache.hpp"
#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "examstore/version.hpp"
