"""Tally and results over a whole election: a clear winner, a runoff that then decides, a unit
without quorum; signed results that match the rules and the decrypted counts."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from crypto.decryption import check_partial, decryption_context
from crypto.elgamal import Ciphertext
from crypto.envelope import open_document
from crypto.group import Point
from crypto.signed_partial import sign_partial
from crypto.signing import Context
from scripts.builders import insecure
from scripts.builders.sample import UnitSpec
from scripts.builders.simulate import SimulatedElection, run_election
from tally_service.common.problems import Problem
from tally_service.service import results, tally
from tally_service.service.election import Election

UNITS = [
    UnitSpec("WIN", "Clear winner", candidates=3, electors=20),
    UnitSpec("RUN", "Runoff", candidates=3, electors=20),
    UnitSpec("NOQ", "No quorum", candidates=2, electors=10, kind="city"),
    UnitSpec("TIE", "Three-way tie", candidates=3, electors=12),
]


# fixed vote patterns (cycled), so each unit's outcome is certain
PATTERNS = {
    ("WIN", 1): [0, 0, 0, 0, 1],  # 80% for the first candidate
    ("RUN", 1): [0] * 8 + [1] * 7 + [2] * 5,
    ("RUN", 2): [1],  # the runner-up wins the runoff
    ("NOQ", 1): [0, None],
    ("TIE", 1): [0, 1, 2],  # 4 / 4 / 4: the lot picks the runoff pair
    ("TIE", 2): [0, 1],  # 6 / 6: the lot picks the winner
}
_seen: Counter[tuple[str, int]] = Counter()


def chooser(unit: str, round_no: int, candidates: Sequence[str], rng: random.Random) -> str | None:
    pattern = PATTERNS[(unit, round_no)]
    pick = pattern[_seen[(unit, round_no)] % len(pattern)]
    _seen[(unit, round_no)] += 1
    return None if pick is None else candidates[pick]


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> SimulatedElection:
    base = tmp_path_factory.mktemp("tally")
    return run_election(
        base / "data",
        UNITS,
        turnout={"WIN": 0.9, "RUN": 1.0, "NOQ": 0.5, "TIE": 1.0},
        chooser=chooser,
        guardians=3,
        threshold=2,
        decrypting=[3, 1],
        record=base / "record",
    )


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_results_follow_rules_and_counts(sim: SimulatedElection) -> None:
    record = sim.data_dir.parent / "record"
    manifest = load(record / "manifest.json")["payload"]
    keys = {}
    from crypto.signing import VerifyKey

    for h in manifest["commission"]["keys"]:
        key = VerifyKey.from_hex(h)
        keys[key.key_id] = key
    final = open_document(load(record / "results" / "final.json"), keys, Context.TALLY)
    units = {u["unit"]: u for u in final["units"]}
    assert units["RUN"]["rounds"][0]["votes"] == {"RUN-C1": 8, "RUN-C2": 7, "RUN-C3": 5}
    assert units["WIN"]["status"] == "elected" and units["WIN"]["winner"] == "WIN-C1"
    assert [r["status"] for r in units["RUN"]["rounds"]] == ["runoff", "elected"]
    assert units["RUN"]["rounds"][0]["runoff"] == ["RUN-C1", "RUN-C2"]
    assert units["RUN"]["winner"] == "RUN-C2"
    assert units["NOQ"]["status"] == "void" and not units["NOQ"]["rounds"][0]["quorum"]
    assert units["NOQ"]["winner"] is None
    noq = units["NOQ"]["rounds"][0]
    # void whatever the votes, so never decrypted: no counts, only who took part
    assert (noq["votes"], noq["blank"], noq["shares"]) == (None, None, None)
    assert noq["took_part"] == 5 and noq["reason"].startswith("Only 5 of 10 registered")
    noq_tally = load(record / "units" / "NOQ" / "1" / "tally.json")
    assert noq_tally["partials"] == [] and noq_tally["counts"] is None
    assert len(noq_tally["encrypted"]) == 2  # the encrypted sums are published all the same
    # counts equal what the simulated electors chose, and add up
    for unit, summary in units.items():
        for rnd in summary["rounds"]:
            if unit == "NOQ":
                continue
            chosen = Counter(
                c for (u, r, _), c in sim.choices.items() if u == unit and r == rnd["round"]
            )
            assert rnd["votes"] == {c: chosen.get(c, 0) for c in rnd["candidates"]}
            assert rnd["blank"] == chosen.get(None, 0)
            assert sum(rnd["votes"].values()) + rnd["blank"] == rnd["took_part"]
            assert rnd["took_part"] <= summary["registered"]
    prelim = open_document(load(record / "results" / "preliminary.json"), keys, Context.TALLY)
    assert prelim["units"][1]["status"] == "runoff"
    assert final["preliminary"] == results.results_hash(
        load(record / "results" / "preliminary.json")
    )
    assert final["changes"] is not None and "RUN" in final["changes"]


def test_every_decryption_proof_verifies(sim: SimulatedElection) -> None:
    record = sim.data_dir.parent / "record"
    manifest = load(record / "manifest.json")["payload"]
    ceremony = load(record / "key_ceremony.json")
    from crypto.ballot import ballot_context  # noqa: F401  (context helpers live in crypto)
    from crypto.canonical import hash_json

    mh = hash_json("kz-tally/v1/manifest", manifest)
    for doc_path in sorted(record.glob("units/*/*/tally.json")):
        doc = load(doc_path)
        if doc["unit"] == "NOQ":
            continue  # no quorum: not decrypted
        cts = [Ciphertext.from_json(c) for c in doc["encrypted"]]
        assert len(doc["partials"]) == 2
        partials = [p["payload"]["partial"] for p in doc["partials"]]  # as the guardians signed
        assert sorted(p["guardian"] for p in partials) == [1, 3]
        for partial in partials:
            share = Point.from_hex(ceremony["public_shares"][str(partial["guardian"])])
            final = doc["final_checkpoint"]
            origin = f"{manifest['origin']}/{doc['unit']}/{doc['round']}"
            context = decryption_context(
                mh, doc["unit"], doc["round"], origin, final["size"], bytes.fromhex(final["root"])
            )
            assert check_partial(partial, share, cts, context) is None


def test_bad_partial_is_refused_and_named(tmp_path: Path) -> None:
    run_election(tmp_path / "d", [UnitSpec("AAA", "A", 2, 6)], record=None)
    # reopen and try a second tally with a forged partial on a fresh unit round
    e = Election(tmp_path / "d")
    try:
        doc = tally.start_tally(e, "AAA", 1)
        assert doc["counts"] is not None
        with pytest.raises(Problem) as info:
            tally.submit_partial(e, "AAA", 1, doc["partials"][0])
        assert info.value.check == "tallied"
    finally:
        e.stop()


def test_a_round_without_quorum_is_summed_but_never_decrypted(sim: SimulatedElection) -> None:
    e = Election(sim.data_dir)
    try:
        doc = tally.start_tally(e, "NOQ", 1)
        assert tally.is_void(e, doc) and doc["took_part"] == 5 and doc["counts"] is None
        # even a valid partial decryption, made by a real guardian, is refused
        partial = insecure.guardian_partial(e, "NOQ", 1, 1, insecure.read_share(e.data_dir, 1))
        with pytest.raises(Problem) as info:
            tally.submit_partial(e, "NOQ", 1, partial)
        assert info.value.status == 409 and info.value.check == "no-quorum"
        assert "5 ballots of 10 registered" in info.value.detail
        assert e.store.partials("NOQ", 1) == {}
        assert insecure.tally_in_process(e, "NOQ", 1, [1, 2])["counts"] is None
        out = tally.outcome(e, doc)
        assert out.status == "void" and out.shares is None
    finally:
        e.stop()


def _voted(data: Path, registered: int, voting: int) -> Election:
    """Unit AAA of ``registered`` electors, 3 guardians (k = 2), round 1 open, and ``voting``
    of them cast a vote for AAA-C1; the round is left open."""
    from scripts.builders.sample import build_election
    from tally_service.elector.ballot import make_ballot
    from tally_service.service.config import Config

    keys = build_election(data, [UnitSpec("AAA", "A", 2, registered)], guardians=3, threshold=2)
    e = Election(data, Config())
    e.open_round("AAA", 1)
    for i in range(voting):
        elector = f"AAA-E{i + 1:04d}"
        e.cast(make_ballot(e.manifest.hash, "AAA", 1, elector, e.log("AAA", 1).candidates,
                           "AAA-C1", e.manifest.election_key, keys[elector]))
    return e


def test_partial_checks_before_decryption(tmp_path: Path) -> None:

    e = _voted(tmp_path / "d", registered=6, voting=4)
    try:
        with pytest.raises(Problem) as info:
            tally.start_tally(e, "AAA", 1)
        assert info.value.check == "round-open"
        e.close_round("AAA", 1)
        share1 = insecure.read_share(e.data_dir, 1)
        good = insecure.guardian_partial(e, "AAA", 1, 1, share1)
        plain = good["payload"]["partial"]
        doc = tally.start_tally(e, "AAA", 1)

        def signed_by(guardian: int, partial: dict[str, Any]) -> dict[str, Any]:
            identity = insecure.read_identity(e.data_dir, guardian)
            return tally.signed_statement(doc, partial, identity)

        # guardian 2 claims guardian 1's partial: the proof fails against guardian 2's share
        with pytest.raises(Problem) as info:
            tally.submit_partial(e, "AAA", 1, signed_by(2, {**plain, "guardian": 2}))
        assert info.value.check == "partial-decryption" and "guardian 2" in info.value.detail
        forged = json.loads(json.dumps(plain))
        forged["shares"][0] = plain["shares"][1]
        with pytest.raises(Problem) as info:
            tally.submit_partial(e, "AAA", 1, signed_by(1, forged))
        assert info.value.check == "partial-decryption"
        with pytest.raises(Problem):
            tally.submit_partial(e, "AAA", 1, signed_by(1, {**plain, "guardian": 9}))
        # the service keeps only what a guardian signed: unsigned, signed by another guardian,
        # edited after signing, signed for another final checkpoint
        for bad in (
            plain,
            signed_by(2, plain),
            {**good, "payload": {**good["payload"], "partial": forged}},
            sign_partial(
                {**good["payload"], "final_checkpoint": {"size": 1, "root": "00" * 32}},
                insecure.read_identity(e.data_dir, 1),
            ),
        ):
            with pytest.raises(Problem) as info:
                tally.submit_partial(e, "AAA", 1, bad)
            assert info.value.check == "guardian-signature" and info.value.status == 403
        doc = tally.submit_partial(e, "AAA", 1, good)
        assert doc["counts"] is None  # one of k=2
        with pytest.raises(Problem) as info:
            results.publish(e, "preliminary")
        assert info.value.check == "not-tallied"
        doc = tally.submit_partial(
            e, "AAA", 1,
            insecure.guardian_partial(e, "AAA", 1, 3, insecure.read_share(e.data_dir, 3)),
        )
        assert doc["counts"] == {"AAA-C1": 4, "AAA-C2": 0} and doc["blank"] == 0
        with pytest.raises(Problem) as info:
            results.publish(e, "final")
        assert info.value.check == "no-preliminary"
        results.publish(e, "preliminary")
        with pytest.raises(Problem):
            results.publish(e, "preliminary")
        final = results.publish(e, "final")
        assert final["payload"]["changes"] is None
    finally:
        e.stop()


def test_ties_are_drawn_by_the_public_lot(sim: SimulatedElection) -> None:
    record = sim.data_dir.parent / "record"
    final = load(record / "results" / "final.json")["payload"]
    tie = next(u for u in final["units"] if u["unit"] == "TIE")
    first, second = tie["rounds"]
    assert first["votes"] == {"TIE-C1": 4, "TIE-C2": 4, "TIE-C3": 4}
    assert first["status"] == "runoff" and sorted(first["lot"]) == ["TIE-C1", "TIE-C2", "TIE-C3"]
    assert first["runoff"] == first["lot"][:2]
    assert second["votes"] == {c: 6 for c in first["runoff"]}
    assert second["status"] == "elected" and second["winner"] == second["lot"][0]


def test_the_observer_verifier_passes_this_record(sim: SimulatedElection) -> None:
    import subprocess
    import sys

    top = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, str(top / "scripts" / "verify.py"), str(sim.data_dir.parent / "record"),
         "--json", "--quiet"], capture_output=True, text=True, timeout=300, check=False,
    )
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"], [c for c in report["checks"] if not c["ok"]]


def test_an_unsigned_partial_does_not_start_the_tally(tmp_path: Path) -> None:
    """Review of issue 24: POST /guardian/partials checked the guardian's signature only inside
    ``submit_partial``, after ``start_tally``: anybody could make the service sum a closed log
    (the commission's ``start-tally``) by posting a partial signed by any key, again and again
    while the final was not witnessed (the sum is computed before that check). The signature
    is checked first, as docs/api.md says, and such a post leaves nothing behind."""
    from crypto.envelope import sign_document
    from crypto.signing import SigningKey
    from tally_service.service.guardian_partials import accept_guardian_partial

    e = _voted(tmp_path / "d", registered=4, voting=3)
    try:
        e.close_round("AAA", 1)
        statement = {
            "election": e.manifest.hash.hex(),
            "unit": "AAA",
            "round": 1,
            "final_checkpoint": {"size": 3, "root": "00" * 32},
            "partial": {"guardian": 1, "shares": [], "proofs": []},
        }
        stranger = sign_document(statement, SigningKey.generate(), Context.GUARDIAN)
        real = sign_document(statement, insecure.read_identity(e.data_dir, 1), Context.GUARDIAN)
        tampered = {**real, "payload": {**statement, "round": 2}}
        for bogus in (stranger, tampered):
            with pytest.raises(Problem) as info:
                accept_guardian_partial(e, bogus)
            assert info.value.status == 403 and info.value.check == "guardian-signature"
            assert e.store.get_tally("AAA", 1) is None  # the commission has not started it
    finally:
        e.stop()
