// grading/grading_db_memory.cpp: the in-memory GradingStore (the embedded default).
#include "db/stores.hpp"
#include "examstore/error.hpp"
#include "grading/grading_db.hpp"

namespace examstore::db {

// TODO(issue 9, memory store): the in-memory store.
std::unique_ptr<GradingStore> make_memory_grading_store(StudentStore& /*students*/,
                                                        AttemptStore& /*attempts*/,
                                                        ExamStore& /*exams*/) {
  return nullptr;
}

}  // namespace examstore::db
