#!/usr/bin/python3
"""bluez-5.66.md §Objects (GATT paths, 1800, Flags, MTU), §Reads, writes, notifications, and §GATT objects
across disconnects (the three [GATT] Cache modes, played by --gatt-cache)."""
import re
import socket
import time
import unittest

from gi.repository import GLib

from harness import (ALERT_LEVEL, AUTH, CCCD, DEVICE, ERR, GATT_CHR, GATT_DESC, GATT_IFACES, GATT_SERVICE,
                     NEW_ALERT, SW_REV, TIME, Band, SimTestCase, huami, iterate, sig, under, variant)

EXPORTED_SERVICES = {sig("1801"), sig("180a"), huami("1530"), sig("1811"), sig("1802"), sig("180d"), sig("fee0"),
                     sig("fee1")}  # miband2-protocol.md §2.2 without 1800 (bluez §Objects)
# miband2-protocol.md §16.1: "give 0004, 0005, 0006, 0007, 0010, 0003, 0009, 2A37, 2A2B a notify flag".
NOTIFYING = {huami(u) for u in ("0004", "0005", "0006", "0007", "0010", "0003", "0009")} | {sig("2a37"), TIME}


def gatt_objects(client, device):
    """{path: {iface: props}} of the GATT objects under the device."""
    return {p: i for p, i in client.objects().items() if p.startswith(device + "/") and set(i) & set(GATT_IFACES)}


def handle(path):
    return int(path[-4:], 16)


class Tree(SimTestCase):
    def test_paths_and_parents(self):
        """bluez §Objects: GATT objects below the device as serviceXXXX, charYYYY, descZZZZ (hex handles, 4
        digits, lower case), each under its parent."""
        world, band = self.start_band(connect=True)
        for path, ifaces in gatt_objects(world.client, band.path).items():
            parent = path.rsplit("/", 1)[0]
            if GATT_SERVICE in ifaces:
                self.assertRegex(path, "^" + re.escape(band.path) + "/service[0-9a-f]{4}$")
                self.assertEqual(ifaces[GATT_SERVICE]["Device"], band.path)
            elif GATT_CHR in ifaces:
                self.assertRegex(path, r"/service[0-9a-f]{4}/char[0-9a-f]{4}$")
                self.assertEqual(ifaces[GATT_CHR]["Service"], parent)
                self.assertGreater(handle(path), handle(parent), "a characteristic follows its service")
            else:
                self.assertRegex(path, r"/char[0-9a-f]{4}/desc[0-9a-f]{4}$")
                self.assertEqual(ifaces[GATT_DESC]["Characteristic"], parent)
                self.assertGreater(handle(path), handle(parent), "a descriptor follows its characteristic")

    def test_gap_not_exported(self):
        """bluez §Objects: "The GAP service (1800) is not exported as GattService1 ..., though it is in
        Device1.UUIDs; 1801 is exported"; the rest is miband2-protocol.md §2.2."""
        world, band = self.start_band(connect=True)
        objects = gatt_objects(world.client, band.path)
        services = {i[GATT_SERVICE]["UUID"] for i in objects.values() if GATT_SERVICE in i}
        self.assertEqual(services, EXPORTED_SERVICES)
        uuids = world.client.get(band.path, DEVICE, "UUIDs")
        self.assertIn(sig("1800"), uuids)
        self.assertIn(sig("1801"), uuids)

    def test_where_characteristics_live(self):
        """miband2-protocol.md §16.1: "Put 2A2B inside the FEE0 service, 0009 inside FEE1"."""
        world, band = self.start_band(connect=True)
        objects = world.client.objects()
        for uuid, service in ((TIME, sig("fee0")), (AUTH, sig("fee1"))):
            parent = objects[band.chr(uuid)][GATT_CHR]["Service"]
            self.assertEqual(objects[parent][GATT_SERVICE]["UUID"], service)

    def test_flags(self):
        """bluez §Objects: "Descriptors have no Flags"; characteristics have them, with notify where §16.1
        says."""
        world, band = self.start_band(connect=True)
        for path, ifaces in gatt_objects(world.client, band.path).items():
            if GATT_DESC in ifaces:
                self.assertNotIn("Flags", ifaces[GATT_DESC], path)
            elif GATT_CHR in ifaces:
                chr_ = ifaces[GATT_CHR]
                self.assertTrue(chr_["Flags"], path)
                if chr_["UUID"] in NOTIFYING:
                    self.assertIn("notify", chr_["Flags"], chr_["UUID"])

    def test_mtu_only_while_connected(self):
        """bluez §Objects: "MTU exists on characteristics only while connected"."""
        world, band = self.start_band(connect=True)
        chrs = [p for p, i in gatt_objects(world.client, band.path).items() if GATT_CHR in i]
        for path in chrs:
            self.assertEqual(world.client.get(path, GATT_CHR, "MTU"), 23, path)
        band.disconnect()
        for path in chrs:
            self.assertNotIn("MTU", world.client.get_all(path, GATT_CHR), path)

    def test_value_from_the_start(self):
        """Every GattCharacteristic1 carries Value (ay), empty before the first read or notification, in its
        InterfacesAdded, GetManagedObjects and GetAll: 5.66 gatt-client.c characteristic_value_exists() reads
        bluetoothd's attribute cache, which always succeeds (checked against the real daemon). Descriptors the
        same (source only: descriptor_value_exists()). A read fills it."""
        world, band = self.start_band()
        mark = band.rec.mark()
        band.connect()
        added = {e.args[0]: e for e in band.rec.all(under(band.path), mark) if e.member == "InterfacesAdded"}
        objects = gatt_objects(world.client, band.path)
        self.assertEqual(set(added), set(objects))
        for path, e in added.items():
            for iface in set(e.args[1]) & {GATT_CHR, GATT_DESC}:
                raw = e.body.get_child_value(1).lookup_value(iface, None).lookup_value("Value", None)
                self.assertIsNotNone(raw, f"Value in the InterfacesAdded of {path}")
                self.assertEqual((raw.get_type_string(), bytes(raw.unpack())), ("ay", b""), path)
        for path, ifaces in objects.items():
            for iface in set(ifaces) & {GATT_CHR, GATT_DESC}:
                self.assertEqual(bytes(ifaces[iface].get("Value", b"absent")), b"", path)
                self.assertEqual(bytes(world.client.get_all(path, iface).get("Value", b"absent")), b"", path)
        band.read(SW_REV)
        self.assertEqual(bytes(world.client.get_all(band.chr(SW_REV), GATT_CHR)["Value"]), b"V1.0.1.81")
        self.assertEqual(bytes(world.client.objects()[band.chr(SW_REV)][GATT_CHR]["Value"]), b"V1.0.1.81")


