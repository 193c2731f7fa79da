"""PostgreSQL enforces the log's rules itself: a writer that bypasses the service (a bug in
one of several processes, or an operator at a SQL prompt) cannot leave a gap, write a second
index or a second ballot for an elector, slip a ballot into a closed round, rewrite or delete a
ballot, or rewrite a signed checkpoint. Each test plays that writer with plain SQL against a
real cluster (skipped without the PostgreSQL binaries, saying how to enable them)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from crypto.merkle import leaf_hash
from tally_service.service.election import Election
from tests.conftest import Built

psycopg = pytest.importorskip("psycopg")

AT = "2026-01-01T00:00:00.000Z"


@pytest.fixture
def pg(pg_built: Built) -> Built:
    return pg_built


@pytest.fixture
def sql(pg: Built) -> Iterator[Any]:
    assert pg.store is not None
    e = Election(pg.data_dir, store=pg.store)
    e.open_round("AAA", 1)
    for i in range(3):
        entry = f"entry {i}".encode()
        e.store.append_next("AAA", 1, f"e{i}", entry, leaf_hash(entry), AT)
    e.stop()
    with psycopg.connect(pg.store, autocommit=True) as conn:
        yield conn


def refused(conn: Any, statement: str, params: tuple[Any, ...] = ()) -> str:
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(statement, params)
    return str(caught.value)


def insert(conn: Any, idx: int, elector: str, round_no: int = 1) -> None:
    entry = f"forged {idx}".encode()
    conn.execute(
        "INSERT INTO ballots (unit, round, idx, elector, entry, leaf_hash, received_at) "
        "VALUES ('AAA', %s, %s, %s, %s, %s, %s)",
        (round_no, idx, elector, entry, leaf_hash(entry), AT),
    )


def test_a_gap_or_a_reused_index_is_refused(sql: Any) -> None:
    assert "not the next one" in refused(sql, *_insert_sql(5, "x1"))  # a gap: 3 is next
    assert "not the next one" in refused(sql, *_insert_sql(1, "x2"))  # index 1 is taken
    insert(sql, 3, "x3")  # the next index is fine
    assert sql.execute("SELECT next_idx FROM rounds WHERE unit='AAA'").fetchone()[0] == 4


def test_a_second_ballot_of_an_elector_is_refused(sql: Any) -> None:
    assert "duplicate key" in refused(sql, *_insert_sql(3, "e1"))


def test_ballots_are_never_updated_deleted_or_truncated(sql: Any) -> None:
    assert "append-only" in refused(sql, "UPDATE ballots SET entry = 'x'::bytea WHERE idx = 1")
    assert "append-only" in refused(sql, "DELETE FROM ballots WHERE idx = 2")
    assert "append-only" in refused(sql, "TRUNCATE ballots CASCADE")
    assert sql.execute("SELECT count(*) FROM ballots").fetchone()[0] == 3


def test_a_closed_round_takes_nothing_and_stays_closed(sql: Any) -> None:
    sql.execute("UPDATE rounds SET state = 'closed', closed_at = %s WHERE unit = 'AAA'", (AT,))
    assert "closed" in refused(sql, *_insert_sql(3, "late"))
    assert "closed for good" in refused(sql, "UPDATE rounds SET state = 'open' WHERE unit='AAA'")


def test_a_log_never_shrinks(sql: Any) -> None:
    assert "never shrinks" in refused(sql, "UPDATE rounds SET next_idx = 1 WHERE unit = 'AAA'")


def test_checkpoints_only_gain_lines(sql: Any) -> None:
    note = sql.execute("SELECT note FROM checkpoints WHERE unit='AAA' AND size=0").fetchone()[0]
    forged = note.replace("\n\n", "\n\nforged\n", 1)
    assert "only gains" in refused(
        sql, "UPDATE checkpoints SET note = %s WHERE unit='AAA' AND size=0", (forged,)
    )
    assert "append-only" in refused(sql, "DELETE FROM checkpoints")
    sql.execute(  # a cosignature line added at the end: allowed
        "UPDATE checkpoints SET note = note || %s WHERE unit='AAA' AND size=0", ("\u2014 w x\n",)
    )
    # a checkpoint over more than is stored, or a final one over less
    assert "ballots are stored" in refused(
        sql,
        "INSERT INTO checkpoints (unit, round, size, note, issued_at, final) "
        "VALUES ('AAA', 1, 9, 'n', %s, 0)",
        (AT,),
    )
    assert "ballots are stored" in refused(
        sql,
        "INSERT INTO checkpoints (unit, round, size, note, issued_at, final) "
        "VALUES ('AAA', 1, 2, 'n', %s, 1)",
        (AT,),
    )


def test_migrations_apply_once_from_processes_starting_together(pg: Built) -> None:
    from tally_service.service.store_pg import PgStore

    assert pg.store is not None
    stores: list[PgStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(PgStore(pg.store or ""))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors
        rows = stores[0]._query("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    finally:
        for s in stores:
            s.close()


def _insert_sql(idx: int, elector: str) -> tuple[str, tuple[Any, ...]]:
    entry = f"forged {idx}".encode()
    return (
        "INSERT INTO ballots (unit, round, idx, elector, entry, leaf_hash, received_at) "
        "VALUES ('AAA', 1, %s, %s, %s, %s, %s)",
        (idx, elector, entry, leaf_hash(entry), AT),
    )


def test_the_service_role_serves_but_cannot_undo_the_rules(pg: Built) -> None:
    """Whoever owns the tables can switch the triggers off and rewrite the log (shown first,
    as the owner): so the service runs as a role that owns nothing and has no DELETE,
    TRUNCATE or UPDATE of entries (tally_service/service/sql/postgresql/grants.sql), and with that
    role an election still runs."""
    from importlib import resources

    from tally_service.service.config import Config

    assert pg.store is not None
    sql = resources.files("tally_service.service") / "sql"
    grants = (sql / "postgresql" / "grants.sql").read_text()
    with psycopg.connect(pg.store, autocommit=True) as owner:
        owner.execute(
            "DO $$ BEGIN CREATE ROLE kz_service LOGIN; "
            "EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        )
        owner.execute(grants.encode())
        # the owner could (in a transaction rolled back here)
        with owner.transaction():
            owner.execute("ALTER TABLE ballots DISABLE TRIGGER ALL")
            raise psycopg.Rollback()
    service_url = pg.store.replace("postgresql://postgres@", "postgresql://kz_service@")
    e = Election(pg.data_dir, Config(checkpoint_every=2), store=service_url)
    try:
        e.open_round("AAA", 1)
        for i in range(3):
            entry = f"entry {i}".encode()
            e.store.append_next("AAA", 1, f"e{i}", entry, leaf_hash(entry), AT)
        e.issue_checkpoint("AAA", 1)
        e.close_round("AAA", 1)
    finally:
        e.stop()
    with psycopg.connect(service_url, autocommit=True) as conn:
        assert "owner" in refused(conn, "ALTER TABLE ballots DISABLE TRIGGER ALL")
        assert "permission denied" in refused(conn, "DELETE FROM ballots")
        assert "permission denied" in refused(conn, "UPDATE ballots SET entry = 'x'::bytea")
        assert "permission denied" in refused(conn, "TRUNCATE ballots")
        assert "permission denied" in refused(conn, "UPDATE checkpoints SET size = 0")
        assert "owner" in refused(conn, "DROP TRIGGER ballots_insert ON ballots")
        assert conn.execute("SELECT count(*) FROM ballots").fetchone()[0] == 3


def test_a_leaf_hash_that_does_not_match_its_entry_is_never_signed(pg: Built) -> None:
    """A writer that bypasses the service appends at the next index (the triggers allow that)
    but with a leaf hash that is not its entry's: the next checkpoint must not sign over it (a
    CT log once signed a tree over a bit-flipped leaf hash). The process catching up recomputes
    every leaf hash from the entry bytes and refuses."""
    from tally_service.service.logs import LogMismatch

    assert pg.store is not None
    e = Election(pg.data_dir, store=pg.store)
    try:
        e.open_round("AAA", 1)
        with psycopg.connect(pg.store, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO ballots (unit, round, idx, elector, entry, leaf_hash, received_at) "
                "VALUES ('AAA', 1, 0, 'rogue', %s, %s, %s)",
                (b"entry", leaf_hash(b"another entry"), AT),
            )
        with pytest.raises(LogMismatch, match="does not hash"):
            e.issue_checkpoint("AAA", 1)
        assert [row.size for row in e.store.checkpoints("AAA", 1)] == [0]
    finally:
        e.stop()


def test_a_round_opened_by_another_process_takes_ballots_at_once(pg: Built) -> None:
    """Process A opens a round; process B, which refreshed from the database a moment ago,
    gets a ballot for it at once and must accept it (not answer round-not-open)."""
    from tally_service.elector.ballot import make_ballot

    assert pg.store is not None
    a = Election(pg.data_dir, store=pg.store)
    b = Election(pg.data_dir, store=pg.store)
    try:
        b.refresh()
        log = a.open_round("AAA", 1)
        ballot = make_ballot(
            a.manifest.hash, "AAA", 1, "AAA-E0001", log.candidates, None,
            a.manifest.election_key, pg.keys["AAA-E0001"],
        )
        receipt, new = b.cast(ballot)
        assert new and receipt["index"] == 0
    finally:
        a.stop()
        b.stop()


def within(seconds: float, condition: Callable[[], object], what: str) -> float:
    """How long ``condition`` took to hold; fails if it did not within ``seconds``."""
    started = time.monotonic()
    while not condition():
        took = time.monotonic() - started
        assert took < seconds, f"{what}: not within {seconds} s"
        time.sleep(0.01)
    return time.monotonic() - started


#: well under Election's periodic re-reading (FOLLOW_SECONDS), which the tests below push out
#: of the way: only a notification can tell the other process in time
TOLD_WITHIN = 1.0


@pytest.fixture
def two(pg: Built) -> Iterator[tuple[Election, Election]]:
    """Process A changes things; process B follows only by LISTEN/NOTIFY (its periodic
    re-reading, the fallback for a lost notification, is an hour away)."""
    from tally_service.service.config import Config
    from tally_service.service.election import FOLLOW_SECONDS

    assert TOLD_WITHIN <= FOLLOW_SECONDS / 2
    config = Config(checkpoint_seconds=3600)  # no timed checkpoint gets in the way
    a = Election(pg.data_dir, config, store=pg.store)
    b = Election(pg.data_dir, config, store=pg.store)
    try:
        b.follow_seconds = 3600
        b.start_checkpointer()
        assert b._leader is not None
        within(10, lambda: b._leader is not None and b._leader.listens >= 1, "B listening")
        yield a, b
    finally:
        a.stop()
        b.stop()


def test_another_process_is_told_of_rounds_and_checkpoints(two: tuple[Election, Election]) -> None:
    a, b = two
    a.open_round("AAA", 1)
    within(TOLD_WITHIN, lambda: ("AAA", 1) in b.logs, "the round opened by A, in B")
    log = b.logs[("AAA", 1)]
    for i in range(3):
        entry = f"entry {i}".encode()
        a.store.append_next("AAA", 1, f"e{i}", entry, leaf_hash(entry), AT)
    a.issue_checkpoint("AAA", 1)
    within(TOLD_WITHIN, lambda: log.checkpoint_size == 3, "A's checkpoint, in B")
    assert log.tree.size == 3 and log.checkpoint_note == a.logs[("AAA", 1)].checkpoint_note
    a.close_round("AAA", 1)
    within(TOLD_WITHIN, lambda: not log.open, "the round closed by A, in B")


def test_a_dropped_listening_connection_listens_again(
    pg: Built, two: tuple[Election, Election]
) -> None:
    """The database ends B's listening session (a restart, a failover, an operator): B
    connects and listens again, reads everything once (what was said meanwhile is lost), and
    is told of what changes next."""
    a, b = two
    leader = b._leader
    assert leader is not None
    pid = leader.backend_pid
    assert pg.store is not None
    with psycopg.connect(pg.store, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
    a.open_round("AAA", 1)  # while B is not listening: B finds it when it reads everything
    within(10, lambda: leader.listens >= 2, "B listening again")
    assert leader.backend_pid != pid
    within(TOLD_WITHIN, lambda: ("AAA", 1) in b.logs, "the round opened meanwhile, in B")
    log = b.logs[("AAA", 1)]
    entry = b"entry"
    a.store.append_next("AAA", 1, "e0", entry, leaf_hash(entry), AT)
    a.issue_checkpoint("AAA", 1)
    within(TOLD_WITHIN, lambda: log.checkpoint_size == 1, "A's checkpoint, in B")
