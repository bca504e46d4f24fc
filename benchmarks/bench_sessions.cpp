// benchmarks/bench_sessions.cpp: what accounts cost (docs/accounts.md).
//
//   bench_sessions [--redis URL] [--lookups N] [--logins N] [--opslimit N] [--memlimit BYTES]
//
// Users in the in-memory database; sessions and throttle counters in the hot tier (Redis when
// --redis is given, else memory). Measures, on one thread: a session lookup (one round trip,
// sliding renewal included) and a successful login (Argon2id verify with the given factors,
// default libsodium INTERACTIVE, plus the throttle check, session create and login log).
#include <algorithm>
#include <cstdio>
#include <vector>

#include "bench_common.hpp"
#include "examstore/store.hpp"

namespace {

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  const bench::Args args(argc, argv);
  examstore::Config c;
  const std::string redis = args.str("redis", "");
  if (!redis.empty()) c.with_redis_url(redis);
  c.key_prefix = "bench-sessions";
  c.security.passwords.opslimit = static_cast<std::uint64_t>(args.num("opslimit", 2));
  c.security.passwords.memlimit = static_cast<std::size_t>(args.num("memlimit", 64 << 20));
  const auto lookups = args.num("lookups", 20000);
  const auto logins = args.num("logins", 20);
  auto store = examstore::Store::open(c);

  examstore::NewUser u;
  u.name = "bench-user";
  u.role = examstore::Role::kTeacher;
  u.password = "a benchmark password";
  const auto user = store->accounts().create(u, examstore::Principal::system("bench"));

  std::vector<double> login_ms;
  for (std::int64_t i = 0; i < logins; ++i) {
    const auto t0 = bench::Clock::now();
    store->accounts().login(u.name, u.password, "192.0.2.1");
    login_ms.push_back(bench::seconds_since(t0) * 1e3);
  }
  const auto session = store->sessions().create(user.id, "192.0.2.1");
  std::vector<double> lookup_us;
  lookup_us.reserve(static_cast<std::size_t>(lookups));
  for (std::int64_t i = 0; i < lookups; ++i) {
    const auto t0 = bench::Clock::now();
    bench::check(store->sessions().lookup(session.token).has_value(), "session lost");
    lookup_us.push_back(bench::seconds_since(t0) * 1e6);
  }
  store->sessions().invalidate_user(user.id);

  bench::JsonLine()
      .add("scenario", "sessions")
      .add("hot_tier", redis.empty() ? "memory" : "redis")
      .add("opslimit", static_cast<std::int64_t>(c.security.passwords.opslimit))
      .add("memlimit", static_cast<std::int64_t>(c.security.passwords.memlimit))
      .add("login_ms_p50", percentile(login_ms, 0.5))
      .add("login_ms_p99", percentile(login_ms, 0.99))
      .add("lookup_us_p50", percentile(lookup_us, 0.5))
      .add("lookup_us_p99", percentile(lookup_us, 0.99))
      .print();
  return 0;
}
