"""A guardian follows the logs while rounds are open (``tally-service guardian watch``).

The threat (issue 24, attack 2): the service is the guardian's only window on the logs, and it
holds the log keys. It can answer 404 for a round's checkpoints, leave the round out of
``/units``, or show an older checkpoint; a guardian that remembers nothing of a round can later
be shown a fork as its "final" (the victim's ballot dropped, or only the colluders' ballots and
the victim's). So the watch:

- fetches the sealed manifest (checked against the guardian's pins), then ``/units``; a unit the
  manifest names that ``/units`` leaves out, a round this guardian has seen (or a witness has
  cosigned) that ``/units`` leaves out, and a 404 or any failed answer for a listed round's
  checkpoint are ALARMS, printed and kept in the guardian state as evidence (once each), never
  skipped in silence. (Only a round nobody has seen, before its first witnessed checkpoint, may
  have none yet.)
- fetches each log's latest cosigned checkpoint from the witnesses directly (``--witness
  NAME=URL``; the names and keys are the sealed manifest's), checks the log's signature and the
  witness's cosignature, and hands it to the guardian state like any checkpoint: what the
  witnesses cosigned is remembered as seen, so a later final must extend it, and the decrypt
  check's "seen while the round was open" holds even when the service hides the round.
- fetches the service's newest checkpoint of every log, verified with the unit's log key, and
  hands it to the guardian state, which asks the service for a consistency proof from the
  largest checkpoint seen and keeps any conflicting pair as evidence (a service checkpoint
  inconsistent with what a witness cosigned is such a pair);
- compares: a service checkpoint smaller than the largest one a quorum of witnesses cosigned
  (the same size and root, each witness's latest) is an alarm, with the witnesses' notes.

``guardian decrypt`` then refuses a round of which the state holds no checkpoint seen while the
round was open (tally_service/guardian/state.py).

The guardian only makes outgoing requests: it serves nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from crypto.canonical import hash_json
from crypto.checkpoint import Checkpoint, CheckpointError, checkpoint_facts, open_checkpoint
from crypto.cosignature import (
    CosignatureError,
    Cosigner,
    CosignerKey,
    finality_cosignatures,
    is_final,
    note_cosignatures,
)
from crypto.note import (
    MAX_NOTE_SIZE,
    NoteError,
    NoteVerifier,
    parse_note,
    verifier_key,
    verify_note,
)
from crypto.signing import VerifyKey
from crypto.witness_policy import PolicyError, WitnessPolicy
from tally_service.common import clock
from tally_service.common.answers import AnswerRefused, bounded_session, fetch
from tally_service.common.problems import Problem
from tally_service.common.rollback import ROTATE
from tally_service.guardian.state import GuardianRefusal, GuardianState

MANIFEST_HASH_TAG = "kz-tally/v1/manifest"

#: How a guardian reads a witness: the log's origin in, the witness's latest cosigned
#: checkpoint note out (None if it has cosigned nothing of that log); raises on failure.
WitnessReader = Callable[[str], "str | None"]


class WatchConfigError(ValueError):
    """The guardian's own configuration does not fit the sealed manifest (a usage error: the
    watch stops, where a failure of the service only makes it try again)."""


@dataclass
class WatchReport:
    """What one poll saw: checkpoints accepted, refusals (each with evidence saved) and alarms
    (kept in the state's evidence)."""

    accepted: list[str] = field(default_factory=list)
    unchanged: int = 0
    refusals: list[str] = field(default_factory=list)
    cosigned: list[str] = field(default_factory=list)  # as a witness (issue 18)
    alarms: list[str] = field(default_factory=list)


def checked_manifest(client: Any, state: GuardianState) -> dict[str, Any]:
    """The service's sealed manifest, signed by a commission key it lists, checked against the
    guardian's pins (joint key, ceremony hash, and the manifest hash once pinned)."""
    from tally_service.guardian.checks import open_signed_manifest

    manifest = open_signed_manifest(client.get("/manifest"))
    state.check_manifest(manifest, hash_json(MANIFEST_HASH_TAG, manifest).hex())
    return manifest


def http_witness(url: str, timeout: float = 10.0) -> WitnessReader:
    """A witness's ``GET /checkpoint?origin=...`` (tally_service/witness/latest.py), read up to
    a note's bound and within its deadline (tally_service/common/answers.py): a longer or
    slower answer is refused (AnswerRefused) before it fills the memory or holds the watch."""
    session = bounded_session()
    prefix = url.rstrip("/")

    def read(origin: str) -> str | None:
        answer = fetch(session, "GET", f"{prefix}/checkpoint", "the witness's", MAX_NOTE_SIZE,
                       (timeout, timeout), params={"origin": origin})
        text = answer.content.decode("utf-8")  # a note is UTF-8 (else a ValueError)
        if answer.status_code == 404:
            return None  # a log it does not watch, or has cosigned nothing of yet
        if answer.status_code != 200:
            raise ValueError(f"HTTP {answer.status_code}: {text[:200]}")
        return text

    return read


def witness_readers(
    manifest: dict[str, Any], witnesses: Mapping[str, WitnessReader] | None
) -> list[tuple[CosignerKey, WitnessReader]]:
    """The configured witnesses, each with its key from the sealed manifest; WatchConfigError
    for a name the manifest does not list (a typo, or a witness of the operator's choosing)."""
    if not witnesses:
        return []
    try:
        policy = WitnessPolicy.from_manifest(manifest.get("witnesses"))
    except PolicyError as exc:
        raise GuardianRefusal(f"the manifest's witness policy is unusable: {exc}") from exc
    keys = {k.name: k for k in policy.witnesses} if policy is not None else {}
    unknown = sorted(set(witnesses) - set(keys))
    if unknown:
        raise WatchConfigError(
            f"--witness {unknown[0]}: the sealed manifest lists no such witness; give the names "
            f"it lists ({', '.join(sorted(keys)) or 'none'})"
        )
    return [(keys[name], reader) for name, reader in sorted(witnesses.items())]


def watch_once(
    client: Any,
    state: GuardianState,
    cosigner: Cosigner | None = None,
    witnesses: Mapping[str, WitnessReader] | None = None,
) -> WatchReport:
    """One poll over every log of the election. With ``cosigner``, a guardian the manifest lists
    among the witnesses also cosigns each checkpoint it accepted and posts the cosignature back
    (pull mode: it serves nothing); it then follows the newest signed checkpoints, not only
    those that already have the witnesses' quorum. With ``witnesses`` (name -> reader), each
    log's checkpoints are also fetched from the witnesses and compared.

    A poll that fails as a whole (the manifest unreadable or not the pinned one, an answer that
    breaks the poll) is an alarm for every log the guardian has seen open, which it marks blind
    (GuardianState.record_alarm) before the exception goes on: a service that makes every poll
    fail from some point on must not leave the state saying the guardian watched, or it would
    decrypt a fork of anything after what it last saw (issue 24 review)."""
    try:
        return _watch_once(client, state, cosigner, witnesses)
    except WatchConfigError:
        raise
    except Exception as exc:
        report = WatchReport()
        for origin in state.open_logs():
            _alarm(state, report, origin, "poll-failed",
                   f"the poll failed before it could look at the log: {_said(exc)}",
                   {"service-answer.txt": _said(exc)}, blind=True)
        raise


def _watch_once(
    client: Any,
    state: GuardianState,
    cosigner: Cosigner | None,
    witnesses: Mapping[str, WitnessReader] | None,
) -> WatchReport:
    manifest = checked_manifest(client, state)
    witness = _listed(manifest, cosigner)
    readers = witness_readers(manifest, witnesses)
    policy = WitnessPolicy.from_manifest(manifest.get("witnesses"))
    units = {u["code"]: u for u in manifest["units"]}
    commission = [
        NoteVerifier.parse(verifier_key(manifest["commission"]["name"], VerifyKey.from_hex(k)))
        for k in manifest["commission"]["keys"]
    ]
    report = WatchReport()
    day = str(manifest.get("date", ""))
    election_day = day if day and clock.current().date().isoformat() >= day else None
    try:
        listing = client.get("/units")
        listed = {u.get("code"): u for u in listing["units"] if isinstance(u, dict)}
        units_text = json.dumps(listing, indent=1, sort_keys=True)
    except Exception as exc:
        _alarm(state, report, manifest["origin"], "units-failed",
               f"no /units from the service: {_said(exc)}", {"service-answer.txt": _said(exc)})
        listed, units_text = {}, ""
    for code, unit in units.items():
        log = _Log(client, state, report, unit, commission, readers, policy, witness,
                   election_day)
        served = listed.get(code)
        if served is None and units_text:
            _alarm(state, report, f"{manifest['origin']}/{code}", "unit-unlisted",
                   f"the service's /units lists no unit {code}, which the sealed manifest names",
                   {"units.json": units_text})
        shown = (served or {}).get("rounds")
        rounds: dict[int, str] = {
            r["round"]: str(r.get("state")) for r in (shown if isinstance(shown, list) else [])
            if isinstance(r, dict) and type(r.get("round")) is int and r["round"] >= 1
        }
        top = max(rounds, default=0)
        for round_no in range(1, top + 2):  # and the next one: a round the service hides
            log.poll(f"{manifest['origin']}/{code}/{round_no}", code, round_no,
                     listed=round_no in rounds, units_text=units_text,
                     closed=rounds.get(round_no) == "closed")
    return report


@dataclass
class _Log:
    """One unit's logs in one poll."""

    client: Any
    state: GuardianState
    report: WatchReport
    unit: dict[str, Any]
    commission: list[NoteVerifier]
    readers: list[tuple[CosignerKey, WitnessReader]]
    policy: WitnessPolicy | None
    witness: Cosigner | None
    election_day: str | None  # the manifest's date, once it has come (UTC)

    def poll(self, origin: str, code: str, round_no: int, listed: bool, units_text: str,
             closed: bool = False) -> None:
        base = f"/units/{code}/rounds/{round_no}"
        log_key = NoteVerifier.parse(self.unit["log_key"])
        consistency = _consistency(self.client, base)
        cosigned = self._from_witnesses(origin, log_key, consistency)
        known = self.state.seen(origin) is not None
        if not listed:
            why = ""
            if known:
                why = "this guardian has seen it"
            if cosigned:
                largest = max(c.size for _, c, _ in cosigned)
                why = f"the witnesses cosigned it up to size {largest}"
            if not why and round_no == 1 and self.election_day:
                why = f"the election day ({self.election_day}) has come"
            if why and units_text:
                self._alarm(origin, "round-unlisted",
                            f"the service's /units does not list round {round_no} of {code}, "
                            f"but {why}: if the round is open, the service hides it",
                            {"units.json": units_text}, cosigned, blind=not cosigned)
            return
        # a closed round has had witnessed checkpoints: "none yet" is no longer an excuse
        note = self._service_note(origin, base, known or bool(cosigned) or closed, cosigned)
        if note is None:
            return
        self._own_line_ahead(origin, note, "the service")
        cp = self._accept(origin, note, log_key, consistency, "the service")
        if cp is None:  # refused (reported): as blind as no checkpoint at all, unless a witness
            self._alarm(origin, "service-refused",  # showed the log in this poll
                        "the service's newest checkpoint of a round it lists was refused "
                        f"({self.report.refusals[-1] if self.report.refusals else 'unreadable'})",
                        {"service.note": note}, cosigned, blind=not cosigned)
            return
        self._compare(origin, base, cp, note, cosigned)
        if self.witness is not None:
            _cosign(self.client, base, self.witness, cp, note, self.report, self.state)

    def _service_note(
        self, origin: str, base: str, known: bool, cosigned: list[tuple[str, Checkpoint, str]]
    ) -> str | None:
        """The service's newest checkpoint of the log; None (and an alarm unless it may have
        none yet) if it gives none."""
        try:
            if self.witness is not None:
                rows = self.client.get(f"{base}/checkpoints")["checkpoints"]
                if not rows:
                    raise Problem(404, "no-checkpoint", "the service lists no checkpoint")
                text: str = rows[-1]["note"]
                return text
            text = self.client.get_text(f"{base}/checkpoint")
            return text
        except AnswerRefused as exc:  # larger or slower than any honest answer
            self._alarm(origin, "service-answer-refused",
                        f"no checkpoint from the service: {exc.detail}",
                        {"service-answer.txt": exc.detail}, cosigned, blind=not cosigned)
        except Problem as exc:
            # before its first witnessed checkpoint a round has no current one (404); without
            # witnesses it has one from the moment it opens
            if (exc.status == 404 and exc.check == "no-checkpoint" and not known
                    and self.policy is not None):
                return None
            self._alarm(origin, f"service-{exc.status}",
                        f"the service gave no checkpoint of a round it lists "
                        f"(HTTP {exc.status} {exc.check}: {exc.detail})",
                        {"service-answer.txt": _said(exc)}, cosigned, blind=not cosigned)
        except Exception as exc:
            self._alarm(origin, "service-failed", f"no checkpoint from the service: {_said(exc)}",
                        {"service-answer.txt": _said(exc)}, cosigned, blind=not cosigned)
        return None

    def _accept(self, origin: str, note: str, log_key: NoteVerifier,
                consistency: Callable[[int, int], list[bytes]], source: str) -> Checkpoint | None:
        """Verify a checkpoint note and hand it to the state; None if refused (reported)."""
        try:
            cp = open_checkpoint(note, log_key, origin)
            final = checkpoint_facts(cp).final
            if final:  # a final checkpoint must carry the commission's signature too
                verify_note(note, self.commission)
            if self.state.observe(cp, note, consistency, final=final):
                self.report.accepted.append(f"{origin} size {cp.size}" + (
                    "" if source == "the service" else f" (from {source})"))
            else:
                self.report.unchanged += 1
        except (CheckpointError, NoteError) as exc:
            self.report.refusals.append(f"{origin}: the newest checkpoint from {source}: {exc}")
            return None
        except GuardianRefusal as exc:
            self.report.refusals.append(f"{exc} (from {source})")
            return None
        return cp

    def _from_witnesses(self, origin: str, log_key: NoteVerifier,
                        consistency: Callable[[int, int], list[bytes]]
                        ) -> list[tuple[str, Checkpoint, str]]:
        """Each configured witness's latest cosigned checkpoint of the log that verifies (its
        log signature and the witness's cosignature), handed to the state smallest first."""
        found: list[tuple[str, Checkpoint, str]] = []
        for key, read in self.readers:
            try:
                note = read(origin)
            except Exception as exc:
                self._alarm(origin, f"witness-failed {key.name}",
                            f"witness {key.name} gave no answer: {_said(exc)}",
                            {"witness-answer.txt": _said(exc)}, [])
                continue
            if note is None:
                continue
            try:
                cp = open_checkpoint(note, log_key, origin)
                _, valid = note_cosignatures(note, [key])
                if is_final(cp):  # a final is the witness's only with its finality statement
                    valid = finality_cosignatures(cp, parse_note(note).signatures, [key])
                if not valid:
                    raise CosignatureError("no cosignature of this witness on it")
            except (CheckpointError, CosignatureError, ValueError) as exc:
                self.report.refusals.append(
                    f"{origin}: witness {key.name} shows a checkpoint that does not check: {exc}"
                )
                continue
            found.append((key.name, cp, note))
        for name, _, note in found:  # before any of them is remembered
            self._own_line_ahead(origin, note, f"witness {name}")
        for name, _, note in sorted(found, key=lambda f: f[1].size):
            self._accept(origin, note, log_key, consistency, f"witness {name}")
        return found

    def _own_line_ahead(self, origin: str, note: str, source: str) -> None:
        """As a witness: a note carrying this guardian's own valid line (a cosignature, or a
        finality statement) on a checkpoint larger than its state knows proves the state went
        back (it records a checkpoint before it cosigns it): latch, cosign nothing more."""
        if self.witness is None:
            return
        try:
            cp, mine = note_cosignatures(note, [self.witness.public])
            if is_final(cp):
                mine = mine or finality_cosignatures(
                    cp, parse_note(note).signatures, [self.witness.public]
                )
        except (CosignatureError, CheckpointError, NoteError, ValueError):
            return  # not this witness's line; the note is judged when it is accepted
        seen = self.state.seen(origin)
        if not mine or (seen is not None and cp.size <= seen.size):
            return
        known = "nothing" if seen is None else f"size {seen.size}"
        self.state.latch_witness(
            f"{origin}: {source} shows this witness's own cosignature on size {cp.size}, but "
            f"its state knows {known}: the state was restored from an older copy"
        )

    def _compare(self, origin: str, base: str, shown: Checkpoint, note: str,
                 cosigned: list[tuple[str, Checkpoint, str]]) -> None:
        """A service checkpoint smaller than what a quorum of witnesses cosigned is an alarm.
        (Inconsistent ones were refused, with evidence, by the state.)"""
        if not cosigned or self.policy is None:
            return
        counts: dict[tuple[int, bytes], int] = {}
        for _, cp, _ in cosigned:
            counts[(cp.size, cp.root)] = counts.get((cp.size, cp.root), 0) + 1
        quorate = [size for (size, _), n in counts.items() if n >= self.policy.quorum]
        if not quorate or shown.size >= max(quorate):
            return
        try:  # the witnesses were read first: the service may just have caught up since
            again = self._service_note(origin, base, True, cosigned)
            if again is not None and Checkpoint.parse(parse_note(again).text).size >= max(quorate):
                return
        except (NoteError, CheckpointError):
            pass
        self._alarm(origin, f"service-behind {shown.size} {max(quorate)}",
                    f"the service shows size {shown.size}, but a quorum of witnesses "
                    f"cosigned size {max(quorate)}: the service hides part of the log",
                    {"service.note": note}, cosigned)

    def _alarm(self, origin: str, kind: str, why: str, answers: dict[str, str],
               cosigned: list[tuple[str, Checkpoint, str]], blind: bool = False) -> None:
        files = dict(answers)
        for name, _, note in cosigned:
            files[f"witness-{_file_safe(name)}.note"] = note
        _alarm(self.state, self.report, origin, kind, why, files, blind)


def _alarm(state: GuardianState, report: WatchReport, origin: str, kind: str, why: str,
           files: dict[str, str], blind: bool = False) -> None:
    """Print-worthy and kept: once per log and kind (a service varying its error text, or a
    witness down for hours, must not fill the guardian's disk). ``blind``: this poll saw
    nothing of the log (GuardianState.record_alarm)."""
    where = state.record_alarm(origin, kind, why, files, blind)
    report.alarms.append(f"{origin}: {why}; evidence kept in {where}")


def _said(exc: Exception) -> str:
    if isinstance(exc, AnswerRefused):
        return exc.detail
    if isinstance(exc, Problem):
        return f"HTTP {exc.status} {exc.check}: {exc.detail}"
    return f"{type(exc).__name__}: {exc}"


def _file_safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:80]


