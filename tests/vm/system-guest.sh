#!/bin/sh
# Runs inside the package VM test's guest (build-image-system.sh), started by the unit bandgate-vm-test.service
# once systemd has brought the system up, with the share on /mnt/vm. The first boot installs and exercises the
# package, then reboots the guest for real (systemctl reboot); the second boot checks what came back, and
# powers the guest off. The boots are counted on the guest's disk; a third one is a failure.
# Leaves in /mnt/vm/out: scenario.log, result (0 = passed, written by the last boot), guest.log (timings since
# boot), journal.export (every boot, journalctl -o export), journal-bootN.txt, bandgate-bootN.log,
# bluetoothd-bootN.log, periph-bootN.log, btmon-BOOTID.snoop (one per boot).
V=/mnt/vm
OUT=$V/out
STATE=/var/lib/bandgate-vm
mkdir -p "$OUT" "$STATE"
boots=$(($(cat "$STATE/boots" 2>/dev/null || echo 0) + 1))
echo "$boots" >"$STATE/boots"
sync
say() { echo "vm-guest: $*"; echo "boot $boots $(cut -d' ' -f1 /proc/uptime) $*" >>"$OUT/guest.log"; }

# The logs of this boot, readable on the host without journalctl.
collect() {
  journalctl --sync 2>/dev/null
  journalctl -b -o short-monotonic --no-pager >"$OUT/journal-boot$boots.txt" 2>&1
  journalctl -b -u bandgate -o short-monotonic --no-pager >"$OUT/bandgate-boot$boots.log" 2>&1
  journalctl -b -u bluetooth -o short-monotonic --no-pager >"$OUT/bluetoothd-boot$boots.log" 2>&1
  journalctl -b -u bandgate-periph -o short-monotonic --no-pager >"$OUT/periph-boot$boots.log" 2>&1
  systemctl kill -s INT btmon.service 2>/dev/null
  for f in /var/log/btmon/*.snoop; do [ -f "$f" ] && cp "$f" "$OUT/btmon-$(basename "$f")"; done
}

# The end of the test: every boot's journal for the host, the result, the machine off.
finish() {
  collect
  journalctl -o export --no-pager >"$OUT/journal.export" 2>/dev/null
  echo "$1" >"$OUT/result"
  say "result $1, powering off"
  sync
  systemctl poweroff
  exit 0
}

say "boot $boots: system up ($(systemctl is-system-running 2>/dev/null))"
case $boots in
  1) phase=install ;;
  2) phase=after-reboot ;;
  *) say "FAIL: boot $boots: the guest rebooted more than once"; finish 1 ;;
esac

python3 "$V/system_scenario.py" --phase "$phase" --out "$OUT" --debs "$V/debs" --state "$STATE" 2>&1 |
  tee -a "$OUT/scenario.log"
# tee hides the scenario's status: it writes it to phase-PHASE.result itself.
status=$(cat "$OUT/phase-$phase.result" 2>/dev/null || echo 1)
say "phase $phase done, status $status"
if [ "$phase" = install ] && [ "$status" = 0 ]; then
  collect
  say "rebooting"
  sync
  systemctl reboot
  exit 0
fi
finish "$status"
