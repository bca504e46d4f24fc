// PostgreSQL read replicas (db/pg_replicas.hpp, docs/postgres-replicas.md) against the shared
// streaming replica of the test cluster: lag-tolerant reads served by the replica, read-your-
// writes under injected lag (replay paused), and a replica that cannot be reached.
//
// The lag test pauses the shared replica's replay, so every [replica] test runs in one ctest
// entry of its own, one after another (tests/CMakeLists.txt), and the pause is undone by a scope
// guard whatever happens.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <libpq-fe.h>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "db/pg_replicas.hpp"
#include "examstore/config.hpp"
#include "examstore/metrics.hpp"
#include "examstore/store.hpp"
#include "support/store_pair.hpp"
#include "support/test_env.hpp"

namespace {

using examstore::Config;
using examstore::QuestionSearch;
using examstore::QuestionType;
using examstore::ReplicaMetrics;
using examstore::test::RedisPostgresPair;

// The value of libpq keyword `key` in `conninfo` ("" when unset).
std::string conninfo_value(const std::string& conninfo, const std::string& key) {
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), nullptr);
  REQUIRE(opts != nullptr);
  std::string value;
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val != nullptr && key == o->keyword) value = o->val;
  }
  PQconninfoFree(opts);
  return value;
}

// "host:port" of the shared replica (from EXAMSTORE_TEST_REPLICA_DATABASE_URL).
std::string replica_host_port() {
  const std::string url = examstore::test::replica_database_url();
  const std::string host = conninfo_value(url, "host"), port = conninfo_value(url, "port");
  return (host.empty() ? "127.0.0.1" : host) + ":" + (port.empty() ? "5432" : port);
}

// A loopback port nothing listens on (bound, then closed).
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Reopens the pair's store with `replica` (host:port) listed in its database URL.
examstore::Store& with_replica(RedisPostgresPair& pair, const std::string& replica,
                               std::chrono::milliseconds wait, examstore::LogSink sink = nullptr) {
  const std::string url = pair.config().postgres.conninfo;
  const std::string listed =
      url + (url.find('?') == std::string::npos ? "?" : "&") + "replica=" + replica;
  return pair.reopen([&](Config& c) {
    c.with_database_url(listed);
    c.postgres.replica_wait = wait;
    if (sink) c.log_sink = std::move(sink);
  });
}

std::vector<examstore::QuestionId> ids_of_subject(examstore::Store& store,
                                                  const std::string& subject) {
  QuestionSearch f;
  f.subject = subject;
  std::vector<examstore::QuestionId> ids;
  for (const auto& q : store.questions().search(f)) ids.push_back(q.id);
  return ids;
}

// Superuser session on the shared replica (pause and resume replay).
class ReplicaAdmin {
 public:
  ReplicaAdmin() : conn_(examstore::test::replica_database_url()) {}
  std::string value(const std::string& sql) {
    pqxx::nontransaction nt(conn_);
    const pqxx::result r = nt.exec(sql);
    return r.empty() || r[0][0].is_null() ? "" : r[0][0].c_str();
  }

 private:
  pqxx::connection conn_;
};

// Pauses replay on the shared replica for its lifetime.
class ReplayPaused {
 public:
  explicit ReplayPaused(ReplicaAdmin& admin) : admin_(admin) {
    admin_.value("SELECT pg_wal_replay_pause()");
  }
  ~ReplayPaused() {
    try {
      admin_.value("SELECT pg_wal_replay_resume()");
    } catch (...) {
      // a fresh session, in case this one broke
      try {
        ReplicaAdmin again;
        again.value("SELECT pg_wal_replay_resume()");
      } catch (...) {
      }
    }
  }
  ReplayPaused(const ReplayPaused&) = delete;
  ReplayPaused& operator=(const ReplayPaused&) = delete;

 private:
  ReplicaAdmin& admin_;
};

