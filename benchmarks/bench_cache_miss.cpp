// bench_cache_miss: ExamRepo::get that misses Redis and loads from PostgreSQL, one thread.
// Every read is of an exam whose cached copy was deleted beforehand (not timed), so each get
// takes the whole miss path: the cache read, the fill guard, the database load, the fill.
// Baseline, in the same process and alternated with it round by round: the same row read by a
// raw prepared SELECT over libpqxx (the same columns the library selects), one round trip each.
//
//   bench_cache_miss --redis URL --database URL [--exams 2000] [--rounds 3]
// The database must be empty or hold only this benchmark's exams (it is migrated on open).
#include <unistd.h>

#include <pqxx/pqxx>

#include "db/pq.hpp"

#include "bench_common.hpp"
#include "examstore/examstore.hpp"

using namespace examstore;

namespace {

// The columns ExamRepo's PostgreSQL store selects (times as microseconds since the epoch).
constexpr const char* kSelect =
    "SELECT id, name, (extract(epoch from starts_at) * 1000000)::bigint,"
    " (extract(epoch from ends_at) * 1000000)::bigint, status, config, config_version, version,"
    " (extract(epoch from created_at) * 1000000)::bigint,"
    " (extract(epoch from updated_at) * 1000000)::bigint FROM exams WHERE id = $1";

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args(argc, argv);
  const std::string redis_url = args.required("redis");
  const std::string db_url = args.required("database");
  const auto n = args.num("exams", 2000);
  const int rounds = static_cast<int>(args.num("rounds", 3));

  Config config;
  config.with_redis_url(redis_url).with_database_url(db_url);
  config.key_prefix = "bcm" + std::to_string(::getpid());
  config.migrate_on_open = true;
  config.write_behind.auto_journal = false;  // no queued writes here: no journal
  auto store = Store::open(config);
  bench::RawRedis raw(redis_url);

  const auto now = std::chrono::system_clock::now();
  std::vector<ExamId> ids;
  for (std::int64_t i = 0; i < n; ++i) {
    ids.push_back(store->exams()
                      .create({"Exam " + std::to_string(i), now, now + std::chrono::hours(2),
                               R"({"duration_minutes":120,"shuffle_questions":true,)"
                               R"("proctoring":{"camera":true,"tab_switch_limit":3}})"})
                      .id);
  }
  auto drop_cached = [&] {
    std::vector<std::vector<std::string>> cmds;
    for (const ExamId id : ids) {
      cmds.push_back({"DEL", config.key_prefix + ":exam:{e:" + std::to_string(id) + "}"});
    }
    raw.pipeline(cmds);
  };

  pqxx::connection conn(db_url);
  conn.prepare("bench_exam_get", kSelect);
  // Warm up both paths once (connections, plans, the script cache).
  {
    pqxx::nontransaction tx(conn);
    for (const ExamId id : ids) examstore::db::exec_named(tx, "bench_exam_get", id);
  }
  for (const ExamId id : ids) store->exams().get(id);

  std::vector<double> ours_rounds, base_rounds, cpu_ours;
  for (int round = 0; round < rounds; ++round) {
    {
      pqxx::nontransaction tx(conn);
      const auto t0 = bench::Clock::now();
      for (const ExamId id : ids) {
        const pqxx::result r = examstore::db::exec_named(tx, "bench_exam_get", id);
        if (r.size() != 1 || r[0][0].as<std::int64_t>() != id) bench::fail("baseline: wrong row");
        // Convert what the library converts, so both sides produce a usable record.
        Exam e;
        e.id = r[0][0].as<std::int64_t>();
        e.name = r[0][1].as<std::string>();
        e.config = r[0][5].as<std::string>();
      }
      base_rounds.push_back(static_cast<double>(n) / bench::seconds_since(t0));
    }
    {
      drop_cached();
      const auto misses0 = raw.info_number("stats", "keyspace_misses");
      const double c0 = bench::cpu_micros();
      const auto t0 = bench::Clock::now();
      for (const ExamId id : ids) {
        const auto e = store->exams().get(id);
        if (!e || e->id != id) bench::fail("ours: wrong exam");
      }
      const double s = bench::seconds_since(t0);
      cpu_ours.push_back((bench::cpu_micros() - c0) / static_cast<double>(n));
      ours_rounds.push_back(static_cast<double>(n) / s);
      const auto misses = raw.info_number("stats", "keyspace_misses") - misses0;
      bench::check(misses >= static_cast<double>(n), "reads did not all miss Redis");
    }
    bench::note("round " + std::to_string(round + 1) + ": baseline " +
                std::to_string(base_rounds.back()) + " ops/s, ours " +
                std::to_string(ours_rounds.back()) + " ops/s");
  }
  drop_cached();

  bench::JsonLine out;
  out.add("scenario", "cache_miss")
      .add("ours", bench::median(ours_rounds))
      .add("unit", "ops/s")
      .add("baseline_value", bench::median(base_rounds))
      .add("exams", n)
      .add("rounds", rounds)
      .add("ours_rounds", ours_rounds)
      .add("baseline_rounds", base_rounds)
      .add("client_cpu_us_per_miss", bench::median(cpu_ours));
  out.print();
  return 0;
}
