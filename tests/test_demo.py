"""The demo at small scale, end to end: a real server, signed commission requests, a runoff,
the record downloaded, the verifier and the receipt checker. The kept record then re-verifies
with scripts/verify.py alone."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _run_demo(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The demo with its own temporary directory, which must be empty again afterwards."""
    import os

    temp = tmp_path / "tmp"
    temp.mkdir()
    result = subprocess.run(
        [sys.executable, str(TOP / "scripts" / "demo.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    assert list(temp.iterdir()) == []  # the working directory (private keys) is gone
    return result


def test_small_demo_with_runoff(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _run_demo(
        tmp_path, "--small", "--scenario", "runoff", "--out", str(out), "--seed", "5",
        "--rate", "40",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # --rate: ballot i is cast no earlier than i / 40 s after the first (times printed to 0.1 s)
    paced = re.findall(r"(\d+) ballots accepted in ([\d.]+)s", result.stdout)
    assert len(paced) == 2 and "at most 40 a second" in result.stdout
    for count, took in paced:
        assert float(took) >= (int(count) - 1) / 40 - 0.1
    assert "verifier: every check passed; receipts: verified" in result.stdout
    assert f"record: {out / 'record'}" in result.stdout
    assert f"public: {out / 'record'}" in result.stdout
    assert f"private: {out / 'private'}" in result.stdout
    assert "final result" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == ["private", "record"]
    record = out / "record"
    final = json.loads((record / "results" / "final.json").read_text(encoding="utf-8"))
    rounds = {u["unit"]: len(u["rounds"]) for u in final["payload"]["units"]}
    assert 2 in rounds.values()  # the runoff was held
    assert len(list((out / "private" / "receipts").glob("*.json"))) > 50
    assert not list(record.rglob("receipts"))  # nothing private in the public record
    again = subprocess.run(
        [sys.executable, str(TOP / "scripts" / "verify.py"), str(record), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert again.returncode == 0, again.stdout[-2000:]
    assert json.loads(again.stdout)["ok"] is True


def test_demo_refuses_a_non_empty_out(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "record" / "units" / "ALA" / "2").mkdir(parents=True)  # an earlier election's record
    result = _run_demo(tmp_path, "--small", "--out", str(out))
    assert result.returncode != 0
    assert "exists and is not empty" in result.stderr
    assert [p.name for p in out.iterdir()] == ["record"]


def test_demo_refuses_zero_clients(tmp_path: Path) -> None:
    result = _run_demo(tmp_path, "--small", "--clients", "0")
    assert result.returncode != 0 and "give 1 or more" in result.stderr


@pytest.mark.parametrize("rate", ["0", "-3", "nan", "inf", "fast"])
def test_demo_refuses_a_rate_that_is_not_a_positive_number(tmp_path: Path, rate: str) -> None:
    result = _run_demo(tmp_path, "--small", "--rate", rate)
    assert result.returncode == 2
    assert "--rate" in result.stderr and "Traceback" not in result.stderr


def test_demo_quiet_prints_only_results_and_copes_with_a_void_unit(tmp_path: Path) -> None:
    result = _run_demo(tmp_path, "--small", "--quiet", "--scenario", "void")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "[" not in result.stdout.split("final result")[0]  # no phase lines before the table
    # without --out the working directory is removed, and the last lines do not point into it
    assert "record: removed (keep it with --out DIR)" in result.stdout
    assert result.stderr == ""
    # one unit had no quorum: not decrypted, yet the results were published and all checks pass
    table = result.stdout.split("final result")[1]
    void = [line for line in table.splitlines() if line.rstrip().endswith("void")]
    assert len(void) == 1 and " no " in void[0]
    assert "verifier: every check passed; receipts: verified" in result.stdout


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        if text in args:
            found.append(args)
    return found


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_demo_stopped_by_kill_leaves_no_server_running(tmp_path: Path, how: str) -> None:
    """kill (SIGTERM) ends the demo as Ctrl-C does: no server or witness is left running and
    the working directory with the private keys is gone. kill -9 gives the demo no chance to
    clean up, but its servers and witnesses see it gone and stop too."""
    import os
    import signal

    temp = tmp_path / "tmp"
    temp.mkdir()
    demo = subprocess.Popen(
        [sys.executable, "-u", str(TOP / "scripts" / "demo.py"), "--small", "--seed", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TMPDIR": str(temp), "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert demo.stdout is not None
        printed = []
        for line in demo.stdout:
            printed.append(line)
            if "service running at" in line:
                break
        assert _processes_mentioning(str(temp)), "".join(printed)  # its servers run
        demo.send_signal(getattr(signal, how))
        rest, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    if how == "SIGTERM":
        assert demo.returncode == 1 and "demo: interrupted" in rest, rest[-2000:]
        assert _processes_mentioning(str(temp)) == []
        assert list(temp.iterdir()) == []
    else:
        deadline = time.monotonic() + 20  # each child notices within half a second, then drains
        while _processes_mentioning(str(temp)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _processes_mentioning(str(temp)) == []