class ReadWrite(SimTestCase):
    def test_read_signals_value_before_reply(self):
        """bluez §Reads: "ReadValue emits PropertiesChanged(Value) before its reply, even when the value did
        not change"; 2A28 is "V1.0.1.81" (miband2-protocol.md §2.2)."""
        world, band = self.start_band(connect=True)
        path = band.chr(SW_REV)
        for _ in range(2):
            mark = band.rec.mark()
            pending = world.client.send("org.bluez", path, GATT_CHR, "ReadValue", variant("(a{sv})", {}))
            self.assertEqual(bytes(pending.result()[0]), b"V1.0.1.81")
            value = band.next_value(SW_REV, mark)[0]
            self.assert_order(("PropertiesChanged(Value)", value), ("the ReadValue reply", pending.reply))

    def test_read_is_one_value_signal(self):
        """bluez §Reads: a read changes Value once, whatever the notify sessions ("a gateway that also reads a
        characteristic ... must not treat each Value change as a new notification")."""
        world, band = self.start_band(login=True)
        Band(world, band.address, world.new_client()).start_notify(huami("0006"))
        band.start_notify(huami("0006"))
        mark = band.rec.mark()
        self.assertEqual(len(band.read(huami("0006"))), 20)
        iterate(0.3)
        self.assertEqual(len(band.values(huami("0006"), mark)), 1)

    def test_read_offset(self):
        """The "offset" option of ReadValue (bluez §Reads); past the end: InvalidArguments "Invalid offset"."""
        world, band = self.start_band(connect=True)
        self.assertEqual(band.read(SW_REV, {"offset": GLib.Variant("q", 1)}), b"1.0.1.81")
        self.assert_error(lambda: band.read(SW_REV, {"offset": GLib.Variant("q", 20)}),
                          ERR + "InvalidArguments", "Invalid offset")

    def test_errors(self):
        """bluez §Reads, writes: read of a write-only characteristic → NotPermitted "Read not permitted";
        StartNotify without notify → NotSupported "Operation is not supported"; an unknown write type →
        NotSupported; a CCCD WriteValue → NotPermitted "Write not permitted"; a write command longer than
        MTU−3 → Failed "Failed to initiate write"."""
        world, band = self.start_band(connect=True)
        self.assert_error(lambda: band.read(ALERT_LEVEL), ERR + "NotPermitted", "Read not permitted")
        self.assert_error(lambda: band.start_notify(SW_REV), ERR + "NotSupported", "Operation is not supported")
        self.assert_error(lambda: band.write(NEW_ALERT, b"\x05\x01", "bogus"), ERR + "NotSupported")
        cccd = self.cccd_of(world, band, AUTH)
        self.assert_error(lambda: world.client.bluez(cccd, GATT_DESC, "WriteValue",
                                                     variant("(aya{sv})", b"\x01\x00", {})),
                          ERR + "NotPermitted", "Write not permitted")
        self.assert_error(lambda: band.write(ALERT_LEVEL, bytes(21), "command"), ERR + "Failed",
                          "Failed to initiate write")

    def cccd_of(self, world, band, uuid):
        chr_path = band.chr(uuid)
        for path, ifaces in world.client.objects().items():
            if ifaces.get(GATT_DESC, {}).get("Characteristic") == chr_path and ifaces[GATT_DESC]["UUID"] == CCCD:
                return path
        self.fail(f"no CCCD under {chr_path}")

    def test_write_types(self):
        """bluez §Reads, writes: "WriteValue options: type = "request" | "command" | "reliable""; each reaches
        the band (io.bandgate.Sim1 GetReceived), in order."""
        world, band = self.start_band(login=True)
        world.control("ClearReceived", "s", band.address)
        for n, kind in enumerate(("request", "command", "reliable", None)):
            band.write(NEW_ALERT, bytes([0x05, 0x01, 0x41 + n]), kind)
        writes = [(uuid, bytes(v)) for _, uuid, v in world.control("GetReceived", "s", band.address)[0]]
        self.assertEqual(writes, [(NEW_ALERT, bytes([5, 1, 0x41 + n])) for n in range(4)])


