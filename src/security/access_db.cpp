// The grant tables on PostgreSQL (one statement per call) and in memory.
#include "security/access_db.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>
#include <utility>

#include "db/pg_pool.hpp"
#include "db/stores.hpp"
#include "examstore/error.hpp"
#include "examstore/question_bank.hpp"

namespace examstore::security {
namespace {

[[noreturn]] void not_found(const std::string& operation, const std::string& what) {
  throw Error(ErrorCode::kNotFound, operation, what + " does not exist");
}

std::optional<std::string> opt_text(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::string>();
}

// ---- PostgreSQL ----

class PgGrantBackend final : public GrantBackend {
 public:
  explicit PgGrantBackend(db::PgPool& pool) : pool_(pool) {}

  bool add_teacher_course(UserId teacher, const std::string& course) override {
    return affected("grant course", "es_grant_course",
                    "INSERT INTO teacher_courses (user_id, course) VALUES ($1, $2) "
                    "ON CONFLICT DO NOTHING",
                    teacher, course);
  }
  bool remove_teacher_course(UserId teacher, const std::string& course) override {
    return affected("revoke course", "es_revoke_course",
                    "DELETE FROM teacher_courses WHERE user_id = $1 AND course = $2", teacher,
                    course);
  }
  bool add_proctor(UserId proctor, ExamId exam) override {
    bool changed = false;
    pool_.transact("assign proctor", [&](pqxx::work& tx) {
      const auto r = db::exec_prepared(
          tx, "es_assign_proctor",
          "WITH e AS (SELECT id FROM exams WHERE id = $2), "
          "ins AS (INSERT INTO exam_proctors (user_id, exam_id) SELECT $1::bigint, id FROM e "
          "ON CONFLICT DO NOTHING RETURNING 1) "
          "SELECT (SELECT count(*) FROM e), (SELECT count(*) FROM ins)",
          proctor, exam);
      if (r[0][0].as<std::int64_t>() == 0) not_found("assign proctor", exam_name(exam));
      changed = r[0][1].as<std::int64_t>() > 0;
    });
    return changed;
  }
  bool remove_proctor(UserId proctor, ExamId exam) override {
    return affected("unassign proctor", "es_unassign_proctor",
                    "DELETE FROM exam_proctors WHERE user_id = $1 AND exam_id = $2", proctor, exam);
  }
  std::optional<std::string> set_exam_course(ExamId exam, const std::string& course) override {
    return set_course("set exam course", "es_set_exam_course", "exams", "exam_courses", "exam_id",
                      exam, course, exam_name(exam));
  }
  std::optional<std::string> set_question_course(QuestionId question,
                                                 const std::string& course) override {
    return set_course("set question course", "es_set_question_course", "questions",
                      "question_courses", "question_id", question, course,
                      "question " + std::to_string(question));
  }

  bool teaches(UserId teacher, const std::string& course) override {
    return exists(
        "es_teaches",
        "SELECT EXISTS (SELECT 1 FROM teacher_courses WHERE user_id = $1 AND course = $2)", teacher,
        course);
  }
  ExamCourse exam_course(UserId teacher, ExamId exam) override {
    ExamCourse out;
    pool_.read("grant lookup", [&](pqxx::nontransaction& tx) {
      const auto r = db::exec_prepared(tx, "es_exam_course_taught",
                                       "SELECT ec.course, EXISTS (SELECT 1 FROM teacher_courses t "
                                       "WHERE t.user_id = $2 AND t.course = ec.course) "
                                       "FROM exam_courses ec WHERE ec.exam_id = $1",
                                       exam, teacher);
      out = ExamCourse{};
      if (!r.empty()) out = ExamCourse{r[0][0].as<std::string>(), r[0][1].as<bool>()};
    });
    return out;
  }
  bool proctors(UserId proctor, ExamId exam) override {
    return exists("es_proctors",
                  "SELECT EXISTS (SELECT 1 FROM exam_proctors WHERE user_id = $1 AND exam_id = $2)",
                  proctor, exam);
  }

