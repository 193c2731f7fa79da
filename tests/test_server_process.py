"""The API through a real server process on 127.0.0.1, and a crash test: SIGKILL while
clients cast, repeatedly; afterwards every receipted ballot is in the log at its index, the log
matches every checkpoint, and nothing was half-written."""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from crypto.canonical import canonical_json
from crypto.checkpoint import open_checkpoint
from crypto.merkle import leaf_hash
from scripts.builders.process import ServerProcess
from scripts.builders.sample import UnitSpec, build_election
from tally_service.elector.ballot import make_ballot
from tally_service.service.config import Config
from tally_service.service.election import Election
from tests.processes import children_of, wait_gone

pytestmark = pytest.mark.slow


def prepare(tmp_path: Path, electors: int) -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
    data = tmp_path / "election"
    keys = build_election(data, [UnitSpec("AAA", "A", 3, electors)], guardians=2, threshold=2)
    e = Election(data, Config())
    e.open_round("AAA", 1)
    rng = random.Random(7)
    ballots = [
        make_ballot(
            e.manifest.hash,
            "AAA",
            1,
            elector,
            e.log("AAA", 1).candidates,
            rng.choice(["AAA-C1", "AAA-C2", "AAA-C3", None]),
            e.manifest.election_key,
            keys[elector],
        )
        for elector in sorted(keys)
    ]
    e.stop()
    return data, keys, ballots


def _raw(url: str, request: bytes) -> tuple[bytes, bytes]:
    """Send raw bytes (what requests would refuse to send); return (status line, headers)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer and (chunk := sock.recv(4096)):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0]
    status, _, headers = head.partition(b"\r\n")
    return status, headers


def test_real_server_casts_and_refuses(tmp_path: Path) -> None:
    data, _, ballots = prepare(tmp_path, 6)
    with ServerProcess(data, "--checkpoint-every", "2") as server:
        url = f"{server.url}/api/v1/ballots"
        r = requests.post(url, json=ballots[0], timeout=10)
        assert r.status_code == 201 and r.json()["index"] == 0
        r = requests.post(
            url, data=b"{broken", headers={"Content-Type": "application/json"}, timeout=10
        )
        assert r.status_code == 400
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert r.json()["check"] == "json"
        r = requests.post(
            url, data=b"x" * 200_000, headers={"Content-Type": "application/json"}, timeout=10
        )
        assert r.status_code == 413
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert r.json()["check"] == "too-large"
        # over waitress's own limit (4 x 64 KiB): waitress answers, in the same form
        r = requests.post(
            url, data=b"x" * 300_000, headers={"Content-Type": "application/json"}, timeout=10
        )
        assert r.status_code == 413
        assert r.headers["Content-Type"].startswith("application/problem+json")
        assert r.json()["check"] == "too-large"
        status, headers = _raw(
            server.url, b"GET /api/v1/turnout HTTP/1.1\r\nContent-Length: -1\r\n\r\n"
        )
        assert status.startswith(b"HTTP/1.1 400 ") and b"application/problem+json" in headers
        r = requests.post(url, json=ballots[1], timeout=10)
        assert r.status_code == 201 and r.json()["proof"] is not None  # 2nd ballot: checkpoint
        turnout = requests.get(f"{server.url}/api/v1/turnout", timeout=10).json()
        assert turnout["took_part"] == 2
        spec = requests.get(f"{server.url}/api/v1/openapi.json", timeout=10).json()
        assert "/api/v1/ballots" in spec["paths"]


def test_sigkill_while_casting_loses_nothing(tmp_path: Path) -> None:
    data, _, ballots = prepare(tmp_path, 120)
    receipts: dict[str, dict[str, Any]] = {}
    lock = threading.Lock()
    pending = list(ballots)
    server = ServerProcess(data, "--checkpoint-every", "5").start()

    def client(stop: threading.Event, url: str) -> None:
        session = requests.Session()
        while not stop.is_set():
            with lock:
                if not pending:
                    return
                ballot = pending.pop()
            try:
                r = session.post(f"{url}/api/v1/ballots", json=ballot, timeout=5)
            except requests.RequestException:
                with lock:
                    pending.append(ballot)  # no answer: the elector tries again later
                continue
            if r.status_code in (200, 201):
                with lock:
                    receipts[ballot["elector"]] = r.json()
            else:
                raise AssertionError(r.text)

    for _ in range(4):
        stop = threading.Event()
        threads = [threading.Thread(target=client, args=(stop, server.url)) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(random.uniform(0.3, 0.8))
        server.kill()
        stop.set()
        for t in threads:
            t.join()
        server = ServerProcess(data, "--checkpoint-every", "5").start()
    stop = threading.Event()
    client(stop, server.url)  # cast the rest (repeats return the original receipt)
    server.stop()
    assert len(receipts) == len(ballots)

    e = Election(data)
    try:
        log = e.log("AAA", 1)
        assert log.tree.size == len(ballots)
        by_elector = {b["elector"]: b for b in ballots}
        for elector, receipt in receipts.items():
            entry = e.store.entry_at("AAA", 1, receipt["index"])
            assert entry == canonical_json(by_elector[elector])
            assert leaf_hash(entry).hex() == receipt["leaf_hash"]
        for row in e.store.checkpoints("AAA", 1):
            cp = open_checkpoint(row.note, e.manifest.log_verifiers["AAA"])
            assert log.tree.root(cp.size) == cp.root
        for entry in e.store.iter_entries("AAA", 1):
            json.loads(entry)  # every stored entry is whole
    finally:
        e.stop()


def test_sigkill_leaves_no_orphan_workers(tmp_path: Path) -> None:
    data, _, _ = prepare(tmp_path, 2)
    server = ServerProcess(data, "--check-workers", "2").start()
    assert server.proc is not None
    children = children_of(server.proc.pid)  # the check workers and the resource tracker
    assert len(children) >= 2
    server.kill()
    assert wait_gone(children) == []


def test_sigterm_stops_gracefully_and_checkpoints(tmp_path: Path) -> None:
    data, _, ballots = prepare(tmp_path, 3)
    log = tmp_path / "server.log"
    server = ServerProcess(data, "--checkpoint-every", "100", "--checkpoint-seconds", "3600")
    server.start()
    assert server.proc is not None
    r = requests.post(f"{server.url}/api/v1/ballots", json=ballots[0], timeout=10)
    assert r.status_code == 201 and r.json()["proof"] is None  # not checkpointed yet
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=30) == 0
    text = log.read_text()
    assert "error" not in text.lower(), text
    assert '"event": "stopped"' in text
    e = Election(data)
    try:  # the log grew: a checkpoint was issued on the way out, and the store closed cleanly
        assert e.store.checkpoints("AAA", 1)[-1].size == 1
    finally:
        e.stop()
