"""Issue 24, attack 2, the other half: a guardian takes its view of the logs from the witnesses
too, not only from the service. A witness serves the latest checkpoint it cosigned per log
(``GET /checkpoint?origin=``, tally_service/witness/latest.py); ``guardian watch --witness
NAME=URL`` records what the witnesses cosigned as seen, so a service that hides a round from a
guardian neither blinds it nor locks it out, and a service that shows less than, or other than,
what a quorum of witnesses cosigned is caught with evidence."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crypto.checkpoint import open_checkpoint
from crypto.cosignature import TYPE_ED25519, Cosigner, add_cosignatures, note_cosignatures
from crypto.witness_policy import manifest_section
from scripts.builders import insecure
from scripts.builders.insecure import guardian_share_path, guardian_state_dir
from scripts.builders.sample import UnitSpec, build_election
from scripts.builders.simulate import SimulatedElection, uniform_choice
from tally_service.common.problems import not_found
from tally_service.common.rollback import StateRollback, marker_path
from tally_service.guardian.checks import decrypt_as_guardian
from tally_service.guardian.state import GuardianRefusal, GuardianState
from tally_service.guardian.watch import WatchConfigError, WatchReport, WitnessReader, watch_once
from tally_service.service import tally
from tally_service.service.config import Config
from tally_service.service.election import Election
from tally_service.service.witnessing import Witnessing
from tally_service.witness.core import Witness
from tally_service.witness.http import create_witness_app
from tests.guardian_helpers import LOG, AppClient, HostileClient, forge

ELECTORS = 12


class Hiding(AppClient):
    """The service hides AAA round 1's checkpoints (404) but still proves consistency."""

    def _hidden(self, path: str) -> bool:
        return path in ("/units/AAA/rounds/1/checkpoint", "/units/AAA/rounds/1/checkpoints")

    def get(self, path: str, **params: Any) -> Any:
        if self._hidden(path):
            raise not_found("unknown-round", "round 1 of AAA was not opened")
        return super().get(path, **params)

    def get_text(self, path: str, **params: Any) -> str:
        if self._hidden(path):
            raise not_found("unknown-round", "round 1 of AAA was not opened")
        return super().get_text(path, **params)


def reader(core: Witness) -> WitnessReader:
    """A witness's GET /checkpoint through Flask's test client."""
    http = create_witness_app(core).test_client()

    def read(origin: str) -> str | None:
        answer = http.get("/checkpoint", query_string={"origin": origin})
        if answer.status_code == 404:
            return None
        assert answer.status_code == 200, answer.get_data(as_text=True)
        text: str = answer.get_data(as_text=True)
        return text

    return read


@dataclass
class Witnessed:
    data: Path
    election: Election
    cosigners: list[Cosigner]
    cores: dict[str, Witness]
    states: Path
    reports: list[WatchReport]

    def readers(self) -> dict[str, WitnessReader]:
        return {name: reader(core) for name, core in self.cores.items()}

    def state(self, guardian: int, tmp: Path) -> GuardianState:
        dst = tmp / f"g{guardian}"
        shutil.copytree(self.states / f"g{guardian}", dst)
        return GuardianState(dst)