  std::vector<std::string> courses_of(UserId teacher) override {
    return column<std::string>("courses of teacher", "es_courses_of",
                               "SELECT course FROM teacher_courses WHERE user_id = $1 "
                               "ORDER BY course",
                               teacher);
  }
  std::vector<ExamId> exams_of_proctor(UserId proctor) override {
    return column<ExamId>("exams of proctor", "es_exams_of_proctor",
                          "SELECT exam_id FROM exam_proctors WHERE user_id = $1 ORDER BY exam_id",
                          proctor);
  }
  std::optional<std::string> course_of_exam(ExamId exam) override {
    return one_course("course of exam", "es_course_of_exam",
                      "SELECT course FROM exam_courses WHERE exam_id = $1", exam);
  }
  std::optional<std::string> course_of_question(QuestionId question) override {
    return one_course("course of question", "es_course_of_question",
                      "SELECT course FROM question_courses WHERE question_id = $1", question);
  }

 private:
  static std::string exam_name(ExamId exam) { return "exam " + std::to_string(exam); }

  template <typename... Args>
  bool exists(const std::string& name, const std::string& sql, Args&&... args) {
    bool out = false;
    pool_.read("grant lookup", [&](pqxx::nontransaction& tx) {
      out = db::exec_prepared(tx, name, sql, args...)[0][0].template as<bool>();
    });
    return out;
  }

  /// The first column of every row of a one-parameter query.
  template <typename T>
  std::vector<T> column(const std::string& operation, const std::string& name,
                        const std::string& sql, std::int64_t id) {
    std::vector<T> out;
    pool_.read(operation, [&](pqxx::nontransaction& tx) {
      out.clear();
      for (const auto& row : db::exec_prepared(tx, name, sql, id)) {
        out.push_back(row[0].template as<T>());
      }
    });
    return out;
  }

  template <typename... Args>
  bool affected(const std::string& operation, const std::string& name, const std::string& sql,
                Args&&... args) {
    bool changed = false;
    pool_.transact(operation, [&](pqxx::work& tx) {
      changed = db::exec_prepared(tx, name, sql, args...).affected_rows() > 0;
    });
    return changed;
  }

  // Upserts the course of an entity (exam or question) after checking it exists, in one
  // statement; returns the course held before. Table and column names are constants.
  std::optional<std::string> set_course(const std::string& operation, const std::string& name,
                                        const char* entities, const char* table, const char* column,
                                        std::int64_t id, const std::string& course,
                                        const std::string& what) {
    const std::string sql = std::string("WITH e AS (SELECT id FROM ") + entities +
                            " WHERE id = $1), old AS (SELECT course FROM " + table + " WHERE " +
                            column + " = $1), up AS (INSERT INTO " + table + " (" + column +
                            ", course) SELECT id, $2::text FROM e ON CONFLICT (" + column +
                            ") DO UPDATE SET course = EXCLUDED.course RETURNING 1) "
                            "SELECT (SELECT count(*) FROM e), (SELECT course FROM old), "
                            "(SELECT count(*) FROM up)";
    std::optional<std::string> before;
    pool_.transact(operation, [&](pqxx::work& tx) {
      const auto r = db::exec_prepared(tx, name, sql, id, course);
      if (r[0][0].as<std::int64_t>() == 0) not_found(operation, what);
      before = opt_text(r[0][1]);
    });
    return before;
  }

  std::optional<std::string> one_course(const std::string& operation, const std::string& name,
                                        const std::string& sql, std::int64_t id) {
    std::optional<std::string> out;
    pool_.read(operation, [&](pqxx::nontransaction& tx) {
      const auto r = db::exec_prepared(tx, name, sql, id);
      out = r.empty() ? std::nullopt : std::optional<std::string>(r[0][0].as<std::string>());
    });
    return out;
  }

  db::PgPool& pool_;
};

// ---- memory ----

class MemoryGrantBackend final : public GrantBackend {
 public:
  MemoryGrantBackend(db::ExamStore& exams, QuestionBank& questions)
      : exams_(exams), questions_(questions) {}

