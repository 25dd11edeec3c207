#!/usr/bin/python3
"""The package VM test's scenario (issue 17), run by system-guest.sh inside a guest whose PID 1 is systemd: the
Debian package as an administrator meets it. dpkg installs the previous version and apt upgrades it to this one,
systemd runs the unit from the package unchanged, bandgate pairs the simulated band (bandgate-periph on hci1, a
unit of the guest) through the real bluetoothd, and everything is asserted through what an administrator sees: systemctl and the journal, the CLI
(`bandgate status`) as a member of the bandgate group, the database the package keeps, and the band's own record
(its control interface io.bandgate.Sim1).

Two phases, one per boot of the same disk. "install": the previous version (0.0.9, the same files repacked by
run-system-vm.sh), the config edited, the first start with the wearer's tap, the history stored, the upgrade,
a restart of bluetooth, the CLI for the group, a clean stop, a start with the stored key; then system-guest.sh
reboots the guest. "after-reboot": the service is back by itself, with its key and its history.

Each step prints "PASS name (seconds)" or "FAIL name: why"; the first failure ends the phase. Timings are
printed as "timing: what: N.N s". What the second phase checks is carried across the reboot in
STATE/state.json, on the guest's disk."""
import argparse
import glob
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import traceback

from gi.repository import Gio, GLib

BAND = "00:AA:01:01:00:01"     # btvirt's hci1 (vm-notes.md pitfall 2): the band is known by its controller
GATEWAY_ADAPTER = "hci0"
AUTH = "00000009-0000-3512-2118-0009af100700"
LEGACY_KEY = b"0123456789@ABCDE"
CONF = "/etc/bandgate/bandgate.conf"
DATABASE = "/var/lib/bandgate/bandgate.db"
UNIT = "bandgate.service"
OLD_VERSION = "0.0.9"
SCRIPTED_MINUTES = 300         # history the band holds before the first start: several rounds at 100 a round
NUDGE_S = 3                    # see Scenario.nudge_advertising
TESTER, OUTSIDER = "tester", "outsider"


class Failed(Exception):
    pass


def check(cond, message):
    if not cond:
        raise Failed(message)


