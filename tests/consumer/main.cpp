// The consumer test's program: opens a Store on the embedded backends, uses the cache and the
// exam repository, and prints the version. Exits 0 when everything behaved, 1 otherwise.
// Built against an installed examstore by scripts/consumer-test.sh (CMake and pkg-config).
#include <chrono>
#include <iostream>
#include <string>

#include <examstore/examstore.hpp>

namespace {

int fail(const std::string& what) {
  std::cerr << "consumer: " << what << "\n";
  return 1;
}

}  // namespace

int main() {
  // The header the code was compiled against must match the library it runs with.
  if (examstore::version() != EXAMSTORE_VERSION_STRING) {
    return fail("header version " EXAMSTORE_VERSION_STRING " but library " +
                std::string(examstore::version()));
  }
  std::cout << "examstore " << examstore::version() << "\n";

  try {
    // Named explicitly, so EXAMSTORE_REDIS_URL / EXAMSTORE_DATABASE_URL cannot redirect it.
    examstore::Config config;
    config.with_redis_url("memory://").with_database_url("memory://");
    auto store = examstore::Store::open(config);

    examstore::Cache& cache = store->cache();
    cache.set("consumer:greeting", "hello", std::chrono::minutes(1));
    if (cache.get("consumer:greeting") != std::optional<std::string>("hello")) {
      return fail("cache get did not return what set stored");
    }

    examstore::NewExam exam;
    exam.name = "Consumer check";
    exam.starts_at = std::chrono::system_clock::now();
    exam.ends_at = exam.starts_at + std::chrono::hours(1);
    const examstore::Exam created = store->exams().create(exam);
    const auto loaded = store->exams().get(created.id);
    if (!loaded || loaded->name != exam.name) return fail("exam repo did not return the exam");
    if (store->exams().get(created.id + 1000)) return fail("exam repo invented an exam");

    std::cout << "cache: ok, exam " << created.id << ": " << to_string(loaded->status) << "\n";
    return 0;
  } catch (const examstore::Error& e) {
    return fail(e.what());
  }
}
