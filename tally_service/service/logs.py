"""One append-only log per (unit, round): its Merkle tree, its lock and its checkpoints.

The tree lives in memory and is rebuilt from the stored leaf hashes on start, then checked
against the last signed checkpoint; the store is the truth, the tree is an index.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from crypto.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointFacts,
    checkpoint_facts,
    open_checkpoint,
    profile_extensions,
    sign_checkpoint,
)
from crypto.merkle import MerkleTree
from crypto.note import NoteVerifier
from crypto.signing import SigningKey
from tally_service.common import clock

if TYPE_CHECKING:
    from tally_service.common.manifest import Manifest
    from tally_service.service.store import CheckpointRow


class LogMismatch(Exception):
    """The stored leaves do not match a signed checkpoint: never repaired silently."""


@dataclass
class UnitLog:
    unit: str
    round: int
    origin: str
    key_name: str
    candidates: list[str]
    open: bool
    tree: MerkleTree = field(default_factory=MerkleTree)
    # reentrant: a receipt built while appending (a racing repeat) reads the tree under it
    lock: threading.RLock = field(default_factory=threading.RLock)
    checkpoint_size: int = -1
    checkpoint_note: str | None = None
    checkpoint_time: float = field(default_factory=time.monotonic)
    # with witnesses (tally_service/service/witnessing.py) the current checkpoint is the newest
    # one with a quorum of cosignatures, cosignature lines included; without, it is the newest
    # signed one
    witnessed: bool = False
    current_note: str | None = None
    current_size: int = -1

    def published(self) -> tuple[str | None, int]:
        """The current checkpoint (note, size): what proofs are given under and GET returns."""
        if self.witnessed:
            return self.current_note, self.current_size
        return self.checkpoint_note, self.checkpoint_size

    def check_against(self, note: str, verifier: NoteVerifier) -> CheckpointFacts:
        """Check the rebuilt tree against a signed checkpoint of this log."""
        try:
            cp = open_checkpoint(note, verifier, self.origin)
            facts = checkpoint_facts(cp)
        except CheckpointError as exc:
            raise LogMismatch(
                f"log {self.origin}: stored checkpoint does not verify: {exc}"
            ) from exc
        if cp.size > self.tree.size:
            raise LogMismatch(
                f"log {self.origin}: checkpoint of size {cp.size} but only "
                f"{self.tree.size} ballots are stored"
            )
        if self.tree.root(cp.size) != cp.root:
            raise LogMismatch(
                f"log {self.origin}: stored ballots do not match the checkpoint of size {cp.size}"
            )
        self.checkpoint_size = cp.size
        self.checkpoint_note = note
        return facts

    def sign(self, size: int, key: SigningKey, at: str, final: bool = False) -> str:
        """A checkpoint note of ``size`` signed at ``at`` (a clock.now() stamp), with the
        ``time`` line and, for the round's final checkpoint, the ``final`` line."""
        extensions = profile_extensions(clock.to_second(at), final)
        cp = Checkpoint(self.origin, size, self.tree.root(size), extensions)
        return sign_checkpoint(cp, [(self.key_name, key)])


def restore_current(unit_log: UnitLog, rows: Sequence[CheckpointRow], manifest: Manifest) -> None:
    """On start: the log's current checkpoint is the newest stored one with a quorum."""
    policy = manifest.witness_policy
    assert policy is not None
    for row in reversed(rows):
        if policy.has_quorum(row.note):
            unit_log.current_note, unit_log.current_size = row.note, row.size
            return
