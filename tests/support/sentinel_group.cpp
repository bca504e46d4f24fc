#include "support/sentinel_group.hpp"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <thread>

#include <catch2/catch.hpp>

#include "support/test_env.hpp"

namespace examstore::test {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct ContextFree {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyFree {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

// One command on 127.0.0.1:port with short timeouts; nullptr when the server does not answer.
Reply command(int port, const std::vector<std::string>& argv) {
  timeval tv{0, 300000};
  std::unique_ptr<redisContext, ContextFree> c(redisConnectWithTimeout("127.0.0.1", port, tv));
  if (!c || c->err != 0) return nullptr;
  redisSetTimeout(c.get(), tv);
  std::vector<const char*> words;
  std::vector<size_t> lens;
  for (const auto& a : argv) {
    words.push_back(a.data());
    lens.push_back(a.size());
  }
  return Reply(static_cast<redisReply*>(
      redisCommandArgv(c.get(), static_cast<int>(words.size()), words.data(), lens.data())));
}

std::size_t array_size(const Reply& r) {
  return r && r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
}

bool port_closed(int port) {
  timeval tv{0, 200000};
  std::unique_ptr<redisContext, ContextFree> c(redisConnectWithTimeout("127.0.0.1", port, tv));
  return !c || c->err != 0;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

SentinelGroup::SentinelGroup(int replicas) {
  std::set<int> used;
  auto free_port = [&] {
    for (;;) {
      const int p = closed_port();
      if (used.insert(p).second) return p;
    }
  };
  const int master = free_port();
  data_.push_back(Node{master, -1});
  for (int i = 0; i < replicas; ++i) data_.push_back(Node{free_port(), -1});
  for (int i = 0; i < 3; ++i) sentinels_.push_back(Node{free_port(), -1});

  for (std::size_t i = 0; i < data_.size(); ++i) {
    std::vector<std::string> extra;
    if (i > 0) extra = {"--replicaof", "127.0.0.1", std::to_string(master)};
    const int port = data_[i].port;
    data_[i] = start_node(extra, "data-" + std::to_string(port));
    data_[i].port = port;
  }
  for (auto& s : sentinels_) {
    const std::string d = dir_.path() + "/sentinel-" + std::to_string(s.port);
    std::filesystem::create_directories(d);
    std::ofstream conf(d + "/sentinel.conf");
    conf << "bind 127.0.0.1\nport " << s.port << "\ndir " << d
         << "\nsentinel monitor mymaster 127.0.0.1 " << master
         << " 2\nsentinel down-after-milliseconds mymaster 1000\n"
            "sentinel failover-timeout mymaster 3000\nsentinel parallel-syncs mymaster 1\n";
    conf.close();
    s.pid = spawn_process({"/usr/bin/redis-server", d + "/sentinel.conf", "--sentinel"},
                          environment_without({}), d + "/log");
  }

  const auto deadline = Clock::now() + 30s;
  auto ready = [&] {
    for (std::size_t i = 1; i < data_.size(); ++i) {
      Reply r = command(data_[i].port, {"INFO", "replication"});
      if (!r || r->type != REDIS_REPLY_STRING ||
          std::string(r->str, r->len).find("master_link_status:up") == std::string::npos) {
        return false;
      }
    }
    for (const auto& s : sentinels_) {
      if (array_size(command(s.port, {"SENTINEL", "replicas", "mymaster"})) !=
              static_cast<std::size_t>(replicas) ||
          array_size(command(s.port, {"SENTINEL", "sentinels", "mymaster"})) != 2) {
        return false;
      }
    }
    return true;
  };
  while (!ready()) {
    if (Clock::now() > deadline) {
      FAIL("the private Sentinel group did not come up within 30 s; sentinel log:\n"
           << read_all(dir_.path() + "/sentinel-" + std::to_string(sentinels_[0].port) + "/log"));
    }
    std::this_thread::sleep_for(100ms);
  }
}

SentinelGroup::~SentinelGroup() {
  for (auto& s : sentinels_) stop(s);
  for (auto& d : data_) stop(d);
}

SentinelGroup::Node SentinelGroup::start_node(const std::vector<std::string>& extra,
                                              const std::string& name) {
  const std::string d = dir_.path() + "/" + name;
  std::filesystem::create_directories(d);
  const std::string port = name.substr(name.rfind('-') + 1);
  std::vector<std::string> argv = {
      "/usr/bin/redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "",
      "--appendonly",          "no",     "--dir",     d};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Node n;
  n.pid = spawn_process(argv, environment_without({}), d + "/log");
  const auto deadline = Clock::now() + 10s;
  for (;;) {
    Reply r = command(std::stoi(port), {"PING"});
    if (r && r->type == REDIS_REPLY_STATUS) break;
    if (Clock::now() > deadline)
      FAIL("redis-server " << name << " did not start:\n" << read_all(d + "/log"));
    std::this_thread::sleep_for(20ms);
  }
  return n;
}

void SentinelGroup::stop(Node& n) {
  if (n.pid <= 0) return;
  ::kill(n.pid, SIGKILL);
  ::waitpid(n.pid, nullptr, 0);
  n.pid = -1;
}

std::string SentinelGroup::url() const {
  std::string u = "redis-sentinel://";
  for (std::size_t i = 0; i < sentinels_.size(); ++i) {
    if (i > 0) u += ",";
    u += "127.0.0.1:" + std::to_string(sentinels_[i].port);
  }
  return u + "/mymaster";
}

int SentinelGroup::master_port() const {
  for (const auto& s : sentinels_) {
    Reply r = command(s.port, {"SENTINEL", "get-master-addr-by-name", "mymaster"});
    if (array_size(r) == 2 && r->element[1]->type == REDIS_REPLY_STRING) {
      return std::stoi(std::string(r->element[1]->str, r->element[1]->len));
    }
  }
  return 0;
}

int SentinelGroup::kill_master() {
  const int port = master_port();
  REQUIRE(port != 0);
  for (auto& d : data_) {
    if (d.port != port) continue;
    stop(d);
    const auto deadline = Clock::now() + 5s;
    while (!port_closed(port)) {
      if (Clock::now() > deadline) FAIL("port " << port << " still open 5 s after SIGKILL");
      std::this_thread::sleep_for(10ms);
    }
    return port;
  }
  FAIL("the master port " << port << " is not one of this group's nodes");
  return 0;
}

int SentinelGroup::await_failover(int old_port, std::chrono::seconds bound) {
  const auto deadline = Clock::now() + bound;
  for (;;) {
    const int now = master_port();
    if (now != 0 && now != old_port && role(now) == "master") return now;
    if (Clock::now() > deadline) {
      FAIL("no failover away from port " << old_port << " within " << bound.count() << " s");
    }
    std::this_thread::sleep_for(50ms);
  }
}

std::optional<std::string> SentinelGroup::get(int port, const std::string& key) {
  Reply r = command(port, {"GET", key});
  if (!r || r->type != REDIS_REPLY_STRING) return std::nullopt;
  return std::string(r->str, r->len);
}

std::string SentinelGroup::role(int port) {
  Reply r = command(port, {"ROLE"});
  if (array_size(r) == 0 || r->element[0]->type != REDIS_REPLY_STRING) return {};
  return std::string(r->element[0]->str, r->element[0]->len);
}

}  // namespace examstore::test
