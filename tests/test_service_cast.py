"""Casting through the Flask test client: receipts, checkpoints, and every kind of bad input."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from crypto.canonical import canonical_json
from crypto.checkpoint import open_checkpoint, verify_tlog_proof
from crypto.merkle import leaf_hash, verify_consistency
from crypto.note import verify_note
from tally_service.elector.ballot import make_ballot
from tally_service.service.app import create_app
from tally_service.service.election import Election
from tests.conftest import Built

API = "/api/v1"


@pytest.fixture
def client(election: Election) -> FlaskClient:
    election.open_round("AAA", 1)
    election.open_round("BBB", 1)
    return create_app(election).test_client()


def ballot_for(
    election: Election,
    built: Built,
    elector: str,
    choice: str | None,
    unit: str = "AAA",
    round_no: int = 1,
) -> dict[str, Any]:
    return make_ballot(
        election.manifest.hash,
        unit,
        round_no,
        elector,
        election.log(unit, round_no).candidates,
        choice,
        election.manifest.election_key,
        built.keys[elector],
    )


def assert_problem(response: Any, status: int, check: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["check"] == check
    assert body["type"].endswith(check) and body["title"] and body["detail"]


def test_cast_gives_receipt_and_proof_after_checkpoint(
    client: FlaskClient, election: Election, built: Built
) -> None:
    receipts = []
    for i, choice in enumerate(["AAA-C1", "AAA-C2", None, "AAA-C1", "AAA-C3"]):
        r = client.post(
            f"{API}/ballots", json=ballot_for(election, built, f"AAA-E{i + 1:04d}", choice)
        )
        assert r.status_code == 201, r.get_data(as_text=True)
        receipts.append(r.get_json())
    assert [r["index"] for r in receipts] == [0, 1, 2, 3, 4]
    verifier = election.manifest.log_verifiers["AAA"]
    # the promise is signed by the unit's log key at once
    assert verify_note(receipts[0]["promise"], [verifier]).verified_by == (verifier.name,)
    # checkpoint_every=4: the 4th ballot triggered a checkpoint covering indexes 0..3
    assert receipts[0]["proof"] is None
    assert receipts[3]["proof"] is not None
    cp = verify_tlog_proof(
        receipts[3]["proof"],
        bytes.fromhex(receipts[3]["leaf_hash"]),
        verifier,
        election.manifest.origin("AAA", 1),
    )
    assert cp.size == 4
    # the receipt endpoint upgrades an early receipt
    proof = client.get(f"{API}/units/AAA/rounds/1/receipts/0").get_data(as_text=True)
    verify_tlog_proof(proof, bytes.fromhex(receipts[0]["leaf_hash"]), verifier)
    # index 4 is not covered until the next checkpoint
    assert_problem(client.get(f"{API}/units/AAA/rounds/1/receipts/4"), 404, "not-yet-checkpointed")
    # entries round-trip to the exact logged bytes
    page = client.get(f"{API}/units/AAA/rounds/1/entries?start=0&limit=10").get_json()
    from crypto.canonical import canonical_json

    assert [leaf_hash(canonical_json(e)).hex() for e in page["entries"]] == [
        r["leaf_hash"] for r in receipts
    ]


def test_consistency_and_inclusion_endpoints(
    client: FlaskClient, election: Election, built: Built
) -> None:
    for i in range(8):
        client.post(
            f"{API}/ballots", json=ballot_for(election, built, f"AAA-E{i + 1:04d}", "AAA-C1")
        )
    verifier = election.manifest.log_verifiers["AAA"]
    cp4 = open_checkpoint(
        client.get(f"{API}/units/AAA/rounds/1/checkpoint?size=4").get_data(as_text=True), verifier
    )
    cp8 = open_checkpoint(
        client.get(f"{API}/units/AAA/rounds/1/checkpoint").get_data(as_text=True), verifier
    )
    assert (cp4.size, cp8.size) == (4, 8)
    body = client.get(f"{API}/units/AAA/rounds/1/proof/consistency?from=4&to=8").get_json()
    assert verify_consistency(4, 8, [bytes.fromhex(h) for h in body["proof"]], cp4.root, cp8.root)
    incl = client.get(f"{API}/units/AAA/rounds/1/proof/inclusion?index=5&size=8").get_json()
    assert incl["tree_size"] == 8 and len(incl["proof"]) == 3
    by_leaf = client.get(
        f"{API}/units/AAA/rounds/1/proof/inclusion?leaf_hash={incl['leaf_hash']}&size=8"
    ).get_json()
    assert by_leaf["index"] == 5
    assert_problem(
        client.get(f"{API}/units/AAA/rounds/1/proof/consistency?from=9&to=8"), 400, "range"
    )
    assert_problem(client.get(f"{API}/units/AAA/rounds/1/proof/inclusion?index=x"), 400, "query")


def test_repeat_of_same_ballot_returns_original_receipt(
    client: FlaskClient, election: Election, built: Built
) -> None:
    ballot = ballot_for(election, built, "AAA-E0001", "AAA-C2")
    first = client.post(f"{API}/ballots", json=ballot)
    again = client.post(f"{API}/ballots", json=ballot)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.get_json()["leaf_hash"] == again.get_json()["leaf_hash"]
    other = ballot_for(election, built, "AAA-E0001", "AAA-C1")
    assert_problem(client.post(f"{API}/ballots", json=other), 409, "already-voted")
    assert election.log("AAA", 1).tree.size == 1


def _tampered(ballot: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    b = copy.deepcopy(ballot)
    target = b
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return b


def test_bad_input_is_refused_and_log_unchanged(
    client: FlaskClient, election: Election, built: Built
) -> None:
    good = ballot_for(election, built, "AAA-E0002", "AAA-C1")
    before = election.log("AAA", 1).tree.root()
    url = f"{API}/ballots"
    cases: list[tuple[Any, int, str]] = [
        (b"{not json", 400, "json"),
        (b'{"a": 1, "a": 2}', 400, "json"),
        (b"[1, 2]", 400, "schema"),
        (b'{"election": NaN}', 400, "json"),
        (json.dumps({**good, "extra": 1}).encode(), 400, "schema"),
        (json.dumps({**good, "round": "1"}).encode(), 400, "schema"),
        (json.dumps(_tampered(good, ["election"], "00" * 32)).encode(), 422, "wrong-election"),
        (json.dumps(_tampered(good, ["unit"], "ZZZ")).encode(), 422, "unknown-unit"),
        (json.dumps(_tampered(good, ["round"], 2)).encode(), 409, "round-not-open"),
        (json.dumps(_tampered(good, ["elector"], "NOBODY")).encode(), 403, "not-on-roll"),
        (json.dumps(_tampered(good, ["elector"], "BBB-E0001")).encode(), 403, "not-on-roll"),
        (json.dumps(_tampered(good, ["signature"], "00" * 64)).encode(), 403, "signature"),
        (b"x" * (election.config.max_body_bytes + 1), 413, "too-large"),
    ]
    # a valid signature by another elector of the same unit
    by_other = _tampered(good, ["elector"], "AAA-E0003")
    cases.append((json.dumps(by_other).encode(), 403, "signature"))
    for data, status, check in cases:
        r = client.post(url, data=data, content_type="application/json")
        assert_problem(r, status, check)
    # proofs: a ballot re-signed with a broken proof / an invalid point
    from crypto.ballot import sign_ballot

    key = built.keys["AAA-E0002"]
    unsigned = {k: v for k, v in good.items() if k != "signature"}
    broken = copy.deepcopy(unsigned)
    broken["selections"][0]["proof"]["c0"], broken["selections"][0]["proof"]["c1"] = (
        broken["selections"][0]["proof"]["c1"],
        broken["selections"][0]["proof"]["c0"],
    )
    assert_problem(client.post(url, json=sign_ballot(broken, key)), 422, "proof")
    bad_point = copy.deepcopy(unsigned)
    bad_point["selections"][1]["ciphertext"]["a"] = "ff" * 32
    assert_problem(client.post(url, json=sign_ballot(bad_point, key)), 422, "proof")
    wrong_candidates = copy.deepcopy(unsigned)
    wrong_candidates["selections"][0]["candidate"] = "BBB-C1"
    assert_problem(client.post(url, json=sign_ballot(wrong_candidates, key)), 422, "proof")
    assert_problem(client.post(url, data=b"{}", content_type="text/plain"), 415, "media-type")
    assert_problem(client.get(f"{API}/nowhere"), 404, "not-found")
    assert_problem(client.delete(url), 405, "method")
    assert election.log("AAA", 1).tree.root() == before
    # and the service still serves: the good ballot goes in
    assert client.post(url, json=good).status_code == 201


def test_closed_round_refuses_and_final_checkpoint_is_countersigned(
    client: FlaskClient, election: Election, built: Built
) -> None:
    client.post(f"{API}/ballots", json=ballot_for(election, built, "AAA-E0001", "AAA-C1"))
    note = election.close_round("AAA", 1)
    verified = verify_note(
        note, [election.manifest.log_verifiers["AAA"], *election.manifest.commission_note_verifiers]
    )
    assert len(verified.verified_by) == 2
    r = client.post(f"{API}/ballots", json=ballot_for(election, built, "AAA-E0002", "AAA-C1"))
    assert_problem(r, 409, "round-closed")
    assert election.log("AAA", 1).tree.size == 1


def test_turnout_and_quorum(client: FlaskClient, election: Election, built: Built) -> None:
    for i in range(7):  # 7 of 12: quorum needs 7
        client.post(f"{API}/ballots", json=ballot_for(election, built, f"AAA-E{i + 1:04d}", None))
    t = client.get(f"{API}/turnout").get_json()
    a = next(u for u in t["units"] if u["unit"] == "AAA")
    assert (a["registered"], a["took_part"], a["turnout"], a["quorum"]) == (12, 7, "58.33", True)
    assert a["quorum_at"] is not None
    b = next(u for u in t["units"] if u["unit"] == "BBB")
    assert (b["took_part"], b["quorum"], b["quorum_at"]) == (0, False, None)


def test_restart_rebuilds_logs(built: Built) -> None:
    from tally_service.service.config import Config

    e = Election(built.data_dir, Config(checkpoint_every=2))
    e.open_round("AAA", 1)
    for i in range(5):
        e.cast(ballot_for(e, built, f"AAA-E{i + 1:04d}", "AAA-C1"))
    root = e.log("AAA", 1).tree.root()
    e.stop()
    again = Election(built.data_dir)
    assert again.log("AAA", 1).tree.root() == root and again.log("AAA", 1).open
    again.stop()


def _tamper_ballot_bytes(db: Any) -> None:
    # the ballot's bytes change, its stored leaf hash does not
    entry = json.loads(db.execute("SELECT entry FROM ballots WHERE idx=1").fetchone()[0])
    entry["selections"][0]["ciphertext"]["a"] = "00" * 32
    db.execute("UPDATE ballots SET entry=? WHERE idx=1", (json.dumps(entry).encode(),))


def _tamper_both(db: Any) -> None:
    # bytes and leaf hash changed together: the signed checkpoint no longer matches
    _tamper_ballot_bytes(db)
    entry = db.execute("SELECT entry FROM ballots WHERE idx=1").fetchone()[0]
    db.execute("UPDATE ballots SET leaf_hash=? WHERE idx=1", (leaf_hash(bytes(entry)),))


def _reopen_closed_round(db: Any) -> None:
    db.execute("UPDATE rounds SET state='open'")


def _ballot_after_close(db: Any) -> None:
    row = db.execute("SELECT * FROM ballots WHERE idx=3").fetchone()
    columns = [c[1] for c in db.execute("PRAGMA table_info(ballots)")]
    values = dict(zip(columns, row, strict=True))
    values.update(idx=4, elector="AAA-E0009")
    marks = ", ".join("?" for _ in columns)
    db.execute(f"INSERT INTO ballots ({', '.join(columns)}) VALUES ({marks})",
               [values[c] for c in columns])


@pytest.mark.parametrize(
    ("tamper", "close", "says"),
    [
        ("UPDATE ballots SET leaf_hash=zeroblob(32) WHERE idx=1", False, "does not hash"),
        (_tamper_ballot_bytes, False, "does not hash"),
        (_tamper_both, False, "do not match"),
        ("DELETE FROM ballots WHERE idx=1", False, "gap"),
        ("DELETE FROM ballots WHERE idx=3", False, "only 3 ballots"),
        (_reopen_closed_round, True, "open but has a final checkpoint"),
        (_ballot_after_close, True, "final checkpoint has size 4"),
    ],
    ids=["leaf-hash", "ballot-bytes", "bytes-and-hash", "gap", "dropped-last", "reopened",
         "ballot-after-close"],
)
def test_tampered_store_stops_the_service(
    built: Built, tamper: Any, close: bool, says: str
) -> None:
    import sqlite3

    from tally_service.service.config import Config
    from tally_service.service.election import StartupError

    e = Election(built.data_dir, Config(checkpoint_every=2))
    e.open_round("AAA", 1)
    for i in range(4):
        e.cast(ballot_for(e, built, f"AAA-E{i + 1:04d}", "AAA-C1"))
    if close:
        e.close_round("AAA", 1)
    e.stop()
    Election(built.data_dir).stop()  # untouched, it starts
    db = sqlite3.connect(built.data_dir / "election.db")
    if isinstance(tamper, str):
        db.execute(tamper)
    else:
        tamper(db)
    db.commit()
    db.close()
    with pytest.raises(StartupError, match=says):
        Election(built.data_dir)


def test_checkpoints_come_every_t_seconds(built: Built) -> None:
    import time

    from tally_service.service.config import Config

    e = Election(built.data_dir, Config(checkpoint_every=1000, checkpoint_seconds=0.2))
    try:
        e.open_round("AAA", 1)
        e.start_checkpointer()
        receipt, _ = e.cast(ballot_for(e, built, "AAA-E0001", "AAA-C1"))
        assert receipt["proof"] is None
        deadline = time.monotonic() + 5
        while e.log("AAA", 1).checkpoint_size < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert e.log("AAA", 1).checkpoint_size == 1
        assert e.tlog_proof(e.log("AAA", 1), 0) is not None
        sizes = [row.size for row in e.store.checkpoints("AAA", 1)]
        assert sizes == [0, 1]  # none issued while nothing changed
        time.sleep(0.5)
        assert [row.size for row in e.store.checkpoints("AAA", 1)] == [0, 1]
    finally:
        e.stop()


def test_racing_identical_ballot_is_answered_as_a_repeat(election: Election, built: Built) -> None:
    from crypto.canonical import canonical_json

    election.open_round("AAA", 1)
    entry = canonical_json(ballot_for(election, built, "AAA-E0001", "AAA-C1"))
    log = election.log("AAA", 1)
    # two requests that both passed every check before either appended
    first, created = election._append(log, "AAA-E0001", entry)
    second, again = election._append(log, "AAA-E0001", entry)
    assert (created, again) == (True, False)
    assert first["index"] == second["index"] == 0 and log.tree.size == 1


def test_receipt_lookup_by_leaf_hash_and_by_elector(
    client: FlaskClient, election: Election, built: Built
) -> None:
    """A booth whose answer to a cast was lost finds out whether the ballot went in."""
    ballot = ballot_for(election, built, "AAA-E0001", "AAA-C2")
    base = f"{API}/units/AAA/rounds/1/receipts"
    leaf = leaf_hash(canonical_json(ballot)).hex()
    assert_problem(client.get(f"{base}?leaf_hash={leaf}"), 404, "not-cast")
    assert_problem(client.get(f"{base}?elector=AAA-E0001"), 404, "not-cast")
    cast = client.post(f"{API}/ballots", json=ballot).get_json()
    by_leaf = client.get(f"{base}?leaf_hash={leaf}")
    by_elector = client.get(f"{base}?elector=AAA-E0001")
    assert by_leaf.status_code == by_elector.status_code == 200
    for found in (by_leaf.get_json(), by_elector.get_json()):
        assert {k: found[k] for k in ("index", "leaf_hash", "elector", "election")} == {
            k: cast[k] for k in ("index", "leaf_hash", "elector", "election")
        }
        assert verify_note(found["promise"], [election.manifest.log_verifiers["AAA"]])
    assert_problem(client.get(base), 400, "query")
    assert_problem(client.get(f"{base}?leaf_hash={leaf}&elector=AAA-E0001"), 400, "query")
    assert_problem(client.get(f"{base}?leaf_hash=zz"), 400, "query")
    assert_problem(client.get(f"{API}/units/AAA/rounds/2/receipts?elector=x"), 404, "unknown-round")
