// tests/support/test_env.hpp: what the tests need from their environment.
//
// scripts/test.sh starts a throwaway Redis and PostgreSQL and exports their URLs as
// EXAMSTORE_TEST_REDIS_URL and EXAMSTORE_TEST_DATABASE_URL, and beside them a Sentinel group, a
// Redis Cluster and a PostgreSQL streaming replica (EXAMSTORE_TEST_SENTINEL_URL,
// EXAMSTORE_TEST_CLUSTER_URL, EXAMSTORE_TEST_REPLICA_DATABASE_URL). A test that needs a server and
// finds its variable unset FAILS (it is never skipped): a missing server is a broken test run.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "examstore/config.hpp"
#include "examstore/error.hpp"

namespace examstore::test {

/// The value of the environment variable `name`; fails the current test when it is unset or
/// empty (a missing server is a failure, never a skip).
std::string env_or_fail(const char* name);

/// The Redis URL of the throwaway test server; fails the current test when unset.
std::string redis_url();
/// The PostgreSQL URL of the throwaway test cluster (an admin connection to database
/// "postgres"); fails the current test when unset.
std::string database_url();
/// The redis-sentinel:// URL of the throwaway Sentinel group (master "mymaster", 2 replicas,
/// 3 sentinels; EXAMSTORE_TEST_SENTINEL_URL); fails the current test when unset.
std::string sentinel_url();
/// The redis-cluster:// URL of the throwaway 3-master Redis Cluster (one replica each;
/// EXAMSTORE_TEST_CLUSTER_URL); fails the current test when unset.
std::string cluster_url();
/// The PostgreSQL URL of the streaming replica of database_url()'s cluster (database
/// "postgres"; EXAMSTORE_TEST_REPLICA_DATABASE_URL); fails the current test when unset.
std::string replica_database_url();

/// A name unique to this process and call: `prefix` + random hex. Seeded from the clock and pid.
std::string unique_name(std::string_view prefix);

/// A fresh PostgreSQL database, dropped (WITH FORCE) on destruction. Isolates a test's schema.
class TempDatabase {
 public:
  TempDatabase();
  ~TempDatabase();
  TempDatabase(const TempDatabase&) = delete;
  TempDatabase& operator=(const TempDatabase&) = delete;
  /// The database's name.
  const std::string& name() const { return name_; }
  /// A postgresql:// URL for it.
  std::string url() const;
  /// The same URL, connecting as `user` (e.g. the least-privilege application role).
  std::string url_as(const std::string& user) const;
  /// Migrates it (as the owner), makes kAppRole its least-privilege application role
  /// (Store::apply_application_role) and returns url_as(kAppRole): the repositories under test
  /// then run with the privileges production gives them.
  std::string migrate_and_restrict() const;
  /// The application role the test suite runs the repositories under.
  static constexpr const char* kAppRole = "examstore_app_test";
  /// Runs one SQL statement on it (admin helper for assertions); returns the first column of
  /// the first row, or "" when there is none.
  std::string query_value(const std::string& sql) const;
  /// query_value() connected as `user`; throws what libpqxx throws (e.g. insufficient_privilege).
  std::string query_value_as(const std::string& user, const std::string& sql) const;

 private:
  std::string name_;
};

/// A private redis-server process on a free loopback port, for fault tests that must stop and
/// restart a server. The port stays the same across restarts.
class RedisProcess {
 public:
  RedisProcess();   // starts it and waits until it answers PING
  ~RedisProcess();  // kills it
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;
  int port() const { return port_; }
  std::string url() const;
  void kill();   // SIGKILL and wait until the port is closed
  void start();  // start again on the same port and wait until it answers PING

 private:
  int port_;
  int pid_ = -1;
  std::string dir_;
};

/// A loopback TCP listener that accepts connections and never answers: a server that hangs.
class SilentServer {
 public:
  SilentServer();
  ~SilentServer();
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  int port() const { return port_; }

 private:
  int fd_;
  int port_;
};

/// A loopback port on which nothing listens (connection refused).
int closed_port();

/// A fresh directory under the system temp dir ("examstore-<tag>-XXXXXX"), removed with
/// everything in it on destruction.
class TempDir {
 public:
  explicit TempDir(std::string_view tag = "test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  /// path() + "/" + name.
  std::string operator/(std::string_view name) const;
  /// A journal directory inside it (not created: the store creates it).
  std::string journal() const { return *this / "journal"; }

 private:
  std::string path_;
};

/// What a finished shell command printed and how it ended.
struct CommandResult {
  int exit_code = -1;
  std::string output;  ///< everything it wrote to stdout (redirect stderr in the command)
};

/// Runs `shell_command` with /bin/sh, reads its stdout to the end and fails the current test
/// unless it exited normally.
CommandResult run_command(const std::string& shell_command);

/// The code of the examstore::Error `f` throws (its what() into `message` when given), or
/// nullopt when it returns normally.
std::optional<ErrorCode> code_of(const std::function<void()>& f, std::string* message = nullptr);

/// The examstore tool (EXAMSTORE_CLI_PATH) with `args` (shell words), stderr merged into stdout.
CommandResult run_cli(const std::string& args);

/// The complete lines of a file: a last line cut short (no '\n', e.g. by a kill) is left out.
std::vector<std::string> complete_lines(const std::string& path);

/// This process's environment ("NAME=value" entries) without the variables named in `drop`.
std::vector<std::string> environment_without(const std::vector<std::string>& drop);

/// Starts the program argv[0] (a path) with `argv` and exactly `env`, its stdout and stderr
/// written to the file `log`; the child is SIGKILLed if the test process dies. Returns its pid
/// (reap it with waitpid). Fails the current test when fork fails.
int spawn_process(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                  const std::string& log);

}  // namespace examstore::test
