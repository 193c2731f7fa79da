"""V5 (the encrypted tally is the sum of the log), V6 (threshold decryption), V7 (the counts).

V6 holds the guardians to what they did: each partial decryption is kept as its guardian signed
it, and a partial without its guardian's signature over this round's final checkpoint counts for
nothing, so nobody (the operator least) can put a decryption in a guardian's name.

A round without quorum (its final log holds not more than half of the registered electors) is
void whatever the votes, and its tally must never be decrypted: V5 checks its encrypted sums as
any other's, V6 fails if it holds any partial decryption or counts, V7 has no counts to check.
"""

from __future__ import annotations

from typing import Any

from crypto.canonical import EncodingError, hash_json
from crypto.decryption import (
    DiscreteLog,
    check_partial,
    combine,
    decryption_context,
    partial_shares,
)
from crypto.elgamal import Ciphertext
from crypto.group import Point, Scalar, base_mul
from crypto.rules import RoundCounts, has_quorum
from crypto.signed_partial import SignedPartialError, open_signed_partial

from .checks_logs import log_dir
from .model import LogFacts, ManifestInfo, RoundFacts
from .record import Record
from .report import Check

TALLY_FORMAT = "kz-tally/tally/v3"
TALLY_HASH_TAG = "kz-tally/v1/tally"
TALLY_FIELDS = frozenset(
    {
        "format",
        "election",
        "unit",
        "round",
        "candidates",
        "final_checkpoint",
        "took_part",
        "encrypted",
        "partials",
        "counts",
        "blank",
    }
)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def read_tally(record: Record, unit: str, round_no: int) -> tuple[dict[str, Any] | None, str]:
    rel = f"{log_dir(unit, round_no)}/tally.json"
    doc, error = record.read_json(rel)
    if error is not None:
        return None, error
    if not isinstance(doc, dict):
        return None, "not a JSON object"
    return doc, ""


def round_candidates_claimed(record: Record, unit: str, round_no: int) -> list[str] | None:
    """The candidate list a tally.json claims (a fallback when the rules cannot derive it)."""
    doc, _ = read_tally(record, unit, round_no)
    if doc is None:
        return None
    candidates = doc.get("candidates")
    if isinstance(candidates, list) and candidates and all(isinstance(c, str) for c in candidates):
        return list(candidates)
    return None


def _encrypted(doc: dict[str, Any]) -> list[Ciphertext] | None:
    values = doc.get("encrypted")
    if not isinstance(values, list):
        return None
    try:
        return [Ciphertext.from_json(v) for v in values]
    except EncodingError:
        return None


def check_sum(
    record: Record, manifest: ManifestInfo, facts: LogFacts, v5: Check
) -> RoundFacts:
    """V5 for one round; reads tally.json and returns the round's facts for V6-V9."""
    unit, round_no = facts.unit, facts.round
    rel = f"{log_dir(unit, round_no)}/tally.json"
    rf = RoundFacts(unit, round_no, took_part=facts.lines)
    doc, error = read_tally(record, unit, round_no)
    if doc is None:
        v5.fail(rel, error)
        return rf
    rf.tally = doc
    try:
        rf.tally_hash = hash_json(TALLY_HASH_TAG, doc)
    except EncodingError as exc:
        v5.fail(rel, f"cannot be hashed: {exc}")
    v5.count("tallies")
    if set(doc) != TALLY_FIELDS:
        missing = sorted(TALLY_FIELDS - set(doc))
        extra = sorted(set(doc) - TALLY_FIELDS)
        v5.fail(rel, f"fields: missing {missing}, unexpected {extra}")
    if doc.get("format") != TALLY_FORMAT:
        v5.fail(rel, f"format is not {TALLY_FORMAT!r}")
    if doc.get("election") != manifest.hash.hex():
        v5.fail(rel, "election is not this manifest's hash")
    if doc.get("unit") != unit or doc.get("round") != round_no:
        v5.fail(rel, f"names unit {doc.get('unit')!r} round {doc.get('round')!r}")
    if facts.candidates is not None and doc.get("candidates") != facts.candidates:
        v5.fail(rel, f"candidates {doc.get('candidates')!r}, the round's are {facts.candidates}")
    if doc.get("took_part") != facts.lines:
        v5.fail(rel, f"took_part is {doc.get('took_part')!r}, the log has {facts.lines} ballots")
    if facts.final is None:
        v5.fail(rel, "the log has no valid final checkpoint to compare with (see V4)")
    else:
        expected = {"size": facts.final.size, "root": facts.final.root.hex()}
        if doc.get("final_checkpoint") != expected:
            v5.fail(
                rel,
                f"final_checkpoint {doc.get('final_checkpoint')!r} is not the log's final "
                f"checkpoint {expected}",
            )
    claimed = _encrypted(doc)
    if claimed is None:
        v5.fail(rel, "encrypted is not a list of ciphertexts {a, b}")
    elif facts.sums is None:
        if facts.unreadable:
            v5.fail(
                rel,
                f"cannot recompute the sum: {facts.unreadable} ballot(s) without readable "
                f"ciphertexts (lines {facts.unreadable_lines})",
            )
        else:
            v5.fail(rel, "cannot recompute the sum: the round's candidates are unknown")
    elif len(claimed) != len(facts.sums):
        v5.fail(rel, f"{len(claimed)} encrypted sums for {len(facts.sums)} candidates")
    else:
        names = facts.candidates or [f"#{i + 1}" for i in range(len(claimed))]
        for i, (got, want) in enumerate(zip(claimed, facts.sums, strict=True)):
            if got != want:
                v5.fail(
                    f"{rel} encrypted[{i}]",
                    f"is not the sum of the {facts.lines} ballots' ciphertexts for {names[i]}",
                )
        v5.count("ballots summed", facts.lines)
    return rf


