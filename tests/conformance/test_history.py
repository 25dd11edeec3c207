#!/usr/bin/python3
"""History rounds (miband2-protocol.md §10) that meet the unexpected, as a D-Bus client sees them (Value signals
on 0004 and 0005, packet counters, replies): the client that asked for a round leaves the bus in the middle of it
(a gateway killed with kill -9) and another takes over; the pace of the data packets (io.bandgate.Sim1
"history-packet-ms"); a new start while a round runs ("fetch-mid-round": abort, finish, both).

A round is started at a pace no round outruns (SLOW_MS a packet, so a day of history would take minutes) while
the test sets up what it is about, and sped up (FAST_MS) once it has: no step depends on being quick enough."""
import copy
import datetime
import time
import unittest

from gi.repository import GLib

from harness import (ACTIVITY, BLUEZ, DEVICE, FETCH, GATT_CHR, SIM_IFACE, TZ, Band, SimTestCase, huami_ts,
                     le32, parse_ts, set_time, variant, wait_until)

SLOW_MS, FAST_MS = 400, 5
END = b"\x10\x02\x01"  # §10.1 step 6


def start_command(local):
    """§10.1 step 2: 01 01 and the band-local minute to start from."""
    return b"\x01\x01" + huami_ts(local.replace(second=0), TZ)


class Round:
    """A round as the band answered its start (§10.1 step 3), with the data packets it must send, built from
    GetHistory (§10.2: counter from 0, four samples a packet)."""

    def __init__(self, world, address, answer):
        assert len(answer) == 15 and answer[:3] == b"\x10\x01\x01", answer.hex()
        first, tz = parse_ts(answer[7:15])
        self.count = le32(answer[3:7])
        utc = int((first - datetime.timedelta(minutes=15 * tz)).replace(tzinfo=datetime.timezone.utc).timestamp())
        start, samples = world.control("GetHistory", "sxx", address, utc, utc + 60 * (self.count - 1))
        assert (start, len(samples)) == (utc, self.count), (start, utc, len(samples), self.count)
        self.packets = [bytes([i & 0xff]) + b"".join(bytes(s) for s in samples[j:j + 4])
                        for i, j in enumerate(range(0, self.count, 4))]
        self.next = 0  # the index of the packet that should come next


def classify(notes, rounds):
    """Each (uuid, value) as a letter: the round (A, B, ...) whose next packet it is, E for 10 02 01, S for the
    answer to a start, ? for anything else. Moves the rounds on."""
    letters = ""
    for uuid, value in notes:
        if uuid == FETCH:
            letters += "E" if value == END else "S" if value[:3] == b"\x10\x01\x01" else "?"
            continue
        for i, r in enumerate(rounds):
            if r.next < len(r.packets) and r.packets[r.next] == value:
                r.next += 1
                letters += "ABC"[i]
                break
        else:
            letters += "?"
    return letters


class HistoryTestCase(SimTestCase):
    def logged_in(self, *sim_args):
        """A band after §16's session start: auth, time, notify on 0004 and 0005 (§10.1 steps 1 and 4)."""
        world, band = self.start_band(*sim_args, login=True)
        local = set_time(band)
        self.enable(band)
        return world, band, local

    @staticmethod
    def enable(band):
        band.start_notify(FETCH)
        band.start_notify(ACTIVITY)

    def pace(self, world, band, ms):
        world.fault(band.address, "history-packet-ms", GLib.Variant("u", ms))

    def notes(self, band, since, until=None):
        """Every Value signal on 0004 and 0005 from the mark since up to the mark until, in arrival order, as
        (uuid, bytes)."""
        paths = {band.chr(FETCH): FETCH, band.chr(ACTIVITY): ACTIVITY}

        def match(e):
            return (e.path in paths and "Value" in (e.changed(GATT_CHR) or {}) and band.client.from_bluez(e)
                    and (until is None or e.index < until))
        return [(paths[e.path], bytes(e.changed()["Value"])) for e in band.rec.all(match, since)]

    def wait_notes(self, band, since, letters_match, rounds, timeout=30, what="notifications"):
        """Waits until the notes since the mark, classified afresh each time, satisfy letters_match."""
        wait_until(lambda: letters_match(classify(self.notes(band, since), [copy.copy(r) for r in rounds])),
                   timeout, what)

    def mark_after(self, band, a, since, mark=None):
        """A mark (now, unless given), A's next packet being the first of A not received before it (since is the
        mark before A's 02)."""
        mark = band.rec.mark() if mark is None else mark
        a.next = 0
        classify(self.notes(band, since, mark), [a])
        return mark

    def start_round(self, band, local):
        """A start and its answer (§10.1 steps 2-3)."""
        reply = band.notify_exchange(FETCH, start_command(local))
        return Round(band.world, band.address, reply)

    def slow_round(self, world, band, local):
        """A round from local on, running at SLOW_MS a packet, and the mark before its 02; once two packets
        have come."""
        self.pace(world, band, SLOW_MS)
        a = self.start_round(band, local)
        self.assertGreater(len(a.packets), 20)
        mark = band.rec.mark()
        band.write(FETCH, b"\x02")
        self.wait_notes(band, mark, lambda s: s.startswith("AA"), [a], what="two packets")
        return a, mark

    @staticmethod
    def write_fetch(band, value):
        """A Write Request to 0004; returns the mark just after its reply: what came after it, the band sent
        after it had the write (bluetoothd sends the band's notifications and the reply in that order)."""
        pending = band.client.send(BLUEZ, band.chr(FETCH), GATT_CHR, "WriteValue",
                                   variant("(aya{sv})", value, {"type": GLib.Variant("s", "request")}))
        pending.result()
        return pending.reply.index + 1

    def rounds_running(self, world, band):
        return world.band_state(band.address)["history-rounds"]


