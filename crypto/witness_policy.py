"""The election's witness policy: which cosigners count, how many make a quorum, and why.

The manifest names n witnesses (each a C2SP cosigner: name, type, vkey), a quorum q and the
number f of colluding witnesses the policy tolerates. A checkpoint is *witnessed* when at least
q of those witnesses cosigned it (crypto/cosignature.py). Two different histories of one log,
each witnessed, were cosigned by at least 2q - n witnesses in common; an honest witness never
cosigns both (it checks consistency with the last checkpoint it cosigned), so a split view needs
2q - n dishonest witnesses. The policy therefore requires 2q - n >= f + 1: with at most f
colluding witnesses no split view can be witnessed.

Finality: the final checkpoint of a log (extension line ``final``) counts as witnessed only with
cosignatures made at or after the time its ``time`` extension line states (RFC 3339, UTC, to
the second), so that cosignatures of an earlier checkpoint of the same size and root (which an
ML-DSA-44 subtree/v1 cosignature cannot tell apart, as it does not sign extension lines) do not
count for it.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crypto.checkpoint import Checkpoint
from crypto.cosignature import (
    TYPE_NAMES,
    Cosignature,
    CosignatureError,
    CosignerKey,
    note_cosignatures,
)

FINAL_LINE = "final"
_TIME_LINE = re.compile(r"time (\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})Z")


class PolicyError(ValueError):
    """The witness section of a manifest is malformed or its numbers are unsafe."""


def is_final(checkpoint: Checkpoint) -> bool:
    return FINAL_LINE in checkpoint.extensions


def checkpoint_time(checkpoint: Checkpoint) -> int | None:
    """The POSIX time of the checkpoint's ``time`` extension line, if it has one."""
    for line in checkpoint.extensions:
        match = _TIME_LINE.fullmatch(line)
        if match:
            try:
                parsed = time.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S")
            except ValueError:
                return None
            return calendar.timegm(parsed)
    return None


def not_before(checkpoint: Checkpoint) -> int:
    """The earliest cosignature time that counts for ``checkpoint`` (see the module docstring)."""
    if is_final(checkpoint):
        return checkpoint_time(checkpoint) or 0
    return 0


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

    def cosignatures(self, note: str) -> tuple[Checkpoint, list[Cosignature]]:
        """The checkpoint and the valid cosignatures that count for it (not_before applied).

        Raises CosignatureError if a witness's line does not verify."""
        checkpoint, valid = note_cosignatures(note, self.witnesses)
        earliest = not_before(checkpoint)
        return checkpoint, [c for c in valid if c.timestamp >= earliest]

    def counted_unverified(self, note: str) -> int:
        """How many listed witnesses have a line on ``note`` with a timestamp that counts,
        WITHOUT verifying the signatures: only for notes whose every line was verified when it
        was added (the service's own store). Anyone else uses ``has_quorum``."""
        from crypto.cosignature import split_timestamp
        from crypto.note import parse_note

        parsed = parse_note(note)
        earliest = not_before(Checkpoint.parse(parsed.text))
        listed = {(w.name, w.key_id) for w in self.witnesses}
        counted = set()
        for sig in parsed.signatures:
            ident = (sig.name, sig.key_hash)
            if ident in listed and split_timestamp(sig)[0] >= earliest:
                counted.add(ident)
        return len(counted)

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
