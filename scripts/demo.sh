#!/usr/bin/env bash
# scripts/demo.sh [ARGS...]: the quick start. Installs the build dependencies (scripts/deps.sh),
# builds examstore in Release in build/demo (only the CLI and the examples it runs), then runs
# the main example (examples/exam_monitor, or examples/quickstart when there is no
# exam_monitor) with ARGS, and exits with its exit status.
#
# With EXAMSTORE_REDIS_URL / EXAMSTORE_DATABASE_URL set, the example uses those servers;
# without them it runs on its own.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

JOBS=${EXAMSTORE_JOBS:-2}
BUILD=build/demo
LOG=$BUILD/build.log

scripts/deps.sh

mkdir -p "$BUILD"
: >"$LOG"
fail() {
  echo "demo.sh: $1 failed; the last lines of $LOG:" >&2
  tail -n 40 "$LOG" | sed 's/^/  /' >&2
  exit 1
}

t0=$SECONDS
echo "demo.sh: building examstore (Release) in $BUILD, log in $LOG ..."
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DEXAMSTORE_WERROR=OFF \
  -DEXAMSTORE_BUILD_EXAMPLES=ON -DEXAMSTORE_BUILD_TESTS=OFF -DEXAMSTORE_BUILD_BENCHMARKS=OFF \
  >>"$LOG" 2>&1 || fail "configuring"

# The main example is exam_monitor when the project has it, else quickstart.
targets=(examstore_cli quickstart)
example=$BUILD/examples/quickstart
help=$(cmake --build "$BUILD" --target help 2>>"$LOG" || true)
if grep -qE '(^|[ .:])exam_monitor($|[ :])' <<<"$help" \
   || grep -qE 'add_executable\(\s*exam_monitor\b' examples/CMakeLists.txt 2>/dev/null; then
  targets+=(exam_monitor)
  example=$BUILD/examples/exam_monitor
fi
cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]}" >>"$LOG" 2>&1 \
  || fail "building ${targets[*]}"
echo "demo.sh: built ${targets[*]} in $((SECONDS - t0)) s"

[ -x "$example" ] || { echo "demo.sh: $example was not built" >&2; exit 1; }
echo "demo.sh: running $example"
echo
exec "$example" "$@"
