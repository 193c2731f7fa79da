"""The live monitor: ``scripts/verify.py --follow URL`` checks an election while it runs.

It polls the service's record files (``/api/v1/record/...``, docs/api.md), keeps a mirror of the
record under ``--state``, and runs the batch verifier's own checks on each piece as it appears:

- V1, V2 once the manifest and the key ceremony are published;
- for each new signed checkpoint of each log: its log signature and extension lines, then the
  entries it adds. The monitor recomputes the root over every entry it has accepted plus the new
  ones; a root that differs from the signed one is a rejected checkpoint. To tell a rewritten
  history from wrong entries it asks the service for an RFC 9162 consistency proof from the last
  checkpoint it accepted: if none verifies, the two signed notes contradict each other, and both
  are kept under ``evidence/`` (what a witness keeps);
- after that pass over the logs, the new ballots go through V3 (``checks_ballots.check_batch``,
  as the batch verifier's workers) and into the running sums, read back from the mirror, for at
  most the poll's check budget (``_check_backlog``): checking may lag accepting, so that a burst
  of ballots never delays the check of the logs' next checkpoints;
- when a log's final checkpoint is accepted and its ballots are checked: V4 over the whole log
  (``LogTracker``);
- with witnesses (the manifest's ``witnesses``, issue 18): the service appends cosignature lines
  to a note after it first served it, so a note may come back longer. The monitor asks again
  for the last note it accepted while that note lacks a quorum (every poll once it is the final
  one), and for every note of every log when the final result is out. A note served again must
  be the accepted note, byte for byte, followed by new signature lines only, none under the
  log's or the commission's key; anything else (changed text, a changed, dropped or added log
  or commission line) is kept as evidence and stops
  the following of that log. A witness line that does not verify is told at once, as an event,
  and counted by the witness part of V4 (``check_log_witnesses``: the quorum on every final
  checkpoint), which runs only at the verdict, on the notes as the service serves them at the
  end, which are the notes of its export;
- when a round's tally is complete: V5-V8 (``checks_tally``, ``checks_rules``), which also
  gives a runoff's candidates, and the monitor starts following round 2;
- when the final result is published and every log is tallied: V8's rounds and V9
  (``checks_results``), then the verdict.
- on every poll: every file of the booth's code the sealed manifest names (``booth.files``,
  issue 25) is fetched where electors' browsers load it and compared with its sealed hash; a
  difference fails V1 with the bytes served kept as evidence (``_booth_code``).

A rejected checkpoint stops the following of its log (what comes after it cannot be trusted);
the rest of the election is still checked. Durable state: ``follow_state``.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import time
import urllib.parse
from array import array
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

from crypto.checkpoint import Checkpoint, CheckpointError, checkpoint_facts, open_checkpoint
from crypto.cosignature import CosignatureError
from crypto.elgamal import Ciphertext
from crypto.group import Point
from crypto.merkle import leaf_hash, verify_consistency
from crypto.note import NoteError, parse_note
from crypto.signing import VerifyKey
from crypto.witness_policy import WitnessPolicy
from schemas.limits import MAX_CHECKPOINTS_BYTES
from schemas.strict_json import strict_loads

from .checks_ballots import BatchResult, BatchTask, ElectionContext, check_batch, init_worker
from .checks_logs import LogTracker
from .checks_manifest import (
    BOOTH_CODE,
    MAX_BOOTH_FILE_BYTES,
    NO_BOOTH,
    booth_hashes,
    check_ceremony,
    check_manifest,
)
from .checks_results import check_result, check_results
from .checks_rules import check_unit_rounds, decide_round, runoff_pair
from .checks_tally import check_counts, check_decryption, check_sum, release_tally
from .checks_witness import RememberingPolicy, check_log_witnesses
from .compact import CompactRange
from .fetch import Fetcher, FetchError
from .follow_state import (
    EVIDENCE,
    MIRROR,
    FollowedLog,
    FollowState,
    cut_mirror,
    load_state,
    pack_positions,
    report_from_json,
    report_to_json,
    save_state,
    unpack_positions,
)
from .model import LogFacts, ManifestInfo, RoundFacts
from .record import (
    MAX_LINE_BYTES,
    Record,
    document_limit,
    split_notes,
)
from .report import MAX_LISTED, TITLES, Check, Failure, Report
from .run import _context
from .scan import BATCH_LINES, LogJob, LogState, finish_sums, merge_batch
from .trust import Trust, pin_failures, trust_line

Emit = Callable[[dict[str, Any]], None]
RECORD = "/api/v1/record"
CHANGED = "the service now serves another"
ROUND_BATCHES = 4  # batches of BATCH_LINES per worker in one round of checks (one save each)
FULL_POLL_EVERY = 10  # polls between two that ask every log, whatever the turnout hints say
CONSISTENCY_NOTE = (
    "successive checkpoints are consistent because every signed root equals the root of a "
    "prefix of the one log recomputed from ballots.jsonl; each step is also checked with an "
    "RFC 9162 consistency proof built from that recomputation"
)


class Untrusted(ValueError):
    """The service's manifest differs from what the trust file pins."""


