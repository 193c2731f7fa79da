"""crypto.group: the libsodium-backed ristretto255 wrapper."""

from __future__ import annotations

import hashlib
import importlib.util
import pickle
import sys
import types
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.canonical import EncodingError
from crypto.group import (
    ORDER,
    Point,
    Scalar,
    base_mul,
    hash_to_point,
    hash_to_scalar,
    point_from_public_hex,
    point_from_uniform_bytes,
)

FAST = settings(max_examples=40, deadline=None)

ints = st.integers(min_value=-(2**300), max_value=2**300)
scalars = st.integers(min_value=0, max_value=ORDER - 1).map(Scalar.from_int)
small = st.integers(min_value=0, max_value=2**64)
points = st.integers(min_value=0, max_value=ORDER - 1).map(lambda n: base_mul(Scalar.from_int(n)))

G = Point.generator()

# --- RFC 9496 appendix A test vectors ----------------------------------------------------------
# (the same vectors are published at https://ristretto.group/test_vectors/ristretto255.html)

# RFC 9496 appendix A.1: encodings of the multiples 0*G .. 15*G of the generator.
RFC9496_MULTIPLES = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76",
    "6a493210f7499cd17fecb510ae0cea23a110e8d5b901f8acadd3095c73a3b919",
    "94741f5d5d52755ece4f23f044ee27d5d1ea1e2bd196b462166b16152a9d0259",
    "da80862773358b466ffadfe0b3293ab3d9fd53c5ea6c955358f568322daf6a57",
    "e882b131016b52c1d3337080187cf768423efccbb517bb495ab812c4160ff44e",
    "f64746d3c92b13050ed8d80236a7f0007c3b3f962f5ba793d19a601ebb1df403",
    "44f53520926ec81fbd5a387845beb7df85a96a24ece18738bdcfa6a7822a176d",
    "903293d8f2287ebe10e2374dc1a53e0bc887e592699f02d077d5263cdd55601c",
    "02622ace8f7303a31cafc63f8fc48fdc16e1c8c8d234b2f0d6685282a9076031",
    "20706fd788b2720a1ed2a5dad4952b01f413bcf0e7564de8cdc816689e2db95f",
    "bce83f8ba5dd2fa572864c24ba1810f9522bc6004afe95877ac73241cafdab42",
    "e4549ee16b9aa03099ca208c67adafcafa4c3f3e4e5303de6026e3ca8ff84460",
    "aa52e000df2e16f55fb1032fc33bc42742dad6bd5a8fc0be0167436c5948501f",
    "46376b80f409b29dc2b5f6f0c52591990896e5716f41477cd30085ab7f10301e",
    "e0c418f7c8d9c4cdd7395b93ea124f3ad99021bb681dfc3302a9d99a2e53e64e",
]

# RFC 9496 appendix A.2: encodings every implementation must reject.
RFC9496_INVALID = [
    # non-canonical field encodings
    "00ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "f3ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    # negative field elements
    "0100000000000000000000000000000000000000000000000000000000000000",
    "01ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "ed57ffd8c914fb201471d1c3d245ce3c746fcbe63a3679d51b6a516ebebe0e20",
    "c34c4e1826e5d403b78e246e88aa051c36ccf0aafebffe137d148a2bf9104562",
    "c940e5a4404157cfb1628b108db051a8d439e1a421394ec4ebccb9ec92a8ac78",
    "47cfc5497c53dc8e61c91d17fd626ffb1c49e2bca94eed052281b510b1117a24",
    "f1c6165d33367351b0da8f6e4511010c68174a03b6581212c71c0e1d026c3c72",
    "87260f7a2f12495118360f02c26a470f450dadf34a413d21042b43b9d93e1309",
    # non-square x^2
    "26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371",
    "4eac077a713c57b4f4397629a4145982c661f48044dd3f96427d40b147d9742f",
    "de6a7b00deadc788eb6b6c8d20c0ae96c2f2019078fa604fee5b87d6e989ad7b",
    "bcab477be20861e01e4a0e295284146a510150d9817763caf1a6f4b422d67042",
    "2a292df7e32cababbd9de088d1d1abec9fc0440f637ed2fba145094dc14bea08",
    "f4a9e534fc0d216c44b218fa0c42d99635a0127ee2e53c712f70609649fdff22",
    "8268436f8c4126196cf64b3c7ddbda90746a378625f9813dd9b8457077256731",
    "2810e5cbc2cc4d4eece54f61c6f69758e289aa7ab440b3cbeaa21995c2f4232b",
    # negative xy value
    "3eb858e78f5a7254d8c9731174a94f76755fd3941c0ac93735c07ba14579630e",
    "a45fdc55c76448c049a1ab33f17023edfb2be3581e9c7aade8a6125215e04220",
    "d483fe813c6ba647ebbfd3ec41adca1c6130c2beeee9d9bf065c8d151c5f396e",
    "8a2e1d30050198c65a54483123960ccc38aef6848e1ec8f5f780e8523769ba32",
    "32888462f8b486c68ad7dd9610be5192bbeaf3b443951ac1a8118419d9fa097b",
    "227142501b9d4355ccba290404bde41575b037693cef1f438c47f8fbf35d1165",
    "5c37cc491da847cfeb9281d407efc41e15144c876e0170b499a96a22ed31e01e",
    "445425117cb8c90edcbc7c1cc0e74f747f2c1efa5630a967c64f287792a48a4b",
    # s = -1, which gives y = 0
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
]

