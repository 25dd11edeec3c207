#!/bin/sh
# Installs the Debian 12 (bookworm) packages bandgate needs to build, run its demo and run its tests.
# Safe to run twice: apt-get install is idempotent and the package lists are refreshed at most once an hour.
# Usage: deploy/install-deps.sh [build|test]   (default: test, which is a superset of build)
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
# Debian's prometheus package (the server it also installs is not started by the tests).
test_pkgs="$build_pkgs python3 python3-gi gir1.2-glib-2.0 python3-cryptography python3-pexpect python3-bleak bluez
 mosquitto mosquitto-clients sqlite3 qemu-system-x86 debootstrap cpio python3-paho-mqtt python3-jinja2 openssl
 prometheus"

case $what in
  build) pkgs=$build_pkgs ;;
  test) pkgs=$test_pkgs ;;
  *) echo "usage: $0 [build|test]" >&2; exit 2 ;;
esac

SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

missing=
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

stamp=/var/lib/apt/periodic/bandgate-update-stamp
if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +60 2>/dev/null)" ]; then
  $SUDO apt-get update -q
  $SUDO mkdir -p "$(dirname "$stamp")" && $SUDO touch "$stamp"
fi
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
