"""V9: the commission-signed results equal the figures recomputed from the record."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from crypto.canonical import EncodingError, canonical_json, hash_json
from crypto.envelope import EnvelopeError, open_document
from crypto.signing import Context
from schemas.strict_json import JSONProblem, strict_loads

from .model import ManifestInfo, RoundFacts
from .record import RESULT_FILES, Record
from .report import Check

RESULTS_FORMAT = "kz-tally/results/v1"
RESULTS_HASH_TAG = "kz-tally/v1/results"
PAYLOAD_FIELDS = frozenset(
    {"format", "election", "kind", "issued_at", "units", "preliminary", "changes"}
)
UNIT_FIELDS = frozenset({"unit", "registered", "status", "winner", "rounds"})
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _short(value: object, limit: int = 90) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _same(a: object, b: object) -> bool:
    """Equal as signed: the same RFC 8785 bytes (so 1 and true differ, 1 and 1.0 do not)."""
    try:
        return canonical_json(a) == canonical_json(b)
    except EncodingError:
        return False


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z")


def _timestamp(value: object) -> datetime | None:
    """An RFC 3339 UTC timestamp as the service writes it (2023-01-14T18:00:00.000Z)."""
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        return None
    try:
        return datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        return None


def check_results(
    record: Record,
    manifest: ManifestInfo,
    present: set[tuple[str, int]],
    rounds: dict[tuple[str, int], RoundFacts],
    v9: Check,
) -> None:
    names = record.layout().results
    if not record.path("results").is_dir():
        v9.fail("results/", "missing")
        return
    for name in names:
        if name not in RESULT_FILES:
            v9.fail(f"results/{name}", "unexpected file (results/ holds preliminary and final)")
    signed: dict[str, dict[str, Any]] = {}
    payloads: dict[str, dict[str, Any]] = {}
    for kind in ("preliminary", "final"):
        doc = check_result(record, manifest, kind, present, rounds, v9)
        if doc is not None:
            signed[kind] = doc
            payloads[kind] = doc["payload"]
    if "final" in payloads:
        _check_link(signed, payloads, manifest, v9)
    check_audit(record, manifest, v9)


def check_result(
    record: Record,
    manifest: ManifestInfo,
    kind: str,
    present: set[tuple[str, int]],
    rounds: dict[tuple[str, int], RoundFacts],
    v9: Check,
) -> dict[str, Any] | None:
    """One result file (``kind``: preliminary or final): the commission's signature and every
    figure against the rounds recomputed from the record. Returns the signed document, or None
    if it is not one. The live monitor also runs it on the preliminary result alone, as soon as
    the rounds it covers are tallied."""
    rel = f"results/{kind}.json"
    doc, error = record.read_json(rel)
    if error is not None:
        v9.fail(rel, error)
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), dict):
        v9.fail(rel, "not a signed document {payload, key_id, signature}")
        return None
    try:
        open_document(doc, manifest.commission_keys, Context.TALLY)
        v9.count("signatures")
    except EnvelopeError as exc:
        v9.fail(f"{rel} signature", f"not a valid commission signature: {exc}")
    _check_payload(rel, kind, doc["payload"], manifest, present, rounds, v9)
    return doc


AUDIT = "audit.jsonl"
AUDIT_FIELDS = frozenset({"seq", "at", "key_id", "action", "request"})
# an identical retry answered from the service's store names the line it repeats
REPEAT_FIELDS = AUDIT_FIELDS | {"repeat_of"}


def check_audit(record: Record, manifest: ManifestInfo, v9: Check) -> None:
    """audit.jsonl: every line a commission request, signed by the key it names, for this
    election and the action it is filed under, in increasing sequence, no nonce used twice
    except by a repeat line (``repeat_of``), whose request is the very one of the line it
    names."""
    if not record.exists(AUDIT):
        v9.note("the record has no audit.jsonl (the commission's requests are not published)")
        return
    last_seq = 0
    nonces: set[str] = set()
    requests_by_seq: dict[int, Any] = {}
    for line in record.iter_lines(AUDIT):
        where = f"{AUDIT}:{line.number}"
        if line.data is None:
            v9.fail(where, "the line is longer than 1 MiB")
            continue
        try:
            entry = strict_loads(line.data)
        except JSONProblem as exc:
            v9.fail(where, str(exc))
            continue
        if not isinstance(entry, dict) or set(entry) not in (AUDIT_FIELDS, REPEAT_FIELDS):
            v9.fail(
                where,
                f"an audit line has exactly the fields {sorted(AUDIT_FIELDS)} (and repeat_of)",
            )
            continue
        v9.count("audited requests")
        seq = entry["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool) or seq <= last_seq:
            v9.fail(where, f"seq {seq!r} does not follow {last_seq}")
        else:
            last_seq = seq
        request = entry["request"]
        try:
            payload = open_document(request, manifest.commission_keys, Context.REQUEST)
        except EnvelopeError as exc:
            v9.fail(where, f"the request is not signed by a commission key: {exc}")
            continue
        assert isinstance(request, dict)
        if entry["key_id"] != request.get("key_id"):
            v9.fail(where, "key_id is not the key that signed the request")
        if payload.get("election") != manifest.hash.hex():
            v9.fail(where, "the request is for another election")
        if payload.get("action") != entry["action"]:
            v9.fail(where, f"filed as {entry['action']!r}, signed for {payload.get('action')!r}")
        if "repeat_of" in entry:
            named = entry["repeat_of"]
            # a line number: an int, not a bool (True == 1) nor anything unhashable
            is_seq = isinstance(named, int) and not isinstance(named, bool)
            original = requests_by_seq.get(named) if is_seq else None
            if original is None or original != request:
                v9.fail(where, "repeat_of names no earlier line with this very request")
            continue
        if isinstance(seq, int):
            requests_by_seq[seq] = request
        nonce = payload.get("nonce")
        if isinstance(nonce, str):
            if nonce in nonces:
                v9.fail(where, "a nonce used before: a replayed request")
            nonces.add(nonce)


def _check_payload(
    rel: str,
    kind: str,
    payload: dict[str, Any],
    manifest: ManifestInfo,
    present: set[tuple[str, int]],
    rounds: dict[tuple[str, int], RoundFacts],
    v9: Check,
) -> None:
    if set(payload) != PAYLOAD_FIELDS:
        v9.fail(rel, f"payload fields are {sorted(payload)}, expected {sorted(PAYLOAD_FIELDS)}")
    if payload.get("format") != RESULTS_FORMAT:
        v9.fail(rel, f"format is not {RESULTS_FORMAT!r}")
    if payload.get("election") != manifest.hash.hex():
        v9.fail(rel, "election is not this manifest's hash")
    if payload.get("kind") != kind:
        v9.fail(rel, f"kind is {payload.get('kind')!r} in the {kind} results file")
    if _timestamp(payload.get("issued_at")) is None:
        v9.fail(rel, f"issued_at {_short(payload.get('issued_at'))} is not a UTC RFC 3339 time")
    if kind == "preliminary" and (
        payload.get("preliminary") is not None or payload.get("changes") is not None
    ):
        v9.fail(rel, "a preliminary result references no earlier result (preliminary, changes)")
    units = payload.get("units")
    if not isinstance(units, list):
        v9.fail(f"{rel} units", "not a list")
        return
    seen: set[str] = set()
    for i, entry in enumerate(units):
        if not isinstance(entry, dict):
            v9.fail(f"{rel} units[{i}]", "not an object")
            continue
        code = entry.get("unit")
        if not isinstance(code, str) or code not in manifest.units:
            v9.fail(f"{rel} units[{i}]", f"unit {code!r} is not in the manifest")
            continue
        if code in seen:
            v9.fail(f"{rel} units[{i}]", f"unit {code} is listed twice")
            continue
        seen.add(code)
        _check_unit(rel, kind, code, entry, manifest, present, rounds, v9)
    for code in manifest.units:
        if code not in seen:
            v9.fail(f"{rel} units", f"unit {code} is missing")


def _check_unit(
    rel: str,
    kind: str,
    code: str,
    entry: dict[str, Any],
    manifest: ManifestInfo,
    present: set[tuple[str, int]],
    rounds: dict[tuple[str, int], RoundFacts],
    v9: Check,
) -> None:
    where = f"{rel} unit {code}"
    if set(entry) != UNIT_FIELDS:
        v9.fail(where, f"fields are {sorted(entry)}, expected {sorted(UNIT_FIELDS)}")
    registered = manifest.units[code].registered
    if not _same(entry.get("registered"), registered):
        v9.fail(f"{where} registered", f"says {_short(entry.get('registered'))}, the roll has "
                f"{registered}")
    in_record = sorted(r for (u, r) in present if u == code)
    listed = entry.get("rounds")
    if not isinstance(listed, list) or not listed:
        v9.fail(f"{where} rounds", "not a non-empty list")
        return
    if kind == "final" and len(listed) != len(in_record):
        v9.fail(
            f"{where} rounds",
            f"the final result lists {len(listed)} round(s), the record holds {len(in_record)}",
        )
    elif len(listed) > len(in_record):
        v9.fail(f"{where} rounds", f"lists {len(listed)} rounds, the record holds {len(in_record)}")
    last: dict[str, Any] | None = None
    for j, figures in enumerate(listed):
        round_no = j + 1
        rw = f"{where} round {round_no}"
        facts = rounds.get((code, round_no))
        expected = facts.figures if facts is not None else None
        if expected is None:
            v9.fail(rw, "cannot be recomputed from the record (see V5-V8)")
            last = None
            continue
        last = expected
        if not isinstance(figures, dict):
            v9.fail(rw, "not an object")
            continue
        v9.count("rounds compared")
        if set(figures) != set(expected):
            v9.fail(rw, f"fields are {sorted(figures)}, expected {sorted(expected)}")
        for key, value in expected.items():
            if key in figures and not _same(figures[key], value):
                v9.fail(f"{rw} {key}", f"says {_short(figures[key])}, recomputed {_short(value)}")
    if last is not None:
        for key in ("status", "winner"):
            if not _same(entry.get(key), last[key]):
                v9.fail(
                    f"{where} {key}",
                    f"says {_short(entry.get(key))}, recomputed {_short(last[key])}",
                )


def _check_link(
    signed: dict[str, dict[str, Any]],
    payloads: dict[str, dict[str, Any]],
    manifest: ManifestInfo,
    v9: Check,
) -> None:
    final = payloads["final"]
    rel = "results/final.json"
    if "preliminary" not in signed:
        v9.fail(f"{rel} preliminary", "no preliminary result to reference")
        return
    try:
        expected = hash_json(RESULTS_HASH_TAG, signed["preliminary"]).hex()
    except EncodingError as exc:
        v9.fail("results/preliminary.json", f"cannot be hashed: {exc}")
        return
    if final.get("preliminary") != expected:
        v9.fail(
            f"{rel} preliminary",
            f"says {_short(final.get('preliminary'))}, the preliminary result hashes to "
            f"{expected}",
        )
    else:
        v9.checked["final references preliminary"] = True
    before = {
        u.get("unit"): u for u in payloads["preliminary"].get("units") or [] if isinstance(u, dict)
    }
    after = {u.get("unit"): u for u in final.get("units") or [] if isinstance(u, dict)}
    changed = [c for c in manifest.units if not _same(before.get(c), after.get(c))]
    changes = final.get("changes")
    if not changed:
        if changes is not None:
            v9.fail(f"{rel} changes", "no unit changed since the preliminary result: expected null")
    elif not isinstance(changes, str):
        v9.fail(f"{rel} changes", f"units {', '.join(changed)} changed: they must be named")
    else:
        named = {t for t in _TOKEN.findall(changes) if t in manifest.units}
        if named != set(changed):
            v9.fail(
                f"{rel} changes",
                f"names {sorted(named)}, but the units that changed are {changed}",
            )
    issued = (
        _timestamp(payloads["preliminary"].get("issued_at")),
        _timestamp(final.get("issued_at")),
    )
    if issued[0] is not None and issued[1] is not None and issued[1] < issued[0]:
        v9.fail(f"{rel} issued_at", "the final result is dated before the preliminary one")
