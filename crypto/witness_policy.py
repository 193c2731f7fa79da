"""The election's witness policy: which cosigners count, how many make a quorum, and why.

The manifest names n witnesses (each a C2SP cosigner: name, type, vkey), a quorum q and the
number f of colluding witnesses the policy tolerates. A checkpoint is *witnessed* when at least
q of those witnesses cosigned it (crypto/cosignature.py). Two different histories of one log,
each witnessed, were cosigned by at least 2q - n witnesses in common; an honest witness never
cosigns both (it checks consistency with the last checkpoint it cosigned), so a split view needs
2q - n dishonest witnesses. The policy therefore requires 2q - n >= f + 1: with at most f
colluding witnesses no split view can be witnessed.

Finality: the final checkpoint of a log (extension line ``final``) ends the log, so the threat
is a final smaller than what the witnesses saw (entries dropped after it). It counts as
witnessed only with *finality statements* (crypto/cosignature.py: the witness's finality
cosigner, ``<name>/final``, signing the checkpoint under the origin ``<origin> final``), which a
witness makes only when asked to cosign that final and only if it is consistent with the
largest size it cosigned for the log. Ordinary cosignatures on a final note must still verify
(a bad line from a listed key rejects the note) but do not count: an ML-DSA-44 subtree/v1
cosignature of an earlier checkpoint of the same size and root would verify on it too.

The earlier rule, that a final counts only cosignatures made at or after its own ``time`` line,
is gone: the operator writes that line, so it never held against the operator (issue 24), and
the finality statement does what it was meant to do. The witnesses' timestamps are still
reported (V4), not used as a bound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from crypto.checkpoint import Checkpoint
from crypto.cosignature import (
    TYPE_NAMES,
    Cosignature,
    CosignatureError,
    CosignerKey,
    finality_cosignatures,
    is_final,
    read_cosigned_note,
    verify_cosignatures,
)

__all__ = ["PolicyError", "WitnessPolicy", "is_final", "manifest_section"]


class PolicyError(ValueError):
    """The witness section of a manifest is malformed or its numbers are unsafe."""


@dataclass(frozen=True)
class WitnessPolicy:
    quorum: int
    colluders: int
    witnesses: tuple[CosignerKey, ...]

    @classmethod
    def from_manifest(cls, section: Any) -> WitnessPolicy | None:
        """The policy of a manifest's ``witnesses`` section (None when the section is absent)."""
        if section is None:
            return None
        if not isinstance(section, dict):
            raise PolicyError("witnesses must be an object")
        keys = []
        for i, entry in enumerate(section.get("keys") or []):
            try:
                key = CosignerKey.parse(entry.get("vkey"))
            except (CosignatureError, AttributeError) as exc:
                raise PolicyError(f"witness {i + 1}: {exc}") from exc
            if entry.get("name") != key.name:
                raise PolicyError(f"witness {i + 1}: name does not match its vkey")
            if entry.get("type") != key.type_name:
                raise PolicyError(f"witness {i + 1}: its vkey is of type {key.type_name}")
            keys.append(key)
        policy = cls(section.get("quorum", 0), section.get("colluders", -1), tuple(keys))
        policy.check()
        return policy

    def check(self) -> None:
        n, q, f = len(self.witnesses), self.quorum, self.colluders
        if type(q) is not int or type(f) is not int:
            raise PolicyError("witnesses.quorum and witnesses.colluders are integers")
        if n < 1:
            raise PolicyError("witnesses lists no witness")
        if not 1 <= q <= n:
            raise PolicyError(f"witnesses.quorum is {q}; it must be between 1 and n = {n}")
        if f < 0:
            raise PolicyError("witnesses.colluders must not be negative")
        if 2 * q - n < f + 1:
            raise PolicyError(
                f"a quorum of {q} of {n} witnesses does not tolerate {f} colluding witnesses: "
                f"two split views would share 2q - n = {2 * q - n}, which must be at least "
                f"f + 1 = {f + 1}; raise the quorum or lower the colluders"
            )
        names = [w.name for w in self.witnesses]
        if len(set(names)) != len(names):
            raise PolicyError("witness names must be unique")
        publics = [w.public for w in self.witnesses]
        if len(set(publics)) != len(publics):
            raise PolicyError("witness keys must be unique")

    @cached_property
    def _counted_idents(self) -> tuple[set[tuple[str, bytes]], set[tuple[str, bytes]]]:
        """(name, key ID) of the listed witnesses, and of their finality cosigners."""
        ordinary = {(w.name, w.key_id) for w in self.witnesses}
        finality = {(f.name, f.key_id) for f in (w.finality() for w in self.witnesses)}
        return ordinary, finality

    def cosignatures(self, note: str) -> tuple[Checkpoint, list[Cosignature]]:
        """The checkpoint and the valid cosignatures that count for it: ordinary cosignatures
        for a checkpoint, finality statements for a final (see the module docstring).

        Raises CosignatureError if a listed witness's line (either kind) does not verify."""
        checkpoint, signatures = read_cosigned_note(note)
        ordinary = verify_cosignatures(checkpoint, signatures, self.witnesses)
        if not is_final(checkpoint):
            return checkpoint, ordinary
        return checkpoint, finality_cosignatures(checkpoint, signatures, self.witnesses)

    def counted_unverified(self, note: str) -> int:
        """How many listed witnesses have a line on ``note`` of the kind that counts for it
        (finality statements for a final), WITHOUT verifying the signatures: only for notes
        whose every line was verified when it was added (the service's own store). Anyone else
        uses ``has_quorum``."""
        checkpoint, signatures = read_cosigned_note(note)
        ordinary, finality = self._counted_idents
        listed = finality if is_final(checkpoint) else ordinary
        return len({(s.name, s.key_hash) for s in signatures} & listed)

    def has_quorum(self, note: str) -> bool:
        try:
            return len(self.cosignatures(note)[1]) >= self.quorum
        except CosignatureError:
            return False

    def to_manifest(self) -> dict[str, Any]:
        return manifest_section(self.quorum, self.colluders, self.witnesses)


def manifest_section(
    quorum: int, colluders: int, witnesses: Sequence[CosignerKey]
) -> dict[str, Any]:
    """The manifest's ``witnesses`` section for these witnesses."""
    return {
        "quorum": quorum,
        "colluders": colluders,
        "keys": [{"name": w.name, "type": TYPE_NAMES[w.kind], "vkey": str(w)} for w in witnesses],
    }
