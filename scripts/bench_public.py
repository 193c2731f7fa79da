#!/usr/bin/env python3
"""Benchmark: what the public pages cost the service when the whole country refreshes them.

Builds an election with the 20 units of senate2023.json (every elector's key, a key ceremony),
opens every round, casts a few ballots per unit and signs checkpoints, then starts the real
service (``tally-service serve`` under waitress, its default 8 threads) and, as the baseline,
a bare Flask "hello" app served the same way (waitress, 8 threads, its own process).

For each URL it runs keep-alive HTTP clients for a fixed time and prints requests/s and the
server process's CPU microseconds per request (user + system, from /proc/<pid>/stat), for
unconditional requests and for conditional ones (``If-None-Match`` with the current ETag,
answered 304). Target (issue 28; 1.5x in issue 16): a conditional turnout request costs at
most 1.2x the bare hello's CPU per request.

    scripts/bench_public.py [--seconds 3] [--clients 4]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import http.client
import json
import os
import random
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "scripts" / "data" / "senate2023.json"
TICKS = os.sysconf("SC_CLK_TCK")


def hello_server() -> None:
    """The baseline: a bare Flask app under waitress, as ``serve`` runs the service."""
    from flask import Flask
    from waitress import create_server

    app = Flask("hello")

    @app.get("/")
    def hello() -> str:
        return "hello"

    server = create_server(app, host="127.0.0.1", port=0, threads=8)
    print(f"serving on http://127.0.0.1:{server.effective_port}", flush=True)
    server.run()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def load(port: int, path: str, etag: str | None, seconds: float, clients: int) -> int:
    """Requests answered in ``seconds`` by ``clients`` keep-alive connections."""
    counts = [0] * clients
    stop = time.monotonic() + seconds
    headers = {"If-None-Match": etag} if etag else {}
    expected = 304 if etag else 200

    def run(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < stop:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != expected:
                raise SystemExit(f"{path}: HTTP {response.status}, expected {expected}")
            counts[i] += 1
        conn.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts)


def measure(
    pid: int, port: int, path: str, conditional: bool, seconds: float, clients: int
) -> tuple[float, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    first = conn.getresponse()
    first.read()
    conn.close()
    etag = first.getheader("ETag") if conditional else None
    if conditional and not etag:
        raise SystemExit(f"{path} has no ETag")
    load(port, path, etag, 0.5, clients)  # warm up
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    n = load(port, path, etag, seconds, clients)
    cpu1, t1 = cpu_seconds(pid), time.monotonic()
    return n / (t1 - t0), 1e6 * (cpu1 - cpu0) / n


def start(cmd: list[str], log: Path) -> tuple[subprocess.Popen[bytes], int]:
    with open(log, "ab") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("serving on "):
        proc.kill()
        raise SystemExit(f"server did not start: see {log}")
    return proc, int(line.rsplit(":", 1)[1])


def build(base: Path, quiet: bool) -> Path:
    from scripts.builders.sample import UnitSpec, build_election
    from tally_service.elector.ballot import make_ballot
    from tally_service.service.config import Config
    from tally_service.service.election import Election

    shape = json.loads(DATA.read_text(encoding="utf-8"))
    units = [
        UnitSpec(u["code"], u["name_en"], u["candidates"], u["electors_registered"],
                 "city" if u["code"] in ("AST", "ALA", "SHY") else "region",
                 u["name_ru"], u["name_kk"])
        for u in shape["units"]
    ]  # fmt: skip
    data = base / "election"
    if not quiet:
        print(f"building the election ({sum(u.electors for u in units)} electors) ...")
    keys = build_election(data, units, guardians=3, threshold=2)
    election = Election(data, Config())
    rng = random.Random(1)
    try:
        for u in units:
            election.open_round(u.code, 1)
            log = election.log(u.code, 1)
            roll = [e["elector"] for e in election.manifest.units[u.code]["roll"]]
            for elector in roll[:5]:
                ballot = make_ballot(
                    election.manifest.hash, u.code, 1, elector, log.candidates,
                    rng.choice(log.candidates), election.manifest.election_key, keys[elector],
                )  # fmt: skip
                election.cast(ballot)
            election.issue_checkpoint(u.code, 1)
    finally:
        election.stop()
    return data


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    parser.add_argument("--clients", type=int, default=4, help="keep-alive connections")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--hello-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hello_server:
        hello_server()
        return 0
    base = Path(tempfile.mkdtemp(prefix="kz-tally-bench-public-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        data = build(base, args.quiet)
        service, service_port = start(
            [sys.executable, "-m", "tally_service", "serve", "--data", str(data),
             "--host", "127.0.0.1", "--port", "0"], base / "service.log",
        )  # fmt: skip
        procs.append(service)
        hello, hello_port = start([sys.executable, __file__, "--hello-server"], base / "hello.log")
        procs.append(hello)
        rows: list[tuple[str, bool, float, float]] = []
        cases: list[tuple[str, subprocess.Popen[bytes], int, str, bool]] = [
            ("bare Flask hello (baseline)", hello, hello_port, "/", False),
            ("turnout document", service, service_port, "/api/v1/public/turnout", False),
            ("turnout document", service, service_port, "/api/v1/public/turnout", True),
            ("overview page /", service, service_port, "/?lang=kk", False),
            ("overview page /", service, service_port, "/?lang=kk", True),
        ]
        report: Callable[[str], None] = (lambda s: None) if args.quiet else print
        report(f"{args.clients} keep-alive clients, {args.seconds:g} s per case, 2-core machine")
        for name, proc, port, path, conditional in cases:
            rate, cpu = measure(proc.pid, port, path, conditional, args.seconds, args.clients)
            rows.append((name, conditional, rate, cpu))
        baseline = rows[0][3]
        print(f"{'case':34} {'request':>13} {'req/s':>8} {'CPU us/req':>11} {'x hello':>8}")
        for name, conditional, rate, cpu in rows:
            kind = "conditional" if conditional else "full"
            print(f"{name:34} {kind:>13} {rate:8.0f} {cpu:11.0f} {cpu / baseline:8.2f}")
        turnout_304 = rows[2][3] / baseline
        verdict = "meets" if turnout_304 <= 1.2 else "MISSES"
        print(f"conditional turnout request: {turnout_304:.2f}x the bare hello's CPU "
              f"({verdict} the 1.2x target)")  # fmt: skip
        return 0
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
