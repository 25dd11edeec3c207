#!/usr/bin/python3
"""Figures for MQTT (issue 8), on demand (never in ctest, nothing asserted), in one run against a real mosquitto
on a free loopback port, bandgate-sim and the real daemon, through the integration tests' harness and
test_mqtt.py's Broker and Listener:

1. Band notification -> MQTT message at a subscriber, p50/p99: a button press (the simulator's PressButton)
   to the event message; a live steps change (Walk) to the state message, which includes the deliberate 1 s
   coalescing of states.
2. MQTT command -> bytes at the simulated band: a publish on bandgate/<id>/cmd/vibrate to the alert-level
   (2A06) write the simulator received, stamped by it with the wall clock. The gateway spaces alerts 4.5 s
   apart, so the commands are spaced --cmd-gap (4.7 s) apart and there are fewer of them.
3. Outbox drain after an outage of 10,000 messages: the broker stops, 10,000 button presses queue as 10,000
   event rows, the broker returns; the rate at which they reach a subscriber, and beside it, in the same run,
   the rate at which mosquitto_pub alone (-l -q 1) pushes the same 10,000 payloads to the same topic through
   the same broker to the same subscriber.
4. The daemon's VmRSS idle (broker up, outbox empty) and with the outbox full (10,000 rows, broker down).

    /usr/bin/python3 tests/bench/bench_mqtt.py [--presses 200] [--states 20] [--commands 20] [--outage 10000]

BANDGATE and BANDGATE_SIM name the binaries (default build/release/gateway/bandgate and
build/release/tests/sim/bandgate-sim under the repository). README.md here says what bounds each figure."""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("BANDGATE", os.path.join(ROOT, "build/release/gateway/bandgate"))
os.environ.setdefault("BANDGATE_SIM", os.path.join(ROOT, "build/release/tests/sim/bandgate-sim"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.dont_write_bytecode = True  # no __pycache__ left in tests/integration
from harness import World  # noqa: E402
from test_mqtt import ALERT_LEVEL, Broker, Listener  # noqa: E402

from benchlib import percentile  # noqa: E402

GW = "benchgw"
# No queue limit for a subscriber (mosquitto's default drops past 1000 queued messages, which a publisher faster
# than the subscriber reaches), and no log: -v (Broker's) would send a line per packet down a pipe this process
# reads, a cost to the broker and to this process's subscriber thread alike.
BROKER_CONF = "allow_anonymous true\nmax_queued_messages 0\nlog_dest none"
# GLib's default handler: "bandgate-mqtt-Message: HH:MM:SS.mmm: text" (wall clock, local time, milliseconds truncated).
LOG_TIME = re.compile(r"(\d\d):(\d\d):(\d\d)\.(\d\d\d): ")


class Failed(Exception):
    pass


class TimedListener(Listener):
    """test_mqtt's Listener, with the wall-clock time (time.time()) each message arrived in times[]."""

    def __init__(self, *args, **kw):
        self.times = []
        super().__init__(*args, **kw)

    def _on_message(self, client, userdata, msg):
        now = time.time()
        with self.cond:
            self.times.append(now)
            self.messages.append((msg.topic, msg.payload, msg.retain))
            self.cond.notify_all()

    def wait_index(self, predicate, start, timeout, what):
        """The index of the first message from start on that matches."""
        deadline = time.monotonic() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.messages):
                    if predicate(self.messages[i]):
                        return i
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failed(f"never saw {what}")
                self.cond.wait(left)

    def wait_count(self, topic, n, start, timeout):
        """The index of the n-th message on topic from start on; None at the timeout."""
        deadline = time.monotonic() + timeout
        seen, i = 0, start
        with self.cond:
            while True:
                while i < len(self.messages):
                    if self.messages[i][0] == topic:
                        seen += 1
                        if seen == n:
                            return i
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(min(left, 1))


# ---- helpers ----

def summary(name, values, unit="ms", fmt="{:.1f}"):
    if not values:
        print(f"  {name:52s} (no samples)")
        return
    f = fmt.format
    print(f"  {name:52s} p50 {f(statistics.median(values)):>8} {unit}  p99 {f(percentile(values, 0.99)):>8} {unit}  "
          f"min {f(min(values)):>8}  max {f(max(values)):>8}  N={len(values)}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(line.split()[1])
    return out["VmRSS"], out["VmHWM"]


def iso_epoch(text):
    """The daemon's g_date_time_format_iso8601 (local time to the microsecond, with its offset) as epoch seconds."""
    return datetime.datetime.fromisoformat(text).timestamp()


def log_epoch(line):
    """The epoch seconds of a GLib log line's local HH:MM:SS.mmm, taking the day nearest to now."""
    m = LOG_TIME.search(line)
    if not m:
        return None
    h, mi, s, ms = map(int, m.groups())
    now = datetime.datetime.now()
    best = None
    for days in (-1, 0, 1):
        d = (now + datetime.timedelta(days=days)).replace(hour=h, minute=mi, second=s, microsecond=ms * 1000)
        if best is None or abs((d - now).total_seconds()) < abs((best - now).total_seconds()):
            best = d
    return best.timestamp()


def wait_log(world, text, start, timeout):
    """The first line of the daemon's log from index start on that contains text."""
    deadline = time.monotonic() + timeout
    g = world.gateway
    with g.cond:
        while True:
            for line in g.lines[start:]:
                if text in line:
                    return line
            left = deadline - time.monotonic()
            if left <= 0 or g.proc.poll() is not None:
                raise Failed(f"the daemon never logged '{text}':\n" + "\n".join(g.lines[-30:]))
            g.cond.wait(min(left, 1))


def log_mark(world):
    with world.gateway.cond:
        return len(world.gateway.lines)


def outbox_count(world, topic=None):
    if topic:
        return world.db_rows("SELECT count(*) FROM outbox WHERE topic = ?", topic)[0][0]
    return world.db_rows("SELECT count(*) FROM outbox")[0][0]


# ---- 1. band -> subscriber ----

def press_latency(world, listener, a, event, n):
    total, to_daemon, to_sub = [], [], []
    for _ in range(n):
        mark = len(listener.messages)
        t0 = time.time()
        world.control("PressButton", "(s)", a)  # returns once the simulator has queued the notification
        i = listener.wait_index(lambda m: m[0] == event, mark, 10, "the press's event")
        total.append((listener.times[i] - t0) * 1000)
        stamped = iso_epoch(json.loads(listener.messages[i][1])["time"])
        to_daemon.append((stamped - t0) * 1000)
        to_sub.append((listener.times[i] - stamped) * 1000)
        time.sleep(0.02)
    print(f"\n1a. Button: PressButton -> event message at the subscriber ({n} presses, 20 ms apart)")
    summary("PressButton call -> event at the subscriber", total)
    summary("  call -> the daemon's own time stamp in the event", to_daemon)
    summary("  the daemon's stamp -> at the subscriber", to_sub)
    print("  bound: the simulator's 2 ms connection-event pacing, the D-Bus hop through dbus-daemon, the daemon's")
    print("  two SQLite commits (the events row, then the outbox row; WAL, synchronous = FULL: an fsync each),")
    print("  then libmosquitto -> mosquitto -> the subscriber (paho, a Python thread)")


def state_latency(world, listener, a, state, n):
    out = []
    for _ in range(n):
        time.sleep(1.2)  # no state timer is pending: each sample starts a fresh 1 s coalescing window
        mark = len(listener.messages)
        t0 = time.time()
        world.control("Walk", "(su)", a, 10)
        steps = world.band(a)["steps"]
        i = listener.wait_index(lambda m: m[0] == state and m[1] and json.loads(m[1]).get("steps") == steps, mark,
                                10, f"a state with {steps} steps")
        out.append((listener.times[i] - t0) * 1000)
    print(f"\n1b. Live steps: Walk -> state message with the new steps at the subscriber ({n} walks)")
    summary("Walk call -> state at the subscriber", out)
    summary("  the same less the deliberate 1000 ms coalescing", [v - 1000 for v in out])
    print("  bound: STATE_DELAY_MS (mqtt.c): a state goes out 1 s after the first change it carries, at most one")
    print("  per band per second, by design; the rest is the same path as a press (without the events row)")


# ---- 2. command -> band ----

def command_latency(world, listener, a, bid, verb, n, gap):
    topic = f"bandgate/{bid}/cmd/{verb}"
    to_band, to_result = [], []
    last = 0.0
    for _ in range(n):
        world.control("ClearReceived", "(s)", a)
        time.sleep(max(0.0, last + gap - time.monotonic()))
        mark = len(listener.messages)
        last = time.monotonic()
        t0 = time.time()
        listener.publish(topic, "PRESS")  # QoS 1, returns at the broker's PUBACK
        deadline = time.monotonic() + 10
        stamp = None
        while stamp is None:
            for t_us, uuid, _ in world.writes(a):
                if uuid == ALERT_LEVEL:
                    stamp = t_us / 1e6
                    break
            else:
                if time.monotonic() > deadline:
                    raise Failed(f"no 2A06 write after cmd/{verb}:\n" + world.gateway.output()[-3000:])
                time.sleep(0.002)
        to_band.append((stamp - t0) * 1000)
        i = listener.wait_index(lambda m: m[0] == topic + "/result", mark, 10, f"cmd/{verb}/result")
        to_result.append((listener.times[i] - t0) * 1000)
    print(f"\n2. Command: publish on cmd/{verb} -> the alert-level (2A06) write at the simulated band ({n} commands, "
          f"{gap} s apart)")
    summary("publish -> 2A06 write received by the band", to_band)
    summary(f"publish -> cmd/{verb}/result at the subscriber", to_result)
    print("  the write's time is the simulator's g_get_real_time() at WriteValue, compared with time.time() here")
    print("  bound: mosquitto -> libmosquitto on the daemon's GLib loop, parse, the notifications row (an fsync),")
    print("  the D-Bus WriteValue through dbus-daemon to the simulator. The gateway spaces alerts 4.5 s apart")
    print(f"  (ALERT_SPACING_MS, band.c), so commands closer than that would measure the queue: hence {gap} s apart")


# ---- 3 and 4. outage, drain, memory ----

def fill_by_presses(world, a, event, n, timeout):
    base = outbox_count(world, event)
    t0 = time.monotonic()
    for _ in range(n):
        world.control("PressButton", "(s)", a)
    calls = time.monotonic() - t0
    deadline = time.monotonic() + timeout
    while (have := outbox_count(world, event) - base) < n:
        if time.monotonic() > deadline or world.gateway.proc.poll() is not None:
            raise Failed(f"only {have} of {n} presses reached the outbox in {timeout} s; try --fill insert")
        time.sleep(0.2)
    took = time.monotonic() - t0
    print(f"  filled by {n} PressButton calls: the calls took {calls:.1f} s, all {n} event rows were in the outbox "
          f"after {took:.1f} s ({n / took:.0f} presses/s through the simulator, D-Bus and the daemon's two commits)")


def fill_by_insert(world, a, bid, n, broker_conf):
    """The daemon stopped, n event rows inserted as enqueue() (mqtt.c) writes them, the daemon started again
    (the broker still away)."""
    if world.stop_gateway() != 0:
        raise Failed("bandgate did not stop cleanly:\n" + world.last_gateway_output[-3000:])
    now = datetime.datetime.now().astimezone()
    rows = [("bandgate/%s/event" % bid,
             json.dumps({"event_type": "press", "time": (now + datetime.timedelta(microseconds=i)).isoformat()},
                        separators=(",", ":")).encode(), 1, 0, 0, int(time.time())) for i in range(n)]
    with sqlite3.connect(world.database, isolation_level=None) as db:
        db.execute("BEGIN")
        db.executemany("INSERT INTO outbox (topic, payload, qos, retain, coalesce, created) VALUES (?, ?, ?, ?, ?, ?)",
                       rows)
        db.execute("COMMIT")
    db.close()
    world.start_gateway([a], gateway_extra=f"id = {GW}\n", mqtt=broker_conf)
    world.wait_state(a, "ready", 90)


def line(name, seconds, n=None):
    print(f"  {name:52s} {seconds:8.3f} s" + (f"  = {n / seconds:7.0f} msg/s" if n else ""))


def outage(world, broker, listener, a, bid, n, fill, settle, mqtt_conf):
    event = f"bandgate/{bid}/event"
    pid = world.gateway.proc.pid
    time.sleep(settle)
    idle = memory(pid)
    depth0 = outbox_count(world)
    # The drain's subscriber: a persistent session made now, so the broker queues for it from its first moment
    # back even if the daemon reconnects before this process does.
    TimedListener(broker.port, topics=(event,), client_id="drain").close()
    listener.close()
    mark = log_mark(world)
    broker.stop()
    wait_log(world, "lost the broker", mark, 30)
    print(f"\n3. Outage of {n} messages: broker stopped, {n} button presses queued, broker back")
    if fill == "press":
        fill_by_presses(world, a, event, n, max(120, n / 20))
    else:
        fill_by_insert(world, a, bid, n, mqtt_conf)
        print(f"  filled by inserting {n} event rows into the stopped daemon's outbox ({event},")
        print("  qos 1, retain 0, coalesce 0), then the daemon started again with the broker still away")
    pid = world.gateway.proc.pid
    time.sleep(settle)
    full = memory(pid)
    depth = outbox_count(world)
    payloads = [bytes(p) for (p,) in world.db_rows("SELECT payload FROM outbox WHERE topic = ? ORDER BY id", event)]
    if len(payloads) != n:
        raise Failed(f"{len(payloads)} event rows in the outbox, expected {n}")

    # The daemon drains.
    mark = log_mark(world)
    t_broker = time.time()
    cpu0 = cpu_seconds(pid)
    broker.start()
    drain = TimedListener(broker.port, topics=(event,), client_id="drain")
    t_sub = time.time()
    last = drain.wait_count(event, n, 0, 300)
    if last is None:
        raise Failed(f"only {len([m for m in drain.messages if m[0] == event])} of {n} arrived in 300 s")
    cpu = cpu_seconds(pid) - cpu0
    connected = log_epoch(wait_log(world, "mqtt: connected to", mark, 10))
    got = [p for t, p, _ in drain.messages[:last + 1] if t == event]
    first = next(i for i, m in enumerate(drain.messages) if m[0] == event)
    t_first, t_last = drain.times[first], drain.times[last]
    deadline = time.monotonic() + 30
    while outbox_count(world, event) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = outbox_count(world, event)
    d_span = t_last - t_first
    d_connected = t_last - connected

    # mosquitto_pub alone: the same payloads, topic, broker and subscriber.
    mark_p = len(drain.messages)
    t0 = time.time()
    pub = subprocess.Popen(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-i", "bench-pub", "-q", "1",
                            "-t", event, "-l"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE)
    pub.stdin.write(b"\n".join(payloads) + b"\n")
    pub.stdin.close()
    last_p = drain.wait_count(event, n, mark_p, 300)
    pub.wait(30)
    if last_p is None:
        raise Failed(f"mosquitto_pub: only {len(drain.messages) - mark_p} of {n} arrived; {pub.stderr.read()!r}")
    got_p = [p for t, p, _ in drain.messages[mark_p:last_p + 1] if t == event]
    p_first = drain.times[next(i for i in range(mark_p, len(drain.messages)) if drain.messages[i][0] == event)]
    p_last = drain.times[last_p]
    p_span = p_last - p_first
    p_spawn = p_last - t0
    drain.close()
    after = memory(pid)

    # The same rows in a fresh daemon: what the rows cost, without the burst of presses that queued them.
    fresh = None
    if fill == "press":
        broker.stop()
        fill_by_insert(world, a, bid, n, mqtt_conf)
        time.sleep(settle)
        fresh = memory(world.gateway.proc.pid), outbox_count(world)

    print(f"  subscriber: paho (test_mqtt's Listener, QoS 1) subscribed {(t_sub - t_broker) * 1000:.0f} ms after "
          "the broker was started")
    line("broker start -> daemon connected (its backoff; log ms)", connected - t_broker)
    line(f"broker start -> all {n} at the subscriber", t_last - t_broker)
    line(f"daemon connected -> all {n} at the subscriber", d_connected, n)
    line("first -> last arrival: the drain rate", d_span, n)
    print("  (the daemon's reconnect backoff: 1 s doubling to 60 s, each wait 75-125 % of the step)")
    print(f"  the daemon's CPU time (utime+stime) from broker start to the last arrival: {cpu:.2f} s of "
          f"{d_connected:.2f} s draining")
    print(f"  arrived: {len(got)} ({len(set(got))} distinct), in the outbox's order: {got == payloads}; event rows "
          f"left in the outbox 30 s on: {left}")
    print(f"  mosquitto_pub -l -q 1 (default in-flight window), same {n} payloads, topic, broker, subscriber:")
    line(f"  spawn -> all {n} at the subscriber", p_spawn, n)
    line("  first -> last arrival", p_span, n)
    print(f"    arrived: {len(got_p)} ({len(set(got_p))} distinct), in order: {got_p == payloads}")
    print(f"  ratio mosquitto_pub / daemon: first -> last {(n / p_span) / (n / d_span):.2f}x; "
          f"from connect/spawn {(n / p_spawn) / (n / d_connected):.2f}x")
    print("  bound: the daemon has up to 100 outbox rows (WINDOW, mqtt.c) in flight, all on the wire (it lifts")
    print("  libmosquitto's own limit of 20, so that the last word at shutdown never waits behind a drain;")
    print("  mosquitto_pub's -M default is 20); the acknowledged rows are deleted together, one commit per burst of PUBACKs (an idle")
    print("  callback), and the window is refilled by halves, one outbox read each. mosquitto_pub has no store.")
    print("  Both end at the same Python subscriber, which acknowledges each message from one thread: the")
    print("  ceiling of mosquitto_pub's figure here")

    print("\n4. The daemon's memory (one band ready, /proc/PID/status)")
    rows = [(f"idle, broker up, outbox {depth0} rows", idle),
            (f"outbox full, broker down, {depth} rows" + ("" if fill == "press" else " (fresh daemon)"), full),
            ("after the drain and mosquitto_pub's run", after)]
    if fresh:
        rows.append((f"fresh daemon on {n} inserted rows ({fresh[1]}), broker down", fresh[0]))
    for name, (rss, hwm) in rows:
        print(f"  {name:56s} VmRSS {rss:6d} kB  VmHWM {hwm:6d} kB")
    print("  the outbox lives in SQLite, not in the daemon's memory (SQLite's page cache is its default cache_size,")
    print("  2 MB at most; the 100 messages of the window are held while draining)")
    if fresh:
        print("  a fresh daemon with the same rows shows what they cost. So the press-filled daemon's growth comes")
        print("  from the burst, most likely the presses' D-Bus signals queued by GDBus while the daemon commits")
        print("  slower than they come; the heap keeps that peak afterwards")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presses", type=int, default=200, help="button samples (default 200)")
    parser.add_argument("--states", type=int, default=20, help="live steps samples, >= 2.2 s each (default 20)")
    parser.add_argument("--commands", type=int, default=20, help="command samples (default 20)")
    parser.add_argument("--cmd-gap", type=float, default=4.7, help="seconds between commands (default 4.7; the "
                        "gateway spaces alerts 4.5 s apart)")
    parser.add_argument("--verb", default="vibrate", choices=("vibrate", "find"), help="command verb")
    parser.add_argument("--outage", type=int, default=10000, help="messages queued while the broker is away")
    parser.add_argument("--fill", default="press", choices=("press", "insert"),
                        help="queue them by button presses (default) or by rows inserted into a stopped daemon's "
                             "outbox")
    parser.add_argument("--settle", type=float, default=3, help="seconds before each memory reading (default 3)")
    args = parser.parse_args()
    for var in ("BANDGATE", "BANDGATE_SIM"):
        if not os.access(os.environ[var], os.X_OK):
            sys.exit(f"{var}={os.environ[var]} is not an executable; build it or set {var}")
    for tool in ("mosquitto", "mosquitto_pub"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed")

    def interrupted(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    version = subprocess.run([os.environ["BANDGATE"], "--version"], capture_output=True, text=True).stdout.strip()
    mosq = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True).stdout.splitlines()
    print(f"bandgate     {os.environ['BANDGATE']} ({version or '?'})")
    print(f"bandgate-sim {os.environ['BANDGATE_SIM']}")
    print(f"broker       {mosq[0] if mosq else 'mosquitto'}, {BROKER_CONF.replace(chr(10), '; ')}")
    print(f"host         {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Linux {platform.release()}; "
          f"files in {tempfile.gettempdir()}")
    print(f"settings     --presses {args.presses} --states {args.states} --commands {args.commands} --cmd-gap "
          f"{args.cmd_gap} --verb {args.verb} --outage {args.outage} --fill {args.fill}; "
          f"{datetime.datetime.now().isoformat(timespec='seconds')}", flush=True)
    began = time.monotonic()
    world = World(("--auto-tap", "1", "--days", "1"))
    broker = listener = None
    status = 1
    try:
        a = world.bands[0]
        bid = a.replace(":", "").lower()
        broker = Broker(tempfile.mkdtemp(prefix="broker.", dir=world.dir), BROKER_CONF)
        listener = TimedListener(broker.port, topics=(f"bandgate/{bid}/#",), client_id="bench")
        mqtt_conf = f"host = 127.0.0.1\nport = {broker.port}\n"
        t0 = time.monotonic()
        world.start_gateway([a], gateway_extra=f"id = {GW}\n", mqtt=mqtt_conf)
        world.wait_state(a, "ready", 90)
        listener.wait_index(lambda m: m[0] == f"bandgate/{bid}/state" and m[1] and json.loads(m[1])["connected"], 0,
                            30, "a connected state")
        print(f"paired {a} and saw its state in {time.monotonic() - t0:.1f} s (auto-tap 1 s; not a figure)",
              flush=True)
        time.sleep(args.settle)  # the reads, the time write and the discovery that follow ready
        press_latency(world, listener, a, f"bandgate/{bid}/event", args.presses)
        state_latency(world, listener, a, f"bandgate/{bid}/state", args.states)
        command_latency(world, listener, a, bid, args.verb, args.commands, args.cmd_gap)
        sys.stdout.flush()
        outage(world, broker, listener, a, bid, args.outage, args.fill, args.settle, mqtt_conf)
        listener = None
        status = 0
    except Failed as e:
        print(f"\nbenchmark failed: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        status = 130
    finally:
        cleanup(world, broker, listener)
    print(f"\n(took {time.monotonic() - began:.0f} s)")
    return status


def cleanup(world, broker, listener):
    """The subscriber, the daemon, the broker, then World.close(); whatever could not stop is killed; the
    directory goes either way."""
    steps = [lambda: listener and listener.close(), lambda: world.gateway and world.stop_gateway(),
             lambda: broker and broker.stop(), world.close]
    for step in steps:
        try:
            step()
        except Exception as e:  # noqa: BLE001 - cleanup must go on
            print(f"cleanup: {e!r}", file=sys.stderr)
    for p in (world.gateway.proc if world.gateway else None, world.sim.proc, world.bus,
              broker.proc.proc if broker and broker.proc else None):
        if p and p.poll() is None:
            p.kill()
            p.wait(10)
    shutil.rmtree(world.dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
