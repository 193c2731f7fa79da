"""V8: the election rules applied to the verified counts; which rounds must exist."""

from __future__ import annotations

from typing import Any

from crypto.canonical import EncodingError
from crypto.decryption import decryption_factors
from crypto.elgamal import Ciphertext
from crypto.rules import (
    ELECTED,
    RUNOFF,
    VOID,
    RoundCounts,
    decide,
    decide_void,
    has_quorum,
    lot_seed,
    percent,
)

from .checks_logs import log_dir
from .model import LogFacts, ManifestInfo, RoundFacts
from .report import Check


def _tally_sums(tally: dict[str, Any] | None) -> list[Ciphertext] | None:
    try:
        return [Ciphertext.from_json(c) for c in (tally or {})["encrypted"]]
    except (KeyError, TypeError, EncodingError):
        return None


def decide_round(manifest: ManifestInfo, facts: LogFacts, rf: RoundFacts, v8: Check) -> None:
    """Apply crypto.rules.decide to one round; sets ``rf.outcome`` and ``rf.figures``."""
    where = log_dir(facts.unit, facts.round)
    unit = manifest.units.get(facts.unit)
    if unit is None:
        v8.fail(where, "the unit is not in the manifest")
        return
    final = facts.final
    took_part = facts.lines
    if not has_quorum(took_part, unit.registered):
        # void whatever the votes, decided without counts (and never decrypted: see V6)
        _decide_void(unit.registered, facts, rf, v8)
        return
    if rf.counts is None:
        v8.fail(where, "no verified counts to apply the rules to (see V6 and V7)")
        return
    if final is None:
        v8.fail(where, "no final checkpoint to seed the lot with (see V4)")
        return
    candidates = facts.candidates or list(rf.counts)
    votes = {c: rf.counts.get(c, 0) for c in candidates}
    blank = took_part - sum(votes.values())
    # the lot seed binds the decryption of the tally's encrypted sums (V5 checks those equal
    # the sums recomputed from the ballots); the recomputed ones stand in if the tally's are
    # unreadable
    sums = _tally_sums(rf.tally) or facts.sums
    if sums is None or len(sums) != len(candidates):
        v8.fail(where, "no encrypted sums to seed the lot with (see V5)")
        return
    try:
        factors = decryption_factors(sums, [votes[c] for c in candidates])
        seed = lot_seed(final.root, final.size, facts.unit, facts.round, factors)
        outcome = decide(RoundCounts(unit.registered, took_part, votes, blank), facts.round, seed)
    except ValueError as exc:
        v8.fail(where, f"the rules cannot be applied: {exc}")
        return
    rf.outcome = outcome
    rf.took_part = took_part
    rf.blank = blank
    v8.count("rounds decided")
    rf.figures = {
        "round": facts.round,
        "candidates": list(candidates),
        "took_part": took_part,
        "turnout": percent(took_part, unit.registered),
        "votes": votes,
        "blank": blank,
        "shares": outcome.shares,
        "quorum": outcome.quorum,
        "status": outcome.status,
        "winner": outcome.winner,
        "runoff": list(outcome.runoff) if outcome.runoff else None,
        "lot": list(outcome.lot) if outcome.lot else None,
        "reason": outcome.reason,
        "final_checkpoint": {"size": final.size, "root": final.root.hex()},
        "tally_hash": rf.tally_hash.hex() if rf.tally_hash is not None else None,
    }


def _decide_void(registered: int, facts: LogFacts, rf: RoundFacts, v8: Check) -> None:
    where = log_dir(facts.unit, facts.round)
    try:
        outcome = decide_void(registered, facts.lines, facts.round)
    except ValueError as exc:
        v8.fail(where, f"the rules cannot be applied: {exc}")
        return
    final = facts.final
    if final is None:
        v8.fail(where, "no final checkpoint (see V4)")
        return
    claimed = (rf.tally or {}).get("candidates")
    candidates = facts.candidates if facts.candidates is not None else claimed
    rf.outcome = outcome
    rf.took_part = facts.lines
    v8.count("rounds decided")
    rf.figures = {
        "round": facts.round,
        "candidates": list(candidates) if isinstance(candidates, list) else None,
        "took_part": facts.lines,
        "turnout": outcome.turnout,
        "votes": None,
        "blank": None,
        "shares": None,
        "quorum": False,
        "status": outcome.status,
        "winner": None,
        "runoff": None,
        "lot": None,
        "reason": outcome.reason,
        "final_checkpoint": {"size": final.size, "root": final.root.hex()},
        "tally_hash": rf.tally_hash.hex() if rf.tally_hash is not None else None,
    }


def runoff_pair(rf: RoundFacts | None) -> list[str] | None:
    """Round 2's candidates as the rules derive them from round 1 (None if no runoff)."""
    if rf is None or rf.outcome is None or rf.outcome.status != RUNOFF:
        return None
    return list(rf.outcome.runoff) if rf.outcome.runoff else None


def check_unit_rounds(
    unit: str,
    present: set[tuple[str, int]],
    rounds: dict[tuple[str, int], RoundFacts],
    round2_candidates: list[str] | None,
    v8: Check,
) -> dict[str, Any]:
    """Round 2 exists exactly when round 1 calls for a runoff, with the runoff pair. Returns the
    unit's final standing (status and winner) for the report."""
    first = rounds.get((unit, 1))
    has_second = (unit, 2) in present
    pair = runoff_pair(first)
    if first is not None and first.outcome is not None:
        status = first.outcome.status
        if status == RUNOFF and not has_second:
            v8.fail(f"units/{unit}/", f"round 1 calls for a runoff ({', '.join(pair or [])}) "
                    "but the record has no round 2")
        if status != RUNOFF and has_second:
            v8.fail(f"units/{unit}/2/", f"round 1's outcome is {status!r}: there is no runoff")
    if has_second and pair is not None:
        second = rounds.get((unit, 2))
        claimed = second.tally.get("candidates") if second and second.tally else None
        if round2_candidates != pair or (claimed is not None and claimed != pair):
            v8.fail(
                f"units/{unit}/2/",
                f"the runoff must be between {pair} (in that order), the record has "
                f"{claimed if claimed is not None else round2_candidates}",
            )
    last = rounds.get((unit, 2)) if has_second else first
    if last is None or last.outcome is None:
        return {"status": None, "winner": None}
    outcome = last.outcome
    v8.count("units")
    if outcome.status == ELECTED:
        v8.count("elected")
    elif outcome.status == VOID:
        v8.count("void rounds")
    if first is not None and first.outcome is not None and first.outcome.status == RUNOFF:
        v8.count("runoffs")
    return {"status": outcome.status, "winner": outcome.winner}
