"""One contract, both store back ends: every test here runs over SQLite and over a real
PostgreSQL database (skipped, saying how to enable it, without the PostgreSQL binaries).

What the service relies on from its store: indexes 0, 1, 2 ... in order, one ballot per elector
per round (the very same bytes again is a repeat, not a second ballot), nothing appended to a
closed round, a final checkpoint over exactly the stored ballots, cosignature lines only added,
the audit numbered without a gap, a nonce used once, a result published once.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from crypto.canonical import canonical_json
from crypto.checkpoint import open_checkpoint, verify_tlog_proof
from crypto.merkle import leaf_hash
from crypto.note import verify_note
from tally_service.common.problems import Problem
from tally_service.elector.ballot import make_ballot
from tally_service.service.app import create_app
from tally_service.service.config import Config
from tally_service.service.election import Election
from tally_service.service.store import (
    AlreadyAnswered,
    DuplicateElector,
    RequestRecord,
    RoundClosed,
    StoreError,
)
from tests.conftest import Built

API = "/api/v1"


def ballot(election: Election, built: Built, elector: str, choice: str | None) -> dict[str, Any]:
    return make_ballot(
        election.manifest.hash,
        "AAA",
        1,
        elector,
        election.log("AAA", 1).candidates,
        choice,
        election.manifest.election_key,
        built.keys[elector],
    )


def test_cast_repeat_close_over_the_api(any_election: Election, any_built: Built) -> None:
    e = any_election
    e.open_round("AAA", 1)
    client = create_app(e).test_client()
    ballots = [ballot(e, any_built, f"AAA-E{i + 1:04d}", "AAA-C1") for i in range(6)]
    receipts = []
    for b in ballots:
        r = client.post(f"{API}/ballots", json=b)
        assert r.status_code == 201, r.get_data(as_text=True)
        receipts.append(r.get_json())
    assert [r["index"] for r in receipts] == list(range(6))
    verifier = e.manifest.log_verifiers["AAA"]
    for b, receipt in zip(ballots, receipts, strict=True):
        assert receipt["leaf_hash"] == leaf_hash(canonical_json(b)).hex()
        assert verify_note(receipt["promise"], [verifier]).verified_by == (verifier.name,)
    # the same bytes again: the same receipt (the promise is a deterministic signature)
    again = client.post(f"{API}/ballots", json=ballots[2])
    assert again.status_code == 200
    assert again.get_json()["promise"] == receipts[2]["promise"]
    # the same elector with other bytes: refused, the log unchanged
    other = ballot(e, any_built, "AAA-E0003", "AAA-C2")
    r = client.post(f"{API}/ballots", json=other)
    assert r.status_code == 409 and r.get_json()["check"] == "already-voted"
    note = e.close_round("AAA", 1)
    cp = open_checkpoint(note, verifier, e.manifest.origin("AAA", 1))
    assert cp.size == 6
    r = client.post(f"{API}/ballots", json=ballot(e, any_built, "AAA-E0009", None))
    assert r.status_code == 409 and r.get_json()["check"] == "round-closed"
    # checkpoint_every=4: the 4th ballot's receipt came later with a proof; the final covers all
    proof = client.get(f"{API}/units/AAA/rounds/1/ballots/{receipts[5]['leaf_hash']}")
    if proof.status_code == 200 and proof.get_json().get("proof"):
        verify_tlog_proof(
            proof.get_json()["proof"],
            bytes.fromhex(receipts[5]["leaf_hash"]),
            verifier,
            e.manifest.origin("AAA", 1),
        )
    rows = e.store.checkpoints("AAA", 1)
    assert rows[-1].final and rows[-1].size == 6
    assert [bytes(x) for x in e.store.entries("AAA", 1, 0, 6)] == [
        canonical_json(b) for b in ballots
    ]


def test_restart_rebuilds_and_checks_the_log(any_built: Built) -> None:
    e = Election(any_built.data_dir, Config(checkpoint_every=2), store=any_built.store)
    try:
        e.open_round("AAA", 1)
        for i in range(5):
            e.cast(ballot(e, any_built, f"AAA-E{i + 1:04d}", None))
        root = e.log("AAA", 1).tree.root(5)
    finally:
        e.stop()
    again = Election(any_built.data_dir, store=any_built.store)
    try:
        assert again.log("AAA", 1).tree.size == 5
        assert again.log("AAA", 1).tree.root(5) == root
        assert again.log("AAA", 1).checkpoint_size == 4
    finally:
        again.stop()


def test_store_appends_in_order_and_refuses_what_it_must(any_election: Election) -> None:
    store = any_election.store
    any_election.open_round("AAA", 1)
    at = "2026-01-01T00:00:00.000Z"
    for i in range(3):
        entry = f"entry {i}".encode()
        assert store.append_next("AAA", 1, f"e{i}", entry, leaf_hash(entry), at) == (i, True)
    # a repeat of the same bytes: its index, nothing appended
    assert store.append_next("AAA", 1, "e1", b"entry 1", leaf_hash(b"entry 1"), at) == (1, False)
    with pytest.raises(DuplicateElector):
        store.append_next("AAA", 1, "e1", b"other", leaf_hash(b"other"), at)
    with pytest.raises(RoundClosed):  # never opened
        store.append_next("AAA", 2, "e9", b"x", leaf_hash(b"x"), at)
    assert store.round_sizes()[("AAA", 1)] == 3
    assert [e for e, _ in store.leaves("AAA", 1)] == [b"entry 0", b"entry 1", b"entry 2"]
    assert [e for e, _ in store.leaves("AAA", 1, 1, 3)] == [b"entry 1", b"entry 2"]
    with pytest.raises(StoreError):  # the final checkpoint must cover exactly what is stored
        store.close_round("AAA", 1, 2, "note", at)
    store.close_round("AAA", 1, 3, "final note\n", at)
    with pytest.raises(RoundClosed):
        store.append_next("AAA", 1, "e5", b"late", leaf_hash(b"late"), at)
    assert store.round_sizes()[("AAA", 1)] == 3


def test_cosignature_lines_are_added_under_the_lock(any_election: Election) -> None:
    store = any_election.store
    any_election.open_round("AAA", 1)
    size = any_election.log("AAA", 1).checkpoint_size
    note = store.checkpoints("AAA", 1)[-1].note
    got = store.update_checkpoint_note("AAA", 1, size, lambda n, final: n + "\u2014 w1 AAAA\n")
    assert got == note + "\u2014 w1 AAAA\n"
    assert store.checkpoints("AAA", 1)[-1].note == got
    assert store.update_checkpoint_note("AAA", 1, size + 7, lambda n, f: n + "x\n") is None


def test_audit_numbers_nonces_and_results(any_election: Election) -> None:
    store = any_election.store
    errors: list[BaseException] = []

    def request(i: int) -> RequestRecord:
        at = "2026-01-01T00:00:00Z"
        return RequestRecord(f"nonce-{i}", "0" * 64, at, "k", "checkpoint", "{}")

    def record(i: int) -> None:
        try:
            store.answer_request(request(i), lambda: (200, "{}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=record, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert [row[0] for row in store.audit()] == list(range(1, 9))
    with pytest.raises(AlreadyAnswered):
        store.answer_request(request(3), lambda: (200, "{}"))
    assert store.record_repeat(request(3), 3) == 9
    store.put_result("preliminary", json.dumps({"a": 1}))
    with pytest.raises(StoreError):
        store.put_result("preliminary", json.dumps({"a": 2}))
    assert json.loads(store.get_result("preliminary") or "null") == {"a": 1}


def test_concurrent_casts_get_distinct_gapless_indexes(
    any_election: Election, any_built: Built
) -> None:
    e = any_election
    e.open_round("AAA", 1)
    ballots = [ballot(e, any_built, f"AAA-E{i + 1:04d}", None) for i in range(12)]
    results: list[tuple[dict[str, Any], bool]] = []
    problems: list[Problem] = []
    lock = threading.Lock()

    def cast(b: dict[str, Any]) -> None:
        for _ in range(2):  # each ballot twice, at once: one append, one repeat
            try:
                got = e.cast(b)
            except Problem as exc:  # pragma: no cover - reported below
                with lock:
                    problems.append(exc)
                return
            with lock:
                results.append(got)

    threads = [threading.Thread(target=cast, args=(b,)) for b in ballots]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not problems
    new = sorted(r["index"] for r, fresh in results if fresh)
    assert new == list(range(12))
    by_elector: dict[str, set[str]] = {}
    for r, _ in results:
        by_elector.setdefault(r["elector"], set()).add(r["promise"])
    assert all(len(promises) == 1 for promises in by_elector.values())


def test_signed_times_never_go_backwards(any_election: Election, any_built: Built) -> None:
    """Another process whose clock runs ahead signed the newest checkpoint (here: a time in
    2099): the next checkpoint, and the final one, are signed at that time, not earlier, so
    V4's non-decreasing times hold whichever process signs."""
    from crypto.checkpoint import checkpoint_facts

    e = any_election
    e.open_round("AAA", 1)
    e.cast(ballot(e, any_built, "AAA-E0001", None))
    log = e.log("AAA", 1)
    future = "2099-01-01T00:00:00.000Z"
    with log.lock:
        note = log.sign(log.tree.size, e.log_keys["AAA"], future)
        e.store.add_checkpoint("AAA", 1, log.tree.size, note, future)
    e.cast(ballot(e, any_built, "AAA-E0002", None))
    verifier = e.manifest.log_verifiers["AAA"]
    origin = e.manifest.origin("AAA", 1)
    after = checkpoint_facts(open_checkpoint(e.issue_checkpoint("AAA", 1), verifier, origin))
    assert after.time == "2099-01-01T00:00:00Z"
    final = checkpoint_facts(open_checkpoint(e.close_round("AAA", 1), verifier, origin))
    assert final.time == "2099-01-01T00:00:00Z" and final.final
