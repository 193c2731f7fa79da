"""Reading an election record: strict JSON, streamed log lines, checkpoint notes, the layout.

Strict JSON (no duplicate keys, no NaN or infinities, a parse-cost estimate before parsing) is
schemas/strict_json.py, shared with the parties' programs.

Nothing here raises on bad input. Readers return either a value or the reason they could not
produce one, so that a missing or garbled file becomes a failed check with that reason.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# the bounds every reader of a record shares (schemas/limits.py)
from schemas.limits import (
    MAX_ARCHIVE_BYTES,
    MAX_CEREMONY_BYTES,
    MAX_CHECKPOINTS_BYTES,
    MAX_MANIFEST_BYTES,
    MAX_PAGE_BYTES,
    MAX_RESULT_BYTES,
    MAX_SMALL_JSON_BYTES,
)
from schemas.strict_json import JSONProblem, strict_loads

#: Longest log line kept in memory; a longer one is hashed in pieces and reported as too long.
MAX_LINE_BYTES = 1024 * 1024

TOP_LEVEL = frozenset(
    {
        "README.md",
        "manifest.json",
        "key_ceremony.json",
        "units",
        "results",
        "audit.jsonl",
        "booth_code",
    }
)
LOG_FILES = frozenset({"ballots.jsonl", "checkpoints.txt", "tally.json"})
RESULT_FILES = ("preliminary.json", "final.json")


def document_limit(rel: str) -> int:
    """The most bytes a record file (or a service's answer for it) may hold: sized from the
    largest honest election (above) and the service's own limits (docs/api.md)."""
    name = rel.split("?", 1)[0].rsplit("/", 1)[-1]
    if name == "manifest.json":
        return MAX_MANIFEST_BYTES
    if name == "key_ceremony.json":
        return MAX_CEREMONY_BYTES
    if name == "checkpoints.txt":
        return MAX_CHECKPOINTS_BYTES
    if name in ("ballots.jsonl", "audit.jsonl"):
        return MAX_PAGE_BYTES
    if name in RESULT_FILES:
        return MAX_RESULT_BYTES
    return MAX_SMALL_JSON_BYTES


@dataclass(frozen=True)
class LogLine:
    """One line of ballots.jsonl: 1-based number, its bytes (None if over MAX_LINE_BYTES),
    its RFC 9162 leaf hash, and whether it ended with a newline."""

    number: int
    data: bytes | None
    leaf: bytes
    terminated: bool
    length: int


@dataclass(frozen=True)
class NoteEntry:
    """One signed note of checkpoints.txt: its position (0-based), first line, and text."""

    position: int
    line: int
    text: str


@dataclass
class Layout:
    """What the record directory holds."""

    top: list[str] = field(default_factory=list)
    units: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # unit -> round -> files
    unit_files: list[str] = field(default_factory=list)  # files (not folders) directly in units/
    stray: list[str] = field(default_factory=list)  # files directly in a unit folder
    results: list[str] = field(default_factory=list)


class Record:
    """An election record directory (see ``open_record`` for archives)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, rel: str) -> Path:
        return self.root / rel

    def exists(self, rel: str) -> bool:
        return self.path(rel).is_file()

    def size(self, rel: str) -> int:
        try:
            return self.path(rel).stat().st_size
        except OSError:
            return 0

    def read_bytes(self, rel: str, limit: int) -> tuple[bytes | None, str | None]:
        path = self.path(rel)
        try:
            if not path.is_file():
                return None, "missing" if not path.exists() else "not a regular file"
            if path.stat().st_size > limit:
                return None, f"larger than {limit} bytes"
            return path.read_bytes(), None
        except OSError as exc:
            return None, f"cannot be read ({exc.strerror or exc})"

    def read_json(self, rel: str) -> tuple[Any, str | None]:
        """(value, None) or (None, reason); at most ``document_limit(rel)`` bytes."""
        data, error = self.read_bytes(rel, document_limit(rel))
        if data is None:
            return None, error
        try:
            return strict_loads(data), None
        except JSONProblem as exc:
            return None, str(exc)

    def read_text(self, rel: str, limit: int) -> tuple[str | None, str | None]:
        data, error = self.read_bytes(rel, limit)
        if data is None:
            return None, error
        try:
            return data.decode("utf-8"), None
        except UnicodeDecodeError as exc:
            return None, f"not valid UTF-8 (byte {exc.start})"

    def iter_lines(
        self, rel: str, start: int = 0, number: int = 0
    ) -> Generator[LogLine, None, None]:
        """Stream a JSON-lines log, one entry at a time, computing each leaf hash.

        Memory is bounded by MAX_LINE_BYTES whatever the file's size. The caller must check the
        file exists first (an unreadable file just yields nothing). ``start``: a byte offset
        where a line begins, ``number`` lines before it (the live monitor resumes there).
        """
        try:
            handle = open(self.path(rel), "rb")  # noqa: SIM115 - closed in finally
        except OSError:
            return
        try:
            handle.seek(start)
            while True:
                chunk = handle.readline(MAX_LINE_BYTES + 1)
                if not chunk:
                    return
                number += 1
                hasher = hashlib.sha256(b"\x00")
                kept: bytes | None = chunk
                length = len(chunk)
                while not chunk.endswith(b"\n") and len(chunk) == MAX_LINE_BYTES + 1:
                    # an over-long line: hash it in pieces, keep none of it
                    hasher.update(chunk)
                    kept = None
                    chunk = handle.readline(MAX_LINE_BYTES + 1)
                    length += len(chunk)
                    if not chunk:
                        break
                terminated = chunk.endswith(b"\n")
                if terminated:
                    chunk = chunk[:-1]
                    length -= 1
                hasher.update(chunk)
                data = chunk if kept is not None else None
                yield LogLine(number, data, hasher.digest(), terminated, length)
        finally:
            handle.close()

    def checkpoint_notes(self, rel: str) -> tuple[list[NoteEntry], str | None]:
        """Split checkpoints.txt into signed notes (one blank line between notes).

        Each note is "text, blank line, signature lines", so the file splits on blank lines into
        alternating texts and signature blocks.
        """
        text, error = self.read_text(rel, MAX_CHECKPOINTS_BYTES)
        if text is None:
            return [], error
        if not text:
            return [], "empty: a log has at least the checkpoint issued when it opened"
        return split_notes(text)

    def layout(self) -> Layout:
        out = Layout()
        out.top = sorted(_names(self.root))
        units = self.root / "units"
        if units.is_dir():
            for name in sorted(_names(units)):
                folder = units / name
                if not folder.is_dir():
                    out.unit_files.append(name)
                    continue
                rounds: dict[str, list[str]] = {}
                for entry in sorted(_names(folder)):
                    if (folder / entry).is_dir():
                        rounds[entry] = sorted(_names(folder / entry))
                    else:
                        out.stray.append(f"units/{name}/{entry}")
                out.units[name] = rounds
        results = self.root / "results"
        if results.is_dir():
            out.results = sorted(_names(results))
        return out


def split_notes(text: str) -> tuple[list[NoteEntry], str | None]:
    """The signed notes of a checkpoints.txt text (one blank line between notes), or why not."""
    parts = text.split("\n\n")
    if len(parts) % 2:
        return [], (
            "does not split into signed notes (expected note text and signature blocks "
            "separated by single blank lines)"
        )
    notes: list[NoteEntry] = []
    line = 1
    for i in range(0, len(parts), 2):
        body, sigs = parts[i], parts[i + 1]
        last = i + 2 == len(parts)
        note = body + "\n\n" + (sigs if last else sigs + "\n")
        notes.append(NoteEntry(len(notes), line, note))
        line += body.count("\n") + sigs.count("\n") + 4 - (1 if last else 0)
    return notes, None


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except OSError:
        return []


class RecordOpenError(Exception):
    """The record path is neither a directory nor an archive we can read safely."""


def open_record(path: Path, scratch: list[Path]) -> Record:
    """A Record for a directory, or for a .tar(.gz|.bz2|.xz)/.tgz/.zip archive unpacked into a
    temporary directory (appended to ``scratch`` for the caller to remove)."""
    if path.is_dir():
        return Record(path)
    if not path.exists():
        raise RecordOpenError(f"{path} does not exist")
    name = path.name.lower()
    if name.endswith((".tar.zst", ".tzst")):
        raise RecordOpenError(
            "zstd archives need a tool outside the standard library: unpack it first "
            "(tar --zstd -xf RECORD) and verify the directory"
        )
    tmp = Path(tempfile.mkdtemp(prefix="kz-record-"))
    scratch.append(tmp)
    try:
        if zipfile.is_zipfile(path):
            _unzip(path, tmp)
        elif tarfile.is_tarfile(path):
            _untar(path, tmp)
        else:
            raise RecordOpenError(f"{path} is not a directory, a tar archive or a zip archive")
    except (OSError, tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise RecordOpenError(f"cannot unpack {path}: {exc}") from exc
    # An archive holds the record directory itself, or its contents.
    entries = [p for p in tmp.iterdir()]
    if len(entries) == 1 and entries[0].is_dir() and not (tmp / "manifest.json").exists():
        return Record(entries[0])
    return Record(tmp)


def _safe_member(name: str) -> bool:
    parts = Path(name).parts
    return not (Path(name).is_absolute() or ".." in parts or not parts)


def _untar(path: Path, dest: Path) -> None:
    total = 0
    with tarfile.open(path, "r:*") as tar:
        for member in tar:
            if not _safe_member(member.name):
                raise RecordOpenError(f"unsafe path in archive: {member.name[:80]!r}")
            if member.isdir():
                (dest / member.name).mkdir(parents=True, exist_ok=True)
                continue
            if not member.isfile():
                raise RecordOpenError(f"archive member is not a regular file: {member.name[:80]}")
            total += member.size
            if total > MAX_ARCHIVE_BYTES:
                raise RecordOpenError("archive unpacks to more than 8 GiB")
            source = tar.extractfile(member)
            if source is None:
                continue
            target = dest / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            with source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)


def _unzip(path: Path, dest: Path) -> None:
    total = 0
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not _safe_member(info.filename):
                raise RecordOpenError(f"unsafe path in archive: {info.filename[:80]!r}")
            target = dest / info.filename
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            total += info.file_size
            if total > MAX_ARCHIVE_BYTES:
                raise RecordOpenError("archive unpacks to more than 8 GiB")
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
