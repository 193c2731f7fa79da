"""A witness restarted from an older copy of its state (issue 24, attack 9).

The attack: a witness's state directory is restored from a backup taken at size 5; the witness
had since cosigned size 8. Restarted, it would cosign a fork of size 8 (with the f colluders the
policy tolerates, both histories reach the quorum). ``witness serve`` now refuses to start with a
state older than the marker beside its key, with a state that is not its key's, and refuses to
serve once a submitted note shows its own cosignature on a checkpoint its state does not know.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from crypto.cosignature import TYPE_ED25519, TYPE_MLDSA44, Cosigner
from crypto.signing import SigningKey
from crypto.tlog_witness import add_checkpoint_body
from tally_service.common.rollback import BINDING_FILE, LATCH_FILE, marker_path
from tally_service.witness.core import Witness, WitnessError
from tests.test_witness import ORIGIN, Log

FORK_TAG = b"fork"


@pytest.fixture(params=[TYPE_ED25519, TYPE_MLDSA44], ids=["ed25519", "mldsa44"])
def cosigner(request: pytest.FixtureRequest) -> Cosigner:
    return Cosigner.generate("witness.example/w1", request.param)


def _witness(cosigner: Cosigner, state: Path, log: Log, key_file: Path | None) -> Witness:
    marker = marker_path(key_file) if key_file is not None else None
    return Witness(cosigner, state, {ORIGIN: log.verifier}, key_marker=marker)


def _restored(tmp_path: Path, cosigner: Cosigner, key_file: Path | None) -> tuple[Log, Path]:
    """Cosign size 5, back the state up, cosign size 8, restore the backup: (log, state)."""
    log = Log(SigningKey.generate())
    state, backup = tmp_path / "state", tmp_path / "backup"
    w = _witness(cosigner, state, log, key_file)
    log.grow(5)
    assert w.add_checkpoint(log.body(0)).status == 200
    shutil.copytree(state, backup)
    log.grow(3)
    assert w.add_checkpoint(log.body(5)).status == 200
    shutil.rmtree(state)
    shutil.copytree(backup, state)
    return log, state


def _fork_of_8(log: Log) -> Log:
    """The same log key, the same first 5 entries, 3 others."""
    fork = Log(log.key)
    fork.grow(5)
    fork.grow(3, tag=FORK_TAG)
    assert fork.tree.root(5) == log.tree.root(5) and fork.tree.root() != log.tree.root()
    return fork


def test_a_restored_state_is_refused_at_start(tmp_path: Path, cosigner: Cosigner) -> None:
    key_file = tmp_path / "w1.key"
    log, state = _restored(tmp_path, cosigner, key_file)
    with pytest.raises(WitnessError, match=r"older copy.*compromise of its key"):
        _witness(cosigner, state, log, key_file)


def test_without_the_marker_the_restored_witness_cosigns_a_fork(
    tmp_path: Path, cosigner: Cosigner
) -> None:
    """What the marker prevents (the attack of the issue): the restored state, its binding
    off, cosigns a fork of size 8."""
    log, state = _restored(tmp_path, cosigner, None)
    restored = _witness(cosigner, state, log, None)
    fork = _fork_of_8(log)
    assert restored.add_checkpoint(fork.body(5)).status == 200


def test_its_own_cosignature_beyond_its_state_stops_the_witness(
    tmp_path: Path, cosigner: Cosigner
) -> None:
    """A restored state (the marker gone with it) is shown the real size-8 note with the
    witness's own cosignature on it: it refuses that and everything after (503 rolled-back),
    and refuses to start again."""
    log = Log(SigningKey.generate())
    state, backup = tmp_path / "state", tmp_path / "backup"
    w = _witness(cosigner, state, log, None)
    log.grow(5)
    assert w.add_checkpoint(log.body(0)).status == 200
    shutil.copytree(state, backup)
    log.grow(3)
    answer = w.add_checkpoint(log.body(5))
    assert answer.status == 200
    cosigned_8 = log.note() + answer.body
    shutil.rmtree(state)
    shutil.copytree(backup, state)
    restored = _witness(cosigner, state, log, None)
    refused = restored.add_checkpoint(
        add_checkpoint_body(5, log.tree.consistency_proof(5), cosigned_8)
    )
    assert refused.status == 503, refused.body
    assert json.loads(refused.body)["check"] == "rolled-back"
    assert "compromise of its key" in json.loads(refused.body)["detail"]
    fork = _fork_of_8(log)
    assert restored.add_checkpoint(fork.body(5)).status == 503  # latched: no fork either
    assert (state / LATCH_FILE).exists()
    with pytest.raises(WitnessError, match="compromise of its key"):
        _witness(cosigner, state, log, None)


def test_its_own_finality_statement_on_a_final_it_forgot_stops_the_witness(
    tmp_path: Path, cosigner: Cosigner
) -> None:
    log = Log(SigningKey.generate())
    state, backup = tmp_path / "state", tmp_path / "backup"
    w = _witness(cosigner, state, log, None)
    log.grow(5)
    assert w.add_checkpoint(log.body(0, 5, "time 2023-01-14T12:00:00Z")).status == 200
    shutil.copytree(state, backup)
    final = log.note(5, "time 2023-01-14T13:00:00Z", "final")
    answer = w.add_checkpoint(add_checkpoint_body(5, [], final))
    assert answer.status == 200
    shutil.rmtree(state)
    shutil.copytree(backup, state)
    restored = _witness(cosigner, state, log, None)
    refused = restored.add_checkpoint(add_checkpoint_body(5, [], final + answer.body))
    assert refused.status == 503 and "no final" in json.loads(refused.body)["detail"]


def test_own_lines_on_what_it_remembers_are_fine(tmp_path: Path, cosigner: Cosigner) -> None:
    """A retry carrying the witness's own line on the size it remembers is answered as usual,
    and a line under its name that does not verify is not its own: no alarm."""
    log = Log(SigningKey.generate())
    w = _witness(cosigner, tmp_path / "state", log, tmp_path / "w1.key")
    log.grow(5)
    answer = w.add_checkpoint(log.body(0))
    assert answer.status == 200
    again = w.add_checkpoint(add_checkpoint_body(5, [], log.note() + answer.body))
    assert again.status == 200
    log.grow(1)  # its size-5 line pasted on size 6: its key ID, but it does not verify there
    pasted = add_checkpoint_body(5, log.tree.consistency_proof(5), log.note() + answer.body)
    assert w.add_checkpoint(pasted).status == 200
    assert w.rolled_back is None


def test_key_and_state_must_belong_together(tmp_path: Path, cosigner: Cosigner) -> None:
    log = Log(SigningKey.generate())
    key_file, state = tmp_path / "w1.key", tmp_path / "state"
    w = _witness(cosigner, state, log, key_file)
    log.grow(2)
    assert w.add_checkpoint(log.body(0)).status == 200
    # the same key with an emptied (or new) state directory: it would forget what it cosigned
    with pytest.raises(WitnessError, match="is not it"):
        _witness(cosigner, tmp_path / "empty", log, key_file)
    # another key with this state
    other = Cosigner.generate("witness.example/w2", cosigner.kind)
    with pytest.raises(WitnessError, match="another witness key"):
        _witness(other, state, log, tmp_path / "w2.key")
    # this key's marker lost (the key moved without it)
    moved = tmp_path / "moved.key"
    with pytest.raises(WitnessError, match=r"marker .* is missing"):
        _witness(cosigner, state, log, moved)
    # a marker that names another state directory of the same key
    shutil.copy(marker_path(key_file), marker_path(moved))
    (state / BINDING_FILE).write_text(
        json.dumps({"vkey": str(cosigner.public), "state_id": "00" * 16}), encoding="utf-8"
    )
    with pytest.raises(WitnessError, match="another state directory"):
        _witness(cosigner, state, log, moved)


def test_a_marker_behind_the_state_is_accepted(tmp_path: Path, cosigner: Cosigner) -> None:
    """The marker is written after the state: a power cut between the two leaves it one
    update behind the state (accepted), the state never behind it."""
    log = Log(SigningKey.generate())
    key_file, state = tmp_path / "w1.key", tmp_path / "state"
    w = _witness(cosigner, state, log, key_file)
    log.grow(2)
    assert w.add_checkpoint(log.body(0)).status == 200
    lagging = marker_path(key_file).read_text(encoding="utf-8")
    log.grow(2)
    assert w.add_checkpoint(log.body(2)).status == 200
    marker = json.loads(marker_path(key_file).read_text(encoding="utf-8"))
    assert marker["generation"] == 2 and marker["vkey"] == str(cosigner.public)
    marker_path(key_file).write_text(lagging, encoding="utf-8")
    again = _witness(cosigner, state, log, key_file)
    assert again.latest(ORIGIN).size == 4  # type: ignore[union-attr]


def test_a_state_from_before_markers_is_adopted(tmp_path: Path, cosigner: Cosigner) -> None:
    log = Log(SigningKey.generate())
    state = tmp_path / "state"
    w = _witness(cosigner, state, log, None)
    log.grow(2)
    assert w.add_checkpoint(log.body(0)).status == 200
    key_file = tmp_path / "w1.key"
    adopted = _witness(cosigner, state, log, key_file)
    assert adopted.guard is not None and adopted.guard.generation == 1
    assert (state / BINDING_FILE).exists() and marker_path(key_file).exists()


@pytest.mark.slow
def test_witness_serve_refuses_a_restored_state_in_one_line(tmp_path: Path) -> None:
    """The command: one line naming the cause and the remedy, a non-zero exit, no traceback."""
    cosigner = Cosigner.generate("witness.example/w1", TYPE_ED25519)
    key_file = tmp_path / "w1.key"
    key_file.write_text(cosigner.private_text() + "\n", encoding="ascii")
    log, state = _restored(tmp_path, cosigner, key_file)
    logs = tmp_path / "logs.txt"
    logs.write_text(f"{ORIGIN} {log.verifier}\n", encoding="utf-8")
    args = ["--key", str(key_file), "--state", str(state), "--logs", str(logs), "--port", "0"]
    done = subprocess.run(
        [sys.executable, "-m", "tally_service", "witness", "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "older copy" in done.stderr and "new key" in done.stderr


def test_the_service_shows_a_rolled_back_witness_its_own_cosignature(tmp_path: Path) -> None:
    """An honest service whose witness comes back from a backup (it reports size 2, while the
    service holds its cosignature of size 4) sends it that cosigned checkpoint: the witness
    sees its own line beyond its state and stops for good, instead of cosigning on."""
    from crypto.witness_policy import manifest_section
    from scripts.builders.sample import UnitSpec, build_election
    from scripts.builders.simulate import SimulatedElection, _local_witnesses
    from tally_service.service.config import Config
    from tally_service.service.election import Election
    from tally_service.service.witnessing import _local_transport
    from tests.test_witness_finality import UNIT, _cast

    cosigners = [Cosigner.generate(f"w{i}.example/witness", TYPE_ED25519) for i in (1, 2, 3)]
    data = tmp_path / "data"
    keys = build_election(
        data,
        [UnitSpec(UNIT, "Unit A", candidates=2, electors=8)],
        witnesses=manifest_section(3, 1, [c.public for c in cosigners]),
    )
    sim = SimulatedElection(data, keys)
    election = Election(data, Config(checkpoint_every=2))
    try:
        sync = _local_witnesses(election, cosigners, tmp_path / "witnesses")
        state = tmp_path / "witnesses" / cosigners[0].name.replace("/", "_")
        electors = [e["elector"] for e in election.manifest.units[UNIT]["roll"]]
        election.open_round(UNIT, 1)
        _cast(election, sim, electors[:2])
        sync()
        shutil.copytree(state, tmp_path / "backup")
        _cast(election, sim, electors[2:4])
        sync()
        shutil.rmtree(state)
        shutil.copytree(tmp_path / "backup", state)
        manifest = election.manifest
        logs = {manifest.origin(UNIT, r): manifest.log_verifiers[UNIT] for r in (1, 2)}
        restored = Witness(cosigners[0], state, logs)
        assert election.witnessing is not None
        election.witnessing.witnesses[0].post = _local_transport(restored)
        _cast(election, sim, electors[4:6])
        sync()
        assert restored.rolled_back is not None and "size 4" in restored.rolled_back
        assert (state / LATCH_FILE).exists()
    finally:
        election.stop()


def test_the_marker_is_written_atomically_and_durably(
    tmp_path: Path, cosigner: Cosigner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review of kz-tally: the marker was renamed into place without an fsync, so a power cut
    could leave it empty or torn (the witness then refused to start) or bring back an older
    one (a restored state would pass). Now each update: a temporary file beside it is
    written and fsync'd, renamed over it, then the directory fsync'd."""
    import os

    log = Log(SigningKey.generate())
    key_file, state = tmp_path / "keys" / "w1.key", tmp_path / "state"
    key_file.parent.mkdir()
    w = _witness(cosigner, state, log, key_file)
    calls: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | Path, dst: str | Path) -> None:
        calls.append(("replace", f"{src} -> {dst}"))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    log.grow(2)
    assert w.add_checkpoint(log.body(0)).status == 200
    marker = marker_path(key_file)
    mine = [c for c in calls if str(key_file.parent) in c[1]]
    assert len(mine) == 3, calls
    (_, written), (_, renamed), (_, folder) = mine
    assert [c[0] for c in mine] == ["fsync", "replace", "fsync"]
    assert Path(written).parent == key_file.parent and Path(written) != marker
    assert renamed == f"{written} -> {marker}"
    assert folder == str(key_file.parent)
    assert json.loads(marker.read_text(encoding="utf-8"))["generation"] == 1
    assert sorted(p.name for p in key_file.parent.iterdir()) == [marker.name]  # no temp left


