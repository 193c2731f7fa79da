"""Strict JSON from a party that may be hostile: no duplicate keys, no NaN or infinities, and
no document whose parse would take more memory than its reader allows.

The threat: ``json.loads`` builds far more than it reads. An array of empty objects takes
about 29 times its text in memory, nested empty lists 37 times, and one emoji makes the whole
decoded text four bytes a character: a hostile service answering a 128 MiB manifest of ``{},``
would make its reader build 3.7 GiB. So the cost of a parse is estimated from the bytes, in a
few passes in C and before any object is built (``parsed_cost``), and a document past its
reader's budget is refused unparsed (``strict_loads``, ``TooCostly``). Duplicate keys and
non-finite numbers are refused too: two readers that keep different values of a key, or
read ``1e999`` as infinity, would not agree on what a signed document says.

One place for both readers: the observer's verifier (scripts/verifier/) and the parties'
programs (tally_service/common/answers.py reads the service's answers, tally_service/service/
http_json.py request bodies) may each import schemas/, and neither may import the other.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MiB = 1024 * 1024
#: What json.loads may build from one document, as estimated by ``parsed_cost`` before parsing:
#: an honest 500,000-elector manifest (Cyrillic names) is estimated at about 680 MiB (each count
#: overestimates, so it takes less);
#: a hostile array of empty objects (29 times its size in memory) is refused from its bytes.
MAX_JSON_COST = 768 * MiB


class JSONProblem(ValueError):
    """A JSON text is not acceptable (malformed, duplicate keys, non-finite numbers)."""


class TooCostly(JSONProblem):
    """A JSON text whose parse would take more memory than its reader allows: not parsed."""

    def __init__(self, message: str, cost: int, max_cost: int) -> None:
        super().__init__(message)
        self.cost = cost
        self.max_cost = max_cost


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JSONProblem(f"duplicate key {key[:40]!r}")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise JSONProblem(f"{name} is not JSON")


def _finite(text: str) -> float:
    """A JSON number with a fraction or exponent; one too large for a float (``1e999``, which
    float() reads as infinity) is refused like the literal Infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise JSONProblem(f"the number {text[:40]} is not finite")
    return value


def _finite_integral(text: str) -> int | float:
    """``_finite``, and an integer if its value is one: JSON and JSON Schema do not tell 1.0
    from 1, and RFC 8785 writes both as 1, so a signature over the canonical form covers
    either (the service answers both alike)."""
    value = _finite(text)
    return int(value) if value.is_integer() else value


#: Bytes json.loads builds (CPython 3.11, measured with tracemalloc, with margin) per structural
#: character: an object 64-184 bytes, a list 56 plus 8 a slot, a key its dict entry, a string
#: 49 plus its length, a number 24-28 plus its slot. Each count overestimates (a quote in a
#: string, a comma in a string count too), so the estimate stays above the truth.
COST_PER = ((b"{", "{", 80), (b"[", "[", 88), (b":", ":", 120), (b'"', '"', 20), (b",", ",", 40))
#: The worst pattern measured (nested empty lists) costs 37 bytes a byte: a document shorter
#: than max_cost / WORST_RATIO cannot cost more than max_cost and is parsed without counting.
WORST_RATIO = 48


#: CPython keeps a str at one, two or four bytes a character, as wide as its widest one, and
#: json.loads decodes the whole text into one str before it builds the strings: a single emoji
#: makes the text and the string holding it four bytes a character each (an ASCII text with one
#: emoji took eight times its length, four times what counting its length twice assumed). A
#: string with escapes is built in a growing buffer: up to 1.25 times its width plus the rest.
_RAW_B = (re.compile(rb"[\xf0-\xf4]"), re.compile(rb"[\xc4-\xef]"))  # UTF-8 lead bytes
_RAW_S = (re.compile("[\U00010000-\U0010ffff]"), re.compile("[\u0100-\uffff]"))
_ESC_B = (re.compile(rb"\\u[dD][89abAB]"), re.compile(rb"\\u(?!00)"))  # \ud83d, \u04d8
_ESC_S = (re.compile(r"\\u[dD][89abAB]"), re.compile(r"\\u(?!00)"))


def _width(data: bytes | str) -> tuple[int, int]:
    """Upper bounds of the bytes a character of the decoded text, and of its widest string."""
    if isinstance(data, bytes):
        raw = 4 if _RAW_B[0].search(data) else 2 if _RAW_B[1].search(data) else 1
        escaped = 4 if _ESC_B[0].search(data) else 2 if _ESC_B[1].search(data) else 1
    else:
        raw = 4 if _RAW_S[0].search(data) else 2 if _RAW_S[1].search(data) else 1
        escaped = 4 if _ESC_S[0].search(data) else 2 if _ESC_S[1].search(data) else 1
    return raw, max(raw, escaped)


def parsed_cost(data: bytes | str) -> int:
    """An upper estimate of the memory json.loads takes for ``data``, from its length times the
    width of its characters and a count of its structural characters (each a pass in C over the
    bytes: no parse, no allocation)."""
    raw, widest = _width(data)
    escaped = ("\\" in data) if isinstance(data, str) else (b"\\" in data)
    per_char = raw + (2 * widest + 1 if escaped else widest)
    if isinstance(data, str):
        return per_char * len(data) + sum(data.count(c) * cost for _, c, cost in COST_PER)
    return per_char * len(data) + sum(data.count(b) * cost for b, _, cost in COST_PER)


def strict_loads(
    data: bytes | str, max_cost: int = MAX_JSON_COST, integral_floats: bool = False
) -> Any:
    """json.loads that refuses duplicate keys, NaN and infinities (raises JSONProblem), and a
    document whose parse would take more than ``max_cost`` bytes of memory (``parsed_cost``;
    raises TooCostly): a hostile service or record cannot make its reader build 29 times what
    it sent. ``integral_floats``: a number written with a fraction or exponent whose value is
    an integer (``1.0``, ``1e2``) is read as that integer."""
    if len(data) > max_cost // WORST_RATIO:
        cost = parsed_cost(data)
        if cost > max_cost:
            raise TooCostly(
                f"refused unparsed: parsing it would take about {cost // MiB} MiB of memory, "
                f"more than the {max_cost // MiB} MiB a document may cost (its {len(data)} "
                "bytes are mostly objects, lists or commas, or wide characters)",
                cost,
                max_cost,
            )
    try:
        return json.loads(
            data,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constants,
            parse_float=_finite_integral if integral_floats else _finite,
        )
    except JSONProblem:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise JSONProblem(f"not valid JSON: {exc}") from None
