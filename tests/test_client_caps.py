"""Review of kz-tally: a hostile service exhausts the memory (or the patience) of whoever reads it.

The commission's ``--url`` commands, a guardian's and the elector's took the service's answers
whole with ``requests`` (``.json()``, ``.content``): an endless answer filled their memory, a
trickled one held them forever (the read timeout counts the silence between two bytes). Every
answer is now read to a cap for its kind within a deadline (tally_service/common/answers.py);
past either, one line and a non-zero exit. (The guardian watch's alarm for it:
tests/test_guardian_witnesses.py.)
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tally_service.common import answers
from tally_service.common.answers import MAX_DOCUMENT_BYTES, AnswerRefused
from tally_service.common.client import ServiceClient
from tests.follow_helpers import ThreadServer

MiB = 1024 * 1024
FLOOD = 256 * MiB  # sixteen times a document's cap: held whole before the fix

# a command in its own process (the hostile server stays in the test's), its peak RSS before
# and after; argv[1] sets caps of tally_service/common/answers.py (JSON), the rest is the command
COMMAND = textwrap.dedent(
    """
    import json, resource, sys
    from tally_service.common import answers
    from tally_service.cli import main
    for name, value in json.loads(sys.argv[1]).items():
        setattr(answers, name, value)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code = main(sys.argv[2:])
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"code": code, "grown_kib": after - before}))
    """
)


def flooding(path: str, size: int | None, stop: threading.Event) -> Callable[..., Iterable[bytes]]:
    """A service answering ``path`` with ``size`` bytes of spaces (None: without end), without
    a length, 64 KiB at a time; a 404 problem elsewhere."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"] != path:
            start_response("404 Not Found", [("Content-Type", "application/problem+json")])
            return [b'{"status": 404, "check": "not-found", "detail": "no such thing"}']
        start_response("200 OK", [("Content-Type", "application/json")])

        def body() -> Iterator[bytes]:
            chunk = b" " * (64 * 1024)
            sent = 0
            while not stop.is_set() and (size is None or sent < size):
                yield chunk
                sent += len(chunk)

        return body()

    return app


def run_command(
    path: str, flood: int, caps: dict[str, int], *argv: str
) -> tuple[dict[str, Any], list[str], str]:
    """Run ``argv`` (``URL`` replaced) against a service flooding ``path``: what COMMAND
    printed, the lines on stderr, and the service's URL."""
    stop = threading.Event()
    server = ThreadServer(flooding(path, flood, stop))
    try:
        run = subprocess.run(
            [sys.executable, "-c", COMMAND, json.dumps(caps),
             *(server.url if a == "URL" else a for a in argv)],
            capture_output=True, text=True, timeout=120,
            cwd=Path(__file__).resolve().parent.parent,
        )
    finally:
        stop.set()
        server.stop()
    assert run.stdout, run.stderr[-2000:]
    return json.loads(run.stdout.splitlines()[-1]), run.stderr.strip().splitlines(), server.url


def test_an_endless_answer_is_refused_in_one_line_and_bounded_memory() -> None:
    """``turnout --url`` against a service answering 256 MiB: before the fix the command held all
    of it (and more to parse it); now it stops at the document's cap, 16 MiB."""
    out, errors, url = run_command("/api/v1/turnout", FLOOD, {}, "turnout", "--url", "URL")
    assert out["code"] != 0 and len(errors) == 1, errors
    assert errors[0] == (
        f"tally-service: error: the service's answer to GET {url}/api/v1/turnout is "
        "larger than 16 MiB: no honest one is; it is refused (is the address right? if so, "
        "report the service)"
    )
    grown = out["grown_kib"] * 1024
    assert grown < MAX_DOCUMENT_BYTES + 24 * MiB, f"the command grew by {grown // MiB} MiB"


