"""The ristretto255 group (RFC 9496) and its scalars, backed by the system libsodium.

Every point operation and every scalar operation is a libsodium call made through ``pysodium``;
this module only wraps encodings. Points and scalars are immutable values holding their
canonical 32-byte encodings:

- a ``Point`` always holds a valid, canonical ristretto255 encoding (the identity is 32 zero
  bytes). Anything that comes from outside goes through ``Point.from_bytes`` /
  ``Point.from_hex``, which reject non-canonical and invalid encodings.
- a ``Scalar`` always holds a canonical little-endian integer below the group order L.

Scalars may be secrets (nonces, polynomial coefficients, key shares), so a ``Scalar``'s repr
never shows its value.

libsodium's ``crypto_scalarmult_ristretto255`` refuses to return the identity (it reports an
error instead); the wrappers below turn that case into ``Point.identity()``, which is the right
answer whenever the scalar is zero or the point is the identity. In a prime-order group a
non-zero scalar times a non-identity point is never the identity, so any other failure is a bug
and raises ``RuntimeError``.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Final, overload

from crypto.canonical import EncodingError, hex_decode

_INSTALL_HINT = (
    "crypto.group needs the libsodium system library (1.0.18 or newer) through the pysodium "
    "package: install libsodium (Debian/Ubuntu: apt-get install libsodium23; macOS: brew install "
    "libsodium) and pysodium"
)

try:
    import pysodium as _na
except (ImportError, OSError, ValueError, AttributeError) as _exc:  # pragma: no cover
    # pysodium raises ValueError or OSError (not ImportError) when libsodium is missing.
    raise ImportError(f"{_INSTALL_HINT} ({type(_exc).__name__}: {_exc})") from _exc

if not hasattr(_na, "crypto_core_ristretto255_BYTES"):
    raise ImportError(f"{_INSTALL_HINT} (this libsodium has no ristretto255 functions)")
if _na.sodium_init() < 0:  # pragma: no cover - libsodium could not initialise
    raise ImportError(f"{_INSTALL_HINT} (sodium_init failed)")

__all__ = [
    "ORDER",
    "Point",
    "Scalar",
    "base_mul",
    "hash_to_point",
    "hash_to_scalar",
    "point_from_public_hex",
    "point_from_uniform_bytes",
]

#: The order L of the ristretto255 group (and of its scalar field).
ORDER: Final[int] = 2**252 + 27742317777372353535851937790883648493

_SCALAR_BYTES: Final = 32
_POINT_BYTES: Final = 32
_WIDE_BYTES: Final = 64
_IDENTITY_BYTES: Final = bytes(_POINT_BYTES)
_ZERO_SCALAR_BYTES: Final = bytes(_SCALAR_BYTES)


def _reduce_wide(data: bytes) -> bytes:
    """libsodium's reduction of a 64-byte little-endian integer modulo L."""
    return bytes(_na.crypto_core_ristretto255_scalar_reduce(data))


