#!/bin/sh
# The VM test (issue 5): the unchanged bandgate against a real bluetoothd 5.66, in a QEMU guest with two virtual
# LE controllers, the simulated band served by bandgate-periph. Builds (or reuses) the guest image, boots it
# with a 9p share holding the binaries, the scenario and an out/ folder, and reports the scenario's PASS/FAIL
# lines; on failure it prints the logs' tails (all of them stay in the run folder).
#
# Usage: run-vm.sh BANDGATE BANDGATE_PERIPH WORKDIR
# Environment: BANDGATE_VM_CACHE  where the image lives (default WORKDIR.image); share it between builds.
#              BANDGATE_VM_TIMEOUT seconds for one boot (default 300).
# Exit: 0 passed, 1 failed, 77 skipped (the reason is printed): not root, no qemu or debootstrap, under
# 2 GiB of free memory, or an image that cannot be built (no Debian mirror reachable).
set -u
here=$(cd "$(dirname "$0")" && pwd)
bandgate=${1:?usage: run-vm.sh BANDGATE BANDGATE_PERIPH WORKDIR}
periph=${2:?}
work=${3:?}
cache=${BANDGATE_VM_CACHE:-$work.image}
timeout_s=${BANDGATE_VM_TIMEOUT:-300}

skip() { echo "SKIP vm-bluez: $*"; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "building the guest image needs root (debootstrap)"
command -v qemu-system-x86_64 >/dev/null || skip "no qemu-system-x86_64 (Debian package qemu-system-x86)"
command -v debootstrap >/dev/null || skip "no debootstrap"
command -v cpio >/dev/null || skip "no cpio"
avail_kb=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
[ "${avail_kb:-0}" -ge 2097152 ] || skip "under 2 GiB of free memory ($((${avail_kb:-0} / 1024)) MiB)"

t0=$(date +%s)
if ! image=$("$here/build-image.sh" "$cache" 2>"$work.image.log"); then
  cat "$work.image.log"
  if grep -q 'cannot download\|no bookworm/main source\|Failed getting release file\|Couldn.t download' \
      "$work.image.log"; then
    skip "the guest image cannot be built here (no Debian mirror)"
  fi
  echo "FAIL vm-bluez: building the guest image"
  exit 1
fi
cat "$work.image.log"
t1=$(date +%s)

# The share: what guest.sh runs and where it leaves its results.
rm -rf "$work"
mkdir -p "$work/bin" "$work/out"
cp "$bandgate" "$work/bin/bandgate"
cp "$periph" "$work/bin/bandgate-periph"
cp "$here/guest.sh" "$here/scenario.py" "$here/../integration/harness.py" "$work/"
# A sanitizer build's settings travel along; leaks and UBSan findings end the process as on the host.
: >"$work/env"
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS; do
  eval "val=\${$v:-}"
  [ -n "$val" ] && echo "export $v='$val'" >>"$work/env"
done

# KVM only where it can boot a stock kernel (vm-notes.md pitfall 1: the nested PVM /dev/kvm here cannot).
accel="-accel tcg,thread=multi -cpu max"
if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
  accel="-accel kvm -cpu host"
fi
echo "vm-bluez: booting ($accel)"
# shellcheck disable=SC2086
timeout -k 10 "$timeout_s" qemu-system-x86_64 $accel -smp 2 -m 1024 -nographic -no-reboot -nic none \
  -kernel "$image/vmlinuz" -initrd "$image/rootfs.cpio" \
  -append "console=ttyS0 rdinit=/init panic=-1 loglevel=4" \
  -virtfs "local,path=$work,mount_tag=vm,security_model=none,id=vm" \
  </dev/null >"$work/out/console.log" 2>&1
qemu=$?
t2=$(date +%s)

grep -E '^(PASS|FAIL|SKIP) |^vm: ' "$work/out/scenario.log" 2>/dev/null
echo "vm-bluez: image $((t1 - t0)) s, boot and scenario $((t2 - t1)) s; logs in $work/out"
if [ "$qemu" -eq 0 ] && [ "$(cat "$work/out/result" 2>/dev/null)" = "0" ]; then
  echo "vm-bluez: PASS"
  exit 0
fi
[ "$qemu" -eq 124 ] && echo "vm-bluez: the guest did not finish within $timeout_s s"
for f in console.log guest.log scenario.log periph.log bandgate-1.log bandgate-2.log bluetoothd.log btmon.log; do
  [ -f "$work/out/$f" ] || continue
  echo "---- $f (last 60 lines)"
  tail -n 60 "$work/out/$f"
done
echo "vm-bluez: FAIL"
exit 1
