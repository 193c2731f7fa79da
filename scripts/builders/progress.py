"""Progress for long operations: a bar on a terminal, nothing with --quiet or when stderr is
not a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def showing(quiet: bool) -> bool:
    return not quiet and sys.stderr.isatty()


def bar(items: Iterable[T], total: int, label: str, quiet: bool) -> Iterator[T]:
    if not showing(quiet):
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(
        items, total=total, desc=label, unit="", leave=False, file=sys.stderr, dynamic_ncols=True
    )
