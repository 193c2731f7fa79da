"""Finality every witness signs (issue 24, attack 1): a backdated final with post-quantum
witnesses.

The attack: ten ballots are cast; three ML-DSA-44 witnesses cosign the log at size 8 and at
size 10. The hostile operator (it holds the log and commission keys and runs the service) then
signs a *final* checkpoint at size 8 whose ``time`` line copies the size-8 checkpoint's, pastes
the witnesses' subtree/v1 cosignatures of size 8 onto it and drops entries 8 and 9. A subtree/v1
cosignature binds neither ``final`` nor ``time``, and the old policy counted a cosignature on a
final as fresh when its timestamp was not before the final's own (operator-written) ``time``
line: the guardians decrypted and verify.py passed. Every independent party must now refuse it,
because none of the witnesses made the finality statement for it.
"""

from __future__ import annotations

import calendar
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crypto.checkpoint import Checkpoint, checkpoint_facts, profile_extensions, sign_checkpoint
from crypto.cosignature import TYPE_MLDSA44, Cosigner
from crypto.note import add_signatures, parse_note
from crypto.witness_policy import manifest_section
from scripts.builders import insecure
from scripts.builders.sample import UnitSpec, build_election
from scripts.builders.simulate import SimulatedElection, _local_witnesses
from tally_service.elector.ballot import make_ballot
from tally_service.guardian.checks import GuardianRefusal, check_tally_inputs
from tally_service.service import results, tally, witnessing
from tally_service.service.config import Config
from tally_service.service.election import Election
from tally_service.service.export import export_record
from tests.verify_helpers import receipt_checker, verify

UNIT = "AAA"
PQ_WITNESSES = [Cosigner.generate(f"pq{i}.example/witness", TYPE_MLDSA44) for i in (1, 2, 3)]


@dataclass
class Attack:
    data: Path
    forged_final: str
    sim: SimulatedElection
    electors: list[str]


def _cast(election: Election, sim: SimulatedElection, electors: list[str]) -> None:
    log = election.log(UNIT, 1)
    for elector in electors:
        ballot = make_ballot(
            election.manifest.hash,
            UNIT,
            1,
            elector,
            log.candidates,
            log.candidates[0],
            election.manifest.election_key,
            sim.keys[elector],
        )
        receipt, _ = election.cast(ballot)
        sim.receipts.setdefault(elector, []).append(receipt)


def _witness_lines(note: str) -> list[str]:
    names = {w.name for w in PQ_WITNESSES}
    return [sig.line() for sig in parse_note(note).signatures if sig.name in names]


@pytest.fixture
def attack(tmp_path: Path) -> Iterator[Attack]:
    data = tmp_path / "data"
    keys = build_election(
        data,
        [UnitSpec(UNIT, "Unit A", candidates=2, electors=12)],
        witnesses=manifest_section(3, 1, [w.public for w in PQ_WITNESSES]),
    )
    sim = SimulatedElection(data, keys)
    election = Election(data, Config(checkpoint_every=8))
    try:
        sync = _local_witnesses(election, PQ_WITNESSES, tmp_path / "witnesses")
        election.open_round(UNIT, 1)
        electors = [e["elector"] for e in election.manifest.units[UNIT]["roll"]][:10]
        _cast(election, sim, electors[:8])
        sync()  # every witness cosigns size 8
        _cast(election, sim, electors[8:])
        election.issue_checkpoint(UNIT, 1)
        sync()  # ... and size 10
        rows = {row.size: row for row in election.store.checkpoints(UNIT, 1)}
        eight = rows[8].note
        assert len(_witness_lines(eight)) == 3 and len(_witness_lines(rows[10].note)) == 3
        # the operator's forgery: a final at size 8, backdated to the size-8 checkpoint's time
        origin = election.log(UNIT, 1).origin
        old = Checkpoint.parse(parse_note(eight).text)
        when = checkpoint_facts(old).time
        final = Checkpoint(origin, 8, old.root, profile_extensions(when, final=True))
        note = sign_checkpoint(
            final, [(f"{election.manifest.body['origin']}/{UNIT}", election.log_keys[UNIT])]
        )
        note = add_signatures(
            note, [(election.manifest.body["commission"]["name"], election.commission_key)]
        )
        forged = note + "".join(_witness_lines(eight))
    finally:
        election.stop()
    with sqlite3.connect(data / "election.db") as db:  # drop entries 8 and 9, close at size 8
        db.execute("DELETE FROM ballots WHERE unit=? AND idx >= 8", (UNIT,))
        db.execute("DELETE FROM checkpoints WHERE unit=? AND size > 8", (UNIT,))
        db.execute("UPDATE rounds SET state='closed', closed_at=? WHERE unit=?", (when, UNIT))
        db.execute(
            "INSERT INTO checkpoints (unit, round, size, note, issued_at, final) "
            "VALUES (?, 1, 8, ?, ?, 1)",
            (UNIT, forged, when),
        )
    yield Attack(data, forged, sim, electors)


def _hostile_tally(attack: Attack, record: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The operator's own service does not ask for the quorum: tally, decrypt, publish, export."""
    monkeypatch.setattr(witnessing, "require_witnessed_final", lambda *args: None)
    election = Election(attack.data, Config(checkpoint_every=8))
    try:
        doc = tally.start_tally(election, UNIT, 1)
        entries = list(election.store.iter_entries(UNIT, 1))
        assert len(entries) == 8
        guardian_inputs = (election.manifest.signed, attack.forged_final, entries, doc)
        insecure.tally_in_process(election, UNIT, 1, [1, 2])
        results.publish(election, "preliminary")
        results.publish(election, "final")
        export_record(election, record)
    finally:
        election.stop()
    return guardian_inputs


def test_backdated_final_with_pasted_subtree_cosignatures_is_refused(
    attack: Attack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "record"
    guardian_inputs = _hostile_tally(attack, record, monkeypatch)
    # the service's own gate (when the operator does not patch it out)
    election = Election(attack.data, Config(checkpoint_every=8))
    try:
        monkeypatch.undo()
        assert not witnessing.final_is_witnessed(election, UNIT, 1)
    finally:
        election.stop()
    # a guardian does not decrypt it
    with pytest.raises(GuardianRefusal, match="witness"):
        check_tally_inputs(*guardian_inputs)
    # the observer's verifier fails V4 on it
    report = verify(record)
    assert not report.ok
    v4 = report.checks["V4"]
    assert v4.failures, report.to_json()
    assert any("final" in failure.why for failure in v4.failures), v4.failures
    # an elector whose ballot was kept: the receipt checker refuses the final too
    verdict = receipt_checker.Verdict("test")
    receipt_checker.check_receipt(
        attack.sim.receipts[attack.electors[0]][0],
        receipt_checker.RecordSource(record),
        verdict,
    )
    assert not verdict.ok, verdict.to_json()


def test_the_attack_setup_is_what_the_old_policy_accepted(attack: Attack) -> None:
    """The forgery's pasted lines do verify as ordinary subtree/v1 cosignatures of its size,
    origin and root, and their timestamps are not before its ``time`` line: exactly what the
    old, time-based rule counted."""
    from crypto.cosignature import note_cosignatures

    checkpoint, valid = note_cosignatures(attack.forged_final, [w.public for w in PQ_WITNESSES])
    assert checkpoint.size == 8 and len(valid) == 3
    when = time.strptime(checkpoint_facts(checkpoint).time, "%Y-%m-%dT%H:%M:%SZ")
    earliest = calendar.timegm(when)
    assert all(c.timestamp >= earliest for c in valid)
