"""crypto.guardians: the dealer-less key ceremony (Feldman VSS, Schnorr proofs, complaints)."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.decryption import lagrange_at_zero
from crypto.group import Point, Scalar, base_mul
from crypto.guardians import (
    GuardianSecret,
    ShareComplaint,
    ceremony_context,
    check_public_record,
    check_received_share,
    check_transcript,
    combine_received_shares,
    joint_key,
    public_share,
    record_commitments,
    resolve_complaint,
    run_ceremony,
    verify_share,
)
from crypto.proofs import SchnorrProof

G = Point.generator()
ONE = Scalar.one()


@pytest.fixture(scope="module")
def ceremony() -> tuple[dict[str, Any], dict[int, Scalar]]:
    return run_ceremony("kz-senate-2023", 5, 3)


@pytest.mark.parametrize(("n", "k"), [(1, 1), (2, 2), (3, 1), (4, 3)])
def test_ceremony_transcripts_pass(n: int, k: int) -> None:
    transcript, shares = run_ceremony("e", n, k)
    assert check_transcript(transcript) is None
    assert set(shares) == set(range(1, n + 1))
    for j, s in shares.items():
        assert base_mul(s) == Point.from_hex(transcript["public_shares"][str(j)])


def test_transcript_shape_and_json_round_trip(
    ceremony: tuple[dict[str, Any], dict[int, Scalar]],
) -> None:
    transcript, _ = ceremony
    assert set(transcript) == {"election_id", "n", "k", "guardians", "joint_key", "public_shares"}
    assert [r["guardian"] for r in transcript["guardians"]] == [1, 2, 3, 4, 5]
    back = json.loads(json.dumps(transcript))
    assert back == transcript and check_transcript(back) is None
    assert Point.from_hex(transcript["joint_key"]) == joint_key(transcript["guardians"])


def test_any_k_key_shares_reconstruct_the_joint_secret(
    ceremony: tuple[dict[str, Any], dict[int, Scalar]],
) -> None:
    """The joint secret sum_i a_i0 is never held by anyone, but any k shares interpolate it."""
    transcript, shares = ceremony
    key = Point.from_hex(transcript["joint_key"])
    for subset in ([1, 2, 3], [2, 4, 5], [1, 3, 5], [1, 2, 3, 4, 5]):
        secret = Scalar.zero()
        for j in subset:
            secret = secret + lagrange_at_zero(j, subset) * shares[j]
        assert base_mul(secret) == key
    two = [1, 2]
    secret = Scalar.zero()
    for j in two:
        secret = secret + lagrange_at_zero(j, two) * shares[j]
    assert base_mul(secret) != key  # k-1 shares do not give the key


def _tampered(transcript: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(transcript)


def test_tampered_commitment_caught(ceremony: tuple[dict[str, Any], dict[int, Scalar]]) -> None:
    t = _tampered(ceremony[0])
    c = Point.from_hex(t["guardians"][1]["commitments"][2])
    t["guardians"][1]["commitments"][2] = (c + G).hex()
    assert check_transcript(t) == "guardian 2: proof 2 fails"


def test_rogue_constant_term_caught(ceremony: tuple[dict[str, Any], dict[int, Scalar]]) -> None:
    """A guardian who picks C_0 = X - (others' C_0) to control the key cannot prove knowledge."""
    t = _tampered(ceremony[0])
    target = base_mul(Scalar.random())
    others = Point.identity()
    for r in t["guardians"][:-1]:
        others = others + Point.from_hex(r["commitments"][0])
    t["guardians"][-1]["commitments"][0] = (target - others).hex()
    t["joint_key"] = target.hex()
    assert check_transcript(t) == "guardian 5: proof 0 fails"


def test_bad_schnorr_proof_caught(ceremony: tuple[dict[str, Any], dict[int, Scalar]]) -> None:
    t = _tampered(ceremony[0])
    proof = SchnorrProof.from_json(t["guardians"][0]["proofs"][1])
    t["guardians"][0]["proofs"][1] = SchnorrProof(proof.c, proof.u + ONE).to_json()
    assert check_transcript(t) == "guardian 1: proof 1 fails"
    t = _tampered(ceremony[0])
    t["guardians"][0]["proofs"][1]["c"] = "zz"
    assert check_transcript(t) == "guardian 1: proof 1 is malformed"


def test_copied_record_caught(ceremony: tuple[dict[str, Any], dict[int, Scalar]]) -> None:
    """Guardian 2 republishing guardian 1's commitments and proofs: proofs bind the index."""
    t = _tampered(ceremony[0])
    t["guardians"][1] = {**copy.deepcopy(t["guardians"][0]), "guardian": 2}
    assert check_transcript(t) == "guardian 2: proof 0 fails"


def test_wrong_joint_key_caught(ceremony: tuple[dict[str, Any], dict[int, Scalar]]) -> None:
    t = _tampered(ceremony[0])
    t["joint_key"] = (Point.from_hex(t["joint_key"]) + G).hex()
    assert check_transcript(t) == "the joint key is not the sum of the constant-term commitments"
    t["joint_key"] = "00" * 32
    assert check_transcript(t) == "the joint key is not a valid point (or is the identity)"


def test_wrong_public_share_caught(ceremony: tuple[dict[str, Any], dict[int, Scalar]]) -> None:
    t = _tampered(ceremony[0])
    t["public_shares"]["4"] = (Point.from_hex(t["public_shares"]["4"]) + G).hex()
    assert check_transcript(t) == "the public share of guardian 4 does not match the commitments"
    t = _tampered(ceremony[0])
    t["public_shares"]["2"], t["public_shares"]["3"] = (
        t["public_shares"]["3"],
        t["public_shares"]["2"],
    )
    assert check_transcript(t) == "the public share of guardian 2 does not match the commitments"
    t = _tampered(ceremony[0])
    del t["public_shares"]["5"]
    assert check_transcript(t) == "public shares are not exactly those of guardians 1..5"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda t: t.pop("k"), "missing field 'k'"),
        (lambda t: t.update(extra=1), "unexpected fields"),
        (lambda t: t.update(n=6), "expected 6 guardian records"),
        (lambda t: t.update(k=0), "n and k are not integers with 1 <= k <= n <= 1000"),
        (lambda t: t.update(k=True), "n and k are not integers with 1 <= k <= n <= 1000"),
        (lambda t: t.update(election_id=""), "the election id is not a non-empty string"),
        (lambda t: t.update(election_id="other"), "guardian 1: proof 0 fails"),
        (lambda t: t.update(k=2), "guardian 1: expected 2 commitments"),
        (lambda t: t["guardians"].reverse(), "guardian records are not numbered 1..5 in order"),
        (
            lambda t: t["guardians"][2].update(guardian=7),
            "guardian records are not numbered 1..5 in order",
        ),
        (lambda t: t["guardians"][0]["commitments"].pop(), "guardian 1: expected 3 commitments"),
        (lambda t: t["guardians"][0]["proofs"].pop(), "guardian 1: expected 3 proofs"),
        (
            lambda t: t["guardians"][0]["commitments"].__setitem__(0, "00" * 32),
            "guardian 1: commitment 0 is not a valid point (or is the identity)",
        ),
        (
            lambda t: t["guardians"][0].update(extra=1),
            "a guardian record has exactly the fields guardian, commitments, proofs",
        ),
        (lambda t: t.update(guardians={}), "expected 5 guardian records"),
        (
            lambda t: t.update(public_shares=[]),
            "public shares are not exactly those of guardians 1..5",
        ),
    ],
)
def test_malformed_transcripts(
    ceremony: tuple[dict[str, Any], dict[int, Scalar]], mutate: Any, reason: str
) -> None:
    t = _tampered(ceremony[0])
    mutate(t)
    assert check_transcript(t) == reason


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (None, "the transcript is not an object"),
        ([], "the transcript is not an object"),
        ("t", "the transcript is not an object"),
        (5, "the transcript is not an object"),
        ({"n": float("nan")}, "missing field 'election_id'"),
    ],
)
def test_check_transcript_never_raises(bad: object, reason: str) -> None:
    assert check_transcript(bad) == reason


