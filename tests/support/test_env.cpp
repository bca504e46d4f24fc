// tests/support/test_env.cpp: the throwaway servers and names the tests run against.
//
// Everything here is called from the test's own (main) thread: Catch2's FAIL is not
// thread-safe, and RedisProcess's child dies with the thread that started it (PDEATHSIG).
#include "support/test_env.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "db/pq.hpp"
#include "examstore/store.hpp"

namespace examstore::test {

std::string env_or_fail(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    FAIL(name << " is not set: this test needs a server (scripts/test.sh starts throwaway "
                 "Redis and PostgreSQL servers and exports their URLs)");
  }
  return v;
}

namespace {

using Clock = std::chrono::steady_clock;

// A loopback TCP socket; -1 on failure (errno set).
int loopback_socket() { return ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); }

sockaddr_in loopback_addr(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// Binds a socket to 127.0.0.1:0 and returns it with the port the kernel chose; fails the test
// on error.
int bind_any_port(int& port) {
  int fd = loopback_socket();
  if (fd < 0) FAIL("socket(): " << std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = loopback_addr(0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    int err = errno;
    ::close(fd);
    FAIL("bind(127.0.0.1:0): " << std::strerror(err));
  }
  socklen_t len = sizeof a;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    int err = errno;
    ::close(fd);
    FAIL("getsockname(): " << std::strerror(err));
  }
  port = ntohs(a.sin_port);
  return fd;
}

// True when something accepts TCP connections on 127.0.0.1:port.
bool port_open(int port) {
  int fd = loopback_socket();
  if (fd < 0) return false;
  sockaddr_in a = loopback_addr(port);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// One PING over a raw socket, with a 500 ms receive deadline.
bool redis_answers_ping(int port) {
  int fd = loopback_socket();
  if (fd < 0) return false;
  timeval tv{0, 500 * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in a = loopback_addr(port);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    static const char kPing[] = "PING\r\n";
    if (::send(fd, kPing, sizeof kPing - 1, MSG_NOSIGNAL) ==
        static_cast<ssize_t>(sizeof kPing - 1)) {
      char buf[16] = {};
      ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
      ok = n >= 5 && std::strncmp(buf, "+PONG", 5) == 0;
    }
  }
  ::close(fd);
  return ok;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The library places a Store's journal under $XDG_STATE_HOME by default (docs/write-behind.md).
// A test run keeps those journals in a folder of its own, not in the developer's home, for this
// process and every tool it starts: set before main (one thread), removed at exit.
// STATE_DIRECTORY, which would come first, is dropped.
class StateHome {
 public:
  StateHome() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "examstore-state-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      std::perror("examstore tests: mkdtemp for XDG_STATE_HOME");
      std::abort();
    }
    path_ = tmpl;
    ::setenv("XDG_STATE_HOME", path_.c_str(), 1);
    ::unsetenv("STATE_DIRECTORY");
  }
  ~StateHome() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  StateHome(const StateHome&) = delete;
  StateHome& operator=(const StateHome&) = delete;

 private:
  std::string path_;
};
const StateHome kStateHome;

}  // namespace

std::string redis_url() { return env_or_fail("EXAMSTORE_TEST_REDIS_URL"); }

std::string database_url() { return env_or_fail("EXAMSTORE_TEST_DATABASE_URL"); }

std::string sentinel_url() { return env_or_fail("EXAMSTORE_TEST_SENTINEL_URL"); }

std::string cluster_url() { return env_or_fail("EXAMSTORE_TEST_CLUSTER_URL"); }

std::string replica_database_url() { return env_or_fail("EXAMSTORE_TEST_REPLICA_DATABASE_URL"); }

