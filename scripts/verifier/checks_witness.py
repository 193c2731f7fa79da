"""V4, witnesses: the quorum of cosignatures on every final checkpoint (issue 18).

When the manifest names witnesses (``witnesses``: n cosigner vkeys, quorum q, colluders f), the
final checkpoint of every log must carry valid cosignatures from at least q of them, made at or
after the time on its ``time`` line (crypto/witness_policy.py). Other checkpoints are reported,
not required: how many carry a quorum. A cosignature line from a listed witness that does not
verify fails the check (the signed-note rule: a bad signature from a known key rejects the
note); lines from any other key are ignored and never count.

Data kept: nothing beyond the checkpoint notes V4 has already read.
"""

from __future__ import annotations

from collections.abc import Sequence

from crypto.cosignature import CosignatureError
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
                f"the final checkpoint has {len(counted)} valid witness cosignatures made after "
                f"it was issued; the manifest requires a quorum of {policy.quorum} of "
                f"{len(policy.witnesses)}",
            )
        else:
            check.count("checkpoints below the witness quorum")
