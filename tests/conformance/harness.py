"""The world of a conformance test: a private dbus-daemon, bandgate-sim on it, and D-Bus clients that record
everything they receive in arrival order.

The recorder is a GDBus message filter, so it runs on GDBus's worker thread and sees method returns, errors
and signals in exactly the order they came off the socket. That order is what bluez-5.66.md specifies ("A, B,
C" is the order in which a client sees replies and signals), so the tests compare event indices, never clocks.

Run by ctest with BANDGATE_SIM set to the simulator binary."""
import datetime
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import traceback
import unittest
from dataclasses import dataclass

import gi

gi.require_version("Gio", "2.0")
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from gi.repository import Gio, GLib  # noqa: E402

BLUEZ = "org.bluez"
SIM, SIM_PATH, SIM_IFACE = "io.bandgate.Sim", "/io/bandgate/Sim", "io.bandgate.Sim1"
OM = "org.freedesktop.DBus.ObjectManager"
PROPS = "org.freedesktop.DBus.Properties"
ADAPTER, DEVICE = "org.bluez.Adapter1", "org.bluez.Device1"
GATT_SERVICE, GATT_CHR = "org.bluez.GattService1", "org.bluez.GattCharacteristic1"
GATT_DESC = "org.bluez.GattDescriptor1"
GATT_IFACES = (GATT_SERVICE, GATT_CHR, GATT_DESC)
ERR = "org.bluez.Error."


def sig(uuid16):
    """A SIG-base UUID (miband2-protocol.md §2.1)."""
    return f"0000{uuid16}-0000-1000-8000-00805f9b34fb"


def huami(uuid16):
    """A Huami-base UUID (miband2-protocol.md §2.1)."""
    return f"0000{uuid16}-0000-3512-2118-0009af100700"


# Appendix A of miband2-protocol.md.
AUTH, CONFIG, FETCH, ACTIVITY = huami("0009"), huami("0003"), huami("0004"), huami("0005")
BATTERY, STEPS, EVENT = huami("0006"), huami("0007"), huami("0010")
TIME, SW_REV, HW_REV, SERIAL = sig("2a2b"), sig("2a28"), sig("2a27"), sig("2a25")
NEW_ALERT, ALERT_LEVEL, HR_MEAS, CCCD = sig("2a46"), sig("2a06"), sig("2a37"), sig("2902")
LEGACY_KEY = b"0123456789@ABCDE"  # §4.2
TZ = 4  # quarter hours: the band lives one hour east of UTC (§6.1)

# A system bus (bluetoothctl and the sim look for one) that lets everyone own, send and receive everything.
BUS_CONF = """<busconfig><type>system</type><listen>unix:path={dir}/bus</listen><auth>EXTERNAL</auth>
<policy context="default"><allow user="*"/><allow own="*"/><allow send_destination="*"/>
<allow receive_sender="*"/></policy></busconfig>"""


def aes_ecb(key, block):
    """AES-128-ECB of one block, no padding: the Mi Band 2 auth cipher (§4.3)."""
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def device_path(address, adapter="hci0"):
    """bluez §Objects: devices at /org/bluez/hciN/dev_XX_XX_XX_XX_XX_XX."""
    return f"/org/bluez/{adapter}/dev_{address.upper().replace(':', '_')}"


def huami_ts(dt, tz_quarters):
    """The 8-byte timestamp of §6.2: band-local wall time, seconds, zone in quarter hours."""
    return bytes([dt.year & 0xff, dt.year >> 8, dt.month, dt.day, dt.hour, dt.minute, dt.second, tz_quarters & 0xff])


def parse_ts(b):
    """§6.2 back to (naive local datetime, zone quarters)."""
    tz = b[7] - 256 if b[7] > 127 else b[7]
    return datetime.datetime(b[0] | b[1] << 8, b[2], b[3], b[4], b[5], b[6]), tz


def le32(b):
    return int.from_bytes(b[:4], "little")


def set_time(band):
    """§6.1: write 2A2B with the band-local time and zone TZ; returns the band-local now."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0, tzinfo=None)
    local = now + datetime.timedelta(minutes=15 * TZ)
    band.write(TIME, huami_ts(local, TZ)[:7] + bytes([local.isoweekday(), 0, 0, TZ]))
    return local


def variant(signature, *values):
    """A method's argument tuple, e.g. variant("(sb)", "hci0", True)."""
    return GLib.Variant(signature, values)


