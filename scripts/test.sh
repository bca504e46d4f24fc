#!/usr/bin/env bash
# scripts/test.sh [--quick|--no-sanitizers] [--no-lint] [--no-consumer] [--no-newer]: builds
# examstore and runs its test suite against a throwaway Redis and PostgreSQL, with a Sentinel
# group, a Redis Cluster and a PostgreSQL replica beside them (scripts/servers.sh).
#
# Two sets of client libraries are built and tested against: Debian 12's (libpqxx 6.4, hiredis
# 0.14) and the newer ones users get from vcpkg, Conan, Debian 13 or Ubuntu 24.04 (libpqxx 7.10,
# hiredis 1.2 with TLS), built from Debian 13's sources into a cached prefix by
# scripts/newer-deps.sh. Phases, each in a fresh build folder, Debug with warnings as errors
# (docs/testing.md says why each runs what it runs):
#   plain      build/test        Debian 12 libraries: every test
#   consumer   scripts/consumer-test.sh: Release installs (static against the newer libraries,
#              shared against Debian 12's) into a temporary prefix, tests/consumer built against
#              them; one test per check                                   skipped by --quick
#   lint       scripts/lint.sh (clang-format + clang-tidy)                skipped by --no-lint
#   asan-newer build/asan-newer  newer libraries, ASan + UBSan: every test skipped by --quick
#   tsan       build/tsan        Debian 12 libraries, TSan: [concurrency] skipped by --quick
#
#   --quick, --no-sanitizers   only the plain phase (no consumer, no lint, no newer libraries)
#   --no-lint                  skip the lint phase
#   --no-consumer              skip the consumer phase
#   --no-newer                 build the ASan phase (build/asan) and the consumer against Debian
#                              12's libraries: for a machine that cannot reach Debian's archive
#                              (CI never uses it: the newer libraries are what users get)
#
# Environment: EXAMSTORE_JOBS (build and ctest parallelism, default 2); PG_FSYNC (default off
# here: the test cluster is thrown away); the ports and folder of scripts/servers.sh;
# EXAMSTORE_NEWER_DEPS_DIR (scripts/newer-deps.sh's cache); ASAN_OPTIONS, UBSAN_OPTIONS,
# LSAN_OPTIONS, TSAN_OPTIONS replace the defaults below. Leak and race suppressions for the
# dependencies are read from tests/lsan.supp and tests/tsan.supp when they exist.
# Prints each phase's time as it ends and all of them at the end. Exits non-zero on any failure.
# The last line is the total over the phases, in the form `N passed, M failed`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

sanitizers=1
lint=1
consumer=1
newer=1
for arg in "$@"; do
  case "$arg" in
    --quick | --no-sanitizers) sanitizers=0 ;;
    --no-lint) lint=0 ;;
    --no-consumer) consumer=0 ;;
    --no-newer) newer=0 ;;
    -h | --help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "test.sh: unknown option '$arg' (use --quick, --no-sanitizers, --no-lint, --no-consumer, --no-newer)" >&2
       exit 2 ;;
  esac
done
[ "$sanitizers" = 1 ] || lint=0       # the lint runs before the sanitizer phases only
[ "$sanitizers" = 1 ] || consumer=0   # --quick: the plain phase alone
[ "$sanitizers" = 1 ] || newer=0

JOBS=${EXAMSTORE_JOBS:-2}
export PG_FSYNC=${PG_FSYNC:-off}

total_passed=0
total_failed=0
summaries=()
step="setup"
servers_up=0
final_printed=0

section() {
  echo
  echo "================================================================================"
  echo "== test.sh: $*"
  echo "================================================================================"
}

stop_servers() {
  if [ "$servers_up" = 1 ]; then
    servers_up=0
    scripts/servers.sh stop || echo "test.sh: warning: scripts/servers.sh stop failed" >&2
  fi
}

# The long commands (builds, ctest) run as background children that the script waits for, so a
# TERM/INT sent to the script alone is handled at once: on exit, the child and its descendants
# (found with ps, by parent PID) are stopped before the servers.
child=""
descendants() {
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done
}
run_child() {
  local rc=0
  "$@" &
  child=$!
  wait "$child" || rc=$?
  child=""
  return "$rc"
}
stop_child() {
  [ -n "$child" ] || return 0
  local pids
  pids="$child $(descendants "$child" | tr '\n' ' ')"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
  # shellcheck disable=SC2086
  kill -KILL $pids 2>/dev/null || true
  child=""
}

