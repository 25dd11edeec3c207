#!/usr/bin/python3
"""The JSON API on the Unix socket and the CLI that speaks it: every request refused before its body is read
still gets an HTTP answer with a JSON error, "Connection: close" is honoured, bad bodies and paths are refused
plainly, slow clients are cut off, band objects carry their id, and the CLI gives up on a daemon that never
answers. The daemon runs under the sanitizers in the asan build, and must stop cleanly after all of it."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import World  # noqa: E402


def band_id(address):
    return address.replace(":", "").lower()


class Conn:
    """One raw HTTP/1.1 connection to the API socket, to send what http.client will not."""

    def __init__(self, path, timeout=5):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)
        return self

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise AssertionError(f"the daemon closed the connection without a whole answer (got {self.buf!r})")
        self.buf += data

    def response(self):
        """One answer: (status, headers with lower-case names, the body as JSON, decoded as strict UTF-8)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        length = int(headers["content-length"])
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return int(lines[0].split()[1]), headers, json.loads(body.decode("utf-8"))

    def closed(self, timeout=3):
        """Whether the daemon closes the connection within timeout, having sent nothing more."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b"" and not self.buf
        except socket.timeout:
            return False
        except ConnectionResetError:
            return not self.buf

    def close(self):
        self.sock.close()


def request(method, path, body=b"", headers=()):
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def post(path, body, headers=()):
    return request("POST", path, body, (f"Content-Length: {len(body)}", *headers))


class Api(unittest.TestCase):
    bands = False  # whether the gateway manages the simulated band from the start

    def setUp(self):
        self.world = World(("--auto-tap", "1"))
        self.addr = self.world.bands[0]
        self.world.start_gateway([self.addr] if self.bands else [])
        self.conns = []

    def tearDown(self):
        for c in self.conns:
            c.close()
        sim_output = self.world.sim.output()
        gw, sim = self.world.close()
        self.assertEqual(gw, 0, "bandgate did not stop cleanly:\n" + self.world.last_gateway_output)
        self.assertEqual(sim, 0, "bandgate-sim did not stop cleanly:\n" + sim_output)

    def conn(self, timeout=5):
        c = Conn(self.world.socket, timeout)
        self.conns.append(c)
        return c

    def exchange(self, raw):
        """Sends raw on a fresh connection; returns (status, headers, body, connection)."""
        c = self.conn().send(raw)
        return (*c.response(), c)

    def assertError(self, answer, status, words=""):
        got, headers, body, _ = answer
        self.assertEqual(got, status, body)
        self.assertEqual(headers["content-type"], "application/json")
        self.assertIsInstance(body.get("error"), str, body)
        self.assertIn(words, body["error"])

    def assertAlive(self):
        self.assertEqual(self.world.api("GET", "/healthz"), (200, {}), "the daemon still answers")


class RefusedBeforeTheBody(Api):
    """Item 1: an answer decided from the headers alone reaches the client as HTTP with a JSON body."""

    def test_oversized_content_length_gets_413_and_a_close(self):
        answer = self.exchange(request("POST", "/api/v1/bands", b'{"address": "', ("Content-Length: 100000000",)))
        self.assertError(answer, 413, "too large")
        self.assertEqual(answer[1].get("connection"), "close")
        self.assertTrue(answer[3].closed(), "the rest of a 100 MB body is not read")
        self.assertAlive()

    def test_a_body_on_a_get_is_read_and_dropped(self):
        for path, status in (("/api/v1/nothing", 404), ("/healthz", 200)):
            answer = self.exchange(request("GET", path, b"{}", ("Content-Length: 2",)))
            self.assertEqual(answer[0], status, answer[2])
            self.assertTrue(answer[3].closed())

    def test_zero_length_post_to_a_path_too_long(self):
        self.assertError(self.exchange(post("/api/v1/bands/" + "a" * 300, b"")), 404)
        self.assertError(self.exchange(post("/api/v1/bands/" + "a" * 300, b'{"confirm": true}')), 404)

    def test_other_methods_with_a_body_get_405(self):
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
            answer = self.exchange(request(method, "/api/v1/bands", b"{}", ("Content-Length: 2",)))
            self.assertError(answer, 405, "GET and POST")
            self.assertTrue(answer[3].closed(), method)
        self.assertAlive()

    def test_post_with_a_body_to_a_get_only_route_gets_405(self):
        for path in ("/healthz", "/api/v1/bands/" + band_id(self.addr)):
            self.assertError(self.exchange(post(path, b'{"a": 1}')), 405)
        self.assertError(self.exchange(request("GET", f"/api/v1/bands/{band_id(self.addr)}/actions/sync")), 405)
        self.assertAlive()

    def test_content_length_that_is_not_a_number_gets_400(self):
        for value in ("abc", "12abc", "-1", "+2", "2, 2", "99999999999999999999", "9" * 30):
            answer = self.exchange(request("POST", "/api/v1/bands", b"{}", (f"Content-Length: {value}",)))
            self.assertError(answer, 400, f'Content-Length "{value}"' if len(value) < 24 else "Content-Length")
            self.assertTrue(answer[3].closed(), value)
        answer = self.exchange(request("POST", "/api/v1/bands", b"{}", ("Content-Length: 5000",)))
        self.assertError(answer, 413)
        self.assertTrue(answer[3].closed())
        self.assertAlive()

    def test_chunked_body_gets_411(self):
        answer = self.exchange(request("POST", "/api/v1/bands", b"2\r\n{}\r\n0\r\n\r\n",
                                       ("Transfer-Encoding: chunked",)))
        self.assertError(answer, 411, "Content-Length")
        self.assertTrue(answer[3].closed())
        self.assertAlive()


class ConnectionClose(Api):
    def test_connection_close_is_honoured_without_content_length(self):
        for raw in (request("POST", "/api/v1/scan", b"", ("Connection: close",)),
                    request("GET", "/healthz", b"", ("Connection: close",)),
                    request("GET", "/healthz", b"", ("Connection: TE, close",)),
                    post("/api/v1/scan", b"", ("Connection: close",))):
            status, headers, _, c = self.exchange(raw)
            self.assertEqual(status, 200, raw)
            self.assertEqual(headers.get("connection"), "close", raw)
            self.assertTrue(c.closed(2), f"the connection stayed open after {raw!r}")

    def test_post_without_content_length_is_answered_and_closed(self):
        """lws would wait for up to 100 MB of body: a later request on the connection would be read as body."""
        status, _, _, c = self.exchange(request("POST", "/api/v1/scan"))
        self.assertEqual(status, 200)
        self.assertTrue(c.closed(2))

    def test_every_answer_closes_its_connection(self):
        status, headers, _, c = self.exchange(request("GET", "/api/v1/bands"))
        self.assertEqual((status, headers.get("connection")), (200, "close"))
        self.assertTrue(c.closed(2))

    def test_pipelined_requests_with_a_body_do_not_hang_the_daemon(self):
        """lws 4.1.6 loops forever on a request with a body parsed from pipelined data."""
        for first in (request("GET", "/healthz"), post("/api/v1/bands", b"{oops")):
            c = self.conn().send(first + post("/api/v1/bands", b'{"address": "C8:0F:10:11:22:33"}') +
                                 request("GET", "/healthz"))
            c.response()
            self.assertTrue(c.closed(2), "one answer, then the close")
            self.assertAlive()
        self.assertEqual(self.world.api("GET", "/api/v1/bands"), (200, []), "the pipelined POST was not served")


class BadBodies(Api):
    def test_bad_json_bodies_get_400(self):
        bodies = [b"{not json", b"[]", b'"text"', b'{"address": "C8:0F:10:11:22:33"} trailing',
                  b'{"address": "C8:0F:10:11:22:33"}\x00{}', b'{"a":' + b"[" * 1500 + b"]" * 1500 + b"}",
                  b'{"address": "\xff\xfe"}', b'{"address": "\xc3"}']
        for body in bodies:
            status, _, answer, _ = self.exchange(post("/api/v1/bands", body))
            self.assertEqual(status, 400, (body[:40], answer))
        self.assertEqual(self.world.api("GET", "/api/v1/bands"), (200, []), "nothing was added")

    def test_non_utf8_body_is_named(self):
        self.assertError(self.exchange(post("/api/v1/bands", b'{"address": "\xffC8:0F"}')), 400, "UTF-8")

    def test_non_utf8_path_gets_400(self):
        self.world.api("POST", "/api/v1/bands", {"address": self.addr})
        answer = self.exchange(post(f"/api/v1/bands/{band_id(self.addr)}/actions/%ff%fe", b""))
        self.assertError(answer, 400, "UTF-8")  # the verb used to come back in the error, not UTF-8

    def test_strings_in_errors_stay_json(self):
        status, body = self.world.api("POST", "/api/v1/bands", {"address": "a\"b\\c\u00e9\n"})
        self.assertEqual(status, 400)
        self.assertIn("a\"b\\c\u00e9\n", body["error"])


class SlowClients(Api):
    def test_a_trickled_body_is_cut_off_with_408(self):
        c = self.conn(timeout=30)
        c.send(request("POST", "/api/v1/bands", b"", ("Content-Length: 100",)))
        start = time.monotonic()
        c.sock.settimeout(0.1)
        while time.monotonic() - start < 25 and b"\r\n\r\n" not in c.buf:
            try:
                c.sock.sendall(b" ")
            except OSError:
                break
            try:
                data = c.sock.recv(4096)
                if not data:
                    break
                c.buf += data
            except socket.timeout:
                pass
            time.sleep(0.9)
        c.sock.settimeout(5)
        status, headers, _ = c.response()
        self.assertEqual(status, 408)
        self.assertLess(time.monotonic() - start, 20)
        self.assertTrue(c.closed())

    def test_partial_headers_do_not_hold_the_daemon(self):
        slow = [self.conn(timeout=30).send(b"GET /healthz HTTP/1.1\r\nHost: x") for _ in range(40)]
        self.assertAlive()
        start = time.monotonic()
        for c in slow:
            self.assertTrue(c.closed(25 - (time.monotonic() - start)), "a half-sent request is not kept forever")
        self.assertAlive()

    def test_huge_headers_are_refused_and_the_daemon_lives(self):
        c = self.conn().send(b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
        try:
            closed = c.closed(5)
        except OSError:
            closed = True
        self.assertTrue(closed)
        self.assertAlive()


class BandIds(Api):
    bands = True

    def test_every_band_carries_its_id_and_both_forms_name_it(self):
        self.world.wait_state(self.addr, "ready")
        status, bands = self.world.api("GET", "/api/v1/bands")
        self.assertEqual(status, 200)
        self.assertEqual([(b["id"], b["address"]) for b in bands], [(band_id(self.addr), self.addr)])
        for name in (band_id(self.addr), self.addr, self.addr.lower(), band_id(self.addr).upper()):
            status, band = self.world.api("GET", "/api/v1/bands/" + name)
            self.assertEqual((status, band.get("id")), (200, band_id(self.addr)), name)
        status, band = self.world.api("POST", f"/api/v1/bands/{self.addr}/actions/reconnect")
        self.assertEqual((status, band["id"]), (202, band_id(self.addr)))
        self.assertEqual(self.world.api("GET", "/api/v1/bands/c80f1011223")[0], 400)

    def test_a_band_is_added_by_its_id_too(self):
        self.world.api("POST", f"/api/v1/bands/{band_id(self.addr)}/actions/forget")
        status, band = self.world.api("POST", "/api/v1/bands", {"address": band_id(self.addr)})
        self.assertEqual((status, band["id"], band["address"]), (201, band_id(self.addr), self.addr))

    def test_cli_pair_takes_the_id_form(self):
        self.world.api("POST", f"/api/v1/bands/{band_id(self.addr)}/actions/forget")
        r = self.world.cli("pair", band_id(self.addr), timeout=90)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(r.stdout.rstrip().splitlines()[-1].startswith("ready"), r.stdout)


class Metrics(Api):
    """GET /metrics: Prometheus's text format, checked by promtool (Debian's prometheus package), with values
    that follow the band, the store and the API's own answers."""
    bands = True

    def metrics(self):
        import http.client
        c = __import__("harness").UnixHTTPConnection(self.world.socket)
        c.request("GET", "/metrics")
        r = c.getresponse()
        text = r.read().decode()
        c.close()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.getheader("Content-Type"), "text/plain; version=0.0.4; charset=utf-8")
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr + text)
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values, text

    def wait_metric(self, name, predicate, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            values, text = self.metrics()
            if name in values and predicate(values[name]):
                return values
            self.assertLess(time.monotonic(), deadline, f"{name} never right:\n{text}")
            time.sleep(0.2)

    def test_metrics_follow_the_band_the_store_and_the_answers(self):
        band = self.addr.replace(":", "").lower()
        self.world.wait_state(self.addr, "ready", 60)
        # The first sync stores the band's history: the counter is the rows stored.
        values = self.wait_metric("bandgate_history_samples_stored_total", lambda v: v > 0)
        deadline = time.monotonic() + 60
        while values["bandgate_history_samples_stored_total"] != self.world.db_rows("SELECT count(*) FROM activity")[0][0]:
            self.assertLess(time.monotonic(), deadline, values)
            time.sleep(0.2)
            values = self.metrics()[0]
        self.assertEqual(values['bandgate_bands{state="ready"}'], 1)
        self.assertEqual(values['bandgate_bands{state="absent"}'], 0)
        self.assertEqual(values[f'bandgate_band_connected{{band="{band}"}}'], 1)
        self.assertEqual(values[f'bandgate_band_reconnects_total{{band="{band}"}}'], 0)
        self.assertEqual(values["bandgate_adapter_resets_total"], 0)
        self.assertGreater(values["bandgate_database_bytes"], 0)
        self.assertNotIn("bandgate_mqtt_connected", values, "MQTT is off: no such gauge")
        # The answers so far, counted by code: a 404 adds one.
        before = values.get('bandgate_http_requests_total{code="404"}', 0)
        self.assertEqual(self.world.api("GET", "/api/v1/nothing")[0], 404)
        values = self.metrics()[0]
        self.assertEqual(values['bandgate_http_requests_total{code="404"}'], before + 1)
        self.assertGreater(values['bandgate_http_requests_total{code="200"}'], 0)
        # A dropped link and back: one reconnect.
        self.world.control("DropLink", "(s)", self.addr)
        self.wait_metric(f'bandgate_band_reconnects_total{{band="{band}"}}', lambda v: v == 1)
        self.world.control("SetBattery", "(sub)", self.addr, 42, False)
        self.wait_metric(f'bandgate_band_battery_ratio{{band="{band}"}}', lambda v: v == 0.42)
        self.assertError(self.exchange(request("POST", "/metrics")), 405, "GET")
        self.assertAlive()


class FakeDaemon:
    """A Unix socket server that accepts and then does what `serve(conn)` says (by default: nothing)."""

    def __init__(self, serve=None):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "api.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(8)
        self.serve = serve
        self.stop = threading.Event()
        self.conns = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            self.conns.append(conn)
            if self.serve:
                threading.Thread(target=self.serve, args=(conn, self.stop), daemon=True).start()

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()
        self.dir.cleanup()


def trickle(conn, stop):
    conn.recv(4096)
    while not stop.wait(1):
        try:
            conn.sendall(b"H")
        except OSError:
            return


def not_json(conn, stop):
    conn.recv(4096)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
    conn.close()


class Cli(unittest.TestCase):
    """Item 3: the CLI never hangs on a daemon that does not answer."""

    def run_cli(self, server, *args, timeout=40):
        start = time.monotonic()
        try:
            r = subprocess.run([os.environ["BANDGATE"], *args, "--socket", server.path], capture_output=True,
                               text=True, timeout=timeout)
        finally:
            server.close()
        return r, time.monotonic() - start

    def test_a_daemon_that_never_answers_times_out(self):
        r, took = self.run_cli(FakeDaemon(), "status")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("did not answer", r.stderr)
        self.assertTrue(5 < took < 20, took)

    def test_a_daemon_that_trickles_times_out(self):
        r, took = self.run_cli(FakeDaemon(trickle), "reconnect", "C8:0F:10:11:22:33")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("did not answer", r.stderr)
        self.assertTrue(5 < took < 20, took)

    def test_an_answer_that_is_not_json(self):
        for args in (("status", "--json"), ("status",), ("scan",)):
            r, _ = self.run_cli(FakeDaemon(not_json), *args)
            self.assertEqual(r.returncode, 1, (args, r.returncode, r.stderr))
            self.assertIn("not JSON", r.stderr)

    def test_a_malformed_address_is_a_usage_error(self):
        for address in ("x HTTP/1.1\r\nX: y", 'C8:0F:10:11:22:33"', "C8-0F-10-11-22-33", ""):
            r, _ = self.run_cli(FakeDaemon(), "reset", address, timeout=10)
            self.assertEqual(r.returncode, 2, (address, r.stderr))
            self.assertIn("not a band address", r.stderr)


if __name__ == "__main__":
    unittest.main()
