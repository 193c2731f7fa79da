"""Durable storage: one interface, two back ends (SQLite by default, PostgreSQL to scale out).

Threats: a receipt for a ballot that is not durably stored (a crash, a full disk, a failover
would lose it while the elector holds a signed promise); two ballots at one index, a gap, two
ballots from one elector, or a ballot slipped into a closed round (several service processes
writing at once make these races real); a stored entry or signed checkpoint changed after the
fact.

What this module does about them: a ballot is appended in one transaction that first takes the
log's lock (SQLite: the database's single writer lock, ``BEGIN IMMEDIATE``; PostgreSQL: the
round's row, ``SELECT ... FOR UPDATE``), reads the round's state and size under it, assigns the
next index and commits with ``synchronous`` durability before anything is signed; the caller
makes the receipt only after ``append_next`` returned. Checkpoints and the close take the same
lock, so a ballot is either in the final log or refused. The store holds bytes exactly as they
were accepted; the Merkle trees are rebuilt from them. PostgreSQL also enforces the rules in the
database (constraints and triggers, tally_service/service/sql/postgresql/). The schema of
each back end is a series of numbered SQL files in tally_service/service/sql/<back end>/,
applied in order, once.

``open_store(location)`` (store_open.py) chooses the back end: a ``postgresql://`` URL, else a
SQLite file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol


class StoreError(Exception):
    """The store refused a write (a constraint would break)."""


class DuplicateElector(StoreError):
    """The elector already has a ballot in this round."""


class RoundClosed(StoreError):
    """The round is closed (or was never opened): nothing more is appended to it."""


class StoreUnavailable(Exception):
    """The database refused or lost a write (full, read-only, an I/O error, locked, the
    connection lost): the transaction was rolled back (or its outcome is unknown: nothing was
    promised for it), and the same write may succeed later."""


class AlreadyAnswered(Exception):
    """A commission request's nonce was committed by another request while this one ran (an
    identical retry on another thread or process): this one's writes are rolled back."""


@dataclass(frozen=True)
class RequestRecord:
    """What a commission request leaves: its nonce, the hash of its canonical envelope, and
    the audit line's fields."""

    nonce: str
    digest: str  # 64 hex
    at: str
    key_id: str
    action: str
    request: str  # the envelope as JSON text


@dataclass(frozen=True)
class StoredAnswer:
    """The answer given to a request, kept with its nonce."""

    digest: str | None  # None: recorded before answers were kept
    status: int | None
    answer: str | None  # the body, JSON text
    seq: int | None  # its audit line


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


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Tx(Protocol):
    """A transaction's connection: ``execute`` takes SQL with ``?`` placeholders."""

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Cursor: ...


class Leadership(Protocol):
    """Who does the background work among processes sharing a store, and what the processes
    tell each other they changed (store_pg.LeaderLock)."""

    #: how many times the process started listening (it moves after a reconnection)
    listens: int

    def poll(self) -> bool: ...

    def listen(self) -> None: ...

    def wait(self, timeout: float) -> list[tuple[str, str]] | None: ...

    def release(self) -> None: ...


@dataclass(frozen=True)
class LockedRound:
    """A round read under its lock, inside a write transaction."""

    tx: Tx
    state: str | None  # None: no such round
    size: int


