#!/bin/sh
# The .deb in a clean Debian root, as dpkg and apt treat it on a real system (debootstrap + chroot, no systemd
# running): install, remove, reinstall, upgrade from an older version, purge, with the files, the user, the
# modes and what survives each step checked; then systemd-analyze verify and the security score of the unit
# as installed. Usage: lifecycle.sh DEB   Needs root, debootstrap and the mirror apt uses.
# The base root (bookworm minbase with the package's dependencies) is cached in $BANDGATE_PKG_CACHE (default
# build/package-root) and rebuilt when this script changes.
set -eu
deb=$(realpath "${1:?usage: lifecycle.sh DEB}")
here=$(cd "$(dirname "$0")" && pwd)
cache=${BANDGATE_PKG_CACHE:-$here/../../build/package-root}
# The package's runtime dependencies, installed into the cached base so that each run is offline and fast, and
# procps (/bin/kill for ExecReload), which every real system has (Priority: important) and minbase leaves out.
DEPS="systemd bluez libwebsockets-evlib-glib libwebsockets17 libmosquitto1 libsqlite3-0 libcjson1 libssl3
 libglib2.0-0 libcrypt1 libsystemd0 sqlite3 procps"
SCORE_MAX=20 # systemd-analyze security's exposure times ten: 2.0, "OK"

fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
key=$( { cat "$0"; echo "$DEPS"; } | sha256sum | cut -d' ' -f1)
exec 9>"$cache/lock"
flock 9
if [ ! -f "$cache/base.tar" ] || [ "$(cat "$cache/key" 2>/dev/null)" != "$key" ]; then
  mirror=$(apt-cache policy 2>/dev/null | awk '$3 == "bookworm/main" && $2 ~ /^https?:/ { print $2; exit }')
  [ -n "$mirror" ] || fail "no bookworm/main source in apt's lists (run apt-get update)"
  step "debootstrap bookworm minbase with the package's dependencies (cached in $cache)"
  tmp=$(mktemp -d "$cache/build.XXXXXX")
  debootstrap --variant=minbase --include="$(echo $DEPS | tr ' ' ',')" --exclude=bluez bookworm "$tmp/root" \
    "$mirror" > "$tmp/debootstrap.log" 2>&1 || { tail -20 "$tmp/debootstrap.log" >&2; rm -rf "$tmp"; exit 1; }
  # bluez's postinst starts its service, which a chroot cannot: installed with services held back, as an
  # image builder does.
  printf '#!/bin/sh\nexit 101\n' > "$tmp/root/usr/sbin/policy-rc.d"
  chmod +x "$tmp/root/usr/sbin/policy-rc.d"
  cp /etc/resolv.conf "$tmp/root/etc/resolv.conf"
  mount -t proc proc "$tmp/root/proc"
  chroot "$tmp/root" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends bluez' > "$tmp/bluez.log" 2>&1 || { umount "$tmp/root/proc"; tail -20 "$tmp/bluez.log" >&2; \
    rm -rf "$tmp"; exit 1; }
  umount "$tmp/root/proc"
  rm -rf "$tmp"/root/var/cache/apt/archives/*.deb "$tmp"/root/var/lib/apt/lists/*
  tar -C "$tmp/root" -cf "$cache/base.tar" .
  rm -rf "$tmp"
  echo "$key" > "$cache/key"
fi
flock -u 9

root=$(mktemp -d /tmp/bandgate-pkg.XXXXXX)
cleanup() {
  umount "$root/proc" 2>/dev/null || true
  rm -rf "$root"
}
trap cleanup EXIT
tar -C "$root" -xf "$cache/base.tar"
mount -t proc proc "$root/proc"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 "$@"; }
cp "$deb" "$root/tmp/new.deb"
# The previous version: the same files under an older version number, so that dpkg runs the upgrade path of
# the maintainer scripts (postinst configure with the old version: a restart, not a start).
mkdir "$root/tmp/old"
dpkg-deb -R "$deb" "$root/tmp/old/pkg"
sed -i 's/^Version: .*/Version: 0.0.9/' "$root/tmp/old/pkg/DEBIAN/control"
dpkg-deb -b "$root/tmp/old/pkg" "$root/tmp/old.deb" >/dev/null

