// examstore/config.hpp: everything needed to open a Store, built from URLs or the environment.
//
// The backends are chosen by URL:
//   hot tier:     memory://                                   (embedded default)
//                 redis://[[user]:password@]host[:port][/db]   (port 6379, db 0 by default)
//                 redis-sentinel://[[user]:password@]host[:port],host[:port],.../MASTER[?db=N]
//                     (the sentinels, port 26379 by default; the master is found through them)
//                 redis-cluster://[[user]:password@]host[:port],host[:port],...
//                     (some nodes of a Redis Cluster, port 6379 by default; db is always 0)
//                 rediss://, rediss-sentinel://, rediss-cluster://   the same over TLS, with
//                     ?ca_file=...&ca_dir=...&cert_file=...&key_file=...&server_name=...
//                     (see RedisTlsOptions; needs examstore built against hiredis >= 1.0)
//   durable tier: memory://                                   (embedded default)
//                 postgresql://user[:password]@host[:port]/dbname[?libpq-params]
//                     [&replica=host[:port]]...   (read replicas: see PostgresOptions::replicas)
//                 (postgres:// is accepted too; any libpq keyword/value string also works)
//
// Parsing is strict: a malformed URL or value throws examstore::Error with code
// kInvalidArgument whose message names the field and quotes the offending text. Passwords never
// appear in messages or in redacted() strings.
//
// Thread-safety: plain values; copy freely.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "examstore/logging.hpp"
#include "examstore/write_behind.hpp"

namespace examstore {

/// How the Redis hot tier is deployed.
enum class RedisTopology {
  kStandalone,  ///< one server at RedisOptions::host:port (the default)
  kSentinel,    ///< a master found through Sentinel: seeds are the sentinels
  kCluster,     ///< Redis Cluster: seeds are some of its nodes; keys are routed by hash slot
};

/// One server address.
struct RedisEndpoint {
  /// Host name or IPv4/IPv6 literal.
  std::string host;
  /// TCP port.
  int port = 0;
};

/// TLS for every connection the Redis hot tier makes: pooled command connections, pub/sub,
/// Sentinel queries (the sentinels too) and Cluster nodes. Set by the rediss:// schemes and their
/// query parameters (named as the fields), or in code. The server's certificate chain is checked
/// against the CA, and its subjectAltName against the name of the server (server_name, else the
/// host connected to), during the handshake. Needs examstore built against hiredis >= 1.0 with
/// hiredis_ssl; other builds refuse enabled = true with kInvalidArgument (docs/configuration.md).
struct RedisTlsOptions {
  /// Connect with TLS. Set by the rediss:// schemes. Default false: plain TCP.
  bool enabled = false;
  /// PEM file of the CA certificate(s) that sign the servers' certificates. Empty (the default),
  /// with ca_dir empty too: the system's default trust store.
  std::string ca_file;
  /// Folder of trusted CA certificates in OpenSSL's hashed layout (`openssl rehash`). Default
  /// empty: none.
  std::string ca_dir;
  /// PEM file of the client certificate (chain) presented to servers that ask for one
  /// (tls-auth-clients). Needs key_file. Default empty: no client certificate.
  std::string cert_file;
  /// PEM file of cert_file's private key, unencrypted (protect it by file permissions). Its path
  /// and contents never appear in messages. Default empty.
  std::string key_file;
  /// The name every server's certificate must carry (a DNS name or IP address in its
  /// subjectAltName), also sent as SNI. Default empty: the host each connection is made to (the
  /// URL's host, the master a sentinel names, a node CLUSTER SLOTS names).
  std::string server_name;
};

/// Options of the Redis hot tier.
struct RedisOptions {
  /// Standalone, Sentinel or Cluster. Default kStandalone.
  RedisTopology topology = RedisTopology::kStandalone;
  /// Host name or IPv4/IPv6 literal of a standalone server. Default "127.0.0.1". With Sentinel
  /// and Cluster, the address currently served (the master, or the first seed).
  std::string host = "127.0.0.1";
  /// TCP port of a standalone server. Default 6379.
  int port = 6379;
  /// Sentinel: the sentinels asked for the master (any reachable one answers). Cluster: the
  /// nodes asked for the slot map. Empty for a standalone server.
  std::vector<RedisEndpoint> seeds;
  /// Sentinel: the name of the monitored master ("mymaster"). Empty otherwise.
  std::string sentinel_master;
  /// Replicas that must confirm every write round trip of the hot tier (Redis WAIT, appended to
  /// it) before it is acknowledged; 0 (the default) acknowledges once the master has it. Redis
  /// replicates asynchronously: with 0, a failover can lose the last writes the old master had not
  /// yet sent (docs/redis-sentinel.md measures its cost). Not available with Redis Cluster
  /// (Store::open refuses it with kInvalidArgument naming redis.wait_replicas).
  int wait_replicas = 0;
  /// How long a write waits for wait_replicas confirmations before it fails with kUnavailable
  /// (the write is on the master, and not yet known to be on enough replicas). Default 100 ms.
  std::chrono::milliseconds wait_timeout{100};
  /// Logical database (SELECT). Default 0.
  int db = 0;
  /// ACL user name; empty means the default user.
  std::string user;
  /// Password sent with AUTH; empty means no AUTH.
  std::string password;
  /// Maximum pooled connections for commands (pub/sub uses one more of its own). Default 8.
  int pool_size = 8;
  /// Time allowed to establish a TCP connection. Default 1 s. Must be > 0.
  std::chrono::milliseconds connect_timeout{1000};
  /// Time allowed for one command's (or one batch's) reply. Default 2 s. Must be > 0.
  std::chrono::milliseconds command_timeout{2000};
  /// Time a caller waits for a free pooled connection before kResourceExhausted. Default 2 s.
  std::chrono::milliseconds pool_wait_timeout{2000};
  /// How long, in total, one hot-tier call rides through a failover or restart of Redis: a call
  /// that fails because the master is gone (refused, reset, READONLY, LOADING, MASTERDOWN,
  /// TRYAGAIN, CLUSTERDOWN, a command timeout) waits for the new master and is sent again until
  /// this much time has passed since it began, then throws the last error (retryable, as
  /// before). A call whose outcome is unknown (sent, then the connection died) is sent again
  /// only when it is idempotent (docs/errors.md#failover). Default 10 s, which covers Sentinel
  /// with down-after-milliseconds up to about 8 s and a Cluster with cluster-node-timeout up to
  /// about 8 s; 0 turns it off (the first failure is thrown at once). Must be >= 0.
  std::chrono::milliseconds failover_wait{10000};
  /// TLS (off by default). With TLS, connect_timeout also bounds the handshake.
  RedisTlsOptions tls;

