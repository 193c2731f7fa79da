"""Reading an election record: strict JSON, streamed log lines, checkpoint notes, the layout.

Nothing here raises on bad input. Readers return either a value or the reason they could not
produce one, so that a missing or garbled file becomes a failed check with that reason.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
#: Largest JSON document read whole (manifest, ceremony, tally, results), per document. A
#: manifest holds the rolls, so it grows with the electorate: about 155 bytes an elector, so
#: 128 MiB holds the rolls of the largest election the project supports (500,000 electors on
#: the rolls, five times the benchmarked 100,000; an indirect election has thousands).
MAX_MANIFEST_BYTES = 128 * MiB
#: The key ceremony's transcript grows with n^2 (every dealer's share for every guardian).
MAX_CEREMONY_BYTES = 64 * MiB
#: A tally (n partial decryptions of a few candidates), a result (a row per unit), a proof.
MAX_SMALL_JSON_BYTES = 16 * MiB
MAX_RESULT_BYTES = 64 * MiB
#: What json.loads may build from one document, as estimated by ``parsed_cost`` before parsing:
#: an honest 500,000-elector manifest (Cyrillic names) is estimated at about 680 MiB (each count
#: overestimates, so it takes less);
#: a hostile array of empty objects (29 times its size in memory) is refused from its bytes.
MAX_JSON_COST = 768 * MiB
#: Largest checkpoints.txt read whole.
MAX_CHECKPOINTS_BYTES = 64 * MiB
#: Largest page of a JSON-lines file a monitor asks for: at most 1,000 lines (docs/api.md), each
#: at most the service's largest body (64 KiB by default).
MAX_PAGE_BYTES = 64 * MiB
#: Longest log line kept in memory; a longer one is hashed in pieces and reported as too long.
MAX_LINE_BYTES = 1024 * 1024
#: How much of an archive may be unpacked before we give up on it.
MAX_ARCHIVE_BYTES = 8 * 1024 * 1024 * 1024

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


class JSONProblem(ValueError):
    """A JSON text is not acceptable (malformed, duplicate keys, non-finite numbers)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JSONProblem(f"duplicate key {key[:40]!r}")
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise JSONProblem(f"{name} is not JSON")


def _finite(text: str) -> float:
    """A JSON number with a fraction or exponent; one too large for a float (``1e999``, which
    float() reads as infinity) is refused like the literal Infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise JSONProblem(f"the number {text[:40]} is not finite")
    return value


#: Bytes json.loads builds (CPython 3.11, measured with tracemalloc, with margin) per structural
#: character: an object 64-184 bytes, a list 56 plus 8 a slot, a key its dict entry, a string
#: 49 plus its length, a number 24-28 plus its slot. Each count overestimates (a quote in a
#: string, a comma in a string count too), so the estimate stays above the truth.
COST_PER = ((b"{", "{", 80), (b"[", "[", 88), (b":", ":", 120), (b'"', '"', 20), (b",", ",", 40))
#: The worst pattern measured (nested empty lists) costs 37 bytes a byte: a document shorter
#: than max_cost / WORST_RATIO cannot cost more than max_cost and is parsed without counting.
WORST_RATIO = 48


#: CPython keeps a str at one, two or four bytes a character, as wide as its widest one, and
#: json.loads decodes the whole text into one str before it builds the strings: a single emoji
#: makes the text and the string holding it four bytes a character each (an ASCII text with one
#: emoji took eight times its length, four times what counting its length twice assumed). A
#: string with escapes is built in a growing buffer: up to 1.25 times its width plus the rest.
_RAW_B = (re.compile(rb"[\xf0-\xf4]"), re.compile(rb"[\xc4-\xef]"))  # UTF-8 lead bytes
_RAW_S = (re.compile("[\U00010000-\U0010ffff]"), re.compile("[\u0100-\uffff]"))
_ESC_B = (re.compile(rb"\\u[dD][89abAB]"), re.compile(rb"\\u(?!00)"))  # \ud83d, \u04d8
_ESC_S = (re.compile(r"\\u[dD][89abAB]"), re.compile(r"\\u(?!00)"))


def _width(data: bytes | str) -> tuple[int, int]:
    """Upper bounds of the bytes a character of the decoded text, and of its widest string."""
    if isinstance(data, bytes):
        raw = 4 if _RAW_B[0].search(data) else 2 if _RAW_B[1].search(data) else 1
        escaped = 4 if _ESC_B[0].search(data) else 2 if _ESC_B[1].search(data) else 1
    else:
        raw = 4 if _RAW_S[0].search(data) else 2 if _RAW_S[1].search(data) else 1
        escaped = 4 if _ESC_S[0].search(data) else 2 if _ESC_S[1].search(data) else 1
    return raw, max(raw, escaped)


def parsed_cost(data: bytes | str) -> int:
    """An upper estimate of the memory json.loads takes for ``data``, from its length times the
    width of its characters and a count of its structural characters (each a pass in C over the
    bytes: no parse, no allocation)."""
    raw, widest = _width(data)
    escaped = ("\\" in data) if isinstance(data, str) else (b"\\" in data)
    per_char = raw + (2 * widest + 1 if escaped else widest)
    if isinstance(data, str):
        return per_char * len(data) + sum(data.count(c) * cost for _, c, cost in COST_PER)
    return per_char * len(data) + sum(data.count(b) * cost for b, _, cost in COST_PER)


def strict_loads(data: bytes | str, max_cost: int = MAX_JSON_COST) -> Any:
    """json.loads that refuses duplicate keys, NaN and infinities (raises JSONProblem), and a
    document whose parse would take more than ``max_cost`` bytes of memory (``parsed_cost``):
    a hostile service or record cannot make a verifier build 29 times what it sent."""
    if len(data) > max_cost // WORST_RATIO:
        cost = parsed_cost(data)
        if cost > max_cost:
            raise JSONProblem(
                f"refused unparsed: parsing it would take about {cost // MiB} MiB of memory, "
                f"more than the {max_cost // MiB} MiB a document may cost (its {len(data)} "
                "bytes are mostly objects, lists or commas, or wide characters)"
            )
    try:
        return json.loads(
            data,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constants,
            parse_float=_finite,
        )
    except JSONProblem:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise JSONProblem(f"not valid JSON: {exc}") from None


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
