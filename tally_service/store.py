"""Durable storage: SQLite in WAL mode with synchronous=FULL.

A ballot is committed (and fsync'd) in one transaction with its leaf hash before its receipt is
sent. The store holds bytes exactly as they were accepted; the Merkle trees are rebuilt from the
stored leaf hashes on start. Writes go through one connection under a lock; reads use one
connection per thread.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (
    unit TEXT NOT NULL, round INTEGER NOT NULL, state TEXT NOT NULL,
    candidates TEXT NOT NULL, opened_at TEXT NOT NULL, closed_at TEXT,
    PRIMARY KEY (unit, round));
CREATE TABLE IF NOT EXISTS ballots (
    unit TEXT NOT NULL, round INTEGER NOT NULL, idx INTEGER NOT NULL, elector TEXT NOT NULL,
    entry BLOB NOT NULL, leaf_hash BLOB NOT NULL, received_at TEXT NOT NULL,
    PRIMARY KEY (unit, round, idx), UNIQUE (unit, round, elector));
CREATE INDEX IF NOT EXISTS ballots_by_leaf ON ballots (unit, round, leaf_hash);
CREATE TABLE IF NOT EXISTS checkpoints (
    unit TEXT NOT NULL, round INTEGER NOT NULL, size INTEGER NOT NULL, note TEXT NOT NULL,
    issued_at TEXT NOT NULL, final INTEGER NOT NULL,
    PRIMARY KEY (unit, round, size, final));
CREATE TABLE IF NOT EXISTS tallies (
    unit TEXT NOT NULL, round INTEGER NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (unit, round));
CREATE TABLE IF NOT EXISTS partials (
    unit TEXT NOT NULL, round INTEGER NOT NULL, guardian INTEGER NOT NULL, doc TEXT NOT NULL,
    PRIMARY KEY (unit, round, guardian));
CREATE TABLE IF NOT EXISTS results (kind TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, key_id TEXT NOT NULL, action TEXT NOT NULL,
    request TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nonces (nonce TEXT PRIMARY KEY, at TEXT NOT NULL);
"""


class StoreError(Exception):
    """The store refused a write (a constraint would break)."""


class DuplicateElector(StoreError):
    """The elector already has a ballot in this round."""


class StoreUnavailable(Exception):
    """The disk refused a write (full, read-only, an I/O error, locked): the transaction was
    rolled back, nothing of it was written, and the same write may succeed later."""


@dataclass(frozen=True)
class RoundRow:
    unit: str
    round: int
    state: str  # "open" | "closed"
    candidates: str  # JSON list of candidate ids
    opened_at: str
    closed_at: str | None


