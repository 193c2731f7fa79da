"""The bytes of each election record file, shared by the export and the HTTP API.

An observer who mirrors the record over the API (``scripts/verify.py --follow``) must get, file
for file, the bytes that ``export`` writes, so that the mirror and the exported record verify
alike and can be compared byte for byte. Everything here builds those bytes from the store.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

from tally_service.service.election import Election


def json_file(value: object) -> bytes:
    """A record JSON document: UTF-8, indent 1, one final newline."""
    return (json.dumps(value, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def manifest_bytes(election: Election) -> bytes:
    return json_file(election.manifest.signed)


def ceremony_bytes(election: Election) -> bytes | None:
    ceremony = election.store.get_meta("ceremony")
    return None if ceremony is None else json_file(json.loads(ceremony))


def checkpoint_notes(election: Election, unit: str, round_no: int) -> list[str]:
    return [row.note for row in election.store.checkpoints(unit, round_no)]


def checkpoints_text(notes: Iterable[str]) -> bytes:
    """checkpoints.txt: the notes in order, one blank line between them (each note already ends
    with a newline)."""
    return "\n".join(notes).encode("utf-8")


def tally_bytes(election: Election, unit: str, round_no: int) -> bytes | None:
    doc = election.store.get_tally(unit, round_no)
    return None if doc is None else json_file(json.loads(doc))


def result_bytes(election: Election, kind: str) -> bytes | None:
    doc = election.store.get_result(kind)
    return None if doc is None else json_file(json.loads(doc))


def audit_lines(election: Election, start: int = 0) -> Iterator[bytes]:
    """audit.jsonl's lines (each with its newline) from the ``start``-th (0-based) on."""
    for seq, at, key_id, action, request, repeat_of in election.store.audit()[start:]:
        line: dict[str, object] = {
            "seq": seq,
            "at": at,
            "key_id": key_id,
            "action": action,
            "request": json.loads(request),
        }
        if repeat_of is not None:  # an identical retry, answered from the store
            line["repeat_of"] = repeat_of
        yield json.dumps(line, ensure_ascii=False, sort_keys=True).encode() + b"\n"
