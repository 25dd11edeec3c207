#!/usr/bin/python3
"""bluez-5.66.md §Objects: the object tree, the adapters and their interfaces, a device's first appearance and
the expiry of temporary devices."""
import os
import subprocess
import time
import unittest
import xml.etree.ElementTree as ET

from gi.repository import GLib

from harness import (ADAPTER, AUTH, DEVICE, GATT_CHR, OM, PROPS, Band, SimTestCase, device_path, is_added,
                     is_removed, iterate, sig)

# bluez §Objects: "arrives in one InterfacesAdded with Address, AddressType, Name, Alias, Paired, Bonded,
# Trusted, Blocked, LegacyPairing, RSSI (n), Connected, UUIDs, Adapter, ServiceData (a{sv}), ServicesResolved".
FIRST_ADVERT_PROPS = {"Address", "AddressType", "Name", "Alias", "Paired", "Bonded", "Trusted", "Blocked",
                      "LegacyPairing", "RSSI", "Connected", "UUIDs", "Adapter", "ServiceData", "ServicesResolved"}
ADAPTER_IFACES = {ADAPTER, "org.bluez.GattManager1", "org.bluez.LEAdvertisingManager1", "org.bluez.Media1",
                  "org.bluez.NetworkServer1"}
# What Introspect says of each property: BlueZ 5.66's property tables (src/adapter.c adapter_properties,
# src/device.c device_properties, src/gatt-client.c characteristic_properties) through gdbus/object.c, which
# prints "readwrite" for a property with a setter and hides the experimental ones (PowerState,
# AdvertisingFlags, AdvertisingData); doc/adapter-api.txt and doc/device-api.txt say the same. Every property
# is listed, whether the object has it now or not.
R, RW = "read", "readwrite"
ACCESS = {
    ADAPTER: {"Address": R, "AddressType": R, "Name": R, "Alias": RW, "Class": R, "Powered": RW,
              "Discoverable": RW, "DiscoverableTimeout": RW, "Pairable": RW, "PairableTimeout": RW,
              "Discovering": R, "UUIDs": R, "Modalias": R, "Roles": R, "ExperimentalFeatures": R},
    DEVICE: {"Address": R, "AddressType": R, "Name": R, "Alias": RW, "Class": R, "Appearance": R, "Icon": R,
             "Paired": R, "Bonded": R, "Trusted": RW, "Blocked": RW, "LegacyPairing": R, "RSSI": R,
             "Connected": R, "UUIDs": R, "Modalias": R, "Adapter": R, "ManufacturerData": R, "ServiceData": R,
             "TxPower": R, "ServicesResolved": R, "WakeAllowed": RW},
    GATT_CHR: {"UUID": R, "Service": R, "Value": R, "Notifying": R, "Flags": R, "WriteAcquired": R,
               "NotifyAcquired": R, "MTU": R},
}
DBUS_ERR = "org.freedesktop.DBus.Error."


def raw_device_props(event):
    """The Device1 a{sv} of an InterfacesAdded as a GLib.Variant, to check D-Bus types, not Python ones."""
    return event.body.get_child_value(1).lookup_value(DEVICE, None)