@dataclass(frozen=True)
class CheckpointRow:
    size: int
    note: str
    issued_at: str
    final: bool


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is left of a transaction (SQLite may have rolled it back already)."""
    if conn.in_transaction:
        with suppress(sqlite3.Error):  # if this fails too, SQLite rolls back on the next BEGIN
            conn.execute("ROLLBACK")


class Store:
    def __init__(self, path: Path, read_only: bool = False) -> None:
        """``read_only``: the database on read-only media (or in a read-only directory, where
        SQLite cannot make its WAL index): reads work, every write is ``StoreUnavailable``."""
        self.path = path
        self.read_only = read_only
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._writer = self._connect()
        if not read_only:
            self._writer.executescript(SCHEMA)
        self._local = threading.local()

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            wal = self.path.with_name(self.path.name + "-wal")
            # immutable: no WAL index, no locks (a directory no one can write does not change);
            # a WAL left by a crash holds committed data, so it must be read through SQLite
            flags = "mode=ro" if wal.exists() and wal.stat().st_size else "immutable=1"
            return sqlite3.connect(
                f"{self.path.resolve().as_uri()}?{flags}",
                uri=True,
                check_same_thread=False,
                isolation_level=None,
            )
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed durably on exit (rolled back on error)."""
        with self._write_lock:
            conn = self._writer
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    _rollback(conn)
                    raise
            except sqlite3.OperationalError as exc:  # SQLITE_FULL, READONLY, IOERR, BUSY
                raise StoreUnavailable(f"the database refused a write: {exc}") from exc

    def close(self) -> None:
        with self._write_lock:
            self._writer.close()

    # meta
    def get_meta(self, key: str) -> str | None:
        row = self._reader().execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # rounds
    def rounds(self) -> list[RoundRow]:
        rows = self._reader().execute(
            "SELECT unit, round, state, candidates, opened_at, closed_at FROM rounds "
            "ORDER BY unit, round"
        )
        return [RoundRow(*row) for row in rows]

    def get_round(self, unit: str, round_no: int) -> RoundRow | None:
        row = (
            self._reader()
            .execute(
                "SELECT unit, round, state, candidates, opened_at, closed_at FROM rounds "
                "WHERE unit=? AND round=?",
                (unit, round_no),
            )
            .fetchone()
        )
        return None if row is None else RoundRow(*row)

    def open_round(self, unit: str, round_no: int, candidates: str, at: str) -> None:
        with self.transaction() as conn:
            try:
                conn.execute(
                    "INSERT INTO rounds (unit, round, state, candidates, opened_at) "
                    "VALUES (?, ?, 'open', ?, ?)",
                    (unit, round_no, candidates, at),
                )
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"round {round_no} of {unit} exists already") from exc

    def close_round(self, unit: str, round_no: int, final_size: int, note: str, at: str) -> None:
        """Mark the round closed and store its final checkpoint, atomically."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE rounds SET state='closed', closed_at=? WHERE unit=? AND round=?",
                (at, unit, round_no),
            )
            conn.execute(
                "INSERT INTO checkpoints (unit, round, size, note, issued_at, final) "
                "VALUES (?, ?, ?, ?, ?, 1)",
                (unit, round_no, final_size, note, at),
            )

    # ballots
    def append_ballot(
        self,
        unit: str,
        round_no: int,
        index: int,
        elector: str,
        entry: bytes,
        leaf_hash: bytes,
        at: str,
    ) -> None:
        with self.transaction() as conn:
            try:
                conn.execute(
                    "INSERT INTO ballots (unit, round, idx, elector, entry, leaf_hash, "
                    "received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (unit, round_no, index, elector, entry, leaf_hash, at),
                )
            except sqlite3.IntegrityError as exc:
                raise DuplicateElector(
                    f"{elector} has a ballot in {unit} round {round_no}"
                ) from exc

    def ballot_of(self, unit: str, round_no: int, elector: str) -> tuple[int, bytes] | None:
        row = (
            self._reader()
            .execute(
                "SELECT idx, entry FROM ballots WHERE unit=? AND round=? AND elector=?",
                (unit, round_no, elector),
            )
            .fetchone()
        )
        return None if row is None else (int(row[0]), bytes(row[1]))

    def leaves(self, unit: str, round_no: int) -> Iterator[tuple[bytes, bytes]]:
        """Every (entry, stored leaf hash) of a log in order; a gap in the indexes is an error."""
        rows = self._reader().execute(
            "SELECT idx, entry, leaf_hash FROM ballots WHERE unit=? AND round=? ORDER BY idx",
            (unit, round_no),
        )
        for expected, (idx, entry, leaf) in enumerate(rows):
            if idx != expected:
                raise StoreError(f"log {unit}/{round_no} has a gap at index {expected}")
            yield bytes(entry), bytes(leaf)

    def entries(self, unit: str, round_no: int, start: int, end: int) -> list[bytes]:
        rows = self._reader().execute(
            "SELECT entry FROM ballots WHERE unit=? AND round=? AND idx>=? AND idx<? ORDER BY idx",
            (unit, round_no, start, end),
        )
        return [bytes(row[0]) for row in rows]

    def index_of_leaf(self, unit: str, round_no: int, leaf: bytes) -> int | None:
        row = (
            self._reader()
            .execute(
                "SELECT idx FROM ballots WHERE unit=? AND round=? AND leaf_hash=?",
                (unit, round_no, leaf),
            )
            .fetchone()
        )
        return None if row is None else int(row[0])

    def entry_at(self, unit: str, round_no: int, index: int) -> bytes | None:
        found = self.entries(unit, round_no, index, index + 1)
        return found[0] if found else None

    def iter_entries(self, unit: str, round_no: int, batch: int = 1000) -> Iterator[bytes]:
        start = 0
        while True:
            chunk = self.entries(unit, round_no, start, start + batch)
            yield from chunk
            if len(chunk) < batch:
                return
            start += batch

    def quorum_time(self, unit: str, round_no: int, needed: int) -> str | None:
        """When the ``needed``-th ballot (1-based) arrived, if it has."""
        row = (
            self._reader()
            .execute(
                "SELECT received_at FROM ballots WHERE unit=? AND round=? AND idx=?",
                (unit, round_no, needed - 1),
            )
            .fetchone()
        )
        return None if row is None else str(row[0])

    # checkpoints
    def add_checkpoint(self, unit: str, round_no: int, size: int, note: str, at: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO checkpoints (unit, round, size, note, issued_at, final) "
                "VALUES (?, ?, ?, ?, ?, 0)",
                (unit, round_no, size, note, at),
            )

    def checkpoints(self, unit: str, round_no: int) -> list[CheckpointRow]:
        rows = self._reader().execute(
            "SELECT size, note, issued_at, final FROM checkpoints WHERE unit=? AND round=? "
            "ORDER BY size, final",
            (unit, round_no),
        )
        return [CheckpointRow(int(s), str(n), str(a), bool(f)) for s, n, a, f in rows]

    # tallies, partial decryptions, results
    def put_tally(self, unit: str, round_no: int, doc: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO tallies (unit, round, doc) VALUES (?, ?, ?)",
                (unit, round_no, doc),
            )

    def get_tally(self, unit: str, round_no: int) -> str | None:
        row = (
            self._reader()
            .execute("SELECT doc FROM tallies WHERE unit=? AND round=?", (unit, round_no))
            .fetchone()
        )
        return None if row is None else str(row[0])

    def put_partial(self, unit: str, round_no: int, guardian: int, doc: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO partials (unit, round, guardian, doc) VALUES (?, ?, ?, ?)",
                (unit, round_no, guardian, doc),
            )

    def partials(self, unit: str, round_no: int) -> dict[int, str]:
        rows = self._reader().execute(
            "SELECT guardian, doc FROM partials WHERE unit=? AND round=? ORDER BY guardian",
            (unit, round_no),
        )
        return {int(g): str(d) for g, d in rows}

    def put_result(self, kind: str, doc: str) -> None:
        with self.transaction() as conn:
            try:
                conn.execute("INSERT INTO results (kind, doc) VALUES (?, ?)", (kind, doc))
            except sqlite3.IntegrityError as exc:
                raise StoreError(f"the {kind} result is published already") from exc

    def get_result(self, kind: str) -> str | None:
        row = self._reader().execute("SELECT doc FROM results WHERE kind=?", (kind,)).fetchone()
        return None if row is None else str(row[0])

    # commission requests
    def record_request(self, nonce: str, at: str, key_id: str, action: str, request: str) -> None:
        """Remember the nonce and write the audit line in one transaction."""
        with self.transaction() as conn:
            try:
                conn.execute("INSERT INTO nonces (nonce, at) VALUES (?, ?)", (nonce, at))
            except sqlite3.IntegrityError as exc:
                raise StoreError("replayed nonce") from exc
            conn.execute(
                "INSERT INTO audit (at, key_id, action, request) VALUES (?, ?, ?, ?)",
                (at, key_id, action, request),
            )

    def audit(self) -> list[tuple[int, str, str, str, str]]:
        rows = self._reader().execute(
            "SELECT seq, at, key_id, action, request FROM audit ORDER BY seq"
        )
        return [(int(s), str(a), str(k), str(ac), str(r)) for s, a, k, ac, r in rows]