@pytest.fixture(scope="module")
def witnessed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Witnessed]:
    """12 electors, 4 witnesses (quorum 3, f = 1), all honest. Guardian 1 watches through a
    service that hides the round from it, and through the witnesses; guardian 2 watches
    nothing at all."""
    base = tmp_path_factory.mktemp("gwitness")
    data = base / "data"
    cosigners = [Cosigner.generate(f"w{i}.example/witness", TYPE_ED25519) for i in range(4)]
    keys = build_election(data, [UnitSpec("AAA", "A", 3, ELECTORS)], guardians=5, threshold=3,
                          witnesses=manifest_section(3, 1, [c.public for c in cosigners]))
    election = Election(data, Config(checkpoint_every=4))
    manifest = election.manifest
    logs = {manifest.origin("AAA", r): manifest.log_verifiers["AAA"] for r in (1, 2)}
    cores = {c.name: Witness(c, base / c.name.split(".")[0], logs) for c in cosigners}
    witnessing = Witnessing(election, {}, local=cores)
    sim = SimulatedElection(data, keys)
    states = base / "states"
    for g in (1, 2):
        shutil.copytree(guardian_state_dir(guardian_share_path(data, g)), states / f"g{g}")
    readers = {name: reader(core) for name, core in cores.items()}
    reports: list[WatchReport] = []

    def poll() -> None:
        witnessing.sync()
        reports.append(watch_once(Hiding(election), GuardianState(states / "g1"), None, readers))

    from tally_service.elector.ballot import make_ballot

    rng = random.Random(11)
    election.open_round("AAA", 1)
    poll()
    log = election.log("AAA", 1)
    roll = [e["elector"] for e in manifest.units["AAA"]["roll"]]
    while log.tree.size < ELECTORS:
        for elector in roll[log.tree.size:log.tree.size + 4]:
            election.cast(make_ballot(manifest.hash, "AAA", 1, elector, log.candidates,
                                      uniform_choice("AAA", 1, log.candidates, rng),
                                      manifest.election_key, sim.keys[elector]))
        election.issue_checkpoint("AAA", 1)
        poll()
    election.close_round("AAA", 1)
    poll()
    witnessing.sync()
    try:
        yield Witnessed(data, election, cosigners, cores, states, reports)
    finally:
        election.stop()


def test_the_witnesses_give_a_hidden_round_to_the_guardian(
    witnessed: Witnessed, tmp_path: Path
) -> None:
    for report in witnessed.reports:
        assert report.alarms, "the service hid the round and the watch said nothing"
        assert any("(from witness" in a for a in report.accepted) or report.unchanged
    assert report.refusals == []
    state = witnessed.state(1, tmp_path)
    opened, final = state.open_seen(LOG), state.seen(LOG)
    # the last checkpoint before the close, then the final, both from the witnesses only
    assert opened is not None and opened.size == ELECTORS and "\nfinal\n" not in opened.note
    assert final is not None and final.size == ELECTORS and "\nfinal\n" in final.note
    # so it can decrypt the honest final, though the service never showed it a checkpoint
    doc = tally.start_tally(witnessed.election, "AAA", 1)
    decrypt_as_guardian(AppClient(witnessed.election), doc, 1,
                        insecure.read_share(witnessed.data, 1), state)
    # and a fork without the victim's ballot is refused (its final is not the witnessed one)
    entries = list(witnessed.election.store.iter_entries("AAA", 1))
    fork = forge(witnessed.election, witnessed.data, entries[:3] + entries[4:])
    with pytest.raises(GuardianRefusal):
        decrypt_as_guardian(HostileClient(witnessed.election, fork), fork.doc, 1,
                            insecure.read_share(witnessed.data, 1),
                            witnessed.state(1, tmp_path / "b"))


def test_a_service_behind_the_witnesses_is_an_alarm(witnessed: Witnessed, tmp_path: Path) -> None:
    election = witnessed.election
    older = election.checkpoint_at(election.log("AAA", 1), 4)

    class Lagging(AppClient):
        def get_text(self, path: str, **params: Any) -> str:
            if path == "/units/AAA/rounds/1/checkpoint":
                return older
            return super().get_text(path, **params)

    state = witnessed.state(2, tmp_path)
    report = watch_once(Lagging(election), state, None, witnessed.readers())
    assert report.refusals == []
    (alarm,) = report.alarms
    assert "shows size 4" in alarm and f"cosigned size {ELECTORS}" in alarm
    (kept,) = state.evidence()
    assert (kept / "service.note").read_text() == older
    notes = sorted(p.name for p in kept.glob("witness-*.note"))
    assert len(notes) == 4
    seen = state.seen(LOG)
    assert seen is not None and seen.size == ELECTORS  # what the witnesses cosigned is kept