def iterate(seconds=0.0):
    """Let GLib dispatch whatever is pending, for at least `seconds`: GDBus needs its main context turned."""
    ctx = GLib.MainContext.default()
    end = time.monotonic() + seconds
    while True:
        while ctx.iteration(False):
            pass
        if time.monotonic() >= end:
            return
        time.sleep(0.005)


def wait_until(condition, timeout=10, what="a condition"):
    """Poll condition() while GLib iterates, until it is truthy (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        iterate(0.02)


class DBusError(Exception):
    """An error reply, with its D-Bus name and message, so tests can compare both with the doc."""

    def __init__(self, name, message):
        super().__init__(f"{name}: {message}")
        self.name, self.message = name, message


@dataclass
class Event:
    """One message a client received: a signal, a method return or an error."""
    index: int
    kind: str  # "signal", "return" or "error"
    sender: str
    path: str
    interface: str
    member: str
    reply_serial: int
    error_name: str
    body: object  # GLib.Variant or None
    fds: list
    time: float

    @property
    def args(self):
        return self.body.unpack() if self.body is not None else ()

    def changed(self, iface=None):
        """The changed properties of a PropertiesChanged (of iface, if given), else None."""
        if self.kind != "signal" or self.member != "PropertiesChanged":
            return None
        args = self.args
        return args[1] if iface is None or args[0] == iface else None

    def invalidated(self, iface=None):
        return self.args[2] if self.changed(iface) is not None else None


class Recorder:
    """Every incoming message of one connection, in arrival order (filled from GDBus's worker thread)."""

    def __init__(self):
        self.events = []
        self.bluez_owners = set()
        self.cond = threading.Condition()

    def filter(self, conn, msg, incoming):
        """GDBus's filter hook: record, and always pass the message on (an exception here would drop it)."""
        try:
            if incoming:
                self._record(msg)
        except Exception:  # noqa: BLE001 - a broken record must not hide a message from GDBus
            traceback.print_exc()
        return msg

    def _record(self, msg):
        kinds = {Gio.DBusMessageType.SIGNAL: "signal", Gio.DBusMessageType.METHOD_RETURN: "return",
                 Gio.DBusMessageType.ERROR: "error"}
        kind = kinds.get(msg.get_message_type())
        if kind is None:
            return
        fdlist = msg.get_unix_fd_list()
        fds = fdlist.steal_fds() if fdlist is not None else []
        with self.cond:
            e = Event(len(self.events), kind, msg.get_sender(), msg.get_path(), msg.get_interface(),
                      msg.get_member(), msg.get_reply_serial(), msg.get_error_name(), msg.get_body(), fds,
                      time.monotonic())
            self._track_owner(e)
            self.events.append(e)
            self.cond.notify_all()

    def _track_owner(self, e):
        """Remember every unique name org.bluez had, so signals from a restarted daemon still count as its."""
        if e.kind == "signal" and e.member == "NameOwnerChanged" and e.args[0] == BLUEZ and e.args[2]:
            self.bluez_owners.add(e.args[2])

    def mark(self):
        """An index to look from: events before it belong to an earlier step of the test."""
        with self.cond:
            return len(self.events)

    def all(self, pred, since=0):
        with self.cond:
            return [e for e in self.events[since:] if pred(e)]

    def find(self, pred, since=0):
        found = self.all(pred, since)
        return found[0] if found else None

    def wait(self, pred, since=0, timeout=10, what="an event"):
        """The first matching event at or after `since`, waiting up to `timeout` s while GLib iterates."""
        deadline = time.monotonic() + timeout
        while True:
            e = self.find(pred, since)
            if e is not None:
                return e
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            iterate()
            with self.cond:
                self.cond.wait(min(left, 0.02))


class Pending:
    """A method call on its way; its reply is found in the recorder by serial."""

    def __init__(self, client, serial, what):
        self.client, self.serial, self.what = client, serial, what

    def _is_reply(self, e):
        return e.kind != "signal" and e.reply_serial == self.serial

    @property
    def reply(self):
        """The reply event if it has arrived, else None."""
        return self.client.recorder.find(self._is_reply)

    def wait(self, timeout=10):
        return self.client.recorder.wait(self._is_reply, timeout=timeout, what=f"the reply to {self.what}")

    def result(self, timeout=10):
        """The unpacked return values, or DBusError."""
        e = self.wait(timeout)
        if e.kind == "error":
            raise DBusError(e.error_name, e.args[0] if e.args else "")
        return e.args


class Client:
    """One connection to the bus: one bluetoothd client (discovery and notify sessions are per client)."""

    def __init__(self, address):
        flags = Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION
        self.conn = Gio.DBusConnection.new_for_address_sync(address, flags, None, None)
        self.conn.set_exit_on_close(False)
        self.recorder = Recorder()
        self.conn.add_filter(self.recorder.filter)
        # A match on every signal: the bus then routes org.bluez's broadcasts (and NameOwnerChanged) to us.
        self.conn.signal_subscribe(None, None, None, None, None, Gio.DBusSignalFlags.NONE, lambda *a: None)
        self.name = self.conn.get_unique_name()
        owner = self._owner_of(BLUEZ)
        if owner:
            self.recorder.bluez_owners.add(owner)

    def _owner_of(self, name):
        try:
            return self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                             "GetNameOwner", variant("(s)", name))[0]
        except DBusError:
            return None

    def send(self, dest, path, iface, method, args=None):
        """Send a call without waiting: the reply lands in the recorder."""
        msg = Gio.DBusMessage.new_method_call(dest, path, iface, method)
        if args is not None:
            msg.set_body(args)
        ok, serial = self.conn.send_message(msg, Gio.DBusSendMessageFlags.NONE)
        assert ok, f"could not send {iface}.{method}"
        return Pending(self, serial, f"{iface}.{method} on {path}")

    def call(self, dest, path, iface, method, args=None, timeout=10):
        return self.send(dest, path, iface, method, args).result(timeout)

    def bluez(self, path, iface, method, args=None, timeout=10):
        return self.call(BLUEZ, path, iface, method, args, timeout)

    def get(self, path, iface, prop):
        return self.bluez(path, PROPS, "Get", variant("(ss)", iface, prop))[0]

    def get_all(self, path, iface):
        return self.bluez(path, PROPS, "GetAll", variant("(s)", iface))[0]

    def set(self, path, iface, prop, value):
        """Properties.Set, sent only: the caller decides when the reply must have come."""
        return self.send(BLUEZ, path, PROPS, "Set", GLib.Variant("(ssv)", (iface, prop, value)))

    def objects(self):
        return self.bluez("/", OM, "GetManagedObjects")[0]

    def sync(self):
        """A round trip to org.bluez, for a test that must know where bluetoothd is: when its reply is here,
        bluetoothd has handled every call this client sent before it (one connection's calls are handled in
        order), and this client has received every signal bluetoothd sent before handling it (a bus keeps one
        sender's messages to one receiver in order). Calls to io.bandgate.Sim come on another connection of
        the simulator, so without this a control call may overtake a bluetoothd call sent before it."""
        self.objects()

    def from_bluez(self, e):
        return e.sender in self.recorder.bluez_owners

    def wait_props(self, path, iface, props, since=0, timeout=10):
        """The first PropertiesChanged from org.bluez on path that carries every property of props."""
        def match(e):
            ch = e.changed(iface)
            return (ch is not None and e.path == path and self.from_bluez(e)
                    and all(k in ch and ch[k] == v for k, v in props.items()))
        return self.recorder.wait(match, since, timeout, f"{props} on {path}")

    def close(self):
        if not self.conn.is_closed():
            self.conn.close_sync(None)


