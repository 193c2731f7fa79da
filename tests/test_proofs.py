"""crypto.proofs: disjunctive Chaum-Pedersen, Chaum-Pedersen and Schnorr, strong Fiat-Shamir."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.canonical import EncodingError
from crypto.elgamal import Ciphertext, encrypt
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


def test_weak_fiat_shamir_forgery_is_rejected() -> None:
    """Why the challenge hashes the statement (Bernhard, Pereira, Warinschi 2012).

    If the challenge hashed only the commitments, a prover who knows the key's secret (say a
    coalition of guardians) could fix the commitments first and choose the ciphertext after
    seeing the challenge, so that it encrypts a value that is neither 0 nor 1. The forgery below
    passes such a weak verifier, and fails ours.
    """
    x = SECRET
    alpha0, beta0, alpha1 = Scalar.random(), Scalar.random(), Scalar.random()
    commitments = (base_mul(alpha0), base_mul(beta0), base_mul(alpha1), alpha1 * KEY)
    c = hash_to_scalar("weak", *(p.to_bytes() for p in commitments))
    # Now choose the statement: v = (alpha0*x - beta0)/c, a random value, not 0 or 1.
    v = (alpha0 * x - beta0) * c.inverse()
    assert v != Scalar.zero() and v != ONE
    rho = Scalar.random()
    ct = Ciphertext(base_mul(rho), base_mul(v) + rho * KEY)
    forged = ZeroOrOneProof(c0=c, c1=Scalar.zero(), u0=alpha0 + c * rho, u1=alpha1)

    def weak_verify(ct: Ciphertext, proof: ZeroOrOneProof) -> bool:
        a0 = base_mul(proof.u0) - proof.c0 * ct.a
        b0 = proof.u0 * KEY - proof.c0 * ct.b
        a1 = base_mul(proof.u1) - proof.c1 * ct.a
        b1 = proof.u1 * KEY - proof.c1 * (ct.b - G)
        h = hash_to_scalar("weak", *(p.to_bytes() for p in (a0, b0, a1, b1)))
        return proof.c0 + proof.c1 == h

    assert weak_verify(ct, forged)
    assert not verify_zero_or_one(ct, KEY, forged, CTX)


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
    assert not verify_zero_or_one(ct, KEY, proof.to_json(), CTX)  # type: ignore[arg-type]
    assert not verify_zero_or_one(ct, KEY, proof, "ctx")  # type: ignore[arg-type]
    assert not verify_zero_or_one(ct.to_json(), KEY, proof, CTX)  # type: ignore[arg-type]
    assert not verify_equal_dlog(KEY, G, G, proof, CTX)  # type: ignore[arg-type]
    assert not verify_knowledge(KEY, proof, CTX)  # type: ignore[arg-type]


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
