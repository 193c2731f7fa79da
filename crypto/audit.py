"""The booth's tracker and the Benaloh cast-or-audit challenge (Benaloh, "Simple verifiable
elections", 2006; ElectionGuard's "spoiled ballots").

The booth encrypts and proves a ballot, then shows its **tracker**: a hash of the encrypted
ballot *before* any signature,

    tracker = tagged_hash("kz-tally/v1/tracker", JCS(ballot without "signature"))

so the device commits to the ciphertexts before it learns whether the elector will cast them.
The elector then either casts (only then is the ballot signed and posted; anyone can recompute
the tracker from the log entry by dropping its signature) or *audits*: the booth reveals the
choice and every selection's nonce, and that ballot is thrown away, never signed, never cast.
An audited ballot (format ``kz-tally/audited-ballot/v1``)::

    {"format": "kz-tally/audited-ballot/v1", "tracker": hex, "choice": candidate id | null,
     "nonces": [hex scalar per selection], "ballot": {election, unit, round, elector,
     selections, sum_proof}}

``check_audited`` confirms, with the election key taken from the signed manifest, that the
ciphertexts are exactly encrypt(v_i, K, r_i) with v_i = 1 for the revealed choice only, that
the proofs hold and that the tracker is the hash of that ballot. A device that encrypted
another choice than the one shown fails this check with probability 1 each time it is audited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crypto.ballot import CONTENT_FIELDS, ENVELOPE_FIELDS, ballot_signing_bytes, check_ballot
from crypto.canonical import EncodingError, tagged_hash
from crypto.elgamal import Ciphertext, encrypt
from crypto.group import Point, Scalar

__all__ = ["AUDITED_FORMAT", "TAG_TRACKER", "check_audited", "tracker"]

TAG_TRACKER = "kz-tally/v1/tracker"
AUDITED_FORMAT = "kz-tally/audited-ballot/v1"
_AUDITED_FIELDS = frozenset({"format", "tracker", "choice", "nonces", "ballot"})
_UNSIGNED_FIELDS = (ENVELOPE_FIELDS - {"signature"}) | CONTENT_FIELDS


def tracker(ballot: Mapping[str, Any]) -> str:
    """The tracker (hex) of a ballot, signed or not: the hash of everything but its signature."""
    return tagged_hash(TAG_TRACKER, ballot_signing_bytes(ballot)).hex()


def check_audited(
    audited: object,
    manifest_hash: bytes,
    candidates: Mapping[str, Sequence[str]],
    election_key: Point,
) -> tuple[str | None, str]:
    """(None, what it encrypts) if ``audited`` checks, else (reason, "").

    ``candidates`` maps "unit/round" to that round's candidate ids (round 1: the manifest's
    list; a runoff's two candidates come from the record). Never raises on the audited data.
    """
    try:
        if not isinstance(audited, dict) or set(audited) != _AUDITED_FIELDS:
            return f"an audited ballot has exactly the fields {sorted(_AUDITED_FIELDS)}", ""
        if audited["format"] != AUDITED_FORMAT:
            return f"the format is not {AUDITED_FORMAT}", ""
        ballot = audited["ballot"]
        if not isinstance(ballot, dict) or set(ballot) != _UNSIGNED_FIELDS:
            return "the ballot is not an unsigned ballot (it must have no signature)", ""
        if ballot["election"] != manifest_hash.hex():
            return "the ballot is for another election", ""
        unit, round_no, elector = ballot["unit"], ballot["round"], ballot["elector"]
        ids = candidates.get(f"{unit}/{round_no}")
        if ids is None:
            return f"the election has no round {round_no} in unit {unit!r}", ""
        content = {"selections": ballot["selections"], "sum_proof": ballot["sum_proof"]}
        reason = check_ballot(manifest_hash, unit, round_no, elector, ids, content, election_key)
        if reason is not None:
            return f"the ballot's proofs: {reason}", ""
        if audited["tracker"] != tracker(ballot):
            return "the tracker is not the hash of this ballot", ""
        choice = audited["choice"]
        if choice is not None and choice not in ids:
            return f"the choice {choice!r} is not a candidate of this round", ""
        nonces = audited["nonces"]
        if not isinstance(nonces, list) or len(nonces) != len(ids):
            return "there is not one nonce per selection", ""
        for position, (candidate, nonce_hex) in enumerate(zip(ids, nonces, strict=True)):
            nonce = Scalar.from_hex(nonce_hex)
            if nonce.is_zero():
                return f"selection {position + 1}: the nonce is zero", ""
            expected = encrypt(1 if candidate == choice else 0, election_key, nonce)
            got = Ciphertext.from_json(ballot["selections"][position]["ciphertext"])
            if got != expected:
                return (
                    f"selection {position + 1} ({candidate}) does not encrypt "
                    f"{1 if candidate == choice else 0} with the revealed nonce: the device "
                    "encrypted something else than the choice it shows",
                    "",
                )
        what = "a blank ballot" if choice is None else f"a vote for {choice}"
        return None, f"{what}, tracker {audited['tracker'][:16]}..."
    except (EncodingError, KeyError, TypeError, ValueError) as exc:
        return f"malformed audited ballot ({type(exc).__name__}: {exc})", ""
