#!/usr/bin/python3
"""Figures for the dashboard's server (issue 16), on demand (never in ctest, nothing asserted), in one run against
bandgate-sim and the real daemon with its LAN listener on a free loopback port, through the integration tests'
harness:

1. wrk on GET /api/v1/bands/<id> (with the session cookie) and on / (the embedded index.html), beside nginx
   serving the same bytes from files with the same Content-Type, started here on another free loopback port, in
   the same run: requests/s and p99 latency, and bandgate / nginx. The daemon closes every connection after its
   answer (web.c says why), so both are driven with "Connection: close"; nginx with keep-alive is shown too.
2. A button press (the simulator's PressButton) to the {"type":"button"} WebSocket frame at a client, p50/p99,
   with 1 and with 50 clients connected (one session cookie, the page's Origin); with 50, at the client that
   connected first and at the slowest of the 50 for each press.
3. The daemon's VmRSS idle (startup, a login, the band ready) and with 50 WebSocket clients connected, after
   their snapshots arrived.
4. The login: POST /api/v1/login with the right password end to end (median of 10), beside bench-auth (the hash
   alone) when it is built; a Raspberry Pi 3 core is taken as a quarter of one of this machine's.

    /usr/bin/python3 tests/bench/bench_web.py [--duration 10] [--threads 2] [--connections 32] [--rounds 3]
        [--presses 200] [--gap 0.02] [--clients 50] [--logins 10] [--settle 3] [--pin]      # about 4 minutes

BANDGATE and BANDGATE_SIM name the binaries (default build/release/gateway/bandgate and
build/release/tests/sim/bandgate-sim under the repository), WRK and NGINX the load generator and the reference
server (default wrk and nginx on PATH or in /usr/sbin). README.md here says what bounds each figure."""
import argparse
import base64
import datetime
import hashlib
import http.client
import json
import os
import platform
import re
import resource
import selectors
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("BANDGATE", os.path.join(ROOT, "build/release/gateway/bandgate"))
os.environ.setdefault("BANDGATE_SIM", os.path.join(ROOT, "build/release/tests/sim/bandgate-sim"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.dont_write_bytecode = True  # no __pycache__ left in tests/integration
from harness import World  # noqa: E402
from gi.repository import Gio  # noqa: E402 (the harness chose its version)

from benchlib import cleanup, percentile  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
COOKIE = "bandgate_session"  # web-private.h's SESSION_COOKIE
PASSWORD_LINE = re.compile(r"the dashboard's password is (\S+) ")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455, 1.3
# What web.c adds to every answer; nginx adds the same, so that both send about as many bytes.
SECURITY_HEADERS = (
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)
NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp; proxy_temp_path {dir}/tmp; fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp; scgi_temp_path {dir}/tmp;
    types {{ }}
    server {{
        listen 127.0.0.1:{port};
        root {dir}/root;
        location = / {{
            default_type "{index_type}";
            try_files /index.html =404;
{headers}
            add_header Cache-Control "no-cache" always;
        }}
        location = /api/v1/bands/{id} {{
            default_type "{band_type}";
{headers}
            add_header Cache-Control "no-store" always;
        }}
    }}
}}
"""


class Failed(Exception):
    pass


# ---- helpers ----

def summary(name, values, unit="ms", fmt="{:.2f}"):
    if not values:
        print(f"  {name:52s} (no samples)")
        return
    f = fmt.format
    print(f"  {name:52s} p50 {f(statistics.median(values)):>7} {unit}  p99 {f(percentile(values, 0.99)):>7} {unit}  "
          f"min {f(min(values)):>7}  max {f(max(values)):>7}  N={len(values)}")


def memory(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(line.split()[1])
    return out["VmRSS"], out["VmHWM"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def request(port, method, path, body=None, headers=None):
    """One HTTP request to 127.0.0.1:port: (status, headers as a dict of lower-case names, body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    data = json.dumps(body).encode() if body is not None else None
    h = dict(headers or {})
    if data is not None:
        h["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=h)
    r = c.getresponse()
    out = r.read()
    c.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, out


def login(port, password):
    status, headers, body = request(port, "POST", "/api/v1/login", {"password": password})
    if status != 200:
        raise Failed(f"the login answered {status}: {body[:200]!r}")
    m = re.match(COOKIE + r"=([0-9a-f]+);", headers.get("set-cookie", ""))
    if not m:
        raise Failed(f"the login set no session cookie: {headers.get('set-cookie')!r}")
    return f"{COOKIE}={m.group(1)}"


def set_affinity(pid, cpus):
    """Every thread of pid on cpus (affinity is per thread; threads made later inherit their maker's)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:  # the thread ended meanwhile
            pass


# ---- a WebSocket client, raw ----

class WsClient:
    """RFC 6455 from the client's side, enough for the live feed: the upgrade, then the server's (unmasked) text
    frames, each kept as (monotonic time the bytes were read, its "type"); a ping is answered with a pong."""

    def __init__(self, port, cookie):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                           f"Origin: http://127.0.0.1:{port}\r\nCookie: {cookie}\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise Failed(f"the WebSocket upgrade: the server closed after {head[:200]!r}")
            head += chunk
        head, rest = head.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        if lines[0].split()[1:2] != ["101"] or fields.get("sec-websocket-accept") != accept:
            raise Failed(f"the WebSocket upgrade was refused: {lines[0]!r}")
        self.sock.setblocking(False)
        self.buf = bytearray(rest)
        self.partial = None
        self.messages = []  # (time.monotonic(), type)
        self.buttons = []   # the times of the "button" messages
        self.closed = False

    def feed(self, now):
        """Reads what the socket holds, stamping the messages it completes with now."""
        try:
            data = self.sock.recv(1 << 18)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return
        self.buf += data
        self.parse(now)

    def parse(self, now):
        buf = self.buf
        while len(buf) >= 2:
            op, fin, n, off = buf[0] & 0x0F, buf[0] & 0x80, buf[1] & 0x7F, 2
            if buf[1] & 0x80:
                raise Failed("the server sent a masked frame")
            if n == 126:
                if len(buf) < 4:
                    break
                n, off = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, off = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < off + n:
                break
            payload = bytes(buf[off:off + n])
            del buf[:off + n]
            if op == 0x9:
                self.send(0xA, payload)
            elif op == 0x8:
                self.closed = True
            elif op in (0x0, 0x1):
                self.partial = payload if op == 0x1 else self.partial + payload
                if fin:
                    kind = json.loads(self.partial).get("type")
                    self.partial = None
                    self.messages.append((now, kind))
                    if kind == "button":
                        self.buttons.append(now)

    def send(self, op, payload):
        """A client's frame is masked (RFC 6455, 5.3); only control frames go this way, so short ones."""
        mask = os.urandom(4)
        frame = bytes([0x80 | op, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in
                                                                        enumerate(payload))
        self.sock.settimeout(5)
        self.sock.sendall(frame)
        self.sock.setblocking(False)

    def count(self, kind):
        return sum(1 for _, k in self.messages if k == kind)

    def close(self):
        try:
            self.send(0x8, (1000).to_bytes(2, "big"))
        except OSError:
            pass
        self.sock.close()


class Reader(threading.Thread):
    """One thread reads every client through one selector. A frame's time is when select() returned with its
    socket ready, so a client read later in the same round is not charged with the others' parsing."""

    def __init__(self, clients):
        super().__init__(daemon=True)
        self.clients = clients
        self.cond = threading.Condition()
        self.stopping = False
        self.error = None
        self.sel = selectors.DefaultSelector()
        now = time.monotonic()
        for c in clients:
            c.parse(now)  # what came with the 101
            self.sel.register(c.sock, selectors.EVENT_READ, c)

    def run(self):
        try:
            while not self.stopping:
                events = self.sel.select(0.1)
                now = time.monotonic()
                with self.cond:
                    for key, _ in events:
                        key.data.feed(now)
                        if key.data.closed:
                            self.sel.unregister(key.fileobj)
                    self.cond.notify_all()
        except Exception as e:  # noqa: BLE001 - handed to the waiting thread
            with self.cond:
                self.error = e
                self.cond.notify_all()

    def wait(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                if self.error:
                    raise Failed(f"the WebSocket reader: {self.error!r}")
                closed = [c for c in self.clients if c.closed]
                if closed:
                    raise Failed(f"{len(closed)} WebSocket client(s) closed by the server while waiting for {what}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failed(f"never saw {what}")
                self.cond.wait(left)

    def stop(self):
        self.stopping = True
        self.join(5)
        self.sel.close()
        for c in self.clients:
            c.close()


def connect_clients(port, cookie, n):
    clients = [WsClient(port, cookie) for _ in range(n)]
    reader = Reader(clients)
    reader.start()
    reader.wait(lambda: all(c.count("snapshot") for c in clients), 30, f"the snapshot at all {n} clients")
    return clients, reader


class ButtonSignals:
    """When each button notification (a characteristic's Value becoming 04, miband2-protocol.md section 13) reaches
    this process's bus connection, stamped by a filter in GDBus's worker thread as the message arrives: about when
    dbus-daemon hands the daemon its own copy. It splits a press's time into the simulator's part and the
    daemon's."""

    def __init__(self, conn):
        self.conn = conn
        self.lock = threading.Lock()
        self.times = []
        self.id = conn.add_filter(self._filter)

    def _filter(self, conn, message, incoming):
        now = time.monotonic()
        if incoming and message.get_message_type() == Gio.DBusMessageType.SIGNAL and \
                message.get_member() == "PropertiesChanged":
            body = message.get_body()
            if body is not None and body.n_children() >= 2:
                value = body.get_child_value(1).lookup_value("Value", None)
                if value is not None and bytes(value.unpack()) == b"\x04":
                    with self.lock:
                        self.times.append(now)
        return message

    def after(self, t0, timeout=2):
        """The first stamp after t0; None if none came within timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                later = [t for t in self.times if t >= t0]
            if later or time.monotonic() > deadline:
                return min(later) if later else None
            time.sleep(0.001)

    def close(self):
        self.conn.remove_filter(self.id)


def press_latency(world, a, reader, signals, presses, gap):
    """Per press, in ms: from just before the PressButton call to the frame at the first-connected client and at
    the slowest client; from the call to the notification's signal on the bus; from the signal to the frames.
    Also the share of a CPU the daemon and everything else used meanwhile (besides this process)."""
    clients = reader.clients
    out = {k: [] for k in ("first", "slowest", "bus", "gw_first", "gw_slowest")}
    pid = world.gateway.proc.pid
    busy0, daemon0, self0, wall0 = cpu_busy(), cpu_of(pid), cpu_of(os.getpid()), time.monotonic()
    for _ in range(presses):
        with reader.cond:
            marks = [len(c.buttons) for c in clients]
        t0 = time.monotonic()
        world.control("PressButton", "(s)", a)  # returns once the simulator has queued the notification
        reader.wait(lambda: all(len(c.buttons) > m for c, m in zip(clients, marks)), 10,
                    "a press's button frame at every client")
        with reader.cond:
            times = [c.buttons[m] for c, m in zip(clients, marks)]
        out["first"].append((times[0] - t0) * 1000)
        out["slowest"].append((max(times) - t0) * 1000)
        if (signal_at := signals.after(t0)) is not None:
            out["bus"].append((signal_at - t0) * 1000)
            out["gw_first"].append((times[0] - signal_at) * 1000)
            out["gw_slowest"].append((max(times) - signal_at) * 1000)
        time.sleep(gap)
    wall = time.monotonic() - wall0
    daemon, me = cpu_of(pid) - daemon0, cpu_of(os.getpid()) - self0
    out["cpu"] = (daemon / wall, max(0.0, cpu_busy() - busy0 - daemon - me) / wall)
    return out


# ---- issue 16's Measure 2 and 3: the live feed and memory ----

def rss_line(name, mem, note=""):
    print(f"  {name:62s} VmRSS {mem[0]:6d} kB  VmHWM {mem[1]:6d} kB{'  ' + note if note else ''}")


def live_and_memory(world, a, port, cookie, args, results):
    pid = world.gateway.proc.pid
    idle = memory(pid)
    print("\nWebSocket and memory (issue 16's Measure 2 and 3): PressButton -> {\"type\":\"button\"} at the client")
    rss_line(f"VmRSS idle (startup, one login, the band ready, {args.settle:g} s on)", idle)
    signals = ButtonSignals(world.conn)
    try:
        clients, reader = connect_clients(port, cookie, args.clients)
        try:
            time.sleep(args.settle)
            full = memory(pid)
            rss_line(f"VmRSS with {args.clients} WebSocket clients (snapshots in, {args.settle:g} s on)", full,
                     f"+{full[0] - idle[0]} kB, {(full[0] - idle[0]) / args.clients:.1f} kB a client")
            many = press_latency(world, a, reader, signals, args.presses, args.gap)
        finally:
            reader.stop()
        time.sleep(args.settle)
        after = memory(pid)
        rss_line(f"VmRSS after their presses and closes ({args.settle:g} s on)", after)
        clients, reader = connect_clients(port, cookie, 1)
        try:
            one = press_latency(world, a, reader, signals, args.presses, args.gap)
        finally:
            reader.stop()
    finally:
        signals.close()
    n = args.clients
    print(f"  {args.presses} presses {args.gap * 1000:.0f} ms apart each; \"call\" is just before the PressButton "
          "call, \"signal\" the")
    print("  notification's PropertiesChanged arriving on this script's bus connection (about when the daemon gets its")
    print("  copy; a stamp this process takes late moves time from the second part to the first). CPU: the daemon's")
    print(f"  share of one meanwhile, and everything's but it and this script's: with 1 client "
          f"{100 * one['cpu'][0]:.0f} % and {100 * one['cpu'][1]:.0f} %, with {args.clients} "
          f"{100 * many['cpu'][0]:.0f} % and {100 * many['cpu'][1]:.0f} %")
    summary("1 client: call -> frame", one["first"])
    summary("  call -> signal (the call, the simulator's 2 ms)", one["bus"])
    summary("  signal -> frame (the daemon, and the reading)", one["gw_first"])
    summary(f"{n} clients: call -> frame at the first connected", many["first"])
    summary(f"{n} clients: call -> frame at the slowest, each press", many["slowest"])
    summary("  call -> signal", many["bus"])
    summary("  signal -> frame at the first connected", many["gw_first"])
    summary("  signal -> frame at the slowest", many["gw_slowest"])
    print("  bound: the simulator answers the call and sends the notification one connection event later (a 2 ms")
    print("  GLib timeout, PUMP_INTERVAL_MS in tests/sim/band.c: 3 ms at least from the call to the signal here);")
    print("  dbus-daemon; the daemon's GDBus thread hands it to the loop, the events row is committed before")
    print("  the hub tells the web (WAL, synchronous = FULL: an fdatasync), one frame is built and queued to every")
    print("  client, each written in its own writeable callback. The times are this script's select() wake-ups")
    print("  (one Python thread reads every client)")
    results.update(rss_idle=idle[0], rss_full=full[0], rss_after=after[0], ws_one=one, ws_many=many)


# ---- Measure 1: wrk beside nginx ----

class Nginx:
    def __init__(self, binary, parent, band_id, band, index, cpus):
        self.dir = tempfile.mkdtemp(prefix="nginx.", dir=parent)
        self.port = free_port()
        root = os.path.join(self.dir, "root")
        os.makedirs(os.path.join(root, "api", "v1", "bands"))
        os.makedirs(os.path.join(self.dir, "tmp"))
        with open(os.path.join(root, "api", "v1", "bands", band_id), "wb") as f:
            f.write(band[2])
        with open(os.path.join(root, "index.html"), "wb") as f:
            f.write(index[2])
        headers = "\n".join(f"            add_header {name} \"{value}\" always;" for name, value in SECURITY_HEADERS)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(dir=self.dir, port=self.port, headers=headers, id=band_id,
                                      index_type=index[1]["content-type"], band_type=band[1]["content-type"]))
        with open(os.path.join(self.dir, "error.log"), "w") as log:
            self.proc = subprocess.Popen([binary, "-p", self.dir, "-c", conf, "-e", log.name],
                                         stdout=subprocess.DEVNULL, stderr=log)
        if cpus:
            set_affinity(self.proc.pid, cpus)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise Failed("nginx did not start: " + self.errors())
                time.sleep(0.02)

    def errors(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


WRK_TIME = re.compile(r"([0-9.]+)(us|ms|s|m|h)$")


def wrk_ms(text):
    m = WRK_TIME.match(text)
    if not m:
        return None
    return float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3, "m": 6e4, "h": 3.6e6}[m.group(2)]


def cpu_busy():
    """Seconds of CPU the whole machine spent busy (not idle, not waiting for I/O) since boot."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICKS


def cpu_of(pid):
    """utime + stime of pid, every thread, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def run_wrk(args, url, headers, cpus, server):
    """wrk's figures, and the CPU (as a share of one) the server, wrk and everything else used meanwhile."""
    argv = [args.wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s", "--latency"]
    for h in headers:
        argv += ["-H", h]
    argv.append(url)
    if cpus:
        argv = ["taskset", "-c", ",".join(map(str, sorted(cpus)))] + argv
    busy0, server0, children0 = cpu_busy(), cpu_of(server), resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=args.duration + 60)
    wall = time.monotonic() - t0
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy, used = cpu_busy() - busy0, cpu_of(server) - server0
    load = children.ru_utime + children.ru_stime - children0.ru_utime - children0.ru_stime
    text = out.stdout
    r = {"cpu": (used / wall, load / wall, max(0.0, busy - used - load) / wall), "rps": None, "p50": None,
         "p99": None, "requests": 0, "errors": "", "non2xx": 0}
    if m := re.search(r"Requests/sec:\s+([0-9.]+)", text):
        r["rps"] = float(m.group(1))
    for q in ("50", "99"):
        if m := re.search(rf"^\s+{q}%\s+(\S+)", text, re.M):
            r["p" + q] = wrk_ms(m.group(1))
    if m := re.search(r"(\d+) requests in", text):
        r["requests"] = int(m.group(1))
    if m := re.search(r"Socket errors: (.*)", text):
        r["errors"] = m.group(1)
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", text):
        r["non2xx"] = int(m.group(1))
    if out.returncode != 0 or r["rps"] is None or not r["requests"]:
        raise Failed(f"wrk failed ({out.returncode}): {out.stderr.strip()}\n{text}")
    r["server_us"] = used / r["requests"] * 1e6
    return r


def wrk_line(name, r):
    notes = []
    if r["errors"]:
        notes.append("socket errors: " + r["errors"])
    if r["non2xx"]:
        notes.append(f"{r['non2xx']} not 2xx/3xx")
    cpu = "/".join(f"{100 * c:.0f}" for c in r["cpu"])
    print(f"  {name:30s} {r['rps']:7.0f} req/s  p50 {r['p50']:6.2f} ms  p99 {r['p99']:6.2f} ms  "
          f"{r['server_us']:5.0f} us  CPU % {cpu:>11s}"
          f"{'  ' + '; '.join(notes) if notes else ''}", flush=True)


def response_size(port, path, headers):
    """The bytes of the whole answer (status line, headers, body), as the server sends them."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n" +
                   "".join(h + "\r\n" for h in headers) + "Connection: close\r\n\r\n").encode())
        n = 0
        while chunk := s.recv(65536):
            n += len(chunk)
    return n


def http_vs_nginx(world, port, cookie, bid, args, results):
    cpus_server, cpus_load = ({0}, {1}) if args.pin else (None, None)
    band = request(port, "GET", f"/api/v1/bands/{bid}", headers={"Cookie": cookie})
    index = request(port, "GET", "/")
    for what, r in (("the band", band), ("/", index)):
        if r[0] != 200 or "content-encoding" in r[1]:
            raise Failed(f"GET {what}: {r[0]}, {r[1].get('content-encoding', 'identity')}")
    nginx = Nginx(args.nginx, world.dir, bid, band, index, cpus_server)
    gw = world.gateway.proc.pid
    try:
        if cpus_server:
            set_affinity(gw, cpus_server)
        for path, r in ((f"/api/v1/bands/{bid}", band), ("/", index)):
            got = request(nginx.port, "GET", path)
            if got[0] != 200 or got[2] != r[2] or got[1].get("content-type") != r[1]["content-type"]:
                raise Failed(f"nginx's {path} is not bandgate's: {got[0]} {got[1].get('content-type')} "
                             f"{len(got[2])} bytes; {nginx.errors()}")
        print(f"\nHTTP (issue 16's Measure 1): wrk -t{args.threads} -c{args.connections} -d{args.duration}s --latency, "
              f"bandgate beside nginx")
        print(f"  ({nginx_version(args.nginx)} in one process: daemon off, master_process off, access_log off; the "
              "same bodies from files,")
        print("  the same Content-Type, security headers and Cache-Control)")
        if args.pin:
            print("  --pin: the daemon (every thread) and nginx on CPU 0, wrk on CPU 1")
        else:
            print(f"  {os.cpu_count()} CPUs shared by wrk's {args.threads} threads, the server under test and the rest "
                  "of the world")
            print("  (dbus-daemon and the simulator, idle meanwhile; whatever else runs here); no pinning")
        print("  us: the server's CPU time (utime + stime, every thread) a request; CPU %: the server / wrk /")
        print("  everything else (other processes, softirqs charged to neither), each a share of one CPU over the run")
        for path, r, extra, name in ((f"/api/v1/bands/{bid}", band, [f"Cookie: {cookie}"], "band"),
                                     ("/", index, [], "index")):
            sizes = (response_size(port, path, extra), response_size(nginx.port, path, extra))
            print(f"  GET {path}: body {len(r[2])} bytes, {r[1]['content-type']}; whole answer: bandgate "
                  f"{sizes[0]} bytes, nginx {sizes[1]}")
            results[name] = compare(args, path, extra, (gw, port), (nginx.proc.pid, nginx.port), cpus_load)
        print("  bandgate answers with \"Connection: close\" whatever was asked (one request per connection, web.c),")
        print("  so each of its requests costs a TCP connect, accept and close: its two runs measure the same thing")
    finally:
        nginx.stop()
        if cpus_server:
            set_affinity(gw, set(range(os.cpu_count())))
    after = memory(gw)
    results["rss_wrk"] = after
    print(f"  the daemon after the wrk runs: VmRSS {after[0]} kB, VmHWM {after[1]} kB")


def compare(args, path, extra, gw, ng, cpus_load):
    """bandgate and nginx, both with "Connection: close", in args.rounds alternating pairs (so that a change in the
    machine's load meanwhile hits both alike), between a run of bandgate as wrk comes (keep-alive asked for) and
    one of nginx with keep-alive."""
    close = extra + ["Connection: close"]
    plan = [("gw", "bandgate", gw, extra)]
    plan += [("gw_close", "bandgate, close", gw, close), ("ng_close", "nginx, close", ng, close)] * args.rounds
    plan += [("ng_keep", "nginx, keep-alive", ng, extra)]
    runs = {key: [] for key, _, _, _ in plan}
    for key, label, (pid, port), headers in plan:
        r = run_wrk(args, f"http://127.0.0.1:{port}{path}", headers, cpus_load, pid)
        runs[key].append(r)
        wrk_line(label + (f" ({len(runs[key])}/{args.rounds})" if key.endswith("_close") and args.rounds > 1 else ""),
                 r)
    ratios = [g["rps"] / n["rps"] for g, n in zip(runs["gw_close"], runs["ng_close"])]
    cost = [g["server_us"] / n["server_us"] for g, n in zip(runs["gw_close"], runs["ng_close"])]
    spread = f" (rounds {min(ratios):.2f}-{max(ratios):.2f}x)" if len(ratios) > 1 else ""
    print(f"  {'bandgate / nginx, both close':30s} {statistics.median(ratios):7.2f}x req/s{spread}, goal >= 0.5x; "
          f"server CPU a request {statistics.median(cost):.1f}x nginx's")
    return runs


def nginx_version(binary):
    out = subprocess.run([binary, "-v"], capture_output=True, text=True)
    return (out.stderr or out.stdout).strip().replace("nginx version: ", "")


# ---- Measure 4: the login ----

def login_time(port, password, n, results):
    ms = []
    for _ in range(n):
        t0 = time.perf_counter()
        login(port, password)
        ms.append((time.perf_counter() - t0) * 1000)
    med = statistics.median(ms)
    print(f"\nLogin (issue 16's Measure 4): POST /api/v1/login with the right password, end to end ({n} in a row)")
    print(f"  {'median':34s} {med:7.1f} ms  min {min(ms):.1f}  max {max(ms):.1f}  N={n}")
    print(f"  {'a Raspberry Pi 3 core (4x)':34s} {med * 4:7.0f} ms per attempt")
    bench = os.path.join(os.path.dirname(os.path.dirname(os.environ["BANDGATE"])), "tests", "bench", "bench-auth")
    auth = None
    if os.access(bench, os.X_OK):
        out = subprocess.run([bench, "20"], capture_output=True, text=True, timeout=120)
        for line in out.stdout.splitlines():
            print("  bench-auth: " + line)
        if m := re.search(r"median ([0-9.]+) ms", out.stdout):
            auth = float(m.group(1))
    else:
        print(f"  ({bench} is not built: cmake --build build/release --target bench-auth)")
    print("  bound: one yescrypt hash at libxcrypt's default cost in a GLib worker thread (the loop goes on);")
    print("  the rest is the connection, the JSON and a new session (32 random bytes twice)")
    results.update(login=med, auth=auth)


# ---- the summary ----

def summary_rows(args, results):
    """(figure, bandgate, reference, goal, verdict) of what was measured."""
    rows = []
    for name, label in (("band", "GET /api/v1/bands/ID"), ("index", "GET / (index.html)")):
        runs = results.get(name)
        if not runs:
            continue
        med = {key: {f: statistics.median(r[f] for r in rs) for f in ("rps", "p99", "server_us")}
               for key, rs in runs.items()}
        gw, ng, keep = med["gw_close"], med["ng_close"], med["ng_keep"]
        ratio = statistics.median(g["rps"] / n["rps"] for g, n in zip(runs["gw_close"], runs["ng_close"]))
        cost = statistics.median(g["server_us"] / n["server_us"]
                                 for g, n in zip(runs["gw_close"], runs["ng_close"]))
        rows.append((f"{label}: req/s, Connection: close", f"{gw['rps']:.0f}", f"nginx {ng['rps']:.0f}",
                     ">= 0.5x nginx", f"{ratio:.2f}x: " + ("met" if ratio >= 0.5 else
                                                           f"missed by {(0.5 - ratio) / 0.5 * 100:.0f} %")))
        rows.append((f"{label}: p99, Connection: close", f"{gw['p99']:.2f} ms", f"nginx {ng['p99']:.2f} ms", "",
                     ""))
        rows.append((f"{label}: server CPU a request", f"{gw['server_us']:.0f} us", f"nginx {ng['server_us']:.0f} us",
                     "", f"{cost:.1f}x nginx's"))
        rows.append((f"{label}: nginx with keep-alive", "", f"{keep['rps']:.0f}/s, p99 {keep['p99']:.2f} ms", "",
                     f"bandgate {gw['rps'] / keep['rps']:.2f}x"))
    for key, part, label in (("ws_one", "first", "press -> button frame, 1 client"),
                             ("ws_many", "first", f"press -> button frame, {args.clients} clients: first"),
                             ("ws_many", "slowest", f"press -> button frame, {args.clients} clients: slowest"),
                             ("ws_one", "gw_first", "  of which signal -> frame, 1 client"),
                             ("ws_many", "gw_slowest", f"  of which signal -> frame, {args.clients}: slowest")):
        if v := results.get(key, {}).get(part):
            p99 = percentile(v, 0.99)
            rows.append((label, f"p50 {statistics.median(v):.2f} ms", f"p99 {p99:.2f} ms", "p99 <= 5 ms",
                         "met" if p99 <= 5 else f"missed by {p99 - 5:.2f} ms"))
    if "rss_idle" in results:
        cost = results["rss_full"] - results["rss_idle"]
        rows.append(("VmRSS idle", f"{results['rss_idle']} kB", "", "", ""))
        rows.append((f"VmRSS with {args.clients} WebSocket clients", f"{results['rss_full']} kB", f"+{cost} kB",
                     "<= +2048 kB", "met" if cost <= 2048 else "missed"))
    if results.get("login") is not None:
        rows.append(("login, POST end to end: median", f"{results['login']:.1f} ms",
                     f"Pi 3 ~{4 * results['login']:.0f} ms", "", ""))
    if results.get("auth") is not None:
        rows.append(("login, the hash alone (bench-auth): median", f"{results['auth']:.1f} ms",
                     f"Pi 3 ~{4 * results['auth']:.0f} ms", "", ""))
    return rows


def print_summary(args, results):
    print(f"\nSummary: {os.cpu_count()} CPUs ({cpu_model()}) shared by wrk, the server and this script"
          f"{'; --pin: the server on CPU 0, wrk on CPU 1' if args.pin else ''}")
    rows = [("figure", "bandgate", "beside it", "goal", "")] + summary_rows(args, results)
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print(f"  {r[0]:{widths[0]}s}  {r[1]:>{widths[1]}s}  {r[2]:>{widths[2]}s}  {r[3]:{widths[3]}s}  {r[4]}"
              .rstrip())


# ---- main ----

def reproduce(args):
    argv = [sys.executable, os.path.relpath(os.path.abspath(__file__), ROOT)]
    for name in ("duration", "threads", "connections", "rounds", "presses", "clients", "logins"):
        argv += [f"--{name}", str(getattr(args, name))]
    if args.pin:
        argv.append("--pin")
    return " ".join(shlex.quote(a) for a in argv)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of each wrk run (default 10)")
    parser.add_argument("--threads", type=int, default=2, help="wrk's threads (default 2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk's connections (default 32; the daemon "
                        "takes 128 at once)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each server with Connection: "
                        "close (default 3)")
    parser.add_argument("--presses", type=int, default=200, help="button presses per case (default 200)")
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between presses (default 0.02)")
    parser.add_argument("--clients", type=int, default=50, help="WebSocket clients of the crowded case (default 50)")
    parser.add_argument("--logins", type=int, default=10, help="timed logins (default 10)")
    parser.add_argument("--settle", type=float, default=3, help="seconds before each memory reading (default 3)")
    parser.add_argument("--pin", action="store_true", help="servers on CPU 0, wrk on CPU 1 (then use --threads 1)")
    args = parser.parse_args()
    args.wrk = os.environ.get("WRK") or shutil.which("wrk")
    args.nginx = os.environ.get("NGINX") or shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
    for var in ("BANDGATE", "BANDGATE_SIM"):
        if not os.access(os.environ[var], os.X_OK):
            sys.exit(f"{var}={os.environ[var]} is not an executable; build it or set {var}")
    for name, path in (("wrk", args.wrk), ("nginx", args.nginx)):
        if not path:
            sys.exit(f"{name} is not installed (apt-get install {'wrk' if name == 'wrk' else 'nginx-light'})")
    if args.pin and os.cpu_count() < 2:
        sys.exit("--pin needs two CPUs")

    def interrupted(signum, frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)
    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGHUP, interrupted)

    version = subprocess.run([os.environ["BANDGATE"], "--version"], capture_output=True, text=True).stdout.strip()
    wrk_version = subprocess.run([args.wrk, "--version"], capture_output=True, text=True).stdout.split("[")[0]
    print(f"reproduce    cd {ROOT} && {reproduce(args)}")
    built = datetime.datetime.fromtimestamp(os.stat(os.environ["BANDGATE"]).st_mtime).isoformat(timespec="seconds")
    print(f"bandgate     {os.environ['BANDGATE']} ({version or '?'}, built {built})")
    print(f"bandgate-sim {os.environ['BANDGATE_SIM']}")
    print(f"load         {args.wrk} ({wrk_version.strip()}); reference {args.nginx} ({nginx_version(args.nginx)})")
    print(f"host         {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs ({cpu_model()}), "
          f"Linux {platform.release()}; files in {tempfile.gettempdir()}")
    print(f"settings     --duration {args.duration} --threads {args.threads} --connections {args.connections} "
          f"--rounds {args.rounds} "
          f"--presses {args.presses} --gap {args.gap} --clients {args.clients} --logins {args.logins} --settle "
          f"{args.settle}{' --pin' if args.pin else ''}; {datetime.datetime.now().isoformat(timespec='seconds')}",
          flush=True)
    print(f"load average {loadavg()} (other work on the machine skews every figure here; CPU % below shows it)")
    if os.cpu_count() <= 2:
        print(f"note         only {os.cpu_count()} CPUs: wrk competes with the server it measures, for both servers "
              "alike", flush=True)
    began = time.monotonic()
    world = World(("--auto-tap", "1", "--days", "1"))
    results = {}
    status = 1
    try:
        a = world.bands[0]
        bid = a.replace(":", "").lower()
        port = free_port()
        t0 = time.monotonic()
        world.start_gateway([a], web=f"listen = 127.0.0.1:{port}\n")
        line = world.gateway.wait_line(lambda text: PASSWORD_LINE.search(text), 30)
        if not line:
            raise Failed("the daemon logged no first password:\n" + world.gateway.output()[-3000:])
        password = PASSWORD_LINE.search(line).group(1)
        world.wait_state(a, "ready", 90)
        cookie = login(port, password)
        print(f"paired {a} and logged in on 127.0.0.1:{port} in {time.monotonic() - t0:.1f} s (not a figure)",
              flush=True)
        time.sleep(args.settle)  # the reads, the time write and the discovery that follow ready
        live_and_memory(world, a, port, cookie, args, results)
        http_vs_nginx(world, port, cookie, bid, args, results)
        login_time(port, password, args.logins, results)
        print_summary(args, results)
        status = 0
    except Failed as e:
        print(f"\nbenchmark failed: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        status = 130
    finally:
        cleanup(world)
    print(f"\n(took {time.monotonic() - began:.0f} s; load average at the end {loadavg()})")
    return status


if __name__ == "__main__":
    sys.exit(main())
