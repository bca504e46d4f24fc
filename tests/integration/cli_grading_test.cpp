// examstore grading as a grader drives it from a shell: claim, complete with a results file,
// statistics and rankings, against the test Redis and a fresh PostgreSQL database set up through
// the library; a stale token and bad results files are refused, naming what was wrong.
#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "common/json.hpp"
#include "examstore/store.hpp"
#include "support/test_env.hpp"

namespace {

using examstore::test::CommandResult;

struct CliGrading {
  examstore::test::TempDatabase db;
  examstore::test::TempDir dir{"cli-grading"};
  std::string prefix = examstore::test::unique_name("cgr");
  std::unique_ptr<examstore::Store> store;
  examstore::AssignmentId assignment = 0;
  examstore::ClassId class_id = 0;
  std::vector<examstore::StudentId> students;

  /// A class of `n` students, an assignment of 2 questions (5 points each) and their
  /// submissions.
  explicit CliGrading(int n) {
    examstore::Config c;
    c.with_redis_url(examstore::test::redis_url());
    c.with_database_url(db.url());
    c.migrate_on_open = true;
    c.key_prefix = prefix;
    store = examstore::Store::open(c);
    auto& g = store->grading();
    class_id = g.create_class({"7B", "ms.wang", "math"}).id;
    for (int i = 1; i <= n; ++i) {
      examstore::NewStudent s;
      s.external_no = "cg-" + std::to_string(i);
      s.name = "Student " + std::to_string(i);
      students.push_back(store->students().create(s).id);
    }
    g.add_members(class_id, students);
    examstore::NewAssignment a;
    a.class_id = class_id;
    a.teacher = "ms.wang";
    a.subject = "math";
    a.title = "Fractions";
    a.rubric_json = R"({"steps":2})";
    a.question_count = 2;
    a.max_score = 10;
    a.deadline = std::chrono::system_clock::now() + std::chrono::hours(1);
    assignment = g.create_assignment(a).id;
    for (const auto s : students) {
      g.submit({assignment,
                s,
                {"s3://hw/" + std::to_string(s) + ".pdf"},
                std::chrono::system_clock::now()});
    }
  }

  CommandResult run(const std::string& args) const {
    return examstore::test::run_command("EXAMSTORE_KEY_PREFIX=" + prefix + " " EXAMSTORE_CLI_PATH +
                                        std::string(" --redis ") + examstore::test::redis_url() +
                                        " --database '" + db.url() + "' " + args + " 2>&1");
  }

  /// Writes `text` to a file in the test's directory and returns its path.
  std::string file(const std::string& name, const std::string& text) const {
    const std::string path = dir / name;
    std::ofstream(path) << text;
    return path;
  }
};

examstore::json::Value parsed(const CommandResult& r) {
  INFO("output: " << r.output);
  REQUIRE(r.exit_code == 0);
  return examstore::json::parse(r.output);
}

std::int64_t int_at(const examstore::json::Value& v, const std::string& key) {
  const auto* m = v.find(key);
  REQUIRE(m != nullptr);
  REQUIRE(m->as_int64());
  return *m->as_int64();
}

double number_at(const examstore::json::Value& v, const std::string& key) {
  const auto* m = v.find(key);
  REQUIRE(m != nullptr);
  REQUIRE(m->as_double());
  return *m->as_double();
}

const std::string kResults =
    R"({"grades":[{"question":1,"score":4,"max_score":5,"feedback":"good","strategy":"rubric"},)"
    R"({"question":2,"score":3.5,"max_score":5}],)"
    R"("errors":[{"question":2,"kind":"calculation","knowledge_point":"math/fractions"}],)"
    R"("evaluations":{"summary":"fine"}})";

}  // namespace

