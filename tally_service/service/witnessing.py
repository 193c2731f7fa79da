"""The service's side of witnessing: send checkpoints to the manifest's witnesses, keep their
cosignatures, and make a checkpoint current only once a quorum has cosigned it.

One thread per witness, apart from casting: casting signs checkpoints in batches as before and
never waits for a witness; a slow or dead witness delays only the moment a checkpoint becomes
current. Each thread, for each witnessed log whose newest signed checkpoint it has not yet had
cosigned by its witness, sends a C2SP tlog-witness ``add-checkpoint`` request with the
consistency proof from the size that witness last cosigned (it learns that size from a 409 after
a restart). A 200 answer's cosignature line is checked against the witness's key from the
manifest and appended to the stored checkpoint note, so the record's ``checkpoints.txt`` and
every tlog-proof carry the cosignatures as ordinary signature lines.

A checkpoint is current (``UnitLog.published``) when the policy counts a quorum on it
(crypto/witness_policy.py); the final checkpoint counts only the witnesses' finality statements
(crypto/cosignature.py), which a witness adds to its cosignature when it is sent the final: a
witness that answers a final without one is treated as refusing. A round is tallied only once
its final checkpoint is witnessed.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import requests

from crypto.cosignature import (
    Cosignature,
    CosignatureError,
    CosignerKey,
    add_cosignatures,
    finality_cosignatures,
    is_final,
    read_cosigned_note,
    verify_cosignatures,
)
from crypto.note import parse_note
from crypto.tlog_witness import SIZE_CONTENT_TYPE, add_checkpoint_body
from crypto.witness_policy import WitnessPolicy
from tally_service.common import problems
from tally_service.common.answers import (
    MAX_WITNESS_ANSWER_BYTES,
    AnswerRefused,
    bounded_session,
    fetch,
)
from tally_service.service.logs import UnitLog

if TYPE_CHECKING:
    from tally_service.service.election import Election

log = logging.getLogger("tally_service.service.witnessing")


def final_is_witnessed(election: Election, unit: str, round_no: int) -> bool:
    """Whether the round's final checkpoint has its quorum (True without witnesses)."""
    policy = election.manifest.witness_policy
    if policy is None:
        return True
    rows = election.store.checkpoints(unit, round_no)
    return bool(rows) and rows[-1].final and policy.has_quorum(rows[-1].note)


def require_witnessed_final(election: Election, unit: str, round_no: int) -> None:
    """Refuse to tally a round whose final checkpoint lacks its quorum of cosignatures."""
    if not final_is_witnessed(election, unit, round_no):
        policy = election.manifest.witness_policy
        assert policy is not None
        raise problems.conflict(
            "final-not-witnessed",
            f"the final checkpoint of round {round_no} of {unit} does not have its quorum of "
            f"{policy.quorum} witness cosignatures yet; keep the service running until the "
            "witnesses have cosigned it, then tally",
        )


#: How a request reaches a witness: the add-checkpoint body in, (status, content type, body) out.
Transport = Callable[[bytes], tuple[int, str, str]]


class WitnessAnswer(Protocol):
    @property
    def status(self) -> int: ...
    @property
    def content_type(self) -> str: ...
    @property
    def body(self) -> str: ...


class LocalWitness(Protocol):
    """A witness's core run in this process (the tests' and the simulation's): anything that
    answers an add-checkpoint body as tally_service/witness/core.py's ``Witness`` does. The
    service never imports the witness's program; it only talks to it."""

    def add_checkpoint(self, body: bytes) -> WitnessAnswer: ...


@dataclass
class _WitnessState:
    key: CosignerKey
    url: str  # for messages; the transport does the sending
    post: Transport | None = None
    # per log origin: the size this witness last cosigned, and the note text it cosigned
    sizes: dict[str, int] = field(default_factory=dict)
    # per log origin: the largest size this witness's valid cosignature is stored for
    confirmed: dict[str, int] = field(default_factory=dict)
    done: dict[str, str] = field(default_factory=dict)
    last_sent: dict[str, tuple[str, bool]] = field(default_factory=dict)
    failures: int = 0