  /// "host:port/db" (standalone), "sentinel h:p,h:p/master/db" or "cluster h:p,h:p", without
  /// credentials, for messages and health reports; "tls " in front when TLS is on.
  std::string redacted() const;
};

/// Options of the PostgreSQL durable tier.
struct PostgresOptions {
  /// A libpq connection string or URI, as given (may contain a password, an sslpassword and an
  /// sslkey path: never log it). TLS is libpq's: sslmode, sslrootcert, sslcert, sslkey, ... pass
  /// through unchanged (docs/configuration.md#tls).
  std::string conninfo;
  /// Maximum pooled connections. Default 4.
  int pool_size = 4;
  /// Time allowed to connect (libpq connect_timeout, rounded up to whole seconds, at least 2 s
  /// as libpq requires). Default 2 s.
  std::chrono::milliseconds connect_timeout{2000};
  /// Server-side statement_timeout set on every connection; 0 means none. Default 30 s.
  std::chrono::milliseconds statement_timeout{30000};
  /// Time a caller waits for a free pooled connection before kResourceExhausted. Default 5 s.
  std::chrono::milliseconds pool_wait_timeout{5000};
  /// How many times a transaction is attempted when it fails in a way that is safe to retry
  /// (connection lost before COMMIT, serialization failure, deadlock, a server that has become
  /// read-only). Default 3, minimum 1.
  int max_attempts = 3;
  /// How long, in total, one transaction rides through a failover or restart of the primary: a
  /// transaction that fails because the primary is gone (cannot connect, connection lost before
  /// COMMIT, a server that has turned read-only) is tried again on a fresh connection until this
  /// much time has passed since it began, then throws the last error (kUnavailable or kTimeout,
  /// retryable, as before). A write whose COMMIT was in flight when the connection died is never
  /// tried again: it throws kUnavailable with outcome_unknown() at once. With several hosts in
  /// the URL, libpq finds the new primary when target_session_attrs=read-write
  /// (docs/postgres-failover.md). Default 10 s; 0 turns it off (the first failure is thrown,
  /// after the max_attempts above). Must be >= 0. The write-behind queue does not use it: it
  /// retries failed batches with its own backoff.
  std::chrono::milliseconds failover_wait{10000};
  /// Streaming read replicas of the primary (libpq connection strings). Reads that tolerate lag
  /// (violation statistics and queries, exam events, question search: docs/postgres-replicas.md)
  /// go to a replica, taken in turn; empty (the default) sends every read to the primary. A read
  /// made after this process's own committed write still sees that write (see replica_wait). In
  /// a URL: `postgresql://user@primary:5432/db?replica=host2:5433&replica=host3` (port 5432 by
  /// default), each replica taking the primary's user, password, database and other parameters.
  /// A replica that is down or fails is skipped for 5 s; its reads go to the primary.
  std::vector<std::string> replicas;
  /// How long a replica read waits for the replica to replay this process's latest write before
  /// it reads the primary instead; 0 checks once without waiting. Default 50 ms.
  std::chrono::milliseconds replica_wait{50};

