#include "support/pg_failover_pair.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

namespace examstore::test {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

bool is_root() { return ::geteuid() == 0; }

std::string find_bin() {
  std::vector<std::string> candidates;
  if (const char* v = std::getenv("PGBIN"); v != nullptr && *v != '\0') candidates.push_back(v);
  candidates.emplace_back("/usr/lib/postgresql/15/bin");
  for (const auto& d : candidates) {
    if (::access((d + "/postgres").c_str(), X_OK) == 0 &&
        ::access((d + "/initdb").c_str(), X_OK) == 0 &&
        ::access((d + "/pg_basebackup").c_str(), X_OK) == 0) {
      return d;
    }
  }
  FAIL(
      "PostgreSQL 15 binaries (postgres, initdb, pg_basebackup) not found: set PGBIN or run "
      "scripts/deps.sh --servers");
  return {};
}

bool port_open(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool open = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return open;
}

std::string read_log(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  constexpr std::size_t kTail = 3000;
  return text.size() > kTail ? text.substr(text.size() - kTail) : text;
}

// True when the server at `port` answers a query before `bound`.
bool answers(int port, milliseconds bound) {
  const auto deadline = Clock::now() + bound;
  while (Clock::now() < deadline) {
    try {
      PgFailoverPair::query_value(port, "postgres", "SELECT 1");
      return true;
    } catch (const std::exception&) {
      std::this_thread::sleep_for(milliseconds(50));
    }
  }
  return false;
}

}  // namespace

PgFailoverPair::PgFailoverPair(bool synchronous) : bin_(find_bin()) {
  const passwd* pg = is_root() ? ::getpwnam("postgres") : nullptr;
  if (is_root()) {
    if (pg == nullptr) FAIL("no 'postgres' OS user (root cannot run initdb): scripts/deps.sh");
    if (::chown(dir_.path().c_str(), pg->pw_uid, pg->pw_gid) != 0) {
      FAIL("chown " << dir_.path() << ": " << std::strerror(errno));
    }
  }
  primary_.data = dir_ / "primary";
  replica_.data = dir_ / "replica";
  primary_.port = closed_port();
  const auto initdb = run_command(as_pg(bin_ + "/initdb -D " + primary_.data +
                                        " -U postgres -A trust -E UTF8 --no-locale --no-sync >" +
                                        (dir_ / "initdb.log") + " 2>&1; echo $?"));
  if (initdb.output != "0\n") FAIL("initdb failed: " << read_log(dir_ / "initdb.log"));
  std::vector<std::string> primary_args;
  if (synchronous) primary_args = {"-c", "synchronous_standby_names=*"};
  start(primary_, primary_args);

  const auto backup =
      run_command(as_pg(bin_ + "/pg_basebackup -h 127.0.0.1 -p " + std::to_string(primary_.port) +
                        " -U postgres -D " + replica_.data + " -R -X stream -c fast --no-sync >" +
                        (dir_ / "basebackup.log") + " 2>&1; echo $?"));
  if (backup.output != "0\n") FAIL("pg_basebackup failed: " << read_log(dir_ / "basebackup.log"));
  replica_.port = closed_port();
  start(replica_, {});  // after a promotion it has no standby to wait for

  const auto deadline = Clock::now() + std::chrono::seconds(60);
  while (query_value(primary_.port, "postgres",
                     "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") != "1") {
    if (Clock::now() > deadline) {
      FAIL("the replica did not stream within 60 s; its log:\n"
           << read_log(replica_.data + "/server.log"));
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
}

PgFailoverPair::~PgFailoverPair() {
  stop(replica_, SIGQUIT);
  stop(primary_, SIGQUIT);
}

std::string PgFailoverPair::url(const std::string& dbname) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(primary_.port) +
         ",127.0.0.1:" + std::to_string(replica_.port) + "/" + dbname +
         "?target_session_attrs=read-write";
}

std::string PgFailoverPair::node_url(int port, const std::string& dbname) {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port) + "/" + dbname;
}

