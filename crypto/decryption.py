"""Threshold decryption of tally ciphertexts, with proofs, and recovery of the counts.

For each tally ciphertext (a, b) = (R*G, V*G + R*K), guardian j publishes the decryption share
M_j = s_j*a with a Chaum-Pedersen proof that log_G(s_j*G) = log_a(M_j), where s_j*G is j's
public share from the key ceremony transcript. Any k checked partial decryptions combine with
Lagrange coefficients at 0:

    sum_j lambda_j * M_j = (sum_j lambda_j * s_j) * a = x*a = R*K,  so  V*G = b - sum_j lambda_j*M_j

and V, at most the number of electors, is read from a table of multiples of G.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crypto.canonical import EncodingError, tagged_hash
from crypto.elgamal import Ciphertext
from crypto.group import Point, Scalar, base_mul
from crypto.proofs import EqualDlogProof, prove_equal_dlog, verify_equal_dlog

__all__ = [
    "DiscreteLog",
    "check_partial",
    "combine",
    "decrypt_counts",
    "decryption_context",
    "lagrange_at_zero",
    "partial_decrypt",
    "partial_shares",
    "share_context",
]

TAG_DECRYPTION = "kz-tally/v1/decryption-final"
TAG_SHARE = "kz-tally/v1/decryption-share"
PARTIAL_FIELDS = frozenset({"guardian", "shares", "proofs"})
MAX_GUARDIAN_INDEX = 1000
#: Upper bound for ``DiscreteLog`` tables (a table holds max_value + 1 points).
MAX_TABLE = 10_000_000


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def decryption_context(
    manifest_hash: bytes, unit: str, round_no: int, origin: str, size: int, root: bytes
) -> bytes:
    """The tagged hash binding partial decryptions to the election, unit and round, and to the
    final checkpoint (log origin, tree size, root) of the log whose tally they decrypt.

    A partial decryption made for one closed log is worthless for any other: another "final"
    log (a fork, a prefix, a reordering) needs fresh partials, which a guardian that remembers
    the final it decrypted refuses (tally_service/guardian/state.py)."""
    if not isinstance(manifest_hash, bytes) or len(manifest_hash) != 32:
        raise ValueError("the manifest hash is 32 bytes")
    if not isinstance(unit, str) or not unit:
        raise ValueError("the unit is a non-empty string")
    if not _is_int(round_no) or not 1 <= round_no < 2**63:
        raise ValueError("the round is a positive integer")
    if not isinstance(origin, str) or not origin:
        raise ValueError("the log origin is a non-empty string")
    if not _is_int(size) or not 0 <= size < 2**63:
        raise ValueError("the final tree size is a non-negative integer")
    if not isinstance(root, bytes) or len(root) != 32:
        raise ValueError("the final root hash is 32 bytes")
    return tagged_hash(
        TAG_DECRYPTION,
        manifest_hash,
        unit.encode("utf-8"),
        _u64(round_no),
        origin.encode("utf-8"),
        _u64(size),
        root,
    )


def share_context(context: bytes, guardian: int, position: int, ct: Ciphertext) -> bytes:
    """The context of guardian ``guardian``'s proof for the ciphertext at ``position``.

    It binds the whole ciphertext (b as well as a) to the proof.
    """
    return tagged_hash(
        TAG_SHARE, context, _u64(guardian), _u64(position), ct.a.to_bytes(), ct.b.to_bytes()
    )


def partial_decrypt(
    secret_share: Scalar, guardian: int, ciphertexts: Sequence[Ciphertext], context: bytes
) -> dict[str, Any]:
    """Guardian ``guardian``'s partial decryption: {"guardian": j, "shares": [hex s_j*a_c],
    "proofs": [Chaum-Pedersen proof json per ciphertext]}."""
    if not _is_int(guardian) or not 1 <= guardian <= MAX_GUARDIAN_INDEX:
        raise ValueError("the guardian index is an integer from 1 to 1000")
    if not isinstance(secret_share, Scalar) or secret_share.is_zero():
        raise ValueError("the secret share is a non-zero Scalar")
    public = base_mul(secret_share)
    shares: list[str] = []
    proofs: list[dict[str, str]] = []
    for position, ct in enumerate(ciphertexts):
        m = secret_share * ct.a
        proof = prove_equal_dlog(
            secret_share, public, ct.a, m, share_context(context, guardian, position, ct)
        )
        shares.append(m.hex())
        proofs.append(proof.to_json())
    return {"guardian": guardian, "shares": shares, "proofs": proofs}


def partial_shares(partial: Mapping[str, Any]) -> list[Point]:
    """The decryption shares of a (checked) partial decryption as points."""
    shares = partial["shares"]
    if not isinstance(shares, list):
        raise EncodingError("shares is not a list")
    return [Point.from_hex(h) for h in shares]


def check_partial(
    partial: object, public_share: Point, ciphertexts: Sequence[Ciphertext], context: bytes
) -> str | None:
    """None if ``partial`` is a correct partial decryption of ``ciphertexts`` by the guardian
    whose public share is ``public_share``, else a reason. Never raises because of ``partial``.

    The caller looks up ``public_share`` by ``partial["guardian"]``; the proofs are bound to that
    index, so a partial presented under another guardian's index fails.
    """
    if not isinstance(public_share, Point) or public_share.is_identity():
        return "the public share is the identity"
    if not isinstance(partial, dict):
        return "a partial decryption is not an object"
    if set(partial) != PARTIAL_FIELDS:
        return "a partial decryption has exactly the fields guardian, shares, proofs"
    guardian = partial["guardian"]
    if not _is_int(guardian) or not 1 <= guardian <= MAX_GUARDIAN_INDEX:
        return "the guardian index is not an integer from 1 to 1000"
    label = f"guardian {guardian}"
    shares_json, proofs_json = partial["shares"], partial["proofs"]
    cts = list(ciphertexts)
    if not isinstance(shares_json, list) or len(shares_json) != len(cts):
        return f"{label}: expected {len(cts)} decryption shares"
    if not isinstance(proofs_json, list) or len(proofs_json) != len(cts):
        return f"{label}: expected {len(cts)} proofs"
    parsed: list[tuple[Point, EqualDlogProof]] = []
    for position, (h, pj) in enumerate(zip(shares_json, proofs_json, strict=True)):
        try:
            m = Point.from_hex(h)
        except EncodingError:
            return f"{label}: share {position + 1}: invalid point encoding"
        try:
            proof = EqualDlogProof.from_json(pj)
        except EncodingError:
            return f"{label}: share {position + 1}: malformed proof"
        parsed.append((m, proof))
    for position, ((m, proof), ct) in enumerate(zip(parsed, cts, strict=True)):
        sc = share_context(context, guardian, position, ct)
        if not verify_equal_dlog(public_share, ct.a, m, proof, sc):
            return f"{label}: share {position + 1}: proof of correct decryption fails"
    return None


def lagrange_at_zero(index: int, indices: Sequence[int]) -> Scalar:
    """lambda_index = prod over m != index of m / (m - index), for interpolation at 0."""
    idx = list(indices)
    if not all(_is_int(i) and i >= 1 for i in idx) or len(set(idx)) != len(idx):
        raise ValueError("indices are distinct positive integers")
    if index not in idx:
        raise ValueError("the index is not among the indices")
    num = Scalar.one()
    den = Scalar.one()
    x_i = Scalar.from_int(index)
    for m in idx:
        if m == index:
            continue
        x_m = Scalar.from_int(m)
        num = num * x_m
        den = den * (x_m - x_i)
    return num * den.inverse()


def combine(
    partials: Mapping[int, Sequence[Point]], ciphertexts: Sequence[Ciphertext], k: int
) -> list[Point]:
    """V_c*G for each ciphertext, from the decryption shares of at least k guardians.

    ``partials`` maps guardian index -> that guardian's shares (one per ciphertext), all of them
    already checked with ``check_partial``. Every given guardian is used. ValueError if fewer than
    k guardians are given or the shapes disagree.
    """
    if not _is_int(k) or k < 1:
        raise ValueError("the threshold is a positive integer")
    indices = sorted(partials)
    if len(indices) < k:
        raise ValueError(
            f"need partial decryptions from at least {k} guardians, got {len(indices)}"
        )
    cts = list(ciphertexts)
    for j in indices:
        if len(partials[j]) != len(cts):
            raise ValueError(f"guardian {j}: expected {len(cts)} shares")
    lambdas = {j: lagrange_at_zero(j, indices) for j in indices}
    out: list[Point] = []
    for position, ct in enumerate(cts):
        acc = Point.identity()
        for j in indices:
            acc = acc + lambdas[j] * partials[j][position]
        out.append(ct.b - acc)
    return out


class DiscreteLog:
    """Solve v from v*G for 0 <= v <= max_value, by a table built once (max_value additions)."""

    def __init__(self, max_value: int) -> None:
        if not _is_int(max_value) or not 0 <= max_value <= MAX_TABLE:
            raise ValueError(f"max_value is an integer from 0 to {MAX_TABLE}")
        self.max_value = max_value
        g = Point.generator()
        table: dict[bytes, int] = {}
        p = Point.identity()
        for v in range(max_value + 1):
            table[p.to_bytes()] = v
            p = p + g
        self._table = table

    def solve(self, point: Point) -> int:
        """v with point == v*G; ValueError if there is none up to max_value."""
        v = self._table.get(point.to_bytes()) if isinstance(point, Point) else None
        if v is None:
            raise ValueError(f"the point is not v*G for any v from 0 to {self.max_value}")
        return v


def decrypt_counts(
    partials: Mapping[int, Sequence[Point]],
    ciphertexts: Sequence[Ciphertext],
    k: int,
    max_value: int,
) -> list[int]:
    """The plaintext counts: ``combine`` then ``DiscreteLog(max_value).solve`` per ciphertext."""
    points = combine(partials, ciphertexts, k)
    table = DiscreteLog(max_value)
    return [table.solve(p) for p in points]


def decryption_factors(ciphertexts: Sequence[Ciphertext], counts: Sequence[int]) -> list[bytes]:
    """``M_c = b_c - count_c * G`` for each decrypted ciphertext: the joint decryption factor
    ``s * a_c``. Public once the counts are, unpredictable before k guardians decrypt; the lot
    seed binds it (crypto.rules.lot_seed)."""
    if len(ciphertexts) != len(counts):
        raise ValueError("one count per ciphertext")
    pairs = zip(ciphertexts, counts, strict=True)
    return [(ct.b - base_mul(Scalar.from_int(n))).to_bytes() for ct, n in pairs]
