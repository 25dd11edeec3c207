#!/usr/bin/python3
"""Sync and store (issue 4) against the simulated band: the history arrives exactly, once, through drops,
kill -9 and corrupt packets; live values, button presses and alerts land in SQLite; alerts queued while the
band is away go out in order when it returns; today's steps survive a restart."""
import os
import random
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from test_gateway import Gateway  # noqa: E402

from gi.repository import GLib  # noqa: E402

ACTIVITY = "00000005-0000-3512-2118-0009af100700"
FETCH = "00000004-0000-3512-2118-0009af100700"
STEPS = "00000007-0000-3512-2118-0009af100700"
NEW_ALERT = "00002a46-0000-1000-8000-00805f9b34fb"
ALERT_LEVEL = "00002a06-0000-1000-8000-00805f9b34fb"
HR_MEAS = "00002a37-0000-1000-8000-00805f9b34fb"
HR_CTRL = "00002a39-0000-1000-8000-00805f9b34fb"
FROM_2000 = 946771200  # 2000-01-02 UTC: where a first sync starts


class Sync(Gateway):
    """The world and its clean shutdown are the gateway tests'; these add the band's id and the sync helpers."""
    sim_args = ("--auto-tap", "1")

    def setUp(self):
        super().setUp()
        self.id = self.addr.replace(":", "").lower()

    # -- helpers --
    def start(self, wait_ready=True):
        self.world.start_gateway([self.addr])
        if wait_ready:
            self.world.wait_state(self.addr, "ready", 60)

    CURSOR = "SELECT sync_cursor, last_sync FROM bands WHERE address = ?"
    STORED = "SELECT minute, kind, intensity, steps, heart_rate FROM activity WHERE address = ? ORDER BY minute"

    def cursor(self):
        rows = self.world.db_rows(self.CURSOR, self.addr)
        return rows[0] if rows else (0, 0)

    def wait_synced(self, timeout=120, after=0):
        """Until a sync completed after `after` (UTC s) and the cursor stands within two minutes of now."""
        deadline = time.monotonic() + timeout
        while True:
            cursor, last = self.cursor()
            if last and last >= after and cursor >= time.time() - 120:
                return cursor
            self.assertLess(time.monotonic(), deadline, f"never synced (cursor {cursor}, last {last}):\n" +
                            (self.world.gateway.output() if self.world.gateway else ""))
            time.sleep(0.2)

    def after_last_sync(self):
        """Now, once now's whole second is past the stored last_sync (it holds whole seconds): a sync that ends at
        or after int(the time returned) is a later one, so wait_synced(after=int(it)) waits for the next sync."""
        _, last = self.cursor()
        while time.time() < last + 1:
            time.sleep(0.05)
        return time.time()

    def wait_rows(self, sql, timeout=60):
        deadline = time.monotonic() + timeout
        while not self.world.db_rows(sql):
            self.assertLess(time.monotonic(), deadline, f"nothing for {sql}\n" + self.world.gateway.output())
            time.sleep(0.2)

    def stored(self):
        return self.world.db_rows(self.STORED, self.addr)

    def stored_with_cursor(self):
        """(rows, cursor) of one state of the store: a sync that commits between two reads would part them."""
        rows, cursor = self.world.db_snapshot((self.STORED, self.addr), (self.CURSOR, self.addr))
        return rows, cursor[0][0] if cursor else 0

    def scripted(self, first, end):
        """The band's own record of [first, end) as rows like stored()'s."""
        # GetHistory's end is inclusive: end - 1, or the minute at the cursor would count once the band completed it.
        start, samples = self.world.control("GetHistory", "(sxx)", self.addr, first, end - 1, reply="(xa(yyyy))")
        return [(start + 60 * i, k, i_, s, None if hr == 0xFF else hr) for i, (k, i_, s, hr) in enumerate(samples)]

    def assert_history_exact(self):
        rows, cursor = self.stored_with_cursor()
        self.assertTrue(rows, "no history stored")
        expected = self.scripted(0, cursor)
        self.assertEqual(len(rows), len(expected), "sample count differs from the band's record")
        for got, want in zip(rows, expected):
            self.assertEqual(got, want)
        minutes = [r[0] for r in rows]
        self.assertEqual(len(minutes), len(set(minutes)), "a minute is stored twice")
        return rows