class Scalar:
    """An integer modulo L, held as its canonical 32-byte little-endian encoding.

    Immutable. Its repr hides the value: scalars are often secrets.
    """

    __slots__ = ("_raw",)
    _raw: bytes

    def __init__(self, raw: bytes) -> None:
        """From a canonical encoding (prefer ``from_bytes``); raises EncodingError otherwise."""
        if not isinstance(raw, bytes | bytearray) or len(raw) != _SCALAR_BYTES:
            raise EncodingError(f"a scalar has {_SCALAR_BYTES} bytes")
        raw = bytes(raw)
        # Canonical means below L: reducing it (through libsodium) must give it back.
        if not hmac.compare_digest(_reduce_wide(raw + bytes(_SCALAR_BYTES)), raw):
            raise EncodingError("non-canonical scalar (not below the group order)")
        object.__setattr__(self, "_raw", raw)

    @classmethod
    def _wrap(cls, raw: bytes) -> Scalar:
        """A scalar from libsodium output, which is canonical by construction."""
        s = object.__new__(cls)
        object.__setattr__(s, "_raw", bytes(raw))
        return s

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Scalar is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Scalar is immutable")

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def random(cls) -> Scalar:
        """A uniformly random non-zero scalar from libsodium's CSPRNG."""
        return cls._wrap(_na.crypto_core_ristretto255_scalar_random())

    @classmethod
    def zero(cls) -> Scalar:
        return cls._wrap(_ZERO_SCALAR_BYTES)

    @classmethod
    def one(cls) -> Scalar:
        return cls.from_int(1)

    @classmethod
    def from_int(cls, n: int) -> Scalar:
        """n modulo L, for any Python int (negatives allowed)."""
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError("Scalar.from_int takes an int")
        magnitude = -n if n < 0 else n
        if magnitude < 1 << (8 * _WIDE_BYTES):
            s = cls._wrap(_reduce_wide(magnitude.to_bytes(_WIDE_BYTES, "little")))
        else:
            # Horner's rule over 32-byte digits, every step done by libsodium.
            radix = cls._wrap(_reduce_wide((1 << 256).to_bytes(_WIDE_BYTES, "little")))
            digits = magnitude.to_bytes((magnitude.bit_length() + 255) // 256 * 32, "big")
            s = cls.zero()
            for i in range(0, len(digits), 32):
                digit = int.from_bytes(digits[i : i + 32], "big")
                s = s * radix + cls._wrap(_reduce_wide(digit.to_bytes(_WIDE_BYTES, "little")))
        return -s if n < 0 else s

    @classmethod
    def from_bytes(cls, data: bytes) -> Scalar:
        """From a canonical 32-byte little-endian encoding; EncodingError if not below L."""
        return cls(data)

    @classmethod
    def from_hex(cls, text: str) -> Scalar:
        """From 64 lowercase hex digits of a canonical encoding."""
        return cls(hex_decode(text, _SCALAR_BYTES))

    @classmethod
    def from_uniform_bytes(cls, data: bytes) -> Scalar:
        """A 64-byte string reduced modulo L (uniform if the input is)."""
        if len(data) != _WIDE_BYTES:
            raise ValueError(f"expected {_WIDE_BYTES} bytes")
        return cls._wrap(_reduce_wide(bytes(data)))

    # -- encoding ----------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        return self._raw

    def hex(self) -> str:
        return self._raw.hex()

    def to_int(self) -> int:
        """The integer value in [0, L), for display and tests; compute with Scalar operations."""
        return int.from_bytes(self._raw, "little")

    # -- arithmetic (all libsodium) ----------------------------------------------------------

    def __add__(self, other: Scalar) -> Scalar:
        if not isinstance(other, Scalar):
            return NotImplemented
        return Scalar._wrap(_na.crypto_core_ristretto255_scalar_add(self._raw, other._raw))

    def __sub__(self, other: Scalar) -> Scalar:
        if not isinstance(other, Scalar):
            return NotImplemented
        return Scalar._wrap(_na.crypto_core_ristretto255_scalar_sub(self._raw, other._raw))

    @overload
    def __mul__(self, other: Scalar) -> Scalar: ...
    @overload
    def __mul__(self, other: Point) -> Point: ...
    def __mul__(self, other: Scalar | Point) -> Scalar | Point:
        if isinstance(other, Point):
            return other._mul(self)
        if not isinstance(other, Scalar):
            return NotImplemented
        return Scalar._wrap(_na.crypto_core_ristretto255_scalar_mul(self._raw, other._raw))

    def __neg__(self) -> Scalar:
        return Scalar._wrap(_na.crypto_core_ristretto255_scalar_negate(self._raw))

    def inverse(self) -> Scalar:
        """The multiplicative inverse; ZeroDivisionError for zero."""
        if self.is_zero():
            raise ZeroDivisionError("zero has no inverse modulo L")
        return Scalar._wrap(_na.crypto_core_ristretto255_scalar_invert(self._raw))

    def is_zero(self) -> bool:
        return hmac.compare_digest(self._raw, _ZERO_SCALAR_BYTES)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Scalar):
            return NotImplemented
        return hmac.compare_digest(self._raw, other._raw)

    def __hash__(self) -> int:
        return hash((Scalar, self._raw))

    def __repr__(self) -> str:
        return "Scalar(<hidden>)"

    def __reduce__(self) -> Any:
        return (Scalar, (self._raw,))


