"""A C2SP transparency-log witness (https://c2sp.org/tlog-witness): the core, without HTTP.

The witness remembers, for each log it is configured with (origin and the log's note key), the
latest checkpoint it cosigned. ``add_checkpoint`` takes a request body (``old <size>``, the
consistency proof lines, an empty line, the signed checkpoint) and, as the specification says:

- 400 if the body is malformed or the old size exceeds the checkpoint's size;
- 404 if the origin is unknown; 403 if no signature verifies against the log's key;
- 409 with the latest cosigned size (``text/x.tlog.size``) if the old size is not it;
- 409 if the sizes are equal and the roots differ (a fork: two signed roots for one size);
- 422 if the consistency proof does not verify;
- 200 with the cosignature line otherwise, after the new state is on disk (fsync'd).

Refusals other than the size conflict carry RFC 9457 problem details, as the service's do.

Checking and persisting happen under one lock, so two requests never roll the state back.

Three additions of ours, beyond the specification (410 ``log-final``, 409 ``final-behind`` and
503 ``rolled-back`` are their answers):

- **Finality.** A checkpoint whose extension lines include ``final`` ends its log (the service
  issues it when a round closes). The witness answers it with two lines: its ordinary
  cosignature and its *finality statement* (crypto/cosignature.py: its key under the name
  ``<name>/final``, over the checkpoint with the origin ``<origin> final``), the only line that
  counts toward a final's quorum. It makes that statement only after the usual checks, so only
  for a final consistent with (and not smaller than) the largest checkpoint it cosigned for the
  log: a final below that size is refused with 409 ``final-behind`` and kept as evidence (the
  log key signed both). After cosigning a final, the witness cosigns that same final again on
  request (a lost answer can be retried) and refuses everything else for the log with 410 Gone.
  It refuses to watch a log whose origin ends in `` final`` (its checkpoints would read as
  another log's finality statements).
- **Evidence.** When a checkpoint signed by the log's key contradicts the one the witness
  cosigned (same size with another root, or a consistency proof that fails), both signed
  checkpoints and the proof are written to ``<state>/evidence/`` and the answer names the file;
  at most ``MAX_EVIDENCE_PER_LOG`` files per log (the log key's holder could otherwise fill the
  disk by sending one fork again and again; later refusals say none was kept).

- **Rollback.** Restoring a witness's state from a backup or snapshot is a compromise of its
  key (the witness forgets what it cosigned and would cosign a fork): a restore must rotate the
  key. With ``key_marker`` (``witness serve`` passes the marker beside its key file) the witness
  refuses to start with a key and state that do not belong together or a state older than the
  marker, and while serving it refuses (503 ``rolled-back``, for good) once a submitted note
  carries its own valid line on a checkpoint its state does not know
  (tally_service/common/rollback.py).

State: per log, two slot files ``<state>/logs/<sha256(origin) hex>.<0|1>.json``, each the state
as JSON with a sequence number, then a line with the SHA-256 of that JSON. An update overwrites
the older slot and fdatasyncs it before the answer leaves; on start the valid slot with the
higher sequence number wins, so a write torn by a crash leaves the previous state (which is all
the witness had answered for). The first state of a log is written to a new file, fsync'd and
renamed into place, directory fsync'd, so a log's state never vanishes. One flush per answer,
not two: it is most of the answer's time (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

from crypto.canonical import EncodingError, b64_decode, b64_encode
from crypto.checkpoint import Checkpoint, CheckpointError
from crypto.cosignature import (
    FINALITY_ORIGIN_SUFFIX,
    CosignatureError,
    Cosigner,
    finality_cosignatures,
    is_final,
    read_cosigned_note,
    verify_cosignatures,
)
from crypto.merkle import verify_consistency
from crypto.note import NoteError, NoteVerifier, verify_note
from crypto.tlog_witness import (
    SIZE_CONTENT_TYPE,
    parse_add_checkpoint_body,
)
from tally_service.common.clock import posix
from tally_service.common.durable import write_durably
from tally_service.common.rollback import StateGuard, StateRollback, check_latch, latch

#: Most evidence files kept per log: the first prove the fork; the log key's holder could
#: otherwise fill the witness's disk by sending it the same fork again and again.
MAX_EVIDENCE_PER_LOG = 16


class WitnessError(Exception):
    """The witness cannot start: bad configuration or unreadable state."""


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, content type and body text."""

    status: int
    content_type: str
    body: str
    #: a short stable name of the check that refused (None when cosigned)
    check: str | None = None