class Trickling:
    """A raw HTTP server that trickles its answer a byte every 50 ms, without end: in the
    headers (``headers``) or in the body."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            try:
                if self.where == "headers":
                    conn.sendall(head + b"X-Slow: ")
                else:
                    conn.sendall(head + b"Content-Length: 1000000\r\n\r\n")
                while not self.stop.wait(0.05):
                    conn.sendall(b"a" if self.where == "headers" else b" ")
            except OSError:
                return  # the reader hung up: what the test wants

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_trickled_answer_is_cut_off_at_its_deadline(
    where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service sending a byte every 50 ms never trips the read timeout; before the fix the
    reader waited for ever. The whole answer now has a deadline (1 s here)."""
    monkeypatch.setattr(answers, "deadline", lambda cap, read_timeout: 1.0)
    server = Trickling(where)
    outcome: dict[str, Any] = {}

    def read() -> None:
        try:
            outcome["answer"] = ServiceClient(server.url).get("/turnout")
        except Exception as exc:
            outcome["error"] = exc

    reader = threading.Thread(target=read, daemon=True)
    started = time.monotonic()
    try:
        reader.start()
        reader.join(timeout=10)
        assert not reader.is_alive(), "the reader still waits for the trickled answer"
    finally:
        server.close()
    error = outcome.get("error")
    assert isinstance(error, AnswerRefused), outcome
    assert error.detail == (
        f"the service's answer to GET {server.url}/api/v1/turnout did not arrive whole in 1 s: "
        "an honest one does; it is refused"
    )
    assert time.monotonic() - started < 5


def test_an_oversized_record_archive_is_refused_on_disk_not_in_memory(tmp_path: Path) -> None:
    """``export --url`` held the whole archive in memory (``.content``) before unpacking it.
    It is now streamed to a file beside ``--out``, to a cap (16 MiB here, 8 GiB in use);
    refused past it, with nothing left behind."""
    out, errors, url = run_command(
        "/api/v1/record.tar.gz", 64 * MiB, {"MAX_RECORD_ARCHIVE_BYTES": 16 * MiB},
        "export", "--url", "URL", "--out", str(tmp_path / "record"),
    )
    assert out["code"] == 1 and errors == [
        f"tally-service: error: the service's answer to GET {url}/api/v1/record.tar.gz "
        "is larger than 16 MiB: no honest one is; it is refused (is the address right? if so, "
        "report the service)"
    ]
    grown = out["grown_kib"] * 1024
    assert grown < 12 * MiB, f"the command grew by {grown // MiB} MiB"  # before: the 64 MiB
    assert list(tmp_path.iterdir()) == []  # no partial archive, no record


def test_a_record_archive_unpacking_to_more_than_a_record_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A small gzip'd archive may unpack to gigabytes: its members are sized before any is
    unpacked (8 GiB in use; 1 MiB here)."""
    import io
    import tarfile

    from tally_service.cli import main

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        member = tarfile.TarInfo("record/ballots.jsonl")
        member.size = 2 * MiB
        tar.addfile(member, io.BytesIO(b"\0" * member.size))
    archive = raw.getvalue()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/gzip")])
        return [archive]

    monkeypatch.setattr("tally_service.commission.cli.MAX_RECORD_UNPACKED_BYTES", MiB,
                        raising=False)  # (absent before the fix: then it unpacked all)
    server = ThreadServer(app)
    try:
        code = main(["export", "--url", server.url, "--out", str(tmp_path / "record")])
    finally:
        server.stop()
    err = capsys.readouterr().err
    assert code == 1 and "record archive holds more than" in err, err
    assert list(tmp_path.iterdir()) == []


def test_the_caps_fit_each_kind_of_answer() -> None:
    """Each answer has its own cap: a document's is far below a manifest's."""
    assert answers.cap_for("/manifest") == 128 * MiB
    assert answers.cap_for("/units/AAA/rounds/1/entries") == 64 * MiB
    assert answers.cap_for("/units/AAA/rounds/1/checkpoint") == MiB
    assert answers.cap_for("/units/AAA/rounds/1/tally") == MAX_DOCUMENT_BYTES
    assert answers.cap_for("/ceremony") == 64 * MiB
    # 1000 ten-candidate ballots (5.4 KiB each) make a page well within its cap
    assert answers.MAX_ENTRIES_PAGE_BYTES / 8 > 1000 * 5.4 * 1024


def test_a_record_archive_refused_half_way_leaves_nothing_unpacked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A good member, then one the data filter refuses (a link out of the record): nothing of
    it is left in --out, which stays as it was (before, the first member stayed unpacked)."""
    import io
    import tarfile

    from tally_service.cli import main

    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        good = tarfile.TarInfo("record/manifest.json")
        good.size = 2
        tar.addfile(good, io.BytesIO(b"{}"))
        escape = tarfile.TarInfo("record/units")
        escape.type, escape.linkname = tarfile.SYMTYPE, "/etc"
        tar.addfile(escape)
    archive = raw.getvalue()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/gzip")])
        return [archive]

    out = tmp_path / "record"
    out.mkdir()  # an empty --out is allowed, and must stay empty
    server = ThreadServer(app)
    try:
        code = main(["export", "--url", server.url, "--out", str(out)])
    finally:
        server.stop()
    err = capsys.readouterr().err
    assert code == 1 and "not a whole tar.gz" in err, err
    assert list(tmp_path.iterdir()) == [out] and list(out.iterdir()) == []



