"""The hostile review of idempotent commission requests (merge 'commission-retry'): the attacks
that still worked, each played end to end (the capped reads': test_client_caps_attacks.py).

- A commission request's action changed the service's memory (the round closed, its final
  checkpoint, a fresh checkpoint) BEFORE the request's one transaction committed: a reader in
  that gap was served a signed note the store never had if the COMMIT then failed (a lost
  connection, a failover), and the round was open again afterwards. A monitor that saw the
  "final" checkpoint then sees the log grow past it: a fork the honest service made itself.
  The same for a round opened: shown open (and cast into) before it existed.
- A refused action (4xx) had its writes rolled back but kept its after-commit work.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from flask.testing import FlaskClient

from tally_service.common.keys import commission_key_path, read_private_key
from tally_service.common.requests import sign_request
from tally_service.service.app import create_app
from tally_service.service.election import Election
from tally_service.service.store import BaseStore, StoreUnavailable
from tests.conftest import Built
from tests.test_service_cast import ballot_for

BASE = "/api/v1/units/AAA/rounds/1"


def _request(election: Election, built: Built, action: str) -> dict[str, Any]:
    key = read_private_key(commission_key_path(built.data_dir))
    return sign_request(
        key, election.manifest.hash.hex(), action, {"unit": "AAA", "round": 1}
    )


def _read_in_another_thread(client: FlaskClient) -> tuple[str, str]:
    """What a monitor reads meanwhile (another thread: another request context)."""
    seen: list[tuple[str, str]] = []

    def read() -> None:
        note = client.get(f"{BASE}/checkpoint").get_data(as_text=True)
        units = client.get("/api/v1/units").get_json()
        state = next(u for u in units["units"] if u["code"] == "AAA")["rounds"][0]["state"]
        seen.append((note, state))

    reader = threading.Thread(target=read)
    reader.start()
    reader.join(30)
    assert seen, "the reader did not finish"
    return seen[0]


@pytest.mark.parametrize("action", ["close-round", "checkpoint"])
def test_a_note_is_not_served_before_its_request_commits(
    any_election: Election, any_built: Built, monkeypatch: pytest.MonkeyPatch, action: str
) -> None:
    """Check: Election.close_round / _checkpoint_locked change memory only after COMMIT
    (store.after_commit)."""
    client = create_app(any_election).test_client()
    assert client.post(
        "/api/v1/commission/open-round", json=_request(any_election, any_built, "open-round")
    ).status_code == 200
    if action == "checkpoint":  # a ballot, so that the checkpoint signs a new size
        ballot = ballot_for(any_election, any_built, "AAA-E0001", None)
        assert client.post("/api/v1/ballots", json=ballot).status_code == 201
    before = client.get(f"{BASE}/checkpoint").get_data(as_text=True)
    seen: list[tuple[str, str]] = []

    def lost(self: BaseStore, *args: Any) -> int:
        seen.append(_read_in_another_thread(client))  # the action ran, its COMMIT is to come
        raise StoreUnavailable("the connection was lost")

    monkeypatch.setattr(BaseStore, "_add_audit_line", lost)
    r = client.post(f"/api/v1/commission/{action}", json=_request(any_election, any_built, action))
    assert r.status_code == 503, r.get_data(as_text=True)
    assert seen == [(before, "open")], "a note the store never had was served"
    monkeypatch.undo()
    assert client.get(f"{BASE}/checkpoint").get_data(as_text=True) == before
    assert any_election.log("AAA", 1).open


def test_a_round_is_not_shown_open_before_its_request_commits(
    any_election: Election, any_built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check: Election.open_round puts the round in memory only after COMMIT: before, a reader
    saw it open (and an elector cast into it) although the failed COMMIT left no round."""
    client = create_app(any_election).test_client()
    seen: list[object] = []

    def lost(self: BaseStore, *args: Any) -> int:
        def read() -> None:
            units = client.get("/api/v1/units").get_json()["units"]
            seen.append(next(u for u in units if u["code"] == "AAA")["rounds"])

        reader = threading.Thread(target=read)
        reader.start()
        reader.join(30)
        raise StoreUnavailable("the connection was lost")

    monkeypatch.setattr(BaseStore, "_add_audit_line", lost)
    r = client.post(
        "/api/v1/commission/open-round", json=_request(any_election, any_built, "open-round")
    )
    assert r.status_code == 503, r.get_data(as_text=True)
    assert seen == [[]], "a round the store never had was shown"
    assert ("AAA", 1) not in any_election.logs


def test_a_refused_action_leaves_nothing_to_do_after_commit(
    election: Election, built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check: BaseStore.answer_request drops the action's after-commit work (and runs its
    undos) when the answer is a refusal: its writes were rolled back, so must its effects be."""
    from tally_service.common import problems
    from tally_service.service import commission_requests

    done: list[str] = []

    def refused(election: Election, action: str, params: dict[str, Any]) -> Any:
        election.store.set_meta("half-done", "1")
        election.store.after_commit(lambda: done.append("shown"))
        raise problems.conflict("round-closed", "refused after a write")

    monkeypatch.setattr(commission_requests, "perform", refused)
    client = create_app(election).test_client()
    r = client.post("/api/v1/commission/checkpoint", json=_request(election, built, "checkpoint"))
    assert r.status_code == 409, r.get_data(as_text=True)
    assert election.store.get_meta("half-done") is None
    assert done == [], "the refused action's after-commit work ran"
