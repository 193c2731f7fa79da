"""Ed25519 keys and context-bound signatures.

The RFC 8032 section 7.1 TEST 1 vector checks that our plain signatures are standard Ed25519.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.canonical import EncodingError
from crypto.signing import Context, SigningKey, VerifyKey

RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
RFC8032_SIG = (
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
    "d25bf5f0595bbe24655141438e7a100b"
)


def test_rfc8032_test_1() -> None:
    key = SigningKey.from_seed(RFC8032_SECRET)
    assert key.public.hex() == RFC8032_PUBLIC
    assert key.sign_raw(b"").hex() == RFC8032_SIG
    assert key.public.verify_raw(b"", bytes.fromhex(RFC8032_SIG))


def test_signature_does_not_cross_contexts() -> None:
    key = SigningKey.generate()
    sig = key.sign(Context.BALLOT, b"message")
    assert key.public.verify(Context.BALLOT, b"message", sig)
    for other in Context:
        if other is not Context.BALLOT:
            assert not key.public.verify(other, b"message", sig)
    assert not key.public.verify_raw(b"message", sig)
    assert not SigningKey.generate().public.verify(Context.BALLOT, b"message", sig)


@settings(max_examples=25)
@given(st.binary(max_size=64), st.integers(0, 63), st.integers(0, 7))
def test_any_flipped_bit_fails(message: bytes, byte: int, bit: int) -> None:
    key = SigningKey.generate()
    sig = bytearray(key.sign(Context.TALLY, message))
    sig[byte] ^= 1 << bit
    assert not key.public.verify(Context.TALLY, message, bytes(sig))


def test_pem_round_trip_and_repr_hides_secret() -> None:
    key = SigningKey.generate()
    again = SigningKey.from_pem(key.to_pem())
    assert again.public == key.public
    assert key.seed().hex() not in repr(key)
    assert len(key.public.key_id) == 16


@pytest.mark.parametrize(
    "raw",
    [
        "00" * 32,  # not a point of the prime-order subgroup (y = 0)
        "01" + "00" * 31,  # the identity: small order
        "ec" + "ff" * 30 + "7f",  # y = p - 1: small order
        "ed" + "ff" * 30 + "7f",  # y = p: non-canonical
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    ],
)
def test_invalid_public_keys_are_refused(raw: str) -> None:
    with pytest.raises(EncodingError):
        VerifyKey.from_hex(raw)


def test_bad_keys_are_refused() -> None:
    with pytest.raises(EncodingError):
        VerifyKey(b"\x00" * 31)
    with pytest.raises(EncodingError):
        SigningKey.from_pem(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    assert not SigningKey.generate().public.verify(Context.BALLOT, b"m", b"short")