# RFC 9496 appendix A.3: hash-to-group. Each input is the SHA-512 of one of these strings; the
# element derivation maps the 64 bytes to a point (libsodium: crypto_core_ristretto255_from_hash).
RFC9496_HASH_TO_GROUP = [
    (
        "Ristretto is traditionally a short shot of espresso coffee",
        "3066f82a1a747d45120d1740f14358531a8f04bbffe6a819f86dfe50f44a0a46",
    ),
    (
        "made with the normal amount of ground coffee but extracted with",
        "f26e5b6f7d362d2d2a94c5d0e7602cb4773c95a2e5c31a64f133189fa76ed61b",
    ),
    (
        "about half the amount of water in the same amount of time",
        "006ccd2a9e6867e6a2c5cea83d3302cc9de128dd2a9a57dd8ee7b9d7ffe02826",
    ),
    (
        "by using a finer grind.",
        "f8f0c87cf237953c5890aec3998169005dae3eca1fbb04548c635953c817f92a",
    ),
    (
        "This produces a concentrated shot of coffee per volume.",
        "ae81e7dedf20a497e10c304a765c1767a42d6e06029758d2d7e8ef7cc4c41179",
    ),
    (
        "Just pulling a normal shot short will produce a weaker shot",
        "e2705652ff9f5e44d3e841bf1c251cf7dddb77d140870d1ab2ed64f1a9ce8628",
    ),
    (
        "and is not a Ristretto as some believe.",
        "80bd07262511cdde4863f8a7434cef696750681cb9510eea557088f76d9e5065",
    ),
]
# The first input of A.3 written out, to pin the "input = SHA-512(string)" reading.
RFC9496_HASH_INPUT_0 = (
    "5d1be09e3d0c82fc538112490e35701979d99e06ca3e2b5b54bffe8b4dc772c1"
    "4d98b696a1bbfb5ca32c436cc61c16563790306c79eaca7705668b47dffe5bb6"
)
# From the same vector set (ristretto.group; draft-irtf-cfrg-ristretto255-decaf448): four
# 64-byte inputs with non-canonical halves that all map to one element.
SAME_OUTPUT_INPUTS = [
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
    "1200000000000000000000000000000000000000000000000000000000000000",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "0000000000000000000000000000000000000000000000000000000000000080"
    "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000"
    "1200000000000000000000000000000000000000000000000000000000000080",
]
SAME_OUTPUT = "304282791023b73128d277bdcb5c7746ef2eac08dde9f2983379cb8e5ef0517f"


def test_rfc9496_multiples_of_the_generator() -> None:
    acc = Point.identity()
    for i, expected in enumerate(RFC9496_MULTIPLES):
        assert acc.hex() == expected, i
        assert base_mul(Scalar.from_int(i)).hex() == expected, i
        assert (Scalar.from_int(i) * G).hex() == expected, i
        assert Point.from_hex(expected) == acc
        acc = acc + G
    assert Point.identity().hex() == RFC9496_MULTIPLES[0]
    assert Point.generator().hex() == RFC9496_MULTIPLES[1]


@pytest.mark.parametrize("encoding", RFC9496_INVALID)
def test_rfc9496_invalid_encodings_rejected(encoding: str) -> None:
    with pytest.raises(EncodingError):
        Point.from_hex(encoding)
    with pytest.raises(EncodingError):
        Point.from_bytes(bytes.fromhex(encoding))


def test_rfc9496_hash_to_group() -> None:
    assert hashlib.sha512(RFC9496_HASH_TO_GROUP[0][0].encode()).hexdigest() == RFC9496_HASH_INPUT_0
    for text, expected in RFC9496_HASH_TO_GROUP:
        assert point_from_uniform_bytes(hashlib.sha512(text.encode()).digest()).hex() == expected
    for data in SAME_OUTPUT_INPUTS:
        assert point_from_uniform_bytes(bytes.fromhex(data)).hex() == SAME_OUTPUT


