#!/bin/sh
# Installs the Debian 12 (bookworm) packages bandgate needs to build, run its demo and run its tests.
# Safe to run twice: apt-get install is idempotent, the package lists are refreshed at most once an hour, and
# the browser tests' npm ci runs again only when their lock file changed.
# Usage: deploy/install-deps.sh [build|test|package]   (default: test, which is a superset of build)
#        deploy/install-deps.sh cross ARCH            the -dev packages of ARCH for a cross build (build-deb.sh)
set -eu
what=${1:-test}

build_pkgs="build-essential cmake pkg-config libglib2.0-dev libmosquitto-dev libwebsockets-dev
 libsqlite3-dev libcjson-dev libssl-dev libsystemd-dev dbus-daemon libwebsockets-evlib-glib"
# libwebsockets loads its GLib event loop from a plugin package: without it lws_create_context fails at run time.
# The simulator's conformance tests are written in Python against Debian's own bindings; bluetoothctl
# (package bluez) and python3-bleak are clients nobody here wrote; mosquitto is the real broker the later tests start.
# The VM test (tests/vm) builds a Debian guest with debootstrap and cpio and boots it with QEMU. The MQTT tests
# talk to the broker with paho (a client nobody here wrote), render Home Assistant's value templates with Jinja2
# as Home Assistant does, and make their TLS certificates with openssl. /metrics is checked by promtool, from
# Debian's prometheus package (the server it also installs is not started by the tests). The browser tests
# (tests/browser) drive Debian's chromium with playwright-core from npm, pinned by tests/browser/package-lock.json,
# and script the simulator with gdbus (libglib2.0-bin); node and npm come from Debian unless they are already
# there (NodeSource's nodejs brings its own npm and conflicts with Debian's). The web benchmark (tests/bench)
# loads the dashboard with wrk and compares it with nginx.
test_pkgs="$build_pkgs python3 python3-gi gir1.2-glib-2.0 python3-cryptography python3-pexpect python3-bleak bluez
 mosquitto mosquitto-clients sqlite3 qemu-system-x86 debootstrap cpio python3-paho-mqtt python3-jinja2 openssl
 prometheus libglib2.0-bin chromium wrk nginx-light"
command -v npm >/dev/null 2>&1 || test_pkgs="$test_pkgs nodejs npm"

# The Debian packages (deploy/build-deb.sh, tests/package): debhelper and lintian; qemu-user-static, binfmt-support
# and file to run and check the arm64 build; debootstrap for the clean root the .deb is installed in.
package_pkgs="$build_pkgs debhelper dpkg-dev fakeroot lintian libcrypt-dev crossbuild-essential-arm64
 qemu-user-static binfmt-support file debootstrap"

SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

# A cross build's libraries come through multiarch. libwebsockets-dev is not co-installable across architectures
# (its lws_config.h differs only in LWS_INSTALL_LIBDIR, a path the library uses itself), so the foreign runtime
# library is installed and the foreign package's pkg-config file and .so link are unpacked beside it, under
# /usr/lib/<triplet>; the native header serves both. build-deb.sh then builds with -d (dpkg-checkbuilddeps
# cannot know this). Unpacked, that package brings none of its dependencies, so the one its pkg-config file
# names (Requires: libcap) is installed here by hand: libcap-dev.
cross() {
  arch=$1
  triplet=$(dpkg-architecture -a "$arch" -qDEB_HOST_MULTIARCH)
  if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    $SUDO dpkg --add-architecture "$arch"
    $SUDO rm -f /var/lib/apt/periodic/bandgate-update-stamp
  fi
  libs="libglib2.0-dev libmosquitto-dev libsqlite3-dev libcjson-dev libssl-dev libsystemd-dev libcrypt-dev
 libwebsockets17 libwebsockets-evlib-glib libcap-dev"
  want=
  for p in $libs; do
    dpkg-query -W -f='${Status}' "$p:$arch" 2>/dev/null | grep -q 'install ok installed' || want="$want $p:$arch"
  done
  if [ -n "$want" ]; then
    $SUDO apt-get update -q
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $want
  fi
  if [ ! -e "/usr/lib/$triplet/pkgconfig/libwebsockets.pc" ]; then
    tmp=$(mktemp -d)
    (cd "$tmp" && apt-get download -q "libwebsockets-dev:$arch" >/dev/null)
    dpkg-deb -x "$tmp"/libwebsockets-dev_*.deb "$tmp/x"
    $SUDO cp -a "$tmp/x/usr/lib/$triplet/." "/usr/lib/$triplet/"
    rm -rf "$tmp"
  fi
}

case $what in
  cross) cross "${2:?usage: $0 cross ARCH}"; exit 0 ;;
  package) pkgs=$package_pkgs ;;
  build) pkgs=$build_pkgs ;;
  test) pkgs=$test_pkgs ;;
  *) echo "usage: $0 [build|test|package] | cross ARCH" >&2; exit 2 ;;
esac

missing=
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done

if [ -n "$missing" ]; then
  stamp=/var/lib/apt/periodic/bandgate-update-stamp
  if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +60 2>/dev/null)" ]; then
    $SUDO apt-get update -q
    $SUDO mkdir -p "$(dirname "$stamp")" && $SUDO touch "$stamp"
  fi
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi
[ "$what" = test ] || exit 0

# The browser tests' node modules, exactly as the lock file says. npm ci starts from an empty node_modules, so
# it runs only when the lock file changed since the last install (its copy is kept in node_modules).
browser=$(cd "$(dirname "$0")/../tests/browser" && pwd)
if ! cmp -s "$browser/package-lock.json" "$browser/node_modules/.bandgate-installed-lock"; then
  (cd "$browser" && npm ci --no-audit --no-fund)
  cp "$browser/package-lock.json" "$browser/node_modules/.bandgate-installed-lock"
fi
