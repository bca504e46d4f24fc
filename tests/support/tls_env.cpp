#include "support/tls_env.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>

namespace examstore::test {
namespace {

std::string tls_var(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') {
    FAIL(name << " is not set: the TLS tests need the TLS servers of scripts/servers.sh "
                 "(eval \"$(scripts/servers.sh env)\")");
  }
  return v;
}

}  // namespace

std::string tls_dir() { return tls_var("EXAMSTORE_TEST_TLS_DIR"); }
std::string tls_file(const std::string& name) { return tls_dir() + "/" + name; }
std::string redis_tls_url() { return tls_var("EXAMSTORE_TEST_REDIS_TLS_URL"); }
std::string redis_mtls_url() { return tls_var("EXAMSTORE_TEST_REDIS_MTLS_URL"); }
std::string redis_tls_sentinel_url() { return tls_var("EXAMSTORE_TEST_REDIS_TLS_SENTINEL_URL"); }
std::string redis_tls_cluster_url() { return tls_var("EXAMSTORE_TEST_REDIS_TLS_CLUSTER_URL"); }
std::string pg_tls_url() { return tls_var("EXAMSTORE_TEST_PG_TLS_URL"); }

}  // namespace examstore::test
