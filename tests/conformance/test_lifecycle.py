#!/usr/bin/python3
"""bluez-5.66.md: Adapter1.RemoveDevice (§GATT objects across disconnects), power loss and Powered=false/true
(§Power and restarts), and bluetoothd restarts, clean and crash (io.bandgate.Sim1 Restart)."""
import unittest

from gi.repository import Gio, GLib

from harness import (ADAPTER, BLUEZ, DEVICE, GATT_IFACES, Band, Pending, SimTestCase, device_path, is_added, iterate,
                     under, variant, wait_until)

HCI0 = "/org/bluez/hci0"


def adapter_change(*names):
    """A PropertiesChanged of hci0's Adapter1 touching any of names."""
    return lambda e: e.path == HCI0 and any(n in (e.changed(ADAPTER) or {}) for n in names)


def name_owner_changed(old=None, new=None):
    """NameOwnerChanged of org.bluez; old/new "" mean lost/gained, None means any."""
    def match(e):
        if e.member != "NameOwnerChanged" or e.args[0] != BLUEZ:
            return False
        return (old is None or (e.args[1] == "") == (old == "")) and (new is None or (e.args[2] == "") == (new == ""))
    return match


def paths_under(objects, prefix):
    return {p for p in objects if p == prefix or p.startswith(prefix + "/")}


class RemoveDevice(SimTestCase):
    def assert_removed_all(self, world, band, before, mark):
        """"removes the device and everything under it, cached attributes included"."""
        removed = {e.args[0] for e in band.rec.all(lambda e: e.member == "InterfacesRemoved", mark)}
        self.assertEqual(removed, paths_under(before, band.path))
        self.assertEqual(paths_under(world.client.objects(), band.path), set())

    def test_connected_device(self):
        """RemoveDevice of a connected band: its objects go and the link with them."""
        world, band = self.start_band(connect=True)
        before, mark = world.client.objects(), band.rec.mark()
        world.client.bluez(HCI0, ADAPTER, "RemoveDevice", variant("(o)", band.path))
        self.assert_removed_all(world, band, before, mark)
        self.assertFalse(world.band_state(band.address)["connected"])

    def test_cached_attributes_go_too(self):
        """RemoveDevice of a disconnected band with cached GATT objects (Cache = always): all go; found again,
        its next connection exports them anew."""
        world, band = self.start_band(connect=True)
        band.disconnect()
        before, mark = world.client.objects(), band.rec.mark()
        self.assertGreater(len(paths_under(before, band.path)), 1, "cached GATT objects")
        world.client.bluez(HCI0, ADAPTER, "RemoveDevice", variant("(o)", band.path))
        self.assert_removed_all(world, band, before, mark)
        band.discover()
        mark = band.connect()[0]
        self.assertTrue(band.rec.all(under(band.path), mark), "exported again")


