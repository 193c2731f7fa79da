"""crypto.proofs: disjunctive Chaum-Pedersen, Chaum-Pedersen and Schnorr, strong Fiat-Shamir."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import proofs
from crypto.ballot import ballot_context, check_ballot, selection_context, sum_context
from crypto.canonical import EncodingError
from crypto.decryption import share_context
from crypto.elgamal import Ciphertext, add_all, encrypt
from crypto.group import ORDER, Point, Scalar, base_mul, hash_to_scalar
from crypto.proofs import (
    EqualDlogProof,
    SchnorrProof,
    ZeroOrOneProof,
    prove_equal_dlog,
    prove_knowledge,
    prove_zero_or_one,
    verify_equal_dlog,
    verify_knowledge,
    verify_zero_or_one,
)

FAST = settings(max_examples=10, deadline=None)

SECRET = Scalar.random()
KEY = base_mul(SECRET)
G = Point.generator()
CTX = b"test context"
ONE = Scalar.one()


def _proof_for(value: int) -> tuple[Ciphertext, Scalar, ZeroOrOneProof]:
    nonce = Scalar.random()
    ct = encrypt(value, KEY, nonce)
    return ct, nonce, prove_zero_or_one(ct, value, nonce, KEY, CTX)


# --- 0-or-1 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1])
def test_zero_or_one_proofs_verify(value: int) -> None:
    ct, _, proof = _proof_for(value)
    assert verify_zero_or_one(ct, KEY, proof, CTX)


@pytest.mark.parametrize("value", [0, 1])
def test_zero_or_one_proof_is_bound_to_context_key_and_ciphertext(value: int) -> None:
    ct, _, proof = _proof_for(value)
    other_ct, _, _ = _proof_for(value)
    assert not verify_zero_or_one(ct, KEY, proof, b"another context")
    assert not verify_zero_or_one(ct, base_mul(Scalar.random()), proof, CTX)
    assert not verify_zero_or_one(other_ct, KEY, proof, CTX)
    assert not verify_zero_or_one(Ciphertext(ct.a, ct.b + G), KEY, proof, CTX)
    assert not verify_zero_or_one(Ciphertext(ct.a + G, ct.b), KEY, proof, CTX)


@pytest.mark.parametrize("value", [2, -1, 3, 100])
@pytest.mark.parametrize("clamped", [0, 1])
def test_no_proof_for_values_other_than_zero_or_one(value: int, clamped: int) -> None:
    """The honest prover run on an encryption of another value (v clamped to 0 or 1) fails."""
    nonce = Scalar.random()
    ct = encrypt(value, KEY, nonce)
    proof = prove_zero_or_one(ct, clamped, nonce, KEY, CTX)
    assert not verify_zero_or_one(ct, KEY, proof, CTX)


def test_prover_refuses_other_values() -> None:
    nonce = Scalar.random()
    for v in (2, -1, True):
        with pytest.raises(ValueError):
            prove_zero_or_one(encrypt(1, KEY, nonce), v, nonce, KEY, CTX)


def test_both_branches_simulated_fails() -> None:
    """A prover without the nonce can simulate both branches, but the challenges don't add up."""
    ct = encrypt(1, KEY, Scalar.random())
    c0, c1, u0, u1 = (Scalar.random() for _ in range(4))
    assert not verify_zero_or_one(ct, KEY, ZeroOrOneProof(c0, c1, u0, u1), CTX)


def test_tampered_fields_fail() -> None:
    ct, _, p = _proof_for(1)
    variants = [
        ZeroOrOneProof(p.c1, p.c0, p.u0, p.u1),  # swapped challenges
        ZeroOrOneProof(p.c0, p.c1, p.u1, p.u0),  # swapped responses
        ZeroOrOneProof(p.c0 + ONE, p.c1, p.u0, p.u1),
        ZeroOrOneProof(p.c0 + ONE, p.c1 - ONE, p.u0, p.u1),  # same sum, other split
        ZeroOrOneProof(p.c0, p.c1, p.u0 + ONE, p.u1),
        ZeroOrOneProof(p.c0, p.c1, p.u0, p.u1 + ONE),
    ]
    for bad in variants:
        assert not verify_zero_or_one(ct, KEY, bad, CTX)


# --- forgeries that a weakened challenge would accept ---------------------------------------------
# Each forgery below is made against the real tag and a real context, with a challenge that
# leaves out one element; the test shows that such a weakened check (patched in) accepts it, and
# that ours refuses it. So a change to crypto/proofs.py that drops that element fails here
# (Bernhard, Pereira, Warinschi, "How not to prove yourself", 2012). Which elements every
# challenge hashes is pinned by tests/test_fiat_shamir_vectors.py.

