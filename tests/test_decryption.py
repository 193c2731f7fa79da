"""crypto.decryption: threshold decryption with proofs, Lagrange combination, counts."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.ballot import ballot_ciphertexts, check_ballot, encrypt_ballot
from crypto.canonical import tagged_hash
from crypto.decryption import (
    DiscreteLog,
    check_partial,
    combine,
    decrypt_counts,
    decryption_context,
    lagrange_at_zero,
    partial_decrypt,
    partial_shares,
)
from crypto.elgamal import Ciphertext, add_all, encrypt
from crypto.group import Point, Scalar, base_mul
from crypto.guardians import run_ceremony
from crypto.proofs import EqualDlogProof

G = Point.generator()
MH = tagged_hash("test/manifest", b"m")
ROOT = tagged_hash("test/root", b"r")
ORIGIN = "tally.example/test/AST/1"
CTX = decryption_context(MH, "AST", 1, ORIGIN, 7, ROOT)


def _public(transcript: dict[str, Any], j: int) -> Point:
    return Point.from_hex(transcript["public_shares"][str(j)])


@pytest.fixture(scope="module")
def election() -> dict[str, Any]:
    """A 3-of-5 ceremony and the tally of 7 ballots over 3 candidates (votes: 3, 2, 1, 1 blank)."""
    transcript, shares = run_ceremony("e", 5, 3)
    key = Point.from_hex(transcript["joint_key"])
    ids = ["a", "b", "c"]
    choices = ["a", "a", "b", None, "a", "b", "c"]
    sums = [Ciphertext.zero()] * 3
    for i, choice in enumerate(choices):
        content = encrypt_ballot(MH, "AST", 1, f"e{i}", ids, choice, key)
        assert check_ballot(MH, "AST", 1, f"e{i}", ids, content, key) is None
        sums = [s + c for s, c in zip(sums, ballot_ciphertexts(content), strict=True)]
    partials = {j: partial_decrypt(shares[j], j, sums, CTX) for j in shares}
    return {"transcript": transcript, "shares": shares, "cts": sums, "partials": partials}


def test_every_partial_checks(election: dict[str, Any]) -> None:
    for j, partial in election["partials"].items():
        assert (
            check_partial(partial, _public(election["transcript"], j), election["cts"], CTX) is None
        )


def test_any_k_guardians_give_the_counts(election: dict[str, Any]) -> None:
    points = {j: partial_shares(p) for j, p in election["partials"].items()}
    for size in (3, 4, 5):
        for subset in itertools.combinations(range(1, 6), size):
            chosen = {j: points[j] for j in subset}
            assert decrypt_counts(chosen, election["cts"], 3, 7) == [3, 2, 1]


def test_fewer_than_k_cannot(election: dict[str, Any]) -> None:
    points = {j: partial_shares(p) for j, p in election["partials"].items()}
    with pytest.raises(ValueError):
        combine({1: points[1], 2: points[2]}, election["cts"], 3)
    with pytest.raises(ValueError):
        decrypt_counts({}, election["cts"], 3, 7)
    # Lying about k does not help: 2 shares of a degree-2 polynomial interpolate garbage.
    wrong = combine({1: points[1], 2: points[2]}, election["cts"], 2)
    table = DiscreteLog(7)
    for p in wrong:
        with pytest.raises(ValueError):
            table.solve(p)


def test_partial_json_round_trip(election: dict[str, Any]) -> None:
    partial = election["partials"][2]
    back = json.loads(json.dumps(partial))
    assert back == partial
    assert set(partial) == {"guardian", "shares", "proofs"}
    assert check_partial(back, _public(election["transcript"], 2), election["cts"], CTX) is None


def test_wrong_partials_are_caught(election: dict[str, Any]) -> None:
    t, cts = election["transcript"], election["cts"]
    good = election["partials"][2]
    pub = _public(t, 2)

    bad = copy.deepcopy(good)
    bad["shares"][1] = (Point.from_hex(bad["shares"][1]) + G).hex()  # shifts the count by one
    assert check_partial(bad, pub, cts, CTX) == (
        "guardian 2: share 2: proof of correct decryption fails"
    )

    bad = copy.deepcopy(good)
    bad["shares"][0], bad["shares"][1] = bad["shares"][1], bad["shares"][0]
    bad["proofs"][0], bad["proofs"][1] = bad["proofs"][1], bad["proofs"][0]
    assert check_partial(bad, pub, cts, CTX) is not None

    # presented as another guardian's, or checked against another guardian's public share
    assert check_partial({**good, "guardian": 3}, _public(t, 3), cts, CTX) is not None
    assert check_partial(good, _public(t, 3), cts, CTX) is not None
    # replayed for another round or unit
    assert check_partial(good, pub, cts, decryption_context(MH, "AST", 2, ORIGIN, 7, ROOT))
    assert check_partial(good, pub, cts, decryption_context(MH, "ALM", 1, ORIGIN, 7, ROOT))
    # replayed for another final checkpoint of the same round: another log, size or root
    other_root = tagged_hash("test/root", b"other")
    for ctx in (
        decryption_context(MH, "AST", 1, ORIGIN + "x", 7, ROOT),
        decryption_context(MH, "AST", 1, ORIGIN, 6, ROOT),
        decryption_context(MH, "AST", 1, ORIGIN, 7, other_root),
    ):
        assert check_partial(good, pub, cts, ctx) is not None
    # for other ciphertexts (b differs only: b is bound too)
    moved = [Ciphertext(c.a, c.b + G) for c in cts]
    assert check_partial(good, pub, moved, CTX) is not None

    bad = copy.deepcopy(good)
    p = EqualDlogProof.from_json(bad["proofs"][0])
    bad["proofs"][0] = EqualDlogProof(p.c, p.u + Scalar.one()).to_json()
    assert check_partial(bad, pub, cts, CTX) == (
        "guardian 2: share 1: proof of correct decryption fails"
    )


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (
            lambda p: p.pop("proofs"),
            "a partial decryption has exactly the fields guardian, shares, proofs",
        ),
        (lambda p: p.update(guardian="2"), "the guardian index is not an integer from 1 to 1000"),
        (lambda p: p.update(guardian=True), "the guardian index is not an integer from 1 to 1000"),
        (lambda p: p["shares"].pop(), "guardian 2: expected 3 decryption shares"),
        (lambda p: p["proofs"].append(p["proofs"][0]), "guardian 2: expected 3 proofs"),
        (
            lambda p: p["shares"].__setitem__(0, "ff" * 32),
            "guardian 2: share 1: invalid point encoding",
        ),
        (lambda p: p["proofs"].__setitem__(2, {"c": "00"}), "guardian 2: share 3: malformed proof"),
    ],
)
def test_malformed_partials(election: dict[str, Any], mutate: Any, reason: str) -> None:
    bad = copy.deepcopy(election["partials"][2])
    mutate(bad)
    assert check_partial(bad, _public(election["transcript"], 2), election["cts"], CTX) == reason


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (None, "a partial decryption is not an object"),
        ([], "a partial decryption is not an object"),
        ("p", "a partial decryption is not an object"),
        ({"guardian": 1}, "a partial decryption has exactly the fields guardian, shares, proofs"),
    ],
)
def test_check_partial_never_raises(election: dict[str, Any], bad: object, reason: str) -> None:
    public = _public(election["transcript"], 1)
    assert check_partial(bad, public, election["cts"], CTX) == reason


@settings(max_examples=8, deadline=None)
@given(st.data())
def test_random_elections(data: st.DataObject) -> None:
    """Random (n, k), candidates and votes: every k-subset and the full set give the true counts."""
    n = data.draw(st.integers(min_value=1, max_value=4), label="n")
    k = data.draw(st.integers(min_value=1, max_value=n), label="k")
    candidates = data.draw(st.integers(min_value=1, max_value=3), label="candidates")
    votes = data.draw(
        st.lists(st.integers(min_value=-1, max_value=candidates - 1), max_size=6), label="votes"
    )
    transcript, shares = run_ceremony("random", n, k)
    key = Point.from_hex(transcript["joint_key"])
    tally = [add_all([]) for _ in range(candidates)]
    for v in votes:  # -1 is a blank ballot
        tally = [t + encrypt(1 if c == v else 0, key, Scalar.random()) for c, t in enumerate(tally)]
    expected = [sum(1 for v in votes if v == c) for c in range(candidates)]
    partials = {j: partial_decrypt(shares[j], j, tally, CTX) for j in shares}
    for j, p in partials.items():
        assert check_partial(p, _public(transcript, j), tally, CTX) is None
    points = {j: partial_shares(p) for j, p in partials.items()}
    subset = data.draw(st.sets(st.integers(min_value=1, max_value=n), min_size=k), label="subset")
    assert decrypt_counts({j: points[j] for j in subset}, tally, k, len(votes)) == expected
    if k > 1:
        with pytest.raises(ValueError):
            combine({j: points[j] for j in sorted(subset)[: k - 1]}, tally, k)


def test_empty_tally_decrypts_to_zero() -> None:
    transcript, shares = run_ceremony("e", 3, 2)
    cts = [Ciphertext.zero(), Ciphertext.zero()]
    partials = {j: partial_decrypt(shares[j], j, cts, CTX) for j in (1, 3)}
    for j, p in partials.items():
        assert check_partial(p, _public(transcript, j), cts, CTX) is None
    assert decrypt_counts({j: partial_shares(p) for j, p in partials.items()}, cts, 2, 0) == [0, 0]


# --- Lagrange and discrete logs -------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(
    st.lists(st.integers(min_value=-(2**64), max_value=2**64), min_size=1, max_size=5),
    st.data(),
)
def test_lagrange_interpolates_at_zero(coefficients: list[int], data: st.DataObject) -> None:
    k = len(coefficients)
    indices = data.draw(
        st.lists(st.integers(min_value=1, max_value=1000), min_size=k, max_size=k + 2, unique=True)
    )
    coeffs = [Scalar.from_int(c) for c in coefficients]

    def poly(x: int) -> Scalar:
        acc = Scalar.zero()
        for c in reversed(coeffs):
            acc = acc * Scalar.from_int(x) + c
        return acc

    total = Scalar.zero()
    for i in indices:
        total = total + lagrange_at_zero(i, indices) * poly(i)
    assert total == coeffs[0]
    one = Scalar.zero()
    for i in indices:
        one = one + lagrange_at_zero(i, indices)
    assert one == Scalar.one()


def test_lagrange_refuses_bad_indices() -> None:
    with pytest.raises(ValueError):
        lagrange_at_zero(1, [1, 1, 2])
    with pytest.raises(ValueError):
        lagrange_at_zero(3, [1, 2])
    with pytest.raises(ValueError):
        lagrange_at_zero(0, [0, 1])


def test_discrete_log() -> None:
    table = DiscreteLog(50)
    p = Point.identity()
    for v in range(51):
        assert table.solve(p) == v
        p = p + G
    with pytest.raises(ValueError):
        table.solve(p)  # 51*G
    with pytest.raises(ValueError):
        table.solve(-G)
    with pytest.raises(ValueError):
        table.solve(base_mul(Scalar.random()))
    with pytest.raises(ValueError):
        DiscreteLog(-1)
    assert DiscreteLog(0).solve(Point.identity()) == 0


def test_partial_decrypt_refuses_bad_arguments(election: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        partial_decrypt(Scalar.zero(), 1, election["cts"], CTX)
    with pytest.raises(ValueError):
        partial_decrypt(Scalar.random(), 0, election["cts"], CTX)
    with pytest.raises(ValueError):
        decryption_context(b"x", "AST", 1, ORIGIN, 7, ROOT)
    for bad in (
        (MH, "AST", 1, "", 7, ROOT),
        (MH, "AST", 1, ORIGIN, -1, ROOT),
        (MH, "AST", 1, ORIGIN, True, ROOT),
        (MH, "AST", 1, ORIGIN, 7, ROOT[:31]),
    ):
        with pytest.raises(ValueError):
            decryption_context(*bad)  # type: ignore[arg-type]


def test_secret_shares_do_not_leak_into_partials(election: dict[str, Any]) -> None:
    for j, s in election["shares"].items():
        text = json.dumps(election["partials"][j])
        assert s.hex() not in text and s.hex() not in repr(election["partials"][j])


def test_decryption_factors_are_the_joint_decryption() -> None:
    """M_c = b_c - count_c*G equals s*a_c: what the lot seed binds."""
    from crypto.decryption import decryption_factors
    from crypto.elgamal import encrypt
    from crypto.group import Scalar, base_mul

    secret = Scalar.random()
    key = base_mul(secret)
    cts = [encrypt(v, key, Scalar.random()) for v in (0, 1, 1)]
    total = cts[1] + cts[2]
    factors = decryption_factors([cts[0], total], [0, 2])
    assert factors == [(cts[0].a * secret).to_bytes(), (total.a * secret).to_bytes()]
    with pytest.raises(ValueError):
        decryption_factors([total], [1, 2])
