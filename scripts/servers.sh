#!/usr/bin/env bash
# scripts/servers.sh start|stop|status|env: a throwaway Redis and PostgreSQL 15 on loopback for
# the tests and benchmarks.
#
#   start   wipe the previous state, start both servers, wait until they answer (fails loudly,
#           with the tail of the server's log, if one does not come up)
#   stop    stop the servers this script recorded (never anything else)
#   status  print their state; exit status 0 only when both answer
#   env     print `export EXAMSTORE_TEST_REDIS_URL=...` and `export EXAMSTORE_TEST_DATABASE_URL=...`
#           for `eval "$(scripts/servers.sh env)"`
#
# Environment:
#   EXAMSTORE_SERVERS_DIR       state folder (default /tmp/examstore-servers-$UID); its parents
#                               must be traversable by the `postgres` OS user when run as root
#   EXAMSTORE_TEST_REDIS_PORT   Redis port (default 6390)
#   EXAMSTORE_TEST_PG_PORT      PostgreSQL port (default 5440)
#   PG_FSYNC                    on (default) | off: PostgreSQL's fsync (off is faster, for tests)
#   PGBIN                       folder of initdb/pg_ctl (default /usr/lib/postgresql/15/bin,
#                               else `pg_config --bindir`)
#
# Every start wipes and re-creates the state, so it is safe to run twice in a row and after a
# previous run was killed (kill -9, stale pid files, zombies). initdb refuses to run as root: as
# root, initdb and pg_ctl run as the `postgres` OS user (created by Debian's postgresql-common).
# PostgreSQL trusts every connection, and listens on 127.0.0.1 only.
set -euo pipefail

BASE=${EXAMSTORE_SERVERS_DIR:-/tmp/examstore-servers-$(id -u)}
REDIS_PORT=${EXAMSTORE_TEST_REDIS_PORT:-6390}
PG_PORT=${EXAMSTORE_TEST_PG_PORT:-5440}
PG_FSYNC=${PG_FSYNC:-on}
PGUSER_OS=postgres
RD=$BASE/redis
PGDIR=$BASE/pg
PGD=$PGDIR/data
SOCK=$PGDIR/sock

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
}

do_start() {
  command -v redis-server >/dev/null || die "redis-server not found: run scripts/deps.sh --servers"
  command -v redis-cli >/dev/null || die "redis-cli not found: run scripts/deps.sh --servers"
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
  rm -rf "$RD" "$PGDIR"
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
  if ! as_pg timeout 120 "$PGBIN/initdb" -D "$PGD" -U postgres -A trust -E UTF8 "$locale_opt" \
      --no-sync >"$PGDIR/initdb.log" 2>&1; then
    log_tail "$PGDIR/initdb.log"
    do_stop
    die "PostgreSQL initdb failed in $PGD (log: $PGDIR/initdb.log)"
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
  return "$rc"
}

do_env() {
  echo "export EXAMSTORE_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
  echo "export EXAMSTORE_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
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
