"""One streaming pass over a set of logs: V4 in this process, V3 in worker processes.

The main process reads each ballots.jsonl line by line, feeds the leaf hash to the log's
``LogTracker`` (roots and checkpoints) and groups lines into batches for the workers, keeping at
most a few batches per worker in flight, so memory does not grow with the number of ballots.
Batch results come back in submission order; the main process merges their failures, marks each
elector in a compact table over the roll (to find second ballots) and adds up the ciphertexts.
"""

from __future__ import annotations

from array import array
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.pool import AsyncResult, Pool

from crypto.canonical import EncodingError
from crypto.elgamal import Ciphertext
from crypto.group import Point

from .checks_ballots import BatchResult, BatchTask, check_batch
from .checks_logs import LogTracker, log_dir
from .model import LogFacts, ManifestInfo
from .progress import Progress
from .record import Record
from .report import Check

BATCH_LINES = 16
IN_FLIGHT_PER_WORKER = 4


@dataclass
class LogJob:
    unit: str
    round: int
    candidates: list[str] | None


@dataclass
class LogState:
    job: LogJob
    facts: LogFacts
    tracker: LogTracker
    first_line: array[int]  # per roll position: the line of the elector's ballot (0: none)
    sums: list[Ciphertext] | None = None
    unreadable: list[int] = field(default_factory=list)
    unreadable_count: int = 0

    @property
    def rel(self) -> str:
        return log_dir(self.job.unit, self.job.round)


class Scanner:
    def __init__(
        self,
        record: Record,
        manifest: ManifestInfo,
        v3: Check,
        v4: Check,
        pool: Pool | None,
        jobs: int,
        progress: Progress,
    ) -> None:
        self.record = record
        self.manifest = manifest
        self.v3 = v3
        self.v4 = v4
        self.pool = pool
        self.window = max(2, jobs * IN_FLIGHT_PER_WORKER)
        self.progress = progress
        self._pending: deque[tuple[LogState, AsyncResult[BatchResult] | BatchResult]] = deque()

    def scan(self, jobs: list[LogJob]) -> dict[tuple[str, int], LogFacts]:
        states: list[LogState] = []
        for job in jobs:
            state = self._stream(job)
            states.append(state)
        while self._pending:
            self._merge_oldest()
        out: dict[tuple[str, int], LogFacts] = {}
        for state in states:
            self._finish(state)
            out[(state.job.unit, state.job.round)] = state.facts
        return out

    # -- streaming

    def _stream(self, job: LogJob) -> LogState:
        facts = LogFacts(job.unit, job.round, job.candidates)
        rel = log_dir(job.unit, job.round)
        tracker = LogTracker(rel, facts, self.v4)
        unit = self.manifest.units.get(job.unit)
        registered = unit.registered if unit is not None else 0
        state = LogState(job, facts, tracker, array("q", bytes(8 * registered)))
        tracker.prepare(self.record, self.manifest)
        self.v4.count("logs")
        self.progress.describe(f"{job.unit} round {job.round}")
        ballots = f"{rel}/ballots.jsonl"
        if not self.record.exists(ballots):
            tracker.finish()
            return state
        self.v3.count("logs")
        batch: list[tuple[int, bytes | None]] = []
        for line in self.record.iter_lines(ballots):
            tracker.add(line.leaf)
            if not line.terminated:
                tracker.unterminated = True
            batch.append((line.number, line.data))
            if len(batch) >= BATCH_LINES:
                self._submit(state, batch)
                batch = []
            self.progress.update(line.length + 1)
        if batch:
            self._submit(state, batch)
        tracker.finish()
        return state

    def _submit(self, state: LogState, lines: list[tuple[int, bytes | None]]) -> None:
        task = BatchTask(state.job.unit, state.job.round, state.job.candidates, lines)
        if self.pool is None:
            self._pending.append((state, check_batch(task)))
        else:
            self._pending.append((state, self.pool.apply_async(check_batch, (task,))))
        while len(self._pending) > self.window:
            self._merge_oldest()

    # -- merging batch results, in order

    def _merge_oldest(self) -> None:
        state, pending = self._pending.popleft()
        result = pending if isinstance(pending, BatchResult) else pending.get()
        self._merge(state, result)

    def _merge(self, state: LogState, result: BatchResult) -> None:
        merge_batch(self.v3, state, result)

    def _finish(self, state: LogState) -> None:
        finish_sums(state)


def merge_batch(v3: Check, state: LogState, result: BatchResult) -> None:
    """Fold one batch's V3 results into a log's running state (also used by the monitor)."""
    where = f"{state.rel}/ballots.jsonl"
    v3.count("ballots", result.ballots)
    v3.count("signatures", result.signatures)
    v3.count("proofs", result.proofs)
    for line, why in result.failures:
        v3.fail(f"{where}:{line}", why)
    hidden = result.failure_count - len(result.failures)
    if hidden > 0:
        v3.failure_count += hidden
    first = state.first_line
    for line, position, elector in result.voters:
        earlier = first[position]
        if earlier:
            v3.fail(
                f"{where}:{line}",
                f"a second ballot from elector {elector} in this round (the first is on "
                f"line {earlier})",
            )
        else:
            first[position] = line
    state.unreadable_count += len(result.unreadable)
    state.unreadable.extend(result.unreadable[: max(0, 5 - len(state.unreadable))])
    if result.sums is not None:
        try:
            sums = [
                Ciphertext(Point.from_bytes(a), Point.from_bytes(b)) for a, b in result.sums
            ]
        except EncodingError:  # pragma: no cover - workers send valid points
            state.unreadable_count += result.ballots
            return
        if state.sums is None:
            state.sums = sums
        elif len(sums) != len(state.sums):
            state.unreadable_count += result.ballots
        else:
            state.sums = [s + c for s, c in zip(state.sums, sums, strict=True)]


def finish_sums(state: LogState) -> None:
    """Hand a log's running sums (or why there are none) on to V5."""
    facts = state.facts
    facts.unreadable = state.unreadable_count
    if state.unreadable_count:
        lines = ", ".join(str(n) for n in state.unreadable)
        more = ", ..." if state.unreadable_count > len(state.unreadable) else ""
        facts.sums = None
        facts.unreadable_lines = f"{lines}{more}"
    elif state.sums is None:
        width = len(state.job.candidates) if state.job.candidates else 0
        facts.sums = [Ciphertext.zero() for _ in range(width)] if width else None
    else:
        facts.sums = state.sums
