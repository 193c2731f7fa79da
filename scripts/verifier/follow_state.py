"""The live monitor's durable state: what it has accepted and checked, so that a monitor killed
at any moment (even with SIGKILL) resumes where it stopped and checks nothing twice.

``--state DIR`` holds:

    state.json      the state below, replaced atomically (write, fsync, rename)
    record/         the mirror: the election record as far as it is accepted, with the bytes
                    the service's /api/v1/record/ files gave (the same layout as an export)
    evidence/NNN-*  what proves a misbehaviour: the signed notes, proofs and entries involved

Mirror files are only appended to (or written whole) before ``state.json`` records their new
lengths; on start, anything a mirror file holds beyond its recorded length was written by a
monitor that died before it recorded it, and is cut off (so a file appended to gets a
recorded length, 0, saved before its first bytes). The state is saved after each poll's pass
over the logs and after each round of ballot checks, so it stays small: what the mirror holds
(the last accepted note, the entries not yet checked) is not repeated in it.
"""

from __future__ import annotations

import base64
import json
import os
import sys
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .report import Check, Failure, Report

STATE_FILE = "state.json"
MIRROR = "record"
EVIDENCE = "evidence"
FORMAT = "kz-tally/follow-state/v3"


@dataclass
class FollowedLog:
    """One log (unit, round) as far as the monitor has followed it."""

    unit: str
    round: int
    candidates: list[str] | None
    opened: bool = False  # the service has answered for this log at least once
    notes: int = 0  # signed checkpoints accepted (the mirror's checkpoints.txt holds them)
    size: int = 0  # the size of the last accepted checkpoint (= entries in the mirror)
    # entries whose ballots have been through V3 (the first ``checked`` lines of the mirror's
    # ballots.jsonl, ``checked_bytes`` bytes): checking lags accepting when ballots come faster
    # than the monitor checks them, and resumes from here
    checked: int = 0
    checked_bytes: int = 0
    root: str = ""  # its root, hex
    # its signed note, kept as evidence for a later inconsistent one; not in state.json (with
    # witnesses' ML-DSA lines it was most of the file): the mirror's checkpoints.txt ends with it
    last_note: str = ""
    final: bool = False  # the last accepted checkpoint says 'final'
    quorum: bool = False  # last_note (as last served) has its witnesses' quorum
    broken: str | None = None  # why the monitor stopped following this log
    closed_checked: bool = False  # V4 has run over the closed log
    tallied: bool = False  # V5-V8 have run over its tally
    # roll position -> first line of that elector's ballot, 0 for none (V3): the bytes of the
    # monitor's array("q"), little-endian, in base64 (one C call each way, not a Python loop)
    first_line: str = ""
    sums: list[list[str]] | None = None  # running encrypted sums [[a, b] hex] (V5)
    unreadable: list[int] = field(default_factory=list)
    unreadable_count: int = 0
    # the first MAX_LISTED V3 failures of this log [[where, why]]: the report lists the first
    # of all logs' in the batch verifier's order, whatever order they were found in
    v3_failures: list[list[str]] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.unit}/{self.round}"

    @property
    def rel(self) -> str:
        return f"units/{self.unit}/{self.round}"


@dataclass
class FollowState:
    url: str
    setup_checked: bool = False  # V1 and V2 have run
    audit_lines: int = 0
    results: list[str] = field(default_factory=list)  # result kinds mirrored
    # the logs the preliminary result may cover (those open when it was first seen), and
    # whether it was checked before the final result (an early V9, reported as events)
    preliminary_covers: list[str] | None = None
    preliminary_checked: bool = False
    logs: dict[str, FollowedLog] = field(default_factory=dict)
    mirror: dict[str, int] = field(default_factory=dict)  # mirror file -> committed length
    report: dict[str, Any] = field(default_factory=dict)
    evidence: int = 0
    verdict: bool = False

    def to_json(self) -> dict[str, Any]:
        # shallow: json.dumps copies nothing, while dataclasses.asdict deep-copies every list
        # and dict (the electors seen of every log), which cost more than the checks it saved
        out = dict(vars(self))
        out["logs"] = {key: _saved_log(lg) for key, lg in self.logs.items()}
        out["format"] = FORMAT
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> FollowState:
        if doc.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} state file")
        doc = dict(doc)
        del doc["format"]
        logs = {k: FollowedLog(**v) for k, v in doc.pop("logs").items()}
        return cls(logs=logs, **doc)


def _saved_log(lg: FollowedLog) -> dict[str, Any]:
    out = dict(vars(lg))
    del out["last_note"]
    return out


def pack_positions(values: array[int]) -> str:
    """An array("q") as state.json keeps it (see ``FollowedLog.first_line``)."""
    if sys.byteorder == "big":  # pragma: no cover - the file is the same on every machine
        values = array("q", values)
        values.byteswap()
    return base64.b64encode(values.tobytes()).decode("ascii")


def unpack_positions(text: str, length: int) -> array[int]:
    """The array packed by ``pack_positions``; ValueError if it does not hold ``length``."""
    values = array("q", base64.b64decode(text, validate=True))
    if sys.byteorder == "big":  # pragma: no cover
        values.byteswap()
    if len(values) != length:
        raise ValueError(f"{len(values)} roll positions saved where the roll has {length}")
    return values


def load_state(folder: Path) -> FollowState | None:
    path = folder / STATE_FILE
    if not path.exists():
        return None
    try:
        return FollowState.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(
            f"{path} is not a usable monitor state ({type(exc).__name__}: {exc}); "
            "give another --state folder"
        ) from None


def save_state(folder: Path, state: FollowState, dirty: set[Path], last: bytes = b"") -> bytes:
    """Make the mirror's new bytes durable, then replace state.json in one rename; returns the
    bytes written. Nothing is written when they equal ``last`` (what the previous call wrote)
    and no mirror file changed."""
    text = json.dumps(state.to_json(), ensure_ascii=False).encode("utf-8")
    if text == last and not dirty:
        return text
    for path in dirty:
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    dirty.clear()
    tmp = folder / (STATE_FILE + ".tmp")
    with open(tmp, "wb") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, folder / STATE_FILE)
    return text


def cut_mirror(mirror: Path, lengths: dict[str, int]) -> None:
    """Cut each mirror file back to the length the state recorded (see the module docstring)."""
    for rel, length in lengths.items():
        path = mirror / rel
        if path.exists() and path.stat().st_size > length:
            with open(path, "r+b") as handle:
                handle.truncate(length)


def report_to_json(report: Report) -> dict[str, Any]:
    return {
        cid: {
            "checked": dict(c.checked),
            "failures": [[f.where, f.why] for f in c.failures],
            "failure_count": c.failure_count,
            "notes": list(c.notes),
        }
        for cid, c in report.checks.items()
    }


def report_from_json(name: str, doc: dict[str, Any]) -> Report:
    report = Report.new(name)
    for cid, saved in doc.items():
        check: Check = report.checks[cid]
        check.checked = dict(saved["checked"])
        check.failures = [Failure(where, why) for where, why in saved["failures"]]
        check.failure_count = int(saved["failure_count"])
        check.notes = list(saved["notes"])
    return report
