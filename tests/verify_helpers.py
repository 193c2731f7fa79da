"""Shared by the verifier's tests: a small election record, ways to run the verifier, and the
tools a tamperer would use (the real log and commission keys, from the data directory)."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crypto.canonical import b64_encode
from crypto.checkpoint import Checkpoint, profile_extensions, sign_checkpoint
from crypto.envelope import sign_document
from crypto.merkle import MerkleTree, leaf_hash
from crypto.note import add_signatures, parse_note
from crypto.signing import Context, SigningKey
from scripts.builders.sample import UnitSpec
from scripts.builders.simulate import SimulatedElection, run_election

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"
PYTHON = sys.executable

from scripts.verifier import receipt as receipt_checker  # noqa: E402
from scripts.verifier.report import Report  # noqa: E402
from scripts.verifier.run import verify_record  # noqa: E402

__all__ = ["Report", "receipt_checker"]

# AAA elects in round 1; BBB splits 40/40/20 and goes to a runoff; CCC lacks a quorum.
UNITS = [
    UnitSpec("AAA", "Unit A", candidates=3, electors=15),
    UnitSpec("BBB", "Unit B", candidates=3, electors=20, kind="city"),
    UnitSpec("CCC", "Unit C", candidates=2, electors=12),
]
TURNOUT = {"AAA": 0.9, "BBB": 0.9, "CCC": 0.4}
ORIGIN = "tally.example/test-election"
COMMISSION_NAME = f"{ORIGIN}/commission"


def make_chooser() -> Any:
    counters: dict[tuple[str, int], itertools.count[int]] = {}

    def chooser(
        unit: str, round_no: int, candidates: Sequence[str], rng: random.Random
    ) -> str | None:
        n = next(counters.setdefault((unit, round_no), itertools.count()))
        if unit == "BBB" and round_no == 1:
            return [candidates[0], candidates[1], candidates[0], candidates[1], candidates[2]][
                n % 5
            ]
        if unit == "BBB":  # the runoff: the second candidate wins, with a blank ballot
            return [candidates[1], candidates[1], candidates[0], None][n % 4]
        return [candidates[0], candidates[0], candidates[1], None][n % 4]

    return chooser


@dataclass
class Built:
    record: Path
    data_dir: Path
    sim: SimulatedElection

    def log_key(self, unit: str) -> SigningKey:
        return SigningKey.from_pem((self.data_dir / "keys" / f"log-{unit}.pem").read_bytes())

    def commission_key(self) -> SigningKey:
        return SigningKey.from_pem((self.data_dir / "keys" / "commission.pem").read_bytes())


def build_record(base: Path) -> Built:
    data, record = base / "data", base / "record"
    sim = run_election(
        data,
        UNITS,
        turnout=TURNOUT,
        chooser=make_chooser(),
        guardians=3,
        threshold=2,
        record=record,
        checkpoint_every=4,
    )
    return Built(record, data, sim)


def verify(record: Path, jobs: int = 1, **kwargs: Any) -> Report:
    return verify_record(record, jobs=jobs, **kwargs)


def run_script(script: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, str(SCRIPTS / script), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


# -- editing a record ----------------------------------------------------------------------


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def notes_of(path: Path) -> list[str]:
    """The signed notes of a checkpoints.txt."""
    parts = path.read_text(encoding="utf-8").split("\n\n")
    return [
        parts[i] + "\n\n" + parts[i + 1] + ("" if i + 2 == len(parts) else "\n")
        for i in range(0, len(parts), 2)
    ]


def write_notes(path: Path, notes: list[str]) -> None:
    path.write_text("\n".join(notes), encoding="utf-8")


def checkpoint_of(note: str) -> Checkpoint:
    return Checkpoint.parse(parse_note(note).text)


def sign_log_checkpoint(
    built: Built,
    unit: str,
    round_no: int,
    size: int,
    root: bytes,
    final: bool = False,
    at: str = "2023-01-14T05:00:00Z",
) -> str:
    """A checkpoint signed with the unit's real log key, as a dishonest operator could."""
    cp = Checkpoint(f"{ORIGIN}/{unit}/{round_no}", size, root, profile_extensions(at, final))
    return sign_checkpoint(cp, [(f"{ORIGIN}/{unit}", built.log_key(unit))])


def reseal_log(built: Built, record: Path, unit: str, round_no: int) -> None:
    """Rewrite a log's checkpoints over its current lines with the real keys, as a dishonest
    operator holding them could: every 4 lines and at the end, the last countersigned."""
    folder = record / "units" / unit / str(round_no)
    tree = MerkleTree(leaf_hash(line) for line in lines_of(folder / "ballots.jsonl"))
    sizes = sorted({*range(0, tree.size, 4), tree.size})
    notes = [sign_log_checkpoint(built, unit, round_no, s, tree.root(s)) for s in sizes]
    final = sign_log_checkpoint(built, unit, round_no, tree.size, tree.root(), final=True)
    notes.append(add_signatures(final, [(COMMISSION_NAME, built.commission_key())]))
    write_notes(folder / "checkpoints.txt", notes)


def resign_result(built: Built, path: Path, key: SigningKey | None = None) -> None:
    """Sign a results file's (edited) payload again, by default with the commission key."""
    doc = read_json(path)
    write_json(path, sign_document(doc["payload"], key or built.commission_key(), Context.TALLY))


def b64(data: bytes) -> str:
    return b64_encode(data)


def audit_line(built: Built, record: Path, seq: int, key: SigningKey | None = None,
               nonce: str | None = None) -> bytes:
    """An audit.jsonl line for a commission request (default: signed by the commission)."""
    from crypto.canonical import hash_json
    from tally_service.common.requests import sign_request

    manifest = read_json(record / "manifest.json")["payload"]
    signer = key or built.commission_key()
    request = sign_request(
        signer, hash_json("kz-tally/v1/manifest", manifest).hex(), "checkpoint",
        {"unit": "AAA", "round": 1}, nonce=nonce,
    )
    line = {"seq": seq, "at": "2023-01-14T10:00:00.000Z", "key_id": signer.public.key_id,
            "action": "checkpoint", "request": request}
    return json.dumps(line, sort_keys=True).encode()