@dataclass
class LogState:
    origin: str
    size: int
    root: bytes
    final: bool
    note: str
    seq: int = 0

    def to_json(self) -> str:
        return json.dumps(
            {
                "seq": self.seq,
                "origin": self.origin,
                "size": self.size,
                "root": b64_encode(self.root),
                "final": self.final,
                "note": self.note,
            },
            ensure_ascii=False,
        )


def _refuse(status: int, check: str, detail: str) -> Answer:
    """A refusal as RFC 9457 problem details, like every refusal of the service."""
    problem = {
        "type": f"/problems/witness-{check}",
        "title": check.replace("-", " ").capitalize(),
        "status": status,
        "detail": detail,
        "check": check,
    }
    return Answer(status, "application/problem+json", json.dumps(problem) + "\n", check)


class Witness:
    """The witness: its cosigner key, the logs it watches and its durable state."""

    def __init__(
        self,
        cosigner: Cosigner,
        state_dir: Path,
        logs: Mapping[str, NoteVerifier],
        clock: Callable[[], float] = posix,
        key_marker: Path | None = None,
    ) -> None:
        """``key_marker``: the marker beside the key file (rollback.py); None skips the
        key-and-state binding (tests and in-process simulations), not the other checks."""
        self.cosigner = cosigner
        self.state_dir = state_dir
        self.logs = dict(logs)
        self.clock = clock
        self._lock = threading.Lock()
        self._evidence: dict[str, int] | None = None
        (state_dir / "logs").mkdir(parents=True, exist_ok=True)
        (state_dir / "evidence").mkdir(parents=True, exist_ok=True)
        for origin in self.logs:
            if origin.endswith(FINALITY_ORIGIN_SUFFIX):
                raise WitnessError(
                    f"a witness watches no log whose origin ends in {FINALITY_ORIGIN_SUFFIX!r} "
                    f"({origin!r}): its checkpoints would read as another log's finality "
                    "statements"
                )
        self.state: dict[str, LogState] = {}
        stems = {path.name.split(".")[0] for path in (state_dir / "logs").glob("*.json")}
        for stem in sorted(stems):
            entry = _read_slots(state_dir / "logs", stem)
            if stem != self._stem(entry.origin):
                raise WitnessError(f"witness state {stem} is not named after its origin")
            self.state[entry.origin] = entry
        #: grows by one with every state update: the sum of the logs' sequence numbers
        self.generation = sum(entry.seq for entry in self.state.values())
        self.guard: StateGuard | None = None
        self.rolled_back: str | None = None
        try:
            check_latch(state_dir)
            if key_marker is not None:
                vkey = str(cosigner.public)
                self.guard = StateGuard.open(state_dir, key_marker, vkey, self.generation)
        except StateRollback as exc:
            raise WitnessError(str(exc)) from exc

    @staticmethod
    def _stem(origin: str) -> str:
        return sha256(origin.encode("utf-8")).hexdigest()

    def _persist(self, new: LogState) -> None:
        folder = self.state_dir / "logs"
        slot = folder / f"{self._stem(new.origin)}.{new.seq % 2}.json"
        text = _slot_text(new)
        if new.seq == 1:  # a new log: both slots written whole and renamed into place, so
            for number in (0, 1):  # later updates only ever overwrite durable files
                write_durably(folder / f"{self._stem(new.origin)}.{number}.json", text)
            return
        fd = os.open(slot, os.O_WRONLY)
        try:
            data = text.encode("utf-8")
            os.pwrite(fd, data, 0)
            if os.fstat(fd).st_size > len(data):  # rare: slots are padded to 4 KiB blocks
                os.ftruncate(fd, len(data))
            os.fdatasync(fd)  # overwriting blocks of the same size: no metadata to journal
        finally:
            os.close(fd)

    def latest(self, origin: str) -> LogState | None:
        return self.state.get(origin)

    def _evidence_counts(self) -> dict[str, int]:
        """How many evidence files each log has (read once from the files' ``origin:`` line)."""
        if self._evidence is None:
            counts: dict[str, int] = {}
            for path in (self.state_dir / "evidence").glob("*.txt"):
                try:
                    with open(path, encoding="utf-8", errors="replace") as text:
                        head = [text.readline() for _ in range(3)]
                except OSError:
                    continue
                if head[2].startswith("origin: "):
                    origin = head[2][len("origin: "):].rstrip("\n")
                    counts[origin] = counts.get(origin, 0) + 1
            self._evidence = counts
        return self._evidence

    def _keep_evidence(
        self, origin: str, stored: LogState, note: str, old: int, proof: list[bytes], why: str
    ) -> str:
        """Write the evidence file; what to say of it in the refusal ("kept as evidence in
        <file>", or that no more is kept for this log: MAX_EVIDENCE_PER_LOG)."""
        counts = self._evidence_counts()
        if counts.get(origin, 0) >= MAX_EVIDENCE_PER_LOG:
            return (
                f"not kept again: {MAX_EVIDENCE_PER_LOG} pieces of evidence of this log are "
                f"kept already in {self.state_dir / 'evidence'}"
            )
        counts[origin] = counts.get(origin, 0) + 1
        return f"kept as evidence in {self._write_evidence(origin, stored, note, old, proof, why)}"

    def _write_evidence(
        self, origin: str, stored: LogState, note: str, old: int, proof: list[bytes], why: str
    ) -> Path:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.clock()))
        digest = sha256(note.encode("utf-8")).hexdigest()[:16]
        number = sum(1 for _ in (self.state_dir / "evidence").iterdir()) + 1
        path = self.state_dir / "evidence" / f"{number:05d}-{stamp}-{digest}.txt"
        text = (
            f"kz-tally witness evidence\nwhy: {why}\norigin: {origin}\n\n"
            f"--- checkpoint this witness cosigned (size {stored.size})\n{stored.note}"
            f"--- checkpoint submitted, signed by the log key\n{note}"
            f"--- consistency proof submitted, from old size {old}\n"
            + "".join(b64_encode(h) + "\n" for h in proof)
        )
        write_durably(path, text)
        return path

    def add_checkpoint(self, body: bytes) -> Answer:
        """Answer one add-checkpoint request (see the module docstring)."""
        try:
            old, proof, note = parse_add_checkpoint_body(body)
        except ValueError as exc:
            return _refuse(400, "malformed", f"malformed add-checkpoint request: {exc}")
        try:
            text = _note_text(note)
            checkpoint = Checkpoint.parse(text)
        except (NoteError, CheckpointError) as exc:
            return _refuse(400, "malformed", f"malformed checkpoint: {exc}")
        verifier = self.logs.get(checkpoint.origin)
        if verifier is None:
            return _refuse(404, "unknown-log", f"this witness does not watch {checkpoint.origin!r}")
        try:
            verify_note(note, [verifier])
        except NoteError as exc:
            return _refuse(403, "signature", f"no valid signature by the log's key: {exc}")
        if old > checkpoint.size:
            return _refuse(400, "old-size", "the old size is larger than the checkpoint's size")
        with self._lock:
            return self._add_locked(old, proof, note, checkpoint)

    def _add_locked(
        self, old: int, proof: list[bytes], note: str, checkpoint: Checkpoint
    ) -> Answer:
        origin = checkpoint.origin
        stored = self.state.get(origin)
        latest_size = stored.size if stored is not None else 0
        if self.rolled_back is None:
            self.rolled_back = self._own_line_beyond(stored, note, checkpoint)
        if self.rolled_back is not None:
            return _refuse(503, "rolled-back", self.rolled_back)
        if stored is not None and stored.final:
            if checkpoint.size == stored.size and _note_text(note) == _note_text(stored.note):
                return self._cosign(stored, checkpoint)  # a retry of the final: same answer
            return _refuse(410, "log-final", f"{origin} ended with its final checkpoint")
        if stored is not None and is_final(checkpoint) and checkpoint.size < stored.size:
            where = self._keep_evidence(
                origin, stored, note, old, proof, "a final smaller than a cosigned checkpoint"
            )
            return _refuse(
                409,
                "final-behind",
                f"this witness cosigned size {stored.size} of {origin}; a final checkpoint at "
                f"size {checkpoint.size} would drop entries. Both signed checkpoints: {where}",
            )
        if old != latest_size:
            return Answer(409, SIZE_CONTENT_TYPE, f"{latest_size}\n", "old-size-conflict")
        if stored is not None and checkpoint.size == stored.size:
            if checkpoint.root != stored.root:
                where = self._keep_evidence(
                    origin, stored, note, old, proof, "two roots signed for one tree size"
                )
                return _refuse(
                    409,
                    "fork",
                    f"a different root was cosigned for size {stored.size}; "
                    f"both signed checkpoints: {where}",
                )
        elif stored is not None and not verify_consistency(
            stored.size, checkpoint.size, proof, stored.root, checkpoint.root
        ):
            where = self._keep_evidence(
                origin, stored, note, old, proof, "consistency proof does not verify"
            )
            return _refuse(
                422,
                "inconsistent",
                f"the consistency proof from size {stored.size} does not "
                f"verify; the signed checkpoints: {where}",
            )
        elif stored is None and proof:
            return _refuse(422, "inconsistent", "the proof must be empty when the old size is 0")
        seq = stored.seq + 1 if stored is not None else 1
        new = LogState(origin, checkpoint.size, checkpoint.root, is_final(checkpoint), note, seq)
        self._persist(new)
        self.state[origin] = new
        self.generation += 1
        if self.guard is not None:
            self.guard.advance(self.generation)
        return self._cosign(new, checkpoint)

    def _own_line_beyond(
        self, stored: LogState | None, note: str, checkpoint: Checkpoint
    ) -> str | None:
        """Why the state must be older than what this witness signed, if the submitted note
        shows it: a valid line of its own on a checkpoint larger than the one it remembers, or
        its finality statement on a final it does not remember (rollback.py). Latched."""
        key = self.cosigner.public
        idents = {(key.name, key.key_id), (key.finality().name, key.finality().key_id)}
        try:
            _, signatures = read_cosigned_note(note)
            if not any((sig.name, sig.key_hash) in idents for sig in signatures):
                return None  # the usual case: nothing of ours to verify
            own = verify_cosignatures(checkpoint, signatures, [key])
            final = is_final(checkpoint)
            own_final = finality_cosignatures(checkpoint, signatures, [key]) if final else []
        except CosignatureError:
            return None  # a line under our name that does not verify is not ours
        remembered = stored.size if stored is not None else -1
        beyond = bool(own or own_final) and checkpoint.size > remembered
        lost_final = bool(own_final) and stored is not None and not stored.final
        if not (beyond or lost_final):
            return None
        why = (
            f"this witness's own cosignature is on size {checkpoint.size} of "
            f"{checkpoint.origin}, but its state remembers "
            + (f"size {stored.size}" if stored is not None else "nothing of that log")
            + (" and no final" if lost_final else "")
            + ": its state was restored from an older copy, so it refuses to cosign anything. "
            "Restoring a witness's state is a compromise of its key: make a new key and a new, "
            "empty state directory"
        )
        latch(self.state_dir, why)
        return why

    def _cosign(self, stored: LogState, checkpoint: Checkpoint) -> Answer:
        """The cosignature line; for a final, then the finality statement (module docstring).
        Called only once the checkpoint passed every check and the state is on disk."""
        now = int(self.clock())
        lines = [self.cosigner.cosign(checkpoint, now).line()]
        if is_final(checkpoint):
            lines.append(self.cosigner.cosign_final(checkpoint, now).line())
        return Answer(200, "text/plain; charset=utf-8", "".join(lines))


