// benchmarks/bench_pg_replicas.cpp: what PostgreSQL read replicas cost and give
// (docs/postgres-replicas.md). One client thread, round-trip bound, in rounds that alternate the
// variants so that drift on a shared machine hits them alike. Prints one JSON line:
//   write_tps_plain        single-row INSERT transactions/s, no replica configured
//   write_tps_recording    the same with a replica configured: the WAL insert position is read
//                          after each COMMIT (read-your-writes), one more round trip
//   write_tps_lsn_in_tx    the alternative: pg_current_wal_insert_lsn() read inside the
//                          transaction before COMMIT (same round trips; a weaker guarantee)
//   read_qps_primary       read_lag_tolerant point reads with no replica (the primary serves)
//   read_qps_replica       the same served by the replica (its replay position is checked
//                          first, in the read's transaction)
//   *_us                   the same as microseconds per operation
//
//   bench_pg_replicas --primary URL --replica HOST:PORT [--ops N] [--rounds R]
// The primary URL names a database this program may create a table in (it drops it after).
#include <algorithm>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "db/pg_pool.hpp"
#include "examstore/config.hpp"
#include "obs/telemetry.hpp"

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

template <typename F>
double rate(std::int64_t ops, F&& op) {
  const auto t0 = bench::Clock::now();
  for (std::int64_t i = 0; i < ops; ++i) op(i);
  return static_cast<double>(ops) / bench::seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Args args(argc, argv);
  const std::string primary = args.required("primary");
  const std::string replica = args.required("replica");
  const std::int64_t ops = args.num("ops", 3000);
  const int rounds = static_cast<int>(args.num("rounds", 5));

  examstore::Config config;
  examstore::PostgresOptions plain = examstore::parse_postgres_url(primary);
  const std::string sep = primary.find('?') == std::string::npos ? "?" : "&";
  examstore::PostgresOptions with =
      examstore::parse_postgres_url(primary + sep + "replica=" + replica);
  with.replica_wait = std::chrono::milliseconds(1000);
  examstore::obs::Telemetry telemetry(config);
  examstore::db::PgPool plain_pool(plain);
  examstore::db::PgPool replica_pool(with, &telemetry);

  plain_pool.transact("setup", [](pqxx::work& tx) {
    examstore::db::exec0(tx, "DROP TABLE IF EXISTS bench_replica");
    examstore::db::exec0(tx, "CREATE TABLE bench_replica (id bigint PRIMARY KEY, v text NOT NULL)");
    examstore::db::exec0(
        tx, "INSERT INTO bench_replica SELECT g, 'row ' || g FROM generate_series(1, 1000) g");
  });
  std::int64_t next_id = 1'000'000;
  auto insert = [&](examstore::db::PgPool& pool, bool lsn_in_tx) {
    return [&pool, &next_id, lsn_in_tx](std::int64_t) {
      pool.transact("bench insert", [&](pqxx::work& tx) {
        examstore::db::exec0(tx, "INSERT INTO bench_replica (id, v) VALUES ($1, 'x')", ++next_id);
        if (lsn_in_tx) tx.exec("SELECT pg_current_wal_insert_lsn()");
      });
    };
  };
  auto read = [](examstore::db::PgPool& pool) {
    return [&pool](std::int64_t i) {
      pool.read_lag_tolerant("bench read", [&](pqxx::work& tx) {
        const auto r =
            examstore::db::exec(tx, "SELECT v FROM bench_replica WHERE id = $1", i % 1000 + 1);
        bench::check(r.size() == 1, "row found");
      });
    };
  };
  // warm up: connections made, the replica caught up
  rate(200, insert(plain_pool, false));
  rate(200, insert(replica_pool, false));
  rate(200, read(replica_pool));

  std::vector<double> w_plain, w_rec, w_in_tx, r_primary, r_replica;
  for (int round = 0; round < rounds; ++round) {
    w_plain.push_back(rate(ops, insert(plain_pool, false)));
    w_rec.push_back(rate(ops, insert(replica_pool, false)));
    w_in_tx.push_back(rate(ops, insert(plain_pool, true)));
    r_primary.push_back(rate(ops, read(plain_pool)));
    r_replica.push_back(rate(ops, read(replica_pool)));
    bench::note("round " + std::to_string(round + 1) + " done");
  }
  const auto m = telemetry.postgres_replicas.snapshot();
  plain_pool.transact("cleanup",
                      [](pqxx::work& tx) { examstore::db::exec0(tx, "DROP TABLE bench_replica"); });

  auto us = [](double per_s) { return 1e6 / per_s; };
  bench::JsonLine line;
  line.add("scenario", "pg_replicas")
      .add("ops_per_round", ops)
      .add("rounds", rounds)
      .add("write_tps_plain", median(w_plain))
      .add("write_tps_recording", median(w_rec))
      .add("write_tps_lsn_in_tx", median(w_in_tx))
      .add("write_us_plain", us(median(w_plain)))
      .add("write_us_recording", us(median(w_rec)))
      .add("write_us_lsn_in_tx", us(median(w_in_tx)))
      .add("read_qps_primary", median(r_primary))
      .add("read_qps_replica", median(r_replica))
      .add("read_us_primary", us(median(r_primary)))
      .add("read_us_replica", us(median(r_replica)))
      .add("replica_reads", m.reads)
      .add("fallback_lag", m.fallback_lag)
      .add("fallback_unavailable", m.fallback_unavailable)
      .add("replica_waits", m.waits);
  line.print();
  return 0;
}