def test_a_service_checkpoint_other_than_the_witnessed_one_is_evidence(
    witnessed: Witnessed, tmp_path: Path
) -> None:
    election = witnessed.election
    entries = list(election.store.iter_entries("AAA", 1))
    other = forge(election, witnessed.data, [*entries[:-2], entries[-1], entries[-2]])

    class Forking(AppClient):
        def get_text(self, path: str, **params: Any) -> str:
            if path == "/units/AAA/rounds/1/checkpoint":
                return other.note
            return super().get_text(path, **params)

    state = witnessed.state(2, tmp_path)
    report = watch_once(Forking(election), state, None, witnessed.readers())
    (refusal,) = report.refusals
    assert "two roots for the same tree size" in refusal
    (kept,) = [p for p in state.evidence() if "-alarm-" not in p.name]
    first, second = (kept / "first.note").read_text(), (kept / "second.note").read_text()
    assert second == other.note
    # the first is what a witness served: the log's signature and the witness's cosignature
    log_key = election.manifest.log_verifiers["AAA"]
    assert open_checkpoint(first, log_key, LOG).size == ELECTORS
    assert note_cosignatures(first, [c.public for c in witnessed.cosigners])[1]


def test_only_the_manifests_witnesses_are_asked(witnessed: Witnessed, tmp_path: Path) -> None:
    readers = witnessed.readers()
    readers["operator.example/witness"] = readers[witnessed.cosigners[0].name]
    with pytest.raises(WatchConfigError, match="lists no such witness"):
        watch_once(AppClient(witnessed.election), witnessed.state(2, tmp_path), None, readers)


def test_a_witness_showing_a_bad_cosignature_is_refused(
    witnessed: Witnessed, tmp_path: Path
) -> None:
    """A witness reader (or whoever answers at its URL) that shows another witness's
    cosignature as its own is not believed."""
    readers = witnessed.readers()
    names = [c.name for c in witnessed.cosigners]
    readers = {names[0]: readers[names[1]]}
    report = watch_once(AppClient(witnessed.election), witnessed.state(2, tmp_path), None,
                        readers)
    assert any(names[0] in r and "does not check" in r for r in report.refusals)


def test_the_witness_serves_its_latest_cosigned_checkpoint(witnessed: Witnessed) -> None:
    cosigner = witnessed.cosigners[0]
    core = witnessed.cores[cosigner.name]
    http = create_witness_app(core).test_client()
    answer = http.get("/checkpoint", query_string={"origin": LOG})
    assert answer.status_code == 200 and answer.content_type.startswith("text/plain")
    note = answer.get_data(as_text=True)
    cp = open_checkpoint(note, witnessed.election.manifest.log_verifiers["AAA"], LOG)
    latest = core.latest(LOG)
    assert latest is not None and (cp.size, cp.root) == (latest.size, latest.root)
    _, valid = note_cosignatures(note, [cosigner.public])
    assert len(valid) == 1
    # the same line until the state changes: reads cost no signing
    assert http.get("/checkpoint", query_string={"origin": LOG}).get_data(as_text=True) == note
    for query, status, check in (
        ({}, 400, "witness-malformed"),
        ({"origin": "nobody.example/log"}, 404, "witness-unknown-log"),
        ({"origin": witnessed.election.manifest.origin("AAA", 2)}, 404, "witness-no-checkpoint"),
    ):
        refused = http.get("/checkpoint", query_string=query)
        assert refused.status_code == status
        assert refused.content_type == "application/problem+json"
        assert refused.get_json()["type"].endswith(check)


