"""A hostile operator against the live monitor (scripts/verify.py --follow): it holds the log
keys and the commission key and answers every HTTP request. Each test asserts the safe
behaviour; an attack that still works is marked xfail (strict) with the reason."""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crypto.envelope import Context, sign_document
from scripts.verifier import follow_state
from scripts.verifier.fetch import Fetcher, FetchError
from scripts.verifier.follow_state import report_to_json
from scripts.verifier.record import MAX_LINE_BYTES
from tests.follow_helpers import Follower, RecordService, ThreadServer
from tests.test_follow import (  # noqa: F401 - finished, lagging: fixtures
    WITNESSES,
    agree,
    finished,
    lagging,
    one_witnessed_unit,
    staged,
)
from tests.verify_helpers import (
    Built,
    checkpoint_of,
    lines_of,
    notes_of,
    read_json,
    reseal_log,
    sign_log_checkpoint,
    verify,
    write_json,
    write_lines,
    write_notes,
)


def follow_to_verdict(url: str, state: Path, polls: int = 8, **options: Any) -> Follower:
    follower = Follower(url, state, **options)
    for _ in range(polls):
        if follower.done:
            break
        follower.poll()
    return follower


class Killed(BaseException):
    """kill -9: nothing after it runs (a BaseException, so no ``except Exception`` sees it)."""


@contextlib.contextmanager
def killed_at_the_save_of_evidence(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """kill -9 at the first state save once the monitor has kept evidence: the body must be
    killed there; saves work again afterwards."""
    real_save = follow_state.save_state

    def dying(folder: Path, state: Any, *args: Any, **kwargs: Any) -> bytes:
        if state.evidence:
            raise Killed
        return real_save(folder, state, *args, **kwargs)

    monkeypatch.setattr("scripts.verifier.follow.save_state", dying)
    try:
        with pytest.raises(Killed):
            yield
    finally:
        monkeypatch.setattr("scripts.verifier.follow.save_state", real_save)


class SaveKiller:
    """Installed as the monitor's ``save_state``: kill -9 at the ``arm``-ed save (counted from
    the ``arm``; 0: never), the state not yet written; ``saves`` counts them."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.real = follow_state.save_state
        self.saves = 0
        self.kill_at = 0
        monkeypatch.setattr("scripts.verifier.follow.save_state", self)

    def arm(self, kill_at: int) -> None:
        self.saves, self.kill_at = 0, kill_at

    def __call__(self, *args: Any, **kwargs: Any) -> bytes:
        self.saves += 1
        if self.saves == self.kill_at:
            raise Killed
        return self.real(*args, **kwargs)


def mirror_of(state: Path) -> dict[str, bytes]:
    root = state / "record"
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("lag", [False, True])
def test_a_monitor_killed_before_any_of_its_saves_resumes_with_the_same_mirror_and_report(
    finished: Built,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    lag: bool,
) -> None:
    """kill -9 just before each of the monitor's saves in turn (mirror bytes written, state not
    yet), then a restart: the mirror and the report are those of a monitor never killed. Was:
    a kill after a log's first checkpoint was mirrored made every restart refuse the state
    ("the mirror of AAA/1 does not match the state"), and a kill after audit.jsonl was first
    mirrored had its lines appended twice (V9 failures the record does not have). With ``lag``
    the ballot checks lag the accepted checkpoints (two ballots a poll), so a kill also falls
    between two rounds of checks: none is counted twice or left out."""
    options = request.getfixturevalue("lagging") if lag else {}
    polls = 6 if lag else 2
    served = staged(finished, tmp_path, 8, 3)
    (served / "audit.jsonl").write_text('{"seq": 1}\n{"seq": 2}\n', encoding="utf-8")
    killer = SaveKiller(monkeypatch)
    server = ThreadServer(RecordService(served))
    try:
        clean = follow_to_verdict(server.url, tmp_path / "clean", polls, **options)
        clean.close()
        assert clean.state.logs["AAA/1"].checked == 8
        total = killer.saves
        assert total > 4
        expected = (mirror_of(tmp_path / "clean"), report_to_json(clean.report))
        for kill_at in range(1, total + 1):
            killer.arm(kill_at)
            state = tmp_path / f"state-{kill_at}"
            with pytest.raises(Killed):
                follow_to_verdict(server.url, state, polls, **options)
            killer.arm(0)  # the restarted monitor runs to the end
            resumed = follow_to_verdict(server.url, state, polls, **options)
            resumed.close()
            assert (mirror_of(state), report_to_json(resumed.report)) == expected, kill_at
    finally:
        server.stop()


def test_a_checkpoint_served_twice_as_a_new_one_agrees_with_the_batch_verifier(
    finished: Built,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The operator serves its last note again as the next one (same size, same root): the
    monitor's verdict is that of the batch verifier on what was served."""
    served = tmp_path / "served"
    shutil.copytree(finished.record, served)
    cps = served / "units" / "AAA" / "1" / "checkpoints.txt"
    notes = notes_of(cps)
    write_notes(cps, [*notes[:2], notes[1], *notes[2:]])
    server = ThreadServer(RecordService(served))
    try:
        follower = follow_to_verdict(server.url, tmp_path / "state")
    finally:
        server.stop()
    assert follower.done
    batch = verify(served)
    assert not batch.ok
    agree(follower.report, batch)