TEST_CASE("cli grading claim, complete with a results file, stats and ranking",
          "[cli][grading][redis][postgres]") {
  CliGrading cli(1);
  const auto claimed =
      parsed(cli.run("grading claim --grader worker-1 --kind ai --model m1 --model-version 7 "
                     "--lease 60 --assignment " +
                     std::to_string(cli.assignment)));
  REQUIRE(claimed.find("claimed") != nullptr);
  CHECK(claimed.find("claimed")->boolean);
  const auto task = int_at(claimed, "task_id");
  const auto token = int_at(claimed, "token");
  CHECK(token >= 1);
  CHECK(claimed.find("expires_at")->is_string());
  const auto* submission = claimed.find("submission");
  REQUIRE(submission != nullptr);
  REQUIRE(submission->is_object());
  CHECK(int_at(*submission, "student_id") == cli.students[0]);
  REQUIRE(submission->find("answer_files")->items.size() == 1);
  CHECK(submission->find("answer_files")->items[0].text ==
        "s3://hw/" + std::to_string(cli.students[0]) + ".pdf");
  const auto* assignment = claimed.find("assignment");
  REQUIRE(assignment != nullptr);
  CHECK(int_at(*assignment, "question_count") == 2);
  CHECK(int_at(*assignment->find("rubric"), "steps") == 2);
  CHECK(claimed.find("task")->find("state")->text == "running");
  CHECK(claimed.find("task")->find("lease_owner")->text == "worker-1");

  const std::string lease = " --task " + std::to_string(task) + " --token " + std::to_string(token);
  const auto renewed = parsed(cli.run("grading renew" + lease + " --lease 120"));
  CHECK(int_at(renewed, "token") == token);

  const std::string results = cli.file("results.json", kResults);
  const auto receipt = parsed(cli.run("grading complete" + lease + " --results " + results));
  CHECK(int_at(receipt, "task_id") == task);
  CHECK(number_at(receipt, "total_score") == Approx(7.5));
  CHECK(number_at(receipt, "max_score") == Approx(10));
  CHECK(number_at(receipt, "percentage") == Approx(75));
  CHECK(receipt.find("grade_level")->text == "C");
  CHECK_FALSE(receipt.find("replayed")->boolean);
  // The same completion again (a grader retrying after a lost reply) replays the receipt.
  const auto again = parsed(cli.run("grading complete" + lease + " --results " + results));
  CHECK(again.find("replayed")->boolean);

  // What the CLI stored is what the library reads.
  const auto rows = cli.store->grading().results(task);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].grade.feedback == "good");
  CHECK(rows[0].grader.name == "worker-1");
  CHECK(rows[1].grade.score == Approx(3.5));
  CHECK(cli.store->grading().get_submission(int_at(*submission, "id"))->evaluations ==
        R"({"summary":"fine"})");

  const auto stats =
      parsed(cli.run("grading stats --assignment " + std::to_string(cli.assignment)));
  CHECK(int_at(stats, "count") == 1);
  CHECK(number_at(stats, "mean_percentage") == Approx(75));
  CHECK(stats.find("distribution")->items.size() == 10);
  REQUIRE(stats.find("error_kinds")->items.size() == 1);
  CHECK(stats.find("error_kinds")->items[0].find("kind")->text == "calculation");
  const auto task_stats = parsed(cli.run("grading stats --task " + std::to_string(task)));
  CHECK(int_at(task_stats, "count") == 1);

  const auto top = parsed(
      cli.run("grading ranking --assignment " + std::to_string(cli.assignment) + " --top 5"));
  REQUIRE(top.find("entries")->items.size() == 1);
  CHECK(int_at(top.find("entries")->items[0], "student_id") == cli.students[0]);
  CHECK(number_at(top.find("entries")->items[0], "score") == Approx(7.5));
  const auto around = parsed(cli.run("grading ranking --class " + std::to_string(cli.class_id) +
                                     " --student " + std::to_string(cli.students[0])));
  CHECK(int_at(*around.find("student"), "rank") == 1);

  // A regrade starts run 2; the task is claimable again.
  const auto regraded = parsed(
      cli.run("grading regrade --task " + std::to_string(task) + " --reason 'rubric fixed'"));
  CHECK(int_at(regraded, "run") == 2);
  CHECK(regraded.find("state")->text == "pending");
}

TEST_CASE("cli grading claim prints claimed false when nothing is claimable",
          "[cli][grading][redis][postgres]") {
  CliGrading cli(1);
  const std::string only = " --assignment " + std::to_string(cli.assignment);
  CHECK(parsed(cli.run("grading claim --grader w1" + only)).find("task_id") != nullptr);
  const CommandResult none = cli.run("grading claim --grader w2" + only);
  CHECK(none.exit_code == 0);
  CHECK(none.output == "{\"claimed\":false}\n");
}

