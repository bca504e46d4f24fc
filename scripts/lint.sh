#!/usr/bin/env bash
# scripts/lint.sh [--fix] [--format-only] [-p BUILD_DIR]: the style and static checks.
#
#   clang-format --dry-run -Werror  over *.hpp, *.cpp, *.hpp.in under include/ src/ tests/
#                                   examples/ benchmarks/ (style: .clang-format)
#   clang-tidy --quiet              over src/**/*.cpp (checks: .clang-tidy), using the
#                                   compile_commands.json of BUILD_DIR (default: build/lint,
#                                   (re)configured here; configuring is enough)
#
#   --fix           apply clang-format in place first (clang-tidy still only reports)
#   --format-only   skip clang-tidy
#   -p DIR          use the compile_commands.json in DIR
#
# Exits non-zero on any finding.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

fix=0
tidy=1
build_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --fix) fix=1 ;;
    --format-only) tidy=0 ;;
    -p | --build-dir) [ $# -ge 2 ] || { echo "lint.sh: $1 needs a folder" >&2; exit 2; }
                      build_dir=$2; shift ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "lint.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done

scripts/deps.sh --lint
JOBS=${EXAMSTORE_JOBS:-2}
status=0

# ---- clang-format
# CMake templates (*.hpp.in) hold @VAR@ placeholders that clang-format would split ("@VAR @"):
# they are formatted as the header they become, with @VAR@ read as the same-length identifier
# $VAR$ and turned back afterwards.
# shellcheck disable=SC2016  # the $ in the sed expressions are literal
format_template() {  # FILE: prints FILE formatted
  sed -E 's/@([A-Za-z0-9_]+)@/$\1$/g' "$1" \
    | clang-format --style=file --assume-filename="${1%.in}" \
    | sed -E 's/\$([A-Za-z0-9_]+)\$/@\1@/g'
}

dirs=()
for d in include src tests examples benchmarks; do [ -d "$d" ] && dirs+=("$d"); done
files=()
if [ "${#dirs[@]}" -gt 0 ]; then
  mapfile -d '' files < <(find "${dirs[@]}" -type f \( -name '*.hpp' -o -name '*.cpp' \
                            -o -name '*.hpp.in' \) -print0 | sort -z)
fi
sources=()
templates=()
for f in "${files[@]}"; do
  case "$f" in *.in) templates+=("$f") ;; *) sources+=("$f") ;; esac
done
if [ "${#files[@]}" -eq 0 ]; then
  echo "lint.sh: clang-format: no source files"
else
  if [ "$fix" = 1 ]; then
    [ "${#sources[@]}" -eq 0 ] || clang-format -i --style=file "${sources[@]}"
    for f in "${templates[@]}"; do
      formatted=$(format_template "$f")
      [ "$formatted" = "$(cat "$f")" ] || printf '%s\n' "$formatted" >"$f"
    done
    echo "lint.sh: clang-format: formatted ${#files[@]} files in place"
  fi
  format_ok=1
  if [ "${#sources[@]}" -gt 0 ]; then
    clang-format --dry-run -Werror --style=file "${sources[@]}" || format_ok=0
  fi
  for f in "${templates[@]}"; do
    if ! format_template "$f" | diff -u --label "$f" --label "$f (clang-formatted)" "$f" -; then
      echo "$f: error: code should be clang-formatted" >&2
      format_ok=0
    fi
  done
  if [ "$format_ok" = 1 ]; then
    echo "lint.sh: clang-format: ${#files[@]} files clean"
  else
    echo "lint.sh: clang-format: findings above (scripts/lint.sh --fix formats in place)" >&2
    status=1
  fi
fi

# ---- clang-tidy
if [ "$tidy" = 1 ]; then
  if [ -z "$build_dir" ]; then
    build_dir=build/lint
    # (Re)configuring is enough, and cheap: the generated sources are written at configure time.
    mkdir -p "$build_dir"
    if ! cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
        >"$build_dir/configure.log" 2>&1; then
      tail -n 30 "$build_dir/configure.log" >&2
      echo "lint.sh: configuring $build_dir failed (log: $build_dir/configure.log)" >&2
      exit 1
    fi
  fi
  db=$build_dir/compile_commands.json
  [ -f "$db" ] || { echo "lint.sh: no $db (configure with CMAKE_EXPORT_COMPILE_COMMANDS=ON)" >&2; exit 1; }

  mapfile -d '' all_src < <(find src -type f -name '*.cpp' -print0 2>/dev/null | sort -z)
  tidy_files=()
  for f in "${all_src[@]}"; do
    if grep -qF "\"$ROOT/$f\"" "$db"; then
      tidy_files+=("$ROOT/$f")
    else
      echo "lint.sh: clang-tidy: skipping $f (not in $db: not compiled by CMake)" >&2
    fi
  done

  if [ "${#tidy_files[@]}" -eq 0 ]; then
    echo "lint.sh: clang-tidy: no source files"
  else
    # "N warnings generated." is clang's noise, not a finding.
    noise='^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter='
    tidy_ok=1
    set +e
    if command -v run-clang-tidy >/dev/null 2>&1; then
      # run-clang-tidy prints each command line and forces colours: drop both.
      # shellcheck disable=SC2016  # a literal $ in the sed expression
      regex="^($(printf '%s\n' "${tidy_files[@]}" | sed 's/[.[\*^$()+?{|]/\\&/g' | paste -sd'|'))\$"
      # GCC-only warning flags in the compile database are not clang errors.
      run-clang-tidy -p "$build_dir" -quiet -j "$JOBS" -extra-arg=-Wno-unknown-warning-option "$regex" 2>&1 \
        | sed 's/\x1b\[[0-9;]*m//g' | grep -vE "$noise|^clang-tidy(-[0-9]+)? "
      tidy_rc=${PIPESTATUS[0]}
    else
      printf '%s\0' "${tidy_files[@]}" \
        | xargs -0 -n1 -P "$JOBS" clang-tidy -p "$build_dir" --quiet --extra-arg=-Wno-unknown-warning-option 2>&1 \
        | grep -vE "$noise"
      tidy_rc=${PIPESTATUS[1]}
    fi
    set -e
    [ "$tidy_rc" = 0 ] || tidy_ok=0
    if [ "$tidy_ok" = 1 ]; then
      echo "lint.sh: clang-tidy: ${#tidy_files[@]} files clean"
    else
      echo "lint.sh: clang-tidy: findings above" >&2
      status=1
    fi
  fi
fi

exit "$status"
