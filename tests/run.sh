#!/bin/sh
# Builds bandgate and runs every test: a release build (warnings are errors) and an ASan+UBSan build, the
# whole ctest suite in each. Installs the Debian packages it needs first; safe to run twice.
# Usage: tests/run.sh [ctest arguments...]   e.g. tests/run.sh -R conformance
set -eu
cd "$(dirname "$0")/.."
deploy/install-deps.sh test

jobs=$(nproc 2>/dev/null || echo 2)
# Leaks fail the run; UBSan findings abort (the build uses -fno-sanitize-recover).
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# The VM test's guest image is the same for both builds: build it once.
BANDGATE_VM_CACHE="${BANDGATE_VM_CACHE:-$(pwd)/build/vm-image}"
export BANDGATE_VM_CACHE

for variant in release asan; do
  case $variant in
    release) flags="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DBANDGATE_SANITIZE=OFF" ;;
    asan) flags="-DCMAKE_BUILD_TYPE=Debug -DBANDGATE_SANITIZE=ON" ;;
  esac
  echo "== $variant build"
  # shellcheck disable=SC2086
  cmake -S . -B "build/$variant" $flags >/dev/null
  cmake --build "build/$variant" -j"$jobs"
  echo "== $variant tests"
  (cd "build/$variant" && ctest --output-on-failure -j"$jobs" "$@")
done
