"""The commission's signed requests: every state change over HTTP is attributable to a key.

A request is a signed envelope (crypto/envelope.py, context ``request``; the commission signs it
with tally_service/common/requests.py) whose payload is

    {"action": "close-round", "election": "<manifest hash>", "params": {...},
     "timestamp": "2023-01-14T10:45:00.000Z", "nonce": "<32 hex>"}

The service checks, in order: the envelope's shape, that the key is a commission key of the
manifest and the signature verifies, that the request is for this election and this action,
that the timestamp lies within the configured window of the server's clock, and that the nonce
was never seen. The nonce and an audit line (who, what, when, the request itself) are committed
together before the action runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from crypto.envelope import EnvelopeError, open_document
from crypto.signing import Context
from tally_service.common import clock, problems
from tally_service.service.election import Election
from tally_service.service.store import StoreError

ACTIONS = (
    "open-round",
    "close-round",
    "checkpoint",
    "start-tally",
    "submit-partial",
    "publish-results",
)


def _payload(election: Election, action: str, request: object) -> dict[str, Any]:
    try:
        payload = open_document(request, election.manifest.commission_keys, Context.REQUEST)
    except EnvelopeError as exc:
        raise problems.forbidden("commission-signature", str(exc)) from exc
    if set(payload) != {"action", "election", "params", "timestamp", "nonce"}:
        raise problems.bad_request(
            "schema", "a request has: action, election, params, timestamp, nonce"
        )
    if payload["election"] != election.manifest.hash.hex():
        raise problems.forbidden("wrong-election", "the request is for another election")
    if payload["action"] != action:
        raise problems.forbidden(
            "wrong-action", f"the request was signed for {payload['action']!r}"
        )
    nonce = payload["nonce"]
    if not isinstance(nonce, str) or not 16 <= len(nonce) <= 64:
        raise problems.bad_request("schema", "the nonce is 16 to 64 characters")
    if not isinstance(payload["params"], dict):
        raise problems.bad_request("schema", "params is an object")
    try:
        stamp = clock.parse(str(payload["timestamp"]))
    except ValueError as exc:
        raise problems.bad_request("schema", "the timestamp is not RFC 3339") from exc
    if stamp.tzinfo is None:
        raise problems.bad_request("schema", "the timestamp needs a time zone")
    skew = abs((clock.current() - stamp).total_seconds())
    if skew > election.config.request_window_seconds:
        raise problems.forbidden(
            "stale-request",
            f"the request's timestamp is {int(skew)} s away from the server's clock",
        )
    return payload


def authorise(election: Election, action: str, request: object) -> dict[str, Any]:
    """Check a signed request and record it (nonce + audit line); return its params."""
    if action not in ACTIONS:
        raise problems.not_found("unknown-action", f"no commission action {action!r}")
    payload = _payload(election, action, request)
    _check_params(action, payload["params"])
    assert isinstance(request, dict)
    try:
        election.store.record_request(
            payload["nonce"], clock.now(), request["key_id"], action, json.dumps(request)
        )
    except StoreError as exc:
        raise problems.forbidden("replay", "this request's nonce was used before") from exc
    params: dict[str, Any] = payload["params"]
    return params


# the params each action takes: anything else is refused, never ignored (a signed open-round
# with "candidates" must not open the round with all of them)
PARAMS = {
    "open-round": {"unit", "round"},
    "close-round": {"unit", "round"},
    "checkpoint": {"unit", "round"},
    "start-tally": {"unit", "round"},
    "submit-partial": {"unit", "round", "partial"},
    "publish-results": {"kind"},
}


def _check_params(action: str, params: dict[str, Any]) -> None:
    unknown = sorted(set(params) - PARAMS[action])
    if unknown:
        raise problems.bad_request(
            "params",
            f"{action} takes only {', '.join(sorted(PARAMS[action]))}; "
            f"unknown: {', '.join(map(str, unknown))}",
        )


def _unit_round(params: dict[str, Any]) -> tuple[str, int]:
    unit, round_no = params.get("unit"), params.get("round", 1)
    if not isinstance(unit, str) or type(round_no) is not int or round_no not in (1, 2):
        raise problems.bad_request("params", "params needs unit (string) and round (1 or 2)")
    return unit, round_no


def perform(election: Election, action: str, params: dict[str, Any]) -> Any:
    """Carry out an authorised action; returns what the HTTP answer shows."""
    from tally_service.service import results, tally

    handlers: dict[str, Callable[[], Any]] = {
        "open-round": lambda: _open(election, params),
        "close-round": lambda: {"final_checkpoint": election.close_round(*_unit_round(params))},
        "checkpoint": lambda: {"checkpoint": election.issue_checkpoint(*_unit_round(params))},
        "start-tally": lambda: tally.start_tally(election, *_unit_round(params)),
        "submit-partial": lambda: tally.submit_partial(
            election, *_unit_round(params), params.get("partial")
        ),
        "publish-results": lambda: results.publish(election, str(params.get("kind"))),
    }
    return handlers[action]()


def _open(election: Election, params: dict[str, Any]) -> dict[str, Any]:
    from tally_service.service.tally import open_runoff

    unit, round_no = _unit_round(params)
    log = open_runoff(election, unit) if round_no == 2 else election.open_round(unit, round_no)
    return {"unit": log.unit, "round": log.round, "candidates": log.candidates}