on_exit() {
  local rc=$?
  trap - EXIT INT TERM
  stop_child
  stop_servers
  if [ "$rc" != 0 ] && [ "$final_printed" = 0 ]; then
    echo
    for s in "${summaries[@]}"; do echo "$s"; done
    echo "test.sh: FAILED during $step (exit status $rc)"
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_servers() {
  step="starting the test servers"
  servers_up=1   # from here on, every exit path stops them
  scripts/servers.sh start
  eval "$(scripts/servers.sh env)"
  export EXAMSTORE_TEST_REDIS_URL EXAMSTORE_TEST_DATABASE_URL
}

# build_dir NAME DIR CMAKE_ARGS...: configure and build DIR from scratch
build_dir() {
  local name=$1 dir=$2
  shift 2
  step="$name: configure ($dir)"
  rm -rf "$dir"
  run_child cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DEXAMSTORE_WERROR=ON "$@"
  step="$name: build ($dir)"
  run_child cmake --build "$dir" -j "$JOBS"
}

# check_libraries DIR PREFIX: DIR's test binary loads libpqxx and hiredis from PREFIX/lib, not
# Debian's copies under /usr (whose headers and libraries are installed too)
check_libraries() {
  local bin=$1/tests/examstore_tests loaded lib
  loaded=$(ldd "$bin") || { echo "test.sh: ldd $bin failed"; return 1; }
  for lib in libpqxx libhiredis.so libhiredis_ssl.so; do
    if ! grep -qE "^[[:space:]]*$lib[^ ]* => $2/lib/" <<<"$loaded"; then
      echo "test.sh: $bin does not load $lib from $2/lib; it loads:"
      grep -E 'pqxx|hiredis' <<<"$loaded" | sed 's/^/  /'
      return 1
    fi
  done
  echo "test.sh: $bin loads $(grep -E 'pqxx|hiredis' <<<"$loaded" | awk '{print $3}' | tr '\n' ' ')"
}

# run_phase NAME DIR CMAKE_ARGS...: a full phase; sanitizer options come from the environment,
# and so does EXPECT_PREFIX (when set, the build must use the client libraries of that prefix)
run_phase() {
  local name=$1 dir=$2
  shift 2
  local t0 t_build t1 log rc line failed total passed
  section "$name: configure + build in $dir"
  t0=$SECONDS
  build_dir "$name" "$dir" "$@"
  if [ -n "${EXPECT_PREFIX:-}" ]; then
    step="$name: which libraries ($dir)"
    check_libraries "$dir" "$EXPECT_PREFIX"
  fi
  t_build=$((SECONDS - t0))

  section "$name: ctest ($dir)"
  start_servers   # a fresh pair for every phase
  step="$name: ctest ($dir)"
  log=$dir/ctest.log
  rc=0
  run_child ctest --test-dir "$dir" --output-on-failure --no-tests=error -j "$JOBS" \
    --output-log "$log" || rc=$?
  stop_servers
  t1=$((SECONDS - t0))

  # ctest's closing line: "100% tests passed, 0 tests failed out of 57"
  line=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n1 || true)
  if [ -z "$line" ]; then
    summaries+=("test.sh: $name: ctest reported no result (exit status $rc) after $t1 s")
    echo "${summaries[-1]}"
    exit 1
  fi
  failed=$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  total=$(sed -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
  passed=$((total - failed))
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  if [ "$rc" != 0 ] || [ "$failed" != 0 ]; then
    summaries+=("test.sh: $name: $failed of $total tests FAILED in $t1 s (build ${t_build} s, tests $((t1 - t_build)) s)")
    echo
    for s in "${summaries[@]}"; do echo "$s"; done
    echo "$total_passed passed, $total_failed failed"
    final_printed=1
    exit 1
  fi
  summaries+=("test.sh: $name: $passed tests passed in $t1 s (build ${t_build} s, tests $((t1 - t_build)) s)")
  echo "${summaries[-1]}"
}

t_all=$SECONDS
section "dependencies"
step="dependencies (scripts/deps.sh --servers)"
run_child scripts/deps.sh --servers
summaries+=("test.sh: dependencies: present in $((SECONDS - t_all)) s")
echo "${summaries[-1]}"

NEWER_PREFIX=""
if [ "$newer" = 1 ]; then
  section "newer libraries: libpqxx 7 and hiredis 1.x from Debian 13's sources (scripts/newer-deps.sh)"
  step="newer libraries (scripts/newer-deps.sh)"
  t0=$SECONDS
  run_child scripts/newer-deps.sh
  NEWER_PREFIX=$(scripts/newer-deps.sh --print-prefix)
  newer_pc=$NEWER_PREFIX/lib/pkgconfig
  summaries+=("test.sh: newer libraries: libpqxx $(PKG_CONFIG_PATH=$newer_pc pkg-config --modversion libpqxx), hiredis $(PKG_CONFIG_PATH=$newer_pc pkg-config --modversion hiredis) in $NEWER_PREFIX, ready in $((SECONDS - t0)) s")
  echo "${summaries[-1]}"
fi

run_phase plain build/test

if [ "$consumer" = 1 ]; then
  section "consumer: install into a temporary prefix, build tests/consumer against it"
  step="consumer (scripts/consumer-test.sh)"
  t0=$SECONDS
  mkdir -p build
  log=build/consumer-test.log
  rm -f "$log"
  rc=0
  # Shown as it runs and kept in the log, whose closing line `N passed, M failed` counts one test
  # per check (static-cmake, shared-cmake, pkg-config, packaging).
  # shellcheck disable=SC2016  # $1 is expanded by the inner bash
  EXAMSTORE_CONSUMER_STATIC_LIBS=$NEWER_PREFIX \
    run_child bash -o pipefail -c 'scripts/consumer-test.sh 2>&1 | tee "$1"' consumer-test "$log" ||
    rc=$?
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -n1 || true)
  if [ -z "$line" ]; then
    summaries+=("test.sh: consumer: scripts/consumer-test.sh reported no result (exit status $rc) after $((SECONDS - t0)) s")
    echo "${summaries[-1]}"
    exit 1
  fi
  read -r passed _ failed _ <<<"$line"
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  if [ "$rc" != 0 ] || [ "$failed" != 0 ]; then
    summaries+=("test.sh: consumer: $failed of $((passed + failed)) checks FAILED in $((SECONDS - t0)) s (exit status $rc; log: $log)")
    echo
    for s in "${summaries[@]}"; do echo "$s"; done
    echo "$total_passed passed, $total_failed failed"
    final_printed=1
    exit 1
  fi
  summaries+=("test.sh: consumer: $passed checks passed in $((SECONDS - t0)) s")
  echo "${summaries[-1]}"
