"""Strict JSON for request bodies: UTF-8 only, and schemas/strict_json.py's rules (no duplicate
keys, no NaN or Infinity, no body whose parse would cost more than a document may)."""

from __future__ import annotations

from typing import Any

from schemas.strict_json import JSONProblem, strict_loads
from tally_service.common import problems


def parse_body(data: bytes) -> Any:
    """The body's value; 1.0 reads as 1 (JSON and JSON Schema do not tell them apart, and
    RFC 8785 writes both as 1, so a signature over the canonical form covers either)."""
    try:
        text = data.decode("utf-8")  # not json.loads' guess among UTF-8, -16 and -32
    except UnicodeDecodeError as exc:
        raise problems.bad_request("json", "the body is not UTF-8") from exc
    try:
        return strict_loads(text, integral_floats=True)
    except JSONProblem as exc:
        raise problems.bad_request("json", f"the body is refused: {exc}") from exc
