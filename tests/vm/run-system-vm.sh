#!/bin/sh
# The package VM test (issue 17): the .deb in a QEMU guest whose PID 1 is systemd, with the real bluetoothd 5.66,
# two virtual LE controllers and the simulated band (bandgate-periph) on the second. The guest installs the
# previous version (this .deb repacked as 0.0.9), pairs the band through the package's unit, upgrades to this
# .deb, restarts bluetooth, asks `bandgate status` as a member of the bandgate group, stops and starts the
# service, reboots itself for real and checks that the service came back with its key and its history
# (system_scenario.py has the steps). Prints the scenario's PASS/FAIL and timing lines; on failure the logs'
# tails (all of them stay in WORKDIR/out).
#
# Usage: run-system-vm.sh DEB BANDGATE_PERIPH WORKDIR
# Environment: BANDGATE_SYSVM_CACHE  where the image lives (default: BANDGATE_VM_CACHE/system when that is set,
#                                    else WORKDIR.image)
#              BANDGATE_VM_TIMEOUT  seconds for both boots together (default 900)
# Exit: 0 passed, 1 failed, 77 skipped (the reason is printed): not root, no qemu, debootstrap, mke2fs or cpio,
# under 2 GiB of free memory, or an image that cannot be built (no Debian mirror reachable).
set -u
here=$(cd "$(dirname "$0")" && pwd)
deb=${1:?usage: run-system-vm.sh DEB BANDGATE_PERIPH WORKDIR}
periph=${2:?}
work=${3:?}
cache=${BANDGATE_SYSVM_CACHE:-${BANDGATE_VM_CACHE:+$BANDGATE_VM_CACHE/system}}
cache=${cache:-$work.image}
timeout_s=${BANDGATE_VM_TIMEOUT:-900}
name=package-vm

skip() { echo "SKIP $name: $*"; exit 77; }

[ "$(id -u)" -eq 0 ] || skip "building the guest image needs root (debootstrap)"
command -v qemu-system-x86_64 >/dev/null || skip "no qemu-system-x86_64 (Debian package qemu-system-x86)"
command -v debootstrap >/dev/null || skip "no debootstrap"
command -v mke2fs >/dev/null || skip "no mke2fs (e2fsprogs)"
command -v cpio >/dev/null || skip "no cpio"
[ -f "$deb" ] || { echo "FAIL $name: no package at $deb (deploy/build-deb.sh amd64)"; exit 1; }
avail_kb=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
[ "${avail_kb:-0}" -ge 2097152 ] || skip "under 2 GiB of free memory ($((${avail_kb:-0} / 1024)) MiB)"

t0=$(date +%s)
mkdir -p "$(dirname "$work")"
if ! image=$("$here/build-image-system.sh" "$cache" "$deb" 2>"$work.image.log"); then
  cat "$work.image.log"
  if grep -q 'cannot download\|no bookworm/main source\|Failed getting release file\|Couldn.t download' \
      "$work.image.log"; then
    skip "the guest image cannot be built here (no Debian mirror)"
  fi
  echo "FAIL $name: building the guest image"
  exit 1
fi
cat "$work.image.log"
t1=$(date +%s)

# The share: the guest's script and scenario, the band's binary, both packages, and out/ for the results.
rm -rf "$work"
mkdir -p "$work/bin" "$work/debs/old" "$work/debs/new" "$work/out"
cp "$periph" "$work/bin/bandgate-periph"
cp "$here/system-guest.sh" "$here/system_scenario.py" "$work/"
cp "$deb" "$work/debs/new/"
# The previous version: the same files under 0.0.9, so that dpkg runs the upgrade path of the maintainer
# scripts (as tests/package/lifecycle.sh makes it).
dpkg-deb -R "$deb" "$work/old-pkg"
sed -i 's/^Version: .*/Version: 0.0.9/' "$work/old-pkg/DEBIAN/control"
dpkg-deb -b "$work/old-pkg" "$work/debs/old/bandgate_0.0.9_$(dpkg-deb -f "$deb" Architecture).deb" >/dev/null
rm -rf "$work/old-pkg"
# The guest writes to a copy of the disk; both boots use it. The cached image stays as built.
cp --sparse=always "$image/disk.raw" "$work/disk.raw"

# KVM only where it can boot a stock kernel (vm-notes.md pitfall 1: the nested PVM /dev/kvm here cannot).
accel="-accel tcg,thread=multi -cpu max"
if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
  accel="-accel kvm -cpu host"
fi
echo "$name: booting ($accel); the guest reboots once"
# No -no-reboot: the guest's `systemctl reboot` resets the machine, which boots the same disk again; its
# `systemctl poweroff` ends QEMU. cache=unsafe: the disk lives only as long as this run.
# shellcheck disable=SC2086
timeout -k 10 "$timeout_s" qemu-system-x86_64 $accel -smp 2 -m 1024 -nographic -nic none \
  -kernel "$image/vmlinuz" -initrd "$image/initrd.cpio" \
  -append "console=ttyS0 root=/dev/vda rw panic=-1 loglevel=4" \
  -drive "file=$work/disk.raw,format=raw,if=virtio,cache=unsafe" \
  -virtfs "local,path=$work,mount_tag=vm,security_model=none,id=vm" \
  </dev/null >"$work/out/console.log" 2>&1
qemu=$?
t2=$(date +%s)

# btmon's traces as text, where the host has btmon.
if command -v btmon >/dev/null; then
  for f in "$work"/out/btmon-*.snoop; do
    [ -f "$f" ] && btmon -r "$f" -P >"${f%.snoop}.log" 2>&1
  done
fi
grep -E '^(PASS|FAIL|SKIP) |^vm: |^timing: ' "$work/out/scenario.log" 2>/dev/null
echo "$name: image $((t1 - t0)) s, both boots and the scenario $((t2 - t1)) s; logs in $work/out"
if [ "$qemu" -eq 0 ] && [ "$(cat "$work/out/result" 2>/dev/null)" = "0" ] &&
    grep -q '^vm: phase after-reboot: [0-9]* passed, 0 failed' "$work/out/scenario.log"; then
  rm -f "$work/disk.raw"
  echo "$name: PASS"
  exit 0
fi
[ "$qemu" -eq 124 ] && echo "$name: the guest did not finish within $timeout_s s"
for f in console.log guest.log scenario.log bandgate-boot1.log bandgate-boot2.log periph-boot1.log \
    periph-boot2.log bluetoothd-boot1.log bluetoothd-boot2.log; do
  [ -f "$work/out/$f" ] || continue
  echo "---- $f (last 60 lines)"
  tail -n 60 "$work/out/$f"
done
echo "$name: FAIL (the guest's disk is kept in $work/disk.raw)"
exit 1
