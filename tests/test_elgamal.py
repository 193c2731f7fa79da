"""crypto.elgamal: exponential ElGamal over ristretto255."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.canonical import EncodingError
from crypto.elgamal import Ciphertext, add_all, decrypt_to_point, encrypt
from crypto.group import Point, Scalar, base_mul

FAST = settings(max_examples=25, deadline=None)

SECRET = Scalar.random()
KEY = base_mul(SECRET)
G = Point.generator()


@FAST
@given(st.integers(min_value=-1000, max_value=1000))
def test_encrypt_then_decrypt(value: int) -> None:
    nonce = Scalar.random()
    ct = encrypt(value, KEY, nonce)
    assert ct.a == base_mul(nonce)
    assert ct.b == base_mul(Scalar.from_int(value)) + nonce * KEY
    assert decrypt_to_point(ct, SECRET) == base_mul(Scalar.from_int(value))


@FAST
@given(st.lists(st.integers(min_value=0, max_value=1), min_size=0, max_size=12))
def test_ciphertexts_add_up(values: list[int]) -> None:
    nonces = [Scalar.random() for _ in values]
    cts = [encrypt(v, KEY, r) for v, r in zip(values, nonces, strict=True)]
    total = add_all(cts)
    assert decrypt_to_point(total, SECRET) == base_mul(Scalar.from_int(sum(values)))
    nonce_sum = Scalar.zero()
    for r in nonces:
        nonce_sum = nonce_sum + r
    if values:
        assert total == encrypt(sum(values), KEY, nonce_sum)


def test_zero_is_neutral() -> None:
    ct = encrypt(1, KEY, Scalar.random())
    assert ct + Ciphertext.zero() == ct
    assert add_all([]) == Ciphertext.zero()
    assert add_all([ct]) == ct
    assert Ciphertext.zero().a.is_identity() and Ciphertext.zero().b.is_identity()


def test_same_value_encrypts_differently() -> None:
    assert encrypt(1, KEY, Scalar.random()) != encrypt(1, KEY, Scalar.random())


def test_encrypt_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError):
        encrypt(1, Point.identity(), Scalar.random())
    with pytest.raises(ValueError):
        encrypt(1, KEY, Scalar.zero())
    with pytest.raises(TypeError):
        encrypt(True, KEY, Scalar.random())
    with pytest.raises(TypeError):
        Ciphertext(G, "x")  # type: ignore[arg-type]


def test_json_round_trip() -> None:
    ct = encrypt(1, KEY, Scalar.random())
    j = ct.to_json()
    assert set(j) == {"a", "b"}
    assert all(isinstance(v, str) and v == v.lower() and len(v) == 64 for v in j.values())
    assert Ciphertext.from_json(json.loads(json.dumps(j))) == ct
    assert Ciphertext.from_json(Ciphertext.zero().to_json()) == Ciphertext.zero()


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [],
        "ab",
        {"a": G.hex()},
        {"a": G.hex(), "b": G.hex(), "c": G.hex()},
        {"a": G.hex(), "b": G.hex().upper()},
        {"a": G.hex(), "b": G.hex()[:-2]},
        {"a": G.hex(), "b": 5},
        {"a": G.hex(), "b": "ff" * 32},  # not a valid encoding
        {"a": "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", "b": G.hex()},
    ],
)
def test_from_json_rejects_malformed(bad: object) -> None:
    with pytest.raises(EncodingError):
        Ciphertext.from_json(bad)
