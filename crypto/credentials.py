"""Electors' credential codes and the Ed25519 keys derived from them.

A *credential authority* that is not the commission (a notary, an observers' body), as in
Belenios, makes one printed code per elector and hands it over in a sealed envelope; from the
code the elector's device derives the Ed25519 key whose public half is on the roll. The
commission only ever sees the public keys, so it cannot vote for electors who stay away.

The code is 20 random characters of Crockford's base32 (100 bits) followed by 4 check
characters (20 bits), written in six groups of four::

    7K3M-QX9D-2HRT-VN4B-8CWZ-F5JE

Reading is forgiving as Crockford intends: letter case, spaces and hyphens do not matter, and
``I``/``L`` read as ``1``, ``O`` as ``0``. The check characters are the first 20 bits of
``tagged_hash("kz-tally/v1/credential-check", payload)``, so a mistyped character is caught
(with probability 1 - 2**-20) before any key is derived.

The key is HKDF-SHA256 (RFC 5869)::

    salt = tagged_hash("kz-tally/v1/credential-salt", election_id, elector_id)
    seed = HKDF(ikm = the 20 payload characters in ASCII, salt, info = "kz-tally/v1/credential-key",
                length = 32)

and the Ed25519 key is the one with that 32-byte seed (RFC 8032). The salt binds the election id
(the manifest's ``election_id``, which exists before the manifest is sealed; its hash does not,
since the manifest holds the keys) and the elector id, so one code yields unrelated keys in
other elections or for other electors.

Why HKDF and not a password hash such as Argon2id: the code carries 100 bits of entropy, so an
attacker who sees the public key must still try about 2**99 codes; slowing each try by a
memory-hard function adds nothing that matters at that size, while Argon2id in the browser
would cost seconds and a second implementation (WebAssembly or pure JS) that must agree bit
for bit with Python's. HKDF needs only HMAC-SHA256, which libsodium provides on both sides.
"""

from __future__ import annotations

import hmac
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.canonical import tagged_hash
from crypto.signing import SigningKey

__all__ = [
    "ALPHABET",
    "CredentialError",
    "derive_key",
    "format_code",
    "new_code",
    "normalise_code",
]

#: Crockford's base32 alphabet: digits and letters without I, L, O and U.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PAYLOAD_CHARS = 20  # 100 bits
CHECK_CHARS = 4  # 20 bits
GROUP = 4
TAG_CHECK = "kz-tally/v1/credential-check"
TAG_SALT = "kz-tally/v1/credential-salt"
INFO = b"kz-tally/v1/credential-key"

_READ_AS = {"I": "1", "L": "1", "O": "0"}


class CredentialError(ValueError):
    """A credential code is malformed or its check characters do not match."""


def _check_chars(payload: str) -> str:
    bits = int.from_bytes(tagged_hash(TAG_CHECK, payload.encode("ascii"))[:3], "big") >> 4
    return "".join(ALPHABET[(bits >> (5 * (CHECK_CHARS - 1 - i))) & 31] for i in range(CHECK_CHARS))


def new_code() -> str:
    """A fresh random code (from the OS's CSPRNG), formatted in groups."""
    payload = "".join(secrets.choice(ALPHABET) for _ in range(PAYLOAD_CHARS))
    return format_code(payload + _check_chars(payload))


def format_code(code: str) -> str:
    """The 24 characters in groups of four, joined by hyphens."""
    return "-".join(code[i : i + GROUP] for i in range(0, len(code), GROUP))


def normalise_code(text: str) -> str:
    """The 20 payload characters of a typed code; CredentialError with the reason otherwise."""
    if not isinstance(text, str):
        raise CredentialError("a credential code is text")
    chars = [_READ_AS.get(c, c) for c in text.upper() if c not in " -\t\r\n"]
    bad = [c for c in chars if c not in ALPHABET]
    if bad:
        raise CredentialError(f"the code holds a character that is not in it: {bad[0]!r}")
    if len(chars) != PAYLOAD_CHARS + CHECK_CHARS:
        raise CredentialError(
            f"the code has {PAYLOAD_CHARS + CHECK_CHARS} characters, this one {len(chars)}"
        )
    payload, check = "".join(chars[:PAYLOAD_CHARS]), "".join(chars[PAYLOAD_CHARS:])
    if not hmac.compare_digest(check, _check_chars(payload)):
        raise CredentialError("the code's check characters do not match: a typing mistake?")
    return payload


def _hkdf_sha256(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    """RFC 5869 HKDF-SHA256 with a 32-byte output (``cryptography``'s implementation)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(ikm)


def derive_key(code: str, election_id: str, elector_id: str) -> SigningKey:
    """The elector's Ed25519 key from their code (checked first) in this election."""
    payload = normalise_code(code)
    if not election_id or not elector_id:
        raise CredentialError("the election id and the elector id are not empty")
    salt = tagged_hash(TAG_SALT, election_id.encode("utf-8"), elector_id.encode("utf-8"))
    return SigningKey.from_seed(_hkdf_sha256(payload.encode("ascii"), salt, INFO))
