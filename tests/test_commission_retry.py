"""A commission request whose answer was lost may be sent again, the very same envelope: the
service answers it from its store (``Kz-Tally-Repeat: true``, an audit line with ``repeat_of``)
and never runs the action twice; the action, the nonce and the answer commit together, so a
request that failed before COMMIT is simply done by the retry. Another request with a seen
nonce is still a replay. The ``any_*`` tests run over SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from crypto.signing import SigningKey
from tally_service.common.keys import commission_key_path, read_private_key
from tally_service.common.requests import sign_request
from tally_service.service.app import create_app
from tally_service.service.config import Config
from tally_service.service.election import Election
from tally_service.service.store import BaseStore, StoreUnavailable
from tests.conftest import Built

OPEN = "/api/v1/commission/open-round"
REPEAT = "Kz-Tally-Repeat"


def _key(built: Built) -> SigningKey:
    return read_private_key(commission_key_path(built.data_dir))


def _open_request(election: Election, built: Built, **kw: Any) -> dict[str, Any]:
    params = kw.pop("params", {"unit": "AAA", "round": 1})
    return sign_request(_key(built), election.manifest.hash.hex(), "open-round", params, **kw)


def _audit_lines(client: FlaskClient) -> list[dict[str, Any]]:
    text = client.get("/api/v1/record/audit.jsonl").get_data(as_text=True)
    return [json.loads(line) for line in text.splitlines()]


def test_an_identical_retry_gets_the_first_answer_and_runs_nothing(
    any_election: Election, any_built: Built
) -> None:
    client = create_app(any_election).test_client()
    request = _open_request(any_election, any_built)
    first = client.post(OPEN, json=request)
    second = client.post(OPEN, json=request)
    assert first.status_code == second.status_code == 200, second.get_data(as_text=True)
    assert first.get_data() == second.get_data()
    assert REPEAT not in first.headers and second.headers[REPEAT] == "true"
    assert [(r.unit, r.round, r.state) for r in any_election.store.rounds()] == [
        ("AAA", 1, "open")
    ]
    # the audit has both: the request and its repeat, which names the line it repeats
    lines = _audit_lines(client)
    assert [line["request"] for line in lines] == [request, request]
    assert "repeat_of" not in lines[0] and lines[1]["repeat_of"] == lines[0]["seq"]


def test_a_seen_nonce_in_another_request_is_still_a_replay(
    any_election: Election, any_built: Built
) -> None:
    client = create_app(any_election).test_client()
    request = _open_request(any_election, any_built)
    assert client.post(OPEN, json=request).status_code == 200
    nonce = request["payload"]["nonce"]
    others = [
        (OPEN, _open_request(any_election, any_built, params={"unit": "BBB"}, nonce=nonce)),
        (
            "/api/v1/commission/checkpoint",
            sign_request(
                _key(any_built), any_election.manifest.hash.hex(), "checkpoint",
                {"unit": "AAA", "round": 1}, nonce=nonce,
            ),
        ),
    ]
    for path, other in others:
        r = client.post(path, json=other)
        assert r.status_code == 403 and r.get_json()["check"] == "replay", r.get_json()
    assert ("BBB", 1) not in any_election.logs
    assert len(any_election.store.audit()) == 1


def test_a_refusal_is_an_answer_too_and_its_retry_gets_it(
    any_election: Election, any_built: Built
) -> None:
    client = create_app(any_election).test_client()
    close = sign_request(
        _key(any_built), any_election.manifest.hash.hex(), "close-round",
        {"unit": "AAA", "round": 1},
    )
    first = client.post("/api/v1/commission/close-round", json=close)
    second = client.post("/api/v1/commission/close-round", json=close)
    assert first.status_code == second.status_code == 404
    assert first.get_data() == second.get_data() and second.headers[REPEAT] == "true"
    assert second.mimetype == "application/problem+json"


def test_a_request_that_failed_before_commit_is_done_by_its_retry(
    any_election: Election, any_built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The round's row was written, then the answer could not be stored: nothing of it
    stays, in the store or in memory, and the retry opens the round."""
    client = create_app(any_election).test_client()
    request = _open_request(any_election, any_built)
    real = BaseStore._add_audit_line

    def lost(self: BaseStore, *args: Any) -> int:
        raise StoreUnavailable("the connection was lost")

    monkeypatch.setattr(BaseStore, "_add_audit_line", lost)
    r = client.post(OPEN, json=request)
    assert r.status_code == 503 and r.get_json()["check"] == "storage-unavailable"
    assert any_election.store.rounds() == [] and ("AAA", 1) not in any_election.logs
    monkeypatch.setattr(BaseStore, "_add_audit_line", real)
    r = client.post(OPEN, json=request)
    assert r.status_code == 200 and REPEAT not in r.headers, r.get_data(as_text=True)
    assert any_election.log("AAA", 1).open
    assert len(any_election.store.audit()) == 1


