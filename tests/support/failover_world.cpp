#include "support/failover_world.hpp"

#include "examstore/question_bank.hpp"
#include "support/test_env.hpp"

namespace examstore::test {

using namespace std::chrono_literals;

Config failover_config(const std::string& redis_url, const std::string& database_url,
                       const std::string& journal_dir, const std::string& prefix) {
  Config c;
  c.with_redis_url(redis_url);
  c.with_database_url(database_url);
  c.key_prefix = unique_name(prefix);
  c.migrate_on_open = true;
  c.redis.command_timeout = 1s;
  c.write_behind.journal_dir = journal_dir;
  c.write_behind.retry_initial = 50ms;
  c.write_behind.retry_max = 500ms;
  return c;
}

std::vector<StudentId> enrolled_students(Store& store, const std::vector<ExamId>& exams, int n) {
  const std::string run = unique_name("s");
  std::vector<StudentId> out;
  for (int i = 0; i < n; ++i) {
    NewStudent s;
    s.external_no = run + "-" + std::to_string(i);
    s.name = "Student " + std::to_string(i);
    out.push_back(store.students().create(s).id);
    for (const ExamId e : exams) store.students().enroll(e, out.back());
  }
  return out;
}

std::vector<QuestionId> true_false_questions(Store& store, int n) {
  std::vector<QuestionId> out;
  for (int i = 0; i < n; ++i) {
    QuestionDraft d;
    d.type = QuestionType::kTrueFalse;
    d.stem = "failover question " + std::to_string(i);
    d.answer = "true";
    d.subject = "math";
    d.knowledge_points = {"math/algebra"};
    out.push_back(store.questions().create(d).id);
  }
  return out;
}

}  // namespace examstore::test