step "install the older version, then upgrade to this one"
in_root dpkg -i /tmp/old.deb > /dev/null || fail "dpkg -i of the older version"
in_root sh -c 'mkdir -p /var/lib/bandgate && printf "history\n" > /var/lib/bandgate/bandgate.db'
in_root dpkg -i /tmp/new.deb > /dev/null || fail "the upgrade"
[ "$(in_root dpkg-query -W -f '${Version}' bandgate)" = "$(dpkg-deb -f "$deb" Version)" ] || fail "not upgraded"
grep -q history "$root/var/lib/bandgate/bandgate.db" || fail "the upgrade lost the database"

step "what install leaves: files, conffile, user and group, modes, the enabled service"
[ -x "$root/usr/bin/bandgate" ] || fail "no /usr/bin/bandgate"
in_root bandgate --check-config --config /etc/bandgate/bandgate.conf > /dev/null || fail "the shipped config is not valid"
in_root dpkg-query -W -f '${Conffiles}\n' bandgate | grep -q ' /etc/bandgate/bandgate.conf ' ||
  fail "/etc/bandgate/bandgate.conf is not a conffile"
in_root getent passwd bandgate > /dev/null || fail "no user bandgate"
in_root getent group bandgate > /dev/null || fail "no group bandgate"
in_root id -nG bandgate | tr ' ' '\n' | grep -qx bluetooth || fail "bandgate is not in the bluetooth group"
[ "$(in_root getent passwd bandgate | cut -d: -f7)" != /bin/bash ] || fail "the system user has a login shell"
[ -L "$root/etc/systemd/system/multi-user.target.wants/bandgate.service" ] || fail "the service is not enabled"
[ "$(stat -c %a "$root/usr/bin/bandgate")" = 755 ] || fail "/usr/bin/bandgate mode"
[ "$(stat -c %a "$root/etc/bandgate/bandgate.conf")" = 644 ] || fail "conffile mode"
[ -f "$root/usr/share/man/man8/bandgate.8.gz" ] || fail "no manual page"

step "systemd-analyze verify, and the security score at most $SCORE_MAX/10"
in_root systemd-analyze verify --man=no /lib/systemd/system/bandgate.service || fail "systemd-analyze verify"
in_root systemd-analyze security --offline=yes --no-pager --threshold=$SCORE_MAX \
  /lib/systemd/system/bandgate.service > "$root/tmp/security.txt" 2>&1 ||
  { tail -3 "$root/tmp/security.txt" >&2; fail "security exposure above $SCORE_MAX/10"; }
grep 'Overall exposure level' "$root/tmp/security.txt"

step "remove keeps the database, the password and the edited config; the user stays"
echo "# edited by the admin" >> "$root/etc/bandgate/bandgate.conf"
printf 'a password\na password\n' | in_root bandgate passwd --stdin --config /etc/bandgate/bandgate.conf ||
  fail "bandgate passwd"
[ "$(stat -c %a "$root/var/lib/bandgate/web-password")" = 600 ] || fail "web-password is not 0600"
in_root dpkg -r bandgate > /dev/null || fail "dpkg -r"
[ ! -e "$root/usr/bin/bandgate" ] || fail "remove left /usr/bin/bandgate"
grep -q 'edited by the admin' "$root/etc/bandgate/bandgate.conf" || fail "remove lost the config"
[ -f "$root/var/lib/bandgate/web-password" ] || fail "remove lost the password"
grep -q history "$root/var/lib/bandgate/bandgate.db" || fail "remove lost the database"
in_root getent passwd bandgate > /dev/null || fail "remove deleted the user"

step "reinstall keeps the edited config"
in_root dpkg -i /tmp/new.deb > /dev/null || fail "reinstall"
grep -q 'edited by the admin' "$root/etc/bandgate/bandgate.conf" || fail "reinstall replaced the edited config"

step "purge deletes the config, the database and the password"
in_root dpkg -P bandgate > /dev/null || fail "dpkg -P"
[ ! -e "$root/etc/bandgate" ] || fail "purge left /etc/bandgate"
[ ! -e "$root/var/lib/bandgate" ] || fail "purge left /var/lib/bandgate"
[ ! -e "$root/etc/systemd/system/multi-user.target.wants/bandgate.service" ] || fail "purge left the enablement"
echo "PASS"
