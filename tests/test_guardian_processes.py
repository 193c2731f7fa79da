"""Five guardians as five separate processes, each with its own directory, talking to the
service only over HTTP: init, the key ceremony (one guardian killed and restarted mid-way),
seal, a round, and decryption from the guardians' machines (two are not enough, three are).
The commission's data directory never holds a share."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from crypto.ceremony import manifest_fingerprint
from crypto.envelope import sign_document
from crypto.signing import Context, SigningKey
from scripts.builders.process import ServerProcess
from scripts.builders.sample import UnitSpec, build_election
from tally_service.common.client import ServiceClient
from tally_service.common.keys import commission_key_path, read_private_key
from tally_service.elector.ballot import make_ballot
from tally_service.guardian.ceremony import read_key_share
from tally_service.guardian.identity import GuardianDir
from tally_service.service.setup import seal

pytestmark = pytest.mark.slow
PASSPHRASE = "a passphrase for the tests"


def guardian(*args: str | Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tally_service", "guardian", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen[bytes], timeout: float = 120) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode()
    return out.decode()


def election_and_board(
    tmp_path: Path, data: Path, publics: list[dict[str, Any]], electors: int, k: int,
    timeout: int,
) -> tuple[dict[str, SigningKey], ServerProcess]:
    """A one-unit election listing these guardians, and its ceremony board, started."""
    keys = build_election(
        data,
        [UnitSpec("AAA", "A", 2, electors)],
        guardians=len(publics),
        threshold=k,
        guardian_keys=[
            {"identity_key": p["identity_key"], "share_key": p["share_key"]} for p in publics
        ],
    )
    board = ServerProcess(
        data,
        "--timeout",
        str(timeout),
        "--linger",
        "2",
        command="ceremony",
        ready_path="/api/v1/ceremony",
        log=tmp_path / "board.log",
    ).start()
    return keys, board


def test_five_guardian_processes(tmp_path: Path) -> None:
    secret, dirs, publics, outputs, fingerprints = init_guardians(tmp_path, 5)
    assert all(p["fingerprint"] in out for p, out in zip(publics, outputs, strict=True))
    data = tmp_path / "election"
    keys, board = election_and_board(tmp_path, data, publics, electors=5, k=3, timeout=120)
    agreed = _agreed(data)
    try:
        procs = [ceremony(d, board.url, secret, fingerprints, agreed) for d in dirs]
        # kill guardian 3 once its commitment is on the board, then start it again
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            view = requests.get(f"{board.url}/api/v1/ceremony", timeout=10).json()
            if any(m["payload"]["guardian"] == 3 for m in view["messages"]["commit"]):
                break
            time.sleep(0.05)
        procs[2].send_signal(signal.SIGKILL)
        procs[2].wait()
        procs[2] = ceremony(dirs[2], board.url, secret, fingerprints, agreed)
        outputs = [finish(p) for p in procs]
        assert all("key ceremony complete (attempt 1)" in out for out in outputs)
        assert board.proc is not None and board.proc.wait(timeout=60) == 0
    finally:
        board.stop()
    signed = seal(data)
    transcript = json.loads(_meta(data, "ceremony"))
    assert transcript["qual"] == [1, 2, 3, 4, 5]
    assert signed["payload"]["ceremony_hash"] == transcript["transcript_hash"]

    # byte for byte: no guardian's key share, in any encoding we write, in the commission's data
    shares = []
    for d in dirs:
        _, share = read_key_share(GuardianDir.open(d, PASSPHRASE.encode()), "test-election")
        shares += [share.to_bytes(), share.hex().encode()]
    for path in data.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(s in content for s in shares), path

    with ServerProcess(data, "--checkpoint-every", "2", log=tmp_path / "server.log") as server:
        commission = ServiceClient(server.url, read_private_key(commission_key_path(data)))
        commission.commission("open-round", unit="AAA", round=1)
        # the guardians watch the round while it is open: decrypt refuses a round they did not
        # see open (issue 24)
        for d in dirs:
            watched = finish(guardian("watch", "--dir", d, "--url", server.url, "--once"))
            assert "AAA/1 size 0: consistent, remembered" in watched
        manifest = commission.get("/manifest")["payload"]
        from crypto.group import Point

        for i, elector in enumerate(sorted(keys)):
            ballot = make_ballot(
                bytes.fromhex(commission.election_hash),
                "AAA",
                1,
                elector,
                ["AAA-C1", "AAA-C2"],
                "AAA-C1" if i % 2 == 0 else "AAA-C2",
                Point.from_hex(manifest["election_key"]),
                keys[elector],
            )
            assert commission.cast(ballot)[0] == 201
        commission.commission("close-round", unit="AAA", round=1)
        commission.commission("start-tally", unit="AAA", round=1)

        def decrypt(d: Path) -> str:
            return finish(
                guardian(
                    "decrypt",
                    "--dir",
                    d,
                    "--url",
                    server.url,
                    "--passphrase-file",
                    secret,
                    "--unit",
                    "AAA",
                    "--round",
                    "1",
                    "--jobs",
                    "1",
                )
            )

        first, second = decrypt(dirs[4]), decrypt(dirs[1])
        assert "1 so far" in first and "2 so far" in second  # two guardians decrypt nothing
        assert (
            requests.get(f"{server.url}/api/v1/units/AAA/rounds/1/tally", timeout=10).json()[
                "counts"
            ]
            is None
        )
        assert "decrypted: AAA-C1 3, AAA-C2 2, blank 0" in decrypt(dirs[2])
        # each decrypting guardian's own state (G/state) pins the ceremony it confirmed and the
        # sealed manifest, and remembers the one final it decrypted for the round
        pins = json.loads((dirs[4] / "state" / "pins.json").read_text())
        assert pins["ceremony_hash"] == transcript["transcript_hash"]
        assert pins["manifest_hash"] == commission.election_hash
        logs = [json.loads(p.read_text()) for p in (dirs[4] / "state" / "logs").glob("*.json")]
        assert any("decrypted" in json.dumps(log) for log in logs)
        # a partial signed by a key that is no guardian's is refused
        bogus = sign_document(
            {
                "election": commission.election_hash,
                "unit": "AAA",
                "round": 1,
                "final_checkpoint": {"size": 5, "root": "00" * 32},
                "partial": {},
            },
            SigningKey.generate(),
            Context.GUARDIAN,
        )
        r = requests.post(f"{server.url}/api/v1/guardian/partials", json=bogus, timeout=10)
        assert r.status_code == 403 and r.json()["check"] == "guardian-signature"
        record = tmp_path / "record"
        commission.commission("publish-results", kind="preliminary")
        commission.commission("publish-results", kind="final")
    from tally_service.cli import main

    assert main(["export", "--data", str(data), "--out", str(record)]) == 0
    verify = subprocess.run(
        [sys.executable, str(Path(__file__).parent.parent / "scripts" / "verify.py"), str(record)],
        capture_output=True,
        env={**os.environ},
    )
    assert verify.returncode == 0, verify.stdout.decode()[-2000:]


def _agreed(data: Path) -> str:
    """The ceremony fingerprint the guardians agreed on out of band (from the draft)."""
    return manifest_fingerprint(json.loads(_meta(data, "draft")))


def _meta(data: Path, key: str) -> Any:
    from tally_service.service.store import Store

    store = Store(data / "election.db")
    try:
        return store.get_meta(key)
    finally:
        store.close()


def init_guardians(
    tmp_path: Path, n: int
) -> tuple[Path, list[Path], list[dict[str, Any]], list[str], Path]:
    """n guardian directories made by `guardian init` under one passphrase file: the
    passphrase file, the directories, their public files, what each init printed, and the
    file of fingerprints they compare out of band."""
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    dirs = [tmp_path / f"guardian-{i}" for i in range(1, n + 1)]
    outputs = [finish(p) for p in [guardian("init", "--dir", d, "--passphrase-file", secret)
                                   for d in dirs]]
    publics = [json.loads((d / "guardian.json").read_text()) for d in dirs]
    fingerprints = tmp_path / "fingerprints.txt"
    fingerprints.write_text(
        "".join(f"Guardian {i}: {p['fingerprint']}\n" for i, p in enumerate(publics, 1))
    )
    return secret, dirs, publics, outputs, fingerprints


def ceremony(
    d: Path, url: str, secret: Path, fingerprints: Path, agreed: str
) -> subprocess.Popen[bytes]:
    """`guardian ceremony` of directory ``d`` against the board at ``url``."""
    return guardian(
        "ceremony", "--dir", d, "--url", url, "--passphrase-file", secret,
        "--fingerprints", fingerprints, "--ceremony-fingerprint", agreed, "--poll", "0.2",
    )


def test_a_silent_guardian_process_fails_the_attempt_by_name(tmp_path: Path) -> None:
    """Guardian 3 of 3 never starts: the board gives up after its timeout naming it and the
    phase, both other guardians stop with that sentence, and nothing is stored for seal."""
    secret, dirs, publics, _, fingerprints = init_guardians(tmp_path, 3)
    data = tmp_path / "election"
    _, board = election_and_board(tmp_path, data, publics, electors=3, k=2, timeout=3)
    agreed = _agreed(data)
    try:
        procs = [ceremony(d, board.url, secret, fingerprints, agreed) for d in dirs[:2]]
        failure = (
            "attempt 1 failed: guardian 3 (Guardian 3) posted no commit message within 3 s; "
            "start a new attempt without it (tally-service ceremony --exclude 3)"
        )
        for proc in procs:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 1 and failure in err.decode()
        assert board.proc is not None and board.proc.wait(timeout=60) == 1
    finally:
        board.stop()
    assert failure in (tmp_path / "board.log").read_text()
    assert _meta(data, "ceremony") is None


def test_a_guardian_that_objects_is_named_with_its_objection(tmp_path: Path) -> None:
    """Issue 24, attack 8: guardian 3 was given another fingerprint for Guardian 1. It stops
    and posts a signed objection; the board's failure names the objection, not silence, and
    tells the commission not to exclude it; the other guardians stop with that sentence."""
    secret, dirs, publics, _, fingerprints = init_guardians(tmp_path, 3)
    told = tmp_path / "told-guardian-3.txt"
    told.write_text(
        "".join(
            f"Guardian {i}: {'f' * 32 if i == 1 else p['fingerprint']}\n"
            for i, p in enumerate(publics, 1)
        )
    )
    data = tmp_path / "election"
    # the board's phase timeout must outlast three guardian processes starting and unsealing
    # on a loaded machine (3 s did not, at a load average of about 10): guardian 3's objection
    # has to be on the board before the phase times out
    _, board = election_and_board(tmp_path, data, publics, electors=3, k=2, timeout=20)
    agreed = _agreed(data)
    try:
        procs = [
            ceremony(d, board.url, secret, told if i == 3 else fingerprints, agreed)
            for i, d in enumerate(dirs, start=1)
        ]
        _, err = procs[2].communicate(timeout=120)
        assert procs[2].returncode == 1
        assert "guardian 1 (Guardian 1)" in err.decode()
        assert "your signed objection is on the board" in err.decode()
        for proc in procs[:2]:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 1
            assert "guardian 3 (Guardian 3) stopped and objected" in err.decode()
            assert "--exclude" not in err.decode()
        assert board.proc is not None and board.proc.wait(timeout=60) == 1
    finally:
        board.stop()
    assert "stopped and objected" in (tmp_path / "board.log").read_text()
    state = json.loads(_meta(data, "ceremony-board"))
    assert [o["payload"]["guardian"] for o in state["objections"]] == [3]