std::string unique_name(std::string_view prefix) {
  static std::mutex mu;  // guards rng
  static std::mt19937_64 rng = [] {
    auto now = static_cast<std::uint64_t>(
        std::chrono::high_resolution_clock::now().time_since_epoch().count());
    std::seed_seq seq{static_cast<std::uint32_t>(now), static_cast<std::uint32_t>(now >> 32),
                      static_cast<std::uint32_t>(::getpid())};
    return std::mt19937_64(seq);
  }();
  std::uint64_t r;
  {
    std::lock_guard<std::mutex> lock(mu);
    r = rng();
  }
  // Names must be valid unquoted PostgreSQL identifiers and Redis key parts alike.
  std::string out;
  out.reserve(prefix.size() + 16);
  for (char c : prefix) {
    if (c >= 'A' && c <= 'Z') {
      out += static_cast<char>(c - 'A' + 'a');
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') {
      out += c;
    } else {
      out += '_';
    }
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(r));
  out += hex;
  return out;
}

// ---- TempDatabase ----

TempDatabase::TempDatabase() : name_(unique_name("examstore_test_")) {
  const std::string admin = database_url();
  try {
    pqxx::connection c(admin);
    pqxx::nontransaction tx(c);  // CREATE DATABASE cannot run inside a transaction block
    examstore::db::exec0(tx, "CREATE DATABASE " + tx.quote_name(name_));
  } catch (const std::exception& e) {
    FAIL("cannot create test database " << name_ << ": " << e.what());
  }
}