def _listed(manifest: dict[str, Any], cosigner: Cosigner | None) -> Cosigner | None:
    """The cosigner, if the manifest names its key among the witnesses."""
    if cosigner is None:
        return None
    policy = WitnessPolicy.from_manifest(manifest.get("witnesses"))
    if policy is None or cosigner.public not in policy.witnesses:
        return None
    return cosigner


def _cosign(
    client: Any, base: str, witness: Cosigner, cp: Any, note: str, report: WatchReport,
    state: GuardianState,
) -> None:
    """Cosign an accepted checkpoint (once) and post it to the service. A final only if it is
    the largest checkpoint this guardian has seen of the log: the state accepts a smaller one
    that is a prefix of it (consistent, not new), and a finality statement on it would vouch
    for a final that drops entries this guardian cosigned (a witness's 409 final-behind)."""
    rolled_back = state.witness_rolled_back()
    if rolled_back is not None:
        report.refusals.append(
            f"{cp.origin}: no cosignature of size {cp.size}: {rolled_back}; {ROTATE}"
        )
        return
    final = is_final(cp)  # a final counts only the finality statement (crypto/cosignature.py)
    if final:
        seen = state.seen(cp.origin)
        if seen is None or (seen.size, seen.root) != (cp.size, cp.root):
            largest = "nothing" if seen is None else f"size {seen.size}"
            report.refusals.append(
                f"{cp.origin}: no finality statement on a final checkpoint of size {cp.size}: "
                f"this guardian has seen {largest} of the log, and a final must end the "
                "largest checkpoint it saw"
            )
            return
    key = witness.public.finality() if final else witness.public
    ident = (key.name, key.key_id)
    if any((s.name, s.key_hash) == ident for s in parse_note(note).signatures):
        return
    now = int(clock.posix())
    line = witness.cosign(cp, now).line()
    if final:  # observe() accepted it: consistent with everything this guardian saw
        line += witness.cosign_final(cp, now).line()
    answer = client.post(f"{base}/cosignatures", 60, data=(note + line).encode("utf-8"))
    if answer.status_code == 200:
        report.cosigned.append(f"{cp.origin} size {cp.size}")
    else:
        report.refusals.append(
            f"{cp.origin}: the service did not take the cosignature: HTTP {answer.status_code}"
        )


def _consistency(client: Any, base: str) -> Callable[[int, int], list[bytes]]:
    def fetch(size1: int, size2: int) -> list[bytes]:
        answer = client.get(f"{base}/proof/consistency", **{"from": size1, "to": size2})
        proof = answer.get("proof") if isinstance(answer, dict) else None
        if not isinstance(proof, list) or not all(isinstance(h, str) for h in proof):
            raise ValueError("the service's consistency proof is malformed")
        return [bytes.fromhex(h) for h in proof]

    return fetch
