#!/usr/bin/env bash
# scripts/fuzz.sh: builds the libFuzzer targets of fuzz/ with clang (ASan + UBSan, the library
# instrumented too) and runs each for a bounded time. A crash stops with status 1 after copying
# the input to fuzz/regressions/<target>/, where the normal test suite replays it
# (tests/unit/fuzz_replay_test.cpp). See docs/hostile-input.md.
#
#   scripts/fuzz.sh [--seconds N] [--build-dir DIR] [--jobs N] [--target NAME]...
#     --seconds N     run time of each target (default 60)
#     --build-dir DIR clang build folder (default build/fuzz)
#     --jobs N        parallel compile jobs (default 2)
#     --target NAME   only this target (repeatable): fuzz_config_url, fuzz_question_import,
#                     fuzz_key_encoder
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=60
build_dir=$root/build/fuzz
jobs=2
targets=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --build-dir) build_dir=$(realpath -m "$2"); shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --target) targets+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ ${#targets[@]} -gt 0 ]] || targets=(fuzz_config_url fuzz_question_import fuzz_key_encoder)

# Longest input libFuzzer makes per target: a URL, an import file, ids plus a paper key.
max_len() {
  case $1 in
    fuzz_config_url) echo 512 ;;
    fuzz_question_import) echo 4096 ;;
    fuzz_key_encoder) echo 256 ;;
    *) echo "fuzz.sh: unknown target '$1'" >&2; exit 2 ;;
  esac
}

CC=clang CXX=clang++ cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DEXAMSTORE_FUZZ=ON -DEXAMSTORE_SANITIZE=address -DEXAMSTORE_BUILD_TESTS=OFF \
  -DEXAMSTORE_BUILD_EXAMPLES=OFF -DEXAMSTORE_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build_dir" -j "$jobs" --target "${targets[@]}"

status=0
for t in "${targets[@]}"; do
  work=$build_dir/corpus/$t          # what the fuzzer learns; the seeds stay read-only
  artifacts=$build_dir/artifacts/$t
  log=$build_dir/$t.log
  mkdir -p "$work" "$artifacts"
  if "$build_dir/fuzz/$t" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
       -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$artifacts/" \
       "$work" "$root/fuzz/corpus/$t" >"$log" 2>&1; then
    runs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
    echo "$t: ok, ${runs:-?} runs in ${seconds} s (corpus $(ls "$work" | wc -l) inputs)"
  else
    status=1
    mkdir -p "$root/fuzz/regressions/$t"
    for f in "$artifacts"/*; do
      [[ -f $f ]] || continue
      cp "$f" "$root/fuzz/regressions/$t/"
      echo "$t: FAILED, input kept as fuzz/regressions/$t/$(basename "$f")"
    done
    grep -m1 -A12 -E 'ERROR|fuzz property violated|runtime error' "$log" >&2 || tail -20 "$log" >&2
    echo "$t: full log in $log" >&2
  fi
done
exit $status
