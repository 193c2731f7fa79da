"""The guardians' key ceremony: a Pedersen-style distributed key generation without a dealer.

n guardians, numbered 1..n, and a threshold k (any k guardians can decrypt, k-1 learn nothing):

1. Each guardian i picks a secret polynomial P_i(x) = a_i0 + a_i1*x + ... + a_i,k-1*x^(k-1) and
   publishes its *public record*: the Feldman commitments C_it = a_it*G and, for each, a Schnorr
   proof of knowledge of a_it bound to the ceremony and to (i, t). The proofs stop a guardian
   from choosing its commitment as a function of the others' (a rogue-key attack).
2. Each guardian i sends P_i(j) privately to each guardian j. Guardian j checks every share it
   receives against the dealer's commitments: P_i(j)*G == sum_t C_it * j^t. A failed check is a
   ``ShareComplaint`` naming the dealer.
3. Guardian j's secret key share is s_j = sum_i P_i(j). The election key is K = sum_i C_i0;
   the matching secret sum_i a_i0 is never held by anyone.

Everything an observer needs is public: ``check_transcript`` checks every record and proof,
recomputes the joint key and each guardian's public share s_j*G = sum_i sum_t C_it * j^t.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crypto.canonical import EncodingError, tagged_hash
from crypto.group import Point, Scalar, base_mul, point_from_public_hex
from crypto.proofs import SchnorrProof, prove_knowledge, verify_knowledge

__all__ = [
    "MAX_GUARDIANS",
    "GuardianSecret",
    "ShareComplaint",
    "ceremony_context",
    "check_public_record",
    "check_received_share",
    "check_transcript",
    "coefficient_context",
    "combine_received_shares",
    "joint_key",
    "public_share",
    "public_shares",
    "record_commitments",
    "resolve_complaint",
    "run_ceremony",
    "verify_share",
]

TAG_CEREMONY = "kz-tally/v1/ceremony"
TAG_COEFFICIENT = "kz-tally/v1/ceremony-coefficient"
MAX_GUARDIANS = 1000

RECORD_FIELDS = frozenset({"guardian", "commitments", "proofs"})
TRANSCRIPT_FIELDS = frozenset({"election_id", "n", "k", "guardians", "joint_key", "public_shares"})


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_nk(n: int, k: int) -> None:
    if not _is_int(n) or not _is_int(k) or not 1 <= k <= n <= MAX_GUARDIANS:
        raise ValueError(f"need integers 1 <= k <= n <= {MAX_GUARDIANS}")


def _check_index(index: int, what: str = "guardian index") -> None:
    if not _is_int(index) or not 1 <= index <= MAX_GUARDIANS:
        raise ValueError(f"a {what} is an integer from 1 to {MAX_GUARDIANS}")


def ceremony_context(election_id: str, n: int, k: int) -> bytes:
    """The tagged hash that binds every ceremony proof to the election and to (n, k)."""
    if not isinstance(election_id, str) or not election_id:
        raise ValueError("the election id is a non-empty string")
    _check_nk(n, k)
    return tagged_hash(TAG_CEREMONY, election_id.encode("utf-8"), _u64(n), _u64(k))


def coefficient_context(context: bytes, guardian: int, t: int) -> bytes:
    """The context of guardian ``guardian``'s proof for its coefficient ``t``."""
    return tagged_hash(TAG_COEFFICIENT, context, _u64(guardian), _u64(t))


class ShareComplaint(Exception):
    """Guardian ``recipient`` received from guardian ``dealer`` a share that fails the check.

    The message names both guardians and never the share. In the full protocol the dealer then
    reveals that share publicly; ``resolve_complaint`` lets anyone decide who was right.
    """

    def __init__(self, dealer: int, recipient: int) -> None:
        super().__init__(
            f"guardian {recipient} complains: the share from guardian {dealer} does not match "
            "its published commitments"
        )
        self.dealer = dealer
        self.recipient = recipient


