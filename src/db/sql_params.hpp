// db/sql_params.hpp: parameters of a statement whose shape depends on the call (optional
// filters). add() keeps the value and returns the placeholder ("$3") to splice into the SQL
// text, so values never become SQL. Used by every PostgreSQL store.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "db/pq.hpp"

namespace examstore::db {

class SqlParams {
 public:
  std::string add(std::string value) {
    values_.emplace_back(std::move(value));
    return "$" + std::to_string(values_.size());
  }
  std::string add(std::string_view value) { return add(std::string(value)); }
  std::string add(std::int64_t value) { return add(std::to_string(value)); }

  pqxx::result exec(pqxx::transaction_base& tx, const std::string& sql) const {
    return exec_dynamic(tx, sql, values_);
  }

 private:
  std::vector<std::string> values_;
};

}  // namespace examstore::db