class Power(SimTestCase):
    def scanning_and_connected(self):
        """A connected band and a discovery session that sees a second band: all must end with the power."""
        world, band = self.start_band("--bands", 2, connect=True)
        mark = band.rec.mark()
        world.client.bluez(HCI0, ADAPTER, "StartDiscovery")
        world.client.wait_props(HCI0, ADAPTER, {"Discovering": True}, mark)
        seen = device_path(world.bands[1])
        wait_until(lambda: "RSSI" in world.client.get_all(seen, DEVICE), what="RSSI of the second band")
        return world, band

    def assert_power_off_signals(self, world, band, mark):
        """bluez §Power: "the device's Connected=false+ServicesResolved=false (one signal), ...
        Powered=false+Discovering=false (one signal). Devices and cached GATT objects stay."""
        lost = world.client.wait_props(band.path, DEVICE, {"Connected": False, "ServicesResolved": False}, mark)
        off = world.client.wait_props(HCI0, ADAPTER, {"Powered": False, "Discovering": False}, mark)
        self.assertEqual(band.rec.all(adapter_change("Powered", "Discovering"), mark), [off])
        self.assert_order(("the link drop", lost), ("Powered=false", off))
        self.assertEqual(band.rec.all(lambda e: e.member == "InterfacesRemoved", mark), [])
        return lost, off

    def test_client_powers_off_and_on(self):
        """bluez §Power: Powered=false: the device's signal, "then the Set reply, then Powered=false+
        Discovering=false"; Powered=true: "the reply, then Powered=true"."""
        world, band = self.scanning_and_connected()
        mark = band.rec.mark()
        pending = world.client.set(HCI0, ADAPTER, "Powered", GLib.Variant("b", False))
        pending.result()
        lost, off = self.assert_power_off_signals(world, band, mark)
        self.assert_order(("the link drop", lost), ("the Set reply", pending.reply), ("Powered=false", off))
        mark = band.rec.mark()
        pending = world.client.set(HCI0, ADAPTER, "Powered", GLib.Variant("b", True))
        pending.result()
        on = world.client.wait_props(HCI0, ADAPTER, {"Powered": True}, mark)
        self.assert_order(("the Set reply", pending.reply), ("Powered=true", on))

    def test_power_lost(self):
        """io.bandgate.Sim1 SetAdapterPowered: "the same signals as a client's Powered=false/true, without a Set
        call"; afterwards the band connects again."""
        world, band = self.scanning_and_connected()
        mark = band.rec.mark()
        world.control("SetAdapterPowered", "sb", "hci0", False)
        self.assert_power_off_signals(world, band, mark)
        world.control("SetAdapterPowered", "sb", "hci0", True)
        world.client.wait_props(HCI0, ADAPTER, {"Powered": True}, mark)
        band.connect()


    def test_rssi_goes_with_the_power(self):
        """bluez §Objects: "RSSI exists only while discovering"; power off ends discovery (Discovering=false),
        so the devices' RSSI goes too."""
        world, band = self.scanning_and_connected()
        mark = band.rec.mark()
        world.control("SetAdapterPowered", "sb", "hci0", False)
        world.client.wait_props(HCI0, ADAPTER, {"Powered": False, "Discovering": False}, mark)
        seen = device_path(world.bands[1])
        self.assertNotIn("RSSI", world.client.get_all(seen, DEVICE), "RSSI of a device while not discovering")


