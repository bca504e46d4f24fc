// tests/support/db_ids.hpp: the ids a test's database holds, for "nothing acknowledged was lost"
// checks.
#pragma once

#include <cstdint>
#include <map>
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

/// How many rows of `from` (a table or a join) have each value of `expr` (an SQL expression):
/// "exactly once" checks for rows the schema does not make unique by themselves.
inline std::map<std::string, int> row_counts(const TempDatabase& db, const std::string& expr,
                                             const std::string& from) {
  const std::string text =
      db.query_value("SELECT string_agg((" + expr + ")::text, ',') FROM " + from);
  std::map<std::string, int> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) ++out[item];
  }
  return out;
}

}  // namespace examstore::test