// Waits (bounded) until the replica at `replica_url` (an admin URL) has replayed everything the
// primary has written so far.
void wait_for_replay(const RedisPostgresPair& pair, const std::string& replica_url) {
  const auto want =
      examstore::db::parse_lsn(pair.query_value("SELECT pg_current_wal_insert_lsn()::text"));
  REQUIRE(want);
  pqxx::connection c(replica_url);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  for (;;) {
    pqxx::nontransaction nt(c);
    const pqxx::result r = nt.exec("SELECT pg_last_wal_replay_lsn()::text");
    const auto at = examstore::db::parse_lsn(r[0][0].c_str());
    REQUIRE(at);
    if (*at >= *want) return;
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

ReplicaMetrics replica_metrics(examstore::Store& s) { return s.metrics().postgres_replicas; }

// A private streaming replica of the test cluster's primary (pg_basebackup -R, as
// scripts/servers.sh makes the shared one) on a free port, which a test may stop and start.
// PostgreSQL refuses to run as root: as root, the commands run as the `postgres` OS user.
class PgReplicaProcess {
 public:
  PgReplicaProcess() : port_(closed_port()) {
    char tmpl[] = "/tmp/examstore-replica-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    try {
      make();
    } catch (...) {
      cleanup();  // the destructor does not run for a constructor that throws
      throw;
    }
  }
  ~PgReplicaProcess() { cleanup(); }
  PgReplicaProcess(const PgReplicaProcess&) = delete;
  PgReplicaProcess& operator=(const PgReplicaProcess&) = delete;

  void cleanup() {
    run(as_pg(kBin + std::string("pg_ctl -D ") + dir_ + "/data -m immediate -w -t 20 stop"));
    run("rm -rf " + dir_);
  }

  std::string host_port() const { return "127.0.0.1:" + std::to_string(port_); }
  void start() {
    REQUIRE(run(as_pg(kBin + std::string("pg_ctl -D ") + dir_ + "/data -l " + dir_ +
                      "/pg.log -w -t 60 start -o '-p " + std::to_string(port_) + " -k " + dir_ +
                      " -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=" +
                      max_connections_ + "'")));
  }
  void stop() {
    REQUIRE(
        run(as_pg(kBin + std::string("pg_ctl -D ") + dir_ + "/data -m immediate -w -t 20 stop")));
  }
  std::string admin_url() const { return "postgresql://postgres@" + host_port() + "/postgres"; }

 private:
  static constexpr const char* kBin = "/usr/lib/postgresql/15/bin/";
  static std::string as_pg(const std::string& cmd) {
    // from a folder the postgres user can enter
    return ::geteuid() == 0 ? "cd /tmp && runuser -u postgres -- " + cmd : cmd;
  }
  static bool run(const std::string& cmd) {
    return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0;
  }
  void make() {
    const std::string primary = examstore::test::database_url();
    const std::string port = conninfo_value(primary, "port");
    {
      // a standby refuses to start with fewer connections than its primary allows
      pqxx::connection c(primary);
      pqxx::nontransaction nt(c);
      max_connections_ = nt.exec("SHOW max_connections")[0][0].c_str();
    }
    REQUIRE(run("chmod 755 " + dir_ + (::geteuid() == 0 ? " && chown postgres: " + dir_ : "")));
    REQUIRE(run(as_pg(kBin + std::string("pg_basebackup -h 127.0.0.1 -p ") +
                      (port.empty() ? "5432" : port) + " -U postgres -D " + dir_ +
                      "/data -R -X stream --no-sync --checkpoint=fast")));
    start();
  }
  int port_;
  std::string dir_;
  std::string max_connections_;
};

}  // namespace

TEST_CASE("WAL positions parse as 64-bit numbers", "[replica][unit]") {
  using examstore::db::parse_lsn;
  CHECK(parse_lsn("0/0") == 0u);
  CHECK(parse_lsn("0/3000148") == 0x3000148u);
  CHECK(parse_lsn("16/B374D848") == ((std::uint64_t{0x16} << 32U) | 0xB374D848u));
  CHECK(parse_lsn("FFFFFFFF/FFFFFFFF") == ~std::uint64_t{0});
  for (const char* bad : {"", "/", "0/", "/0", "0", "x/0", "0/1g", "100000000/0", "0/-1"}) {
    INFO(bad);
    CHECK_FALSE(parse_lsn(bad));
  }
}

TEST_CASE("replica reads return the data once replayed and are counted as replica reads",
          "[replica][postgres]") {
  RedisPostgresPair pair;
  const auto id = pair.question(QuestionType::kSingle, 3, {"math/algebra"}, "replica-a");
  // The replica must have the new database before a pool can even connect to it there (else the
  // connect fails and the replica is skipped, as the test below shows).
  wait_for_replay(pair, examstore::test::replica_database_url());
  // a generous bound: the replica only has to replay what was written since
  auto& store = with_replica(pair, replica_host_port(), std::chrono::seconds(10));
  const ReplicaMetrics before = replica_metrics(store);
  CHECK(before.enabled);
  CHECK(before.replicas == 1);
  CHECK(before.reads == 0);

  CHECK(ids_of_subject(store, "replica-a") == std::vector<examstore::QuestionId>{id});
  const ReplicaMetrics after = replica_metrics(store);
  CHECK(after.reads == 1);
  CHECK(after.fallback_lag == 0);
  CHECK(after.fallback_unavailable == 0);
  CHECK(after.lag_bytes == 0);

  // the process's own next write is read back from the replica too
  const auto second = pair.question(QuestionType::kSingle, 3, {"math/algebra"}, "replica-a");
  CHECK(ids_of_subject(store, "replica-a") == std::vector<examstore::QuestionId>{id, second});
  const ReplicaMetrics last = replica_metrics(store);
  CHECK(last.reads == 2);
  CHECK(last.positions_recorded >= 1);
  CHECK(last.fallback_lag + last.fallback_unavailable == 0);

  // the Prometheus text carries them
  const std::string text = examstore::to_prometheus(store.metrics());
  CHECK_THAT(text, Catch::Contains("examstore_postgres_replica_reads_total 2"));
  CHECK_THAT(text, Catch::Contains("examstore_postgres_replica_fallbacks_total{reason=\"lag\"} 0"));
}

