#!/bin/sh
# Builds the guest of the package VM test (run-system-vm.sh): a Debian bookworm system that boots with
# systemd as PID 1 from a disk, so that what the package installs, the service's state and the journal live
# through a reboot. The disk holds a minbase root with systemd, udev, dbus, bluez (bluetoothd 5.66, btvirt,
# btmon), Python and every dependency of the .deb (so that apt installs it offline in the guest), the pinned
# kernel's modules the test needs, and the units of the world around the gateway: btvirt (the two virtual
# controllers), btmon, bandgate-periph (the simulated band, from the 9p share) and the hook that runs the
# share's system-guest.sh. A small initramfs (busybox) loads virtio and ext4 and hands over to systemd.
# Neither the package nor the scenario goes into the image: they come in through the share on every run.
#
# Usage: build-image-system.sh DIR DEB     (prints DIR when the image there is current)
# DIR gets vmlinuz, initrd.cpio and disk.raw (sparse; a run boots a copy). The image is rebuilt only when its
# inputs change: this script, its package list, the .deb's dependencies and the kernel (their hash is DIR/key).
# Needs root, debootstrap, mke2fs (1.43 or later: -d), cpio and the host's apt sources. Concurrent callers
# wait for each other (flock).
set -eu

# Pinned: 6.1.192 (6.1.0-56) oopses in hci_chan_del after Pair + Disconnect (vm-notes.md, pitfall 6).
KVER=6.1.0-50-amd64
KPKG_VERSION=6.1.176-1
SUITE=bookworm
DISK_MB=2048
# A system as on a Pi: systemd and udev (bluetooth.target comes from udev when a controller appears), the
# system bus, bluez and its test tools (btvirt, btmon); the scenario in Python with GLib's bindings; procps for
# /bin/kill (the unit's ExecReload), which every real system has; the sanitizers' runtimes for an ASan periph.
PACKAGES="systemd systemd-sysv udev dbus bluez bluez-test-tools kmod procps python3 python3-gi gir1.2-glib-2.0
 libasan8 libubsan1"
# Loaded by the initramfs, in dependency order: the disk and its file system.
INITRD_MODULES="virtio_pci virtio_blk ext4"
# What the system loads: the above, bluetooth + hci_vhci and their crypto, the 9p share, virtio's RNG.
MODULE_DIRS="kernel/crypto kernel/lib kernel/arch/x86/crypto kernel/net/bluetooth kernel/net/rfkill
 kernel/drivers/bluetooth kernel/drivers/virtio kernel/drivers/block/virtio_blk.ko kernel/fs/ext4 kernel/fs/jbd2
 kernel/fs/mbcache.ko kernel/fs/9p kernel/net/9p kernel/fs/netfs kernel/fs/fscache kernel/fs/autofs
 kernel/drivers/char/hw_random"
LEGACY_KEY_HEX=30313233343536373839404142434445 # "0123456789@ABCDE", the key a new band holds

dir=${1:?usage: build-image-system.sh DIR DEB}
deb=${2:?usage: build-image-system.sh DIR DEB}
# The package's dependencies, first alternative of each, without versions: bookworm's satisfy the .deb built
# on bookworm.
deps=$(dpkg-deb -f "$deb" Pre-Depends Depends | sed 's/^[A-Za-z-]*: //' | tr ',' '\n' |
  sed 's/|.*//; s/(.*)//; s/:any//; s/[[:space:]]//g' | grep -v '^$' | LC_ALL=C sort -u | tr '\n' ' ')
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
key=$( { cat "$0"; echo "$PACKAGES $deps $KVER $KPKG_VERSION $SUITE $DISK_MB"; } | sha256sum | cut -d' ' -f1)

exec 9>"$dir/lock"
flock 9
if [ -f "$dir/key" ] && [ "$(cat "$dir/key")" = "$key" ] && [ -f "$dir/disk.raw" ] && [ -f "$dir/initrd.cpio" ] &&
    [ -f "$dir/vmlinuz" ]; then
  echo "$dir"
  exit 0
fi
rm -f "$dir/key"

mirror=$(apt-cache policy 2>/dev/null | awk -v s="$SUITE/main" '$3 == s && $2 ~ /^https?:/ { print $2; exit }')
if [ -z "$mirror" ]; then
  echo "build-image-system: no $SUITE/main source in apt's lists (run apt-get update)" >&2
  exit 1
fi