class ClientDies(HistoryTestCase):
    def test_round_outlives_its_client(self):
        """A gateway killed mid-round (issue 14): its bus connection closes, bluetoothd ends its notify sessions
        and, the last one of each characteristic gone, turns the band's CCCDs off (bluez §Reads: a client that
        leaves loses its session), but keeps the link, which is bluetoothd's, not the client's. The band's round
        runs on; what it sends while 0005's CCCD is off is lost. A client that turns notifications on again
        gets the rest of the same round, the counters going on, and its 10 02 01."""
        world, watcher = self.start_band()
        first = Band(world, watcher.address, world.new_client())
        first.login()
        local = set_time(first)
        self.enable(first)
        a, started = self.slow_round(world, first, local - datetime.timedelta(days=1))
        mark = watcher.rec.mark()
        first.client.close()
        self.mark_after(first, a, started)  # everything the first client heard of A
        seen = a.next
        world.client.wait_props(watcher.chr(ACTIVITY), GATT_CHR, {"Notifying": False}, mark)
        state = world.band_state(watcher.address)
        self.assertNotIn(ACTIVITY, state["cccd"])
        self.assertNotIn(FETCH, state["cccd"])
        self.assertEqual((state["connected"], state["authenticated"], state["history-rounds"]), (True, True, 1))
        lost_before = state["history-lost"]
        wait_until(lambda: world.band_state(watcher.address)["history-lost"] >= lost_before + 2, 30,
                   "the band to lose packets with 0005's CCCD off")
        self.assertIs(world.client.get(watcher.path, DEVICE, "Connected"), True)
        self.assertIs(world.client.get(watcher.path, DEVICE, "ServicesResolved"), True)

        second = Band(world, watcher.address, world.new_client())
        resumed = second.rec.mark()
        self.enable(second)
        self.pace(world, second, FAST_MS)
        second.rec.wait(lambda e: second.chr(FETCH) == e.path and
                        bytes((e.changed(GATT_CHR) or {}).get("Value", b"")) == END, resumed, 60, "10 02 01")
        rest = [v for uuid, v in self.notes(second, resumed) if uuid == ACTIVITY]
        self.assertEqual(rest, a.packets[-len(rest):], "the tail of the same round, counters going on")
        self.assertEqual(self.notes(second, resumed)[-1], (FETCH, END))
        state = world.band_state(watcher.address)
        lost = state["history-lost"] - lost_before
        self.assertGreaterEqual(len(a.packets) - len(rest), seen + lost, "the packets due unheard are lost")
        self.assertGreaterEqual(lost, 2)
        self.assertEqual(state["history-rounds"], 0)
        self.assertIsNone(watcher.rec.find(lambda e: "Connected" in (e.changed(DEVICE) or {}), mark),
                          "the link never dropped")


class Pace(HistoryTestCase):
    def test_history_packet_ms(self):
        """"history-packet-ms" u: the pause between two data packets, so packet k of a round comes no sooner
        than k pauses after the 02 (a lower bound only, which a slow machine cannot break)."""
        world, band, local = self.logged_in()
        world.fault(band.address, "fetch-cap", GLib.Variant("u", 20))
        self.pace(world, band, 150)
        a = self.start_round(band, local - datetime.timedelta(hours=2))
        mark, t0 = band.rec.mark(), time.monotonic()
        band.write(FETCH, b"\x02")
        end = band.rec.wait(lambda e: e.path == band.chr(FETCH) and
                            bytes((e.changed(GATT_CHR) or {}).get("Value", b"")) == END, mark, 30, "10 02 01")
        packets = band.value_events(ACTIVITY, mark)
        self.assertEqual([bytes(e.changed()["Value"]) for e in packets], a.packets)
        for k, e in enumerate(packets):
            self.assertGreaterEqual(e.time - t0, k * 0.15, f"packet {k}")
        self.assertLess(packets[-1].index, end.index)


