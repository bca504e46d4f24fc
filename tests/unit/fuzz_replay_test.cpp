// tests/unit/fuzz_replay_test.cpp: replays every seed input (fuzz/corpus/<target>/) and every
// crash the fuzzers found (fuzz/regressions/<target>/) through the fuzz targets' bodies, in the
// normal build, without libFuzzer. A property violation aborts the test process, as it aborted
// the fuzzer.
#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "fuzz/fuzz_targets.hpp"

namespace {

using Body = int (*)(const std::uint8_t*, std::size_t);

const std::map<std::string, Body> kTargets = {
    {"fuzz_config_url", examstore::fuzz::fuzz_one_config_url},
    {"fuzz_question_import", examstore::fuzz::fuzz_one_question_import},
    {"fuzz_key_encoder", examstore::fuzz::fuzz_one_key_encoder},
};

/// Replays every file under fuzz/<kind>/<target>/; returns how many.
int replay(const std::string& kind, const std::string& target, Body body) {
  const std::filesystem::path dir = std::filesystem::path(EXAMSTORE_FUZZ_DIR) / kind / target;
  int n = 0;
  if (!std::filesystem::is_directory(dir)) return n;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    if (!f.is_regular_file() || f.path().filename() == ".gitkeep") continue;
    std::ifstream in(f.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO(f.path().string());
    CHECK(body(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()) == 0);
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("Every fuzz seed and every kept crash input replays cleanly", "[fuzz][hostile]") {
  for (const auto& [target, body] : kTargets) {
    INFO(target);
    // every target ships a seed corpus
    CHECK(replay("corpus", target, body) > 0);
    replay("regressions", target, body);
  }
}
