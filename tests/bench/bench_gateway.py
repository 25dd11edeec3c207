#!/usr/bin/python3
"""Figures for the gateway core, on demand (never in ctest, nothing asserted): memory with two bands ready,
wakeups and CPU while idle, time from a band appearing to ready, and from a dropped link back to ready with
the backoff's own sleep taken out. The real bandgate and bandgate-sim on a private bus, through the
integration tests' harness; README.md here says what each figure means and how it is measured.

    /usr/bin/python3 tests/bench/bench_gateway.py [--reps 3] [--idle 30] [--settle 2] [--runs 10]

BANDGATE and BANDGATE_SIM name the binaries (default build/release/gateway/bandgate and
build/release/tests/sim/bandgate-sim under the repository)."""
import argparse
import datetime
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("BANDGATE", os.path.join(ROOT, "build/release/gateway/bandgate"))
os.environ.setdefault("BANDGATE_SIM", os.path.join(ROOT, "build/release/tests/sim/bandgate-sim"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.dont_write_bytecode = True  # no __pycache__ left in tests/integration
from harness import World  # noqa: E402

from benchlib import cleanup  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
# GLib's default handler: "bandgate-band-Message: HH:MM:SS.mmm: text" (the log domain first; wall clock, local time,
# milliseconds truncated).
TRANSITION = re.compile(r"Message: (\d\d):(\d\d):(\d\d)\.(\d\d\d): band (\S+): (\S+) -> (\S+): (.*)$")
RETRY = re.compile(r"retrying (?:in ([0-9.]+) s|now)")  # "now": the first attempt after a drop has no wait


class Failed(Exception):
    pass


# ---- /proc ----

def proc_status(path, field):
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise Failed(f"{field} not in {path}")


def memory(pid):
    path = f"/proc/{pid}/status"
    return proc_status(path, "VmRSS"), proc_status(path, "VmHWM")


def thread_sample(pid):
    """{tid: (name, context switches, CPU ticks, CPU ns or None)} of every thread of pid."""
    sample = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        base = f"/proc/{pid}/task/{tid}"
        try:
            with open(base + "/comm") as f:
                name = f.read().strip()
            switches = proc_status(base + "/status", "voluntary_ctxt_switches") + \
                proc_status(base + "/status", "nonvoluntary_ctxt_switches")
            with open(base + "/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks = int(fields[11]) + int(fields[12])  # utime, stime
            try:
                with open(base + "/schedstat") as f:
                    ns = int(f.read().split()[0])
            except OSError:
                ns = None
        except (FileNotFoundError, ProcessLookupError):
            continue  # the thread ended meanwhile
        sample[tid] = (name, switches, ticks, ns)
    return sample


def process_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


# ---- the daemon's log ----

def seconds_of_day(h, m, s, ms):
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def wall_now():
    """time.time() as local seconds of the day, the clock GLib stamps its messages with, and the monotonic time."""
    t, mono = time.time(), time.monotonic()
    d = datetime.datetime.fromtimestamp(t)
    return d.hour * 3600 + d.minute * 60 + d.second + d.microsecond / 1e6, mono


def since(a, b):
    """b - a in ms between two seconds-of-day, across midnight."""
    d = (b - a) % 86400
    return (d - 86400 if d > 43200 else d) * 1000


class Transition:
    def __init__(self, m, index):
        self.t = seconds_of_day(*m.group(1, 2, 3, 4))
        self.address, self.old, self.new, self.why = m.group(5, 6, 7, 8)
        self.index = index


def transitions(gateway, address, start=0):
    with gateway.cond:
        lines = gateway.lines[start:]
    out = []
    for i, line in enumerate(lines, start):
        m = TRANSITION.search(line)
        if m and m.group(5) == address:
            out.append(Transition(m, i))
    return out


def wait_transition(gateway, address, to, start=0, timeout=60):
    """The first transition of address into a state in to, logged at or after line start."""
    to = (to,) if isinstance(to, str) else to
    deadline = time.monotonic() + timeout
    with gateway.cond:
        while True:
            for i in range(start, len(gateway.lines)):
                m = TRANSITION.search(gateway.lines[i])
                if m and m.group(5) == address and m.group(7) in to:
                    return Transition(m, i)
            left = deadline - time.monotonic()
            if left <= 0 or gateway.proc.poll() is not None:
                raise Failed(f"{address} never went to {to}:\n" + "\n".join(gateway.lines[-40:]))
            gateway.cond.wait(min(left, 1))


def lines_now(gateway):
    with gateway.cond:
        return len(gateway.lines)


def api_wait(world, address, state, timeout=60, poll=0.01):
    """Polls the API every poll seconds until address is in state; returns the monotonic time it was seen."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        band = world.state(address)
        if band and band["state"] == state:
            return time.monotonic()
        time.sleep(poll)
    raise Failed(f"the API never said {address} is {state}")


# ---- figures ----

def summary(name, values, unit, fmt="{:.1f}"):
    if not values:
        print(f"  {name:46s} (no samples)")
        return
    values = sorted(values)
    f = fmt.format
    print(f"  {name:46s} median {f(statistics.median(values)):>9} {unit:4s} min {f(values[0]):>9}   "
          f"max {f(values[-1]):>9}   N={len(values)}")


def start_both(world, a, b):
    world.start_gateway([a, b])
    for address in (a, b):
        wait_transition(world.gateway, address, "ready")
        api_wait(world, address, "ready")


def stop(world):
    code = world.stop_gateway()
    if code != 0:
        raise Failed(f"bandgate exited {code}:\n" + world.last_gateway_output[-4000:])


def memory_and_idle(world, a, b, reps, idle, settle):
    """Fresh daemons, both bands ready (stored key): memory at ready and after idle; wakeups and CPU idle."""
    fig = {k: [] for k in ("rss0", "hwm0", "rss1", "hwm1", "wk_all", "wk_main", "cpu_ticks", "cpu_ns", "cpu_main_ns",
                           "threads", "born", "ended", "log_lines")}
    per_thread = {}
    born_names, ended_names = set(), set()
    for rep in range(reps):
        start_both(world, a, b)
        pid = world.gateway.proc.pid
        rss, hwm = memory(pid)
        fig["rss0"].append(rss)
        fig["hwm0"].append(hwm)
        time.sleep(settle)  # the reads, the time write and the notifications that follow ready
        mark = lines_now(world.gateway)
        before, ticks0, t0 = thread_sample(pid), process_ticks(pid), time.monotonic()
        time.sleep(idle)
        after, ticks1, elapsed = thread_sample(pid), process_ticks(pid), time.monotonic() - t0
        rss, hwm = memory(pid)
        fig["rss1"].append(rss)
        fig["hwm1"].append(hwm)
        fig["log_lines"].append(lines_now(world.gateway) - mark)
        fig["threads"].append(len(after))
        fig["born"].append(len(after.keys() - before.keys()))
        fig["ended"].append(len(before.keys() - after.keys()))
        born_names.update(after[t][0] for t in after.keys() - before.keys())
        ended_names.update(before[t][0] for t in before.keys() - after.keys())
        # A thread born in the window counts from zero; one that ended in it is lost (none do here: see threads).
        total = main = 0
        ns = main_ns = 0
        have_ns = True
        names = {}
        for tid, (name, sw, _, cpu_ns) in after.items():
            b0 = before.get(tid, (name, 0, 0, 0))
            d = sw - b0[1]
            total += d
            if tid == str(pid):
                main = d
                name = "main (" + name + ")"
            names[name] = names.get(name, 0) + d
            if cpu_ns is None:
                have_ns = False
            else:
                ns += cpu_ns - (b0[3] or 0)
                if tid == str(pid):
                    main_ns = cpu_ns - (b0[3] or 0)
        for name, d in names.items():
            per_thread.setdefault(name, []).append(d / elapsed)
        fig["wk_all"].append(total / elapsed)
        fig["wk_main"].append(main / elapsed)
        fig["cpu_ticks"].append((ticks1 - ticks0) * 1000 / TICKS)
        if have_ns:
            fig["cpu_ns"].append(ns / 1e6)
            fig["cpu_main_ns"].append(main_ns / 1e6)
        stop(world)
        print(f"    [idle rep {rep + 1}/{reps}: {total / elapsed:.2f} wakeups/s, VmHWM {hwm} kB]", flush=True)

    print("\n1. Memory of the daemon, two bands ready (fresh daemon each time, stored key)")
    summary("VmRSS when both are ready", fig["rss0"], "kB", "{:.0f}")
    summary("VmHWM when both are ready", fig["hwm0"], "kB", "{:.0f}")
    summary(f"VmRSS after {settle + idle} s more of idle", fig["rss1"], "kB", "{:.0f}")
    summary(f"VmHWM after {settle + idle} s more of idle", fig["hwm1"], "kB", "{:.0f}")
    print(f"\n2. Idle, two bands ready, over a {idle} s window starting {settle} s after ready")
    summary("wakeups/s, all threads", fig["wk_all"], "/s", "{:.2f}")
    summary("wakeups/s, main thread", fig["wk_main"], "/s", "{:.2f}")
    for name in sorted(per_thread):
        if not name.startswith("main"):
            summary(f"wakeups/s, thread {name}", per_thread[name], "/s", "{:.2f}")
    summary("CPU in the window, utime+stime (10 ms ticks)", fig["cpu_ticks"], "ms", "{:.0f}")
    if fig["cpu_ns"]:
        summary("CPU in the window, all threads (schedstat)", fig["cpu_ns"], "ms", "{:.2f}")
        summary("CPU in the window, main thread (schedstat)", fig["cpu_main_ns"], "ms", "{:.2f}")
        summary("CPU share of one core (schedstat)", [v / (idle * 1000) * 100 for v in fig["cpu_ns"]], "%",
                "{:.4f}")
    summary("threads at the window's end", fig["threads"], "", "{:.0f}")
    summary("threads born in the window", fig["born"], "", "{:.0f}")
    summary("threads ended in the window (uncounted)", fig["ended"], "", "{:.0f}")
    if born_names or ended_names:
        print(f"  (born: {', '.join(sorted(born_names)) or '-'}; ended: {', '.join(sorted(ended_names)) or '-'}; "
              "an ended thread's switches within the window cannot be read any more)")
    summary("log lines in the window (0 = really idle)", fig["log_lines"], "", "{:.0f}")


def appear_to_ready(world, a, b, runs):
    """A fresh daemon starts with band a out of range (its Connect waits), b in range and ready; then a comes
    into range. The band holds the stored key: no tap."""
    fig = {k: [] for k in ("log", "api", "connect", "resolve", "auth")}
    waited_in = set()
    for _ in range(runs):
        world.control("SetInRange", "(sb)", a, False)
        world.start_gateway([a, b])
        wait_transition(world.gateway, b, "ready")
        waited_in.add(wait_transition(world.gateway, a, ("connecting", "absent")).new)
        time.sleep(0.3)  # the Connect is pending at the fake bluetoothd, b's post-ready reads are done
        mark = lines_now(world.gateway)
        t0, m0 = wall_now()
        world.control("SetInRange", "(sb)", a, True)
        seen = api_wait(world, a, "ready")
        fig["api"].append((seen - m0) * 1000)
        up = wait_transition(world.gateway, a, "ready", mark)
        fig["log"].append(since(t0, up.t))
        moves = {t.new: t for t in transitions(world.gateway, a, mark)}
        if all(s in moves for s in ("resolving", "authenticating")):
            fig["connect"].append(since(t0, moves["resolving"].t))
            fig["resolve"].append(since(moves["resolving"].t, moves["authenticating"].t))
            fig["auth"].append(since(moves["authenticating"].t, up.t))
        stop(world)
    print("\n3. Band appears -> ready (fresh daemon, band out of range at start, stored key: no tap)")
    print(f"  (the gateway waited for it in: {', '.join(sorted(waited_in))})")
    summary("SetInRange(true) -> ready in the log", fig["log"], "ms")
    summary("SetInRange(true) -> ready via the API (10 ms)", fig["api"], "ms")
    summary("  in range -> Connect returned (resolving)", fig["connect"], "ms")
    summary("  resolving -> services resolved", fig["resolve"], "ms")
    summary("  authenticating -> ready", fig["auth"], "ms")


def drop_to_ready(world, a, b, runs):
    """DropLink on a ready band, timed from the daemon's log: total, the backoff's sleep, the gateway's own."""
    fig = {k: [] for k in ("detect", "total", "call_total", "said", "sleep", "own", "connect", "resolve", "auth",
                           "retries")}
    start_both(world, a, b)
    b_mark = lines_now(world.gateway)
    for _ in range(runs):
        api_wait(world, a, "ready")
        time.sleep(0.3)  # the reads and notifications that follow ready are done
        mark = lines_now(world.gateway)
        t0, _ = wall_now()
        world.control("DropLink", "(s)", a)
        up = wait_transition(world.gateway, a, "ready", mark)
        moves = [t for t in transitions(world.gateway, a, mark) if t.index <= up.index]
        down = next(t for t in moves if t.new == "disconnected")
        said = sleep = 0.0
        retries = 0
        for i, t in enumerate(moves):
            if t.new == "disconnected":
                retries += 1
                m = RETRY.search(t.why)
                if not m:
                    raise Failed(f"no backoff in '{t.why}'")
                said += float(m.group(1) or 0) * 1000
                if i + 1 < len(moves):
                    sleep += since(t.t, moves[i + 1].t)  # until the next attempt begins
        total = since(down.t, up.t)
        fig["detect"].append(since(t0, down.t))
        fig["total"].append(total)
        fig["call_total"].append(since(t0, up.t))
        fig["said"].append(said)
        fig["sleep"].append(sleep)
        fig["own"].append(total - sleep)
        fig["retries"].append(retries)
        last = {t.new: t for t in moves}
        if all(s in last for s in ("connecting", "resolving", "authenticating")):
            fig["connect"].append(since(last["connecting"].t, last["resolving"].t))
            fig["resolve"].append(since(last["resolving"].t, last["authenticating"].t))
            fig["auth"].append(since(last["authenticating"].t, up.t))
    b_moves = len(transitions(world.gateway, b, b_mark))
    stop(world)
    print("\n4. Dropped link -> ready again (log timestamps, ms resolution)")
    summary("DropLink call -> 'ready -> disconnected' logged", fig["detect"], "ms")
    summary("total: -> disconnected .. -> ready", fig["total"], "ms")
    summary("  backoff sleep: disconnected -> next attempt", fig["sleep"], "ms")
    summary("  gateway time = total - backoff sleep", fig["own"], "ms")
    summary("    connecting (Connect call and reply)", fig["connect"], "ms")
    summary("    resolving (until ServicesResolved)", fig["resolve"], "ms")
    summary("    authenticating (StartNotify, 3-step auth)", fig["auth"], "ms")
    summary("DropLink call -> ready", fig["call_total"], "ms")
    summary("'retrying in N s' as said (0.1 s steps)", fig["said"], "ms", "{:.0f}")
    summary("attempts (disconnected entries) per drop", fig["retries"], "", "{:.0f}")
    print(f"  the other band's transitions meanwhile: {b_moves}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3, help="fresh daemons for memory and idle (default 3)")
    parser.add_argument("--idle", type=int, default=30, help="seconds of each idle window (default 30)")
    parser.add_argument("--settle", type=int, default=2, help="seconds after ready before the window (default 2)")
    parser.add_argument("--runs", type=int, default=10, help="runs of each timing (default 10)")
    args = parser.parse_args()
    for var in ("BANDGATE", "BANDGATE_SIM"):
        if not os.access(os.environ[var], os.X_OK):
            sys.exit(f"{var}={os.environ[var]} is not an executable; build it or set {var}")

    # SIGTERM (and SIGHUP) end the run like ^C does: through the finally below, which stops everything.
    def interrupted(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    version = subprocess.run([os.environ["BANDGATE"], "--version"], capture_output=True, text=True).stdout.strip()
    print(f"bandgate     {os.environ['BANDGATE']} ({version or '?'})")
    print(f"bandgate-sim {os.environ['BANDGATE_SIM']}")
    print(f"host         {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}")
    print(f"settings     --reps {args.reps} --idle {args.idle} --settle {args.settle} --runs {args.runs}; "
          f"{datetime.datetime.now().isoformat(timespec='seconds')}", flush=True)
    began = time.monotonic()
    world = World(("--auto-tap", "1", "--bands", "2"))
    status = 1
    try:
        a, b = world.bands
        # Pair both once (the simulated wearer taps after 1 s); every daemon after this one uses the stored key.
        t0 = time.monotonic()
        start_both(world, a, b)
        print(f"paired {a} and {b} in {time.monotonic() - t0:.1f} s (auto-tap 1 s; not a figure)", flush=True)
        stop(world)
        memory_and_idle(world, a, b, args.reps, args.idle, args.settle)
        appear_to_ready(world, a, b, args.runs)
        drop_to_ready(world, a, b, args.runs)
        status = 0
    except Failed as e:
        print(f"\nbenchmark failed: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        status = 130
    finally:
        cleanup(world)
    print(f"\n(took {time.monotonic() - began:.0f} s)")
    return status


if __name__ == "__main__":
    sys.exit(main())
