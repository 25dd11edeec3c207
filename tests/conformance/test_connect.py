#!/usr/bin/python3
"""bluez-5.66.md §Connect and §Disconnect and link loss: reply and signal orders, the Connected=true that may
never come (--connected-signal), Modalias, the errors and the connect faults of io.bandgate.Sim1."""
import time
import unittest

from gi.repository import GLib

from harness import ADAPTER, AUTH, DEVICE, ERR, EVENT, GATT_IFACES, Band, SimTestCase, iterate, sig, under


def device_props(band, *names):
    """PropertiesChanged of the band's Device1 touching any of names."""
    def match(e):
        ch = e.changed(DEVICE)
        return e.path == band.path and ch is not None and any(n in ch for n in names)
    return match


def modalias(pnp_id):
    """The Modalias bluetoothd derives from a PnP ID (2A50: source, vendor, product, version; LE16 each but
    the source byte): "bluetooth:vVVVVpPPPPdDDDD" for a SIG vendor id, "usb:…" for a USB one."""
    source = {1: "bluetooth", 2: "usb"}[pnp_id[0]]
    vendor, product, version = (int.from_bytes(pnp_id[i:i + 2], "little") for i in (1, 3, 5))
    return f"{source}:v{vendor:04X}p{product:04X}d{version:04X}"


class Connect(SimTestCase):
    def test_reply_then_gatt_objects_then_resolved(self):
        """bluez §Connect: "reply, every GATT object's InterfacesAdded, then ServicesResolved=true"."""
        world = self.start()
        band = Band(world, world.bands[0])
        band.discover()
        mark, reply, resolved = band.connect()
        added = band.rec.all(under(band.path), mark)
        self.assertTrue(added, "GATT objects are exported on the first connection")
        self.assert_order(("the Connect reply", reply), ("the first GATT InterfacesAdded", added[0]),
                          ("the last GATT InterfacesAdded", added[-1]), ("ServicesResolved=true", resolved))
        self.assertTrue(all(e.member == "InterfacesAdded" for e in added))
        exported = [p for p, i in world.client.objects().items() if p.startswith(band.path + "/")
                    and set(i) & set(GATT_IFACES)]
        self.assertEqual(sorted(e.args[0] for e in added), sorted(exported), "every GATT object, once")

    def test_connected_signal_always(self):
        """--connected-signal always: the other order of bluez §Connect ("on real controllers the other order
        is more common"): Connected=true is signalled; Get("Connected") is true."""
        world = self.start("--connected-signal", "always")
        band = Band(world, world.bands[0])
        band.discover()
        mark = band.connect()[0]
        self.assertIsNotNone(band.rec.find(device_props(band, "Connected"), mark), "Connected=true signalled")
        self.assertTrue(world.client.get(band.path, DEVICE, "Connected"))

    def test_connected_signal_never(self):
        """bluez §Connect: "Connected=true is often never signalled ... Get("Connected") is true; the next
        signal is Connected=false"."""
        world = self.start("--connected-signal", "never")
        band = Band(world, world.bands[0])
        band.discover()
        mark = band.connect()[0]
        self.assertTrue(world.client.get(band.path, DEVICE, "Connected"))
        world.control("DropLink", "s", band.address)
        lost = world.client.wait_props(band.path, DEVICE, {"Connected": False}, mark)
        first = band.rec.find(device_props(band, "Connected"), mark)
        self.assertIs(first, lost, "the first Connected signal is Connected=false")

    def test_modalias_after_first_connection(self):
        """bluez §Objects: "Modalias comes from the band's PnP ID after the first connection": absent before,
        then the one the band's own 2A50 (miband2-protocol.md §2.2) gives."""
        world, band = self.start_band()
        self.assertNotIn("Modalias", world.client.get_all(band.path, DEVICE))
        band.connect()
        self.assertEqual(world.client.get(band.path, DEVICE, "Modalias"), modalias(band.read(sig("2a50"))))

    def test_paired_stays_false(self):
        """bluez §Connect: the Mi Band 2 authenticates at the application level, "no BlueZ Pair is needed,
        so Paired stays false"."""
        world, band = self.start_band(login=True)
        self.assertIs(world.client.get(band.path, DEVICE, "Paired"), False)

    def test_reconnect_with_cached_attributes(self):
        """bluez §Connect: "Reconnecting with cached attributes: reply, Modalias, the kept notify sessions
        re-registered (Notifying=true, the band's CCCDs written), then ServicesResolved=true"."""
        world, band = self.start_band(connect=True)
        band.start_notify(AUTH)
        band.start_notify(EVENT)
        band.disconnect()
        mark, reply, resolved = band.connect()
        modalias = band.rec.find(device_props(band, "Modalias"), mark)
        for uuid in (AUTH, EVENT):
            notifying = world.client.wait_props(band.chr(uuid), "org.bluez.GattCharacteristic1",
                                                {"Notifying": True}, mark)
            self.assert_order(("the reply", reply), ("Modalias", modalias), (f"Notifying=true on {uuid}", notifying),
                              ("ServicesResolved=true", resolved))
        self.assertEqual(band.rec.all(under(band.path), mark), [], "cached objects are not exported again")
        self.assertLessEqual({AUTH, EVENT}, set(world.band_state(band.address)["cccd"]), "CCCDs written")

    def test_connect_when_connected(self):
        """bluez §Connect: "Connect on a connected device: success at once"."""
        world, band = self.start_band(connect=True)
        world.client.bluez(band.path, DEVICE, "Connect")
        self.assertTrue(world.client.get(band.path, DEVICE, "ServicesResolved"))