def test_hash_to_point_and_scalar_are_framed_and_tagged() -> None:
    p = hash_to_point("t", b"ab", b"c")
    assert p == hash_to_point("t", b"ab", b"c")
    assert p != hash_to_point("t", b"a", b"bc")  # framing: the split between parts matters
    assert p != hash_to_point("u", b"ab", b"c")  # the tag matters
    assert not p.is_identity()
    s = hash_to_scalar("t", b"ab", b"c")
    assert s == hash_to_scalar("t", b"ab", b"c")
    assert s != hash_to_scalar("t", b"a", b"bc")
    assert s != hash_to_scalar("u", b"ab", b"c")
    # the documented construction: SHA-512 over framed tag and parts, reduced modulo L
    framed = b"".join(len(x).to_bytes(8, "big") + x for x in (b"t", b"ab", b"c"))
    assert s.to_int() == int.from_bytes(hashlib.sha512(framed).digest(), "little") % ORDER
    assert p == point_from_uniform_bytes(hashlib.sha512(framed).digest())


# --- scalars -------------------------------------------------------------------------------------


@FAST
@given(ints, ints)
def test_scalar_arithmetic_matches_integers_mod_l(x: int, y: int) -> None:
    a, b = Scalar.from_int(x), Scalar.from_int(y)
    assert a.to_int() == x % ORDER
    assert (a + b).to_int() == (x + y) % ORDER
    assert (a - b).to_int() == (x - y) % ORDER
    assert (a * b).to_int() == (x * y) % ORDER
    assert (-a).to_int() == (-x) % ORDER


@FAST
@given(scalars, scalars, scalars)
def test_scalar_field_laws(a: Scalar, b: Scalar, c: Scalar) -> None:
    assert (a + b) + c == a + (b + c)
    assert (a * b) * c == a * (b * c)
    assert a * (b + c) == a * b + a * c
    assert a + b == b + a and a * b == b * a
    assert a - a == Scalar.zero() and (a + (-a)).is_zero()
    if not a.is_zero():
        assert a * a.inverse() == Scalar.one()


def test_scalar_from_int_edges() -> None:
    assert Scalar.from_int(ORDER).is_zero()
    assert Scalar.from_int(-1).to_int() == ORDER - 1
    assert Scalar.from_int(2**512 + 5).to_int() == (2**512 + 5) % ORDER
    assert Scalar.from_int(-(3**700)).to_int() == (-(3**700)) % ORDER
    with pytest.raises(TypeError):
        Scalar.from_int(True)
    with pytest.raises(TypeError):
        Scalar.from_int(1.0)  # type: ignore[arg-type]
    with pytest.raises(ZeroDivisionError):
        Scalar.zero().inverse()


def test_scalar_random_is_nonzero_and_fresh() -> None:
    values = {Scalar.random() for _ in range(50)}
    assert len(values) == 50
    assert not any(s.is_zero() for s in values)


@FAST
@given(scalars)
def test_scalar_encoding_round_trip(s: Scalar) -> None:
    assert Scalar.from_bytes(s.to_bytes()) == s
    assert Scalar.from_hex(s.hex()) == s
    assert len(s.hex()) == 64 and s.hex() == s.hex().lower()
    assert pickle.loads(pickle.dumps(s)) == s


@pytest.mark.parametrize(
    "value",
    [ORDER, ORDER + 1, 2**253, 2**256 - 1],
)
def test_non_canonical_scalars_rejected(value: int) -> None:
    data = value.to_bytes(32, "little")
    with pytest.raises(EncodingError):
        Scalar.from_bytes(data)
    with pytest.raises(EncodingError):
        Scalar.from_hex(data.hex())


@pytest.mark.parametrize(
    "text",
    ["", "00", "0" * 62, "0" * 66, "A" + "0" * 63, "g" + "0" * 63, " " + "0" * 63, None, 5],
)
def test_malformed_scalar_hex_rejected(text: object) -> None:
    with pytest.raises(EncodingError):
        Scalar.from_hex(text)  # type: ignore[arg-type]


def test_scalar_largest_canonical_accepted() -> None:
    assert Scalar.from_bytes((ORDER - 1).to_bytes(32, "little")).to_int() == ORDER - 1


def test_scalar_repr_hides_value() -> None:
    s = Scalar.random()
    assert s.hex() not in repr(s) and s.hex() not in str(s)
    assert s.hex() not in repr([s, {"k": s}])


def test_values_are_immutable() -> None:
    s = Scalar.one()
    with pytest.raises(AttributeError):
        s._raw = b"\x00" * 32
    with pytest.raises(AttributeError):
        G._raw = b"\x00" * 32


# --- points --------------------------------------------------------------------------------------


@FAST
@given(points, points, points)
def test_group_laws(p: Point, q: Point, r: Point) -> None:
    assert (p + q) + r == p + (q + r)
    assert p + q == q + p
    assert p + Point.identity() == p
    assert (p - p).is_identity()
    assert p + (-p) == Point.identity()
    assert p - q == p + (-q)