  /// "user@host:port/dbname" without the password, for messages and health reports.
  std::string redacted() const;
};

/// Thresholds of the presence state machine (see student_repo.hpp).
struct PresenceOptions {
  /// Silence after which an online student is declared missing. Default 90 s.
  std::chrono::seconds missing_after{90};
  /// Silence after which a missing student is declared offline. Default 300 s.
  std::chrono::seconds offline_after{300};
};

/// Attempts and answers (see attempts.hpp).
struct AttemptOptions {
  /// How long after a student's deadline a submission (or an autosave) is still accepted, for
  /// clocks and networks that lag. Default 60 s.
  std::chrono::seconds submit_grace{60};
  /// Largest answer autosave() accepts, in bytes of JSON. Default 65536.
  std::size_t max_answer_bytes = 65536;
  /// How long a finished attempt (submitted, graded, overdue or abandoned) stays in the hot tier
  /// after its last change; a later read reloads it from the database. An answered attempt costs
  /// about 10 KB of Redis memory (docs/scaling.md), so without this every exam's attempts would
  /// stay there for good. 0 keeps them. Default 1 h.
  std::chrono::seconds finished_ttl{3600};
};

/// Grading records (see grading.hpp). The defaults are the AI grading design's key prefixes and
/// TTLs (docs/grading.md). Prefixes: 1..32 letters, digits, '_' or '-'; they follow
/// Config::key_prefix in every key ("es:class:{c:7}").
struct GradingOptions {
  /// Classes and their member lists. Default "class", 1 h.
  std::string class_prefix = "class";
  std::chrono::seconds class_ttl{3600};
  /// Assignments. Default "assignment", 1 h.
  std::string assignment_prefix = "assignment";
  std::chrono::seconds assignment_ttl{3600};
  /// A task's current results. Default "grading", 24 h.
  std::string result_prefix = "grading";
  std::chrono::seconds result_ttl{86400};
  /// Statistics. Default "analytics", 5 min: a cached statistic may be this old.
  std::string analytics_prefix = "analytics";
  std::chrono::seconds analytics_ttl{300};
  /// Rankings (sorted sets). Kept up to date by completions; the TTL only bounds the memory of
  /// rankings nobody reads. Default "ranking", 24 h.
  std::string ranking_prefix = "ranking";
  std::chrono::seconds ranking_ttl{86400};
  /// Tries a task gets per run before it fails (an expired lease counts). 1..100, default 3.
  int max_tries = 3;
  /// How long a task given back by fail() waits before it can be claimed again. Default 30 s.
  std::chrono::seconds retry_backoff{30};
  /// Grade levels by minimum percentage, highest first; the first whose minimum the percentage
  /// reaches is given. Default A 90, B 80, C 70, D 60, F 0.
  std::vector<std::pair<double, std::string>> grade_levels = {
      {90, "A"}, {80, "B"}, {70, "C"}, {60, "D"}, {0, "F"}};
};

/// Argon2id work factors of password hashes (libsodium crypto_pwhash_str, see accounts.hpp).
struct PasswordOptions {
  /// Passes over memory. Default 2 (libsodium's OPSLIMIT_INTERACTIVE); at least 1.
  std::uint64_t opslimit = 2;
  /// Memory per hash in bytes. Default 64 MiB (MEMLIMIT_INTERACTIVE); at least 8 KiB.
  std::size_t memlimit = 64u << 20u;
  /// Shortest password accepted, in bytes. Default 10.
  std::size_t min_length = 10;
};

/// Throttling of failed logins (Redis counters; see accounts.hpp).
struct LoginThrottleOptions {
  /// Failures of one user within `window` after which that user's logins are refused. Default 5.
  int max_failures_per_user = 5;
  /// Failures from one IP within `window` after which logins from it are refused. Default 50.
  int max_failures_per_ip = 50;
  /// The counting window. Default 15 min.
  std::chrono::seconds window{900};
  /// How long logins stay refused once a limit is hit. Default 15 min.
  std::chrono::seconds lockout{900};
};

/// Sessions (see accounts.hpp).
struct SessionOptions {
  /// Lifetime of a session without activity. Default 30 min.
  std::chrono::seconds ttl{1800};
  /// Whether each lookup renews the session for `ttl`. Default true.
  bool sliding = true;
  /// The longest extend() may ask for. Default 12 h.
  std::chrono::seconds max_ttl{43200};
  /// Live sessions a user may hold; the oldest is ended when a new one would exceed it.
  /// Default 5.
  int max_per_user = 5;
};

/// A key that seals personal data: 32 random bytes and a short id stored with each value.
struct DataKey {
  std::string id;   ///< 1..16 characters of [A-Za-z0-9_-]
  std::string key;  ///< exactly 32 bytes (raw, not encoded)
};

/// Keys of personal data at rest (see personal_data.hpp). Never logged.
struct PersonalDataOptions {
  /// Every key that may have sealed a stored value; the active one seals new values.
  std::vector<DataKey> keys;
  /// The id of the key that seals new values; empty: the last of `keys`.
  std::string active_key;
  /// 32 bytes keying the email blind index. Changing it makes find_by_email miss until
  /// rotate_keys() has run. Empty: derived from the active key (not recommended: set both).
  std::string blind_index_key;
};

/// Accounts, sessions and personal data.
struct SecurityOptions {
  PasswordOptions passwords;
  LoginThrottleOptions login;
  SessionOptions sessions;
  PersonalDataOptions personal_data;
};

/// Which implementation serves a tier.
enum class BackendKind { kMemory, kRedis, kPostgres };

/// Everything Store::open needs.
struct Config {
  /// The hot tier: kMemory or kRedis. Default kMemory.
  BackendKind cache_backend = BackendKind::kMemory;
  /// Used when cache_backend is kRedis.
  RedisOptions redis;
  /// The durable tier: kMemory or kPostgres. Default kMemory.
  BackendKind database_backend = BackendKind::kMemory;
  /// Used when database_backend is kPostgres.
  PostgresOptions postgres;
  /// Default time to live of cache entries filled from the database. Default 10 min.
  std::chrono::seconds cache_ttl{600};
  /// Random extra TTL, as a fraction of cache_ttl, so entries filled together do not expire
  /// together. Default 0.1 (up to +10 %). Must be in [0, 1].
  double cache_ttl_jitter = 0.1;

