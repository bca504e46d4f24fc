// fuzz/fuzz_targets.hpp: the bodies of the libFuzzer targets, as plain functions, so that the
// fuzzers (fuzz_main.cpp, clang only) and the replay test of the normal suite
// (tests/unit/fuzz_replay_test.cpp, any compiler) run the same code on the same inputs.
//
// Each returns 0. A violated property calls std::abort(), which libFuzzer reports as a crash
// and the replay test as a dead process; a sanitizer finding does the same under sanitizers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace examstore::fuzz {

/// parse_redis_url / parse_postgres_url / Config::with_*_url on the input as text.
int fuzz_one_config_url(const std::uint8_t* data, std::size_t size);
/// JSON validation versus parsing, and QuestionBank::import_json on an in-memory store.
int fuzz_one_question_import(const std::uint8_t* data, std::size_t size);
/// The Redis key encoder (repo/keys.hpp) and PaperKey, whose text becomes part of keys.
int fuzz_one_key_encoder(const std::uint8_t* data, std::size_t size);

}  // namespace examstore::fuzz