ZERO_OR_ONE_PARTS = ("key", "a", "b", "A0", "B0", "A1", "B1")
EQUAL_DLOG_PARTS = ("public", "h", "m", "commit_g", "commit_h")


def _weak_zero_or_one(left_out: str) -> Callable[..., Scalar]:
    def challenge(
        context: bytes, key: Point, ct: Ciphertext, commitments: tuple[Point, ...]
    ) -> Scalar:
        values = dict(zip(ZERO_OR_ONE_PARTS, (key, ct.a, ct.b, *commitments), strict=True))
        kept = (values[n].to_bytes() for n in ZERO_OR_ONE_PARTS if n != left_out)
        return hash_to_scalar(proofs.TAG_ZERO_OR_ONE, context, *kept)

    return challenge


def _weak_equal_dlog(left_out: str) -> Callable[..., Scalar]:
    def challenge(context: bytes, *points: Point) -> Scalar:
        values = dict(zip(EQUAL_DLOG_PARTS, points, strict=True))
        kept = (values[n].to_bytes() for n in EQUAL_DLOG_PARTS if n != left_out)
        return hash_to_scalar(proofs.TAG_EQUAL_DLOG, context, *kept)

    return challenge


BALLOT_ARGS = (bytes(range(32)), "AKM", 1, "AKM-0007", ["ALPHA", "BETA"])
BALLOT_CTX = ballot_context(*BALLOT_ARGS[:4])
SELECTION_CTX = selection_context(BALLOT_CTX, 0, "ALPHA")


def _forge_after_challenge(left_out: str) -> tuple[Point, Ciphertext, ZeroOrOneProof, Scalar]:
    """A 0-or-1 proof for a ciphertext of a value v that is neither 0 nor 1, by a party who
    knows the election secret (a coalition of guardians) and fixes the commitments first, then
    the element the weak challenge leaves out. Returns (key, ciphertext, proof, secret)."""
    weak = _weak_zero_or_one(left_out)
    alpha0, beta0, alpha1 = Scalar.random(), Scalar.random(), Scalar.random()
    if left_out == "key":  # the key is chosen last; branch 1 is trivial (c1 = 0, identities)
        ident = Point.identity()
        rho, beta = Scalar.random(), Scalar.random()
        ct = Ciphertext(base_mul(rho), base_mul(beta))
        commitments = (base_mul(alpha0), base_mul(beta0), ident, ident)
        c = weak(SELECTION_CTX, G, ct, commitments)
        x = (beta0 + c * beta) * (c * rho + alpha0).inverse()
        return base_mul(x), ct, ZeroOrOneProof(c, Scalar.zero(), alpha0 + c * rho, Scalar.zero()), x
    x = SECRET
    commitments = (base_mul(alpha0), base_mul(beta0), base_mul(alpha1), alpha1 * KEY)
    if left_out == "b":  # a = rho*G first; b = v*G + rho*K after the challenge
        rho = Scalar.random()
        c = weak(SELECTION_CTX, KEY, Ciphertext(base_mul(rho), G), commitments)
        v = (alpha0 * x - beta0) * c.inverse()
        ct = Ciphertext(base_mul(rho), base_mul(v) + rho * KEY)
    else:  # left_out == "a": b = beta*G first; a = rho*G after the challenge
        beta = Scalar.random()
        c = weak(SELECTION_CTX, KEY, Ciphertext(G, base_mul(beta)), commitments)
        rho = ((beta0 + c * beta) * x.inverse() - alpha0) * c.inverse()
        ct = Ciphertext(base_mul(rho), base_mul(beta))
    return KEY, ct, ZeroOrOneProof(c, Scalar.zero(), alpha0 + c * rho, alpha1), x


