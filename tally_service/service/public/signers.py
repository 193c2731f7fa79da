"""Who signed a checkpoint, and whether each signature verifies: the observe page's verdicts.

Threat: a page that prints signature lines and counts names tells a reader nothing; a forged or
stale line from a witness's name would look like a cosignature. Every line shown with a verdict
is verified here against the keys of the sealed manifest (the log's key, the commission's note
keys, the witnesses' cosigner keys); a line from a key the manifest does not name says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from crypto.checkpoint import Checkpoint, CheckpointError
from crypto.cosignature import CosignatureError, split_timestamp, verify_cosignatures
from crypto.note import NoteError, NoteVerifier, parse_note, verify_note
from crypto.witness_policy import WitnessPolicy


@dataclass(frozen=True)
class Signer:
    """One signature line of a note: who (kind: log, commission, witness, unknown), its verdict
    (valid, invalid, unknown) and, for a cosignature, the time it says it was made."""

    name: str
    kind: str
    verdict: str
    cosigned_at: datetime | None = None


def _own_line_verifies(text: str, line: str, verifier: NoteVerifier) -> bool:
    try:
        verify_note(f"{text}\n{line}", [verifier])  # line() ends with its newline
    except NoteError:
        return False
    return True


def signers(
    note: str,
    log_verifier: NoteVerifier,
    commission: list[NoteVerifier],
    policy: WitnessPolicy | None,
) -> list[Signer]:
    """Each signature line of ``note`` with its verdict, in the note's order."""
    try:
        parsed = parse_note(note)
        checkpoint = Checkpoint.parse(parsed.text)
    except (NoteError, CheckpointError):
        return []
    witnesses = {(k.name, k.key_id): k for k in (policy.witnesses if policy else ())}
    out = []
    for sig in parsed.signatures:
        ident = (sig.name, sig.key_hash)
        if ident == (log_verifier.name, log_verifier.key_hash):
            ok = _own_line_verifies(parsed.text, sig.line(), log_verifier)
            out.append(Signer(sig.name, "log", "valid" if ok else "invalid"))
        elif any(ident == (v.name, v.key_hash) for v in commission):
            known = [v for v in commission if ident == (v.name, v.key_hash)]
            ok = _own_line_verifies(parsed.text, sig.line(), known[0])
            out.append(Signer(sig.name, "commission", "valid" if ok else "invalid"))
        elif ident in witnesses:
            try:
                at, _ = split_timestamp(sig)
                verify_cosignatures(checkpoint, [sig], [witnesses[ident]])
                out.append(Signer(sig.name, "witness", "valid", datetime.fromtimestamp(at, UTC)))
            except (CosignatureError, OverflowError, ValueError):
                out.append(Signer(sig.name, "witness", "invalid"))
        else:
            out.append(Signer(sig.name, "unknown", "unknown"))
    return out
