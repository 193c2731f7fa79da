"""A real ``tally-service witness serve`` process, started and stopped (tests, demo, benchmarks)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from scripts.builders.process import ChildProcess
from tally_service.common.lifeline import child_env


class WitnessProcess(ChildProcess):
    """A witness on 127.0.0.1 with an OS-chosen port; ``url`` once it is up."""

    def __init__(self, key: Path, state: Path, logs: Path, log: Path | None = None) -> None:
        self.args = ["--key", str(key), "--state", str(state), "--logs", str(logs)]
        self.log_path = log or state.parent / f"{state.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.port = 0  # chosen by the OS at the first start, kept on restarts

    def start(self, timeout: float = 30.0) -> WitnessProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process's life
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-u",
                "-m",
                "tally_service",
                "witness",
                "serve",
                *self.args,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            env=child_env(),
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode()
            if line.startswith("witness ") and " on http://" in line:
                self.url = line.rsplit(" on ", 1)[1].strip()
                self.port = int(self.url.rsplit(":", 1)[1])
                return self
            if not line and self.proc.poll() is not None:
                raise RuntimeError(
                    f"the witness exited ({self.proc.returncode}); see {self.log_path}"
                )
        raise RuntimeError("the witness did not start in time")


    def __enter__(self) -> WitnessProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
