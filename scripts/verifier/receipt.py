"""An elector checks their receipt: "my ballot is in the log, unchanged, and was tallied".

    scripts/verify_receipt.py RECEIPT.json --record RECORD      (an exported election record)
    scripts/verify_receipt.py RECEIPT.json --url http://host:port (the live service)

Checks (V10 of the design), each PASS or FAIL with a reason:

  R1 the receipt is well formed (schemas/log.py ReceiptSchema)
  R2 the manifest is signed by a commission key it lists, its hash is the receipt's election,
     and the elector is on the roll of the receipt's unit
  R3 the promise is a note signed by the unit's log key for exactly this origin, index and leaf
  R4 the log's entry at that index has the receipt's leaf hash, names this elector, unit and
     round, is signed by the elector's roll key and has valid proofs; with --ballot FILE (the
     ballot the elector's device kept when casting) it is exactly that ballot
  R5 inclusion: the entry is in a checkpoint signed by the log key (the receipt's tlog-proof if
     it has one, else a proof computed from the record or fetched from the service); when the
     manifest names witnesses, that checkpoint carries a quorum of their cosignatures
  R6 consistency: that checkpoint is a prefix of the final checkpoint, which says it is final
     and carries the commission's signature (and, with witnesses, a quorum of their finality
     statements: crypto/witness_policy.py; ordinary cosignatures do not make a final)
  R7 the round's tally (and the final result, when published) counted that final checkpoint;
     a round without quorum (not more than half of the roll took part) is void and is never
     decrypted: R7 then says so, and fails if its tally holds a decryption all the same

Verdicts and exit codes: PASS 0, FAIL 1, usage 2, PENDING 3 (the round is not closed, or no
checkpoint or tally exists yet: the normal state before the close, not an alarm; protocol.md
11.3 says which check waits for what).

Every signature and proof is checked here; nothing the service says is taken on trust. Imports
only the standard library, crypto/ and schemas/ (and the verifier's record reader).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crypto.ballot import check_ballot, verify_ballot_signature
from crypto.canonical import EncodingError, b64_encode, canonical_json, hash_json
from crypto.checkpoint import (
    Checkpoint,
    CheckpointError,
    checkpoint_facts,
    open_checkpoint,
    parse_tlog_proof,
    verify_tlog_proof,
)
from crypto.envelope import EnvelopeError, open_document
from crypto.fingerprint import (
    FingerprintError,
    election_fingerprint_of_hash,
    key_fingerprint,
    normalise,
)
from crypto.group import Point
from crypto.merkle import MerkleTree, leaf_hash, verify_consistency
from crypto.note import NoteError, NoteVerifier, parse_note, verify_note
from crypto.signing import Context, VerifyKey
from crypto.witness_policy import PolicyError, WitnessPolicy
from schemas.limits import MAX_MANIFEST_BYTES
from schemas.log import ReceiptSchema
from schemas.strict_json import JSONProblem, strict_loads
from scripts.verifier.checks_manifest import MANIFEST_HASH_TAG
from scripts.verifier.checks_results import RESULTS_FORMAT
from scripts.verifier.record import (
    Record,
    RecordOpenError,
    open_record,
)
from scripts.verifier.schema import schema_problem
from scripts.verifier.trust import UNPINNED, Trust, TrustError, load_trust, trust_line
from scripts.verifier.trust import combine as combine_pins

PROMISE_HEADER = "kz-tally/v1/promise"
# exit codes (docs/record.md): PENDING is the normal state of a receipt until its round closes
EXIT_PASS, EXIT_FAIL, EXIT_USAGE, EXIT_PENDING = 0, 1, 2, 3
MAX_RESPONSE = 64 * 1024 * 1024
TITLES = {
    "R1": "receipt well formed",
    "R2": "manifest signed by the commission; election, unit and elector match",
    "R3": "promise signed by the unit's log key for this index and leaf hash",
    "R4": "the log's entry at that index is this elector's signed, valid ballot",
    "R5": "inclusion in a signed checkpoint",
    "R6": "consistency with the final checkpoint (countersigned by the commission)",
    "R7": "the tally counted that final checkpoint",
}


VOID_DECRYPTED = (
    "the round had no quorum, yet its tally was decrypted: its ballots' secrecy was put at risk"
)


class Stop(Exception):
    """A check failed in a way that leaves the later checks nothing to work with."""


@dataclass
class Item:
    id: str
    ok: bool | None = None  # None: not reached (or pending)
    detail: str = ""
    pending: bool = False  # what it needs does not exist yet: normal before the close


@dataclass
class Verdict:
    receipt: str
    items: dict[str, Item] = field(default_factory=lambda: {k: Item(k) for k in TITLES})
    void: bool = False  # the round had no quorum: its tally is (rightly) not decrypted
    trust: str = ""  # what the check is pinned by, or the UNPINNED line (scripts/verifier/trust.py)

    def passed(self, cid: str, detail: str) -> None:
        self.items[cid].ok, self.items[cid].detail = True, detail

    def failed(self, cid: str, detail: str) -> None:
        self.items[cid].ok, self.items[cid].detail = False, detail

    def stop(self, cid: str, detail: str) -> Stop:
        self.failed(cid, detail)
        return Stop(detail)

    def wait(self, cid: str, detail: str) -> Stop:
        """Stop at ``cid`` as PENDING: nothing is wrong so far; what it checks is not there yet."""
        self.items[cid].ok, self.items[cid].detail, self.items[cid].pending = None, detail, True
        return Stop(detail)

    @property
    def ok(self) -> bool:
        return all(i.ok is True for i in self.items.values())

    @property
    def pending(self) -> bool:
        items = self.items.values()
        return any(i.pending for i in items) and not any(i.ok is False for i in items)

    @property
    def state(self) -> str:
        return "PASS" if self.ok else "PENDING" if self.pending else "FAIL"

    def to_json(self) -> dict[str, Any]:
        return {
            "receipt": self.receipt,
            "trust": self.trust,
            "ok": self.ok,
            "verdict": self.state,
            "checks": [
                {"id": i.id, "title": TITLES[i.id], "ok": bool(i.ok), "checked": i.ok is not None,
                 "pending": i.pending,
                 "detail": i.detail or ("not reached" if i.ok is None else "")}
                for i in self.items.values()
            ],
        }


# -- the two sources: an exported record, or the live service -------------------------------


class Source:
    """Where the election's public data comes from."""

    def manifest(self) -> object:
        raise NotImplementedError

    def entry(self, unit: str, round_no: int, index: int) -> bytes | None:
        """The entry's exact bytes (None if the source cannot give them)."""
        raise NotImplementedError

    def inclusion(
        self, unit: str, round_no: int, index: int, leaf: bytes,
        accept: Callable[[str], bool] | None = None,
    ) -> str:
        """A tlog-proof text for the entry, under some checkpoint (one ``accept`` takes, if the
        source can choose)."""
        raise NotImplementedError

    def checkpoints(self, unit: str, round_no: int) -> list[str]:
        """Every signed checkpoint note of the log, the final one last."""
        raise NotImplementedError

    def consistency(self, unit: str, round_no: int, size1: int, size2: int) -> list[bytes]:
        raise NotImplementedError

    def root(self, unit: str, round_no: int, size: int) -> bytes | None:
        """The root recomputed from the entries themselves, if the source has them all."""
        return None

    def size(self, unit: str, round_no: int) -> int | None:
        """How many entries the log holds, if the source has them all."""
        return None

    def tally(self, unit: str, round_no: int) -> object:
        raise NotImplementedError

    def all_entries(self, unit: str, round_no: int) -> Iterator[bytes]:
        """Every entry of the log, in order (for --audited: was the audited ballot cast?)."""
        raise NotImplementedError

    def final_result(self) -> object | None:
        raise NotImplementedError