class Tree(SimTestCase):
    def test_object_manager_and_adapters(self):
        """bluez §Objects: ObjectManager at /, adapters at /org/bluez/hciN, each also carrying GattManager1,
        LEAdvertisingManager1, Media1 and NetworkServer1."""
        world = self.start("--adapters", 2)
        xml = world.client.bluez("/", "org.freedesktop.DBus.Introspectable", "Introspect")[0]
        self.assertIn(f'"{OM}"', xml, "ObjectManager at /")
        objects = world.client.objects()
        for n in range(2):
            path = f"/org/bluez/hci{n}"
            self.assertIn(path, objects)
            self.assertLessEqual(ADAPTER_IFACES, set(objects[path]), f"interfaces on {path}")
        self.assertNotIn("/org/bluez/hci2", objects, "--adapters 2 gives hci0 and hci1 only")

    def test_device_first_advert(self):
        """bluez §Objects: a device first seen in an advertisement arrives in ONE InterfacesAdded with exactly
        the listed properties; AddressType "random"; RSSI (n); ServiceData a{sv} FEE0 → bytes; no Modalias
        before the first connection."""
        world = self.start()
        address, rec = world.bands[0], world.client.recorder
        path = device_path(address)
        mark = rec.mark()
        world.client.bluez("/org/bluez/hci0", ADAPTER, "StartDiscovery")
        added = rec.wait(is_added(path), mark, what="the band's InterfacesAdded")
        iterate(2.5)  # a few more advertising reports must not announce it again
        self.assertEqual(len(rec.all(is_added(path), mark)), 1, "one InterfacesAdded per device")
        props = added.args[1][DEVICE]
        self.assertEqual(set(props), FIRST_ADVERT_PROPS)
        self.check_first_values(props, address)
        self.check_types(raw_device_props(added))

    def check_first_values(self, props, address):
        """bluez §Objects and miband2-protocol.md §1: name "MI Band 2", random address, advertised FEE0."""
        self.assertEqual(props["Address"], address)
        self.assertEqual(props["AddressType"], "random")
        self.assertEqual(props["Name"], "MI Band 2")
        self.assertEqual(props["Alias"], "MI Band 2")
        self.assertEqual(props["Adapter"], "/org/bluez/hci0")
        for flag in ("Paired", "Bonded", "Trusted", "Blocked", "LegacyPairing", "Connected", "ServicesResolved"):
            self.assertIs(props[flag], False, flag)
        self.assertIn(sig("fee0"), props["UUIDs"])
        self.assertEqual(list(props["ServiceData"]), [sig("fee0")])

    def check_types(self, raw):
        """bluez §Objects: RSSI (n), ServiceData (a{sv}, FEE0 → bytes)."""
        self.assertEqual(raw.lookup_value("RSSI", None).get_type_string(), "n")
        service_data = raw.lookup_value("ServiceData", None)
        self.assertEqual(service_data.get_type_string(), "a{sv}")
        self.assertEqual(service_data.lookup_value(sig("fee0"), None).get_type_string(), "ay")


