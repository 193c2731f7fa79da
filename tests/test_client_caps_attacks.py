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


def _longname_bomb(name_size: int) -> bytes:
    """A record archive whose one member has a GNU long-name header of ``name_size`` bytes:
    the name, then zeros (tarfile reads such a header whole before any member is seen)."""
    import tarfile

    header = tarfile.TarInfo("././@LongLink")
    header.type = tarfile.GNUTYPE_LONGNAME
    header.size = name_size
    member = tarfile.TarInfo("record/x")  # its name comes from the long-name header
    pad = -name_size % 512
    packer = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = [packer.compress(header.tobuf(format=tarfile.GNU_FORMAT)),
             packer.compress(b"record/x".ljust(MiB, b"\0"))]
    parts += [packer.compress(b"\0" * MiB) for _ in range(name_size // MiB - 1)]
    parts += [packer.compress(b"\0" * pad + member.tobuf(format=tarfile.GNU_FORMAT)),
              packer.compress(b"\0" * 1024), packer.flush()]
    return b"".join(parts)


def test_a_record_archive_with_a_huge_member_header_is_refused_in_bounded_memory(
    tmp_path: Path,
) -> None:
    """Check: commission/cli.py _unpack_record bounds the extended headers (GNU long names,
    pax) it lets tarfile read: a 256 MiB long-name header, 1 MiB gzip'd, was read whole into
    memory before the member count or sizes were ever looked at."""
    archive = _longname_bomb(256 * MiB)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/gzip")])
        return [archive]

    server = ThreadServer(app)
    try:
        run = subprocess.run(
            [sys.executable, "-c", COMMAND, "{}", "export", "--url", server.url,
             "--out", str(tmp_path / "record")],
            capture_output=True, text=True, timeout=120,
            cwd=Path(__file__).resolve().parent.parent,
        )
    finally:
        server.stop()
    out = json.loads(run.stdout.splitlines()[-1])
    errors = run.stderr.strip().splitlines()
    grown = out["grown_kib"] * 1024
    assert grown < 64 * MiB, f"the command grew by {grown // MiB} MiB"
    assert out["code"] == 1 and len(errors) == 1 and "header" in errors[0], errors
    assert list(tmp_path.iterdir()) == []