class SlowBand(SimTestCase):
    """att-delay-ms: a read or write request is answered that much later (the VM measured 27 ms for one ATT
    round trip), its Value signal before its reply."""

    def send_write(self, world, band, uuid, value, kind):
        return world.client.send("org.bluez", band.chr(uuid), GATT_CHR, "WriteValue",
                                 variant("(aya{sv})", value, {"type": GLib.Variant("s", kind)}))

    def received(self, world, band):
        return [(uuid, bytes(v)) for _, uuid, v in world.control("GetReceived", "s", band.address)[0]]

    def test_requests_answered_late(self):
        """A read and a Write Request each take att-delay-ms (a lower bound only, which a slow machine cannot
        break); the read's Value signal comes before its reply, the write reaches the band."""
        world, band = self.start_band(login=True)
        world.fault(band.address, "att-delay-ms", GLib.Variant("u", 400))
        mark, t0 = band.rec.mark(), time.monotonic()
        read = world.client.send("org.bluez", band.chr(SW_REV), GATT_CHR, "ReadValue", variant("(a{sv})", {}))
        self.assertEqual(bytes(read.result()[0]), b"V1.0.1.81")
        self.assertGreaterEqual(read.reply.time - t0, 0.35)
        self.assert_order(("PropertiesChanged(Value)", band.next_value(SW_REV, mark)[0]), ("the reply", read.reply))
        world.control("ClearReceived", "s", band.address)
        t0 = time.monotonic()
        write = self.send_write(world, band, NEW_ALERT, b"\x05\x01", "request")
        write.result()
        self.assertGreaterEqual(write.reply.time - t0, 0.35)
        self.assertEqual(self.received(world, band), [(NEW_ALERT, b"\x05\x01")])

    def test_requests_the_link_outlives_not(self):
        """A request still unanswered when the link goes fails with Failed "Operation failed" (5.66
        gatt-client.c: a request that ends with no ATT error); one sent once the link is gone fails with Failed
        "Not connected" (bluez §Reads, writes: on cached objects while disconnected). A Write Command is
        answered at once and reaches the band before a Write Request made just before it: bluetoothd sends
        queued commands ahead of queued requests (5.66 shared/att.c pick_next_send_op).

        The band answers nothing in this test (att-delay-ms of ten minutes), so the requests are in flight for
        as long as the test needs; Client.sync makes sure bluetoothd has them before DropLink, which comes on
        the simulator's other connection and could otherwise overtake them."""
        world, band = self.start_band(login=True)
        world.fault(band.address, "att-delay-ms", GLib.Variant("u", 600000))
        world.control("ClearReceived", "s", band.address)
        request = self.send_write(world, band, NEW_ALERT, b"\x05\x01", "request")
        self.send_write(world, band, ALERT_LEVEL, b"\x01", "command").result()
        self.assertIsNone(request.reply, "the command is answered while the request waits")
        read = world.client.send("org.bluez", band.chr(SW_REV), GATT_CHR, "ReadValue", variant("(a{sv})", {}))
        world.client.sync()
        self.assertEqual(self.received(world, band), [(ALERT_LEVEL, b"\x01")], "the command overtook the request")
        mark = band.rec.mark()
        world.control("DropLink", "s", band.address)
        self.assert_error(request, ERR + "Failed", "Operation failed")
        self.assert_error(read, ERR + "Failed", "Operation failed")
        world.client.wait_props(band.path, DEVICE, {"Connected": False}, mark)
        self.assertEqual(self.received(world, band), [(ALERT_LEVEL, b"\x01")], "the request never reached it")
        self.assert_error(lambda: band.read(SW_REV), ERR + "Failed", "Not connected")


