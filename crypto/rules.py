"""The election rules: quorum, the majority threshold, the runoff and the public lot.

This module is shared by the tally service and the observer's stand-alone verifier, so it is pure:
no I/O, no clock, no randomness, no floating point. Given the same counts and the same lot seed,
every implementation must reach the same ``Outcome`` byte for byte (see ``Outcome.to_json``).

Each electoral unit elects one senator. A unit's round is decided as follows.

Quorum
    A round is valid only if more than half of the registered electors took part
    (``2 * took_part > registered``). Without quorum the round is ``"void"``: it must be held
    again, there is no winner and no runoff. This applies to round 1 and round 2 alike.
    Quorum depends only on who took part, never on the votes, so a void round is decided
    without counts (``decide_void``): its tally is never decrypted, since its counts decide
    nothing and a round of a few ballots (one, say) would reveal how they voted.

Round 1
    A candidate is elected with more than half of the ballots of those who took part
    (``2 * votes > took_part``). Blank ballots count in ``took_part``, so they make the threshold
    harder to reach. At most one candidate can pass it. Otherwise the status is ``"runoff"``
    between the two candidates with most votes.

Round 2 (runoff)
    Exactly two candidates; the one with more votes is elected, with no threshold. Quorum still
    applies.

Ties and the public lot
    A tie is resolved by lot only when it changes who goes through or who wins:

    - round 1, when the candidates tied at the runoff cut-off do not all fit in the two runoff
      places (three or more tied for first, or two or more tied for second);
    - round 2, when both candidates have the same number of votes.

    Two candidates tied for first in round 1 (and nobody level with them) both go to the runoff;
    no lot is drawn. The lot orders only the tied candidates, ascending by
    ``tagged_hash("kz-tally/v1/lot", seed, candidate_id.encode("utf-8"))``; the seed is derived by
    ``lot_seed`` from the round's final signed checkpoint and the joint decryption of its tally,
    so nobody can know or steer the lot before k guardians decrypt, and anybody can redraw it
    afterwards. ``Outcome.lot`` records the tied
    candidates in the order the lot put them.

    Where candidates have equal votes but the order between them changes nothing (two tied for
    first, or ties below the runoff places), they are listed by candidate id so that the outcome
    never depends on the order in which the counts were supplied.

Decisions on points the rules leave open
    - **A single candidate** must still pass the round-1 threshold. If they do not, there is no
      second candidate to run off against, so the status is ``"no_winner"``: the unit elects
      nobody in this election and needs a new nomination (a matter for the commission, outside
      these rules). A single candidate is never put to a one-person "runoff".
    - **All ballots blank** (with quorum): nobody passes the threshold, so the rules as written
      give a runoff between the two "leading" candidates, who all have 0 votes; with three or more
      candidates the lot picks the two. We follow the rules as written rather than inventing a
      special case: blank ballots are valid participation (they count for quorum and in the
      denominator), so the round is valid and has to produce a runoff. The same holds in round 2:
      an all-blank runoff is a 0-0 tie, decided by lot. The reason sentence says so explicitly, so
      that the commission can see it; a different policy (for example declaring such a round
      failed) would have to be published in the manifest and implemented here.
    - A runoff tie, and a tie at the runoff cut-off, are decided by the public lot described above
      (the design allows "a rule published in the manifest"; this is that rule).

Percentages (turnout and shares) are exact decimal strings with two decimals, rounded half up,
computed with integers only: ``percent(1234, 2000) == "61.70"``; ``percent(0, 0) == "0.00"``.
Shares are of ``took_part`` (blank ballots included); turnout is ``took_part`` of ``registered``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from crypto.canonical import tagged_hash

LOT_TAG = "kz-tally/v1/lot"
LOT_SEED_TAG = "kz-tally/v1/lot-seed"

ELECTED = "elected"
RUNOFF = "runoff"
VOID = "void"
NO_WINNER = "no_winner"
STATUSES = (ELECTED, RUNOFF, VOID, NO_WINNER)


def _is_count(value: object) -> bool:
    """A non-negative int (bool is an int in Python, but never a count)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def percent(numerator: int, denominator: int) -> str:
    """``100 * numerator / denominator`` as a decimal string with two decimals, rounded half up.

    Integers only, so every implementation agrees: 1/8 -> "12.50", 1/3 -> "33.33",
    2/3 -> "66.67". A zero denominator (nobody took part) gives "0.00" when the numerator is also
    zero; anything else over zero is a caller's error.
    """
    if not (_is_count(numerator) and _is_count(denominator)):
        raise ValueError("percent() takes non-negative integers")
    if denominator == 0:
        if numerator != 0:
            raise ValueError("percent(): non-zero numerator over a zero denominator")
        return "0.00"
    # hundredths of a percent, rounded half up: floor(10000 * n / d + 1/2)
    hundredths = (20000 * numerator + denominator) // (2 * denominator)
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def lot_order(candidates: Sequence[str], seed: bytes) -> list[str]:
    """The public lot: the candidates sorted by their lot hash, ascending.

    The lot hash of a candidate is ``tagged_hash("kz-tally/v1/lot", seed, id.encode("utf-8"))``.
    The result is a permutation of ``candidates``; candidate ids must be distinct.
    """
    if not isinstance(seed, bytes):
        raise ValueError("the lot seed must be bytes")
    ids = list(candidates)
    if any(not isinstance(c, str) for c in ids):
        raise ValueError("candidate ids must be strings")
    if len(set(ids)) != len(ids):
        raise ValueError("candidate ids given to the lot must be distinct")

    def key(candidate: str) -> tuple[bytes, str]:
        # The id as second key only makes the order total; distinct ids cannot share a hash
        # short of a SHA-256 collision.
        return tagged_hash(LOT_TAG, seed, candidate.encode("utf-8")), candidate

    return sorted(ids, key=key)