def without_quorum(manifest: ManifestInfo, facts: LogFacts) -> bool:
    """The round's log holds not more than half of the unit's registered electors: the round
    is void whatever the votes and is never decrypted."""
    unit = manifest.units.get(facts.unit)
    return unit is not None and not has_quorum(facts.lines, unit.registered)


DECRYPTED_VOID = "a round without quorum was decrypted: its ballots' secrecy was put at risk"


def check_decryption(manifest: ManifestInfo, facts: LogFacts, rf: RoundFacts, v6: Check) -> None:
    """V6 for one round: sets ``rf.counts`` to the decrypted counts when possible."""
    unit, round_no = facts.unit, facts.round
    rel = f"{log_dir(unit, round_no)}/tally.json"
    doc = rf.tally
    if doc is None:
        v6.fail(rel, "not checked: no readable tally.json (see V5)")
        return
    if without_quorum(manifest, facts):
        held = [k for k in ("partials", "counts", "blank") if doc.get(k) not in ([], None)]
        if held:
            v6.fail(f"{rel} {', '.join(held)}", f"{DECRYPTED_VOID} ({facts.lines} ballots)")
        else:
            v6.count("not decrypted (no quorum)")
        return
    cts = _encrypted(doc)
    candidates = doc.get("candidates")
    if cts is None or not isinstance(candidates, list) or len(candidates) != len(cts):
        v6.fail(rel, "not checked: the encrypted sums or the candidates are unreadable (see V5)")
        return
    final = facts.final
    if final is None:
        v6.fail(rel, "not checked: the log has no valid final checkpoint (see V4)")
        return
    # the partials must have been made for this very final checkpoint (origin, size, root)
    context = decryption_context(
        manifest.hash, unit, round_no, final.origin, final.size, final.root
    )
    partials = doc.get("partials")
    if not isinstance(partials, list):
        v6.fail(f"{rel} partials", "not a list")
        return
    valid: dict[int, list[Point]] = {}
    signed_final = {"size": final.size, "root": final.root.hex()}
    for i, signed in enumerate(partials):
        where = f"{rel} partials[{i}]"
        # each partial is kept as its guardian signed it (crypto/signed_partial.py): the
        # signature by that guardian's identity key in the sealed manifest, over this election,
        # unit, round and final checkpoint, and over the very values combined below
        try:
            guardian, partial = open_signed_partial(
                signed, manifest.guardian_keys, manifest.hash.hex(), unit, round_no, signed_final
            )
        except SignedPartialError as exc:
            v6.fail(where, str(exc))
            continue
        v6.count("guardian signatures")
        if guardian not in manifest.public_shares:
            v6.fail(where, f"names no guardian of the key ceremony ({guardian!r})")
            continue
        if guardian in valid:
            v6.fail(where, f"a second partial decryption from guardian {guardian}")
            continue
        reason = check_partial(partial, manifest.public_shares[guardian], cts, context)
        v6.count("decryption proofs", len(cts))
        if reason is not None:
            v6.fail(where, reason)
            continue
        try:
            valid[guardian] = partial_shares(partial)
        except EncodingError as exc:  # pragma: no cover - check_partial read them already
            v6.fail(where, str(exc))
    v6.count("rounds")
    if len(valid) < manifest.k:
        v6.fail(
            f"{rel} partials",
            f"{len(valid)} valid partial decryption(s) from distinct guardians; k = {manifest.k} "
            "are needed",
        )
        return
    points = combine(valid, cts, manifest.k)
    claimed = doc.get("counts")
    claimed = claimed if isinstance(claimed, dict) else {}
    decrypted: dict[str, int] = {}
    table: DiscreteLog | None = None
    bound = max(facts.lines, manifest.units[unit].registered if unit in manifest.units else 0)
    for candidate, point in zip(candidates, points, strict=True):
        said = claimed.get(candidate)
        if (
            isinstance(said, int)
            and _is_count(said)
            and said <= bound
            and base_mul(Scalar.from_int(said)) == point
        ):
            decrypted[str(candidate)] = said
            continue
        if table is None:
            table = DiscreteLog(bound)
        try:
            actual = table.solve(point)
        except ValueError:
            v6.fail(
                f"{rel} counts.{candidate}",
                f"the combined decryption is no count from 0 to {bound}; the tally says {said!r}",
            )
            continue
        decrypted[str(candidate)] = actual
        v6.fail(
            f"{rel} counts.{candidate}",
            f"the tally says {said!r}, the Lagrange combination of the partial decryptions "
            f"gives {actual}",
        )
    if len(decrypted) == len(candidates):
        rf.counts = decrypted