class NotifySessions(SimTestCase):
    def test_start_notify_order_and_repeat(self):
        """bluez §Reads: "StartNotify: Notifying=true, then the reply; the same client again: success"."""
        world, band = self.start_band(connect=True)
        mark = band.rec.mark()
        pending = world.client.send("org.bluez", band.chr(AUTH), GATT_CHR, "StartNotify")
        pending.result()
        on = world.client.wait_props(band.chr(AUTH), GATT_CHR, {"Notifying": True}, mark)
        self.assert_order(("Notifying=true", on), ("the StartNotify reply", pending.reply))
        band.start_notify(AUTH)

    def test_every_session_gets_its_own_signal(self):
        """bluez §Reads: "Each D-Bus client has its own session, and every session gets its own
        PropertiesChanged(Value) per notification (two sessions: two signals)"."""
        world, band = self.start_band(connect=True)
        other = Band(world, band.address, world.new_client())
        band.start_notify(AUTH)
        other.start_notify(AUTH)
        self.assert_signals_per_notification(band, 2)
        band.stop_notify(AUTH)
        self.assert_signals_per_notification(band, 1)

    def assert_signals_per_notification(self, band, n):
        """One auth challenge (02 08 → 10 02 01 R, §4.3) is one notification; count its Value signals."""
        mark = band.rec.mark()
        band.write(AUTH, b"\x02\x08", "command")
        band.next_value(AUTH, mark)
        band.client.sync()  # the sessions' signals of one notification leave bluetoothd together
        values = band.values(AUTH, mark)
        self.assertEqual(len(values), n, f"{n} session(s)")
        self.assertEqual(len(set(values)), 1, "the same notification")

    def test_client_leaving_loses_its_session(self):
        """bluez §Reads: sessions are per D-Bus client; one that leaves the bus loses it (the last one going
        turns Notifying false and the band's CCCD off)."""
        world, band = self.start_band(connect=True)
        leaver = Band(world, band.address, world.new_client())
        leaver.start_notify(AUTH)
        self.assertIn(AUTH, world.band_state(band.address)["cccd"])
        mark = band.rec.mark()
        leaver.client.close()
        world.client.wait_props(band.chr(AUTH), GATT_CHR, {"Notifying": False}, mark)
        self.assertNotIn(AUTH, world.band_state(band.address)["cccd"])

    def test_stop_notify(self):
        """bluez §Reads: "StopNotify: Notifying=false, then the reply; without a session: Failed "No notify
        session started""."""
        world, band = self.start_band(connect=True)
        band.start_notify(AUTH)
        mark = band.rec.mark()
        pending = world.client.send("org.bluez", band.chr(AUTH), GATT_CHR, "StopNotify")
        pending.result()
        off = world.client.wait_props(band.chr(AUTH), GATT_CHR, {"Notifying": False}, mark)
        self.assert_order(("Notifying=false", off), ("the StopNotify reply", pending.reply))
        self.assert_error(lambda: band.stop_notify(AUTH), ERR + "Failed", "No notify session started")