std::string PgFailoverPair::query_value(int port, const std::string& dbname,
                                        const std::string& sql) {
  pqxx::connection c(node_url(port, dbname));
  pqxx::nontransaction tx(c);
  const pqxx::result r = tx.exec(sql);
  if (r.empty() || r[0].size() == 0 || r[0][0].is_null()) return "";
  return r[0][0].c_str();
}

void PgFailoverPair::create_database(const std::string& dbname) {
  {
    pqxx::connection c(node_url(primary_.port, "postgres"));
    pqxx::nontransaction tx(c);
    tx.exec("CREATE DATABASE " + tx.quote_name(dbname));
  }
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  const std::string count = "SELECT count(*) FROM pg_database WHERE datname = '" + dbname + "'";
  while (query_value(replica_.port, "postgres", count) != "1") {
    if (Clock::now() > deadline) FAIL("database " << dbname << " not on the replica in 30 s");
    std::this_thread::sleep_for(milliseconds(20));
  }
}

void PgFailoverPair::promote_replica() {
  const auto r = run_command(as_pg(bin_ + "/pg_ctl promote -D " + replica_.data + " -w -t 30 >" +
                                   (dir_ / "promote.log") + " 2>&1; echo $?"));
  if (r.output != "0\n") FAIL("pg_ctl promote failed: " << read_log(dir_ / "promote.log"));
}

void PgFailoverPair::stop_primary() { stop(primary_, SIGQUIT); }

std::string PgFailoverPair::as_pg(const std::string& command) const {
  if (!is_root()) return command;
  // runuser from a folder the postgres user can enter (the test's may not be)
  return "cd " + dir_.path() + " && runuser -u postgres -- sh -c '" + command + "'";
}

void PgFailoverPair::start(Node& n, const std::vector<std::string>& extra) {
  const passwd* pg = is_root() ? ::getpwnam("postgres") : nullptr;
  const uid_t uid = pg != nullptr ? pg->pw_uid : ::getuid();
  const gid_t gid = pg != nullptr ? pg->pw_gid : ::getgid();
  const std::string log = n.data + "/server.log";
  // Everything the child needs is prepared before fork: only async-signal-safe calls after it.
  std::vector<std::string> args = {bin_ + "/postgres",
                                   "-D",
                                   n.data,
                                   "-p",
                                   std::to_string(n.port),
                                   "-k",
                                   dir_.path(),
                                   "-c",
                                   "listen_addresses=127.0.0.1",
                                   "-c",
                                   "fsync=off",
                                   "-c",
                                   "max_connections=60",
                                   "-c",
                                   "wal_level=replica"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const bool root = is_root();
  const pid_t pid = ::fork();
  if (pid < 0) FAIL("fork: " << std::strerror(errno));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the test process
    if (::getppid() != parent) ::_exit(126);
    if (root && (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0)) {
      ::_exit(125);
    }
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out >= 0) {
      ::dup2(out, STDOUT_FILENO);
      ::dup2(out, STDERR_FILENO);
    }
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  n.pid = pid;
  if (!answers(n.port, std::chrono::seconds(30))) {
    stop(n, SIGKILL);
    FAIL("PostgreSQL on port " << n.port << " did not answer within 30 s; its log:\n"
                               << read_log(log));
  }
}

void PgFailoverPair::stop(Node& n, int signal) {
  if (n.pid <= 0) return;
  ::kill(n.pid, signal);
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (::waitpid(n.pid, nullptr, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      ::kill(n.pid, SIGKILL);
      ::waitpid(n.pid, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  n.pid = -1;
  // The backends leave as soon as they see the postmaster gone; the port closed with it.
  const auto closed_by = Clock::now() + std::chrono::seconds(5);
  while (port_open(n.port) && Clock::now() < closed_by) {
    std::this_thread::sleep_for(milliseconds(10));
  }
}

}  // namespace examstore::test
