// The libFuzzer entry point of one target: EXAMSTORE_FUZZ_ENTRY names its body.
#include "fuzz/fuzz_targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return examstore::fuzz::EXAMSTORE_FUZZ_ENTRY(data, size);
}
