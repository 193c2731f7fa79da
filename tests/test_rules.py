"""Tests of crypto.rules: quorum, majority threshold, runoff, public lot and percentages."""

from __future__ import annotations

import hashlib
import json
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.canonical import canonical_json
from crypto.rules import (
    ELECTED,
    NO_WINNER,
    RUNOFF,
    STATUSES,
    VOID,
    Outcome,
    RoundCounts,
    decide,
    decide_void,
    lot_order,
    lot_seed,
    percent,
)

SEED = b"\x01" * 32
OTHER_SEED = b"\x02" * 32


def counts(votes: dict[str, int], blank: int = 0, registered: int | None = None) -> RoundCounts:
    """Consistent counts; registered defaults to exactly the number who took part."""
    took_part = sum(votes.values()) + blank
    return RoundCounts(
        registered=took_part if registered is None else registered,
        took_part=took_part,
        votes=votes,
        blank=blank,
    )


def independent_tagged_hash(tag: str, *parts: bytes) -> bytes:
    """The framing of crypto.canonical.tagged_hash, written out again to pin the format."""
    data = b"".join(len(p).to_bytes(8, "big") + p for p in (tag.encode("ascii"), *parts))
    return hashlib.sha256(data).digest()


def lot_hash(seed: bytes, candidate: str) -> bytes:
    return independent_tagged_hash("kz-tally/v1/lot", seed, candidate.encode("utf-8"))


def seeds_that_disagree(candidates: list[str]) -> tuple[bytes, bytes]:
    """Two seeds for which the lot puts a different candidate first."""
    first = lot_order(candidates, b"seed-0")[0]
    for i in range(1, 200):
        seed = f"seed-{i}".encode()
        if lot_order(candidates, seed)[0] != first:
            return b"seed-0", seed
    raise AssertionError("no seed changed the lot")  # pragma: no cover


# --- percent ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (1234, 2000, "61.70"),
        (1, 8, "12.50"),
        (1, 3, "33.33"),
        (2, 3, "66.67"),
        (0, 0, "0.00"),
        (0, 7, "0.00"),
        (7, 7, "100.00"),
        (1, 2, "50.00"),
        (1, 32, "3.13"),  # 3.125: half up, not half to even
        (3, 32, "9.38"),  # 9.375
        (1, 64, "1.56"),  # 1.5625: below the half
        (1, 20000, "0.01"),  # 0.005 exactly: half up
        (1, 20001, "0.00"),  # just below 0.005
        (1, 6, "16.67"),
        (5, 6, "83.33"),
        (917, 1000, "91.70"),
    ],
)
def test_percent_rounding_half_up(numerator: int, denominator: int, expected: str) -> None:
    assert percent(numerator, denominator) == expected


@pytest.mark.parametrize(("numerator", "denominator"), [(-1, 3), (1, -3), (1, 0), (True, 2)])
def test_percent_refuses_bad_input(numerator: int, denominator: int) -> None:
    with pytest.raises(ValueError):
        percent(numerator, denominator)