@FAST
@given(scalars, scalars, points)
def test_scalar_multiplication_laws(a: Scalar, b: Scalar, p: Point) -> None:
    assert (a + b) * p == a * p + b * p
    assert a * (p + G) == a * p + a * G
    assert (a * b) * p == a * (b * p)
    assert p * a == a * p
    assert base_mul(a) == a * G
    assert (-a) * p == -(a * p)


def test_multiplication_by_zero_and_identity() -> None:
    s = Scalar.random()
    assert (Scalar.zero() * G).is_identity()
    assert (s * Point.identity()).is_identity()
    assert base_mul(Scalar.zero()).is_identity()
    assert base_mul(Scalar.from_int(ORDER)).is_identity()
    assert (Scalar.from_int(ORDER - 1) * G) == -G


@FAST
@given(points)
def test_point_encoding_round_trip(p: Point) -> None:
    assert Point.from_bytes(p.to_bytes()) == p
    assert Point.from_hex(p.hex()) == p
    assert p.hex() == p.hex().lower() and len(p.hex()) == 64
    assert pickle.loads(pickle.dumps(p)) == p
    assert hash(Point.from_hex(p.hex())) == hash(p)


@FAST
@given(st.binary(min_size=32, max_size=32))
def test_random_bytes_are_accepted_only_if_libsodium_says_valid(data: bytes) -> None:
    import pysodium

    # bit 255 set is never canonical (RFC 9496 4.3.1), whatever libsodium 1.0.18 says
    valid = pysodium.crypto_core_ristretto255_is_valid_point(data) and not data[31] & 0x80
    if valid:
        assert Point.from_bytes(data).to_bytes() == data
    else:
        with pytest.raises(EncodingError):
            Point.from_bytes(data)


@FAST
@given(points)
def test_top_bit_alias_of_every_point_is_rejected(p: Point) -> None:
    # libsodium 1.0.18 (Debian 12) ignores bit 255 and would decode this alias to p itself:
    # a second encoding of one element, which other implementations refuse.
    alias = bytearray(p.to_bytes())
    alias[31] |= 0x80
    with pytest.raises(EncodingError):
        Point.from_bytes(bytes(alias))
    with pytest.raises(EncodingError):
        Point.from_hex(bytes(alias).hex())


def test_identity_alias_is_rejected() -> None:
    with pytest.raises(EncodingError):
        Point.from_hex("00" * 31 + "80")
    with pytest.raises(EncodingError):
        point_from_public_hex("00" * 31 + "80")


def test_most_random_strings_are_not_points() -> None:
    import os

    rejected = 0
    for _ in range(200):
        try:
            Point.from_bytes(os.urandom(32))
        except EncodingError:
            rejected += 1
    assert rejected > 100  # about 7/8 of random strings are not canonical ristretto encodings


@pytest.mark.parametrize("length", [0, 1, 31, 33, 64])
def test_wrong_length_points_rejected(length: int) -> None:
    with pytest.raises(EncodingError):
        Point.from_bytes(b"\x00" * length)
    with pytest.raises(EncodingError):
        Point.from_hex("00" * length)


def test_point_hex_must_be_lowercase() -> None:
    with pytest.raises(EncodingError):
        Point.from_hex(G.hex().upper())


def test_point_from_public_hex_rejects_identity() -> None:
    assert point_from_public_hex(G.hex()) == G
    with pytest.raises(EncodingError):
        point_from_public_hex("00" * 32)
    with pytest.raises(EncodingError):
        point_from_public_hex(RFC9496_INVALID[0])


def test_mixed_operand_types_are_refused() -> None:
    with pytest.raises(TypeError):
        G + Scalar.one()  # type: ignore[operator]
    with pytest.raises(TypeError):
        G * G  # type: ignore[operator]
    with pytest.raises(TypeError):
        Scalar.one() + G  # type: ignore[operator]
    with pytest.raises(TypeError):
        base_mul(1)  # type: ignore[arg-type]


def test_missing_libsodium_gives_an_import_error_with_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = Path(__file__).resolve().parent.parent / "crypto" / "group.py"

    def load() -> None:
        spec = importlib.util.spec_from_file_location("crypto_group_without_sodium", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)

    # pysodium not importable at all
    monkeypatch.setitem(sys.modules, "pysodium", None)
    with pytest.raises(ImportError, match="libsodium23"):
        load()
    # a pysodium over a libsodium without ristretto255 (older than 1.0.18)
    monkeypatch.setitem(sys.modules, "pysodium", types.ModuleType("pysodium"))
    with pytest.raises(ImportError, match="install libsodium"):
        load()
