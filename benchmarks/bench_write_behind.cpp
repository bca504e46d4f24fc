// bench_write_behind: ViolationRepo::record with Durability::kJournaled from `--threads`
// threads, then Store::flush(): rows per second from the first record to the last commit
// ("enqueue to committed"). The baseline (scripts/bench.sh) is psql \copy of the same number of
// equivalent rows into violations_copy, a copy of the violations table (same columns, checks,
// defaults, indexes and foreign keys), written by --setup.
//
//   bench_write_behind --setup --database URL --rows N --copy-file PATH
//       migrate, create the exam and its students, create violations_copy, write N rows for
//       \copy (columns: see kCopyColumns) to PATH
//   bench_write_behind --database URL --redis URL --rows N [--threads 4] [--students 200]
//                      [--batch 1]
//       one measured run (the violations table is truncated first); --batch N > 1: each thread
//       hands over N rows at a time with ViolationRepo::record_batch instead of record()
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <pqxx/pqxx>

#include "db/pq.hpp"

#include "bench_common.hpp"
#include "examstore/examstore.hpp"

using namespace examstore;

namespace {

constexpr const char* kCopyColumns =
    "id, exam_id, student_id, kind, severity, reason, screenshot_path, occurred_at, state, "
    "reviewed_by, reviewed_at, review_note";

// The i-th row both sides write: the same kind mix, severities, reasons and times.
NewViolation row(std::int64_t i, ExamId exam, const std::vector<StudentId>& students,
                 TimePoint base) {
  NewViolation v;
  v.exam_id = exam;
  v.student_id = students[static_cast<std::size_t>(i) % students.size()];
  v.kind = static_cast<ViolationKind>(i % 6);
  v.severity = static_cast<int>(i % 5) + 1;
  v.reason = "left the exam tab for " + std::to_string(i % 60) + " s";
  v.occurred_at = base + std::chrono::milliseconds(i);
  return v;
}

std::string iso_utc(TimePoint t) {
  const auto us =
      std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(us % 1000000));
  return buf;
}

struct Fixture {
  ExamId exam = 0;
  std::vector<StudentId> students;
};

Fixture load_fixture(const std::string& db_url) {
  pqxx::connection c(db_url);
  pqxx::nontransaction tx(c);
  Fixture f;
  const auto e =
      tx.exec("SELECT id FROM exams WHERE name = 'write-behind bench' ORDER BY id LIMIT 1");
  bench::check(!e.empty(), "no bench exam: run with --setup first");
  f.exam = e[0][0].as<std::int64_t>();
  for (const auto& r : examstore::db::exec(
           tx, "SELECT student_id FROM exam_attendance WHERE exam_id = $1 ORDER BY seat", f.exam)) {
    f.students.push_back(r[0].as<std::int64_t>());
  }
  bench::check(!f.students.empty(), "the bench exam has no students");
  return f;
}

const TimePoint kBase = TimePoint(std::chrono::seconds(1767225600));  // 2026-01-01 UTC

