// tests/support/db_ids.hpp: the ids a test's database holds, for "nothing acknowledged was lost"
// checks.
#pragma once

#include <cstdint>
#include <set>
#include <sstream>
#include <string>

#include "support/test_env.hpp"

namespace examstore::test {

/// Every `id` of `table` (a bigint column), via string_agg.
inline std::set<std::int64_t> ids_in(const TempDatabase& db, const std::string& table) {
  const std::string text =
      db.query_value("SELECT string_agg(id::text, ',' ORDER BY id) FROM " + table);
  std::set<std::int64_t> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.insert(std::stoll(item));
  }
  return out;
}

}  // namespace examstore::test
