"""Canonical bytes: RFC 8785 (JCS) JSON, domain-separated SHA-256, strict hex and base64.

Everything that is hashed or signed is first turned into canonical bytes here, so that any
implementation in any language reproduces them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

import rfc8785


class EncodingError(ValueError):
    """A value could not be encoded or decoded canonically."""


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of a JSON value.

    Raises EncodingError for values JSON cannot hold exactly (NaN, infinities, integers beyond
    2**53, non-string keys).
    """
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise EncodingError(f"not canonicalisable as JSON: {exc}") from exc


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _frame(part: bytes) -> bytes:
    return len(part).to_bytes(8, "big") + part


def tagged_hash(tag: str, *parts: bytes) -> bytes:
    """SHA-256 over an ASCII tag and length-prefixed parts.

    The tag separates domains (a ballot hash can never equal a manifest hash); the length
    prefixes make the split between parts unambiguous.
    """
    h = hashlib.sha256(_frame(tag.encode("ascii")))
    for part in parts:
        h.update(_frame(part))
    return h.digest()


def hash_json(tag: str, value: Any) -> bytes:
    """Domain-separated hash of a JSON value's canonical bytes."""
    return tagged_hash(tag, canonical_json(value))


def hex_decode(text: str, length: int | None = None) -> bytes:
    """Strict lowercase hex; optionally of an exact byte length."""
    if not isinstance(text, str) or text != text.lower():
        raise EncodingError("expected lowercase hex")
    try:
        data = bytes.fromhex(text)
    except ValueError as exc:
        raise EncodingError("invalid hex") from exc
    if len(text) != 2 * len(data):  # fromhex tolerates whitespace
        raise EncodingError("invalid hex")
    if length is not None and len(data) != length:
        raise EncodingError(f"expected {length} bytes, got {len(data)}")
    return data


def b64_encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64_decode(text: str, length: int | None = None) -> bytes:
    """Strict standard base64 with padding (what C2SP formats use)."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise EncodingError("invalid base64") from exc
    if b64_encode(data) != text:
        raise EncodingError("non-canonical base64")
    if length is not None and len(data) != length:
        raise EncodingError(f"expected {length} bytes, got {len(data)}")
    return data
