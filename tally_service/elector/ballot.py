"""The elector's side: build, encrypt and sign a ballot (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crypto.ballot import encrypt_ballot, sign_ballot
from crypto.group import Point
from crypto.signing import SigningKey


def make_ballot(
    manifest_hash: bytes,
    unit: str,
    round_no: int,
    elector_id: str,
    candidates: Sequence[str],
    choice: str | None,
    election_key: Point,
    key: SigningKey,
) -> dict[str, Any]:
    content = encrypt_ballot(
        manifest_hash, unit, round_no, elector_id, candidates, choice, election_key
    )
    unsigned = {
        "election": manifest_hash.hex(),
        "unit": unit,
        "round": round_no,
        "elector": elector_id,
        **content,
    }
    return sign_ballot(unsigned, key)
