#include "support/tls_env.hpp"

#include "support/test_env.hpp"

namespace examstore::test {

std::string tls_dir() { return env_or_fail("EXAMSTORE_TEST_TLS_DIR"); }
std::string tls_file(const std::string& name) { return tls_dir() + "/" + name; }
std::string redis_tls_url() { return env_or_fail("EXAMSTORE_TEST_REDIS_TLS_URL"); }
std::string redis_mtls_url() { return env_or_fail("EXAMSTORE_TEST_REDIS_MTLS_URL"); }
std::string redis_tls_sentinel_url() {
  return env_or_fail("EXAMSTORE_TEST_REDIS_TLS_SENTINEL_URL");
}
std::string redis_tls_cluster_url() { return env_or_fail("EXAMSTORE_TEST_REDIS_TLS_CLUSTER_URL"); }
std::string pg_tls_url() { return env_or_fail("EXAMSTORE_TEST_PG_TLS_URL"); }

}  // namespace examstore::test
