#!/usr/bin/python3
"""The dashboard's LAN listener (DESIGN.md, Web; web/api.h) against the real daemon and the simulated band: every
route behind the login but the open ones, the login and its cookie, the limit on guesses, CSRF and Origin, idle
sessions, the WebSocket feed (its gate, its frames, a client that talks or never reads), hostile and slow input,
the activity buckets against the SQLite rows, the events timeline, HTTPS, a password changed by SIGHUP and a public
/metrics. Each test starts its own daemon on a free loopback port; a client here is raw sockets, so that it sends
exactly what a test means (no cookie jar, no redirects, no Origin unless given)."""
import base64
import datetime
import gzip
import hashlib
import json
import os
import re
import select
import signal
import socket
import sqlite3
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zoneinfo

sys.path.insert(0, os.path.dirname(__file__))
from harness import World, free_port  # noqa: E402

PASSWORD = "correct horse battery staple"
HASH = None  # made once by `bandgate passwd --stdin` (setUpModule)
TZ = "Asia/Kolkata"  # UTC+05:30: a local hour is not a UTC hour, a local day not a UTC day


def setUpModule():
    global HASH
    HASH = make_hash(PASSWORD)


def make_hash(password):
    """A yescrypt hash of password, made by the daemon's own `bandgate passwd --stdin` in a scratch directory."""
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, "bandgate.conf")
        with open(conf, "w") as f:
            f.write(f"[gateway]\ndatabase = {d}/bandgate.db\n")
        r = subprocess.run([os.environ["BANDGATE"], "passwd", "--stdin", "--config", conf],
                           input=f"{password}\n{password}\n", capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        with open(os.path.join(d, "web-password")) as f:
            return f.read().strip()


def band_id(address):
    return address.replace(":", "").lower()


def wait_until(predicate, timeout, what):
    """predicate's first true value, polled until the deadline; an AssertionError naming what never came."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(0.05)


# ---- HTTP over raw sockets ----

class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # [(lower-case name, value)]
        self.body = body

    def header(self, name):
        values = [v for k, v in self.headers if k == name]
        return values[0] if values else None

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


class Session:
    def __init__(self, cookie, csrf):
        self.cookie = cookie
        self.csrf = csrf


DEFAULT = object()


class Lan:
    """The LAN listener on 127.0.0.1:port, as a client at `source` (another loopback address is another client
    as far as the login limit goes)."""

    def __init__(self, port, tls=False, source="127.0.0.1"):
        self.port = port
        self.tls = tls
        self.source = source
        self.host = f"127.0.0.1:{port}"
        self.origin = f"{'https' if tls else 'http'}://{self.host}"

    def connect(self, timeout=15, rcvbuf=None):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        sock.bind((self.source, 0))
        sock.connect(("127.0.0.1", self.port))
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            sock = ctx.wrap_socket(sock)
        return sock

    def raw(self, data, timeout=15):
        """Sends data on a fresh connection; the answer, or None when the daemon closed without one."""
        sock = self.connect(timeout)
        try:
            sock.sendall(data)
            return read_answer(sock)
        finally:
            sock.close()

    def head(self, method, path, session=None, origin=DEFAULT, csrf=DEFAULT, headers=(), length=None):
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        if session:
            lines.append(f"Cookie: bandgate_session={session.cookie}")
        if origin is DEFAULT:
            origin = self.origin if method == "POST" else None
        if origin:
            lines.append(f"Origin: {origin}")
        if csrf is DEFAULT:
            csrf = session.csrf if session and method == "POST" else None
        if csrf:
            lines.append(f"X-CSRF-Token: {csrf}")
        if length is not None:
            lines.append(f"Content-Length: {length}")
        lines.extend(headers)
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def request(self, method, path, body=None, session=None, origin=DEFAULT, csrf=DEFAULT, headers=()):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        body = body or b""
        length = len(body) if method == "POST" or body else None
        answer = self.raw(self.head(method, path, session, origin, csrf, headers, length) + body)
        if answer is None:
            raise AssertionError(f"{method} {path}: the daemon closed the connection without an answer")
        return answer

    def get(self, path, session=None, **kw):
        return self.request("GET", path, session=session, **kw)

    def post(self, path, body=None, session=None, **kw):
        return self.request("POST", path, body, session=session, **kw)

    def login(self, password=PASSWORD):
        answer = self.post("/api/v1/login", {"password": password})
        assert answer.status == 200, answer
        return Session(cookie_of(answer)[0], answer.json()["csrf"])


def read_answer(sock):
    """One HTTP answer (the daemon closes after it); None when the connection ends before a whole head."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError):
            return None
        if not data:
            return None
        buf += data
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = [(k.strip().lower(), v.strip()) for k, v in (line.split(":", 1) for line in lines[1:])]
    length = int(dict(headers).get("content-length", "0"))
    while len(body) < length:
        data = sock.recv(65536)
        if not data:
            break
        body += data
    return Answer(int(lines[0].split()[1]), headers, body)


def cookie_of(answer):
    """The session cookie an answer sets: (value, {attribute lower-case: value})."""
    header = answer.header("set-cookie")
    assert header, f"no Set-Cookie in {answer.headers}"
    parts = [p.strip() for p in header.split(";")]
    name, value = parts[0].split("=", 1)
    assert name == "bandgate_session", header
    attributes = {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        attributes[k.lower()] = v
    return value, attributes


def closed_within(sock, timeout):
    """Whether the peer closes sock within timeout (anything it sends first is read and dropped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True


# ---- a WebSocket client (RFC 6455), enough for the daemon's feed ----

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Refused(Exception):
    pass


class WebSocket:
    def __init__(self, sock, host, origin=None, cookie=None):
        self.sock = sock
        self.buf = b""
        self.received = 0  # payload bytes of the frames returned
        key = base64.b64encode(os.urandom(16)).decode()
        lines = ["GET /ws HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
        if origin:
            lines.append(f"Origin: {origin}")
        if cookie:
            lines.append(f"Cookie: bandgate_session={cookie}")
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                data = b""
            if not data:
                sock.close()
                raise Refused("closed without an answer")
            self.buf += data
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        if self.status != 101:
            sock.close()
            raise Refused(f"answered {lines[0]}")
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        assert headers.get("sec-websocket-accept") == accept, headers

    def _need(self, n):
        while len(self.buf) < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("the daemon closed the WebSocket")
            self.buf += data

    def frame(self, timeout=30):
        """The next frame: (opcode, payload). Pings are answered on the way."""
        self.sock.settimeout(timeout)
        while True:
            self._need(2)
            opcode, n = self.buf[0] & 0x0F, self.buf[1] & 0x7F
            at = 2
            if n == 126:
                self._need(4)
                n, at = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                self._need(10)
                n, at = struct.unpack("!Q", self.buf[2:10])[0], 10
            assert not self.buf[1] & 0x80, "a server's frames are not masked"
            self._need(at + n)
            payload, self.buf = self.buf[at:at + n], self.buf[at + n:]
            if opcode == 9:
                self.send(payload, opcode=10)
                continue
            self.received += len(payload)
            return opcode, payload

    def message(self, timeout=30):
        opcode, payload = self.frame(timeout)
        assert opcode == 1, (opcode, payload)
        return json.loads(payload.decode("utf-8"))

    def wait_for(self, predicate, timeout=30, what="a frame"):
        """Reads frames until one satisfies predicate; returns it (and the ones before, for the record)."""
        deadline = time.monotonic() + timeout
        seen = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what} in {timeout} s; got {[m.get('type') for m in seen]}")
            try:
                m = self.message(left)
            except socket.timeout:
                continue
            seen.append(m)
            if predicate(m):
                return m

    def send(self, payload, opcode=1):
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def close(self):
        self.sock.close()


# ---- the tests' world ----

class Web(unittest.TestCase):
    """A world per test: the bus, the simulated band, the daemon with its LAN listener; all stopped afterwards (also
    when the set-up fails half-way), and the daemon must stop cleanly."""
    sim_args = ("--auto-tap", "1")
    web = ""            # more lines of [web]
    manage = True       # the gateway manages the simulated band (and the test waits for it to be ready)
    configured = True   # password_hash in the config (else the password file: a first start makes one)
    tls = False
    tz = None           # the daemon's TZ

    def setUp(self):
        self.world = World(self.sim_args)
        self.sockets = []
        self.addCleanup(self.finish)
        self.addr = self.world.bands[0]
        self.id = band_id(self.addr)
        if self.tls:
            self.make_cert()
        self.start()
        if self.manage:
            self.world.wait_state(self.addr, "ready")

    def finish(self):
        for s in self.sockets:
            s.close()
        sim_output = self.world.sim.output()
        gw, sim = self.world.close()
        if os.environ.get("BANDGATE_IT_VERBOSE"):
            print(self.world.last_gateway_output, file=sys.stderr)
        self.assertEqual(gw, 0, "bandgate did not stop cleanly:\n" + self.world.last_gateway_output)
        self.assertEqual(sim, 0, "bandgate-sim did not stop cleanly:\n" + sim_output)

    def make_cert(self):
        self.cert = os.path.join(self.world.dir, "cert.pem")
        self.key = os.path.join(self.world.dir, "key.pem")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                            "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "2", "-subj", "/CN=127.0.0.1"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def web_lines(self, port):
        lines = f"listen = 127.0.0.1:{port}\n"
        if self.configured:
            lines += f"password_hash = {HASH}\n"
        if self.tls:
            lines += f"tls_cert = {self.cert}\ntls_key = {self.key}\n"
        return lines + self.web

    def start(self):
        """The daemon on a free port (another one if a test elsewhere took it in the meantime)."""
        saved = os.environ.get("TZ")
        if self.tz:
            os.environ["TZ"] = self.tz
        try:
            for attempt in range(5):
                self.port = free_port()
                try:
                    self.world.start_gateway([self.addr] if self.manage else [], web=self.web_lines(self.port))
                    break
                except RuntimeError as e:
                    self.world.stop_gateway()
                    if "is the port in use" not in str(e) or attempt == 4:
                        raise
        finally:
            if saved is None:
                os.environ.pop("TZ", None)
            else:
                os.environ["TZ"] = saved
        self.lan = Lan(self.port, self.tls)

    def log(self):
        return self.world.gateway.output()

    def wait_log(self, text, timeout=30):
        line = self.world.gateway.wait_line(lambda l: text in l, timeout)
        self.assertIsNotNone(line, f"no log line with '{text}':\n" + self.log())
        return line

    def band_path(self, what=""):
        return f"/api/v1/bands/{self.id}{what}"

    def ws(self, session=None, origin=DEFAULT, lan=None, rcvbuf=None):
        lan = lan or self.lan
        sock = lan.connect(rcvbuf=rcvbuf)
        self.sockets.append(sock)
        w = WebSocket(sock, lan.host, lan.origin if origin is DEFAULT else origin,
                      session.cookie if session else None)
        return w

    def unix_ws(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(15)
        sock.connect(self.world.socket)
        self.sockets.append(sock)
        return WebSocket(sock, "localhost")

    def assertError(self, answer, status, words="", msg=None):
        self.assertEqual(answer.status, status, (msg, answer))
        self.assertEqual(answer.header("content-type"), "application/json", answer.headers)
        body = answer.json()
        self.assertEqual(list(body), ["error"], body)
        self.assertIsInstance(body["error"], str)
        self.assertIn(words, body["error"])

    def assertAlive(self, session=None):
        self.assertEqual(self.lan.get("/healthz").status, 200, "the daemon still serves")
        if session:
            self.assertEqual(self.lan.get("/api/v1/bands", session).status, 200)
        self.assertEqual(self.world.api("GET", "/healthz"), (200, {}))

    def notifications(self):
        return self.world.db_rows("SELECT id, source, kind, text, status FROM notifications ORDER BY id")


class Gate(Web):
    """Item 1: on the LAN everything but /healthz, the page's files, the login and the session's own check needs a
    session; the Unix socket needs none."""

    def closed_routes(self):
        gets = ["/api/v1/bands", self.band_path(), self.band_path("/activity"), self.band_path("/events"),
                self.band_path("/notifications"), "/api/v1/health", "/api/v1/scan", "/metrics", "/ws"]
        posts = [("/api/v1/scan", None), ("/api/v1/bands", {"address": "C8:0F:10:00:00:01"}),
                 (self.band_path("/actions/notify"), {"text": "hello"}), (self.band_path("/actions/sync"), None),
                 (self.band_path("/actions/reconnect"), None), ("/api/v1/logout", None)]
        return gets, posts

    def test_without_a_session_every_route_but_the_open_ones_is_401(self):
        gets, posts = self.closed_routes()
        for path in gets:
            self.assertError(self.lan.get(path), 401, "log in")
        # With the page's own Origin, so that it is the missing session that refuses them.
        for path, body in posts:
            self.assertError(self.lan.post(path, body), 401, "log in")
        # A cookie that names no session is no session; nor is one of the wrong length.
        for cookie in ("0" * 64, "0" * 63, "0" * 65, "", "x;y"):
            self.assertError(self.lan.get("/api/v1/bands", Session(cookie, "0" * 64)), 401)
        self.assertEqual(self.notifications(), [], "a refused POST did nothing")
        self.assertEqual(self.world.api("GET", "/api/v1/bands")[1][0]["state"], "ready")
        self.assertEqual(len(self.world.api("GET", "/api/v1/bands")[1]), 1)

    def test_the_open_routes_need_no_session(self):
        answer = self.lan.get("/healthz")
        self.assertEqual((answer.status, answer.json()), (200, {}))
        for path, kind in (("/", "text/html"), ("/app.js", "javascript"), ("/app.css", "text/css"),
                           ("/icon.svg", "image/svg+xml")):
            answer = self.lan.get(path)
            self.assertEqual(answer.status, 200, path)
            self.assertIn(kind, answer.header("content-type"), path)
            self.assertGreater(len(answer.body), 100, path)
            self.assertEqual(answer.header("x-frame-options"), "DENY")
            self.assertIn("default-src 'self'", answer.header("content-security-policy"))
        # The page's files are revalidated by their ETag, and sent gzipped to who takes it.
        page = self.lan.get("/")
        etag = page.header("etag")
        self.assertTrue(etag)
        self.assertEqual(page.header("cache-control"), "no-cache")
        self.assertEqual(self.lan.get("/", headers=(f"If-None-Match: {etag}",)).status, 304)
        self.assertEqual(self.lan.get("/", headers=('If-None-Match: "other"',)).status, 200)
        gz = self.lan.get("/app.js", headers=("Accept-Encoding: gzip",))
        self.assertEqual(gz.header("content-encoding"), "gzip")
        self.assertEqual(gzip.decompress(gz.body), self.lan.get("/app.js").body)
        # The security headers are on every answer, errors too.
        refused = self.lan.get("/api/v1/bands")
        self.assertEqual(refused.header("x-content-type-options"), "nosniff")
        self.assertIn("frame-ancestors 'none'", refused.header("content-security-policy"))
        self.assertEqual(refused.header("cache-control"), "no-store")
        # The session's own check is reachable: it says there is none.
        self.assertError(self.lan.get("/api/v1/session"), 401)
        # The login is reachable: a body without a password is refused for what it is, not for the session.
        self.assertError(self.lan.post("/api/v1/login", {}), 400, "password")
        self.assertError(self.lan.post("/api/v1/login", {"password": 5}), 400, "password")

    def test_the_unix_socket_needs_no_login(self):
        gets, _ = self.closed_routes()
        for path in gets[:-2]:
            status, _ = self.world.api("GET", path)
            self.assertEqual(status, 200, path)
        status, body = self.world.api("POST", self.band_path("/actions/notify"), {"text": "from the CLI"})
        self.assertEqual(status, 202, body)
        self.assertEqual(self.notifications()[0][1:4], ("api", "text", "from the CLI"))
        self.assertEqual(self.world.api("POST", "/api/v1/scan")[0], 200)
        self.assertEqual(self.world.api("POST", self.band_path("/actions/sync"))[0], 202)
        # The feed too: no cookie, no Origin.
        w = self.unix_ws()
        snapshot = w.message()
        self.assertEqual(snapshot["type"], "snapshot")
        self.assertEqual([b["id"] for b in snapshot["bands"]], [self.id])
        # And the LAN's gate is not fooled by a session the Unix socket never needed.
        self.assertError(self.lan.get("/api/v1/bands"), 401)


class Login(Web):
    """Item 2: the login, its cookie, the session's check, logout; no secret in any answer or log line."""

    def test_a_wrong_password_is_401_and_logged_without_the_password(self):
        guess = "not the password at all"
        self.assertError(self.lan.post("/api/v1/login", {"password": guess}), 401, "wrong password")
        line = self.wait_log("wrong password from")
        self.assertIn("127.0.0.1", line)
        self.assertNotIn(guess, self.log())
        self.assertEqual(self.lan.get("/api/v1/bands").status, 401)

    def test_the_right_password_gives_a_session_cookie_and_its_csrf_token(self):
        answer = self.lan.post("/api/v1/login", {"password": PASSWORD})
        self.assertEqual(answer.status, 200, answer)
        body = answer.json()
        self.assertEqual(list(body), ["csrf"])
        self.assertRegex(body["csrf"], "^[0-9a-f]{64}$")
        cookie, attributes = cookie_of(answer)
        self.assertRegex(cookie, "^[0-9a-f]{64}$")
        self.assertNotEqual(cookie, body["csrf"])
        self.assertIn("httponly", attributes)
        self.assertEqual(attributes.get("samesite", "").lower(), "strict")
        self.assertEqual(attributes.get("path"), "/")
        self.assertNotIn("secure", attributes, "no Secure on plain HTTP: the browser would drop the cookie")
        self.assertEqual(answer.header("cache-control"), "no-store")
        line = self.wait_log("logged in")
        self.assertIn("127.0.0.1", line)
        session = Session(cookie, body["csrf"])
        answer = self.lan.get("/api/v1/session", session)
        self.assertEqual((answer.status, answer.json()), (200, {"csrf": session.csrf}))
        answer = self.lan.get("/api/v1/bands", session)
        self.assertEqual(answer.status, 200, answer)
        self.assertEqual([b["id"] for b in answer.json()], [self.id])
        # The cookie among others, as a browser sends it.
        answer = self.lan.get("/api/v1/session", headers=(f"Cookie: theme=dark; bandgate_session={cookie}; x=y",))
        self.assertEqual((answer.status, answer.json()), (200, {"csrf": session.csrf}))
        # A second login (another browser) is another session; both live.
        other = self.lan.login()
        self.assertNotEqual((other.cookie, other.csrf), (session.cookie, session.csrf))
        self.assertEqual(self.lan.get("/api/v1/session", session).json(), {"csrf": session.csrf})
        self.assertEqual(self.lan.get("/api/v1/session", other).json(), {"csrf": other.csrf})

    def test_logout_clears_the_cookie_and_ends_the_session(self):
        session, other = self.lan.login(), self.lan.login()
        # A logout is a POST: from another site's page (or none) it is refused.
        self.assertError(self.lan.post("/api/v1/logout", session=session, origin="http://evil.example"), 403)
        self.assertError(self.lan.post("/api/v1/logout", session=session, origin=None), 403)
        self.assertEqual(self.lan.get("/api/v1/session", session).status, 200)
        answer = self.lan.post("/api/v1/logout", session=session)
        self.assertEqual(answer.status, 200, answer)
        value, attributes = cookie_of(answer)
        self.assertEqual(value, "")
        self.assertEqual(attributes.get("max-age"), "0")
        self.assertIn("httponly", attributes)
        for path in ("/api/v1/session", "/api/v1/bands", "/api/v1/health"):
            self.assertError(self.lan.get(path, session), 401)
        self.assertError(self.lan.post(self.band_path("/actions/notify"), {"text": "x"}, session), 401)
        with self.assertRaises(Refused):
            self.ws(session)
        self.assertEqual(self.lan.get("/api/v1/bands", other).status, 200, "the other session lives on")

    def test_a_logout_ends_the_session_s_feed(self):
        session = self.lan.login()
        feed = self.ws(session)
        self.assertEqual(feed.message()["type"], "snapshot")
        self.assertEqual(self.lan.post("/api/v1/logout", session=session).status, 200)
        self.assertTrue(closed_within(feed.sock, 5), "the feed of a session logged out ends")

    def test_no_password_or_hash_in_any_answer_page_file_or_log_line(self):
        secrets = [PASSWORD, HASH, HASH.rsplit("$", 1)[1], HASH.rsplit("$", 2)[1]]
        answers = [self.lan.post("/api/v1/login", {"password": PASSWORD + "x"})]
        answers.append(self.lan.post("/api/v1/login", {"password": PASSWORD}))
        session = Session(cookie_of(answers[-1])[0], answers[-1].json()["csrf"])
        for path in ("/", "/index.html", "/app.js", "/app.css", "/icon.svg", "/healthz", "/api/v1/session",
                     "/api/v1/bands", self.band_path(), self.band_path("/activity"), self.band_path("/events"),
                     self.band_path("/notifications"), "/api/v1/health", "/api/v1/scan", "/metrics"):
            answers.append(self.lan.get(path, session))
            self.assertEqual(answers[-1].status, 200, path)
            answers.append(self.lan.get(path, session, headers=("Accept-Encoding: identity",)))
        texts = [a.body.decode("utf-8", "replace") + repr(a.headers) for a in answers]
        texts += [json.dumps(self.ws(session).message())]
        texts += [json.dumps(self.world.api("GET", path)) for path in ("/api/v1/bands", "/api/v1/health")]
        r = subprocess.run([os.environ["BANDGATE"], "--check-config", "--config",
                            os.path.join(self.world.dir, "bandgate.conf")], capture_output=True, text=True)
        self.assertIn("password_hash = (set)", r.stdout)
        texts += [r.stdout, r.stderr]
        self.lan.post("/api/v1/logout", session=session)
        self.wait_log("logged in")
        texts.append(self.log())
        for text in texts:
            for secret in secrets:
                self.assertNotIn(secret, text)


class FirstStart(Web):
    """Without a configured hash, the first start makes a password, stores its hash 0600 and logs it once."""
    configured = False

    def test_the_logged_password_logs_in_and_is_logged_once(self):
        line = self.wait_log("the dashboard's password is")
        password = re.search(r"password is (\S+) ", line).group(1)
        self.assertEqual(len(password), 20)
        session = self.lan.login(password)
        self.assertEqual(self.lan.get("/api/v1/bands", session).status, 200)
        path = os.path.join(os.path.dirname(self.world.database), "web-password")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        with open(path) as f:
            stored = f.read()
        self.assertTrue(stored.startswith("$y$"))
        self.assertNotIn(password, stored)
        self.assertEqual(self.log().count(password), 1)
        # A second start keeps it, and says it no more.
        self.world.stop_gateway()
        self.start()
        self.assertEqual(self.lan.get("/api/v1/bands", self.lan.login(password)).status, 200)
        self.assertNotIn(password, self.log())
        self.assertNotIn("the dashboard's password is", self.log())


class RateLimit(Web):
    """Item 3: guesses from one address are limited; another address is not."""

    def test_repeated_wrong_passwords_get_429_with_retry_after(self):
        guesser = Lan(self.port, source="127.0.0.2")
        for i in range(5):
            self.assertError(guesser.post("/api/v1/login", {"password": f"guess number {i}"}), 401)
        answer = guesser.post("/api/v1/login", {"password": "guess number 5"})
        self.assertError(answer, 429)
        self.assertRegex(answer.header("retry-after") or "", r"^[0-9]+$")
        self.assertTrue(1 <= int(answer.header("retry-after")) <= 30, answer.headers)
        # While limited, the right password is refused too (it would let a guesser know it was right).
        answer = guesser.post("/api/v1/login", {"password": PASSWORD})
        self.assertError(answer, 429)
        self.assertTrue(1 <= int(answer.header("retry-after")) <= 30, answer.headers)
        self.assertNotIn("set-cookie", [k for k, _ in answer.headers])
        line = self.wait_log("too many wrong passwords")
        self.assertIn("127.0.0.2", line)
        # A guesser that goes on is refused each time, and the log does not fill with it (a few lines a minute).
        for i in range(30):
            self.assertError(guesser.post("/api/v1/login", {"password": PASSWORD}), 429)
        self.assertLessEqual(self.log().count("too many wrong passwords"), 10)
        # Another address logs in.
        session = self.lan.login()
        self.assertEqual(self.lan.get("/api/v1/bands", session).status, 200)
        for i in range(5):
            self.assertNotIn(f"guess number {i}", self.log())


    def test_a_login_refused_as_busy_costs_no_try(self):
        """Logins past LOGINS_RUNNING_MAX at once are refused with Retry-After: 1 before their password is checked:
        that must not spend one of the address's tries. Whatever the timing, the address gets exactly LOGIN_BURST
        answers that checked its password (401) before the limit (429 with a longer wait)."""
        guesser = Lan(self.port, source="127.0.0.3")
        answers = []

        def guess(i):
            answers.append(guesser.post("/api/v1/login", {"password": f"parallel guess {i}"}))

        start = time.monotonic()
        threads = [threading.Thread(target=guess, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(len(answers), 8)
        self.assertEqual({a.status for a in answers} - {401, 429}, set(), answers)
        busy = [a for a in answers if a.status == 429 and a.header("retry-after") == "1"]
        checked = [a for a in answers if a.status == 401]
        while True:
            answer = guesser.post("/api/v1/login", {"password": "one more guess"})
            if answer.status == 429 and answer.header("retry-after") != "1":
                break
            self.assertIn(answer.status, (401, 429), answer)
            if answer.status == 401:
                checked.append(answer)
        refills = int((time.monotonic() - start) / 30)
        self.assertTrue(5 <= len(checked) <= 5 + refills, (len(checked), len(busy)))


class Csrf(Web):
    """Item 4: a POST with a session also needs the session's token and the page's own Origin."""

    def notify(self, session, **kw):
        return self.lan.post(self.band_path("/actions/notify"), {"text": "from the dashboard"}, session, **kw)

    def test_token_and_origin(self):
        session, other = self.lan.login(), self.lan.login()
        self.assertError(self.notify(session, csrf=None), 403, "CSRF")
        self.assertError(self.notify(session, csrf="0" * 64), 403, "CSRF")
        self.assertError(self.notify(session, csrf=session.csrf[:-1]), 403, "CSRF")
        self.assertError(self.notify(session, csrf=session.csrf + "0"), 403, "CSRF")
        self.assertError(self.notify(session, csrf=other.csrf), 403, "CSRF")
        self.assertError(self.notify(session, csrf=session.cookie), 403, "CSRF")
        for origin in ("http://evil.example", f"http://127.0.0.1:{self.port + 1}", f"https://127.0.0.1:{self.port}",
                       f"http://127.0.0.1:{self.port}/", "http://127.0.0.1", "null", None):
            self.assertError(self.notify(session, origin=origin), 403, "Origin")
        # The login itself is refused from another site's page.
        self.assertError(self.lan.post("/api/v1/login", {"password": PASSWORD}, origin="http://evil.example"), 403)
        self.assertEqual(self.notifications(), [], "a refused POST did nothing")
        answer = self.notify(session)
        self.assertEqual(answer.status, 202, answer)
        body = answer.json()
        self.assertEqual(body["status"], "queued")
        rows = self.notifications()
        self.assertEqual(rows, [(body["id"], "web", "text", "from the dashboard", rows[0][4])])
        # The action happens: the band shows the text.
        wait_until(lambda: any(a[3] == "from the dashboard" for a in self.world.control(
            "GetAlerts", "(s)", self.addr, reply="(a(xyysb))")[0]), 30, "the text on the band")
        # A GET needs no token and no Origin; a foreign Origin on a GET changes nothing (it cannot act).
        self.assertEqual(self.lan.get("/api/v1/bands", session, origin="http://evil.example").status, 200)


class Expiry(Web):
    """Item 5: a session unused for session_timeout seconds ends; using it keeps it."""
    web = "session_timeout = 5\n"

    def test_an_idle_session_ends(self):
        session = self.lan.login()
        # Used every second for 7 s: each use starts its idle time again.
        start = time.monotonic()
        while time.monotonic() - start < 7:
            self.assertEqual(self.lan.get("/api/v1/bands", session).status, 200)
            time.sleep(1)
        # A sleep as a lower bound: the daemon saw the last use before this answer came.
        time.sleep(5.5)
        self.assertError(self.lan.get("/api/v1/bands", session), 401)
        self.assertError(self.lan.get("/api/v1/session", session), 401)
        with self.assertRaises(Refused):
            self.ws(session)
        self.assertEqual(self.lan.get("/api/v1/bands", self.lan.login()).status, 200)


class Live(Web):
    """Item 6: GET /ws, its gate and its frames."""

    def test_snapshot_then_button_notification_and_band_frames(self):
        session = self.lan.login()
        w = self.ws(session)
        snapshot = w.message()
        self.assertEqual(snapshot["type"], "snapshot")
        self.assertEqual([b["id"] for b in snapshot["bands"]], [self.id])
        self.assertEqual(snapshot["bands"][0]["state"], "ready")
        self.assertEqual(snapshot["bands"][0], self.lan.get(self.band_path(), session).json() | {
            k: snapshot["bands"][0][k] for k in ("rssi", "since", "steps", "distance", "calories", "heart_rate",
                                                 "last_sync", "sync")}, "the feed's view is the API's")
        self.assertIn("version", snapshot["health"])
        self.assertEqual(snapshot["health"]["bands"], 1)
        # The wearer presses the button.
        self.world.control("PressButton", "(s)", self.addr)
        button = w.wait_for(lambda m: m["type"] == "button", what="button frame")
        self.assertEqual(button["id"], self.id)
        self.assertIsNotNone(datetime.datetime.fromisoformat(button["time"]).tzinfo)
        # A notification: queued, then sent, under the id the POST answered.
        answer = self.lan.post(self.band_path("/actions/notify"), {"text": "live"}, session)
        self.assertEqual(answer.status, 202, answer)
        nid = answer.json()["id"]
        statuses = []
        while "sent" not in statuses:
            m = w.wait_for(lambda m: m["type"] == "notification", what="notification frame")
            self.assertEqual((m["id"], m["notification"]["id"]), (self.id, nid))
            self.assertEqual(m["notification"]["text"], "live")
            statuses.append(m["notification"]["status"])
        self.assertEqual(statuses[0], "queued")
        self.assertEqual(statuses[-1], "sent")
        # The band's view changes: its battery.
        self.world.control("SetBattery", "(sub)", self.addr, 42, True)
        m = w.wait_for(lambda m: m["type"] == "band" and m["band"]["battery"] == 42, what="band frame with 42 %")
        self.assertEqual(m["band"]["id"], self.id)
        self.assertTrue(m["band"]["charging"])
        # A reconnect: the band frames go through the states and come back ready.
        self.assertEqual(self.lan.post(self.band_path("/actions/reconnect"), session=session).status, 202)
        w.wait_for(lambda m: m["type"] == "band" and m["band"]["state"] != "ready", what="a band frame not ready")
        w.wait_for(lambda m: m["type"] == "band" and m["band"]["state"] == "ready", what="a band frame ready again")

    def test_the_gate_of_the_feed(self):
        session = self.lan.login()
        for origin in ("http://evil.example", f"https://127.0.0.1:{self.port}", None):
            with self.assertRaises(Refused, msg=origin):
                self.ws(session, origin=origin)
        self.wait_log("its Origin is not this page's")
        with self.assertRaises(Refused):
            self.ws()
        with self.assertRaises(Refused):
            self.ws(Session("0" * 64, ""))
        self.wait_log("refused: no session")
        self.assertEqual(self.ws(session).message()["type"], "snapshot")
        for _ in range(20):
            with self.assertRaises(Refused):
                self.ws()
        self.assertLessEqual(self.log().count("WebSocket from"), 10, "a few lines a minute")

    def test_a_client_that_sends_is_closed_with_1008(self):
        session = self.lan.login()
        w = self.ws(session)
        self.assertEqual(w.message()["type"], "snapshot")
        w.send(b'{"type": "hello"}')
        # The close follows what the daemon had queued before it read the message (the live band's updates).
        deadline = time.monotonic() + 30
        opcode, payload = w.frame()
        while opcode == 1 and time.monotonic() < deadline:
            self.assertIn("type", json.loads(payload), payload)
            opcode, payload = w.frame()
        self.assertEqual(opcode, 8, payload)
        self.assertEqual(struct.unpack("!H", payload[:2])[0], 1008)
        self.assertIn(b"only sends", payload[2:])
        self.assertTrue(closed_within(w.sock, 10))
        self.wait_log("sent a message: closing it")
        self.assertEqual(self.ws(session).message()["type"], "snapshot")

    def test_a_client_that_never_reads_is_dropped(self):
        session = self.lan.login()
        reader = self.ws(session)
        self.assertEqual(reader.message()["type"], "snapshot")
        sleeper = self.ws(session, rcvbuf=4096)
        # The sleeper reads nothing more (and takes little into its socket): band frames of ~700 bytes pile up for
        # it, one a step, until the daemon gives up on it. The reader gets the same frames: what it read since the
        # sleeper came is what the daemon had for the sleeper. That is bounded: WS_QUEUE_MAX (256 KiB) waiting, its
        # socket's fixed send buffer (128 KiB) and the sleeper's receive buffer; not TCP's autotuned 4 MB, which
        # took so many steps on a loaded machine that the 40 s hang-up of a silent client came first.
        start = reader.received
        done = 0
        deadline = time.monotonic() + 180
        while "does not read" not in self.log():
            piled = reader.received - start
            self.assertLess(piled, 1024 * 1024, f"not dropped with {piled} bytes for it:\n" + self.log())
            self.assertLess(time.monotonic(), deadline, f"still not dropped after {done} changes:\n" + self.log())
            for _ in range(50):
                self.world.control("Walk", "(su)", self.addr, 1)
            done += 50
            # The reader keeps up: it reads every frame up to a button press after the steps (a step frame's value
            # cannot mark the end: a minute's steps stop at 255, and its frames then all look alike).
            self.world.control("PressButton", "(s)", self.addr)
            reader.wait_for(lambda m: m["type"] == "button", what=f"the button after {done} steps")
        line = self.wait_log("does not read")
        self.assertIn("127.0.0.1", line)
        self.assertEqual(self.log().count("does not read"), 1, "the reader is not dropped:\n" + self.log())
        self.assertTrue(closed_within(sleeper.sock, 30), "the sleeper's connection is closed")
        self.assertAlive(session)
        self.world.control("PressButton", "(s)", self.addr)
        reader.wait_for(lambda m: m["type"] == "button", what="the last button")
        self.assertEqual(self.ws(session).message()["type"], "snapshot", "a new client is served")


class BadInput(Web):
    """Item 7: hostile or broken requests from a client with a session get a 4xx with a JSON error (or, for what
    libwebsockets refuses itself, a close), and the daemon serves on."""

    def setUp(self):
        super().setUp()
        self.session = self.lan.login()

    def test_other_methods(self):
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS"):
            for body in (b"", b"{}"):
                answer = self.lan.raw(self.lan.head(method, "/api/v1/bands", self.session, origin=self.lan.origin,
                                                    length=len(body) if body else None) + body)
                if answer is not None:
                    self.assertError(answer, 405, "GET and POST")
                self.assertAlive(self.session)
        # A method lws does not know at all.
        answer = self.lan.raw(b"BREW /api/v1/bands HTTP/1.1\r\nHost: " + self.lan.host.encode() + b"\r\n\r\n")
        self.assertTrue(answer is None or 400 <= answer.status < 500, answer)
        self.assertAlive(self.session)

    def test_bodies(self):
        notify = self.band_path("/actions/notify")
        for body in (b"{not json", b"[]", b'"text"', b'{"text": "a"} trailing', b'{"text": "\xff"}',
                     b'{"text": "a"}\x00', b"{" * 2000):
            self.assertError(self.lan.post(notify, body, self.session), 400)
        self.assertError(self.lan.post(notify, {"text": 5}, self.session), 400, "string")
        self.assertError(self.lan.post(notify, b'{"text": "' + b"a" * 5000 + b'"}', self.session), 413)
        self.assertError(self.lan.post(notify, b'{"text": "' + b"a" * 4085 + b'"}', self.session), 413)
        # 4096 bytes are read (and this text is refused for its own length).
        self.assertError(self.lan.post(notify, b'{"text": "' + b"a" * 4084 + b'"}', self.session), 400, "1024")
        head = self.lan.head("POST", notify, self.session, headers=("Transfer-Encoding: chunked",))
        self.assertError(self.lan.raw(head + b"d\r\n{\"text\": \"a\"}\r\n0\r\n\r\n"), 411, "Content-Length")
        head = self.lan.head("POST", notify, self.session, length="abc")
        self.assertError(self.lan.raw(head + b"{}"), 400, "Content-Length")
        self.assertEqual(self.notifications(), [])
        self.assertAlive(self.session)

    def test_a_header_over_the_limit(self):
        for name in ("X-Big", "Cookie", "Origin", "Host"):
            answer = self.lan.raw(b"GET /api/v1/bands HTTP/1.1\r\nHost: " + self.lan.host.encode() + b"\r\n" +
                                  name.encode() + b": " + b"a" * 20000 + b"\r\n\r\n")
            self.assertTrue(answer is None or 400 <= answer.status < 500, (name, answer))
            self.assertAlive(self.session)
        # Many headers, each small.
        answer = self.lan.raw(self.lan.head("GET", "/api/v1/bands", self.session,
                                            headers=[f"X-H{i}: {'b' * 60}" for i in range(300)]))
        self.assertTrue(answer is None or answer.status in (200, 400, 431), answer)
        self.assertAlive(self.session)

    def test_band_ids(self):
        other = "C8:0F:10:00:00:01"
        for what in ("", "/activity", "/events", "/notifications"):
            self.assertError(self.lan.get(f"/api/v1/bands/{band_id(other)}{what}", self.session), 404, "no managed")
            self.assertError(self.lan.get(f"/api/v1/bands/{other}{what}", self.session), 404)
            for bad in ("c80f1000000", "c80f100000011", "zz0f10000001", "C8:0F:10:00:00", "C8-0F-10-00-00-01",
                        "C8:0F:10:00:00:01:02", "%20c80f10000001", "c80f10000001%20"):
                self.assertError(self.lan.get(f"/api/v1/bands/{bad}{what}", self.session), 400, "address", bad)
        self.assertError(self.lan.post(f"/api/v1/bands/{band_id(other)}/actions/notify", {"text": "x"},
                                       self.session), 404)
        self.assertError(self.lan.post(self.band_path("/actions/nonsense"), None, self.session), 400)
        self.assertError(self.lan.get(self.band_path("/nothing"), self.session), 404)
        self.assertError(self.lan.get("/ws", self.session), 400, "WebSocket")
        self.assertAlive(self.session)

    def test_path_traversal_finds_no_file(self):
        for path in ("/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc%2fpasswd",
                     "/assets/../index.html", "/%2e%2e%2f%2e%2e%2fetc%2fpasswd", "/./index.html", "//etc/passwd",
                     "/app.js/../../etc/passwd", "/index.html%00.js", "/etc/passwd", "/..\\..\\etc\\passwd",
                     "/api/../../etc/passwd", "/%252e%252e/etc/passwd"):
            answer = self.lan.raw(self.lan.head("GET", path, self.session))
            if answer is None:  # lws refuses a NUL in a path itself
                self.assertIn("%00", path)
                continue
            self.assertNotIn(b"root:", answer.body, path)
            if answer.status != 200:
                self.assertError(answer, answer.status)
                self.assertIn(answer.status, (400, 403, 404), path)
            else:  # lws folded the path to one of the page's files: it must be exactly that file
                self.assertIn(answer.body, (self.lan.get("/").body, self.lan.get("/app.js").body), path)
        self.assertError(self.lan.get("/../../etc/passwd", self.session), 404)
        self.assertError(self.lan.get("/%2e%2e/etc/passwd"), 404)
        # lws removes dot segments as a browser does (RFC 3986, 5.2.4): what is left is looked up by its exact name.
        self.assertEqual(self.lan.get("/assets/../index.html").body, self.lan.get("/").body)
        self.assertAlive(self.session)

    def test_activity_and_list_arguments(self):
        now = int(time.time())
        activity = self.band_path("/activity")
        for query in (f"from={now}&to={now - 60}", f"from={now}&to={now}", "resolution=week", "resolution=",
                      f"resolution=minute&from={now - 2 * 86400 - 1}&to={now}",
                      f"resolution=hour&from={now - 62 * 86400 - 1}&to={now}",
                      f"resolution=day&from={now - 3660 * 86400 - 1}&to={now}", "from=yesterday", "from=-5",
                      "to=1e9", "from=1&from=2", "to=1&to=2", "color=blue", "from=99999999999999999999",
                      f"to={now}&x", "from=%31%32x"):
            self.assertError(self.lan.get(f"{activity}?{query}", self.session), 400, msg=query)
        for query in (f"resolution=minute&from={now - 2 * 86400}&to={now}",
                      f"resolution=hour&from={now - 62 * 86400}&to={now}",
                      f"resolution=day&from={now - 3660 * 86400}&to={now}", "resolution=day", "from=0&to=86400"):
            self.assertEqual(self.lan.get(f"{activity}?{query}", self.session).status, 200, query)
        for what in ("/events", "/notifications"):
            for query in ("limit=0", "limit=100000", "limit=1001", "limit=-1", "limit=ten", "limit=", "limit=1&limit=2",
                          "offset=3", "since=0"):
                self.assertError(self.lan.get(f"{self.band_path(what)}?{query}", self.session), 400, msg=query)
            self.assertEqual(self.lan.get(f"{self.band_path(what)}?limit=1000", self.session).status, 200)
        self.assertError(self.lan.get("/api/v1/bands?color=blue", self.session), 400)
        # Empty arguments are no arguments, and the ones after them still count.
        for query, resolution in (("?", "hour"), ("?&", "hour"), ("?resolution=day&", "day"),
                                  ("?&resolution=day", "day"), ("?resolution=minute&&from=86400&to=90000", "minute")):
            answer = self.lan.get(f"{activity}{query}", self.session)
            self.assertEqual((answer.status, answer.json()["resolution"]), (200, resolution), query)
        self.assertEqual((answer.json()["from"], answer.json()["to"]), (86400, 90000))
        self.assertError(self.lan.get(f"{activity}?&&color=blue", self.session), 400)
        self.assertError(self.lan.get(f"{activity}?resolution=day&&resolution=hour&&limit=1&&limit=2", self.session),
                         400)
        self.assertError(self.lan.get(f"{activity}?from={'1' * 200}", self.session), 400, "too long")
        self.assertAlive(self.session)

    def test_a_slow_client_is_cut_off_and_others_are_served(self):
        slow = self.lan.connect(timeout=60)
        self.sockets.append(slow)
        slow.sendall(b"GET /api/v1/ban")
        start = time.monotonic()
        # Meanwhile: served.
        self.assertAlive(self.session)
        self.assertTrue(closed_within(slow, 30), "a half-sent request line is not kept 30 s")
        self.assertLess(time.monotonic() - start, 30)
        self.assertAlive(self.session)

    def test_the_connection_bound(self):
        """CONNECTIONS_MAX (128) open at once; the ones past it are closed at once; once they go, all is well."""
        idle = []
        try:
            for _ in range(140):
                idle.append(self.lan.connect(timeout=10))
            # The ones past the bound read EOF (or a reset) at once; the others stay open (for lws's 10 s).
            refused = set()
            deadline = time.monotonic() + 8
            while len(refused) < 12 and time.monotonic() < deadline:
                readable, _, _ = select.select([s for s in idle if s not in refused], [], [], 0.2)
                refused.update(s for s in readable if closed_within(s, 0.5))
            self.assertEqual(sorted(idle.index(s) for s in refused), list(range(128, 140)))
            self.wait_log("connections open: refusing another")
            # More refusals: the log takes a few lines a minute of them, not one each.
            for _ in range(20):
                self.assertIsNone(self.lan.raw(self.lan.head("GET", "/healthz")))
            self.assertLessEqual(self.log().count("refusing another"), 10)
            # While they are open, another request is not served either.
            self.assertIsNone(self.lan.raw(self.lan.head("GET", "/healthz")))
        finally:
            for s in idle:
                s.close()
        wait_until(lambda: self.lan.raw(self.lan.head("GET", "/healthz")) is not None, 30, "served again")
        self.assertAlive(self.session)


class Activity(Web):
    """Item 8: GET activity by minute, hour and day against the SQLite rows summed by the same buckets, in the
    gateway's local time (a zone half an hour off UTC, so that a UTC hour or day would not match)."""
    sim_args = ("--auto-tap", "1", "--days", "2")
    tz = TZ

    def setUp(self):
        super().setUp()
        self.session = self.lan.login()
        wait_until(self.synced, 120, "the first sync")

    def synced(self):
        rows = self.world.db_rows("SELECT sync_cursor, last_sync FROM bands WHERE address = ?", self.addr)
        return rows and rows[0][1] and rows[0][0] >= time.time() - 120

    def rows(self, start, end):
        return self.world.db_rows("SELECT minute, steps, heart_rate FROM activity WHERE address = ? AND minute >= ? "
                                  "AND minute < ? ORDER BY minute", self.addr, start, end)

    @staticmethod
    def expected(rows, resolution):
        zone = zoneinfo.ZoneInfo(TZ)
        points = []
        for minute, steps, hr in rows:
            local = datetime.datetime.fromtimestamp(minute, zone)
            if resolution == "hour":
                local = local.replace(minute=0, second=0)
            elif resolution == "day":
                local = local.replace(hour=0, minute=0, second=0)
            start = int(local.timestamp())
            if not points or points[-1]["t"] != start:
                points.append({"t": start, "time": local.isoformat(), "steps": 0, "minutes": 0, "hr": []})
            p = points[-1]
            p["steps"] += steps
            p["minutes"] += 1
            if hr is not None and 1 <= hr <= 254:
                p["hr"].append(hr)
        for p in points:
            hr = p.pop("hr")
            p["heart_rate"] = (sum(hr) + len(hr) // 2) // len(hr) if hr else None
            p["hr_min"] = min(hr) if hr else None
            p["hr_max"] = max(hr) if hr else None
        return points

    def compare(self, query, resolution):
        """The API's answer for query against the rows of its range (read again if a sync wrote meanwhile)."""
        for _ in range(5):
            answer = self.lan.get(f"{self.band_path('/activity')}?{query}", self.session)
            self.assertEqual(answer.status, 200, answer)
            got = answer.json()
            rows = self.rows(got["from"], got["to"])
            if rows == self.rows(got["from"], got["to"]):
                break
        self.assertEqual(got["resolution"], resolution)
        self.assertEqual(got["points"], self.expected(rows, resolution), query)
        return got, rows

    def test_buckets_match_the_stored_minutes(self):
        to = int(time.time()) // 60 * 60 + 60
        got, rows = self.compare(f"resolution=minute&from={to - 2 * 86400}&to={to}", "minute")
        self.assertGreater(len(rows), 1000, "the band's two days of history are stored")
        self.assertTrue(any(r[2] is not None for r in rows), "heart rates in the history")
        self.assertTrue(any(r[1] > 0 for r in rows), "steps in the history")
        self.assertEqual((got["from"], got["to"]), (to - 2 * 86400, to))
        got, rows = self.compare(f"resolution=hour&from={to - 4 * 86400}&to={to}", "hour")
        self.assertEqual({p["t"] % 3600 for p in got["points"]}, {1800}, "local hours of UTC+05:30")
        self.assertTrue(any(p["heart_rate"] is not None and p["hr_min"] < p["hr_max"] for p in got["points"]),
                        "an hour with two different heart rates: their average is checked")
        self.assertEqual(sum(p["steps"] for p in got["points"]), sum(r[1] for r in rows))
        self.assertEqual(sum(p["minutes"] for p in got["points"]), len(rows))
        got, rows = self.compare(f"resolution=day&from={to - 10 * 86400}&to={to}", "day")
        self.assertEqual({p["t"] % 86400 for p in got["points"]}, {86400 - 19800}, "local midnights")
        self.assertGreaterEqual(len(got["points"]), 2)
        # A range that starts inside a bucket: its first bucket counts only the minutes from there.
        start = got["points"][1]["t"] + 5 * 3600 + 17 * 60
        self.compare(f"resolution=hour&from={start}&to={start + 6 * 3600}", "hour")
        self.compare(f"resolution=day&from={start}&to={to}", "day")
        # The defaults: the last day by the hour.
        got, _ = self.compare("", "hour")
        self.assertEqual(got["to"] - got["from"], 86400)
        self.assertLessEqual(abs(got["to"] - time.time()), 60)


class Events(Web):
    """Item 9: the band's timeline, the gateway's own events in it, and the notifications list."""

    def events(self, session, query=""):
        answer = self.lan.get(f"{self.band_path('/events')}{query}", session)
        self.assertEqual(answer.status, 200, answer)
        return answer.json()

    def assertNewestFirst(self, events):
        keys = [(datetime.datetime.fromisoformat(e["time"]), e["id"]) for e in events]
        for (time_, _), e in zip(keys, events):
            self.assertIsNotNone(time_.tzinfo, e)
        self.assertEqual(keys, sorted(keys, reverse=True))

    def quiet(self, session, after=None):
        """The band ready and its sync done (after `after`, a last_sync it had): no event is on its way."""
        def done():
            band = self.lan.get(self.band_path(), session).json()
            return (band["state"] == "ready" and band["sync"] == "idle" and band["last_sync"] and
                    band["last_sync"] != after and band)
        return wait_until(done, 60, "the band ready and synced")

    def test_a_reconnect_in_the_timeline_and_the_gateway_s_events_with_it(self):
        session = self.lan.login()
        band = self.quiet(session)
        self.assertEqual([e["type"] for e in self.events(session)], ["connected", "pairing"])
        self.assertEqual(self.lan.post(self.band_path("/actions/reconnect"), session=session).status, 202)
        wait_until(lambda: [e["type"] for e in self.events(session)][:3] == ["connected", "disconnected", "connected"],
                   60, "disconnected and connected again")
        self.quiet(session, band["last_sync"])
        events = self.events(session)
        self.assertEqual([e["type"] for e in events], ["connected", "disconnected", "connected", "pairing"])
        self.assertNewestFirst(events)
        self.assertEqual({e["band"] for e in events}, {self.id})
        self.assertTrue(all(isinstance(e["detail"], str) for e in events))
        self.wait_log(f"reconnect from ::ffff:127.0.0.1 for band {self.addr}")
        # The gateway's own events (no band) belong in every band's timeline; another band's do not.
        newest = int(datetime.datetime.fromisoformat(events[0]["time"]).timestamp())
        db = sqlite3.connect(self.world.database, timeout=30)
        with db:
            db.execute("INSERT INTO bands (address, added) VALUES ('C8:0F:10:00:00:01', 0)")
            db.execute("INSERT INTO events (address, time, type, detail) VALUES (NULL, ?, 'adapter-reset', 'a')",
                       (newest + 2,))
            db.execute("INSERT INTO events (address, time, type, detail) VALUES ('C8:0F:10:00:00:01', ?, 'x', 'b')",
                       (newest + 3,))
            db.execute("INSERT INTO events (address, time, type, detail) VALUES (NULL, 1000, 'adapter-reset', 'c')")
        db.close()
        now = self.events(session)
        self.assertEqual([(e["type"], e["band"], e["detail"]) for e in now],
                         [("adapter-reset", None, "a")] + [(e["type"], e["band"], e["detail"]) for e in events] +
                         [("adapter-reset", None, "c")])
        self.assertNewestFirst(now)
        zone = datetime.datetime.now().astimezone().tzinfo
        self.assertEqual(datetime.datetime.fromisoformat(now[-1]["time"]),
                         datetime.datetime.fromtimestamp(1000, zone))
        self.assertEqual([e["id"] for e in self.events(session, "?limit=2")], [e["id"] for e in now[:2]])
        self.assertEqual(len(self.events(session, "?limit=1000")), 6)

    def test_the_gateway_s_events_are_not_crowded_out_by_another_band_s(self):
        session = self.lan.login()
        self.quiet(session)
        newest = int(datetime.datetime.fromisoformat(self.events(session)[0]["time"]).timestamp())
        db = sqlite3.connect(self.world.database, timeout=30)
        with db:
            db.execute("INSERT INTO bands (address, added) VALUES ('C8:0F:10:00:00:01', 0)")
            db.execute("INSERT INTO events (address, time, type) VALUES (NULL, ?, 'adapter-reset')", (newest + 1,))
            for i in range(5):
                db.execute("INSERT INTO events (address, time, type) VALUES ('C8:0F:10:00:00:01', ?, 'button')",
                           (newest + 2 + i,))
        db.close()
        self.assertEqual([(e["type"], e["band"]) for e in self.events(session, "?limit=1")], [("adapter-reset", None)])

    def test_the_reset_action_power_cycles_the_adapter(self):
        session = self.lan.login()
        self.assertEqual(self.lan.post(self.band_path("/actions/reset"), session=session).status, 202)
        wait_until(lambda: self.lan.get("/api/v1/health", session).json()["adapter_resets"] == 1, 30,
                   "an adapter reset counted")
        self.world.wait_state(self.addr, "ready", 60)
        self.wait_log("power-cycling the adapter")

    def test_an_adapter_reset_is_in_the_timeline(self):
        session = self.lan.login()
        self.assertEqual(self.lan.post(self.band_path("/actions/reset"), session=session).status, 202)
        self.world.wait_state(self.addr, "ready", 60)
        wait_until(lambda: any(e["band"] is None for e in self.events(session)), 10, "the gateway's event")

    def test_notifications_newest_first(self):
        session = self.lan.login()
        ids = []
        for text in ("one", "two", "three"):
            answer = self.lan.post(self.band_path("/actions/notify"), {"text": text}, session)
            self.assertEqual(answer.status, 202, answer)
            ids.append(answer.json()["id"])
        answer = self.lan.post(self.band_path("/actions/vibrate"), None, session)
        self.assertEqual(answer.status, 202, answer)
        ids.append(answer.json()["id"])
        wait_until(lambda: all(r[4] == "sent" for r in self.notifications()), 60, "all sent")
        answer = self.lan.get(self.band_path("/notifications"), session)
        self.assertEqual(answer.status, 200, answer)
        listed = answer.json()
        self.assertEqual([n["id"] for n in listed], ids[::-1])
        self.assertEqual([(n["text"], n["kind"], n["source"], n["status"]) for n in listed],
                         [(None, "vibrate", "web", "sent"), ("three", "text", "web", "sent"),
                          ("two", "text", "web", "sent"), ("one", "text", "web", "sent")])
        for n in listed:
            self.assertIsNotNone(datetime.datetime.fromisoformat(n["created"]).tzinfo)
        answer = self.lan.get(self.band_path("/notifications?limit=2"), session)
        self.assertEqual([n["id"] for n in answer.json()], ids[:1:-1])


class Tls(Web):
    """Item 10: with tls_cert and tls_key the LAN listener speaks HTTPS, its cookie is Secure, its Origin https."""
    tls = True

    def test_https_login_cookie_and_origin(self):
        answer = self.lan.post("/api/v1/login", {"password": PASSWORD})
        self.assertEqual(answer.status, 200, answer)
        cookie, attributes = cookie_of(answer)
        self.assertIn("secure", attributes)
        self.assertIn("httponly", attributes)
        self.assertEqual(attributes.get("samesite", "").lower(), "strict")
        session = Session(cookie, answer.json()["csrf"])
        self.assertEqual(self.lan.get("/api/v1/bands", session).status, 200)
        notify = self.band_path("/actions/notify")
        self.assertError(self.lan.post(notify, {"text": "x"}, session, origin=f"http://127.0.0.1:{self.port}"), 403)
        self.assertEqual(self.lan.post(notify, {"text": "over TLS"}, session).status, 202)
        self.assertEqual(self.notifications()[0][3], "over TLS")
        with self.assertRaises(Refused):
            self.ws(session, origin=f"http://127.0.0.1:{self.port}")
        self.assertEqual(self.ws(session).message()["type"], "snapshot")
        # Plain HTTP on the TLS port serves nothing.
        plain = Lan(self.port)
        try:
            answer = plain.raw(plain.head("GET", "/api/v1/bands", session), timeout=10)
        except (socket.timeout, ConnectionResetError):
            answer = None
        self.assertTrue(answer is None or answer.status >= 400, answer)
        self.assertEqual(self.lan.get("/healthz").status, 200)

    def test_cert_and_key_go_together(self):
        self.world.stop_gateway()
        port = free_port()
        for lines, words in ((f"tls_cert = {self.cert}\n", "tls_cert and tls_key go together"),
                             (f"tls_key = {self.key}\n", "tls_cert and tls_key go together"),
                             (f"tls_cert = {self.key}\ntls_key = {self.cert}\n", "tls_cert and tls_key"),
                             (f"tls_cert = {self.world.dir}/none.pem\ntls_key = {self.key}\n", "tls_cert and tls_key")):
            conf = self.world.write_config([], web=f"listen = 127.0.0.1:{port}\npassword_hash = {HASH}\n" + lines)
            r = subprocess.run([os.environ["BANDGATE"], "run", "--config", conf], capture_output=True, text=True,
                               timeout=60, env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.world.address))
            self.assertNotEqual(r.returncode, 0, lines)
            self.assertIn(words, r.stdout + r.stderr, lines)


class PasswordChange(Web):
    """Item 11: `bandgate passwd` and SIGHUP: the sessions of the old password end, the new one logs in."""
    configured = False

    def test_sighup_takes_the_new_password(self):
        line = self.wait_log("the dashboard's password is")
        old = re.search(r"password is (\S+) ", line).group(1)
        session = self.lan.login(old)
        feed = self.ws(session)
        self.assertEqual(feed.message()["type"], "snapshot")
        new = "a new password for the dashboard"
        r = subprocess.run([os.environ["BANDGATE"], "passwd", "--stdin", "--config",
                            os.path.join(self.world.dir, "bandgate.conf")], input=f"{new}\n{new}\n",
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Not yet: the daemon reads it on SIGHUP.
        self.assertEqual(self.lan.get("/api/v1/bands", session).status, 200)
        self.world.gateway.proc.send_signal(signal.SIGHUP)
        self.wait_log("reload: the dashboard's password read again")
        self.wait_log("the password changed: every session ends")
        self.assertError(self.lan.get("/api/v1/bands", session), 401)
        self.assertError(self.lan.get("/api/v1/session", session), 401)
        self.assertError(self.lan.post("/api/v1/login", {"password": old}), 401)
        self.assertTrue(closed_within(feed.sock, 10), "the old session's feed ends too")
        fresh = self.lan.login(new)
        self.assertEqual(self.lan.get("/api/v1/bands", fresh).status, 200)
        self.assertNotIn(new, self.log())
        # A SIGHUP with the same password ends nobody's session.
        self.world.gateway.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: self.log().count("reload: the dashboard's password read again") == 2, 30, "second reload")
        self.assertEqual(self.lan.get("/api/v1/bands", fresh).status, 200)


class PublicMetrics(Web):
    """Item 12: metrics_public = true opens /metrics, and only it."""
    web = "metrics_public = true\n"
    manage = False

    def test_metrics_without_a_session(self):
        answer = self.lan.get("/metrics")
        self.assertEqual(answer.status, 200, answer)
        self.assertTrue(answer.header("content-type").startswith("text/plain"))
        self.assertIn(b"bandgate_http_requests_total", answer.body)
        self.assertError(self.lan.get("/api/v1/health"), 401)
        self.assertError(self.lan.get("/api/v1/bands"), 401)
        self.assertIn(self.lan.post("/metrics").status, (401, 405), "a POST is no GET")


if __name__ == "__main__":
    unittest.main()
