#!/usr/bin/env bash
# scripts/consumer-test.sh: installs examstore into a temporary prefix, static then shared, and
# builds tests/consumer against the INSTALLED files only, as a user of the package would.
#
# Checks, each reported as PASS or FAIL:
#   static-cmake  Release static build + `cmake --install --prefix`; the installed files; the
#                 tool runs; tests/consumer with find_package(examstore) links the private
#                 dependencies and runs
#   shared-cmake  the same with BUILD_SHARED_LIBS=ON; the consumer links libexamstore alone
#   pkg-config    g++ tests/consumer/main.cpp $(pkg-config --cflags --libs [--static] examstore),
#                 --static against the static prefix, without against the shared one; runs both
#   packaging     scripts/check-packaging.sh: the versions of CMake, vcpkg.json, the vcpkg port
#                 and conanfile.py agree, and the port and recipe use the options below
#
# Only the library and the tool are built (about 2 minutes a variant on 2 cores). Environment:
# EXAMSTORE_JOBS (build parallelism, default 2), CXX (default g++), EXAMSTORE_KEEP_TMP=1 keeps
# the temporary folder (logs, prefixes) for a post-mortem, EXAMSTORE_CONSUMER_STATIC_LIBS=PREFIX
# builds the static variant and its consumers against the client libraries of PREFIX (its
# lib/pkgconfig goes first on PKG_CONFIG_PATH; scripts/test.sh passes scripts/newer-deps.sh's
# libpqxx 7 / hiredis 1.x) and checks that the consumers load them. Exits non-zero when a check
# fails; the last line is `N passed, M failed`.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

case "${1:-}" in
  -h | --help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "consumer-test.sh: unknown option '$1'" >&2; exit 2 ;;
esac

# The options the vcpkg port and the Conan recipe build with (scripts/check-packaging.sh keeps
# them identical). No -Werror: a packager's newer compiler must not fail the build on a warning.
PACKAGE_OPTIONS=(
  -DEXAMSTORE_BUILD_TESTS=OFF
  -DEXAMSTORE_BUILD_EXAMPLES=OFF
  -DEXAMSTORE_BUILD_BENCHMARKS=OFF
  -DEXAMSTORE_WERROR=OFF
)
JOBS=${EXAMSTORE_JOBS:-2}
CXX=${CXX:-g++}
VERSION=$(sed -nE 's/^project\(examstore VERSION ([^ )]+).*/\1/p' CMakeLists.txt)
# What a static consumer must link and a shared one must not (as -lNAME or libNAME.so).
PRIVATE_LIBS=(hiredis pqxx pq sodium fmt)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/examstore-consumer.XXXXXX")
LOGS=$TMP/logs
mkdir -p "$LOGS"