# -- HTTP tricks on the kept-alive connection


class RawServer:
    """A TCP server on 127.0.0.1 answering each request with the next of ``answers`` (raw
    bytes, or a callable that writes to the socket itself), on one connection after another."""

    def __init__(self, answers: list[bytes | Callable[[socket.socket], None]]) -> None:
        self.answers = list(answers)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.requests: list[bytes] = []
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.answers and not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                while self.answers and not self.stopping:
                    request = b""
                    while b"\r\n\r\n" not in request:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        request += chunk
                    if not request:
                        break
                    self.requests.append(request.split(b"\r\n", 1)[0])
                    answer = self.answers.pop(0)
                    try:
                        if callable(answer):
                            answer(conn)
                        else:
                            conn.sendall(answer)
                    except OSError:
                        break
                    if answer == b"" or (isinstance(answer, bytes) and b"close" in answer):
                        break

    def stop(self) -> None:
        self.stopping = True
        self.sock.close()
        self.thread.join(timeout=5)


@pytest.fixture
def raw() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(*answers: bytes | Callable[[socket.socket], None]) -> RawServer:
        servers.append(RawServer(list(answers)))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def ok(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 304 Not Modified\r\n\r\n",
        b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc",  # cut
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nab",
        b"garbage\r\n\r\n",
        b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=["304", "redirect", "cut-mid-body", "cut-chunk", "garbage", "500"],
)
def test_a_bad_http_answer_is_a_fetch_error(raw: Callable[..., RawServer], answer: bytes) -> None:
    server = raw(answer)
    with pytest.raises(FetchError):
        Fetcher(server.url, timeout=5).get("/x")


