"""V3, the per-ballot part: what a worker process checks for each line of a log.

A worker receives a batch of lines (their bytes and line numbers) and returns, for the batch:
the failures, the roll position of each ballot's elector (the main process keeps a compact
per-roll table to find second ballots), and the component-wise sum of the batch's ciphertexts
(for V5). Nothing here keeps anything between batches but the election's public context.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crypto.ballot import ballot_ciphertexts, check_ballot, verify_ballot_signature
from crypto.canonical import EncodingError, canonical_json
from crypto.elgamal import Ciphertext
from crypto.group import Point
from crypto.signing import VerifyKey
from schemas.ballot import SignedBallotSchema
from schemas.strict_json import JSONProblem, strict_loads

from .report import MAX_LISTED
from .schema import schema_problem


@dataclass(frozen=True)
class ElectionContext:
    """The public facts every worker needs, sent once when the worker starts."""

    manifest_hash: bytes
    election_key: bytes | None
    rolls: dict[str, dict[str, tuple[int, str]]]  # unit -> elector -> (roll position, key hex)


@dataclass(frozen=True)
class BatchTask:
    unit: str
    round: int
    candidates: list[str] | None
    lines: list[tuple[int, bytes | None]]  # (1-based line number, bytes or None if too long)


@dataclass
class BatchResult:
    failures: list[tuple[int, str]] = field(default_factory=list)  # (line, why), capped
    failure_count: int = 0
    voters: list[tuple[int, int, str]] = field(default_factory=list)  # (line, roll pos, id)
    sums: list[tuple[bytes, bytes]] | None = None  # component-wise sum of readable ballots
    unreadable: list[int] = field(default_factory=list)  # lines without readable ciphertexts
    ballots: int = 0
    proofs: int = 0
    signatures: int = 0

    def fail(self, line: int, why: str) -> None:
        self.failure_count += 1
        if len(self.failures) <= MAX_LISTED:
            self.failures.append((line, why))


_CONTEXT: ElectionContext | None = None
_KEY: Point | None = None
_SCHEMA: SignedBallotSchema | None = None


def init_worker(context: ElectionContext) -> None:
    """Pool initializer (also called once in-process when running without a pool)."""
    global _CONTEXT, _KEY, _SCHEMA
    _CONTEXT = context
    _KEY = None
    if context.election_key is not None:
        try:
            _KEY = Point.from_bytes(context.election_key)
        except EncodingError:
            _KEY = None
    _SCHEMA = SignedBallotSchema()


def check_batch(task: BatchTask) -> BatchResult:
    """Check every ballot of a batch (runs in a worker process)."""
    assert _CONTEXT is not None and _SCHEMA is not None, "init_worker was not called"
    result = BatchResult()
    sums: list[Ciphertext] | None = None
    for number, data in task.lines:
        result.ballots += 1
        try:
            cts = _check_one(result, task, number, data)
        except Exception as exc:  # a crash on one ballot must not lose the others
            result.fail(number, f"the ballot could not be checked ({type(exc).__name__}: {exc})")
            cts = None
        if cts is None:
            result.unreadable.append(number)
            continue
        if sums is None:
            sums = cts
        elif len(cts) != len(sums):
            result.unreadable.append(number)
        else:
            sums = [s + c for s, c in zip(sums, cts, strict=True)]
    if sums is not None:
        result.sums = [(s.a.to_bytes(), s.b.to_bytes()) for s in sums]
    return result


def _check_one(
    result: BatchResult, task: BatchTask, number: int, data: bytes | None
) -> list[Ciphertext] | None:
    """Check one line and record at most one failure for it, naming every reason; return its
    ciphertexts for the sum (None if unreadable)."""
    reasons: list[str] = []
    ballot: dict[str, Any] | None = None
    cts: list[Ciphertext] | None = None
    if data is None:
        reasons.append("the line is longer than 1 MiB: not a ballot")
    else:
        try:
            parsed = strict_loads(data)
        except JSONProblem as exc:
            reasons.append(f"not a JSON ballot ({exc})")
        else:
            if isinstance(parsed, dict):
                ballot = parsed
            else:
                reasons.append("not a JSON object")
    if ballot is not None and data is not None:
        cts = _ciphertexts(ballot, task.candidates)
        reasons.extend(_ballot_reasons(result, task, number, data, ballot))
    if reasons:
        elector = ballot.get("elector") if ballot is not None else None
        who = f"elector {elector}: " if isinstance(elector, str) else ""
        result.fail(number, who + "; ".join(reasons))
    return cts


def _ballot_reasons(
    result: BatchResult, task: BatchTask, number: int, data: bytes, ballot: dict[str, Any]
) -> list[str]:
    assert _CONTEXT is not None and _SCHEMA is not None
    reasons: list[str] = []
    try:
        if canonical_json(ballot) != data:
            reasons.append("the line is not the RFC 8785 canonical form of its own content")
    except EncodingError as exc:
        reasons.append(f"not canonicalisable JSON ({exc})")
    problem = schema_problem(_SCHEMA, ballot)
    if problem is not None:
        reasons.append(problem)
    bound = True  # the ballot claims this election, unit and round
    if ballot.get("election") != _CONTEXT.manifest_hash.hex():
        reasons.append("the ballot names another election (not this manifest's hash)")
        bound = False
    if ballot.get("unit") != task.unit:
        reasons.append(f"the ballot is for unit {ballot.get('unit')!r}, not {task.unit}")
        bound = False
    if ballot.get("round") != task.round or isinstance(ballot.get("round"), bool):
        reasons.append(f"the ballot is for round {ballot.get('round')!r}, not {task.round}")
        bound = False
    elector = ballot.get("elector")
    if not isinstance(elector, str):
        reasons.append("the ballot names no elector")
        return reasons
    entry = _CONTEXT.rolls.get(task.unit, {}).get(elector)
    if entry is None:
        other = next((u for u, r in _CONTEXT.rolls.items() if elector in r), None)
        where = f" (they are on the roll of {other})" if other else ""
        reasons.append(f"not on the roll of unit {task.unit}{where}")
        return reasons
    position, key_hex = entry
    result.voters.append((number, position, elector))

    result.signatures += 1
    try:
        key = VerifyKey.from_hex(key_hex)
    except EncodingError:
        reasons.append("the roll key is not a valid Ed25519 key (see V1)")
    else:
        if not verify_ballot_signature(ballot, key):
            reasons.append("the signature does not verify with the elector's roll key")

    if not bound:
        reasons.append("proofs not checked: they are bound to the election, unit and round")
        return reasons
    if task.candidates is None:
        reasons.append("proofs not checked: the round's candidates are unknown")
        return reasons
    if _KEY is None:
        reasons.append("proofs not checked: the manifest has no valid election key")
        return reasons
    result.proofs += len(task.candidates) + 1
    try:
        reason = check_ballot(
            _CONTEXT.manifest_hash,
            task.unit,
            task.round,
            elector,
            task.candidates,
            ballot,
            _KEY,
        )
    except ValueError as exc:  # malformed parameters on our side (e.g. empty candidates)
        reason = f"could not be checked: {exc}"
    if reason is not None:
        reasons.append(reason)
    return reasons


def _ciphertexts(ballot: dict[str, Any], candidates: list[str] | None) -> list[Ciphertext] | None:
    try:
        cts = ballot_ciphertexts(ballot)
    except (EncodingError, KeyError, TypeError):
        return None
    if not cts or (candidates is not None and len(cts) != len(candidates)):
        return None
    return cts
