"""Starting and stopping a real ``tally-service serve`` process (tests, demo, benchmarks)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import requests

from tally_service.common.lifeline import child_env


class ChildProcess:
    """A program the tests and the demo start: SIGTERM to stop it (SIGKILL after 10 s), or
    SIGKILL at once to simulate a crash."""

    proc: subprocess.Popen[bytes] | None = None

    def kill(self) -> None:
        """SIGKILL: no clean shutdown at all."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class ServerProcess(ChildProcess):
    """A server on 127.0.0.1 with an OS-chosen port; ``url`` once it is up."""

    def __init__(
        self,
        data_dir: Path,
        *extra: str,
        log: Path | None = None,
        own_session: bool = False,
        command: str = "serve",
        ready_path: str = "/api/v1/turnout",
    ) -> None:
        # own_session: the server does not receive the terminal's Ctrl-C, so that a caller that
        # catches it (the demo's --serve-open) can still close the rounds through it
        self.own_session = own_session
        self.data_dir = data_dir
        self.extra = extra
        self.command = command  # "ceremony": the key ceremony's board
        self.ready_path = ready_path
        self.log_path = log or data_dir.parent / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> ServerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - kept open for the process's life
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-u",
                "-m",
                "tally_service",
                self.command,
                "--data",
                str(self.data_dir),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                *self.extra,
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            env=child_env(),
            start_new_session=self.own_session,
        )
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode()
            if line.startswith("serving on "):
                self.url = line.split("serving on ", 1)[1].strip()
                break
            if not line and self.proc.poll() is not None:
                raise RuntimeError(
                    f"the server exited ({self.proc.returncode}); see {self.log_path}"
                )
        else:
            raise RuntimeError("the server did not start in time")
        requests.get(f"{self.url}{self.ready_path}", timeout=10).raise_for_status()
        return self


    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