class AcquireNotify(SimTestCase):
    def acquire(self, world, band):
        """AcquireNotify: "NotifyAcquired=true, then the reply with a SOCK_SEQPACKET fd and the MTU"."""
        mark = band.rec.mark()
        pending = world.client.send("org.bluez", band.chr(AUTH), GATT_CHR, "AcquireNotify",
                                    variant("(a{sv})", {}))
        _, mtu = pending.result()
        acquired = world.client.wait_props(band.chr(AUTH), GATT_CHR, {"NotifyAcquired": True}, mark)
        self.assert_order(("NotifyAcquired=true", acquired), ("the AcquireNotify reply", pending.reply))
        self.assertEqual(mtu, world.client.get(band.chr(AUTH), GATT_CHR, "MTU"))
        self.assertEqual(len(pending.reply.fds), 1)
        sock = socket.socket(fileno=pending.reply.fds[0])
        self.addCleanup(sock.close)
        self.assertEqual(sock.type, socket.SOCK_SEQPACKET)
        return sock

    def test_one_datagram_per_notification(self):
        """bluez §Reads: "exactly one datagram per notification, no Value signals"."""
        world, band = self.start_band(connect=True)
        sock = self.acquire(world, band)
        mark = band.rec.mark()
        for _ in range(2):
            band.write(AUTH, b"\x02\x08", "command")
        sock.settimeout(5)
        for _ in range(2):
            packet = sock.recv(512)
            self.assertEqual((len(packet), packet[:3]), (19, b"\x10\x02\x01"), "one whole challenge (§4.3)")
        sock.setblocking(False)
        iterate(0.3)
        self.assertRaises(BlockingIOError, sock.recv, 512)
        self.assertEqual(band.values(AUTH, mark), [], "no Value signals while acquired")

    def test_errors_while_acquired(self):
        """bluez §Reads: "StartNotify or AcquireNotify while acquired: NotPermitted "Notify acquired""."""
        world, band = self.start_band(connect=True)
        self.acquire(world, band)
        self.assert_error(lambda: band.start_notify(AUTH), ERR + "NotPermitted", "Notify acquired")
        self.assert_error(lambda: world.client.bluez(band.chr(AUTH), GATT_CHR, "AcquireNotify",
                                                     variant("(a{sv})", {})), ERR + "NotPermitted", "Notify acquired")

    def test_closing_releases(self):
        """bluez §Reads: "Closing the fd turns NotifyAcquired false 1–2 s later"."""
        world, band = self.start_band(connect=True)
        sock = self.acquire(world, band)
        iterate(0.3)
        self.assertIsNone(band.rec.find(lambda e: "NotifyAcquired" in (e.changed(GATT_CHR) or {}) and
                                        not e.changed()["NotifyAcquired"]), "released before the close")
        mark, closed = band.rec.mark(), time.monotonic()
        sock.close()
        released = world.client.wait_props(band.chr(AUTH), GATT_CHR, {"NotifyAcquired": False}, mark, timeout=10)
        self.assertGreaterEqual(released.time - closed, 0.9, "1–2 s later, not at once (a lower bound only)")
        self.acquire(world, band)

    def test_in_progress_with_session(self):
        """bluez §Reads: AcquireNotify "With a StartNotify session open: InProgress "In Progress""."""
        world, band = self.start_band(connect=True)
        band.start_notify(AUTH)
        self.assert_error(lambda: world.client.bluez(band.chr(AUTH), GATT_CHR, "AcquireNotify",
                                                     variant("(a{sv})", {})), ERR + "InProgress", "In Progress")


class Disconnected(SimTestCase):
    def test_cached_objects_while_disconnected(self):
        """bluez §Reads: "While disconnected, on cached objects: ReadValue/WriteValue → Failed "Not
        connected"; StartNotify → success (registered on reconnect), again → InProgress "In Progress""."""
        world, band = self.start_band(connect=True)
        band.disconnect()
        self.assert_error(lambda: band.read(SW_REV), ERR + "Failed", "Not connected")
        self.assert_error(lambda: band.write(NEW_ALERT, b"\x05\x01"), ERR + "Failed", "Not connected")
        band.start_notify(AUTH)
        self.assert_error(lambda: band.start_notify(AUTH), ERR + "InProgress", "In Progress")
        mark, reply, resolved = band.connect()
        on = world.client.wait_props(band.chr(AUTH), GATT_CHR, {"Notifying": True}, mark)
        self.assert_order(("the reply", reply), ("Notifying=true", on), ("ServicesResolved=true", resolved))
        self.assertIn(AUTH, world.band_state(band.address)["cccd"], "registered on reconnect")


