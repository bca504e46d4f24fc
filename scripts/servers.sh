#!/usr/bin/env bash
# scripts/servers.sh start|stop|status|env: a throwaway Redis and PostgreSQL 15 on loopback for
# the tests and benchmarks.
#
#   start   wipe the previous state, start both servers, wait until they answer (fails loudly,
#           with the tail of the server's log, if one does not come up); the TLS servers (a
#           throwaway CA and certificates made with openssl under <state folder>/tls, two
#           TLS-only Redis, a TLS Sentinel and a one-node TLS Redis Cluster, and a PostgreSQL
#           with ssl=on that refuses unencrypted connections); then the scale-out
#           topology beside them (unless EXAMSTORE_TOPOLOGY=off), ready in about 10 s:
#             - a Redis Sentinel group: master, 2 replicas, 3 sentinels (master "mymaster")
#             - a Redis Cluster of 3 masters with one replica each
#             - a PostgreSQL streaming replica of the primary (pg_basebackup -R)
#   stop    stop the servers this script recorded (never anything else)
#   status  print their state; exit status 0 only when all of them answer
#   env     print `export EXAMSTORE_TEST_REDIS_URL=...`, `EXAMSTORE_TEST_DATABASE_URL=...` and,
#           with the topology, EXAMSTORE_TEST_SENTINEL_URL, EXAMSTORE_TEST_CLUSTER_URL and
#           EXAMSTORE_TEST_REPLICA_DATABASE_URL, for `eval "$(scripts/servers.sh env)"`; and the
#           TLS servers' EXAMSTORE_TEST_REDIS_TLS_URL, _REDIS_MTLS_URL, _REDIS_TLS_SENTINEL_URL,
#           _REDIS_TLS_CLUSTER_URL, _PG_TLS_URL (without CA parameters) and EXAMSTORE_TEST_TLS_DIR
#           (ca.crt, other-ca.crt: an unrelated CA, client.crt, client.key)
#
# Environment:
#   EXAMSTORE_SERVERS_DIR       state folder (default /tmp/examstore-servers-$UID); its parents
#                               must be traversable by the `postgres` OS user when run as root
#   EXAMSTORE_TEST_REDIS_PORT   Redis port (default 6390)
#   EXAMSTORE_TEST_PG_PORT      PostgreSQL port (default 5440)
#   EXAMSTORE_TOPOLOGY          on (default) | off: also start the Sentinel group, the Cluster
#                               and the PostgreSQL replica
#   EXAMSTORE_TEST_TOPO_PORT    first port of the Redis topology (default 6400): Sentinel-group
#                               data nodes at +0..+2, sentinels at +3..+5, Cluster nodes at
#                               +10..+15 (and their cluster bus ports, +10000)
#   EXAMSTORE_TEST_PG_REPLICA_PORT  the PostgreSQL replica's port (default PG port + 1)
#   EXAMSTORE_TEST_REDIS_TLS_PORT   first TLS Redis port (default Redis port + 3): TLS-only Redis
#                               with client certificates optional at +0, required at +1, a TLS
#                               Sentinel (master "tlsmaster": the +0 server) at +2, a one-node
#                               TLS Redis Cluster at +3 (and its bus port, +10003)
#   EXAMSTORE_TEST_PG_TLS_PORT  the TLS PostgreSQL's port (default PG port + 2)
#   PG_FSYNC                    on (default) | off: PostgreSQL's fsync (off is faster, for tests)
#   PGBIN                       folder of initdb/pg_ctl (default /usr/lib/postgresql/15/bin,
#                               else `pg_config --bindir`)
#
# Every start wipes and re-creates the state, so it is safe to run twice in a row and after a
# previous run was killed (kill -9, stale pid files, zombies). initdb refuses to run as root: as
# root, initdb and pg_ctl run as the `postgres` OS user (created by Debian's postgresql-common).
# PostgreSQL trusts every connection, and listens on 127.0.0.1 only.
#
# TLS: a separate PostgreSQL (a copy of the primary's fresh data folder, so no second initdb)
# rather than ssl=on on the primary: libpq's default sslmode=prefer would otherwise encrypt every
# other test's connections and change what the benchmarks measure. The server certificate names
# localhost and 127.0.0.1; every certificate is an ECDSA P-256 one, made in milliseconds.
set -euo pipefail

