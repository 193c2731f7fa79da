"""Ed25519 keys and signatures bound to a named context.

A signature made in one context (say, a ballot) never verifies in another (say, a result): the
context string is part of the signed bytes. The signed message is

    b"kz-tally/v1/" + context + b"\\x00" + message

The NUL byte cannot occur in a C2SP note, so these signatures can never be confused with the
plain Ed25519 signatures over note text that log and commission keys make for checkpoints
(see ``crypto.note``).
"""

from __future__ import annotations

import ctypes
import enum
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from crypto.canonical import EncodingError, hex_decode, tagged_hash

PREFIX = b"kz-tally/v1/"


class Context(enum.Enum):
    """What a signature is for."""

    BALLOT = "ballot"
    MANIFEST = "manifest"
    TALLY = "tally"  # the commission's preliminary and final results
    REQUEST = "request"
    CEREMONY = "ceremony"  # a guardian's key-ceremony messages (crypto/ceremony.py)
    GUARDIAN = "guardian"  # a guardian's partial decryption, posted from its own machine


def signed_bytes(context: Context, message: bytes) -> bytes:
    return PREFIX + context.value.encode("ascii") + b"\x00" + message


@cache
def _ed25519_point_check() -> Callable[[bytes], int]:
    import pysodium  # binds the system libsodium (see crypto.group for the install hint)

    fn = pysodium.sodium.crypto_core_ed25519_is_valid_point
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_char_p]
    check: Callable[[bytes], int] = fn
    return check


def is_valid_public_key(raw: bytes) -> bool:
    """libsodium's check: a canonical encoding of a point in the prime-order subgroup, not of
    small order. (``cryptography`` only checks the length.)"""
    return len(raw) == 32 and _ed25519_point_check()(raw) == 1


@dataclass(frozen=True)
class VerifyKey:
    """An Ed25519 public key."""

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != 32:
            raise EncodingError("an Ed25519 public key has 32 bytes")
        if not is_valid_public_key(self.raw):
            raise EncodingError("not a valid Ed25519 public key (off the curve or small order)")

    @classmethod
    def from_hex(cls, text: str) -> VerifyKey:
        return cls(hex_decode(text, 32))

    def hex(self) -> str:
        return self.raw.hex()

    @property
    def key_id(self) -> str:
        """A short, stable name for the key: 16 hex digits of a tagged hash of it."""
        return tagged_hash("kz-tally/v1/key-id", self.raw)[:8].hex()

    def verify(self, context: Context, message: bytes, signature: bytes) -> bool:
        """True if ``signature`` is this key's signature of ``message`` in ``context``."""
        return self.verify_raw(signed_bytes(context, message), signature)

    def verify_raw(self, data: bytes, signature: bytes) -> bool:
        """Plain Ed25519 verification (for C2SP notes, which carry no context prefix)."""
        if len(signature) != 64:
            return False
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, data)
        except InvalidSignature:
            return False
        return True


class SigningKey:
    """An Ed25519 private key. Its repr never shows the secret."""

    __slots__ = ("_key",)

    def __init__(self, key: ed25519.Ed25519PrivateKey) -> None:
        self._key = key

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        if len(seed) != 32:
            raise EncodingError("an Ed25519 seed has 32 bytes")
        return cls(ed25519.Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise EncodingError("not an unencrypted PEM private key") from exc
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise EncodingError("the PEM key is not an Ed25519 key")
        return cls(key)

    def to_pem(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def seed(self) -> bytes:
        return self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    @property
    def public(self) -> VerifyKey:
        return VerifyKey(
            self._key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        )

    def sign(self, context: Context, message: bytes) -> bytes:
        return self._key.sign(signed_bytes(context, message))

    def sign_raw(self, data: bytes) -> bytes:
        """Plain Ed25519 signature (for C2SP notes only)."""
        return self._key.sign(data)

    def __repr__(self) -> str:
        return f"SigningKey(public={self.public.hex()})"
