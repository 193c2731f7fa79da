"""RFC 8785 (JCS) canonical JSON and the hashing helpers.

The expected bytes come from RFC 8785 itself: section 3.2.2 (the sample with numbers, strings and
literals), section 3.2.3 (property sorting by UTF-16 code units) and appendix B (number
serialisation, IEEE-754 doubles rendered as ECMAScript does).
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.canonical import (
    EncodingError,
    b64_decode,
    b64_encode,
    canonical_json,
    hex_decode,
    tagged_hash,
)


def test_rfc8785_section_3_2_2_sample() -> None:
    value = {
        "numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001],
        "string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/",
        "literals": [None, True, False],
    }
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(value) == expected.encode("utf-8")


def test_rfc8785_section_3_2_3_sorting_by_utf16_code_units() -> None:
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    keys = list(json.loads(canonical_json(value)).keys())
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize(
    ("number", "text"),
    [  # RFC 8785 appendix B
        (0.0, "0"),
        (-0.0, "0"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (9007199254740992.0, "9007199254740992"),
        (295147905179352830000.0, "295147905179352830000"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (0.000001, "0.000001"),
        (333333333.3333332, "333333333.3333332"),
    ],
)
def test_rfc8785_appendix_b_numbers(number: float, text: str) -> None:
    assert canonical_json(number) == text.encode()


def test_non_ascii_strings_stay_utf8() -> None:
    assert canonical_json({"name": "Қазақстан Әлия"}) == '{"name":"Қазақстан Әлия"}'.encode()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), {1: "x"}, 2**64, object()])
def test_non_json_values_are_refused(bad: object) -> None:
    with pytest.raises(EncodingError):
        canonical_json(bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_canonical_json_is_a_fixed_point(value: object) -> None:
    once = canonical_json(value)
    assert canonical_json(json.loads(once)) == once


def test_tagged_hash_separates_tags_and_parts() -> None:
    assert tagged_hash("a", b"bc") != tagged_hash("a", b"b", b"c")
    assert tagged_hash("a", b"x") != tagged_hash("b", b"x")
    assert len(tagged_hash("t")) == 32


def test_hex_and_base64_are_strict() -> None:
    assert hex_decode("00ff", 2) == b"\x00\xff"
    for bad in ["00FF", "0", "zz", "00 ff"]:
        with pytest.raises(EncodingError):
            hex_decode(bad)
    with pytest.raises(EncodingError):
        hex_decode("00", 2)
    assert b64_decode(b64_encode(b"abc")) == b"abc"
    for bad in ["YWJj\n", "YWJ", "YW=j", "YWJj!", "YR=="]:
        with pytest.raises(EncodingError):
            b64_decode(bad)
