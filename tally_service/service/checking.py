"""The stateless part of checking a ballot: schema, signature, proofs.

These need no service state, cost most of the time of a cast (the proofs alone about 3 ms for
four candidates), and are mostly Python between libsodium calls, so threads would serialise them
on the GIL. The server runs them in a pool of worker processes, one per core; the checks that
need the service's state (round open, earlier ballot) and the append stay in the service
process. ``Election.cast`` combines both and reports the first failure in the documented order.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError

from crypto.ballot import check_ballot, verify_ballot_signature
from crypto.canonical import canonical_json
from crypto.group import Point
from crypto.signing import VerifyKey
from schemas.ballot import SignedBallotSchema

_local = threading.local()


def _schema() -> SignedBallotSchema:
    """One schema instance per thread: building one (and its nested schemas) costs more than
    loading a ballot with it."""
    schema: SignedBallotSchema | None = getattr(_local, "schema", None)
    if schema is None:
        schema = _local.schema = SignedBallotSchema()
    return schema


@dataclass(frozen=True)
class Checked:
    schema: str | None = None  # why the ballot is malformed, or None
    signature: bool | None = None  # None: not checked (no roll key to check against)
    proof: str | None = None  # why the proofs fail, or None (also when not checked)
    entry: bytes = b""  # the ballot's canonical bytes, once the schema passed


def check_stateless(
    ballot: dict[str, Any],
    manifest_hash: bytes,
    election_key: bytes,
    elector_key: bytes | None,
    candidates: Sequence[str] | None,
) -> Checked:
    """Schema, then the signature against ``elector_key``, then the proofs against
    ``candidates`` (each only when given, and only while everything before it passed)."""
    try:
        _schema().load(ballot)
    except ValidationError as exc:
        return Checked(schema=f"malformed ballot: {exc.messages}")
    entry = canonical_json(ballot)
    if elector_key is None:
        return Checked(entry=entry)
    if not verify_ballot_signature(ballot, VerifyKey(elector_key)):
        return Checked(signature=False, entry=entry)
    proof = None
    if candidates is not None:
        proof = check_ballot(
            manifest_hash,
            ballot["unit"],
            ballot["round"],
            ballot["elector"],
            list(candidates),
            ballot,
            Point.from_bytes(election_key),
        )
    return Checked(signature=True, proof=proof, entry=entry)


def _warm() -> None:
    """Import everything in a fresh worker before the first ballot arrives."""


def _exit_with_parent(parent: int) -> None:
    """The worker's initialiser: exit as soon as the server that started it is gone, even
    killed by SIGKILL (no orphan is left behind; with the workers gone, multiprocessing's
    resource tracker sees its pipe close and exits too)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class CheckPool:
    """``check_stateless`` in worker processes (spawned, never forked from a threaded server),
    falling back to the calling thread if the pool breaks."""

    def __init__(self, workers: int) -> None:
        self._pool: ProcessPoolExecutor | None = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_exit_with_parent,
            initargs=(os.getpid(),),
        )
        for future in [self._pool.submit(_warm) for _ in range(workers)]:
            future.result()

    def check(self, *args: Any) -> Checked:
        pool = self._pool
        if pool is not None:
            try:
                return pool.submit(check_stateless, *args).result()
            except BrokenProcessPool:
                self._pool = None
        return check_stateless(*args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
