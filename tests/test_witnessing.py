"""Witnessed logs (issue 18): the policy's arithmetic, split views against honest and colluding
witnesses, and the service gathering cosignatures from real HTTP witnesses, some of them down."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.cosignature import TYPE_ED25519, TYPE_MLDSA44, Cosigner, add_cosignatures
from crypto.merkle import MerkleTree, leaf_hash
from crypto.note import NoteVerifier
from crypto.signing import SigningKey
from crypto.tlog_witness import add_checkpoint_body
from crypto.witness_policy import PolicyError, WitnessPolicy, manifest_section
from scripts.builders.witness_process import WitnessProcess
from tally_service.service.witnessing import start_witnessing
from tally_service.witness.core import Witness

ORIGIN = "test.example/e/AAA/1"
KEY_NAME = "test.example/e/AAA"


def _cosigners(n: int) -> list[Cosigner]:
    kinds = [TYPE_MLDSA44] + [TYPE_ED25519] * (n - 1)
    return [Cosigner.generate(f"w{i + 1}.example/witness", kinds[i]) for i in range(n)]


def test_policy_arithmetic() -> None:
    keys = [c.public for c in _cosigners(4)]
    WitnessPolicy.from_manifest(manifest_section(3, 1, keys))
    for q, f in [(2, 1), (2, 0), (3, 2), (5, 1), (0, 0)]:
        with pytest.raises(PolicyError):
            WitnessPolicy.from_manifest(manifest_section(q, f, keys))
    section = manifest_section(3, 1, keys)
    section["keys"][0]["type"] = "cosignature/v1"  # the first is ML-DSA-44
    with pytest.raises(PolicyError, match="type"):
        WitnessPolicy.from_manifest(section)


def test_init_checks_the_policy(tmp_path: Path) -> None:
    from scripts.builders.sample import UnitSpec, build_election
    from tally_service.service.setup import SetupError

    keys = [c.public for c in _cosigners(4)]
    with pytest.raises(SetupError, match="colluding"):
        build_election(
            tmp_path / "e",
            [UnitSpec("AAA", "A", 2, 3)],
            witnesses={**manifest_section(3, 1, keys), "quorum": 2},
        )


class ForkingLog:
    """A hostile log operator who holds the log key and keeps two histories."""

    def __init__(self) -> None:
        self.key = SigningKey.generate()
        self.trees = {"A": MerkleTree(), "B": MerkleTree()}
        for tag, tree in self.trees.items():
            for i in range(6):
                tree.append(leaf_hash(b"common" + bytes([i])))
            for i in range(3):
                tree.append(leaf_hash(tag.encode() + bytes([i])))

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier.from_key(KEY_NAME, self.key.public)

    def note(self, fork: str) -> str:
        tree = self.trees[fork]
        cp = Checkpoint(ORIGIN, tree.size, tree.root())
        return sign_checkpoint(cp, [(KEY_NAME, self.key)])

    def submit(self, witness: Witness, fork: str) -> str | None:
        """Show the fork to a witness (first the common prefix): its cosignature line or None."""
        tree = self.trees[fork]
        latest = witness.latest(ORIGIN)
        old = latest.size if latest is not None else 0
        proof = tree.consistency_proof(old, tree.size) if old else []
        answer = witness.add_checkpoint(add_checkpoint_body(old, proof, self.note(fork)))
        return answer.body if answer.status == 200 else None


def _split_view(
    tmp_path: Path, honest_order: tuple[str, ...], colluders: int
) -> tuple[bool, bool]:
    """n = 4, q = 3, f = 1. Honest witnesses each see the forks in the given order; colluding
    witnesses cosign both (a second state directory per fork). Which forks reach a quorum?"""
    log = ForkingLog()
    cosigners = _cosigners(4)
    policy = WitnessPolicy.from_manifest(manifest_section(3, 1, [c.public for c in cosigners]))
    assert policy is not None
    notes = {"A": log.note("A"), "B": log.note("B")}
    for i, cosigner in enumerate(cosigners):
        if i < colluders:
            for fork in "AB":
                w = Witness(cosigner, tmp_path / f"w{i}-{fork}", {ORIGIN: log.verifier})
                line = log.submit(w, fork)
                assert line is not None
                notes[fork] = add_cosignatures(notes[fork], [line])
        else:
            w = Witness(cosigner, tmp_path / f"w{i}", {ORIGIN: log.verifier})
            first = honest_order[i - colluders]
            for fork in (first, "B" if first == "A" else "A"):
                line = log.submit(w, fork)
                if fork == first:
                    assert line is not None
                    notes[fork] = add_cosignatures(notes[fork], [line])
                else:
                    assert line is None  # an honest witness never cosigns the other fork
    return policy.has_quorum(notes["A"]), policy.has_quorum(notes["B"])


@pytest.mark.parametrize("colluders", [0, 1])
def test_split_view_never_gathers_two_quorums(tmp_path: Path, colluders: int) -> None:
    honest = 4 - colluders
    for n, order in enumerate(itertools.product("AB", repeat=honest)):
        a, b = _split_view(tmp_path / f"{colluders}-{n}", order, colluders)
        assert not (a and b), order


def test_split_view_with_f_plus_one_colluders(tmp_path: Path) -> None:
    """With f + 1 = 2 colluding witnesses, the honest split 1-1 gives both forks a quorum: the
    bound 2q - n >= f + 1 is tight."""
    assert _split_view(tmp_path, ("A", "B"), colluders=2) == (True, True)


def test_unknown_cosigners_do_not_count(tmp_path: Path) -> None:
    log = ForkingLog()
    members, strangers = _cosigners(4), _cosigners(4)
    policy = WitnessPolicy.from_manifest(manifest_section(3, 1, [c.public for c in members]))
    assert policy is not None
    note = log.note("A")
    for i, stranger in enumerate(strangers):  # same names, other keys
        w = Witness(stranger, tmp_path / f"s{i}", {ORIGIN: log.verifier})
        note = add_cosignatures(note, [log.submit(w, "A") or ""])
    assert not policy.has_quorum(note)
    for i, member in enumerate(members[:2]):
        w = Witness(member, tmp_path / f"m{i}", {ORIGIN: log.verifier})
        note = add_cosignatures(note, [log.submit(w, "A") or ""])
    assert not policy.has_quorum(note)
    w = Witness(members[2], tmp_path / "m2", {ORIGIN: log.verifier})
    assert policy.has_quorum(add_cosignatures(note, [log.submit(w, "A") or ""]))


def test_final_counts_only_finality_statements(tmp_path: Path) -> None:
    """Issue 24: ordinary cosignatures, of either type and whatever their time, never make a
    final; the witnesses' finality statements do, whatever the final's ``time`` line says."""
    key = SigningKey.generate()
    cosigners = _cosigners(4)
    policy = WitnessPolicy.from_manifest(manifest_section(3, 1, [c.public for c in cosigners]))
    assert policy is not None
    tree = MerkleTree([leaf_hash(b"x")])
    close = 1_673_697_600  # 2023-01-14T12:00:00Z
    final = Checkpoint(ORIGIN, 1, tree.root(), ("time 2023-01-14T12:00:00Z", "final"))
    note = sign_checkpoint(final, [(KEY_NAME, key)])
    ordinary = add_cosignatures(note, [c.cosign(final, close + 60).line() for c in cosigners])
    assert not policy.has_quorum(ordinary)
    assert policy.counted_unverified(ordinary) == 0
    early = close - 3600  # the operator's time line is no bound any more
    finality = [c.cosign_final(final, early).line() for c in cosigners[:3]]
    signed = add_cosignatures(ordinary, finality[:2])
    assert not policy.has_quorum(signed) and policy.counted_unverified(signed) == 2
    signed = add_cosignatures(signed, finality[2:])
    assert policy.has_quorum(signed) and policy.counted_unverified(signed) == 3
    # a finality statement counts for a final only: on the same checkpoint without ``final``
    # it is a line of an unknown key, and an ordinary checkpoint needs ordinary cosignatures
    plain = Checkpoint(ORIGIN, 1, tree.root(), ("time 2023-01-14T12:00:00Z",))
    plain_note = add_cosignatures(sign_checkpoint(plain, [(KEY_NAME, key)]), finality)
    assert not policy.has_quorum(plain_note) and policy.counted_unverified(plain_note) == 0


# --- the service with witnesses over HTTP -----------------------------------------------------


def _wait(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def witnessed(tmp_path: Path) -> Iterator[tuple[Any, list[WitnessProcess], dict[str, Any]]]:
    from scripts.builders.sample import UnitSpec, build_election
    from tally_service.service.config import Config
    from tally_service.service.election import Election

    cosigners = _cosigners(4)
    section = manifest_section(3, 1, [c.public for c in cosigners])
    data = tmp_path / "election"
    keys = build_election(
        data, [UnitSpec("AAA", "A", 2, 8)], guardians=3, threshold=2, witnesses=section
    )
    election = Election(data, Config(checkpoint_every=2, checkpoint_seconds=0.2))
    logs = tmp_path / "logs.txt"
    logs.write_text(
        "".join(
            f"{election.manifest.origin('AAA', r)} {election.manifest.log_verifiers['AAA']}\n"
            for r in (1, 2)
        ),
        encoding="utf-8",
    )
    witnesses = []
    for i, cosigner in enumerate(cosigners):
        key = tmp_path / f"w{i}.key"
        key.write_text(cosigner.private_text(), encoding="ascii")
        witnesses.append(WitnessProcess(key, tmp_path / f"w{i}", logs).start())
    start_witnessing(election, {c.name: w.url for c, w in zip(cosigners, witnesses, strict=True)})
    election.start_checkpointer()
    try:
        yield election, witnesses, keys
    finally:
        election.stop()
        for w in witnesses:
            w.stop()


def _ballot(election: Any, keys: dict[str, Any], elector: str) -> dict[str, Any]:
    from tally_service.elector.ballot import make_ballot

    return make_ballot(
        election.manifest.hash,
        "AAA",
        1,
        elector,
        election.log("AAA", 1).candidates,
        "AAA-C1",
        election.manifest.election_key,
        keys[elector],
    )


@pytest.mark.slow
def test_service_publishes_only_witnessed_checkpoints(witnessed: Any) -> None:
    from tally_service.common.problems import Problem
    from tally_service.service import tally

    election, witnesses, keys = witnessed
    policy = election.manifest.witness_policy
    election.open_round("AAA", 1)
    log = election.log("AAA", 1)
    electors = sorted(keys)
    for elector in electors[:2]:
        election.cast(_ballot(election, keys, elector))
    assert _wait(lambda: log.published()[1] == 2)
    assert policy.has_quorum(log.published()[0])
    # one witness down (SIGKILL): the quorum is still reached
    witnesses[0].kill()
    for elector in electors[2:4]:
        election.cast(_ballot(election, keys, elector))
    assert _wait(lambda: log.published()[1] == 4)
    # two down: casting goes on, with receipts, but no new checkpoint becomes current
    witnesses[1].kill()
    began = time.monotonic()
    for elector in electors[4:6]:
        receipt, created = election.cast(_ballot(election, keys, elector))
        assert created and receipt["promise"]
    assert time.monotonic() - began < 5
    assert _wait(lambda: log.checkpoint_size == 6)
    time.sleep(0.5)
    assert log.published()[1] == 4
    assert election.tlog_proof(log, 4) is None  # no proof under a checkpoint without quorum
    assert election.tlog_proof(log, 1) is not None
    election.close_round("AAA", 1)
    with pytest.raises(Problem, match="quorum of 3 witness cosignatures"):
        tally.start_tally(election, "AAA", 1)
    # a witness comes back (kept its state): the final reaches the quorum; tallying may start
    witnesses[1].start()
    assert _wait(lambda: log.published()[1] == 6)
    rows = election.store.checkpoints("AAA", 1)
    assert rows[-1].final and policy.has_quorum(rows[-1].note)
    assert _wait(lambda: _tallies(tally, election))
    proof = election.tlog_proof(log, 5)
    assert proof is not None and policy.has_quorum(proof.split("\n\n", 1)[1])


def _tallies(tally: Any, election: Any) -> bool:
    from tally_service.common.problems import Problem

    try:
        tally.start_tally(election, "AAA", 1)
    except Problem:
        return False
    return True


@pytest.mark.slow
def test_a_guardian_witnesses_in_pull_mode(tmp_path: Path) -> None:
    """Two push witnesses are not a quorum of 3; the guardian's watch, which serves nothing,
    cosigns what it accepted and posts it back, and the checkpoint becomes current. A key the
    manifest does not list is refused."""
    import requests

    from scripts.builders.process import ServerProcess
    from scripts.builders.sample import UnitSpec, build_election
    from tally_service.common.client import ServiceClient
    from tally_service.guardian.state import GuardianState
    from tally_service.guardian.watch import watch_once
    from tally_service.service.config import Config
    from tally_service.service.election import Election

    cosigners = _cosigners(4)
    guardian_key = cosigners[3]
    section = manifest_section(3, 1, [c.public for c in cosigners])
    data = tmp_path / "election"
    keys = build_election(data, [UnitSpec("AAA", "A", 2, 4)], witnesses=section)
    election = Election(data, Config())
    election.open_round("AAA", 1)
    manifest = election.manifest
    ballot = _ballot(election, keys, sorted(keys)[0])
    logs = tmp_path / "logs.txt"
    logs.write_text(
        f"{manifest.origin('AAA', 1)} {manifest.log_verifiers['AAA']}\n", encoding="utf-8"
    )
    election.stop()
    push = []
    for i, cosigner in enumerate(cosigners[:2]):
        key = tmp_path / f"w{i}.key"
        key.write_text(cosigner.private_text(), encoding="ascii")
        push.append(WitnessProcess(key, tmp_path / f"w{i}", logs).start())
    args = [
        a for c, w in zip(cosigners, push, strict=False) for a in ("--witness", f"{c.name}={w.url}")
    ]
    state = GuardianState(tmp_path / "guardian")
    state.pin_ceremony(
        manifest.election_id, manifest.body["election_key"], manifest.body["ceremony_hash"]
    )
    try:
        with ServerProcess(data, "--checkpoint-every", "1", *args) as server:
            base = f"{server.url}/api/v1/units/AAA/rounds/1"
            assert requests.post(f"{server.url}/api/v1/ballots", json=ballot, timeout=30).ok

            def cosigned_by_two() -> bool:
                rows = requests.get(f"{base}/checkpoints", timeout=30).json()["checkpoints"]
                last = rows[-1]["note"]
                return rows[-1]["size"] == 1 and sum(
                    1 for line in last.split("\n") if line.startswith("— w")
                ) == 2

            assert _wait(cosigned_by_two)
            assert requests.get(f"{base}/checkpoint", timeout=30).status_code == 404
            client = ServiceClient(server.url)
            stranger = watch_once(client, state, Cosigner.generate("x.example/g", TYPE_ED25519))
            assert stranger.cosigned == []
            report = watch_once(client, state, guardian_key)
            assert report.refusals == [] and report.cosigned
            current = requests.get(f"{base}/checkpoint", timeout=30)
            assert current.status_code == 200
            assert f"— {guardian_key.name} " in current.text
            assert manifest.witness_policy is not None
            assert manifest.witness_policy.has_quorum(current.text)
            # a cosignature by a key the manifest does not list is refused
            note = requests.get(f"{base}/checkpoints", timeout=30).json()["checkpoints"][-1]
            other = Cosigner.generate(guardian_key.name, TYPE_ED25519)
            line = other.cosign(Checkpoint.parse(note["note"].split("\n\n")[0] + "\n"), 1).line()
            log_only = note["note"].split("\n— w")[0] + "\n"  # the log's signature only
            refused = requests.post(
                f"{base}/cosignatures", data=(log_only + line).encode(), timeout=30
            )
            assert refused.status_code == 422
            assert refused.headers["Content-Type"] == "application/problem+json"
            after = requests.get(f"{base}/checkpoints", timeout=30).json()["checkpoints"][-1]
            assert line.split(" ")[2] not in after["note"]
    finally:
        for w in push:
            w.stop()


class EndlessWitness:
    """A hostile witness: it answers add-checkpoint with 64 KiB every 10 ms, without end, until
    the reader hangs up (or the test stops it); ``sent`` counts the bytes."""

    def __init__(self) -> None:
        from tests.follow_helpers import ThreadServer

        self.sent = 0
        self.stopped = threading.Event()
        self.server = ThreadServer(self._app)
        self.url = self.server.url

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        chunk = b"\xe2\x80\x94 " + b"A" * (64 * 1024 - 4) + b"\n"
        while not self.stopped.wait(0.01):
            self.sent += len(chunk)
            yield chunk

    def stop(self) -> None:
        self.stopped.set()
        self.server.stop()


def test_a_witness_answering_without_end_is_a_failed_round_not_a_flood(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Follow-up of the caps (tally_service/common/answers.py): the service read each witness's
    answer to add-checkpoint whole, so a hostile witness answering without end filled the
    service's memory (its read timeout counts only the silence between two bytes). The answer
    is now read to a few signature lines' worth (64 KiB) within a deadline; past it, that
    witness failed this round of witnessing, as a witness that is down does: logged, retried
    later, and its thread goes on."""
    from scripts.builders.sample import UnitSpec, build_election
    from tally_service.service.config import Config
    from tally_service.service.election import Election
    from tally_service.service.witnessing import Witnessing

    cosigners = _cosigners(4)
    data = tmp_path / "election"
    build_election(data, [UnitSpec("AAA", "A", 2, 2)],
                   witnesses=manifest_section(3, 1, [c.public for c in cosigners]))
    election = Election(data, Config())
    hostile = EndlessWitness()
    try:
        election.open_round("AAA", 1)
        witnessing = Witnessing(election, {cosigners[1].name: hostile.url}, interval=0.05)
        one_pass = threading.Thread(target=witnessing.sync, daemon=True)
        one_pass.start()
        one_pass.join(timeout=10)
        assert not one_pass.is_alive(), f"still reading the witness's answer ({hostile.sent} B)"
        # the answer is cut off at its cap: what the sockets' buffers took besides is small
        assert hostile.sent < 8 * 1024 * 1024, hostile.sent
        assert (
            f"witness {cosigners[1].name}: the witness's answer to POST {hostile.url}"
            "/add-checkpoint is larger than 65536 bytes"
        ) in caplog.text
        # in the service's own thread: a failure of the round, retried, never the thread's end
        witness = witnessing.witnesses[0]
        witness.last_sent.clear()
        witnessing.start()
        assert _wait(lambda: witness.failures >= 2, timeout=10), witness.failures
        assert all(thread.is_alive() for thread in witnessing._threads)
        assert "unexpected error" not in caplog.text
        witnessing.stop()
    finally:
        hostile.stop()
        election.stop()
