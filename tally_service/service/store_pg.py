"""The PostgreSQL back end: several service processes over one database.

Threats: two processes giving out the same index or skipping one; a receipt for a ballot whose
COMMIT never returned (a crash, a lost connection, a primary killed before its standby had the
WAL); a database error surfacing as a 500 with a traceback; two leaders signing checkpoints
whose times go backwards.

What this module does about them: every write runs in one transaction that locks the round's
row first (``SELECT ... FOR UPDATE``, READ COMMITTED: writers of one log queue there, and each
sees what the one before it committed); the schema's triggers refuse an index that is not the
next one, a ballot into a closed round and any update or delete of a ballot, whatever process
(or SQL prompt) tries. ``append_next`` returns only after COMMIT returned: with
``synchronous_commit=on`` and a synchronous standby, that is after the standby has the WAL too.
Connection losses, a read-only (demoted) or full database are ``StoreUnavailable`` (HTTP 503
with Retry-After): nothing is promised for them. Background work is done by the one process
holding a session-level advisory lock (``LeaderLock``); PostgreSQL releases it when that
process's connection dies, so another takes over within seconds. Every serving process
listens on that same connection for what the others changed (LISTEN/NOTIFY, sql/postgresql/0003):
a notification only says "look now"; what a process serves is always read from the database,
and a lost notification only delays it until its next periodic look.

The schema is the numbered files in tally_service/service/sql/postgresql/, applied once
each, in order, under an advisory lock, and recorded in ``schema_migrations``.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
import psycopg.errors
from psycopg_pool import ConnectionPool, PoolTimeout

from tally_service.service.store import (
    BaseStore,
    DuplicateElector,
    LockedRound,
    RoundClosed,
    StoreError,
    StoreUnavailable,
    Tx,
    migrations,
    redact,
)

# psycopg's pool warns on each failed connection attempt: into the server's log when there is
# one, never as extra lines under a command's one-line error
logging.getLogger("psycopg").addHandler(logging.NullHandler())

# advisory lock keys (two int4s: a namespace and a purpose)
_NAMESPACE = 0x6B7A  # "kz"
_MIGRATIONS = 1
_LEADER = 2
_AUDIT = 3

#: how long the pool retries one lost connection (with its backoff: 1, 2, 4 ... s) before
#: giving up; the next request that finds the pool empty starts again at once. psycopg_pool's
#: default (300 s) let the backoff grow with the outage: after 35 s without a primary, the
#: pool refilled some 20 s after the promotion; with this, within a few seconds
RECONNECT_SECONDS = 5.0

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,  # connection lost or refused, admin shutdown, disk full (53xxx)
    psycopg.errors.ReadOnlySqlTransaction,  # a standby, or a primary demoted under us
    psycopg.InterfaceError,  # the connection was closed under us
    PoolTimeout,  # no connection within the pool's timeout (the server is down)
)


class _PgTx:
    """A psycopg connection speaking the ``?`` placeholders of the shared SQL."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        return self.conn.execute(sql.replace("?", "%s"), tuple(params))


