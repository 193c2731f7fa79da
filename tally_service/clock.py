"""Timestamps: UTC, RFC 3339, to the millisecond."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_second(stamp: str) -> str:
    """A ``now()`` stamp cut to the second, as signed in a checkpoint's ``time`` line."""
    return parse(stamp).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
