"""Electors' rolls: one CSV file per electoral unit, imported all or nothing.

In an indirect election such as Kazakhstan's Senate election the electors are maslikhat
deputies, and each electoral unit (an oblast or a city of republican significance) has its own
roll. A roll file is CSV with a header row naming three columns, in any order and any letter
case::

    elector_id,full_name,public_key

``public_key`` is the elector's Ed25519 public key as 64 lowercase hex digits. The delimiter is
``,`` or ``;`` (whichever the header line uses); fields may be quoted as in RFC 4180; whitespace
around fields is ignored, and so are blank lines. A key must be a point that libsodium's
``crypto_core_ed25519_is_valid_point`` accepts: canonically encoded, on the curve, in the
prime-order subgroup and not of small order. Elector ids are 1 to 64 of ``A-Z a-z 0-9 . _ -``.

Roll files come from office software, so their text encoding varies:

* UTF-8, with or without a byte order mark, is tried first;
* otherwise Windows-1251 (CP1251), the Cyrillic code page of Russian-language Windows;
* a file that mixes the two, or that neither decodes, is refused.

Names are then checked for *mojibake*, text that went through the wrong code page on its way
into the file. Two kinds are recognised and repaired (see ``_analyse_name`` for the exact rule):

* UTF-8 bytes read as Windows-1252 or Latin-1 and saved again: ``ÐŸÐµÑ‚Ñ€Ð¾Ð²`` for
  ``Петров``;
* CP1251 bytes read as Latin-1 or Windows-1252 and saved again: ``Êàçàõñòàí`` for
  ``Казахстан``;
* UTF-8 bytes read as CP1251 and saved again: ``РљР°Р·Р°С…СЃС‚Р°РЅ`` for ``Казахстан``.

A repair is made only when every affected word turns into Cyrillic and none of the name's other
words contradicts it; the lines repaired are reported. Genuine Latin names (``Müller``,
``José``) and genuine Cyrillic and Kazakh text are never changed. A name that is partly
mis-encoded is refused.

Two kinds of damage cannot be repaired and are refused with what to do: a ``?`` in a name (a
Kazakh roll saved from Excel as CP1251 CSV turns ә ғ қ ң ө ұ ү һ into ``?`` before the file ever
reaches us: ``?лібек ?алым``), and a C1 control character U+0080-U+009F left by a misreading
that did not fully repair.

Any error refuses the whole file: ``parse_roll`` raises ``RollError`` carrying the 1-based line
number (of the line where the record starts) and the reason. Nothing here touches the file
system except the convenience ``load_roll_file``.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from crypto.canonical import EncodingError
from crypto.signing import VerifyKey

COLUMNS = ("elector_id", "full_name", "public_key")
MAX_NAME_LENGTH = 300

_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_ELECTOR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # as schemas.common
_KEY_HEX = re.compile(r"[0-9a-f]{64}")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Control, format (invisible, bidi overrides), surrogate, private-use and line/paragraph
# separator characters have no place in a name.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
# Whitespace stripped from a name before mojibake analysis: everything but NO-BREAK SPACE,
# because in UTF-8-read-as-CP1251 mojibake U+00A0 is the second half of the letter "Р".
# NEXT LINE (U+0085) is kept too: it is the Latin-1 image of the byte 0x85 in "х" (D1 85).
_WHITESPACE_BUT_NBSP = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Punctuation that may appear inside a word of repaired text besides Cyrillic letters.
_REPAIRED_PUNCTUATION = frozenset("«»„“”‘’–—…№\u00a0")


def _latin_images() -> dict[str, int]:
    """Characters that a byte 0x80-0xFF becomes when read as Windows-1252 or Latin-1."""
    images: dict[str, int] = {}
    for byte in range(0x80, 0x100):
        images[chr(byte)] = byte  # Latin-1, including the C1 controls U+0080-U+009F
        # 0x81, 0x8D, 0x8F, 0x90 and 0x9D are undefined in Windows-1252
        with contextlib.suppress(UnicodeDecodeError):
            images[bytes([byte]).decode("cp1252")] = byte
    return images


def _cp1251_bytes() -> dict[str, int]:
    """Non-ASCII characters CP1251 can hold, with their bytes.

    Byte 0x98 is undefined in CP1251; Windows reads it as U+0098, so that is mapped back too.
    """
    table = {"\u0098": 0x98}
    for byte in range(0x80, 0x100):
        if byte != 0x98:
            table[bytes([byte]).decode("cp1251")] = byte
    return table


_LATIN_TO_BYTE = _latin_images()
_CP1251_TO_BYTE = _cp1251_bytes()


class RollError(ValueError):
    """A roll is refused. ``line`` is 1-based, or None when the problem has no single line."""

    def __init__(self, line: int | None, reason: str) -> None:
        self.line = line
        self.reason = reason
        super().__init__(reason if line is None else f"line {line}: {reason}")

    def __reduce__(self) -> tuple[type[RollError], tuple[int | None, str]]:
        return type(self), (self.line, self.reason)


@dataclass(frozen=True)
class RollEntry:
    elector_id: str
    name: str
    public_key: str  # 64 lowercase hex digits


@dataclass(frozen=True)
class RollImport:
    unit: str
    entries: tuple[RollEntry, ...]
    encoding: str  # "utf-8", "utf-8-sig" or "cp1251"
    repaired_lines: tuple[int, ...]  # lines whose name had mojibake repaired


class _FieldError(ValueError):
    """A field is invalid; the caller adds the line number."""


# --- decoding ---------------------------------------------------------------------------------


_BYTE_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


def _line_of(data: bytes, offset: int) -> int:
    return len(_BYTE_LINE_BREAK.findall(data, 0, offset)) + 1


def _decode(data: bytes) -> tuple[str, str]:
    """The text of a roll file and the encoding it was read in."""
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")):
        raise RollError(
            None,
            "this is not a CSV file but a spreadsheet workbook (.xlsx or .xls); in Excel use "
            'Save As, "CSV UTF-8 (Comma delimited)", and import that file',
        )
    if data[:4096].count(b"\x00") > 1 and not data.startswith(_UTF16_BOMS):  # a stray NUL: below
        raise RollError(
            _line_of(data, data.index(b"\x00")),
            'this is not a CSV file (it holds binary data); save the roll as "CSV UTF-8"',
        )
    if data.startswith(_UTF8_BOM):
        try:
            return data[len(_UTF8_BOM) :].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise RollError(
                _line_of(data, exc.start + len(_UTF8_BOM)),
                f"byte 0x{data[exc.start + len(_UTF8_BOM)]:02x} is not valid UTF-8 "
                "(the file starts with a UTF-8 byte order mark)",
            ) from None
    if data.startswith(_UTF16_BOMS):
        raise RollError(1, "the file is UTF-16; save it as UTF-8 (or CP1251) CSV")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    # Not UTF-8 as a whole. If some line is non-ASCII UTF-8 text, the file mixes encodings:
    # a real CP1251 line with Cyrillic letters is practically never valid UTF-8.
    utf8_line: int | None = None
    bad_line: int | None = None
    for number, line in enumerate(_BYTE_LINE_BREAK.split(data), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad_line = bad_line or number
            continue
        if utf8_line is None and not line.isascii():
            utf8_line = number
    if utf8_line is not None and bad_line is not None:
        raise RollError(
            bad_line,
            f"not valid UTF-8, yet line {utf8_line} is UTF-8 text: the file mixes encodings",
        )
    try:
        return data.decode("cp1251"), "cp1251"
    except UnicodeDecodeError as exc:
        raise RollError(
            _line_of(data, exc.start),
            f"byte 0x{data[exc.start]:02x} is neither valid UTF-8 nor CP1251",
        ) from None


# --- mojibake ---------------------------------------------------------------------------------


# A word is a run of ASCII letters, NO-BREAK SPACEs and other non-ASCII non-space characters,
# so that symbols such as "²" or "×" (the Latin-1 images of CP1251 "І" and "Ч") stay inside
# their word. Splitting on it with a capturing group puts the words at the odd indices.
_WORD = re.compile(r"((?:[A-Za-z\u00a0\u0085]|[^\x00-\x7f\s])+)")
# Mojibake of either kind needs at least one of these: a Latin-1/Windows-1252 image of a byte
# 0x80-0xFF, or the CP1251 image of a UTF-8 continuation byte 0x80-0xBF.
_SUSPECTS = frozenset(_LATIN_TO_BYTE) | frozenset(
    char for char, byte in _CP1251_TO_BYTE.items() if byte < 0xC0
)


def _cyrillic_letters(text: str) -> int | None:
    """How many Cyrillic letters ``text`` has, or None if it has anything but those and a
    little punctuation (or no letters at all)."""
    count = 0
    for char in text:
        if "\u0400" <= char <= "\u04ff" and char.isalpha():
            count += 1
        elif char not in _REPAIRED_PUNCTUATION:
            return None
    return count or None


def _repair_utf8_latin(word: str) -> str | None:
    """``word`` read back as UTF-8 bytes that had been decoded as Windows-1252/Latin-1."""
    if word.isascii():
        return None
    try:
        return bytes(ord(c) if c.isascii() else _LATIN_TO_BYTE[c] for c in word).decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        return None


def _repair_latin(word: str) -> str | None:
    """``word`` read back as CP1251 bytes that had been decoded as Latin-1/Windows-1252."""
    if any(char.isascii() or char not in _LATIN_TO_BYTE for char in word):
        return None
    try:
        return bytes(_LATIN_TO_BYTE[char] for char in word).decode("cp1251")
    except UnicodeDecodeError:
        return None


def _repair_cp1251(word: str) -> str | None:
    """``word`` read back as UTF-8 bytes that had been decoded as CP1251."""
    if word.isascii():
        return None
    try:
        raw = bytes(ord(c) if c.isascii() else _CP1251_TO_BYTE[c] for c in word)
        return raw.decode("utf-8")
    except (KeyError, UnicodeDecodeError):
        return None


# UTF-8 read as Windows-1252 goes first: its repair must decode as UTF-8, which text of the
# other kinds practically never does, while the second route would turn it into Cyrillic-looking
# CP1251 mojibake.
_ROUTES = (
    ("UTF-8 text read as Windows-1252", _repair_utf8_latin),
    ("CP1251 text read as Latin-1", _repair_latin),
    ("UTF-8 text read as CP1251", _repair_cp1251),
)


def _analyse_name(name: str) -> tuple[str, bool]:
    """Detect and repair mojibake in a name: (the name to use, whether it was repaired).

    For each kind of mojibake, every word of the name is classified:

    * *strong*: the repair turns it into Cyrillic (and a little punctuation) with at least two
      letters;
    * *weak*: the same, but a single letter (an initial such as ``È.``, which could as well be
      French);
    * *other*: a word with a letter that does not repair to Cyrillic (``Müller``, ``Иван``,
      ``Smith``).

    With no strong word the name is left alone. With strong words and no other word the words
    are repaired (separators are kept). Strong words beside other words are ambiguous, and the
    name is refused.
    """
    if name.isascii() or _SUSPECTS.isdisjoint(name):
        return name, False
    segments = _WORD.split(name)
    for description, repair in _ROUTES:
        repaired: list[str] = []
        strong: tuple[str, str] | None = None
        other: str | None = None
        for index, text in enumerate(segments):
            is_word = index % 2 == 1
            fixed = repair(text) if is_word else None
            letters = _cyrillic_letters(fixed) if fixed is not None and fixed != text else None
            if fixed is None or letters is None:
                if is_word and other is None and any(c.isalpha() for c in text):
                    other = text
                repaired.append(text)
                continue
            if letters >= 2 and strong is None:
                strong = (text, fixed)
            repaired.append(fixed)
        if strong is None:
            continue
        if other is not None:
            raise _FieldError(
                f"name {name!r} looks partly mis-encoded ({description}: {strong[0]!r} would "
                f"be {strong[1]!r}) but {other!r} does not; fix the file's encoding"
            )
        return "".join(repaired), True
    return name, False


# --- fields -----------------------------------------------------------------------------------


def _check_elector_id(text: str) -> str:
    if not text:
        raise _FieldError("empty elector id")
    if not _ELECTOR_ID.fullmatch(text):
        raise _FieldError(
            f"malformed elector id {text!r} (1 to 64 characters of A-Z a-z 0-9 . _ -)"
        )
    return text


def _clean_name(raw: str) -> tuple[str, bool]:
    """The name to import from a raw field, and whether mojibake was repaired."""
    name, repaired = _analyse_name(raw.strip(_WHITESPACE_BUT_NBSP))
    name = name.strip()
    if not name:
        raise _FieldError("empty name")
    if "?" in name:
        if any("\u0400" <= char <= "\u04ff" for char in name):
            raise _FieldError(
                f"name {name!r} has '?' where letters were: the Kazakh letters (ә ғ қ ң ө ұ ү "
                "һ) were lost when the file was saved in the Windows-1251 code page, before it "
                'reached us; export the roll again as "CSV UTF-8" (in Excel: Save As, '
                '"CSV UTF-8 (Comma delimited)")'
            )
        raise _FieldError(
            f"name {name!r} has '?', which stands for a letter lost in a code-page "
            'conversion; export the roll again as "CSV UTF-8"'
        )
    for char in name:
        if "\u0080" <= char <= "\u009f":
            raise _FieldError(
                f"name {name!r} contains U+{ord(char):04X}, an invisible control character "
                "left where text was read in the wrong encoding (Latin-1) and saved again; "
                'export the roll again from the original as "CSV UTF-8"'
            )
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES or char == "\ufffd":
            raise _FieldError(
                f"name {name!r} contains the control or invisible character U+{ord(char):04X}"
            )
    if not any(char.isalpha() for char in name):
        raise _FieldError(f"name {name!r} has no letters")
    if len(name) > MAX_NAME_LENGTH:
        raise _FieldError(f"name is longer than {MAX_NAME_LENGTH} characters")
    return name, repaired


def _check_public_key(text: str) -> str:
    if not text:
        raise _FieldError("empty public key")
    if not _KEY_HEX.fullmatch(text):
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise _FieldError(f"malformed public key {shown!r} (expected 64 lowercase hex digits)")
    # VerifyKey has libsodium check that the point is on the curve, canonically encoded, in the
    # prime-order subgroup and not of small order (the cryptography package checks only the
    # length).
    try:
        VerifyKey.from_hex(text)
    except EncodingError as exc:
        raise _FieldError(f"public key {text} is not an Ed25519 public key: {exc}") from None
    return text


# --- parsing ----------------------------------------------------------------------------------


def _sniff_delimiter(text: str) -> str:
    """The delimiter used by the header (first non-blank) line."""
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
        if not line.strip():
            continue
        commas, semicolons = line.count(","), line.count(";")
        if commas and semicolons:
            raise RollError(number, "the header line has both ',' and ';'; use one delimiter")
        if not commas and not semicolons:
            raise RollError(
                number, f"missing header row: expected the columns {', '.join(COLUMNS)}"
            )
        return "," if commas else ";"
    raise RollError(None, "the file is empty")


def _read_header(
    fields: list[str], line: int, columns: tuple[str, ...] = COLUMNS
) -> dict[str, int]:
    names = [field.strip().strip("\ufeff").lower() for field in fields]
    if not set(names) & set(columns):
        raise RollError(line, f"missing header row: expected the columns {', '.join(columns)}")
    positions: dict[str, int] = {}
    for index, name in enumerate(names):
        if not name:
            raise RollError(line, "empty column name in the header (a stray delimiter?)")
        if name not in columns:
            raise RollError(line, f"unknown column {fields[index].strip()!r} in the header")
        if name in positions:
            raise RollError(line, f"column {name!r} appears twice in the header")
        positions[name] = index
    for column in columns:
        if column not in positions:
            raise RollError(line, f"the header lacks the column {column!r}")
    return positions


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank CSV records with the line each starts on."""
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quotechar='"',
        doublequote=True,
        skipinitialspace=True,
        strict=True,
    )
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise RollError(start, f"malformed CSV quoting ({exc})") from None
        if any(field.strip() for field in fields):
            yield start, fields
        start = reader.line_num + 1