def lot_seed(
    final_checkpoint_root: bytes,
    final_checkpoint_size: int,
    unit: str,
    round_no: int,
    decryption_factors: Sequence[bytes],
) -> bytes:
    """The seed of a unit's lot for a round, bound to the round's final signed checkpoint and
    to the joint decryption of its tally.

    ``tagged_hash("kz-tally/v1/lot-seed", root, size as 8 bytes big-endian,
    unit.encode("utf-8"), round_no as 8 bytes big-endian, factor_1, ..., factor_n)``. The root
    is the 32-byte RFC 9162 root hash of the round's log; the factors are the 32-byte encodings
    of ``M_c = b_c - count_c * G`` for each candidate's encrypted sum (a_c, b_c), in ballot
    order (``crypto.decryption.decryption_factors``).

    Why the factors: the final root alone can be ground. Whoever orders the entries or picks
    the moment of close could try many roots until the lot favours a candidate (no knowledge of
    the counts is needed: the lot orders every candidate). ``M_c = s * a_c`` is unpredictable
    to everyone until k guardians decrypt (it is a Diffie-Hellman value of the joint key), is
    the same for any k of them, and is public afterwards, so anyone recomputes the seed and
    nobody could steer it.
    """
    if not isinstance(final_checkpoint_root, bytes) or len(final_checkpoint_root) != 32:
        raise ValueError("the checkpoint root must be 32 bytes")
    if not _is_count(final_checkpoint_size) or final_checkpoint_size >= 2**64:
        raise ValueError("the checkpoint size must be an integer in [0, 2**64)")
    if not isinstance(unit, str) or not unit:
        raise ValueError("the unit must be a non-empty string")
    if round_no not in (1, 2) or isinstance(round_no, bool):
        raise ValueError("round_no must be 1 or 2")
    factors = list(decryption_factors)
    if not factors or any(not isinstance(f, bytes) or len(f) != 32 for f in factors):
        raise ValueError("the decryption factors are one 32-byte encoding per candidate")
    return tagged_hash(
        LOT_SEED_TAG,
        final_checkpoint_root,
        final_checkpoint_size.to_bytes(8, "big"),
        unit.encode("utf-8"),
        round_no.to_bytes(8, "big"),
        *factors,
    )


