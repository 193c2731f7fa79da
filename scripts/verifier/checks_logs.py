"""V4: the logs. The units/ folder layout, every signed checkpoint, the recomputed roots.

The main process feeds each log's leaf hashes, in order, to a ``LogTracker``: it keeps an
O(log n) compact range, compares the recomputed root with every checkpoint at its size, and
captures the subtree hashes for the consistency proofs between successive checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise

from crypto.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointFacts,
    checkpoint_facts,
    open_checkpoint,
)
from crypto.merkle import empty_root, verify_consistency
from crypto.note import NoteError, parse_note, verify_note

from .checks_witness import check_log_witnesses
from .compact import CompactRange, consistency_ranges
from .model import LogFacts, ManifestInfo
from .record import LOG_FILES, Record
from .report import Check

ROUND_NAMES = {"1": 1, "2": 2}


def log_dir(unit: str, round_no: int) -> str:
    return f"units/{unit}/{round_no}"


def check_units_layout(
    record: Record, manifest: ManifestInfo, check: Check
) -> set[tuple[str, int]]:
    """The (unit, round) logs present. Fails on folders for units the manifest does not have,
    round folders other than 1 and 2, a unit without round 1, and wrong files in a log folder."""
    layout = record.layout()
    present: set[tuple[str, int]] = set()
    if not record.path("units").is_dir():
        check.fail("units/", "missing: the record has no logs")
        return present
    for name in layout.unit_files:
        check.fail(f"units/{name}", "unexpected file (units/ holds one folder per unit)")
    for path in layout.stray:
        check.fail(path, "unexpected file (a unit folder holds one folder per round)")
    for unit, rounds in layout.units.items():
        if unit not in manifest.units:
            check.fail(f"units/{unit}/", "a log folder for a unit that is not in the manifest")
            continue
        for round_name, files in rounds.items():
            round_no = ROUND_NAMES.get(round_name)
            if round_no is None:
                check.fail(f"units/{unit}/{round_name}/", "unexpected round (only 1 and 2 exist)")
                continue
            present.add((unit, round_no))
            for name in files:
                if name not in LOG_FILES:
                    check.fail(f"units/{unit}/{round_name}/{name}", "unexpected file in a log")
            for name in ("ballots.jsonl", "checkpoints.txt"):
                if name not in files:
                    check.fail(f"units/{unit}/{round_name}/{name}", "missing")
    for unit in manifest.units:
        if (unit, 1) not in present:
            check.fail(f"units/{unit}/1/", "missing: every unit holds round 1")
    return present


@dataclass
class CheckpointEntry:
    position: int
    line: int
    checkpoint: Checkpoint | None  # None if the note does not verify
    countersigned: bool  # carries a (valid) commission signature
    facts: CheckpointFacts | None = None  # its signed time and final line, if well formed


@dataclass
class LogTracker:
    """V4 for one log, fed one leaf hash at a time."""

    rel: str  # the log folder, e.g. units/AAA/1
    facts: LogFacts
    check: Check
    entries: list[CheckpointEntry] = field(default_factory=list)
    _range: CompactRange = field(default_factory=CompactRange)
    _at: dict[int, list[CheckpointEntry]] = field(default_factory=dict)
    _pairs: list[tuple[CheckpointEntry, CheckpointEntry]] = field(default_factory=list)
    unterminated: bool = False
    _matched: int = 0  # the largest size whose signed root matched so far
    _mismatched: bool = False

    def where(self, entry: CheckpointEntry) -> str:
        return f"{self.rel}/checkpoints.txt note {entry.position + 1} (line {entry.line})"

    def prepare(self, record: Record, manifest: ManifestInfo, witnesses: bool = True) -> None:
        """Read and verify every checkpoint before the leaves stream past (and their witness
        cosignatures, unless ``witnesses`` is False: the live monitor checks those once the
        notes have stopped gaining cosignature lines, scripts/verifier/follow.py)."""
        unit, round_no = self.facts.unit, self.facts.round
        rel = f"{self.rel}/checkpoints.txt"
        notes, error = record.checkpoint_notes(rel)
        if error is not None:
            self.check.fail(rel, error)
        info = manifest.units.get(unit)
        verifier = info.log_verifier if info is not None else None
        origin = manifest.origin_of(unit, round_no)
        commission_ids = {(v.name, v.key_hash) for v in manifest.commission_notes}
        for note in notes:
            entry = CheckpointEntry(note.position, note.line, None, False)
            self.entries.append(entry)
            if verifier is None:
                self.check.fail(self.where(entry), "no usable log key for this unit (see V1)")
            else:
                try:
                    entry.checkpoint = open_checkpoint(note.text, verifier, origin)
                except CheckpointError as exc:
                    self.check.fail(self.where(entry), f"not a valid checkpoint of {origin}: {exc}")
                if entry.checkpoint is not None:
                    try:
                        entry.facts = checkpoint_facts(entry.checkpoint)
                    except CheckpointError as exc:
                        self.check.fail(self.where(entry), f"extension lines: {exc}")
            try:
                signers = {(s.name, s.key_hash) for s in parse_note(note.text).signatures}
            except NoteError:
                signers = set()
            if signers & commission_ids:
                try:
                    verify_note(note.text, manifest.commission_notes)
                    entry.countersigned = True
                except NoteError as exc:
                    self.check.fail(self.where(entry), f"the commission's signature: {exc}")
        self._plan()
        self.check.count("checkpoints", len(self.entries))
        if witnesses:
            check_log_witnesses(self.rel, notes, manifest.witness_policy, self.check)

    def _plan(self) -> None:
        valid = [e for e in self.entries if e.checkpoint is not None]
        first = valid[0].checkpoint if valid and valid[0] is self.entries[0] else None
        if first is not None and first.size != 0:
            self.check.fail(
                self.where(valid[0]),
                "the first checkpoint should have size 0 (issued when the round opened)",
            )
        by_size: dict[int, list[CheckpointEntry]] = {}
        for e in valid:
            assert e.checkpoint is not None
            by_size.setdefault(e.checkpoint.size, []).append(e)
        for size, same in by_size.items():
            roots = {e.checkpoint.root for e in same if e.checkpoint is not None}
            if len(roots) > 1:
                positions = ", ".join(str(e.position + 1) for e in same)
                self.check.fail(
                    f"{self.rel}/checkpoints.txt notes {positions}",
                    f"fork: signed checkpoints of the same size {size} with different roots",
                )
            else:
                # the final checkpoint is a note of its own and may repeat the last size
                repeats = [e for e in same[1:] if not (e is self.entries[-1] and _final(e))]
                if repeats:
                    self.check.fail(
                        self.where(repeats[0]),
                        f"duplicate checkpoint: size {size} was already checkpointed",
                    )
        previous: CheckpointEntry | None = None
        wanted: list[tuple[int, int]] = []
        for e in valid:
            assert e.checkpoint is not None
            if previous is not None and previous.checkpoint is not None:
                if e.checkpoint.size < previous.checkpoint.size:
                    self.check.fail(
                        self.where(e),
                        f"size {e.checkpoint.size} after size {previous.checkpoint.size}: "
                        "checkpoints are not in increasing order",
                    )
                elif e.checkpoint.size > previous.checkpoint.size:
                    self._pairs.append((previous, e))
                    wanted.extend(consistency_ranges(previous.checkpoint.size, e.checkpoint.size))
            previous = e
        self._at = by_size
        self._range = CompactRange(wanted)
        for e in by_size.get(0, []):
            assert e.checkpoint is not None
            if e.checkpoint.root != empty_root():
                self.check.fail(self.where(e), "a checkpoint of size 0 must have the empty root")

    def add(self, leaf: bytes) -> None:
        compact = self._range
        compact.append(leaf)
        waiting = self._at.get(compact.size)
        if waiting:
            root = compact.root()
            for e in waiting:
                assert e.checkpoint is not None
                if e.checkpoint.root == root:
                    self._matched = compact.size
                    continue
                hint = (
                    f"; the first change is in lines {self._matched + 1}-{compact.size}"
                    if not self._mismatched
                    else ""
                )
                self._mismatched = True
                self.check.fail(
                    self.where(e),
                    f"the root signed for size {e.checkpoint.size} is not the root of the "
                    f"first {e.checkpoint.size} lines of ballots.jsonl{hint}",
                )

    def finish(self) -> None:
        compact = self._range
        lines = compact.size
        self.facts.lines = lines
        self.facts.root = compact.root()
        if self.unterminated:
            self.check.fail(f"{self.rel}/ballots.jsonl", "the last line has no newline")
        for size, waiting in self._at.items():
            if size > lines:
                for e in waiting:
                    self.check.fail(
                        self.where(e),
                        f"a checkpoint of size {size}, but ballots.jsonl has only {lines} lines",
                    )
        # consistency between successive checkpoints, from our own recomputation
        for old, new in self._pairs:
            assert old.checkpoint is not None and new.checkpoint is not None
            m, n = old.checkpoint.size, new.checkpoint.size
            if n > lines:
                continue
            proof = compact.consistency_proof(m, n)
            if proof is None or not verify_consistency(
                m, n, proof, old.checkpoint.root, new.checkpoint.root
            ):
                self.check.fail(
                    self.where(new),
                    f"not consistent with the checkpoint of size {m} (note {old.position + 1})",
                )
            else:
                self.check.count("consistency proofs")
        self._check_final(lines)

    def _check_final(self, lines: int) -> None:
        if not self.entries:
            self.check.fail(
                f"{self.rel}/checkpoints.txt", "no checkpoint: the log was never closed"
            )
            return
        last = self.entries[-1]
        for e in self.entries[:-1]:
            if e.countersigned:
                self.check.fail(
                    self.where(e),
                    "countersigned by the commission, but only the final (last) checkpoint is",
                )
            if _final(e):
                self.check.fail(
                    self.where(e),
                    "a checkpoint says 'final' but is not the last: nothing may follow the "
                    "final checkpoint",
                )
        timed = [e for e in self.entries if e.facts is not None]
        for before, after in pairwise(timed):
            assert before.facts is not None and after.facts is not None
            if after.facts.time < before.facts.time:
                self.check.fail(
                    self.where(after),
                    f"signed at {after.facts.time}, before the previous checkpoint "
                    f"({before.facts.time}): checkpoint times must not go back",
                )
        if last.checkpoint is None:
            self.check.fail(self.where(last), "the final checkpoint does not verify")
            return
        self.facts.final = last.checkpoint
        if last.facts is not None and not last.facts.final:
            self.check.fail(
                self.where(last),
                "the last checkpoint has no 'final' line: the log was not closed",
            )
        if not last.countersigned:
            self.check.fail(
                self.where(last),
                "the last checkpoint does not carry the commission's signature: the log was "
                "not closed",
            )
        if last.checkpoint.size != lines:
            self.check.fail(
                self.where(last),
                f"the final checkpoint has size {last.checkpoint.size}, but ballots.jsonl has "
                f"{lines} lines",
            )


def _final(entry: CheckpointEntry) -> bool:
    return entry.facts is not None and entry.facts.final
