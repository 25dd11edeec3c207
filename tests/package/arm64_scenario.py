"""The arm64 bandgate (cross-built, run by qemu-aarch64 through binfmt_misc) against the amd64 bandgate-sim on a
private bus: the gateway's integration scenario in one pass: pairing with the wearer's tap, the history sync,
an alert shown on the band, and a dropped link back to ready. BANDGATE is the arm64 binary, BANDGATE_SIM the
native simulator; assertions go through the API socket, the simulator and the SQLite file, as in
tests/integration."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import World  # noqa: E402


class Arm64Gateway(unittest.TestCase):
    def setUp(self):
        self.world = World(sim_args=("--auto-tap", "1"))
        self.addr = self.world.bands[0]

    def tearDown(self):
        code, _ = self.world.close()
        self.assertEqual(code, 0, self.world.last_gateway_output)

    def test_pair_sync_alert_drop(self):
        w = self.world
        with open("/proc/sys/fs/binfmt_misc/qemu-aarch64") as f:
            self.assertIn("enabled", f.read())
        # Two hours of history on the band before the gateway ever sees it.
        start = (int(time.time()) // 60 - 120) * 60
        w.control("AddHistory", "(sxa(yyyy))", self.addr, start, [(1, 20, 7, 70)] * 120)
        w.start_gateway([self.addr])
        band = w.wait_state(self.addr, "ready", 120)  # paired: the simulated wearer tapped
        self.assertEqual(w.db_rows("SELECT length(key) FROM bands WHERE address = ?", self.addr), [(16,)])
        deadline = time.monotonic() + 120
        while w.db_rows("SELECT count(*) FROM activity WHERE minute >= ?", start)[0][0] < 120:
            self.assertLess(time.monotonic(), deadline, "the history was not stored:\n" + w.gateway.output())
            time.sleep(0.5)
        self.assertEqual(w.db_rows("SELECT sum(steps) FROM activity WHERE minute >= ? AND minute < ?", start,
                                   start + 7200), [(120 * 7,)])
        status, body = w.api("POST", f"/api/v1/bands/{band['id']}/actions/notify", {"text": "from arm64"})
        self.assertEqual(status, 202, body)
        deadline = time.monotonic() + 60
        while not [a for a in w.control("GetAlerts", "(s)", self.addr, reply="(a(xyysb))")[0]
                   if a[3] == "from arm64" and a[4]]:
            self.assertLess(time.monotonic(), deadline, "the alert never showed:\n" + w.gateway.output())
            time.sleep(0.3)
        connections = w.gateway.output().count("-> ready")
        w.control("DropLink", "(s)", self.addr)
        deadline = time.monotonic() + 120
        while w.gateway.output().count("-> ready") == connections:
            self.assertLess(time.monotonic(), deadline, "not ready again after the drop:\n" + w.gateway.output())
            time.sleep(0.3)
        w.wait_state(self.addr, "ready", 60)


if __name__ == "__main__":
    unittest.main()
