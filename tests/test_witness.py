"""The C2SP tlog-witness: every answer of add-checkpoint, durable state, forks kept as evidence,
finality; and a real witness process killed with SIGKILL that still refuses the fork."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.cosignature import TYPE_ED25519, TYPE_MLDSA44, Cosigner, note_cosignatures
from crypto.merkle import MerkleTree, leaf_hash
from crypto.note import NoteVerifier
from crypto.signing import SigningKey
from crypto.tlog_witness import add_checkpoint_body
from tally_service.witness.core import Witness, read_logs_file

ORIGIN = "test.example/senate/AAA/1"
KEY_NAME = "test.example/senate/AAA"


class Log:
    """A log and its key, able to fork: ``leaves`` differ after ``fork_at``."""

    def __init__(self, key: SigningKey, tag: bytes = b"") -> None:
        self.key = key
        self.tree = MerkleTree()
        self.tag = tag

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier.from_key(KEY_NAME, self.key.public)

    def grow(self, n: int, tag: bytes | None = None) -> None:
        for _ in range(n):
            t = self.tag if tag is None else tag
            self.tree.append(leaf_hash(t + self.tree.size.to_bytes(8, "big")))

    def note(self, size: int | None = None, *extensions: str) -> str:
        size = self.tree.size if size is None else size
        cp = Checkpoint(ORIGIN, size, self.tree.root(size), tuple(extensions))
        return sign_checkpoint(cp, [(KEY_NAME, self.key)])

    def body(self, old: int, size: int | None = None, *extensions: str) -> bytes:
        size = self.tree.size if size is None else size
        proof = self.tree.consistency_proof(old, size) if old else []
        return add_checkpoint_body(old, proof, self.note(size, *extensions))


@pytest.fixture(params=[TYPE_ED25519, TYPE_MLDSA44], ids=["ed25519", "mldsa44"])
def cosigner(request: pytest.FixtureRequest) -> Cosigner:
    return Cosigner.generate("witness.example/w1", request.param)


@pytest.fixture
def log_key() -> SigningKey:
    return SigningKey.generate()


def _witness(cosigner: Cosigner, state: Path, key: SigningKey) -> Witness:
    return Witness(cosigner, state, {ORIGIN: NoteVerifier.from_key(KEY_NAME, key.public)})


def _cosigned(cosigner: Cosigner, note: str, line: str) -> int:
    _, valid = note_cosignatures(note + line, [cosigner.public])
    assert len(valid) == 1
    return valid[0].timestamp


def test_add_checkpoint_answers(tmp_path: Path, cosigner: Cosigner, log_key: SigningKey) -> None:
    w = _witness(cosigner, tmp_path / "w", log_key)
    log = Log(log_key)
    log.grow(5)
    a = w.add_checkpoint(log.body(0))
    assert a.status == 200, a.body
    _cosigned(cosigner, log.note(), a.body)
    log.grow(3)
    # wrong old size: 409 with the latest cosigned size, text/x.tlog.size
    a = w.add_checkpoint(log.body(0))
    assert (a.status, a.content_type, a.body) == (409, "text/x.tlog.size", "5\n")
    a = w.add_checkpoint(log.body(5))
    assert a.status == 200, a.body
    assert w.latest(ORIGIN) is not None and w.latest(ORIGIN).size == 8  # type: ignore[union-attr]
    # the same checkpoint again: cosigned again
    assert w.add_checkpoint(log.body(8)).status == 200
    # old size above the checkpoint's size: 400
    assert w.add_checkpoint(add_checkpoint_body(8, [], log.note(7))).status == 400
    # unknown origin 404, unknown key 403, malformed 400
    other = Log(SigningKey.generate())
    other.grow(8)
    assert w.add_checkpoint(log.body(8).replace(ORIGIN.encode(), b"x.example/x")).status in (
        403,
        404,
    )
    assert w.add_checkpoint(other.body(8)).status == 403
    for bad in (b"", b"old 01\n\n", b"old 8\nnot-base64\n\n", b"old 8\n", b"\xff"):
        answer = w.add_checkpoint(bad)
        assert answer.status == 400 and answer.content_type == "application/problem+json"
        assert json.loads(answer.body)["status"] == 400


def test_unknown_origin_is_404(tmp_path: Path, cosigner: Cosigner, log_key: SigningKey) -> None:
    w = Witness(cosigner, tmp_path / "w", {"other.example/log": Log(log_key).verifier})
    log = Log(log_key)
    log.grow(1)
    assert w.add_checkpoint(log.body(0)).status == 404


def test_fork_refused_and_kept_as_evidence(
    tmp_path: Path, cosigner: Cosigner, log_key: SigningKey
) -> None:
    w = _witness(cosigner, tmp_path / "w", log_key)
    honest, fork = Log(log_key), Log(log_key)
    honest.grow(4)
    fork.grow(4)
    assert w.add_checkpoint(honest.body(0)).status == 200
    honest.grow(4)
    fork.grow(4, tag=b"fork")
    assert w.add_checkpoint(honest.body(4)).status == 200
    # same size, other root: 409, evidence kept
    a = w.add_checkpoint(fork.body(8))
    assert a.status == 409 and "evidence" in a.body
    # a bigger fork with a proof from 8 that cannot verify: 422, evidence kept
    fork.grow(2, tag=b"fork")
    a = w.add_checkpoint(fork.body(8))
    assert a.status == 422 and "evidence" in a.body
    evidence = sorted((tmp_path / "w" / "evidence").iterdir())
    assert len(evidence) == 2
    text = evidence[0].read_text(encoding="utf-8")
    assert honest.note() in text and fork.note(8) in text
    # the witness's state is still the honest log; it goes on cosigning it
    honest.grow(1)
    assert w.add_checkpoint(honest.body(8)).status == 200


def test_state_is_durable(tmp_path: Path, cosigner: Cosigner, log_key: SigningKey) -> None:
    log, fork = Log(log_key), Log(log_key, b"fork")
    log.grow(3)
    fork.grow(3)
    assert _witness(cosigner, tmp_path / "w", log_key).add_checkpoint(log.body(0)).status == 200
    again = _witness(cosigner, tmp_path / "w", log_key)
    assert again.add_checkpoint(fork.body(0)).body == "3\n"
    assert again.add_checkpoint(fork.body(3)).status == 409


def test_torn_write_keeps_the_previous_state(
    tmp_path: Path, cosigner: Cosigner, log_key: SigningKey
) -> None:
    log, fork = Log(log_key), Log(log_key, b"fork")
    log.grow(3)
    w = _witness(cosigner, tmp_path / "w", log_key)
    assert w.add_checkpoint(log.body(0)).status == 200  # seq 1, both slots
    log.grow(2)
    assert w.add_checkpoint(log.body(3)).status == 200  # seq 2, slot 0
    slots = sorted((tmp_path / "w" / "logs").glob("*.json"))
    assert [p.name[-7:] for p in slots] == [".0.json", ".1.json"]
    assert _witness(cosigner, tmp_path / "w", log_key).latest(ORIGIN).size == 5  # type: ignore[union-attr]
    # a crash tore the write of seq 2: the witness is back at size 3 (it never answered for 5)
    slots[0].write_text(slots[0].read_text(encoding="utf-8")[:40], encoding="utf-8")
    again = _witness(cosigner, tmp_path / "w", log_key)
    assert again.latest(ORIGIN).size == 3  # type: ignore[union-attr]
    fork.grow(5)
    assert again.add_checkpoint(fork.body(3)).status == 422
    # both slots unreadable: the witness refuses to start rather than forget
    slots[1].write_text("garbage", encoding="utf-8")
    from tally_service.witness.core import WitnessError

    with pytest.raises(WitnessError, match="no intact"):
        _witness(cosigner, tmp_path / "w", log_key)


def test_final_ends_the_log(tmp_path: Path, cosigner: Cosigner, log_key: SigningKey) -> None:
    w = _witness(cosigner, tmp_path / "w", log_key)
    log = Log(log_key)
    log.grow(6)
    assert w.add_checkpoint(log.body(0, 6, "time 2023-01-14T12:00:00Z")).status == 200
    final = log.body(6, 6, "time 2023-01-14T13:00:00Z", "final")
    a = w.add_checkpoint(final)
    assert a.status == 200
    assert w.add_checkpoint(final).status == 200  # a retry of the final
    log.grow(1)
    assert w.add_checkpoint(log.body(6)).status == 410
    assert w.add_checkpoint(log.body(6, 6, "time 2023-01-14T14:00:00Z")).status == 410
    # and after a restart
    assert _witness(cosigner, tmp_path / "w", log_key).add_checkpoint(log.body(6)).status == 410


def test_a_final_gets_the_finality_statement_and_an_ordinary_checkpoint_never_does(
    tmp_path: Path, cosigner: Cosigner, log_key: SigningKey
) -> None:
    """Issue 24: asked for a final, the witness answers its ordinary cosignature and its
    finality statement (the line that counts for a final); asked for any other checkpoint, only
    the ordinary one. Both verify, each as what it is, and on a retry too."""
    from crypto.cosignature import finality_cosignatures, read_cosigned_note

    w = _witness(cosigner, tmp_path / "w", log_key)
    log = Log(log_key)
    log.grow(6)
    answer = w.add_checkpoint(log.body(0, 6, "time 2023-01-14T12:00:00Z"))
    assert answer.status == 200 and answer.body.count("\n") == 1
    assert f"{cosigner.name}/final" not in answer.body
    note = log.note(6, "time 2023-01-14T13:00:00Z", "final")
    for _ in range(2):  # the final, then a retry of it
        answer = w.add_checkpoint(add_checkpoint_body(6, [], note))
        assert answer.status == 200 and answer.body.count("\n") == 2
        checkpoint, signatures = read_cosigned_note(note + answer.body)
        _, ordinary = note_cosignatures(note + answer.body, [cosigner.public])
        finality = finality_cosignatures(checkpoint, signatures, [cosigner.public])
        assert len(ordinary) == 1 and len(finality) == 1
        assert finality[0].cosigner == cosigner.public
        assert finality[0].line.startswith(f"\u2014 {cosigner.name}/final ")


def test_a_final_smaller_than_a_cosigned_checkpoint_is_refused_and_kept(
    tmp_path: Path, cosigner: Cosigner, log_key: SigningKey
) -> None:
    """Issue 24, attack 1, at the witness: it cosigned size 10; the operator asks it to cosign
    a final at size 8 (the same root as the size-8 checkpoint it cosigned before). Refused:
    409 ``final-behind`` (400 if the old size claimed exceeds 8), both signed checkpoints kept; the
    log is not ended, so the real final at 10 is still cosigned."""
    w = _witness(cosigner, tmp_path / "w", log_key)
    log = Log(log_key)
    log.grow(8)
    assert w.add_checkpoint(log.body(0, 8, "time 2023-01-14T12:00:00Z")).status == 200
    log.grow(2)
    assert w.add_checkpoint(log.body(8, 10, "time 2023-01-14T12:01:00Z")).status == 200
    backdated = log.note(8, "time 2023-01-14T12:00:00Z", "final")
    for old in (0, 8):
        answer = w.add_checkpoint(add_checkpoint_body(old, [], backdated))
        assert answer.status == 409, (old, answer.body)
        assert json.loads(answer.body)["check"] == "final-behind"
    assert w.add_checkpoint(add_checkpoint_body(10, [], backdated)).status == 400  # old > size
    evidence = sorted((tmp_path / "w" / "evidence").iterdir())
    assert len(evidence) == 2 and backdated in evidence[0].read_text(encoding="utf-8")
    assert w.latest(ORIGIN).size == 10 and not w.latest(ORIGIN).final  # type: ignore[union-attr]
    assert w.add_checkpoint(log.body(10, 10, "time 2023-01-14T12:02:00Z", "final")).status == 200


def test_a_witness_watches_no_origin_that_reads_as_a_finality_statement(
    tmp_path: Path, cosigner: Cosigner, log_key: SigningKey
) -> None:
    """A log named ``<origin> final`` would get ordinary cosignatures whose signed message is
    the finality statement of ``<origin>`` (for cosignature/v1, which does not bind the
    name): the witness refuses to start with such a log."""
    from tally_service.witness.core import WitnessError

    with pytest.raises(WitnessError, match="finality"):
        Witness(cosigner, tmp_path / "w", {ORIGIN + " final": Log(log_key).verifier})


def test_logs_file(tmp_path: Path, log_key: SigningKey) -> None:
    path = tmp_path / "logs.txt"
    path.write_text(f"# comment\n{ORIGIN} {Log(log_key).verifier}\n", encoding="utf-8")
    assert list(read_logs_file(path)) == [ORIGIN]


@pytest.mark.slow
def test_witness_process_survives_kill_9(tmp_path: Path, log_key: SigningKey) -> None:
    from scripts.builders.witness_process import WitnessProcess
    from tally_service.cli import main

    key = tmp_path / "w.key"
    assert main(["witness", "keygen", "--name", "w.example/pq", "--out", str(key)]) == 0
    logs = tmp_path / "logs.txt"
    logs.write_text(f"{ORIGIN} {Log(log_key).verifier}\n", encoding="utf-8")
    state = tmp_path / "state"
    log, fork = Log(log_key), Log(log_key, b"fork")
    log.grow(10)
    fork.grow(10)
    witness = WitnessProcess(key, state, logs).start()
    try:
        r = requests.post(f"{witness.url}/add-checkpoint", data=log.body(0), timeout=10)
        assert r.status_code == 200
        vkey = requests.get(f"{witness.url}/vkey", timeout=10).text.strip()
        witness.kill()
        witness.start()
        r = requests.post(f"{witness.url}/add-checkpoint", data=fork.body(0), timeout=10)
        assert (r.status_code, r.text) == (409, "10\n")
        r = requests.post(f"{witness.url}/add-checkpoint", data=fork.body(10), timeout=10)
        assert r.status_code == 409
        assert r.headers["Content-Type"] == "application/problem+json"
        assert "evidence" in r.json()["detail"]
        r = requests.post(f"{witness.url}/add-checkpoint", data=log.body(10), timeout=10)
        assert r.status_code == 200
        assert requests.get(f"{witness.url}/nothing", timeout=10).status_code == 404
    finally:
        witness.stop()
    from crypto.cosignature import CosignerKey

    assert CosignerKey.parse(vkey).type_name == "subtree/v1"


def test_an_operator_sending_forks_without_end_cannot_fill_the_witness_disk(
    tmp_path: Path, log_key: SigningKey
) -> None:
    """Review of issue 24: the operator holds the log key and may send a witness the same fork
    any number of times (each up to a 1 MiB note). Every refusal wrote a new evidence file, so
    one hostile log could fill the disk of a witness that serves other elections too, until it
    failed with a traceback on every write of its state. The first pieces of evidence of a log
    prove the fork; after MAX_EVIDENCE_PER_LOG the witness still refuses, and keeps no more."""
    from tally_service.witness import core

    cosigner = Cosigner.generate("witness.example/w1", TYPE_ED25519)
    w = _witness(cosigner, tmp_path / "w", log_key)
    honest, fork = Log(log_key), Log(log_key, tag=b"fork")
    honest.grow(4)
    fork.grow(4)
    assert w.add_checkpoint(honest.body(0)).status == 200
    for _ in range(core.MAX_EVIDENCE_PER_LOG + 5):
        refused = w.add_checkpoint(fork.body(4))
        assert refused.status == 409 and refused.check == "fork"
    evidence = sorted((tmp_path / "w" / "evidence").iterdir())
    assert len(evidence) == core.MAX_EVIDENCE_PER_LOG
    assert "kept already" in json.loads(refused.body)["detail"]
    # a restart counts what is kept: still no more
    again = _witness(cosigner, tmp_path / "w", log_key)
    assert again.add_checkpoint(fork.body(4)).status == 409
    assert len(list((tmp_path / "w" / "evidence").iterdir())) == core.MAX_EVIDENCE_PER_LOG
