"""Non-interactive zero-knowledge proofs over ristretto255.

Three sigma protocols, each made non-interactive with the *strong* Fiat-Shamir transform
(Bernhard, Pereira, Warinschi, "How not to prove yourself", 2012): the challenge hashes a
proof-kind tag, the caller's context bytes (which bind the election, unit, round and the elector
or guardian), every element of the statement and every commitment. Hashing the statement stops
a prover from choosing the statement after the challenge; hashing the context stops a proof from
being replayed by another elector or guardian, or in another election, unit or round.

- ``ZeroOrOneProof``: a disjunctive Chaum-Pedersen proof (Cramer-Damgård-Schoenmakers OR
  composition) that an exponential ElGamal ciphertext (a, b) under key K encrypts 0 or 1:
  there is r with a = r*G and b - v*G = r*K for some v in {0, 1}.
- ``EqualDlogProof``: a Chaum-Pedersen proof that log_G(P) = log_H(M) (a correct partial
  decryption M = s*a for the public share P = s*G).
- ``SchnorrProof``: a Schnorr proof of knowledge of x with C = x*G (key ceremony commitments).

All proofs use the compact form: they carry challenges and responses only; the verifier
recomputes the commitments from them and checks that the challenges hash back. The JSON form of
every proof is an object of fixed keys, each a 64-digit lowercase hex scalar.

Verification functions return a bool and never raise: every group element they receive is
already a validated ``Point``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from crypto.canonical import EncodingError
from crypto.elgamal import Ciphertext
from crypto.group import Point, Scalar, base_mul, hash_to_scalar

__all__ = [
    "TAG_EQUAL_DLOG",
    "TAG_SCHNORR",
    "TAG_ZERO_OR_ONE",
    "EqualDlogProof",
    "SchnorrProof",
    "ZeroOrOneProof",
    "prove_equal_dlog",
    "prove_knowledge",
    "prove_zero_or_one",
    "verify_equal_dlog",
    "verify_knowledge",
    "verify_zero_or_one",
]

TAG_ZERO_OR_ONE = "kz-tally/v1/proof/zero-or-one"
TAG_EQUAL_DLOG = "kz-tally/v1/proof/equal-dlog"
TAG_SCHNORR = "kz-tally/v1/proof/schnorr"

_G = Point.generator()

P = TypeVar("P", bound="_Proof")


def _check_context(context: object) -> bytes:
    if not isinstance(context, bytes):
        raise TypeError("the proof context is bytes")
    return context


@dataclass(frozen=True, slots=True)
class _Proof:
    """Base of the proof classes: a fixed set of public scalars with a strict JSON form."""

    FIELDS: ClassVar[tuple[str, ...]] = ()

    def to_json(self) -> dict[str, str]:
        return {name: getattr(self, name).hex() for name in self.FIELDS}

    @classmethod
    def from_json(cls: type[P], d: object) -> P:
        """From the JSON object; EncodingError unless it has exactly the fields, each canonical."""
        if not isinstance(d, Mapping):
            raise EncodingError(f"{cls.__name__}: a proof is an object")
        if set(d) != set(cls.FIELDS):
            raise EncodingError(f"{cls.__name__}: expected exactly the fields {list(cls.FIELDS)}")
        values: dict[str, Any] = {}
        for name in cls.FIELDS:
            try:
                values[name] = Scalar.from_hex(d[name])
            except EncodingError as exc:
                raise EncodingError(f"{cls.__name__}: field {name!r}: {exc}") from None
        return cls(**values)

    def __repr__(self) -> str:
        # Proof scalars are public (they are published), so the repr may show them.
        return f"{type(self).__name__}({self.to_json()})"


# -- 0-or-1: disjunctive Chaum-Pedersen ----------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class ZeroOrOneProof(_Proof):
    """Branch j (v = j) has challenge c_j and response u_j; c0 + c1 is the Fiat-Shamir hash."""

    c0: Scalar
    c1: Scalar
    u0: Scalar
    u1: Scalar

    FIELDS: ClassVar[tuple[str, ...]] = ("c0", "c1", "u0", "u1")


def _zero_or_one_challenge(
    context: bytes, key: Point, ct: Ciphertext, commitments: tuple[Point, Point, Point, Point]
) -> Scalar:
    return hash_to_scalar(
        TAG_ZERO_OR_ONE,
        context,
        key.to_bytes(),
        ct.a.to_bytes(),
        ct.b.to_bytes(),
        *(p.to_bytes() for p in commitments),
    )


def prove_zero_or_one(
    ct: Ciphertext, value: int, nonce: Scalar, key: Point, context: bytes
) -> ZeroOrOneProof:
    """Prove that ``ct`` = encrypt(value, key, nonce) encrypts 0 or 1.

    The caller guarantees that ``ct`` was made with ``value`` and ``nonce``; if not, the result is
    simply a proof that does not verify. ValueError if ``value`` is not 0 or 1.
    """
    _check_context(context)
    if isinstance(value, bool) or value not in (0, 1):
        raise ValueError("a 0-or-1 proof needs a value of 0 or 1")
    shifted = (ct.b, ct.b - _G)  # b - j*G for the two branches
    fake = 1 - value
    # The branch that is false is simulated: pick its challenge and response first.
    c_fake = Scalar.random()
    u_fake = Scalar.random()
    a_fake = base_mul(u_fake) - c_fake * ct.a
    b_fake = u_fake * key - c_fake * shifted[fake]
    # The true branch is an honest Chaum-Pedersen proof that log_G(a) = log_K(b - v*G).
    w = Scalar.random()
    a_real = base_mul(w)
    b_real = w * key
    if value == 0:
        commitments = (a_real, b_real, a_fake, b_fake)
    else:
        commitments = (a_fake, b_fake, a_real, b_real)
    c = _zero_or_one_challenge(context, key, ct, commitments)
    c_real = c - c_fake
    u_real = w + c_real * nonce
    if value == 0:
        return ZeroOrOneProof(c0=c_real, c1=c_fake, u0=u_real, u1=u_fake)
    return ZeroOrOneProof(c0=c_fake, c1=c_real, u0=u_fake, u1=u_real)


def verify_zero_or_one(ct: Ciphertext, key: Point, proof: ZeroOrOneProof, context: bytes) -> bool:
    """True if ``proof`` shows that ``ct`` encrypts 0 or 1 under ``key`` in ``context``."""
    if not (
        isinstance(ct, Ciphertext)
        and isinstance(key, Point)
        and isinstance(proof, ZeroOrOneProof)
        and isinstance(context, bytes)
    ):
        return False
    try:
        a, b = ct.a, ct.b
        # Recompute each branch's commitments: A_j = u_j*G - c_j*a, B_j = u_j*K - c_j*(b - j*G).
        a0 = base_mul(proof.u0) - proof.c0 * a
        b0 = proof.u0 * key - proof.c0 * b
        a1 = base_mul(proof.u1) - proof.c1 * a
        b1 = proof.u1 * key - proof.c1 * (b - _G)
        c = _zero_or_one_challenge(context, key, ct, (a0, b0, a1, b1))
        return proof.c0 + proof.c1 == c
    except (ValueError, TypeError, RuntimeError):  # pragma: no cover - defensive
        return False


# -- equality of discrete logs: Chaum-Pedersen --------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class EqualDlogProof(_Proof):
    """Challenge c and response u of a Chaum-Pedersen proof."""

    c: Scalar
    u: Scalar

    FIELDS: ClassVar[tuple[str, ...]] = ("c", "u")


def _equal_dlog_challenge(
    context: bytes, public: Point, h: Point, m: Point, commit_g: Point, commit_h: Point
) -> Scalar:
    return hash_to_scalar(
        TAG_EQUAL_DLOG,
        context,
        public.to_bytes(),
        h.to_bytes(),
        m.to_bytes(),
        commit_g.to_bytes(),
        commit_h.to_bytes(),
    )


def prove_equal_dlog(
    secret: Scalar, public: Point, h: Point, m: Point, context: bytes
) -> EqualDlogProof:
    """Prove log_G(public) = log_h(m) = secret.

    The caller guarantees public = secret*G and m = secret*h; otherwise the proof fails to verify.
    """
    _check_context(context)
    w = Scalar.random()
    c = _equal_dlog_challenge(context, public, h, m, base_mul(w), w * h)
    return EqualDlogProof(c=c, u=w + c * secret)


def verify_equal_dlog(
    public: Point, h: Point, m: Point, proof: EqualDlogProof, context: bytes
) -> bool:
    """True if ``proof`` shows log_G(public) = log_h(m) in ``context``."""
    if not (
        isinstance(public, Point)
        and isinstance(h, Point)
        and isinstance(m, Point)
        and isinstance(proof, EqualDlogProof)
        and isinstance(context, bytes)
    ):
        return False
    try:
        commit_g = base_mul(proof.u) - proof.c * public
        commit_h = proof.u * h - proof.c * m
        return _equal_dlog_challenge(context, public, h, m, commit_g, commit_h) == proof.c
    except (ValueError, TypeError, RuntimeError):  # pragma: no cover - defensive
        return False


# -- knowledge of a discrete log: Schnorr --------------------------------------------------------


@dataclass(frozen=True, slots=True, repr=False)
class SchnorrProof(_Proof):
    """Challenge c and response u of a Schnorr proof of knowledge."""

    c: Scalar
    u: Scalar

    FIELDS: ClassVar[tuple[str, ...]] = ("c", "u")


def _schnorr_challenge(context: bytes, public: Point, commitment: Point) -> Scalar:
    return hash_to_scalar(TAG_SCHNORR, context, public.to_bytes(), commitment.to_bytes())


def prove_knowledge(secret: Scalar, context: bytes, public: Point | None = None) -> SchnorrProof:
    """Prove knowledge of ``secret`` with public = secret*G (computed when not given)."""
    _check_context(context)
    if public is None:
        public = base_mul(secret)
    w = Scalar.random()
    c = _schnorr_challenge(context, public, base_mul(w))
    return SchnorrProof(c=c, u=w + c * secret)


def verify_knowledge(public: Point, proof: SchnorrProof, context: bytes) -> bool:
    """True if ``proof`` shows knowledge of log_G(public) in ``context``."""
    if not (
        isinstance(public, Point) and isinstance(proof, SchnorrProof) and isinstance(context, bytes)
    ):
        return False
    try:
        commitment = base_mul(proof.u) - proof.c * public
        return _schnorr_challenge(context, public, commitment) == proof.c
    except (ValueError, TypeError, RuntimeError):  # pragma: no cover - defensive
        return False
