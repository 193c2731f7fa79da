"""Secrets at rest and in transit for guardians: a passphrase KDF, an AEAD, X25519 share boxes.

- **At rest** (a guardian's directory): a 32-byte key derived from the guardian's passphrase with
  scrypt (RFC 7914; N = 2^15, r = 8, p = 1, a fresh 16-byte salt per directory), then
  ChaCha20-Poly1305 (RFC 8439) with a fresh random 12-byte nonce per file and the file's purpose
  as associated data, so one sealed file cannot be passed off as another.
- **In transit** (a key-ceremony share from dealer i to recipient j): an ephemeral X25519 key
  pair per share (RFC 7748), HKDF-SHA256 (RFC 5869) over the shared secret and both public keys,
  then ChaCha20-Poly1305 whose associated data binds the election, the guardian list, the
  attempt, the dealer and the recipient (see ``crypto.ceremony.share_aad``). Only the holder of
  the recipient's X25519 key opens it; the dealer's identity signature on the whole message says
  who sent it.

Every primitive comes from ``cryptography``; nothing here does field arithmetic.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import x25519
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

__all__ = [
    "SCRYPT_N",
    "SealingError",
    "box_seal",
    "box_unseal",
    "derive_key",
    "open_sealed",
    "seal",
    "x25519_generate",
    "x25519_public",
]

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
NONCE_BYTES = 12
HKDF_INFO = b"kz-tally/v1/ceremony-share-box"


class SealingError(ValueError):
    """A sealed value does not open: wrong key or passphrase, or the bytes were changed."""


def derive_key(passphrase: bytes, salt: bytes, n: int = SCRYPT_N) -> bytes:
    """The 32-byte key a passphrase gives with this salt (scrypt, r = 8, p = 1)."""
    if not passphrase:
        raise SealingError("the passphrase is empty")
    if len(salt) < 16:
        raise SealingError("the salt has fewer than 16 bytes")
    return Scrypt(salt=salt, length=32, n=n, r=SCRYPT_R, p=SCRYPT_P).derive(passphrase)


def seal(key: bytes, plaintext: bytes, purpose: bytes) -> bytes:
    """nonce || ChaCha20-Poly1305(key, nonce, plaintext, aad=purpose)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + ChaCha20Poly1305(key).encrypt(nonce, plaintext, purpose)


def open_sealed(key: bytes, sealed: bytes, purpose: bytes) -> bytes:
    """The inverse of ``seal``; SealingError if the key, the purpose or the bytes are wrong."""
    if len(sealed) < NONCE_BYTES + 16:
        raise SealingError("the sealed value is too short")
    try:
        return ChaCha20Poly1305(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], purpose)
    except InvalidTag as exc:
        raise SealingError("the sealed value does not open (wrong passphrase or changed)") from exc


def x25519_generate() -> bytes:
    """A fresh X25519 private key (32 raw bytes): SECRET."""
    return x25519.X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def x25519_public(private: bytes) -> bytes:
    """The public key (32 raw bytes) of an X25519 private key."""
    return (
        x25519.X25519PrivateKey.from_private_bytes(private)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def _box_key(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=ephemeral + recipient, info=HKDF_INFO
    ).derive(shared)


def box_seal(recipient_public: bytes, plaintext: bytes, aad: bytes) -> tuple[bytes, bytes]:
    """(ephemeral public key, ciphertext) of ``plaintext`` for the holder of the X25519 key."""
    try:
        recipient = x25519.X25519PublicKey.from_public_bytes(recipient_public)
    except ValueError as exc:
        raise SealingError("the recipient's share key is not an X25519 key") from exc
    ephemeral = x25519.X25519PrivateKey.generate()
    ephemeral_public = ephemeral.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    shared = ephemeral.exchange(recipient)
    key = _box_key(shared, ephemeral_public, recipient_public)
    # the key is used once (fresh ephemeral pair), so a fixed nonce is safe
    return ephemeral_public, ChaCha20Poly1305(key).encrypt(bytes(NONCE_BYTES), plaintext, aad)


def box_unseal(
    recipient_private: bytes, ephemeral_public: bytes, ciphertext: bytes, aad: bytes
) -> bytes:
    """The inverse of ``box_seal``; SealingError if anything does not match."""
    try:
        private = x25519.X25519PrivateKey.from_private_bytes(recipient_private)
        shared = private.exchange(x25519.X25519PublicKey.from_public_bytes(ephemeral_public))
        key = _box_key(shared, ephemeral_public, x25519_public(recipient_private))
        return ChaCha20Poly1305(key).decrypt(bytes(NONCE_BYTES), ciphertext, aad)
    except (ValueError, InvalidTag) as exc:
        raise SealingError("the share does not open with this guardian's share key") from exc
