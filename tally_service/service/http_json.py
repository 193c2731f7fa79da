"""Strict JSON for request bodies: no duplicate keys, no NaN or Infinity, UTF-8 only."""

from __future__ import annotations

import json
import math
from typing import Any

from tally_service.common import problems


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _number(text: str) -> int | float:
    """A JSON number with a fraction or exponent: an integer if its value is one. JSON and
    JSON Schema do not tell 1.0 from 1, and RFC 8785 writes both as 1, so a signature over the
    canonical form covers either; the service answers both alike."""
    value = float(text)
    if not math.isfinite(value):  # 1e999 reads as infinity, which no canonical JSON can write
        raise ValueError(f"the number {text[:40]} is too large")
    return int(value) if value.is_integer() else value


def parse_body(data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constants,
            parse_float=_number,
        )
    except UnicodeDecodeError as exc:
        raise problems.bad_request("json", "the body is not UTF-8") from exc
    except (ValueError, RecursionError) as exc:
        raise problems.bad_request("json", f"the body is not valid JSON: {exc}") from exc