class Properties(SimTestCase):
    """The interfaces as Introspect shows them, and org.freedesktop.DBus.Properties as bluetoothd's own gdbus
    answers it (gdbus/object.c), not as GDBus would."""

    def introspected(self, client, path, iface):
        """{property: access} of iface in the Introspect data of path, and how often Properties is listed."""
        xml = client.bluez(path, "org.freedesktop.DBus.Introspectable", "Introspect")[0]
        root = ET.fromstring(xml)
        (node,) = [i for i in root.findall("interface") if i.get("name") == iface]
        return {p.get("name"): p.get("access") for p in node.findall("property")}, \
            len([i for i in root.findall("interface") if i.get("name") == PROPS])

    def test_access(self):
        """Adapter1.Powered introspects as readwrite (checked against the real daemon), and so does every
        property with a setter in 5.66; the rest are read."""
        world, band = self.start_band(connect=True)
        for path, iface in (("/org/bluez/hci0", ADAPTER), (band.path, DEVICE), (band.chr(AUTH), GATT_CHR)):
            with self.subTest(iface=iface):
                access, props_listed = self.introspected(world.client, path, iface)
                self.assertEqual(access, ACCESS[iface])
                self.assertEqual(props_listed, 1, f"{PROPS} once in the Introspect of {path}")

    def test_set_read_only(self):
        """Set of a read-only property: org.freedesktop.DBus.Error.PropertyReadOnly "Property 'Address' is not
        writable" (checked against the real daemon); nothing changes."""
        world, band = self.start_band(connect=True)
        c = world.client
        cases = (("/org/bluez/hci0", ADAPTER, "Address", GLib.Variant("s", "00:11:22:33:44:55")),
                 (band.path, DEVICE, "Connected", GLib.Variant("b", False)),
                 (band.path, DEVICE, "RSSI", GLib.Variant("n", -1)),  # read-only wins over absent
                 (band.chr(AUTH), GATT_CHR, "Value", GLib.Variant("ay", b"\x01")))
        for path, iface, prop, value in cases:
            with self.subTest(prop=prop):
                self.assert_error(c.set(path, iface, prop, value), DBUS_ERR + "PropertyReadOnly",
                                  f"Property '{prop}' is not writable")
        self.assertEqual(c.get("/org/bluez/hci0", ADAPTER, "Address"), "DC:A6:32:00:00:01")
        self.assertIs(c.get(band.path, DEVICE, "Connected"), True)

    def test_other_errors(self):
        """(source only) The rest of 5.66 gdbus/object.c: Set of an unknown property or of one the object does
        not have → UnknownProperty "No such property 'X'"; of the wrong type → InvalidSignature "Invalid
        signature for 'X'"; an unknown interface → InvalidArgs "No such interface 'X'"; Get of an absent
        property → InvalidArgs "No such property 'X'". A writable property of the right type is set."""
        world = self.start()
        c, hci0 = world.client, "/org/bluez/hci0"
        band = Band(world, world.bands[0])
        band.discover()
        self.assert_error(c.set(hci0, ADAPTER, "Colour", GLib.Variant("s", "red")), DBUS_ERR + "UnknownProperty",
                          "No such property 'Colour'")
        self.assert_error(c.set(band.path, DEVICE, "WakeAllowed", GLib.Variant("b", True)),
                          DBUS_ERR + "UnknownProperty", "No such property 'WakeAllowed'")
        self.assert_error(c.set(hci0, ADAPTER, "Powered", GLib.Variant("s", "yes")),
                          DBUS_ERR + "InvalidSignature", "Invalid signature for 'Powered'")
        self.assert_error(c.set(hci0, "org.bluez.Nothing1", "Powered", GLib.Variant("b", True)),
                          DBUS_ERR + "InvalidArgs", "No such interface 'org.bluez.Nothing1'")
        self.assert_error(lambda: c.get(band.path, DEVICE, "Modalias"), DBUS_ERR + "InvalidArgs",
                          "No such property 'Modalias'")
        self.assert_error(lambda: c.get_all(hci0, "org.bluez.Nothing1"), DBUS_ERR + "InvalidArgs",
                          "No such interface 'org.bluez.Nothing1'")
        c.set(hci0, ADAPTER, "Alias", GLib.Variant("s", "gateway")).result()
        self.assertEqual(c.get(hci0, ADAPTER, "Alias"), "gateway")