TEST_CASE("cli grading claim on the embedded default has nothing to claim", "[cli][grading]") {
  const CommandResult r = examstore::test::run_command(
      EXAMSTORE_CLI_PATH " --redis memory:// --database memory:// grading claim --grader w1 2>&1");
  CHECK(r.exit_code == 0);
  CHECK(r.output == "{\"claimed\":false}\n");
}

TEST_CASE("cli grading complete with a stale token exits 1 naming the token",
          "[cli][grading][redis][postgres]") {
  CliGrading cli(1);
  const auto claimed = parsed(cli.run("grading claim --grader slow --lease 30"));
  const auto task = int_at(claimed, "task_id");
  const auto token = int_at(claimed, "token");
  // Another grader reclaims the task after the lease (its clock an hour ahead).
  examstore::ClaimRequest r;
  r.grader.name = "fast";
  r.now = std::chrono::system_clock::now() + std::chrono::hours(1);
  const auto reclaimed = cli.store->grading().claim(r);
  REQUIRE(reclaimed);
  REQUIRE(reclaimed->task.id == task);
  REQUIRE(reclaimed->token > token);

  const std::string lease = " --task " + std::to_string(task) + " --token " + std::to_string(token);
  const CommandResult late =
      cli.run("grading complete" + lease + " --results " + cli.file("r.json", kResults));
  CHECK(late.exit_code == 1);
  CHECK_THAT(late.output, Catch::Contains("token " + std::to_string(token) + " of task " +
                                          std::to_string(task) + " was refused"));
  for (const char* sub : {"renew --lease 60", "fail --reason timeout"}) {
    INFO(sub);
    const CommandResult refused = cli.run(std::string("grading ") + sub + lease);
    CHECK(refused.exit_code == 1);
    CHECK_THAT(refused.output, Catch::Contains("token " + std::to_string(token)));
  }
  CHECK(cli.store->grading().results(task).empty());
  CHECK(cli.store->grading().get_task(task)->lease_owner == "fast");
}

TEST_CASE("cli grading complete names the bad field of a results file", "[cli][grading]") {
  examstore::test::TempDir dir("cli-grading");
  const auto complete = [&](const std::string& text) {
    const std::string path = dir / "results.json";
    std::ofstream(path) << text;
    return examstore::test::run_command(EXAMSTORE_CLI_PATH
                                        " --redis memory:// --database memory:// grading complete "
                                        "--task 1 --token 1 --results " +
                                        path + " 2>&1");
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"grades":[{"question":1,"score":"4","max_score":5}]})", "grades[0].score"},
      {R"({"grades":[{"question":1,"score":4,"max_score":5},{"question":2.5,"score":1,)"
       R"("max_score":5}]})",
       "grades[1].question"},
      {R"({"grades":[{"question":1,"score":4}]})", "grades[0].max_score: is required"},
      {R"({"grades":[{"question":1,"score":4,"max_score":5,"points":3}]})",
       "grades[0].points: unknown field"},
      {R"({"grades":[],"verdict":"pass"})", "verdict: unknown field"},
      {R"({"errors":[]})", "grades: is required"},
      {R"({"grades":[],"errors":[{"question":1}]})", "errors[0].kind: is required"},
      {R"({"grades":[],"grade_level":1})", "grade_level: must be a string"},
      {R"({"grades":[{"question":1,}]})", "not valid JSON"},
      {R"([1,2])", "must be a JSON object"}};
  for (const auto& [text, field] : cases) {
    INFO(text);
    const CommandResult r = complete(text);
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.output, Catch::Contains(field) && Catch::Contains("nothing stored"));
  }
}

TEST_CASE("cli grading bad usage exits 2", "[cli][grading]") {
  for (const char* args :
       {"grading", "grading sideways", "grading claim", "grading claim --grader w --kind robot",
        "grading claim --grader w --assignment 1 --exam 2", "grading claim --grader w --lease 0",
        "grading complete --task 1 --token x --results -", "grading complete --task 1 --token 1",
        "grading stats", "grading stats --class 1 --exam 2", "grading ranking --task 1",
        "grading ranking --exam 1 --top 3 --student 2", "grading ranking --exam 1 --radius 2",
        "grading fail --task 1 --token 1", "grading regrade --reason x"}) {
    INFO("args: " << args);
    const CommandResult r = examstore::test::run_command(
        std::string(EXAMSTORE_CLI_PATH " --redis memory:// --database memory:// ") + args +
        " 2>&1 </dev/null");
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("usage: examstore"));
  }
}