class SourceError(Exception):
    pass


class RecordSource(Source):
    def __init__(self, root: Path) -> None:
        self.record = Record(root)
        self._trees: dict[tuple[str, int], MerkleTree] = {}

    def _json(self, rel: str) -> object:
        value, error = self.record.read_json(rel)
        if error is not None:
            raise SourceError(f"{rel}: {error}")
        return value

    def _log(self, unit: str, round_no: int) -> MerkleTree:
        """The log's Merkle tree, rebuilt from the record's lines (leaf hashes only)."""
        key = (unit, round_no)
        if key not in self._trees:
            rel = f"units/{unit}/{round_no}/ballots.jsonl"
            if not self.record.exists(rel):
                raise SourceError(f"{rel}: missing")
            self._trees[key] = MerkleTree(line.leaf for line in self.record.iter_lines(rel))
        return self._trees[key]

    def manifest(self) -> object:
        return self._json("manifest.json")

    def entry(self, unit: str, round_no: int, index: int) -> bytes | None:
        rel = f"units/{unit}/{round_no}/ballots.jsonl"
        for line in self.record.iter_lines(rel):
            if line.number == index + 1:
                return line.data
        return None

    def inclusion(
        self, unit: str, round_no: int, index: int, leaf: bytes,
        accept: Callable[[str], bool] | None = None,
    ) -> str:
        tree = self._log(unit, round_no)
        notes = self.checkpoints(unit, round_no)
        if index >= tree.size:
            raise SourceError(f"the log holds {tree.size} entries, none at index {index}")
        for note in notes:  # the first checkpoint that covers the entry
            size = _note_size(note)
            if size is not None and index < size <= tree.size and (accept is None or accept(note)):
                proof = tree.inclusion_proof(index, size)
                lines = ["c2sp.org/tlog-proof@v1", f"index {index}", *map(b64_encode, proof), ""]
                return "".join(line + "\n" for line in lines) + note
        raise SourceError("no checkpoint of the record covers the entry")

    def checkpoints(self, unit: str, round_no: int) -> list[str]:
        notes, error = self.record.checkpoint_notes(f"units/{unit}/{round_no}/checkpoints.txt")
        if error is not None:
            raise SourceError(f"units/{unit}/{round_no}/checkpoints.txt: {error}")
        return [n.text for n in notes]

    def consistency(self, unit: str, round_no: int, size1: int, size2: int) -> list[bytes]:
        tree = self._log(unit, round_no)
        if not 0 <= size1 <= size2 <= tree.size:
            raise SourceError(f"the log holds {tree.size} entries, not {size2}")
        return tree.consistency_proof(size1, size2)

    def root(self, unit: str, round_no: int, size: int) -> bytes | None:
        tree = self._log(unit, round_no)
        return tree.root(size) if size <= tree.size else None

    def size(self, unit: str, round_no: int) -> int | None:
        return self._log(unit, round_no).size

    def tally(self, unit: str, round_no: int) -> object:
        return self._json(f"units/{unit}/{round_no}/tally.json")

    def all_entries(self, unit: str, round_no: int) -> Iterator[bytes]:
        rel = f"units/{unit}/{round_no}/ballots.jsonl"
        if not self.record.exists(rel):
            return
        for line in self.record.iter_lines(rel):
            if line.data is not None:
                yield line.data

    def final_result(self) -> object | None:
        if not self.record.exists("results/final.json"):
            return None
        return self._json("results/final.json")