class GuardianSecret:
    """A guardian's secret polynomial. Its repr and str never show the coefficients."""

    __slots__ = ("_coefficients", "index")

    def __init__(self, index: int, coefficients: Sequence[Scalar]) -> None:
        _check_index(index)
        coeffs = list(coefficients)
        if not coeffs or not all(isinstance(c, Scalar) for c in coeffs):
            raise ValueError("a guardian's polynomial has at least one Scalar coefficient")
        if any(c.is_zero() for c in coeffs):
            raise ValueError("coefficients are non-zero")
        self.index = index
        self._coefficients = tuple(coeffs)

    @classmethod
    def generate(cls, index: int, k: int) -> GuardianSecret:
        """A fresh random polynomial of degree k-1 (k coefficients) for guardian ``index``."""
        if not _is_int(k) or not 1 <= k <= MAX_GUARDIANS:
            raise ValueError(f"the threshold is an integer from 1 to {MAX_GUARDIANS}")
        return cls(index, [Scalar.random() for _ in range(k)])

    @property
    def k(self) -> int:
        return len(self._coefficients)

    def commitments(self) -> list[Point]:
        """The Feldman commitments C_t = a_t*G."""
        return [base_mul(a) for a in self._coefficients]

    def public_record(self, context: bytes) -> dict[str, Any]:
        """{"guardian": index, "commitments": [hex C_0..C_k-1], "proofs": [Schnorr proof json]}."""
        commitments = self.commitments()
        proofs = [
            prove_knowledge(a, coefficient_context(context, self.index, t), public=c)
            for t, (a, c) in enumerate(zip(self._coefficients, commitments, strict=True))
        ]
        return {
            "guardian": self.index,
            "commitments": [c.hex() for c in commitments],
            "proofs": [p.to_json() for p in proofs],
        }

    def share_for(self, recipient: int) -> Scalar:
        """P(recipient), the secret share this guardian sends to guardian ``recipient``."""
        _check_index(recipient, "recipient index")  # never 0: P(0) is the secret itself
        x = Scalar.from_int(recipient)
        acc = Scalar.zero()
        for a in reversed(self._coefficients):  # Horner's rule, in libsodium scalar arithmetic
            acc = acc * x + a
        return acc

    def export_secret(self) -> bytes:
        """The coefficients' 32-byte encodings, concatenated: SECRET, for the guardian's own
        sealed storage only (never a log, a record or a JSON document)."""
        return b"".join(a.to_bytes() for a in self._coefficients)

    @classmethod
    def import_secret(cls, index: int, data: bytes) -> GuardianSecret:
        """The inverse of ``export_secret``; EncodingError if ``data`` is malformed."""
        if not isinstance(data, bytes) or not data or len(data) % 32:
            raise EncodingError("a guardian secret is a non-empty multiple of 32 bytes")
        return cls(index, [Scalar.from_bytes(data[i : i + 32]) for i in range(0, len(data), 32)])

    def __repr__(self) -> str:
        return f"GuardianSecret(index={self.index}, k={self.k}, coefficients=<hidden>)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a GuardianSecret is not pickled; keep it in memory or store it sealed")


def _eval_commitments(recipient: int, commitments: Sequence[Point]) -> Point:
    """sum_t C_t * recipient^t, by Horner's rule in the group."""
    x = Scalar.from_int(recipient)
    acc = Point.identity()
    for c in reversed(commitments):
        acc = acc * x + c
    return acc


def verify_share(share: Scalar, recipient: int, commitments: Sequence[Point]) -> bool:
    """True if share*G == sum_t C_t * recipient^t (the share fits the dealer's commitments)."""
    if not isinstance(share, Scalar) or not commitments:
        return False
    if not _is_int(recipient) or not 1 <= recipient <= MAX_GUARDIANS:
        return False
    return base_mul(share) == _eval_commitments(recipient, commitments)


def record_commitments(record: Mapping[str, Any]) -> list[Point]:
    """The commitments of a (checked) public record as points."""
    return [point_from_public_hex(h) for h in record["commitments"]]


def check_received_share(
    share: Scalar, dealer: int, recipient: int, dealer_record: Mapping[str, Any]
) -> None:
    """Raise ``ShareComplaint(dealer, recipient)`` unless the share fits the dealer's record."""
    if dealer_record.get("guardian") != dealer:
        raise ValueError("the record is not the dealer's")
    if not verify_share(share, recipient, record_commitments(dealer_record)):
        raise ShareComplaint(dealer, recipient)