# Commands run as a background child that the script waits for, so a TERM or INT sent to the
# script alone is handled at once: the child and its descendants are stopped, then the
# temporary folder is removed.
child=""
descendants() {
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done
}
cleanup() {
  local pids
  if [ -n "$child" ]; then
    pids="$child $(descendants "$child" | tr '\n' ' ')"
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$child" 2>/dev/null || break; sleep 0.1; done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
  fi
  if [ "${EXAMSTORE_KEEP_TMP:-0}" = 1 ]; then
    echo "consumer-test: kept $TMP"
  else
    rm -rf "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run WHAT CMD...: runs CMD with its output in a log; on failure shows the log's tail
run() {
  local what=$1 log rc=0
  shift
  log=$LOGS/$(tr -c 'A-Za-z0-9_.-' '_' <<<"$what").log
  echo "consumer-test:   $what"
  "$@" >"$log" 2>&1 &
  child=$!
  wait "$child" || rc=$?
  child=""
  if [ "$rc" != 0 ]; then
    echo "consumer-test:   $what FAILED; the end of its output:"
    tail -n 40 "$log" | sed 's/^/    /'
    return 1
  fi
}

# problem MESSAGE: a failed expectation (returns 1)
problem() {
  echo "consumer-test:   $*"
  return 1
}

# install_variant NAME PREFIX CMAKE_ARGS...: configure, build and install into PREFIX, then
# delete the build tree so that only the installed files remain.
install_variant() {
  local name=$1 prefix=$2 build=$TMP/build-$1
  shift 2
  run "$name: configure" cmake -S "$ROOT" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    "${PACKAGE_OPTIONS[@]}" "$@" || return 1
  run "$name: build" cmake --build "$build" -j "$JOBS" || return 1
  run "$name: install into $prefix" cmake --install "$build" --prefix "$prefix" || return 1
  rm -rf "$build"
}

# pc_dir PREFIX: the folder of the installed examstore.pc (lib/ or lib64/ or lib/<triplet>/)
pc_dir() {
  local pc
  pc=$(find "$1" -path '*/pkgconfig/examstore.pc' | head -n1)
  [ -n "$pc" ] && dirname "$pc"
}

# check_installed_files NAME PREFIX KIND(static|shared)
check_installed_files() {
  local prefix=$2 kind=$3 pcdir libdir cmakedir want have f
  # The public headers: every header of include/examstore/ plus the generated version.hpp.
  want=$( (cd include/examstore && ls -- *.hpp; echo version.hpp) | sort -u)
  have=$(find "$prefix/include/examstore" -mindepth 1 -printf '%P\n' 2>/dev/null | sort)
  [ "$want" = "$have" ] || problem "installed headers differ from include/examstore/ (missing from EXAMSTORE_PUBLIC_HEADERS?):
$(diff <(echo "$want") <(echo "$have") | grep '^[<>]' | sed 's/^</    not installed:/; s/^>/    extra:/')" ||
    return 1
  pcdir=$(pc_dir "$prefix") || problem "no examstore.pc installed" || return 1
  libdir=$(dirname "$pcdir")
  cmakedir=$libdir/cmake/examstore
  for f in "$cmakedir/examstoreConfig.cmake" "$cmakedir/examstoreConfigVersion.cmake" \
           "$cmakedir/examstoreTargets.cmake" "$prefix/bin/examstore"; do
    [ -f "$f" ] || problem "not installed: ${f#"$prefix"/}" || return 1
  done
  if [ "$kind" = static ]; then
    [ -f "$libdir/libexamstore.a" ] || problem "not installed: libexamstore.a" || return 1
    ! ls "$libdir"/libexamstore.so* >/dev/null 2>&1 || problem "a static install has libexamstore.so" ||
      return 1
  else
    [ -f "$libdir/libexamstore.so.$VERSION" ] && [ -L "$libdir/libexamstore.so" ] ||
      problem "not installed: libexamstore.so.$VERSION and its links" || return 1
  fi
  # The tool runs from the prefix (a shared one finds libexamstore through its RUNPATH).
  run "$1: installed tool: examstore health on memory://" \
    "$prefix/bin/examstore" --redis memory:// --database memory:// health || return 1
  # SameMajorVersion: the same major and at least the requested version is accepted.
  cat >"$TMP/version-check.cmake" <<EOF
foreach(request IN ITEMS "$VERSION:TRUE" "0.0.1:$( [ "${VERSION%%.*}" = 0 ] && echo TRUE || echo FALSE)"
                         "$((${VERSION%%.*} + 1)).0:FALSE" "99.0:FALSE")
  string(REPLACE ":" ";" request "\${request}")
  list(GET request 0 PACKAGE_FIND_VERSION)
  list(GET request 1 expected)
  string(REGEX MATCH "^[0-9]+" PACKAGE_FIND_VERSION_MAJOR "\${PACKAGE_FIND_VERSION}")
  unset(PACKAGE_VERSION_COMPATIBLE)
  include("$cmakedir/examstoreConfigVersion.cmake")
  if(NOT PACKAGE_VERSION STREQUAL "$VERSION")
    message(FATAL_ERROR "examstoreConfigVersion.cmake says \${PACKAGE_VERSION}, not $VERSION")
  endif()
  if((PACKAGE_VERSION_COMPATIBLE AND NOT expected) OR (NOT PACKAGE_VERSION_COMPATIBLE AND expected))
    message(FATAL_ERROR "a request for \${PACKAGE_FIND_VERSION}: compatible=\${PACKAGE_VERSION_COMPATIBLE}, expected \${expected}")
  endif()
endforeach()
EOF
  run "$1: examstoreConfigVersion.cmake is $VERSION, SameMajorVersion" \
    cmake -P "$TMP/version-check.cmake" || return 1
}

# check_consumer_output NAME EXE: runs the consumer, which must print the project version
check_consumer_output() {
  run "$1: run" "$2" || return 1
  grep -qx "examstore $VERSION" "$LOGS/$(tr -c 'A-Za-z0-9_.-' '_' <<<"$1: run").log" ||
    problem "$1: the consumer did not print 'examstore $VERSION'" || return 1
}

# linked_private_libs FILE: which PRIVATE_LIBS a link command line or readelf output names
linked_private_libs() {
  local lib found=()
  for lib in "${PRIVATE_LIBS[@]}"; do
    grep -qE "(-l|lib)$lib([ .-]|$)" "$1" && found+=("$lib")
  done
  echo "${found[*]}"
}

# cmake_consumer NAME PREFIX KIND: configure + build tests/consumer against PREFIX, check its link
cmake_consumer() {
  local name=$1 prefix=$2 kind=$3 dir=$TMP/consumer-$1 linked
  run "$name: configure tests/consumer with CMAKE_PREFIX_PATH=$prefix" \
    cmake -S tests/consumer -B "$dir" -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF || return 1
  grep -qx "examstore_DIR:PATH=$prefix/.*" "$dir/CMakeCache.txt" ||
    problem "$name: find_package found examstore outside the prefix: $(grep '^examstore_DIR' "$dir/CMakeCache.txt")" ||
    return 1
  run "$name: build tests/consumer" cmake --build "$dir" -j "$JOBS" || return 1
  linked=$(linked_private_libs "$dir/CMakeFiles/consumer.dir/link.txt")
  if [ "$kind" = static ]; then
    [ "$linked" = "${PRIVATE_LIBS[*]}" ] ||
      problem "$name: a static consumer must link ${PRIVATE_LIBS[*]}; its link line has only: $linked
    $(cat "$dir/CMakeFiles/consumer.dir/link.txt")" || return 1
  else
    [ -z "$linked" ] ||
      problem "$name: the private dependencies leak into a shared consumer's link line: $linked
    $(cat "$dir/CMakeFiles/consumer.dir/link.txt")" || return 1
    check_needed "$name" "$dir/consumer" || return 1
  fi
  check_consumer_output "$name" "$dir/consumer"
}

# check_needed NAME EXE: a consumer of the shared library needs libexamstore, not its dependencies
check_needed() {
  local linked
  readelf -d "$2" | grep NEEDED >"$TMP/needed.txt"
  grep -q 'libexamstore\.so' "$TMP/needed.txt" || problem "$1: the consumer does not need libexamstore.so" ||
    return 1
  linked=$(linked_private_libs "$TMP/needed.txt")
  [ -z "$linked" ] || problem "$1: the consumer itself needs $linked (DT_NEEDED)" || return 1
}

# pkg_config_consumer STATIC_PREFIX SHARED_PREFIX
pkg_config_consumer() {
  local static_pc shared_pc libs linked exe
  static_pc=$(pc_dir "$1") || problem "no examstore.pc in the static prefix" || return 1
  shared_pc=$(pc_dir "$2") || problem "no examstore.pc in the shared prefix" || return 1

  # The static prefix: --static brings the private dependencies; plain --libs must not.
  export PKG_CONFIG_PATH="$static_pc${STATIC_PC_PATH:+:$STATIC_PC_PATH}"
  run "pkg-config: pkg-config --modversion examstore" pkg-config --modversion examstore || return 1
  [ "$(pkg-config --modversion examstore)" = "$VERSION" ] ||
    problem "pkg-config: examstore.pc has version $(pkg-config --modversion examstore), not $VERSION" ||
    return 1
  if pkg-config --help 2>&1 | grep -q -- --validate; then
    run "pkg-config: pkg-config --validate examstore" pkg-config --validate examstore || return 1
  fi
  pkg-config --libs examstore >"$TMP/libs.txt"
  linked=$(linked_private_libs "$TMP/libs.txt")
  [ -z "$linked" ] || problem "pkg-config: --libs (shared use) names private dependencies: $linked" ||
    return 1
  pkg-config --static --libs examstore >"$TMP/libs.txt"
  linked=$(linked_private_libs "$TMP/libs.txt")
  [ "$linked" = "${PRIVATE_LIBS[*]}" ] ||
    problem "pkg-config: --static --libs must name ${PRIVATE_LIBS[*]}: $(cat "$TMP/libs.txt")" || return 1
  exe=$TMP/pc-consumer-static
  # shellcheck disable=SC2046  # word splitting of pkg-config's output is the point
  run "pkg-config: $CXX main.cpp \$(pkg-config --cflags --libs --static examstore)" \
    "$CXX" -std=c++17 -O2 tests/consumer/main.cpp -o "$exe" \
    $(pkg-config --cflags --libs --static examstore) \
    ${STATIC_LIBS:+-Wl,-rpath,$STATIC_LIBS/lib} || return 1
  check_consumer_output "pkg-config static" "$exe" || return 1
  check_loads_static_libs "pkg-config static" "$exe" || return 1

  # The shared prefix: libexamstore alone; the run finds it through an rpath.
  export PKG_CONFIG_PATH="$shared_pc${PKG_CONFIG_PATH_BEFORE:+:$PKG_CONFIG_PATH_BEFORE}"
  libs=$(pkg-config --libs examstore)
  exe=$TMP/pc-consumer-shared
  # shellcheck disable=SC2046,SC2086
  run "pkg-config: $CXX main.cpp \$(pkg-config --cflags --libs examstore)" \
    "$CXX" -std=c++17 -O2 tests/consumer/main.cpp -o "$exe" $(pkg-config --cflags examstore) \
    $libs -Wl,-rpath,"$(cd "$(pkg-config --variable=libdir examstore)" && pwd)" || return 1
  check_needed "pkg-config shared" "$exe" || return 1
  check_consumer_output "pkg-config shared" "$exe"
}

passed=0
failed=0
results=()
# check NAME CMD...: one reported check
check() {
  local name=$1 t0=$SECONDS rc=0
  shift
  echo
  echo "consumer-test: $name"
  "$@" || rc=$?
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1))
    results+=("consumer-test: PASS $name ($((SECONDS - t0)) s)")
  else
    failed=$((failed + 1))
    results+=("consumer-test: FAIL $name ($((SECONDS - t0)) s)")
  fi
  echo "${results[-1]}"
}

