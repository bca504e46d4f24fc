#include "support/redis_cluster_process.hpp"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

namespace examstore::test {
namespace {

using Clock = std::chrono::steady_clock;

bool can_bind(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A port whose cluster bus port (+10000) is free too, outside the ephemeral range's reach.
int free_cluster_port(std::mt19937& rng, const std::vector<int>& taken) {
  std::uniform_int_distribution<int> pick(20000, 29999);
  for (int i = 0; i < 1000; ++i) {
    const int p = pick(rng);
    if (std::find(taken.begin(), taken.end(), p) != taken.end()) continue;
    if (can_bind(p) && can_bind(p + 10000)) return p;
  }
  FAIL("no free port pair for a cluster node");
  return 0;
}

std::string text_of(const redisReply& r) {
  switch (r.type) {
    case REDIS_REPLY_INTEGER:
      return std::to_string(r.integer);
    case REDIS_REPLY_NIL:
      return "";
    case REDIS_REPLY_ARRAY: {
      std::string out;
      for (size_t i = 0; i < r.elements; ++i) out += (i ? "\n" : "") + text_of(*r.element[i]);
      return out;
    }
    default:
      return std::string(r.str, r.len);
  }
}

// The reply, or nullopt when the node cannot be reached or answers with an error.
std::optional<std::string> try_command(int port, const std::vector<std::string>& argv,
                                       std::string* error = nullptr) {
  timeval tv{2, 0};
  redisContext* c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c == nullptr || c->err != 0) {
    if (error) *error = c ? c->errstr : "out of memory";
    if (c) redisFree(c);
    return std::nullopt;
  }
  redisSetTimeout(c, timeval{10, 0});
  std::vector<const char*> words;
  std::vector<size_t> lengths;
  for (const auto& w : argv) {
    words.push_back(w.data());
    lengths.push_back(w.size());
  }
  auto* r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(words.size()), words.data(), lengths.data()));
  std::optional<std::string> out;
  if (r == nullptr) {
    if (error) *error = c->errstr;
  } else if (r->type == REDIS_REPLY_ERROR) {
    if (error) *error = std::string(r->str, r->len);
  } else {
    out = text_of(*r);
  }
  if (r) freeReplyObject(r);
  redisFree(c);
  return out;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    out.push_back(line);
  }
  return out;
}

}  // namespace

std::string node_command(int port, const std::vector<std::string>& argv) {
  std::string error;
  auto r = try_command(port, argv, &error);
  if (!r) FAIL("redis node " << port << ": " << argv.front() << ": " << error);
  return *r;
}

