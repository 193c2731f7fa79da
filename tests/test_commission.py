"""Every state change over HTTP needs a valid, fresh, unreplayed commission signature, and the
audit log records each one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from crypto.signing import SigningKey
from scripts.builders import insecure
from tally_service.common.keys import commission_key_path, read_private_key
from tally_service.common.requests import sign_request
from tally_service.elector.ballot import make_ballot
from tally_service.service.app import create_app
from tally_service.service.commission_requests import ACTIONS
from tally_service.service.election import Election
from tests.conftest import Built


@pytest.fixture
def client(election: Election) -> FlaskClient:
    return create_app(election).test_client()


@pytest.fixture
def key(built: Built) -> SigningKey:
    return read_private_key(commission_key_path(built.data_dir))


def post(client: FlaskClient, action: str, body: Any) -> Any:
    return client.post(f"/api/v1/commission/{action}", json=body)


def test_full_flow_through_signed_requests(
    client: FlaskClient, election: Election, built: Built, key: SigningKey
) -> None:
    h = election.manifest.hash.hex()

    def do(action: str, **params: Any) -> Any:
        r = post(client, action, sign_request(key, h, action, params))
        assert r.status_code == 200, r.get_data(as_text=True)
        return r.get_json()

    opened = do("open-round", unit="AAA", round=1)
    assert opened["candidates"] == ["AAA-C1", "AAA-C2", "AAA-C3"]
    for i in range(8):
        elector = f"AAA-E{i + 1:04d}"
        ballot = make_ballot(
            election.manifest.hash,
            "AAA",
            1,
            elector,
            opened["candidates"],
            "AAA-C2",
            election.manifest.election_key,
            built.keys[elector],
        )
        assert client.post("/api/v1/ballots", json=ballot).status_code == 201
    assert "checkpoint" in do("checkpoint", unit="AAA", round=1)
    do("close-round", unit="AAA", round=1)
    doc = do("start-tally", unit="AAA", round=1)
    for guardian in (2, 3):
        partial = insecure.guardian_partial(
            election, "AAA", 1, guardian, insecure.read_share(election.data_dir, guardian)
        )
        doc = do("submit-partial", unit="AAA", round=1, partial=partial)
    assert doc["counts"] == {"AAA-C1": 0, "AAA-C2": 8, "AAA-C3": 0}
    audit = election.store.audit()
    assert [a[3] for a in audit] == [
        "open-round",
        "checkpoint",
        "close-round",
        "start-tally",
        "submit-partial",
        "submit-partial",
    ]
    assert all(a[2] == key.public.key_id for a in audit)


def test_a_round_without_quorum_is_summed_but_no_partial_is_accepted(
    client: FlaskClient, election: Election, built: Built, key: SigningKey
) -> None:
    h = election.manifest.hash.hex()
    sign = lambda action, **params: sign_request(key, h, action, params)  # noqa: E731
    assert post(client, "open-round", sign("open-round", unit="AAA", round=1)).status_code == 200
    # one chosen elector of 12 votes and the round is closed: decrypting would reveal the vote
    ballot = make_ballot(
        election.manifest.hash, "AAA", 1, "AAA-E0001", ["AAA-C1", "AAA-C2", "AAA-C3"], "AAA-C3",
        election.manifest.election_key, built.keys["AAA-E0001"],
    )
    assert client.post("/api/v1/ballots", json=ballot).status_code == 201
    assert post(client, "close-round", sign("close-round", unit="AAA", round=1)).status_code == 200
    r = post(client, "start-tally", sign("start-tally", unit="AAA", round=1))
    assert r.status_code == 200 and r.get_json()["took_part"] == 1
    assert len(r.get_json()["encrypted"]) == 3  # the sums are published all the same
    share = insecure.read_share(election.data_dir, 1)
    partial = insecure.guardian_partial(election, "AAA", 1, 1, share)
    r = post(client, "submit-partial", sign("submit-partial", unit="AAA", round=1, partial=partial))
    assert r.status_code == 409 and r.mimetype == "application/problem+json"
    problem = r.get_json()
    assert problem["check"] == "no-quorum" and "1 ballots of 12 registered" in problem["detail"]
    doc = client.get("/api/v1/units/AAA/rounds/1/tally").get_json()
    assert doc["partials"] == [] and doc["counts"] is None and doc["blank"] is None


@pytest.mark.parametrize("action", ACTIONS)
def test_each_action_refuses_bad_requests(
    client: FlaskClient, election: Election, key: SigningKey, action: str
) -> None:
    h = election.manifest.hash.hex()
    params = {"unit": "AAA", "round": 1}
    stranger = SigningKey.generate()
    old = (datetime.now(UTC) - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    good = sign_request(key, h, action, params)
    forged = dict(good, signature="00" * 64)
    cases = [
        ({"action": action}, 403, "commission-signature"),  # not signed at all
        (sign_request(stranger, h, action, params), 403, "commission-signature"),
        (forged, 403, "commission-signature"),
        (
            {**good, "payload": {**good["payload"], "params": {"unit": "BBB"}}},
            403,
            "commission-signature",
        ),
        (sign_request(key, "00" * 32, action, params), 403, "wrong-election"),
        (
            sign_request(key, h, "open-round" if action != "open-round" else "close-round", params),
            403,
            "wrong-action",
        ),
        (sign_request(key, h, action, params, timestamp=old), 403, "stale-request"),
        (sign_request(key, h, action, params, timestamp="yesterday"), 400, "schema"),
        (sign_request(key, h, action, params, nonce="short"), 400, "schema"),
    ]
    for body, status, check in cases:
        r = post(client, action, body)
        assert r.status_code == status, (check, r.get_data(as_text=True))
        assert r.mimetype == "application/problem+json"
        assert r.get_json()["check"] == check
    assert election.store.audit() == []
    assert ("AAA", 1) not in election.logs


def test_replayed_nonce_is_refused(
    client: FlaskClient, election: Election, key: SigningKey
) -> None:
    """The same envelope again is a repeat (tests/test_commission_retry.py); the nonce in a
    request signed anew is a replay."""
    h = election.manifest.hash.hex()
    request = sign_request(key, h, "open-round", {"unit": "AAA"})
    assert post(client, "open-round", request).status_code == 200
    nonce = request["payload"]["nonce"]
    r = post(client, "open-round", sign_request(key, h, "open-round", {"unit": "BBB"}, nonce=nonce))
    assert r.status_code == 403 and r.get_json()["check"] == "replay"
    assert len(election.store.audit()) == 1


def test_unknown_action(client: FlaskClient, election: Election, key: SigningKey) -> None:
    r = post(
        client,
        "delete-everything",
        sign_request(key, election.manifest.hash.hex(), "delete-everything", {}),
    )
    assert r.status_code == 404 and r.get_json()["check"] == "unknown-action"


def test_unknown_params_round_3_and_text_plain_are_refused(
    client: FlaskClient, election: Election, key: SigningKey
) -> None:
    import json

    h = election.manifest.hash.hex()
    cases = [
        ({"unit": "AAA", "round": 1, "candidates": ["AAA-C1"]}, "candidates"),
        ({"unit": "AAA", "round": 3}, "1 or 2"),
        ({"unit": "AAA", "round": True}, "1 or 2"),
    ]
    for params, said in cases:
        r = post(client, "open-round", sign_request(key, h, "open-round", params))
        assert r.status_code == 400 and r.get_json()["check"] == "params", r.get_json()
        assert said in r.get_json()["detail"]
    assert "AAA" not in {u for u, _ in election.logs}  # nothing was opened
    body = json.dumps(sign_request(key, h, "open-round", {"unit": "AAA"}))
    r = client.post(
        "/api/v1/commission/open-round", data=body, headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 415 and r.get_json()["check"] == "media-type"
    # a round written 1.0 is the round 1 (JSON and RFC 8785 do not tell them apart)
    request = sign_request(key, h, "open-round", {"unit": "AAA", "round": 1})
    text = json.dumps(request).replace('"round": 1', '"round": 1.0')
    assert '"round": 1.0' in text
    r = client.post(
        "/api/v1/commission/open-round", data=text, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 200 and r.get_json()["round"] == 1