def test_an_identical_request_beside_a_failing_one_is_not_answered_from_its_memory(
    election: Election, built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two copies of one request in one process: the first opens the round in memory, then
    fails to store its answer. The second must not answer 409 round-exists from that memory
    (and store it for every retry): it opens the round once the first is undone."""
    import threading

    client = create_app(election).test_client()
    request = _open_request(election, built)
    real = BaseStore._add_audit_line
    acting, release = threading.Event(), threading.Event()

    def lost_after_a_while(self: BaseStore, *args: Any) -> int:
        if threading.current_thread().name == "first":
            acting.set()
            release.wait(30)
            raise StoreUnavailable("the connection was lost")
        return real(self, *args)

    class Watched:
        """The election's request lock, telling when the second request waits for it."""

        def __init__(self) -> None:
            self.lock = threading.Lock()
            self.second_waits = threading.Event()

        def __enter__(self) -> None:
            if threading.current_thread().name == "second":
                self.second_waits.set()
            self.lock.acquire()

        def __exit__(self, *exc: object) -> None:
            self.lock.release()

    watched = Watched()
    monkeypatch.setattr(election, "request_lock", watched)
    monkeypatch.setattr(BaseStore, "_add_audit_line", lost_after_a_while)
    answers: dict[str, Any] = {}
    first_thread = threading.Thread(
        target=lambda: answers.setdefault("first", client.post(OPEN, json=request)), name="first"
    )
    first_thread.start()
    assert acting.wait(30)  # the first has opened the round in memory, not yet committed
    second_thread = threading.Thread(
        target=lambda: answers.setdefault("second", client.post(OPEN, json=request)),
        name="second",
    )
    second_thread.start()
    watched.second_waits.wait(10)  # the second request reached the lock (or, unlocked, ran on)
    release.set()
    first_thread.join(30)
    second_thread.join(30)
    assert answers["first"].status_code == 503
    second = answers["second"]
    assert second.status_code == 200 and REPEAT not in second.headers, second.get_json()
    assert election.log("AAA", 1).open and len(election.store.audit()) == 1


def test_answers_survive_a_restart_and_the_window(built: Built) -> None:
    """SQLite: the election reopened on the same data directory answers the retry; a retry
    of a done request outside the time window still gets its answer (nothing runs), while a
    stale request never done is refused."""
    election = Election(built.data_dir, Config())
    old = (datetime.now(UTC) - timedelta(seconds=200)).isoformat().replace("+00:00", "Z")
    request = _open_request(election, built, timestamp=old)
    first = create_app(election).test_client().post(OPEN, json=request)
    assert first.status_code == 200
    election.stop()
    again = Election(built.data_dir, Config(request_window_seconds=60))
    try:
        client = create_app(again).test_client()
        r = client.post(OPEN, json=request)
        assert r.status_code == 200 and r.headers[REPEAT] == "true"
        assert r.get_data() == first.get_data()
        stale = _open_request(again, built, params={"unit": "BBB"}, timestamp=old)
        r = client.post(OPEN, json=stale)
        assert r.status_code == 403 and r.get_json()["check"] == "stale-request"
    finally:
        again.stop()


def test_another_process_answers_the_retry(pg_built: Built) -> None:
    """PostgreSQL: the request done by one process, its answer lost; the load balancer sends
    the retry to another process, which answers it from the database."""
    assert pg_built.store is not None
    one = Election(pg_built.data_dir, Config(), store=pg_built.store)
    other = Election(pg_built.data_dir, Config(), store=pg_built.store)
    try:
        request = _open_request(one, pg_built)
        first = create_app(one).test_client().post(OPEN, json=request)
        retry = create_app(other).test_client().post(OPEN, json=request)
        assert first.status_code == retry.status_code == 200
        assert retry.headers[REPEAT] == "true" and retry.get_data() == first.get_data()
        assert other.log("AAA", 1).open and len(other.store.rounds()) == 1
    finally:
        one.stop()
        other.stop()


class _LosingSession:
    """Hands requests to the Flask app, losing the first answers as a network cut would (the
    request was done; the client sees a connection error, then a proxy's 502)."""

    def __init__(self, client: FlaskClient, lose: int) -> None:
        self.client, self.lose, self.bodies = client, lose, []  # type: list[Any]

    def request(self, method: str, url: str, **kw: Any) -> Any:
        import requests

        path = url.split("http://service", 1)[1]
        self.bodies.append(kw.get("json"))
        got = self.client.open(path, method=method, json=kw.get("json"))
        response = requests.Response()
        response.status_code, response._content = got.status_code, got.get_data()
        response._content_consumed = True  # type: ignore[attr-defined]
        response.headers.update(dict(got.headers))
        if self.lose > 0:
            self.lose -= 1
            if self.lose == 1:
                raise requests.exceptions.ConnectionError("connection reset")
            response.status_code, response._content = 502, b"bad gateway"
        return response

    # as the client calls a session (tally_service/common/answers.py): stream=, timeout=
    def post(self, url: str, **kw: Any) -> Any:
        return self.request("POST", url, **kw)

    def get(self, url: str, **kw: Any) -> Any:
        return self.request("GET", url, **kw)


def test_the_client_retries_the_same_envelope_and_says_repeat(
    election: Election, built: Built
) -> None:
    from tally_service.common.client import ServiceClient

    session = _LosingSession(create_app(election).test_client(), lose=2)
    client = ServiceClient("http://service", _key(built), session=session)  # type: ignore[arg-type]
    client.commission_retry_delays = (0.0, 0.0, 0.0)
    client._election = election.manifest.hash.hex()
    done = client.commission("open-round", unit="AAA", round=1)
    assert done["unit"] == "AAA" and client.last_repeat
    assert len(session.bodies) == 3 and session.bodies[0] == session.bodies[2]
    assert len(election.store.rounds()) == 1