def migrations(backend: str) -> list[tuple[int, str, str]]:
    """The numbered schema files of a back end: (version, file name, SQL), in order."""
    folder = resources.files("tally_service.service") / "sql" / backend
    found = []
    for item in folder.iterdir():
        name = item.name
        if name.endswith(".sql") and name[:4].isdigit() and name[4:5] == "_":
            found.append((int(name.split("_", 1)[0]), name, item.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"the {backend} migrations are not numbered 1, 2, 3 ...: {versions}")
    return found


class BaseStore:
    """What every back end shares: the SQL (in the dialect SQLite and PostgreSQL both speak)."""

    #: several processes may share this store (then each keeps its in-memory view in step)
    shared = False
    #: a human name for messages (never a password)
    description = ""
    #: shared stores tell the other processes when a log's size reaches a multiple of this
    #: (the election sets its checkpoint_every; 0: never)
    grown_every = 0

    # --- what a back end provides ---------------------------------------------------------
    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """A read outside any transaction."""
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[Tx]:
        """One write transaction, committed on exit (rolled back on error)."""
        raise NotImplementedError

    def lock_round(self, tx: Tx, unit: str, round_no: int) -> LockedRound:
        """Take the round's lock inside ``tx`` and read its state and size."""
        raise NotImplementedError

    def _is_integrity_error(self, exc: BaseException) -> bool:
        raise NotImplementedError

    def _lock_audit(self, tx: Tx) -> None:
        """Serialise the audit's sequence numbers (SQLite: the writer lock does already)."""

    def round_sizes(self) -> dict[tuple[str, int], int]:
        """The stored size of every round's log."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def leader_lock(self) -> Leadership | None:
        """The lock that elects one leader among the processes (None: one process only)."""
        return None

    # --- shared ---------------------------------------------------------------------------
    def _request(self) -> _RequestTransaction | None:
        pending = _REQUEST.get()
        return pending if pending is not None and pending.store is self else None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        # inside a commission request that has written, reads see its uncommitted writes
        pending = self._request()
        if pending is not None and pending.tx is not None:
            return pending.tx.execute(sql, tuple(params)).fetchall()
        return self._read(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        """One write transaction; inside a commission request (``answer_request``), a savepoint
        of the request's one transaction instead, committed only with the request's answer."""
        pending = self._request()
        if pending is None:
            with self._transaction() as tx:
                yield tx
            return
        tx = pending.begin()
        name = f"kz_write_{pending.next_savepoint()}"
        tx.execute(f"SAVEPOINT {name}")
        try:
            yield tx
        except BaseException:
            # as a transaction of its own would: its writes undone, the request's kept (if the
            # connection is lost this fails too, and so will the request's COMMIT)
            with suppress(Exception):
                tx.execute(f"ROLLBACK TO SAVEPOINT {name}")
                tx.execute(f"RELEASE SAVEPOINT {name}")
            raise
        tx.execute(f"RELEASE SAVEPOINT {name}")

    def after_commit(self, work: Callable[[], None]) -> None:
        """Run ``work`` once what was just written is committed: now, or inside a commission
        request after its COMMIT (e.g. telling the public pages something new is signed)."""
        pending = self._request()
        if pending is None:
            work()
        else:
            pending.after_commit.append(work)

    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Inside a commission request, run ``undo`` if its transaction is rolled back after
        all (the in-memory state changed with writes that never committed); else nothing."""
        pending = self._request()
        if pending is not None:
            pending.on_rollback.append(undo)

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self._query(sql, params)
        return rows[0] if rows else None

    @contextmanager
    def locked_round(self, unit: str, round_no: int) -> Iterator[LockedRound]:
        """A write transaction holding the round's lock (appends, checkpoints and the close
        all take it: they queue, whichever process they run in)."""
        with self.transaction() as tx:
            yield self.lock_round(tx, unit, round_no)

    # meta
    def get_meta(self, key: str) -> str | None:
        row = self._one("SELECT value FROM meta WHERE key=?", (key,))
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self.transaction() as tx:
            tx.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                (key, value),
            )

    # rounds
    def rounds(self) -> list[RoundRow]:
        rows = self._query(
            "SELECT unit, round, state, candidates, opened_at, closed_at FROM rounds "
            "ORDER BY unit, round"
        )
        return [RoundRow(str(u), int(r), str(s), str(c), str(o), c2) for u, r, s, c, o, c2 in rows]

    def get_round(self, unit: str, round_no: int) -> RoundRow | None:
        row = self._one(
            "SELECT unit, round, state, candidates, opened_at, closed_at FROM rounds "
            "WHERE unit=? AND round=?",
            (unit, round_no),
        )
        return None if row is None else RoundRow(*row)

    def open_round(self, unit: str, round_no: int, candidates: str, at: str) -> None:
        try:
            with self.transaction() as tx:
                tx.execute(
                    "INSERT INTO rounds (unit, round, state, candidates, opened_at) "
                    "VALUES (?, ?, 'open', ?, ?)",
                    (unit, round_no, candidates, at),
                )
        except StoreUnavailable:
            raise
        except Exception as exc:
            if self._is_integrity_error(exc):
                raise StoreError(f"round {round_no} of {unit} exists already") from exc
            raise

    def close_round(self, unit: str, round_no: int, final_size: int, note: str, at: str) -> None:
        """Mark the round closed and store its final checkpoint, atomically (the round's size
        must be ``final_size``: read it under ``locked_round`` and use ``close_locked``)."""
        with self.locked_round(unit, round_no) as locked:
            if locked.size != final_size:
                raise StoreError(
                    f"round {round_no} of {unit} has {locked.size} ballots, not {final_size}"
                )
            self.close_locked(locked, unit, round_no, note, at)

    def close_locked(
        self, locked: LockedRound, unit: str, round_no: int, note: str, at: str
    ) -> None:
        if locked.state != "open":
            raise RoundClosed(f"round {round_no} of {unit} is not open")
        locked.tx.execute(
            "UPDATE rounds SET state='closed', closed_at=? WHERE unit=? AND round=?",
            (at, unit, round_no),
        )
        locked.tx.execute(
            "INSERT INTO checkpoints (unit, round, size, note, issued_at, final) "
            "VALUES (?, ?, ?, ?, ?, 1)",
            (unit, round_no, locked.size, note, at),
        )

    # ballots
    def append_next(
        self, unit: str, round_no: int, elector: str, entry: bytes, leaf_hash: bytes, at: str
    ) -> tuple[int, bool]:
        """Append a ballot at the log's next index, under the round's lock; returns (index,
        appended). The very same bytes already stored for the elector give (their index,
        False); other bytes raise ``DuplicateElector``; a closed round ``RoundClosed``.
        Returns only once the transaction is durably committed."""
        try:
            with self.locked_round(unit, round_no) as locked:
                if locked.state != "open":
                    raise RoundClosed(f"round {round_no} of {unit} is not open")
                row = locked.tx.execute(
                    "SELECT idx, entry FROM ballots WHERE unit=? AND round=? AND elector=?",
                    (unit, round_no, elector),
                ).fetchone()
                if row is not None:
                    if bytes(row[1]) == entry:
                        return int(row[0]), False
                    raise DuplicateElector(f"{elector} has a ballot in {unit} round {round_no}")
                locked.tx.execute(
                    "INSERT INTO ballots (unit, round, idx, elector, entry, leaf_hash, "
                    "received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (unit, round_no, locked.size, elector, entry, leaf_hash, at),
                )
                return locked.size, True
        except (StoreError, StoreUnavailable):
            raise
        except Exception as exc:
            if self._is_integrity_error(exc):
                raise StoreError(f"the database refused the ballot: {exc}") from exc
            raise

    def ballot_of(self, unit: str, round_no: int, elector: str) -> tuple[int, bytes] | None:
        row = self._one(
            "SELECT idx, entry FROM ballots WHERE unit=? AND round=? AND elector=?",
            (unit, round_no, elector),
        )
        return None if row is None else (int(row[0]), bytes(row[1]))

    def leaves(
        self,
        unit: str,
        round_no: int,
        start: int = 0,
        end: int | None = None,
        tx: Tx | None = None,
    ) -> Iterator[tuple[bytes, bytes]]:
        """Every (entry, stored leaf hash) of a log in order from ``start`` (to ``end``,
        excluded), read in ``tx`` if given; a gap in the indexes is an error."""
        batch = 2000
        expected = start
        while end is None or expected < end:
            stop = expected + batch if end is None else min(end, expected + batch)
            sql = (
                "SELECT idx, entry, leaf_hash FROM ballots WHERE unit=? AND round=? AND idx>=? "
                "AND idx<? ORDER BY idx"
            )
            params = (unit, round_no, expected, stop)
            rows = tx.execute(sql, params).fetchall() if tx else self._query(sql, params)
            for idx, entry, leaf in rows:
                if int(idx) != expected:
                    raise StoreError(f"log {unit}/{round_no} has a gap at index {expected}")
                yield bytes(entry), bytes(leaf)
                expected += 1
            if expected < stop:
                if end is not None:
                    raise StoreError(f"log {unit}/{round_no} has a gap at index {expected}")
                return

    def entries(self, unit: str, round_no: int, start: int, end: int) -> list[bytes]:
        rows = self._query(
            "SELECT entry FROM ballots WHERE unit=? AND round=? AND idx>=? AND idx<? ORDER BY idx",
            (unit, round_no, start, end),
        )
        return [bytes(row[0]) for row in rows]

    def index_of_leaf(self, unit: str, round_no: int, leaf: bytes) -> int | None:
        row = self._one(
            "SELECT idx FROM ballots WHERE unit=? AND round=? AND leaf_hash=?",
            (unit, round_no, leaf),
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
        row = self._one(
            "SELECT received_at FROM ballots WHERE unit=? AND round=? AND idx=?",
            (unit, round_no, needed - 1),
        )
        return None if row is None else str(row[0])

    # checkpoints
    def add_checkpoint(self, unit: str, round_no: int, size: int, note: str, at: str) -> None:
        with self.transaction() as tx:
            self.add_checkpoint_in(tx, unit, round_no, size, note, at)

    def add_checkpoint_in(
        self, tx: Tx, unit: str, round_no: int, size: int, note: str, at: str
    ) -> None:
        tx.execute(
            "INSERT INTO checkpoints (unit, round, size, note, issued_at, final) "
            "VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT DO NOTHING",
            (unit, round_no, size, note, at),
        )

    def last_checkpoint_in(self, tx: Tx, unit: str, round_no: int) -> CheckpointRow | None:
        """The newest checkpoint of a round, read inside ``tx`` (under the round's lock)."""
        row = tx.execute(
            "SELECT size, note, issued_at, final FROM checkpoints WHERE unit=? AND round=? "
            "ORDER BY size DESC, final DESC LIMIT 1",
            (unit, round_no),
        ).fetchone()
        return None if row is None else CheckpointRow(int(row[0]), str(row[1]), str(row[2]),
                                                      bool(row[3]))

    def latest_issued_at(self, tx: Tx, unit: str, round_no: int) -> str | None:
        """The latest signing time of any checkpoint of a round (signed times never go back)."""
        row = tx.execute(
            "SELECT MAX(issued_at) FROM checkpoints WHERE unit=? AND round=?", (unit, round_no)
        ).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def checkpoints(self, unit: str, round_no: int) -> list[CheckpointRow]:
        rows = self._query(
            "SELECT size, note, issued_at, final FROM checkpoints WHERE unit=? AND round=? "
            "ORDER BY size, final",
            (unit, round_no),
        )
        return [CheckpointRow(int(s), str(n), str(a), bool(f)) for s, n, a, f in rows]

    def last_checkpoint(self, unit: str, round_no: int) -> CheckpointRow | None:
        row = self._one(
            "SELECT size, note, issued_at, final FROM checkpoints WHERE unit=? AND round=? "
            "ORDER BY size DESC, final DESC LIMIT 1",
            (unit, round_no),
        )
        return None if row is None else CheckpointRow(int(row[0]), str(row[1]), str(row[2]),
                                                      bool(row[3]))

    def update_checkpoint_note(
        self,
        unit: str,
        round_no: int,
        size: int,
        change: Callable[[str, bool], str | None],
    ) -> str | None:
        """Read-modify-write the stored notes of size ``size`` under the round's lock:
        ``change(note, final)`` returns the new note (which only adds lines) or None to leave
        it. Returns the first new note written, if any."""
        with self.locked_round(unit, round_no) as locked:
            rows = locked.tx.execute(
                "SELECT note, final FROM checkpoints WHERE unit=? AND round=? AND size=? "
                "ORDER BY final",
                (unit, round_no, size),
            ).fetchall()
            for note, final in rows:
                new = change(str(note), bool(final))
                if new is not None:
                    if new != note:
                        locked.tx.execute(
                            "UPDATE checkpoints SET note=? WHERE unit=? AND round=? AND size=? "
                            "AND final=?",
                            (new, unit, round_no, size, int(final)),
                        )
                    return new
        return None

    # tallies, partial decryptions, results
    def put_tally(self, unit: str, round_no: int, doc: str) -> None:
        with self.transaction() as tx:
            tx.execute(
                "INSERT INTO tallies (unit, round, doc) VALUES (?, ?, ?) "
                "ON CONFLICT (unit, round) DO UPDATE SET doc=excluded.doc",
                (unit, round_no, doc),
            )

    def get_tally(self, unit: str, round_no: int) -> str | None:
        row = self._one("SELECT doc FROM tallies WHERE unit=? AND round=?", (unit, round_no))
        return None if row is None else str(row[0])

    def put_partial(self, unit: str, round_no: int, guardian: int, doc: str) -> None:
        with self.transaction() as tx:
            tx.execute(
                "INSERT INTO partials (unit, round, guardian, doc) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (unit, round, guardian) DO UPDATE SET doc=excluded.doc",
                (unit, round_no, guardian, doc),
            )

    def partials(self, unit: str, round_no: int) -> dict[int, str]:
        rows = self._query(
            "SELECT guardian, doc FROM partials WHERE unit=? AND round=? ORDER BY guardian",
            (unit, round_no),
        )
        return {int(g): str(d) for g, d in rows}

    def put_result(self, kind: str, doc: str) -> None:
        try:
            with self.transaction() as tx:
                tx.execute("INSERT INTO results (kind, doc) VALUES (?, ?)", (kind, doc))
        except StoreUnavailable:
            raise
        except Exception as exc:
            if self._is_integrity_error(exc):
                raise StoreError(f"the {kind} result is published already") from exc
            raise

    def count_results(self) -> int:
        row = self._one("SELECT count(*) FROM results")
        return int(row[0])

    def get_result(self, kind: str) -> str | None:
        row = self._one("SELECT doc FROM results WHERE kind=?", (kind,))
        return None if row is None else str(row[0])

    # commission requests
    def stored_answer(self, nonce: str) -> StoredAnswer | None:
        row = self._one("SELECT digest, status, answer, seq FROM nonces WHERE nonce=?", (nonce,))
        if row is None:
            return None
        digest, status, answer, seq = row
        return StoredAnswer(
            None if digest is None else str(digest),
            None if status is None else int(status),
            None if answer is None else str(answer),
            None if seq is None else int(seq),
        )

    def answer_request(
        self, record: RequestRecord, act: Callable[[], tuple[int, str]]
    ) -> tuple[int, str]:
        """Run a commission request's action ``act`` (it returns the answer: status and JSON
        body) so that its writes, the nonce, the audit line and the answer commit in ONE
        transaction: an action done always has its answer stored, and an answer stored always
        has its action done. The transaction begins at the action's first write (its reads
        before that block no one) under the audit's lock, where the nonce is checked again:
        ``AlreadyAnswered`` if an identical request committed meanwhile. An answer of 400 or
        more (a refusal) keeps the nonce, the audit line and the answer but none of the
        action's writes. An exception rolls back everything: nothing is recorded, and the same
        request may be sent again."""
        pending = _RequestTransaction(self, record)
        token = _REQUEST.set(pending)
        try:
            try:
                status, body = act()
                tx = pending.begin()
                if status >= 400:
                    tx.execute("ROLLBACK TO SAVEPOINT kz_action")
                    pending.refused()  # its writes are undone: so are its effects in memory
                seq = self._add_audit_line(tx, record, None)
                tx.execute(
                    "INSERT INTO nonces (nonce, at, digest, status, answer, seq) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (record.nonce, record.at, record.digest, status, body, seq),
                )
            except BaseException as exc:
                pending.end(exc)
                raise
            pending.end(None)
        finally:
            _REQUEST.reset(token)
        for work in pending.after_commit:
            work()
        return status, body

    def record_repeat(self, record: RequestRecord, original_seq: int) -> int:
        """The audit line of an identical retry answered from the store; returns its seq."""
        with self._transaction() as tx:
            self._lock_audit(tx)
            return self._add_audit_line(tx, record, original_seq)

    def _add_audit_line(self, tx: Tx, record: RequestRecord, repeat_of: int | None) -> int:
        # numbered 1, 2, 3 ... under the audit's lock
        tx.execute(
            "INSERT INTO audit (seq, at, key_id, action, request, repeat_of) "
            "SELECT COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ? FROM audit",
            (record.at, record.key_id, record.action, record.request, repeat_of),
        )
        return int(tx.execute("SELECT MAX(seq) FROM audit").fetchone()[0])

    def audit(self) -> list[tuple[int, str, str, str, str, int | None]]:
        rows = self._query(
            "SELECT seq, at, key_id, action, request, repeat_of FROM audit ORDER BY seq"
        )
        return [
            (int(s), str(a), str(k), str(ac), str(r), None if p is None else int(p))
            for s, a, k, ac, r, p in rows
        ]


#: the commission request this thread is answering, if any (BaseStore.answer_request)
_REQUEST: ContextVar[_RequestTransaction | None] = ContextVar("kz_request", default=None)


class _RequestTransaction:
    """The one transaction of a commission request, begun at its first write."""

    def __init__(self, store: BaseStore, record: RequestRecord) -> None:
        self.store = store
        self.record = record
        self.tx: Tx | None = None
        self._stack = ExitStack()
        self._savepoints = 0
        self.after_commit: list[Callable[[], None]] = []
        self.on_rollback: list[Callable[[], None]] = []

    def begin(self) -> Tx:
        if self.tx is None:
            tx = self._stack.enter_context(self.store._transaction())
            self.tx = tx
            # the audit's lock orders commission requests across processes; under it a nonce
            # committed by an identical request that ran meanwhile is seen
            self.store._lock_audit(tx)
            if tx.execute(
                "SELECT 1 FROM nonces WHERE nonce=?", (self.record.nonce,)
            ).fetchone():
                raise AlreadyAnswered(self.record.nonce)
            tx.execute("SAVEPOINT kz_action")  # a refusal rolls back to here
        return self.tx

    def next_savepoint(self) -> int:
        self._savepoints += 1
        return self._savepoints

    def end(self, failed: BaseException | None) -> None:
        """COMMIT, or roll back for ``failed`` (a back end may raise its own exception for it,
        e.g. ``StoreUnavailable`` for a lost connection); on any failure run the in-memory
        undos, newest first."""
        try:
            if failed is None:
                self._stack.close()
            else:
                self._stack.__exit__(type(failed), failed, failed.__traceback__)
        except BaseException:
            self._undo()
            raise
        if failed is not None:
            self._undo()

    def refused(self) -> None:
        """The action's writes were rolled back (a refusal is stored instead): undo what it
        changed in memory and drop what it left to do after COMMIT."""
        self._undo()

    def _undo(self) -> None:
        for undo in reversed(self.on_rollback):
            undo()
        self.on_rollback.clear()
        self.after_commit.clear()


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back what is left of a transaction (SQLite may have rolled it back already)."""
    if conn.in_transaction:
        with suppress(sqlite3.Error):  # if this fails too, SQLite rolls back on the next BEGIN
            conn.execute("ROLLBACK")


class Store(BaseStore):
    """SQLite in WAL mode with synchronous=FULL: one process (it holds the data directory's
    lock), writes through one connection under a lock, reads on one connection per thread."""

    def __init__(self, path: Path, read_only: bool = False) -> None:
        """``read_only``: the database on read-only media (or in a read-only directory, where
        SQLite cannot make its WAL index): reads work, every write is ``StoreUnavailable``."""
        self.path = path
        self.description = str(path)
        self.read_only = read_only
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._writer = self._connect()
        if not read_only:
            self._migrate()
        self._local = threading.local()

    def _migrate(self) -> None:
        version = int(self._writer.execute("PRAGMA user_version").fetchone()[0])
        for number, _, sql in migrations("sqlite"):
            if number > version:
                # executescript commits first; the script is its own transaction
                self._writer.executescript(
                    f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version={number};\nCOMMIT;"
                )

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

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._reader().execute(sql, tuple(params)).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
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

    def lock_round(self, tx: Tx, unit: str, round_no: int) -> LockedRound:
        # BEGIN IMMEDIATE holds the one writer lock already: the size read here stays true
        row = tx.execute(
            "SELECT state FROM rounds WHERE unit=? AND round=?", (unit, round_no)
        ).fetchone()
        size = tx.execute(
            "SELECT COALESCE(MAX(idx) + 1, 0) FROM ballots WHERE unit=? AND round=?",
            (unit, round_no),
        ).fetchone()[0]
        return LockedRound(tx, None if row is None else str(row[0]), int(size))

    def round_sizes(self) -> dict[tuple[str, int], int]:
        rows = self._query(
            "SELECT r.unit, r.round, (SELECT COALESCE(MAX(idx) + 1, 0) FROM ballots b "
            "WHERE b.unit=r.unit AND b.round=r.round) FROM rounds r"
        )
        return {(str(u), int(r)): int(n) for u, r, n in rows}

    def _is_integrity_error(self, exc: BaseException) -> bool:
        return isinstance(exc, sqlite3.IntegrityError)

    def close(self) -> None:
        with self._write_lock:
            self._writer.close()


SqliteStore = Store


def redact(url: str) -> str:
    """A database URL without its password, for messages and logs."""
    import re

    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def is_database_url(location: str | Path | None) -> bool:
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))