@dataclass(frozen=True)
class RoundCounts:
    """The counts of one round in one unit.

    ``votes`` maps candidate id to votes, in ballot order (the order is only presentational;
    the outcome does not depend on it). ``took_part`` is the number of accepted ballots,
    ``blank`` those with no candidate marked.
    """

    registered: int
    took_part: int
    votes: Mapping[str, int]
    blank: int

    def check(self) -> str | None:
        """Why these counts are inconsistent, or None if they are consistent."""
        for name in ("registered", "took_part", "blank"):
            if not _is_count(getattr(self, name)):
                return f"{name} must be a non-negative integer"
        if not isinstance(self.votes, Mapping):
            return "votes must be a mapping of candidate id to votes"
        if not self.votes:
            return "there are no candidates"
        for candidate, count in self.votes.items():
            if not isinstance(candidate, str) or not candidate:
                return "candidate ids must be non-empty strings"
            if not _is_count(count):
                return f"votes for {candidate!r} must be a non-negative integer"
        total = sum(self.votes.values()) + self.blank
        if total != self.took_part:
            return (
                f"candidate votes plus blank ballots ({total}) do not equal "
                f"the number who took part ({self.took_part})"
            )
        if self.took_part > self.registered:
            return (
                f"more electors took part ({self.took_part}) "
                f"than are registered ({self.registered})"
            )
        return None

    @property
    def quorum(self) -> bool:
        """More than half of the registered electors took part."""
        return has_quorum(self.took_part, self.registered)


