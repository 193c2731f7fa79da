"""``verify_receipt.py --audited FILE``: check a ballot the booth revealed in a Benaloh audit.

The manifest comes from the record or the live service and must carry the commission's
signature (by the pinned key, if given); its election key is what the ciphertexts must be
encrypted under (crypto/audit.py says what is checked). Round 1's candidates are the manifest's;
a runoff's are the two of the audited ballot, which must both be candidates of that unit.
"""

from __future__ import annotations

from typing import Any

from crypto.audit import check_audited
from crypto.canonical import EncodingError, hash_json
from crypto.envelope import EnvelopeError, open_document
from crypto.group import Point
from crypto.signing import Context, VerifyKey

MANIFEST_HASH_TAG = "kz-tally/v1/manifest"


def check_audited_file(
    audited: object, manifest_document: object, pinned: VerifyKey | None
) -> tuple[bool, str]:
    """(ok, one line saying what was found)."""
    payload = manifest_document.get("payload") if isinstance(manifest_document, dict) else None
    if not isinstance(payload, dict):
        return False, "the manifest is not a signed document"
    try:
        keys = {k.key_id: k for k in (VerifyKey.from_hex(h) for h in payload["commission"]["keys"])}
        if pinned is not None and pinned.key_id not in keys:
            return False, "the pinned commission key is not in the manifest"
        open_document(
            manifest_document, {pinned.key_id: pinned} if pinned else keys, Context.MANIFEST
        )
        election_key = Point.from_hex(payload["election_key"])
        candidates: dict[str, list[str]] = {}
        ballot: Any = audited.get("ballot") if isinstance(audited, dict) else None
        for unit in payload["units"]:
            ids = [c["id"] for c in unit["candidates"]]
            candidates[f"{unit['code']}/1"] = ids
            if isinstance(ballot, dict) and ballot.get("unit") == unit["code"]:
                chosen = [
                    s.get("candidate") for s in ballot.get("selections", []) if isinstance(s, dict)
                ]
                if len(chosen) == 2 and all(c in ids for c in chosen):
                    candidates[f"{unit['code']}/2"] = [str(c) for c in chosen]
    except (EnvelopeError, EncodingError, KeyError, TypeError, ValueError) as exc:
        return False, f"the manifest does not check: {exc}"
    reason, what = check_audited(
        audited, hash_json(MANIFEST_HASH_TAG, payload), candidates, election_key
    )
    if reason is not None:
        return False, reason
    return True, f"the audited ballot encrypts {what} under the election key"
