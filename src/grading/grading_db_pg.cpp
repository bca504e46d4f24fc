// grading/grading_db_pg.cpp: the PostgreSQL GradingStore (migration 0010).
#include "db/pg_pool.hpp"
#include "examstore/error.hpp"
#include "grading/grading_db.hpp"

namespace examstore::db {

// TODO(issue 9, PostgreSQL store): the PostgreSQL store.
std::unique_ptr<GradingStore> make_pg_grading_store(PgPool& /*pool*/) { return nullptr; }

}  // namespace examstore::db
