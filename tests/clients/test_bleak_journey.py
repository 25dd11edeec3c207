#!/usr/bin/python3
"""A BLE library nobody here wrote (Debian's python3-bleak 0.20) against bandgate-sim started with no option
but a private bus: authenticate with the legacy key, read device information and battery, set the time,
fetch a week of history, send an alert, receive a button press. Written from miband2-protocol.md only.

Run by ctest with BANDGATE_SIM set to the simulator binary."""
import asyncio
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from bleak import BleakClient, BleakScanner
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from dbus_fast import BusType, Message, MessageType
from dbus_fast.aio import MessageBus


def huami(uuid16):
    return f"0000{uuid16}-0000-3512-2118-0009af100700"


def sig(uuid16):
    return f"0000{uuid16}-0000-1000-8000-00805f9b34fb"


AUTH, FETCH, ACTIVITY, BATTERY, EVENT = huami("0009"), huami("0004"), huami("0005"), huami("0006"), huami("0010")
TIME, SW_REV, SERIAL, HW_REV = sig("2a2b"), sig("2a28"), sig("2a25"), sig("2a27")
NEW_ALERT, ALERT_LEVEL = sig("2a46"), sig("2a06")
LEGACY_KEY = b"0123456789@ABCDE"  # section 4.2


def aes_ecb(key, block):
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def huami_ts(dt, tz_quarters):
    """The 8-byte timestamp of section 6.2 (band-local wall time and its zone byte)."""
    return bytes([dt.year & 0xff, dt.year >> 8, dt.month, dt.day, dt.hour, dt.minute, 0, tz_quarters & 0xff])


def parse_ts(b):
    tz = b[7] - 256 if b[7] > 127 else b[7]
    local = datetime.datetime(b[0] | b[1] << 8, b[2], b[3], b[4], b[5], b[6])
    return local, tz


class PrivateBus:
    """A private dbus-daemon and bandgate-sim on it, with nothing but --bus."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="bleak-journey.")
        conf = os.path.join(self.dir, "bus.conf")
        with open(conf, "w") as f:
            f.write(f"""<busconfig><type>system</type><listen>unix:path={self.dir}/bus</listen>