  /// How long an "absent" marker for an id that does not exist stays cached. Default 30 s.
  std::chrono::seconds negative_ttl{30};
  /// How long an in-process near cache may serve an exam before asking the hot tier again; also
  /// dropped at once by invalidation messages. Zero (the default) disables the near cache.
  std::chrono::milliseconds near_cache_ttl{0};
  /// Whether PaperStore serves reads from its in-process near cache, which the edit broadcast
  /// invalidates and which expires after near_cache_ttl (1 s when that is zero). Default true.
  /// False sends every read to the hot tier (one round trip for PaperStore::at), for
  /// measurements or where a lost broadcast must not leave a process a second behind.
  bool paper_near_cache = true;
  /// Presence thresholds.
  PresenceOptions presence;
  /// The write-behind queue (batching, bounds, retries, journal).
  WriteBehindOptions write_behind;
  /// Attempts and answers.
  AttemptOptions attempts;
  /// Grading records: cache prefixes and TTLs, tries, grade levels.
  GradingOptions grading;
  /// Passwords, login throttling, sessions and the keys of personal data.
  SecurityOptions security;
  /// Prepended (with ':') to every Redis key and channel the repositories use, so several
  /// databases or deployments can share one Redis. Letters, digits, '_', '-', '.'; at most 32.
  /// Default "es". Keep it stable: changing it orphans the hot state of running exams.
  std::string key_prefix = "es";
  /// Apply pending schema migrations when the Store opens (before the write-behind journal is
  /// replayed into the database). Default false: migrate explicitly (examstore migrate up).
  bool migrate_on_open = false;
  /// Receives the library's log messages (see logging.hpp). Empty (the default): silent.
  LogSink log_sink;
  /// Messages below this level are neither formatted nor sent. Default kInfo.
  LogLevel log_level = LogLevel::kInfo;