class CommandLine(SimTestCase):
    def test_addresses(self):
        """main.c: --bands N bands, --address A for the next band (repeatable); `band ADDR` lines before
        `ready`; each band's device path follows bluez §Objects."""
        world = self.start("--bands", 3, "--address", "C8:0F:10:00:00:01", "--address", "c8:0f:10:00:00:02")
        self.assertEqual([a.upper() for a in world.bands[:2]], ["C8:0F:10:00:00:01", "C8:0F:10:00:00:02"])
        self.assertEqual(len(set(world.bands)), 3)
        self.assertEqual(sorted(world.control("ListBands")[0]), sorted(world.bands))
        band = Band(world, world.bands[0])
        band.discover()
        self.assertEqual(band.path, "/org/bluez/hci0/dev_C8_0F_10_00_00_01")

    def test_usage_errors(self):
        """main.c: a bad option is a usage error, exit code 2 (EXIT_USAGE) with a one-line reason — and, in the
        ASan build, no leak report on the way out."""
        for args in (["--bands", "99"], ["--adapters", "0"], ["--gatt-cache", "maybe"],
                     ["--connected-signal", "sometimes"], ["--key", "1234"], ["--steps-format", "7"],
                     ["--auto-tap", "soon"], ["extra"]):
            with self.subTest(args=args):
                run = subprocess.run([os.environ["BANDGATE_SIM"], "--bus", "unix:path=/nonexistent", *args],
                                     capture_output=True, text=True, timeout=60)
                self.assertEqual(run.returncode, 2, run.stderr)
                self.assertRegex(run.stderr, r"^bandgate-sim: .*\(see --help\)\n$")

    def test_no_bus(self):
        """main.c: a bus it cannot reach is exit code 1 with "cannot serve org.bluez" — and no leak report."""
        run = subprocess.run([os.environ["BANDGATE_SIM"], "--bus", "unix:path=/nonexistent"], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(run.returncode, 1, run.stderr)
        self.assertIn("cannot serve org.bluez", run.stderr)
        self.assertNotIn("LeakSanitizer", run.stderr)

    def test_version(self):
        """main.c: --version prints the version and exits 0."""
        run = subprocess.run([os.environ["BANDGATE_SIM"], "--version"], capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertRegex(run.stdout, r"^bandgate-sim \S+\n$")


class Temporary(SimTestCase):
    """bluez §Objects: a temporary device is removed about 30 s (TemporaryTimeout) after discovery stops or
    its adverts stop, unless it is paired or trusted. A connection clears the flag only while it lasts: 5.66
    puts an unpaired, untrusted device back to temporary when the link ends (seen in the VM test's bluetoothd
    log; bluez-5.66.md says "unless it was connected", which the real daemon does not do). 30 s is
    bluetoothd's default (--temporary-timeout plays main.conf's key), and this one test waits the default out,
    for five bands and two adapters at once."""

    def test_expiry(self):
        world = self.start("--bands", 5, "--adapters", 2, "-v")  # -v: the sim's log explains a failure
        plain, trusted, connected, paired, leaving = world.bands
        c = world.client
        for hci in ("hci0", "hci1"):
            c.bluez(f"/org/bluez/{hci}", ADAPTER, "StartDiscovery")
        self.wait_all_seen(world)
        self.keep(world, trusted, connected, paired)
        mark = c.recorder.mark()
        c.bluez("/org/bluez/hci0", ADAPTER, "StopDiscovery")
        world.control("SetInRange", "sb", leaving, False)
        stopped = time.monotonic()
        gone = [device_path(plain), device_path(connected), device_path(leaving), device_path(leaving, "hci1")]
        try:
            events = [c.recorder.wait(is_removed(p), mark, 60, f"{p} to expire") for p in gone]
        except AssertionError as e:
            left = sorted(p for p in c.objects() if "/dev_" in p and p.count("/") == 4)
            self.fail(f"{e}; devices left: {left}; the sim's log ends:\n{world.sim_stderr()[-4000:]}")
        self.assertGreater(min(e.time for e in events) - stopped, 20, "about 30 s, not at once")
        self.check_kept(world, mark, gone)

    def wait_all_seen(self, world):
        for hci in ("hci0", "hci1"):
            for address in world.bands:
                world.client.recorder.wait(is_added(device_path(address, hci)), what=f"{address} on {hci}")

    def keep(self, world, trusted, connected, paired):
        """Trusted=true; a Connect then Disconnect (temporary again); a Pair."""
        c = world.client
        c.set(device_path(trusted), DEVICE, "Trusted", GLib.Variant("b", True)).result()
        band = Band(world, connected)
        band.connect()
        band.disconnect()
        c.bluez(device_path(paired), DEVICE, "Pair")

    def check_kept(self, world, mark, gone):
        """Everything else is still there: the kept ones on hci0, and on hci1 (still discovering) every band
        that still advertises."""
        objects = world.client.objects()
        for path in gone:
            self.assertNotIn(path, objects)
        plain, trusted, connected, paired, leaving = world.bands
        for address in (trusted, paired):
            self.assertIn(device_path(address), objects, f"{address} on hci0 is not temporary any more")
        for address in (plain, trusted, paired):
            self.assertIn(device_path(address, "hci1"), objects, f"{address} still advertises to hci1")
        removed = world.client.recorder.all(lambda e: e.member == "InterfacesRemoved", mark)
        # The connected band's cached GATT objects go with it (bluetoothd removes the device and all below it).
        self.assertEqual(len([e for e in removed if e.args[0].count("/") == 4]), 4)


if __name__ == "__main__":
    unittest.main(verbosity=2)