def test_public_record_checks() -> None:
    ctx = ceremony_context("e", 3, 2)
    g = GuardianSecret.generate(2, 2)
    record = g.public_record(ctx)
    assert check_public_record(record, 2, ctx) is None
    assert check_public_record(record, 3, ctx) == "guardian 2: expected 3 commitments"
    assert (
        check_public_record(record, 2, ceremony_context("e", 3, 3)) == "guardian 2: proof 0 fails"
    )
    assert (
        check_public_record(record, 2, ceremony_context("f", 3, 2)) == "guardian 2: proof 0 fails"
    )
    assert check_public_record({**record, "guardian": 3}, 2, ctx) == "guardian 3: proof 0 fails"
    assert check_public_record({**record, "guardian": "2"}, 2, ctx) is not None
    assert check_public_record({**record, "guardian": 0}, 2, ctx) is not None
    assert check_public_record(None, 2, ctx) == "a guardian record is not an object"
    assert record_commitments(record) == g.commitments()


def test_ceremony_context_binds_its_parameters() -> None:
    assert len({ceremony_context("e", 3, 2), ceremony_context("f", 3, 2),
                ceremony_context("e", 4, 2), ceremony_context("e", 3, 3)}) == 4  # fmt: skip
    with pytest.raises(ValueError):
        ceremony_context("e", 2, 3)
    with pytest.raises(ValueError):
        ceremony_context("", 2, 1)