class PgStore(BaseStore):
    shared = True

    def __init__(
        self,
        url: str,
        read_only: bool = False,
        min_size: int = 1,
        max_size: int = 20,
        timeout: float = 5.0,
        migrate: bool = True,
    ) -> None:
        self.url = url
        self.description = redact(url)
        self.read_only = read_only
        options = "-c default_transaction_read_only=on" if read_only else ""
        self._kwargs: dict[str, Any] = {
            "autocommit": True,
            "application_name": "kz-tally",
            "connect_timeout": max(2, int(timeout)),
            # a dead peer is noticed in seconds, not after the kernel's two hours
            "keepalives": 1,
            "keepalives_idle": 5,
            "keepalives_interval": 1,
            "keepalives_count": 3,
        }
        if options:
            self._kwargs["options"] = options
        self.pool = ConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
            reconnect_timeout=RECONNECT_SECONDS,
            kwargs=self._kwargs,
            # no liveness check on each borrow (a round trip per statement): a connection
            # that died fails its statement (503, retried by the client) and the pool drops it
            max_lifetime=1800,
            open=False,
            name="kz-tally",
        )
        self.pool.open(wait=False)
        if migrate and not read_only:
            self.migrate()

    # --- connections ----------------------------------------------------------------------
    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        try:
            with self.pool.connection() as conn:
                yield conn
        except _UNAVAILABLE as exc:
            raise StoreUnavailable(f"the database is unavailable: {_first_line(exc)}") from exc

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._connection() as conn:
            return conn.execute(sql.replace("?", "%s"), tuple(params)).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[Tx]:
        """One transaction; on exit COMMIT has returned (durable, replicated as configured)
        or it raised and nothing of it may be promised."""
        with self._connection() as conn, conn.transaction():
            yield _PgTx(conn)

    def append_next(
        self, unit: str, round_no: int, elector: str, entry: bytes, leaf_hash: bytes, at: str
    ) -> tuple[int, bool]:
        """As ``BaseStore.append_next``, in one round trip: the SQL function kz_append
        (sql/postgresql/0002, 0003) runs as one statement in autocommit, so its answer arrives
        only once the transaction is committed (and, with a synchronous standby, replicated).
        It notifies ``kz_grown`` when the log's size reaches a multiple of ``grown_every``."""
        try:
            row = self._one(
                "SELECT outcome, at_index FROM kz_append(?, ?, ?, ?, ?, ?, ?)",
                (unit, round_no, elector, entry, leaf_hash, at, self.grown_every),
            )
        except psycopg.IntegrityError as exc:
            raise StoreError(f"the database refused the ballot: {_first_line(exc)}") from exc
        outcome, index = str(row[0]), row[1]
        if outcome == "closed":
            raise RoundClosed(f"round {round_no} of {unit} is not open")
        if outcome == "other":
            raise DuplicateElector(f"{elector} has a ballot in {unit} round {round_no}")
        return int(index), outcome == "appended"

    def lock_round(self, tx: Tx, unit: str, round_no: int) -> LockedRound:
        row = tx.execute(
            "SELECT state, next_idx FROM rounds WHERE unit=? AND round=? FOR UPDATE",
            (unit, round_no),
        ).fetchone()
        if row is None:
            return LockedRound(tx, None, 0)
        return LockedRound(tx, str(row[0]), int(row[1]))

    def _lock_audit(self, tx: Tx) -> None:
        tx.execute("SELECT pg_advisory_xact_lock(?, ?)", (_NAMESPACE, _AUDIT))

    def round_sizes(self) -> dict[tuple[str, int], int]:
        rows = self._query("SELECT unit, round, next_idx FROM rounds")
        return {(str(u), int(r)): int(n) for u, r, n in rows}

    def _is_integrity_error(self, exc: BaseException) -> bool:
        return isinstance(exc, psycopg.IntegrityError)

    def close(self) -> None:
        self.pool.close()

    # --- schema ---------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply the migrations not yet applied, each in its own transaction, under an
        advisory lock (several processes starting at once apply each file once)."""
        applied: list[int] = []
        wanted = migrations("postgresql")
        with self._connection() as conn:
            # up to date: nothing to lock or create (the service's own role may lack the
            # right to create anything: the owner role applies migrations, docs/operations.md)
            found = conn.execute("SELECT to_regclass('schema_migrations')").fetchone()
            if found is not None and found[0] is not None:
                done = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")}
                if done and max(done) > wanted[-1][0]:
                    raise StoreError(
                        f"the database's schema is at version {max(done)}, newer than this "
                        f"program knows ({wanted[-1][0]}): upgrade the program"
                    )
                if all(number in done for number, _, _ in wanted):
                    return applied
        with self._connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_NAMESPACE, _MIGRATIONS))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, "
                "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            done = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")}
            for number, name, sql in wanted:
                if number in done:
                    continue
                with conn.transaction():
                    conn.execute(sql.encode())  # several statements: no parameters
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                        (number, name),
                    )
                applied.append(number)
        return applied

    # --- leadership -----------------------------------------------------------------------
    def leader_lock(self) -> LeaderLock:
        return LeaderLock(self.url, self._kwargs)


#: a leader whose lock connection has been idle this long is taken for frozen (SIGSTOP, a
#: partition that keeps its TCP session open): another process ends its session
LEASE_SECONDS = 10


#: the channels of sql/postgresql/0003_notify.sql
CHANNELS = ("kz_grown", "kz_signed")


class LeaderLock:
    """A session-level advisory lock on a connection of its own: held while this process
    lives and its connection does; PostgreSQL drops it with a dead connection. The holder
    touches its connection every poll (about once a second); one silent for LEASE_SECONDS is
    frozen, and the next process to poll ends its session (``pg_terminate_backend``: allowed
    on sessions of one's own role), so the lock frees and the lead moves. A frozen leader that
    wakes finds its connection gone and stops leading; correctness never depended on it.

    The same connection (not pooled: LISTEN belongs to a session) listens on ``CHANNELS``
    once ``listen()`` was called: ``wait`` returns what the other processes notified.
    ``listens`` counts the LISTENs issued: when it moves, the connection was new and whatever
    was notified before it is lost, so the caller reads everything again."""

    def __init__(self, url: str, kwargs: dict[str, Any]) -> None:
        self.url = url
        # the pid in the name: an operator (and the tests) see which process leads
        self.kwargs = dict(kwargs, application_name=f"kz-tally-leader-{os.getpid()}")
        self._conn: psycopg.Connection[Any] | None = None
        self._held = False
        self._listen = False
        self._listening = False
        self.listens = 0
        self._lock = threading.Lock()

    def listen(self) -> None:
        """Listen from the next ``poll`` on (offline commands never do: notifications that
        nobody reads would pile up)."""
        self._listen = True

    @property
    def backend_pid(self) -> int | None:
        """The server process of this connection (None: not connected)."""
        conn = self._conn
        return None if conn is None or conn.closed else conn.info.backend_pid

    def poll(self) -> bool:
        """Whether this process leads, trying to take the lead if it does not (call it about
        once a second: it also notices a lost connection, and reconnects)."""
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._held = self._listening = False
                    self._conn = psycopg.connect(self.url, **self.kwargs)
                if self._listen and not self._listening:
                    for channel in CHANNELS:
                        self._conn.execute(f"LISTEN {channel}")
                    self._listening = True
                    self.listens += 1
                if self._held:
                    self._conn.execute("SELECT 1")  # still connected: still holding it
                else:
                    row = self._conn.execute(
                        "SELECT pg_try_advisory_lock(%s, %s)", (_NAMESPACE, _LEADER)
                    ).fetchone()
                    self._held = bool(row and row[0])
                    if not self._held:
                        self._end_frozen_leader(self._conn)
            except psycopg.Error:
                self._drop()
            return self._held

    def _end_frozen_leader(self, conn: psycopg.Connection[Any]) -> None:
        conn.execute(
            "SELECT pg_terminate_backend(a.pid) FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s "
            "AND l.objsubid = 2 AND l.database = (SELECT oid FROM pg_database "
            "WHERE datname = current_database()) AND a.state = 'idle' "
            "AND a.state_change < now() - make_interval(secs => %s)",
            (_NAMESPACE, _LEADER, LEASE_SECONDS),
        )

    def wait(self, timeout: float) -> list[tuple[str, str]] | None:
        """The (channel, payload) notifications received within ``timeout`` seconds, returning
        as soon as there are some; None at once when not listening (no connection: the caller
        sleeps, and its next ``poll`` reconnects). A lost connection is dropped (and with it
        the lock, which PostgreSQL has released anyway)."""
        with self._lock:
            conn = self._conn
            if conn is None or conn.closed or not self._listening:
                return None
            try:
                # psycopg >= 3.3 also returns those received during poll()'s statements; with
                # 3.2 such a one is lost (rare: one statement a second) and costs latency only
                got = [(n.channel, n.payload) for n in conn.notifies(timeout=timeout, stop_after=1)]
                if got:  # and whatever else has arrived meanwhile: handled as one batch
                    got += [(n.channel, n.payload) for n in conn.notifies(timeout=0)]
            except psycopg.Error:
                self._drop()
                return None
            return got

    def release(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        self._held = self._listening = False
        if self._conn is not None:
            with suppress(psycopg.Error):
                self._conn.close()
            self._conn = None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
