"""Service settings, with the defaults a commission would start from."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    # a checkpoint is issued every `checkpoint_every` ballots or `checkpoint_seconds` seconds
    # (whichever comes first) while a round is open, and always at close
    checkpoint_every: int = 64
    checkpoint_seconds: float = 5.0
    # HTTP request bodies above this size are refused (a 10-candidate ballot is about 5.4 KiB)
    max_body_bytes: int = 64 * 1024
    # commission requests must be signed within this many seconds of the server's clock
    request_window_seconds: int = 300
    # entries per page on the public entries endpoint
    page_size: int = 1000
