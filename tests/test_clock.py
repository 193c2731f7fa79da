"""The simulated clock (tally_service/common/clock.py): it moves every process of a simulation
together, and a production ``serve`` refuses it (a clock of another day would back-date signed
times)."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from crypto.note import parse_note
from scripts.builders.process import ServerProcess
from scripts.builders.sample import UnitSpec, build_election
from tally_service.common import clock
from tally_service.common.client import ServiceClient
from tally_service.common.keys import commission_key_path, read_private_key
from tests.conftest import Built

DAY_2023 = datetime(2023, 1, 14, 3, 55, tzinfo=UTC).timestamp()  # 09:55 in Almaty


def test_real_clock_without_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(clock.SIMULATED_CLOCK_ENV, raising=False)
    assert not clock.is_simulated()
    assert abs(clock.posix() - time.time()) < 5


def test_simulated_clock_runs_jumps_stops_and_never_goes_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "clock.json"
    monkeypatch.setenv(clock.SIMULATED_CLOCK_ENV, str(path))
    began = time.time()
    clock.write_setting(path, DAY_2023, 60.0)
    first = clock.posix()
    assert DAY_2023 <= first <= DAY_2023 + (time.time() - began) * 60 + 1
    assert clock.now().startswith("2023-01-14T03:5")
    clock.write_setting(path, DAY_2023 + 3 * 3600, 0.0)  # jump to 12:55, stopped
    stopped = clock.posix()
    assert stopped == DAY_2023 + 3 * 3600 == clock.posix()
    clock.write_setting(path, DAY_2023, 1.0)  # a setting that would go back is not followed
    assert clock.posix() >= stopped


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{}",
        '{"format": "kz-tally-simulated-clock/1", "simulated": "x", "real": 1, "speed": 1}',
        '{"format": "kz-tally-simulated-clock/1", "simulated": 1, "real": 1, "speed": -1}',
    ],
)
def test_a_broken_clock_file_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    path = tmp_path / "clock.json"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv(clock.SIMULATED_CLOCK_ENV, str(path))
    with pytest.raises(clock.ClockError, match="simulated clock"):
        clock.posix()


def _serve(data: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tally_service", "serve", "--data", str(data), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


@pytest.mark.slow
def test_production_serve_refuses_a_simulated_clock(built: Built, tmp_path: Path) -> None:
    """Attack: the operator sets the simulation's variable on a real election's service so its
    checkpoints, results and request records carry times of another day. Before the refusal the
    service started and signed those times (this test then hung until its timeout)."""
    path = tmp_path / "clock.json"
    clock.write_setting(path, DAY_2023, 1.0)
    import os

    env = {**os.environ, clock.SIMULATED_CLOCK_ENV: str(path)}
    result = _serve(built.data_dir, env)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "KZ_TALLY_SIMULATED_CLOCK is set" in last and "not a simulation" in last
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_a_simulation_signs_the_simulated_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The service (its own process) and the commission's requests (this one) read the same
    clock file: the round opens at the simulated 10:00 and its checkpoints say so."""
    data = tmp_path / "data"
    build_election(data, [UnitSpec("AAA", "Unit A", candidates=2, electors=4)], simulation=True)
    path = tmp_path / "clock.json"
    opening = DAY_2023 + 300  # 10:00 in Almaty
    clock.write_setting(path, opening, 0.0)
    monkeypatch.setenv(clock.SIMULATED_CLOCK_ENV, str(path))
    with ServerProcess(data, "--checkpoint-seconds", "0.2") as server:
        client = ServiceClient(server.url, read_private_key(commission_key_path(data)))
        client.commission("open-round", unit="AAA", round=1)
        client.commission("close-round", unit="AAA", round=1)
        rows = requests.get(
            f"{server.url}/api/v1/units/AAA/rounds/1/checkpoints", timeout=10
        ).json()["checkpoints"]
    times = [
        line
        for row in rows
        for line in parse_note(row["note"]).text.splitlines()
        if line.startswith("time ")
    ]
    assert times and all(t == "time 2023-01-14T04:00:00Z" for t in times)


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--speed", "5"], "--speed and --hold need --replay-2023"),
        (["--replay-2023", "--scenario", "runoff"], "--replay-2023 replays the day as it was"),
        (["--replay-2023", "--speed", "0"], "give a positive number"),
    ],
)
def test_demo_replay_options_are_refused_in_one_line(args: list[str], said: str) -> None:
    top = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, str(top / "scripts" / "demo.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2 and said in result.stderr and "Traceback" not in result.stderr


def test_offline_commands_refuse_a_simulated_clock_too(
    built: Built,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Attack: the same back-dating through the offline commands, which open and close rounds
    and sign results from the data directory without a server."""
    from tally_service.cli import main

    path = tmp_path / "clock.json"
    clock.write_setting(path, DAY_2023, 1.0)
    monkeypatch.setenv(clock.SIMULATED_CLOCK_ENV, str(path))
    args = ["open-round", "--data", str(built.data_dir), "--unit", "AAA", "--round", "1"]
    assert main(args) == 1
    assert "not a simulation" in capsys.readouterr().err
    monkeypatch.delenv(clock.SIMULATED_CLOCK_ENV)
    assert main(args) == 0  # on the real clock the same command works