class World:
    """A private system bus (a dbus-daemon on a temp-dir socket) and bandgate-sim on it."""

    def __init__(self, *sim_args, ready_timeout=30):
        self.dir = tempfile.mkdtemp(prefix="conformance.")
        self.clients = []
        self.sim = self.daemon = None
        try:
            self._start_bus()
            self._start_sim(sim_args, ready_timeout)
            self.client = self.new_client()
        except BaseException:
            self.stop()
            self.cleanup()
            raise

    def _start_bus(self):
        conf = os.path.join(self.dir, "bus.conf")
        with open(conf, "w") as f:
            f.write(BUS_CONF.format(dir=self.dir))
        with open(os.path.join(self.dir, "dbus.log"), "w") as log:
            self.daemon = subprocess.Popen(["dbus-daemon", "--config-file", conf, "--nofork", "--nopidfile",
                                            "--print-address"], stdout=subprocess.PIPE, stderr=log, text=True)
        self.address = self.daemon.stdout.readline().strip()
        assert self.address, "dbus-daemon did not start"

    def _start_sim(self, args, timeout):
        self.sim_log = os.path.join(self.dir, "sim.log")
        with open(self.sim_log, "w") as log:
            self.sim = subprocess.Popen([os.environ["BANDGATE_SIM"], "--bus", self.address, *map(str, args)],
                                        stdout=subprocess.PIPE, stderr=log, text=True)
        self.bands, ready = [], threading.Event()
        self.reader = threading.Thread(target=self._read_stdout, args=(ready,), daemon=True)
        self.reader.start()
        if not ready.wait(timeout):
            raise AssertionError(f"bandgate-sim was not ready in {timeout} s:\n{self.sim_stderr()}")

    def _read_stdout(self, ready):
        """`band ADDR` lines, then `ready` (main.c); drained to the end so the sim never blocks on stdout."""
        for line in self.sim.stdout:
            if line.startswith("band "):
                self.bands.append(line.split()[1])
            elif line.strip() == "ready":
                ready.set()

    def sim_stderr(self):
        with open(self.sim_log, errors="replace") as f:
            return f.read()

    def new_client(self):
        c = Client(self.address)
        self.clients.append(c)
        return c

    def control(self, method, signature="", *args, timeout=10):
        """A call on io.bandgate.Sim1, the simulator's scripting interface."""
        body = GLib.Variant(f"({signature})", args) if signature else None
        return self.client.call(SIM, SIM_PATH, SIM_IFACE, method, body, timeout)

    def fault(self, address, name, value):
        """SetFault with a ready-made variant value, e.g. GLib.Variant("u", 500)."""
        return self.control("SetFault", "ssv", address, name, value)

    def band_state(self, address):
        return self.control("GetBand", "s", address)[0]

    def stop(self):
        """Clients leave, bandgate-sim gets SIGTERM; returns its exit code (nonzero: ASan found something)."""
        for c in self.clients:
            c.close()
        code = self._stop_process(self.sim)
        if self.sim is not None:
            self.reader.join(10)
        self._stop_process(self.daemon)
        return code

    @staticmethod
    def _stop_process(proc, timeout=60):
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = "killed after SIGTERM was ignored"
        proc.stdout.close()
        return code

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class Band:
    """One Mi Band 2 as a bluetoothd client sees it: its device object, its characteristics by UUID, and the
    protocol steps of miband2-protocol.md on top."""

    def __init__(self, world, address, client=None, adapter="hci0"):
        self.world, self.client = world, client or world.client
        self.address = address
        self.adapter = f"/org/bluez/{adapter}"
        self.path = device_path(address, adapter)
        self._chrs = {}

    @property
    def rec(self):
        return self.client.recorder

    def discover(self, timeout=10):
        """Scan until the device object exists, then stop: how a client first meets a band (bluez §Objects)."""
        mark = self.rec.mark()
        self.client.bluez(self.adapter, ADAPTER, "StartDiscovery")
        if self.path not in self.client.objects():
            self.rec.wait(lambda e: e.member == "InterfacesAdded" and e.args[0] == self.path, mark, timeout,
                          f"{self.path} to be discovered")
        self.client.bluez(self.adapter, ADAPTER, "StopDiscovery")

    def connect(self, timeout=10):
        """Connect and wait for ServicesResolved=true, never for the reply alone (bluez §Connect).
        Returns (mark, reply event, ServicesResolved event)."""
        mark = self.rec.mark()
        pending = self.client.send(BLUEZ, self.path, DEVICE, "Connect")
        pending.result(timeout)
        resolved = self.client.wait_props(self.path, DEVICE, {"ServicesResolved": True}, mark, timeout)
        return mark, pending.reply, resolved

    def disconnect(self, timeout=10):
        """Disconnect and wait for the Connected=false that follows the reply (bluez §Disconnect)."""
        mark = self.rec.mark()
        self.client.bluez(self.path, DEVICE, "Disconnect", timeout=timeout)
        self.client.wait_props(self.path, DEVICE, {"Connected": False}, mark, timeout)
        return mark

    def chr(self, uuid):
        """The object path of the characteristic with this UUID under the device (§16 step 3: by UUID)."""
        if uuid not in self._chrs:
            for path, ifaces in self.client.objects().items():
                if path.startswith(self.path + "/") and ifaces.get(GATT_CHR, {}).get("UUID") == uuid:
                    self._chrs[uuid] = path
        return self._chrs[uuid]

    def read(self, uuid, options=None):
        return bytes(self.client.bluez(self.chr(uuid), GATT_CHR, "ReadValue", variant("(a{sv})", options or {}))[0])

    def write(self, uuid, data, kind="request"):
        opts = {"type": GLib.Variant("s", kind)} if kind else {}
        self.client.bluez(self.chr(uuid), GATT_CHR, "WriteValue", variant("(aya{sv})", bytes(data), opts))

    def start_notify(self, uuid):
        self.client.bluez(self.chr(uuid), GATT_CHR, "StartNotify")

    def stop_notify(self, uuid):
        self.client.bluez(self.chr(uuid), GATT_CHR, "StopNotify")

    def _is_value(self, uuid):
        path = self.chr(uuid)

        def match(e):
            ch = e.changed(GATT_CHR)
            return ch is not None and e.path == path and "Value" in ch and self.client.from_bluez(e)
        return match

    def value_events(self, uuid, since=0):
        """Every Value signal of the characteristic since the mark."""
        return self.rec.all(self._is_value(uuid), since)

    def values(self, uuid, since=0):
        """Every Value the characteristic signalled since the mark, as bytes."""
        return [bytes(e.changed()["Value"]) for e in self.value_events(uuid, since)]

    def next_value(self, uuid, since, timeout=10):
        """The first Value signal at or after since: (event, bytes)."""
        e = self.rec.wait(self._is_value(uuid), since, timeout, f"a notification on {uuid}")
        return e, bytes(e.changed()["Value"])

    def notify_exchange(self, uuid, data, kind="request", timeout=10):
        """Write, then the notification that answers it."""
        mark = self.rec.mark()
        self.write(uuid, data, kind)
        return self.next_value(uuid, mark, timeout)[1]

    def authenticate(self, key=LEGACY_KEY, flags=0x08):
        """§4.4 reconnection flow: 02 → 10 02 01 R, 03 AES(key, R) → status. Returns the final reply."""
        challenge = self.notify_exchange(AUTH, bytes([0x02, flags]), "command")
        assert challenge[:3] == b"\x10\x02\x01" and len(challenge) == 19, challenge.hex()
        return self.notify_exchange(AUTH, bytes([0x03, flags]) + aes_ecb(key, challenge[3:]), "command")

    def login(self, key=LEGACY_KEY):
        """Connect and authenticate (§16 suggested session: connect → StartNotify(0009) → auth)."""
        self.connect()
        self.start_notify(AUTH)
        reply = self.authenticate(key)
        assert reply == b"\x10\x03\x01", reply.hex()


