"""The witness policy's checks, one by one (issue 24, "Tests that pin the checks"): each test
holds one check of crypto/witness_policy.py in place, so that a mutant that weakens it fails
here (scripts/check_mutants.py lists them). Fast: no witness process, no election."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest

from crypto.checkpoint import Checkpoint
from crypto.cosignature import TYPE_ED25519, TYPE_MLDSA44, Cosigner, add_cosignatures
from crypto.merkle import MerkleTree, leaf_hash
from crypto.note import sign_note
from crypto.signing import SigningKey
from crypto.witness_policy import PolicyError, WitnessPolicy, manifest_section

ORIGIN = "test.example/e/AAA/1"
KEY_NAME = "test.example/e/AAA"
COSIGNERS = [
    Cosigner("w1.example/witness", TYPE_MLDSA44, bytes([1]) * 32),
    Cosigner("w2.example/witness", TYPE_ED25519, bytes([2]) * 32),
    Cosigner("w3.example/witness", TYPE_ED25519, bytes([3]) * 32),
    Cosigner("w4.example/witness", TYPE_ED25519, bytes([4]) * 32),
]
LOG_KEY = SigningKey.generate()
TREE = MerkleTree([leaf_hash(bytes([i])) for i in range(3)])
PLAIN = Checkpoint(ORIGIN, 3, TREE.root(), ("time 2023-01-14T12:00:00Z",))
FINAL = Checkpoint(ORIGIN, 3, TREE.root(), ("time 2023-01-14T12:00:00Z", "final"))
TS = 1_673_697_600


def _section(**changes: Any) -> dict[str, Any]:
    section = manifest_section(3, 1, [c.public for c in COSIGNERS])
    section.update(changes)
    return section


def _policy(**changes: Any) -> WitnessPolicy:
    policy = WitnessPolicy.from_manifest(_section(**changes))
    assert policy is not None
    return policy


def _note(checkpoint: Checkpoint, lines: list[str]) -> str:
    return add_cosignatures(sign_note(checkpoint.body(), [(KEY_NAME, LOG_KEY)]), lines)


def test_the_manifest_section_round_trips() -> None:
    assert WitnessPolicy.from_manifest(None) is None
    policy = _policy()
    assert policy.to_manifest() == _section()
    assert (policy.quorum, policy.colluders) == (3, 1)
    assert policy.witnesses == tuple(c.public for c in COSIGNERS)


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"quorum": 2}, "colluding"),  # 2q - n = 0 < f + 1
        ({"quorum": 3, "colluders": 2}, "colluding"),  # 2q - n = 2 < 3: off by one
        ({"quorum": 4, "colluders": 4}, "colluding"),
        ({"quorum": 2, "colluders": -1}, "negative"),  # -1 would admit 2q - n = 0
        ({"quorum": 0, "colluders": -1}, "between 1 and n"),
        ({"quorum": 5}, "between 1 and n"),
        ({"quorum": True}, "integers"),
        ({"quorum": 3.0}, "integers"),
        ({"colluders": "1"}, "integers"),
        ({"colluders": False}, "integers"),
        ({"keys": []}, "no witness"),
    ],
)
def test_unsafe_numbers_are_refused(changes: dict[str, Any], says: str) -> None:
    with pytest.raises(PolicyError, match=says):
        WitnessPolicy.from_manifest(_section(**changes))


def test_the_bound_is_tight() -> None:
    """2q - n = f + 1 is accepted (4 witnesses, q = 3, f = 1; q = 4, f = 3)."""
    assert _policy(quorum=3, colluders=1).quorum == 3
    assert _policy(quorum=4, colluders=3).colluders == 3


def test_each_witness_entry_must_match_its_vkey() -> None:
    section = _section()
    section["keys"][1]["name"] = "w9.example/witness"
    with pytest.raises(PolicyError, match="name does not match"):
        WitnessPolicy.from_manifest(section)
    section = _section()
    section["keys"][1]["type"] = "subtree/v1"  # it is an Ed25519 key
    with pytest.raises(PolicyError, match="type"):
        WitnessPolicy.from_manifest(section)
    for bad in ("not a vkey", None, 7):
        section = _section()
        section["keys"][0]["vkey"] = bad
        with pytest.raises(PolicyError, match="witness 1"):
            WitnessPolicy.from_manifest(section)
    section = _section()
    section["keys"][2] = "w3.example/witness"  # not an object
    with pytest.raises(PolicyError, match="witness 3"):
        WitnessPolicy.from_manifest(section)
    with pytest.raises(PolicyError, match="object"):
        WitnessPolicy.from_manifest(["not", "an", "object"])


def test_a_witness_listed_twice_is_refused() -> None:
    """Under one name twice, or one key under two names: either would count one witness twice."""
    section = _section()
    section["keys"][3] = copy.deepcopy(section["keys"][2])
    with pytest.raises(PolicyError, match="names must be unique"):
        WitnessPolicy.from_manifest(section)
    twin = Cosigner("w9.example/witness", TYPE_ED25519, bytes([3]) * 32)  # w3's key
    keys = [c.public for c in COSIGNERS[:3]] + [twin.public]
    with pytest.raises(PolicyError, match="keys must be unique"):
        WitnessPolicy.from_manifest(manifest_section(3, 1, keys))


def test_quorum_is_reached_at_exactly_q() -> None:
    policy = _policy()
    lines = [c.cosign(PLAIN, TS).line() for c in COSIGNERS]
    assert not policy.has_quorum(_note(PLAIN, lines[:2]))
    assert policy.has_quorum(_note(PLAIN, lines[:3]))
    assert len(policy.cosignatures(_note(PLAIN, lines))[1]) == 4
    assert policy.counted_unverified(_note(PLAIN, lines[:3])) == 3


def test_a_bad_line_from_a_listed_witness_means_no_quorum() -> None:
    policy = _policy()
    lines = [c.cosign(PLAIN, TS).line() for c in COSIGNERS]
    other = Checkpoint(ORIGIN, 2, TREE.root(2), ("time 2023-01-14T12:00:00Z",))
    pasted = COSIGNERS[3].cosign(other, TS).line()  # w4's line of another checkpoint
    note = _note(PLAIN, [*lines[:3], pasted])
    assert policy.has_quorum(note) is False
    with pytest.raises(ValueError, match="does not verify"):
        policy.cosignatures(note)


def test_a_final_counts_only_finality_statements() -> None:
    policy = _policy()
    ordinary = [c.cosign(FINAL, TS).line() for c in COSIGNERS]
    finality = [c.cosign_final(FINAL, TS).line() for c in COSIGNERS]
    assert not policy.has_quorum(_note(FINAL, ordinary))
    assert policy.counted_unverified(_note(FINAL, ordinary)) == 0
    assert policy.cosignatures(_note(FINAL, ordinary))[1] == []
    both = _note(FINAL, [*ordinary, *finality[:3]])
    assert policy.has_quorum(both) and policy.counted_unverified(both) == 3
    counted = policy.cosignatures(both)[1]
    assert [c.cosigner for c in counted] == [c.public for c in COSIGNERS[:3]]
    assert all("/final " in c.line for c in counted)
    # on an ordinary checkpoint, finality lines are unknown keys: they do not count
    assert not policy.has_quorum(_note(PLAIN, finality))
    assert policy.counted_unverified(_note(PLAIN, finality)) == 0
    # a broken ordinary line on a final still rejects it (a listed key's line must verify)
    prefix, blob = ordinary[0].rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    broken = f"{prefix} {base64.b64encode(bytes(raw)).decode()}\n"
    assert not policy.has_quorum(_note(FINAL, [broken, *finality]))


def test_missing_numbers_are_refused_and_the_smallest_policy_is_accepted() -> None:
    for missing in ("quorum", "colluders"):
        section = _section()
        del section[missing]
        with pytest.raises(PolicyError):
            WitnessPolicy.from_manifest(section)
    one = WitnessPolicy.from_manifest(manifest_section(1, 0, [COSIGNERS[0].public]))
    assert one is not None and (one.quorum, one.colluders, len(one.witnesses)) == (1, 0, 1)
    assert _policy(quorum=3, colluders=0).colluders == 0
