#!/usr/bin/env bash
# scripts/check-packaging.sh: checks, without building or any network, that the packaging files
# agree with the CMake project, which holds the one true version (docs/packaging.md):
#   - the version in vcpkg.json, ports/examstore/vcpkg.json and conanfile.py is the
#     `project(examstore VERSION x.y.z)` of CMakeLists.txt, and it is x.y.z (SemVer);
#   - the EXAMSTORE_* CMake options of ports/examstore/portfile.cmake and conanfile.py are the
#     ones scripts/consumer-test.sh builds and tests the install with;
#   - the port and the recipe run CMake's configure/build/install steps;
#   - with python3 present: both vcpkg.json files parse as JSON and conanfile.py compiles.
# Exits 1, naming each difference, when something disagrees. Run by scripts/consumer-test.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

errors=0
problem() {
  echo "check-packaging: $*" >&2
  errors=$((errors + 1))
}

# ---- versions ----
cmake_version=$(sed -nE 's/^project\(examstore VERSION ([^ )]+).*/\1/p' CMakeLists.txt)
if [ -z "$cmake_version" ]; then
  problem "CMakeLists.txt: no 'project(examstore VERSION x.y.z' line"
elif ! [[ "$cmake_version" =~ ^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$ ]]; then
  problem "CMakeLists.txt: version '$cmake_version' is not MAJOR.MINOR.PATCH"
fi

# json_version FILE: prints the value of its one "version" field; fails, printing what it
# found, when there is not exactly one ("version>=" does not count; "version-string" and the
# other schemes are refused: the version must be SemVer).
json_version() {
  local found
  found=$(grep -oE '"version(-semver|-string|-date)?"[[:space:]]*:[[:space:]]*"[^"]*"' "$1" || true)
  if [ "$(grep -c . <<<"$found")" != 1 ] || ! grep -q '^"version"' <<<"$found"; then
    echo "${found:-none}" | tr '\n' ' '
    return 1
  fi
  sed -E 's/.*"([^"]*)"$/\1/' <<<"$found"
}

for f in vcpkg.json ports/examstore/vcpkg.json; do
  if ! v=$(json_version "$f"); then
    problem "$f: expected exactly one \"version\" field, found: $v"
  elif [ "$v" != "$cmake_version" ]; then
    problem "$f: version $v, but CMakeLists.txt says $cmake_version"
  fi
  grep -qE '"name"[[:space:]]*:[[:space:]]*"examstore"' "$f" || problem "$f: name is not examstore"
done

conan_version=$(sed -nE 's/^    version = "([^"]*)"[[:space:]]*(#.*)?$/\1/p' conanfile.py)
if [ "$(grep -c . <<<"$conan_version")" != 1 ]; then
  problem "conanfile.py: expected one 'version = \"x.y.z\"' class attribute, found: ${conan_version:-none}"
elif [ "$conan_version" != "$cmake_version" ]; then
  problem "conanfile.py: version $conan_version, but CMakeLists.txt says $cmake_version"
fi

# ---- CMake options: NAME=VALUE lines, sorted, from the lines that are not comments ----
options_of() {
  local file=$1 pattern=$2
  grep -vE '^[[:space:]]*#' "$file" | grep -oE -e "$pattern" |
    sed -E 's/^-D//; s/"(EXAMSTORE_[A-Z_]+)":[[:space:]]*"([^"]*)"/\1=\2/' | sort -u
}
ours=$(options_of scripts/consumer-test.sh '-DEXAMSTORE_[A-Z_]+=[A-Za-z0-9]+')
[ -n "$ours" ] || problem "scripts/consumer-test.sh: no -DEXAMSTORE_* options found"
port=$(options_of ports/examstore/portfile.cmake '-DEXAMSTORE_[A-Z_]+=[A-Za-z0-9]+')
conan=$(options_of conanfile.py '"EXAMSTORE_[A-Z_]+":[[:space:]]*"[^"]*"')
[ "$port" = "$ours" ] || problem "ports/examstore/portfile.cmake: CMake options differ from scripts/consumer-test.sh:
$(diff <(echo "$ours") <(echo "$port") | grep '^[<>]' || true)"
[ "$conan" = "$ours" ] || problem "conanfile.py: CMake options differ from scripts/consumer-test.sh:
$(diff <(echo "$ours") <(echo "$conan") | grep '^[<>]' || true)"

# ---- the steps ----
for step in vcpkg_cmake_configure vcpkg_cmake_install vcpkg_cmake_config_fixup; do
  grep -qE "^[[:space:]]*$step\(" ports/examstore/portfile.cmake ||
    problem "ports/examstore/portfile.cmake: no $step() step"
done
for step in 'cmake.configure()' 'cmake.build()' 'cmake.install()' \
            'set_property("cmake_file_name", "examstore")' \
            'set_property("cmake_target_name", "examstore::examstore")'; do
  grep -qF "$step" conanfile.py || problem "conanfile.py: no $step"
done

# ---- syntax, where python3 is there to check it ----
if command -v python3 >/dev/null 2>&1; then
  for f in vcpkg.json ports/examstore/vcpkg.json; do
    python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$f" 2>/dev/null ||
      problem "$f: not valid JSON"
  done
  python3 -c 'import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])' conanfile.py ||
    problem "conanfile.py: not valid Python"
else
  echo "check-packaging: python3 not found: JSON and Python syntax not checked"
fi

if [ "$errors" != 0 ]; then
  echo "check-packaging: $errors problem(s)" >&2
  exit 1
fi
echo "check-packaging: version $cmake_version in CMakeLists.txt, vcpkg.json, ports/examstore/vcpkg.json and conanfile.py; options $(tr '\n' ' ' <<<"$ours")in all three"
