"""The signed snapshot the public pages show: figures from checkpoints and results, never from
the live database.

A unit's "took part" is the size of its round's latest signed checkpoint; times are the
checkpoints' signed ``time`` extension lines (C2SP tlog-checkpoint extension lines, one
``time <RFC 3339 UTC>`` per checkpoint, and ``final`` on a round's final checkpoint):

- a round opened at the time of its size-0 checkpoint (issued at open);
- it closed at the time of its final checkpoint;
- quorum was reached at the time of the first checkpoint whose size is more than half of the
  unit's registered electors.

A checkpoint without a time line gives no time ("not signed" on the pages): a time taken from
the database would be the operator's word, which the pages never show as fact.

The snapshot is rebuilt only when the election signs something new
(``Election.signed_generation``), and its documents are immutable bytes with an ``ETag``: an
unchanged page costs a comparison of two strings.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from crypto.canonical import b64_encode
from crypto.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from crypto.fingerprint import election_fingerprint_of_hash, key_fingerprint
from crypto.note import verifier_key
from crypto.rules import percent
from schemas.manifest import DEFAULT_TIME_ZONE
from tally_service.service.election import Election
from tally_service.service.results import results_hash
from tally_service.service.store import CheckpointRow

TURNOUT_FORMAT = "kz-tally/public/turnout/v1"
TIME_LINE = "time "
FINAL_LINE = "final"
_RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z")


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def signed_time(line: str) -> datetime | None:
    """The time of a ``time <RFC 3339 UTC>`` extension line; None if malformed."""
    value = line[len(TIME_LINE) :]
    if not _RFC3339_UTC.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value[:19]).replace(tzinfo=UTC)
    except ValueError:
        return None


def utc_text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SignedPoint:
    """One signed checkpoint: its size, root, signed time (if any), final flag and note."""

    size: int
    root: str  # base64, as in the note
    time: datetime | None
    final: bool
    note: str

    @classmethod
    def from_row(cls, row: CheckpointRow) -> SignedPoint:
        body = row.note.split("\n\n", 1)[0] + "\n"
        cp = Checkpoint.parse(body)
        moment = None
        final = row.final  # countersigned by the commission at close
        for line in cp.extensions:
            if line.startswith(TIME_LINE):
                moment = signed_time(line)
            elif line == FINAL_LINE:
                final = True
        return cls(cp.size, b64_encode(cp.root), moment, final, row.note)


@dataclass
class RoundView:
    number: int
    open: bool
    candidates: list[str]
    registered: int
    points: list[SignedPoint]

    @property
    def latest(self) -> SignedPoint | None:
        return self.points[-1] if self.points else None

    @property
    def took_part(self) -> int:
        return self.points[-1].size if self.points else 0

    @property
    def turnout(self) -> str:
        return percent(self.took_part, self.registered)

    @property
    def quorum_point(self) -> SignedPoint | None:
        for point in self.points:
            if 2 * point.size > self.registered:
                return point
        return None

    @property
    def opened_at(self) -> datetime | None:
        first = self.points[0] if self.points else None
        return first.time if first is not None and first.size == 0 else None

    @property
    def closed_at(self) -> datetime | None:
        last = self.latest
        return last.time if last is not None and last.final else None

    def to_json(self) -> dict[str, Any]:
        quorum = self.quorum_point
        latest = self.latest
        return {
            "round": self.number,
            "state": "open" if self.open else "closed",
            "took_part": self.took_part,
            "turnout": self.turnout,
            "quorum": quorum is not None,
            "quorum_at": utc_text(quorum.time) if quorum else None,
            "opened_at": utc_text(self.opened_at),
            "closed_at": utc_text(self.closed_at),
            "checkpoint": None
            if latest is None
            else {
                "size": latest.size,
                "root": latest.root,
                "time": utc_text(latest.time),
                "final": latest.final,
                "note": latest.note,
            },
            "timeline": [{"size": p.size, "time": utc_text(p.time)} for p in self.points],
        }


@dataclass
class SignedResult:
    kind: str
    payload: dict[str, Any]
    body: bytes
    etag: str
    hash: str
    issued_at: datetime | None

    def unit(self, code: str) -> dict[str, Any] | None:
        for entry in self.payload["units"]:
            if entry["unit"] == code:
                return dict(entry)
        return None


@dataclass
class UnitView:
    code: str
    kind: str
    names: dict[str, str | None]
    registered: int
    candidate_names: dict[str, str]
    log_key: str
    rounds: list[RoundView] = field(default_factory=list)
    result: dict[str, Any] | None = None  # from the latest signed result
    result_kind: str | None = None

    def name(self, lang: str) -> str:
        return self.names.get(lang) or str(self.names["en"])

    @property
    def current(self) -> RoundView | None:
        return self.rounds[-1] if self.rounds else None

    @property
    def state(self) -> str:
        current = self.current
        if current is None:
            return "not-open"
        if current.number > 1:
            return "runoff-open" if current.open else "runoff-closed"
        if not current.open and self.result is not None and self.result["status"] == "runoff":
            return "runoff-needed"
        return "open" if current.open else "closed"


@dataclass
class Snapshot:
    generation: int
    zone: ZoneInfo
    zone_name: str
    units: list[UnitView]
    results: dict[str, SignedResult]
    commission_name: str
    commission_keys: list[str]
    commission_note_keys: list[str]
    title: dict[str, str | None] = field(default_factory=dict)  # the manifest's, per language
    date: str = ""  # the election day, YYYY-MM-DD
    simulation: bool = False  # the manifest's "simulation": every page says so
    election_hash: str = ""  # hex, of the sealed manifest
    turnout_body: bytes = b""
    turnout_etag: str = ""
    election_fingerprint: str = ""  # crypto/fingerprint.py: shown on every page

    @property
    def commission_fingerprints(self) -> list[str]:
        return [key_fingerprint(bytes.fromhex(k)) for k in self.commission_keys]

    @property
    def registered(self) -> int:
        return sum(u.registered for u in self.units)

    @property
    def took_part(self) -> int:
        return sum(u.current.took_part if u.current else 0 for u in self.units)

    @property
    def turnout(self) -> str:
        return percent(self.took_part, self.registered)

    def unit(self, code: str) -> UnitView | None:
        for u in self.units:
            if u.code == code:
                return u
        return None

    @property
    def round_number(self) -> int:
        """The election's round: 2 once any unit holds a runoff."""
        return max((u.current.number for u in self.units if u.current), default=1)

    @property
    def voting(self) -> bool:
        return any(u.current.open for u in self.units if u.current)

    def title_in(self, lang: str) -> str:
        return str(self.title.get(lang) or self.title.get("en") or "")

    @property
    def latest_result(self) -> SignedResult | None:
        return self.results.get("final") or self.results.get("preliminary")


