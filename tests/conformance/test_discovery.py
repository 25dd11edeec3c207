#!/usr/bin/python3
"""bluez-5.66.md §Discovery: sessions per client, the order of replies and Discovering, RSSI only while
discovering, the errors, and SetDiscoveryFilter."""
import unittest

from gi.repository import GLib

from harness import ADAPTER, DEVICE, ERR, SimTestCase, device_path, is_added, iterate, sig, variant

HCI0 = "/org/bluez/hci0"


def discovering(value):
    """A PropertiesChanged of Adapter1 that sets Discovering to value."""
    return lambda e: e.path == HCI0 and (e.changed(ADAPTER) or {}).get("Discovering") is value


class Discovery(SimTestCase):
    def start_discovery(self, client):
        """StartDiscovery and the Discovering=true after it. Returns (reply, signal)."""
        mark = client.recorder.mark()
        pending = client.send("org.bluez", HCI0, ADAPTER, "StartDiscovery")
        pending.result()
        return pending.reply, client.recorder.wait(discovering(True), mark, what="Discovering=true")

    def test_start_then_discovering(self):
        """bluez §Discovery: "StartDiscovery: the reply, then Discovering=true"; again from the same client:
        InProgress "Operation already in progress"."""
        world = self.start()
        reply, signal = self.start_discovery(world.client)
        self.assert_order(("the StartDiscovery reply", reply), ("Discovering=true", signal))
        self.assertTrue(world.client.get(HCI0, ADAPTER, "Discovering"))
        self.assert_error(lambda: world.client.bluez(HCI0, ADAPTER, "StartDiscovery"),
                          ERR + "InProgress", "Operation already in progress")

    def test_stop_invalidates_rssi_then_not_discovering(self):
        """bluez §Discovery: "StopDiscovery: the reply, RSSI invalidated on the devices, then
        Discovering=false"; bluez §Objects: "RSSI exists only while discovering"."""
        world = self.start()
        c, path = world.client, device_path(world.bands[0])
        self.start_discovery(c)
        c.recorder.wait(is_added(path), what="the band")
        self.assertIsInstance(c.get(path, DEVICE, "RSSI"), int)
        mark = c.recorder.mark()
        stop = c.send("org.bluez", HCI0, ADAPTER, "StopDiscovery")
        stop.result()
        off = c.recorder.wait(discovering(False), mark, what="Discovering=false")
        gone = c.recorder.find(lambda e: e.path == path and "RSSI" in (e.invalidated(DEVICE) or []), mark)
        self.assert_order(("the StopDiscovery reply", stop.reply), ("RSSI invalidated", gone),
                          ("Discovering=false", off))
        self.assertNotIn("RSSI", c.get_all(path, DEVICE), "no RSSI while not discovering")
        self.check_rssi_returns(c, path)

    def check_rssi_returns(self, c, path):
        """Discovering again: RSSI comes back on the device that stayed."""
        mark = c.recorder.mark()
        self.start_discovery(c)
        c.recorder.wait(lambda e: e.path == path and "RSSI" in (e.changed(DEVICE) or {}), mark,
                        what="RSSI while discovering again")
        self.assertIn("RSSI", c.get_all(path, DEVICE))

    def test_stop_without_session(self):
        """bluez §Discovery: StopDiscovery "with no session of that client: Failed "No discovery started""."""
        world = self.start()
        stop = lambda: world.client.bluez(HCI0, ADAPTER, "StopDiscovery")  # noqa: E731
        self.assert_error(stop, ERR + "Failed", "No discovery started")
        self.start_discovery(world.client)
        world.client.bluez(HCI0, ADAPTER, "StopDiscovery")
        self.assert_error(stop, ERR + "Failed", "No discovery started")

    def test_sessions_are_per_client(self):
        """bluez §Discovery: "each client's StartDiscovery adds one; the adapter scans while any exists"; a
        client without its own session gets "No discovery started" even while the adapter scans."""
        world = self.start()
        one, two = world.client, world.new_client()
        self.start_discovery(one)
        mark = two.recorder.mark()
        two.bluez(HCI0, ADAPTER, "StartDiscovery")
        one.bluez(HCI0, ADAPTER, "StopDiscovery")
        self.assertTrue(two.get(HCI0, ADAPTER, "Discovering"), "two's session keeps the adapter scanning")
        self.assert_error(lambda: one.bluez(HCI0, ADAPTER, "StopDiscovery"), ERR + "Failed",
                          "No discovery started")
        stop = two.send("org.bluez", HCI0, ADAPTER, "StopDiscovery")
        stop.result()
        off = two.recorder.wait(discovering(False), mark, what="Discovering=false")
        self.assert_order(("the last session's StopDiscovery reply", stop.reply), ("Discovering=false", off))
        self.assertEqual(len(two.recorder.all(discovering(True), mark)), 0, "no second Discovering=true")

    def test_client_leaving_loses_session(self):
        """bluez §Discovery: "a client that leaves the bus loses its session"."""
        world = self.start()
        watcher, leaver = world.client, world.new_client()
        path = device_path(world.bands[0])
        mark = watcher.recorder.mark()
        leaver.bluez(HCI0, ADAPTER, "StartDiscovery")
        watcher.recorder.wait(is_added(path), mark, what="the band")
        leaver.close()
        watcher.recorder.wait(discovering(False), mark, what="Discovering=false after the client left")
        self.assertFalse(watcher.get(HCI0, ADAPTER, "Discovering"))
        self.assertNotIn("RSSI", watcher.get_all(path, DEVICE), "bluez §Objects: RSSI only while discovering")

    def test_not_ready_while_powered_off(self):
        """bluez §Discovery: Start/StopDiscovery "while powered off: NotReady "Resource Not Ready"". So is
        SetDiscoveryFilter (5.66 set_discovery_filter; the VM test's gateway met it during a power-cycle)."""
        world = self.start()
        world.client.set(HCI0, ADAPTER, "Powered", GLib.Variant("b", False)).result()
        for method in ("StartDiscovery", "StopDiscovery"):
            self.assert_error(lambda: world.client.bluez(HCI0, ADAPTER, method), ERR + "NotReady",
                              "Resource Not Ready")
        self.assert_error(lambda: world.client.bluez(HCI0, ADAPTER, "SetDiscoveryFilter",
                                                     variant("(a{sv})", {"Transport": GLib.Variant("s", "le")})),
                          ERR + "NotReady", "Resource Not Ready")


    def test_rssi_follows_the_band(self):
        """bluez §Objects: RSSI (n) while discovering; io.bandgate.Sim1 SetRssi moves the band's signal and
        the device's RSSI follows."""
        world = self.start()
        c, path = world.client, device_path(world.bands[0])
        self.start_discovery(c)
        c.recorder.wait(is_added(path), what="the band")
        mark = c.recorder.mark()
        world.control("SetRssi", "sn", world.bands[0], -90)
        c.wait_props(path, DEVICE, {"RSSI": -90}, mark)
        self.assertEqual(world.band_state(world.bands[0])["rssi"], -90)

    def test_busy_controller_fault(self):
        """io.bandgate.Sim1 SetAdapterFault "start-discovery-busy" u: the next N StartDiscovery calls fail with
        InProgress "Operation already in progress"; the one after starts discovery."""
        world = self.start()
        world.control("SetAdapterFault", "ssv", "hci0", "start-discovery-busy", GLib.Variant("u", 2))
        for _ in range(2):
            self.assert_error(lambda: world.client.bluez(HCI0, ADAPTER, "StartDiscovery"),
                              ERR + "InProgress", "Operation already in progress")
        self.start_discovery(world.client)
        self.assertTrue(world.client.get(HCI0, ADAPTER, "Discovering"))


