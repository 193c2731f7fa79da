"""V4, witnesses: the quorum of cosignatures on every final checkpoint (issue 18).

When the manifest names witnesses (``witnesses``: n cosigner vkeys, quorum q, colluders f), the
final checkpoint of every log must carry valid *finality statements* from at least q of them
(crypto/witness_policy.py, crypto/cosignature.py: a witness's key under ``<name>/final`` over the
checkpoint with the origin ``<origin> final``, which a witness makes only for a final consistent
with everything it cosigned). Ordinary cosignatures on a final do not count (issue 24: an
ML-DSA-44 cosignature of an earlier checkpoint of the same size verifies on a backdated final).
Other checkpoints are reported, not required: how many carry a quorum. A line from a listed
witness (or its finality cosigner) that does not verify fails the check (the signed-note rule:
a bad signature from a known key rejects the note); lines from any other key are ignored and
never count.

Data kept: nothing beyond the checkpoint notes V4 has already read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from crypto.checkpoint import Checkpoint
from crypto.cosignature import Cosignature, CosignatureError, CosignerKey, signed_message
from crypto.witness_policy import WitnessPolicy

from .record import NoteEntry
from .report import Check


def check_log_witnesses(
    rel: str, notes: Sequence[NoteEntry], policy: WitnessPolicy | None, check: Check
) -> None:
    """Cosignatures on the checkpoints of the log in ``rel`` (notes in file order)."""
    if policy is None:
        check.note("the manifest names no witnesses: checkpoints are not cosigned")
        return
    for position, note in enumerate(notes):
        where = f"{rel}/checkpoints.txt note {note.position + 1} (line {note.line})"
        final = position == len(notes) - 1
        try:
            _, counted = policy.cosignatures(note.text)
        except (CosignatureError, ValueError) as exc:
            check.fail(where, f"a witness cosignature: {exc}")
            continue
        for cosignature in counted:
            check.count(f"cosignatures by {cosignature.cosigner.name}")
        if len(counted) >= policy.quorum:
            check.count("witnessed checkpoints (quorum)")
        elif final:
            check.fail(
                where,
                f"the final checkpoint has {len(counted)} valid witness finality statements "
                f"('<witness>/final' lines); the manifest requires a quorum of {policy.quorum} "
                f"of {len(policy.witnesses)} (ordinary cosignatures do not make a final)",
            )
        else:
            check.count("checkpoints below the witness quorum")


@dataclass(frozen=True, eq=False)  # equal (and hashed) as the CosignerKey it wraps
class RememberingKey(CosignerKey):
    """A witness's key that remembers the signatures it verified (message and signature: the
    same line on the same checkpoint), so that a note served again with one more line costs
    one verification, not one per line. At most ``REMEMBERED`` are kept."""

    REMEMBERED = 4 * 4096
    _seen: dict[tuple[bytes, bytes], bool] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def verify(self, checkpoint: Checkpoint, timestamp: int, signature: bytes) -> bool:
        key = (signed_message(self.kind, self.name, checkpoint, timestamp), signature)
        found = self._seen.get(key)
        if found is None:
            found = super().verify(checkpoint, timestamp, signature)
            if len(self._seen) >= self.REMEMBERED:
                del self._seen[next(iter(self._seen))]
            self._seen[key] = found
        return found

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CosignerKey):
            return NotImplemented
        return (self.name, self.kind, self.public) == (other.name, other.kind, other.public)

    __hash__ = CosignerKey.__hash__


class RememberingPolicy(WitnessPolicy):
    """A manifest's witness policy that remembers the notes whose cosignatures it verified:
    the live monitor meets a note when it accepts it, when the service serves it again with
    more lines, and at the verdict (``check_log_witnesses``), and verifies it once; a note
    that gained lines since costs only its new lines (``RememberingKey``). At most
    ``REMEMBERED`` notes are kept (the oldest go first), so memory does not grow with the log."""

    REMEMBERED = 4096
    _verified: dict[str, tuple[Checkpoint, list[Cosignature]]]

    def __init__(self, policy: WitnessPolicy) -> None:
        keys = tuple(RememberingKey(w.name, w.kind, w.public) for w in policy.witnesses)
        super().__init__(policy.quorum, policy.colluders, keys)
        object.__setattr__(self, "_verified", {})

    def cosignatures(self, note: str) -> tuple[Checkpoint, list[Cosignature]]:
        verified = self._verified
        found = verified.get(note)
        if found is None:
            found = super().cosignatures(note)  # raises, and remembers nothing, if a line fails
            if len(verified) >= self.REMEMBERED:
                del verified[next(iter(verified))]
            verified[note] = found
        return found[0], list(found[1])