def _check_unit(unit: str) -> None:
    if not unit.strip() or any(unicodedata.category(c) in _FORBIDDEN_CATEGORIES for c in unit):
        raise RollError(None, f"invalid unit name {unit!r}")


def parse_roll(data: bytes, unit: str) -> RollImport:
    """Import one unit's roll file, or refuse all of it with ``RollError``."""
    _check_unit(unit)
    text, encoding = _decode(data)
    control = _CONTROL.search(text)
    if control is not None:
        line = len(_LINE_BREAK.findall(text, 0, control.start())) + 1
        raise RollError(line, f"control character U+{ord(control.group()):04X} in the file")
    delimiter = _sniff_delimiter(text)
    records = _records(text, delimiter)
    first = next(records, None)
    if first is None:
        raise RollError(None, "the file has no header row")
    positions = _read_header(first[1], first[0])
    entries: list[RollEntry] = []
    repaired_lines: list[int] = []
    id_lines: dict[str, int] = {}
    key_lines: dict[str, int] = {}
    for line, fields in records:
        if len(fields) != len(COLUMNS):
            raise RollError(line, f"expected {len(COLUMNS)} fields, found {len(fields)}")
        try:
            elector_id = _check_elector_id(fields[positions["elector_id"]].strip())
            name, repaired = _clean_name(fields[positions["full_name"]])
            key = _check_public_key(fields[positions["public_key"]].strip())
        except _FieldError as exc:
            raise RollError(line, str(exc)) from None
        if elector_id in id_lines:
            raise RollError(line, f"duplicate elector id {elector_id!r}")
        if key in key_lines:
            raise RollError(line, f"duplicate public key {key}")
        id_lines[elector_id] = key_lines[key] = line
        if repaired:
            repaired_lines.append(line)
        entries.append(RollEntry(elector_id, name, key))
    if not entries:
        raise RollError(None, f"the roll of unit {unit!r} has no electors")
    return RollImport(unit, tuple(entries), encoding, tuple(repaired_lines))