@pytest.mark.parametrize("torn", ["", '{"generation": 3, "state_id": "1f0', "\0\0\0\0"])
def test_a_torn_or_empty_marker_is_refused_in_one_clear_line(
    tmp_path: Path, torn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A marker found empty or torn says nothing of what the key cosigned: ``witness serve``
    refuses in one line saying to rotate the key, not with a traceback."""
    from tally_service.cli import main

    cosigner = Cosigner.generate("witness.example/w1", TYPE_ED25519)
    key_file = tmp_path / "w1.key"
    key_file.write_text(cosigner.private_text() + "\n", encoding="ascii")
    log, state = Log(SigningKey.generate()), tmp_path / "state"
    w = _witness(cosigner, state, log, key_file)
    log.grow(2)
    assert w.add_checkpoint(log.body(0)).status == 200
    marker_path(key_file).write_text(torn, encoding="utf-8")
    with pytest.raises(WitnessError, match=r"empty|torn"):
        _witness(cosigner, state, log, key_file)
    logs = tmp_path / "logs.txt"
    logs.write_text(f"{ORIGIN} {log.verifier}\n", encoding="utf-8")
    args = ["--key", str(key_file), "--state", str(state), "--logs", str(logs), "--port", "0"]
    assert main(["witness", "serve", *args]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert f"{marker_path(key_file)} is " in err[0] and ("empty:" in err[0] or "torn" in err[0])
    assert "treat it as a restore" in err[0] and "witness keygen" in err[0]
