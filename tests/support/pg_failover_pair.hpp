// tests/support/pg_failover_pair.hpp: a private PostgreSQL primary and its streaming replica, for
// failover tests.
//
// initdb (trust on 127.0.0.1), the primary started, pg_basebackup -R for the replica, the replica
// started; both fsync=off; synchronous replication by default (synchronous_standby_names '*' on
// the primary, so that a commit it acknowledged is on the replica before a failover), on free
// loopback ports, each a `postgres` child of the test process (PDEATHSIG: they die with it; their
// backends follow the postmaster). As root, every PostgreSQL program runs as the `postgres` OS
// user. Tests that promote a replica or stop a primary use one of these, never the shared servers
// of scripts/servers.sh, which other tests use at the same time.
//
// Not thread-safe: the test's main thread drives it.
#pragma once

#include <string>
#include <vector>

#include "support/test_env.hpp"

namespace examstore::test {

class PgFailoverPair {
 public:
  /// Starts both and waits (bounded, 60 s) until the replica streams; fails the test otherwise.
  /// `synchronous`: the primary waits for the replica's flush before it acknowledges a commit.
  explicit PgFailoverPair(bool synchronous = true);
  ~PgFailoverPair();
  PgFailoverPair(const PgFailoverPair&) = delete;
  PgFailoverPair& operator=(const PgFailoverPair&) = delete;

  int primary_port() const { return primary_.port; }
  int replica_port() const { return replica_.port; }
  /// "postgresql://postgres@127.0.0.1:P,127.0.0.1:R/`dbname`?target_session_attrs=read-write".
  std::string url(const std::string& dbname) const;
  /// The URL of one server (`port`), database `dbname`.
  static std::string node_url(int port, const std::string& dbname);
  /// Creates database `dbname` on the primary and waits until the replica has it.
  void create_database(const std::string& dbname);
  /// `pg_ctl promote -w` on the replica: returns once it accepts writes.
  void promote_replica();
  /// An immediate stop of the primary (SIGQUIT to the postmaster, as pg_ctl -m immediate), and a
  /// wait until its port is closed.
  void stop_primary();
  /// Runs one SQL statement on the server at `port`, database `dbname`; the first column of the
  /// first row, or "" when there is none.
  static std::string query_value(int port, const std::string& dbname, const std::string& sql);

 private:
  struct Node {
    std::string data;
    int port = 0;
    int pid = -1;
  };
  void start(Node& n, const std::vector<std::string>& extra);
  void stop(Node& n, int signal);
  std::string as_pg(const std::string& command) const;  // the shell command, as `postgres`

  TempDir dir_{"pgpair"};  // first: removed after both servers are gone
  std::string bin_;        // folder of initdb, pg_ctl, pg_basebackup, postgres
  Node primary_;
  Node replica_;
};

}  // namespace examstore::test
