"""How the command line prints the public documents: turnout, tallies and signed results.

The commission's requests (``--url``) and the operator's offline commands print the same
documents the same way, so the text lives here once."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tally_service.common.problems import Problem


def print_data(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    """``data`` as JSON (``--json``) or as the command's text."""
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(text(data))


def turnout_text(d: dict[str, Any]) -> str:
    lines = [
        f"{'unit':<6} {'round':>5} {'state':<8} {'registered':>10} {'took part':>9} "
        f"{'turnout':>8}  quorum"
    ]
    for u in d["units"]:
        lines.append(
            f"{u['unit']:<6} {u['round']:>5} {u['state']:<8} {u['registered']:>10} "
            f"{u['took_part']:>9} {u['turnout']:>7}%  "
            f"{'yes at ' + u['quorum_at'] if u['quorum'] else 'no'}"
        )
    lines.append(f"total: {d['took_part']} of {d['registered']} took part ({d['turnout']}%)")
    return "\n".join(lines)


def tally_text(unit: str, round_no: int, doc: dict[str, Any], void: bool) -> str:
    counts = doc["counts"]
    return f"{unit} round {round_no}: " + (
        ", ".join(f"{c} {n}" for c, n in counts.items()) + f", blank {doc['blank']}"
        if counts is not None
        else f"{doc['took_part']} ballots, no quorum: void, not decrypted"
        if void
        else f"{len(doc['partials'])} partial decryptions so far"
    )


def results_table(signed: dict[str, Any], names: dict[str, str] | None = None) -> str:
    payload = signed["payload"]
    lines = [
        f"{payload['kind']} result, issued {payload['issued_at']}",
        f"{'unit':<6} {'round':>5} {'registered':>10} {'took part':>9} {'turnout':>8}  "
        f"{'quorum':<6} {'winner':<14} {'share':>7}  status",
    ]
    for unit in payload["units"]:
        last = unit["rounds"][-1]
        winner = last["winner"] or "-"
        share = last["shares"].get(winner, "") if last["winner"] else ""
        label = (names or {}).get(winner, winner)
        lines.append(
            f"{unit['unit']:<6} {last['round']:>5} {unit['registered']:>10} "
            f"{last['took_part']:>9} {last['turnout']:>7}%  {'yes' if last['quorum'] else 'no':<6} "
            f"{label:<14} {share + '%' if share else '':>7}  {unit['status']}"
        )
    return "\n".join(lines)


def print_results(signed: dict[str, Any] | None, as_json: bool) -> None:
    """The newest signed result (final, else preliminary), or the one-line refusal."""
    if signed is None:
        raise Problem(404, "no-results", "no result is published yet (use --publish)")
    print_data(signed, as_json, results_table)
