"""The hostile review of the capped reads (merge 'client-caps'): the attacks that still worked.

- A compression bomb: the cap counted the bytes ``requests`` handed over AFTER decoding the
  answer's Content-Encoding, and urllib3 before 2.6 (which requests>=2.31 allows) decodes a
  whole raw chunk at once, through as many encodings as the answer names: a 3 KiB answer
  ``Content-Encoding: gzip, gzip`` unpacked to 256 MiB in one step, past any cap. The service's
  answers are never compressed by the service; now none is asked for or taken compressed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from tally_service.common.answers import MAX_DOCUMENT_BYTES
from tests.follow_helpers import ThreadServer
from tests.test_client_caps import COMMAND

MiB = 1024 * 1024


def _gzip(chunks: Iterable[bytes], level: int) -> bytes:
    packer = zlib.compressobj(level, zlib.DEFLATED, 31)
    return b"".join(packer.compress(c) for c in chunks) + packer.flush()


def test_a_compression_bomb_is_refused_before_it_is_unpacked() -> None:
    """Check: answers.fetch asks for no encoding and refuses an encoded answer."""
    inner = _gzip((b"\0" * MiB for _ in range(256)), 1)  # 256 MiB of zeros in about 1 MiB
    bomb = _gzip([inner], 9)  # about 3 KiB on the wire
    asked: list[str] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        asked.append(environ.get("HTTP_ACCEPT_ENCODING", ""))
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Encoding", "gzip, gzip")])
        return [bomb]

    server = ThreadServer(app)
    try:
        run = subprocess.run(
            [sys.executable, "-c", COMMAND, "{}", "turnout", "--url", server.url],
            capture_output=True, text=True, timeout=120,
            cwd=Path(__file__).resolve().parent.parent,
        )
    finally:
        server.stop()
    out = json.loads(run.stdout.splitlines()[-1])
    errors = run.stderr.strip().splitlines()
    assert out["code"] != 0 and len(errors) == 1, errors
    grown = out["grown_kib"] * 1024
    assert grown < MAX_DOCUMENT_BYTES + 24 * MiB, f"the command grew by {grown // MiB} MiB"
    assert "compressed" in errors[0], errors[0]
    assert asked == ["identity"]