def test_an_answer_larger_than_the_limit_is_a_fetch_error(
    raw: Callable[..., RawServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endless (here: merely too long) chunked body does not grow the monitor's memory
    without bound: past MAX_ANSWER_BYTES the answer is refused."""
    monkeypatch.setattr("scripts.verifier.fetch.MAX_ANSWER_BYTES", 1000)
    chunk = b"%x\r\n%s\r\n" % (100, b"x" * 100)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    server = raw(head + chunk * 20 + b"0\r\n\r\n")
    with pytest.raises(FetchError, match="larger than 1000 bytes"):
        Fetcher(server.url, timeout=5).get("/x")
    small = raw(head + chunk * 5 + b"0\r\n\r\n")
    assert Fetcher(small.url, timeout=5).get("/x") == b"x" * 500


def test_chunked_answers_and_a_reconnection_give_the_bodies(
    raw: Callable[..., RawServer],
) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    server = raw(chunked, ok(b"second", b"Connection: close\r\n"), ok(b"third"))
    fetcher = Fetcher(server.url, timeout=5)
    assert fetcher.get("/a") == b"abcde"
    assert fetcher.get("/b") == b"second"
    assert fetcher.get("/c") == b"third"  # on a new connection
    fetcher.close()


def test_an_answer_longer_than_its_content_length_does_not_answer_the_next_request(
    raw: Callable[..., RawServer],
) -> None:
    """Bytes beyond the Content-Length of one answer stay on the kept-alive connection; they
    must not be taken as the answer to the next request (for another path)."""
    smuggled = ok(b"body for /a") + ok(b"smuggled answer")
    server = raw(smuggled, ok(b"body for /b"))
    fetcher = Fetcher(server.url, timeout=5)
    assert fetcher.get("/a") == b"body for /a"
    try:
        second = fetcher.get("/b")
    except FetchError:
        second = None
    fetcher.close()
    assert second in (None, b"body for /b")


def test_a_slow_drip_is_a_fetch_error_within_the_timeout(
    raw: Callable[..., RawServer],
) -> None:
    def drip(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n")
        for byte in b"dripping....":
            time.sleep(0.25)
            conn.sendall(bytes([byte]))

    server = raw(drip)
    began = time.monotonic()
    with contextlib.suppress(FetchError):
        Fetcher(server.url, timeout=1.0).get("/x")
    assert time.monotonic() - began < 2.0


# -- witnesses


def test_a_new_note_with_a_malformed_witness_line_does_not_crash_the_monitor(
    tmp_path: Path,
) -> None:
    """A new note whose line under a listed witness's name and key hash is too short to hold a
    timestamp: at worst a rejected checkpoint, never a traceback out of ``poll()`` (which
    would come back at every restart, the note being served again)."""
    record = tmp_path / "witnessed"
    notes = one_witnessed_unit(tmp_path, record)
    body, block = notes[1].split("\n\n")
    log_line = block.split("\n")[0]
    good = WITNESSES[0].cosign(checkpoint_of(notes[1]), int(time.time())).line()
    name, sig = good.rstrip("\n").rsplit(" ", 1)
    short = base64.b64encode(base64.b64decode(sig)[:7]).decode()  # key hash + 3 bytes
    served = tmp_path / "served"
    (served / "units" / "AAA").mkdir(parents=True)
    for file in ("manifest.json", "key_ceremony.json"):
        shutil.copy(record / file, served / file)
    shutil.copytree(record / "units" / "AAA" / "1", served / "units" / "AAA" / "1")
    (served / "units" / "AAA" / "1" / "tally.json").unlink()
    malformed = f"{body}\n\n{log_line}\n{name} {short}\n"
    write_notes(served / "units" / "AAA" / "1" / "checkpoints.txt", [notes[0], malformed])
    server = ThreadServer(RecordService(served))
    try:
        follower = Follower(server.url, tmp_path / "state")
        follower.poll()
        follower.poll()
        follower.close()
        Follower(server.url, tmp_path / "state").poll()  # and after a restart
    finally:
        server.stop()


# -- the early preliminary check on an honest election


def test_a_monitor_started_while_a_runoff_is_under_way_raises_no_false_alarm(
    finished: Built,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Started after the preliminary result, with BBB's runoff open but not yet tallied (and
    CCC's round void): no failure is told, and the preliminary result is found right."""
    served = tmp_path / "served"
    shutil.copytree(finished.record, served)
    (served / "results" / "final.json").unlink()
    runoff_tally = served / "units" / "BBB" / "2" / "tally.json"
    kept = runoff_tally.read_bytes()
    runoff_tally.unlink()
    events: list[dict[str, Any]] = []
    server = ThreadServer(RecordService(served))
    try:
        follower = Follower(server.url, tmp_path / "state", emit=events.append)
        for _ in range(2):
            follower.poll()
        assert follower.state.logs["BBB/2"].opened and not follower.state.logs["BBB/2"].tallied
        runoff_tally.write_bytes(kept)
        for _ in range(2):
            follower.poll()
    finally:
        server.stop()
    assert not [e for e in events if e["event"] == "fail"], events
    checked = [e for e in events if e["event"] == "preliminary"]
    assert len(checked) == 1 and checked[0]["ok"] is True
    assert follower.report.ok and not follower.done


class FrozenTurnout(RecordService):
    """A service whose /api/v1/turnout never changes (every unit's state and size as at the
    start): the hint says no log moved."""

    def answer(self, path: str, query: dict[str, int]) -> bytes | None:
        if path == "/api/v1/turnout":
            units = [
                {"unit": u, "round": 1, "state": "open", "checkpoint_size": 0}
                for u in ("AAA", "BBB", "CCC")
            ]
            return json.dumps({"units": units}).encode()
        return super().answer(path, query)


def test_a_turnout_that_hides_the_last_checkpoints_does_not_change_the_verdict(
    finished: Built,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The turnout is only a hint: a service that never updates it while AAA's log closes and
    the final result comes in the same poll gets the batch verifier's verdict on its record,
    not 'AAA never closed'."""
    served = tmp_path / "served"
    shutil.copytree(finished.record, served)
    final = tmp_path / "final.json"
    shutil.move(served / "results" / "final.json", final)
    cps = served / "units" / "AAA" / "1" / "checkpoints.txt"
    notes = notes_of(cps)
    write_notes(cps, notes[:3])
    server = ThreadServer(FrozenTurnout(served))
    try:
        follower = Follower(server.url, tmp_path / "state")
        follower.poll()
        follower.poll()  # the turnout, first read: every log asked
        assert follower.state.logs["AAA/1"].notes == 3
        write_notes(cps, notes)
        shutil.copy(final, served / "results" / "final.json")
        for _ in range(3):
            if not follower.done:
                follower.poll()
    finally:
        server.stop()
    assert follower.done
    batch = verify(served)
    assert batch.ok
    agree(follower.report, batch)


# -- a manifest signed by the operator's commission key


def test_a_unit_code_with_dot_dots_writes_nothing_outside_the_state_folder(
    finished: Built,  # noqa: F811
    tmp_path: Path,
) -> None:
    code = "../../../escape"
    served = tmp_path / "a" / "b" / "served"
    served.mkdir(parents=True)
    shutil.copy(finished.record / "key_ceremony.json", served / "key_ceremony.json")
    doc = read_json(finished.record / "manifest.json")
    doc["payload"]["units"][0]["code"] = code
    write_json(
        served / "manifest.json",
        sign_document(doc["payload"], finished.commission_key(), Context.MANIFEST),
    )
    log = served / "units" / code / "1"
    log.mkdir(parents=True)
    (log / "checkpoints.txt").write_text("", encoding="utf-8")
    state = tmp_path / "s1" / "s2" / "state"
    state.mkdir(parents=True)
    server = ThreadServer(RecordService(served))
    try:
        follower = Follower(server.url, state)
        follower.poll()
        follower.close()
    finally:
        server.stop()
    outside = [p for p in (tmp_path / "s1").rglob("*") if state not in (p, *p.parents)]
    assert outside == [p for p in outside if p == state.parent]


def test_evidence_written_just_before_a_kill_is_still_reported_after_the_restart(
    finished: Built,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    served = staged(finished, tmp_path, 8, 3)
    cps = served / "units" / "AAA" / "1" / "checkpoints.txt"
    honest = notes_of(cps)
    server = ThreadServer(RecordService(served))
    try:
        follow_to_verdict(server.url, tmp_path / "state", polls=1).close()
        # a fork at size 8, signed with the log key, served once
        forked = sign_log_checkpoint(finished, "AAA", 1, 8, b"\x01" * 32)
        write_notes(cps, [*honest, forked])
        with killed_at_the_save_of_evidence(monkeypatch):
            follow_to_verdict(server.url, tmp_path / "state", polls=1)
        assert list((tmp_path / "state" / "evidence").iterdir())
        write_notes(cps, honest)  # hidden again
        resumed = follow_to_verdict(server.url, tmp_path / "state", polls=2)
        resumed.close()
    finally:
        server.stop()
    assert not resumed.report.ok, "the fork seen before the kill is reported"


def test_a_changed_file_reported_just_before_a_kill_is_reported_once_after_the_restart(
    finished: Built,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The verdict finds a checked tally served changed, keeps the evidence and is killed
    before it saves: the restarted monitor reports it from the evidence folder, and its own
    verdict does not report it a second time."""
    served = tmp_path / "served"
    shutil.copytree(finished.record, served)
    shutil.move(served / "results", tmp_path / "results")
    server = ThreadServer(RecordService(served))
    try:
        follow_to_verdict(server.url, tmp_path / "state", polls=3).close()
        tally_file = served / "units" / "AAA" / "1" / "tally.json"
        write_json(tally_file, {**read_json(tally_file), "took_part": 1})
        shutil.copytree(tmp_path / "results", served / "results")
        with killed_at_the_save_of_evidence(monkeypatch):
            follow_to_verdict(server.url, tmp_path / "state", polls=1)
        resumed = follow_to_verdict(server.url, tmp_path / "state", polls=2)
        resumed.close()
    finally:
        server.stop()
    assert resumed.done and resumed.report.failed() == ["V5"]
    [failure] = resumed.report["V5"].failures
    assert failure.where == "units/AAA/1/tally.json" and "evidence/001-changed-" in failure.why
    assert [p.name for p in (tmp_path / "state" / "evidence").iterdir()] == [
        "001-changed-units-AAA-1-tally.json"
    ]


@pytest.mark.parametrize("added", ["log", "commission"])
def test_a_log_or_commission_line_added_to_an_accepted_note_is_rejected(
    tmp_path: Path, added: str
) -> None:
    """Only witnesses add lines to a note once served. A line under the log's key (its own line
    again) on the final note after the monitor closed the log, or the commission's line copied
    onto an earlier note that the monitor reads again only at the verdict: the batch verifier
    fails such a note (a key that signed twice; a commission signature that does not verify),
    so the monitor must not accept it as new witness lines. Was: accepted, PASS against FAIL."""
    record = tmp_path / "witnessed"
    notes = one_witnessed_unit(tmp_path, record)
    served = tmp_path / "served"
    shutil.copytree(record, served, ignore=shutil.ignore_patterns("results"))
    checkpoints = served / "units" / "AAA" / "1" / "checkpoints.txt"
    server = ThreadServer(RecordService(served))
    try:
        follower = follow_to_verdict(server.url, tmp_path / "state", polls=2)
        assert follower.state.logs["AAA/1"].closed_checked and follower.report.ok
        own = notes[-1].split("\n\n")[1].splitlines()[:2]  # the log's, the commission's lines
        if added == "log":
            changed = [*notes[:-1], notes[-1] + own[0] + "\n"]
        else:
            changed = [notes[0], notes[1] + own[1] + "\n", *notes[2:]]
        write_notes(checkpoints, changed)
        follower.poll()
        shutil.copytree(record / "results", served / "results")
        follower.poll()
        follower.poll()
        assert follower.done
    finally:
        server.stop()
    assert follower.state.logs["AAA/1"].broken is not None
    assert "only witnesses add lines" in str(follower.report["V4"].failures)
    assert "V4" in verify(served).failed()


# -- ballot checks that lag the log (``_check_backlog``)


def test_a_verdict_over_a_backlog_and_a_never_closed_log_killed_at_its_saves_agrees(
    finished: Built,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lagging: dict[str, Any],  # noqa: F811
) -> None:
    """The final result comes while most ballots wait for their check and one log (CCC) was
    never closed: its unsigned entries are fetched at the verdict and checked after the
    backlog, numbered after it. A kill -9 at saves of that verdict's poll (the first rounds,
    one half-way, the last ones), then a restart: the same report as the batch verifier's, no
    ballot counted twice or left out."""
    served = tmp_path / "served"
    shutil.copytree(finished.record, served, ignore=shutil.ignore_patterns("results"))
    checkpoints = served / "units" / "CCC" / "1" / "checkpoints.txt"
    write_notes(checkpoints, notes_of(checkpoints)[:2])  # later checkpoints never came
    killer = SaveKiller(monkeypatch)
    server = ThreadServer(RecordService(served))
    try:
        before = Follower(server.url, tmp_path / "before", **lagging)
        before.poll()
        before.close()
        assert sum(lg.size - lg.checked for lg in before.state.logs.values()) > 10
        shutil.copytree(finished.record / "results", served / "results")
        batch = verify(served)
        assert "V4" in batch.failed()
        killer.arm(0)
        shutil.copytree(tmp_path / "before", tmp_path / "whole")
        whole = follow_to_verdict(server.url, tmp_path / "whole", polls=1, **lagging)
        whole.close()
        assert whole.done
        agree(whole.report, batch)
        total = killer.saves
        assert total > 5
        for kill_at in sorted({1, 2, total // 2, total - 2, total - 1}):
            state = tmp_path / f"state-{kill_at}"
            shutil.copytree(tmp_path / "before", state)
            killer.arm(kill_at)
            with pytest.raises(Killed):
                follow_to_verdict(server.url, state, polls=1, **lagging)
            killer.arm(0)
            resumed = follow_to_verdict(server.url, state, polls=2, **lagging)
            resumed.close()
            assert resumed.done, kill_at
            agree(resumed.report, batch)
    finally:
        server.stop()


@pytest.mark.parametrize("lag", [False, True])
def test_bad_ballots_in_two_logs_are_listed_in_the_batch_verifiers_order(
    finished: Built,  # noqa: F811
    tmp_path: Path,
    request: pytest.FixtureRequest,
    lag: bool,
) -> None:
    """An operator that logs junk in two logs and signs over it (it holds the log keys): the
    monitor that follows the finished record lists the V3 failures as the batch verifier does,
    log after log (only the first 20 are listed, so the order decides which). Was: the checks
    after the pass went one batch per log in turn, CCC's line 1 listed before BBB's line 17.
    With ``lag`` the monitor follows the election before its results, a round of two ballots a
    poll, one log after the other, so it finds CCC's line 1 first, and is restarted half-way:
    the report still lists BBB's first, and tells each failure once, when it is found."""
    served = tmp_path / "served"
    shutil.copytree(finished.record, served, ignore=shutil.ignore_patterns("results"))
    for unit, line in (("BBB", 17), ("CCC", 1)):
        ballots = served / "units" / unit / "1" / "ballots.jsonl"
        lines = lines_of(ballots)
        lines[line - 1] = b'{"junk": true}'
        write_lines(ballots, lines)
        reseal_log(finished, served, unit, 1)
    options = request.getfixturevalue("lagging") if lag else {}
    events: list[dict[str, Any]] = []
    server = ThreadServer(RecordService(served))
    try:
        if lag:
            follower = Follower(server.url, tmp_path / "state", emit=events.append, **options)
            for _ in range(5):
                follower.poll()
            follower.close()
            told = [e["where"] for e in events if e["event"] == "fail" and e["check"] == "V3"]
            assert told == ["units/CCC/1/ballots.jsonl:1"], told
        shutil.copytree(finished.record / "results", served / "results")
        follower = Follower(server.url, tmp_path / "state", emit=events.append, **options)
        for _ in range(40):
            if follower.done:
                break
            follower.poll()
        follower.close()
    finally:
        server.stop()
    assert follower.done
    told = [e["where"] for e in events if e["event"] == "fail" and e["check"] == "V3"]
    assert sorted(told) == ["units/BBB/1/ballots.jsonl:17", "units/CCC/1/ballots.jsonl:1"], told
    batch = verify(served)
    wheres = [f.where for f in batch.checks["V3"].failures]
    assert wheres[0].startswith("units/BBB/1/") and wheres[-1].startswith("units/CCC/1/")
    agree(follower.report, batch)


def test_a_log_with_a_long_backlog_does_not_hold_up_the_checks_of_the_others(
    finished: Built,  # noqa: F811
    tmp_path: Path,
    lagging: dict[str, Any],  # noqa: F811
) -> None:
    """An operator that floods one log with entries (it holds the log keys) while the monitor
    lags: the live rounds of checks take one batch per log in turn, so every other log's
    ballots are still checked, and closed and tallied, meanwhile. Was: each round began with
    the first log, and a log behind it waited until that one had no backlog left."""
    served = tmp_path / "served"
    shutil.copytree(finished.record, served, ignore=shutil.ignore_patterns("results"))
    server = ThreadServer(RecordService(served))
    try:
        follower = Follower(server.url, tmp_path / "state", **lagging)  # a round = 2 ballots
        for _ in range(3):
            follower.poll()
        follower.close()
    finally:
        server.stop()
    logs = [follower.state.logs[f"{unit}/1"] for unit in ("AAA", "BBB", "CCC")]
    assert all(lg.size > 2 for lg in logs)
    assert [lg.checked for lg in logs] == [2, 2, 2]


class PagedService(RecordService):
    """Serves at most two entries of a log per answer (the real service pages them too)."""

    def answer(self, path: str, query: dict[str, int]) -> bytes | None:
        if path.endswith("/ballots.jsonl"):
            query = {**query, "end": min(query.get("end", 1 << 62), query.get("start", 0) + 2)}
        return super().answer(path, query)


def test_the_unsigned_rest_of_a_log_never_closed_is_checked_answer_by_answer(
    finished: Built,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The entries after a never-closed log's last checkpoint, which a service can serve without
    end at the verdict: each answer is checked and let go before the next is asked for, so the
    monitor's memory holds one answer (was: all of them, then the checks), and the report is the
    batch verifier's."""
    served = tmp_path / "served"
    shutil.copytree(finished.record, served)
    folder = served / "units" / "CCC" / "1"
    write_notes(folder / "checkpoints.txt", notes_of(folder / "checkpoints.txt")[:1])  # size 0
    held: list[int] = []
    real = Follower._check_ballots

    def spy(self: Follower, lg: Any, lines: list[bytes]) -> None:
        held.append(len(lines))
        real(self, lg, lines)

    monkeypatch.setattr(Follower, "_check_ballots", spy)
    server = ThreadServer(PagedService(served))
    try:
        follower = follow_to_verdict(server.url, tmp_path / "state", polls=1)
        follower.close()
    finally:
        server.stop()
    assert follower.done and sum(held) == len(lines_of(folder / "ballots.jsonl")) > 2
    assert max(held) == 2
    agree(follower.report, verify(served))


def test_a_service_that_answers_slowly_does_not_starve_the_ballot_checks(
    finished: Built,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lagging: dict[str, Any],  # noqa: F811
) -> None:
    """A service whose every answer takes longer than the monitor's interval (cheap for it,
    within the 30 s timeout): the ballots it already served are still checked for the poll's
    whole check budget after the pass, not one round a poll. The clock is the test's: each
    answer moves it 10 s, the checks do not."""
    clock = [0.0]

    class Slow(RecordService):
        def answer(self, path: str, query: dict[str, int]) -> bytes | None:
            clock[0] += 10.0
            return super().answer(path, query)

    fake = type("FakeTime", (), {"monotonic": staticmethod(lambda: clock[0])})
    for name in ("time", "process_time", "sleep"):
        setattr(fake, name, staticmethod(getattr(time, name)))
    monkeypatch.setattr("scripts.verifier.follow.time", fake)
    served = tmp_path / "served"
    shutil.copytree(finished.record, served, ignore=shutil.ignore_patterns("results"))
    server = ThreadServer(Slow(served))
    try:
        follower = Follower(server.url, tmp_path / "state", **{**lagging, "check_budget": 5.0})
        follower.poll()
        follower.close()
    finally:
        server.stop()
    logs = follower.state.logs.values()
    assert all(lg.checked == lg.size > 0 for lg in logs if lg.round == 1)  # was: 2 ballots


def test_an_over_long_entry_in_the_backlog_is_read_back_as_the_batch_verifier_reads_it(
    finished: Built,  # noqa: F811
    tmp_path: Path,
    lagging: dict[str, Any],  # noqa: F811
) -> None:
    """An entry longer than MAX_LINE_BYTES signed into a log (the operator holds its key), then
    checks that lag: a round reads it back from the mirror in pieces and keeps none of it, and
    a later one resumes after it at the right offset (the entries after it are the accepted
    ones), so the report is the batch verifier's."""
    served = tmp_path / "served"
    shutil.copytree(finished.record, served, ignore=shutil.ignore_patterns("results"))
    ballots = served / "units" / "AAA" / "1" / "ballots.jsonl"
    lines = lines_of(ballots)
    lines.insert(1, b'{"pad": "' + b"x" * MAX_LINE_BYTES + b'"}')
    write_lines(ballots, lines)
    reseal_log(finished, served, "AAA", 1)
    server = ThreadServer(RecordService(served))
    try:
        follower = Follower(server.url, tmp_path / "state", **lagging)
        for _ in range(4):  # a round a poll, a log in turn: AAA 1-2, BBB, CCC, AAA 3-4
            follower.poll()
        assert follower.state.logs["AAA/1"].checked == 4
        shutil.copytree(finished.record / "results", served / "results")
        follower.poll()
        follower.close()
    finally:
        server.stop()
    assert follower.done
    batch = verify(served)
    assert "units/AAA/1/ballots.jsonl:2" in str(batch.checks["V3"].failures)
    agree(follower.report, batch)


def test_notes_served_until_the_mirror_is_too_large_to_read_are_rejected(
    finished: Built,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The operator serves its last note again and again as new ones (same size: only the batch
    verifier's V4 fails them, at the close): the mirror's checkpoints.txt would outgrow what a
    verifier reads (MAX_CHECKPOINTS_BYTES, here a few notes), and a restarted monitor could
    not read its own mirror back ("does not match the state"), a service's way to stop it for
    good. The note that would pass the limit is rejected instead, with evidence, and a restart
    works."""
    for module in ("record", "follow"):
        monkeypatch.setattr(f"scripts.verifier.{module}.MAX_CHECKPOINTS_BYTES", 4000)
    served = staged(finished, tmp_path, 8, 3)
    cps = served / "units" / "AAA" / "1" / "checkpoints.txt"
    notes = notes_of(cps)
    write_notes(cps, notes + [notes[-1]] * 30)
    server = ThreadServer(RecordService(served))
    try:
        follower = Follower(server.url, tmp_path / "state")
        follower.poll()
        follower.close()
        lg = follower.state.logs["AAA/1"]
        assert lg.broken is not None and "larger than 4000 bytes" in lg.broken
        mirrored = tmp_path / "state" / "record" / "units" / "AAA" / "1" / "checkpoints.txt"
        assert mirrored.stat().st_size <= 4000
        Follower(server.url, tmp_path / "state").close()  # was: ValueError, the mirror unread
    finally:
        server.stop()


def test_a_partial_signed_by_another_guardian_fails_v6_live_as_in_the_batch(
    finished: Built,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Issue 24: the monitor checks each partial decryption's guardian signature with the same
    V6 as the batch verifier (guardian 1's partial, signed by guardian 2's identity key)."""
    from scripts.builders.insecure import read_identity

    served = tmp_path / "served"
    shutil.copytree(finished.record, served)
    path = served / "units" / "AAA" / "1" / "tally.json"
    doc = read_json(path)
    first = doc["partials"][0]
    assert first["payload"]["partial"]["guardian"] == 1
    doc["partials"][0] = sign_document(
        first["payload"], read_identity(finished.data_dir, 2), Context.GUARDIAN
    )
    write_json(path, doc)
    server = ThreadServer(RecordService(served))
    try:
        follower = follow_to_verdict(server.url, tmp_path / "state")
        follower.close()
    finally:
        server.stop()
    assert follower.done
    assert "V6" in follower.report.failed()
    whys = [f.why for f in follower.report["V6"].failures]
    assert any("signed by guardian 2 but names guardian 1" in why for why in whys), whys
    agree(follower.report, verify(served))


def test_a_tally_with_an_infinite_number_does_not_crash_the_monitor(
    finished: Built,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Review of issue 24: ``1e999`` is JSON that json.loads reads as float infinity (only the
    literals NaN and Infinity were refused). A tally.json served with ``"took_part": 1e999`` and
    no counts made ``poll()`` raise OverflowError (int(inf)) out of the monitor, a traceback at
    every restart. A non-finite number is now refused by strict_loads like NaN: the tally is
    unreadable and V5 says why, in the monitor as in the batch verifier."""
    served = tmp_path / "served"
    shutil.copytree(finished.record, served)
    path = served / "units" / "AAA" / "1" / "tally.json"
    doc = {**read_json(path), "counts": None, "took_part": 424242}
    path.write_text(json.dumps(doc).replace("424242", "1e999"))
    server = ThreadServer(RecordService(served))
    try:
        follower = follow_to_verdict(server.url, tmp_path / "state")
        follower.close()
    finally:
        server.stop()
    assert follower.done
    assert "V5" in follower.report.failed()
    whys = [f.why for f in follower.report["V5"].failures]
    assert any("not finite" in why for why in whys), whys
    agree(follower.report, verify(served))


def test_a_gzip_answer_is_decompressed_within_the_limit(raw: Callable[..., RawServer]) -> None:
    """The monitor asks for the booth's files as browsers do (gzip): a small compressed body
    that would inflate past the limit (a bomb) is refused, not inflated; a truncated or
    unasked-for gzip body is refused; an honest one is given decompressed."""
    import gzip

    bomb = gzip.compress(b"\0" * 1_000_000)  # about 1 KB on the wire
    gz = b"Content-Encoding: gzip\r\n"
    server = raw(ok(bomb, gz), ok(bomb[:-8], gz), ok(gzip.compress(b"hello"), gz), ok(bomb, gz))
    fetcher = Fetcher(server.url, timeout=5)
    assert len(bomb) < 5000
    with pytest.raises(FetchError, match="larger than 5000 bytes once decompressed"):
        fetcher.get("/x", 5000, gzip=True)
    with pytest.raises(FetchError, match="cut short"):
        fetcher.get("/x", 10_000_000, gzip=True)
    assert fetcher.get("/x", 1000, gzip=True) == b"hello"
    with pytest.raises(FetchError, match="not asked for"):
        fetcher.get("/x", 10_000_000)