  bool add_teacher_course(UserId teacher, const std::string& course) override {
    std::lock_guard<std::mutex> lock(mu_);
    return teacher_courses_.emplace(teacher, course).second;
  }
  bool remove_teacher_course(UserId teacher, const std::string& course) override {
    std::lock_guard<std::mutex> lock(mu_);
    return teacher_courses_.erase({teacher, course}) > 0;
  }
  bool add_proctor(UserId proctor, ExamId exam) override {
    require_exam("assign proctor", exam);
    std::lock_guard<std::mutex> lock(mu_);
    return proctors_.emplace(proctor, exam).second;
  }
  bool remove_proctor(UserId proctor, ExamId exam) override {
    std::lock_guard<std::mutex> lock(mu_);
    return proctors_.erase({proctor, exam}) > 0;
  }
  std::optional<std::string> set_exam_course(ExamId exam, const std::string& course) override {
    require_exam("set exam course", exam);
    std::lock_guard<std::mutex> lock(mu_);
    return exchange(exam_courses_, exam, course);
  }
  std::optional<std::string> set_question_course(QuestionId question,
                                                 const std::string& course) override {
    if (!questions_.get(question)) {
      not_found("set question course", "question " + std::to_string(question));
    }
    std::lock_guard<std::mutex> lock(mu_);
    return exchange(question_courses_, question, course);
  }

  bool teaches(UserId teacher, const std::string& course) override {
    std::lock_guard<std::mutex> lock(mu_);
    return teacher_courses_.count({teacher, course}) > 0;
  }
  ExamCourse exam_course(UserId teacher, ExamId exam) override {
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = exam_courses_.find(exam);
    if (it == exam_courses_.end()) return {};
    return ExamCourse{it->second, teacher_courses_.count({teacher, it->second}) > 0};
  }
  bool proctors(UserId proctor, ExamId exam) override {
    std::lock_guard<std::mutex> lock(mu_);
    return proctors_.count({proctor, exam}) > 0;
  }

  std::vector<std::string> courses_of(UserId teacher) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (auto it = teacher_courses_.lower_bound({teacher, std::string()});
         it != teacher_courses_.end() && it->first == teacher; ++it) {
      out.push_back(it->second);
    }
    return out;
  }
  std::vector<ExamId> exams_of_proctor(UserId proctor) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<ExamId> out;
    for (auto it = proctors_.lower_bound({proctor, 0});
         it != proctors_.end() && it->first == proctor; ++it) {
      out.push_back(it->second);
    }
    return out;
  }
  std::optional<std::string> course_of_exam(ExamId exam) override {
    std::lock_guard<std::mutex> lock(mu_);
    return find(exam_courses_, exam);
  }
  std::optional<std::string> course_of_question(QuestionId question) override {
    std::lock_guard<std::mutex> lock(mu_);
    return find(question_courses_, question);
  }

 private:
  void require_exam(const std::string& operation, ExamId exam) {
    if (!exams_.get(exam)) not_found(operation, "exam " + std::to_string(exam));
  }
  static std::optional<std::string> exchange(std::map<std::int64_t, std::string>& m,
                                             std::int64_t id, const std::string& course) {
    auto before = find(m, id);
    m[id] = course;
    return before;
  }
  static std::optional<std::string> find(const std::map<std::int64_t, std::string>& m,
                                         std::int64_t id) {
    const auto it = m.find(id);
    if (it == m.end()) return std::nullopt;
    return it->second;
  }

  db::ExamStore& exams_;
  QuestionBank& questions_;
  std::mutex mu_;  // guards the four grant tables below
  std::set<std::pair<UserId, std::string>> teacher_courses_;
  std::set<std::pair<UserId, ExamId>> proctors_;
  std::map<ExamId, std::string> exam_courses_;
  std::map<QuestionId, std::string> question_courses_;
};

}  // namespace

std::unique_ptr<GrantBackend> make_pg_grant_backend(db::PgPool& pool) {
  return std::make_unique<PgGrantBackend>(pool);
}
std::unique_ptr<GrantBackend> make_memory_grant_backend(db::ExamStore& exams,
                                                        QuestionBank& questions) {
  return std::make_unique<MemoryGrantBackend>(exams, questions);
}

}  // namespace examstore::security
