"""What the checks learn and hand on to each other: the manifest as read by V1, the public
shares from V2, each log's recomputed facts (V3-V5) and each round's decided figures (V6-V8)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from crypto.checkpoint import Checkpoint
from crypto.elgamal import Ciphertext
from crypto.group import Point
from crypto.note import NoteVerifier
from crypto.rules import Outcome
from crypto.signing import VerifyKey
from crypto.witness_policy import WitnessPolicy


@dataclass
class UnitInfo:
    code: str
    candidates: list[str]
    roll: dict[str, int]  # elector id -> position on the roll
    roll_keys: list[str]  # public key hex, by roll position
    log_verifier: NoteVerifier | None

    @property
    def registered(self) -> int:
        return len(self.roll_keys)


@dataclass
class ManifestInfo:
    payload: dict[str, Any]
    hash: bytes
    election_id: str
    origin: str
    commission_name: str
    commission_keys: dict[str, VerifyKey]  # key id -> key
    commission_notes: list[NoteVerifier]
    election_key: Point | None
    n: int
    k: int
    units: dict[str, UnitInfo]  # in manifest order
    public_shares: dict[int, Point] = field(default_factory=dict)  # from V2
    witness_policy: WitnessPolicy | None = None  # the manifest's witnesses (issue 18)
    # identity key id -> (guardian index, key): V6 checks the partials' signatures with them
    guardian_keys: dict[str, tuple[int, VerifyKey]] = field(default_factory=dict)

    def origin_of(self, unit: str, round_no: int) -> str:
        return f"{self.origin}/{unit}/{round_no}"

    def key_name_of(self, unit: str) -> str:
        return f"{self.origin}/{unit}"


@dataclass
class LogFacts:
    """One log (unit, round) as recomputed from ballots.jsonl and checkpoints.txt."""

    unit: str
    round: int
    candidates: list[str] | None
    lines: int = 0
    root: bytes | None = None  # recomputed root over all lines
    final: Checkpoint | None = None  # the verified final checkpoint, if any
    sums: list[Ciphertext] | None = None  # component-wise sums (None if not computable)
    unreadable: int = 0  # ballots whose ciphertexts could not be read for the sum
    unreadable_lines: str = ""  # the first few of them, for messages


@dataclass
class RoundFacts:
    """One round's tally and decision."""

    unit: str
    round: int
    tally: dict[str, Any] | None = None
    tally_hash: bytes | None = None
    counts: dict[str, int] | None = None  # decrypted (V6) or, failing that, as claimed
    blank: int | None = None
    took_part: int | None = None
    outcome: Outcome | None = None
    figures: dict[str, Any] | None = None  # what results/*.json must say for this round