TEST_CASE("read-your-writes holds while the replica's replay is paused", "[replica][postgres]") {
  RedisPostgresPair pair;
  // 1 s: bounds the wait for other tests' WAL too (the primary is shared); when paused, the
  // read waits all of it before it goes to the primary
  auto& store = with_replica(pair, replica_host_port(), std::chrono::seconds(1));
  ReplicaAdmin admin;
  wait_for_replay(pair, examstore::test::replica_database_url());
  CHECK(ids_of_subject(store, "replica-b").empty());  // the replica has caught up: served there
  CHECK(replica_metrics(store).reads == 1);
  {
    ReplayPaused paused(admin);
    // the write commits on the primary; the replica cannot replay it while paused
    const auto id = pair.question(QuestionType::kSingle, 3, {"math/algebra"}, "replica-b");
    CHECK(ids_of_subject(store, "replica-b") == std::vector<examstore::QuestionId>{id});
    const ReplicaMetrics m = replica_metrics(store);
    CHECK(m.reads == 1);
    CHECK(m.fallback_lag == 1);
    CHECK(m.fallback_unavailable == 0);
    CHECK(m.waits >= 1);
    CHECK(m.lag_bytes > 0);
    CHECK(m.max_lag_bytes >= m.lag_bytes);
    // the replica really was held back
    CHECK(admin.value("SELECT pg_is_wal_replay_paused()") == "t");
  }
  wait_for_replay(pair, examstore::test::replica_database_url());
  const auto all = ids_of_subject(store, "replica-b");
  CHECK(all.size() == 1);
  const ReplicaMetrics m = replica_metrics(store);
  CHECK(m.reads == 2);  // caught up again: back on the replica
  CHECK(m.lag_bytes == 0);
}

TEST_CASE("a replica that cannot be reached sends reads to the primary and is retried later",
          "[replica][postgres]") {
  RedisPostgresPair pair;
  const auto id = pair.question(QuestionType::kSingle, 3, {"math/algebra"}, "replica-c");
  std::mutex mu;
  std::vector<std::string> warnings;  // guarded by mu
  auto sink = [&](examstore::LogLevel level, std::string_view component, std::string_view msg) {
    std::lock_guard<std::mutex> l(mu);
    if (level == examstore::LogLevel::kWarn && component == "postgres") {
      warnings.emplace_back(msg);
    }
  };
  auto& store = with_replica(pair, "127.0.0.1:" + std::to_string(closed_port()),
                             std::chrono::milliseconds(50), sink);
  for (int i = 0; i < 3; ++i) {
    CHECK(ids_of_subject(store, "replica-c") == std::vector<examstore::QuestionId>{id});
  }
  const ReplicaMetrics m = replica_metrics(store);
  CHECK(m.reads == 0);
  CHECK(m.fallback_unavailable == 3);
  CHECK(m.fallback_lag == 0);
  // one connection attempt, then the replica is skipped (not tried again on every call)
  std::lock_guard<std::mutex> l(mu);
  REQUIRE(warnings.size() == 1);
  CHECK_THAT(warnings[0], Catch::Contains("skipped for 5 s"));
}

TEST_CASE("a store without replicas reports no replica metrics", "[replica][postgres]") {
  RedisPostgresPair pair;
  const auto id = pair.question(QuestionType::kSingle, 3, {"math/algebra"}, "replica-d");
  CHECK(ids_of_subject(pair.store(), "replica-d") == std::vector<examstore::QuestionId>{id});
  const ReplicaMetrics m = replica_metrics(pair.store());
  CHECK_FALSE(m.enabled);
  CHECK(m.reads + m.fallback_lag + m.fallback_unavailable + m.positions_recorded == 0);
  CHECK_THAT(examstore::to_prometheus(pair.store().metrics()),
             !Catch::Contains("postgres_replica"));
}

TEST_CASE("a stopped replica sends reads to the primary and serves again once it is back",
          "[replica][postgres]") {
  RedisPostgresPair pair;
  PgReplicaProcess replica;
  auto& store = with_replica(pair, replica.host_port(), std::chrono::seconds(10));
  const auto id = pair.question(QuestionType::kSingle, 3, {"math/algebra"}, "replica-e");
  CHECK(ids_of_subject(store, "replica-e") == std::vector<examstore::QuestionId>{id});
  CHECK(replica_metrics(store).reads == 1);

  replica.stop();
  const auto second = pair.question(QuestionType::kSingle, 3, {"math/algebra"}, "replica-e");
  const std::vector<examstore::QuestionId> both{id, second};
  CHECK(ids_of_subject(store, "replica-e") == both);  // the pooled connection breaks: primary
  CHECK(ids_of_subject(store, "replica-e") == both);  // skipped: primary at once
  ReplicaMetrics m = replica_metrics(store);
  CHECK(m.reads == 1);
  CHECK(m.fallback_unavailable == 2);

  replica.start();
  wait_for_replay(pair, replica.admin_url());
  // retried once the skip period is over
  std::this_thread::sleep_for(examstore::db::ReplicaSet::kRetryAfter +
                              std::chrono::milliseconds(200));
  CHECK(ids_of_subject(store, "replica-e") == both);
  m = replica_metrics(store);
  CHECK(m.reads == 2);
  CHECK(m.fallback_unavailable == 2);
}
