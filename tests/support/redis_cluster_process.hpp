// tests/support/redis_cluster_process.hpp: a private Redis Cluster for tests that reshard it or
// kill its nodes (never the shared one of scripts/servers.sh, which other tests use meanwhile).
//
// Nodes are redis-server processes on free loopback ports whose cluster bus ports (+10000) are
// free as well, in a fresh temp folder, killed with the test process if it dies. The cluster is
// created with `redis-cli --cluster create` and is ready (cluster_state:ok on every node, every
// replica linked) when the constructor returns.
#pragma once

#include <string>
#include <vector>

#include "support/test_env.hpp"

namespace examstore::test {

/// One command on one node (hiredis), its reply as text: a string or status as is, an integer in
/// decimal, nil as "", an array as its elements joined by '\n'. Fails the test on an error reply
/// or a lost connection.
std::string node_command(int port, const std::vector<std::string>& argv);

class RedisClusterProcess {
 public:
  /// `masters` masters with `replicas` replicas each; `node_timeout_ms` is
  /// cluster-node-timeout (how soon a dead master is failed over). Slots stay served while
  /// another node is down (cluster-require-full-coverage no).
  RedisClusterProcess(int masters, int replicas, int node_timeout_ms = 1000);
  ~RedisClusterProcess();
  RedisClusterProcess(const RedisClusterProcess&) = delete;
  RedisClusterProcess& operator=(const RedisClusterProcess&) = delete;

  /// redis-cluster://127.0.0.1:P1,... listing every node.
  std::string url() const;
  /// Every node's port (masters first, as created).
  const std::vector<int>& ports() const { return ports_; }
  /// The port of the master that serves `slot`, as node `asked_port` sees it (0: the first live
  /// node).
  int owner_port(int slot, int asked_port = 0) const;
  /// The ports of the current masters (as the first live node sees them).
  std::vector<int> master_ports() const;
  /// The node id of the node on `port`.
  std::string node_id(int port) const;
  /// SIGKILLs the node on `port` (and reaps it).
  void kill(int port);

 private:
  int live_port() const;
  TempDir dir_;
  std::vector<int> ports_;
  std::vector<int> pids_;
};

}  // namespace examstore::test
