#!/bin/sh
# The arm64 build tested, not just built: the binaries are aarch64 ELF, the unit tests pass under qemu-aarch64
# user emulation, and the arm64 bandgate runs the gateway's integration scenario against the native simulator
# (arm64_scenario.py). Runs on what deploy/build-deb.sh arm64 left in build/deb/arm64 (the package and the
# cross-built test binaries beside it). qemu-aarch64 is registered with binfmt_misc, so arm64 programs run as
# any other: ctest, and GLib's test subprocesses, exec them directly.
# Usage: arm64.sh DEB OBJDIR SIM     Needs root (binfmt_misc) and qemu-user-static.
set -eu
deb=${1:?usage: arm64.sh DEB OBJDIR SIM}
obj=${2:?usage: arm64.sh DEB OBJDIR SIM}
sim=${3:?usage: arm64.sh DEB OBJDIR SIM}
here=$(cd "$(dirname "$0")" && pwd)

fail() { echo "FAIL: $*" >&2; exit 1; }

[ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ] || fail "$deb is not an arm64 package"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp"
file -b "$tmp/usr/bin/bandgate" | grep -q 'ARM aarch64' || fail "the packaged bandgate is not aarch64: $(file -b "$tmp/usr/bin/bandgate")"
file -b "$obj/gateway/bandgate" | grep -q 'ARM aarch64' || fail "the built bandgate is not aarch64"
echo "aarch64: $(file -b "$tmp/usr/bin/bandgate" | cut -d, -f1-2)"

if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc || fail "cannot mount binfmt_misc"
fi
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64 2>/dev/null ||
  fail "qemu-aarch64 is not registered with binfmt_misc (is qemu-user-static installed?)"

echo "== the unit tests under qemu-aarch64"
(cd "$obj" && ctest -R '^unit-' --output-on-failure) || fail "unit tests under qemu-aarch64"

echo "== the arm64 bandgate against the native simulator"
BANDGATE=$(realpath "$obj/gateway/bandgate") BANDGATE_SIM=$(realpath "$sim") \
  /usr/bin/python3 "$here/arm64_scenario.py" -v || fail "the arm64 gateway's scenario"
echo PASS
