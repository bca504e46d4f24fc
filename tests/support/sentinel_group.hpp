// tests/support/sentinel_group.hpp: a private Redis Sentinel group for failover tests.
//
// A master, `replicas` replicas and three sentinels (quorum 2, down-after-milliseconds 1000,
// failover-timeout 3000), each a redis-server child of the test process on a free loopback port
// (they die with it: PDEATHSIG). Tests that kill the master use one of these, never the shared
// group of scripts/servers.sh, which other tests use at the same time.
//
// Not thread-safe: the test's main thread drives it.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "support/test_env.hpp"

namespace examstore::test {

class SentinelGroup {
 public:
  /// Starts the group and waits (bounded, 30 s) until the replicas are linked and every sentinel
  /// sees the replicas and the other sentinels; fails the test otherwise.
  explicit SentinelGroup(int replicas = 2);
  ~SentinelGroup();
  SentinelGroup(const SentinelGroup&) = delete;
  SentinelGroup& operator=(const SentinelGroup&) = delete;

  /// "redis-sentinel://127.0.0.1:a,127.0.0.1:b,127.0.0.1:c/mymaster".
  std::string url() const;
  /// The port of the master the first answering sentinel names (0 when none answers).
  int master_port() const;
  /// SIGKILLs the current master and waits until its port is closed; returns its port.
  int kill_master();
  /// Waits until the sentinels name a master other than `old_port` whose ROLE says master;
  /// returns its port. Fails the test after `bound`.
  int await_failover(int old_port, std::chrono::seconds bound);
  /// GET `key` on the data node at `port` (nullopt when missing).
  static std::optional<std::string> get(int port, const std::string& key);
  /// The first word of ROLE on `port` ("master", "slave"), empty when it does not answer.
  static std::string role(int port);

 private:
  struct Node {
    int port = 0;
    int pid = -1;
  };
  Node start_node(const std::vector<std::string>& extra, const std::string& name);
  void stop(Node& n);

  TempDir dir_{"sentinel"};  // first: removed after every process is gone
  std::vector<Node> data_;   // [0] is the first master
  std::vector<Node> sentinels_;
};

}  // namespace examstore::test