class Follower:
    """One monitor over one service; ``poll()`` does one round of work."""

    def __init__(
        self,
        url: str,
        state_dir: Path,
        *,
        commission_key: VerifyKey | None = None,
        emit: Emit | None = None,
        jobs: int = 1,
        check_budget: float | None = None,
        trust: Trust | None = None,
    ) -> None:
        self.jobs = jobs
        # seconds of ballot checks a poll may spend before its next pass over the logs (None:
        # no limit); what is left waits for the next poll (``_check_backlog``)
        self.check_budget = check_budget
        self._pool: Pool | None = None
        self._hints: dict[str, Any] | None = None
        self._polls = 0
        self._turn = ""  # the log whose ballots the last round of live checks ended with
        self._context: ElectionContext | None = None
        self.url = url.rstrip("/")
        self.http = Fetcher(self.url)
        self.dir = state_dir
        self.commission_key = commission_key
        self.emit: Emit = emit or (lambda event: None)
        (state_dir / MIRROR / "units").mkdir(parents=True, exist_ok=True)
        (state_dir / MIRROR / "results").mkdir(parents=True, exist_ok=True)
        self.mirror = Record(state_dir / MIRROR)
        loaded = load_state(state_dir)
        if loaded is not None and loaded.url != self.url:
            raise ValueError(f"{state_dir} follows {loaded.url}, not {self.url}")
        self.state = loaded or FollowState(self.url)
        self.report = report_from_json(self.url, self.state.report)
        self.trust = trust
        self.report.trust = trust_line(trust, commission_key)
        cut_mirror(self.mirror.root, self.state.mirror)
        for lg in self.state.logs.values():
            # a checkpoints.txt replaced whole (``_replace``) by a monitor killed before it
            # recorded the new length: the file is whole (renamed into place), adopt its length
            rel = f"{lg.rel}/checkpoints.txt"
            if lg.opened and rel not in self.state.mirror and self.mirror.exists(rel):
                self.state.mirror[rel] = self.mirror.size(rel)
        self._dirty: set[Path] = set()
        self._saved = b""  # state.json as last written
        self._changed: set[str] = set()  # logs whose running state changed since the last save
        self._told: set[tuple[str, int]] = set()  # notes with a bad witness line, told (in memory)
        self._seen = {cid: c.failure_count for cid, c in self.report.checks.items()}
        self.manifest: ManifestInfo | None = None
        self.running: dict[str, LogState] = {}
        self.compact: dict[str, CompactRange] = {}
        self.rounds: dict[tuple[str, int], RoundFacts] = {}
        self.final_published_at: float | None = None
        if self.state.setup_checked:
            self._restore()
            self._recover_evidence()

    # -- one poll

    def poll(self) -> None:
        if not self.state.setup_checked:
            self._setup()
            if not self.state.setup_checked:
                return
        if self.manifest is None or self.state.verdict:
            return
        # the results first: every log that exists when the final result does is then seen
        # below, so a log still missing after that pass was never opened
        self._results()
        hints, changed = self._turnout_hints()
        budget, deadline = self.check_budget, None
        if self._all_done():
            changed = None  # the verdict comes after this pass: every log is asked, hint or not
            budget = None  # and every ballot is checked
        followed = -1
        while followed != len(self.state.logs):  # a round 1 tally can start a runoff's log
            followed = len(self.state.logs)
            for lg in list(self.state.logs.values()):
                awaited = lg.final and self._awaits_quorum(lg)  # the tally waits for it
                if changed is None or lg.unit in changed or not lg.opened or awaited:
                    self._follow_log(lg)
            self._save()  # the checkpoints accepted in this pass, before their ballots' checks
            if budget is not None and deadline is None:
                # counted from the end of the pass: a service that answers slowly must not
                # leave the checks of what it already served one round a poll
                deadline = time.monotonic() + budget
            self._check_backlog(deadline)
            for lg in list(self.state.logs.values()):
                self._tally(lg)
        self._early_preliminary()
        self._audit()
        self._booth_code()
        self._hints = hints  # only now: a poll cut short must look at those units again
        self._polls += 1
        if self._all_done():
            self._verdict()
        self._save()

    def _turnout_hints(self) -> tuple[dict[str, Any] | None, set[str] | None]:
        """Which units' logs may have changed since the last poll, from the service's turnout
        (one request instead of one per log). Only a hint to save work: every
        ``FULL_POLL_EVERY``-th poll, and whenever the turnout is not available, asks every log;
        a service that hides a checkpoint there only delays its check until then (or until
        the final result, whose poll asks every log before the verdict)."""
        if self._polls % FULL_POLL_EVERY == 0:
            return None, None
        try:
            doc = strict_loads(self._get("/api/v1/turnout") or b"null")
            hints = {
                u["unit"]: (u["round"], u["state"], u["checkpoint_size"]) for u in doc["units"]
            }
        except (ValueError, KeyError, TypeError):
            return None, None
        if self._hints is None:
            return hints, None
        return hints, {u for u, h in hints.items() if self._hints.get(u) != h}

    @property
    def done(self) -> bool:
        return self.state.verdict

    # -- HTTP

    def _get(self, path: str) -> bytes | None:
        """The bytes at ``path`` (under the service's URL), None for a 404; at most what the
        batch verifier would read of that document (``document_limit``), so a hostile service
        cannot make the monitor hold more than the record it stands for. A checkpoints.txt
        answer may pass that by a note or so: the note that would make the mirror's file too
        large is then rejected with evidence (``_too_large``), not refused unread."""
        limit = document_limit(path)
        if path.split("?", 1)[0].endswith("/checkpoints.txt"):
            limit += 1024 * 1024
        return self.http.get(path, limit)

    # -- the mirror and the state

    def _write(self, rel: str, data: bytes, append: bool = False) -> None:
        path = self.mirror.path(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab" if append else "wb") as out:
            out.write(data)
        self.state.mirror[rel] = path.stat().st_size
        self._dirty.add(path)

    def _save(self) -> None:
        for key in self._changed:
            running, lg = self.running[key], self.state.logs[key]
            lg.first_line = pack_positions(running.first_line)
            lg.sums = (
                None
                if running.sums is None
                else [[s.a.to_bytes().hex(), s.b.to_bytes().hex()] for s in running.sums]
            )
            lg.unreadable = list(running.unreadable)
            lg.unreadable_count = running.unreadable_count
        self._changed.clear()
        self.state.report = report_to_json(self.report)
        self._saved = save_state(self.dir, self.state, self._dirty, self._saved)
        self._announce_failures()

    def _event(self, event: str, message: str, **fields: Any) -> None:
        self.emit({"event": event, "message": message, **fields})

    def _announce_failures(self) -> None:
        for cid, check in self.report.checks.items():
            seen = self._seen.get(cid, 0)
            for failure in check.failures[seen:]:
                self._tell(cid, failure)
            self._seen[cid] = max(seen, len(check.failures))

    def _tell(self, cid: str, failure: Failure) -> None:
        """A failure as a ``fail`` event, in the batch verifier's words."""
        where, why = failure.where, failure.why
        self._event("fail", f"{cid} FAIL {where}: {why}", check=cid, where=where, why=why)

    # -- V1, V2

    def _setup(self) -> None:
        manifest = self._get(f"{RECORD}/manifest.json")
        ceremony = self._get(f"{RECORD}/key_ceremony.json")
        if manifest is None or ceremony is None:
            return
        self._write("manifest.json", manifest)
        self._write("key_ceremony.json", ceremony)
        del manifest, ceremony  # the checks read them back from the mirror: hold them once
        self._check_manifest(self.report)
        check_ceremony(self.mirror, self.manifest, self.report["V2"])
        self.state.setup_checked = True
        if self.manifest is not None:
            for code, unit in self.manifest.units.items():
                lg = FollowedLog(code, 1, list(unit.candidates))
                self.state.logs[lg.key] = lg
                self._start_running(lg)
            self._start_workers()
        self._event(
            "setup", "manifest and key ceremony checked (V1, V2)", units=len(self.state.logs)
        )
        self._save()

    def _restore(self) -> None:
        """Rebuild what is kept in memory from the mirror and the state, without checking again
        (the checks' findings are in the saved report; a scratch report takes the repeats)."""
        scratch = Report.new("scratch")
        self._check_manifest(scratch)
        check_ceremony(self.mirror, self.manifest, scratch["V2"])
        if self.manifest is None:
            return
        self._start_workers()
        for lg in self.state.logs.values():
            running = self._start_running(lg)
            compact = self.compact[lg.key]
            for line in self.mirror.iter_lines(f"{lg.rel}/ballots.jsonl"):
                if compact.size == lg.size:  # beyond: a never-closed log's unsigned rest
                    break
                compact.append(line.leaf)
            if compact.size != lg.size or (lg.size and compact.root().hex() != lg.root):
                raise ValueError(f"{self.dir}: the mirror of {lg.key} does not match the state")
            notes, _ = self.mirror.checkpoint_notes(f"{lg.rel}/checkpoints.txt")
            if len(notes) != lg.notes:
                raise ValueError(f"{self.dir}: the mirror of {lg.key} does not match the state")
            lg.last_note = notes[-1].text if notes else ""
            if lg.first_line:
                running.first_line = unpack_positions(lg.first_line, len(running.first_line))
            if lg.sums is not None:
                running.sums = [_ciphertext(a, b) for a, b in lg.sums]
            running.unreadable = list(lg.unreadable)
            running.unreadable_count = lg.unreadable_count
            if lg.closed_checked:
                self._check_closed_log(lg, scratch)
            if lg.tallied:
                self._check_tally(lg, scratch)

    def _start_running(self, lg: FollowedLog) -> LogState:
        facts = LogFacts(lg.unit, lg.round, lg.candidates)
        assert self.manifest is not None
        unit = self.manifest.units.get(lg.unit)
        registered = unit.registered if unit is not None else 0
        tracker = LogTracker(lg.rel, facts, self.report["V4"])
        running = LogState(
            LogJob(lg.unit, lg.round, lg.candidates),
            facts,
            tracker,
            array("q", bytes(8 * registered)),
        )
        self.running[lg.key] = running
        self.compact[lg.key] = CompactRange()
        return running

    # -- V4 and V3, checkpoint by checkpoint

    @property
    def policy(self) -> WitnessPolicy | None:
        return self.manifest.witness_policy if self.manifest is not None else None

    def _check_manifest(self, report: Report) -> None:
        """V1 on the mirror's manifest; the witness policy then remembers what it verified.
        A manifest that differs from the trust file's pins is refused: the monitor follows
        nothing of an election it was not asked to (Untrusted, raised before anything is
        saved, so a restart asks again)."""
        self.manifest = check_manifest(
            self.mirror, report["V1"], self.commission_key, self.trust
        )
        differences = pin_failures(report["V1"].failures)
        if differences:
            source = self.trust.source if self.trust is not None else "--commission-key"
            more = f" (and {len(differences) - 1} more)" if len(differences) > 1 else ""
            raise Untrusted(
                f"refused: the service's manifest differs from {source}: {differences[0]}{more}"
            )
        if self.manifest is not None and self.manifest.witness_policy is not None:
            self.manifest.witness_policy = RememberingPolicy(self.manifest.witness_policy)

    def _awaits_quorum(self, lg: FollowedLog) -> bool:
        """Whether the last accepted note may still gain the cosignatures of its quorum."""
        return self.policy is not None and lg.notes > 0 and not lg.quorum

    def _follow_log(self, lg: FollowedLog) -> None:
        if lg.broken is not None or (lg.final and not self._awaits_quorum(lg)):
            return
        # with witnesses, the last accepted note again while it lacks its quorum
        start = lg.notes - 1 if self._awaits_quorum(lg) else lg.notes
        data = self._get(f"{RECORD}/{lg.rel}/checkpoints.txt?start={start}")
        if data is None:
            return  # the round is not open (yet)
        if not lg.opened:
            lg.opened = True
            self._write(f"{lg.rel}/ballots.jsonl", b"", append=True)
            # both files it appends to get a recorded length before their first bytes: a
            # restart cuts back only what has one
            self.state.mirror.setdefault(f"{lg.rel}/checkpoints.txt", 0)
            self._save()
            self._event("open", f"{lg.key}: the log is open", log=lg.key)
        where = f"{lg.rel}/checkpoints.txt"
        if not data and start < lg.notes:
            why = f"note {lg.notes}, accepted before, is no longer served"
            self._reject(lg, where, why, {"accepted.txt": lg.last_note})
            return
        if not data:
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            self._reject(lg, where, "the new checkpoints are not UTF-8", {"served.txt": data})
            return
        notes, error = split_notes(text)
        if error is not None:
            self._reject(lg, where, error, {"served.txt": data})
            return
        for note in notes:
            if start + note.position < lg.notes:
                if not self._grown_last(lg, note.text):
                    return
            elif not self._accept(lg, note.text, pending=len(notes) - 1 - note.position):
                return

    # -- cosignatures added to notes already accepted (witnesses, issue 18)

    def _not_grown(self, lg: FollowedLog, old: str, new: str) -> str | None:
        """Why ``new`` is not the accepted note ``old`` with signature lines added (None if it
        is): the only change a note may undergo after it was served. The lines added must not
        be under the log's or the commission's key: those sign a note before it is served, and
        a second or late line of theirs fails the note in the batch verifier's V4."""
        if new == old:
            return None
        try:
            parsed, before = parse_note(new), parse_note(old)
        except NoteError as exc:
            return f"the note served again is not a signed note: {exc}"
        if parsed.text != before.text:
            return "the note served again has another text than the one accepted before"
        if not new.startswith(old):
            return (
                "the note served again lacks or changes a signature line of the one accepted "
                "before (only new signature lines may be added to a note)"
            )
        assert self.manifest is not None
        unit = self.manifest.units.get(lg.unit)
        signers = [*self.manifest.commission_notes]
        if unit is not None and unit.log_verifier is not None:
            signers.append(unit.log_verifier)
        own = {(v.name, v.key_hash) for v in signers}
        for sig in parsed.signatures[len(before.signatures) :]:
            if (sig.name, sig.key_hash) in own:
                return (
                    f"a signature line under the key of {sig.name} was added to the note served "
                    "again (only witnesses add lines to a note once it is served)"
                )
        return None  # its witness lines: ``_tell_witness_lines``

    def _grown_last(self, lg: FollowedLog, new: str) -> bool:
        """The last accepted note, served again: new cosignature lines go into the mirror
        (appended: the note ends the file)."""
        where = f"{lg.rel}/checkpoints.txt note {lg.notes}"
        why = self._not_grown(lg, lg.last_note, new)
        if why is not None:
            self._reject(lg, where, why, {"accepted.txt": lg.last_note, "new.txt": new})
            return False
        added = new[len(lg.last_note) :].encode()
        if self._too_large(lg, where, len(added), {"accepted.txt": lg.last_note, "new.txt": new}):
            return False
        if added:
            self._write(f"{lg.rel}/checkpoints.txt", added, True)
            lg.last_note = new
            self._tell_witness_lines(lg, new)
            self._witnessed(lg)
        return True

    def _tell_witness_lines(self, lg: FollowedLog, note: str) -> None:
        """A line under a listed witness's name that does not verify, on the log's last note:
        told at once as a ``fail`` event (once per note), and failed by the verdict's V4
        (``check_log_witnesses``, on the notes as then served), as the batch verifier fails
        the exported record. The log is still followed: witness lines are the witnesses', and
        the note's own log signature holds."""
        if self.policy is None or (lg.key, lg.notes) in self._told:
            return
        try:
            self.policy.cosignatures(note)
        except (CosignatureError, ValueError) as exc:
            self._told.add((lg.key, lg.notes))
            where = f"{lg.rel}/checkpoints.txt note {lg.notes}"
            why = f"a witness cosignature: {exc}"
            self._event(
                "fail",
                f"V4 FAIL (told now, counted with the verdict) {where}: {why}",
                check="V4",
                where=where,
                why=why,
                before_verdict=True,
            )

    def _witnessed(self, lg: FollowedLog) -> None:
        if self.policy is None or lg.quorum:
            return
        # a note that lacks a quorum even counting its lines unverified cannot have one: most
        # notes are first served before their cosignatures, so most are spared a verification
        try:
            counted = self.policy.counted_unverified(lg.last_note)
        except ValueError:  # a malformed witness line: has_quorum verifies, and says no
            counted = self.policy.quorum
        if counted < self.policy.quorum:
            return
        if not self.policy.has_quorum(lg.last_note):
            return
        lg.quorum = True
        self._event(
            "witnessed",
            f"{lg.key}: checkpoint {lg.notes} of size {lg.size} has its witness quorum",
            log=lg.key,
            size=lg.size,
            final=lg.final,
        )

    def _refetch_all(self, lg: FollowedLog) -> bool:
        """At the end: every note of the log as the service serves it now (the notes of its
        export), checked against those accepted; the mirror's checkpoints.txt takes them."""
        rel = f"{lg.rel}/checkpoints.txt"
        data = self._get(f"{RECORD}/{rel}")
        old, _ = self.mirror.checkpoint_notes(rel)
        try:
            notes, error = split_notes((data or b"").decode("utf-8"))
        except UnicodeDecodeError:
            notes, error = [], "the checkpoints are not UTF-8"
        if error is None and len(notes) < len(old):
            error = f"{len(notes)} notes served where {len(old)} were accepted before"
        if error is not None:
            self._reject(lg, rel, error, {"served.txt": data or b""})
            return False
        for before, now in zip(old, notes, strict=False):
            why = self._not_grown(lg, before.text, now.text)
            if why is not None:
                files: dict[str, str | bytes] = {"accepted.txt": before.text, "new.txt": now.text}
                self._reject(lg, f"{rel} note {before.position + 1}", why, files)
                return False
        texts = [n.text for n in notes[: len(old)]]
        if texts != [n.text for n in old]:
            whole = "\n".join(texts).encode()
            if self._too_large(lg, rel, len(whole) - self.mirror.size(rel), {"served.txt": whole}):
                return False
            lg.last_note = texts[-1]  # saved with the mirror's length dropped (``_replace``)
            self._replace(rel, whole)
            self._witnessed(lg)
        return all(self._accept(lg, n.text) for n in notes[len(old) :])

    def _replace(self, rel: str, data: bytes) -> None:
        """A mirror file written whole, atomically. Its recorded length is dropped meanwhile,
        so that a restart finds the old or the new file, never one cut to the other's length
        (both are accepted notes; the new ones only have more signature lines)."""
        path = self.mirror.path(rel)
        self.state.mirror.pop(rel, None)
        self._save()
        tmp = path.with_name(path.name + ".new")
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
        self.state.mirror[rel] = len(data)
        self._save()

    def _accept(self, lg: FollowedLog, note: str, pending: int = 0) -> bool:
        """Check one new signed checkpoint (``pending``: how many newer ones the same answer
        brought, i.e. how far behind the log the monitor was)."""
        assert self.manifest is not None
        where = f"{lg.rel}/checkpoints.txt note {lg.notes + 1}"
        unit = self.manifest.units.get(lg.unit)
        origin = self.manifest.origin_of(lg.unit, lg.round)
        if unit is None or unit.log_verifier is None:
            self._reject(lg, where, "no usable log key for this unit (see V1)", {})
            return False
        if lg.final:
            self._reject(
                lg,
                where,
                "a checkpoint after the final one: nothing may follow the final checkpoint",
                {"accepted.txt": lg.last_note, "new.txt": note},
            )
            return False
        try:
            checkpoint = open_checkpoint(note, unit.log_verifier, origin)
            facts = checkpoint_facts(checkpoint)
        except CheckpointError as exc:
            self._reject(lg, where, f"not a valid checkpoint of {origin}: {exc}", {"new.txt": note})
            return False
        if checkpoint.size < lg.size:
            self._reject(
                lg,
                where,
                f"size {checkpoint.size} after size {lg.size}: checkpoints "
                "are not in increasing order",
                {"accepted.txt": lg.last_note, "new.txt": note},
            )
            return False
        lines = self._entries(lg, checkpoint.size) if checkpoint.size > lg.size else []
        if lines is None:
            return False
        if len(lines) < checkpoint.size - lg.size:
            self._reject(
                lg,
                where,
                f"the checkpoint covers {checkpoint.size} entries, but the "
                f"service serves only {lg.size + len(lines)}: entries are missing",
                {"new.txt": note, "served-entries.jsonl": _joined(lines)},
            )
            return False
        compact = self.compact[lg.key]
        for line in lines:
            compact.append(leaf_hash(line))
        if compact.root() != checkpoint.root:
            self._mismatch(lg, where, note, checkpoint, lines)
            return False
        added = (note if lg.notes == 0 else "\n" + note).encode()
        if self._too_large(lg, where, len(added), {"accepted.txt": lg.last_note, "new.txt": note}):
            return False
        # accepted: into the mirror; V3 on the new ballots comes after the pass over the logs
        # (``_check_backlog``), so that checking them never delays the next checkpoint's checks
        if lines:
            self._write(f"{lg.rel}/ballots.jsonl", _joined(lines), append=True)
        self._write(f"{lg.rel}/checkpoints.txt", added, append=True)
        lg.notes += 1
        lg.size = checkpoint.size
        lg.root = checkpoint.root.hex()
        lg.last_note = note
        lg.quorum = False
        self._event(
            "checkpoint",
            f"{lg.key}: checkpoint {lg.notes} of size {lg.size} accepted, "
            f"{len(lines)} new entr{'y' if len(lines) == 1 else 'ies'}",
            log=lg.key,
            size=lg.size,
            new=len(lines),
            final=facts.final,
            signed_at=facts.time,
            pending=pending,
        )
        lg.final = facts.final  # V4 over the closed log once its ballots are checked
        self._tell_witness_lines(lg, note)
        self._witnessed(lg)
        return True

    def _too_large(
        self, lg: FollowedLog, where: str, added: int, files: dict[str, str | bytes]
    ) -> bool:
        """Whether ``added`` more bytes would make the mirror's checkpoints.txt of ``lg`` larger
        than a verifier reads (``MAX_CHECKPOINTS_BYTES``; the batch verifier fails such a log):
        then the note is rejected, and the mirror stays one the monitor can read back when it
        starts again (a service could otherwise stop it for good, serving one note again and
        again as new ones)."""
        rel = f"{lg.rel}/checkpoints.txt"
        if self.mirror.size(rel) + added <= MAX_CHECKPOINTS_BYTES:
            return False
        why = f"the log's checkpoints would be larger than {MAX_CHECKPOINTS_BYTES} bytes"
        self._reject(lg, where, f"{why}, more than a verifier reads", files)
        return True

    def _entries(self, lg: FollowedLog, size: int) -> list[bytes] | None:
        """Entries lg.size..size-1 as served (fewer if the service has fewer)."""
        out: list[bytes] = []
        while lg.size + len(out) < size:
            start = lg.size + len(out)
            data = self._get(f"{RECORD}/{lg.rel}/ballots.jsonl?start={start}&end={size}")
            if not data:
                break
            if not data.endswith(b"\n"):
                self._reject(
                    lg,
                    f"{lg.rel}/ballots.jsonl",
                    "the service's entries do not end with a newline",
                    {"served-entries.jsonl": data},
                )
                return None
            out.extend(data[:-1].split(b"\n"))
        return out[: size - lg.size]

    def _fetch_unsigned_rest(self, lg: FollowedLog) -> None:
        """A log that was never closed: its entries beyond the last signed checkpoint, which the
        record holds too, get V3 as the batch verifier would give them. Each answer is mirrored
        and checked before the next is asked for (from ``lg.checked``: every accepted entry is
        checked by now), so memory holds one answer however many entries the service serves."""
        while True:
            data = self._get(f"{RECORD}/{lg.rel}/ballots.jsonl?start={lg.checked}")
            if not data or not data.endswith(b"\n"):
                break
            lines = data[:-1].split(b"\n")
            self._write(f"{lg.rel}/ballots.jsonl", _joined(lines), append=True)
            self._check_ballots(lg, lines)

    def _mismatch(
        self, lg: FollowedLog, where: str, note: str, checkpoint: Checkpoint, lines: list[bytes]
    ) -> None:
        """The root signed for the new size is not the root of what the monitor holds: either
        the history was rewritten (no consistency proof links the two signed roots) or the
        service serves other entries than those it signed."""
        old_size, old_root = lg.size, bytes.fromhex(lg.root) if lg.root else b""
        proof_json: bytes | None = None
        consistent = False
        if old_size > 0:
            try:
                proof_json = self._get(
                    f"/api/v1/units/{urllib.parse.quote(lg.unit)}/rounds/"
                    f"{lg.round}/proof/consistency?from={old_size}"
                    f"&to={checkpoint.size}"
                )
                doc = strict_loads(proof_json) if proof_json is not None else None
                proof = [bytes.fromhex(h) for h in doc["proof"]] if isinstance(doc, dict) else []
                consistent = verify_consistency(
                    old_size, checkpoint.size, proof, old_root, checkpoint.root
                )
            except (ValueError, KeyError, TypeError):
                consistent = False
        files: dict[str, str | bytes] = {"new.txt": note, "served-entries.jsonl": _joined(lines)}
        if proof_json is not None:
            files["consistency-proof.json"] = proof_json
        if old_size and not consistent:
            files["accepted.txt"] = lg.last_note
            why = (
                f"history rewritten: the signed checkpoint of size {checkpoint.size} is not "
                f"consistent with the signed checkpoint of size {old_size} accepted before "
                f"(note {lg.notes}); no consistency proof links them"
            )
        else:
            why = (
                f"the entries served for indexes {old_size}-{checkpoint.size - 1} do not give "
                f"the root signed for size {checkpoint.size}"
            )
        self._reject(lg, where, why, files)

    def _reject(self, lg: FollowedLog, where: str, why: str, files: dict[str, str | bytes]) -> None:
        """Keep the evidence, then report the rejection. The evidence folder is written under a
        hidden name and renamed once complete: a monitor killed before it saved the rejection
        finds the folder when it starts again and reports it then (``_recover_evidence``)."""
        number = self.state.evidence + 1
        self._keep(f"{number:03d}-{lg.unit}-{lg.round}", where, why, files)
        self._rejected(lg, number, where, why)
        self._save()

    def _keep(self, name: str, where: str, why: str, files: dict[str, str | bytes]) -> None:
        """An evidence folder, written under a hidden name and renamed once complete."""
        partial = self.dir / EVIDENCE / f".{name}"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        seen = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        files = {**files, "why.txt": f"{where}: {why}\nservice: {self.url}\nseen: {seen}\n"}
        for file, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            with open(partial / file, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        os.replace(partial, self.dir / EVIDENCE / name)

    def _published_files_unchanged(self) -> None:
        """At the verdict, every file mirrored whole (manifest, key ceremony, tallies, results)
        is asked for again: a service that now serves other bytes than those the monitor
        checked would export a record the monitor never saw. Each change fails the check that
        reads the file, with both versions kept as evidence."""
        files = ["manifest.json", "key_ceremony.json"]
        files += [f"results/{kind}.json" for kind in self.state.results]
        files += [
            f"{lg.rel}/tally.json"
            for lg in self.state.logs.values()
            if self.mirror.exists(f"{lg.rel}/tally.json")
        ]
        # every answer first: a service that stops answering half-way changes nothing in the
        # report, and the next poll asks again. One answer in memory at a time (each may be as
        # large as its document's cap, and there is a tally a round): compared as it comes, a
        # changed one kept on disk until its evidence is written
        scratch = self.dir / ".served-now"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        try:
            changed: dict[str, Path | None] = {}  # rel -> the answer kept, None: none at all
            for i, rel in enumerate(files):
                served = self._get(f"{RECORD}/{rel}")
                if served is not None and served == self.mirror.path(rel).read_bytes():
                    continue
                kept = None
                if served is not None:
                    kept = scratch / str(i)
                    kept.write_bytes(served)
                changed[rel] = kept
                del served
            for rel, kept in changed.items():
                reported = any(  # by a monitor killed before its verdict was saved
                    f.where == rel and f.why.startswith(CHANGED)
                    for f in self.report[_owner(rel)].failures
                )
                if reported:
                    continue
                number = self.state.evidence + 1
                why = (
                    f"{CHANGED} {rel} than the one it published and the monitor checked"
                    + (" (none at all)" if kept is None else "")
                )
                versions: dict[str, str | bytes] = {
                    "checked": self.mirror.path(rel).read_bytes(),
                    "served-now": kept.read_bytes() if kept is not None else b"",
                }
                self._keep(_changed_name(number, rel), rel, why, versions)
                del versions
                self._changed_file(number, rel, why)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _booth_code(self) -> None:
        """The booth's code (issue 25), on every poll: every file the sealed manifest's
        ``booth.files`` names is fetched where electors' browsers load it (``/booth``,
        ``/static/js/booth.js``) and hashed. The sealed bytes go into the mirror's
        ``booth_code/`` (so the mirror verifies like the record); bytes that differ, or no
        answer at all (404), fail V1 once per version served, kept as evidence. What this
        cannot see: other code served to one elector and not to the monitor
        (docs/architecture.md)."""
        assert self.manifest is not None
        sealed = booth_hashes(self.manifest.payload)
        if sealed is None:
            if self.manifest.payload.get("booth") is None:
                self.report["V1"].note(NO_BOOTH)  # as the batch verifier says it
            return
        self.report["V1"].checked["booth files"] = len(sealed)  # as the batch verifier counts
        for path, want in sorted(sealed.items()):
            nested = any(other.startswith(path + "/") for other in sealed)
            if ".." in path.split("/") or path.startswith("/") or nested:
                continue  # the schema or V1 failed it; never a path to fetch or write
            rel = f"{BOOTH_CODE}/{path}"
            # as browsers ask (gzip) on one poll, as curl does on the next: a service that
            # answers monitors and browsers differently by that header alone is seen
            served = self.http.get("/" + path, MAX_BOOTH_FILE_BYTES, gzip=self._polls % 2 == 0)
            got = None if served is None else hashlib.sha256(served).hexdigest()
            if got == want:
                assert served is not None
                if self.state.mirror.get(rel) != len(served) or not self.mirror.exists(rel):
                    self._write(rel, served)
                    self._save()
                continue
            mark = f"sha256 {got}" if got is not None else "none at all"
            if any(f.where == rel and mark in f.why for f in self.report["V1"].failures):
                continue  # this version was reported (and kept) at an earlier poll
            number = self.state.evidence + 1
            why = (
                f"{CHANGED} {path} than the sealed one: the manifest's booth.files gives sha256 "
                f"{want}, the service serves {mark}"
            )
            files: dict[str, str | bytes] = {"served-now": served or b""}
            if self.mirror.exists(rel):
                files["sealed"] = self.mirror.path(rel).read_bytes()
            self._keep(_changed_name(number, rel), rel, why, files)
            del files, served
            self._changed_file(number, rel, why)
            self._save()

    def _changed_file(self, number: int, rel: str, why: str) -> None:
        """Report a published file served changed (evidence ``number``), under the check that
        reads it."""
        name = _changed_name(number, rel)
        self.state.evidence = number
        self.report[_owner(rel)].fail(rel, f"{why} (evidence: {EVIDENCE}/{name})")
        folder = self.dir / EVIDENCE / name
        self._event("evidence", f"{rel}: evidence saved in {folder}", evidence=str(folder))

    def _rejected(self, lg: FollowedLog, number: int, where: str, why: str) -> None:
        name = f"{number:03d}-{lg.unit}-{lg.round}"
        self.state.evidence = number
        self.report["V4"].fail(where, f"{why} (evidence: {EVIDENCE}/{name})")
        lg.broken = why
        folder = self.dir / EVIDENCE / name
        self._event(
            "evidence", f"{lg.key}: evidence saved in {folder}", log=lg.key, evidence=str(folder)
        )

    def _recover_evidence(self) -> None:
        """Evidence a monitor kept but was killed before it recorded: reported now, as it would
        have been; a folder left incomplete (hidden name) is removed, nothing was reported."""
        folder = self.dir / EVIDENCE
        if not folder.is_dir():
            return
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                shutil.rmtree(path, ignore_errors=True)
                continue
            number, _, rest = path.name.partition("-")
            if not number.isdigit() or int(number) <= self.state.evidence:
                continue
            try:
                first = (path / "why.txt").read_text(encoding="utf-8").split("\n", 1)[0]
            except (OSError, UnicodeDecodeError):
                first = ""
            where, _, why = first.partition(": ")
            if rest.startswith("changed-"):  # a published file served changed at the verdict
                self._changed_file(int(number), where, why)
            else:
                unit, _, round_no = rest.rpartition("-")
                lg = self.state.logs.get(f"{unit}/{round_no}")
                if lg is None:  # not ours to report; never to be overwritten either
                    self.state.evidence = int(number)
                    continue
                if not why:
                    where = f"{lg.rel}/checkpoints.txt"
                    why = "a checkpoint was rejected (see the evidence)"
                self._rejected(lg, int(number), where, why)
            self._save()

    # -- V3: the accepted ballots, as fast as the monitor can check them

    def _check_backlog(self, deadline: float | None) -> None:
        """V3 on the accepted entries not checked yet (read back from the mirror), in rounds of
        a few batches per worker (in the worker pool when there is more than one), merged in
        each log's order (``_next_round`` says which logs), the state saved after each round. Until
        none is left, or past ``deadline`` (after one round at least): when ballots come faster
        than the monitor checks them, checking lags while the next poll still accepts each log's
        new checkpoints in time (and catches a rewritten history while the service serves it).
        A log whose final checkpoint is accepted gets V4 once its ballots are all checked."""
        count = 0
        touched: dict[str, FollowedLog] = {}
        while True:
            work = self._next_round(in_order=deadline is None)
            if not work:
                break
            results = self._run([task for _, task, _ in work])
            for (lg, task, end), result in zip(work, results, strict=True):
                self._merge(lg, result)
                lg.checked += len(task.lines)
                lg.checked_bytes = end
                count += len(task.lines)
                touched[lg.key] = lg
                self._changed.add(lg.key)
            self._save()
            if deadline is not None and time.monotonic() >= deadline:
                break
        if count:
            waiting = sum(lg.size - lg.checked for lg in self.state.logs.values())
            self._event(
                "checked",
                f"V3: {count} ballot(s) checked"
                + (f", {waiting} accepted and waiting for their check" if waiting else ""),
                ballots=count,
                waiting=waiting,
                logs={key: lg.checked for key, lg in touched.items()},
            )
        self._close_checked_logs()
        self._save()

    def _next_round(self, in_order: bool) -> list[tuple[FollowedLog, BatchTask, int]]:
        """The next batches to check, up to ``ROUND_BATCHES`` per worker, each with the mirror
        offset after its last line. ``in_order`` (the verdict's poll, which checks everything
        left): log after log, the batch verifier's order, so that the failures it lists (the
        first ``MAX_LISTED``) are the same. Otherwise one batch per log in turn, from the log
        after the last one served: a log flooded with entries cannot hold up the others."""
        most = ROUND_BATCHES * max(1, self.jobs)
        logs = list(self.state.logs.values())
        if not in_order:
            keys = list(self.state.logs)
            turn = keys.index(self._turn) + 1 if self._turn in self.state.logs else 0
            logs = logs[turn:] + logs[:turn]
        work: list[tuple[FollowedLog, BatchTask, int]] = []
        offsets = {lg.key: (lg.checked, lg.checked_bytes) for lg in logs}
        while len(work) < most:
            before = len(work)
            for lg in logs:
                while len(work) < most and offsets[lg.key][0] < lg.size:
                    line, offset = offsets[lg.key]
                    batch: list[tuple[int, bytes | None]] = []
                    reader = self.mirror.iter_lines(f"{lg.rel}/ballots.jsonl", offset, line)
                    for entry in reader:
                        batch.append((entry.number, entry.data))
                        offset += entry.length + (1 if entry.terminated else 0)
                        if len(batch) == BATCH_LINES or entry.number == lg.size:
                            break
                    reader.close()
                    if len(batch) < min(BATCH_LINES, lg.size - line):
                        raise ValueError(
                            f"{self.dir}: the mirror of {lg.key} lacks accepted entries"
                        )
                    offsets[lg.key] = (line + len(batch), offset)
                    work.append((lg, BatchTask(lg.unit, lg.round, lg.candidates, batch), offset))
                    if not in_order:
                        self._turn = lg.key
                        break
            if len(work) == before:
                break
        return work

    def _close_checked_logs(self) -> None:
        for lg in self.state.logs.values():
            if lg.final and not lg.closed_checked and lg.checked == lg.size:
                self._check_closed_log(lg, self.report)
                lg.closed_checked = True
                self._changed.add(lg.key)
                self._event(
                    "closed",
                    f"{lg.key}: closed at size {lg.size}; log checked (V4)",
                    log=lg.key,
                    size=lg.size,
                )

    def _merge(self, lg: FollowedLog, result: BatchResult) -> None:
        """One batch's V3 results into the log's running state and the report. The failures
        listed are kept per log (the first ``MAX_LISTED`` of each) and the report lists the
        first ``MAX_LISTED`` of them log after log, in the batch verifier's order (round 1 of
        every unit in the manifest's order, then the runoffs), whatever order the monitor
        checked them in: live, a log's checkpoint may come before another's older one."""
        found = Check("V3", TITLES["V3"])
        merge_batch(found, self.running[lg.key], result)
        v3 = self.report["V3"]
        for key, n in found.checked.items():
            v3.count(key, n)
        v3.failure_count += found.failure_count
        listed = found.failures[: max(0, MAX_LISTED - len(lg.v3_failures))]
        lg.v3_failures.extend([f.where, f.why] for f in listed)
        for f in listed:
            self._tell("V3", f)
        if listed:
            assert self.manifest is not None
            order = {code: i for i, code in enumerate(self.manifest.units)}
            logs = sorted(self.state.logs.values(), key=lambda x: (x.round, order[x.unit]))
            every = [Failure(where, why) for x in logs for where, why in x.v3_failures]
            v3.failures = every[:MAX_LISTED]
            self._seen["V3"] = len(v3.failures)  # told above, as they were found

    def _check_ballots(self, lg: FollowedLog, lines: list[bytes]) -> None:
        """V3 at once on the lines that follow a never-closed log's last checkpoint (the
        verdict's, after ``_check_backlog`` has checked every accepted one)."""
        first = lg.checked + 1
        tasks = [
            BatchTask(
                lg.unit,
                lg.round,
                lg.candidates,
                [
                    (first + i + j, line if len(line) <= MAX_LINE_BYTES else None)
                    for j, line in enumerate(lines[i : i + BATCH_LINES])
                ],
            )
            for i in range(0, len(lines), BATCH_LINES)
        ]
        for result in self._run(tasks):
            self._merge(lg, result)
        lg.checked += len(lines)
        lg.checked_bytes += sum(len(line) + 1 for line in lines)
        self._changed.add(lg.key)

    def _run(self, tasks: list[BatchTask]) -> Iterable[BatchResult]:
        """The batches checked, in order: in the worker pool when there is one and more than
        one batch, here otherwise."""
        pool = self._worker_pool()
        if pool is not None and len(tasks) > 1:
            return pool.map(check_batch, tasks)
        return map(check_batch, tasks)

    def _start_workers(self) -> None:
        assert self.manifest is not None
        context = _context(self.manifest)
        init_worker(context)  # for small batches, checked here
        self._context = context

    def _worker_pool(self) -> Pool | None:
        if self.jobs <= 1:
            return None
        if self._pool is None:
            method = "fork" if sys.platform.startswith("linux") else "spawn"
            self._pool = multiprocessing.get_context(method).Pool(
                self.jobs, initializer=init_worker, initargs=(self._context,)
            )
        return self._pool

    def close(self) -> None:
        """Stop the worker processes, if any, and close the connection."""
        self.http.stop()
        if self._pool is not None:
            self._pool.close()
            self._pool.join()
            self._pool = None

    def _check_closed_log(self, lg: FollowedLog, report: Report) -> None:
        """V4 over the whole closed log, exactly as the batch verifier runs it, except for the
        witness cosignatures, which may still be added: they are checked with the verdict."""
        assert self.manifest is not None
        running = self.running[lg.key]
        running.facts = LogFacts(lg.unit, lg.round, lg.candidates)
        tracker = LogTracker(lg.rel, running.facts, report["V4"])
        running.tracker = tracker
        tracker.prepare(self.mirror, self.manifest, witnesses=self.policy is None)
        report["V4"].count("logs")
        report["V3"].count("logs")
        for line in self.mirror.iter_lines(f"{lg.rel}/ballots.jsonl"):
            tracker.add(line.leaf)
            if not line.terminated:
                tracker.unterminated = True
        tracker.finish()
        finish_sums(running)

    # -- V5-V8 per round

    def _tally(self, lg: FollowedLog) -> None:
        if not lg.closed_checked or lg.tallied or lg.broken is not None:
            return
        data = self._get(f"{RECORD}/{lg.rel}/tally.json")
        if data is None:
            return
        assert self.manifest is not None
        unit = self.manifest.units.get(lg.unit)
        registered = unit.registered if unit is not None else 0
        try:
            doc = strict_loads(data)
            # complete once decrypted, or at once for a round without quorum, which is never
            # decrypted (rules.md): its counts stay null
            complete = doc.get("counts") is not None or 2 * int(doc["took_part"]) <= registered
        except (ValueError, AttributeError, KeyError, TypeError):
            complete = True  # unreadable: V5 says why
        if not complete and "final" not in self.state.results:
            return  # decryption under way
        self._write(f"{lg.rel}/tally.json", data)
        rf = self._check_tally(lg, self.report)
        lg.tallied = True
        outcome = rf.outcome
        self._event(
            "tally",
            f"{lg.key}: tally checked (V5-V8): {outcome.status if outcome else 'no outcome'}",
            log=lg.key,
            counts=rf.counts,
            blank=rf.blank,
            status=outcome.status if outcome else None,
        )
        pair = runoff_pair(rf) if lg.round == 1 else None
        if pair is not None and f"{lg.unit}/2" not in self.state.logs:
            runoff = FollowedLog(lg.unit, 2, pair)
            self.state.logs[runoff.key] = runoff
            self._start_running(runoff)
            self._event("runoff", f"{lg.unit}: runoff between {', '.join(pair)}", log=runoff.key)
        self._save()

    def _check_tally(self, lg: FollowedLog, report: Report) -> RoundFacts:
        assert self.manifest is not None
        facts = self.running[lg.key].facts
        rf = check_sum(self.mirror, self.manifest, facts, report["V5"])
        check_decryption(self.manifest, facts, rf, report["V6"])
        check_counts(self.manifest, facts, rf, report["V7"])
        decide_round(self.manifest, facts, rf, report["V8"])
        release_tally(rf)  # one round's parsed tally held at a time
        self.rounds[(lg.unit, lg.round)] = rf
        return rf

    # -- results, audit, verdict

    def _results(self) -> None:
        for kind in ("preliminary", "final"):
            if kind in self.state.results:
                continue
            data = self._get(f"{RECORD}/results/{kind}.json")
            if data is None:
                continue
            self._write(f"results/{kind}.json", data)
            self.state.results.append(kind)
            if kind == "final":
                self.final_published_at = time.time()
            self._event("result", f"the {kind} result is published", kind=kind)

    def _early_preliminary(self) -> None:
        """The preliminary result, checked as soon as every round it may cover is tallied, not
        days later with the final one: V9's checks of that one file, on a scratch report, told
        as events (``preliminary``, and ``fail`` for each problem). The verdict's V9 checks it
        again with the final result, as the batch verifier does."""
        st = self.state
        if "preliminary" not in st.results or "final" in st.results or st.preliminary_checked:
            return
        if st.preliminary_covers is None:
            st.preliminary_covers = sorted(key for key, lg in st.logs.items() if lg.opened)
        covered = [st.logs[key] for key in st.preliminary_covers]
        if self.manifest is None or any(not lg.tallied and lg.broken is None for lg in covered):
            return
        v9 = Report.new("preliminary")["V9"]
        present = {(lg.unit, lg.round) for lg in covered}
        check_result(self.mirror, self.manifest, "preliminary", present, self.rounds, v9)
        st.preliminary_checked = True
        for failure in v9.failures:
            self._event(
                "fail",
                f"V9 FAIL (the preliminary result, before the final one) {failure.where}: "
                f"{failure.why}",
                check="V9",
                where=failure.where,
                why=failure.why,
                result="preliminary",
            )
        compared = v9.checked.get("rounds compared", 0)
        self._event(
            "preliminary",
            f"the preliminary result checked (V9): {compared} round(s) equal to the record"
            if not v9.failures
            else f"the preliminary result does not match the record: {v9.failure_count} "
            "problem(s)",
            ok=not v9.failures,
            rounds=compared,
        )
        self._save()

    def _audit(self) -> None:
        data = self._get(f"{RECORD}/audit.jsonl?start={self.state.audit_lines}")
        if data is not None and "audit.jsonl" not in self.state.mirror:
            self._write("audit.jsonl", b"", append=True)  # a length to cut back to (as above)
            self._save()
        if data is not None:  # an empty answer still says the service publishes its audit
            self._write("audit.jsonl", data, append=True)
            self.state.audit_lines += data.count(b"\n")

    def _all_done(self) -> bool:
        """The final result was there before this poll's pass over the logs, so every log and
        tally the service will ever publish has been seen (a final result needs them all)."""
        return "final" in self.state.results

    def _verdict(self) -> None:
        assert self.manifest is not None
        self._published_files_unchanged()  # before anything below adds to the report
        present = {(lg.unit, lg.round) for lg in self.state.logs.values() if lg.opened}
        if self.policy is not None:
            for lg in self.state.logs.values():
                if lg.opened and lg.broken is None:
                    self._refetch_all(lg)
            self._check_backlog(None)  # notes served only now: their ballots too
        for lg in self.state.logs.values():
            if lg.opened and lg.broken is None and not lg.tallied:
                # never closed, or its tally never completed: check what there is, as the batch
                # verifier would on the record as it stands
                if not lg.closed_checked:
                    self._fetch_unsigned_rest(lg)
                    self._check_closed_log(lg, self.report)
                    lg.closed_checked = True
                data = self._get(f"{RECORD}/{lg.rel}/tally.json")
                if data is not None:
                    self._write(f"{lg.rel}/tally.json", data)
                self._check_tally(lg, self.report)
                lg.tallied = True
            if lg.broken is not None:
                self.report["V5"].fail(
                    f"{lg.rel}/tally.json",
                    "not checked: the monitor stopped following this log (see V4)",
                )
        if self.policy is not None:
            for lg in self.state.logs.values():
                if lg.opened and lg.broken is None:
                    notes, _ = self.mirror.checkpoint_notes(f"{lg.rel}/checkpoints.txt")
                    check_log_witnesses(lg.rel, notes, self.policy, self.report["V4"])
        derived = {lg.unit: lg.candidates for lg in self.state.logs.values() if lg.round == 2}
        for code in self.manifest.units:
            check_unit_rounds(code, present, self.rounds, derived.get(code), self.report["V8"])
        check_results(self.mirror, self.manifest, present, self.rounds, self.report["V9"])
        self.report["V4"].note(CONSISTENCY_NOTE)
        self.state.verdict = True
        self._save()
        failed = self.report.failed()
        verdict = f"RESULT: FAIL ({', '.join(failed)})" if failed else "RESULT: PASS"
        self._event(
            "verdict",
            verdict,
            ok=not failed,
            cpu_seconds=round(time.process_time(), 3),
            report=self.report.to_json(),
        )


def _owner(rel: str) -> str:
    """The check that reads a file mirrored whole."""
    if rel in ("manifest.json", "key_ceremony.json"):
        return "V1" if rel == "manifest.json" else "V2"
    if rel.startswith(f"{BOOTH_CODE}/"):
        return "V1"  # the booth's code, checked against the sealed manifest
    return "V9" if rel.startswith("results/") else "V5"


def _changed_name(number: int, rel: str) -> str:
    return f"{number:03d}-changed-{rel.replace('/', '-')}"


def _ciphertext(a: str, b: str) -> Ciphertext:
    return Ciphertext(Point.from_bytes(bytes.fromhex(a)), Point.from_bytes(bytes.fromhex(b)))


def _joined(lines: list[bytes]) -> bytes:
    return b"".join(line + b"\n" for line in lines)


def follow(
    url: str,
    state_dir: Path,
    *,
    interval: float,
    until_final: bool,
    commission_key: VerifyKey | None,
    emit: Emit,
    jobs: int = 1,
    trust: Trust | None = None,
) -> Report:
    """Poll until the verdict (with ``until_final``) or forever; the report so far. A poll
    checks ballots for at most ``interval`` seconds before its next pass over the logs."""
    follower = Follower(
        url,
        state_dir,
        commission_key=commission_key,
        emit=emit,
        jobs=jobs,
        check_budget=interval,
        trust=trust,
    )
    try:
        return _poll_until(follower, interval, until_final, emit)
    finally:
        follower.close()


def _poll_until(follower: Follower, interval: float, until_final: bool, emit: Emit) -> Report:
    while True:
        began = time.monotonic()
        try:
            follower.poll()
        except FetchError as exc:
            emit({"event": "unreachable", "message": f"the service did not answer: {exc}"})
        if follower.done and until_final:
            return follower.report
        time.sleep(max(0.0, interval - (time.monotonic() - began)))


def as_json_line(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, sort_keys=True)