def _slot_text(state: LogState) -> str:
    """The JSON, its SHA-256 and spaces up to a multiple of 4 KiB (so that an update of the
    same size is a plain overwrite, the cheapest durable write)."""
    body = state.to_json()
    text = body + "\n" + sha256(body.encode("utf-8")).hexdigest() + "\n"
    size = len(text.encode("utf-8"))
    return text + " " * (-size % 4096)


def _read_slots(folder: Path, stem: str) -> LogState:
    """The newest intact slot of a log's state; WitnessError if none is intact."""
    best: LogState | None = None
    problems = []
    for number in (0, 1):
        path = folder / f"{stem}.{number}.json"
        try:
            body, digest, padding = path.read_text(encoding="utf-8").split("\n")
            if padding.strip(" ") or sha256(body.encode("utf-8")).hexdigest() != digest:
                raise ValueError("checksum mismatch (a torn write?)")
            raw = json.loads(body)
            entry = LogState(
                raw["origin"],
                raw["size"],
                b64_decode(raw["root"], 32),
                raw["final"],
                raw["note"],
                raw["seq"],
            )
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError, EncodingError) as exc:
            problems.append(f"{path.name}: {exc}")
            continue
        if best is None or entry.seq > best.seq:
            best = entry
    if best is None:
        raise WitnessError(f"no intact witness state for {stem}: {'; '.join(problems)}")
    return best


def _note_text(note: str) -> str:
    from crypto.note import parse_note

    return parse_note(note).text


def read_logs_file(path: Path) -> dict[str, NoteVerifier]:
    """The logs a witness watches: one ``<origin> <log vkey>`` per line; '#' starts a comment."""
    logs: dict[str, NoteVerifier] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise WitnessError(f"cannot read the logs file {path}: {exc}") from exc
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        origin, _, vkey = line.rpartition(" ")
        try:
            logs[origin.strip()] = NoteVerifier.parse(vkey)
        except NoteError as exc:
            raise WitnessError(f"{path}:{number}: {exc}") from exc
        if not origin.strip():
            raise WitnessError(f"{path}:{number}: expected '<origin> <log vkey>'")
    if not logs:
        raise WitnessError(f"{path} lists no logs")
    return logs