class History(Sync):
    sim_args = ("--auto-tap", "1", "--days", "7", "--fetch-cap", "1440")

    def test_a_week_arrives_exactly_and_a_resync_adds_nothing(self):
        self.start()
        self.wait_synced()
        rows = self.assert_history_exact()
        self.assertGreaterEqual(len(rows), 7 * 1440 - 10)
        before = self.after_last_sync()
        status, _ = self.world.api("POST", f"/api/v1/bands/{self.id}/actions/sync")
        self.assertIn(status, (200, 202))
        self.wait_synced(after=int(before))
        again = self.assert_history_exact()
        self.assertEqual(again[:len(rows)], rows, "a re-sync changed stored minutes")
        self.assertLessEqual(len(again) - len(rows), 3, "a re-sync added more than the minutes since")

    def test_new_history_is_fetched_from_the_cursor(self):
        self.start()
        cursor = self.wait_synced()
        n = len(self.stored())
        # Minutes the band records from now on come in the next sync, and only they.
        self.world.control("Walk", "(su)", self.addr, 10)
        self.world.complete_minute(self.addr)
        before = self.after_last_sync()
        self.world.api("POST", f"/api/v1/bands/{self.id}/actions/sync")
        self.wait_synced(after=int(before))
        self.assertGreater(self.cursor()[0], cursor)
        self.assertGreater(len(self.stored()), n)
        self.assert_history_exact()

    def test_a_drop_inside_the_transfer_resumes_with_no_gap_and_no_duplicate(self):
        self.world.control("SetFault", "(ssv)", self.addr, "drop-at-packet", GLib.Variant("i", 200))
        self.start()
        self.wait_synced(timeout=180)
        log = self.world.gateway.output()
        self.assertIn("history sync stopped: the link ended during the transfer", log)
        rows = self.assert_history_exact()
        minutes = [r[0] for r in rows]
        self.assertEqual(minutes, list(range(minutes[0], minutes[-1] + 60, 60)), "a gap in the stored minutes")


class MidRound(Sync):
    """Issue 14: the daemon killed (kill -9) in the middle of day-long rounds while the band keeps its link. The
    band goes on with the killed daemon's round; bluetoothd disables the notifications of the client that left
    and the restarted daemon enables them again, so the rest of that round reaches a daemon that did not start
    it. Whatever the band does with the new daemon's start in the middle of the old round, the history is exact
    within a minute of the last restart, with no sync action."""
    sim_args = ("--auto-tap", "1", "--days", "7", "--fetch-cap", "1440")

    def restart_mid_round(self, mode):
        self.world.control("SetFault", "(ssv)", self.addr, "fetch-mid-round", GLib.Variant("s", mode))
        # About 3.6 s a day-long round (360 packets): long enough to be killed in the middle of.
        self.world.control("SetFault", "(ssv)", self.addr, "history-packet-ms", GLib.Variant("u", 10))
        self.start()
        rng = random.Random(mode)
        for _ in range(3):
            # A round has just been stored whole: the next one is under way for the next few seconds.
            n = len(self.stored())
            deadline = time.monotonic() + 60
            while len(self.stored()) <= n:
                self.assertLess(time.monotonic(), deadline, "no round stored\n" + self.world.gateway.output())
                time.sleep(0.05)
            time.sleep(rng.uniform(0.3, 2.5))
            self.world.gateway.proc.send_signal(signal.SIGKILL)
            self.world.gateway.proc.wait(10)
            self.world.gateway = None
            self.assertTrue(self.world.band(self.addr)["connected"], "the band lost its link with its client")
            restarted = time.time()
            self.world.start_gateway([self.addr])
        self.wait_synced(timeout=60, after=int(restarted))
        took = time.time() - restarted
        print(f"\n{mode}: history exact {took:.1f} s after the last restart", file=sys.stderr)
        rows = self.assert_history_exact()
        self.assertGreaterEqual(len(rows), 7 * 1440 - 10)
        minutes = [r[0] for r in rows]
        self.assertEqual(minutes, list(range(minutes[0], minutes[-1] + 60, 60)), "a gap in the stored minutes")
        self.assertEqual(self.world.db_rows("SELECT count(*) FROM events WHERE type = 'sync-failed'"), [(0,)])
        return self.world.gateway.output()

    def test_band_aborts_the_old_round(self):
        self.restart_mid_round("abort")

    def test_band_finishes_the_old_round_first(self):
        log = self.restart_mid_round("finish")
        self.assertIn("of a round this gateway did not start", log)

    def test_band_keeps_sending_both_rounds(self):
        log = self.restart_mid_round("both")
        self.assertIn("history round broken", log)
        self.assertIn("of a round this gateway did not start", log)


