// tests/fault/attempt_crash_test.cpp: a process that autosaves with Durability::kJournaled is
// killed with SIGKILL mid-stream; every save it acknowledged must survive (journal replay into
// PostgreSQL), and the attempt must still submit with them.
//
// The child is tests/fault/attempt_crash_child.cpp (its parameters in the environment); it
// appends each acknowledged "question seq" line to a file.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"
#include "support/test_env.hpp"

namespace {

using namespace std::chrono_literals;
using examstore::Config;
using examstore::PaperKey;
using examstore::QuestionId;
using examstore::Store;

const PaperKey kPaper{"crash", "cs", "se", "db101"};

Config config_for(const std::string& db_url, const std::string& journal,
                  const std::string& prefix) {
  Config c;
  c.with_redis_url(examstore::test::redis_url());
  c.with_database_url(db_url);
  c.write_behind.journal_dir = journal;
  c.key_prefix = prefix;
  return c;
}

using examstore::test::complete_lines;

}  // namespace

TEST_CASE("autosaves acknowledged before a SIGKILL survive and submit",
          "[attempts][fault][redis][postgres]") {
  examstore::test::TempDatabase db;
  const auto dir = std::filesystem::temp_directory_path() / examstore::test::unique_name("crash");
  std::filesystem::create_directories(dir);
  const std::string journal = (dir / "journal").string();
  const std::string acks = (dir / "acks.txt").string();
  const std::string log = (dir / "child.log").string();
  const std::string prefix = examstore::test::unique_name("crash");
  const auto now = std::chrono::system_clock::now();

  examstore::ExamId exam = 0;
  examstore::StudentId student = 0;
  std::vector<QuestionId> questions;
  {
    Config c = config_for(db.url(), journal, prefix);
    c.migrate_on_open = true;
    auto store = Store::open(c);
    exam = store->exams().create({"crash exam", now - 1h, now + 2h, "{}"}).id;
    student = store->students().create({prefix, "crash student", "c1", "", ""}).id;
    std::vector<examstore::PaperOp> ops;
    for (int i = 0; i < 4; ++i) {
      examstore::QuestionDraft d;
      d.type = examstore::QuestionType::kTrueFalse;
      d.stem = "question " + std::to_string(i);
      d.answer = "true";
      d.subject = "math";
      d.knowledge_points = {"math/algebra"};
      questions.push_back(store->questions().create(d).id);
      ops.push_back({examstore::PaperOp::Kind::kAppend, 0, 0, questions.back()});
    }
    store->papers().apply(kPaper, ops);
    REQUIRE(store->attempts().precreate({exam, kPaper, 3600s, {student}}) == 1);
  }  // closed: the child takes the journal

  std::string qlist;
  for (const QuestionId q : questions) qlist += (qlist.empty() ? "" : ",") + std::to_string(q);
  std::vector<std::string> env_words = examstore::test::environment_without({});
  env_words.push_back("EXAMSTORE_CRASH_DB=" + db.url());
  env_words.push_back("EXAMSTORE_CRASH_JOURNAL=" + journal);
  env_words.push_back("EXAMSTORE_CRASH_PREFIX=" + prefix);
  env_words.push_back("EXAMSTORE_CRASH_EXAM=" + std::to_string(exam));
  env_words.push_back("EXAMSTORE_CRASH_STUDENT=" + std::to_string(student));
  env_words.push_back("EXAMSTORE_CRASH_QUESTIONS=" + qlist);
  env_words.push_back("EXAMSTORE_CRASH_ACKS=" + acks);
  const pid_t pid = examstore::test::spawn_process({EXAMSTORE_CRASH_CHILD_PATH}, env_words, log);

  // Bounded wait for 40 acknowledged saves, then a seeded-random extra delay.
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  while (complete_lines(acks).size() < 40) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      FAIL("the child exited early (status " << status << ")");
    }
    if (std::chrono::steady_clock::now() > give_up) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      FAIL("fewer than 40 acks after 60 s");
    }
    std::this_thread::sleep_for(10ms);
  }
  std::mt19937 rng(20261122);
  std::this_thread::sleep_for(
      std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 300)(rng)));
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);

  std::map<QuestionId, std::int64_t> acked;  // the highest acknowledged seq per question
  const auto lines = complete_lines(acks);
  for (const auto& line : lines) {
    std::stringstream ls(line);
    QuestionId q = 0;
    std::int64_t seq = 0;
    ls >> q >> seq;
    acked[q] = std::max(acked[q], seq);
  }
  INFO(lines.size() << " acknowledged saves");

  // Reopening replays the journal into PostgreSQL; the hot tier is dropped too, so the answers
  // must come back from the database.
  auto store = Store::open(config_for(db.url(), journal, prefix));
  store->flush(30s);
  const std::string key =
      prefix + ":attempt:{e:" + std::to_string(exam) + "}:" + std::to_string(student);
  store->cache().del({key, key + ":ans"});
  auto& attempts = store->attempts();
  CHECK(attempts.get(exam, student)->state == examstore::AttemptState::kInProgress);

  std::map<QuestionId, std::int64_t> live;
  for (const auto& a : attempts.answers(exam, student)) live[a.question_id] = a.seq;
  std::set<std::pair<QuestionId, std::int64_t>> revisions;
  for (const auto& r : attempts.revisions(exam, student)) revisions.insert({r.question_id, r.seq});
  for (const auto& line : lines) {
    std::stringstream ls(line);
    QuestionId q = 0;
    std::int64_t seq = 0;
    ls >> q >> seq;
    INFO("acknowledged " << line);
    CHECK(revisions.count({q, seq}) == 1);
  }
  for (const auto& [q, seq] : acked) {
    INFO("question " << q);
    CHECK(live[q] >= seq);
  }
  const auto receipt = attempts.submit(exam, student, std::chrono::system_clock::now());
  CHECK(receipt.answers == static_cast<int>(live.size()));
  CHECK(db.query_value("SELECT count(*) FROM answers WHERE attempt_id = " +
                       std::to_string(receipt.attempt_id)) == std::to_string(live.size()));
  store.reset();
  std::filesystem::remove_all(dir);
}