work=$(mktemp -d "$dir/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
started=$(date +%s)

# shellcheck disable=SC2086
echo "build-image-system: debootstrap $SUITE from $mirror with" $PACKAGES $deps >&2
# shellcheck disable=SC2086
debootstrap --variant=minbase --include="$(echo $PACKAGES $deps | tr ' ' ',')" "$SUITE" "$root" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log" >&2; exit 1; }
rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/usr/share/info/* \
  "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/zoneinfo/right

echo "build-image-system: kernel $KVER ($KPKG_VERSION), busybox for the initramfs" >&2
(cd "$work" && apt-get download -q "linux-image-$KVER=$KPKG_VERSION" busybox-static >/dev/null 2>&1) ||
  { echo "build-image-system: cannot download linux-image-$KVER=$KPKG_VERSION or busybox-static" >&2; exit 1; }
dpkg-deb -x "$work"/linux-image-*.deb "$work/kernel"
dpkg-deb -x "$work"/busybox-static_*.deb "$work/busybox"
cp "$work/kernel/boot/vmlinuz-$KVER" "$work/vmlinuz"
kmods=$work/kernel/lib/modules/$KVER
mods=$root/usr/lib/modules/$KVER
mkdir -p "$mods"
cp "$kmods"/modules.order "$kmods"/modules.builtin "$kmods"/modules.builtin.modinfo "$mods/"
for d in $MODULE_DIRS; do
  [ -e "$kmods/$d" ] || continue
  mkdir -p "$mods/$(dirname "$d")"
  cp -a "$kmods/$d" "$mods/$d"
done
depmod -b "$root" "$KVER"

# ---- the system's configuration: a disk root, the journal kept, the world's units ----
cat >"$root/etc/fstab" <<'FSTAB'
/dev/vda / ext4 rw,noatime 0 0
vm /mnt/vm 9p trans=virtio,version=9p2000.L,msize=262144,nofail,x-systemd.requires=systemd-modules-load.service 0 0
FSTAB
mkdir -p "$root/mnt/vm" "$root/var/log/journal" "$root/etc/systemd/journald.conf.d" "$root/etc/systemd/system.conf.d"
printf '9pnet_virtio\n9p\n' >"$root/etc/modules-load.d/bandgate-vm.conf"
echo bandgate-vm >"$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 bandgate-vm\n' >"$root/etc/hosts"
# Not a first boot (systemd-firstboot would ask on the console); every run boots a copy of this disk.
od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$root/etc/machine-id"
echo >>"$root/etc/machine-id"
# Every line of bluetoothd -d kept, and both boots' journals on the disk.
printf '[Journal]\nStorage=persistent\nRateLimitBurst=0\n' >"$root/etc/systemd/journald.conf.d/bandgate-vm.conf"
# A unit that hangs in a shutdown must not eat the test's time.
printf '[Manager]\nDefaultTimeoutStopSec=15s\n' >"$root/etc/systemd/system.conf.d/bandgate-vm.conf"
# Periodic jobs (apt's, dpkg's backup) would take dpkg's lock in the middle of the test's installs.
for t in "$root"/etc/systemd/system/timers.target.wants/*.timer; do
  [ -e "$t" ] || continue
  rm -f "$t"
  ln -sf /dev/null "$root/etc/systemd/system/$(basename "$t")"
done
# What the test's machine has no use for and pays for in boot time under TCG: binfmt_misc (not among the
# modules), ext4 snapshot checks, login prompts (the console is a log, nobody types on it).
for u in systemd-binfmt.service proc-sys-fs-binfmt_misc.automount e2scrub_reap.service getty@.service \
    serial-getty@.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$u"
done
rm -f "$root/etc/systemd/system/multi-user.target.wants/e2scrub_reap.service"
ln -sf /lib/systemd/system/multi-user.target "$root/etc/systemd/system/default.target"

# vm-notes.md pitfall 5: EATT off, or BlueZ 5.66 loses ServicesResolved and notifications. Privacy off: with it
# the emulated controllers' advertising reports come far later (pitfall 4). No GATT cache: the simulated band's
# database is registered anew by every start of bandgate-periph, on the same bluetoothd that caches it for the
# gateway, and after a restart of bluetooth the cache served the band without its FEE0 service (README.md).
printf '[General]\nPrivacy = off\n[GATT]\nChannels = 1\nCache = no\n' >"$root/etc/bluetooth/main.conf"
mkdir -p "$root/etc/systemd/system/bluetooth.service.d"
cat >"$root/etc/systemd/system/bluetooth.service.d/bandgate-vm.conf" <<'UNIT'
# bluetoothd's debug log in the journal, for the test's logs.
[Service]
ExecStart=
ExecStart=/usr/libexec/bluetooth/bluetoothd -d
UNIT
# The simulated band's control interface on the system bus, for root (bandgate-periph and the scenario).
cat >"$root/etc/dbus-1/system.d/bandgate-vm.conf" <<'CONF'
<busconfig><policy user="root"><allow own="io.bandgate.Sim"/><allow send_destination="io.bandgate.Sim"/>
</policy></busconfig>
CONF

cat >"$root/etc/systemd/system/btvirt.service" <<'UNIT'
# The test's hardware: two virtual LE controllers, hci0 = 00:AA:01:00:00:00 for bandgate and
# hci1 = 00:AA:01:01:00:01 for the simulated band (vm-notes.md pitfall 2), up before bluetoothd.
[Unit]
Description=Two virtual LE controllers (btvirt)
Before=bluetooth.service

[Service]
ExecStartPre=/sbin/modprobe -a hci_vhci cmac algif_hash algif_skcipher ecdh_generic
ExecStart=/usr/bin/btvirt -l2
ExecStartPost=/bin/sh -c 'until [ -e /sys/class/bluetooth/hci1 ]; do sleep 0.1; done'
TimeoutStartSec=20

[Install]
WantedBy=multi-user.target
UNIT
cat >"$root/etc/systemd/system/btmon.service" <<'UNIT'
# The HCI trace of both controllers, one btsnoop file per boot (the host turns them into text).
[Unit]
Description=HCI trace for the test's logs (btmon)
After=btvirt.service
Before=bluetooth.service

[Service]
LogsDirectory=btmon
ExecStart=/usr/bin/btmon -w /var/log/btmon/%b.snoop
# btmon also decodes every packet as text: kept out of the journal, whose load would slow the guest down.
StandardOutput=null

[Install]
WantedBy=multi-user.target
UNIT
cat >"$root/etc/systemd/system/bandgate-periph.service" <<UNIT
# The simulated Mi Band 2 (tests/sim/periph.c), served on hci1 through the real bluetoothd. One bluetoothd
# serves both controllers here, so a restart of bluetooth takes the band's GATT application with it; the band
# comes back as a real one would, with the key it holds: band.env is its flash (the scenario writes it).
[Unit]
Description=The simulated Mi Band 2 on hci1 (bandgate-periph from the test's share)
Requires=bluetooth.service
After=bluetooth.service btvirt.service
PartOf=bluetooth.service
RequiresMountsFor=/mnt/vm
ConditionPathExists=/mnt/vm/bin/bandgate-periph

[Service]
Environment=BAND_KEY=$LEGACY_KEY_HEX
EnvironmentFile=-/var/lib/bandgate-vm/band.env
ExecStartPre=/bin/sh -c 'until dbus-send --system --print-reply --dest=org.bluez /org/bluez/hci1 \\
  org.freedesktop.DBus.Properties.Get string:org.bluez.Adapter1 string:Address >/dev/null 2>&1; do sleep 0.2; done'
ExecStart=/mnt/vm/bin/bandgate-periph --adapter hci1 --days 0 --fetch-cap 100 --key \${BAND_KEY} --verbose
TimeoutStartSec=30

[Install]
WantedBy=multi-user.target
UNIT
cat >"$root/etc/systemd/system/bandgate-vm-test.service" <<'UNIT'
# The hook: the test itself lives on the share (system-guest.sh and what it runs), not in the image.
[Unit]
Description=The package VM test (system-guest.sh from the share)
RequiresMountsFor=/mnt/vm
ConditionPathExists=/mnt/vm/system-guest.sh
After=bandgate-periph.service

[Service]
ExecStart=/bin/sh /mnt/vm/system-guest.sh
StandardOutput=journal+console
StandardError=journal+console
TimeoutStopSec=5

[Install]
WantedBy=multi-user.target
UNIT
for u in btvirt btmon bandgate-periph bandgate-vm-test; do
  ln -sf "/etc/systemd/system/$u.service" "$root/etc/systemd/system/multi-user.target.wants/$u.service"
done

# ---- the initramfs: busybox, the modules of the disk, an /init that mounts it and starts systemd ----
ird=$work/initrd
mkdir -p "$ird/bin" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/root"
cp "$work/busybox/bin/busybox" "$ird/bin/busybox"
for m in $INITRD_MODULES; do
  modprobe -d "$root" -S "$KVER" --show-depends "$m" | awk '$1 == "insmod" { print $2 }'
done | awk '!seen[$0]++' | while read -r ko; do
  rel=${ko#"$root"}
  mkdir -p "$ird$(dirname "$rel")"
  cp "$ko" "$ird$rel"
  echo "$rel" >>"$ird/modules"
done
cat >"$ird/init" <<'INIT'
#!/bin/busybox sh
# PID 1 until systemd: the disk's driver and file system, the root mounted, then switch_root to systemd.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
while read -r m; do insmod "$m" || echo "initrd: insmod $m failed"; done </modules
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do i=$((i + 1)); usleep 100000; done
if mount -t ext4 -o rw,noatime /dev/vda /root; then
  umount /proc /sys
  mount --move /dev /root/dev
  exec switch_root /root /sbin/init
fi
echo "initrd: cannot mount /dev/vda"
poweroff -f
INIT
chmod 755 "$ird/init"
(cd "$ird" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$work/initrd.cpio"

echo "build-image-system: ${DISK_MB} MB ext4 disk" >&2
truncate -s "${DISK_MB}M" "$work/disk.raw"
mkfs.ext4 -q -F -L bandgate-root -d "$root" "$work/disk.raw" >"$work/mkfs.log" 2>&1 ||
  { cat "$work/mkfs.log" >&2; exit 1; }
mv "$work/disk.raw" "$dir/disk.raw"
mv "$work/initrd.cpio" "$dir/initrd.cpio"
mv "$work/vmlinuz" "$dir/vmlinuz"
echo "$key" >"$dir/key"
echo "build-image-system: done in $(($(date +%s) - started)) s, $(du -m "$dir/disk.raw" | cut -f1) MB on disk" >&2
echo "$dir"