class BrokenRounds(Sync):
    """A round that breaks is retried from the cursor within seconds; one that breaks every time gives up until the
    next interval, and says why in the band's view and events."""
    sim_args = ("--auto-tap", "1", "--days", "2", "--fetch-cap", "1440")

    def test_a_corrupt_packet_mid_round_is_retried_at_once(self):
        self.world.control("SetFault", "(ssv)", self.addr, "history-packet-ms", GLib.Variant("u", 5))
        began = time.time()
        self.start()
        self.wait_rows("SELECT 1 FROM activity")  # the first round is stored: the second is running
        self.world.control("SetFault", "(ssv)", self.addr, "corrupt-next", GLib.Variant("(su)", (ACTIVITY, 1)))
        self.wait_synced(timeout=60, after=int(began))
        log = self.world.gateway.output()
        # A flipped counter byte reads as a packet of another round; a flipped tail may not parse.
        self.assertRegex(log, r"history round broken: (history packet \d+ came where \d+ was due|a history packet "
                              r"was damaged).*; retry 1 of 5")
        retries = self.world.db_rows("SELECT detail FROM events WHERE type = 'sync-retry'")
        self.assertEqual(len(retries), 1, retries)
        self.assertEqual(self.world.db_rows("SELECT count(*) FROM events WHERE type = 'sync-failed'"), [(0,)])
        self.assert_history_exact()

    def test_a_band_that_breaks_every_round_gives_up_says_why_and_the_next_interval_tries_again(self):
        self.world.control("SetFault", "(ssv)", self.addr, "corrupt-next", GLib.Variant("(su)", (ACTIVITY, 100000)))
        self.world.start_gateway([self.addr], gateway_extra="sync_interval = 60\n")
        started = time.monotonic()
        self.world.wait_state(self.addr, "ready", 60)
        self.wait_rows("SELECT 1 FROM events WHERE type = 'sync-failed'", timeout=50)
        self.assertLess(time.monotonic() - started, 60, "gave up only at the interval")
        retries = self.world.db_rows("SELECT detail FROM events WHERE type = 'sync-retry' ORDER BY id")
        self.assertEqual([r[0].split("; retry ")[1].split(" once")[0] for r in retries],
                         [f"{i} of 5" for i in range(1, 6)])
        # The corrupted first packet of each round fails its counter (byte 0) or its parse: either way the reason.
        failed = self.world.db_rows("SELECT detail FROM events WHERE type = 'sync-failed'")[0][0]
        self.assertRegex(failed, r"^(history packet 255 came where 0 was due|a history packet was damaged).*; "
                                 r"gave up after 5 retries that brought nothing, until the next sync$")
        band = self.world.state(self.addr)
        self.assertEqual((band["state"], band["sync"]), ("ready", "failed"))
        self.assertEqual(band["sync_error"], failed)
        self.assertIn("History sync failed: " + failed, self.world.cli("status").stdout)
        self.assertEqual(self.stored(), [])
        # The band heals; nobody asks for a sync: the next interval finds it.
        self.world.control("SetFault", "(ssv)", self.addr, "corrupt-next", GLib.Variant("(su)", (ACTIVITY, 0)))
        self.wait_synced(timeout=90)
        band = self.world.state(self.addr)
        self.assertEqual(band["sync"], "idle")
        self.assertIsNone(band["sync_error"])
        self.assert_history_exact()

    def test_packets_outside_any_round_are_counted_never_stored(self):
        """A round nobody here started (as after a restart) runs while the gateway has none: its packets are
        ignored, and the gateway's own next round is exact."""
        self.world.control("SetFault", "(ssv)", self.addr, "history-packet-ms", GLib.Variant("u", 10))
        self.start()
        self.wait_synced(timeout=60)
        stored = self.stored()
        # Walk, then a foreign client (this test) starts a round on the band the gateway is connected to.
        self.world.control("Walk", "(su)", self.addr, 30)
        self.world.complete_minute(self.addr)
        self.world.control("SetFault", "(ssv)", self.addr, "fetch-mid-round", GLib.Variant("s", "abort"))
        self.foreign_round()
        deadline = time.monotonic() + 30
        while "history notifications of a round this gateway did not start" not in self.world.gateway.output():
            self.assertLess(time.monotonic(), deadline, self.world.gateway.output())
            time.sleep(0.2)
        self.assertEqual(self.stored(), stored, "packets of a round the gateway did not start were stored")
        before = self.after_last_sync()
        self.assertEqual(self.world.cli("sync", self.addr).returncode, 0)
        self.wait_synced(after=int(before))
        self.assert_history_exact()
        self.assertGreater(len(self.stored()), len(stored))

    def foreign_round(self):
        """Starts a history round on the band from outside the gateway: 01 01 <a day ago>, then 02, written on
        the band's fetch characteristic through bluetoothd like any client."""
        path = self.world.device_path(self.addr)
        objs = self.world.conn.call_sync("org.bluez", "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects",
                                         None, GLib.VariantType("(a{oa{sa{sv}}})"), 0, 10000, None).unpack()[0]
        fetch = next(p for p, ifs in objs.items() if p.startswith(path) and
                     ifs.get("org.bluez.GattCharacteristic1", {}).get("UUID") == FETCH)
        t = time.gmtime(time.time() - 86400)
        start = bytes([1, 1, t.tm_year & 0xff, t.tm_year >> 8, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, 0, 0])
        for value in (start, b"\x02"):
            self.world.conn.call_sync("org.bluez", fetch, "org.bluez.GattCharacteristic1", "WriteValue",
                                      GLib.Variant("(aya{sv})", (value, {"type": GLib.Variant("s", "request")})),
                                      None, 0, 10000, None)
            if value == start:  # §10.1: the 02 only after the band's 10 01 01
                self.wait_value(fetch, b"\x10\x01\x01")

    def wait_value(self, path, prefix, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            self.world.pump()
            if any(s[0] == "PropertiesChanged" and s[1] == path and bytes(s[2][1].get("Value", b"")).startswith(prefix)
                   for s in self.world.signals):
                return
            self.assertLess(time.monotonic(), deadline, f"no {prefix.hex()} on {path}")
            time.sleep(0.02)


class Export(Sync):
    sim_args = ("--auto-tap", "1", "--days", "2")

    def test_export_beside_the_daemon_minutes_and_days_csv_and_json_and_cli_notify(self):
        import csv
        import io
        import json
        self.start()
        self.wait_synced()
        rows = self.stored()
        conf = os.path.join(self.world.dir, "bandgate.conf")
        r = self.world.cli("export", self.id, "--config", conf)
        self.assertEqual(r.returncode, 0, r.stderr)
        table = list(csv.DictReader(io.StringIO(r.stdout)))
        self.assertEqual(len(table), len(rows))
        first = rows[0]
        self.assertEqual(table[0]["time_utc"], time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(first[0])))
        self.assertEqual((int(table[0]["kind"]), int(table[0]["steps"])), (first[1], first[3]))
        r = self.world.cli("export", self.addr, "--config", conf, "--daily", "--format", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        days = json.loads(r.stdout)
        self.assertEqual(sum(d["steps"] for d in days), sum(row[3] for row in rows))
        today = time.strftime("%Y-%m-%d")
        r = self.world.cli("export", self.addr, "--config", conf, "--from", today, "--format", "json")
        self.assertTrue(all(m["time"] >= time.strftime("%Y-%m-%dT", time.gmtime(time.mktime(
            time.strptime(today, "%Y-%m-%d")))) for m in json.loads(r.stdout)))
        for bad in (("--from", "yesterday"), ("--format", "xml")):
            r = self.world.cli("export", self.addr, "--config", conf, *bad)
            self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        r = self.world.cli("export", "C8:0F:10:00:00:01", "--config", conf)
        self.assertEqual(r.returncode, 1)
        r = self.world.cli("notify", self.addr, "from the CLI")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("queued as notification 1", r.stdout)
        deadline = time.monotonic() + 30
        while self.world.db_rows("SELECT status, source FROM notifications") != [("sent", "api")]:
            self.assertLess(time.monotonic(), deadline, self.world.gateway.output())
            time.sleep(0.2)


class Kill(Sync):
    sim_args = ("--auto-tap", "1", "--days", "3", "--fetch-cap", "120")

    def test_kill_9_during_sync_twenty_times_loses_and_doubles_nothing(self):
        rng = random.Random(4)
        self.start()  # pair once; the key is stored before the first kill
        for i in range(20):
            time.sleep(rng.uniform(0.0, 1.5))
            self.world.gateway.proc.send_signal(signal.SIGKILL)
            self.world.gateway.proc.wait(10)
            self.world.gateway = None
            self.world.start_gateway([self.addr])
        self.wait_synced(timeout=240)
        rows = self.assert_history_exact()
        self.assertGreaterEqual(len(rows), 3 * 1440 - 10)


class BadBand(Sync):
    sim_args = ("--auto-tap", "1", "--days", "1", "--fetch-cap", "240")

    def test_corrupt_and_truncated_notifications_never_crash_and_never_store_garbage(self):
        # The simulator holds one corruption at a time: history packets first, then live steps.
        self.world.control("SetFault", "(ssv)", self.addr, "truncate-next", GLib.Variant("(su)", (ACTIVITY, 2)))
        self.start()
        self.wait_rows("SELECT 1 FROM events WHERE type = 'sync-retry'")
        self.world.control("SetFault", "(ssv)", self.addr, "truncate-next", GLib.Variant("(su)", (STEPS, 3)))
        for _ in range(3):
            self.world.control("Walk", "(su)", self.addr, 25)
        self.wait_rows("SELECT 1 FROM events WHERE type = 'rejected' AND detail LIKE 'malformed steps%'")
        before = time.time()
        self.world.api("POST", f"/api/v1/bands/{self.id}/actions/sync")
        self.wait_synced(after=int(before))
        self.assertEqual(self.world.api("GET", "/healthz")[0], 200)
        rejected = [r[0] for r in self.world.db_rows("SELECT detail FROM events WHERE type = 'rejected'")]
        self.assertTrue(any("history data" in r for r in rejected), rejected)
        self.assertIn("history round broken: a history packet was damaged", self.world.gateway.output())
        self.assert_history_exact()


class Live(Sync):
    sim_args = ("--auto-tap", "1", "--days", "1")

    def totals(self):
        rows = self.world.db_rows("SELECT day, steps, meters, calories FROM daily_totals WHERE address = ?",
                                  self.addr)
        return rows[0] if rows else None

    def test_steps_battery_heart_rate_and_button_are_stored_and_steps_survive_a_restart(self):
        self.start()
        self.world.control("Walk", "(su)", self.addr, 1234)
        self.world.control("SetBattery", "(sub)", self.addr, 42, True)
        self.world.control("PressButton", "(s)", self.addr)
        band = self.world.band(self.addr)
        deadline = time.monotonic() + 20
        while self.world.state(self.addr).get("steps") != band["steps"]:
            self.assertLess(time.monotonic(), deadline, f"{self.world.state(self.addr)} != {band['steps']}\n" +
                            self.world.gateway.output())
            time.sleep(0.2)
        self.wait_rows("SELECT 1 FROM battery WHERE level = 42")
        self.assertEqual(self.world.db_rows("SELECT level, charging FROM battery WHERE address = ? "
                                            "ORDER BY time DESC, rowid DESC LIMIT 1", self.addr), [(42, 1)])
        # The press comes a notification after the battery (the band paces them): wait for it, then count it once.
        self.wait_rows("SELECT 1 FROM events WHERE type = 'button'")
        self.assertEqual(self.world.db_rows("SELECT count(*) FROM events WHERE type = 'button'"), [(1,)])
        # Totals are written at most once a minute while they change, and at once when the daemon stops.
        self.world.control("SetInRange", "(sb)", self.addr, False)
        self.world.wait_state(self.addr, ("disconnected", "connecting", "absent"), 20)
        self.assertEqual(self.world.stop_gateway(), 0)
        day, steps, meters, calories = self.totals()
        self.assertEqual((day, steps), (time.strftime("%Y-%m-%d"), band["steps"]))
        self.assertEqual((meters, calories), (band["distance"], band["calories"]))
        # Restart with the band away: the API still says today's stored steps, not 0 or nothing.
        self.start(wait_ready=False)
        state = self.world.state(self.addr)
        self.assertNotEqual(state["state"], "ready")
        self.assertEqual(state["steps"], steps)


class ClockLess(Sync):
    """A band whose clock was never set (it reads 1999): it has recorded minutes under that clock."""
    sim_args = ("--auto-tap", "1", "--days", "2")

    def test_a_clock_less_band_gets_the_time_and_nothing_is_stored_under_a_wrong_date(self):
        unset = 946641600  # 1999-12-31 12:00 UTC
        self.world.control("SetClock", "(sxn)", self.addr, unset, 0)
        began = time.time()
        self.start()
        deadline = time.monotonic() + 60
        while not self.cursor()[1]:
            self.assertLess(time.monotonic(), deadline, "the first sync never completed")
            time.sleep(0.2)
        band = self.world.band(self.addr)
        self.assertLess(abs(band["clock"] - time.time()), 5, "the gateway did not set the band's clock")
        events = self.world.db_rows("SELECT detail FROM events WHERE address = ? AND type = 'clock'", self.addr)
        self.assertEqual(len(events), 1, events)
        self.assertIn("not set (it read year 1999)", events[0][0])
        self.assertEqual(self.world.db_rows("SELECT count(*) FROM events WHERE type = 'sync-failed'"), [(0,)])
        # The 1999 minutes are not stored under any date; what the band recorded since it has the time is.
        rows = self.stored()
        self.assertTrue(all(r[0] >= began - 120 for r in rows), rows[:3])
        self.world.control("Walk", "(su)", self.addr, 40)
        self.world.complete_minute(self.addr)
        before = self.after_last_sync()
        self.assertEqual(self.world.cli("sync", self.addr).returncode, 0)
        self.wait_synced(after=int(before))
        rows, cursor = self.stored_with_cursor()
        self.assertEqual(rows, self.scripted(FROM_2000, cursor))
        self.assertGreaterEqual(sum(r[3] for r in rows), 40)
        # The next ready finds the clock right: no second event.
        self.world.control("DropLink", "(s)", self.addr)
        self.world.wait_state(self.addr, "ready", 60)
        time.sleep(1)
        self.assertEqual(len(self.world.db_rows("SELECT 1 FROM events WHERE type = 'clock'")), 1)


class HeartRate(Sync):
    sim_args = ("--auto-tap", "1", "--days", "1")

    def test_all_day_measurement_is_switched_on_and_a_one_shot_reading_is_stored(self):
        self.world.start_gateway([self.addr], gateway_extra="heart_rate_interval = 5\n")
        self.world.wait_state(self.addr, "ready", 60)
        self.world.control("SetHeartRate", "(su)", self.addr, 93)
        deadline = time.monotonic() + 10
        while bytes([0x14, 5]) not in [bytes(v) for _, u, v in self.world.writes(self.addr) if u == HR_CTRL]:
            self.assertLess(time.monotonic(), deadline, "the all-day interval was never written")
            time.sleep(0.2)
        r = self.world.cli("heart-rate", self.addr)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        # The command is answered once the measurement is asked for; its writes may still be on their way.
        want = [bytes.fromhex("150100"), bytes.fromhex("150200"), bytes.fromhex("150201")]
        deadline = time.monotonic() + 20
        while (hr_writes := [bytes(v) for _, u, v in self.world.writes(self.addr) if u == HR_CTRL])[-3:] != want \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(hr_writes[-3:], want)
        self.wait_rows("SELECT 1 FROM heart_rate WHERE bpm = 93", timeout=20)
        self.assertEqual(self.world.state(self.addr).get("heart_rate"), 93)
        # A reading the band sends damaged is refused with an event, and the stored one stays.
        self.world.control("SetFault", "(ssv)", self.addr, "truncate-next", GLib.Variant("(su)", (HR_MEAS, 1)))
        self.assertEqual(self.world.cli("heart-rate", self.addr).returncode, 0)
        self.wait_rows("SELECT 1 FROM events WHERE type = 'rejected' AND detail LIKE '%heart rate%'", timeout=20)
        self.assertEqual(self.world.db_rows("SELECT bpm FROM heart_rate WHERE address = ?", self.addr), [(93,)])


class Alerts(Sync):
    sim_args = ("--auto-tap", "1", "--days", "1")

    def notify(self, body):
        return self.world.api("POST", f"/api/v1/bands/{self.id}/actions/notify", body)

    def rows(self):
        return self.world.db_rows("SELECT id, kind, category, text, status, attempts FROM notifications "
                                  "WHERE address = ? ORDER BY id", self.addr)

    def test_alerts_queued_while_away_arrive_in_order_with_their_statuses(self):
        self.start()
        self.world.control("SetInRange", "(sb)", self.addr, False)
        self.world.wait_state(self.addr, ("disconnected", "connecting", "absent"), 20)
        texts = ["first: Grüße", "second", "third " + "ü" * 20]
        for t in texts:
            status, body = self.notify({"text": t, "category": "sms"})
            self.assertEqual(status, 202, body)
            self.assertIn("id", body)
        status, body = self.notify({"kind": "vibrate"})
        self.assertEqual(status, 202, body)
        self.assertEqual([r[4] for r in self.rows()], ["queued"] * 4)
        self.world.control("ClearReceived", "(s)", self.addr)
        self.world.control("SetInRange", "(sb)", self.addr, True)
        deadline = time.monotonic() + 90
        while any(r[4] != "sent" for r in self.rows()):
            self.assertLess(time.monotonic(), deadline, f"{self.rows()}\n" + self.world.gateway.output())
            time.sleep(0.5)
        self.assertEqual([r[5] for r in self.rows()], [1, 1, 1, 1])
        alerts = self.world.control("GetAlerts", "(s)", self.addr, reply="(a(xyysb))")[0]
        shown = [(cat, text) for _, cat, _, text, was_shown in alerts if was_shown]
        self.assertEqual(len(shown), len(alerts), f"an alert came too soon after another: {alerts}")
        # The third text is longer than a screen: it is split at a character boundary, never inside one.
        self.assertEqual([t for c, t in shown if c == 5],
                         ["first: Grüße", "second", "third " + "ü" * 6, "ü" * 9, "ü" * 5])
        self.assertEqual(shown[-1][0], 255, "the vibration came last")
        for _, uuid, value in self.world.writes(self.addr):
            if uuid == NEW_ALERT:
                self.assertLessEqual(len(bytes(value)), 20)

    def test_on_a_slow_link_the_text_reaches_the_band_before_its_level(self):
        """2A46 takes a Write Request and 2A06 a Write Command, which bluetoothd sends ahead of a queued request:
        the band must still see the text first (att-delay-ms holds the request on the link)."""
        self.start()
        self.world.control("SetFault", "(ssv)", self.addr, "att-delay-ms", GLib.Variant("u", 300))
        self.world.control("ClearReceived", "(s)", self.addr)
        status, body = self.notify({"text": "Slow link", "category": "sms"})
        self.assertEqual(status, 202, body)
        deadline = time.monotonic() + 30
        while any(r[4] != "sent" for r in self.rows()):
            self.assertLess(time.monotonic(), deadline, f"{self.rows()}\n" + self.world.gateway.output())
            time.sleep(0.2)
        # 'sent' is stored when the band answers the text; the level is written after that.
        self.wait_write(ALERT_LEVEL, b"\x01")
        writes = [(u, bytes(v)) for _, u, v in self.world.writes(self.addr) if u in (NEW_ALERT, ALERT_LEVEL)]
        self.assertEqual(writes, [(NEW_ALERT, b"\x05\x01Slow link"), (ALERT_LEVEL, b"\x01")])

    def connections(self):
        return self.world.db_rows("SELECT count(*) FROM events WHERE type = 'connected'")[0][0]

    def drop_and_wait_ready(self, before):
        self.world.control("DropLink", "(s)", self.addr)
        deadline = time.monotonic() + 60
        while self.connections() <= before:
            self.assertLess(time.monotonic(), deadline, "never ready again\n" + self.world.gateway.output())
            time.sleep(0.1)

    def wait_all_sent(self):
        deadline = time.monotonic() + 60
        while any(r[4] != "sent" for r in self.rows()):
            self.assertLess(time.monotonic(), deadline, f"{self.rows()}\n" + self.world.gateway.output())
            time.sleep(0.1)

    def wait_band(self, predicate, what):
        deadline = time.monotonic() + 20
        while not predicate(self.world.band(self.addr)):
            self.assertLess(time.monotonic(), deadline, f"never {what}: {self.world.band(self.addr)}")
            time.sleep(0.01)

    def wait_write(self, uuid, value):
        deadline = time.monotonic() + 20
        while (uuid, value) not in [(u, bytes(v)) for _, u, v in self.world.writes(self.addr)]:
            self.assertLess(time.monotonic(), deadline, f"{value!r} never reached the band")
            time.sleep(0.01)

    def test_a_link_dropped_during_or_after_an_alert_shows_it_once(self):
        """Issue 14: an alert whose writes the band answered is sent, whatever happens to the link afterwards;
        only one whose text was never answered (so never reached the band) is sent again after the reconnect."""
        self.start()
        moments = [("before the text is answered", None), ("as the text reaches the band", 0.0),
                   ("1 s after the level", 1.0), ("2.5 s after the level", 2.5), ("4 s after the level", 4.0)]
        for i, (moment, after_level) in enumerate(moments):
            text = f"alert {i}"
            self.world.control("ClearReceived", "(s)", self.addr)
            ready_count = self.connections()
            if after_level is None:
                # The band answers (and so receives) a write request only after a minute: the drop comes first.
                self.world.control("SetFault", "(ssv)", self.addr, "att-delay-ms", GLib.Variant("u", 60000))
            self.assertEqual(self.notify({"text": text, "category": "sms"})[0], 202)
            if after_level is None:
                # Another request of the gateway's (a read, say) may be held beside it: the text's is waited for.
                self.wait_band(lambda band: NEW_ALERT in band["att-pending"], "the text's write, held unanswered")
                self.world.control("SetFault", "(ssv)", self.addr, "att-delay-ms", GLib.Variant("u", 0))
            elif after_level == 0.0:
                self.wait_write(NEW_ALERT, b"\x05\x01" + text.encode())
            else:
                self.wait_write(ALERT_LEVEL, b"\x01")
                time.sleep(after_level)  # the moment under test, not a wait for an event
            self.drop_and_wait_ready(ready_count)
            self.wait_all_sent()
            alerts = self.world.control("GetAlerts", "(s)", self.addr, reply="(a(xyysb))")[0]
            shown = [a for a in alerts if a[3] == text]
            self.assertEqual(len(shown), 1, f"{moment}: shown {len(shown)} times: {alerts}\n" +
                             self.world.gateway.output())
            attempts = [r[5] for r in self.rows() if r[3] == text]
            self.assertEqual(attempts, [2] if after_level is None else [1], moment)

    def test_bad_alerts_get_clear_errors_and_store_nothing(self):
        self.start()
        for body in ({"text": ""}, {"text": "x" * 2000}, {"kind": "dance"}, {"text": "hi", "category": "fax"},
                     {"text": 5}, [], "just a string"):
            status, reply = self.notify(body)
            self.assertEqual(status, 400, f"{body}: {reply}")
            self.assertIn("error", reply)
        self.assertEqual(self.rows(), [])
        self.assertEqual(self.world.api("GET", "/healthz")[0], 200)


if __name__ == "__main__":
    unittest.main()