NAME_COLUMNS = ("elector_id", "full_name")


def parse_names(data: bytes) -> list[tuple[str, str]]:
    """A roll without keys (columns ``elector_id,full_name``), as the credential authority
    receives it: the same encodings, quoting and checks as ``parse_roll``; RollError otherwise."""
    text, _ = _decode(data)
    control = _CONTROL.search(text)
    if control is not None:
        line = len(_LINE_BREAK.findall(text, 0, control.start())) + 1
        raise RollError(line, f"control character U+{ord(control.group()):04X} in the file")
    records = _records(text, _sniff_delimiter(text))
    first = next(records, None)
    if first is None:
        raise RollError(None, "the file has no header row")
    positions = _read_header(first[1], first[0], NAME_COLUMNS)
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for line, fields in records:
        if len(fields) != len(NAME_COLUMNS):
            raise RollError(line, f"expected {len(NAME_COLUMNS)} fields, found {len(fields)}")
        try:
            elector_id = _check_elector_id(fields[positions["elector_id"]].strip())
            name, _ = _clean_name(fields[positions["full_name"]])
        except _FieldError as exc:
            raise RollError(line, str(exc)) from None
        if elector_id in seen:
            raise RollError(line, f"duplicate elector id {elector_id!r}")
        seen.add(elector_id)
        out.append((elector_id, name))
    if not out:
        raise RollError(None, "the roll has no electors")
    return out


