"""A world for the real bandgate binary: a private dbus-daemon, bandgate-sim on it, and bandgate with a config
in a temporary directory. Assertions go through the API socket (the CLI's), the simulator's control
interface and the SQLite file; nothing of bandgate is imported or stubbed.

Run by ctest with BANDGATE and BANDGATE_SIM set to the binaries."""
import http.client
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

BUS_CONF = """<busconfig><type>system</type><listen>unix:path={dir}/bus</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*" eavesdrop="true"/>
<allow eavesdrop="true"/></policy></busconfig>"""


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=10)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(self.path)


def api_request(socket_path, method, path, body=None):
    """One request to bandgate's JSON API on its Unix socket: (status, decoded body or None)."""
    c = UnixHTTPConnection(socket_path)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, json.loads(data) if data else None


class Process:
    """A child whose output lines are kept, so a test can wait for one."""

    def __init__(self, argv, env=None):
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_line(self, predicate, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cond.wait(left)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.thread.join(5)
        return code

    def output(self):
        with self.cond:
            return "\n".join(self.lines)


def free_port():
    """A TCP port free on 127.0.0.1 now, below the kernel's ephemeral range (ip_local_port_range): no process's
    outgoing connection takes it as its source port before a server binds it, or between its stop and restart.
    Drawn at random, so that two suites on one machine seldom try the same one."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768  # the usual Linux default
    top = min(low, 65536) - 1
    bottom = max(1024, top - 12000)
    rnd = random.SystemRandom()
    while True:
        port = rnd.randrange(bottom, top)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def db_snapshot(database, *queries):
    """Each (sql, *params)'s rows, all read in one transaction: one state of the store, even while the daemon
    writes (two separate reads can see a commit land between them)."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, isolation_level=None)
    try:
        db.execute("BEGIN")
        rows = [db.execute(sql, params).fetchall() for sql, *params in queries]
        db.execute("COMMIT")
        return rows
    finally:
        db.close()


class World:
    def __init__(self, sim_args=()):
        self.dir = tempfile.mkdtemp(prefix="bandgate-it.")
        with open(os.path.join(self.dir, "bus.conf"), "w") as f:
            f.write(BUS_CONF.format(dir=self.dir))
        self.bus = subprocess.Popen(["dbus-daemon", "--config-file", os.path.join(self.dir, "bus.conf"), "--nofork",
                                     "--nopidfile", "--print-address"], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, text=True)
        self.address = self.bus.stdout.readline().strip()
        self.sim = Process([os.environ["BANDGATE_SIM"], "--bus", self.address, *sim_args])
        if not self.sim.wait_line(lambda l: l == "ready", 30):
            output = self.sim.output()
            self.sim.stop()
            self.bus.terminate()
            self.bus.wait(10)
            shutil.rmtree(self.dir, ignore_errors=True)
            raise RuntimeError("bandgate-sim did not start:\n" + output)
        self.bands = [l.split()[1] for l in self.sim.lines if l.startswith("band ")]
        self.conn = Gio.DBusConnection.new_for_address_sync(
            self.address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        self.signals = []  # (member, path, args) of every org.bluez signal, in arrival order
        self.conn.signal_subscribe(None, None, None, None, None, Gio.DBusSignalFlags.NONE, self._on_signal)
        self.socket = os.path.join(self.dir, "api.sock")
        self.database = os.path.join(self.dir, "state", "bandgate.db")
        self.gateway = None
        self.last_gateway_output = ""

    def _on_signal(self, conn, sender, path, iface, member, args):
        if iface in ("org.freedesktop.DBus.ObjectManager", "org.freedesktop.DBus.Properties"):
            self.signals.append((member, path, args.unpack()))

    def pump(self):
        """Delivers the bus signals received so far to self.signals."""
        while GLib.MainContext.default().iteration(False):
            pass

    def device_path(self, address, adapter="hci0"):
        return f"/org/bluez/{adapter}/dev_" + address.upper().replace(":", "_")

    # -- the simulator's world --
    def control(self, method, signature=None, *args, reply=None):
        params = GLib.Variant(signature, args) if signature else None
        result = self.conn.call_sync("io.bandgate.Sim", "/io/bandgate/Sim", "io.bandgate.Sim1", method, params,
                                     GLib.VariantType(reply) if reply else None, Gio.DBusCallFlags.NONE, 10000,
                                     None)
        return result.unpack() if result else None

    def band(self, address):
        return self.control("GetBand", "(s)", address, reply="(a{sv})")[0]

    def complete_minute(self, address):
        """Moves the band's clock to one second past its next minute, so the running minute is history now
        instead of in up to a minute (a jump of under a minute leaves no gap in the band's record)."""
        band = self.band(address)
        self.control("SetClock", "(sxn)", address, band["clock"] - band["clock"] % 60 + 61, band["tz"])

    def writes(self, address):
        return self.control("GetReceived", "(s)", address, reply="(a(xsay))")[0]

    # -- the gateway --
    def write_config(self, bands, extra="", adapter="hci0", gateway_extra="", mqtt="enabled = false\n",
                     web="listen =\n"):
        """gateway_extra: more lines of [gateway]; mqtt: the lines of [mqtt]; web: more lines of [web] (by
        default no LAN listener: tests run side by side); extra: text appended at the end (after [web])."""
        path = os.path.join(self.dir, "bandgate.conf")
        with open(path, "w") as f:
            f.write(f"[gateway]\nadapter = {adapter}\ndatabase = {self.database}\nbands = {';'.join(bands)}\n"
                    f"{gateway_extra}[mqtt]\n{mqtt}[web]\nsocket = {self.socket}\n{web}{extra}")
        return path

    def start_gateway(self, bands, adapter="hci0", gateway_extra="", mqtt="enabled = false\n", wrap=(),
                      web="listen =\n"):
        """wrap: a command the daemon runs under (it ends by exec'ing its arguments)."""
        conf = self.write_config(bands, adapter=adapter, gateway_extra=gateway_extra, mqtt=mqtt, web=web)
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        self.gateway = Process([*wrap, os.environ["BANDGATE"], "run", "--config", conf], env=env)
        # The socket file exists from bind(), a moment before listen(): wait until it answers.
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.api("GET", "/healthz")[0] == 200:
                    break
            except (FileNotFoundError, ConnectionRefusedError):
                pass
            if time.monotonic() > deadline or self.gateway.proc.poll() is not None:
                raise RuntimeError("bandgate did not start:\n" + self.gateway.output())
            time.sleep(0.05)

    def stop_gateway(self):
        code = self.gateway.stop()
        self.last_gateway_output = self.gateway.output()
        self.gateway.proc.stdout.close()
        self.gateway = None
        return code

    def api(self, method, path, body=None):
        return api_request(self.socket, method, path, body)

    def state(self, address):
        status, band = self.api("GET", "/api/v1/bands/" + address.replace(":", "").lower())
        return band if status == 200 else None

    def wait_state(self, address, states, timeout=60):
        """Polls the API until the band is in one of states; returns the band or fails with the log."""
        states = (states,) if isinstance(states, str) else states
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            self.pump()
            band = self.state(address)
            if band and (not seen or seen[-1] != band["state"]):
                seen.append(band["state"])
            if band and band["state"] in states:
                return band
            time.sleep(0.1)
        raise AssertionError(f"{address} never reached {states}; went through {seen}\n" + self.gateway.output())

    def cli(self, *args, timeout=60):
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address)
        return subprocess.run([os.environ["BANDGATE"], *args, "--socket", self.socket], capture_output=True,
                              text=True, timeout=timeout, env=env)

    def db_rows(self, sql, *params):
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as db:
            return db.execute(sql, params).fetchall()

    def db_snapshot(self, *queries):
        return db_snapshot(self.database, *queries)

    def close(self):
        """Stops everything; returns (gateway exit code, simulator exit code)."""
        gw = self.stop_gateway() if self.gateway else 0
        sim = self.sim.stop()
        self.sim.proc.stdout.close()
        self.conn.close_sync(None)
        self.bus.terminate()
        self.bus.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
        return gw, sim