RedisClusterProcess::RedisClusterProcess(int masters, int replicas, int node_timeout_ms)
    : dir_("cluster") {
  std::mt19937 rng(std::random_device{}());
  const int n = masters * (1 + replicas);
  for (int i = 0; i < n; ++i) ports_.push_back(free_cluster_port(rng, ports_));
  const auto env = environment_without({});
  std::string create = "redis-cli --cluster create";
  for (int p : ports_) {
    const std::string port = std::to_string(p);
    const std::string dir = dir_ / ("n" + port);
    run_command("mkdir -p " + dir);
    pids_.push_back(
        spawn_process({"/usr/bin/redis-server", "--bind", "127.0.0.1", "--port", port, "--dir", dir,
                       "--save", "", "--appendonly", "no", "--cluster-enabled", "yes",
                       "--cluster-config-file", "nodes.conf", "--cluster-node-timeout",
                       std::to_string(node_timeout_ms), "--cluster-require-full-coverage", "no"},
                      env, dir + "/redis.log"));
    create += " 127.0.0.1:" + port;
  }
  const auto deadline = Clock::now() + std::chrono::seconds(20);
  for (int p : ports_) {
    while (try_command(p, {"PING"}) != std::optional<std::string>("PONG")) {
      if (Clock::now() > deadline) FAIL("cluster node " << p << " did not start");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  create += " --cluster-replicas " + std::to_string(replicas) + " --cluster-yes 2>&1";
  const auto created = run_command(create);
  if (created.exit_code != 0) FAIL("redis-cli --cluster create failed:\n" << created.output);
  // Ready: every node says ok and sees every replica; every replica's link is up.
  const auto ready_by = Clock::now() + std::chrono::seconds(30);
  for (int p : ports_) {
    for (;;) {
      const auto info = try_command(p, {"CLUSTER", "INFO"});
      const auto nodes = try_command(p, {"CLUSTER", "NODES"});
      const auto repl = try_command(p, {"INFO", "replication"});
      int slaves = 0;
      if (nodes) {
        for (const auto& l : lines_of(*nodes)) slaves += l.find("slave") != std::string::npos;
      }
      const bool is_replica = repl && repl->find("role:slave") != std::string::npos;
      const bool linked = !is_replica || repl->find("master_link_status:up") != std::string::npos;
      if (info && info->find("cluster_state:ok") != std::string::npos &&
          slaves == masters * replicas && linked) {
        break;
      }
      if (Clock::now() > ready_by)
        FAIL("cluster node " << p << " not ready: " << info.value_or(""));
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

RedisClusterProcess::~RedisClusterProcess() {
  for (int pid : pids_) {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
}

std::string RedisClusterProcess::url() const {
  std::string u = "redis-cluster://";
  for (size_t i = 0; i < ports_.size(); ++i) {
    u += (i ? "," : "") + std::string("127.0.0.1:") + std::to_string(ports_[i]);
  }
  return u;
}

int RedisClusterProcess::live_port() const {
  for (size_t i = 0; i < ports_.size(); ++i) {
    if (pids_[i] > 0) return ports_[i];
  }
  FAIL("no live cluster node");
  return 0;
}

void RedisClusterProcess::kill(int port) {
  for (size_t i = 0; i < ports_.size(); ++i) {
    if (ports_[i] == port && pids_[i] > 0) {
      ::kill(pids_[i], SIGKILL);
      ::waitpid(pids_[i], nullptr, 0);
      pids_[i] = -1;
    }
  }
}

std::string RedisClusterProcess::node_id(int port) const {
  return node_command(port, {"CLUSTER", "MYID"});
}

std::vector<int> RedisClusterProcess::master_ports() const {
  std::vector<int> out;
  for (const auto& l : lines_of(node_command(live_port(), {"CLUSTER", "NODES"}))) {
    // "<id> 127.0.0.1:<port>@<bus> <flags> ..."
    std::istringstream words(l);
    std::string id, addr, flags;
    words >> id >> addr >> flags;
    if (flags.find("master") == std::string::npos || flags.find("fail") != std::string::npos)
      continue;
    out.push_back(std::stoi(addr.substr(addr.find(':') + 1, addr.find('@'))));
  }
  std::sort(out.begin(), out.end());
  return out;
}

int RedisClusterProcess::owner_port(int slot, int asked_port) const {
  // CLUSTER NODES: "<id> <ip:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slots>..."
  const int port = asked_port ? asked_port : live_port();
  for (const auto& l : lines_of(node_command(port, {"CLUSTER", "NODES"}))) {
    std::istringstream words(l);
    std::vector<std::string> w;
    for (std::string s; words >> s;) w.push_back(s);
    if (w.size() < 9 || w[2].find("master") == std::string::npos) continue;
    for (size_t i = 8; i < w.size(); ++i) {
      if (w[i].front() == '[') continue;  // a migration in progress
      const auto dash = w[i].find('-');
      const int first = std::stoi(w[i].substr(0, dash));
      const int last = dash == std::string::npos ? first : std::stoi(w[i].substr(dash + 1));
      if (slot >= first && slot <= last) {
        return std::stoi(w[1].substr(w[1].find(':') + 1, w[1].find('@')));
      }
    }
  }
  return 0;
}

}  // namespace examstore::test
