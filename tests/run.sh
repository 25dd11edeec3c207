#!/bin/sh
# Builds bandgate and runs every test: a release build (warnings are errors) and an ASan+UBSan build, the
# whole ctest suite in each. Installs the Debian packages it needs first; safe to run twice.
# Usage: tests/run.sh [ctest arguments...]   e.g. tests/run.sh -R conformance
#            the release and ASan builds' tests, then the Debian packages' (label "package", release build only)
#        tests/run.sh --soak N [ctest arguments...]
#            the flaky-test hunt: N rounds of the timing-sensitive tiers (conformance, clients, integration, the
#            VM test), each round running the release and the ASan build at once, each with ctest -j2, so that
#            four test processes share the machine's cores. A test that fails there fails by chance somewhere:
#            read it and fix it, never re-run it. Prints a line per round and a summary; exits 1 on any failure.
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

soak=0
if [ "${1:-}" = "--soak" ]; then
  soak=${2:?--soak takes a number of rounds}
  shift 2
fi

build() {
  case $1 in
    release) flags="-DCMAKE_BUILD_TYPE=RelWithDebInfo -DBANDGATE_SANITIZE=OFF -DBANDGATE_PACKAGE_TESTS=ON" ;;
    asan) flags="-DCMAKE_BUILD_TYPE=Debug -DBANDGATE_SANITIZE=ON" ;;
  esac
  echo "== $1 build"
  # shellcheck disable=SC2086
  cmake -S . -B "build/$1" $flags >/dev/null
  cmake --build "build/$1" -j"$jobs"
}

if [ "$soak" -eq 0 ]; then
  for variant in release asan; do
    build $variant
    echo "== $variant tests"
    (cd "build/$variant" && ctest --output-on-failure -j"$jobs" -LE package "$@")
  done
  # The Debian packages last, alone: their two builds would otherwise take the cores from timing-sensitive tests.
  echo "== package tests"
  (cd build/release && ctest --output-on-failure -L package "$@")
  exit 0
fi

build release
build asan
mkdir -p build/soak
tiers='^(conformance|client|integration|vm)-'
failed=0
start=$(date +%s)
i=1
while [ "$i" -le "$soak" ]; do
  (cd build/release && ctest -j2 -R "$tiers" --output-on-failure "$@" >"../soak/release-$i.log" 2>&1) &
  a=$!
  (cd build/asan && ctest -j2 -R "$tiers" --output-on-failure "$@" >"../soak/asan-$i.log" 2>&1) &
  b=$!
  ra=0; rb=0
  wait $a || ra=$?
  wait $b || rb=$?
  for v in release asan; do
    # the browser test's pictures of a failed scenario; the next round's run deletes them
    for f in build/$v/screenshots/FAILED-*.png; do
      [ -e "$f" ] && cp "$f" "build/soak/$v-$i-${f##*/}"
    done
    grep -h "tests passed" "build/soak/$v-$i.log" | sed "s/^/soak round $i $v: /"
    grep -h "(Failed)\|(Timeout)\|(SEGFAULT)\|(Subprocess aborted)" "build/soak/$v-$i.log" | sed "s/^/soak round $i $v: /" || true
  done
  [ $ra -eq 0 ] && [ $rb -eq 0 ] || failed=$((failed + 1))
  i=$((i + 1))
done
echo "soak: $soak rounds of both builds at once in $(( $(date +%s) - start )) s; $failed rounds with a failure (logs in build/soak)"
[ "$failed" -eq 0 ]