def resolve_complaint(dealer_record: Mapping[str, Any], recipient: int, revealed: Scalar) -> bool:
    """After a complaint the dealer reveals the disputed share publicly.

    True if the revealed share fits the dealer's commitments (the complaint is unfounded and the
    recipient uses the revealed share); False if it does not (the dealer is disqualified).
    """
    try:
        return verify_share(revealed, recipient, record_commitments(dealer_record))
    except (EncodingError, KeyError, TypeError):
        return False


def check_public_record(record: object, k: int, context: bytes) -> str | None:
    """None if ``record`` is a well-formed public record with k commitments and valid proofs.

    Checks the shape, that every commitment is a valid point other than the identity, and every
    Schnorr proof against the ceremony ``context``, the guardian's index and the coefficient's.
    Never raises because of ``record``.
    """
    if not isinstance(record, dict):
        return "a guardian record is not an object"
    if set(record) != RECORD_FIELDS:
        return "a guardian record has exactly the fields guardian, commitments, proofs"
    index = record["guardian"]
    if not _is_int(index) or not 1 <= index <= MAX_GUARDIANS:
        return "the guardian index is not an integer from 1 to 1000"
    label = f"guardian {index}"
    commitments_json = record["commitments"]
    proofs_json = record["proofs"]
    if not isinstance(commitments_json, list) or len(commitments_json) != k:
        return f"{label}: expected {k} commitments"
    if not isinstance(proofs_json, list) or len(proofs_json) != k:
        return f"{label}: expected {k} proofs"
    commitments: list[Point] = []
    for t, h in enumerate(commitments_json):
        try:
            commitments.append(point_from_public_hex(h))
        except EncodingError:
            return f"{label}: commitment {t} is not a valid point (or is the identity)"
    for t, (c, pj) in enumerate(zip(commitments, proofs_json, strict=True)):
        try:
            proof = SchnorrProof.from_json(pj)
        except EncodingError:
            return f"{label}: proof {t} is malformed"
        if not verify_knowledge(c, proof, coefficient_context(context, index, t)):
            return f"{label}: proof {t} fails"
    return None


def joint_key(records: Sequence[Mapping[str, Any]]) -> Point:
    """The election public key: the sum of every guardian's constant-term commitment C_i0."""
    total = Point.identity()
    for record in records:
        total = total + point_from_public_hex(record["commitments"][0])
    return total


def _summed_commitments(records: Sequence[Mapping[str, Any]]) -> list[Point]:
    """(sum_i C_i0, ..., sum_i C_i,k-1) over the records."""
    if not records:
        raise ValueError("no guardian records")
    summed: list[Point] | None = None
    for record in records:
        points = record_commitments(record)
        if summed is None:
            summed = points
        elif len(points) != len(summed):
            raise ValueError("guardian records have different thresholds")
        else:
            summed = [s + p for s, p in zip(summed, points, strict=True)]
    assert summed is not None
    return summed


def public_share(recipient: int, records: Sequence[Mapping[str, Any]]) -> Point:
    """s_j*G for guardian j = ``recipient``, from the public records alone.

    sum_i sum_t C_it * j^t = sum_t (sum_i C_it) * j^t: the commitments are first summed across
    guardians, so the group work is k scalar multiplications whatever n is.
    """
    _check_index(recipient, "recipient index")
    return _eval_commitments(recipient, _summed_commitments(records))


def public_shares(n: int, records: Sequence[Mapping[str, Any]]) -> dict[int, Point]:
    """{j: s_j*G} for guardians 1..n (``public_share`` for all of them, summing only once)."""
    summed = _summed_commitments(records)
    return {j: _eval_commitments(j, summed) for j in range(1, n + 1)}


def combine_received_shares(shares: Sequence[Scalar]) -> Scalar:
    """Guardian j's secret key share s_j = sum_i P_i(j), over the shares from every guardian."""
    if not shares:
        raise ValueError("no shares")
    total = Scalar.zero()
    for s in shares:
        total = total + s
    return total


