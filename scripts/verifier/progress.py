"""A progress bar on a terminal (tqdm), silent otherwise."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """Counts bytes of ballots read. Shows a bar only when enabled (a TTY and not --quiet)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self._bar: Any = None
        if enabled:
            try:
                from tqdm import tqdm
            except ImportError:  # tqdm is a dependency, but a bar is never worth failing for
                return
            self._bar = tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                desc="ballots",
                file=sys.stderr,
                leave=False,
                dynamic_ncols=True,
            )

    @property
    def active(self) -> bool:
        return self._bar is not None

    def update(self, n: int) -> None:
        if self._bar is not None:
            self._bar.update(n)

    def describe(self, text: str) -> None:
        if self._bar is not None:
            self._bar.set_description(text, refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def wanted(quiet: bool, stream: Any = None) -> bool:
    """Whether to show progress: not quiet and the stream (stderr) is a terminal."""
    if quiet:
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
