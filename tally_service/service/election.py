"""The running election: casting with receipts, rounds, checkpoints, turnout.

This is the service without HTTP: the Flask app, the CLI and the demo all drive it. Every
refusal is a ``Problem`` naming the failed check; nothing is appended unless every check passed,
and a receipt exists only once its ballot is committed to disk.

Over a shared store (PostgreSQL: several processes, tally_service/service/store_pg.py) the
threats grow:
another process appends, checkpoints and closes too, so this process's in-memory trees may be
behind, and a checkpoint signed from a stale or corrupt tree would be a fork. So the store
assigns every index under the round's lock; a tree catches up from the stored entry bytes (each
leaf hash recomputed and compared with the stored one) before any proof, checkpoint or close;
a checkpoint and a close are one transaction under that lock, with a signed time never before
any earlier checkpoint's; a checkpoint signed elsewhere is checked against this process's own
tree before it is served; and background work (timed checkpoints, witnesses) runs only in the
process that holds the leader lock.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from crypto.canonical import b64_encode
from crypto.checkpoint import TlogProof, format_tlog_proof
from crypto.merkle import leaf_hash
from crypto.note import add_signatures, sign_note
from crypto.rules import percent
from crypto.signing import SigningKey
from schemas.log import RECEIPT_FORMAT
from tally_service.common import clock, problems
from tally_service.common.keys import commission_key_path, log_key_path, read_private_key
from tally_service.common.manifest import Elector, Manifest, log_key_name
from tally_service.common.problems import Problem
from tally_service.service.checking import Checked, CheckPool, check_stateless
from tally_service.service.config import Config
from tally_service.service.health import Health
from tally_service.service.logs import LogMismatch, UnitLog, restore_current
from tally_service.service.store import (
    BaseStore,
    DuplicateElector,
    RoundClosed,
    Store,
    StoreError,
    StoreUnavailable,
)
from tally_service.service.store_open import open_store


class Background(Protocol):
    """Work the election runs beside casting and stops with it: the witnesses' cosignatures
    (tally_service/service/witnessing.py, which starts itself; this module never imports it)."""

    def stop(self) -> None: ...

PROMISE_HEADER = "kz-tally/v1/promise"

#: over a shared store, how often a process reads everything again although nobody told it
#: of a change: a notification is lost when the listening connection drops or the database
#: fails over (NOTIFY is neither durable nor replicated), and this bounds what that costs
FOLLOW_SECONDS = 2.0
#: how often a process polls the leader lock (and so touches its connection: the lease)
LEAD_SECONDS = 1.0


class StartupError(Exception):
    """The service must not start: keys do not match the manifest, or a log does not match
    its signed checkpoint."""


def promise_text(origin: str, index: int, leaf: bytes) -> str:
    return f"{PROMISE_HEADER}\n{origin}\n{index}\n{b64_encode(leaf)}\n"


class Election:
    def __init__(
        self,
        data_dir: Path,
        config: Config | None = None,
        read_only: bool = False,
        store: str | None = None,
    ) -> None:
        """``data_dir`` holds the keys (and, by default, the SQLite database); ``store``: a
        ``postgresql://`` URL instead of that database."""
        self.data_dir = data_dir
        self.config = config or Config()
        self.store: BaseStore
        if store:
            self.store = open_store(store, read_only=read_only)
        else:
            db = data_dir / "election.db"
            if not db.exists():
                raise StartupError(f"no election in {data_dir} (run `tally-service init` first)")
            self.store = Store(db, read_only=read_only)
        try:
            self._start()
        except BaseException:
            self.store.close()
            raise

    def _start(self) -> None:
        signed = self.store.get_meta("manifest")
        if signed is None:
            raise StartupError("the election is not sealed yet (run `tally-service seal`)")
        self.manifest = Manifest(json.loads(signed))
        self.commission_key = self._load_commission_key()
        self.log_keys = self._load_log_keys()
        self.logs: dict[tuple[str, int], UnitLog] = {}
        self._logs_lock = threading.Lock()
        # commission requests, one at a time (tally_service/service/commission_requests.py)
        self.request_lock = threading.Lock()
        for row in self.store.rounds():
            self._restore_log(row.unit, row.round, json.loads(row.candidates), row.state == "open")
        # bumped whenever something public is signed (a checkpoint, a close, a result): the
        # public pages rebuild their signed snapshot when it moves (tally_service/service/public/)
        self._signed_counter = itertools.count(1)
        self.signed_generation = 0
        self.health = Health()
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None
        self.check_pool: CheckPool | None = None
        self.witnessing: Background | None = None
        # over a shared store only the process holding the leader lock does background work
        self._leader = self.store.leader_lock()
        self._leading = self._leader is None
        self._refreshed = 0.0
        # the other processes are told when a log reaches a multiple of this (kz_grown)
        self.store.grown_every = self.config.checkpoint_every
        self.follow_seconds = FOLLOW_SECONDS
        # results stored when last looked (over a shared store: another process may publish)
        self._results = self.store.count_results() if self.store.shared else 0

    # keys
    def _load_commission_key(self) -> SigningKey:
        key = read_private_key(commission_key_path(self.data_dir))
        if key.public.key_id not in self.manifest.commission_keys:
            raise StartupError("the commission key file does not match the manifest")
        return key

    def _load_log_keys(self) -> dict[str, SigningKey]:
        keys = {}
        for unit, verifier in self.manifest.log_verifiers.items():
            key = read_private_key(log_key_path(self.data_dir, unit))
            if key.public != verifier.key:
                raise StartupError(f"the log key file of unit {unit} does not match the manifest")
            keys[unit] = key
        return keys

    # logs
    def _new_log(self, unit: str, round_no: int, candidates: list[str], is_open: bool) -> UnitLog:
        return UnitLog(
            unit=unit,
            round=round_no,
            origin=self.manifest.origin(unit, round_no),
            key_name=log_key_name(self.manifest.body, unit),
            candidates=candidates,
            open=is_open,
            witnessed=self.manifest.witness_policy is not None,
        )

    def _restore_log(self, unit: str, round_no: int, candidates: list[str], is_open: bool) -> None:
        # the checkpoints first: every entry they cover is stored by then, so the entries read
        # next cover them even while other processes append (a process started mid-cast)
        checkpoints = self.store.checkpoints(unit, round_no)
        if self.store.shared:
            # the close stores the final checkpoint and the closed state in one transaction:
            # the checkpoints read above tell the state as of that read, whatever the row said
            is_open = not (checkpoints and checkpoints[-1].final)
        log = self._new_log(unit, round_no, candidates, is_open)
        try:
            for index, (entry, stored) in enumerate(self.store.leaves(unit, round_no)):
                if leaf_hash(entry) != stored:  # the log is rebuilt from the ballots' bytes
                    raise StartupError(
                        f"log {log.origin}: the stored ballot at index {index} does not hash to "
                        "its stored leaf hash"
                    )
                log.tree.append(stored)
        except StoreError as exc:
            raise StartupError(str(exc)) from exc
        try:
            if checkpoints:
                facts = log.check_against(checkpoints[-1].note, self.manifest.log_verifiers[unit])
                if facts.final != checkpoints[-1].final:
                    raise StartupError(
                        f"log {log.origin}: the last stored checkpoint's 'final' line does not "
                        "match the round's state in the store"
                    )
        except LogMismatch as exc:
            raise StartupError(str(exc)) from exc
        if log.witnessed:
            restore_current(log, checkpoints, self.manifest)
        final = checkpoints[-1] if checkpoints and checkpoints[-1].final else None
        if final is not None and is_open:
            raise StartupError(f"log {log.origin}: the round is open but has a final checkpoint")
        if final is None and not is_open:
            raise StartupError(f"log {log.origin}: the round is closed but has no final checkpoint")
        if final is not None and final.size != log.tree.size:
            raise StartupError(
                f"log {log.origin}: {log.tree.size} ballots are stored but the final checkpoint "
                f"has size {final.size}"
            )
        self.logs[(unit, round_no)] = log

    def _find_log(self, unit: str, round_no: int) -> UnitLog | None:
        log = self.logs.get((unit, round_no))
        if log is None and self.store.shared and self.store.get_round(unit, round_no):
            self.refresh()  # opened by another process: one indexed read told us
            log = self.logs.get((unit, round_no))
        return log

    def log(self, unit: str, round_no: int) -> UnitLog:
        log = self._find_log(unit, round_no)
        if log is None:
            if unit not in self.manifest.units:
                raise problems.not_found("unknown-unit", f"no unit {unit!r} in this election")
            raise problems.not_found("unknown-round", f"round {round_no} of {unit} was not opened")
        return log

    def current_round(self, unit: str) -> int | None:
        rounds = [r for (u, r) in self.logs if u == unit]
        return max(rounds) if rounds else None

    # rounds
    def open_round(self, unit: str, round_no: int, candidates: list[str] | None = None) -> UnitLog:
        if unit not in self.manifest.units:
            raise problems.not_found("unknown-unit", f"no unit {unit!r} in this election")
        self.refresh()  # rounds opened or closed by other processes
        with self._logs_lock:
            if (unit, round_no) in self.logs:
                raise problems.conflict("round-exists", f"round {round_no} of {unit} was opened")
            previous = self.current_round(unit)
            if round_no == 1:
                if candidates is not None and candidates != self.manifest.candidates(unit):
                    raise problems.unprocessable("candidates", "round 1 runs every candidate")
                candidates = self.manifest.candidates(unit)
            elif previous != round_no - 1 or self.logs[(unit, previous)].open:
                raise problems.conflict(
                    "round-order", f"round {round_no} of {unit} needs round {round_no - 1} closed"
                )
            if candidates is None or not set(candidates) <= set(self.manifest.candidates(unit)):
                raise problems.unprocessable("candidates", "a round needs the unit's candidates")
            try:
                self.store.open_round(unit, round_no, json.dumps(candidates), clock.now())
            except StoreError as exc:  # opened by another process meanwhile
                raise problems.conflict("round-exists", str(exc)) from exc
            log = self._new_log(unit, round_no, list(candidates), True)

        def opened() -> None:
            with self._logs_lock:  # another process's open may have been read meanwhile
                live = self.logs.setdefault((unit, round_no), log)
            self._try_checkpoint(live, "checkpoint-on-open")

        # inside a commission request the round's row commits with the request's answer: the
        # round is shown (and cast into) only once that is committed, never if it fails
        self.store.after_commit(opened)
        return log

    def close_round(self, unit: str, round_no: int) -> str:
        """Close a round: the final checkpoint, countersigned by the commission key."""
        log = self.log(unit, round_no)
        with log.lock:
            if not log.open:
                raise problems.conflict("round-closed", f"round {round_no} of {unit} is closed")
            # the round's lock: appends in any process wait, then find the round closed
            with self.store.locked_round(unit, round_no) as locked:
                if locked.state != "open":
                    log.open = False
                    raise problems.conflict(
                        "round-closed", f"round {round_no} of {unit} is closed"
                    )
                self._catch_up(log, locked.size, locked.tx)
                at = self._signing_time(locked.tx, log)
                note = log.sign(locked.size, self.log_keys[unit], at, final=True)
                note = add_signatures(
                    note, [(self.manifest.body["commission"]["name"], self.commission_key)]
                )
                self.store.close_locked(locked, unit, round_no, note, at)
            size = locked.size

        def closed() -> None:
            with log.lock:
                log.open = False
                log.checkpoint_size, log.checkpoint_note = size, note
                log.checkpoint_time = time.monotonic()
            self.signed_something()

        # inside a commission request the close commits with the request's answer: until
        # then readers get the last committed checkpoint (a final note served and then rolled
        # back would be followed by a longer log: a fork), and appends wait on the round's lock
        self.store.after_commit(closed)
        return note

    def signed_something(self) -> None:
        """Note that a new signed checkpoint or result is stored (count() is thread-safe)."""
        self.signed_generation = next(self._signed_counter)

    # checkpoints
    def issue_checkpoint(self, unit: str, round_no: int) -> str:
        """Sign the log's current size, unless the last checkpoint already has it."""
        log = self.log(unit, round_no)
        with log.lock:
            return self._checkpoint_locked(log)

    def _checkpoint_locked(self, log: UnitLog) -> str:
        """Sign the log's stored size in one transaction under the round's lock (whichever
        process does it, and however many try at once: the size is read under the lock, the
        root computed from entry bytes, and a size signed already is not signed again)."""
        if (
            not self.store.shared
            and log.checkpoint_note is not None
            and log.checkpoint_size == log.tree.size
        ):
            return log.checkpoint_note
        if not log.open:
            raise problems.conflict("round-closed", f"{log.origin} is closed")
        with self.store.locked_round(log.unit, log.round) as locked:
            if locked.state != "open":
                log.open = False
                raise problems.conflict("round-closed", f"{log.origin} is closed")
            self._catch_up(log, locked.size, locked.tx)
            size = locked.size
            last = self.store.last_checkpoint_in(locked.tx, log.unit, log.round)
            if last is not None and last.size == size:
                note = last.note  # signed already (by this process or another)
                fresh = False
            else:
                at = self._signing_time(locked.tx, log)
                note = log.sign(size, self.log_keys[log.unit], at)
                self.store.add_checkpoint_in(locked.tx, log.unit, log.round, size, note, at)
                fresh = True
        def signed() -> None:
            # served only once committed (inside a commission request, with its answer)
            with log.lock:
                if size >= log.checkpoint_size:
                    log.checkpoint_size, log.checkpoint_note = size, note
                log.checkpoint_time = time.monotonic()
            if fresh:
                self.signed_something()

        self.store.after_commit(signed)
        return note

    def _signing_time(self, tx: Any, log: UnitLog) -> str:
        """Now, or the latest time any checkpoint of the log was signed at if the clock says
        earlier (several processes, several clocks: signed times never go backwards)."""
        at = clock.now()
        latest = self.store.latest_issued_at(tx, log.unit, log.round)
        if latest is not None and clock.parse(latest) > clock.parse(at):
            return latest
        return at

    def _catch_up(self, log: UnitLog, size: int, tx: Any = None) -> None:
        """Bring the log's tree up to ``size`` stored entries (appended by other processes),
        each leaf hash recomputed from the stored entry bytes (caller holds log.lock)."""
        if log.tree.size >= size:
            return
        start = log.tree.size
        try:
            for offset, (entry, stored) in enumerate(
                self.store.leaves(log.unit, log.round, start, size, tx)
            ):
                if leaf_hash(entry) != stored:
                    raise LogMismatch(
                        f"log {log.origin}: the stored ballot at index {start + offset} does "
                        "not hash to its stored leaf hash"
                    )
                log.tree.append(stored)
        except StoreError as exc:
            raise LogMismatch(str(exc)) from exc
        if log.tree.size != size:
            raise LogMismatch(f"log {log.origin}: {size} entries expected, {log.tree.size} read")

    def _try_checkpoint(self, log: UnitLog, task: str) -> None:
        """A checkpoint that may fail without failing its caller (the ballot or the round is
        committed already): the failure is counted, and the checkpointer retries it."""
        try:
            with log.lock:
                if log.open:
                    self._checkpoint_locked(log)
        except (StoreUnavailable, Problem) as exc:  # Problem: closed by another process
            self.health.failed(task, exc)
        else:
            self.health.ok(task)

    def checkpoint_due_logs(self) -> None:
        """Issue the checkpoints whose time (or size) has come (called by the background
        thread; over a shared store, by the leader's only)."""
        for log in list(self.logs.values()):
            if not log.open or log.tree.size == log.checkpoint_size:
                continue
            grown = log.tree.size - max(log.checkpoint_size, 0) >= self.config.checkpoint_every
            if grown or time.monotonic() - log.checkpoint_time >= self.config.checkpoint_seconds:
                with log.lock:
                    if log.open:
                        self._checkpoint_locked(log)

    # several processes over one store
    def leads(self) -> bool:
        """Whether this process does the background work (always, over SQLite). Without the
        background thread (offline commands, tests) the lock is tried here."""
        if self._leader is not None and self._checkpointer is None:
            return self.poll_leadership()
        return self._leading

    def poll_leadership(self) -> bool:
        if self._leader is not None:
            was, self._leading = self._leading, self._leader.poll()
            if self._leading and not was:
                logging.getLogger("tally_service").info("leading: checkpoints and witnesses")
            elif was and not self._leading:
                logging.getLogger("tally_service").warning("lost the lead")
        return self._leading

    def refresh(self, max_age: float = 0.0) -> None:
        """Catch up with what other processes stored: rounds opened or closed, entries
        appended, checkpoints signed or cosigned (over SQLite: nothing to do). ``max_age``:
        skip it if the last one began less than that many seconds ago (requests call it: a
        flood of them must not become a flood of queries)."""
        if not self.store.shared:
            return
        now = time.monotonic()
        with self._logs_lock:
            if max_age and now - self._refreshed < max_age:
                return
            self._refreshed = now
        sizes = self.store.round_sizes()
        for row in self.store.rounds():
            key = (row.unit, row.round)
            log = self.logs.get(key)
            if log is None:
                with self._logs_lock:
                    if key not in self.logs:
                        try:
                            self._restore_log(
                                row.unit, row.round, json.loads(row.candidates), row.state == "open"
                            )
                        except StartupError:  # opened or closed while being read: next time
                            continue
                continue
            self._refresh_log(log, row.state == "open", sizes.get(key, 0))

    def _refresh_log(self, log: UnitLog, is_open: bool | None, size: int | None) -> None:
        if not self.store.shared:
            return
        if size is None or is_open is None:
            row = self.store.get_round(log.unit, log.round)
            is_open = row is not None and row.state == "open"
            size = self.store.round_sizes().get((log.unit, log.round), 0)
        last = self.store.last_checkpoint(log.unit, log.round)
        with log.lock:
            self._catch_up(log, max(size, last.size if last else 0))
            if last is not None and last.note != log.checkpoint_note and (
                last.size > log.checkpoint_size or last.final or last.size == log.checkpoint_size
            ):
                # signed by another process: served only once it matches this process's tree
                grew = last.size != log.checkpoint_size or last.final
                log.check_against(last.note, self.manifest.log_verifiers[log.unit])
                if grew:
                    log.checkpoint_time = time.monotonic()
                    self.signed_something()
            if log.witnessed and not (
                last is not None
                and log.current_size == last.size
                and log.current_note == last.note
            ):  # the newest checkpoint is current already: nothing newer to look for
                restore_current(log, self.store.checkpoints(log.unit, log.round), self.manifest)
            if not is_open:
                log.open = False

    def sync(self, log: UnitLog) -> None:
        """Before answering with a log's state: catch up with the store (shared stores)."""
        if self.store.shared:
            self._refresh_log(log, None, None)

    def checkpoint_grown_logs(self) -> None:
        """Checkpoint every open log that grew since its last checkpoint (on shutdown)."""
        for log in list(self.logs.values()):
            if log.open and log.tree.size != log.checkpoint_size:
                self._try_checkpoint(log, "checkpoint-on-stop")

    def start_checkpointer(self) -> None:
        # a leader lock: a store shared by several processes
        target = self._follow if self._leader is not None else self._checkpoint_loop
        self._checkpointer = threading.Thread(target=target, name="checkpointer", daemon=True)
        self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        """One process alone (SQLite): the timed checkpoints."""
        wait = min(0.5, self.config.checkpoint_seconds / 2)
        # the loop survives every error: a full disk today, space freed tomorrow
        while not self._stop.wait(wait):
            try:
                self.checkpoint_due_logs()
            except Exception as exc:
                self.health.failed("checkpointer", exc)
            else:
                self.health.ok("checkpointer")

    def _follow(self) -> None:
        """Several processes over one store: poll the leader lock, follow what the others
        change when they say so (LISTEN/NOTIFY on the lock's connection), read everything
        again every ``follow_seconds`` and after every reconnection (what was said meanwhile
        is lost), and, leading, the timed checkpoints."""
        leader = self._leader
        assert leader is not None
        leader.listen()
        tick = min(0.25, self.config.checkpoint_seconds / 2)  # the leader's checkpoint timers
        next_lead = next_follow = next_sizes = 0.0
        listens = leader.listens
        # the loop survives every error: a database down now, back in a minute
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                if now >= next_lead:
                    next_lead = now + LEAD_SECONDS
                    self.poll_leadership()
                    if leader.listens != listens:
                        listens, next_follow = leader.listens, 0.0
                if now >= next_follow:
                    next_follow = now + self.follow_seconds
                    self.refresh()
                    self._look_for_results()
                if self._leading:
                    if now >= next_sizes and self._timer_due(now):
                        # a log that grew by less than checkpoint_every says nothing: the
                        # leader reads the sizes when a timed checkpoint may be due
                        next_sizes = now + LEAD_SECONDS
                        self._read_sizes()
                    self.checkpoint_due_logs()
            except Exception as exc:
                self.health.failed("checkpointer", exc)
            else:
                self.health.ok("checkpointer")
            wake = min(next_lead, next_follow)
            if self._leading:
                wake = min(wake, time.monotonic() + tick)
            timeout = max(0.01, wake - time.monotonic())
            told = leader.wait(timeout)
            if told is None:  # not listening (no connection): poll
                self._stop.wait(timeout)
            elif told:
                try:
                    self._told(told)
                except Exception as exc:
                    self.health.failed("checkpointer", exc)

    def _told(self, told: list[tuple[str, str]]) -> None:
        """Catch up with what the notifications say changed (sql/postgresql/0003_notify.sql):
        a hint to read the database, never trusted as data."""
        grown: dict[tuple[str, int], int] = {}
        logs: set[tuple[str, int]] = set()
        everything = False
        for channel, payload in told:
            try:
                said = json.loads(payload)
                what = said.get("what") if channel == "kz_signed" else "grown"
                if what == "result":
                    self.signed_something()
                    continue
                key = (str(said["unit"]), int(said["round"]))
            except (ValueError, KeyError, TypeError, AttributeError):
                everything = True  # not ours to read: look at everything
                continue
            log = self.logs.get(key)
            if log is None:
                everything = True  # a round this process has not seen yet
            elif what == "grown":
                grown[key] = max(grown.get(key, 0), int(said["size"]))
            elif (
                what == "checkpoint"
                and int(said["size"]) <= log.checkpoint_size
                and bool(said["final"]) != log.open
            ):
                continue  # this process has it (it signed it itself, most often)
            else:
                logs.add(key)
        if everything:
            self.refresh()
        else:
            for key in logs:
                self._refresh_log(self.logs[key], None, None)
        if grown and self._leading:
            for key, size in grown.items():
                log = self.logs[key]
                with log.lock:
                    if log.open:
                        self._catch_up(log, size)
            self.checkpoint_due_logs()

    def _timer_due(self, now: float) -> bool:
        return any(
            log.open and now - log.checkpoint_time >= self.config.checkpoint_seconds
            for log in list(self.logs.values())
        )

    def _read_sizes(self) -> None:
        """Catch the open logs' trees up with their stored sizes."""
        for key, size in self.store.round_sizes().items():
            log = self.logs.get(key)
            if log is not None and log.open and size > log.tree.size:
                with log.lock:
                    self._catch_up(log, size)

    def _look_for_results(self) -> None:
        """A result published by another process: the public pages show it (its
        notification may have been lost)."""
        count = self.store.count_results()
        if count != self._results:
            self._results = count
            self.signed_something()

    def start_check_pool(self, workers: int) -> None:
        """Check ballots in ``workers`` processes (the server uses one per core)."""
        if workers > 0 and self.check_pool is None:
            self.check_pool = CheckPool(workers)

    def stop(self) -> None:
        self._stop.set()
        if self.witnessing is not None:
            self.witnessing.stop()
        if self.check_pool is not None:
            self.check_pool.close()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=5)
        if self._leader is not None:
            self._leader.release()
        self.store.close()

    # casting
    def cast(self, ballot: object) -> tuple[dict[str, Any], bool]:
        """Check and append a signed ballot; return (receipt, newly accepted).

        Checks, and the order their failures are reported in: schema; election; unit; round
        open; elector on the unit's roll; signature; no earlier ballot from the elector (the
        very same ballot again gets a receipt for its stored entry); proofs. The stateless ones
        run in the check pool when there is one (tally_service/service/checking.py).
        """
        if not isinstance(ballot, dict):
            raise problems.bad_request("schema", "a ballot is a JSON object")
        state, log, elector = self._state_checks(ballot)
        checked = self._check(
            ballot,
            elector.key.raw if elector is not None else None,
            log.candidates if state is None and log is not None else None,
        )
        if checked.schema is not None:
            raise problems.bad_request("schema", checked.schema)
        if state is not None:
            raise state
        assert log is not None and elector is not None
        if not checked.signature:
            raise problems.forbidden("signature", "the elector's signature does not verify")
        earlier = self._earlier_receipt(log, elector.elector, checked.entry)
        if earlier is not None:
            return earlier, False
        if checked.proof is not None:
            raise problems.unprocessable("proof", f"the ballot is not well formed: {checked.proof}")
        return self._append(log, elector.elector, checked.entry)

    def _state_checks(
        self, ballot: dict[str, Any]
    ) -> tuple[Problem | None, UnitLog | None, Elector | None]:
        """The checks that need the service's state, on the raw fields (the schema has not run
        yet: a field of the wrong type fails here quietly and then fails the schema)."""
        unit, round_no, elector_id = ballot.get("unit"), ballot.get("round"), ballot.get("elector")
        if not (isinstance(unit, str) and isinstance(elector_id, str)) or type(round_no) is not int:
            return problems.bad_request("schema", "malformed ballot"), None, None
        elector = self.manifest.electors.get(elector_id)
        if elector is not None and elector.unit != unit:
            elector = None
        if ballot.get("election") != self.manifest.hash.hex():
            return (
                problems.unprocessable("wrong-election", "the ballot is for another election"),
                None,
                elector,
            )
        if unit not in self.manifest.units:
            return (
                problems.unprocessable("unknown-unit", f"no unit {unit!r} in this election"),
                None,
                elector,
            )
        log = self._find_log(unit, round_no)
        if log is None:
            return (
                problems.conflict("round-not-open", f"round {round_no} of {unit} is not open"),
                None,
                elector,
            )
        if not log.open:
            return (
                problems.conflict("round-closed", f"round {round_no} of {unit} is closed"),
                log,
                elector,
            )
        if elector is None:
            return (
                problems.forbidden("not-on-roll", f"{elector_id!r} is not on the roll of {unit}"),
                log,
                None,
            )
        return None, log, elector

    def _check(
        self, ballot: dict[str, Any], key: bytes | None, candidates: list[str] | None
    ) -> Checked:
        args = (ballot, self.manifest.hash, self.manifest.election_key.to_bytes(), key, candidates)
        if self.check_pool is not None:
            return self.check_pool.check(*args)
        return check_stateless(*args)

    def _earlier_receipt(self, log: UnitLog, elector: str, entry: bytes) -> dict[str, Any] | None:
        found = self.store.ballot_of(log.unit, log.round, elector)
        if found is None:
            return None
        index, stored = found
        if stored != entry:
            raise problems.conflict(
                "already-voted", f"{elector} has already cast a different ballot in this round"
            )
        return self.receipt(log, elector, index, leaf_hash(stored))

    def _append(self, log: UnitLog, elector: str, entry: bytes) -> tuple[dict[str, Any], bool]:
        leaf = leaf_hash(entry)
        with log.lock:
            if not log.open:
                raise problems.conflict("round-closed", f"{log.origin} is closed")
            try:
                # returns once COMMIT has: only then is anything signed for the ballot
                index, appended = self.store.append_next(
                    log.unit, log.round, elector, entry, leaf, clock.now()
                )
            except RoundClosed as exc:  # closed by another process
                log.open = False
                raise problems.conflict("round-closed", f"{log.origin} is closed") from exc
            except DuplicateElector as exc:  # the same elector racing with other bytes
                raise problems.conflict(
                    "already-voted", f"{elector} has already cast a different ballot in this round"
                ) from exc
            if index == log.tree.size:
                log.tree.append(leaf)
            else:  # other processes appended before it: read theirs (or it is a repeat)
                self._catch_up(log, index + 1)
            if not appended:  # the same elector, racing with the same bytes: a repeat
                return self.receipt(log, elector, index, leaf), False
            if (
                self.leads()
                and log.tree.size - max(log.checkpoint_size, 0) >= self.config.checkpoint_every
            ):
                self._try_checkpoint(log, "checkpoint-on-cast")
        return self.receipt(log, elector, index, leaf), True

    # receipts and proofs
    def receipt(self, log: UnitLog, elector: str, index: int, leaf: bytes) -> dict[str, Any]:
        promise = sign_note(
            promise_text(log.origin, index, leaf), [(log.key_name, self.log_keys[log.unit])]
        )
        return {
            "format": RECEIPT_FORMAT,
            "election": self.manifest.hash.hex(),
            "unit": log.unit,
            "round": log.round,
            "elector": elector,
            "index": index,
            "leaf_hash": leaf.hex(),
            "promise": promise,
            "proof": self.tlog_proof(log, index),
        }

    def tlog_proof(self, log: UnitLog, index: int) -> str | None:
        """A C2SP tlog-proof of entry ``index`` under the newest checkpoint that covers it."""
        with log.lock:  # reentrant: a racing repeat asks for its receipt while appending
            note, size = log.published()
            if note is not None and size > log.tree.size:  # signed by another process
                self._catch_up(log, size)
            if note is None or size <= index:
                return None
            proof = TlogProof(index, tuple(log.tree.inclusion_proof(index, size)), note)
        return format_tlog_proof(proof)

    def checkpoint_at(self, log: UnitLog, size: int | None) -> str:
        if size is None:
            self.sync(log)  # never older than what another process has served
            note, _ = log.published()
            if note is None:
                raise problems.not_found("no-checkpoint", f"{log.origin} has no checkpoint yet")
            return note
        # the final checkpoint, when it has that size, else the (one) earlier one
        for row in reversed(self.store.checkpoints(log.unit, log.round)):
            if row.size == size:
                return row.note
        raise problems.not_found("no-checkpoint", f"{log.origin} has no checkpoint of size {size}")

    # turnout
    def turnout(self) -> dict[str, Any]:
        self.refresh(max_age=0.1)
        units = []
        total_registered = total_took_part = 0
        for unit in self.manifest.units:
            registered = self.manifest.registered(unit)
            round_no = self.current_round(unit)
            log = self.logs.get((unit, round_no)) if round_no is not None else None
            took_part = log.tree.size if log else 0
            needed = registered // 2 + 1
            quorum = took_part >= needed
            units.append(
                {
                    "unit": unit,
                    "round": round_no or 1,
                    "state": "not-open" if log is None else ("open" if log.open else "closed"),
                    "registered": registered,
                    "took_part": took_part,
                    "turnout": percent(took_part, registered),
                    "quorum": quorum,
                    "quorum_at": self.store.quorum_time(unit, round_no, needed)
                    if quorum and round_no
                    else None,
                    "checkpoint_size": max(log.checkpoint_size, 0) if log else 0,
                }
            )
            total_registered += registered
            total_took_part += took_part
        return {
            "election": self.manifest.hash.hex(),
            "units": units,
            "registered": total_registered,
            "took_part": total_took_part,
            "turnout": percent(total_took_part, total_registered),
        }