class Witnessing:
    """The threads that gather cosignatures for one election."""

    def __init__(
        self,
        election: Election,
        urls: Mapping[str, str],
        timeout: float = 5.0,
        interval: float = 0.2,
        local: Mapping[str, LocalWitness] | None = None,
    ) -> None:
        """Witnesses over HTTP (``urls``: name -> URL prefix) or, for simulations and tests,
        in this process (``local``: name -> witness core; then call ``sync``)."""
        urls = dict(urls)
        urls.update({name: f"local:{name}" for name in local or {}})
        policy = election.manifest.witness_policy
        if policy is None:
            raise ValueError("the manifest names no witnesses")
        unknown = set(urls) - {w.name for w in policy.witnesses}
        if unknown:
            raise ValueError(f"not witnesses of this election: {', '.join(sorted(unknown))}")
        self.election = election
        self.policy: WitnessPolicy = policy
        self.timeout = timeout
        self.interval = interval
        self.witnesses = [
            _WitnessState(key, urls[key.name].rstrip("/"))
            for key in policy.witnesses
            if key.name in urls
        ]
        for witness in self.witnesses:
            core = (local or {}).get(witness.key.name)
            if core is not None:
                witness.post = _local_transport(core)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        for witness in self.witnesses:
            self._restore_sizes(witness)

    def _restore_sizes(self, witness: _WitnessState) -> None:
        """The largest stored checkpoint per log that this witness cosigned (a hint: a 409
        corrects it)."""
        for (unit, round_no), unit_log in self.election.logs.items():
            for row in reversed(self.election.store.checkpoints(unit, round_no)):
                try:
                    valid = _lines_of(row.note, witness.key)
                except CosignatureError:
                    continue
                if valid:
                    witness.sizes[unit_log.origin] = row.size
                    witness.confirmed[unit_log.origin] = row.size
                    if not row.final or len(valid) == 2:  # a final needs its finality line
                        witness.done[unit_log.origin] = _identity(row.note, row.final)
                    break

    def start(self) -> None:
        for witness in self.witnesses:
            thread = threading.Thread(
                target=self._run, args=(witness,), name=f"witness {witness.key.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 1)

    def sync(self) -> None:
        """One pass over every witness and log, in this thread (simulations and tests)."""
        for witness in self.witnesses:
            try:
                self._round_of(witness, self._transport(witness, bounded_session()))
            except _FAILURES as exc:
                log.warning("witness %s: %s", witness.key.name, exc)

    def _transport(self, witness: _WitnessState, session: requests.Session) -> Transport:
        if witness.post is not None:
            return witness.post

        def post(body: bytes) -> tuple[int, str, str]:
            # a hostile witness may answer without end, or a byte at a time: its answer is
            # read to a cap and within a deadline (AnswerRefused past either), like the
            # service's answers are by the other parties (tally_service/common/answers.py)
            answer = fetch(
                session, "POST", f"{witness.url}/add-checkpoint", "the witness's",
                MAX_WITNESS_ANSWER_BYTES, (self.timeout, self.timeout), data=body,
            )
            return answer.status_code, answer.headers.get("Content-Type", ""), answer.text

        return post

    def _run(self, witness: _WitnessState) -> None:
        post = self._transport(witness, bounded_session())
        wait = self.interval
        while not self._stop.wait(wait):
            try:
                self._round_of(witness, post)
                witness.failures = 0
                wait = self.interval
            except _FAILURES as exc:
                witness.failures += 1
                wait = min(30.0, self.interval * 2 ** min(witness.failures, 10))
                if witness.failures in (1, 10) or witness.failures % 100 == 0:
                    log.warning(
                        "witness %s: %s (retrying in %.1f s)", witness.key.name, exc, wait
                    )
            except Exception:  # never let the thread die
                log.exception("witness %s: unexpected error", witness.key.name)
                wait = 5.0

    def _round_of(self, witness: _WitnessState, post: Transport) -> None:
        if not self.election.leads():
            return  # several processes over one store: the leader's threads do this
        for unit_log in list(self.election.logs.values()):
            if self._stop.is_set():
                return
            with unit_log.lock:
                note, size = unit_log.checkpoint_note, unit_log.checkpoint_size
                closed = not unit_log.open
            if note is None or witness.last_sent.get(unit_log.origin) == (note, closed):
                continue  # the same note as last time: nothing to parse (polled often)
            identity = _identity(note, closed)
            if witness.done.get(unit_log.origin) != identity:
                self._submit(witness, post, unit_log, note, size, identity, closed)
            witness.last_sent[unit_log.origin] = (note, closed)

    def _submit(
        self,
        witness: _WitnessState,
        post: Transport,
        unit_log: UnitLog,
        note: str,
        size: int,
        identity: str,
        closed: bool = False,
    ) -> None:
        for _ in range(3):  # a 409 tells us the witness's size: retry from it
            old = witness.sizes.get(unit_log.origin, 0)
            if old > size:
                raise _WitnessRefused(
                    f"has cosigned size {old} of {unit_log.origin}, beyond our {size}"
                )
            with unit_log.lock:
                proof = unit_log.tree.consistency_proof(old, size) if old else []
            status, content_type, text = post(add_checkpoint_body(old, proof, note))
            if status == 409 and content_type.startswith(SIZE_CONTENT_TYPE):
                try:
                    reported = int(text.strip())
                except ValueError as exc:
                    raise _WitnessRefused("answered 409 without a size") from exc
                confirmed = witness.confirmed.get(unit_log.origin, 0)
                if reported < confirmed:  # its state went back: show it its own signature
                    self._show_own_cosignature(witness, post, unit_log, reported, confirmed)
                    raise _WitnessRefused(
                        f"says it cosigned size {reported} of {unit_log.origin}, but its "
                        f"cosignature of size {confirmed} is stored here: its state was restored "
                        "from an older copy (a compromise of its key: it needs a new key)"
                    )
                witness.sizes[unit_log.origin] = reported
                continue
            if status != 200:
                raise _WitnessRefused(
                    f"refused {unit_log.origin} size {size}: HTTP {status} {text[:300].strip()}"
                )
            lines = [line + "\n" for line in text.split("\n") if line]
            try:
                valid = _lines_of(add_cosignatures(note, lines), witness.key)
            except CosignatureError as exc:
                raise _WitnessRefused(f"sent a bad cosignature: {exc}") from exc
            if not valid:
                raise _WitnessRefused("answered 200 without a cosignature by its key")
            if closed and len(valid) < 2:
                raise _WitnessRefused(
                    f"cosigned the final of {unit_log.origin} without its finality statement"
                )
            for cosignature in valid:
                self._keep(unit_log, size, parse_note(note).text, cosignature.line)
            witness.sizes[unit_log.origin] = size
            largest = witness.confirmed
            largest[unit_log.origin] = max(size, largest.get(unit_log.origin, 0))
            witness.done[unit_log.origin] = identity
            return
        raise _WitnessRefused(f"kept answering 409 for {unit_log.origin}")

    def _show_own_cosignature(
        self, witness: _WitnessState, post: Transport, unit_log: UnitLog, reported: int, size: int
    ) -> None:
        """Send a witness whose state went back (it reports a size below one it cosigned) the
        stored checkpoint of ``size`` with its own line on it: a witness that checks what it is
        shown (tally_service/common/rollback.py) then stops cosigning for good."""
        for row in self.election.store.checkpoints(unit_log.unit, unit_log.round):
            if row.size != size:
                continue
            try:
                if not _lines_of(row.note, witness.key):
                    continue
            except CosignatureError:
                continue
            with unit_log.lock:
                proof = unit_log.tree.consistency_proof(reported, size) if reported else []
            status, _, text = post(add_checkpoint_body(reported, proof, row.note))
            log.error(
                "witness %s: its state went back from size %d to %d of %s; shown its own "
                "cosignature, it answered HTTP %d %s",
                witness.key.name, size, reported, unit_log.origin, status, text[:200].strip(),
            )
            return

    def _keep(self, unit_log: UnitLog, size: int, text: str, line: str) -> None:
        keep_cosignature(self.election, unit_log, size, text, line)


_STORE_LOCK = threading.Lock()


def keep_cosignature(
    election: Election, unit_log: UnitLog, size: int, text: str, line: str
) -> bool:
    """Append a (checked) cosignature line to the stored checkpoint whose text was cosigned and
    make it current once it has the quorum. False if no stored checkpoint has that text."""
    policy = election.manifest.witness_policy
    assert policy is not None
    signer = _signer(line)

    def attach(stored: str, final: bool) -> str | None:
        if parse_note(stored).text != text:
            return None  # not the checkpoint that was cosigned
        if any((sig.name, sig.key_hash) == signer for sig in parse_note(stored).signatures):
            return stored  # this witness's cosignature is on it already: one per witness
        return add_cosignatures(stored, [line])

    # read, append, write back under the round's lock (the final and an earlier checkpoint
    # may share a size: the first whose text matches)
    with _STORE_LOCK:
        found = election.store.update_checkpoint_note(unit_log.unit, unit_log.round, size, attach)
    if found is None:
        return False  # not a stored checkpoint: nothing to attach it to
    note = found
    if policy.counted_unverified(note) >= policy.quorum:  # every line was checked on arrival
        with unit_log.lock:
            if size >= unit_log.current_size:
                unit_log.current_note, unit_log.current_size = note, size
    return True


def accept_posted(election: Election, unit: str, round_no: int, body: str) -> list[str]:
    """``POST .../cosignatures`` (pull-mode witnesses, e.g. guardians): ``body`` is a stored
    checkpoint note with cosignature lines; the lines of the manifest's witnesses that verify are
    attached. Returns their names; refuses (422) a note without one."""
    policy = election.manifest.witness_policy
    if policy is None:
        raise problems.conflict("no-witnesses", "the manifest names no witnesses")
    unit_log = election.log(unit, round_no)
    try:
        checkpoint, signatures = read_cosigned_note(body)
        valid = verify_cosignatures(checkpoint, signatures, policy.witnesses)
        if is_final(checkpoint):  # and the finality statements, the lines that count for it
            valid += finality_cosignatures(checkpoint, signatures, policy.witnesses)
        text = parse_note(body).text
    except (CosignatureError, ValueError) as exc:
        raise problems.unprocessable("cosignature", f"not a cosigned checkpoint: {exc}") from exc
    if checkpoint.origin != unit_log.origin:
        raise problems.unprocessable("cosignature", f"the checkpoint is not of {unit_log.origin}")
    if not valid:
        raise problems.unprocessable(
            "cosignature", "no valid cosignature by a witness the manifest names"
        )
    for cosignature in valid:
        if not keep_cosignature(election, unit_log, checkpoint.size, text, cosignature.line):
            raise problems.not_found(
                "no-checkpoint", f"{unit_log.origin} has no checkpoint with that text"
            )
    return sorted({c.cosigner.name for c in valid})


def _lines_of(note: str, key: CosignerKey) -> list[Cosignature]:
    """The witness's valid lines on ``note``: its cosignature and, on a final, its finality
    statement (CosignatureError if one of them does not verify)."""
    checkpoint, signatures = read_cosigned_note(note)
    valid = verify_cosignatures(checkpoint, signatures, [key])
    if is_final(checkpoint):
        valid += finality_cosignatures(checkpoint, signatures, [key])
    return valid


def _signer(line: str) -> tuple[str, bytes]:
    """(key name, key ID) of a signature line."""
    from crypto.note import parse_note as _parse

    sig = _parse("x\n\n" + line).signatures[0]
    return sig.name, sig.key_hash


def _local_transport(core: LocalWitness) -> Transport:
    def post(body: bytes) -> tuple[int, str, str]:
        answer = core.add_checkpoint(body)
        return answer.status, answer.content_type, answer.body

    return post


def _identity(note: str, final: bool) -> str:
    """What a witness has cosigned: the note text, and whether it was sent as the final (the
    final replaces a stored checkpoint of its size, cosignatures and all, so it is sent anew)."""
    return ("final\n" if final else "") + parse_note(note).text


class _WitnessRefused(Exception):
    """A witness answered, but not with a cosignature."""


#: A witness that cannot be reached, answers too much or too slowly, or refuses: a failure of
#: this round of witnessing (retried with a backoff), never of the thread.
_FAILURES = (requests.RequestException, AnswerRefused, _WitnessRefused)


def start_witnessing(election: Election, urls: dict[str, str]) -> None:
    """Gather the witnesses' cosignatures (name -> URL), in threads of their own; the election
    stops them when it stops."""
    if election.witnessing is None and election.manifest.witness_policy is not None:
        witnessing = Witnessing(election, urls)
        election.witnessing = witnessing
        witnessing.start()
