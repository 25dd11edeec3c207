#!/usr/bin/python3
"""The VM test's scenario, run inside the guest by guest.sh against the real bluetoothd: the unchanged bandgate
is the central on hci0, bandgate-periph serves the simulated Mi Band 2 on hci1.

Each step is one method, run in the order of STEPS; each prints "PASS name (seconds)" or "FAIL name: why" and
the first failure ends the run (the later steps build on the earlier ones). Assertions go through what a user
or another program sees: the CLI, the API socket, the SQLite file, and the band's own record (its control
interface io.bandgate.Sim1, which bandgate-periph serves on the system bus), and the MQTT broker (a mosquitto
on loopback that the gateway publishes to for the whole run, read with mosquitto_sub).

A later front (MQTT, the dashboard's API) joins with one more method and its name in STEPS, and whatever
process it needs started in start_gateway()."""
import argparse
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Process, api_request, db_snapshot  # noqa: E402  (tests/integration/harness.py, copied beside)

import json  # noqa: E402

from gi.repository import Gio, GLib  # noqa: E402

BAND = "00:AA:01:01:00:01"     # btvirt's hci1 (vm-notes.md pitfall 2): the band is known by its controller
GATEWAY = "00:AA:01:00:00:00"  # hci0, bandgate's adapter
BAND_ADAPTER, GATEWAY_ADAPTER = "hci1", "hci0"
AUTH = "00000009-0000-3512-2118-0009af100700"
FETCH = "00000004-0000-3512-2118-0009af100700"
NEW_ALERT = "00002a46-0000-1000-8000-00805f9b34fb"
ALERT_LEVEL = "00002a06-0000-1000-8000-00805f9b34fb"
FETCH_CAP = 100                # samples per history round: the scripted 5 hours take several rounds
SCRIPTED_MINUTES = 300
ALERT_TEXT = "Hello from the VM"  # 17 bytes: one screen (miband2-protocol.md §12.2)
LEGACY_KEY = b"0123456789@ABCDE"
NUDGE_S = 3                    # see Scenario.nudge_advertising
GATEWAY_ID = "vm"              # [gateway] id: the gateway's MQTT topics are bandgate/vm/...
VIBRATE = b"\xff\x2c\x01\x58\x02\x03"  # 2A06 custom pattern: 300 ms on, 600 ms off, three times
WALKED = 100                   # steps walked in the MQTT step (the model takes at most 255 in one minute)


