"""Robustness of the service itself: a full disk, background tasks that survive errors."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tally_service.elector.ballot import make_ballot
from tally_service.service.app import create_app
from tally_service.service.config import Config
from tally_service.service.election import Election
from tests.conftest import Built

API = "/api/v1"


@pytest.fixture
def fast_election(built: Built) -> Iterator[Election]:
    e = Election(built.data_dir, Config(checkpoint_every=100, checkpoint_seconds=0.2))
    yield e
    e.stop()


def _fill_disk(election: Election, full: bool) -> None:
    """Simulate a full disk without root: SQLite refuses to grow the database file."""
    import sqlite3

    writer = election.store._writer
    if not full:
        writer.execute(f"PRAGMA max_page_count={1 << 30}")
        return
    pages = writer.execute("PRAGMA page_count").fetchone()[0]
    writer.execute(f"PRAGMA max_page_count={pages}")
    for size in range(10_000):  # take up the room left in the checkpoints table's pages
        try:
            writer.execute(
                "INSERT INTO checkpoints VALUES ('ZZZ', 1, ?, zeroblob(16), '', 0)", (size,)
            )
        except sqlite3.OperationalError:
            return
    raise AssertionError("the database never filled up")


def _wait(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_full_disk_answers_503_and_the_checkpointer_resumes(
    fast_election: Election, built: Built
) -> None:
    election = fast_election
    election.open_round("AAA", 1)
    client = create_app(election).test_client()
    electors = sorted(e for e in built.keys if e.startswith("AAA"))

    def ballot(elector: str) -> dict[str, object]:
        return make_ballot(
            election.manifest.hash,
            "AAA",
            1,
            elector,
            election.log("AAA", 1).candidates,
            None,
            election.manifest.election_key,
            built.keys[elector],
        )

    assert client.post(f"{API}/ballots", json=ballot(electors[0])).status_code == 201
    _fill_disk(election, True)
    election.start_checkpointer()
    refused = client.post(f"{API}/ballots", json=ballot(electors[1]))
    assert refused.status_code == 503
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["check"] == "storage-unavailable"
    assert int(refused.headers["Retry-After"]) > 0
    # the checkpointer fails (the log grew to 1), counts it, and keeps running
    _wait(lambda: client.get(f"{API}/health").get_json()["status"] == "degraded")
    health = client.get(f"{API}/health").get_json()
    assert health["tasks"]["checkpointer"]["errors"] >= 1
    assert "full" in health["tasks"]["checkpointer"]["last_error"]
    assert election.store.checkpoints("AAA", 1)[-1].size == 0
    # space freed: the checkpointer resumes by itself, and casting works again
    _fill_disk(election, False)
    _wait(lambda: election.store.checkpoints("AAA", 1)[-1].size == 1)
    _wait(lambda: client.get(f"{API}/health").get_json()["status"] == "ok")
    again = client.post(f"{API}/ballots", json=ballot(electors[1]))
    assert again.status_code == 201 and again.get_json()["index"] == 1
    assert election.log("AAA", 1).tree.size == 2


def test_405_names_the_allowed_methods(election: Election) -> None:
    client = create_app(election).test_client()
    r = client.delete(f"{API}/turnout")
    assert r.status_code == 405 and r.mimetype == "application/problem+json"
    assert set(r.headers["Allow"].split(", ")) >= {"GET"}


def test_log_lines_carry_utc_rfc3339_times() -> None:
    import json
    import logging
    import re

    from tally_service.common.logsetup import JsonFormatter

    record = logging.LogRecord("tally_service", logging.INFO, "", 0, "serving", None, None)
    record.created = 1673690400.25  # 2023-01-14T10:00:00.250Z
    line = json.loads(JsonFormatter().format(record))
    assert line["time"] == "2023-01-14T10:00:00.250Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