BASE=${EXAMSTORE_SERVERS_DIR:-/tmp/examstore-servers-$(id -u)}
REDIS_PORT=${EXAMSTORE_TEST_REDIS_PORT:-6390}
PG_PORT=${EXAMSTORE_TEST_PG_PORT:-5440}
PG_FSYNC=${PG_FSYNC:-on}
TOPOLOGY=${EXAMSTORE_TOPOLOGY:-on}
TOPO_PORT=${EXAMSTORE_TEST_TOPO_PORT:-6400}
PG_REPLICA_PORT=${EXAMSTORE_TEST_PG_REPLICA_PORT:-$((PG_PORT + 1))}
REDIS_TLS_PORT=${EXAMSTORE_TEST_REDIS_TLS_PORT:-$((REDIS_PORT + 3))}
REDIS_MTLS_PORT=$((REDIS_TLS_PORT + 1))
REDIS_TLS_SENTINEL_PORT=$((REDIS_TLS_PORT + 2))
REDIS_TLS_CLUSTER_PORT=$((REDIS_TLS_PORT + 3))
PG_TLS_PORT=${EXAMSTORE_TEST_PG_TLS_PORT:-$((PG_PORT + 2))}
SENTINEL_DATA_PORTS="$TOPO_PORT $((TOPO_PORT + 1)) $((TOPO_PORT + 2))"
SENTINEL_PORTS="$((TOPO_PORT + 3)) $((TOPO_PORT + 4)) $((TOPO_PORT + 5))"
CLUSTER_PORTS=$(seq -s ' ' $((TOPO_PORT + 10)) $((TOPO_PORT + 15)))
PGUSER_OS=postgres
RD=$BASE/redis
PGDIR=$BASE/pg
PGD=$PGDIR/data
PGR=$PGDIR/replica
TOPO=$BASE/topology
SOCK=$PGDIR/sock
TLSD=$BASE/tls
PGT=$PGDIR/tls

die() { echo "servers.sh: $*" >&2; exit 1; }
log_tail() {  # FILE: the last lines of a log, indented, on stderr
  if [ -s "$1" ]; then echo "---- last lines of $1:" >&2; tail -n 25 "$1" | sed 's/^/  /' >&2
  else echo "---- $1 is empty or missing" >&2; fi
}

find_pgbin() {
  local d
  for d in "${PGBIN:-}" /usr/lib/postgresql/15/bin "$(pg_config --bindir 2>/dev/null || true)"; do
    if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  return 1
}

is_root() { [ "$(id -u)" = 0 ]; }
# as_pg CMD...: run as the postgres OS user when root (from a folder it can enter)
as_pg() {
  if is_root; then (cd "$PGDIR" && runuser -u "$PGUSER_OS" -- "$@"); else "$@"; fi
}

