"""Exponential ElGamal over ristretto255.

A value v is encrypted to the public key K with nonce r as

    a = r*G,    b = v*G + r*K

so ciphertexts add component-wise to an encryption of the sum of the values (with the sum of
the nonces). Decryption yields v*G; the small v is then found by table look-up
(``crypto.decryption.DiscreteLog``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from crypto.canonical import EncodingError
from crypto.group import Point, Scalar, base_mul

__all__ = ["Ciphertext", "add_all", "decrypt_to_point", "encrypt"]

_KEYS = frozenset({"a", "b"})


@dataclass(frozen=True, slots=True)
class Ciphertext:
    """An exponential ElGamal ciphertext (a, b) = (r*G, v*G + r*K)."""

    a: Point
    b: Point

    def __post_init__(self) -> None:
        if not isinstance(self.a, Point) or not isinstance(self.b, Point):
            raise TypeError("a ciphertext holds two Points")

    def __add__(self, other: Ciphertext) -> Ciphertext:
        if not isinstance(other, Ciphertext):
            return NotImplemented
        return Ciphertext(self.a + other.a, self.b + other.b)

    @classmethod
    def zero(cls) -> Ciphertext:
        """The encryption of 0 with nonce 0: the neutral element of ciphertext addition."""
        return cls(Point.identity(), Point.identity())

    def to_json(self) -> dict[str, str]:
        return {"a": self.a.hex(), "b": self.b.hex()}

    @classmethod
    def from_json(cls, d: object) -> Ciphertext:
        """From {"a": hex, "b": hex}; EncodingError on anything else (extra keys included)."""
        if not isinstance(d, dict):
            raise EncodingError("a ciphertext is an object")
        if set(d) != _KEYS:
            raise EncodingError('a ciphertext has exactly the fields "a" and "b"')
        return cls(Point.from_hex(d["a"]), Point.from_hex(d["b"]))


def encrypt(value: int, key: Point, nonce: Scalar) -> Ciphertext:
    """Encrypt the integer ``value`` to ``key`` with ``nonce`` (which must be secret and fresh)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("the value is an int")
    if not isinstance(key, Point) or key.is_identity():
        raise ValueError("the public key must be a point other than the identity")
    if not isinstance(nonce, Scalar) or nonce.is_zero():
        raise ValueError("the nonce must be a non-zero scalar")
    return Ciphertext(base_mul(nonce), base_mul(Scalar.from_int(value)) + nonce * key)


def add_all(cts: Iterable[Ciphertext]) -> Ciphertext:
    """The component-wise sum of ciphertexts (``Ciphertext.zero()`` for none)."""
    it = iter(cts)
    total = next(it, None)
    if total is None:
        return Ciphertext.zero()
    for ct in it:
        total = total + ct
    return total


def decrypt_to_point(ct: Ciphertext, secret_key: Scalar) -> Point:
    """v*G for a ciphertext under the key secret_key*G (single-key decryption, for tests)."""
    return ct.b - secret_key * ct.a