@pytest.mark.slow
def test_http_witness_reads_a_witness_process(witnessed: Witnessed, tmp_path: Path) -> None:
    """`guardian watch --witness NAME=URL` over real HTTP: a witness process that cosigned the
    round's size-0 checkpoint serves it with its cosignature; a log it does not watch is None."""
    from crypto.tlog_witness import add_checkpoint_body
    from scripts.builders.witness_process import WitnessProcess
    from tally_service.guardian.watch import http_witness

    election = witnessed.election
    # a witness of its own: one of the election's, started again on an empty state, would see
    # its own line on the note and stop as a rolled-back witness (tests/test_witness_rollback.py)
    cosigner = Cosigner.generate("reader.example/witness", TYPE_ED25519)
    key = tmp_path / "w.key"
    key.write_text(cosigner.private_text(), encoding="ascii")
    logs = tmp_path / "logs.txt"
    logs.write_text(f"{LOG} {election.manifest.log_verifiers['AAA']}\n", encoding="utf-8")
    opened = election.checkpoint_at(election.log("AAA", 1), 0)
    with WitnessProcess(key, tmp_path / "state", logs) as process:
        import requests

        posted = requests.post(f"{process.url}/add-checkpoint",
                               data=add_checkpoint_body(0, [], opened), timeout=30)
        assert posted.status_code == 200, posted.text
        read = http_witness(process.url)
        note = read(LOG)
        assert note is not None
        assert open_checkpoint(note, election.manifest.log_verifiers["AAA"], LOG).size == 0
        assert note_cosignatures(note, [cosigner.public])[1]
        assert read(election.manifest.origin("AAA", 2)) is None


def test_the_witness_serves_one_line_of_its_own(witnessed: Witnessed, tmp_path: Path) -> None:
    """The service may send a note that already carries the witness's line (a retry): the
    answer has exactly one line of this witness's key, so it verifies."""
    from crypto.tlog_witness import add_checkpoint_body

    election = witnessed.election
    cosigner = Cosigner.generate("retried.example/witness", TYPE_ED25519)
    opened = election.checkpoint_at(election.log("AAA", 1), 0)
    core = Witness(cosigner, tmp_path / "w", {LOG: election.manifest.log_verifiers["AAA"]})
    first = core.add_checkpoint(add_checkpoint_body(0, [], opened))
    assert first.status == 200
    retried = add_cosignatures(opened, [first.body.strip() + "\n"])  # the service sends it again
    assert note_cosignatures(retried, [cosigner.public])[1]  # it carries the line already
    assert core.add_checkpoint(add_checkpoint_body(0, [], retried)).status == 200
    note = reader(core)(LOG)
    assert note is not None
    own = [line for line in note.splitlines() if line.startswith(f"— {cosigner.name} ")]
    assert len(own) == 1
    assert note_cosignatures(note, [cosigner.public])[1]
    assert len(note_cosignatures(note, [c.public for c in witnessed.cosigners])[1]) == 4


def test_a_witness_serves_a_final_with_its_finality_statement(witnessed: Witnessed) -> None:
    """A final read from a witness counts for the guardian only with that witness's finality
    statement (crypto/cosignature.py; issue 24, attack 1): the read endpoint adds it, and a note
    with the ordinary line alone is refused by the watch."""
    from crypto.cosignature import finality_cosignatures
    from crypto.note import parse_note

    for cosigner in witnessed.cosigners:
        note = reader(witnessed.cores[cosigner.name])(LOG)
        assert note is not None and "\nfinal\n" in note
        checkpoint = open_checkpoint(note, witnessed.election.manifest.log_verifiers["AAA"], LOG)
        statements = finality_cosignatures(
            checkpoint, parse_note(note).signatures, [cosigner.public]
        )
        assert [s.cosigner for s in statements] == [cosigner.public]


def test_a_final_from_a_witness_without_its_finality_statement_is_refused(
    witnessed: Witnessed, tmp_path: Path
) -> None:
    cosigner = witnessed.cosigners[0]
    served = reader(witnessed.cores[cosigner.name])(LOG)
    assert served is not None
    body, _, lines = served.partition("\n\n")
    stripped = body + "\n\n" + "".join(
        line + "\n" for line in lines.splitlines() if f" {cosigner.name}/final " not in line
    )

    def read(origin: str) -> str | None:
        return stripped if origin == LOG else None

    state = witnessed.state(2, tmp_path)
    report = watch_once(Hiding(witnessed.election), state, None, {cosigner.name: read})
    assert any(
        f"witness {cosigner.name} shows a checkpoint that does not check" in r
        for r in report.refusals
    ), report.refusals


