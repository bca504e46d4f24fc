// db/pg_violation_sql.hpp: the SQL of the PostgreSQL violation query, apart from its store so
// that tests can EXPLAIN exactly what the repository runs (partition pruning,
// docs/partitioning.md).
#pragma once

#include <string>

#include "db/sql_params.hpp"
#include "db/stores.hpp"

namespace examstore::db {

/// The SELECT of PgViolationStore::query for `filter`, its values added to `params`. The filter
/// must have been checked (store_checks.hpp).
std::string violation_query_sql(const ViolationFilter& filter, SqlParams& params);

}  // namespace examstore::db