class Restart(SimTestCase):
    """bluez §Power and restarts, played by io.bandgate.Sim1 Restart."""

    def remembered_and_temporary(self):
        """Two bands: one connected and paired (bluetoothd remembers it), one only seen (temporary)."""
        world = self.start("--bands", 2)
        kept, seen = Band(world, world.bands[0]), Band(world, world.bands[1])
        seen.discover()
        kept.discover()
        kept.connect()
        world.client.bluez(kept.path, DEVICE, "Pair")
        return world, kept, seen

    def wait_back(self, world, mark):
        """The name returns under a new unique name; returns (lost, gained) NameOwnerChanged events."""
        rec = world.client.recorder
        lost = rec.wait(name_owner_changed(new=""), mark, what="org.bluez to go")
        gained = rec.wait(name_owner_changed(old=""), mark, what="org.bluez to come back")
        self.assertNotEqual(gained.args[2], lost.args[1], "a new unique name")
        return lost, gained

    def assert_back(self, world, kept, seen, gained):
        """"the adapter and the devices it remembers reappear; GATT objects only after the next connection"."""
        rec = world.client.recorder
        rec.wait(is_added(kept.path), gained.index, what="the remembered device")
        objects = world.client.objects()
        self.assertIn(HCI0, objects)
        self.assertNotIn(seen.path, objects, "a temporary device is not remembered")
        self.assertEqual(paths_under(objects, kept.path), {kept.path}, "no GATT objects before connecting")
        self.assertEqual((objects[kept.path][DEVICE]["Paired"], objects[kept.path][DEVICE]["Bonded"]), (True, True),
                         "a paired device comes back paired")
        self.assertTrue(all(e.sender == gained.args[2] for e in rec.all(is_added(kept.path), gained.index)))
        mark = kept.connect()[0]
        self.assertTrue(any(set(e.args[1]) & set(GATT_IFACES) for e in rec.all(under(kept.path), mark)))

    def test_clean(self):
        """"on a clean stop the adapter goes Powered=false, links drop and InterfacesRemoved is sent for every
        object", then the name is released."""
        world, kept, seen = self.remembered_and_temporary()
        before, mark = world.client.objects(), kept.rec.mark()
        world.control("Restart", "su", "clean", 300)
        lost, gained = self.wait_back(world, mark)
        rec = world.client.recorder
        off = rec.find(adapter_change("Powered"), mark)
        drop = rec.find(lambda e: e.path == kept.path and (e.changed(DEVICE) or {}).get("Connected") is False, mark)
        removed = rec.all(lambda e: e.member == "InterfacesRemoved", mark)
        self.assertEqual({e.args[0] for e in removed}, set(before), "InterfacesRemoved for every object")
        self.assert_order(("Powered=false", off), ("the first InterfacesRemoved", removed[0]),
                          ("the last InterfacesRemoved", removed[-1]), ("the name released", lost))
        self.assert_order(("the link drop", drop), ("the first InterfacesRemoved", removed[0]))
        self.assert_back(world, kept, seen, gained)

    def test_crash(self):
        """"after a crash the name simply vanishes and pending calls get no reply (the caller's timeout
        fires)". A Disconnect (2 s of disconnect timer) is the pending call."""
        world, kept, seen = self.remembered_and_temporary()
        mark = kept.rec.mark()
        old = world.client.send(BLUEZ, kept.path, DEVICE, "Disconnect")
        world.client.sync()  # the Disconnect is pending at bluetoothd before it crashes
        world.control("Restart", "su", "crash", 300)
        lost, gained = self.wait_back(world, mark)
        rec = world.client.recorder
        after = rec.all(lambda e: e.kind == "signal" and e.sender == lost.args[1], lost.index)
        self.assertEqual(after, [], "nothing more from the old name")
        quiet = rec.all(lambda e: e.member in ("InterfacesRemoved",) and e.sender == lost.args[1], mark)
        self.assertEqual(quiet, [], "no InterfacesRemoved on a crash")
        self.assert_no_answer(old, lost.args[1])
        self.assert_back(world, kept, seen, gained)

    def test_the_name_returns_with_its_object_manager(self):
        """"A client watches the org.bluez name owner and rebuilds its view": bluetoothd attaches its
        ObjectManager before its main loop runs, so a GetManagedObjects sent the instant the name reappears
        (from the bus thread, as the NameOwnerChanged arrives) is answered. GLib's object manager client stops
        listening to an owner that refused it."""
        world, _, _ = self.remembered_and_temporary()
        client = world.new_client()
        early = []

        def ask_at_once(conn, msg, incoming):
            if (incoming and msg.get_message_type() == Gio.DBusMessageType.SIGNAL
                    and msg.get_member() == "NameOwnerChanged" and not early):
                name, _, new = msg.get_body().unpack()
                if name == BLUEZ and new:
                    call = Gio.DBusMessage.new_method_call(new, "/", "org.freedesktop.DBus.ObjectManager",
                                                           "GetManagedObjects")
                    early.append(conn.send_message(call, Gio.DBusSendMessageFlags.NONE)[1])
            return msg

        client.conn.add_filter(ask_at_once)
        world.control("Restart", "su", "crash", 300)
        wait_until(lambda: early, what="org.bluez to come back")
        objects = Pending(client, early[0], "GetManagedObjects at the name's return").result()[0]
        self.assertIn("/org/bluez", objects)

    def assert_no_answer(self, pending, old_owner):
        """No reply from the crashed daemon. (A dbus-daemon may itself answer NoReply for a vanished peer;
        that is the bus, not bluetoothd.)"""
        iterate(2.5)
        reply = pending.reply
        if reply is not None:
            self.assertNotEqual(reply.sender, old_owner, "the crashed daemon answered")
            self.assertEqual((reply.kind, reply.error_name), ("error", "org.freedesktop.DBus.Error.NoReply"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
