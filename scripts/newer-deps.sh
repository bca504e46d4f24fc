#!/usr/bin/env bash
# scripts/newer-deps.sh [--print-prefix]: builds libpqxx 7.x and hiredis 1.x (with TLS) from
# Debian 13's source packages into a private prefix, for the "newer" test phase: the versions
# that vcpkg, Conan, Debian 13 and Ubuntu 24.04 give their users.
#
# Only Debian's archive is reachable here, so the sources come from `apt-get source` with a
# private apt configuration (a deb-src line for trixie in the cache folder): the machine's own
# apt sources, lists and packages are left as they are. Nothing is installed system-wide but the
# build tools (dpkg-dev, libssl-dev, libpq-dev, cmake).
#
# The prefix is kept under a cache folder outside the clone, so a rerun with the prefix built
# takes a second; a prefix that is missing or incomplete is rebuilt (delete the cache folder to
# pick up a newer version Debian 13 has published since). About half a minute on 2 cores from
# scratch (26 s measured, the download included).
#
#   --print-prefix   print the prefix folder only (after building it when needed)
#
# Environment:
#   EXAMSTORE_NEWER_DEPS_DIR  cache folder (default ${XDG_CACHE_HOME:-$HOME/.cache}/examstore-newer-deps)
#   EXAMSTORE_NEWER_SUITE     the Debian suite whose sources are used (default trixie)
#   EXAMSTORE_JOBS            build parallelism (default 2)
#
# The prefix holds include/, lib/ (libpqxx.so, libhiredis.so, libhiredis_ssl.so) and
# lib/pkgconfig; build against it with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig (the test phase
# also puts PREFIX/lib on the run path, so the tests load these libraries and not Debian's).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${EXAMSTORE_NEWER_DEPS_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/examstore-newer-deps}
SUITE=${EXAMSTORE_NEWER_SUITE:-trixie}
JOBS=${EXAMSTORE_JOBS:-2}
PREFIX=$CACHE/prefix
STAMP=$PREFIX/.examstore-built

print_prefix=0
for arg in "$@"; do
  case "$arg" in
    --print-prefix) print_prefix=1 ;;
    -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "newer-deps.sh: unknown option '$arg' (use --print-prefix)" >&2; exit 2 ;;
  esac
done

say() { echo "newer-deps.sh: $*" >&2; }
die() { say "$*"; exit 1; }

# The build tools, from Debian 12's own archive (scripts/deps.sh installs only what is missing).
"$ROOT/scripts/deps.sh" --newer

# What a complete prefix holds; anything missing means "build again".
complete() {
  [ -f "$STAMP" ] && [ -f "$PREFIX/lib/pkgconfig/libpqxx.pc" ] &&
    [ -f "$PREFIX/lib/pkgconfig/hiredis.pc" ] && [ -f "$PREFIX/lib/pkgconfig/hiredis_ssl.pc" ] &&
    [ -f "$PREFIX/include/pqxx/pqxx" ] && [ -f "$PREFIX/include/hiredis/hiredis_ssl.h" ]
}

if ! complete; then
  t0=$SECONDS
  say "building libpqxx and hiredis from Debian $SUITE sources into $PREFIX"
  APT=$CACHE/apt
  SRC=$CACHE/src
  rm -rf "$PREFIX" "$SRC"
  mkdir -p "$APT/lists/partial" "$SRC" "$PREFIX"
  echo "deb-src http://deb.debian.org/debian $SUITE main" >"$APT/sources.list"
  mkdir -p "$APT/cache/archives/partial"
  apt_opts=(-qq -o "Dir::Etc::sourcelist=$APT/sources.list" -o "Dir::Etc::sourceparts=/dev/null"
            -o "Dir::State::Lists=$APT/lists" -o "Dir::Cache=$APT/cache")
  # As root, apt would fetch as the _apt user, which cannot write into a private folder.
  [ "$(id -u)" != 0 ] || apt_opts+=(-o "APT::Sandbox::User=root")
  say "apt-get update ($SUITE sources only, private lists in $APT)"
  apt-get "${apt_opts[@]}" update >&2 || die "apt-get update of the $SUITE sources failed"
  (cd "$SRC" && apt-get "${apt_opts[@]}" source --download-only libpqxx hiredis >&2) ||
    die "apt-get source libpqxx hiredis failed"
  for dsc in "$SRC"/*.dsc; do
    (cd "$SRC" && dpkg-source --no-check -x "$(basename "$dsc")" >/dev/null) ||
      die "dpkg-source -x $dsc failed"
  done
  hiredis_src=$(find "$SRC" -maxdepth 1 -type d -name 'hiredis-*' | head -n1)
  pqxx_src=$(find "$SRC" -maxdepth 1 -type d -name 'libpqxx-*' | head -n1)
  [ -n "$hiredis_src" ] && [ -n "$pqxx_src" ] || die "unpacked sources not found in $SRC"

  say "building $(basename "$hiredis_src") (USE_SSL=1)"
  # Trap: hiredis's Makefile takes LIBRARY_PATH from the environment as its install folder
  # (these machines set it to the CUDA stubs), so it is set on the command line.
  make -C "$hiredis_src" -j "$JOBS" USE_SSL=1 PREFIX="$PREFIX" LIBRARY_PATH=lib install \
    >"$CACHE/hiredis-build.log" 2>&1 || { tail -n 30 "$CACHE/hiredis-build.log" >&2; die "hiredis build failed"; }

  say "building $(basename "$pqxx_src") (about 3 minutes on 2 cores)"
  cmake -S "$pqxx_src" -B "$SRC/pqxx-build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBUILD_SHARED_LIBS=ON -DSKIP_BUILD_TEST=ON -DBUILD_DOC=OFF \
    -DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_INSTALL_LIBDIR=lib \
    >"$CACHE/libpqxx-build.log" 2>&1 &&
    cmake --build "$SRC/pqxx-build" -j "$JOBS" >>"$CACHE/libpqxx-build.log" 2>&1 &&
    cmake --install "$SRC/pqxx-build" >>"$CACHE/libpqxx-build.log" 2>&1 ||
    { tail -n 30 "$CACHE/libpqxx-build.log" >&2; die "libpqxx build failed"; }

  {
    echo "suite=$SUITE"
    echo "hiredis=$(basename "$hiredis_src")"
    echo "libpqxx=$(basename "$pqxx_src")"
  } >"$STAMP"
  rm -rf "$SRC"   # the sources and build trees are not needed again
  complete || die "the prefix $PREFIX is incomplete after the build"
  say "built in $((SECONDS - t0)) s"
fi

if [ "$print_prefix" = 1 ]; then
  echo "$PREFIX"
else
  say "prefix $PREFIX: $(PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig pkg-config --modversion libpqxx | sed 's/^/libpqxx /'), $(PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig pkg-config --modversion hiredis | sed 's/^/hiredis /')"
fi