int setup(const bench::Args& args) {
  const std::string db_url = args.required("database");
  const auto rows = args.num("rows", 100000);
  const auto students = args.num("students", 200);
  Config config;
  config.with_database_url(db_url);
  config.migrate_on_open = true;
  auto store = Store::open(config);
  const auto now = std::chrono::system_clock::now();
  const Exam exam = store->exams().create({"write-behind bench", now, now + std::chrono::hours(2)});
  for (std::int64_t i = 0; i < students; ++i) {
    const Student s = store->students().create({"WB-" + std::to_string(i), "Student", "", "", ""});
    store->students().enroll(exam.id, s.id);
  }
  bench::sql_exec(db_url,
                  "DROP TABLE IF EXISTS violations_copy;"
                  "CREATE TABLE violations_copy (LIKE violations INCLUDING ALL);"
                  "ALTER TABLE violations_copy"
                  "  ADD FOREIGN KEY (exam_id) REFERENCES exams (id) ON DELETE CASCADE,"
                  "  ADD FOREIGN KEY (student_id) REFERENCES students (id) ON DELETE CASCADE");
  const Fixture f = load_fixture(db_url);
  std::ofstream out(args.required("copy-file"), std::ios::trunc);
  for (std::int64_t i = 0; i < rows; ++i) {
    const NewViolation v = row(i, f.exam, f.students, kBase);
    // COPY text format: tab-separated, \N for NULL; the library writes the same NULLs.
    out << (i + 1) << '\t' << v.exam_id << '\t' << v.student_id << '\t' << to_string(v.kind) << '\t'
        << v.severity << '\t' << v.reason << "\t\\N\t" << iso_utc(v.occurred_at)
        << "\topen\t\\N\t\\N\t\\N\n";
  }
  bench::check(static_cast<bool>(out.flush()), "cannot write the copy file");
  bench::JsonLine j;
  j.add("setup", "write_behind")
      .add("exam", exam.id)
      .add("students", students)
      .add("rows", rows)
      .add("copy_columns", kCopyColumns);
  j.print();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args(argc, argv);
  if (args.flag("setup")) return setup(args);

  const std::string db_url = args.required("database");
  const std::string redis_url = args.required("redis");
  const auto rows = args.num("rows", 100000);
  const auto threads = static_cast<int>(args.num("threads", 4));
  const std::int64_t batch = std::max<std::int64_t>(1, args.num("batch", 1));

  const Fixture f = load_fixture(db_url);
  bench::sql_exec(db_url, "TRUNCATE violations");

  char tmpl[] = "/tmp/examstore-bench-journal-XXXXXX";
  bench::check(::mkdtemp(tmpl) != nullptr, "mkdtemp failed");
  const std::string journal = tmpl;
  Config config;
  config.with_database_url(db_url).with_redis_url(redis_url);
  config.key_prefix = "bwb" + std::to_string(::getpid());
  config.redis.pool_size = threads + 1;
  config.write_behind.journal_dir = journal;
  config.write_behind.block_timeout = std::chrono::seconds(120);
  double elapsed = 0;
  double cpu = 0;
  WriteBehindMetrics m;
  {
    auto store = Store::open(config);
    // Warm up: connections, the seat map, the first id block (not timed).
    store->violations().record(row(0, f.exam, f.students, kBase));
    store->flush();
    bench::sql_exec(db_url, "TRUNCATE violations");

    std::atomic<std::int64_t> next{0};
    bench::StartGate gate;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        gate.wait();
        if (batch == 1) {
          for (std::int64_t i; (i = next.fetch_add(1)) < rows;) {
            store->violations().record(row(i, f.exam, f.students, kBase), Durability::kJournaled);
          }
          return;
        }
        std::vector<NewViolation> some;
        for (std::int64_t i; (i = next.fetch_add(batch)) < rows;) {
          some.clear();
          for (std::int64_t j = i; j < std::min(i + batch, rows); ++j) {
            some.push_back(row(j, f.exam, f.students, kBase));
          }
          store->violations().record_batch(some, Durability::kJournaled);
        }
      });
    }
    const double cpu0 = bench::cpu_micros();
    const auto t0 = bench::Clock::now();
    gate.open();
    for (auto& th : pool) th.join();
    const double enqueued_after = bench::seconds_since(t0);
    store->flush(std::chrono::minutes(5));
    elapsed = bench::seconds_since(t0);
    cpu = bench::cpu_micros() - cpu0;
    m = store->write_behind_metrics();
    bench::note("enqueue phase " + std::to_string(enqueued_after) + " s, to committed " +
                std::to_string(elapsed) + " s");
  }
  std::filesystem::remove_all(journal);
  const auto committed = std::stoll(bench::sql_value(db_url, "SELECT count(*) FROM violations"));
  bench::check(committed == rows, "expected " + std::to_string(rows) + " committed rows, found " +
                                      std::to_string(committed));

  bench::JsonLine out;
  out.add("scenario", "write_behind")
      .add("ours", static_cast<double>(rows) / elapsed)
      .add("unit", "rows/s")
      .add("rows", rows)
      .add("threads", threads)
      .add("batch", batch)
      .add("seconds", elapsed)
      .add("batches", m.batches)
      .add("mean_batch", m.mean_batch_size)
      .add("journal_appends", m.journal_appends)
      .add("client_cpu_us_per_row", cpu / static_cast<double>(rows));
  out.print();
  return 0;
}
