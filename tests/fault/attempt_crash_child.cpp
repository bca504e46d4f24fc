// tests/fault/attempt_crash_child.cpp: the process tests/fault/attempt_crash_test.cpp kills.
// Opens a Store on Redis + PostgreSQL with the journal it is given, starts the attempt and
// autosaves (Durability::kJournaled) until killed, appending "question seq" to the ack file
// after each acknowledged save. Parameters come from the environment (EXAMSTORE_CRASH_*).
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "examstore/config.hpp"
#include "examstore/error.hpp"
#include "examstore/store.hpp"

namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) {
    std::fprintf(stderr, "attempt_crash_child: %s is not set\n", name);
    std::exit(2);
  }
  return v;
}

}  // namespace

int main() {
  try {
    examstore::Config c;
    c.with_redis_url(env("EXAMSTORE_TEST_REDIS_URL"));
    c.with_database_url(env("EXAMSTORE_CRASH_DB"));
    c.write_behind.journal_dir = env("EXAMSTORE_CRASH_JOURNAL");
    c.key_prefix = env("EXAMSTORE_CRASH_PREFIX");
    auto store = examstore::Store::open(c);
    const examstore::ExamId exam = std::stoll(env("EXAMSTORE_CRASH_EXAM"));
    const examstore::StudentId student = std::stoll(env("EXAMSTORE_CRASH_STUDENT"));
    std::vector<examstore::QuestionId> questions;
    std::stringstream qs(env("EXAMSTORE_CRASH_QUESTIONS"));
    for (std::string q; std::getline(qs, q, ',');) questions.push_back(std::stoll(q));
    const int acks =
        ::open(env("EXAMSTORE_CRASH_ACKS").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (acks < 0 || questions.empty()) return 2;
    auto& attempts = store->attempts();
    attempts.start(exam, student, std::chrono::system_clock::now());
    for (std::int64_t i = 0; i < 1000000; ++i) {
      const auto q = questions[static_cast<std::size_t>(i) % questions.size()];
      const std::int64_t seq = i / static_cast<std::int64_t>(questions.size()) + 1;
      attempts.autosave({exam, student, q, seq, "\"answer " + std::to_string(seq) + "\"",
                         std::chrono::system_clock::now()});
      const std::string line = std::to_string(q) + " " + std::to_string(seq) + "\n";
      if (::write(acks, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return 3;
    }
  } catch (const examstore::Error& e) {
    std::fprintf(stderr, "attempt_crash_child: %s\n", e.what());
    return 1;
  }
  return 0;
}