class Cache(SimTestCase):
    """bluez §GATT objects across disconnects: main.conf [GATT] Cache = always | yes | no."""

    def cycle(self, *sim_args, pair=False):
        """Connect (pairing if asked), StartNotify on auth, disconnect. Returns the world, the band, the
        exported GATT paths and the mark before the disconnect."""
        world, band = self.start_band(*sim_args, connect=True)
        if pair:
            world.client.bluez(band.path, DEVICE, "Pair")
        band.start_notify(AUTH)
        exported = set(gatt_objects(world.client, band.path))
        mark = band.disconnect()
        world.client.sync()  # whatever bluetoothd does at Connected=false has reached us
        return world, band, exported, mark

    def assert_kept(self, world, band, exported, mark):
        self.assertEqual(band.rec.all(under(band.path), mark), [], "no InterfacesRemoved")
        self.assertEqual(set(gatt_objects(world.client, band.path)), exported)

    def assert_removed_then_back(self, world, band, exported, mark):
        """Every GATT object gets its InterfacesRemoved, and they are exported again after the next connection
        (reply, InterfacesAdded, ServicesResolved=true)."""
        removed = {e.args[0] for e in band.rec.all(under(band.path), mark)}
        self.assertEqual(removed, exported)
        self.assertEqual(gatt_objects(world.client, band.path), {})
        mark, reply, resolved = band.connect()
        added = band.rec.all(under(band.path), mark)
        self.assertEqual({e.args[0] for e in added}, exported)
        self.assert_order(("the reply", reply), ("InterfacesAdded", added[0]), ("ServicesResolved", resolved))

    def test_always(self):
        """Cache = always, the default: objects stay, and "every StartNotify session stays registered
        (Notifying stays true)"."""
        world, band, exported, mark = self.cycle()
        self.assert_kept(world, band, exported, mark)
        self.assertIs(world.client.get(band.chr(AUTH), GATT_CHR, "Notifying"), True)

    def test_always_after_link_loss(self):
        """Cache = always across a link loss too: objects and sessions stay, re-armed before
        ServicesResolved=true on the next connection."""
        world, band = self.start_band(connect=True)
        band.start_notify(AUTH)
        mark = band.rec.mark()
        world.control("DropLink", "s", band.address)
        world.client.wait_props(band.path, DEVICE, {"Connected": False}, mark)
        world.client.sync()
        self.assertEqual(band.rec.all(under(band.path), mark), [], "no InterfacesRemoved")
        self.assertIs(world.client.get(band.chr(AUTH), GATT_CHR, "Notifying"), True)
        mark, reply, resolved = band.connect()
        on = world.client.wait_props(band.chr(AUTH), GATT_CHR, {"Notifying": True}, mark)
        self.assert_order(("the reply", reply), ("Notifying=true", on), ("ServicesResolved=true", resolved))
        self.assertEqual(world.client.get(band.chr(AUTH), GATT_CHR, "MTU"), 23, "MTU again while connected")

    def test_no_after_link_loss(self):
        """Cache = no: a link loss removes them as a Disconnect does."""
        world, band = self.start_band("--gatt-cache", "no", connect=True)
        exported, mark = set(gatt_objects(world.client, band.path)), band.rec.mark()
        world.control("DropLink", "s", band.address)
        world.client.wait_props(band.path, DEVICE, {"Connected": False}, mark)
        world.client.sync()
        self.assert_removed_then_back(world, band, exported, mark)

    def test_always_explicit(self):
        """--gatt-cache always is the same as the default."""
        world, band, exported, mark = self.cycle("--gatt-cache", "always")
        self.assert_kept(world, band, exported, mark)

    def test_yes_unpaired(self):
        """Cache = yes "keeps them only for bonded devices — for an unpaired Mi Band 2 they go"."""
        self.assert_removed_then_back(*self.cycle("--gatt-cache", "yes"))

    def test_yes_paired(self):
        """Cache = yes keeps the objects of a bonded device."""
        world, band, exported, mark = self.cycle("--gatt-cache", "yes", pair=True)
        self.assert_kept(world, band, exported, mark)

    def test_no(self):
        """Cache = no "removes them on every disconnect (InterfacesRemoved), and they are exported again
        after the next connection" — bonded or not."""
        self.assert_removed_then_back(*self.cycle("--gatt-cache", "no", pair=True))


if __name__ == "__main__":
    unittest.main(verbosity=2)
