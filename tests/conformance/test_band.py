#!/usr/bin/python3
"""The simulated Mi Band 2 through the fake bluetoothd: authentication (miband2-protocol.md §4), the
unauthenticated drop (§3, bluez §Disconnect), history fetch (§10) against GetHistory, the faults of
io.bandgate.Sim1, device events (§13), alerts (§12), steps (§9), device info (§7, §8), factory reset (§15)."""
import datetime
import time
import unittest

from gi.repository import GLib

from harness import (ACTIVITY, ADAPTER, ALERT_LEVEL, AUTH, BATTERY, CONFIG, DEVICE, EVENT, FETCH, HR_MEAS,
                     HW_REV, LEGACY_KEY, NEW_ALERT, SERIAL, SIM_IFACE, STEPS, SW_REV, TIME, TZ, Band, DBusError,
                     SimTestCase, device_path, huami, huami_ts, is_added, iterate, le32, parse_ts, set_time, sig,
                     wait_until)

HR_CTRL, FW_CTRL = sig("2a39"), huami("1531")

NEW_KEY = bytes(range(0x40, 0x50))


def tap_needed(address):
    return lambda e: e.interface == SIM_IFACE and e.member == "TapNeeded" and e.args[0] == address


class Auth(SimTestCase):
    def test_legacy_key_reconnect(self):
        """§4.4 reconnection: the band holds the legacy key (§4.2): 02 → 10 02 01 R, 03 AES(key, R) →
        10 03 01, with flags byte 08 or 00 alike (§4.3)."""
        world, band = self.start_band(login=True)
        mark = band.rec.mark()
        self.assertEqual(band.authenticate(LEGACY_KEY, flags=0x00), b"\x10\x03\x01")
        self.assertTrue(world.band_state(band.address)["authenticated"])
        band.rec.wait(lambda e: e.member == "BandEvent" and e.args[:2] == (band.address, "authenticated"), mark,
                      what="BandEvent authenticated")

    def test_key_option(self):
        """main.c --key HEX: the band holds that key (§4.2 "the band just stores whatever key it was last
        given"); the reconnection flow works with it and not with the legacy key."""
        world, band = self.start_band("--key", NEW_KEY.hex(), connect=True)
        band.start_notify(AUTH)
        self.assertEqual(band.authenticate(LEGACY_KEY), b"\x10\x03\x04")
        self.assertEqual(band.authenticate(NEW_KEY), b"\x10\x03\x01")

    def send_key(self, band, key):
        """§4.4 first pairing step 2: W 01 08 <key>. Returns the mark before it."""
        mark = band.rec.mark()
        band.write(AUTH, b"\x01\x08" + key, "command")
        return mark

    def test_first_pairing_needs_tap(self):
        """§4.4 first pairing: after 01 08 <key> the user must tap; only then 10 01 01; then 02/03 with the new
        key. The simulator announces the wait with TapNeeded and scripts the tap with Tap."""
        world, band = self.start_band("--key", "none", connect=True)
        band.start_notify(AUTH)
        mark = self.send_key(band, NEW_KEY)
        band.rec.wait(tap_needed(band.address), mark, what="TapNeeded")
        self.assertTrue(world.band_state(band.address)["awaiting-tap"])
        iterate(0.5)
        self.assertEqual(band.values(AUTH, mark), [], "no answer before the tap")
        world.control("Tap", "s", band.address)
        self.assertEqual(band.next_value(AUTH, mark)[1], b"\x10\x01\x01")
        self.assertEqual(band.authenticate(NEW_KEY), b"\x10\x03\x01")
        self.assertEqual(bytes(world.band_state(band.address)["key"]), NEW_KEY)

    def test_auto_tap(self):
        """--auto-tap SECONDS: the wearer taps by himself; 10 01 01 comes without a Tap call."""
        world, band = self.start_band("--key", "none", "--auto-tap", "0.2", connect=True)
        band.start_notify(AUTH)
        mark = self.send_key(band, NEW_KEY)
        self.assertEqual(band.next_value(AUTH, mark)[1], b"\x10\x01\x01")
        self.assertEqual(band.authenticate(NEW_KEY), b"\x10\x03\x01")

    def test_rekeyed_by_another_phone(self):
        """§4.3/§17.4: re-keyed by another app, the band answers 10 03 04; §4.4 recovery: a new key + tap, then
        the usual 02/03."""
        world, band = self.start_band(connect=True)
        world.control("SetKey", "say", band.address, b"")
        band.start_notify(AUTH)
        self.assertEqual(band.authenticate(LEGACY_KEY), b"\x10\x03\x04")
        mark = self.send_key(band, NEW_KEY)
        band.rec.wait(tap_needed(band.address), mark, what="TapNeeded")
        world.control("Tap", "s", band.address)
        self.assertEqual(band.next_value(AUTH, mark)[1], b"\x10\x01\x01")
        self.assertEqual(band.authenticate(NEW_KEY), b"\x10\x03\x01")

    def test_replies_need_the_cccd(self):
        """§4.1/§17.2: "Auth replies never arrive if the CCCD of 0009 was not enabled first"."""
        world, band = self.start_band(connect=True)
        mark = band.rec.mark()
        band.write(AUTH, b"\x02\x08", "command")
        iterate(0.5)
        self.assertEqual(band.values(AUTH, mark), [])
        band.start_notify(AUTH)
        self.assertEqual(band.authenticate(LEGACY_KEY), b"\x10\x03\x01")

    def test_ignored_until_authenticated(self):
        """§3 and §4.6: "Until authenticated, ignore other writes"; §4.1: other notifications only after
        success. An alert, a fetch and a button press before auth do nothing; after auth they work."""
        world, band = self.start_band(connect=True)
        for uuid in (AUTH, FETCH, EVENT):
            band.start_notify(uuid)
        mark = band.rec.mark()
        band.write(ALERT_LEVEL, b"\x03", "command")
        band.write(FETCH, b"\x01\x01" + huami_ts(datetime.datetime(2020, 1, 1), 0))
        world.control("PressButton", "s", band.address)
        iterate(0.5)
        self.assertEqual(world.control("GetAlerts", "s", band.address)[0], [])
        self.assertEqual(band.values(FETCH, mark) + band.values(EVENT, mark), [])
        self.assertEqual(band.authenticate(LEGACY_KEY), b"\x10\x03\x01")
        mark = band.rec.mark()
        world.control("PressButton", "s", band.address)
        self.assertEqual(band.next_value(EVENT, mark)[1], b"\x04")

    def test_refuse_auth_fault(self):
        """io.bandgate.Sim1 "refuse-auth": every encrypted number is answered 10 03 04, the right key too."""
        world, band = self.start_band(connect=True)
        world.fault(band.address, "refuse-auth", GLib.Variant("b", True))
        band.start_notify(AUTH)
        self.assertEqual(band.authenticate(LEGACY_KEY), b"\x10\x03\x04")


