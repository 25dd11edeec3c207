#!/bin/sh
# Runs inside the VM test's guest, started by the image's /init with the share mounted on /mnt/vm (see
# build-image.sh). Brings up what a Pi would run — the system bus, two virtual LE controllers (btvirt), one
# bluetoothd for both — then the scenario, and leaves everything in /mnt/vm/out for the host: result (the
# scenario's exit status), scenario.log, bluetoothd.log, btmon.log, bandgate-*.log, periph.log.
V=/mnt/vm
OUT=$V/out
mkdir -p "$OUT"
# shellcheck disable=SC1091
[ -f "$V/env" ] && . "$V/env"
say() { echo "vm-guest: $*"; echo "$(cut -d' ' -f1 /proc/uptime) $*" >>"$OUT/guest.log"; }
fail() { say "FAIL: $*"; echo 1 >"$OUT/result"; exit 1; }

say "kernel $(uname -r) up"
for m in hci_vhci cmac algif_hash algif_skcipher ecdh_generic; do
  modprobe "$m" 2>>"$OUT/guest.log" || fail "modprobe $m"
done

# vm-notes.md pitfall 5: EATT off, or BlueZ 5.66 loses ServicesResolved and notifications. Privacy off: with it
# the emulated controllers' advertising reports come far later (pitfall 4).
cat >/etc/bluetooth/main.conf <<'CONF'
[General]
Privacy = off
[GATT]
Channels = 1
CONF
# The scenario's tools own io.bandgate.Sim on the system bus (the control interface of the simulated band).
cat >/etc/dbus-1/system.d/bandgate-vm.conf <<'CONF'
<busconfig><policy user="root"><allow own="io.bandgate.Sim"/><allow send_destination="io.bandgate.Sim"/>
</policy></busconfig>
CONF
# The loopback, down at boot: the scenario's MQTT broker listens on 127.0.0.1 (the kernel gives lo its address
# when it goes up). The image has no iproute2; SIOCSIFFLAGS with struct ifreq (16-byte name, flags, 40 bytes).
python3 -c '
import fcntl, socket, struct
s = socket.socket()
ifr = fcntl.ioctl(s, 0x8913, struct.pack("16sH22x", b"lo", 0))
fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", struct.unpack("16sH22x", ifr)[1] | 1))
' 2>>"$OUT/guest.log" || fail "loopback up"
mkdir -p /run/dbus /var/lib/bluetooth
dbus-daemon --system --fork || fail "dbus-daemon"

# btvirt must live as long as the test; hci0 = 00:AA:01:00:00:00 (the gateway), hci1 = 00:AA:01:01:00:01 (the band).
# On a loaded host the guest can stall long enough that the kernel's HCI Reset to one of them times out ("hci0:
# Opcode 0x0c03 failed: -110"): that controller never finishes its setup and bluetoothd never sees it. Then both
# go and come again, at most three times.
serves() {
  dbus-send --system --print-reply --dest=org.bluez "/org/bluez/$1" org.freedesktop.DBus.Properties.Get \
    string:org.bluez.Adapter1 string:Address >/dev/null 2>&1
}
btmon -P >"$OUT/btmon.log" 2>&1 &
try=1
while :; do
  btvirt -l2 >>"$OUT/btvirt.log" 2>&1 &
  i=0
  while [ ! -e /sys/class/bluetooth/hci1 ]; do
    i=$((i + 1)); [ $i -gt 100 ] && fail "btvirt made no hci1"; sleep 0.1
  done
  /usr/libexec/bluetooth/bluetoothd -n -d >>"$OUT/bluetoothd.log" 2>&1 &
  i=0
  until serves hci0 && serves hci1; do
    i=$((i + 1)); [ $i -gt 300 ] && break; sleep 0.1
  done
  serves hci0 && serves hci1 && break
  [ $try -ge 3 ] && fail "bluetoothd did not serve hci0 and hci1 ($try tries)"
  say "bluetoothd does not serve both controllers (try $try): $(dmesg | grep 'Bluetooth: hci[0-9]' | tail -n 2 | tr '\n' ' ')"
  kill "$(pidof bluetoothd)" "$(pidof btvirt)" 2>/dev/null
  i=0
  while [ -e /sys/class/bluetooth/hci0 ] || [ -e /sys/class/bluetooth/hci1 ] || pidof bluetoothd >/dev/null; do
    i=$((i + 1)); [ $i -gt 100 ] && fail "btvirt's controllers did not go"; sleep 0.1
  done
  try=$((try + 1))
done
say "bluetoothd up on hci0 and hci1"

python3 "$V/scenario.py" --out "$OUT" --bin "$V/bin" 2>&1 | tee "$OUT/scenario.log"
# tee hides the scenario's status: the scenario writes it to $OUT/result itself.
[ -f "$OUT/result" ] || echo 1 >"$OUT/result"
say "scenario done, result $(cat "$OUT/result")"
kill "$(pidof bluetoothd)" "$(pidof btmon)" 2>/dev/null
sleep 0.3
sync