class Filter(SimTestCase):
    def set_filter(self, client, entries):
        return client.bluez(HCI0, ADAPTER, "SetDiscoveryFilter", variant("(a{sv})", entries))

    def test_type_checked(self):
        """bluez §Discovery: "SetDiscoveryFilter type-checks its dict (InvalidArguments "Invalid arguments in
        method call")"."""
        world = self.start()
        bad = [{"RSSI": GLib.Variant("i", -70)}, {"UUIDs": GLib.Variant("s", "fee0")},
               {"Transport": GLib.Variant("u", 2)}, {"DuplicateData": GLib.Variant("s", "yes")}]
        for entries in bad:
            self.assert_error(lambda: self.set_filter(world.client, entries), ERR + "InvalidArguments",
                              "Invalid arguments in method call")

    def test_gateway_filter_finds_the_band(self):
        """bluez §Discovery: UUIDs, RSSI, Transport = "le", DuplicateData are what a gateway needs; the band
        advertises FEE0 (miband2-protocol.md §1)."""
        world = self.start()
        c = world.client
        self.set_filter(c, {"UUIDs": GLib.Variant("as", [sig("fee0")]), "RSSI": GLib.Variant("n", -100),
                            "Transport": GLib.Variant("s", "le"), "DuplicateData": GLib.Variant("b", False)})
        c.bluez(HCI0, ADAPTER, "StartDiscovery")
        c.recorder.wait(is_added(device_path(world.bands[0])), what="the band through the filter")

    def test_filter_hides_what_it_excludes(self):
        """The filter decides what is reported (BlueZ's Adapter1 API): another service UUID or an RSSI above
        the band's hides it; clearing the filter while scanning shows it."""
        world = self.start()
        c, path = world.client, device_path(world.bands[0])
        for entries in ({"UUIDs": GLib.Variant("as", [sig("180d")])}, {"RSSI": GLib.Variant("n", -10)}):
            self.set_filter(c, entries)
            c.bluez(HCI0, ADAPTER, "StartDiscovery")
            iterate(2.5)
            self.assertIsNone(c.recorder.find(is_added(path)), f"filter {entries} lets the band through")
            c.bluez(HCI0, ADAPTER, "StopDiscovery")
        c.bluez(HCI0, ADAPTER, "StartDiscovery")
        self.set_filter(c, {})
        c.recorder.wait(is_added(path), what="the band once the filter is cleared")


if __name__ == "__main__":
    unittest.main(verbosity=2)
