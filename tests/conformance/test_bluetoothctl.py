#!/usr/bin/python3
"""The real BlueZ 5.66 CLI, bluetoothctl (Debian's bluez), against bandgate-sim on a private system bus: a
client nobody here wrote must see the controller, find "MI Band 2" by scanning, connect, list its GATT
attributes and read the firmware revision 2A28 (miband2-protocol.md §2.2, §7: "V1.0.1.81")."""
import os
import re
import unittest

import pexpect
from gi.repository import GLib

from harness import SimTestCase, sig

SW_REV = sig("2a28")
AUTH = "00000009-0000-3512-2118-0009af100700"


class Bluetoothctl(SimTestCase):
    def spawn(self, world):
        """bluetoothctl talking to the private bus through DBUS_SYSTEM_BUS_ADDRESS."""
        env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=world.address, TERM="dumb")
        child = pexpect.spawn("bluetoothctl", env=env, encoding="utf-8", timeout=20)
        self.addCleanup(child.close, force=True)
        return child

    def expect(self, child, pattern, what):
        """Wait for pattern in bluetoothctl's output; on a miss, fail with what it printed instead."""
        try:
            child.expect(pattern)
        except (pexpect.TIMEOUT, pexpect.EOF):
            self.fail(f"bluetoothctl never showed {what}; it printed:\n{child.before}")

    def test_scan_connect_read(self):
        world = self.start()
        address = world.bands[0]
        # The band would drop an unauthenticated link after ~25 s (§3); bluetoothctl does not authenticate.
        world.fault(address, "auth-timeout-ms", GLib.Variant("u", 600000))
        child = self.spawn(world)
        self.expect(child, "Agent registered", "its agent registered")
        child.sendline("list")
        self.expect(child, r"Controller DC:A6:32:00:00:01 \S+ \[default\]", "the controller")
        child.sendline("scan on")
        self.expect(child, r"NEW.{0,20}\] Device " + re.escape(address) + " MI Band 2", "the band")
        child.sendline("scan off")
        child.sendline(f"connect {address}")
        self.expect(child, "Connection successful", "a successful connect")
        self.expect(child, "ServicesResolved: yes", "the services resolved")
        self.list_and_read(child)
        child.sendline("quit")
        child.expect(pexpect.EOF)

    def list_and_read(self, child):
        """menu gatt, list-attributes, select-attribute 2A28, read."""
        child.sendline("menu gatt")
        child.sendline("list-attributes")
        self.expect(child, SW_REV, "2A28 in list-attributes")
        self.expect(child, AUTH, "the auth characteristic in list-attributes")
        child.sendline(f"select-attribute {SW_REV}")
        self.expect(child, r"char[0-9a-f]{4}\]", "the attribute selected")
        child.sendline("read")
        self.expect(child, "56 31 2e 30 2e 31 2e 38 31 +V1.0.1.81", "the value V1.0.1.81")


if __name__ == "__main__":
    unittest.main(verbosity=2)
