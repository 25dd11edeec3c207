#!/usr/bin/python3
"""Figures for the gateway core, on demand (never in ctest): peak memory with two bands ready, wakeups and
CPU while idle, time from a band appearing to ready, and from a dropped link back to ready with the
backoff's own sleep taken out. The real bandgate and bandgate-sim on a private bus, as in the integration
tests; see README.md here for what each figure means.

    BANDGATE=build/release/gateway/bandgate BANDGATE_SIM=build/release/tests/sim/bandgate-sim \\
        /usr/bin/python3 tests/bench/bench_gateway.py [--idle SECONDS] [--runs N]
"""
import argparse
import datetime
import os
import re
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
os.environ.setdefault("BANDGATE", os.path.join(ROOT, "build/release/gateway/bandgate"))
os.environ.setdefault("BANDGATE_SIM", os.path.join(ROOT, "build/release/tests/sim/bandgate-sim"))
from harness import World  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
LINE = re.compile(r"\*\* Message: (\d\d:\d\d:\d\d\.\d\d\d): band (\S+): (\S+) -> (\S+): (.*)")


def status(pid, field, task=None):
    path = f"/proc/{pid}/task/{task}/status" if task else f"/proc/{pid}/status"
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def switches(pid, task):
    return status(pid, "voluntary_ctxt_switches", task) + status(pid, "nonvoluntary_ctxt_switches", task)


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime, stime


def summary(name, values, unit):
    values = sorted(values)
    print(f"{name:44s} median {statistics.median(values):8.1f} {unit}   min {values[0]:.1f}   "
          f"max {values[-1]:.1f}   n={len(values)}")


def idle_figures(world, pid, seconds):
    tasks = os.listdir(f"/proc/{pid}/task")
    before = {t: switches(pid, t) for t in tasks}
    cpu0, t0 = cpu_ticks(pid), time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    after = {t: switches(pid, t) for t in os.listdir(f"/proc/{pid}/task") if t in before}
    total = sum(after[t] - before[t] for t in after) / elapsed
    main = (after[str(pid)] - before[str(pid)]) / elapsed
    print(f"idle {seconds} s, two bands ready: {len(tasks)} threads; wakeups (context switches) "
          f"{total:.2f}/s in all, {main:.2f}/s on the main thread; CPU {(cpu_ticks(pid) - cpu0) / TICKS / elapsed * 100:.3f} %")


def wait_state(world, address, state, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        band = world.state(address)
        if band and band["state"] == state:
            return time.monotonic()
        time.sleep(0.01)
    raise RuntimeError(f"{address} never reached {state}")


def appear_to_ready(world, address, runs):
    """The band comes into range (adverts start) until the API says ready; the key is stored, so no tap."""
    took = []
    for _ in range(runs):
        world.control("SetInRange", "(sb)", address, False)
        time.sleep(3)  # the link is gone; the gateway's Connect waits for the band to advertise again
        start = time.monotonic()
        world.control("SetInRange", "(sb)", address, True)
        took.append((wait_state(world, address, "ready") - start) * 1000)
    summary("band appears -> ready", took, "ms")


def stamp(text):
    return datetime.datetime.strptime(text, "%H:%M:%S.%f")


def drop_to_ready(world, address, runs):
    """DropLink until ready again, from the daemon's own log: total, the backoff sleep, and the rest."""
    for _ in range(runs):
        mark = len(world.gateway.lines)
        world.control("DropLink", "(s)", address)
        time.sleep(0.3)
        wait_state(world, address, "ready")
        time.sleep(0.1)
        cycles = [LINE.match(l) for l in world.gateway.lines[mark:]]
        yield [m for m in cycles if m and m.group(2) == address]


def drop_figures(world, address, runs):
    total, backoff, own = [], [], []
    for moves in drop_to_ready(world, address, runs):
        down = next(m for m in moves if m.group(4) == "disconnected")
        up = next(m for m in moves if m.group(4) == "ready")
        again = next(m for m in moves if m.group(3) == "disconnected")
        t = (stamp(up.group(1)) - stamp(down.group(1))).total_seconds() * 1000
        total.append(t)
        backoff.append((stamp(again.group(1)) - stamp(down.group(1))).total_seconds() * 1000)
        own.append(t - backoff[-1])
    summary("dropped link -> ready (total)", total, "ms")
    summary("  of which the backoff's sleep", backoff, "ms")
    summary("  of which connect+resolve+auth", own, "ms")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--idle", type=int, default=30)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    world = World(("--auto-tap", "1", "--bands", "2"))
    try:
        a, b = world.bands
        world.start_gateway([a, b])
        wait_state(world, a, "ready")
        wait_state(world, b, "ready")
        pid = world.gateway.proc.pid
        print(f"bandgate {os.environ['BANDGATE']}")
        print(f"two bands ready: VmRSS {status(pid, 'VmRSS')} kB, VmHWM (peak) {status(pid, 'VmHWM')} kB")
        idle_figures(world, pid, args.idle)
        print(f"after idling: VmRSS {status(pid, 'VmRSS')} kB, VmHWM (peak) {status(pid, 'VmHWM')} kB")
        appear_to_ready(world, a, args.runs)
        drop_figures(world, a, args.runs)
        print(f"at the end: VmHWM (peak) {status(pid, 'VmHWM')} kB")
    finally:
        world.close()


if __name__ == "__main__":
    main()