class ConnectErrors(SimTestCase):
    def absent_band(self, timeout_ms):
        """A discovered band that went out of range, whose Connect fails after timeout_ms (the
        connect-timeout-ms fault stands in for the kernel's 40 s)."""
        world, band = self.start_band()
        world.control("SetInRange", "sb", band.address, False)
        world.fault(band.address, "connect-timeout-ms", GLib.Variant("u", timeout_ms))
        return world, band

    def test_pending_connect_and_timeout(self):
        """bluez §Connect: "Connect while a connect is pending: Failed "Operation already in progress". A band
        that does not answer: Failed "le-connection-abort-by-local" after about 40 s"."""
        world, band = self.absent_band(1500)
        first = world.client.send("org.bluez", band.path, DEVICE, "Connect")
        second = world.client.send("org.bluez", band.path, DEVICE, "Connect")
        self.assert_error(second, ERR + "Failed", "Operation already in progress")
        self.assert_error(first, ERR + "Failed", "le-connection-abort-by-local", timeout=20)

    def test_disconnect_during_pending_connect(self):
        """bluez §Connect: "Disconnect during a pending Connect: the Connect fails with Failed
        "br-connection-canceled", then Disconnect replies at once". With no connect-timeout-ms fault the
        Connect is still pending after 3 s (the kernel's timeout is about 40 s)."""
        world, band = self.start_band()
        world.control("SetInRange", "sb", band.address, False)
        connect = world.client.send("org.bluez", band.path, DEVICE, "Connect")
        iterate(3)
        self.assertIsNone(connect.reply, "a Connect to an absent band waits for the ~40 s timeout")
        disconnect = world.client.send("org.bluez", band.path, DEVICE, "Disconnect")
        disconnect.result()
        self.assert_error(connect, ERR + "Failed", "br-connection-canceled")
        self.assert_order(("the failed Connect", connect.reply), ("the Disconnect reply", disconnect.reply))

    def test_connect_fails_fault(self):
        """io.bandgate.Sim1 "connect-fails" u: the next N Connect calls fail with le-connection-abort-by-local
        (bluez §Connect's error for a band that does not answer); the one after connects."""
        world, band = self.start_band()
        world.fault(band.address, "connect-fails", GLib.Variant("u", 2))
        for _ in range(2):
            self.assert_error(lambda: world.client.bluez(band.path, DEVICE, "Connect"), ERR + "Failed",
                              "le-connection-abort-by-local")
        band.connect()

    def test_connect_while_powered_off(self):
        """bluez §Connect: "Adapter powered off: Failed "Input/output error""."""
        world, band = self.start_band()
        world.client.set("/org/bluez/hci0", ADAPTER, "Powered", GLib.Variant("b", False)).result()
        self.assert_error(lambda: world.client.bluez(band.path, DEVICE, "Connect"), ERR + "Failed",
                          "Input/output error")


