"""A guardian's own durable memory: what it pinned, what it has seen, what it has decrypted.

The service holds every log key and, in practice, the commission key: it can sign any number of
"final" checkpoints for a round. A guardian that decrypted whatever final it was shown could be
made to decrypt a fork holding one elector's ballot, or two honest prefixes that differ by one
entry; either reveals a vote. So each guardian keeps, in a directory of its own:

- ``pins.json``: the election id, the joint election key and the key ceremony hash it computed
  at the key ceremony, and the sealed manifest's hash once it has seen it;
- ``logs/<id>.json``, one per log (origin): the largest checkpoint it has seen of that log (with
  the signed note), the largest it saw while the round was open (before any final), the final
  it watched and the one final checkpoint it has decrypted, if any;
- ``evidence/<time>-<log>/``: any two signed checkpoints that cannot both be honest, with a line
  saying why. They prove the service misbehaved, to anyone, since both carry its signatures.
  Alarms of ``guardian watch`` (a round or checkpoint hidden from it, a witness ahead of the
  service) are kept there too, once each, with what the service and the witnesses answered.

A guardian that is also a witness (``guardian watch --witness-key``, issue 18) cosigns from this
same state: restored from a backup, it would forget what it cosigned and vouch for a fork of it
(issue 24, attack 9). So the state keeps a *generation* (``generation.json``), raised by one
with every write of a log's record, under the lock and after the record is on disk; a watch
with a witness key binds the state to the key (``bind_witness``: tally_service/witness/
rollback.py's StateGuard, the marker beside the key file, the same as ``witness serve``) and
advances the marker after each such write. A state older than the marker is refused at start;
a note showing the witness's own line on a checkpoint larger than the state knows latches the
state (``ROLLED-BACK``): it cosigns nothing more. A restore is a compromise of the witness key.

It refuses to decrypt a round it recorded no checkpoint of while the round was open (a service
that hid the round from it could show it any fork as final: issue 24), a final other than the
one it decrypted for that round, a final smaller than a checkpoint it has seen, and a final
whose log does not extend a checkpoint it has seen.
With k > n/2 (enforced at ``init``) any two sets of k guardians share one, so only one final per
round can ever be decrypted. Every write is atomic and fsync'd before the guardian acts on it:
the final is recorded *before* the partial decryption leaves the guardian. Every
read-check-write runs under an exclusive lock on ``STATE/lock`` (``flock``, and a thread lock
within one process), so a watch poll and a decryption, or two decryptions, can never interleave
and lose a record.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crypto.checkpoint import Checkpoint
from crypto.cosignature import FINAL_LINE
from crypto.merkle import verify_consistency
from tally_service.common.durable import write_durably
from tally_service.common.rollback import LATCH_FILE, StateGuard, latch

STATE_FORMAT = "kz-tally/guardian-state/v1"
GENERATION_FILE = "generation.json"


class GuardianRefusal(Exception):
    """The guardian will not decrypt (or accept a checkpoint): what it was shown does not hold."""


class StateError(Exception):
    """The state directory is unreadable or was written by something else."""


@dataclass(frozen=True)
class Seen:
    """A signed checkpoint the guardian accepted: size, root, and the note itself."""

    size: int
    root: bytes
    note: str

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "root": self.root.hex(), "note": self.note}

    @classmethod
    def from_json(cls, data: Any) -> Seen:
        try:
            return cls(int(data["size"]), bytes.fromhex(data["root"]), str(data["note"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"a checkpoint in the guardian state is unreadable: {exc}") from exc


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` so that a crash leaves the old or the new file, never half
    (tally_service/common/durable.py), creating the state's folders as needed."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_durably(path, text)


def _slug(origin: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", origin)[-60:].strip("_.")
    digest = hashlib.sha256(origin.encode("utf-8")).hexdigest()[:16]
    return f"{digest}-{readable}" if readable else digest


_THREAD_LOCKS: dict[str, threading.RLock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()


class GuardianState:
    """The state directory of one guardian (mode 0700)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StateError(f"cannot use {self.path} as the guardian state: {exc}") from exc
        with _THREAD_LOCKS_GUARD:
            self._thread_lock = _THREAD_LOCKS.setdefault(
                str(self.path.resolve()), threading.RLock()
            )
        self._depth = 0
        self._lock_fd: int | None = None
        self._guard: StateGuard | None = None
        self._rolled_back: str | None = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive use of the state: other threads of this process and other processes wait.

        Reentrant within one thread, so a check and the record that follows it can be held as
        one step (``decrypting``)."""
        with self._thread_lock:
            if self._depth == 0:
                fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._lock_fd = fd
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._lock_fd is not None:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                    os.close(self._lock_fd)
                    self._lock_fd = None

    # the witness key's binding (module docstring) -------------------------------------------
    def generation(self) -> int:
        """How many writes of a log's record this state has had (0 for a state kept before
        generations existed)."""
        data = self._read(self.path / GENERATION_FILE) or {}
        value = data.get("generation", 0)
        if type(value) is not int or value < 0:
            raise StateError(f"{self.path / GENERATION_FILE} holds no generation")
        return value

    def bind_witness(self, marker: Path, vkey: str) -> None:
        """Bind this state to the witness key ``vkey`` whose marker is ``marker``: StateRollback
        if the state is older than the marker, another key's, or once found rolled back."""
        with self.locked():
            self._guard = StateGuard.open(self.path, marker, vkey, self.generation())

    def witness_rolled_back(self) -> str | None:
        """Why this state must cosign nothing more, if it was found rolled back (by this
        process, or by an earlier one: its latch file)."""
        if self._rolled_back is None and (self.path / LATCH_FILE).exists():
            self._rolled_back = "this state was found rolled back before (its ROLLED-BACK file)"
        return self._rolled_back

    def latch_witness(self, why: str) -> None:
        """The state is older than what its witness key signed: remember it, durably (a
        restart refuses too), and cosign nothing more."""
        with self.locked():
            latch(self.path, why)
            self._rolled_back = why

    def _write_log(self, origin: str, data: dict[str, Any]) -> None:
        """Write a log's record, then raise the generation, then advance the marker."""
        self._write(self._log_path(origin), data)
        generation = self.generation() + 1
        self._write(self.path / GENERATION_FILE, {"generation": generation})
        if self._guard is not None:
            self._guard.advance(generation)

    # pins --------------------------------------------------------------------------------
    @property
    def _pins_path(self) -> Path:
        return self.path / "pins.json"

    def pins(self) -> dict[str, Any]:
        return self._read(self._pins_path) or {}

    def pin_ceremony(self, election_id: str, joint_key: str, ceremony_hash: str) -> None:
        """Remember the joint key and transcript hash computed at the key ceremony."""
        with self.locked():
            self._pin_ceremony(election_id, joint_key, ceremony_hash)

    def _pin_ceremony(self, election_id: str, joint_key: str, ceremony_hash: str) -> None:
        pins = self.pins()
        wanted = {
            "election_id": election_id,
            "joint_key": joint_key,
            "ceremony_hash": ceremony_hash,
        }
        for name, value in wanted.items():
            if name in pins and pins[name] != value:
                raise GuardianRefusal(
                    f"this guardian state already pins another {name.replace('_', ' ')} "
                    f"({pins[name][:16]}...): use a new state directory for another election"
                )
        self._write(self._pins_path, {"format": STATE_FORMAT, **pins, **wanted})

    def check_manifest(self, manifest: dict[str, Any], manifest_hash: str) -> None:
        """The sealed manifest must carry the pinned joint key and ceremony hash; its hash is
        pinned the first time and must never change afterwards."""
        with self.locked():
            self._check_manifest(manifest, manifest_hash)

    def _check_manifest(self, manifest: dict[str, Any], manifest_hash: str) -> None:
        pins = self.pins()
        if "joint_key" not in pins:
            raise GuardianRefusal(
                f"{self.path} pins no key ceremony: a guardian decrypts only for the election "
                "whose key ceremony it took part in"
            )
        if manifest.get("election_id") != pins["election_id"]:
            raise GuardianRefusal("the manifest is for another election than the key ceremony")
        if manifest.get("election_key") != pins["joint_key"]:
            raise GuardianRefusal(
                "the manifest's election key is not the joint key of the ceremony"
            )
        if manifest.get("ceremony_hash") != pins["ceremony_hash"]:
            raise GuardianRefusal("the manifest's ceremony hash is not the ceremony's transcript")
        if pins.get("manifest_hash", manifest_hash) != manifest_hash:
            raise GuardianRefusal(
                "the service shows a manifest other than the sealed one this guardian has seen"
            )
        if "manifest_hash" not in pins:
            self._write(self._pins_path, {**pins, "manifest_hash": manifest_hash})

    # logs --------------------------------------------------------------------------------
    def _log_path(self, origin: str) -> Path:
        return self.path / "logs" / f"{_slug(origin)}.json"

    def _log(self, origin: str) -> dict[str, Any]:
        data = self._read(self._log_path(origin)) or {"origin": origin}
        if data.get("origin") != origin:
            raise StateError(f"{self._log_path(origin)} holds another log's state")
        return data

    def seen(self, origin: str) -> Seen | None:
        data = self._log(origin).get("seen")
        return None if data is None else Seen.from_json(data)

    def decrypted(self, origin: str) -> Seen | None:
        data = self._log(origin).get("decrypted")
        return None if data is None else Seen.from_json(data)

    def observe(
        self,
        cp: Checkpoint,
        note: str,
        consistency: Callable[[int, int], list[bytes]],
        final: bool = False,
    ) -> bool:
        """Accept a signed checkpoint (already verified with the log key; ``final`` if it has the
        ``final`` line and the commission's signature) if it is consistent with the largest one
        seen, fetching the proof with ``consistency(size1, size2)``.

        Returns True if it is new and larger (then remembered). On a conflict the two notes are
        kept as evidence and GuardianRefusal is raised. The proof is fetched outside the lock;
        the state is read again, and everything re-checked, under it."""
        seen = self.seen(cp.origin)
        proof: list[bytes] | None = None
        if seen is not None and seen.size != cp.size:
            try:
                proof = consistency(min(seen.size, cp.size), max(seen.size, cp.size))
            except Exception:  # any failure to prove is a failed proof
                proof = None
        with self.locked():
            return self._observe(cp, note, seen, proof, consistency, final)

    def _observe(
        self,
        cp: Checkpoint,
        note: str,
        fetched_for: Seen | None,
        proof: list[bytes] | None,
        consistency: Callable[[int, int], list[bytes]],
        final: bool,
    ) -> bool:
        data = self._log(cp.origin)
        seen = self.seen(cp.origin)
        done = self.decrypted(cp.origin)
        for closed in (done, self._final_seen(data)):
            if (
                closed is not None
                and (cp.size, cp.root) != (closed.size, closed.root)
                and cp.size >= closed.size
            ):
                self._conflict(
                    cp.origin, closed.note, note,
                    "two roots for the same tree size, one of them the final checkpoint's"
                    if cp.size == closed.size
                    else f"a checkpoint of size {cp.size} after the final checkpoint of size "
                    f"{closed.size}: nothing may follow the final one",
                )
        if seen is None:
            self._remember(data, cp, note, final)
            return True
        if cp.size == seen.size:
            if cp.root != seen.root:
                self._conflict(cp.origin, seen.note, note, "two roots for the same tree size")
            if final:
                self._remember(data, cp, note, final)
            elif data.get("blinded") and FINAL_LINE not in cp.extensions and not (
                data.get("final_seen") or data.get("decrypted")
            ):
                data.pop("blinded")  # the newest it knows, shown again: it sees the log again
                self._write_log(cp.origin, data)
            return False
        if fetched_for is None or (fetched_for.size, fetched_for.root) != (seen.size, seen.root):
            proof = None  # the state moved while the proof was fetched: fetch for the new one
            try:
                proof = consistency(min(seen.size, cp.size), max(seen.size, cp.size))
            except Exception:  # any failure to prove is a failed proof
                proof = None
        small, large = (seen, cp) if cp.size > seen.size else (cp, seen)
        try:
            ok = proof is not None and verify_consistency(
                small.size, large.size, proof, small.root, large.root
            )
        except (ValueError, TypeError):
            ok = False
        if not ok:
            self._conflict(
                cp.origin, seen.note, note, f"no consistency proof from size {small.size} to "
                f"{large.size}: the log's history was rewritten"
            )
        if cp.size > seen.size:
            self._remember(data, cp, note, final)
            return True
        return False

    @staticmethod
    def _final_seen(data: dict[str, Any]) -> Seen | None:
        final = data.get("final_seen")
        return None if final is None else Seen.from_json(final)

    def _remember(self, data: dict[str, Any], cp: Checkpoint, note: str, final: bool) -> None:
        entry = Seen(cp.size, cp.root, note).to_json()
        seen = data.get("seen")
        if seen is None or cp.size >= int(seen["size"]):
            data["seen"] = entry
        if final:
            data["final_seen"] = entry
        elif FINAL_LINE not in cp.extensions and not data.get("final_seen") and not data.get(
            "decrypted"
        ):
            # seen while the round was open, as far as this guardian can tell: decrypt asks
            # for one (a checkpoint first shown after a final proves nothing about the round)
            data["open_seen"] = entry
            data.pop("blinded", None)  # it sees the log again
        self._write_log(cp.origin, data)

    def open_logs(self) -> list[str]:
        """The origins of the logs this guardian has seen open and no final of yet (the ones a
        failed poll leaves it blind to)."""
        folder = self.path / "logs"
        found = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            data = self._read(path) or {}
            origin = data.get("origin")
            if isinstance(origin, str) and data.get("open_seen") and not (
                data.get("final_seen") or data.get("decrypted")
            ):
                found.append(origin)
        return found

    def open_seen(self, origin: str) -> Seen | None:
        """The largest checkpoint of ``origin`` remembered before any final one."""
        data = self._log(origin).get("open_seen")
        return None if data is None else Seen.from_json(data)

    def check_and_record(
        self, final: Checkpoint, note: str, root_at: Callable[[int], bytes]
    ) -> None:
        """Check ``final`` (``check_final``) and record it (``record_decrypted``) as one step
        under the lock: no other decryption or watch poll can run in between."""
        with self.locked():
            self.check_final(final, note, root_at)
            self.record_decrypted(final, note)

    def check_final(self, final: Checkpoint, note: str, root_at: Callable[[int], bytes]) -> None:
        """Refuse to decrypt ``final`` unless it is the final this guardian decrypted for the
        round, or the round has none yet and ``final`` extends every checkpoint seen.

        ``root_at(size)`` is the root of the first ``size`` entries of the final log, as the
        guardian recomputed it from the entries themselves."""
        with self.locked():
            self._check_final(final, note, root_at)

    def _check_final(self, final: Checkpoint, note: str, root_at: Callable[[int], bytes]) -> None:
        done = self.decrypted(final.origin)
        if done is not None:
            if (done.size, done.root) != (final.size, final.root):
                self._conflict(
                    final.origin, done.note, note,
                    f"a second final checkpoint (size {final.size}) for a round whose final "
                    f"(size {done.size}) this guardian has decrypted",
                )
            return
        final_seen = self._final_seen(self._log(final.origin))
        if final_seen is not None and (final_seen.size, final_seen.root) != (
            final.size,
            final.root,
        ):
            self._conflict(
                final.origin, final_seen.note, note,
                "a final checkpoint other than the final one this guardian watched",
            )
        seen = self.seen(final.origin)
        if seen is not None and seen.size > final.size:
            self._conflict(
                final.origin, seen.note, note,
                f"a final checkpoint of size {final.size}, smaller than the checkpoint of size "
                f"{seen.size} this guardian has seen",
            )
        if seen is not None and root_at(seen.size) != seen.root:
            self._conflict(
                final.origin, seen.note, note,
                f"the final log does not extend the checkpoint of size {seen.size} this guardian "
                "has seen",
            )
        if self.open_seen(final.origin) is None:
            raise GuardianRefusal(
                f"{final.origin}: this guardian recorded no checkpoint of the round while it was "
                "open, so it cannot tell the final shown now from a log made up for it (a service "
                "can hide a round from one guardian); it does not decrypt this round. Run "
                "`tally-service guardian watch` (with --witness) while rounds are open; the "
                "guardians who watched this round can decrypt it"
            )
        blinded = self._log(final.origin).get("blinded")
        if blinded is not None:
            raise GuardianRefusal(
                f"{final.origin}: the last time this guardian's watch looked at the round while "
                f"it was open, it saw nothing of it (ALARM: {blinded.get('why')}; evidence in "
                f"{self.path / 'evidence' / str(blinded.get('evidence'))}), so the service could "
                "have shown it a fork from then on; it does not decrypt this round. Watch with "
                "--witness so that the witnesses show you what the service hides"
            )

    def record_decrypted(self, final: Checkpoint, note: str) -> None:
        """Remember, durably and before any partial decryption is sent, the final decrypted."""
        with self.locked():
            data = self._log(final.origin)
            entry = Seen(final.size, final.root, note).to_json()
            data["decrypted"] = entry
            seen = self.seen(final.origin)
            if seen is None or final.size >= seen.size:
                data["seen"] = entry
            self._write_log(final.origin, data)

    # evidence ----------------------------------------------------------------------------
    def _conflict(self, origin: str, first: str, second: str, why: str) -> None:
        where = self.save_evidence(origin, first, second, why)
        raise GuardianRefusal(f"{origin}: {why}; evidence kept in {where}")

    def save_evidence(self, origin: str, first: str, second: str, why: str) -> Path:
        folder = self._new_evidence_folder(origin)
        write_atomic(folder / "first.note", first)
        write_atomic(folder / "second.note", second)
        write_atomic(folder / "reason.txt", f"{origin}\n{why}\n")
        return folder

    def _new_evidence_folder(self, origin: str, tag: str = "") -> Path:
        """A folder of its own: earlier evidence is never overwritten, even within a tick."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        (self.path / "evidence").mkdir(parents=True, exist_ok=True, mode=0o700)
        for number in range(1000):
            suffix = f"-{number}" if number else ""
            folder = self.path / "evidence" / f"{stamp}{tag}-{_slug(origin)}{suffix}"
            try:
                folder.mkdir(mode=0o700)
                return folder
            except FileExistsError:
                continue
        raise StateError(f"cannot make an evidence folder in {self.path / 'evidence'}")

    def record_alarm(
        self, origin: str, kind: str, why: str, answers: dict[str, str], blind: bool = False
    ) -> Path:
        """Keep an alarm of ``guardian watch``: why, and what was answered (file name -> text:
        the service's answer, the witnesses' cosigned checkpoints). An alarm of one kind for
        one log is kept once (the first time), however many polls raise it.

        ``blind``: the guardian saw nothing of the log in this poll (the service hid it and no
        witness showed it). While the round is open this marks the log *blinded* until a
        checkpoint of it is seen again before any final: decrypt refuses a round whose watch
        was blind when it last looked before the close, since the service could have shown a
        fork from that point on."""
        digest = hashlib.sha256(json.dumps([origin, kind]).encode("utf-8")).hexdigest()[:16]
        with self.locked():
            index = self.path / "evidence" / "alarms.json"
            kept = self._read(index) or {}
            if digest in kept:
                folder = self.path / "evidence" / str(kept[digest])
            else:
                folder = self._new_evidence_folder(origin, "-alarm")
                for name, text in sorted(answers.items()):
                    write_atomic(folder / name, text)
                write_atomic(folder / "reason.txt", f"{origin}\nALARM: {why}\n")
                self._write(index, {**kept, digest: folder.name})
            data = self._log(origin)
            if blind and not data.get("final_seen") and not data.get("decrypted"):
                data["blinded"] = {"why": why, "evidence": folder.name}
                self._write_log(origin, data)
            return folder

    def evidence(self) -> list[Path]:
        folder = self.path / "evidence"
        return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    # files -------------------------------------------------------------------------------
    def _read(self, path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StateError(f"cannot read {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise StateError(f"{path} is not a JSON object")
        return data

    def _write(self, path: Path, data: dict[str, Any]) -> None:
        write_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")