def answering(body: bytes) -> Callable[..., Iterable[bytes]]:
    """A service answering every GET with ``body``, as JSON."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return app


def test_an_answer_costly_to_parse_is_refused_unparsed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Follow-up of the caps: an answer just under its cap made of empty objects made
    ``.json()`` build 29 times its size (3.7 GiB at the manifest's 128 MiB cap). Its parse
    cost is now estimated from its bytes (schemas/strict_json.py, as the verifier does) and
    refused past the budget of its cap (2 MiB here, so 12 MiB), without a parse."""
    import tracemalloc

    from schemas.strict_json import parsed_cost

    monkeypatch.setattr(answers, "MAX_DOCUMENT_BYTES", 2 * MiB)
    body = b"[" + b"{}," * (2 * MiB // 3 - 1) + b"{}]"  # just under the cap
    assert len(body) <= 2 * MiB
    server = ThreadServer(answering(body))
    tracemalloc.start()
    try:
        with pytest.raises(AnswerRefused) as refused:
            ServiceClient(server.url).get("/turnout")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        server.stop()
    assert refused.value.detail == (
        f"the service's answer to GET {server.url}/api/v1/turnout would take about "
        f"{parsed_cost(body) // MiB} MiB of memory to parse, more than the 12 MiB an honest one "
        "can: it is refused (report the service)"
    )
    # the answer held a few times over (chunks, joined, the client's buffers), never parsed:
    # before, about 54 MiB
    assert peak < 24 * MiB, f"reading the answer took {peak // MiB} MiB"


@pytest.mark.parametrize("body", [b'{"a": 1, "a": 2}', b'{"a": NaN}', b'{"a": 1e999}'])
def test_an_answer_is_strict_json(body: bytes) -> None:
    """The parties read the service's answers as the verifier reads them: a duplicate key (which
    of the two values counts?) or a number no canonical JSON can write is refused."""
    from schemas.strict_json import JSONProblem

    server = ThreadServer(answering(body))
    try:
        with pytest.raises(JSONProblem):
            ServiceClient(server.url).get("/turnout")
    finally:
        server.stop()


def test_each_answer_may_cost_in_proportion_to_its_cap() -> None:
    """The manifest may cost what the verifier allows a document (an honest 500,000-elector
    manifest fits it: tests/test_follow_memory.py); a small document a sixth of that."""
    from schemas.strict_json import MAX_JSON_COST

    assert answers.parse_budget(answers.cap_for("/manifest")) == MAX_JSON_COST
    assert answers.parse_budget(answers.cap_for("/units/AAA/rounds/1/tally")) == 96 * MiB