class Failed(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failed(message)


class Scenario:
    STEPS = ["first_pairing_with_the_tap", "reconnect_with_the_stored_key", "multi_round_history_sync",
             "alert_and_vibration_byte_exact", "button_press_is_an_event", "mqtt_state_event_and_command",
             "link_drop_recovers",
             "repair_with_a_new_key", "rows_at_the_end"]

    def __init__(self, out, bindir):
        self.out = out
        self.bandgate = os.path.join(bindir, "bandgate")
        self.dir = "/var/lib/bandgate"
        os.makedirs(self.dir, exist_ok=True)
        self.database = os.path.join(self.dir, "bandgate.db")
        self.socket = "/run/bandgate-api.sock"
        self.id = BAND.replace(":", "").lower()
        self.gateway = None
        self.nudged = 0.0
        self.absent_since = None
        self.runs = 0
        self.keys = []
        self.fetch_starts = []  # history round starts the band received before the restart step cleared them
        self.bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
        self.broker = None
        self.start_broker()
        self.periph = Process([os.path.join(bindir, "bandgate-periph"), "--adapter", BAND_ADAPTER, "--days", "0",
                               "--fetch-cap", str(FETCH_CAP), "--verbose"])
        line = self.periph.wait_line(lambda l: l == "ready" or "cannot" in l, 30)
        check(line == "ready", "bandgate-periph did not start:\n" + self.periph.output())
        band = [l.split()[1] for l in self.periph.lines if l.startswith("band ")]
        check(band == [BAND], f"bandgate-periph serves {band}, not {BAND}")

    # -- the band's side --
    def control(self, method, signature=None, *args, reply=None):
        params = GLib.Variant(signature, args) if signature else None
        result = self.bus.call_sync("io.bandgate.Sim", "/io/bandgate/Sim", "io.bandgate.Sim1", method, params,
                                    GLib.VariantType(reply) if reply else None, Gio.DBusCallFlags.NONE, 10000, None)
        return result.unpack() if result else None

    def band(self):
        return self.control("GetBand", "(s)", BAND, reply="(a{sv})")[0]

    def writes(self, uuids=None):
        got = self.control("GetReceived", "(s)", BAND, reply="(a(xsay))")[0]
        return [(uuid, bytes(v)) for _, uuid, v in got if uuids is None or uuid in uuids]

    def wait_writes(self, uuids, count, timeout=20):
        """The band's writes to uuids, once it has count of them. A Write Command (2A06) has no answer over the
        air: bluetoothd answers WriteValue when it queues it, so a notification is 'sent' before the band has it."""
        deadline = time.monotonic() + timeout
        while len(self.writes(uuids)) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.writes(uuids)

    def wait_band(self, predicate, what, timeout=30):
        deadline = time.monotonic() + timeout
        while not predicate(self.band()):
            check(time.monotonic() < deadline, f"the band never got {what}: {self.band()}")
            if self.gateway:
                self.nudge_advertising(self.state().get("state"))
            time.sleep(0.1)

    def wait_link_down(self, timeout=20):
        """Until bluetoothd itself says the link is gone, on both sides (the model forgets it at once)."""
        deadline = time.monotonic() + timeout
        while any(self.bluez_connected(a) for a in ((BAND_ADAPTER, GATEWAY), (GATEWAY_ADAPTER, BAND))):
            check(time.monotonic() < deadline, "bluetoothd still has the link")
            time.sleep(0.1)

    def bluez_connected(self, where):
        adapter, address = where
        path = f"/org/bluez/{adapter}/dev_" + address.replace(":", "_")
        try:
            v = self.bus.call_sync("org.bluez", path, "org.freedesktop.DBus.Properties", "Get",
                                   GLib.Variant("(ss)", ("org.bluez.Device1", "Connected")),
                                   GLib.VariantType("(v)"), Gio.DBusCallFlags.NONE, 5000, None)
            return v.unpack()[0]
        except GLib.Error:
            return False

    # -- the broker --
    def start_broker(self):
        """A mosquitto on a free loopback port, up before the gateway and kept for the whole run. user root: as
        root, mosquitto would drop to the user "mosquitto", who cannot read private folders."""
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.broker_port = s.getsockname()[1]
        conf = "/run/bandgate-mosquitto.conf"
        with open(conf, "w") as f:
            f.write(f"user root\nlistener {self.broker_port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.broker = Process(["mosquitto", "-c", conf, "-v"])
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.broker_port), 0.2).close()
                return
            except OSError:
                check(time.monotonic() < deadline and self.broker.proc.poll() is None,
                      "mosquitto did not start:\n" + self.broker.output())
                time.sleep(0.05)

    def subscribe(self, *topics):
        """mosquitto_sub on the topics; each line of its output is "<retained 0|1> <topic> <payload>"."""
        argv = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.broker_port), "-q", "1", "-F", "%r %t %p"]
        for t in topics:
            argv += ["-t", t]
        return Process(argv)

    @staticmethod
    def messages(sub, topic):
        """(retained, payload) of what sub received on topic, in order."""
        got = []
        for line in list(sub.lines):
            retained, t, payload = (line.split(" ", 2) + [""])[:3]
            if t == topic:
                got.append((retained == "1", payload))
        return got

    def wait_message(self, sub, topic, predicate, what, timeout=30, start=0):
        """The first (retained, payload) on topic from index start on that matches."""
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages(sub, topic)[start:]:
                if predicate(*m):
                    return m
            check(time.monotonic() < deadline and sub.proc.poll() is None,
                  f"never saw {what} on {topic}; got {self.messages(sub, topic)[-5:]}\n{sub.output()[-1500:]}")
            time.sleep(0.1)

    def mqtt_publish(self, topic, payload):
        r = subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.broker_port), "-q", "1", "-t", topic,
                            "-m", payload], capture_output=True, text=True, timeout=20)
        check(r.returncode == 0, f"mosquitto_pub {topic}: {r.returncode} {r.stdout}{r.stderr}")

    # -- the gateway's side --
    def start_gateway(self):
        conf = os.path.join(self.dir, "bandgate.conf")
        with open(conf, "w") as f:
            f.write(f"[gateway]\nid = {GATEWAY_ID}\nadapter = hci0\ndatabase = {self.database}\n"
                    f"[mqtt]\nhost = 127.0.0.1\nport = {self.broker_port}\n[web]\nsocket = {self.socket}\nlisten =\n")
        self.runs += 1
        self.gateway = Process([self.bandgate, "run", "--config", conf],
                               env=dict(os.environ, G_MESSAGES_DEBUG="all"))
        self.gateway_log = os.path.join(self.out, f"bandgate-{self.runs}.log")
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.api("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            check(time.monotonic() < deadline and self.gateway.proc.poll() is None,
                  "bandgate did not start:\n" + self.gateway.output())
            time.sleep(0.05)

    def stop_gateway(self):
        code = self.gateway.stop(signal.SIGTERM)
        with open(self.gateway_log, "w") as f:
            f.write(self.gateway.output() + "\n")
        self.gateway = None
        return code

    def api(self, method, path, body=None):
        return api_request(self.socket, method, path, body)

    def state(self):
        status, band = self.api("GET", "/api/v1/bands/" + self.id)
        return band if status == 200 else {}

    def wait_state(self, states, timeout=90):
        states = (states,) if isinstance(states, str) else states
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            s = self.state().get("state")
            if not seen or seen[-1] != s:
                seen.append(s)
            if s in states:
                return
            check(time.monotonic() < deadline, f"never reached {states}; went through {seen}")
            self.nudge_advertising(s)
            time.sleep(0.1)

    def nudge_advertising(self, gateway_state):
        """btvirt's controllers report an advertisement only when scanning or advertising is switched on, and
        the kernel rescans about every 10 s (vm-notes.md pitfall 4); a real band is seen at its next advert.
        While the gateway looks for the band, the band stops and restarts advertising (it goes out of range for a
        moment), which makes the report a real band's next advert would make. Only while the gateway is looking
        (absent for NUDGE_S seconds) and nothing is connected, at most every NUDGE_S seconds."""
        now = time.monotonic()
        if gateway_state != "absent":
            self.absent_since = None
            return
        self.absent_since = self.absent_since or now
        if now - self.absent_since < NUDGE_S or now - self.nudged < NUDGE_S:
            return
        if self.band()["connected"] or self.bluez_connected((GATEWAY_ADAPTER, BAND)):
            return
        self.nudged = now
        self.control("SetInRange", "(sb)", BAND, False)
        time.sleep(0.3)
        self.control("SetInRange", "(sb)", BAND, True)

    def cli(self, *args, timeout=60):
        r = subprocess.run([self.bandgate, *args, "--socket", self.socket], capture_output=True, text=True,
                           timeout=timeout)
        check(r.returncode == 0, f"bandgate {' '.join(args)} exited {r.returncode}: {r.stdout}{r.stderr}")
        return r.stdout

    def rows(self, sql, *params):
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as db:
            return db.execute(sql, params).fetchall()

    def wait_rows(self, sql, what, timeout=30):
        deadline = time.monotonic() + timeout
        while not self.rows(sql):
            check(time.monotonic() < deadline, f"no {what} in the database")
            time.sleep(0.2)

    def stored_key(self):
        rows = self.rows("SELECT key FROM bands WHERE address = ?", BAND)
        return bytes(rows[0][0]) if rows and rows[0][0] is not None else None

    def pair_with_tap(self, verb):
        """`bandgate pair|repair`, and the wearer's tap once the new key is on the band."""
        self.control("ClearReceived", "(s)", BAND)
        cmd = subprocess.Popen([self.bandgate, verb, BAND, "--socket", self.socket], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        try:
            self.wait_band(lambda b: b["awaiting-tap"], "a new key to confirm", timeout=120)
            self.control("Tap", "(s)", BAND)
            if verb == "pair":
                out, _ = cmd.communicate(timeout=60)
                check(cmd.returncode == 0 and "ready" in out, f"bandgate pair: {cmd.returncode} {out}")
            else:
                cmd.wait(30)
                self.wait_state("ready", 60)
        finally:
            if cmd.poll() is None:
                cmd.kill()
                cmd.wait()
        key = bytes(self.band()["key"])
        check(self.stored_key() == key, "the stored key is not the one the band holds")
        check(key != LEGACY_KEY and key not in self.keys, "not a fresh key")
        sent = [v for uuid, v in self.writes([AUTH]) if v[:1] == b"\x01"]
        check(len(sent) == 1 and sent[0][2:] == key, f"one new key sent, the one stored: {sent}")
        self.keys.append(key)

    # -- the steps --
    def first_pairing_with_the_tap(self):
        now = int(time.time()) // 60 * 60
        self.scripted_start = now - (SCRIPTED_MINUTES + 2) * 60
        self.scripted = [(i % 7 + 1, (i * 13) % 100, (i * 7) % 120, 60 + i % 40 if i % 5 else 255)
                         for i in range(SCRIPTED_MINUTES)]
        self.control("AddHistory", "(sxa(yyyy))", BAND, self.scripted_start, self.scripted)
        self.start_gateway()
        self.pair_with_tap("pair")

    def reconnect_with_the_stored_key(self):
        check(self.stop_gateway() == 0, "bandgate did not stop cleanly")
        # A clean stop lets the band go; should the link outlive it anyway, the band ends it, as when the wearer
        # walks away, so that the restart is a real reconnection.
        if self.band()["connected"]:
            self.control("DropLink", "(s)", BAND)
        self.wait_link_down()
        # The first sync may have been cut by the stop: its rounds count with the ones after the restart.
        self.fetch_starts = [v for _, v in self.writes([FETCH]) if v[:1] == b"\x01"]
        self.control("ClearReceived", "(s)", BAND)
        self.start_gateway()
        self.wait_state("ready", 90)
        auth = self.writes([AUTH])
        check(auth and all(v[0] in (2, 3) for _, v in auth), f"auth without a new key expected: {auth}")
        check(self.band()["authenticated"], "the band says it is not authenticated")

    def multi_round_history_sync(self):
        deadline = time.monotonic() + 120
        while True:
            cursor, last = (self.rows("SELECT sync_cursor, last_sync FROM bands WHERE address = ?", BAND) or
                            [(0, 0)])[0]
            if last and cursor >= time.time() - 120:
                break
            check(time.monotonic() < deadline, f"never synced (cursor {cursor}, last {last})")
            time.sleep(0.2)
        # The rows and the cursor of one state of the store: a sync may commit more while this reads.
        stored, cursor_row = db_snapshot(self.database, ("SELECT minute, kind, intensity, steps, heart_rate FROM "
                                                         "activity WHERE address = ? ORDER BY minute", BAND),
                                         ("SELECT sync_cursor FROM bands WHERE address = ?", BAND))
        cursor = cursor_row[0][0]
        # The stored minutes end before the cursor; GetHistory's end is inclusive.
        start, samples = self.control("GetHistory", "(sxx)", BAND, 0, cursor - 1, reply="(xa(yyyy))")
        expected = [(start + 60 * i, k, n, s, None if hr == 255 else hr) for i, (k, n, s, hr) in enumerate(samples)]
        check(stored == expected, f"stored {len(stored)} samples, the band recorded {len(expected)}; first "
                                  f"difference at {next((i for i, (a, b) in enumerate(zip(stored, expected)) if a != b), None)}")
        scripted = [(self.scripted_start + 60 * i, k, n, s, None if hr == 255 else hr)
                    for i, (k, n, s, hr) in enumerate(self.scripted)]
        check(all(r in stored for r in scripted), "a scripted sample is missing")
        rounds = self.fetch_starts + [v for _, v in self.writes([FETCH]) if v[:1] == b"\x01"]
        check(len(rounds) >= SCRIPTED_MINUTES // FETCH_CAP, f"{len(rounds)} history rounds for "
                                                            f"{len(stored)} samples at {FETCH_CAP} a round")

    def alert_and_vibration_byte_exact(self):
        self.control("ClearReceived", "(s)", BAND)
        self.cli("notify", BAND, ALERT_TEXT, "--category", "sms")
        status, body = self.api("POST", f"/api/v1/bands/{self.id}/actions/notify", {"kind": "vibrate"})
        check(status == 202, f"vibrate: {status} {body}")
        deadline = time.monotonic() + 60
        while self.rows("SELECT 1 FROM notifications WHERE status <> 'sent'") or \
                len(self.rows("SELECT 1 FROM notifications")) < 2:
            check(time.monotonic() < deadline, f"alerts not sent: {self.rows('SELECT * FROM notifications')}")
            time.sleep(0.2)
        # §12.2: SMS category 05, count 01, the text; §12.1: 2A06 01 (message) with it; the vibration is the custom
        # pattern ff <on LE16> <off LE16> <count>: 300 ms on, 600 ms off, three times.
        want = [(NEW_ALERT, b"\x05\x01" + ALERT_TEXT.encode()), (ALERT_LEVEL, b"\x01"),
                (ALERT_LEVEL, b"\xff\x2c\x01\x58\x02\x03")]
        got = self.wait_writes([NEW_ALERT, ALERT_LEVEL], len(want))
        check(got == want, f"the band received {got}")
        alerts = self.control("GetAlerts", "(s)", BAND, reply="(a(xyysb))")[0]
        check([(c, t) for _, c, _, t, _ in alerts] == [(5, ALERT_TEXT), (255, "")], f"the screen showed {alerts}")

    def button_press_is_an_event(self):
        before = len(self.rows("SELECT 1 FROM events WHERE type = 'button'"))
        self.control("PressButton", "(s)", BAND)
        deadline = time.monotonic() + 20
        while len(self.rows("SELECT 1 FROM events WHERE type = 'button'")) <= before:
            check(time.monotonic() < deadline, "no button event row")
            time.sleep(0.2)

    def mqtt_state_event_and_command(self):
        """Through the broker: the gateway's status, the band's state, its button as an event, a command with
        its result and its bytes at the band, and Home Assistant's discovery, all as Home Assistant sees them."""
        base, gw = f"bandgate/{self.id}", f"bandgate/{GATEWAY_ID}"
        discovery = f"homeassistant/device/bandgate_{self.id}/config"
        sub = self.subscribe(f"{gw}/status", f"{base}/#", discovery)
        try:
            # Retained: a fresh subscriber gets them at once, with the retained flag.
            self.wait_message(sub, f"{gw}/status", lambda r, p: r and p == "online", "a retained online")
            retained, payload = self.wait_message(sub, discovery, lambda r, p: r, "a retained discovery config")
            config = json.loads(payload)
            check(config.get("dev", {}).get("ids") == [f"bandgate_{self.id}"] and config.get("cmps") and
                  config["dev"].get("via_device") == f"bandgate_{GATEWAY_ID}", f"discovery config {payload[:300]}")
            check(self.messages(sub, f"{base}/state") and self.messages(sub, f"{base}/state")[0][0],
                  f"no retained state first: {self.messages(sub, f'{base}/state')[:1]}")
            # Live steps: the wearer walks, the band notifies, the state follows (the model is read afresh).
            before = self.band()["steps"]
            self.control("Walk", "(su)", BAND, WALKED)
            check(self.band()["steps"] > before, f"the band still counts {before} steps after a walk")
            _, payload = self.wait_message(
                sub, f"{base}/state", lambda r, p: (lambda s: s["connected"] and s["state"] == "ready" and
                                                    s["steps"] == self.band()["steps"] > before)(json.loads(p)),
                f"a connected state with the band's steps (it had {before}, now {self.band()['steps']})")
            # The band's button: an event, not retained.
            events = len(self.messages(sub, f"{base}/event"))
            self.control("PressButton", "(s)", BAND)
            _, payload = self.wait_message(sub, f"{base}/event", lambda r, p: True, "the button's event", start=events)
            event = json.loads(payload)
            check(event.get("event_type") == "press" and event.get("time"), f"event {payload}")
            # A command as Home Assistant's button sends it, its result, and the vibration at the band.
            self.control("ClearReceived", "(s)", BAND)
            self.mqtt_publish(f"{base}/cmd/vibrate", "PRESS")
            _, payload = self.wait_message(sub, f"{base}/cmd/vibrate/result", lambda r, p: True, "the command's result")
            result = json.loads(payload)
            check(result.get("ok") is True and result.get("error") is None and
                  isinstance(result.get("notification"), int), f"vibrate result {payload}")
            # Sent once bluetoothd has queued the pattern's Write Command; the status goes out on .../notification.
            note = result["notification"]
            self.wait_message(sub, f"{base}/notification",
                              lambda r, p: (lambda n: n["id"] == note and n["status"] == "sent")(json.loads(p)),
                              f"notification {note} sent")
            check(self.rows("SELECT source, kind, status FROM notifications WHERE id = ?", note) ==
                  [("mqtt", "vibrate", "sent")], f"notification {note}: {self.rows('SELECT * FROM notifications')}")
            got = self.wait_writes([NEW_ALERT, ALERT_LEVEL], 1)
            check(got == [(ALERT_LEVEL, VIBRATE)], f"the band received {got}")
        finally:
            sub.stop()
            with open(os.path.join(self.out, "mosquitto_sub.log"), "w") as f:
                f.write(sub.output() + "\n")

    def link_drop_recovers(self):
        connected = len(self.rows("SELECT 1 FROM events WHERE type = 'connected'"))
        self.control("SetAdapterPowered", "(sb)", BAND_ADAPTER, False)
        self.wait_band(lambda b: not b["connected"], "the link down", timeout=20)
        self.wait_link_down()
        self.wait_state(("disconnected", "connecting", "absent"), 30)
        self.control("SetAdapterPowered", "(sb)", BAND_ADAPTER, True)
        self.wait_state("ready", 120)
        check(len(self.rows("SELECT 1 FROM events WHERE type = 'connected'")) > connected, "no new connection event")

    def repair_with_a_new_key(self):
        self.pair_with_tap("repair")

    def rows_at_the_end(self):
        check(self.stop_gateway() == 0, "bandgate did not stop cleanly")
        check(self.rows("SELECT address FROM bands") == [(BAND,)], "one band row")
        check(self.stored_key() == self.keys[-1], "the re-paired key is the stored one")
        check(len(self.rows("SELECT 1 FROM activity")) >= SCRIPTED_MINUTES, "history rows")
        sent = self.rows("SELECT source, kind, category, text, status, attempts FROM notifications ORDER BY id")
        check(len(sent) == 3 and sent[0][0] != "mqtt" and sent[1][0] != "mqtt" and
              [r[1:] for r in sent] == [("text", 5, ALERT_TEXT, "sent", 1), ("vibrate", sent[1][2], None, "sent", 1),
                                        ("vibrate", sent[2][2], None, "sent", 1)] and sent[2][0] == "mqtt",
              f"notification rows {sent}")
        types = {t for (t,) in self.rows("SELECT DISTINCT type FROM events")}
        check({"connected", "button"} <= types, f"event types {types}")

    # -- running --
    def run(self):
        failed = None
        for name in self.STEPS:
            t0 = time.monotonic()
            try:
                getattr(self, name)()
                print(f"PASS {name} ({time.monotonic() - t0:.1f} s)", flush=True)
            except Exception as e:  # noqa: BLE001 -- a step's crash is its failure
                detail = str(e) if isinstance(e, Failed) else traceback.format_exc()
                print(f"FAIL {name} ({time.monotonic() - t0:.1f} s): {detail}", flush=True)
                failed = name
                break
        return failed

    def close(self):
        if self.gateway:
            self.stop_gateway()
        code = self.periph.stop()
        with open(os.path.join(self.out, "periph.log"), "w") as f:
            f.write(self.periph.output() + "\n")
        if self.broker:
            self.broker.stop()
            with open(os.path.join(self.out, "mosquitto.log"), "w") as f:
                f.write(self.broker.output() + "\n")
            self.broker = None
        return code


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--bin", required=True)
    a = p.parse_args()
    result = 1
    try:
        s = Scenario(a.out, a.bin)
        try:
            failed = s.run()
        finally:
            periph = s.close()
        if periph != 0:
            print(f"FAIL bandgate-periph exited {periph}", flush=True)
        passed = len(s.STEPS) if not failed else s.STEPS.index(failed)
        print(f"vm: {passed} passed, {0 if not failed else 1} failed", flush=True)
        result = 0 if not failed and periph == 0 else 1
    except Exception:  # noqa: BLE001
        traceback.print_exc()
    with open(os.path.join(a.out, "result"), "w") as f:
        f.write(f"{result}\n")
    return result


if __name__ == "__main__":
    sys.exit(main())