class Point:
    """An element of ristretto255, held as its canonical 32-byte encoding. Immutable."""

    __slots__ = ("_raw",)
    _raw: bytes

    def __init__(self, raw: bytes) -> None:
        """From an encoding (prefer ``from_bytes``); EncodingError unless valid and canonical."""
        if not isinstance(raw, bytes | bytearray) or len(raw) != _POINT_BYTES:
            raise EncodingError(f"a ristretto255 point has {_POINT_BYTES} bytes")
        raw = bytes(raw)
        # RFC 9496 section 4.3.1 refuses every encoding >= p, so bit 255 must be clear.
        # libsodium before 1.0.19 (Debian 12 ships 1.0.18) does not check that bit, which
        # would give each element a second, non-canonical encoding: check it here.
        if raw[31] & 0x80 or not _na.crypto_core_ristretto255_is_valid_point(raw):
            raise EncodingError("invalid ristretto255 point encoding")
        object.__setattr__(self, "_raw", raw)

    @classmethod
    def _wrap(cls, raw: bytes) -> Point:
        """A point from libsodium output, which is a valid canonical encoding by construction."""
        p = object.__new__(cls)
        object.__setattr__(p, "_raw", bytes(raw))
        return p

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Point is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Point is immutable")

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def from_bytes(cls, data: bytes) -> Point:
        """From a canonical ristretto255 encoding (the identity included); EncodingError else."""
        return cls(data)

    @classmethod
    def from_hex(cls, text: str) -> Point:
        """From 64 lowercase hex digits of a canonical encoding; EncodingError else."""
        return cls(hex_decode(text, _POINT_BYTES))

    @classmethod
    def identity(cls) -> Point:
        return _IDENTITY

    @classmethod
    def generator(cls) -> Point:
        return _GENERATOR

    # -- encoding ----------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        return self._raw

    def hex(self) -> str:
        return self._raw.hex()

    # -- arithmetic (all libsodium) ----------------------------------------------------------

    def __add__(self, other: Point) -> Point:
        if not isinstance(other, Point):
            return NotImplemented
        return Point._wrap(_na.crypto_core_ristretto255_add(self._raw, other._raw))

    def __sub__(self, other: Point) -> Point:
        if not isinstance(other, Point):
            return NotImplemented
        return Point._wrap(_na.crypto_core_ristretto255_sub(self._raw, other._raw))

    def __neg__(self) -> Point:
        return Point._wrap(_na.crypto_core_ristretto255_sub(_IDENTITY_BYTES, self._raw))

    def _mul(self, scalar: Scalar) -> Point:
        if scalar.is_zero() or self.is_identity():
            return _IDENTITY
        try:
            return Point._wrap(_na.crypto_scalarmult_ristretto255(scalar._raw, self._raw))
        except ValueError:  # pragma: no cover - impossible in a prime-order group
            raise RuntimeError("libsodium scalar multiplication failed") from None

    def __mul__(self, scalar: Scalar) -> Point:
        if not isinstance(scalar, Scalar):
            return NotImplemented
        return self._mul(scalar)

    def __rmul__(self, scalar: Scalar) -> Point:
        if not isinstance(scalar, Scalar):
            return NotImplemented
        return self._mul(scalar)

    def is_identity(self) -> bool:
        return self._raw == _IDENTITY_BYTES

    def __eq__(self, other: object) -> bool:
        # ristretto255 encodings are canonical: equal elements have equal encodings.
        if not isinstance(other, Point):
            return NotImplemented
        return self._raw == other._raw

    def __hash__(self) -> int:
        return hash((Point, self._raw))

    def __repr__(self) -> str:
        return f"Point({self._raw.hex()})"

    def __reduce__(self) -> Any:
        return (Point, (self._raw,))


_IDENTITY: Final = Point._wrap(_IDENTITY_BYTES)
_GENERATOR: Final = Point._wrap(
    _na.crypto_scalarmult_ristretto255_base(Scalar._wrap(_reduce_wide(b"\x01" + bytes(63)))._raw)
)


def base_mul(s: Scalar) -> Point:
    """s*G through libsodium's fixed-base multiplication."""
    if not isinstance(s, Scalar):
        raise TypeError("base_mul takes a Scalar")
    if s.is_zero():
        return _IDENTITY
    try:
        return Point._wrap(_na.crypto_scalarmult_ristretto255_base(s._raw))
    except ValueError:  # pragma: no cover - impossible for a non-zero scalar below L
        raise RuntimeError("libsodium fixed-base multiplication failed") from None


def _framed_sha512(tag: str, parts: tuple[bytes, ...]) -> bytes:
    """SHA-512 over an ASCII tag and the parts, each prefixed by its 8-byte big-endian length.

    The same framing as ``crypto.canonical.tagged_hash`` but with a 64-byte output, which
    reduces (or maps) to a uniformly distributed scalar (or point).
    """
    tag_bytes = tag.encode("ascii")
    h = hashlib.sha512(len(tag_bytes).to_bytes(8, "big") + tag_bytes)
    for part in parts:
        if not isinstance(part, bytes | bytearray):
            raise TypeError("hash parts are bytes")
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.digest()


def hash_to_scalar(tag: str, *parts: bytes) -> Scalar:
    """A scalar from SHA-512 over a tag and length-framed parts, reduced modulo L by libsodium."""
    return Scalar._wrap(_reduce_wide(_framed_sha512(tag, parts)))


def point_from_uniform_bytes(data: bytes) -> Point:
    """RFC 9496's element derivation from 64 uniform bytes (libsodium's ``from_hash``)."""
    if len(data) != _WIDE_BYTES:
        raise ValueError(f"expected {_WIDE_BYTES} bytes")
    return Point._wrap(_na.crypto_core_ristretto255_from_hash(bytes(data)))


def hash_to_point(tag: str, *parts: bytes) -> Point:
    """A point with unknown discrete log: SHA-512 over tag and framed parts, then from_hash."""
    return point_from_uniform_bytes(_framed_sha512(tag, parts))


def point_from_public_hex(text: str) -> Point:
    """Like ``Point.from_hex`` but also rejects the identity (for keys and commitments)."""
    p = Point.from_hex(text)
    if p.is_identity():
        raise EncodingError("the identity is not allowed here")
    return p
