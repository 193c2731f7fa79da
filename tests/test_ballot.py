"""crypto.ballot: encrypted ballots, their validity checks and the elector's signature."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.ballot import (
    ballot_ciphertexts,
    ballot_content,
    ballot_context,
    ballot_signing_bytes,
    check_ballot,
    encrypt_ballot,
    make_signed_ballot,
    selection_context,
    sign_ballot,
    sum_context,
    verify_ballot_signature,
)
from crypto.canonical import canonical_json, tagged_hash
from crypto.elgamal import Ciphertext, add_all, decrypt_to_point, encrypt
from crypto.group import Point, Scalar, base_mul
from crypto.proofs import ZeroOrOneProof, prove_zero_or_one
from crypto.signing import Context, SigningKey

SECRET = Scalar.random()
KEY = base_mul(SECRET)
G = Point.generator()
MH = tagged_hash("test/manifest", b"manifest")
UNIT = "ALM"
ROUND = 1
ELECTOR = "ALM-0001"
IDS = ["cand-a", "cand-b", "cand-c", "cand-d"]
ARGS = (MH, UNIT, ROUND, ELECTOR, IDS)
INVALID_POINT = "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"


def check(content: object, *, args: tuple[Any, ...] = ARGS, key: Point = KEY) -> str | None:
    manifest_hash, unit, round_no, elector, ids = args
    return check_ballot(manifest_hash, unit, round_no, elector, ids, content, key)


def decrypted_values(content: dict[str, Any]) -> list[int]:
    out = []
    for ct in ballot_ciphertexts(content):
        p = decrypt_to_point(ct, SECRET)
        out.append(next(v for v in range(-3, 4) if base_mul(Scalar.from_int(v)) == p))
    return out


@pytest.fixture(scope="module")
def ballot() -> dict[str, Any]:
    return encrypt_ballot(*ARGS, "cand-b", KEY)


# --- honest ballots -------------------------------------------------------------------------------


@pytest.mark.parametrize("choice", [*IDS, None])
def test_honest_ballots_are_valid(choice: str | None) -> None:
    content = encrypt_ballot(*ARGS, choice, KEY)
    assert check(content) is None
    assert [s["candidate"] for s in content["selections"]] == IDS
    expected = [1 if c == choice else 0 for c in IDS]
    assert decrypted_values(content) == expected


@pytest.mark.parametrize("n", [1, 2, 10])
def test_other_sizes(n: int) -> None:
    ids = [f"c{i}" for i in range(n)]
    for choice in (ids[-1], None):
        content = encrypt_ballot(MH, UNIT, 2, ELECTOR, ids, choice, KEY)
        assert check_ballot(MH, UNIT, 2, ELECTOR, ids, content, KEY) is None


def test_json_round_trip(ballot: dict[str, Any]) -> None:
    text = json.dumps(ballot)
    back = json.loads(text)
    assert back == ballot and check(back) is None
    assert canonical_json(back) == canonical_json(ballot)
    assert set(ballot) == {"selections", "sum_proof"}
    for sel in ballot["selections"]:
        assert set(sel) == {"candidate", "ciphertext", "proof"}
        assert set(sel["proof"]) == {"c0", "c1", "u0", "u1"}
    assert set(ballot["sum_proof"]) == {"c0", "c1", "u0", "u1"}


def test_encrypt_ballot_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError):
        encrypt_ballot(*ARGS, "nobody", KEY)
    with pytest.raises(ValueError):
        encrypt_ballot(MH, UNIT, ROUND, ELECTOR, ["a", "a"], "a", KEY)
    with pytest.raises(ValueError):
        encrypt_ballot(MH, UNIT, ROUND, ELECTOR, [], None, KEY)
    with pytest.raises(ValueError):
        encrypt_ballot(MH, UNIT, ROUND, ELECTOR, "abc", "a", KEY)
    with pytest.raises(ValueError):
        encrypt_ballot(*ARGS, None, Point.identity())
    with pytest.raises(ValueError):
        encrypt_ballot(b"short", UNIT, ROUND, ELECTOR, IDS, None, KEY)
    with pytest.raises(ValueError):
        encrypt_ballot(MH, UNIT, 0, ELECTOR, IDS, None, KEY)


def test_ballot_context_binds_every_field() -> None:
    base = ballot_context(MH, UNIT, ROUND, ELECTOR)
    others = [
        ballot_context(tagged_hash("x", b""), UNIT, ROUND, ELECTOR),
        ballot_context(MH, "AST", ROUND, ELECTOR),
        ballot_context(MH, UNIT, 2, ELECTOR),
        ballot_context(MH, UNIT, ROUND, "ALM-0002"),
    ]
    assert len({base, *others}) == 5 and len(base) == 32


# --- soundness spot checks ------------------------------------------------------------------------


def _forged(values: list[int], sum_value: int | None = None) -> dict[str, Any]:
    """A ballot whose selections encrypt ``values``, with the honest prover run on each (the
    value clamped to 0 or 1) and on the sum (clamped likewise, or forced to ``sum_value``)."""
    ctx = ballot_context(MH, UNIT, ROUND, ELECTOR)
    selections = []
    nonces = []
    cts = []
    for position, (cand, v) in enumerate(zip(IDS, values, strict=True)):
        r = Scalar.random()
        ct = encrypt(v, KEY, r)
        proof = prove_zero_or_one(
            ct, min(max(v, 0), 1), r, KEY, selection_context(ctx, position, cand)
        )
        selections.append({"candidate": cand, "ciphertext": ct.to_json(), "proof": proof.to_json()})
        nonces.append(r)
        cts.append(ct)
    nonce_sum = Scalar.zero()
    for r in nonces:
        nonce_sum = nonce_sum + r
    s = sum(values) if sum_value is None else sum_value
    sum_proof = prove_zero_or_one(
        add_all(cts), min(max(s, 0), 1), nonce_sum, KEY, sum_context(ctx, IDS)
    )
    return {"selections": selections, "sum_proof": sum_proof.to_json()}


def test_forgery_helper_is_honest_for_honest_values() -> None:
    assert check(_forged([0, 1, 0, 0])) is None
    assert check(_forged([0, 0, 0, 0])) is None


def test_ciphertext_of_two_rejected() -> None:
    assert check(_forged([0, 2, 0, 0])) == "selection 2: proof of 0-or-1 fails"


def test_ciphertext_of_minus_one_rejected() -> None:
    assert check(_forged([0, 0, -1, 0])) == "selection 3: proof of 0-or-1 fails"


def test_two_and_minus_one_with_valid_sum_rejected() -> None:
    """2 + (-1) = 1: the sum proof is honest; only the per-selection proofs catch it."""
    assert check(_forged([2, -1, 0, 0])) == "selection 1: proof of 0-or-1 fails"


def test_two_marks_rejected() -> None:
    assert check(_forged([1, 0, 1, 0])) == "sum proof fails"
    assert check(_forged([1, 1, 1, 1])) == "sum proof fails"


@pytest.mark.parametrize(
    "args",
    [
        (tagged_hash("other", b"manifest"), UNIT, ROUND, ELECTOR, IDS),
        (MH, "AST", ROUND, ELECTOR, IDS),
        (MH, UNIT, 2, ELECTOR, IDS),
        (MH, UNIT, ROUND, "ALM-0002", IDS),
    ],
    ids=["manifest", "unit", "round", "elector"],
)
def test_proofs_do_not_move(ballot: dict[str, Any], args: tuple[Any, ...]) -> None:
    assert check(ballot, args=args) == "selection 1: proof of 0-or-1 fails"


def test_other_election_key(ballot: dict[str, Any]) -> None:
    assert check(ballot, key=base_mul(Scalar.random())) == "selection 1: proof of 0-or-1 fails"
    assert check(ballot, key=Point.identity()) == "the election key is the identity"


def test_swapped_challenge(ballot: dict[str, Any]) -> None:
    b = copy.deepcopy(ballot)
    p = b["selections"][0]["proof"]
    p["c0"], p["c1"] = p["c1"], p["c0"]
    assert check(b) == "selection 1: proof of 0-or-1 fails"
    b = copy.deepcopy(ballot)
    s = b["sum_proof"]
    s["c0"], s["c1"] = s["c1"], s["c0"]
    assert check(b) == "sum proof fails"


def test_swapped_selections_rejected(ballot: dict[str, Any]) -> None:
    """Moving ciphertexts and proofs between candidates (labels kept) breaks the proofs."""
    b = copy.deepcopy(ballot)
    s0, s1 = b["selections"][0], b["selections"][1]
    s0["ciphertext"], s1["ciphertext"] = s1["ciphertext"], s0["ciphertext"]
    s0["proof"], s1["proof"] = s1["proof"], s0["proof"]
    assert check(b) == "selection 1: proof of 0-or-1 fails"


def test_copied_selection_rejected(ballot: dict[str, Any]) -> None:
    b = copy.deepcopy(ballot)
    b["selections"][0]["ciphertext"] = b["selections"][1]["ciphertext"]
    assert check(b) == "selection 1: proof of 0-or-1 fails"


def test_replayed_sum_proof_rejected(ballot: dict[str, Any]) -> None:
    other = encrypt_ballot(*ARGS, "cand-b", KEY)
    b = copy.deepcopy(ballot)
    b["sum_proof"] = other["sum_proof"]
    assert check(b) == "sum proof fails"


def test_rerandomised_ciphertext_rejected(ballot: dict[str, Any]) -> None:
    b = copy.deepcopy(ballot)
    ct = Ciphertext.from_json(b["selections"][2]["ciphertext"])
    b["selections"][2]["ciphertext"] = (ct + encrypt(0, KEY, Scalar.random())).to_json()
    assert check(b) == "selection 3: proof of 0-or-1 fails"


def test_invalid_point_encoding(ballot: dict[str, Any]) -> None:
    for field in ("a", "b"):
        b = copy.deepcopy(ballot)
        b["selections"][1]["ciphertext"][field] = INVALID_POINT
        assert check(b) == "selection 2: invalid point encoding"
    for field in ("a", "b"):
        # the same element under its non-canonical top-bit alias (accepted by libsodium 1.0.18)
        b = copy.deepcopy(ballot)
        raw = bytearray.fromhex(b["selections"][1]["ciphertext"][field])
        raw[31] |= 0x80
        b["selections"][1]["ciphertext"][field] = raw.hex()
        assert check(b) == "selection 2: invalid point encoding"
    b = copy.deepcopy(ballot)
    b["selections"][0]["ciphertext"]["a"] = "00" * 31 + "80"
    assert check(b) == "selection 1: invalid point encoding"
    b = copy.deepcopy(ballot)
    b["selections"][0]["ciphertext"]["a"] = "00" * 32
    assert check(b) == "selection 1: degenerate ciphertext (a is the identity)"
    b = copy.deepcopy(ballot)
    b["selections"][0]["ciphertext"]["a"] = b["selections"][0]["ciphertext"]["a"].upper()
    assert check(b) == "selection 1: malformed ciphertext (points are 32-byte lowercase hex)"


def test_wrong_candidate_list_or_order(ballot: dict[str, Any]) -> None:
    reason = "candidates do not match the round's list"
    assert check(ballot, args=(MH, UNIT, ROUND, ELECTOR, list(reversed(IDS)))) == reason
    assert check(ballot, args=(MH, UNIT, ROUND, ELECTOR, IDS[:3])) == reason
    assert check(ballot, args=(MH, UNIT, ROUND, ELECTOR, [*IDS, "cand-e"])) == reason
    b = copy.deepcopy(ballot)
    b["selections"].pop()
    assert check(b) == reason
    b = copy.deepcopy(ballot)
    b["selections"][0]["candidate"], b["selections"][1]["candidate"] = (
        b["selections"][1]["candidate"],
        b["selections"][0]["candidate"],
    )
    assert check(b) == reason


def test_missing_and_extra_fields(ballot: dict[str, Any]) -> None:
    b = copy.deepcopy(ballot)
    del b["sum_proof"]
    assert check(b) == "missing field 'sum_proof'"
    b = copy.deepcopy(ballot)
    b["note"] = "hello"
    assert check(b) == "unexpected field 'note'"
    b = copy.deepcopy(ballot)
    b["selections"][0]["extra"] = 1
    assert check(b) == "selection 1: expected exactly the fields candidate, ciphertext, proof"
    b = copy.deepcopy(ballot)
    del b["selections"][3]["proof"]
    assert check(b) == "selection 4: expected exactly the fields candidate, ciphertext, proof"
    b = copy.deepcopy(ballot)
    b["selections"][0]["proof"]["c2"] = b["selections"][0]["proof"]["c0"]
    assert check(b) == "selection 1: malformed proof"
    b = copy.deepcopy(ballot)
    b["selections"][0]["ciphertext"]["c"] = G.hex()
    assert check(b) == "selection 1: malformed ciphertext"
    b = copy.deepcopy(ballot)
    del b["sum_proof"]["u1"]
    assert check(b) == "malformed sum proof"


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ((), [], "the ballot is not an object"),
        ((), "ballot", "the ballot is not an object"),
        (("selections",), {}, "selections is not a list"),
        (("selections", 0), "x", "selection 1: not an object"),
        (("selections", 0, "candidate"), 1, "candidates do not match the round's list"),
        (("selections", 0, "ciphertext"), [], "selection 1: malformed ciphertext"),
        (
            ("selections", 0, "ciphertext", "a"),
            7,
            "selection 1: malformed ciphertext (points are 32-byte lowercase hex)",
        ),
        (("selections", 0, "proof"), "p", "selection 1: malformed proof"),
        (("selections", 0, "proof", "c0"), None, "selection 1: malformed proof"),
        (("selections", 0, "proof", "u0"), "ff" * 32, "selection 1: malformed proof"),
        (("sum_proof",), [], "malformed sum proof"),
    ],
)
def test_wrong_types(
    ballot: dict[str, Any], path: tuple[Any, ...], value: object, reason: str
) -> None:
    if not path:
        assert check(value) == reason
        return
    b = copy.deepcopy(ballot)
    target: Any = b
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert check(b) == reason


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.floats(allow_nan=True),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_check_never_raises_on_arbitrary_json(value: object) -> None:
    reason = check(value)
    if not isinstance(value, dict):
        assert reason == "the ballot is not an object"
        return
    # keys of at most 6 characters never hold "selections": the first missing field is named
    envelope = {"election", "unit", "round", "elector", "signature"}
    expected = {"selections", "sum_proof"} | (envelope if envelope & set(value) else set())
    assert reason == f"missing field {sorted(expected - set(value))[0]!r}"


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_check_never_raises_on_mutated_ballots(data: st.DataObject) -> None:
    b: Any = copy.deepcopy(_FIXED_BALLOT)
    target = b
    while isinstance(target, dict | list) and target and data.draw(st.booleans()):
        keys = sorted(target) if isinstance(target, dict) else list(range(len(target)))
        key = data.draw(st.sampled_from(keys))
        nxt = target[key]
        if not isinstance(nxt, dict | list) or not nxt:
            target[key] = data.draw(json_values)
            break
        target = nxt
    else:
        if isinstance(target, dict):
            target[data.draw(st.text(max_size=5))] = data.draw(json_values)
        elif isinstance(target, list):
            target.append(data.draw(json_values))
    reason = check(b)
    assert reason is None or isinstance(reason, str)
    if b != _FIXED_BALLOT:
        assert reason is not None


_FIXED_BALLOT = encrypt_ballot(*ARGS, "cand-c", KEY)


# --- signed ballots -------------------------------------------------------------------------------


def _unsigned(content: dict[str, Any]) -> dict[str, Any]:
    return {"election": MH.hex(), "unit": UNIT, "round": ROUND, "elector": ELECTOR, **content}


def test_sign_and_verify(ballot: dict[str, Any]) -> None:
    key = SigningKey.generate()
    signed = sign_ballot(_unsigned(ballot), key)
    assert set(signed) == {
        "election",
        "unit",
        "round",
        "elector",
        "selections",
        "sum_proof",
        "signature",
    }
    assert verify_ballot_signature(signed, key.public)
    assert verify_ballot_signature(json.loads(json.dumps(signed)), key.public)
    assert ballot_signing_bytes(signed) == canonical_json(_unsigned(ballot))
    assert key.public.verify(
        Context.BALLOT, ballot_signing_bytes(signed), bytes.fromhex(signed["signature"])
    )
    assert check(signed) is None  # check_ballot also takes the whole signed ballot
    assert ballot_content(signed) == ballot
    assert ballot_ciphertexts(signed) == ballot_ciphertexts(ballot)
    with pytest.raises(ValueError):
        sign_ballot(signed, key)


def test_tampered_or_foreign_signatures_fail(ballot: dict[str, Any]) -> None:
    key = SigningKey.generate()
    signed = sign_ballot(_unsigned(ballot), key)
    assert not verify_ballot_signature(signed, SigningKey.generate().public)
    sig = bytearray(bytes.fromhex(signed["signature"]))
    sig[5] ^= 1
    assert not verify_ballot_signature({**signed, "signature": sig.hex()}, key.public)
    assert not verify_ballot_signature({**signed, "round": 2}, key.public)
    assert not verify_ballot_signature({**signed, "elector": "ALM-0002"}, key.public)
    tampered = copy.deepcopy(signed)
    tampered["selections"][0]["proof"]["u0"] = tampered["selections"][1]["proof"]["u0"]
    assert not verify_ballot_signature(tampered, key.public)
    # a signature made in another context does not verify as a ballot signature
    other_ctx = key.sign(Context.TALLY, ballot_signing_bytes(signed)).hex()
    assert not verify_ballot_signature({**signed, "signature": other_ctx}, key.public)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        {},
        {"signature": None},
        {"signature": "zz"},
        {"signature": "00" * 63},
        {"signature": ("00" * 64).upper()},
        {"signature": "00" * 64, "x": float("nan")},
    ],
)
def test_verify_signature_never_raises(bad: object) -> None:
    key = SigningKey.generate()
    assert verify_ballot_signature(bad, key.public) is False  # type: ignore[arg-type]
    assert verify_ballot_signature({"signature": "00" * 64}, "key") is False  # type: ignore[arg-type]


def test_envelope_must_match(ballot: dict[str, Any]) -> None:
    key = SigningKey.generate()
    signed = make_signed_ballot(*ARGS, "cand-a", KEY, key)
    assert check(signed) is None and verify_ballot_signature(signed, key.public)
    cases = {
        "election": (tagged_hash("x", b"").hex(), "the ballot is for another election"),
        "unit": ("AST", "the ballot is for another unit"),
        "round": (2, "the ballot is for another round"),
        "elector": ("ALM-0002", "the ballot names another elector"),
        "signature": (5, "the signature is not a string"),
    }
    for field, (value, reason) in cases.items():
        assert check({**signed, field: value}) == reason
    assert check({**signed, "round": True}) == "the ballot is for another round"
    partial_envelope = {k: v for k, v in signed.items() if k != "unit"}
    assert check(partial_envelope) == "missing field 'unit'"


def test_no_nonce_leaks_in_the_ballot(ballot: dict[str, Any]) -> None:
    """The only scalars in a ballot are proof challenges and responses; the selections'
    ciphertexts decrypt with the key only."""
    text = json.dumps(ballot)
    for ct in ballot_ciphertexts(ballot):
        assert ct.a.hex() in text
    assert decrypted_values(ballot) == [0, 1, 0, 0]
    assert ZeroOrOneProof.from_json(ballot["sum_proof"]) is not None
