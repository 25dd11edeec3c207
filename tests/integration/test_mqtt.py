#!/usr/bin/python3
"""MQTT and Home Assistant (issue 8) against a real mosquitto started here on a free loopback port, the
simulated band and the real daemon: discovery checked by Home Assistant's rules, birth replay, broker restarts,
an outage with a kill -9 in the middle, every command verb, hostile payloads, TLS and passwords."""
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from test_gateway import Gateway  # noqa: E402
from harness import Process, free_port  # noqa: E402

import paho.mqtt.client as paho  # noqa: E402

NEW_ALERT = "00002a46-0000-1000-8000-00805f9b34fb"
ALERT_LEVEL = "00002a06-0000-1000-8000-00805f9b34fb"
TIME = "00002a2b-0000-1000-8000-00805f9b34fb"
HR_CTRL = "00002a39-0000-1000-8000-00805f9b34fb"
GW = "testgw"


class HeldDns:
    """A DNS server on a loopback address of its own (127.0.0.0/8 is all loopback, and a resolver cannot be told a
    port), so that two suites on one machine do not meet on port 53. It holds every query until answer(); then it
    answers each held and later query: A with 127.0.0.1, any other type with no records."""

    def __init__(self):
        rnd = random.Random()
        while True:
            self.address = f"127.{rnd.randint(1, 254)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                self.sock.bind((self.address, 53))
                break
            except OSError:
                self.sock.close()
        self.sock.settimeout(0.2)
        self.cond = threading.Condition()
        self.held, self.answering, self.closed = [], False, False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.closed:
            try:
                query, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            with self.cond:
                self.held.append((query, peer))
                self.cond.notify_all()
                if self.answering:
                    self._answer_held()

    def _answer_held(self):
        for query, peer in self.held:
            reply = self.reply(query)
            if reply:
                self.sock.sendto(reply, peer)
        self.held = []

    @staticmethod
    def reply(query):
        """The answer to one query, or None for a packet too short to be one."""
        end = 12
        while end < len(query) and query[end]:
            end += 1 + query[end]
        end += 5  # the name's zero byte, its type and class
        if end > len(query):
            return None
        qtype = int.from_bytes(query[end - 4:end - 2], "big")
        answers = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x7f\x00\x00\x01" if qtype == 1 else b""
        header = query[:2] + b"\x81\x80\x00\x01" + (b"\x00\x01" if answers else b"\x00\x00") + b"\x00\x00\x00\x00"
        return header + query[12:end] + answers

    def wait_query(self, timeout):
        with self.cond:
            if not self.cond.wait_for(lambda: self.held, timeout):
                raise AssertionError("the broker's name was never looked up at the DNS server")

    def answer(self):
        with self.cond:
            self.answering = True
            self._answer_held()

    def close(self):
        self.closed = True
        self.thread.join()
        self.sock.close()


class Broker:
    """A real mosquitto on 127.0.0.1, persistent across its own restarts (as a broker on a Pi is)."""

    def __init__(self, directory, extra=""):
        self.dir = directory
        self.port = free_port()
        self.conf = os.path.join(directory, "mosquitto.conf")
        with open(self.conf, "w") as f:
            # user root: as root, mosquitto would drop to "mosquitto", who cannot read this private directory
            # (a non-root run ignores the line).
            # max_queued_messages 0: a subscriber slower than the gateway's drain loses nothing at the broker (its
            # default drops QoS 1 messages past 1,000 queued for one client).
            f.write(f"user root\nlistener {self.port} 127.0.0.1\npersistence true\npersistence_location {directory}/\n"
                    f"max_queued_messages 0\n{extra or 'allow_anonymous true'}\n")
        self.proc = None
        self.start()

    def start(self):
        self.proc = Process(["mosquitto", "-c", self.conf, "-v"])
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("mosquitto did not start:\n" + self.proc.output())
                time.sleep(0.05)

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc.proc.stdout.close()
            self.proc = None


