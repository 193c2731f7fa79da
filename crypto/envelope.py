"""Signed JSON documents: ``{"payload": {...}, "key_id": "...", "signature": "<hex>"}``.

The manifest, the results and the commission's requests travel in this envelope. The signature
is the signer's Ed25519 signature, in the document's context, over the RFC 8785 bytes of the
payload; ``key_id`` names which of the expected keys signed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crypto.canonical import EncodingError, canonical_json, hex_decode
from crypto.signing import Context, SigningKey, VerifyKey


class EnvelopeError(ValueError):
    """A signed document is malformed or its signature does not verify."""


def sign_document(payload: Mapping[str, Any], key: SigningKey, context: Context) -> dict[str, Any]:
    body = dict(payload)
    signature = key.sign(context, canonical_json(body))
    return {"payload": body, "key_id": key.public.key_id, "signature": signature.hex()}


def open_document(
    document: object, keys: Mapping[str, VerifyKey], context: Context
) -> dict[str, Any]:
    """The payload of a signed document, after checking its signature against ``keys``.

    ``keys`` maps key ids to the public keys allowed to sign this kind of document.
    """
    if not isinstance(document, Mapping) or set(document) != {"payload", "key_id", "signature"}:
        raise EnvelopeError("a signed document has exactly: payload, key_id, signature")
    payload, key_id, signature = document["payload"], document["key_id"], document["signature"]
    if not isinstance(payload, Mapping) or not isinstance(key_id, str):
        raise EnvelopeError("payload must be an object and key_id a string")
    key = keys.get(key_id)
    if key is None:
        raise EnvelopeError(f"signed by unknown key {key_id!r}")
    try:
        sig = hex_decode(signature, 64) if isinstance(signature, str) else b""
        message = canonical_json(payload)
    except EncodingError as exc:
        raise EnvelopeError(f"malformed signed document: {exc}") from exc
    if not key.verify(context, message, sig):
        raise EnvelopeError(f"the {context.value} signature by key {key_id} does not verify")
    return dict(payload)