class MidRound(HistoryTestCase):
    """"fetch-mid-round" s: a start (01 01) that comes while a round runs (after its 02, before its last data
    packet). Round A is running slowly when round B's start comes."""

    def mid_round(self, mode):
        world, band, local = self.logged_in()
        if mode:
            world.fault(band.address, "fetch-mid-round", GLib.Variant("s", mode))
        world.fault(band.address, "fetch-cap", GLib.Variant("u", 400))
        a, started = self.slow_round(world, band, local - datetime.timedelta(days=1))
        return world, band, local, a, started

    def test_modes_by_name(self):
        """"fetch-mid-round" takes "abort", "finish" or "both"; any other name or type is InvalidArgs."""
        world = self.start()
        for mode in ("abort", "finish", "both"):
            world.fault(world.bands[0], "fetch-mid-round", GLib.Variant("s", mode))
        for bad in (GLib.Variant("s", "later"), GLib.Variant("u", 1)):
            self.assert_error(lambda: world.fault(world.bands[0], "fetch-mid-round", bad),
                              SIM_IFACE + ".Error.InvalidArgs")

    def test_abort(self):
        """"abort" (the default): the running round stops at once, without its 10 02 01 (a data packet it had
        already queued may still come, before the answer), and the start is answered; B's packets then come
        from counter 0 with nothing of A among them."""
        world, band, local, a, started = self.mid_round(None)
        written = self.write_fetch(band, start_command(local - datetime.timedelta(hours=1)))
        self.mark_after(band, a, started, written)
        b = Round(world, band.address, band.next_value(FETCH, written)[1])
        self.assertEqual(self.rounds_running(world, band), 0)
        self.pace(world, band, FAST_MS)
        band.write(FETCH, b"\x02")
        self.wait_notes(band, written, lambda s: s.endswith("E"), [a, b], what="B's 10 02 01")
        letters = classify(self.notes(band, written), [a, b])
        self.assertRegex(letters, "^A?SB{%d}E$" % len(b.packets), "at most A's queued packet, then B alone")

    def test_finish(self):
        """"finish": A sends its remaining packets and its 10 02 01 first, then the start is answered; a 02 in
        between is ignored, and a second start replaces the first (only the newest is answered)."""
        world, band, local, a, started = self.mid_round("finish")
        mark = self.mark_after(band, a, started)
        band.write(FETCH, start_command(local - datetime.timedelta(hours=3)))
        band.write(FETCH, b"\x02")
        band.write(FETCH, start_command(local - datetime.timedelta(hours=1)))
        self.assertEqual(self.rounds_running(world, band), 1)
        self.pace(world, band, FAST_MS)
        self.wait_notes(band, mark, lambda s: s.endswith("S"), [a], what="the answer after A's end")
        letters = classify(self.notes(band, mark), [a])
        self.assertRegex(letters, "^A+ES$")
        self.assertEqual(a.next, len(a.packets), "every remaining packet of A, its counters going on")
        b = Round(world, band.address, self.notes(band, mark)[-1][1])
        answered_from, _ = parse_ts(self.notes(band, mark)[-1][1][7:15])
        self.assertEqual(answered_from, (local - datetime.timedelta(hours=1)).replace(second=0))
        mark = band.rec.mark()
        band.write(FETCH, b"\x02")
        self.wait_notes(band, mark, lambda s: s.endswith("E"), [a, b], what="B's 10 02 01")
        self.assertEqual(classify(self.notes(band, mark), [a, b]), "B" * len(b.packets) + "E")

    def test_both(self):
        """"both": the start is answered at once and A goes on alone; after B's 02 the two alternate one packet
        each, B first, A's counter going on and B's from 0; each ends with its own 10 02 01, B's right behind
        its last packet, then A's rest and A's 10 02 01."""
        world, band, local, a, started = self.mid_round("both")
        mark = self.mark_after(band, a, started)
        b = self.start_round(band, local - datetime.timedelta(minutes=30))
        self.assertGreaterEqual(len(b.packets), 5)
        self.assertEqual(self.rounds_running(world, band), 1)
        self.assertRegex(classify(self.notes(band, mark), [a, b]), "^A*S$")
        written = self.write_fetch(band, b"\x02")
        self.assertEqual(self.rounds_running(world, band), 2)
        self.pace(world, band, FAST_MS)
        self.mark_after(band, a, started, written)
        self.wait_notes(band, written, lambda s: s.count("E") == 2, [a, b], what="two 10 02 01")
        letters = classify(self.notes(band, written), [a, b])
        # B first: behind at most the packet of A the band had queued when the 02 came.
        self.assertRegex(letters, "^A?%sBEA+E$" % ("BA" * (len(b.packets) - 1)))
        self.assertEqual((a.next, b.next), (len(a.packets), len(b.packets)))
        self.assertEqual(self.rounds_running(world, band), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
