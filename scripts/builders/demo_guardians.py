"""The demo's guardians: n separate ``tally-service guardian`` processes, each with its own
directory and passphrase, talking to the service only over HTTP (the demo and the tests).

Each guardian's "machine" is a folder ``<root>/guardian-<i>/`` holding its directory ``G`` and
its passphrase file; the fingerprints file stands for what the guardians read to each other out
of band. Nothing here reads a guardian's secrets.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from scripts.builders.process import ServerProcess
from tally_service.common.lifeline import child_env


class GuardianProcessError(Exception):
    pass


def _start(*args: str | Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tally_service", "guardian", *map(str, args), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )


def _wait_all(procs: Sequence[tuple[int, subprocess.Popen[bytes]]], what: str) -> list[str]:
    outputs = []
    failed = []
    for index, proc in procs:
        out, err = proc.communicate(timeout=3600)
        outputs.append(out.decode())
        if proc.returncode != 0:
            failed.append(f"guardian {index}: {err.decode().strip() or out.decode().strip()}")
    if failed:
        raise GuardianProcessError(f"{what} failed: " + "; ".join(failed))
    return outputs


class Guardians:
    def __init__(self, root: Path, n: int, names: Sequence[str] | None = None) -> None:
        self.root = root
        self.n = n
        default = [f"Guardian {i}" for i in range(1, n + 1)]
        self.names = list(names) if names is not None else default
        self.homes = [root / f"guardian-{i}" for i in range(1, n + 1)]
        self.fingerprints = root / "fingerprints.txt"

    def dir(self, index: int) -> Path:
        return self.homes[index - 1] / "G"

    def passphrase(self, index: int) -> Path:
        return self.homes[index - 1] / "passphrase"

    def init(self) -> list[dict[str, str]]:
        """``guardian init`` in every home; the keys for the draft manifest's guardians.keys."""
        for index, home in enumerate(self.homes, start=1):
            home.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.passphrase(index).write_text(secrets.token_urlsafe(24) + "\n")
            self.passphrase(index).chmod(0o600)
        _wait_all(
            [
                (i, _start("init", "--dir", self.dir(i), "--passphrase-file", self.passphrase(i)))
                for i in range(1, self.n + 1)
            ],
            "guardian init",
        )
        publics = [
            json.loads((self.dir(i) / "guardian.json").read_text(encoding="utf-8"))
            for i in range(1, self.n + 1)
        ]
        self.fingerprints.write_text(
            "".join(
                f"{name}: {p['fingerprint']}\n" for name, p in zip(self.names, publics, strict=True)
            ),
            encoding="utf-8",
        )
        return [{"identity_key": p["identity_key"], "share_key": p["share_key"]} for p in publics]

    def ceremony(
        self, data_dir: Path, log: Path, fingerprint: str, timeout: float = 300
    ) -> dict[str, Any]:
        """The commission serves the board; every guardian runs ``guardian ceremony``, given
        the ceremony ``fingerprint`` they agreed on (the demo computes it from the draft, as
        each guardian would from what it was told out of band)."""
        board = ServerProcess(
            data_dir,
            "--timeout",
            str(timeout),
            "--linger",
            "1",
            command="ceremony",
            ready_path="/api/v1/ceremony",
            log=log,
        ).start()
        try:
            procs = [
                (
                    i,
                    _start(
                        "ceremony",
                        "--dir",
                        self.dir(i),
                        "--url",
                        board.url,
                        "--passphrase-file",
                        self.passphrase(i),
                        "--fingerprints",
                        self.fingerprints,
                        "--ceremony-fingerprint",
                        fingerprint,
                        "--poll",
                        "0.2",
                    ),
                )
                for i in range(1, self.n + 1)
            ]
            _wait_all(procs, "the key ceremony")
            assert board.proc is not None
            if board.proc.wait(timeout=120) != 0:
                raise GuardianProcessError(f"the ceremony board failed; see {log}")
        finally:
            board.stop()
        confirmed: dict[str, Any] = json.loads(
            next((self.dir(1) / "ceremony").glob("*/current.json")).read_text(encoding="utf-8")
        )
        return confirmed

    def decrypt(
        self, url: str, guardians: Sequence[int], units: Sequence[str], round_no: int, jobs: int
    ) -> None:
        """Each of ``guardians`` checks and decrypts every unit's round, all in parallel."""
        unit_args: list[str] = []
        for unit in units:
            unit_args += ["--unit", unit]
        _wait_all(
            [
                (
                    i,
                    _start(
                        "decrypt",
                        "--dir",
                        self.dir(i),
                        "--url",
                        url,
                        "--passphrase-file",
                        self.passphrase(i),
                        *unit_args,
                        "--round",
                        str(round_no),
                        "--jobs",
                        str(jobs),
                    ),
                )
                for i in guardians
            ],
            f"decryption of round {round_no}",
        )
