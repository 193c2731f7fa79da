"""The commission's signed requests: every state change over HTTP is attributable to a key.

A request is a signed envelope (crypto/envelope.py, context ``request``; the commission signs it
with tally_service/common/requests.py) whose payload is

    {"action": "close-round", "election": "<manifest hash>", "params": {...},
     "timestamp": "2023-01-14T10:45:00.000Z", "nonce": "<32 hex>"}

The service checks, in order: the envelope's shape, that the key is a commission key of the
manifest and the signature verifies, that the request is for this election and this action,
that the timestamp lies within the configured window of the server's clock, and that the nonce
was never seen.

Threat: the answer to a request is lost (a process killed after COMMIT, a failover, a network
cut) and the commission cannot tell whether the action was done; a retry refused as a replay
leaves it guessing, and a request signed anew might do the action twice. So the action's
writes, the nonce, an audit line (who, what, when, the request itself) and the answer commit in
ONE transaction (``BaseStore.answer_request``): done and answered never disagree. The very
same envelope again (the hash of its canonical bytes, not only its nonce) gets the stored
answer, marked ``Kz-Tally-Repeat: true`` and audited as a repeat, and nothing runs again; even
outside the time window, since answering a done request changes nothing (a stale request that
was never done is still refused). Another request with a seen nonce is refused (``replay``).
A refusal of the action itself (4xx) is an answer too: stored, its writes undone. A server
error (5xx, the database lost) records nothing: the same request may be sent again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crypto.canonical import hash_json
from crypto.envelope import EnvelopeError, open_document
from crypto.signing import Context
from tally_service.common import clock, problems
from tally_service.service.election import Election
from tally_service.service.store import AlreadyAnswered, RequestRecord

#: the answer header of a request answered from the store (its action ran before)
REPEAT_HEADER = "Kz-Tally-Repeat"
ENVELOPE_HASH_TAG = "kz-tally/v1/request-envelope"

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
    return payload


def _check_window(election: Election, payload: dict[str, Any]) -> None:
    skew = abs((clock.current() - clock.parse(str(payload["timestamp"]))).total_seconds())
    if skew > election.config.request_window_seconds:
        raise problems.forbidden(
            "stale-request",
            f"the request's timestamp is {int(skew)} s away from the server's clock",
        )


@dataclass(frozen=True)
class Answer:
    status: int
    body: str  # JSON text: the same bytes for the first answer and every repeat
    repeat: bool

    @property
    def mimetype(self) -> str:
        return "application/json" if self.status < 400 else "application/problem+json"


def answer(election: Election, action: str, request: object) -> Answer:
    """Check a signed request; answer it from the store if the very same envelope was answered
    before, else carry out its action and store the answer with it (in one transaction)."""
    if action not in ACTIONS:
        raise problems.not_found("unknown-action", f"no commission action {action!r}")
    payload = _payload(election, action, request)
    assert isinstance(request, dict)
    record = RequestRecord(
        nonce=payload["nonce"],
        digest=hash_json(ENVELOPE_HASH_TAG, request).hex(),
        at=clock.now(),
        key_id=request["key_id"],
        action=action,
        request=json.dumps(request),
    )
    # one request at a time in this process: the action changes memory before its COMMIT, and
    # an identical request running beside it would answer from that memory, e.g. a 409
    # round-exists stored for a round whose opening then failed to commit (other processes
    # never see uncommitted memory, and the audit's lock orders them; requests are rare)
    with election.request_lock:
        return _answer_alone(election, action, payload, record)


def _answer_alone(
    election: Election, action: str, payload: dict[str, Any], record: RequestRecord
) -> Answer:
    repeat = _repeat(election, record)
    if repeat is not None:
        return repeat
    _check_window(election, payload)
    _check_params(action, payload["params"])
    params: dict[str, Any] = payload["params"]

    def act() -> tuple[int, str]:
        try:
            result = perform(election, action, params)
        except problems.Problem as refusal:
            if refusal.status >= 500:
                raise  # not an answer: nothing is recorded, the same request may come again
            return refusal.status, json.dumps(refusal.to_json())
        return 200, json.dumps(result)

    try:
        status, body = election.store.answer_request(record, act)
    except AlreadyAnswered:  # an identical request committed while this one ran
        repeat = _repeat(election, record)
        if repeat is None:
            raise
        return repeat
    return Answer(status, body, repeat=False)


def _repeat(election: Election, record: RequestRecord) -> Answer | None:
    """The stored answer if this very envelope was answered; a refusal if its nonce was used
    by another request (or before answers were kept); None if the nonce is new."""
    stored = election.store.stored_answer(record.nonce)
    if stored is None:
        return None
    if (
        stored.digest != record.digest
        or stored.status is None
        or stored.answer is None
        or stored.seq is None
    ):
        raise problems.forbidden("replay", "this request's nonce was used before")
    election.store.record_repeat(record, stored.seq)
    return Answer(stored.status, stored.answer, repeat=True)


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