#: The most text of a tally's claimed candidates kept past its round's checks (V8 compares a
#: runoff's with the pair round 1 calls for): far more than any honest list of codes.
MAX_KEPT_CANDIDATES = 64 * 1024
UNKEPT = "(not kept: a list of candidates too long to be the round's)"


def release_tally(rf: RoundFacts) -> None:
    """After a round's V5-V8, keep of its parsed tally only the candidates it claims: the rest
    is checked, and a record padding every round's tally up to the per-document bound must not
    make the verifier hold them all at once (one round's at a time)."""
    if rf.tally is None:
        return
    claimed = rf.tally.get("candidates")
    small = (
        claimed is None
        or isinstance(claimed, (bool, int, float))
        or (isinstance(claimed, str) and len(claimed) <= MAX_KEPT_CANDIDATES)
        or (
            isinstance(claimed, list)
            and len(claimed) <= MAX_KEPT_CANDIDATES
            and all(isinstance(c, str) for c in claimed)
            and sum(len(c) for c in claimed) <= MAX_KEPT_CANDIDATES
        )
    )
    kept: Any = claimed if small else [UNKEPT]  # as unequal to any pair as what it stands for
    rf.tally = {"candidates": kept}


def check_counts(manifest: ManifestInfo, facts: LogFacts, rf: RoundFacts, v7: Check) -> None:
    """V7 for one round: the tally's counts add up and fit the roll."""
    rel = f"{log_dir(facts.unit, facts.round)}/tally.json"
    doc = rf.tally
    if doc is None:
        v7.fail(rel, "not checked: no readable tally.json (see V5)")
        return
    if without_quorum(manifest, facts):
        v7.count("rounds without quorum (no counts)")  # V6 fails any counts it holds
        return
    counts, blank, took_part = doc.get("counts"), doc.get("blank"), doc.get("took_part")
    candidates = doc.get("candidates")
    if not isinstance(counts, dict):
        v7.fail(f"{rel} counts", "not an object of candidate -> votes")
        return
    if isinstance(candidates, list) and list(counts) != candidates:
        v7.fail(
            f"{rel} counts", f"counts for {list(counts)}, the round's candidates are {candidates}"
        )
    unit = manifest.units.get(facts.unit)
    registered = unit.registered if unit is not None else 0
    if not (_is_count(blank) and _is_count(took_part)):
        v7.fail(rel, "blank and took_part must be non-negative integers")
        return
    assert isinstance(blank, int) and isinstance(took_part, int)
    problem = RoundCounts(registered, took_part, counts, blank).check()
    if problem is not None:
        v7.fail(rel, problem)
    v7.count("rounds")
    v7.count("ballots counted", took_part)
    if rf.counts is None and problem is None:
        rf.counts = {str(c): int(v) for c, v in counts.items()}
