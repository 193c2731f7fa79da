"""Fingerprints people compare out of band: the commission key's and the election's.

Threat: an operator (or anyone who can put a link in front of an elector) shows a look-alike
election, signed by a key of its own. Electors and observers can only notice if the thing they
check is short enough to compare by eye or read over the phone against what the commission
printed (on the credential envelope, in the official gazette), and if every page, tool and
paper shows it the same way. A 64-hex key, a 16-hex key id here and a verifier key there does
neither. DESIGN.md section 10.

So there are exactly two fingerprints, made and written one way:

- the **commission-key fingerprint** of an Ed25519 public key ``K`` (32 bytes)::

      base32(tagged_hash("kz-tally/v1/fingerprint/key", K)[:20])

- the **election fingerprint** of the sealed manifest (its signed ``payload``)::

      base32(tagged_hash("kz-tally/v1/manifest", RFC 8785 bytes of payload)[:20])

  i.e. the first 20 bytes of the manifest hash (the ``election`` field of every ballot and
  receipt) in the same encoding;

where ``base32`` is RFC 4648's alphabet in lower case (``a-z2-7``: no 0/o or 1/l to confuse),
no padding: 32 characters, written as 8 groups of 4 joined by ``-``. 160 bits: finding two
manifests with one fingerprint costs about 2**80 hashes. ``normalise`` accepts what people type
(upper case, spaces, no dashes). docs/formats.md has a worked example; tests/vectors/
fingerprint.json holds vectors that the pages' JavaScript (static/js/fingerprint.js) must
reproduce.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from crypto.canonical import hash_json, tagged_hash

KEY_TAG = "kz-tally/v1/fingerprint/key"
MANIFEST_TAG = "kz-tally/v1/manifest"
LENGTH = 20  # bytes: 32 base32 characters
_SHAPE = re.compile(r"^[a-z2-7]{32}$")


class FingerprintError(ValueError):
    """Text that is not a fingerprint."""


def encode(digest: bytes) -> str:
    """The first 20 bytes of ``digest`` as 8 dash-joined groups of 4 lower-case base32 letters."""
    if len(digest) < LENGTH:
        raise FingerprintError(f"a fingerprint needs {LENGTH} bytes, got {len(digest)}")
    text = base64.b32encode(digest[:LENGTH]).decode("ascii").lower()
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def key_fingerprint(public_key: bytes) -> str:
    """The fingerprint of a 32-byte Ed25519 public key."""
    if len(public_key) != 32:
        raise FingerprintError(f"a public key is 32 bytes, got {len(public_key)}")
    return encode(tagged_hash(KEY_TAG, public_key))


def election_fingerprint_of_hash(manifest_hash: bytes) -> str:
    """The election fingerprint from the 32-byte manifest hash (a receipt's ``election``)."""
    if len(manifest_hash) != 32:
        raise FingerprintError(f"a manifest hash is 32 bytes, got {len(manifest_hash)}")
    return encode(manifest_hash)


def election_fingerprint(manifest_payload: Any) -> str:
    """The election fingerprint of a sealed manifest's payload."""
    return election_fingerprint_of_hash(hash_json(MANIFEST_TAG, manifest_payload))


def normalise(text: str) -> str:
    """A typed fingerprint in the written form; FingerprintError if it cannot be one."""
    bare = re.sub(r"[\s\-]", "", text).lower()
    if not _SHAPE.match(bare):
        raise FingerprintError(
            "a fingerprint is 32 letters a-z and digits 2-7 (dashes and spaces are ignored)"
        )
    return "-".join(bare[i : i + 4] for i in range(0, 32, 4))