def is_added(path):
    return lambda e: e.kind == "signal" and e.member == "InterfacesAdded" and e.args[0] == path


def is_removed(path):
    return lambda e: e.kind == "signal" and e.member == "InterfacesRemoved" and e.args[0] == path


def under(path):
    """InterfacesAdded/Removed of any object strictly below path."""
    return lambda e: (e.kind == "signal" and e.member in ("InterfacesAdded", "InterfacesRemoved")
                      and e.args[0].startswith(path + "/"))


class SimTestCase(unittest.TestCase):
    """A test that starts its own world; on teardown bandgate-sim must exit 0 (ASan reports leaks as nonzero)."""

    def start(self, *sim_args):
        world = World(*sim_args)
        self.addCleanup(self._stop, world)
        return world

    def _stop(self, world):
        code = world.stop()
        log = world.sim_stderr()
        world.cleanup()
        self.assertEqual(code, 0, f"bandgate-sim exited with {code} on SIGTERM; its stderr:\n{log[-6000:]}")

    def start_band(self, *sim_args, connect=False, login=False):
        """A world with one band, discovered (and connected, or logged in): the start of most tests."""
        world = self.start(*sim_args)
        band = Band(world, world.bands[0])
        band.discover()
        if login:
            band.login()
        elif connect:
            band.connect()
        return world, band

    def assert_order(self, *events):
        """Each (label, event) arrived after the one before it: the "A, B, C" of bluez-5.66.md."""
        for (la, a), (lb, b) in zip(events, events[1:]):
            self.assertIsNotNone(a, f"{la} never came")
            self.assertIsNotNone(b, f"{lb} never came")
            self.assertLess(a.index, b.index, f"{la} must come before {lb}")

    def assert_error(self, pending_or_call, name, message=None, timeout=10):
        """The call fails with this D-Bus error name (and message, where the doc quotes one)."""
        with self.assertRaises(DBusError) as cm:
            if isinstance(pending_or_call, Pending):
                pending_or_call.result(timeout)
            else:
                pending_or_call()
        self.assertEqual(cm.exception.name, name, str(cm.exception))
        if message is not None:
            self.assertEqual(cm.exception.message, message)
        return cm.exception