def test_a_rolled_back_witness_serves_nothing(witnessed: Witnessed, tmp_path: Path) -> None:
    cosigner = witnessed.cosigners[0]
    logs = {LOG: witnessed.election.manifest.log_verifiers["AAA"]}
    core = Witness(cosigner, tmp_path / "w", logs)
    core.rolled_back = "restored from an older copy (test)"
    http = create_witness_app(core).test_client()
    answer = http.get("/checkpoint", query_string={"origin": LOG})
    assert answer.status_code == 503
    assert answer.get_json()["type"].endswith("witness-rolled-back")


class _Posted:
    status_code = 200


class _Capture:
    """What a guardian-as-witness posts to the service (``client.session.post``)."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def post(self, url: str, data: bytes, timeout: float) -> _Posted:
        self.bodies.append(data.decode("utf-8"))
        return _Posted()


def test_a_guardian_witness_makes_no_finality_statement_below_what_it_cosigned(
    witnessed: Witnessed, tmp_path: Path
) -> None:
    """Review of issue 24, attack 1, through a guardian the manifest lists as a witness (pull
    mode): it cosigned the round at size 12; the operator then shows it a "final" at size 8 (a
    true prefix, signed with the log and commission keys, entries 8-11 dropped). Its state
    accepts the smaller checkpoint as consistent (not new), and the watch made its finality
    statement on it anyway: enough such guardians, with the f colluders, make a final that drops
    ballots and that V4, the receipt checker and the guardians accept. A finality statement is
    made only on the largest checkpoint the guardian has seen, like a witness's 409
    final-behind."""
    from crypto.cosignature import finality_cosignatures
    from crypto.note import parse_note

    election = witnessed.election
    key = witnessed.cosigners[0]  # the manifest lists it: here the guardian's witness key
    rows = AppClient(election).get("/units/AAA/rounds/1/checkpoints")["checkpoints"]
    at12 = [r for r in rows if not r["final"] and r["size"] == ELECTORS][-1]
    opened = _unsigned_by(at12, key)  # w0's core cosigned it: the guardian has not, yet
    entries = list(election.store.iter_entries("AAA", 1))
    short = forge(election, witnessed.data, entries[:8])
    capture = _Capture()

    class Open(AppClient):
        session, url = capture, "http://service"

        def get(self, path: str, **params: Any) -> Any:
            if path == "/units/AAA/rounds/1/checkpoints":
                return {"checkpoints": [opened]}
            return super().get(path, **params)

    class Short(HostileClient):
        session, url = capture, "http://service"

    state = witnessed.state(2, tmp_path)
    assert watch_once(Open(election), state, key).refusals == []
    seen = state.seen(LOG)
    assert seen is not None and seen.size == ELECTORS
    assert note_cosignatures(capture.bodies[-1], [key.public])[1]  # it cosigned size 12
    report = watch_once(Short(election, short), state, key)
    final = open_checkpoint(short.note, election.manifest.log_verifiers["AAA"], LOG)
    for body in capture.bodies:
        signatures = parse_note(body).signatures
        assert not finality_cosignatures(final, signatures, [key.public]), (
            "the guardian made its finality statement on a final of 8 after cosigning 12"
        )
    assert any("final" in r and "8" in r for r in report.refusals), report.refusals


@pytest.mark.parametrize("lines, length", [(100, 64), (70, 12000)])
def test_a_stuffed_note_does_not_break_the_witness_read_endpoint(
    witnessed: Witnessed, tmp_path: Path, lines: int, length: int
) -> None:
    """Review of issue 24, attack 2: the operator sends a witness a checkpoint whose note is
    stuffed to the note's bounds with lines of keys nobody knows (99 lines, the most a note
    holds with the log's; or 60 long ones, about 1 MiB). The witness cosigns it (unknown lines
    are ignored) and stores it; its read endpoint then appended its own line past the bounds
    and failed with a traceback (HTTP 500) on every read, so no guardian could read the log
    from it. It now serves the log's signature and its own line, and as many of the others as
    the bounds allow."""
    from crypto.note import NoteSignature
    from crypto.tlog_witness import add_checkpoint_body

    election = witnessed.election
    cosigner = Cosigner.generate("stuffed.example/witness", TYPE_ED25519)
    opened = election.checkpoint_at(election.log("AAA", 1), 0)
    from crypto.note import parse_note

    lines -= len(parse_note(opened).signatures) if lines == 100 else 0
    from crypto.note import MAX_NOTE_SIZE

    stuffed = opened
    for i in range(lines):  # up to 16 bytes short of the note's size bound
        room = MAX_NOTE_SIZE - len(stuffed.encode("utf-8")) - 16
        line = NoteSignature(f"junk{i}.example/key", bytes(4), bytes(length)).line()
        if len(line.encode("utf-8")) > room:
            overhead = len(NoteSignature(f"junk{i}.example/key", bytes(4), b"").line())
            line = NoteSignature(
                f"junk{i}.example/key", bytes(4), bytes((room - overhead) * 3 // 4 - 4)
            ).line()
            stuffed += line
            break
        stuffed += line
    core = Witness(cosigner, tmp_path / "w", {LOG: election.manifest.log_verifiers["AAA"]})
    assert core.add_checkpoint(add_checkpoint_body(0, [], stuffed)).status == 200
    http = create_witness_app(core).test_client()
    answer = http.get("/checkpoint", query_string={"origin": LOG})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    note = answer.get_data(as_text=True)
    assert open_checkpoint(note, election.manifest.log_verifiers["AAA"], LOG).size == 0
    assert note_cosignatures(note, [cosigner.public])[1]


def test_a_witness_answering_without_end_is_read_only_up_to_a_note(tmp_path: Path) -> None:
    """Review of issue 24, attack 2: a colluding witness (or whoever answers at its URL) sends
    ``guardian watch`` an answer of many megabytes; the reader took it all into memory. It now
    reads at most one note's bound and reports the rest as a failed answer (an alarm)."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from crypto.note import MAX_NOTE_SIZE
    from tally_service.common.answers import AnswerRefused
    from tally_service.guardian.watch import http_witness

    sent: list[int] = []

    class Flood(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            chunk = b"x" * 65536
            try:
                for _ in range(8 * MAX_NOTE_SIZE // len(chunk)):
                    self.wfile.write(chunk)
                    sent.append(len(chunk))
            except OSError:
                pass  # the reader hung up: what this test wants

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Flood)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        read = http_witness(f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(AnswerRefused, match="larger than 1 MiB"):
            read(LOG)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_service_flooding_a_checkpoint_answer_raises_an_alarm(
    witnessed: Witnessed, tmp_path: Path
) -> None:
    """Review of kz-tally (answers without a cap): the service answers the guardian's ``GET
    .../checkpoint`` over real HTTP with 16 MiB. The watch read it whole before (and refused it
    as an unreadable checkpoint); it now stops at a note's bound (1 MiB) and raises an ALARM
    saying so, with the log marked blind for the poll, as for the service's other refusals."""
    from collections.abc import Callable, Iterable

    from tally_service.common.client import ServiceClient
    from tally_service.service.app import create_app
    from tests.follow_helpers import ThreadServer

    honest = create_app(witnessed.election)
    read: list[int] = []

    def flooding(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["PATH_INFO"] != "/api/v1/units/AAA/rounds/1/checkpoint":
            return honest(environ, start_response)  # type: ignore[no-any-return]
        start_response("200 OK", [("Content-Type", "text/plain")])

        def body() -> Iterable[bytes]:
            for _ in range(256):  # 16 MiB, 64 KiB at a time
                read.append(1)
                yield b"x" * 65536

        return body()

    server = ThreadServer(flooding)
    try:
        state = witnessed.state(2, tmp_path)
        report = watch_once(ServiceClient(server.url), state)
    finally:
        server.stop()
    alarms = [a for a in report.alarms if "/AAA/1:" in a]
    assert len(alarms) == 1, report.alarms
    assert (f"the service's answer to GET {server.url}/api/v1/units/AAA/rounds/1/checkpoint "
            "is larger than 1 MiB") in alarms[0], alarms[0]
    assert len(read) < 200  # it hung up long before the end


def _unsigned_by(row: dict[str, Any], key: Cosigner) -> dict[str, Any]:
    """A service's checkpoint row without ``key``'s lines: in the fixture the guardian's key
    is also witness w0's (which cosigned every checkpoint), and a guardian-witness shown its
    own line on what its state does not know takes it as proof of a rollback."""
    from crypto.note import parse_note

    note = parse_note(row["note"])
    names = {key.name, key.public.finality().name}
    kept = "".join(sig.line() for sig in note.signatures if sig.name not in names)
    return {**row, "note": note.text + "\n" + kept}


def test_a_guardian_witness_restored_from_a_backup_makes_no_finality_statement_on_a_fork(
    witnessed: Witnessed, tmp_path: Path
) -> None:
    """Review of issue 24, attack 9 for the witnesses that guardians run (pull mode): the
    guardian's state is backed up when it has seen size 4, then it cosigns size 12; its
    directory is restored from the backup. The operator shows it a final of 11 that extends
    size 4 but drops entry 4: the restored guardian-witness vouches for it with its finality
    statement, as a restored ``witness serve`` would have before issue 24."""
    from crypto.cosignature import finality_cosignatures
    from crypto.note import parse_note

    election = witnessed.election
    key = witnessed.cosigners[0]
    rows = AppClient(election).get("/units/AAA/rounds/1/checkpoints")["checkpoints"]
    at4 = [r for r in rows if not r["final"] and r["size"] == 4][-1]
    at12 = [r for r in rows if not r["final"] and r["size"] == ELECTORS][-1]
    capture = _Capture()

    def showing(row: dict[str, Any]) -> type[AppClient]:
        class Showing(AppClient):
            session, url = capture, "http://service"

            def get(self, path: str, **params: Any) -> Any:
                if path == "/units/AAA/rounds/1/checkpoints":
                    return {"checkpoints": [_unsigned_by(row, key)]}
                return super().get(path, **params)

        return Showing

    marker, vkey = marker_path(tmp_path / "w0.key"), str(key.public)
    state = witnessed.state(2, tmp_path)
    state.bind_witness(marker, vkey)  # what `guardian watch --witness-key` does at start
    assert watch_once(showing(at4)(election), state, key).refusals == []
    shutil.copytree(state.path, tmp_path / "backup")
    assert watch_once(showing(at12)(election), state, key).refusals == []
    shutil.rmtree(state.path)
    shutil.copytree(tmp_path / "backup", state.path)  # the restore
    entries = list(election.store.iter_entries("AAA", 1))
    fork = forge(election, witnessed.data, entries[:4] + entries[5:])

    from crypto.merkle import MerkleTree, leaf_hash

    tree = MerkleTree(leaf_hash(e) for e in fork.entries)

    class Short(HostileClient):
        session, url = capture, "http://service"

        def get(self, path: str, **params: Any) -> Any:
            if path == "/units/AAA/rounds/1/proof/consistency":  # the fork's own proof
                proof = tree.consistency_proof(int(params["from"]), int(params["to"]))
                return {"proof": [h.hex() for h in proof]}
            return super().get(path, **params)

    capture.bodies.clear()
    restored = GuardianState(state.path)
    refused = None
    try:
        restored.bind_witness(marker, vkey)  # the restarted watch
    except StateRollback as exc:
        refused = str(exc)
    else:
        watch_once(Short(election, fork), restored, key)
    final = open_checkpoint(fork.note, election.manifest.log_verifiers["AAA"], LOG)
    for body in capture.bodies:
        assert not finality_cosignatures(final, parse_note(body).signatures, [key.public])
    assert refused is not None, "the restored guardian-witness started"
    assert "older copy" in refused and "new key" in refused
    assert capture.bodies == []


def test_a_guardian_witness_shown_its_own_cosignature_beyond_its_state_cosigns_no_more(
    witnessed: Witnessed, tmp_path: Path
) -> None:
    """Review of issue 24, attack 9, what no marker sees: the guardian's state *and* the marker
    beside its witness key are restored together (a snapshot of the whole machine) to when it
    had seen size 4; it had since cosigned size 12. The service (or a witness) shows it the
    size-12 checkpoint carrying its own cosignature: proof that its state went back. It
    latches: no finality statement on the final, nor any other line, and a restart refuses."""
    election = witnessed.election
    key = witnessed.cosigners[0]
    rows = AppClient(election).get("/units/AAA/rounds/1/checkpoints")["checkpoints"]
    at4 = _unsigned_by([r for r in rows if not r["final"] and r["size"] == 4][-1], key)
    at12 = _unsigned_by([r for r in rows if not r["final"] and r["size"] == ELECTORS][-1], key)
    (final,) = [_unsigned_by(r, key) for r in rows if r["final"]]
    capture = _Capture()

    def showing(row: dict[str, Any]) -> type[AppClient]:
        class Showing(AppClient):
            session, url = capture, "http://service"

            def get(self, path: str, **params: Any) -> Any:
                if path == "/units/AAA/rounds/1/checkpoints":
                    return {"checkpoints": [row]}
                return super().get(path, **params)

        return Showing

    marker, vkey = marker_path(tmp_path / "w0.key"), str(key.public)
    state = witnessed.state(2, tmp_path)
    state.bind_witness(marker, vkey)
    assert watch_once(showing(at4)(election), state, key).refusals == []
    shutil.copytree(state.path, tmp_path / "backup")
    shutil.copy(marker, tmp_path / "backup.marker")
    capture.bodies.clear()
    assert watch_once(showing(at12)(election), state, key).refusals == []
    (mine,) = capture.bodies  # the size-12 note with this guardian's cosignature
    shutil.rmtree(state.path)
    shutil.copytree(tmp_path / "backup", state.path)
    shutil.copy(tmp_path / "backup.marker", marker)  # the whole machine restored
    restored = GuardianState(state.path)
    restored.bind_witness(marker, vkey)  # state and marker agree: no local check sees it
    capture.bodies.clear()
    report = watch_once(showing({**at12, "note": mine})(election), restored, key)
    assert any("restored from an older copy" in r for r in report.refusals), report.refusals
    report = watch_once(showing(final)(election), restored, key)
    assert capture.bodies == [], "the rolled-back guardian-witness cosigned"
    assert any("new key" in r for r in report.refusals), report.refusals
    with pytest.raises(StateRollback, match="restored from an older copy"):
        GuardianState(state.path).bind_witness(marker, vkey)


def test_guardian_watch_refuses_a_restored_witness_state_in_one_line(tmp_path: Path) -> None:
    """Review of issue 24, attack 9, the command: ``guardian watch --witness-key`` started on a
    guardian state older than the marker beside the key stops before it polls, in one line
    naming the cause and the remedy (a new witness key), with a non-zero exit."""
    import subprocess
    import sys

    key = Cosigner.generate("g1.example/witness", TYPE_ED25519)
    key_file = tmp_path / "g1.key"
    key_file.write_text(key.private_text() + "\n", encoding="ascii")
    state = GuardianState(tmp_path / "state")
    state.bind_witness(marker_path(key_file), str(key.public))
    shutil.copytree(state.path, tmp_path / "backup")
    state.record_alarm(LOG, "test", "a write of the log's record", {}, blind=True)
    assert state.generation() == 1
    shutil.rmtree(state.path)
    shutil.copytree(tmp_path / "backup", state.path)  # the restore
    args = ["--state", str(state.path), "--url", "http://127.0.0.1:9", "--once",
            "--witness-key", str(key_file)]
    done = subprocess.run(
        [sys.executable, "-m", "tally_service", "guardian", "watch", *args],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "older copy" in done.stderr and "new key" in done.stderr
    # the same state with its marker is refused no more than a fresh one: the check is the age
    shutil.rmtree(state.path)
    shutil.copytree(tmp_path / "backup", state.path)
    GuardianState(state.path).record_alarm(LOG, "test", "caught up", {}, blind=True)
    GuardianState(state.path).bind_witness(marker_path(key_file), str(key.public))