class AuthTimeout(SimTestCase):
    def test_unauthenticated_link_dropped(self):
        """bluez §Disconnect: "The band drops a link that does not authenticate within about 25 s" (§3), as
        a link loss: one PropertiesChanged with Connected=false and ServicesResolved=false. The
        auth-timeout-ms fault shortens the 25 s."""
        world, band = self.start_band()
        world.fault(band.address, "auth-timeout-ms", GLib.Variant("u", 1000))
        mark = band.connect()[0]
        lost = world.client.wait_props(band.path, DEVICE, {"Connected": False, "ServicesResolved": False}, mark)
        self.assertGreater(lost.index, mark)
        self.assertFalse(world.band_state(band.address)["connected"])

    def test_authenticated_link_stays(self):
        """§3: the drop is for links that do not authenticate; an authenticated one stays."""
        world, band = self.start_band(login=True)
        mark = band.rec.mark()
        world.fault(band.address, "auth-timeout-ms", GLib.Variant("u", 200))
        iterate(1.0)
        self.assertIsNone(band.rec.find(lambda e: e.path == band.path and "Connected" in (e.changed(DEVICE) or {}),
                                        mark))
        self.assertTrue(world.client.get(band.path, DEVICE, "Connected"))


class History(SimTestCase):
    def logged_in(self, *sim_args):
        """A band after §16's session start: auth, time, notify on 0004 and 0005 (§10.1 steps 1 and 4)."""
        world, band = self.start_band(*sim_args, login=True)
        local = set_time(band)
        band.start_notify(FETCH)
        band.start_notify(ACTIVITY)
        return world, band, local

    def start_round(self, band, local):
        """§10.1 steps 2-3: 01 01 <ts> → 10 01 01 <count> <first sample's ts> (15 bytes)."""
        reply = band.notify_exchange(FETCH, b"\x01\x01" + huami_ts(local.replace(second=0), TZ))
        self.assertEqual((len(reply), reply[:3]), (15, b"\x10\x01\x01"), reply.hex())
        first, tz = parse_ts(reply[7:15])
        self.assertEqual(tz, TZ)
        return first, le32(reply[3:7])

    def transfer(self, band):
        """§10.1 steps 4-6: 02, the data packets, 10 02 01. Returns the packets (bytes) in order."""
        mark = band.rec.mark()
        band.write(FETCH, b"\x02")
        end = band.rec.wait(lambda e: e.path == band.chr(FETCH) and bytes((e.changed() or {}).get("Value", b""))
                            == b"\x10\x02\x01", mark, 30, "10 02 01")
        return [bytes(e.changed()["Value"]) for e in band.value_events(ACTIVITY, mark) if e.index < end.index]

    def check_packets(self, packets, count):
        """§10.2: counter from 0 per round, +1 per packet; length 1 + 4n; count samples in all."""
        for i, p in enumerate(packets):
            self.assertEqual(p[0], i & 0xff, "packet counter")
            self.assertEqual(len(p) % 4, 1, p.hex())
            if i < len(packets) - 1:
                self.assertEqual(len(p), 17, "a full packet is 17 bytes (4 samples); only the last is shorter")
        samples = [tuple(p[i:i + 4]) for p in packets for i in range(1, len(p), 4)]
        self.assertEqual(len(samples), count)
        return samples

    def expected(self, world, band, first_local, n):
        """GetHistory over the same minutes (band-local → UTC with the zone of §6.2)."""
        utc = first_local - datetime.timedelta(minutes=15 * TZ)
        start = int(utc.replace(tzinfo=datetime.timezone.utc).timestamp())
        got_start, samples = world.control("GetHistory", "sxx", band.address, start, start + 60 * (n - 1))
        self.assertEqual(got_start, start)
        return [tuple(s) for s in samples]

    def test_multi_round_fetch(self):
        """§10.4: rounds capped at fetch-cap (--fetch-cap 500, a day of history: three rounds); §10.1 step 8:
        each next round starts at the last sample + 1 minute; everything equals GetHistory exactly."""
        world, band, local = self.logged_in("--days", 1, "--fetch-cap", 500)
        asked = local - datetime.timedelta(days=2)
        cursor, fetched, counts, begin = asked, [], [], None
        for _ in range(8):
            first, count = self.start_round(band, cursor)
            if count == 0:
                break  # §10.1 step 3: "count = 0 → nothing to fetch"
            self.assertGreaterEqual(first, cursor.replace(second=0), "§10.1 step 3: never earlier than asked")
            begin = begin or first
            counts.append(count)
            fetched += self.check_packets(self.transfer(band), count)
            cursor = first + datetime.timedelta(minutes=count)
        self.assertEqual(count, 0, "the rounds reach the band's clock")
        self.assertGreaterEqual(cursor, local.replace(second=0), "§10.1 step 8: until the data reaches now")
        self.assertGreaterEqual(len(counts), 3)
        self.assertTrue(all(c <= 500 for c in counts), counts)
        self.assertEqual(counts[:2], [500, 500])
        self.assertEqual(fetched, self.expected(world, band, begin, len(fetched)))

    def test_acknowledge(self):
        """§10.1 step 7: "a simulator should answer 10 03 01 if it receives" the optional 03."""
        world, band, local = self.logged_in()
        self.assertEqual(band.notify_exchange(FETCH, b"\x03"), b"\x10\x03\x01")

    def test_added_history_is_fetched(self):
        """io.bandgate.Sim1 AddHistory "overwrites the minutes it covers (start minute-aligned, none in the
        future)"; a fetch from that minute returns them (§10.2 samples), and GetHistory agrees."""
        world, band, local = self.logged_in()
        start_local = local.replace(second=0) - datetime.timedelta(minutes=12)
        utc = int((start_local - datetime.timedelta(minutes=15 * TZ)).replace(
            tzinfo=datetime.timezone.utc).timestamp())
        added = [(0x01, 40 + i, 10 + i, 60 + i) for i in range(6)] + [(0x70, 0, 0, 0xff)] * 2
        world.control("AddHistory", "sxa(yyyy)", band.address, utc, added)
        world.fault(band.address, "fetch-cap", GLib.Variant("u", len(added)))
        first, count = self.start_round(band, start_local)
        self.assertEqual((first, count), (start_local, len(added)))
        self.assertEqual(self.check_packets(self.transfer(band), count), added)
        self.assertEqual(self.expected(world, band, first, count), added)

    def test_add_history_refuses_the_future(self):
        """AddHistory: "none in the future" → io.bandgate.Sim1.Error.InvalidArgs."""
        world = self.start()
        future = (int(time.time()) // 60 + 10) * 60
        with self.assertRaises(DBusError) as cm:
            world.control("AddHistory", "sxa(yyyy)", world.bands[0], future, [(1, 1, 1, 1)])
        self.assertEqual(cm.exception.name, SIM_IFACE + ".Error.InvalidArgs")

    def test_drop_at_packet(self):
        """"drop-at-packet" i: the link drops before data packet N of the next round — a link loss (bluez
        §Disconnect: one signal), no 10 02 01."""
        world, band, local = self.logged_in()
        world.fault(band.address, "drop-at-packet", GLib.Variant("i", 3))
        first, count = self.start_round(band, local - datetime.timedelta(hours=3))
        self.assertGreater(count, 12)
        mark = band.rec.mark()
        band.write(FETCH, b"\x02")
        world.client.wait_props(band.path, DEVICE, {"Connected": False, "ServicesResolved": False}, mark)
        iterate(0.3)
        self.assertEqual([p[0] for p in band.values(ACTIVITY, mark)], [0, 1, 2])
        self.assertNotIn(b"\x10\x02\x01", band.values(FETCH, mark))

    def test_corrupt_next(self):
        """"corrupt-next" (su): the next N notifications on the UUID get a byte flipped; the rest are intact."""
        world, band, local = self.logged_in()
        world.fault(band.address, "fetch-cap", GLib.Variant("u", 12))
        world.fault(band.address, "corrupt-next", GLib.Variant("(su)", (ACTIVITY, 1)))
        first, count = self.start_round(band, local - datetime.timedelta(hours=3))
        self.assertEqual(count, 12, "fetch-cap u: samples per history round")
        packets = self.transfer(band)
        samples = self.expected(world, band, first, 12)
        clean = [bytes([i]) + b"".join(bytes(s) for s in samples[4 * i:4 * i + 4]) for i in range(3)]
        self.assertEqual(packets[1:], clean[1:], "only the next one")
        self.assertEqual(len(packets[0]), len(clean[0]))
        self.assertNotEqual(packets[0], clean[0], "a byte flipped")

    def test_truncate_next_any(self):
        """"truncate-next" (su) with "" = any UUID: the next notification loses its last byte(s)."""
        world, band = self.start_band(connect=True)
        band.start_notify(AUTH)
        world.fault(band.address, "truncate-next", GLib.Variant("(su)", ("", 1)))
        short = band.notify_exchange(AUTH, b"\x02\x08", "command")
        self.assertTrue(3 <= len(short) < 19 and short.startswith(b"\x10\x02\x01"), short.hex())
        self.assertEqual(len(band.notify_exchange(AUTH, b"\x02\x08", "command")), 19, "only the next one")


class Events(SimTestCase):
    def test_notify_delay_keeps_order(self):
        """"notify-delay-ms" u: every notification waits this long, order kept. Realtime steps (§9) after
        three walks arrive late and in walking order."""
        world, band = self.start_band(login=True)
        band.start_notify(STEPS)
        world.fault(band.address, "notify-delay-ms", GLib.Variant("u", 400))
        mark, t0 = band.rec.mark(), time.monotonic()
        for _ in range(3):
            world.control("Walk", "su", band.address, 10)
        first = band.next_value(STEPS, mark)[0]
        wait_until(lambda: len(band.values(STEPS, mark)) >= 3, what="three step notifications")
        steps = [le32(v[1:5]) for v in band.values(STEPS, mark)]
        self.assertEqual([b - a for a, b in zip(steps, steps[1:])], [10, 10], steps)
        self.assertGreaterEqual(first.time - t0, 0.35, "delayed by notify-delay-ms")

    def test_button(self):
        """§13: a button press is device event 04 on 0010."""
        world, band = self.start_band(login=True)
        band.start_notify(EVENT)
        mark = band.rec.mark()
        world.control("PressButton", "s", band.address)
        self.assertEqual(band.next_value(EVENT, mark)[1], b"\x04")

    def test_alerts(self):
        """§12.2: header + 2A06 level = one alert; only SMS (5) and call (3) show text; alerts closer than
        ~4.5 s are not shown. GetAlerts: (time, category (255: vibration only), level, text, shown)."""
        world, band = self.start_band(login=True)
        band.write(NEW_ALERT, b"\x05\x01Hello")
        band.write(ALERT_LEVEL, b"\x01", "command")
        band.write(NEW_ALERT, b"\x03\x01Bob")
        band.write(NEW_ALERT, b"\x01\x01mail")
        band.write(NEW_ALERT, b"\x03\x00")  # §12.3: the call ended; nothing to show
        alerts = [tuple(a[1:]) for a in world.control("GetAlerts", "s", band.address)[0]]
        self.assertEqual(alerts, [(5, 1, "Hello", True), (3, 0, "Bob", False), (1, 0, "", False)])
        self.assertEqual(world.band_state(band.address)["alerts-shown"], 1)
        world.control("ClearReceived", "s", band.address)
        band.write(ALERT_LEVEL, b"\x03", "command")
        alerts = [tuple(a[1:]) for a in world.control("GetAlerts", "s", band.address)[0]]
        self.assertEqual(alerts, [(255, 3, "", True)])


class HeartRate(SimTestCase):
    def test_continuous(self):
        """§11.1 15 01 01 starts continuous measurement; §11.2 each reading is 00 <bpm> on 2A37."""
        world, band = self.start_band(login=True)
        world.control("SetHeartRate", "su", band.address, 91)
        band.start_notify(HR_MEAS)
        mark = band.rec.mark()
        band.write(HR_CTRL, b"\x15\x01\x01")
        self.assertEqual(band.next_value(HR_MEAS, mark, timeout=10)[1], b"\x00\x5b")


class Config(SimTestCase):
    def test_responses(self):
        """§14: "10 06 0a 00 01 for a date-format write", "10 0a 01 for display items"."""
        world, band = self.start_band(login=True)
        band.start_notify(CONFIG)
        self.assertEqual(band.notify_exchange(CONFIG, b"\x06\x0a\x00\x03"), b"\x10\x06\x0a\x00\x01")
        self.assertEqual(band.notify_exchange(CONFIG, b"\x0a\x03\x00\x00\x01\x02\x03\x04\x05"),
                         b"\x10\x0a\x01")

    def test_visible_while_connected(self):
        """§1: "While connected to a central the band is normally not discoverable, unless 'visible while
        connected' is enabled" (§14 06 01 00 01). A second adapter scans for it."""
        world, band = self.start_band("--adapters", 2, login=True)
        other = device_path(band.address, "hci1")
        world.client.bluez("/org/bluez/hci1", ADAPTER, "StartDiscovery")
        iterate(2.5)
        self.assertNotIn(other, world.client.objects(), "not advertising while connected")
        band.write(CONFIG, b"\x06\x01\x00\x01")
        world.client.recorder.wait(is_added(other), what="the band on hci1 once visible")
        self.assertTrue(world.band_state(band.address)["visible-while-connected"])


class Values(SimTestCase):
    def test_device_info_and_battery(self):
        """§7: 2A28 "V1.0.1.81", 2A27 8 chars, 2A25 12 chars; §8: battery 20 bytes, level at 1, charging at 2."""
        world, band = self.start_band(login=True)
        self.assertEqual(band.read(SW_REV), b"V1.0.1.81")
        self.assertEqual(len(band.read(HW_REV)), 8)
        self.assertEqual(len(band.read(SERIAL)), 12)
        world.control("SetBattery", "sub", band.address, 42, True)
        battery = band.read(BATTERY)
        self.assertEqual((len(battery), battery[1], battery[2]), (20, 42, 1))

    def test_time_roundtrip(self):
        """§6.1: the time written to 2A2B reads back with its zone; the band's clock (GetBand) follows."""
        world, band = self.start_band(login=True)
        local = set_time(band)
        back = band.read(TIME)
        read_local, tz = parse_ts(back[:7] + back[10:11])
        self.assertEqual((len(back), tz, back[7]), (11, TZ, local.isoweekday()))
        self.assertLess(abs((read_local - local).total_seconds()), 5)
        state = world.band_state(band.address)
        self.assertEqual(state["tz"], TZ)

    def test_set_clock(self):
        """io.bandgate.Sim1 SetClock(utc, tz quarters): 2A2B then reads that time in that zone (§6.1)."""
        world, band = self.start_band(login=True)
        world.control("SetClock", "sxn", band.address, 1577880000, 8)  # 2020-01-01 12:00 UTC
        local, tz = parse_ts(band.read(TIME)[:7] + bytes([8]))
        self.assertEqual(tz, 8)
        self.assertLess(abs((local - datetime.datetime(2020, 1, 1, 14, 0)).total_seconds()), 5)

    def check_steps(self, world, band, length, head):
        """§9: steps (and in the 13-byte form metres and kcal) as GetBand reports them."""
        world.control("Walk", "su", band.address, 25)
        value = band.read(STEPS)
        state = world.band_state(band.address)
        self.assertEqual((len(value), value[0]), (length, head))
        self.assertEqual(le32(value[1:5]), state["steps"])
        if length == 13:
            self.assertEqual((le32(value[5:9]), le32(value[9:13])), (state["distance"], state["calories"]))

    def test_steps_13_bytes(self):
        """§9: the 13-byte form: 0c, steps, metres, kcal (uint32 LE each)."""
        world, band = self.start_band(login=True)
        self.check_steps(world, band, 13, 0x0c)

    def test_steps_5_bytes(self):
        """§9 and --steps-format 5: the 5-byte form: 00, steps uint32 LE."""
        world, band = self.start_band("--steps-format", 5, login=True)
        self.check_steps(world, band, 5, 0x00)


class FactoryReset(SimTestCase):
    def test_new_address(self):
        """§15: 06 0b 00 01 on 0003 wipes the band and it "appear[s] as new devices" under a new (random
        static, §1) address; the old record stays with bluetoothd."""
        world, band = self.start_band(login=True)
        mark = band.rec.mark()
        band.write(CONFIG, b"\x06\x0b\x00\x01")
        world.client.wait_props(band.path, DEVICE, {"Connected": False, "ServicesResolved": False}, mark)
        (new,) = world.control("ListBands")[0]
        self.assertNotEqual(new.upper(), band.address.upper())
        self.assertEqual(int(new[:2], 16) & 0xc0, 0xc0, "random static")
        Band(world, new).discover(timeout=20)
        self.assertIn(band.path, world.client.objects())
        with self.assertRaises(DBusError) as cm:
            world.band_state(band.address)
        self.assertEqual(cm.exception.name, SIM_IFACE + ".Error.UnknownBand")


class Life(SimTestCase):
    def test_reboot(self):
        """§15: 05 on 1531 reboots the band: the link goes (one signal, bluez §Disconnect), the band is silent
        for a while, then advertises again."""
        world, band = self.start_band(login=True)
        mark = band.rec.mark()
        band.write(FW_CTRL, b"\x05")
        world.client.wait_props(band.path, DEVICE, {"Connected": False, "ServicesResolved": False}, mark)
        self.assertTrue(world.band_state(band.address)["rebooting"])
        wait_until(lambda: not world.band_state(band.address)["rebooting"], 20, "the reboot to end")
        self.assertTrue(world.band_state(band.address)["advertising"])
        band.connect()

    def test_add_and_remove_band(self):
        """io.bandgate.Sim1 AddBand (address, no-key) and RemoveBand: a new band is found by scanning; a
        removed one loses its link (bluez §Disconnect: one signal)."""
        world = self.start("--bands", 0)
        address = "C8:0F:10:00:00:42"
        self.assertEqual(world.control("AddBand", "a{sv}", {"address": GLib.Variant("s", address),
                                                            "no-key": GLib.Variant("b", True)})[0], address)
        self.assertFalse(world.band_state(address)["has-key"])
        keyed = world.control("AddBand", "a{sv}", {"key": GLib.Variant("ay", NEW_KEY)})[0]
        self.assertEqual(bytes(world.band_state(keyed)["key"]), NEW_KEY)
        band = Band(world, address)
        band.discover()
        mark = band.connect()[0]
        world.control("RemoveBand", "s", address)
        world.client.wait_props(band.path, DEVICE, {"Connected": False, "ServicesResolved": False}, mark)
        self.assertEqual(world.control("ListBands")[0], [keyed])


if __name__ == "__main__":
    unittest.main(verbosity=2)
