"""One line for each mistake a newcomer made, saying what to do (issue 14, items 7 and 11)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tally_service.cli import main
from tally_service.common.client import ServiceClient
from tally_service.common.problems import Problem
from tests.conftest import Built


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tally_service", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--port", "70000"),
        ("--port", "-1"),
        ("--threads", "0"),
        ("--check-workers", "-2"),
        ("--checkpoint-every", "0"),
        ("--checkpoint-seconds", "nan"),
        ("--checkpoint-seconds", "0"),
        ("--max-body-bytes", "10"),
        ("--request-window", "x"),
    ],
)
def test_serve_refuses_numbers_out_of_range(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--data", "/nonexistent", f"{option}={value}"])
    assert exit_.value.code == 2
    assert f"argument {option}" in capsys.readouterr().err


def test_round_is_1_or_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["close-round", "--data", "x", "--unit", "AAA", "--round", "3"])
    assert "invalid choice: 3" in capsys.readouterr().err


def test_serve_without_an_election(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--data", str(tmp_path / "nonexistent")]) == 1
    err = capsys.readouterr().err
    assert "no election in" in err and "Errno" not in err


@pytest.mark.slow
def test_serve_on_a_port_in_use_names_the_port(built: Built) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--data", str(built.data_dir), "--port", str(port))
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert f"cannot listen on 127.0.0.1:{port}" in last and "choose another --port" in last
    assert "Errno" not in result.stderr


def test_draft_manifest_with_a_byte_order_mark(tmp_path: Path) -> None:
    documented = Path(__file__).parent.parent / "docs" / "record.md"
    text = documented.read_text(encoding="utf-8")
    start = text.index("```json", text.index("## The draft manifest")) + len("```json")
    draft = json.loads(text[start : text.index("```", start)])
    path = tmp_path / "draft.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(draft, ensure_ascii=False).encode())
    assert main(["init", "--data", str(tmp_path / "data"), "--manifest", str(path)]) == 0


def test_url_may_name_the_api_itself() -> None:
    assert ServiceClient("http://h:1/api/v1/").url == "http://h:1/api/v1"
    assert ServiceClient("http://h:1").url == "http://h:1/api/v1"
    with pytest.raises(Problem, match="not an http"):
        ServiceClient("h:1")


def test_https_at_a_port_that_never_answers_fails_quickly() -> None:
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        client = ServiceClient(f"https://127.0.0.1:{silent.getsockname()[1]}")
        client.connect_timeout = 0.5
        began = time.monotonic()
        with pytest.raises(Problem) as error:
            client.get("/turnout")
    assert time.monotonic() - began < 5
    assert "http://" in error.value.detail


def _read_only(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the CLI with ``data`` read-only: by file modes, or for root (who ignores them)
    on a read-only bind mount in a private mount namespace."""
    command = [sys.executable, "-m", "tally_service", *args]
    if os.geteuid() != 0:
        for path in [data, *data.rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            return subprocess.run(command, capture_output=True, text=True, check=False)
        finally:
            for path in [data, *data.rglob("*")]:
                path.chmod(0o755 if path.is_dir() else 0o644)
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.skip("as root a read-only directory needs a bind mount, and unshare is missing")
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    probe = subprocess.run(
        [unshare, "--mount", "sh", "-c", script, "sh", str(data), "true"],
        capture_output=True,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip("as root a read-only directory needs a bind mount, which is not permitted here")
    return subprocess.run(
        [unshare, "--mount", "sh", "-c", script, "sh", str(data), *command],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_read_only_commands_work_on_a_read_only_data_directory(
    built: Built, tmp_path: Path
) -> None:
    data = built.data_dir
    for path in data.iterdir():  # what a copy on read-only media holds: no lock file
        if path.name == "service.lock":
            path.unlink()
    turnout = _read_only(data, "turnout", "--data", str(data), "--json")
    assert turnout.returncode == 0, turnout.stderr
    assert json.loads(turnout.stdout)["registered"] > 0
    results = _read_only(data, "results", "--data", str(data))
    assert results.returncode == 1 and "no result is published yet" in results.stderr
    out = tmp_path / "record"
    export = _read_only(data, "export", "--data", str(data), "--out", str(out))
    assert export.returncode == 0, export.stderr
    assert (out / "manifest.json").is_file()
    refused = _read_only(data, "open-round", "--data", str(data), "--unit", "AAA")
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "read-only" in refused.stderr
    assert not list(data.glob("service.lock"))
