"""Validating documents against the project's marshmallow schemas, with one-line reasons."""

from __future__ import annotations

from typing import Any

from schemas.common import StrictSchema


def flatten(messages: Any, prefix: str = "") -> list[str]:
    """marshmallow's nested error dict as "path.to[3].field: message" lines."""
    out: list[str] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if isinstance(key, int):
                path = f"{prefix}[{key}]"
            elif key == "_schema":
                path = prefix
            else:
                path = f"{prefix}.{key}" if prefix else str(key)
            out.extend(flatten(value, path))
    elif isinstance(messages, list):
        if all(isinstance(m, str) for m in messages):
            text = " ".join(messages)
            out.append(f"{prefix}: {text}" if prefix else text)
        else:
            for value in messages:
                out.extend(flatten(value, prefix))
    else:
        out.append(f"{prefix}: {messages}" if prefix else str(messages))
    return out


def schema_problem(schema: StrictSchema, data: object, limit: int = 3) -> str | None:
    """None if ``data`` loads with ``schema``, else its first few errors on one line.

    marshmallow's ValidationError carries ``messages``; anything else a schema might raise is
    reported by its type, never propagated.
    """
    if not isinstance(data, dict):
        return "not a JSON object"
    try:
        schema.load(data)
    except Exception as exc:
        messages = getattr(exc, "messages", None)
        if messages is None:
            return f"schema: could not be validated ({type(exc).__name__})"
        lines = flatten(messages)
        more = f" (and {len(lines) - limit} more)" if len(lines) > limit else ""
        return "schema: " + "; ".join(lines[:limit]) + more
    return None
