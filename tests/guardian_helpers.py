"""What the guardian tests share: the honest service through Flask's test client, a hostile
service that shows another "closed" log, and the forging of such a log with the operator's keys
(tests/test_guardian_state.py, tests/test_guardian_blinded.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crypto.ballot import ballot_ciphertexts
from crypto.checkpoint import Checkpoint, profile_extensions, sign_checkpoint
from crypto.elgamal import Ciphertext
from crypto.merkle import MerkleTree, leaf_hash
from crypto.note import add_signatures
from crypto.signing import SigningKey
from tally_service.common.problems import Problem
from tally_service.service import tally
from tally_service.service.app import create_app
from tally_service.service.election import Election

ORIGIN = "tally.example/test-election"
LOG = f"{ORIGIN}/AAA/1"


class AppClient:
    """The honest service, through Flask's test client (what ServiceClient does over HTTP:
    an answer of 400 or more is a Problem)."""

    session: Any = None  # set by a test that watches as a witness (what it posts)
    url = "http://service"

    def __init__(self, election: Election) -> None:
        self.http = create_app(election).test_client()

    def _answer(self, path: str, params: dict[str, Any]) -> Any:
        answer = self.http.get("/api/v1" + path, query_string=params)
        if answer.status_code >= 400:
            body = answer.get_json(silent=True) or {}
            raise Problem(answer.status_code, str(body.get("check", "http")),
                          str(body.get("detail", "")))
        return answer

    def get(self, path: str, **params: Any) -> Any:
        return self._answer(path, params).get_json()

    def get_text(self, path: str, **params: Any) -> str:
        text: str = self._answer(path, params).get_data(as_text=True)
        return text

    def post(self, path: str, read_timeout: float, data: bytes) -> Any:
        """ServiceClient.post as a guardian-as-witness uses it; a test's class gives the
        ``session`` (a capture) and ``url``."""
        return self.session.post(f"{self.url}{path}", data=data, timeout=read_timeout)


@dataclass
class Forged:
    """A "closed" log the hostile service shows: its entries and final checkpoint."""

    entries: list[bytes]
    note: str
    doc: dict[str, Any]


class HostileClient(AppClient):
    """Serves the real manifest, but another log for AAA round 1."""

    def __init__(self, election: Election, forged: Forged) -> None:
        super().__init__(election)
        self.forged = forged

    def get(self, path: str, **params: Any) -> Any:
        if path == "/units/AAA/rounds/1/checkpoints":
            return {"checkpoints": [{"size": len(self.forged.entries), "final": True,
                                     "note": self.forged.note, "issued_at": "x"}]}
        if path == "/units/AAA/rounds/1/entries":
            start = int(params.get("start", 0))
            return {"entries": [json.loads(e) for e in self.forged.entries[start:start + 50]]}
        return super().get(path, **params)


def operator_key(data: Path, name: str) -> SigningKey:
    """A key of the service's data directory, read as a hostile operator would."""
    return SigningKey.from_pem((data / "keys" / f"{name}.pem").read_bytes())


def forge(election: Election, data: Path, entries: list[bytes]) -> Forged:
    """A final checkpoint of AAA round 1 over ``entries``, signed with the real log and
    commission keys, and the tally document of that log, as a hostile service presents them."""
    tree = MerkleTree(leaf_hash(e) for e in entries)
    cp = Checkpoint(LOG, tree.size, tree.root(), profile_extensions("2023-01-14T09:00:00Z", True))
    note = sign_checkpoint(cp, [(f"{ORIGIN}/AAA", operator_key(data, "log-AAA"))])
    note = add_signatures(note, [(f"{ORIGIN}/commission", operator_key(data, "commission"))])
    sums = [Ciphertext.zero() for _ in range(3)]
    for e in entries:
        sums = [s + c for s, c in zip(sums, ballot_ciphertexts(json.loads(e)), strict=True)]
    doc = dict(tally.start_tally(election, "AAA", 1))
    doc.update(
        final_checkpoint={"size": cp.size, "root": cp.root.hex()},
        took_part=cp.size,
        encrypted=[s.to_json() for s in sums],
    )
    return Forged(entries, note, doc)


def open_checkpoint_note(data: Path, entries: list[bytes]) -> str:
    """A checkpoint (not final) of AAA round 1 over ``entries``, signed with the log key."""
    tree = MerkleTree(leaf_hash(e) for e in entries)
    cp = Checkpoint(LOG, tree.size, tree.root(),
                    profile_extensions("2023-01-14T08:00:00Z", False))
    return sign_checkpoint(cp, [(f"{ORIGIN}/AAA", operator_key(data, "log-AAA"))])
