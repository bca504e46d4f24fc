// benchmarks/bench_common.hpp: what the benchmark programs share.
//
// Every benchmark is a plain main() program run by scripts/bench.sh: it measures one scenario
// (docs/performance.md) and prints ONE line of flat JSON on stdout, e.g.
//   {"scenario":"cache_hit","ours":98765.4,"unit":"ops/s",...}
// Scalar fields are plain numbers or strings so that bench.sh can read them with sed; arrays
// appear only under names that no scalar field is a prefix of ("ours_rounds").
// Progress and diagnostics go to stderr. A failed check exits with status 1.
//
// Nothing here is part of the library: benchmarks may talk to the servers directly (hiredis
// for INFO, libpqxx for setup and raw baselines) to measure what the public API cannot show.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

struct redisContext;

namespace bench {

using Clock = std::chrono::steady_clock;

/// Seconds since `t0` as a double.
double seconds_since(Clock::time_point t0);

/// `--name value` pairs and bare `--flag`s (value "1"). Unknown names are an error at get time
/// only if required; a program lists its options in its usage text.
class Args {
 public:
  Args(int argc, char** argv);
  std::string str(const std::string& name, const std::string& def) const;
  std::string required(const std::string& name) const;
  std::int64_t num(const std::string& name, std::int64_t def) const;
  double real(const std::string& name, double def) const;
  bool flag(const std::string& name) const;

 private:
  std::map<std::string, std::string> values_;
};

/// Prints `what` on stderr and exits with status 1.
[[noreturn]] void fail(const std::string& what);
/// Fails with `what` unless `ok`.
void check(bool ok, const std::string& what);
/// A progress line on stderr.
void note(const std::string& what);

/// Releases `n` waiting threads at once (C++17 has no std::barrier).
class StartGate {
 public:
  /// Blocks until open() is called.
  void wait();
  void open();

 private:
  std::mutex mu_;  // guards open_
  std::condition_variable cv_;
  bool open_ = false;
};

/// Builds one line of flat JSON.
class JsonLine {
 public:
  JsonLine& add(const std::string& key, const std::string& value);
  JsonLine& add(const std::string& key, const char* value) { return add(key, std::string(value)); }
  JsonLine& add(const std::string& key, double value);
  JsonLine& add(const std::string& key, std::int64_t value);
  JsonLine& add(const std::string& key, int value) { return add(key, std::int64_t{value}); }
  JsonLine& add(const std::string& key, bool value);
  JsonLine& add_null(const std::string& key);
  JsonLine& add(const std::string& key, const std::vector<double>& values);
  /// Prints the line on stdout (and flushes).
  void print() const;

 private:
  void key(const std::string& k);
  std::ostringstream out_;
  bool first_ = true;
};

/// The median of `v` (the mean of the two middle values for an even count); 0 when empty.
double median(std::vector<double> v);

/// User + system CPU time this process has used so far, in microseconds.
double cpu_micros();

/// A direct connection to Redis for what the Cache interface does not offer (INFO, FLUSH...).
class RawRedis {
 public:
  /// From a redis://host:port[/db] URL (no password support: the bench servers have none).
  explicit RawRedis(const std::string& url);
  ~RawRedis();
  RawRedis(const RawRedis&) = delete;
  RawRedis& operator=(const RawRedis&) = delete;

  /// One command; returns the reply as text (integer replies as digits, nil as ""). Fails the
  /// program on an error reply.
  std::string command(const std::vector<std::string>& argv);
  /// Many commands pipelined in one go (replies checked and dropped).
  void pipeline(const std::vector<std::vector<std::string>>& commands);
  /// A field of INFO <section> ("used_memory"), as a number.
  double info_number(const std::string& section, const std::string& field);
  /// The `calls=` of INFO commandstats for each command ("setrange" -> calls).
  std::map<std::string, std::int64_t> command_calls();

 private:
  redisContext* c_ = nullptr;
};

/// Runs one SQL statement (no result) on a fresh libpq connection to `url`.
void sql_exec(const std::string& url, const std::string& sql);
/// The first column of the first row of `sql` ("" when none).
std::string sql_value(const std::string& url, const std::string& sql);

}  // namespace bench