def run_ceremony(election_id: str, n: int, k: int) -> tuple[dict[str, Any], dict[int, Scalar]]:
    """Run the whole ceremony in one process (demos and tests).

    Returns (transcript, {j: s_j}); the transcript is {"election_id", "n", "k", "guardians":
    [public records], "joint_key": hex, "public_shares": {str(j): hex}}. Every record and every
    share is checked; a failed record raises ValueError, a failed share ``ShareComplaint``.
    """
    context = ceremony_context(election_id, n, k)
    secrets = [GuardianSecret.generate(i, k) for i in range(1, n + 1)]
    records = [g.public_record(context) for g in secrets]
    for record in records:
        reason = check_public_record(record, k, context)
        if reason is not None:
            raise ValueError(f"key ceremony: {reason}")
    key_shares: dict[int, Scalar] = {}
    for j in range(1, n + 1):
        received = []
        for dealer, record in zip(secrets, records, strict=True):
            share = dealer.share_for(j)
            check_received_share(share, dealer.index, j, record)
            received.append(share)
        key_shares[j] = combine_received_shares(received)
    shares_public = public_shares(n, records)
    for j, s in key_shares.items():
        if base_mul(s) != shares_public[j]:  # pragma: no cover - implied by the share checks
            raise ValueError(f"key ceremony: guardian {j}'s key share does not match")
    transcript = {
        "election_id": election_id,
        "n": n,
        "k": k,
        "guardians": records,
        "joint_key": joint_key(records).hex(),
        "public_shares": {str(j): p.hex() for j, p in shares_public.items()},
    }
    return transcript, key_shares


def check_transcript(transcript: object) -> str | None:
    """None if the key ceremony transcript passes every public check, else a reason.

    Shape and types; guardians exactly 1..n in order; each record's commitments and Schnorr
    proofs; the joint key equals the sum of the constant-term commitments (and is not the
    identity); each public share equals its recomputation from the commitments. Never raises.
    """
    try:
        return _check_transcript(transcript)
    except Exception as exc:  # fail closed on anything unexpected
        return f"the transcript could not be checked ({type(exc).__name__})"


def _check_transcript(transcript: object) -> str | None:
    if not isinstance(transcript, dict):
        return "the transcript is not an object"
    if set(transcript) != TRANSCRIPT_FIELDS:
        missing = sorted(TRANSCRIPT_FIELDS - set(transcript))
        return f"missing field {missing[0]!r}" if missing else "unexpected fields"
    election_id, n, k = transcript["election_id"], transcript["n"], transcript["k"]
    if not isinstance(election_id, str) or not election_id:
        return "the election id is not a non-empty string"
    if not _is_int(n) or not _is_int(k) or not 1 <= k <= n <= MAX_GUARDIANS:
        return f"n and k are not integers with 1 <= k <= n <= {MAX_GUARDIANS}"
    context = ceremony_context(election_id, n, k)
    records = transcript["guardians"]
    if not isinstance(records, list) or len(records) != n:
        return f"expected {n} guardian records"
    for position, record in enumerate(records, start=1):
        if not isinstance(record, dict) or record.get("guardian") != position:
            return f"guardian records are not numbered 1..{n} in order"
    for record in records:
        reason = check_public_record(record, k, context)
        if reason is not None:
            return reason
    try:
        claimed_key = point_from_public_hex(transcript["joint_key"])
    except EncodingError:
        return "the joint key is not a valid point (or is the identity)"
    if claimed_key != joint_key(records):
        return "the joint key is not the sum of the constant-term commitments"
    shares = transcript["public_shares"]
    if not isinstance(shares, dict) or set(shares) != {str(j) for j in range(1, n + 1)}:
        return f"public shares are not exactly those of guardians 1..{n}"
    expected = public_shares(n, records)
    for j in range(1, n + 1):
        try:
            claimed = point_from_public_hex(shares[str(j)])
        except EncodingError:
            return f"the public share of guardian {j} is not a valid point (or is the identity)"
        if claimed != expected[j]:
            return f"the public share of guardian {j} does not match the commitments"
    return None
