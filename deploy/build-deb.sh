#!/bin/sh
# Builds the Debian packages the Debian way (debhelper, dpkg-buildpackage) from a copy of this tree with
# deploy/debian as its debian/: amd64 natively and arm64 by cross-compiling (crossbuild-essential-arm64, the
# arm64 -dev packages through multiarch). Each is checked with lintian (no errors, no warnings). The arm64
# build also keeps its test binaries, which tests/package/arm64.sh runs under qemu-aarch64.
# Usage: deploy/build-deb.sh [amd64] [arm64]     (default: both)   Output: build/deb/ARCH/*.deb
# Installs what it needs (deploy/install-deps.sh package); safe to run twice.
set -eu
cd "$(dirname "$0")/.."
top=$(pwd)
archs=${*:-amd64 arm64}
native=$(dpkg --print-architecture)

deploy/install-deps.sh package
for arch in $archs; do
  out=$top/build/deb/$arch
  src=$out/bandgate
  rm -rf "$out"
  mkdir -p "$src"
  # The tree as it is, without build products: the package is built from what a clone holds.
  tar -C "$top" --exclude=./build --exclude=./.git --exclude=node_modules -cf - . | tar -C "$src" -xf -
  cp -rL "$top/deploy/debian" "$src/debian"
  if [ "$arch" = "$native" ]; then
    (cd "$src" && dpkg-buildpackage -us -uc -b) > "$out/build.log" 2>&1 ||
      { tail -40 "$out/build.log" >&2; echo "build-deb: the $arch build failed: $out/build.log" >&2; exit 1; }
  else
    deploy/install-deps.sh cross "$arch"
    (cd "$src" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b -d -a "$arch" -Pcross,nocheck) \
      > "$out/build.log" 2>&1 ||
      { tail -40 "$out/build.log" >&2; echo "build-deb: the $arch build failed: $out/build.log" >&2; exit 1; }
  fi
  if ! lintian --fail-on error,warning "$out"/*.changes > "$out/lintian.log" 2>&1; then
    cat "$out/lintian.log" >&2
    echo "build-deb: lintian found problems in the $arch package" >&2
    exit 1
  fi
  for deb in "$out"/bandgate_*.deb; do
    echo "$deb $(stat -c %s "$deb") bytes"
  done
done