# --- shares and complaints ------------------------------------------------------------------------


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=1, max_value=5), st.integers(min_value=1, max_value=50))
def test_shares_match_commitments(k: int, recipient: int) -> None:
    g = GuardianSecret.generate(1, k)
    commitments = g.commitments()
    share = g.share_for(recipient)
    assert verify_share(share, recipient, commitments)
    assert not verify_share(share + ONE, recipient, commitments)
    if k > 1:  # a constant polynomial (k = 1) gives every guardian the same share
        assert not verify_share(share, recipient + 1, commitments)


def test_bad_share_triggers_a_complaint() -> None:
    ctx = ceremony_context("e", 3, 2)
    dealer = GuardianSecret.generate(1, 2)
    record = dealer.public_record(ctx)
    good = dealer.share_for(3)
    check_received_share(good, 1, 3, record)  # no complaint
    bad = good + ONE
    with pytest.raises(ShareComplaint) as info:
        check_received_share(bad, 1, 3, record)
    assert info.value.dealer == 1 and info.value.recipient == 3
    assert "guardian 1" in str(info.value) and "guardian 3" in str(info.value)
    assert bad.hex() not in str(info.value) and bad.hex() not in repr(info.value)
    # a share meant for another guardian also fails
    with pytest.raises(ShareComplaint):
        check_received_share(dealer.share_for(2), 1, 3, record)
    # resolution: the dealer reveals the share it claims it sent
    assert resolve_complaint(record, 3, good) is True  # complaint unfounded
    assert resolve_complaint(record, 3, bad) is False  # dealer disqualified
    assert resolve_complaint({"commitments": ["zz"]}, 3, good) is False
    with pytest.raises(ValueError):
        check_received_share(good, 2, 3, record)  # not the dealer's record


def test_combine_received_shares() -> None:
    dealers = [GuardianSecret.generate(i, 2) for i in (1, 2, 3)]
    records = [d.public_record(b"ctx") for d in dealers]
    s2 = combine_received_shares([d.share_for(2) for d in dealers])
    assert base_mul(s2) == public_share(2, records)
    with pytest.raises(ValueError):
        combine_received_shares([])


# --- secrets never show ---------------------------------------------------------------------------


def test_guardian_secret_repr_hides_coefficients() -> None:
    g = GuardianSecret.generate(3, 3)
    secret_hex = g.export_secret().hex()
    for text in (repr(g), str(g), repr([g]), f"{g}"):
        assert "<hidden>" in text
        for i in range(0, len(secret_hex), 64):
            assert secret_hex[i : i + 64] not in text
    assert secret_hex[:64] not in json.dumps(g.public_record(b"ctx"))
    share = g.share_for(1)
    assert share.hex() not in repr(share)
    with pytest.raises(TypeError):
        pickle.dumps(g)


def test_guardian_secret_export_import() -> None:
    g = GuardianSecret.generate(2, 3)
    back = GuardianSecret.import_secret(2, g.export_secret())
    assert back.commitments() == g.commitments()
    assert back.share_for(4) == g.share_for(4)


def test_guardian_secret_refuses_bad_parameters() -> None:
    with pytest.raises(ValueError):
        GuardianSecret.generate(0, 2)
    with pytest.raises(ValueError):
        GuardianSecret.generate(1, 0)
    with pytest.raises(ValueError):
        GuardianSecret.generate(1, 2).share_for(0)  # P(0) is the secret itself
    with pytest.raises(ValueError):
        GuardianSecret(1, [Scalar.zero()])
    with pytest.raises(ValueError):
        run_ceremony("e", 2, 3)
