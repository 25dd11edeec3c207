#!/bin/sh
# Builds the guest of the VM test from Debian packages: a bookworm minbase root file system with dbus, bluez,
# btvirt, Python, mosquitto and the gateway's runtime libraries, plus the pinned Debian kernel and the few
# modules the test loads, packed as one uncompressed initramfs. The guest has no disk: /init mounts the 9p
# share "vm" and runs the guest.sh it finds there, so the binaries and the scenario never go into the image.
#
# Usage: build-image.sh DIR     (prints DIR when the image there is current)
# The image is rebuilt only when its inputs change: this script, the package list and the kernel version
# (their hash is DIR/key). Needs root, debootstrap, cpio and the host's apt sources (the mirror is the one
# apt uses for bookworm/main). Concurrent callers wait for each other (flock).
set -eu

# Pinned: 6.1.192 (6.1.0-56) oopses in hci_chan_del after Pair + Disconnect (vm-notes.md, pitfall 6).
KVER=6.1.0-50-amd64
KPKG_VERSION=6.1.176-1
SUITE=bookworm
# Runtime of the guest side (dbus, bluetoothd, btvirt, btmon, the scenario in Python with GLib's bindings, the
# MQTT broker and its command-line clients) and of the binaries that come in through the share: bandgate and
# bandgate-periph, release or ASan+UBSan.
PACKAGES="dbus bluez bluez-test-tools kmod python3 python3-gi gir1.2-glib-2.0 libglib2.0-0 libwebsockets17
 libwebsockets-evlib-glib libmosquitto1 libsqlite3-0 libcjson1 libssl3 libsystemd0 libasan8 libubsan1
 mosquitto mosquitto-clients"
# What the guest loads: bluetooth + hci_vhci and their crypto, the 9p share over virtio-pci.
MODULE_DIRS="kernel/crypto kernel/lib kernel/arch/x86/crypto kernel/net/bluetooth kernel/net/rfkill
 kernel/drivers/bluetooth kernel/drivers/virtio kernel/fs/9p kernel/net/9p kernel/fs/netfs kernel/fs/fscache"

dir=${1:?usage: build-image.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
key=$( { cat "$0"; echo "$PACKAGES $KVER $KPKG_VERSION $SUITE"; } | sha256sum | cut -d' ' -f1)

exec 9>"$dir/lock"
flock 9
if [ -f "$dir/key" ] && [ "$(cat "$dir/key")" = "$key" ] && [ -f "$dir/rootfs.cpio" ] && [ -f "$dir/vmlinuz" ]; then
  echo "$dir"
  exit 0
fi

mirror=$(apt-cache policy 2>/dev/null | awk -v s="$SUITE/main" '$3 == s && $2 ~ /^https?:/ { print $2; exit }')
if [ -z "$mirror" ]; then
  echo "build-image: no $SUITE/main source in apt's lists (run apt-get update)" >&2
  exit 1
fi

work=$(mktemp -d "$dir/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
started=$(date +%s)

echo "build-image: debootstrap $SUITE from $mirror" >&2
debootstrap --variant=minbase --include="$(echo $PACKAGES | tr ' ' ',')" "$SUITE" "$root" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || { tail -30 "$work/debootstrap.log" >&2; exit 1; }
rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/locale/* "$root"/usr/share/info/* \
  "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/zoneinfo/right

echo "build-image: kernel $KVER ($KPKG_VERSION)" >&2
(cd "$work" && apt-get download -q "linux-image-$KVER=$KPKG_VERSION" >/dev/null 2>&1) ||
  { echo "build-image: cannot download linux-image-$KVER=$KPKG_VERSION" >&2; exit 1; }
dpkg-deb -x "$work"/linux-image-*.deb "$work/kernel"
cp "$work/kernel/boot/vmlinuz-$KVER" "$work/vmlinuz"
kmods=$work/kernel/lib/modules/$KVER
mods=$root/usr/lib/modules/$KVER
mkdir -p "$mods"
cp "$kmods"/modules.order "$kmods"/modules.builtin "$kmods"/modules.builtin.modinfo "$mods/"
for d in $MODULE_DIRS; do
  [ -d "$kmods/$d" ] || continue
  mkdir -p "$mods/$(dirname "$d")"
  cp -a "$kmods/$d" "$mods/$d"
done
depmod -b "$root" "$KVER"

cat >"$root/init" <<'INIT'
#!/bin/sh
# PID 1 of the VM test's guest: the file systems, the share, then the guest.sh the host put there. PID 1 may
# never exit (the kernel would panic), so it powers the machine off when guest.sh is done.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
export PATH
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
modprobe virtio_pci && modprobe 9pnet_virtio && modprobe 9p
mkdir -p /mnt/vm
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 vm /mnt/vm && [ -f /mnt/vm/guest.sh ]; then
  /bin/sh /mnt/vm/guest.sh
else
  echo "vm-init: no share with a guest.sh"
fi
sync
echo o >/proc/sysrq-trigger
sleep 30
INIT
chmod 755 "$root/init"

(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc --quiet) >"$work/rootfs.cpio"
mv "$work/rootfs.cpio" "$dir/rootfs.cpio"
mv "$work/vmlinuz" "$dir/vmlinuz"
echo "$key" >"$dir/key"
echo "build-image: done in $(($(date +%s) - started)) s, $(du -m "$dir/rootfs.cpio" | cut -f1) MB" >&2
echo "$dir"