  /// Sets the hot tier from "memory://" or a redis:// URL. The URL replaces the address,
  /// credentials and TLS options; pool sizes and timeouts already set are kept. Throws
  /// Error(kInvalidArgument) naming "redis_url" and the text when the URL is malformed.
  Config& with_redis_url(std::string_view url);
  /// Sets the durable tier from "memory://" or a postgresql:// URL (or libpq key=value string).
  /// Throws Error(kInvalidArgument) naming "database_url" when malformed.
  Config& with_database_url(std::string_view url);

  /// Builds a Config from the environment. Unset variables keep their defaults:
  ///   EXAMSTORE_REDIS_URL, EXAMSTORE_DATABASE_URL          backends (default memory://)
  ///   EXAMSTORE_REDIS_POOL_SIZE, EXAMSTORE_DB_POOL_SIZE     positive integers
  ///   EXAMSTORE_CONNECT_TIMEOUT_MS, EXAMSTORE_COMMAND_TIMEOUT_MS   positive integers (ms)
  ///   EXAMSTORE_DB_FAILOVER_WAIT_MS                         postgres.failover_wait, 0..3600000
  ///   EXAMSTORE_CACHE_TTL_S                                 positive integer (seconds)
  ///   EXAMSTORE_JOURNAL_DIR                                 write_behind.journal_dir
  ///   EXAMSTORE_JOURNAL_ROOT                                write_behind.journal_root
  ///   EXAMSTORE_KEY_PREFIX                                  key_prefix
  ///   EXAMSTORE_DATA_KEYS          "id:base64key,id2:base64key" (security.personal_data.keys)
  ///   EXAMSTORE_DATA_KEY_ACTIVE    security.personal_data.active_key
  ///   EXAMSTORE_BLIND_INDEX_KEY    base64 of 32 bytes (security.personal_data.blind_index_key)
  /// Throws Error(kInvalidArgument) naming the variable and its text when one is malformed.
  static Config from_env();
};

/// Parses a redis:// (or rediss://) URL into options (pool sizes and timeouts keep their
/// defaults). Throws Error(kInvalidArgument) naming `field` and quoting the text (password and
/// key_file masked) when malformed, and for a TLS URL when this build has no Redis TLS.
RedisOptions parse_redis_url(std::string_view url, std::string_view field = "redis_url");

/// Checks a postgresql:// URL (or key=value conninfo) and wraps it in options; `replica=`
/// parameters of a URL become PostgresOptions::replicas and are removed from conninfo; every
/// other parameter (sslmode, sslrootcert, ...) is kept as given. Throws Error(kInvalidArgument)
/// naming `field` when malformed (an unknown sslmode too), with the password, sslpassword and
/// sslkey shown as ***.
PostgresOptions parse_postgres_url(std::string_view url, std::string_view field = "database_url");

}  // namespace examstore