# check_loads_static_libs NAME EXE: with EXAMSTORE_CONSUMER_STATIC_LIBS, EXE loads libpqxx and
# hiredis from that prefix
check_loads_static_libs() {
  local lib
  [ -n "$STATIC_LIBS" ] || return 0
  ldd "$2" >"$TMP/ldd.txt" || problem "$1: ldd $2 failed" || return 1
  for lib in libpqxx libhiredis.so libhiredis_ssl.so; do
    grep -qE "^[[:space:]]*$lib[^ ]* => $STATIC_LIBS/lib/" "$TMP/ldd.txt" ||
      problem "$1: $lib is not loaded from $STATIC_LIBS/lib: $(grep -E 'pqxx|hiredis' "$TMP/ldd.txt")" ||
      return 1
  done
}

static_variant() {
  install_variant static "$TMP/prefix-static" || return 1
  check_installed_files static "$TMP/prefix-static" static || return 1
  cmake_consumer static-cmake "$TMP/prefix-static" static || return 1
  check_loads_static_libs static-cmake "$TMP/consumer-static-cmake/consumer"
}
shared_variant() {
  install_variant shared "$TMP/prefix-shared" -DBUILD_SHARED_LIBS=ON || return 1
  check_installed_files shared "$TMP/prefix-shared" shared || return 1
  cmake_consumer shared-cmake "$TMP/prefix-shared" shared
}

