#!/usr/bin/python3
"""Figures for sync and store (issue 4), on demand, nothing asserted:

1. Ingest of 30 days of minute history (43,200 samples) from bandgate-sim into SQLite through the real daemon:
   samples per second from the first round's request to the last round stored (the daemon's own log with
   G_MESSAGES_DEBUG), and, in the same run, a plain bulk INSERT of the same rows into a fresh file with the
   same schema (one transaction, executemany) — the ratio is the figure.
2. Latency from a live-steps change to its totals row being committed and visible to another reader: from the
   simulator's Walk call (which queues the notification; the signal crosses the bus, the daemon parses and
   commits) to the row read back, polled every 0.5 ms. Totals are written at most once a minute, so each
   run waits out that minute after ready and measures the next write: one per daemon, N daemons.

    /usr/bin/python3 tests/bench/bench_sync.py [--days 30] [--cap 1440] [--latency-runs 10]
"""
import argparse
import os
import re
import sqlite3
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("BANDGATE", os.path.join(ROOT, "build/release/gateway/bandgate"))
os.environ.setdefault("BANDGATE_SIM", os.path.join(ROOT, "build/release/tests/sim/bandgate-sim"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import World  # noqa: E402



def log_time(line):
    m = re.search(r"(\d\d):(\d\d):(\d\d)\.(\d\d\d)", line)
    h, mi, s, ms = map(int, m.groups())
    return h * 3600 + mi * 60 + s + ms / 1000


def ingest(days, cap):
    os.environ["G_MESSAGES_DEBUG"] = "all"
    w = World(("--auto-tap", "1", "--days", str(days), "--fetch-cap", str(cap)))
    try:
        a = w.bands[0]
        w.start_gateway([a])
        w.wait_state(a, "ready", 60)
        deadline = time.monotonic() + 600
        while True:
            row = w.db_rows("SELECT sync_cursor, last_sync FROM bands")[0]
            if row[1]:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("no sync")
            time.sleep(0.2)
        log = w.gateway.output().splitlines()
        ready = next(l for l in log if "-> ready" in l)
        stored = [l for l in log if "minutes of history" in l and "stored" in l]
        n = sum(int(re.search(r"stored (\d+) minutes", l).group(1)) for l in stored)
        span = log_time(stored[-1]) - log_time(ready)
        rows = w.db_rows("SELECT address, minute, tz, kind, intensity, steps, heart_rate FROM activity")
        schema = [r[0] for r in w.db_rows("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE "
                                          "'sqlite_%' ORDER BY rowid")]
        bands = w.db_rows("SELECT address, added FROM bands")
    finally:
        w.close()
        os.environ.pop("G_MESSAGES_DEBUG", None)
    with tempfile.TemporaryDirectory() as d:
        db = sqlite3.connect(os.path.join(d, "plain.db"), isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA foreign_keys=ON")
        for sql in schema:
            db.execute(sql)
        db.executemany("INSERT INTO bands (address, added) VALUES (?, ?)", bands)
        t0 = time.perf_counter()
        db.execute("BEGIN")
        db.executemany("INSERT INTO activity (address, minute, tz, kind, intensity, steps, heart_rate) "
                       "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        db.execute("COMMIT")
        plain = time.perf_counter() - t0
        db.close()
    return n, len(rows), span, plain


def latency(runs):
    out = []
    for _ in range(runs):
        w = World(("--auto-tap", "1", "--days", "1"))
        try:
            a = w.bands[0]
            w.start_gateway([a])
            w.wait_state(a, "ready", 60)
            time.sleep(61)  # past the throttle of the reads at ready
            before = w.db_rows("SELECT steps FROM daily_totals")
            t_walk = time.monotonic()
            w.control("Walk", "(su)", a, 10)  # returns once the simulator has queued the notification
            while w.db_rows("SELECT steps FROM daily_totals") == before:
                if time.monotonic() - t_walk > 10:
                    raise RuntimeError("no row")
                time.sleep(0.0005)
            out.append((time.monotonic() - t_walk) * 1000)
        finally:
            w.close()
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--cap", type=int, default=1440)
    p.add_argument("--latency-runs", type=int, default=5)
    args = p.parse_args()
    n, rows, span, plain = ingest(args.days, args.cap)
    print(f"ingest: {n} samples stored by the daemon in {span:.2f} s (ready -> last round stored, log ms) "
          f"= {n / span:.0f} samples/s; the file holds {rows}")
    print(f"plain bulk INSERT of the same {rows} rows, same schema: {plain:.3f} s = {rows / plain:.0f} samples/s")
    print(f"ratio plain/gateway: {(rows / plain) / (n / span):.1f}x")
    if args.latency_runs:
        lat = sorted(latency(args.latency_runs))
        p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
        print(f"live steps: Walk -> notification on the bus -> totals row visible: p50 {statistics.median(lat):.1f} ms"
              f" p99 {p99:.1f} ms max {lat[-1]:.1f} ms (N={len(lat)})")


if __name__ == "__main__":
    main()
