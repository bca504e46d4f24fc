// benchmarks/alloc_counter.hpp: counts heap allocations of the whole program.
//
// alloc_counter.cpp replaces the global operator new (and delete) of any program it is linked
// into; the library is linked statically, so its allocations count too.
#pragma once

#include <cstdint>

namespace bench {

/// Heap allocations (operator new and new[]) made so far by every thread.
std::int64_t allocations();

}  // namespace bench