@pytest.mark.parametrize("left_out", ["key", "a", "b"])
def test_statement_chosen_after_the_challenge_is_rejected(
    left_out: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, ct, forged, x = _forge_after_challenge(left_out)
    decrypted = ct.b - x * ct.a
    assert decrypted not in (Point.identity(), G)  # neither 0 nor 1
    with monkeypatch.context() as weakened:
        weakened.setattr(proofs, "_zero_or_one_challenge", _weak_zero_or_one(left_out))
        assert verify_zero_or_one(ct, key, forged, SELECTION_CTX) is True
    assert verify_zero_or_one(ct, key, forged, SELECTION_CTX) is False


def _forge_without_b1(ct: Ciphertext, nonce: Scalar, context: bytes) -> ZeroOrOneProof:
    """Branch 0 simulated, branch 1 honest in A1 only; B1 is whatever the verifier recomputes."""
    weak = _weak_zero_or_one("B1")
    c0, u0, w = Scalar.random(), Scalar.random(), Scalar.random()
    a0, b0 = base_mul(u0) - c0 * ct.a, u0 * KEY - c0 * ct.b
    c = weak(context, KEY, ct, (a0, b0, base_mul(w), G))
    c1 = c - c0
    return ZeroOrOneProof(c0, c1, u0, w + c1 * nonce)


def test_ballot_with_a_five_and_a_weak_challenge_is_rejected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Any elector, knowing no secret, could cast 5 votes if a commitment went unhashed."""
    r0, r1 = Scalar.random(), Scalar.random()
    five, zero = encrypt(5, KEY, r0), encrypt(0, KEY, r1)
    with monkeypatch.context() as weakened:  # the honest selection, as the weak code proves it
        weakened.setattr(proofs, "_zero_or_one_challenge", _weak_zero_or_one("B1"))
        honest = prove_zero_or_one(zero, 0, r1, KEY, selection_context(BALLOT_CTX, 1, "BETA"))
    content = {
        "selections": [
            {
                "candidate": "ALPHA",
                "ciphertext": five.to_json(),
                "proof": _forge_without_b1(five, r0, SELECTION_CTX).to_json(),
            },
            {"candidate": "BETA", "ciphertext": zero.to_json(), "proof": honest.to_json()},
        ],
        "sum_proof": _forge_without_b1(
            add_all([five, zero]), r0 + r1, sum_context(BALLOT_CTX, BALLOT_ARGS[4])
        ).to_json(),
    }
    with monkeypatch.context() as weakened:
        weakened.setattr(proofs, "_zero_or_one_challenge", _weak_zero_or_one("B1"))
        assert check_ballot(*BALLOT_ARGS, content, KEY) is None
    assert check_ballot(*BALLOT_ARGS, content, KEY) == "selection 1: proof of 0-or-1 fails"


SHARE_CTX = share_context(bytes(32), 2, 0, encrypt(3, KEY, Scalar.random()))


def _forge_share(left_out: str, s: Scalar, h: Point) -> tuple[Point, EqualDlogProof]:
    """A decryption share M != s*h with a proof for public = s*G, against a weak challenge.

    Without ``m``: the guardian (who knows s) fixes the commitments, then M. Without
    ``commit_g``: anyone, knowing no share at all, proves the share mu*h of their choice."""
    weak = _weak_equal_dlog(left_out)
    public = base_mul(s)
    if left_out == "m":
        w, t = Scalar.random(), Scalar.random()
        c = weak(SHARE_CTX, public, h, G, base_mul(w), t * h)
        u = w + c * s
        return ((u - t) * c.inverse()) * h, EqualDlogProof(c, u)
    mu, beta = Scalar.random(), Scalar.random()
    c = weak(SHARE_CTX, public, h, mu * h, G, beta * h)
    return mu * h, EqualDlogProof(c, beta + c * mu)


@pytest.mark.parametrize("left_out", ["m", "commit_g"])
def test_wrong_decryption_share_with_a_weak_challenge_is_rejected(
    left_out: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s, h = Scalar.random(), base_mul(Scalar.random())
    share, forged = _forge_share(left_out, s, h)
    assert share != s * h
    with monkeypatch.context() as weakened:
        weakened.setattr(proofs, "_equal_dlog_challenge", _weak_equal_dlog(left_out))
        assert verify_equal_dlog(base_mul(s), h, share, forged, SHARE_CTX) is True
    assert verify_equal_dlog(base_mul(s), h, share, forged, SHARE_CTX) is False


def test_zero_or_one_json_round_trip_and_strictness() -> None:
    ct, _, proof = _proof_for(0)
    j = proof.to_json()
    assert set(j) == {"c0", "c1", "u0", "u1"}
    back = ZeroOrOneProof.from_json(json.loads(json.dumps(j)))
    assert back == proof and verify_zero_or_one(ct, KEY, back, CTX)
    bad_values = [
        ORDER.to_bytes(32, "little").hex(),  # not canonical
        j["c0"].upper(),
        j["c0"][:-2],
        "",
        None,
        0,
    ]
    for value in bad_values:
        with pytest.raises(EncodingError):
            ZeroOrOneProof.from_json({**j, "c0": value})
    with pytest.raises(EncodingError):
        ZeroOrOneProof.from_json({k: v for k, v in j.items() if k != "u1"})
    with pytest.raises(EncodingError):
        ZeroOrOneProof.from_json({**j, "extra": j["c0"]})
    not_objects: list[object] = [None, [], "x", 3]
    for not_an_object in not_objects:
        with pytest.raises(EncodingError):
            ZeroOrOneProof.from_json(not_an_object)


def test_verify_never_raises_on_wrong_types() -> None:
    ct, _, proof = _proof_for(1)
    assert verify_zero_or_one(ct, KEY, proof.to_json(), CTX) is False  # type: ignore[arg-type]
    assert verify_zero_or_one(ct, KEY, proof, "ctx") is False  # type: ignore[arg-type]
    assert verify_zero_or_one(ct.to_json(), KEY, proof, CTX) is False  # type: ignore[arg-type]
    assert verify_equal_dlog(KEY, G, G, proof, CTX) is False  # type: ignore[arg-type]
    assert verify_knowledge(KEY, proof, CTX) is False  # type: ignore[arg-type]


def test_identity_elements_do_not_break_verification() -> None:
    ident = Point.identity()
    zero_ct = Ciphertext(ident, ident)
    proof = ZeroOrOneProof(Scalar.zero(), Scalar.zero(), Scalar.zero(), Scalar.zero())
    assert not verify_zero_or_one(zero_ct, KEY, proof, CTX)
    # an honest proof that the neutral ciphertext encrypts 0 (nonce 0) does verify
    assert verify_zero_or_one(
        zero_ct, KEY, prove_zero_or_one(zero_ct, 0, Scalar.zero(), KEY, CTX), CTX
    )


# --- Chaum-Pedersen -------------------------------------------------------------------------------


@FAST
@given(st.integers(min_value=1, max_value=ORDER - 1))
def test_equal_dlog(secret_int: int) -> None:
    s = Scalar.from_int(secret_int)
    public = base_mul(s)
    h = base_mul(Scalar.random())
    m = s * h
    proof = prove_equal_dlog(s, public, h, m, CTX)
    assert verify_equal_dlog(public, h, m, proof, CTX)
    assert not verify_equal_dlog(public, h, m + G, proof, CTX)  # wrong decryption share
    assert not verify_equal_dlog(public, h + G, m, proof, CTX)
    assert not verify_equal_dlog(public + G, h, m, proof, CTX)
    assert not verify_equal_dlog(public, h, m, proof, b"other")
    assert not verify_equal_dlog(public, h, m, EqualDlogProof(proof.c, proof.u + ONE), CTX)
    wrong = prove_equal_dlog(s, public, h, m + G, CTX)  # prover lying about m
    assert not verify_equal_dlog(public, h, m + G, wrong, CTX)
    back = EqualDlogProof.from_json(json.loads(json.dumps(proof.to_json())))
    assert back == proof


def test_equal_dlog_with_identity_base() -> None:
    s = Scalar.random()
    ident = Point.identity()
    proof = prove_equal_dlog(s, base_mul(s), ident, ident, CTX)
    assert verify_equal_dlog(base_mul(s), ident, ident, proof, CTX)
    assert not verify_equal_dlog(base_mul(s), ident, G, proof, CTX)


# --- Schnorr --------------------------------------------------------------------------------------


def test_schnorr() -> None:
    x = Scalar.random()
    c = base_mul(x)
    proof = prove_knowledge(x, CTX)
    assert verify_knowledge(c, proof, CTX)
    assert prove_knowledge(x, CTX, public=c) != proof  # fresh randomness each time
    assert not verify_knowledge(c, proof, b"other")
    assert not verify_knowledge(c + G, proof, CTX)
    assert not verify_knowledge(c, SchnorrProof(proof.c + ONE, proof.u), CTX)
    assert not verify_knowledge(c, SchnorrProof(proof.c, proof.u + ONE), CTX)
    unrelated = prove_knowledge(Scalar.random(), CTX)
    assert not verify_knowledge(base_mul(Scalar.random()), unrelated, CTX)
    back = SchnorrProof.from_json(json.loads(json.dumps(proof.to_json())))
    assert back == proof and verify_knowledge(c, back, CTX)
    with pytest.raises(EncodingError):
        SchnorrProof.from_json({"c": proof.c.hex()})


def test_proof_repr_shows_only_public_values() -> None:
    _, nonce, proof = _proof_for(1)
    assert nonce.hex() not in repr(proof)
    assert proof.c0.hex() in repr(proof)