TempDatabase::~TempDatabase() {
  try {
    pqxx::connection c(database_url());
    pqxx::nontransaction tx(c);
    examstore::db::exec0(tx, "DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (const std::exception& e) {
    std::cerr << "warning: cannot drop test database " << name_ << ": " << e.what() << "\n";
  } catch (...) {
    // FAIL's exception when the URL went missing: a destructor must not throw.
  }
}

std::string TempDatabase::url() const {
  const std::string base = database_url();
  const auto scheme = base.find("://");
  if (scheme == std::string::npos) {
    // A libpq key=value string: a later keyword overrides an earlier one.
    return base + " dbname=" + name_;
  }
  const auto authority = scheme + 3;
  const auto path = base.find('/', authority);
  const auto query = base.find('?', authority);
  if (path == std::string::npos || (query != std::string::npos && query < path)) {
    // No path: insert one before the query string (or at the end).
    const auto at = query == std::string::npos ? base.size() : query;
    return base.substr(0, at) + "/" + name_ + base.substr(at);
  }
  const auto end = query == std::string::npos ? base.size() : query;
  return base.substr(0, path + 1) + name_ + base.substr(end);
}

std::string TempDatabase::url_as(const std::string& user) const {
  const std::string base = url();
  if (base.find("://") == std::string::npos) return base + " user=" + user;
  // A URI's query parameters override its user info.
  return base + (base.find('?') == std::string::npos ? "?" : "&") + "user=" + user;
}

std::string TempDatabase::migrate_and_restrict() const {
  Config owner;
  owner.with_database_url(url());
  owner.migrate_on_open = true;
  Store::open(owner)->apply_application_role(kAppRole);
  return url_as(kAppRole);
}

std::string TempDatabase::query_value(const std::string& sql) const {
  return query_value_as("", sql);
}

std::string TempDatabase::query_value_as(const std::string& user, const std::string& sql) const {
  pqxx::connection c(user.empty() ? url() : url_as(user));
  pqxx::nontransaction tx(c);
  pqxx::result r = tx.exec(sql);
  if (r.empty() || r.columns() == 0 || r[0][0].is_null()) return "";
  return r[0][0].c_str();
}

// ---- RedisProcess ----

RedisProcess::RedisProcess() {
  char tmpl[] = "/tmp/examstore-redis-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) FAIL("mkdtemp: " << std::strerror(errno));
  dir_ = tmpl;
  int fd = bind_any_port(port_);
  ::close(fd);
  start();
}

RedisProcess::~RedisProcess() {
  try {
    kill();
  } catch (...) {
    // kill() only fails the test when the port stays open; nothing to do here.
  }
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string RedisProcess::url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

void RedisProcess::start() {
  if (pid_ > 0) return;
  const std::string port = std::to_string(port_);
  const std::string log = dir_ + "/redis.log";
  // Everything the child needs is prepared before fork: only async-signal-safe calls after it.
  std::vector<std::string> args = {"redis-server", "--bind", "127.0.0.1", "--port",
                                   port,           "--save", "",          "--appendonly",
                                   "no",           "--dir",  dir_};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();

  pid_t pid = ::fork();
  if (pid < 0) FAIL("fork: " << std::strerror(errno));
  if (pid == 0) {
    // Dies with the test process even when the test crashes.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(126);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (out >= 0) {
      ::dup2(out, STDOUT_FILENO);
      ::dup2(out, STDERR_FILENO);
    }
    ::execvp("redis-server", argv.data());
    ::_exit(127);
  }
  pid_ = pid;

  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!redis_answers_ping(port_)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL("redis-server on port " << port_ << " exited before answering PING (status " << status
                                   << "); its log:\n"
                                   << read_file(log));
    }
    if (Clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
      FAIL("redis-server on port " << port_ << " did not answer PING within 10 s; its log:\n"
                                   << read_file(log));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void RedisProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (port_open(port_)) {
    if (Clock::now() > deadline) FAIL("port " << port_ << " still open 5 s after SIGKILL");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// ---- SilentServer ----

SilentServer::SilentServer() : fd_(-1), port_(0) {
  fd_ = bind_any_port(port_);
  if (::listen(fd_, 16) != 0) {
    int err = errno;
    ::close(fd_);
    fd_ = -1;
    FAIL("listen: " << std::strerror(err));
  }
}

SilentServer::~SilentServer() {
  if (fd_ >= 0) ::close(fd_);
}

int closed_port() {
  int port = 0;
  int fd = bind_any_port(port);
  ::close(fd);
  return port;
}

TempDir::TempDir(std::string_view tag) {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / ("examstore-" + std::string(tag) + "-XXXXXX"))
          .string();
  if (::mkdtemp(tmpl.data()) == nullptr) FAIL("mkdtemp " << tmpl << ": " << std::strerror(errno));
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string TempDir::operator/(std::string_view name) const {
  return path_ + "/" + std::string(name);
}

CommandResult run_command(const std::string& shell_command) {
  FILE* p = ::popen(shell_command.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  const int status = ::pclose(p);
  INFO(shell_command);
  REQUIRE(WIFEXITED(status));
  return {WEXITSTATUS(status), out};
}

std::optional<ErrorCode> code_of(const std::function<void()>& f, std::string* message) {
  try {
    f();
  } catch (const Error& e) {
    if (message != nullptr) *message = e.what();
    return e.code();
  }
  return std::nullopt;
}

CommandResult run_cli(const std::string& args) {
  return run_command(std::string(EXAMSTORE_CLI_PATH) + " " + args + " 2>&1");
}

std::vector<std::string> complete_lines(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl = text.find('\n'); nl != std::string::npos; nl = text.find('\n', start)) {
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

std::vector<std::string> environment_without(const std::vector<std::string>& drop) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const bool dropped = std::any_of(drop.begin(), drop.end(), [&](const std::string& name) {
      return entry.rfind(name + "=", 0) == 0;
    });
    if (!dropped) out.push_back(entry);
  }
  return out;
}

int spawn_process(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                  const std::string& log) {
  REQUIRE(!argv.empty());
  // Everything the child needs is built before fork: only async-signal-safe calls after it.
  std::vector<std::string> words = argv;
  std::vector<std::string> env_words = env;
  std::vector<char*> args;
  for (auto& w : words) args.push_back(w.data());
  args.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env_words) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlives the test process
    if (::getppid() != parent) ::_exit(126);
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out >= 0) {
      ::dup2(out, STDOUT_FILENO);
      ::dup2(out, STDERR_FILENO);
    }
    ::execve(args[0], args.data(), envp.data());
    ::_exit(127);
  }
  return pid;
}

}  // namespace examstore::test