class Listener:
    """A subscriber to everything, with a persistent session, so nothing published while it is away is lost."""

    def __init__(self, port, topics=("#",), client_id="listener", **tls):
        self.messages = []  # (topic, payload bytes, retain)
        self.cond = threading.Condition()
        self.client = paho.Client(client_id=client_id, clean_session=False)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, rc: [c.subscribe(t, 1) for t in topics]
        self.connected = threading.Event()
        self.client.on_subscribe = lambda *a: self.connected.set()
        if tls.get("auth"):
            self.client.username_pw_set(*tls["auth"])
        if tls.get("ca"):
            self.client.tls_set(ca_certs=tls["ca"])
        self.client.connect("127.0.0.1", port, 30)
        self.client.loop_start()
        assert self.connected.wait(10), "the listener could not subscribe"

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append((msg.topic, msg.payload, msg.retain))
            self.cond.notify_all()

    def wait(self, predicate, timeout=30, what="a message", start=0):
        """The first message from index start on that matches."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for m in self.messages[start:]:
                    if predicate(m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"never saw {what}; saw {[(t, p[:80]) for t, p, _ in self.messages][-30:]}")
                self.cond.wait(left)

    def on(self, topic):
        with self.cond:
            return [p for t, p, _ in self.messages if t == topic]

    def last(self, topic):
        values = self.on(topic)
        return values[-1] if values else None

    def publish(self, topic, payload, retain=False):
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def close(self):
        self.client.loop_stop()
        self.client.disconnect()


class Mqtt(Gateway):
    sim_args = ("--auto-tap", "1", "--days", "1")

    def setUp(self):
        super().setUp()
        self.id = self.addr.replace(":", "").lower()
        self.broker = Broker(tempfile.mkdtemp(prefix="broker.", dir=self.world.dir))
        self.listener = None

    def tearDown(self):
        if self.listener:
            self.listener.close()
        try:
            super().tearDown()
        finally:
            self.broker.stop()

    def mqtt_conf(self, extra=""):
        return f"host = 127.0.0.1\nport = {self.broker.port}\n{extra}"

    def start(self, mqtt_extra="", wait_ready=True):
        self.world.start_gateway([self.addr], gateway_extra=f"id = {GW}\n", mqtt=self.mqtt_conf(mqtt_extra))
        if wait_ready:
            self.world.wait_state(self.addr, "ready", 60)

    def listen(self, **kw):
        self.listener = Listener(self.broker.port, **kw)
        return self.listener

    def t(self, leaf, who=None):
        return f"bandgate/{who or self.id}/{leaf}"

    def state(self):
        raw = self.listener.last(self.t("state"))
        return json.loads(raw) if raw else None

    def wait_state(self, predicate, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            s = self.state()
            if s and predicate(s):
                return s
            self.assertLess(time.monotonic(), deadline, f"state never matched; last {s}\n" +
                            self.world.gateway.output()[-3000:])
            time.sleep(0.1)

    def command(self, verb, payload="PRESS", who=None, timeout=20):
        topic = self.t(f"cmd/{verb}", who)
        before = len(self.listener.on(topic + "/result"))
        self.listener.publish(topic, payload)
        deadline = time.monotonic() + timeout
        while len(self.listener.on(topic + "/result")) <= before:
            self.assertLess(time.monotonic(), deadline, f"no result for {verb}\n" + self.world.gateway.output()[-2000:])
            time.sleep(0.05)
        return json.loads(self.listener.on(topic + "/result")[-1])

    def discovery(self):
        return {t: p.decode() for t, p, _ in self.listener.messages if t.startswith("homeassistant/") and
                t.endswith("/config")}


class Discovery(Mqtt):
    def test_discovery_passes_home_assistants_rules_and_is_replayed_on_its_birth(self):
        self.listen()
        self.start()
        self.listener.wait(lambda m: m[0] == self.t("status", GW) and m[1] == b"online", what="online")
        band_config = f"homeassistant/device/bandgate_{self.id}/config"
        self.listener.wait(lambda m: m[0] == band_config, what="the band's discovery")
        self.world.control("Walk", "(su)", self.addr, 321)
        state = self.wait_state(lambda s: s["connected"] and s["steps"] == self.world.band(self.addr)["steps"])
        self.assertEqual(self.listener.last(self.t("availability")), b"online")
        self.assertEqual(state["state"], "ready")
        self.assertIsInstance(state["battery"], int)
        configs = self.discovery()
        self.listener.wait(lambda m: m[0] == self.t("health", GW), what="health")
        states = {self.t("state"): self.listener.last(self.t("state")).decode(),
                  self.t("availability"): "online", self.t("status", GW): "online",
                  self.t("health", GW): self.listener.last(self.t("health", GW)).decode()}
        self.maxDiff = None
        import ha_rules  # tests/integration/ha_rules.py: Home Assistant's rules, read from its code
        self.assertEqual(ha_rules.problems(configs, states), [])
        # Every entity is retained, so a Home Assistant that starts later finds them.
        late = Listener(self.broker.port, topics=("homeassistant/#", "bandgate/#"), client_id="late")
        try:
            late.wait(lambda m: m[0] == band_config and m[2], what="the retained discovery")
            late.wait(lambda m: m[0] == self.t("state") and m[2], what="the retained state")
        finally:
            late.close()
        # Home Assistant's birth: discovery and states again, after 1-5 s.
        count = len(self.listener.on(band_config))
        born = time.monotonic()
        self.listener.publish("homeassistant/status", "online")
        deadline = time.monotonic() + 10
        while len(self.listener.on(band_config)) == count:
            self.assertLess(time.monotonic(), deadline, "discovery was not replayed after the birth message")
            time.sleep(0.05)
        self.assertGreaterEqual(time.monotonic() - born, 0.9)

    def test_a_forgotten_band_leaves_home_assistant(self):
        self.listen()
        # A retained birth is replayed to the gateway at every subscription: no second discovery round for it.
        self.listener.publish("homeassistant/status", "online", retain=True)
        self.start()
        band_config = f"homeassistant/device/bandgate_{self.id}/config"
        self.listener.wait(lambda m: m[0] == band_config and m[1], what="the band's discovery")
        time.sleep(5.5)
        self.assertEqual(len(self.listener.on(band_config)), 1)
        self.assertNotIn("Home Assistant is online", self.world.gateway.output())
        self.assertEqual(self.world.cli("forget", self.addr).returncode, 0)
        self.listener.wait(lambda m: m[0] == band_config and m[1] == b"", what="the empty config")
        self.listener.wait(lambda m: m[0] == self.t("state") and m[1] == b"", what="the empty state")
        bands = self.listener.wait(lambda m: m[0] == self.t("bands", GW) and m[1] == b"[]", what="no bands")
        self.assertTrue(bands)


class Session(Mqtt):
    def test_broker_restart_brings_online_back(self):
        self.listen()
        self.start()
        status = self.t("status", GW)
        self.listener.wait(lambda m: m[0] == status and m[1] == b"online")
        self.listener.close()
        self.broker.stop()
        time.sleep(1)
        self.broker.start()
        # The broker kept our will's retained "offline"... and the gateway says "online" again in its new session.
        self.listener = Listener(self.broker.port, client_id="after")
        deadline = time.monotonic() + 30
        while self.listener.last(status) != b"online":
            self.assertLess(time.monotonic(), deadline, f"status stayed {self.listener.last(status)}\n" +
                            self.world.gateway.output()[-2000:])
            time.sleep(0.1)
        self.assertIn("lost the broker", self.world.gateway.output())

    def test_nothing_is_lost_while_the_broker_is_away_even_across_a_kill_9(self):
        self.listen()
        self.start()
        self.listener.wait(lambda m: m[0] == self.t("state"))
        self.broker.stop()
        # Produced while the broker is away: button presses, steps, a history sync.
        for _ in range(3):
            self.world.control("PressButton", "(s)", self.addr)
            time.sleep(0.3)
        self.world.control("Walk", "(su)", self.addr, 500)
        self.world.complete_minute(self.addr)  # the walked minute is history now, to sync
        self.assertEqual(self.world.cli("sync", self.addr).returncode, 0)
        deadline = time.monotonic() + 30
        while self.world.db_rows("SELECT count(*) FROM outbox WHERE topic LIKE '%/history'")[0][0] == 0:
            self.assertLess(time.monotonic(), deadline, "no history message was queued")
            time.sleep(0.2)
        time.sleep(1.5)  # the state settles into the outbox
        queued = self.world.db_rows("SELECT topic, payload FROM outbox ORDER BY id")
        self.world.gateway.proc.send_signal(signal.SIGKILL)
        self.world.gateway.proc.wait(10)
        self.world.gateway = None
        # Back without the broker; one more press; then the broker.
        self.start(wait_ready=True)
        self.world.control("PressButton", "(s)", self.addr)
        time.sleep(1)
        self.broker.start()
        presses = self.t("event")
        deadline = time.monotonic() + 60
        while len(self.listener.on(presses)) < 4:
            self.assertLess(time.monotonic(), deadline, f"presses: {self.listener.on(presses)}\n" +
                            self.world.gateway.output()[-3000:])
            time.sleep(0.2)
        events = [json.loads(p) for p in self.listener.on(presses)]
        self.assertTrue(all(e["event_type"] == "press" for e in events))
        times = [e["time"] for e in events]
        self.assertEqual(times, sorted(times), "the presses arrived out of order")
        self.assertEqual(len(set(times)), len(times), "a press arrived twice")
        # Every message queued before the kill arrived, in the order it was queued.
        for topic, payload in queued:
            if topic.endswith("/state") or topic.endswith("/availability") or topic.endswith("/bands"):
                continue  # coalesced: the newest wins
            self.assertIn(bytes(payload), self.listener.on(topic), topic)
        got = [(t, p) for t, p, _ in self.listener.messages]
        order = [got.index((t, bytes(p))) for t, p in queued
                 if not (t.endswith("/state") or t.endswith("/availability") or t.endswith("/bands"))]
        self.assertEqual(order, sorted(order))
        history = [json.loads(p) for p in self.listener.on(self.t("history"))]
        self.assertGreaterEqual(sum(h["steps"] for h in history), 500)
        band = self.world.band(self.addr)
        self.wait_state(lambda s: s["steps"] == band["steps"] and s["connected"])
        deadline = time.monotonic() + 20
        while self.world.db_rows("SELECT count(*) FROM outbox")[0][0]:
            self.assertLess(time.monotonic(), deadline, "the outbox never drained")
            time.sleep(0.2)

    def test_steps_on_the_state_topic_never_go_down_after_a_restart(self):
        self.listen()
        self.start()
        self.world.control("Walk", "(su)", self.addr, 800)
        steps = self.world.band(self.addr)["steps"]
        self.wait_state(lambda s: s["steps"] == steps)
        self.world.control("SetInRange", "(sb)", self.addr, False)
        self.world.wait_state(self.addr, ("disconnected", "connecting", "absent"), 20)
        self.assertEqual(self.world.stop_gateway(), 0)
        self.listener.wait(lambda m: m[0] == self.t("status", GW) and m[1] == b"offline", what="offline")
        mark = len(self.listener.messages)
        self.start(wait_ready=False)
        self.listener.wait(lambda m: m[0] == self.t("status", GW) and m[1] == b"online", what="online again",
                           start=mark)
        time.sleep(2)
        after = [json.loads(p) for t, p, _ in self.listener.messages[mark:] if t == self.t("state") and p]
        self.assertTrue(after)
        self.assertTrue(all(s["steps"] == steps for s in after), after)


    def test_a_stop_in_the_middle_of_a_drain_still_leaves_offline_and_loses_nothing(self):
        """The last word goes out before the clean disconnect that makes the broker drop the will, also behind a
        full window of unacknowledged outbox rows; what the stop cut short goes on the next start."""
        self.start()
        self.assertEqual(self.world.stop_gateway(), 0)
        backlog = 20000  # an outage's worth of events, left in the outbox as a stopped gateway leaves them
        topic = self.t("backlog")  # a topic of its own: the band's real history notes go on as well
        with sqlite3.connect(self.world.database) as db:
            db.executemany("INSERT INTO outbox (topic, payload, qos, retain, coalesce, created) "
                           "VALUES (?, ?, 1, 0, 0, ?)",
                           [(topic, json.dumps({"n": i}).encode(), int(time.time())) for i in range(backlog)])
        self.listen()
        self.start(wait_ready=False)
        status = self.t("status", GW)
        self.listener.wait(lambda m: m[0] == topic, what="the drain under way")
        self.assertEqual(self.world.stop_gateway(), 0)
        self.listener.wait(lambda m: m[0] == status and m[1] == b"offline", what="offline after the stop")
        late = Listener(self.broker.port, topics=(status,), client_id="late")
        try:
            self.assertEqual(late.wait(lambda m: m[0] == status, what="the retained status")[1], b"offline")
        finally:
            late.close()
        self.start(wait_ready=False)
        # Waited for by its progress, not by a total time: under ASan on a loaded machine the drain takes a while.
        arrived, progress = 0, time.monotonic()
        while arrived < backlog:
            self.assertLess(time.monotonic() - progress, 30, f"no progress at {arrived} of {backlog} for 30 s")
            time.sleep(0.2)
            now = len(set(self.listener.on(topic)))  # each payload is one row's: distinct
            if now > arrived:
                arrived, progress = now, time.monotonic()
        ns = [json.loads(p)["n"] for p in self.listener.on(topic)]
        self.assertEqual(sorted(set(ns)), list(range(backlog)))

    def test_a_broker_by_name_and_a_name_that_does_not_resolve(self):
        self.listen()
        self.world.start_gateway([self.addr], gateway_extra=f"id = {GW}\n",
                                 mqtt=f"host = localhost\nport = {self.broker.port}\n")
        self.listener.wait(lambda m: m[0] == self.t("status", GW) and m[1] == b"online", what="online via localhost")
        self.world.wait_state(self.addr, "ready", 60)
        self.assertEqual(self.world.stop_gateway(), 0)
        self.world.start_gateway([self.addr], gateway_extra=f"id = {GW}\n",
                                 mqtt=f"host = no-such-broker.invalid\nport = {self.broker.port}\n")
        self.world.wait_state(self.addr, "ready", 60)
        deadline = time.monotonic() + 20
        while "cannot reach the broker at no-such-broker.invalid" not in self.world.gateway.output():
            self.assertLess(time.monotonic(), deadline, self.world.gateway.output()[-2000:])
            time.sleep(0.1)
        self.assertEqual(self.world.api("GET", "/healthz")[0], 200)
        self.assertIsNone(self.world.gateway.proc.poll())

    @unittest.skipUnless(os.geteuid() == 0, "a private /etc/resolv.conf needs a mount namespace (root)")
    def test_a_dns_server_that_holds_the_query_does_not_stall_the_daemon(self):
        """The broker's name looked up while the DNS server holds the query: libmosquitto's own lookup would block
        the loop for the resolver's whole timeout (30 s here). The API must answer while the query is held (its
        requests give up after 10 s), and the answer, once given, must take the gateway to the broker."""
        dns = HeldDns()
        resolv = os.path.join(self.world.dir, "resolv.conf")
        with open(resolv, "w") as f:
            f.write(f"nameserver {dns.address}\noptions timeout:30 attempts:1\n")
        wrap = ("unshare", "-m", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolv)
        self.listen()
        try:
            self.world.start_gateway([self.addr], gateway_extra=f"id = {GW}\n", wrap=wrap,
                                     mqtt=f"host = broker.bandgate-test\nport = {self.broker.port}\n")
            dns.wait_query(60)
            for _ in range(5):  # the lookup is pending: the DNS server has its query and has not answered
                self.assertEqual(self.world.api("GET", "/healthz")[0], 200)
            dns.answer()
            self.listener.wait(lambda m: m[0] == self.t("status", GW) and m[1] == b"online",
                               what="online through the name the held query resolved")
            self.world.wait_state(self.addr, "ready", 30)
        finally:
            dns.close()

    def test_steps_not_known_yet_are_null_not_zero(self):
        """A band never seen today and away: its steps are unknown. 0 on a total_increasing sensor followed by the
        real count would make Home Assistant add the whole day again."""
        self.world.control("SetInRange", "(sb)", self.addr, False)
        self.listen()
        self.start(wait_ready=False)
        s = self.wait_state(lambda s: s["state"] != "ready")
        self.assertIsNone(s["steps"], s)
        self.assertFalse(s["connected"])


class Commands(Mqtt):
    def alerts(self):
        return self.world.control("GetAlerts", "(s)", self.addr, reply="(a(xyysb))")[0]

    def test_every_verb_reaches_the_band_with_its_result(self):
        self.listen()
        self.start()
        self.world.control("ClearReceived", "(s)", self.addr)
        r = self.command("notify", "Tea is ready")
        self.assertEqual((r["ok"], r["error"]), (True, None))
        self.assertIsInstance(r["notification"], int)
        deadline = time.monotonic() + 20
        while not any(a[3] == "Tea is ready" for a in self.alerts()):
            self.assertLess(time.monotonic(), deadline, f"{self.alerts()}")
            time.sleep(0.2)
        self.listener.wait(lambda m: m[0] == self.t("notification") and json.loads(m[1])["status"] == "sent",
                           what="the notification's status")
        r = self.command("notify", json.dumps({"id": "req-7", "text": "Call", "category": "call"}))
        self.assertEqual((r["ok"], r["id"]), (True, "req-7"))
        self.assertTrue(self.command("vibrate")["ok"])
        self.assertTrue(self.command("find")["ok"])
        deadline = time.monotonic() + 30
        while [a[1] for a in self.alerts()].count(255) < 2:
            self.assertLess(time.monotonic(), deadline, f"{self.alerts()}")
            time.sleep(0.2)
        rows = self.world.db_rows("SELECT source, kind FROM notifications ORDER BY id")
        self.assertEqual(rows, [("mqtt", "text"), ("mqtt", "text"), ("mqtt", "vibrate"), ("mqtt", "find")])
        self.world.control("ClearReceived", "(s)", self.addr)
        self.assertTrue(self.command("set_time")["ok"])
        self.assertTrue(self.command("heart_rate")["ok"])
        self.assertTrue(self.command("sync")["ok"])
        deadline = time.monotonic() + 10
        while not {TIME, HR_CTRL} <= {u for _, u, _ in self.world.writes(self.addr)}:
            self.assertLess(time.monotonic(), deadline, f"{self.world.writes(self.addr)}")
            time.sleep(0.1)
        r = self.command("reconnect")
        self.assertTrue(r["ok"], r)
        self.world.wait_state(self.addr, "ready", 60)
        self.assertTrue(self.command("reboot")["ok"])
        self.listener.wait(lambda m: m[0] == self.t("availability") and m[1] == b"offline", what="offline band")
        self.world.wait_state(self.addr, "ready", 60)
        self.assertTrue(self.command("reset")["ok"])
        self.world.wait_state(self.addr, "ready", 90)
        self.assertTrue(self.command("repair")["ok"])
        self.world.wait_state(self.addr, "ready", 90)
        # The gateway's own verbs.
        h = self.command("health", who=GW)
        self.assertTrue(h["ok"])
        self.assertGreaterEqual(h["uptime"], 1)
        self.assertEqual(h["bands"], 1)
        # The database's size counts its write-ahead log, where what was written lately lives between checkpoints.
        files = [self.world.database, self.world.database + "-wal"]
        on_disk = sum(os.path.getsize(f) for f in files if os.path.exists(f))
        self.assertGreater(os.path.getsize(self.world.database + "-wal"), 0)
        self.assertLessEqual(abs(h["db_bytes"] - on_disk), 256 * 1024, (h, on_disk))
        self.assertGreater(h["db_bytes"], os.path.getsize(self.world.database))
        self.assertTrue(self.command("scan", who=GW)["ok"])
        self.listener.wait(lambda m: m[0] == self.t("scan", GW), timeout=20, what="the scan's result")
        pid = self.world.gateway.proc.pid
        mark = len(self.listener.messages)
        self.assertTrue(self.command("restart", who=GW)["ok"])
        self.listener.wait(lambda m: m[0] == self.t("status", GW) and m[1] == b"offline", what="offline", start=mark)
        self.listener.wait(lambda m: m[0] == self.t("status", GW) and m[1] == b"online", what="online after the restart",
                           start=mark)
        self.assertEqual(self.world.gateway.proc.pid, pid, "restart is an exec in place")
        self.world.wait_state(self.addr, "ready", 60)

    def test_hostile_payloads_get_an_error_result_and_change_nothing(self):
        self.listen()
        self.start()
        verbs = ["notify", "vibrate", "find", "sync", "reconnect", "reset", "repair", "reboot", "set_time",
                 "heart_rate"]
        bad = [("big", b"x" * 5000, "larger than 4096"), ("binary", b"\xff\xfe\x00\x01", "not UTF-8"),
               ("json", b"{\"text\": ", "not valid JSON")]
        for verb in verbs:
            for name, payload, words in bad:
                r = self.command(verb, payload)
                self.assertFalse(r["ok"], f"{verb} {name}")
                self.assertIn(words, r["error"], f"{verb} {name}")
        for verb in ("restart", "scan", "health"):
            r = self.command(verb, b"\xc3\x28", who=GW)
            self.assertFalse(r["ok"])
        for payload in (json.dumps({"text": 5}), json.dumps({"text": "x" * 2000}), "", json.dumps({"id": [1]})):
            r = self.command("notify", payload)
            self.assertFalse(r["ok"], payload)
        self.assertFalse(self.command("dance")["ok"])
        # Names longer than any band's or verb's are answered too, not dropped.
        self.assertIn("unknown command", self.command("x" * 40)["error"])
        self.assertIn("unknown command", self.command("notify", "hi", who="b" * 70)["error"])
        # A retained restart: the broker hands it to the live subscription once (as a plain message, so the
        # gateway restarts once), then replays it retained at every connect: refused there, so no restart loop;
        # and the empty payload that clears it is no command either.
        pid = self.world.gateway.proc.pid
        topic = self.t("cmd/restart", GW)
        self.listener.publish(topic, "PRESS", retain=True)
        r = self.listener.wait(lambda m: m[0] == topic + "/result" and b"retained" in m[1], what="the refusal")
        self.assertFalse(json.loads(r[1])["ok"])
        r = self.command("restart", "", who=GW)
        self.assertFalse(r["ok"])
        self.assertIn("empty payload", r["error"])
        time.sleep(2)
        self.assertEqual(self.world.gateway.proc.pid, pid)
        self.assertEqual(self.world.gateway.output().count("restarting, as asked"), 1)
        self.world.wait_state(self.addr, "ready", 60)
        self.assertIn("no managed band", self.command("notify", "hi", who="c80f10000000")["error"])
        self.assertEqual(self.world.db_rows("SELECT count(*) FROM notifications"), [(0,)])
        self.assertEqual(self.world.state(self.addr)["state"], "ready")
        self.assertTrue(self.command("health", who=GW)["ok"])


class Secured(Mqtt):
    """A broker that wants a password over TLS: the gateway gets in with the right ones and keeps trying,
    without exiting, with the wrong ones."""

    def setUp(self):
        Gateway.setUp(self)
        self.id = self.addr.replace(":", "").lower()
        d = tempfile.mkdtemp(prefix="broker.", dir=self.world.dir)
        self.ca = os.path.join(d, "ca.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        "/CN=test-ca", "-keyout", f"{d}/ca.key", "-out", self.ca], check=True, capture_output=True)
        subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
                        f"{d}/server.key", "-out", f"{d}/server.csr"], check=True, capture_output=True)
        with open(f"{d}/ext", "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\n")
        subprocess.run(["openssl", "x509", "-req", "-in", f"{d}/server.csr", "-CA", self.ca, "-CAkey", f"{d}/ca.key",
                        "-CAcreateserial", "-days", "2", "-extfile", f"{d}/ext", "-out", f"{d}/server.crt"],
                       check=True, capture_output=True)
        subprocess.run(["mosquitto_passwd", "-c", "-b", f"{d}/passwd", "gw", "s3cret pass"], check=True)
        os.chmod(f"{d}/passwd", 0o600)
        self.password_file = os.path.join(self.world.dir, "mqtt-password")
        with open(self.password_file, "w") as f:
            f.write("s3cret pass\n")
        self.broker = Broker(d, f"allow_anonymous false\npassword_file {d}/passwd\ncafile {self.ca}\n"
                                f"certfile {d}/server.crt\nkeyfile {d}/server.key")
        self.listener = None

    def test_tls_and_password(self):
        self.listener = Listener(self.broker.port, auth=("gw", "s3cret pass"), ca=self.ca)
        self.start(f"username = gw\npassword_file = {self.password_file}\ntls = true\ncafile = {self.ca}\n")
        self.listener.wait(lambda m: m[0] == self.t("status", GW) and m[1] == b"online", what="online over TLS")
        self.wait_state(lambda s: s["connected"])
        self.assertNotIn("s3cret", self.world.gateway.output())
        self.assertEqual(self.world.stop_gateway(), 0)
        with open(self.password_file, "w") as f:
            f.write("wrong\n")
        mark = len(self.listener.messages)
        self.start(f"username = gw\npassword_file = {self.password_file}\ntls = true\ncafile = {self.ca}\n",
                   wait_ready=True)
        time.sleep(4)
        self.assertIsNone(self.world.gateway.proc.poll(), "the gateway exited over a refused password")
        online = [m for m in self.listener.messages[mark:] if m[0] == self.t("status", GW) and m[1] == b"online"]
        self.assertEqual(online, [])


if __name__ == "__main__":
    unittest.main()
