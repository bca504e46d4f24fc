// bench_paper_read: PaperStore::at, question i of a 30-question paper, one thread, on Redis +
// PostgreSQL. Two scenarios (docs/performance.md):
//   --mode near   paper_read_near_cache: the in-process near cache on (Config::paper_near_cache)
//   --mode redis  paper_read_redis: near cache off, every read one HGET (one round trip) to Redis
// The baseline (scripts/bench.sh) is the cache_hit one: redis-benchmark GET, one connection, no
// pipelining. Also reports heap allocations (alloc_counter.hpp) and client CPU per read.
//
//   bench_paper_read --redis URL --database URL --mode near|redis [--seconds 2]
// The database is migrated on open; each run adds its own 30 questions and paper.
#include <unistd.h>

#include "alloc_counter.hpp"
#include "bench_common.hpp"
#include "examstore/examstore.hpp"

using namespace examstore;

namespace {
constexpr int kQuestions = 30;
}

int main(int argc, char** argv) {
  const bench::Args args(argc, argv);
  const std::string redis_url = args.required("redis");
  const std::string db_url = args.required("database");
  const std::string mode = args.required("mode");
  const double seconds = args.real("seconds", 2);
  if (mode != "near" && mode != "redis") bench::fail("--mode must be near or redis");
  const bool near = mode == "near";

  Config config;
  config.with_redis_url(redis_url).with_database_url(db_url);
  config.key_prefix = "bpr" + std::to_string(::getpid());
  config.migrate_on_open = true;
  config.write_behind.auto_journal = false;  // no queued writes here: no journal
  config.near_cache_ttl = std::chrono::minutes(10);
  config.paper_near_cache = near;
  auto store = Store::open(config);

  std::vector<PaperOp> ops;
  for (int i = 0; i < kQuestions; ++i) {
    QuestionDraft d;
    d.type = i % 3 == 0 ? QuestionType::kMultiple : QuestionType::kSingle;
    d.stem = "Question " + std::to_string(i) + ": which of these is a prime number?";
    d.options = {"4", "6", "7", "9"};
    d.answer = d.type == QuestionType::kMultiple ? R"(["C"])" : R"("C")";
    d.subject = "math";
    d.knowledge_points = {"math/numbers/primes"};
    ops.push_back({PaperOp::Kind::kAppend, 0, 0, store->questions().create(d).id});
  }
  const PaperKey paper{"school_one", "mathematics", "applied_math",
                       "c" + std::to_string(::getpid())};
  store->papers().apply(paper, ops);
  store->papers().warm_up({paper});
  for (int i = 0; i < 1000; ++i) store->papers().at(paper, i % kQuestions);  // warm up

  bench::RawRedis raw(redis_url);
  auto calls0 = raw.command_calls();
  std::int64_t reads = 0;
  const std::int64_t alloc0 = bench::allocations();
  const double cpu0 = bench::cpu_micros();
  const auto t0 = bench::Clock::now();
  const auto deadline = t0 + std::chrono::duration_cast<bench::Clock::duration>(
                                 std::chrono::duration<double>(seconds));
  const int batch = near ? 4096 : 256;
  do {
    for (int i = 0; i < batch; ++i) {
      const auto item = store->papers().at(paper, i % kQuestions);
      if (!item || item->question_id != ops[static_cast<std::size_t>(i % kQuestions)].question_id) {
        bench::fail("a read returned the wrong question");
      }
    }
    reads += batch;
  } while (bench::Clock::now() < deadline);
  const double elapsed = bench::seconds_since(t0);
  const double cpu = bench::cpu_micros() - cpu0;
  const std::int64_t allocs = bench::allocations() - alloc0;
  auto calls = raw.command_calls();
  // A read without the near cache is one HGET of the position index (docs/papers.md).
  const std::int64_t hget = calls["hget"] - calls0["hget"];
  const std::int64_t evalsha = calls["evalsha"] - calls0["evalsha"];
  if (near) {
    bench::check(hget + evalsha < reads / 100, "near: reads went to Redis");
  } else {
    bench::check(hget >= reads, "redis: reads did not all go to Redis");
    bench::check(evalsha < reads / 100, "redis: reads ran scripts");
  }

  bench::JsonLine out;
  out.add("scenario", near ? "paper_read_near_cache" : "paper_read_redis")
      .add("ours", static_cast<double>(reads) / elapsed)
      .add("unit", "ops/s")
      .add("reads", reads)
      .add("seconds", elapsed)
      .add("questions", kQuestions)
      .add("allocations_per_read", static_cast<double>(allocs) / static_cast<double>(reads))
      .add("client_cpu_us_per_read", cpu / static_cast<double>(reads));
  out.print();
  return 0;
}