# alive PID: running and not a zombie (a slow-reaping PID 1 leaves zombies around for a while,
# and a plain `kill -0` says they are alive)
alive() {
  local st
  st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]
}
# kill_pidfile FILE COMM: TERM (KILL after 10 s) the PID recorded in FILE if it is still a COMM
kill_pidfile() {
  local f=$1 comm=$2 pid
  [ -s "$f" ] || { rm -f "$f"; return 0; }
  pid=$(head -n1 "$f" | tr -dc 0-9)
  if [ -n "$pid" ] && alive "$pid" && grep -q "^$comm" "/proc/$pid/comm" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
    fi
    alive "$pid" && die "could not stop $comm (pid $pid, from $f)"
  fi
  rm -f "$f"
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port_free() {  # PORT NAME
  for _ in $(seq 100); do port_free "$1" && return 0; sleep 0.1; done
  die "port $1 (for $2) is still in use by a process this script did not start; set" \
      "EXAMSTORE_TEST_REDIS_PORT / EXAMSTORE_TEST_PG_PORT to free ports"
}

redis_ping() { timeout 5 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null || true; }
pg_ready() { timeout 5 "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres 2>/dev/null; }

do_stop() {
  [ -d "$BASE" ] || return 0
  if [ -s "$PGD/postmaster.pid" ]; then  # graceful first, then by the recorded PID
    if [ -n "$PGBIN" ]; then
      as_pg timeout 30 "$PGBIN/pg_ctl" -D "$PGD" -m fast -w -t 20 stop >/dev/null 2>&1 || true
    fi
    kill_pidfile "$PGD/postmaster.pid" postgres
  fi
  kill_pidfile "$RD/redis.pid" redis-server
  tls_stop
  topology_stop
}

# ---------------------------------------------------------------- TLS servers
# cert NAME CN EXT: an ECDSA key and a certificate signed by the test CA (EXT: x509 extensions,
# newline-separated); one openssl run (OpenSSL 3's req -CA)
cert() {
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$TLSD/$1.key" -out "$TLSD/$1.crt" -days 30 -subj "/CN=$2" \
    -CA "$TLSD/ca.crt" -CAkey "$TLSD/ca.key" -config <(printf '%s\n' "[req]" \
      "distinguished_name=dn" "x509_extensions=ext" "[dn]" "[ext]" \
      "basicConstraints=critical,CA:FALSE" "$3") 2>"$TLSD/$1.log"
}
# ca NAME CN: a self-signed CA
ca() {
  openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -keyout "$TLSD/$1.key" -out "$TLSD/$1.crt" -days 30 -subj "/CN=$2" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    2>"$TLSD/$1.log"
}
tls_certs() {
  rm -rf "$TLSD"
  mkdir -p "$TLSD"
  ca ca "examstore test CA" && ca other-ca "an unrelated CA" &&
    # Redis servers also present it as a client (Sentinel to master): both purposes
    cert server localhost "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth,clientAuth" &&
    cert client examstore-test-client "extendedKeyUsage=clientAuth" ||
    { cat "$TLSD"/*.log >&2; echo "servers.sh: openssl could not make the test certificates in $TLSD" >&2; return 1; }
  chmod 600 "$TLSD"/*.key
  chmod 755 "$TLSD"
  chmod 644 "$TLSD"/*.crt
}
tls_cli() {  # PORT ARGS...: redis-cli over TLS with the client certificate
  local p=$1
  shift
  timeout 5 redis-cli --tls --cacert "$TLSD/ca.crt" --cert "$TLSD/client.crt" \
    --key "$TLSD/client.key" -h 127.0.0.1 -p "$p" "$@" 2>/dev/null
}
listening() { ! port_free "$1"; }
# tls_node DIR PORT AUTH_CLIENTS [redis-server args...]: a daemonized TLS-only redis-server
tls_node() {
  local d=$1 p=$2 auth=$3
  shift 3
  mkdir -p "$d"
  redis-server --bind 127.0.0.1 --port 0 --tls-port "$p" --tls-cert-file "$TLSD/server.crt" \
    --tls-key-file "$TLSD/server.key" --tls-ca-cert-file "$TLSD/ca.crt" \
    --tls-auth-clients "$auth" --dir "$d" --save '' --appendonly no --daemonize yes \
    --pidfile "$d/redis.pid" --logfile "$d/redis.log" "$@" \
    >"$d/launch.log" 2>&1 9>&- || { cat "$d/launch.log" >&2; log_tail "$d/redis.log"; return 1; }
}
tls_cluster_slots() {  # the node has every slot (its state turns ok 2 s after it started)
  tls_cli "$REDIS_TLS_CLUSTER_PORT" cluster info | tr -d '\r' |
    grep -q '^cluster_slots_assigned:16384'
}
pg_tls_ready() {
  timeout 5 "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_TLS_PORT" -U postgres 2>/dev/null
}
# tls_launch_redis: the certificates, then the TLS Redis servers (the cluster node first: a
# one-node cluster turns ok only 2 s after it started, Redis's writable delay); waits for nothing.
# Runs while initdb runs.
tls_launch_redis() {
  local p s
  for p in $REDIS_TLS_PORT $REDIS_MTLS_PORT $REDIS_TLS_SENTINEL_PORT $REDIS_TLS_CLUSTER_PORT \
    $((REDIS_TLS_CLUSTER_PORT + 10000)); do
    wait_port_free "$p" "the TLS servers (set EXAMSTORE_TEST_REDIS_TLS_PORT)"
  done
  tls_certs || return 1
  tls_node "$TLSD/redis-$REDIS_TLS_CLUSTER_PORT" "$REDIS_TLS_CLUSTER_PORT" optional \
    --tls-cluster yes --cluster-enabled yes --cluster-config-file nodes.conf \
    --cluster-node-timeout 500 || return 1
  tls_node "$TLSD/redis-$REDIS_TLS_PORT" "$REDIS_TLS_PORT" optional || return 1
  tls_node "$TLSD/redis-$REDIS_MTLS_PORT" "$REDIS_MTLS_PORT" yes || return 1
  s=$TLSD/sentinel-$REDIS_TLS_SENTINEL_PORT
  mkdir -p "$s"
  {
    echo "bind 127.0.0.1"
    echo "port 0"
    echo "tls-port $REDIS_TLS_SENTINEL_PORT"
    echo "tls-cert-file $TLSD/server.crt"
    echo "tls-key-file $TLSD/server.key"
    echo "tls-ca-cert-file $TLSD/ca.crt"
    echo "tls-auth-clients optional"
    echo "tls-replication yes"
    echo "daemonize yes"
    echo "pidfile $s/redis.pid"
    echo "logfile $s/redis.log"
    echo "dir $s"
    echo "sentinel monitor tlsmaster 127.0.0.1 $REDIS_TLS_PORT 1"
    echo "sentinel down-after-milliseconds tlsmaster 60000"
  } >"$s/sentinel.conf"
  redis-server "$s/sentinel.conf" --sentinel >/dev/null 2>&1 9>&- ||
    { log_tail "$s/redis.log"; return 1; }
}
# tls_launch_pg: after initdb, before the primary starts: a copy of its fresh data folder with
# ssl=on and hostssl-only pg_hba.conf; waits for nothing
tls_launch_pg() {
  wait_port_free "$PG_TLS_PORT" "the TLS PostgreSQL (set EXAMSTORE_TEST_PG_TLS_PORT)"
  cp -a "$PGD" "$PGT" || return 1
  cp "$TLSD/server.crt" "$TLSD/server.key" "$TLSD/ca.crt" "$PGT/"
  printf '%s\n' "local all all trust" "hostssl all all 127.0.0.1/32 trust" \
    "hostssl all all ::1/128 trust" >"$PGT/pg_hba.conf"
  if is_root; then
    chown "$PGUSER_OS": "$PGT/server.crt" "$PGT/server.key" "$PGT/ca.crt" "$PGT/pg_hba.conf"
  fi
  as_pg timeout 60 "$PGBIN/pg_ctl" -D "$PGT" -l "$PGDIR/pg-tls.log" -W start -o \
    "-p $PG_TLS_PORT -k $SOCK -c listen_addresses=127.0.0.1 -c fsync=$PG_FSYNC -c max_connections=50 -c ssl=on -c ssl_cert_file=$PGT/server.crt -c ssl_key_file=$PGT/server.key -c ssl_ca_file=$PGT/ca.crt" \
    >"$PGDIR/pg-tls-ctl.log" 2>&1 9>&- || { cat "$PGDIR/pg-tls-ctl.log" >&2; return 1; }
}
# tls_wait: bounded waits until the TLS servers listen (a TLS redis-server that cannot load its
# certificates exits) and the PostgreSQL answers; the cluster node gets every slot. It turns ok
# about 2 s after it started: tests/integration/tls_test.cpp waits for that, not this script.
tls_wait() {
  local p
  for p in $REDIS_TLS_CLUSTER_PORT $REDIS_TLS_PORT $REDIS_MTLS_PORT; do
    topo_wait 10 "TLS Redis on port $p" listening "$p" ||
      { log_tail "$TLSD/redis-$p/redis.log"; return 1; }
  done
  topo_wait 10 "the TLS sentinel" listening "$REDIS_TLS_SENTINEL_PORT" ||
    { log_tail "$TLSD/sentinel-$REDIS_TLS_SENTINEL_PORT/redis.log"; return 1; }
  tls_cli "$REDIS_TLS_CLUSTER_PORT" cluster addslotsrange 0 16383 >/dev/null || {
    echo "servers.sh: CLUSTER ADDSLOTSRANGE failed on TLS port $REDIS_TLS_CLUSTER_PORT" >&2
    return 1
  }
  topo_wait 10 "the TLS PostgreSQL" pg_tls_ready || { log_tail "$PGDIR/pg-tls.log"; return 1; }
}
tls_stop() {
  stop_pg_now "$PGT"
  stop_redis_in "$TLSD"
}
tls_status() {
  local rc=0 line="" p
  for p in $REDIS_TLS_PORT $REDIS_MTLS_PORT $REDIS_TLS_SENTINEL_PORT; do
    if listening "$p"; then line="$line $p:up"; else line="$line $p:down"; rc=1; fi
  done
  if tls_cluster_slots; then line="$line cluster $REDIS_TLS_CLUSTER_PORT:up"
  else line="$line cluster $REDIS_TLS_CLUSTER_PORT:down"; rc=1; fi
  echo "redis tls:$line  (folder $TLSD)"
  if [ -n "$PGBIN" ] && pg_tls_ready; then
    echo "pg tls: ready  127.0.0.1:$PG_TLS_PORT  log $PGDIR/pg-tls.log"
  else
    echo "pg tls: down  127.0.0.1:$PG_TLS_PORT  log $PGDIR/pg-tls.log"
    rc=1
  fi
  return "$rc"
}

# ---------------------------------------------------------------- scale-out topology
topo_ping() { timeout 5 redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null || true; }
# topo_wait SECONDS WHAT CMD...: bounded wait until CMD succeeds
topo_wait() {
  local n=$(($1 * 10)) what=$2
  shift 2
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "servers.sh: timed out waiting for $what" >&2
  return 1
}
pong() { [ "$(topo_ping "$1")" = PONG ]; }
# topo_node DIR PORT [redis-server args...]: a daemonized redis-server with its PID in DIR
topo_node() {
  local d=$1 p=$2
  shift 2
  mkdir -p "$d"
  redis-server --bind 127.0.0.1 --port "$p" --dir "$d" --save '' --appendonly no \
    --daemonize yes --pidfile "$d/redis.pid" --logfile "$d/redis.log" "$@" \
    >"$d/launch.log" 2>&1 9>&- || { cat "$d/launch.log" >&2; log_tail "$d/redis.log"; return 1; }
  topo_wait 10 "Redis on port $p" pong "$p" || { log_tail "$d/redis.log"; return 1; }
}
replica_linked() {
  redis-cli -p "$1" info replication | tr -d '\r' | grep -q '^master_link_status:up'
}
sentinel_ready() {  # this sentinel knows both replicas and the 2 other sentinels
  [ "$(redis-cli -p "$1" sentinel replicas mymaster 2>/dev/null | grep -c '^name$')" = 2 ] &&
    [ "$(redis-cli -p "$1" sentinel sentinels mymaster 2>/dev/null | grep -c '^name$')" = 2 ]
}
cluster_complete() {  # the node sees 3 replicas, and the cluster is ok
  [ "$(redis-cli -p "$1" cluster nodes | grep -c 'slave')" = 3 ] &&
    redis-cli -p "$1" cluster info | tr -d '\r' | grep -q '^cluster_state:ok'
}
pg_replica_streaming() {
  [ "$(timeout 5 psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -Atqc \
    "select count(*) from pg_stat_replication where state = 'streaming'" 2>/dev/null)" = 1 ]
}

topology_start() {
  local p m nodes=""
  rm -rf "$TOPO" "$PGR"
  mkdir -p "$TOPO"
  for p in $SENTINEL_DATA_PORTS $SENTINEL_PORTS $CLUSTER_PORTS $PG_REPLICA_PORT; do
    wait_port_free "$p" "the scale-out topology (set EXAMSTORE_TEST_TOPO_PORT)"
  done
  # --- Sentinel group: a master, 2 replicas, 3 sentinels (quorum 2)
  # shellcheck disable=SC2086
  set -- $SENTINEL_DATA_PORTS
  m=$1
  topo_node "$TOPO/s-data-$1" "$1" || return 1
  topo_node "$TOPO/s-data-$2" "$2" --replicaof 127.0.0.1 "$m" || return 1
  topo_node "$TOPO/s-data-$3" "$3" --replicaof 127.0.0.1 "$m" || return 1
  for p in $SENTINEL_PORTS; do
    mkdir -p "$TOPO/sentinel-$p"
    {
      echo "bind 127.0.0.1"
      echo "port $p"
      echo "daemonize yes"
      echo "pidfile $TOPO/sentinel-$p/redis.pid"
      echo "logfile $TOPO/sentinel-$p/redis.log"
      echo "dir $TOPO/sentinel-$p"
      echo "sentinel monitor mymaster 127.0.0.1 $m 2"
      echo "sentinel down-after-milliseconds mymaster 1000"
      echo "sentinel failover-timeout mymaster 5000"
      echo "sentinel parallel-syncs mymaster 1"
    } >"$TOPO/sentinel-$p/sentinel.conf"   # sentinel rewrites it: must be writable
    redis-server "$TOPO/sentinel-$p/sentinel.conf" --sentinel >/dev/null 2>&1 9>&- ||
      { log_tail "$TOPO/sentinel-$p/redis.log"; return 1; }
  done
  # --- Cluster: 3 masters with one replica each
  for p in $CLUSTER_PORTS; do
    topo_node "$TOPO/c-$p" "$p" --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout 2000 || return 1
    nodes="$nodes 127.0.0.1:$p"
  done
  # shellcheck disable=SC2086
  redis-cli --cluster create $nodes --cluster-replicas 1 --cluster-yes \
    >"$TOPO/cluster-create.log" 2>&1 || { cat "$TOPO/cluster-create.log" >&2; return 1; }
  # --- PostgreSQL streaming replica of the primary
  mkdir -p "$PGR"
  if is_root; then chown "$PGUSER_OS": "$PGR"; fi
  as_pg timeout 120 "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U postgres \
    -D "$PGR/data" -R -X stream --no-sync >"$PGR/basebackup.log" 2>&1 ||
    { log_tail "$PGR/basebackup.log"; return 1; }
  as_pg timeout 60 "$PGBIN/pg_ctl" -D "$PGR/data" -l "$PGR/pg.log" -w -t 30 start -o \
    "-p $PG_REPLICA_PORT -k $SOCK -c listen_addresses=127.0.0.1 -c fsync=$PG_FSYNC -c max_connections=200" \
    >"$PGR/pg_ctl.log" 2>&1 9>&- || { cat "$PGR/pg_ctl.log" >&2; log_tail "$PGR/pg.log"; return 1; }
  # --- bounded waits: replicas linked, sentinels see the group, cluster complete, replica streaming
  # shellcheck disable=SC2086
  set -- $SENTINEL_DATA_PORTS
  topo_wait 30 "Sentinel-group replica $2" replica_linked "$2" || return 1
  topo_wait 30 "Sentinel-group replica $3" replica_linked "$3" || return 1
  for p in $SENTINEL_PORTS; do
    topo_wait 30 "sentinel $p to see the group" sentinel_ready "$p" || return 1
  done
  for p in $CLUSTER_PORTS; do
    topo_wait 30 "cluster node $p to see the whole cluster" cluster_complete "$p" || return 1
  done
  topo_wait 30 "the PostgreSQL replica to stream" pg_replica_streaming ||
    { log_tail "$PGR/pg.log"; return 1; }
}

# stop_pg_now DATA: an immediate stop of the PostgreSQL in DATA, then by its recorded PID
stop_pg_now() {
  [ -s "$1/postmaster.pid" ] || return 0
  if [ -n "$PGBIN" ]; then
    as_pg timeout 30 "$PGBIN/pg_ctl" -D "$1" -m immediate -w -t 20 stop >/dev/null 2>&1 || true
  fi
  kill_pidfile "$1/postmaster.pid" postgres
}
# stop_redis_in DIR: every redis-server (sentinels too) recorded in DIR/*/redis.pid
stop_redis_in() {
  local f
  [ -d "$1" ] || return 0
  for f in "$1"/*/redis.pid; do
    if [ -e "$f" ]; then kill_pidfile "$f" redis-; fi
  done
}
topology_stop() {
  stop_pg_now "$PGR/data"
  stop_redis_in "$TOPO"
}

topology_status() {
  local rc=0 p line=""
  for p in $SENTINEL_DATA_PORTS $SENTINEL_PORTS $CLUSTER_PORTS; do
    if pong "$p"; then line="$line $p:up"; else line="$line $p:down"; rc=1; fi
  done
  echo "redis topology:$line  (folder $TOPO)"
  if [ -n "$PGBIN" ] &&
    timeout 5 "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_REPLICA_PORT" -U postgres; then
    echo "pg replica: ready  127.0.0.1:$PG_REPLICA_PORT  log $PGR/pg.log"
  else
    echo "pg replica: down  127.0.0.1:$PG_REPLICA_PORT  log $PGR/pg.log"
    rc=1
  fi
  return "$rc"
}

do_start() {
  command -v redis-server >/dev/null || die "redis-server not found: run scripts/deps.sh --servers"
  command -v redis-cli >/dev/null || die "redis-cli not found: run scripts/deps.sh --servers"
  command -v openssl >/dev/null || die "openssl not found: run scripts/deps.sh --servers"
  [ -n "$PGBIN" ] || die "PostgreSQL 15 binaries (initdb, pg_ctl) not found: run scripts/deps.sh --servers"
  if is_root; then
    getent passwd "$PGUSER_OS" >/dev/null \
      || die "no '$PGUSER_OS' OS user (root cannot run initdb): run scripts/deps.sh --servers"
  fi
  case "$PG_FSYNC" in on | off) ;; *) die "PG_FSYNC must be on or off, not '$PG_FSYNC'" ;; esac

  do_stop
  wait_port_free "$REDIS_PORT" Redis
  wait_port_free "$PG_PORT" PostgreSQL

  # Wipe only our own sub-folders, never $BASE itself (it may be a folder the user named).
  rm -rf "$RD" "$PGDIR" "$TOPO" "$TLSD"
  mkdir -p "$RD" "$PGDIR" "$SOCK"
  chmod 755 "$BASE"
  if is_root; then
    chown -R "$PGUSER_OS": "$PGDIR"
    runuser -u "$PGUSER_OS" -- test -x "$PGDIR" -a -w "$PGDIR" \
      || die "the '$PGUSER_OS' user cannot enter $PGDIR: put EXAMSTORE_SERVERS_DIR under a" \
             "folder whose parents are world-traversable (e.g. /tmp)"
  fi

  # --- Redis: no RDB snapshots, no AOF; daemonized, with its PID in $RD/redis.pid
  if ! redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$RD" --save '' \
      --appendonly no --daemonize yes --pidfile "$RD/redis.pid" --logfile "$RD/redis.log" \
      >"$RD/launch.log" 2>&1 9>&-; then
    cat "$RD/launch.log" >&2; log_tail "$RD/redis.log"
    die "Redis failed to start on 127.0.0.1:$REDIS_PORT (log: $RD/redis.log)"
  fi

  # --- PostgreSQL 15
  local locale_opt=--no-locale
  if locale -a 2>/dev/null | grep -qiE '^c\.utf-?8$'; then locale_opt=--locale=C.UTF-8; fi
  local initdb_pid tls_ok=1
  as_pg timeout 120 "$PGBIN/initdb" -D "$PGD" -U postgres -A trust -E UTF8 "$locale_opt" \
    --no-sync >"$PGDIR/initdb.log" 2>&1 &
  initdb_pid=$!
  tls_launch_redis || tls_ok=0
  if ! wait "$initdb_pid"; then
    log_tail "$PGDIR/initdb.log"
    do_stop
    die "PostgreSQL initdb failed in $PGD (log: $PGDIR/initdb.log)"
  fi
  if [ "$tls_ok" != 1 ] || ! tls_launch_pg; then
    do_stop
    die "the TLS servers did not start (state in $TLSD and $PGT)"
  fi
  if ! as_pg timeout 60 "$PGBIN/pg_ctl" -D "$PGD" -l "$PGDIR/pg.log" -w -t 30 start -o \
      "-p $PG_PORT -k $SOCK -c listen_addresses=127.0.0.1 -c fsync=$PG_FSYNC -c max_connections=200" \
      >"$PGDIR/pg_ctl.log" 2>&1 9>&-; then
    cat "$PGDIR/pg_ctl.log" >&2; log_tail "$PGDIR/pg.log"
    do_stop
    die "PostgreSQL failed to start on 127.0.0.1:$PG_PORT (log: $PGDIR/pg.log)"
  fi

  # --- bounded waits until both answer
  local ok=0
  for _ in $(seq 100); do [ "$(redis_ping)" = PONG ] && { ok=1; break; }; sleep 0.1; done
  if [ "$ok" != 1 ]; then
    log_tail "$RD/redis.log"; do_stop
    die "Redis did not answer PING on 127.0.0.1:$REDIS_PORT within 10 s (log: $RD/redis.log)"
  fi
  ok=0
  for _ in $(seq 100); do pg_ready && { ok=1; break; }; sleep 0.1; done
  if [ "$ok" != 1 ]; then
    log_tail "$PGDIR/pg.log"; do_stop
    die "PostgreSQL is not accepting connections on 127.0.0.1:$PG_PORT within 10 s" \
        "(log: $PGDIR/pg.log)"
  fi
  if ! tls_wait; then
    do_stop
    die "the TLS servers did not come up (state in $TLSD and $PGT)"
  fi
  case "$TOPOLOGY" in
    on)
      [ -x "$PGBIN/pg_basebackup" ] || die "pg_basebackup not found in $PGBIN"
      if ! topology_start; then
        do_stop
        die "the scale-out topology did not come up (state in $TOPO and $PGR)"
      fi ;;
    off) ;;
    *) die "EXAMSTORE_TOPOLOGY must be on or off, not '$TOPOLOGY'" ;;
  esac
  do_status
}

# live_pid FILE: the PID recorded in FILE if it is alive, else "-"
live_pid() {
  local pid
  pid=$(head -n1 "$1" 2>/dev/null | tr -dc 0-9)
  if [ -n "$pid" ] && alive "$pid"; then echo "$pid"; else echo -; fi
}

do_status() {
  local rc=0 r p
  r=$(redis_ping); [ "$r" = PONG ] || { r=down; rc=1; }
  if [ -n "$PGBIN" ] && pg_ready; then p=ready; else p=down; rc=1; fi
  echo "redis: $r  127.0.0.1:$REDIS_PORT  pid $(live_pid "$RD/redis.pid")  log $RD/redis.log"
  echo "pg:    $p  127.0.0.1:$PG_PORT  pid $(live_pid "$PGD/postmaster.pid")  log $PGDIR/pg.log"
  tls_status || rc=1
  if [ "$TOPOLOGY" = on ]; then topology_status || rc=1; fi
  return "$rc"
}

do_env() {
  echo "export EXAMSTORE_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
  echo "export EXAMSTORE_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
  echo "export EXAMSTORE_TEST_TLS_DIR=$TLSD"
  echo "export EXAMSTORE_TEST_REDIS_TLS_URL=rediss://127.0.0.1:$REDIS_TLS_PORT"
  echo "export EXAMSTORE_TEST_REDIS_MTLS_URL=rediss://127.0.0.1:$REDIS_MTLS_PORT"
  echo "export EXAMSTORE_TEST_REDIS_TLS_SENTINEL_URL=rediss-sentinel://127.0.0.1:$REDIS_TLS_SENTINEL_PORT/tlsmaster"
  echo "export EXAMSTORE_TEST_REDIS_TLS_CLUSTER_URL=rediss-cluster://127.0.0.1:$REDIS_TLS_CLUSTER_PORT"
  echo "export EXAMSTORE_TEST_PG_TLS_URL=postgresql://postgres@localhost:$PG_TLS_PORT/postgres"
  if [ "$TOPOLOGY" = on ]; then
    local sentinels="" nodes="" p
    for p in $SENTINEL_PORTS; do sentinels="$sentinels${sentinels:+,}127.0.0.1:$p"; done
    for p in $CLUSTER_PORTS; do nodes="$nodes${nodes:+,}127.0.0.1:$p"; done
    echo "export EXAMSTORE_TEST_SENTINEL_URL=redis-sentinel://$sentinels/mymaster"
    echo "export EXAMSTORE_TEST_CLUSTER_URL=redis-cluster://$nodes"
    echo "export EXAMSTORE_TEST_REPLICA_DATABASE_URL=postgresql://postgres@127.0.0.1:$PG_REPLICA_PORT/postgres"
  fi
}

PGBIN=$(find_pgbin || true)

# One invocation at a time per state folder (start/stop must not interleave). The servers are
# started with fd 9 closed, so they do not inherit (and hold) the lock.
with_lock() {
  if command -v flock >/dev/null 2>&1; then
    mkdir -p "$BASE"
    exec 9>"$BASE/.lock"
    flock -w 120 9 || die "another servers.sh holds $BASE/.lock for more than 120 s"
  fi
}

case "${1:-}" in
  start) with_lock; do_start ;;
  stop) [ -d "$BASE" ] && with_lock; do_stop ;;
  status) do_status ;;
  env) do_env ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
