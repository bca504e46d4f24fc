// tests/support/tls_env.hpp: the TLS servers of scripts/servers.sh, for
// tests/integration/tls_test.cpp.
//
// scripts/servers.sh makes a throwaway CA (and an unrelated second one), a server certificate
// for localhost and 127.0.0.1 and a client certificate under EXAMSTORE_TEST_TLS_DIR, and starts
// TLS-only servers with them: Redis with client certificates optional
// (EXAMSTORE_TEST_REDIS_TLS_URL) and required (EXAMSTORE_TEST_REDIS_MTLS_URL), a TLS Sentinel
// whose master "tlsmaster" is the first (EXAMSTORE_TEST_REDIS_TLS_SENTINEL_URL), a one-node TLS
// Redis Cluster (EXAMSTORE_TEST_REDIS_TLS_CLUSTER_URL), and a PostgreSQL with ssl=on that refuses
// unencrypted connections (EXAMSTORE_TEST_PG_TLS_URL, host localhost). The URLs carry no CA
// parameters: the tests add the ones each case needs. An unset variable fails the test.
#pragma once

#include <string>

namespace examstore::test {

/// The folder of ca.crt, other-ca.crt (a CA that signed nothing here), client.crt, client.key.
std::string tls_dir();
/// tls_dir() + "/" + name.
std::string tls_file(const std::string& name);
/// rediss:// URL of the TLS-only Redis (client certificates optional).
std::string redis_tls_url();
/// rediss:// URL of the TLS-only Redis that requires a client certificate.
std::string redis_mtls_url();
/// rediss-sentinel:// URL of the TLS Sentinel (master "tlsmaster").
std::string redis_tls_sentinel_url();
/// rediss-cluster:// URL of the one-node TLS Redis Cluster.
std::string redis_tls_cluster_url();
/// postgresql:// URL (host localhost, database postgres) of the TLS-only PostgreSQL.
std::string pg_tls_url();

}  // namespace examstore::test