def _points(election: Election, unit: str, round_no: int) -> list[SignedPoint]:
    rows = election.store.checkpoints(unit, round_no)
    points = []
    for row in rows:
        try:
            points.append(SignedPoint.from_row(row))
        except CheckpointError:
            continue  # never shown: the verifier reports such a note
    if rows:
        # the figure shown is the latest note's: check its signature before showing it
        try:
            open_checkpoint(rows[-1].note, election.manifest.log_verifiers[unit])
        except CheckpointError:
            return points[:-1]
    return points


def build(election: Election) -> Snapshot:
    generation = election.signed_generation
    body = election.manifest.body
    zone_name = str(body.get("time_zone") or DEFAULT_TIME_ZONE)
    results: dict[str, SignedResult] = {}
    for kind in ("preliminary", "final"):
        text = election.store.get_result(kind)
        if text is not None:
            signed = json.loads(text)
            raw = text.encode("utf-8")
            issued = signed["payload"].get("issued_at")
            results[kind] = SignedResult(
                kind,
                signed["payload"],
                raw,
                etag_of(raw),
                results_hash(signed),
                datetime.fromisoformat(issued.replace("Z", "+00:00")) if issued else None,
            )
    latest = results.get("final") or results.get("preliminary")
    units = []
    for code, unit in election.manifest.units.items():
        view = UnitView(
            code=code,
            kind=unit["kind"],
            names=dict(unit["name"]),
            registered=len(unit["roll"]),
            candidate_names={c["id"]: c["name"] for c in unit["candidates"]},
            log_key=unit["log_key"],
        )
        for (u, r), log in sorted(election.logs.items()):
            if u == code:
                view.rounds.append(
                    RoundView(
                        r, log.open, list(log.candidates), view.registered, _points(election, u, r)
                    )
                )
        if latest is not None:
            view.result, view.result_kind = latest.unit(code), latest.kind
        units.append(view)
    snap = Snapshot(
        generation=generation,
        zone=ZoneInfo(zone_name),
        zone_name=zone_name,
        units=units,
        results=results,
        commission_name=body["commission"]["name"],
        commission_keys=list(body["commission"]["keys"]),
        commission_note_keys=[
            verifier_key(body["commission"]["name"], key)
            for key in election.manifest.commission_keys.values()
        ],
        title=dict(body["title"]),
        date=str(body["date"]),
        simulation=body.get("simulation") is True,
        election_hash=election.manifest.hash.hex(),
    )
    snap.election_fingerprint = election_fingerprint_of_hash(election.manifest.hash)
    snap.turnout_body = json.dumps(turnout_document(election, snap), ensure_ascii=False).encode()
    snap.turnout_etag = etag_of(snap.turnout_body)
    return snap


def turnout_document(election: Election, snap: Snapshot) -> dict[str, Any]:
    """The public turnout document: every figure from a signed checkpoint (docs/api.md)."""
    return {
        "format": TURNOUT_FORMAT,
        "election": election.manifest.hash.hex(),
        "time_zone": snap.zone_name,
        "registered": snap.registered,
        "took_part": snap.took_part,
        "turnout": snap.turnout,
        "units": [
            {
                "unit": u.code,
                "state": u.state,
                "registered": u.registered,
                "round": u.current.number if u.current else None,
                "took_part": u.current.took_part if u.current else 0,
                "turnout": u.current.turnout if u.current else "0.00",
                "rounds": [r.to_json() for r in u.rounds],
            }
            for u in snap.units
        ],
    }
