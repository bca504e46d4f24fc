#!/usr/bin/env bash
# scripts/deps.sh [--servers] [--lint] [--newer]: installs what examstore needs on Debian 12 with
# apt-get.
#
#   (no option)  the build: compiler, CMake, pkg-config and the libraries
#   --servers    also Redis and PostgreSQL 15 (for the tests and benchmarks), and openssl (the
#                tests make a throwaway CA for the TLS checks)
#   --lint       also clang-format and clang-tidy
#   --newer      also what scripts/newer-deps.sh needs to build libpqxx 7 and hiredis 1.x from
#                Debian 13's sources (dpkg-dev, libssl-dev)
#
# Idempotent and silent when everything is installed: each package is checked with dpkg-query,
# and apt-get (update + install) runs only when something is missing. Runs apt-get directly as
# root, through sudo otherwise. Set EXAMSTORE_SKIP_DEPS=1 to skip this step entirely (e.g. on a
# non-Debian system where you installed the equivalents yourself).
#
# Can be executed or sourced (`source scripts/deps.sh --servers`); either way it installs.
set -euo pipefail

examstore_deps_main() {
  local want_servers=0 want_lint=0 want_newer=0 arg
  for arg in "$@"; do
    case "$arg" in
      --servers) want_servers=1 ;;
      --lint) want_lint=1 ;;
      --newer) want_newer=1 ;;
      -h | --help)
        sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        return 0 ;;
      *) echo "deps.sh: unknown option '$arg' (use --servers, --lint, --newer)" >&2; return 2 ;;
    esac
  done

  [ "${EXAMSTORE_SKIP_DEPS:-0}" = 1 ] && return 0

  local pkgs=(build-essential cmake pkg-config libhiredis-dev libpqxx-dev libpq-dev libfmt-dev
              catch2 libboost-dev libsodium-dev)
  # `postgresql` would not upgrade an installed older server: name the version explicitly.
  [ "$want_servers" = 1 ] && pkgs+=(redis-server redis-tools postgresql-15 openssl)
  [ "$want_lint" = 1 ] && pkgs+=(clang-format clang-tidy)
  [ "$want_newer" = 1 ] && pkgs+=(dpkg-dev libssl-dev)

  if ! command -v dpkg-query >/dev/null 2>&1; then
    echo "deps.sh: not a Debian system (no dpkg-query); install the equivalents of:" >&2
    echo "deps.sh:   ${pkgs[*]}" >&2
    return 0
  fi

  local missing=() p
  for p in "${pkgs[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" != "install ok installed" ]; then
      missing+=("$p")
    fi
  done
  [ "${#missing[@]}" -eq 0 ] && return 0

  local sudo=()
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo=(sudo)
    else
      echo "deps.sh: missing packages: ${missing[*]}" >&2
      echo "deps.sh: not root and no sudo: install them as root, then re-run" >&2
      return 1
    fi
  fi

  echo "deps.sh: installing ${missing[*]}" >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  examstore_deps_main "$@"       # sourced: do not exit the caller's shell
else
  examstore_deps_main "$@"
  exit $?
fi