def load_roll_file(path: str | os.PathLike[str], unit: str | None = None) -> RollImport:
    """Read and import a roll file; the unit defaults to the file name without its suffix."""
    file = Path(path)
    return parse_roll(file.read_bytes(), file.stem if unit is None else unit)


def check_rolls(rolls: Mapping[str, Sequence[RollEntry]]) -> None:
    """Refuse rolls (unit -> entries) in which an elector id or a key occurs twice.

    Units are examined in sorted order, so the error reported does not depend on the order of
    the mapping.
    """
    id_units: dict[str, str] = {}
    key_units: dict[str, str] = {}
    for unit in sorted(rolls):
        for entry in rolls[unit]:
            for kind, value, seen in (
                ("elector id", repr(entry.elector_id), id_units),
                ("public key", entry.public_key, key_units),
            ):
                earlier = seen.get(value)
                if earlier == unit:
                    raise RollError(None, f"{kind} {value} appears twice in unit {unit!r}")
                if earlier is not None:
                    raise RollError(
                        None, f"{kind} {value} is in both unit {earlier!r} and unit {unit!r}"
                    )
                seen[value] = unit


def roll_to_csv(entries: Sequence[RollEntry]) -> bytes:
    """A roll as UTF-8 CSV (no byte order mark, CRLF line ends) that ``parse_roll`` reads back
    to exactly these entries.

    Entries that would not survive that round trip (invalid fields, duplicates, names that the
    reader would repair as mojibake or refuse) raise ``RollError`` with the line they would
    have had.
    """
    if not entries:
        raise RollError(None, "the roll has no electors")
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    ids: set[str] = set()
    keys: set[str] = set()
    for line, entry in enumerate(entries, start=2):
        try:
            _check_elector_id(entry.elector_id)
            name, _ = _clean_name(entry.name)
            _check_public_key(entry.public_key)
        except _FieldError as exc:
            raise RollError(line, str(exc)) from None
        if name != entry.name:
            raise RollError(line, f"name {entry.name!r} would be read back as {name!r}")
        if entry.elector_id in ids:
            raise RollError(line, f"duplicate elector id {entry.elector_id!r}")
        if entry.public_key in keys:
            raise RollError(line, f"duplicate public key {entry.public_key}")
        ids.add(entry.elector_id)
        keys.add(entry.public_key)
        writer.writerow((entry.elector_id, entry.name, entry.public_key))
    return out.getvalue().encode("utf-8")