class ServiceSource(Source):
    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def _get(self, path: str, limit: int = MAX_RESPONSE) -> bytes:
        url = self.base + path
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                data: bytes = response.read(limit + 1)
        except urllib.error.HTTPError as exc:
            detail = ""
            try:
                problem = strict_loads(exc.read(65536))
                if isinstance(problem, dict):
                    detail = f": {problem.get('detail') or problem.get('title')}"
            except (JSONProblem, OSError):
                pass
            raise SourceError(f"GET {url}: HTTP {exc.code}{detail}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SourceError(f"GET {url}: {exc}") from None
        if len(data) > limit:
            raise SourceError(f"GET {url}: response larger than {limit} bytes")
        return data

    def _json(self, path: str, limit: int = MAX_RESPONSE) -> object:
        try:
            return strict_loads(self._get(path, limit))
        except JSONProblem as exc:
            raise SourceError(f"GET {self.base + path}: {exc}") from None

    def _round(self, unit: str, round_no: int) -> str:
        return f"/api/v1/units/{urllib.parse.quote(unit, safe='')}/rounds/{round_no}"

    def manifest(self) -> object:
        # the rolls make it the one large answer: as large as the verifier takes it
        return self._json("/api/v1/manifest", MAX_MANIFEST_BYTES)

    def entry(self, unit: str, round_no: int, index: int) -> bytes | None:
        page = self._json(f"{self._round(unit, round_no)}/entries?start={index}&limit=1")
        entries = page.get("entries") if isinstance(page, dict) else None
        if not isinstance(entries, list) or not entries:
            raise SourceError(f"the service returned no entry at index {index}")
        try:
            return canonical_json(entries[0])
        except EncodingError as exc:
            raise SourceError(f"the entry is not canonicalisable JSON: {exc}") from None

    def inclusion(
        self, unit: str, round_no: int, index: int, leaf: bytes,
        accept: Callable[[str], bool] | None = None,
    ) -> str:
        data = self._get(f"{self._round(unit, round_no)}/receipts/{index}")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise SourceError("the tlog-proof is not UTF-8") from None

    def checkpoints(self, unit: str, round_no: int) -> list[str]:
        doc = self._json(f"{self._round(unit, round_no)}/checkpoints")
        rows = doc.get("checkpoints") if isinstance(doc, dict) else None
        if not isinstance(rows, list):
            raise SourceError("the checkpoints answer has no list of checkpoints")
        notes = []
        for row in rows:
            if not isinstance(row, dict) or not isinstance(row.get("note"), str):
                raise SourceError("a checkpoint row has no note")
            notes.append(str(row["note"]))
        return notes

    def consistency(self, unit: str, round_no: int, size1: int, size2: int) -> list[bytes]:
        doc = self._json(f"{self._round(unit, round_no)}/proof/consistency?from={size1}&to={size2}")
        if not isinstance(doc, dict) or doc.get("size1") != size1 or doc.get("size2") != size2:
            raise SourceError("the consistency answer is not for the sizes asked")
        proof = doc.get("proof")
        if not isinstance(proof, list):
            raise SourceError("the consistency answer has no proof list")
        try:
            return [bytes.fromhex(h) for h in proof]
        except (ValueError, TypeError):
            raise SourceError("the consistency proof is not a list of hex hashes") from None

    def tally(self, unit: str, round_no: int) -> object:
        return self._json(f"{self._round(unit, round_no)}/tally")

    def all_entries(self, unit: str, round_no: int) -> Iterator[bytes]:
        start = 0
        while True:
            page = self._json(f"{self._round(unit, round_no)}/entries?start={start}")
            entries = page.get("entries") if isinstance(page, dict) else None
            if not isinstance(entries, list):
                raise SourceError("the entries answer has no list of entries")
            if not entries:
                return
            for entry in entries:
                try:
                    yield canonical_json(entry)
                except EncodingError as exc:
                    raise SourceError(f"an entry is not canonicalisable JSON: {exc}") from None
            start += len(entries)

    def final_result(self) -> object | None:
        try:
            return self._json("/api/v1/results/final")
        except SourceError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise


def _proof_note(text: str) -> str:
    """The checkpoint note at the end of a tlog-proof text ("" if it has none)."""
    try:
        return parse_tlog_proof(text).checkpoint
    except CheckpointError:
        return ""


def _note_size(note: str) -> int | None:
    try:
        return Checkpoint.parse(parse_note(note).text).size
    except (NoteError, CheckpointError):
        return None


# -- the checks --------------------------------------------------------------------------------


@dataclass
class Facts:
    receipt: dict[str, Any]
    origin: str = ""
    log_key: NoteVerifier | None = None
    commission: list[NoteVerifier] = field(default_factory=list)
    commission_keys: dict[str, VerifyKey] = field(default_factory=dict)
    leaf: bytes = b""
    included: Checkpoint | None = None
    final: Checkpoint | None = None
    witnesses: WitnessPolicy | None = None
    manifest_hash: bytes = b""
    roll_key: str = ""
    unit_candidates: list[str] = field(default_factory=list)
    election_key: str = ""
    kept_ballot: bytes | None = None  # --ballot: the exact ballot the elector's device sent
    candidates: list[str] = field(default_factory=list)  # the round's, as the entry names them
    registered: int = 0  # the unit's roll, in the manifest


def check_receipt(
    receipt: object,
    source: Source,
    verdict: Verdict,
    pinned: VerifyKey | str | None = None,
    kept_ballot: bytes | None = None,
    trust: Trust | None = None,
) -> None:
    current = "R1"
    try:
        facts = _r1_receipt(receipt, verdict)
        facts.kept_ballot = kept_ballot
        steps: list[tuple[str, Callable[[], None]]] = [
            ("R2", lambda: _r2_manifest(facts, source, verdict, pinned, trust)),
            ("R3", lambda: _r3_promise(facts, verdict)),
            ("R4", lambda: _r4_entry(facts, source, verdict)),
            ("R5", lambda: _r5_inclusion(facts, source, verdict)),
            ("R6", lambda: _r6_consistency(facts, source, verdict)),
            ("R7", lambda: _r7_tally(facts, source, verdict)),
        ]
        for current, step in steps:  # noqa: B007 - `current` names the failing check below
            step()
    except Stop:
        return
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        # a signed document or a service answer of an unexpected shape: that check fails, with
        # the reason, never a traceback
        verdict.failed(current, f"malformed data ({type(exc).__name__}: {exc})")


def _r1_receipt(receipt: object, verdict: Verdict) -> Facts:
    problem = schema_problem(ReceiptSchema(), receipt)
    if problem is not None or not isinstance(receipt, dict):
        raise verdict.stop("R1", problem or "not a JSON object")
    try:
        leaf = bytes.fromhex(receipt["leaf_hash"])
    except ValueError:
        raise verdict.stop("R1", "leaf_hash is not hex") from None
    verdict.passed(
        "R1",
        f"{receipt['elector']} in unit {receipt['unit']} round {receipt['round']}, "
        f"entry {receipt['index']}",
    )
    return Facts(receipt, leaf=leaf)


def _r1_receipt_only(receipt: object, verdict: Verdict) -> None:
    with contextlib.suppress(Stop):
        _r1_receipt(receipt, verdict)


def _pinned_key(pinned: VerifyKey | str | None, keys: dict[str, VerifyKey]) -> VerifyKey | None:
    """The pinned key: given as a key, or as its fingerprint (crypto/fingerprint.py), the form
    printed on the elector's envelope. ValueError if the fingerprint is of no manifest key."""
    if not isinstance(pinned, str):
        return pinned
    for key in keys.values():
        if key_fingerprint(key.raw) == pinned:
            return key
    raise ValueError(
        f"the pinned commission key fingerprint {pinned} is not that of a key in the manifest: "
        "this is not the commission's election"
    )


def _r2_manifest(
    facts: Facts,
    source: Source,
    verdict: Verdict,
    pinned_as: VerifyKey | str | None,
    trust: Trust | None = None,
) -> None:
    r = facts.receipt
    if pinned_as is None and trust is not None:
        pinned_as = trust.commission_key  # the trust file's commission key is pinned as well
    try:
        document = source.manifest()
    except SourceError as exc:
        raise verdict.stop("R2", str(exc)) from None
    payload = document.get("payload") if isinstance(document, dict) else None
    if not isinstance(payload, dict):
        raise verdict.stop("R2", "the manifest is not a signed document")
    try:
        keys = {k.key_id: k for k in (VerifyKey.from_hex(h) for h in payload["commission"]["keys"])}
        try:
            pinned = _pinned_key(pinned_as, keys)
        except ValueError as exc:
            raise verdict.stop("R2", str(exc)) from None
        allowed = {pinned.key_id: pinned} if pinned is not None else keys
        if pinned is not None and pinned.key_id not in keys:
            raise verdict.stop("R2", "the pinned commission key is not in the manifest")
        open_document(document, allowed, Context.MANIFEST)
        manifest_hash = hash_json(MANIFEST_HASH_TAG, payload)
        units = {u["code"]: u for u in payload["units"]}
        origin = str(payload["origin"])
        name = str(payload["commission"]["name"])
        facts.commission = [NoteVerifier.from_key(name, k) for k in keys.values()]
        facts.witnesses = WitnessPolicy.from_manifest(payload.get("witnesses"))
    except (EnvelopeError, EncodingError, NoteError, KeyError, TypeError, PolicyError) as exc:
        raise verdict.stop("R2", f"the manifest does not check: {exc}") from None
    facts.commission_keys = keys
    differences = trust.differences(payload, manifest_hash) if trust is not None else []
    if differences:
        assert trust is not None
        raise verdict.stop(
            "R2", f"refused: the manifest differs from {trust.source}: " + "; ".join(differences)
        )
    if manifest_hash.hex() != r["election"]:
        raise verdict.stop("R2", "the receipt is for another election (manifest hash differs)")
    unit = units.get(r["unit"])
    if unit is None:
        raise verdict.stop("R2", f"the manifest has no unit {r['unit']}")
    roll = unit.get("roll") if isinstance(unit, dict) else None
    if not isinstance(roll, list):
        raise verdict.stop("R2", f"the manifest's unit {r['unit']} has no roll list")
    entry = next(
        (e for e in roll if isinstance(e, dict) and e.get("elector") == r["elector"]), None
    )
    if entry is None:
        raise verdict.stop("R2", f"{r['elector']} is not on the roll of {r['unit']}")
    facts.roll_key = str(entry.get("public_key"))
    facts.registered = len(roll)
    facts.unit_candidates = [str(c.get("id")) for c in unit.get("candidates", [])]
    facts.election_key = str(payload.get("election_key"))
    facts.manifest_hash = manifest_hash
    try:
        facts.log_key = NoteVerifier.parse(unit["log_key"])
    except (NoteError, KeyError) as exc:
        raise verdict.stop("R2", f"the unit's log key is unusable: {exc}") from None
    if facts.log_key.name != f"{origin}/{r['unit']}":
        raise verdict.stop("R2", f"the unit's log key is named {facts.log_key.name!r}")
    facts.origin = f"{origin}/{r['unit']}/{r['round']}"
    fingerprints = ", ".join(key_fingerprint(k.raw) for k in facts.commission_keys.values())
    verdict.passed(
        "R2", f"election fingerprint {election_fingerprint_of_hash(manifest_hash)}, commission key "
        f"fingerprint {fingerprints}; log {facts.origin}"
    )


def _r3_promise(facts: Facts, verdict: Verdict) -> None:
    r = facts.receipt
    assert facts.log_key is not None
    try:
        text = verify_note(r["promise"], [facts.log_key]).text
    except NoteError as exc:
        why = f"the promise is not signed by the unit's log key: {exc}"
        raise verdict.stop("R3", why) from None
    expected = f"{PROMISE_HEADER}\n{facts.origin}\n{r['index']}\n{b64_encode(facts.leaf)}\n"
    if text != expected:
        raise verdict.stop(
            "R3", "the signed promise is for another log, index or leaf hash than the receipt"
        )
    verdict.passed("R3", f"signed by {facts.log_key.name}")


def _r4_entry(facts: Facts, source: Source, verdict: Verdict) -> None:
    r = facts.receipt
    try:
        data = source.entry(r["unit"], r["round"], r["index"])
    except SourceError as exc:
        raise verdict.stop("R4", str(exc)) from None
    if data is None:
        raise verdict.stop("R4", f"the log has no entry at index {r['index']}")
    if leaf_hash(data) != facts.leaf:
        raise verdict.stop("R4", f"the entry at index {r['index']} has another leaf hash")
    try:
        entry = strict_loads(data)
    except JSONProblem as exc:
        raise verdict.stop("R4", f"the entry is not JSON: {exc}") from None
    if not isinstance(entry, dict) or (entry.get("elector"), entry.get("unit"), entry.get(
        "round"
    )) != (r["elector"], r["unit"], r["round"]):
        raise verdict.stop("R4", "the entry is not this elector's ballot for this unit and round")
    # the log could hold, in the elector's name, a ballot the elector never signed
    try:
        roll_key = VerifyKey.from_hex(facts.roll_key)
    except EncodingError as exc:
        raise verdict.stop("R4", f"the elector's roll key is unusable: {exc}") from None
    if not verify_ballot_signature(entry, roll_key):
        raise verdict.stop(
            "R4", "the logged entry is not signed by the elector's key: the elector did not cast it"
        )
    selections = entry.get("selections")
    named = [
        str(s.get("candidate"))
        for s in (selections if isinstance(selections, list) else [])
        if isinstance(s, dict)
    ]
    facts.candidates = named
    if r["round"] == 1 and named != facts.unit_candidates:
        raise verdict.stop("R4", "the entry does not run every candidate of round 1")
    if not named or not set(named) <= set(facts.unit_candidates) or len(set(named)) != len(named):
        raise verdict.stop("R4", "the entry names candidates that are not the unit's")
    try:
        election_key = Point.from_hex(facts.election_key)
    except EncodingError as exc:
        raise verdict.stop("R4", f"the manifest's election key is unusable: {exc}") from None
    reason = check_ballot(
        facts.manifest_hash, r["unit"], r["round"], r["elector"], named, entry, election_key
    )
    if reason is not None:
        raise verdict.stop("R4", f"the logged ballot is invalid: {reason}")
    kept = ""
    if facts.kept_ballot is not None:
        try:
            mine = canonical_json(strict_loads(facts.kept_ballot))
        except JSONProblem as exc:
            raise verdict.stop("R4", f"the kept ballot file is not JSON: {exc}") from None
        if mine != data:
            raise verdict.stop(
                "R4", "the logged entry is not the ballot your device kept: it was replaced"
            )
        kept = ", and is byte for byte the ballot you kept"
    verdict.passed(
        "R4",
        f"entry {r['index']} has leaf hash {facts.leaf.hex()[:16]}..., is signed by "
        f"{r['elector']}'s key and its proofs hold{kept}",
    )


def _r5_inclusion(facts: Facts, source: Source, verdict: Verdict) -> None:
    r = facts.receipt
    assert facts.log_key is not None
    policy = facts.witnesses
    witnessed = policy.has_quorum if policy is not None else None
    if r["proof"] is not None and (witnessed is None or witnessed(_proof_note(r["proof"]))):
        label, text = "the receipt's tlog-proof", str(r["proof"])
    else:  # none, or under a checkpoint that lacks the witnesses' quorum: ask the source
        label = f"a proof from the {_kind(source)}"
        try:
            text = source.inclusion(r["unit"], r["round"], r["index"], facts.leaf, witnessed)
        except SourceError as exc:
            not_yet = "HTTP 404" in str(exc) and "no checkpoint" in str(exc)
            if isinstance(source, ServiceSource) and not_yet:
                raise verdict.wait(
                    "R5", "no signed checkpoint covers your entry yet: check again in a few "
                    "minutes (the service issues one every few casts or seconds)"
                ) from None
            raise verdict.stop("R5", str(exc)) from None
    if policy is not None and not policy.has_quorum(_proof_note(text)):
        raise verdict.stop(
            "R5", f"{label} is under a checkpoint without a quorum of {policy.quorum} valid "
            "witness cosignatures"
        )
    try:
        if parse_tlog_proof(text).index != r["index"]:
            raise verdict.stop("R5", f"{label} is for another index")
        cp = verify_tlog_proof(text, facts.leaf, facts.log_key, facts.origin)
    except CheckpointError as exc:
        raise verdict.stop("R5", f"{label}: {exc}") from None
    facts.included = cp
    cosigned = f", cosigned by a quorum of {policy.quorum} witnesses" if policy else ""
    verdict.passed(
        "R5", f"{label}: entry {r['index']} is in the signed checkpoint of size {cp.size}"
        f"{cosigned}"
    )


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _kind(source: Source) -> str:
    return "record" if isinstance(source, RecordSource) else "service"


def _r6_consistency(facts: Facts, source: Source, verdict: Verdict) -> None:
    r = facts.receipt
    assert facts.log_key is not None and facts.included is not None
    try:
        notes = source.checkpoints(r["unit"], r["round"])
    except SourceError as exc:
        raise verdict.stop("R6", str(exc)) from None
    if not notes:
        raise verdict.stop("R6", "the log has no checkpoints")
    final_note = notes[-1]
    try:
        final = open_checkpoint(final_note, facts.log_key, facts.origin)
        is_final = checkpoint_facts(final).final
    except CheckpointError as exc:
        raise verdict.stop("R6", f"the last checkpoint does not verify: {exc}") from None
    if not is_final:
        _r6_pending(facts, source, verdict, final)
    for position, note in enumerate(notes[:-1], start=1):
        # a second 'final' earlier in the log is the trace of a prefix passed off as closed
        try:
            early = checkpoint_facts(Checkpoint.parse(parse_note(note).text))
        except (NoteError, CheckpointError) as exc:
            why = f"checkpoint {position} of the log is malformed: {exc}"
            raise verdict.stop("R6", why) from None
        if early.final or _countersigned(note, facts.commission):
            raise verdict.stop(
                "R6", f"checkpoint {position} of the log is also final or countersigned: only the "
                "last checkpoint may be"
            )
    try:
        verify_note(final_note, facts.commission)
    except NoteError as exc:
        raise verdict.stop(
            "R6", f"the last checkpoint is not countersigned by the commission (round not "
            f"closed?): {exc}"
        ) from None
    if facts.witnesses is not None and not facts.witnesses.has_quorum(final_note):
        raise verdict.stop(
            "R6", f"the final checkpoint lacks a quorum of {facts.witnesses.quorum} valid witness "
            "finality statements ('<witness>/final' lines)"
        )
    old = facts.included
    if old.size > final.size:
        raise verdict.stop("R6", f"the checkpoint of size {old.size} is beyond the final one")
    try:
        proof = source.consistency(r["unit"], r["round"], old.size, final.size)
    except SourceError as exc:
        raise verdict.stop("R6", str(exc)) from None
    if not verify_consistency(old.size, final.size, proof, old.root, final.root):
        raise verdict.stop(
            "R6", f"the checkpoint of size {old.size} is not a prefix of the final one "
            f"(size {final.size}): the log was rewritten"
        )
    held = source.size(r["unit"], r["round"])
    if held is not None and held != final.size:
        raise verdict.stop(
            "R6", f"the record's log holds {held} entries, the final checkpoint {final.size}"
        )
    recomputed = source.root(r["unit"], r["round"], final.size)
    if recomputed is not None and recomputed != final.root:
        raise verdict.stop("R6", "the record's entries do not hash to the final checkpoint's root")
    facts.final = final
    verdict.passed(
        "R6", f"size {old.size} -> final size {final.size}, countersigned by the commission"
        + (", cosigned by a quorum of witnesses" if facts.witnesses is not None else "")
    )


def _r6_pending(facts: Facts, source: Source, verdict: Verdict, newest: Checkpoint) -> None:
    """The round is still open: no final checkpoint yet, which is normal. What can be checked
    now is checked (the checkpoint holding the entry is a prefix of the newest one: nothing
    was removed so far); the rest waits for the close."""
    r = facts.receipt
    old = facts.included
    assert old is not None
    if isinstance(source, RecordSource) or old.size > newest.size:
        raise verdict.stop("R6", "the last checkpoint has no 'final' line: the round is not closed")
    try:
        proof = source.consistency(r["unit"], r["round"], old.size, newest.size)
    except SourceError as exc:
        raise verdict.stop("R6", str(exc)) from None
    if not verify_consistency(old.size, newest.size, proof, old.root, newest.root):
        raise verdict.stop(
            "R6", f"the checkpoint of size {old.size} is not a prefix of the newest one "
            f"(size {newest.size}): the log was rewritten"
        )
    raise verdict.wait(
        "R6", f"round {r['round']} of {r['unit']} is not closed yet. Checked so far: your entry "
        f"is in the signed checkpoint of size {old.size}, a prefix of the newest (size "
        f"{newest.size}). Remaining: the final checkpoint countersigned by the commission (R6) "
        "and the tally (R7). Check again after the round closes."
    )


def _countersigned(note: str, commission: list[NoteVerifier]) -> bool:
    try:
        verify_note(note, commission)
    except NoteError:
        return False
    return True


def _r7_tally(facts: Facts, source: Source, verdict: Verdict) -> None:
    r = facts.receipt
    assert facts.final is not None
    final = {"size": facts.final.size, "root": facts.final.root.hex()}
    try:
        tally = source.tally(r["unit"], r["round"])
    except SourceError as exc:
        if isinstance(source, ServiceSource) and "HTTP 404" in str(exc):
            raise verdict.wait(
                "R7", f"round {r['round']} of {r['unit']} is closed and its final checkpoint "
                "checks; its tally is not computed yet. Check again after the commission "
                "publishes the results."
            ) from None
        raise verdict.stop("R7", str(exc)) from None
    if not isinstance(tally, dict) or tally.get("final_checkpoint") != final:
        raise verdict.stop("R7", "the round's tally was not computed over the final checkpoint")
    if tally.get("candidates") != facts.candidates:
        raise verdict.stop("R7", "the round's tally runs other candidates than your ballot")
    detail = f"the tally of {r['unit']} round {r['round']} covers the final checkpoint"
    void = 2 * facts.final.size <= facts.registered
    if void:
        # void whatever the votes, so never decrypted (docs/rules.md): a decryption would only
        # reveal votes, yours among them
        decrypted = tally.get("counts") is not None or tally.get("blank") is not None
        if tally.get("partials") or decrypted:
            raise verdict.stop("R7", VOID_DECRYPTED)
        detail = (
            f"{r['unit']} round {r['round']} had no quorum ({facts.final.size} of "
            f"{facts.registered} registered took part) and was not decrypted; its encrypted tally "
            "covers the final checkpoint"
        )
        verdict.void = True
    try:
        result = source.final_result()
    except SourceError as exc:
        raise verdict.stop("R7", f"the final result: {exc}") from None
    if result is None:
        verdict.passed("R7", detail + " (no final result published yet)")
        return
    try:
        payload = open_document(result, facts.commission_keys, Context.TALLY)
    except EnvelopeError as exc:
        raise verdict.stop("R7", f"the final result: {exc}") from None
    if payload.get("format") != RESULTS_FORMAT or payload.get("kind") != "final":
        raise verdict.stop("R7", f"the final result is not a {RESULTS_FORMAT} final result")
    if payload.get("election") != r["election"]:
        raise verdict.stop("R7", "the final result is for another election")
    units = payload.get("units")
    if not isinstance(units, list):
        raise verdict.stop("R7", "the final result has no list of units")
    rounds = [
        rd
        for unit in units
        if isinstance(unit, dict) and unit.get("unit") == r["unit"]
        for rd in _list(unit.get("rounds"))
        if isinstance(rd, dict) and rd.get("round") == r["round"]
    ]
    if len(rounds) != 1 or rounds[0].get("final_checkpoint") != final:
        raise verdict.stop("R7", "the signed final result does not report this final checkpoint")
    if void and (rounds[0].get("status") != "void" or rounds[0].get("votes") is not None):
        raise verdict.stop(
            "R7", "the signed final result reports counts for a round without quorum"
        )
    verdict.passed("R7", detail + ", and so does the commission-signed final result")


# -- command line ------------------------------------------------------------------------------


def _print_text(verdict: Verdict, quiet: bool) -> None:
    r = verdict.receipt
    if not quiet:
        print(f"Receipt: {r}")
        if verdict.trust:
            print(f"Trust: {verdict.trust}")
        print()
        for item in verdict.items.values():
            mark = "WAIT" if item.pending else {True: "PASS", False: "FAIL", None: "----"}[item.ok]
            print(f"{item.id} {mark}  {TITLES[item.id]}")
            if item.detail:
                print(f"        {item.detail}")
            elif item.ok is None:
                print("        not reached")
        print()
    if verdict.ok and verdict.void:
        print(
            "VERDICT: PASS - the ballot is in the log, unchanged; its round had no quorum, so its "
            "tally was not decrypted"
        )
    elif verdict.ok:
        print("VERDICT: PASS - the ballot is in the log, unchanged, and the final tally counted it")
    elif verdict.pending:
        waiting = next(i for i in verdict.items.values() if i.pending)
        print(
            f"VERDICT: PENDING ({waiting.id}) - nothing is wrong so far; the rest can only be "
            f"checked later: {waiting.detail}"
        )
    else:
        failed = [i.id for i in verdict.items.values() if i.ok is False]
        print(f"VERDICT: FAIL ({', '.join(failed)}) - the receipt is not confirmed")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="verify_receipt.py",
        description="Check an elector's receipt against an election record or the live service.",
    )
    parser.add_argument("receipt", type=Path, nargs="?", help="the receipt JSON file")
    parser.add_argument(
        "--audited",
        type=Path,
        metavar="FILE",
        help="instead: check a ballot the booth revealed in an audit (kz-tally/audited-ballot/v1)",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--record", type=Path, help="an exported election record directory")
    where.add_argument("--url", help="the service's base URL, e.g. http://127.0.0.1:8080")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--quiet", action="store_true", help="print only the verdict")
    parser.add_argument(
        "--commission-key",
        metavar="KEY",
        help="pin the commission's key: 64 hex digits, or its fingerprint as on the envelope",
    )
    parser.add_argument(
        "--trust",
        type=Path,
        metavar="FILE",
        help="a trust file (kz-tally/trust/v1, docs/formats.md): the commission key, election "
        "fingerprint, guardian and witness keys you got out of band; any difference is refused",
    )
    parser.add_argument(
        "--ballot",
        type=Path,
        metavar="FILE",
        help="the ballot your device kept when casting: the logged entry must be exactly it",
    )
    args = parser.parse_args(argv)

    pinned: VerifyKey | str | None = None
    if args.commission_key:
        text = args.commission_key.strip().lower()
        try:
            pinned = VerifyKey.from_hex(text) if len(text) == 64 else normalise(text)
        except (EncodingError, FingerprintError) as exc:
            print(
                f"verify_receipt.py: --commission-key: {exc}: give the commission's key (64 hex "
                "digits) or its fingerprint (32 letters, as printed on the envelope)",
                file=sys.stderr,
            )
            return EXIT_USAGE
    trust: Trust | None = None
    try:
        if args.trust is not None:
            trust = load_trust(args.trust)
        pinned = _combine_pins(trust, pinned)
    except TrustError as exc:
        print(f"verify_receipt.py: --trust {exc}", file=sys.stderr)
        return EXIT_USAGE
    if trust is None and pinned is None:
        print(f"verify_receipt.py: {UNPINNED}", file=sys.stderr)
    if args.audited is not None:
        return _main_audited(args, pinned, trust)
    if args.receipt is None:
        parser.error("give a receipt file (or --audited FILE)")
    verdict = Verdict(str(args.receipt), trust=trust_line(trust, pinned))
    receipt: object = None
    kept: bytes | None = None
    if args.ballot is not None:
        try:
            kept = args.ballot.read_bytes()
        except OSError as exc:
            print(f"verify_receipt.py: --ballot: {exc}", file=sys.stderr)
            return EXIT_USAGE
    try:
        receipt = strict_loads(args.receipt.read_bytes())
    except (OSError, JSONProblem) as exc:
        verdict.failed("R1", f"cannot read the receipt: {exc}")
    else:
        scratch: list[Path] = []
        try:
            source: Source
            if args.record is None:
                source = ServiceSource(args.url)
            else:
                try:
                    source = RecordSource(open_record(args.record, scratch).root)
                except RecordOpenError as exc:  # checked as R2, after the receipt itself
                    source = RecordSource(args.record)
                    verdict.failed("R2", str(exc))
            if verdict.items["R2"].ok is None:
                check_receipt(receipt, source, verdict, pinned, kept, trust)
            else:
                _r1_receipt_only(receipt, verdict)
        finally:
            for folder in scratch:
                shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        json.dump(verdict.to_json(), sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        _print_text(verdict, args.quiet)
    r2 = verdict.items["R2"]
    if r2.ok is False and r2.detail.startswith("refused:"):
        print(f"verify_receipt.py: {r2.detail}", file=sys.stderr)
    return EXIT_PASS if verdict.ok else EXIT_PENDING if verdict.pending else EXIT_FAIL


def _combine_pins(trust: Trust | None, pinned: VerifyKey | str | None) -> VerifyKey | str | None:
    """--commission-key (a key or its fingerprint) and the trust file's commission key must
    agree; TrustError if they do not."""
    if isinstance(pinned, str):
        if trust is not None and trust.commission_key is not None:
            if key_fingerprint(trust.commission_key.raw) != pinned:
                raise TrustError("--commission-key differs from the trust file's commission_key")
            return trust.commission_key
        return pinned
    return combine_pins(trust, pinned)


def _main_audited(
    args: argparse.Namespace, pinned: VerifyKey | str | None, trust: Trust | None
) -> int:
    from scripts.verifier.audited import check_audited_file

    scratch: list[Path] = []
    try:
        audited = strict_loads(args.audited.read_bytes())
        source: Source = (
            ServiceSource(args.url)
            if args.record is None
            else RecordSource(open_record(args.record, scratch).root)
        )
        manifest = source.manifest()
        payload = manifest.get("payload") if isinstance(manifest, dict) else None
        differences = (
            trust.differences(payload, hash_json(MANIFEST_HASH_TAG, payload))
            if trust is not None and isinstance(payload, dict)
            else []
        )
        if differences:
            assert trust is not None
            ok, line = False, f"refused: the manifest differs from {trust.source}: {differences[0]}"
        else:
            try:
                listed = manifest["payload"]["commission"]["keys"]  # type: ignore[index]
                keys = {k.key_id: k for k in (VerifyKey.from_hex(h) for h in listed)}
                pin = _pinned_key(pinned, keys)
            except (KeyError, TypeError, EncodingError) as exc:
                raise SourceError(f"the manifest has no list of commission keys ({exc})") from None
            except ValueError as exc:
                raise SourceError(str(exc)) from None
            ok, line = check_audited_file(audited, manifest, pin)
            if ok:
                ok, line = _audited_not_cast(audited, source, line)
    except (OSError, JSONProblem, RecordOpenError, SourceError) as exc:
        ok, line = False, str(exc)
    finally:
        for folder in scratch:
            shutil.rmtree(folder, ignore_errors=True)
    print(f"AUDITED {'PASS' if ok else 'FAIL'} - {args.audited}: {line}")
    return 0 if ok else 1


def _audited_not_cast(audited: Any, source: Source, line: str) -> tuple[bool, str]:
    """An audit reveals the vote: it must be of a ballot that was never cast. A booth that
    audits a ballot whose cast answer was lost reveals a vote that is in the public log
    (issue 25), so the log of the ballot's round is searched for its tracker."""
    from crypto.audit import tracker

    ballot = audited["ballot"]
    unit, round_no, elector = ballot["unit"], ballot["round"], ballot["elector"]
    wanted = audited["tracker"]
    checked = 0
    try:
        for index, data in enumerate(source.all_entries(unit, round_no)):
            checked += 1
            entry = json.loads(data)
            mine = isinstance(entry, dict) and entry.get("elector") == elector
            if mine and tracker(entry) == wanted:
                return False, (
                    f"this ballot WAS CAST: it is entry {index} of {unit}/{round_no}, and the "
                    "audit revealed its vote; tell the observers"
                )
    except SourceError as exc:
        if "HTTP 404" not in str(exc):  # a round never opened holds no ballot
            return False, f"cannot search the log of {unit}/{round_no} for it: {exc}"
    return True, f"{line}; it was never cast (not among the {checked} entries of {unit}/{round_no})"


if __name__ == "__main__":
    sys.exit(main())