[ -n "$VERSION" ] || { echo "consumer-test: no project(examstore VERSION ...) in CMakeLists.txt" >&2; exit 1; }
PKG_CONFIG_PATH_BEFORE=${PKG_CONFIG_PATH:-}
echo "consumer-test: examstore $VERSION, installed under $TMP (options: ${PACKAGE_OPTIONS[*]})"
t_all=$SECONDS
STATIC_LIBS=${EXAMSTORE_CONSUMER_STATIC_LIBS:-}
# What PKG_CONFIG_PATH is while the static variant is built and consumed.
STATIC_PC_PATH=${STATIC_LIBS:+$STATIC_LIBS/lib/pkgconfig}
STATIC_PC_PATH=$STATIC_PC_PATH${PKG_CONFIG_PATH_BEFORE:+${STATIC_PC_PATH:+:}$PKG_CONFIG_PATH_BEFORE}
if [ -n "$STATIC_LIBS" ]; then
  echo "consumer-test: the static variant uses the client libraries of $STATIC_LIBS"
fi
PKG_CONFIG_PATH=$STATIC_PC_PATH check static-cmake static_variant
check shared-cmake shared_variant
check pkg-config pkg_config_consumer "$TMP/prefix-static" "$TMP/prefix-shared"
check packaging scripts/check-packaging.sh

echo
for r in "${results[@]}"; do echo "$r"; done
echo "consumer-test: $((SECONDS - t_all)) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
