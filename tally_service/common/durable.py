"""Files that survive a power cut: whole or not at all, and on disk before anyone acts on them.

The threat: a witness's state, its rollback marker (tally_service/common/rollback.py) and a
guardian's state are promises about what was signed. A file written in place is torn by a
crash mid-write; one renamed into place before its bytes reach the disk may be found empty
after a power cut (ext4 and XFS allocate the blocks late); and a rename whose directory is not
synced may be undone. Any of these can make a party refuse to start, or, worse, find an older
promise than the one it made. So such files are written here: a temporary file in the same
directory, written and fsync'd, renamed over the old one, then the directory fsync'd.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make the directory's entries (a rename into it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` so that a crash or a power cut at any moment leaves the old
    file or the new one, never half of one, and the new one is on disk when this returns. The
    temporary file's name (``.<name>.<random>.tmp``) matches no ``*.json`` glob of a state."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