class Disconnect(SimTestCase):
    def test_order(self):
        """bluez §Disconnect: "ServicesResolved=false, the reply, then Connected=false 80–180 ms later"."""
        world, band = self.start_band(connect=True)
        mark, sent = band.rec.mark(), time.monotonic()
        pending = world.client.send("org.bluez", band.path, DEVICE, "Disconnect")
        pending.result()
        off = world.client.wait_props(band.path, DEVICE, {"Connected": False}, mark)
        unresolved = world.client.wait_props(band.path, DEVICE, {"ServicesResolved": False}, mark)
        self.assert_order(("ServicesResolved=false", unresolved), ("the reply", pending.reply),
                          ("Connected=false", off))
        self.assertNotIn("Connected", unresolved.changed(), "two separate signals, unlike a link loss")
        # A lower bound only, which a slow machine cannot break: the disconnect timer runs its ~2 s.
        self.assertGreaterEqual(off.time - sent, 1.5, "about 2 s in all (the disconnect timer)")
        self.assertFalse(world.client.get(band.path, DEVICE, "Connected"))

    def test_disconnect_while_disconnected(self):
        """bluez §Connect: "Disconnect while disconnected: success"."""
        world, band = self.start_band()
        world.client.bluez(band.path, DEVICE, "Disconnect")

    def assert_one_loss_signal(self, world, band, mark):
        """bluez §Disconnect: "one PropertiesChanged with Connected=false and ServicesResolved=false
        together", and no other Connected/ServicesResolved change."""
        lost = world.client.wait_props(band.path, DEVICE, {"Connected": False, "ServicesResolved": False}, mark)
        iterate(0.5)
        self.assertEqual(band.rec.all(device_props(band, "Connected", "ServicesResolved"), mark), [lost])

    def test_band_ends_the_link(self):
        """bluez §Disconnect and link loss: the band ends the link (io.bandgate.Sim1 DropLink)."""
        world, band = self.start_band(connect=True)
        mark = band.rec.mark()
        world.control("DropLink", "s", band.address)
        self.assert_one_loss_signal(world, band, mark)

    def test_link_lost_out_of_range(self):
        """bluez §Disconnect and link loss: "(or it is lost)": SetInRange false loses the link."""
        world, band = self.start_band(connect=True)
        mark = band.rec.mark()
        world.control("SetInRange", "sb", band.address, False)
        self.assert_one_loss_signal(world, band, mark)


class Pair(SimTestCase):
    def test_pair_then_again(self):
        """bluez §Connect: "If someone pairs: Paired=true+Bonded=true in one signal, then the reply; again:
        org.bluez.Error.AlreadyExists"."""
        world, band = self.start_band(connect=True)
        mark = band.rec.mark()
        pending = world.client.send("org.bluez", band.path, DEVICE, "Pair")
        pending.result()
        paired = world.client.wait_props(band.path, DEVICE, {"Paired": True, "Bonded": True}, mark)
        self.assert_order(("Paired=true+Bonded=true", paired), ("the Pair reply", pending.reply))
        self.assert_error(lambda: world.client.bluez(band.path, DEVICE, "Pair"), ERR + "AlreadyExists")


if __name__ == "__main__":
    unittest.main(verbosity=2)