@dataclass(frozen=True)
class Outcome:
    """The decision for one round in one unit."""

    status: str  # "elected" | "runoff" | "void" | "no_winner"
    quorum: bool
    winner: str | None
    runoff: tuple[str, str] | None  # in order of round-1 rank
    turnout: str  # took_part of registered, e.g. "91.70"
    shares: dict[str, str] | None  # candidate -> share of took_part; None: decided without counts
    lot: tuple[str, ...] | None  # the tied candidates, in the order the lot put them
    reason: str  # one sentence explaining the outcome

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict with stable key names (lists, not tuples)."""
        return {
            "status": self.status,
            "quorum": self.quorum,
            "winner": self.winner,
            "runoff": list(self.runoff) if self.runoff is not None else None,
            "turnout": self.turnout,
            "shares": dict(self.shares) if self.shares is not None else None,
            "lot": list(self.lot) if self.lot is not None else None,
            "reason": self.reason,
        }


def _by_votes(votes: Mapping[str, int]) -> list[str]:
    """Candidates by votes, descending; equal votes by candidate id (presentation only)."""
    return sorted(votes, key=lambda c: (-votes[c], c))


def _runoff_pair(
    votes: Mapping[str, int], seed: bytes
) -> tuple[tuple[str, str], tuple[str, ...] | None]:
    """The two candidates who go to the runoff, in rank order, and the lot if one was needed.

    Needs at least two candidates. The cut-off is the vote count of the second-ranked candidate;
    if the candidates at the cut-off do not all fit in the places left by those above it, the
    lot orders them and the first ones take the places.
    """
    ranked = _by_votes(votes)
    cutoff = votes[ranked[1]]
    above = [c for c in ranked if votes[c] > cutoff]
    at_cutoff = [c for c in ranked if votes[c] == cutoff]
    if len(above) + len(at_cutoff) <= 2:
        return (ranked[0], ranked[1]), None
    drawn = lot_order(at_cutoff, seed)
    first, second = (above + drawn)[:2]
    return (first, second), tuple(drawn)


def _names(candidates: Sequence[str]) -> str:
    """Join names: "a", "a and b", "a, b and c"."""
    names = list(candidates)
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _noun(count: int) -> str:
    return "vote" if count == 1 else "votes"


def _votes_phrase(count: int, took_part: int) -> str:
    return f"{count} {_noun(count)} of {took_part} ({percent(count, took_part)}%)"


def has_quorum(took_part: int, registered: int) -> bool:
    """More than half of the registered electors took part."""
    return 2 * took_part > registered


def _void_reason(took_part: int, registered: int) -> str:
    return (
        f"Only {took_part} of {registered} registered electors took part "
        f"({percent(took_part, registered)}%), not more than half, so there is no quorum and "
        "the round must be held again."
    )


def decide_void(registered: int, took_part: int, round_no: int) -> Outcome:
    """The outcome of a round without quorum, decided from who took part alone: such a round
    is void whatever the votes, and its tally is never decrypted, so there are no counts and no
    shares (``shares`` is None). The reason is the sentence ``decide`` gives for a void round.

    Raises ValueError if the round has quorum (use ``decide`` with its counts), for a bad round
    number, or if the figures are not counts or more took part than are registered."""
    if round_no not in (1, 2) or isinstance(round_no, bool):
        raise ValueError("round_no must be 1 or 2")
    if not (_is_count(registered) and _is_count(took_part)):
        raise ValueError("registered and took_part must be non-negative integers")
    if took_part > registered:
        raise ValueError(
            f"more electors took part ({took_part}) than are registered ({registered})"
        )
    if has_quorum(took_part, registered):
        raise ValueError("the round has quorum: it is decided from its counts")
    return Outcome(
        status=VOID,
        quorum=False,
        winner=None,
        runoff=None,
        turnout=percent(took_part, registered),
        shares=None,
        lot=None,
        reason=_void_reason(took_part, registered),
    )


def decide(counts: RoundCounts, round_no: int, lot_seed: bytes) -> Outcome:
    """Apply the election rules to one round of one unit.

    ``round_no`` is 1, or 2 for the runoff, which must have exactly two candidates. ``lot_seed``
    is the seed from ``lot_seed()``; it is used only if a tie has to be drawn. Raises ValueError
    for inconsistent counts, a bad round number or a runoff without exactly two candidates.
    """
    if round_no not in (1, 2) or isinstance(round_no, bool):
        raise ValueError("round_no must be 1 or 2")
    if not isinstance(lot_seed, bytes):
        raise ValueError("the lot seed must be bytes")
    problem = counts.check()
    if problem is not None:
        raise ValueError(f"inconsistent counts: {problem}")
    votes = dict(counts.votes)
    if round_no == 2 and len(votes) != 2:
        raise ValueError(f"a runoff has exactly two candidates, not {len(votes)}")

    took_part = counts.took_part
    turnout = percent(took_part, counts.registered)
    shares = {c: percent(v, took_part) for c, v in votes.items()}

    def outcome(
        status: str,
        reason: str,
        winner: str | None = None,
        runoff: tuple[str, str] | None = None,
        lot: tuple[str, ...] | None = None,
    ) -> Outcome:
        return Outcome(
            status=status,
            quorum=counts.quorum,
            winner=winner,
            runoff=runoff,
            turnout=turnout,
            shares=shares,
            lot=lot,
            reason=reason,
        )

    if not counts.quorum:
        return outcome(VOID, _void_reason(took_part, counts.registered))

    ranked = _by_votes(votes)
    blank_note = " (all ballots were blank)" if counts.blank == took_part else ""

    if round_no == 2:
        first, second = ranked
        if votes[first] > votes[second]:
            return outcome(
                ELECTED,
                f"{first} won the runoff with {_votes_phrase(votes[first], took_part)} "
                f"against {votes[second]} for {second}.",
                winner=first,
            )
        drawn = tuple(lot_order(ranked, lot_seed))
        return outcome(
            ELECTED,
            f"{first} and {second} tied in the runoff with {votes[first]} "
            f"{_noun(votes[first])} each{blank_note}, and the public lot elected {drawn[0]}.",
            winner=drawn[0],
            lot=drawn,
        )

    leader = ranked[0]
    if 2 * votes[leader] > took_part:
        return outcome(
            ELECTED,
            f"{leader} received {_votes_phrase(votes[leader], took_part)}, more than half "
            "of the ballots, and is elected in the first round.",
            winner=leader,
        )

    if len(votes) == 1:
        return outcome(
            NO_WINNER,
            f"The only candidate, {leader}, received {_votes_phrase(votes[leader], took_part)}, "
            "not more than half of the ballots, and with no second candidate there can be no "
            "runoff, so the unit has no winner and needs a new nomination.",
        )

    pair, drawn_lot = _runoff_pair(votes, lot_seed)
    if drawn_lot is None:
        reason = (
            f"No candidate received more than half of the {took_part} ballots{blank_note}, "
            f"so {pair[0]} ({votes[pair[0]]}) and {pair[1]} ({votes[pair[1]]}) "
            "go to a runoff."
        )
    else:
        tied = votes[drawn_lot[0]]
        reason = (
            f"No candidate received more than half of the {took_part} ballots{blank_note}; "
            f"{_names(sorted(drawn_lot))} tied with {tied} {_noun(tied)} each and the public "
            f"lot drew them in the order {', '.join(drawn_lot)}, so {pair[0]} and {pair[1]} "
            "go to a runoff."
        )
    return outcome(RUNOFF, reason, runoff=pair, lot=drawn_lot)