fi

if [ "$lint" = 1 ]; then
  section "lint: clang-format + clang-tidy"
  step="lint (scripts/lint.sh)"
  t0=$SECONDS
  run_child scripts/lint.sh
  summaries+=("test.sh: lint: clean in $((SECONDS - t0)) s")
  echo "${summaries[-1]}"
fi

if [ "$sanitizers" = 1 ]; then
  # Suppressions for findings inside the dependencies (never for our own code), when the
  # project has them: tests/lsan.supp (LeakSanitizer), tests/tsan.supp (ThreadSanitizer).
  lsan_options=${LSAN_OPTIONS:-}
  tsan_options=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}
  if [ -f tests/lsan.supp ]; then
    lsan_options="${lsan_options:+$lsan_options:}suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
  fi
  if [ -f tests/tsan.supp ]; then
    tsan_options="$tsan_options:suppressions=$ROOT/tests/tsan.supp"
  fi
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  if [ "$newer" = 1 ]; then
    # The whole suite once more, on the libraries vcpkg and Conan users get, under ASan + UBSan:
    # one phase checks both the newer libraries and memory safety (docs/testing.md).
    PKG_CONFIG_PATH="$NEWER_PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" \
    EXPECT_PREFIX=$NEWER_PREFIX LSAN_OPTIONS=$lsan_options \
      run_phase asan-newer build/asan-newer -DEXAMSTORE_SANITIZE=address
  else
    LSAN_OPTIONS=$lsan_options run_phase asan build/asan -DEXAMSTORE_SANITIZE=address
  fi
  # The benchmarks are not run here: not built either.
  TSAN_OPTIONS=$tsan_options \
    run_phase tsan build/tsan -DEXAMSTORE_SANITIZE=thread -DEXAMSTORE_BUILD_BENCHMARKS=OFF
fi

section "summary"
for s in "${summaries[@]}"; do echo "$s"; done
echo "test.sh: all phases passed in $((SECONDS - t_all)) s"
final_printed=1
echo "$total_passed passed, $total_failed failed"