def run(*argv, timeout=120, ok=True, user=None, cwd=None, env=None):
    """A command's CompletedProcess; with ok, a non-zero exit fails the step with the command's output."""
    if user:
        argv = ("runuser", "-u", user, "--") + argv
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=cwd, stdin=subprocess.DEVNULL,
                           env=env)
    except subprocess.TimeoutExpired:
        raise Failed(f"{' '.join(argv)} did not finish within {timeout} s") from None
    if ok:
        check(r.returncode == 0, f"{' '.join(argv)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r


def uptime():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def set_key(text, section, key, value):
    """The INI text with key = value in [section]: an uncommented key replaced, else added under the header."""
    lines, current, done = text.splitlines(), None, False
    for i, line in enumerate(lines):
        s = line.strip()
        if s.startswith("["):
            current = s.strip("[]")
        elif current == section and s.split("=")[0].strip() == key and not s.startswith("#"):
            lines[i], done = f"{key} = {value}", True
    if not done:
        header = lines.index(f"[{section}]")
        lines.insert(header + 1, f"{key} = {value}")
    return "\n".join(lines) + "\n"


class Scenario:
    PHASES = {
        "install": ["system_is_up", "install_previous_version", "first_start_pairs_with_the_tap",
                    "history_is_stored", "upgrade_keeps_history", "survives_bluetooth_restart",
                    "status_for_the_bandgate_group", "clean_stop", "start_with_the_stored_key", "nothing_crashed"],
        "after-reboot": ["system_is_up", "back_after_the_reboot", "status_for_the_bandgate_group",
                         "nothing_crashed"],
    }

    def __init__(self, phase, out, debs, state_dir):
        self.phase = phase
        self.out = out
        self.debs = debs
        self.state_path = os.path.join(state_dir, "state.json")
        self.band_env = os.path.join(state_dir, "band.env")
        self.state = {}
        if os.path.exists(self.state_path):
            with open(self.state_path) as f:
                self.state = json.load(f)
        self.bus = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
        self.nudged = 0.0
        self.absent_since = None

    # -- the band's side (io.bandgate.Sim1 of bandgate-periph) --
    def control(self, method, signature=None, *args, reply=None):
        params = GLib.Variant(signature, args) if signature else None
        result = self.bus.call_sync("io.bandgate.Sim", "/io/bandgate/Sim", "io.bandgate.Sim1", method, params,
                                    GLib.VariantType(reply) if reply else None, Gio.DBusCallFlags.NONE, 10000, None)
        return result.unpack() if result else None

    def band(self):
        """The band's record, or None while bandgate-periph is not on the bus (a restart of bluetooth)."""
        try:
            return self.control("GetBand", "(s)", BAND, reply="(a{sv})")[0]
        except GLib.Error:
            return None

    def new_keys_sent(self):
        """The new keys (§4: 01 00 KEY on 0009) the band received since it started or was last cleared."""
        got = self.control("GetReceived", "(s)", BAND, reply="(a(xsay))")[0]
        return [bytes(v)[2:] for _, uuid, v in got if uuid == AUTH and bytes(v)[:1] == b"\x01"]

    def bluez_connected(self):
        path = f"/org/bluez/{GATEWAY_ADAPTER}/dev_" + BAND.replace(":", "_")
        try:
            v = self.bus.call_sync("org.bluez", path, "org.freedesktop.DBus.Properties", "Get",
                                   GLib.Variant("(ss)", ("org.bluez.Device1", "Connected")),
                                   GLib.VariantType("(v)"), Gio.DBusCallFlags.NONE, 5000, None)
            return v.unpack()[0]
        except GLib.Error:
            return False

    def nudge_advertising(self, gateway_state):
        """btvirt's controllers report an advertisement only when scanning or advertising is switched on, and
        the kernel rescans about every 10 s (vm-notes.md pitfall 4); a real band is seen at its next advert.
        While the gateway looks for the band (absent for NUDGE_S seconds) and nothing is connected, the band
        stops and restarts advertising, at most every NUDGE_S seconds (as scenario.py does)."""
        now = time.monotonic()
        if gateway_state != "absent":
            self.absent_since = None
            return
        self.absent_since = self.absent_since or now
        if now - self.absent_since < NUDGE_S or now - self.nudged < NUDGE_S:
            return
        band = self.band()
        if band is None or band["connected"] or self.bluez_connected():
            return
        self.nudged = now
        try:
            self.control("SetInRange", "(sb)", BAND, False)
            time.sleep(0.3)
            self.control("SetInRange", "(sb)", BAND, True)
        except GLib.Error:
            pass

    # -- the gateway's side, as an administrator sees it --
    def status(self, user=None):
        """The band in `bandgate status --json` (the CLI reads the socket's path from the package's config), or
        {} while the daemon does not answer."""
        r = run("bandgate", "status", "--json", ok=False, user=user, timeout=30)
        if r.returncode != 0:
            return {}
        return next((b for b in json.loads(r.stdout) if b.get("address") == BAND), {})

    def wait_ready(self, timeout, tap=False):
        """Polls `bandgate status --json` until the band is ready; taps the band when it asks for it (first
        pairing only: a tap asked for otherwise fails). Returns the seconds it took and the states seen."""
        t0 = time.monotonic()
        seen = []
        while True:
            s = self.status().get("state")
            if not seen or seen[-1] != s:
                seen.append(s)
            if s == "ready":
                return time.monotonic() - t0, seen
            band = self.band()
            if band is not None and band["awaiting-tap"]:
                check(tap, f"the band asks for a tap, which a stored key never needs; states {seen}")
                self.control("Tap", "(s)", BAND)
                self.tapped_at = time.monotonic() - t0
            check(time.monotonic() - t0 < timeout, f"not ready within {timeout} s; states {seen}")
            self.nudge_advertising(s)
            time.sleep(0.1)

    def wait_name(self, name, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.bus.call_sync("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                   "GetNameOwner", GLib.Variant("(s)", (name,)), None, Gio.DBusCallFlags.NONE,
                                   5000, None)
                return
            except GLib.Error:
                check(time.monotonic() < deadline, f"nobody owns {name} on the system bus after {timeout} s")
                time.sleep(0.2)

    def show(self, *props, unit=UNIT):
        r = run("systemctl", "show", unit, *[f"--property={p}" for p in props])
        return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)

    def version(self):
        return run("dpkg-query", "-W", "-f", "${Version} ${db:Status-Abbrev}", "bandgate").stdout.strip()

    def apt_install(self, deb):
        t0 = time.monotonic()
        run("apt-get", "install", "-y", "-q", "--no-install-recommends", "./" + os.path.basename(deb),
            cwd=os.path.dirname(deb), timeout=300,
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8"))
        return time.monotonic() - t0

    def journal_cursor(self):
        r = run("journalctl", "-n", "0", "--show-cursor", "--no-pager")
        return r.stdout.strip().split("-- cursor: ")[-1]

    def journal_since(self, cursor, unit=UNIT):
        return run("journalctl", "-u", unit, "--after-cursor", cursor, "-o", "cat", "--no-pager").stdout

    def ready_in_journal(self, since):
        """When (seconds since boot) bandgate's journal first says the band went to ready, from since on."""
        r = run("journalctl", "-b", "-u", UNIT, "-o", "json", "--no-pager")
        for line in r.stdout.splitlines():
            entry = json.loads(line)
            at = int(entry["__MONOTONIC_TIMESTAMP"]) / 1e6
            if at >= since and "-> ready" in str(entry.get("MESSAGE", "")):
                return at
        return None

    def rows(self, sql, *params):
        with sqlite3.connect(f"file:{DATABASE}?mode=ro", uri=True) as db:
            return db.execute(sql, params).fetchall()

    def stored_key(self):
        rows = self.rows("SELECT key FROM bands WHERE address = ?", BAND)
        return bytes(rows[0][0]) if rows and rows[0][0] is not None else None

    def history(self):
        """The stored minutes of the scripted history, [(minute, kind, intensity, steps, heart_rate)]."""
        start = self.state["scripted_start"]
        return self.rows("SELECT minute, kind, intensity, steps, heart_rate FROM activity WHERE address = ? AND "
                         "minute >= ? AND minute < ? ORDER BY minute", BAND, start, start + 60 * SCRIPTED_MINUTES)

    def history_count(self):
        return self.rows("SELECT COUNT(*) FROM activity WHERE address = ?", BAND)[0][0]

    def save_state(self):
        with open(self.state_path + ".new", "w") as f:
            json.dump(self.state, f)
        os.replace(self.state_path + ".new", self.state_path)

    def same_key_and_history(self, what):
        """After `what`: the stored key is the one paired, the band holds it and got no new one, and every row
        of history is still there."""
        key = bytes.fromhex(self.state["key"])
        check(self.stored_key() == key, f"after {what} the stored key changed")
        check(bytes(self.band()["key"]) == key, f"after {what} the band holds another key")
        check(not self.new_keys_sent(), f"after {what} the band was sent a new key")
        check(self.history() == [tuple(r) for r in self.state["history"]], f"after {what} the scripted history "
                                                                           f"differs")
        count = self.history_count()
        check(count >= self.state["rows"], f"after {what} {count} rows of history, {self.state['rows']} before")
        return count

    def crashes(self):
        """systemd's lines about a process of this boot that died of a crash or a kill."""
        r = run("journalctl", "-b", "_PID=1", "-o", "cat", "--no-pager", ok=False)
        return [line for line in r.stdout.splitlines() if "code=dumped" in line or
                re.search(r"code=killed, status=\d+/(SEGV|ABRT|BUS|ILL|FPE|KILL)", line)]

    def timing(self, what, seconds):
        print(f"timing: {what}: {seconds:.1f} s", flush=True)

    # -- the steps --
    def system_is_up(self):
        """systemd up, bluetoothd serving both controllers, the simulated band on the bus."""
        self.wait_name("io.bandgate.Sim", 120)
        check(self.band() and self.band()["address"] == BAND, f"bandgate-periph serves {self.band()}")
        r = run("systemctl", "is-system-running", "--wait", ok=False, timeout=120)
        failed = run("systemctl", "list-units", "--failed", "--plain", "--no-legend", ok=False).stdout.strip()
        print(f"vm: boot finished at {uptime():.1f} s, system {r.stdout.strip()}"
              + (f"; failed units: {failed}" if failed else ""), flush=True)
        for unit in ("bluetooth.service", "btvirt.service", "bandgate-periph.service"):
            check(run("systemctl", "is-active", unit, ok=False).stdout.strip() == "active", f"{unit} not active")

    def install_previous_version(self):
        """0.0.9 with dpkg (its dependencies are in the image): the postinst makes the user and starts the
        service."""
        old = glob.glob(os.path.join(self.debs, "old", "bandgate_*.deb"))[0]
        t0 = time.monotonic()
        run("dpkg", "-i", old, timeout=300)
        self.timing("dpkg -i of 0.0.9", time.monotonic() - t0)
        check(self.version() == f"{OLD_VERSION} ii", f"installed: {self.version()}")
        check(run("systemctl", "is-enabled", UNIT, ok=False).stdout.strip() == "enabled", "the unit is not enabled")
        check(self.show("ActiveState")["ActiveState"] == "active", f"not started by the postinst: "
                                                                   f"{self.show('ActiveState', 'Result')}")
        check("bluetooth" in run("id", "-nG", "bandgate").stdout.split(), "the user bandgate is not in bluetooth")
        unit = run("systemctl", "cat", UNIT).stdout
        check("/lib/systemd/system/bandgate.service" in unit and ".d/" not in unit,
              "the unit is not the package's alone (a drop-in?)")

    def first_start_pairs_with_the_tap(self):
        """The administrator's config (the band, hci0, no MQTT), `systemctl start`, the wearer's tap."""
        run("useradd", "--no-create-home", "--groups", "bandgate", TESTER)
        run("useradd", "--no-create-home", OUTSIDER)
        run("systemctl", "stop", UNIT)
        with open(CONF) as f:
            text = f.read()
        text = set_key(text, "gateway", "bands", BAND)
        text = set_key(text, "gateway", "adapter", GATEWAY_ADAPTER)
        text = set_key(text, "mqtt", "enabled", "false")
        with open(CONF, "w") as f:
            f.write(text)
        effective = run("bandgate", "--check-config", "--config", CONF).stdout
        check(BAND in effective, f"the effective config has no band:\n{effective}")
        # The band's memory: five hours before the first start, to be fetched in several rounds.
        now = int(time.time()) // 60 * 60
        start = now - (SCRIPTED_MINUTES + 2) * 60
        samples = [(i % 7 + 1, (i * 13) % 100, (i * 7) % 120, 60 + i % 40 if i % 5 else 255)
                   for i in range(SCRIPTED_MINUTES)]
        self.control("AddHistory", "(sxa(yyyy))", BAND, start, samples)
        self.state["scripted_start"] = start
        self.control("ClearReceived", "(s)", BAND)
        self.tapped_at = None
        t0 = time.monotonic()
        run("systemctl", "start", UNIT, timeout=60)
        notified = time.monotonic() - t0
        took, seen = self.wait_ready(180, tap=True)
        check(self.tapped_at is not None, f"ready without the wearer's tap; states {seen}")
        self.timing("systemctl start to READY=1", notified)
        self.timing(f"systemctl start to ready, first pairing (tap asked at {self.tapped_at:.1f} s), states "
                    f"{' > '.join(map(str, seen))}", notified + took)
        key = bytes(self.band()["key"])
        check(key != LEGACY_KEY and self.stored_key() == key, "the stored key is not a new one the band holds")
        check(self.new_keys_sent() == [key], f"new keys sent: {self.new_keys_sent()}")
        self.state["key"] = key.hex()
        # The band keeps its key in flash: a restart of bandgate-periph (bluetooth's, the reboot's) starts the
        # band with it.
        with open(self.band_env, "w") as f:
            f.write(f"BAND_KEY={key.hex()}\n")
        self.save_state()

    def history_is_stored(self):
        deadline = time.monotonic() + 120
        while len(self.history()) < SCRIPTED_MINUTES:
            check(time.monotonic() < deadline, f"{len(self.history())} of {SCRIPTED_MINUTES} minutes stored")
            time.sleep(0.5)
        _, band = self.control("GetHistory", "(sxx)", BAND, self.state["scripted_start"],
                               self.state["scripted_start"] + 60 * (SCRIPTED_MINUTES - 1), reply="(xa(yyyy))")
        steps = [s for _, _, s, _ in band]
        check([r[3] for r in self.history()] == steps, "the stored steps are not the band's")
        self.state["history"] = self.history()
        self.state["rows"] = self.history_count()
        self.save_state()
        print(f"vm: {self.state['rows']} rows of history stored", flush=True)

    def upgrade_keeps_history(self):
        """apt upgrades 0.0.9 to this version: the edited conffile stays, the service is restarted (a new
        invocation) and comes back ready with the same key and every row."""
        new = glob.glob(os.path.join(self.debs, "new", "bandgate_*.deb"))[0]
        version = os.path.basename(new).split("_")[1]
        before = self.show("InvocationID", "MainPID")
        self.control("ClearReceived", "(s)", BAND)
        self.timing(f"apt-get install of {version} (the upgrade)", self.apt_install(new))
        check(self.version() == f"{version} ii", f"installed: {self.version()}")
        with open(CONF) as f:
            text = f.read()
        check(f"bands = {BAND}" in text and "enabled = false" in text, "the upgrade replaced the edited config")
        check(not glob.glob(CONF + ".dpkg-*"), f"conffile leftovers: {glob.glob(CONF + '.dpkg-*')}")
        after = self.show("InvocationID", "MainPID", "ActiveState")
        check(after["ActiveState"] == "active" and after["InvocationID"] != before["InvocationID"] and
              after["MainPID"] != before["MainPID"], f"not restarted by the upgrade: {before} then {after}")
        took, seen = self.wait_ready(120)
        self.timing(f"upgrade done to ready, states {' > '.join(map(str, seen))}", took)
        rows = self.same_key_and_history("the upgrade")
        print(f"vm: {rows} rows of history after the upgrade ({self.state['rows']} before)", flush=True)

    def survives_bluetooth_restart(self):
        """`systemctl restart bluetooth`: the same bandgate process finds bluetoothd again and the band with it
        (bandgate-periph restarts with bluetooth, PartOf=, holding its key)."""
        before = self.show("InvocationID", "MainPID", "NRestarts")
        connected = len(self.rows("SELECT 1 FROM events WHERE type = 'connected'"))
        t0 = time.monotonic()
        run("systemctl", "restart", "bluetooth.service", timeout=90)
        self.wait_name("io.bandgate.Sim", 60)
        # Until the gateway saw the link go, "ready" is the old one.
        deadline = time.monotonic() + 30
        while self.status().get("state") == "ready" and \
                len(self.rows("SELECT 1 FROM events WHERE type = 'connected'")) == connected:
            check(time.monotonic() < deadline, "the gateway never noticed bluetoothd's restart")
            time.sleep(0.1)
        _, seen = self.wait_ready(120)
        self.timing(f"systemctl restart bluetooth to ready, states {' > '.join(map(str, seen))}",
                    time.monotonic() - t0)
        after = self.show("InvocationID", "MainPID", "NRestarts", "ActiveState")
        check(after["ActiveState"] == "active" and after["MainPID"] == before["MainPID"] and
              after["InvocationID"] == before["InvocationID"] and after["NRestarts"] == "0",
              f"bandgate did not live through the restart: {before} then {after}")
        check(len(self.rows("SELECT 1 FROM events WHERE type = 'connected'")) > connected, "no new connection")
        self.same_key_and_history("the restart of bluetooth")

    def status_for_the_bandgate_group(self):
        """`bandgate status` for a member of the group; refused to a user outside it."""
        member = run("bandgate", "status", user=TESTER)
        check(BAND in member.stdout and "ready" in member.stdout, f"bandgate status as {TESTER}:\n{member.stdout}")
        check(self.status(user=TESTER).get("state") == "ready", "status --json as a member")
        other = run("bandgate", "status", user=OUTSIDER, ok=False)
        check(other.returncode != 0 and BAND not in other.stdout,
              f"bandgate status answered {OUTSIDER}, who is not in the group: {other.returncode} {other.stdout}")
        print(f"vm: bandgate status as {TESTER}: {member.stdout.splitlines()[0]}", flush=True)
        print(f"vm: as {OUTSIDER}: exit {other.returncode}, {other.stderr.strip()}", flush=True)

    def clean_stop(self):
        """`systemctl stop`: SIGTERM, "stopping" and "stopped" from bandgate, exit 0, no kill, the band let go."""
        cursor = self.journal_cursor()
        invocation = self.show("InvocationID")["InvocationID"]
        t0 = time.monotonic()
        run("systemctl", "stop", UNIT, timeout=60)
        self.timing("systemctl stop", time.monotonic() - t0)
        s = self.show("ActiveState", "Result", "ExecMainCode", "ExecMainStatus")
        check(s == {"ActiveState": "inactive", "Result": "success", "ExecMainCode": "1", "ExecMainStatus": "0"},
              f"not a clean stop: {s}")
        # journald reads bandgate's stdout on its own time: its last lines may land after systemctl returned.
        deadline = time.monotonic() + 20
        while True:
            journal = self.journal_since(cursor)
            own = run("journalctl", f"_SYSTEMD_INVOCATION_ID={invocation}", "-o", "cat", "--no-pager").stdout
            if ("stopping" in own and "stopped" in own and "Deactivated successfully" in journal) or \
                    time.monotonic() > deadline:
                break
            time.sleep(0.2)
        check("stopping" in own and "stopped" in own, f"bandgate's own stop lines missing:\n{own[-1500:]}")
        check("Deactivated successfully" in journal and "SIGKILL" not in journal and "Failed" not in journal,
              f"the journal of the stop:\n{journal}")
        deadline = time.monotonic() + 20
        while self.band()["connected"] or self.bluez_connected():
            check(time.monotonic() < deadline, "the link outlived the stop")
            time.sleep(0.1)
        print("vm: journal of the stop: " + " | ".join(l for l in journal.splitlines() if l), flush=True)

    def start_with_the_stored_key(self):
        t0 = time.monotonic()
        run("systemctl", "start", UNIT, timeout=60)
        notified = time.monotonic() - t0
        took, seen = self.wait_ready(120)
        self.timing(f"systemctl start to ready, stored key, states {' > '.join(map(str, seen))}", notified + took)
        self.same_key_and_history("a stop and a start")
        self.state["rows"] = self.history_count()
        self.save_state()

    def back_after_the_reboot(self):
        """After `systemctl reboot`: the enabled service started at boot, reconnects with its stored key and
        keeps every row; no tap, no new key."""
        check(run("systemctl", "is-enabled", UNIT, ok=False).stdout.strip() == "enabled", "not enabled")
        check(self.version().endswith(" ii") and not self.version().startswith(OLD_VERSION), self.version())
        s = self.show("ActiveState", "ExecMainStartTimestampMonotonic", "NRestarts")
        check(s["ActiveState"] in ("active", "activating"), f"bandgate not started by the boot: {s}")
        _, seen = self.wait_ready(180)
        # The scenario starts late in the boot, when the band may be ready already: the journal has the times.
        started = int(s["ExecMainStartTimestampMonotonic"]) / 1e6
        deadline = time.monotonic() + 20  # journald may not have read the line yet
        while (ready := self.ready_in_journal(started)) is None and time.monotonic() < deadline:
            time.sleep(0.2)
        check(ready is not None, "no transition to ready in the journal of bandgate")
        self.timing("boot (kernel start) to bandgate started", started)
        self.timing("bandgate started by the boot to ready (journal)", ready - started)
        rows = self.same_key_and_history("the reboot")
        check(self.show("NRestarts")["NRestarts"] == "0", "bandgate was restarted by systemd")
        print(f"vm: {rows} rows of history after the reboot ({self.state['rows']} before)", flush=True)

    def nothing_crashed(self):
        """No daemon of this boot died of a crash: a failure above might hide behind one, and a crash of
        bluetoothd that its clients lived through would otherwise go unnoticed."""
        check(not self.crashes(), "crashed: " + " | ".join(self.crashes()))

    # -- running --
    def run(self):
        for name in self.PHASES[self.phase]:
            t0 = time.monotonic()
            try:
                getattr(self, name)()
                print(f"PASS {name} ({time.monotonic() - t0:.1f} s)", flush=True)
            except Exception as e:  # noqa: BLE001 -- a step's crash is its failure
                detail = str(e) if isinstance(e, Failed) else traceback.format_exc()
                print(f"FAIL {name} ({time.monotonic() - t0:.1f} s): {detail}", flush=True)
                for line in self.crashes():
                    print(f"vm: crashed in this boot: {line}", flush=True)
                return name
        return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--phase", required=True, choices=sorted(Scenario.PHASES))
    p.add_argument("--out", required=True)
    p.add_argument("--debs", required=True)
    p.add_argument("--state", required=True)
    a = p.parse_args()
    result = 1
    print(f"vm: phase {a.phase} at {uptime():.1f} s after boot", flush=True)
    try:
        s = Scenario(a.phase, a.out, a.debs, a.state)
        failed = s.run()
        steps = Scenario.PHASES[a.phase]
        passed = len(steps) if not failed else steps.index(failed)
        print(f"vm: phase {a.phase}: {passed} passed, {0 if not failed else 1} failed", flush=True)
        result = 0 if not failed else 1
    except Exception:  # noqa: BLE001
        traceback.print_exc()
    with open(os.path.join(a.out, f"phase-{a.phase}.result"), "w") as f:
        f.write(f"{result}\n")
    return result


if __name__ == "__main__":
    sys.exit(main())