def test_percent_uses_no_floats() -> None:
    # Python's float rounding is half-to-even on binary values: it gives 3.12 for 1/32.
    assert f"{round(100 * 1 / 32, 2):.2f}" == "3.12"
    assert percent(1, 32) == "3.13"
    # Just below a half-hundredth (0.005 - 5e-18 %) and exactly on it, with huge integers.
    assert percent(10**16 - 1, 2 * 10**20) == "0.00"
    assert percent(10**16, 2 * 10**20) == "0.01"
    big = 10**30
    assert percent(big + 1, 2 * big) == "50.00"
    assert percent(big // 8, big) == "12.50"


@given(st.integers(0, 10**6), st.integers(1, 10**6))
def test_percent_matches_decimal_oracle(numerator: int, denominator: int) -> None:
    with localcontext() as ctx:
        ctx.prec = 60
        exact = Decimal(100 * numerator) / Decimal(denominator)
        expected = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert percent(numerator, denominator) == f"{expected:.2f}"


# --- counts consistency ----------------------------------------------------------------------


def test_consistent_counts_pass_check() -> None:
    assert RoundCounts(registered=10, took_part=8, votes={"a": 5, "b": 2}, blank=1).check() is None


@pytest.mark.parametrize(
    ("c", "fragment"),
    [
        (RoundCounts(10, 8, {"a": 5, "b": 2}, 0), "do not equal"),  # 7 != 8
        (RoundCounts(10, 8, {"a": 5, "b": 2}, 2), "do not equal"),  # 9 != 8
        (RoundCounts(7, 8, {"a": 6, "b": 2}, 0), "more electors took part"),
        (RoundCounts(10, 8, {"a": 9, "b": -1}, 0), "non-negative"),
        (RoundCounts(10, 8, {"a": 9}, -1), "blank"),
        (RoundCounts(-1, 0, {"a": 0}, 0), "registered"),
        (RoundCounts(10, -1, {"a": 0}, -1), "took_part"),
        (RoundCounts(10, 0, {}, 0), "no candidates"),
        (RoundCounts(10, 1, {"": 1}, 0), "non-empty"),
        (RoundCounts(10, 1, {"a": True}, 0), "non-negative integer"),
        (RoundCounts(10, 1, {"a": 1.0}, 0), "non-negative integer"),  # type: ignore[dict-item]
    ],
)
def test_counts_that_do_not_add_up_are_refused(c: RoundCounts, fragment: str) -> None:
    reason = c.check()
    assert reason is not None and fragment in reason
    with pytest.raises(ValueError, match="inconsistent counts"):
        decide(c, 1, SEED)


# --- quorum ----------------------------------------------------------------------------------


def test_no_quorum_by_one_elector() -> None:
    # registered 100: 50 is exactly half, not more than half -> void, even with a unanimous vote
    out = decide(counts({"a": 50, "b": 0}, registered=100), 1, SEED)
    assert out.status == VOID
    assert out.quorum is False
    assert out.winner is None and out.runoff is None and out.lot is None
    assert out.turnout == "50.00"
    assert "held again" in out.reason


def test_quorum_met_with_one_more_elector() -> None:
    out = decide(counts({"a": 51, "b": 0}, registered=100), 1, SEED)
    assert out.quorum is True
    assert out.status == ELECTED and out.winner == "a"
    assert out.turnout == "51.00"


def test_quorum_with_odd_registered_needs_51_of_101() -> None:
    void = decide(counts({"a": 50}, registered=101), 1, SEED)
    assert void.status == VOID and not void.quorum
    valid = decide(counts({"a": 51}, registered=101), 1, SEED)
    assert valid.quorum and valid.status == ELECTED
    assert valid.turnout == "50.50"


def test_nobody_took_part_is_void() -> None:
    out = decide(counts({"a": 0, "b": 0}, registered=30), 1, SEED)
    assert out.status == VOID
    assert out.turnout == "0.00"
    assert out.shares == {"a": "0.00", "b": "0.00"}


def test_empty_roll_is_void() -> None:
    out = decide(RoundCounts(0, 0, {"a": 0, "b": 0}, 0), 1, SEED)
    assert out.status == VOID and out.turnout == "0.00"


def test_runoff_without_quorum_is_void() -> None:
    out = decide(counts({"a": 30, "b": 10}, registered=80), 2, SEED)
    assert out.status == VOID and out.winner is None and not out.quorum


def test_void_tie_draws_no_lot() -> None:
    out = decide(counts({"a": 10, "b": 10, "c": 10}, registered=100), 1, SEED)
    assert out.status == VOID and out.lot is None


def test_void_is_decided_without_counts_as_decide_would() -> None:
    for took_part, registered, round_no in ((1, 12, 1), (50, 100, 2), (0, 0, 1), (0, 30, 1)):
        out = decide_void(registered, took_part, round_no)
        same = decide(counts({"a": took_part, "b": 0}, registered=registered), round_no, SEED)
        assert out.status == VOID and not out.quorum and out.shares is None
        assert (out.winner, out.runoff, out.lot) == (None, None, None)
        assert (out.turnout, out.reason) == (same.turnout, same.reason)
        assert out.to_json()["shares"] is None


@pytest.mark.parametrize(
    ("registered", "took_part", "round_no", "why"),
    [(100, 51, 1, "has quorum"), (10, 11, 1, "more electors"), (10, 2, 3, "round_no"),
     (10, -1, 1, "non-negative"), (10, True, 1, "non-negative")],
)
def test_decide_void_refuses_a_round_it_cannot_call_void(
    registered: int, took_part: int, round_no: int, why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        decide_void(registered, took_part, round_no)


# --- round 1 threshold -----------------------------------------------------------------------


def test_exactly_half_is_not_elected_and_goes_to_runoff() -> None:
    out = decide(counts({"a": 50, "b": 30, "c": 20}), 1, SEED)
    assert out.status == RUNOFF
    assert out.winner is None
    assert out.runoff == ("a", "b")
    assert out.lot is None
    assert out.shares == {"a": "50.00", "b": "30.00", "c": "20.00"}


def test_half_plus_one_vote_is_elected() -> None:
    out = decide(counts({"a": 51, "b": 30, "c": 19}), 1, SEED)
    assert out.status == ELECTED
    assert out.winner == "a"
    assert out.runoff is None and out.lot is None
    assert out.shares["a"] == "51.00"
    assert "more than half" in out.reason


def test_exactly_half_with_two_candidates_goes_to_runoff_between_them() -> None:
    out = decide(counts({"a": 50, "b": 50}), 1, SEED)
    assert out.status == RUNOFF and out.runoff == ("a", "b") and out.lot is None


def test_blank_ballots_count_in_the_denominator() -> None:
    # 50 of 99 would be a majority; one blank ballot makes it exactly half of 100
    assert decide(counts({"a": 50, "b": 49}), 1, SEED).status == ELECTED
    out = decide(counts({"a": 50, "b": 49}, blank=1), 1, SEED)
    assert out.status == RUNOFF and out.runoff == ("a", "b")


def test_odd_took_part_threshold() -> None:
    # took part 101: 51 is more than half, 50 is not
    assert decide(counts({"a": 51, "b": 50}), 1, SEED).winner == "a"
    assert decide(counts({"a": 50, "b": 50}, blank=1), 1, SEED).status == RUNOFF


def test_realistic_unit() -> None:
    # a unit of the size of the 2023 Senate election's: a few hundred maslikhat deputies
    out = decide(counts({"c1": 120, "c2": 160, "c3": 30}, blank=5, registered=330), 1, SEED)
    assert out.status == ELECTED and out.winner == "c2"
    assert out.turnout == "95.45"
    assert out.shares == {"c1": "38.10", "c2": "50.79", "c3": "9.52"}


# --- single candidate ------------------------------------------------------------------------


def test_single_candidate_passes() -> None:
    out = decide(counts({"a": 60}, blank=40), 1, SEED)
    assert out.status == ELECTED and out.winner == "a"


def test_single_candidate_fails_with_exactly_half() -> None:
    out = decide(counts({"a": 50}, blank=50), 1, SEED)
    assert out.status == NO_WINNER
    assert out.quorum
    assert out.winner is None and out.runoff is None and out.lot is None
    assert "no runoff" in out.reason or "can be no runoff" in out.reason


def test_single_candidate_all_blank_has_no_winner() -> None:
    out = decide(counts({"a": 0}, blank=10), 1, SEED)
    assert out.status == NO_WINNER and out.shares == {"a": "0.00"}


def test_single_candidate_without_quorum_is_void_not_no_winner() -> None:
    assert decide(counts({"a": 5}, registered=10), 1, SEED).status == VOID


# --- all blank -------------------------------------------------------------------------------


def test_all_blank_with_three_candidates_runoff_by_lot() -> None:
    out = decide(counts({"a": 0, "b": 0, "c": 0}, blank=20), 1, SEED)
    drawn = lot_order(["a", "b", "c"], SEED)
    assert out.status == RUNOFF
    assert out.lot == tuple(drawn)
    assert out.runoff == (drawn[0], drawn[1])
    assert "all ballots were blank" in out.reason
    assert out.shares == {"a": "0.00", "b": "0.00", "c": "0.00"}


def test_all_blank_with_two_candidates_needs_no_lot() -> None:
    out = decide(counts({"b": 0, "a": 0}, blank=20), 1, SEED)
    assert out.status == RUNOFF and out.runoff == ("a", "b") and out.lot is None


def test_all_blank_runoff_is_decided_by_lot() -> None:
    out = decide(counts({"a": 0, "b": 0}, blank=20), 2, SEED)
    assert out.status == ELECTED
    assert out.winner == lot_order(["a", "b"], SEED)[0]
    assert out.lot == tuple(lot_order(["a", "b"], SEED))
    assert "all ballots were blank" in out.reason


# --- ties in round 1 -------------------------------------------------------------------------


def test_two_tied_for_first_both_go_to_runoff_without_lot() -> None:
    out = decide(counts({"b": 40, "a": 40, "c": 20}), 1, SEED)
    assert out.status == RUNOFF
    assert out.runoff == ("a", "b")  # equal rank: listed by candidate id
    assert out.lot is None


def test_three_tied_for_first_lot_picks_two() -> None:
    votes = {"a": 30, "b": 30, "c": 30, "d": 5}
    out = decide(counts(votes, blank=5), 1, SEED)
    drawn = lot_order(["a", "b", "c"], SEED)
    assert out.status == RUNOFF
    assert out.lot == tuple(drawn)
    assert out.runoff == (drawn[0], drawn[1])
    assert "d" not in out.lot
    assert "lot" in out.reason


def test_tie_for_second_place_is_drawn() -> None:
    out = decide(counts({"a": 40, "b": 25, "c": 25, "d": 10}), 1, SEED)
    drawn = lot_order(["b", "c"], SEED)
    assert out.status == RUNOFF
    assert out.runoff == ("a", drawn[0])  # the leader is not reordered by the lot
    assert out.lot == tuple(drawn)


def test_three_way_tie_for_second_place_is_drawn() -> None:
    out = decide(counts({"a": 40, "b": 20, "c": 20, "d": 20}), 1, SEED)
    drawn = lot_order(["b", "c", "d"], SEED)
    assert out.runoff == ("a", drawn[0])
    assert out.lot == tuple(drawn)


def test_tie_below_the_runoff_places_draws_no_lot() -> None:
    out = decide(counts({"a": 40, "b": 30, "c": 15, "d": 15}), 1, SEED)
    assert out.runoff == ("a", "b") and out.lot is None


def test_runoff_order_is_round_one_rank() -> None:
    out = decide(counts({"a": 10, "b": 45, "c": 30}, blank=15), 1, SEED)
    assert out.runoff == ("b", "c")


def test_round_one_lot_changes_with_the_seed() -> None:
    candidates = ["a", "b", "c"]
    s1, s2 = seeds_that_disagree(candidates)
    votes = {"a": 10, "b": 10, "c": 10}
    out1 = decide(counts(votes), 1, s1)
    out2 = decide(counts(votes), 1, s2)
    assert out1.lot != out2.lot
    assert out1 == decide(counts(votes), 1, s1)  # reproducible


# --- round 2 ---------------------------------------------------------------------------------


def test_runoff_decided_by_most_votes_without_threshold() -> None:
    # 35 of 100 is far from half, but in the runoff most votes wins
    out = decide(counts({"a": 30, "b": 35}, blank=35), 2, SEED)
    assert out.status == ELECTED
    assert out.winner == "b"
    assert out.runoff is None and out.lot is None
    assert out.shares == {"a": "30.00", "b": "35.00"}
    assert "runoff" in out.reason


def test_runoff_won_by_a_single_vote() -> None:
    out = decide(counts({"a": 41, "b": 40}, registered=100), 2, SEED)
    assert out.winner == "a" and out.lot is None


def test_runoff_tie_is_decided_by_lot() -> None:
    votes = {"a": 40, "b": 40}
    out = decide(counts(votes, blank=3), 2, SEED)
    drawn = lot_order(["a", "b"], SEED)
    assert out.status == ELECTED
    assert out.winner == drawn[0]
    assert out.lot == tuple(drawn)
    assert "lot" in out.reason
    # reproducible
    assert decide(counts(votes, blank=3), 2, SEED) == out
    # and it depends on the seed: some seed elects the other candidate
    s1, s2 = seeds_that_disagree(["a", "b"])
    assert decide(counts(votes), 2, s1).winner != decide(counts(votes), 2, s2).winner


@pytest.mark.parametrize("votes", [{"a": 5}, {"a": 5, "b": 3, "c": 1}])
def test_runoff_needs_exactly_two_candidates(votes: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="exactly two"):
        decide(counts(votes), 2, SEED)


@pytest.mark.parametrize("round_no", [0, 3, -1, True])
def test_round_number_must_be_1_or_2(round_no: int) -> None:
    with pytest.raises(ValueError, match="round_no"):
        decide(counts({"a": 5, "b": 3}), round_no, SEED)


def test_seed_must_be_bytes() -> None:
    with pytest.raises(ValueError):
        decide(counts({"a": 5, "b": 3}), 1, "seed")  # type: ignore[arg-type]


# --- the lot ---------------------------------------------------------------------------------


# Known-answer vectors, pinned so that a verifier written in another language can check itself.
LOT_HASH_EMPTY_SEED_A = "21e942315359437aa6a08fe563ad5358c011efa44b80155a7e4aea8daee155eb"
LOT_SEED_ALA_1234 = "d22cfca22023bd8c71cce00b59d691f40e4d8a8ee4af2af426e0ee03ea61fc24"
KAT_CANDIDATES = ["kz-01-ivanov", "kz-01-akhmetova", "kz-01-serikbayev"]


def test_lot_order_known_answer() -> None:
    assert lot_hash(b"", "a").hex() == LOT_HASH_EMPTY_SEED_A
    seed = bytes.fromhex(LOT_SEED_ALA_1234)
    assert lot_order(KAT_CANDIDATES, seed) == [
        "kz-01-serikbayev",
        "kz-01-akhmetova",
        "kz-01-ivanov",
    ]
    assert lot_order(KAT_CANDIDATES, SEED) == [
        "kz-01-akhmetova",
        "kz-01-ivanov",
        "kz-01-serikbayev",
    ]
    for s in (seed, SEED):
        assert lot_order(KAT_CANDIDATES, s) == sorted(KAT_CANDIDATES, key=lambda c: lot_hash(s, c))


def test_lot_order_of_non_ascii_ids_uses_utf8() -> None:
    candidates = ["Әлия", "Нұрлан", "Zhan"]
    assert lot_order(candidates, SEED) == sorted(candidates, key=lambda c: lot_hash(SEED, c))


def test_lot_order_edge_inputs() -> None:
    assert lot_order([], SEED) == []
    assert lot_order(["a"], SEED) == ["a"]
    assert lot_order(("a", "b"), SEED) == lot_order(["b", "a"], SEED)
    with pytest.raises(ValueError, match="distinct"):
        lot_order(["a", "a"], SEED)
    with pytest.raises(ValueError):
        lot_order(["a"], "seed")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        lot_order([1], SEED)  # type: ignore[list-item]


FACTORS = [bytes([1]) * 32, bytes([2]) * 32]


def test_lot_seed_known_answer() -> None:
    root = bytes(range(32))
    expected = independent_tagged_hash(
        "kz-tally/v1/lot-seed",
        root,
        (1234).to_bytes(8, "big"),
        b"ALA",
        (1).to_bytes(8, "big"),
        *FACTORS,
    )
    assert lot_seed(root, 1234, "ALA", 1, FACTORS) == expected
    assert expected.hex() == LOT_SEED_ALA_1234
    assert len(expected) == 32


def test_lot_seed_changes_with_every_input() -> None:
    root = bytes(32)
    base = lot_seed(root, 10, "ALA", 1, FACTORS)
    variants = [
        lot_seed(b"\x01" + bytes(31), 10, "ALA", 1, FACTORS),
        lot_seed(root, 11, "ALA", 1, FACTORS),
        lot_seed(root, 10, "AST", 1, FACTORS),
        lot_seed(root, 10, "ALA", 2, FACTORS),
        lot_seed(root, 10, "ALA", 1, FACTORS[::-1]),
        lot_seed(root, 10, "ALA", 1, [FACTORS[0], bytes(32)]),
    ]
    assert len({base, *variants}) == 7


@pytest.mark.parametrize(
    ("root", "size", "unit", "round_no"),
    [
        (bytes(31), 1, "u", 1),
        (bytes(33), 1, "u", 1),
        ("00" * 32, 1, "u", 1),
        (bytes(32), -1, "u", 1),
        (bytes(32), 2**64, "u", 1),
        (bytes(32), 1, "", 1),
        (bytes(32), 1, "u", 3),
        (bytes(32), 1, "u", 0),
    ],
)
def test_lot_seed_refuses_bad_input(root: Any, size: int, unit: str, round_no: int) -> None:
    with pytest.raises(ValueError):
        lot_seed(root, size, unit, round_no, FACTORS)


@pytest.mark.parametrize("factors", [[], [bytes(31)], ["00" * 32], [bytes(32), bytes(33)]])
def test_lot_seed_refuses_bad_factors(factors: Any) -> None:
    with pytest.raises(ValueError):
        lot_seed(bytes(32), 1, "u", 1, factors)


# --- JSON ------------------------------------------------------------------------------------


# --- the reason sentence, whole ------------------------------------------------------------------
# Other implementations compare the result byte for byte, so every sentence decide() can write is
# pinned here in full. The lot's order was worked out from lot_hash (the spec's framing, above),
# and each case checks it: a sentence that names the wrong lot winner, the wrong counts or calls
# the ballots blank when they are not fails.

SEED_4 = b"\x04" * 32
A, B, S = "Ahmetov", "Bekova", "Sadykov"

REASONS = [
    ("void", {A: 30, B: 10}, 5, 100, 1, SEED, None,
     "Only 45 of 100 registered electors took part (45.00%), not more than half, so there is no "
     "quorum and the round must be held again."),
    ("elected", {A: 51, B: 30, S: 10}, 9, 100, 1, SEED, None,
     "Ahmetov received 51 votes of 100 (51.00%), more than half of the ballots, and is elected "
     "in the first round."),
    ("elected by one vote", {A: 1}, 0, 1, 1, SEED, None,
     "Ahmetov received 1 vote of 1 (100.00%), more than half of the ballots, and is elected in "
     "the first round."),
    ("no winner", {A: 10}, 10, 20, 1, SEED, None,
     "The only candidate, Ahmetov, received 10 votes of 20 (50.00%), not more than half of the "
     "ballots, and with no second candidate there can be no runoff, so the unit has no winner "
     "and needs a new nomination."),
    ("runoff", {A: 40, B: 35, S: 20}, 5, 100, 1, SEED, None,
     "No candidate received more than half of the 100 ballots, so Ahmetov (40) and Bekova (35) "
     "go to a runoff."),
    ("runoff, all blank", {B: 0, A: 0}, 20, 20, 1, SEED, None,
     "No candidate received more than half of the 20 ballots (all ballots were blank), so "
     "Ahmetov (0) and Bekova (0) go to a runoff."),
    ("runoff, lot for second", {A: 40, B: 25, S: 25}, 10, 100, 1, SEED, (B, S),
     "No candidate received more than half of the 100 ballots; Bekova and Sadykov tied with 25 "
     "votes each and the public lot drew them in the order Bekova, Sadykov, so Ahmetov and "
     "Bekova go to a runoff."),
    ("runoff, lot for second, other seed", {A: 40, B: 25, S: 25}, 10, 100, 1, SEED_4, (S, B),
     "No candidate received more than half of the 100 ballots; Bekova and Sadykov tied with 25 "
     "votes each and the public lot drew them in the order Sadykov, Bekova, so Ahmetov and "
     "Sadykov go to a runoff."),
    ("runoff, lot, all blank", {S: 0, A: 0, B: 0}, 20, 20, 1, SEED, (B, A, S),
     "No candidate received more than half of the 20 ballots (all ballots were blank); Ahmetov, "
     "Bekova and Sadykov tied with 0 votes each and the public lot drew them in the order "
     "Bekova, Ahmetov, Sadykov, so Bekova and Ahmetov go to a runoff."),
    ("round 2 won", {B: 40, A: 41}, 1, 100, 2, SEED, None,
     "Ahmetov won the runoff with 41 votes of 82 (50.00%) against 40 for Bekova."),
    ("round 2 won by one vote", {A: 0, B: 1}, 0, 1, 2, SEED, None,
     "Bekova won the runoff with 1 vote of 1 (100.00%) against 0 for Ahmetov."),
    ("round 2 tie", {A: 40, B: 40}, 3, 100, 2, SEED, (B, A),
     "Ahmetov and Bekova tied in the runoff with 40 votes each, and the public lot elected "
     "Bekova."),
    ("round 2 tie, other seed", {A: 40, B: 40}, 3, 100, 2, SEED_4, (A, B),
     "Ahmetov and Bekova tied in the runoff with 40 votes each, and the public lot elected "
     "Ahmetov."),
    ("round 2 tie at one vote", {A: 1, B: 1}, 0, 2, 2, SEED, (B, A),
     "Ahmetov and Bekova tied in the runoff with 1 vote each, and the public lot elected Bekova."),
    ("round 2, all blank", {A: 0, B: 0}, 20, 20, 2, SEED, (B, A),
     "Ahmetov and Bekova tied in the runoff with 0 votes each (all ballots were blank), and the "
     "public lot elected Bekova."),
]


@pytest.mark.parametrize(
    ("votes", "blank", "registered", "round_no", "seed", "lot", "sentence"),
    [case[1:] for case in REASONS],
    ids=[case[0] for case in REASONS],
)
def test_reason_sentence(
    votes: dict[str, int],
    blank: int,
    registered: int,
    round_no: int,
    seed: bytes,
    lot: tuple[str, ...] | None,
    sentence: str,
) -> None:
    if lot is not None:  # the order written above is the spec's lot
        assert sorted(lot, key=lambda c: (lot_hash(seed, c), c)) == list(lot)
    out = decide(counts(votes, blank=blank, registered=registered), round_no, seed)
    assert out.lot == lot
    assert out.reason == sentence


def test_every_kind_of_sentence_is_pinned() -> None:
    statuses = {
        decide(counts(v, blank=b, registered=r), n, s).status for _, v, b, r, n, s, _, _ in REASONS
    }
    assert statuses == set(STATUSES)


def test_to_json_is_stable_and_json_ready() -> None:
    out = decide(counts({"a": 30, "b": 30, "c": 30}, blank=10, registered=120), 1, SEED)
    data = out.to_json()
    assert list(data) == [
        "status",
        "quorum",
        "winner",
        "runoff",
        "turnout",
        "shares",
        "lot",
        "reason",
    ]
    assert isinstance(data["runoff"], list) and isinstance(data["lot"], list)
    assert data["turnout"] == "83.33"
    assert data["winner"] is None
    assert json.loads(json.dumps(data)) == data
    canonical_json(data)  # canonicalisable (no floats, no tuples)


def test_to_json_of_an_outcome_without_runoff_or_lot() -> None:
    data = decide(counts({"a": 3, "b": 1}), 1, SEED).to_json()
    assert data["runoff"] is None and data["lot"] is None and data["winner"] == "a"


def test_outcome_is_frozen() -> None:
    out = decide(counts({"a": 3, "b": 1}), 1, SEED)
    with pytest.raises(AttributeError):
        out.status = VOID  # type: ignore[misc]


# --- properties ------------------------------------------------------------------------------

candidate_ids = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=6
)


@st.composite
def round_counts(draw: st.DrawFn, min_candidates: int = 1, max_candidates: int = 6) -> RoundCounts:
    # small vote numbers make ties (and so the lot) common
    votes = draw(
        st.dictionaries(
            candidate_ids, st.integers(0, 12), min_size=min_candidates, max_size=max_candidates
        )
    )
    blank = draw(st.integers(0, 12))
    took_part = sum(votes.values()) + blank
    absent = draw(st.integers(0, took_part + 2))
    return RoundCounts(took_part + absent, took_part, votes, blank)


seeds = st.binary(min_size=0, max_size=32)


def check_outcome_shape(out: Outcome, c: RoundCounts) -> None:
    assert out.status in STATUSES
    assert out.quorum == (2 * c.took_part > c.registered)
    assert (out.status == VOID) == (not out.quorum)
    assert (out.winner is not None) == (out.status == ELECTED)
    assert (out.runoff is not None) == (out.status == RUNOFF)
    assert set(out.shares) == set(c.votes)
    assert out.turnout == percent(c.took_part, c.registered)
    assert out.reason and out.reason.endswith(".")
    if out.lot is not None:
        assert len(out.lot) >= 2
        tied = {c.votes[x] for x in out.lot}
        assert len(tied) == 1  # the lot only ever orders candidates with equal votes


@settings(max_examples=300, deadline=None)
@given(round_counts(), seeds)
def test_property_round_one(c: RoundCounts, seed: bytes) -> None:
    out = decide(c, 1, seed)
    check_outcome_shape(out, c)
    votes = c.votes
    majority = [x for x in votes if 2 * votes[x] > c.took_part]
    if not out.quorum:
        return
    if out.winner is not None:
        # a round-1 winner always has more than half of those who took part
        assert 2 * votes[out.winner] > c.took_part
        assert majority == [out.winner]
        assert out.lot is None
    else:
        assert majority == []
    if out.status == NO_WINNER:
        assert len(votes) == 1
    if out.runoff is not None:
        first, second = out.runoff
        assert first != second
        assert votes[first] >= votes[second]
        # nobody left out of the runoff had more votes than anyone in it
        left_out = [x for x in votes if x not in out.runoff]
        assert all(votes[x] <= votes[second] for x in left_out)
        # a lot is drawn exactly when someone left out is level with the second place
        needs_lot = any(votes[x] == votes[second] for x in left_out)
        assert (out.lot is not None) == needs_lot
        if out.lot is not None:
            assert out.lot == tuple(lot_order(list(out.lot), seed))
            assert set(out.lot) == {x for x in votes if votes[x] == votes[second]}


@settings(max_examples=200, deadline=None)
@given(round_counts(min_candidates=2, max_candidates=2), seeds)
def test_property_round_two(c: RoundCounts, seed: bytes) -> None:
    out = decide(c, 2, seed)
    check_outcome_shape(out, c)
    if out.winner is not None:
        loser = next(x for x in c.votes if x != out.winner)
        assert c.votes[out.winner] >= c.votes[loser]
        assert (out.lot is not None) == (c.votes[out.winner] == c.votes[loser])
        if out.lot is not None:
            assert out.winner == lot_order(list(c.votes), seed)[0]


@settings(max_examples=200, deadline=None)
@given(st.data(), round_counts(), seeds, st.sampled_from([1, 2]))
def test_property_insertion_order_does_not_matter(
    data: st.DataObject, c: RoundCounts, seed: bytes, round_no: int
) -> None:
    items = list(c.votes.items())
    if round_no == 2 and len(items) != 2:
        round_no = 1
    shuffled = data.draw(st.permutations(items))
    c2 = RoundCounts(c.registered, c.took_part, dict(shuffled), c.blank)
    a = decide(c, round_no, seed)
    b = decide(c2, round_no, seed)
    assert a == b
    assert canonical_json(a.to_json()) == canonical_json(b.to_json())


@settings(max_examples=200, deadline=None)
@given(st.data(), st.lists(candidate_ids, unique=True, max_size=8), seeds)
def test_property_lot_order_is_a_deterministic_permutation(
    data: st.DataObject, candidates: list[str], seed: bytes
) -> None:
    drawn = lot_order(candidates, seed)
    assert sorted(drawn) == sorted(candidates)
    assert lot_order(candidates, seed) == drawn
    shuffled = data.draw(st.permutations(candidates))
    assert lot_order(shuffled, seed) == drawn
    assert drawn == sorted(candidates, key=lambda x: lot_hash(seed, x))
