// security/access_db.hpp: where the grants live (PostgreSQL tables of migration 0007, or
// memory). Backends check existence (kNotFound for an unknown exam or question) but neither
// input nor rights: AccessControl does that before calling them.
//
// Thread-safety: all methods are thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "examstore/access.hpp"
#include "security/policy.hpp"

namespace examstore {
class QuestionBank;
}  // namespace examstore

namespace examstore::db {
class ExamStore;
class PgPool;
}  // namespace examstore::db

namespace examstore::security {

/// The grant tables. Changes return whether anything changed (false for a repeat), or the
/// course held before a set (nullopt when there was none). Every lookup is one round trip.
class GrantBackend : public GrantLookup {
 public:
  virtual bool add_teacher_course(UserId teacher, const std::string& course) = 0;
  virtual bool remove_teacher_course(UserId teacher, const std::string& course) = 0;
  /// kNotFound when the exam does not exist.
  virtual bool add_proctor(UserId proctor, ExamId exam) = 0;
  virtual bool remove_proctor(UserId proctor, ExamId exam) = 0;
  /// kNotFound when the exam does not exist.
  virtual std::optional<std::string> set_exam_course(ExamId exam, const std::string& course) = 0;
  /// kNotFound when the question does not exist.
  virtual std::optional<std::string> set_question_course(QuestionId question,
                                                         const std::string& course) = 0;

  virtual std::vector<std::string> courses_of(UserId teacher) = 0;
  virtual std::vector<ExamId> exams_of_proctor(UserId proctor) = 0;
  virtual std::optional<std::string> course_of_exam(ExamId exam) = 0;
  virtual std::optional<std::string> course_of_question(QuestionId question) = 0;
};

std::unique_ptr<GrantBackend> make_pg_grant_backend(db::PgPool& pool);
/// Existence is checked against `exams` and `questions` (the in-memory database's).
std::unique_ptr<GrantBackend> make_memory_grant_backend(db::ExamStore& exams,
                                                        QuestionBank& questions);

}  // namespace examstore::security
