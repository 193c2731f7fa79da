"""``scripts/demo --serve-open``: voting stays open with a few credentials unused; an elector
votes with one (here through ``tally-service vote``; tests/test_booth_browser.py drives the
booth), then the demo closes by itself, tallies, exports, and the verifier counts that ballot."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

TOP = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def test_serve_open_then_close_after(tmp_path: Path) -> None:
    out = tmp_path / "out"
    demo = subprocess.Popen(
        [
            sys.executable,
            "-u",
            str(TOP / "scripts" / "demo.py"),
            "--small",
            "--serve-open",
            "--close-after",
            "25",  # the close; after the final result only the SIGINT below goes on
            "--out",
            str(out),
            "--seed",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert demo.stdout is not None
        printed = []
        booth = None
        for line in demo.stdout:
            printed.append(line)
            found = re.search(r"booth:\s+(http://\S+)/booth", line)
            if found:
                booth = found.group(1)
                break
        assert booth is not None, "".join(printed)
        credentials = sorted((out / "private" / "credentials").glob("*.txt"))
        assert credentials and not list((out).glob("record/**/credentials"))
        elector = credentials[0].stem
        unit = elector.split("-E")[0]
        vote = subprocess.run(
            [
                sys.executable,
                "-m",
                "tally_service",
                "vote",
                "--url",
                booth,
                "--unit",
                unit,
                "--elector",
                elector,
                "--credential-file",
                str(credentials[0]),
                "--choice",
                "blank",
                "--out",
                str(tmp_path / "receipt.json"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert vote.returncode == 0, vote.stderr
        # after the close and the final result the service stays up (the receipt page, a
        # monitor's --until-final) until a second Ctrl-C: here, a SIGINT
        for line in demo.stdout:
            printed.append(line)
            if "the service stays up" in line:
                break
        assert "the service stays up" in "".join(printed), "".join(printed)
        final = requests.get(f"{booth}/api/v1/results/final", timeout=30)
        assert final.status_code == 200 and final.json()["payload"]["kind"] == "final"
        assert requests.get(f"{booth}/receipt", timeout=30).status_code == 200
        demo.send_signal(signal.SIGINT)
        rest, _ = demo.communicate(timeout=600)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, "".join(printed) + rest
    assert "verifier: every check passed" in rest
    entries = (out / "record" / "units" / unit / "1" / "ballots.jsonl").read_text()
    ballot = (tmp_path / "receipt.ballot.json").read_text()
    assert ballot in entries.splitlines()
    check = subprocess.run(
        [
            sys.executable,
            str(TOP / "scripts" / "verify_receipt.py"),
            str(tmp_path / "receipt.json"),
            "--record",
            str(out / "record"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
