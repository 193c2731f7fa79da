"""Preliminary and final results: the figures of every tallied round, signed by the commission.

The final result references the hash of the preliminary one and states why it differs, if it
does (a runoff held after the preliminary result, say).
"""

from __future__ import annotations

import json
from typing import Any

from crypto.canonical import hash_json
from crypto.envelope import sign_document
from crypto.rules import percent
from crypto.signing import Context
from tally_service.common import clock, problems
from tally_service.service.election import Election
from tally_service.service.tally import is_void, outcome, tally_hash

RESULTS_FORMAT = "kz-tally/results/v1"
RESULTS_HASH_TAG = "kz-tally/v1/results"


def round_figures(election: Election, doc: dict[str, Any]) -> dict[str, Any]:
    """A decided round's figures; a void round (no quorum) is not decrypted, so its votes,
    blank and shares are null."""
    out = outcome(election, doc)
    registered = election.manifest.registered(doc["unit"])
    return {
        "round": doc["round"],
        "candidates": doc["candidates"],
        "took_part": doc["took_part"],
        "turnout": percent(doc["took_part"], registered),
        "votes": doc["counts"],
        "blank": doc["blank"],
        "shares": out.shares,
        "quorum": out.quorum,
        "status": out.status,
        "winner": out.winner,
        "runoff": list(out.runoff) if out.runoff else None,
        "lot": list(out.lot) if out.lot else None,
        "reason": out.reason,
        "final_checkpoint": doc["final_checkpoint"],
        "tally_hash": tally_hash(doc).hex(),
    }


def unit_results(election: Election, unit: str) -> dict[str, Any]:
    rounds = []
    round_no = 1
    while (unit, round_no) in election.logs:
        text = election.store.get_tally(unit, round_no)
        if text is None:
            break
        doc = json.loads(text)
        if doc["counts"] is None and not is_void(election, doc):
            break
        rounds.append(round_figures(election, doc))
        round_no += 1
    if not rounds:
        raise problems.conflict("not-tallied", f"unit {unit} has no decided round yet")
    last = rounds[-1]
    return {
        "unit": unit,
        "registered": election.manifest.registered(unit),
        "rounds": rounds,
        "status": last["status"],
        "winner": last["winner"],
    }


def results_hash(signed: dict[str, Any]) -> str:
    return hash_json(RESULTS_HASH_TAG, signed).hex()


def build(election: Election, kind: str) -> dict[str, Any]:
    units = [unit_results(election, unit) for unit in election.manifest.units]
    payload: dict[str, Any] = {
        "format": RESULTS_FORMAT,
        "election": election.manifest.hash.hex(),
        "kind": kind,
        "issued_at": clock.now(),
        "units": units,
        "preliminary": None,
        "changes": None,
    }
    if kind == "final":
        pending = [u["unit"] for u in units if u["status"] == "runoff"]
        if pending:
            raise problems.conflict(
                "runoff-pending", f"units {', '.join(pending)} need their runoff tallied first"
            )
        text = election.store.get_result("preliminary")
        if text is None:
            raise problems.conflict("no-preliminary", "publish the preliminary result first")
        preliminary = json.loads(text)
        payload["preliminary"] = results_hash(preliminary)
        before = {u["unit"]: u for u in preliminary["payload"]["units"]}
        changed = [u["unit"] for u in units if u != before.get(u["unit"])]
        if changed:
            payload["changes"] = "rounds tallied after the preliminary result in: " + ", ".join(
                changed
            )
    return payload


def publish(election: Election, kind: str) -> dict[str, Any]:
    if kind not in ("preliminary", "final"):
        raise problems.bad_request("kind", "results are preliminary or final")
    if election.store.get_result(kind) is not None:
        raise problems.conflict("published", f"the {kind} result is published already")
    signed = sign_document(build(election, kind), election.commission_key, Context.TALLY)
    election.store.put_result(kind, json.dumps(signed))
    election.store.after_commit(election.signed_something)  # the pages must see it stored
    return signed