<auth>EXTERNAL</auth><policy context="default"><allow user="*"/><allow own="*"/>
<allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/></policy></busconfig>""")
        self.daemon = subprocess.Popen(["dbus-daemon", "--config-file", conf, "--nofork", "--nopidfile",
                                        "--print-address"], stdout=subprocess.PIPE, text=True)
        self.address = self.daemon.stdout.readline().strip()
        self.sim = subprocess.Popen([os.environ["BANDGATE_SIM"], "--bus", self.address],
                                    stdout=subprocess.PIPE, text=True)
        self.bands = []
        for line in self.sim.stdout:
            if line.startswith("band "):
                self.bands.append(line.split()[1])
            if line.strip() == "ready":
                break
        else:
            raise RuntimeError("bandgate-sim did not become ready")

    def close(self):
        self.sim.terminate()
        code = self.sim.wait(10)
        self.daemon.terminate()
        self.daemon.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)
        return code


class Control:
    """io.bandgate.Sim1 through dbus-fast, the D-Bus library bleak itself uses."""

    def __init__(self, bus):
        self.bus = bus

    async def call(self, member, signature="", body=()):
        reply = await self.bus.call(Message(destination="io.bandgate.Sim", path="/io/bandgate/Sim",
                                             interface="io.bandgate.Sim1", member=member,
                                             signature=signature, body=list(body)))
        if reply.message_type == MessageType.ERROR:
            raise RuntimeError(f"{member}: {reply.error_name} {reply.body}")
        return reply.body


class Journey(unittest.TestCase):
    async def collect_round(self, queues, data_uuid, control_uuid):
        """Data packets (section 10.2) until the round's end on the control point."""
        samples, counter = [], 0
        while True:
            data_task = asyncio.ensure_future(queues[data_uuid].get())
            end_task = asyncio.ensure_future(queues[control_uuid].get())
            done, pending = await asyncio.wait([data_task, end_task], timeout=10,
                                               return_when=asyncio.FIRST_COMPLETED)
            for t in pending:
                t.cancel()
            self.assertTrue(done, "the history round stalled")
            if data_task in done:
                packet = data_task.result()
                self.assertEqual(len(packet) % 4, 1)
                self.assertEqual(packet[0], counter & 0xff)
                counter += 1
                samples += [tuple(packet[i:i + 4]) for i in range(1, len(packet), 4)]
            if end_task in done:
                self.assertEqual(end_task.result(), b"\x10\x02\x01")
                # Packets queued before the end still count.
                while not queues[data_uuid].empty():
                    packet = queues[data_uuid].get_nowait()
                    samples += [tuple(packet[i:i + 4]) for i in range(1, len(packet), 4)]
                return samples

    def setUp(self):
        self.world = PrivateBus()
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = self.world.address

    def tearDown(self):
        self.assertEqual(self.world.close(), 0, "bandgate-sim did not exit cleanly")

    def test_whole_journey(self):
        asyncio.run(self.journey())

    async def journey(self):
        control = Control(await MessageBus(bus_address=self.world.address, bus_type=BusType.SYSTEM).connect())
        device = await BleakScanner.find_device_by_filter(lambda d, ad: d.name == "MI Band 2", timeout=15)
        self.assertIsNotNone(device, "the band was not found by scanning")
        self.assertEqual(device.address, self.world.bands[0])
        queues = {}

        def on(uuid):
            queues[uuid] = asyncio.Queue()
            return lambda _, data: queues[uuid].put_nowait(bytes(data))

        async def next_of(uuid, timeout=10):
            return await asyncio.wait_for(queues[uuid].get(), timeout)

        async with BleakClient(device) as client:
            # Section 4.4, reconnection flow: the band already holds the legacy key.
            await client.start_notify(AUTH, on(AUTH))
            await client.write_gatt_char(AUTH, b"\x02\x08", response=False)
            challenge = await next_of(AUTH)
            self.assertEqual(challenge[:3], b"\x10\x02\x01")
            self.assertEqual(len(challenge), 19)
            await client.write_gatt_char(AUTH, b"\x03\x08" + aes_ecb(LEGACY_KEY, challenge[3:]), response=False)
            self.assertEqual(await next_of(AUTH), b"\x10\x03\x01")

            # Section 7 and 8.
            self.assertEqual(bytes(await client.read_gatt_char(SW_REV)), b"V1.0.1.81")
            self.assertEqual(len(await client.read_gatt_char(SERIAL)), 12)
            self.assertEqual(len(await client.read_gatt_char(HW_REV)), 8)
            battery = bytes(await client.read_gatt_char(BATTERY))
            self.assertEqual(len(battery), 20)
            self.assertLessEqual(battery[1], 100)
            self.assertIn(battery[2], (0, 1))

            # Section 6.1: set the band's clock to now, in a zone one hour east of UTC, and read it back.
            tz = 4  # quarter hours
            utc_now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
            band_now = (utc_now + datetime.timedelta(hours=1)).replace(tzinfo=None)
            await client.write_gatt_char(TIME, bytes([band_now.year & 0xff, band_now.year >> 8, band_now.month,
                                                      band_now.day, band_now.hour, band_now.minute,
                                                      band_now.second, band_now.isoweekday(), 0, 0, tz]),
                                         response=True)
            back = bytes(await client.read_gatt_char(TIME))
            self.assertEqual(len(back), 11)
            read_local, read_tz = parse_ts(back[:7] + back[10:11])
            self.assertEqual(read_tz, tz)
            self.assertLess(abs((read_local - band_now).total_seconds()), 5)
            self.assertEqual(back[7], band_now.isoweekday())
            state = dict((await control.call("GetBand", "s", [device.address]))[0])
            self.assertLess(abs(state["clock"].value - utc_now.timestamp()), 5)

            # Section 10: a week of history, fetched round after round until it reaches the band's clock.
            await client.start_notify(FETCH, on(FETCH))
            await client.start_notify(ACTIVITY, on(ACTIVITY))
            cursor = band_now - datetime.timedelta(days=7)
            fetched = {}
            for _ in range(20):
                await client.write_gatt_char(FETCH, b"\x01\x01" + huami_ts(cursor, tz), response=True)
                start = await next_of(FETCH)
                self.assertEqual(len(start), 15)
                self.assertEqual(start[:3], b"\x10\x01\x01")
                count = int.from_bytes(start[3:7], "little")
                first, first_tz = parse_ts(start[7:15])
                self.assertEqual(first_tz, tz)
                if count == 0:
                    break
                await client.write_gatt_char(FETCH, b"\x02", response=True)
                samples = await self.collect_round(queues, ACTIVITY, FETCH)
                self.assertEqual(len(samples), count)
                for i, s in enumerate(samples):
                    fetched[first + datetime.timedelta(minutes=i)] = s
                cursor = first + datetime.timedelta(minutes=count)
            self.assertGreaterEqual(len(fetched), 7 * 24 * 60 - 2)
            utc_from = int((utc_now - datetime.timedelta(days=7)).timestamp()) // 60 * 60
            utc_to = int(utc_now.timestamp()) // 60 * 60 - 120
            start, expected = await control.call("GetHistory", "sxx", [device.address, utc_from, utc_to])
            self.assertGreater(len(expected), 7 * 24 * 60 - 10)
            for i, s in enumerate(expected):
                local = datetime.datetime.utcfromtimestamp(start + 60 * i) + datetime.timedelta(hours=1)
                if local >= band_now - datetime.timedelta(days=7, minutes=-1):
                    self.assertEqual(fetched[local], tuple(s), f"sample at {local}")

            # Section 12.2: an SMS alert, header then text; the band records every byte.
            await control.call("ClearReceived", "s", [device.address])
            await client.write_gatt_char(NEW_ALERT, b"\x05\x01", response=True)
            await client.write_gatt_char(ALERT_LEVEL, b"\x01", response=False)
            await client.write_gatt_char(NEW_ALERT, b"\x05\x01" + "Hello wrist".encode(), response=True)
            received = (await control.call("GetReceived", "s", [device.address]))[0]
            self.assertEqual([(uuid, bytes(v)) for _, uuid, v in received],
                             [(NEW_ALERT, b"\x05\x01"), (ALERT_LEVEL, b"\x01"),
                              (NEW_ALERT, b"\x05\x01Hello wrist")])

            # Section 13: the button.
            await client.start_notify(EVENT, on(EVENT))
            await control.call("PressButton", "s", [device.address])
            self.assertEqual(await next_of(EVENT), b"\x04")


if __name__ == "__main__":
    unittest.main()
