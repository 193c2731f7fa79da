"""``scripts/demo --replay-2023`` against the published figures of the 14 January 2023 Senate
election: units, registered, took part, the winners' shares of the two units published, every
unit's quorum before 10:45, the preliminary result at 13:00 and the final dated 20 January, and
every signed time (checkpoints, cosignatures, requests, results) on the simulated day.

tests/data/senate2023_published.json is a byte-for-byte copy of the project's shared data file
(../shared/data/senate2023.json, "Sourced figures come from public reporting on the election (CEC
announcements and press)", see its ``source_note``), kept apart from the demo's own input
(scripts/data/senate2023.json) so the test does not check the demo against itself.
"""

from __future__ import annotations

import base64
import json
import os
import struct
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from scripts.verifier.record import split_notes

TOP = Path(__file__).resolve().parent.parent
PUBLISHED = json.loads(
    (TOP / "tests" / "data" / "senate2023_published.json").read_text(encoding="utf-8")
)
ZONE = ZoneInfo(PUBLISHED["timezone"])
SPEED = "60"  # twice the default: the morning in about a minute; the figures do not change
pytestmark = pytest.mark.slow


def local(stamp: str | int) -> datetime:
    if isinstance(stamp, int):
        return datetime.fromtimestamp(stamp, ZONE)
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(ZONE)


def at(hhmm: str, day: str = PUBLISHED["date"]) -> datetime:
    return datetime.fromisoformat(f"{day}T{hhmm}:00").replace(tzinfo=ZONE)


def notes(record: Path, unit: str) -> list[tuple[int, str, list[str]]]:
    """(size, time line's value, signature lines) of each checkpoint of the unit's round 1."""
    text = (record / "units" / unit / "1" / "checkpoints.txt").read_text(encoding="utf-8")
    entries, error = split_notes(text)
    assert error is None
    out = []
    for entry in entries:
        body, sigs = entry.text.split("\n\n", 1)
        lines = body.split("\n")
        times = [x[len("time ") :] for x in lines if x.startswith("time ")]
        assert len(times) == 1
        out.append((int(lines[1]), times[0], [s for s in sigs.split("\n") if s]))
    return out


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("replay")
    temp = base / "tmp"
    temp.mkdir()
    out = base / "out"
    result = subprocess.run(
        [
            sys.executable,
            str(TOP / "scripts" / "demo.py"),
            "--replay-2023",
            "--speed",
            SPEED,
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    assert list(temp.iterdir()) == []  # the working directory (private keys, clock) is gone
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "verifier: every check passed; receipts: verified" in result.stdout
    return out / "record", result.stdout


def test_the_shape_and_figures_are_the_published_ones(replay: tuple[Path, str]) -> None:
    record, _ = replay
    manifest = json.loads((record / "manifest.json").read_text(encoding="utf-8"))["payload"]
    assert manifest["simulation"] is True and manifest["date"] == PUBLISHED["date"]
    assert manifest["time_zone"] == PUBLISHED["timezone"]
    published = {u["code"]: u for u in PUBLISHED["units"]}
    units = {u["code"]: u for u in manifest["units"]}
    totals = PUBLISHED["totals"]
    assert set(units) == set(published) and len(units) == totals["units"]
    assert sum(len(u["candidates"]) for u in units.values()) == totals["candidates"]
    for code, u in units.items():
        assert len(u["roll"]) == published[code]["electors_registered"], code
        assert len(u["candidates"]) == published[code]["candidates"], code
    assert sum(len(u["roll"]) for u in units.values()) == totals["electors_registered"]

    final = json.loads((record / "results" / "final.json").read_text(encoding="utf-8"))["payload"]
    rounds = [u["rounds"] for u in final["units"]]
    assert all(len(r) == 1 for r in rounds)  # all 20 decided in round 1
    assert (
        sum(1 for u in final["units"] if u["status"] == "elected") == totals["decided_in_round_1"]
    )
    took_part = sum(r[0]["took_part"] for r in rounds)
    assert took_part == totals["electors_took_part"]
    assert round(100 * took_part / totals["electors_registered"], 1) == totals["turnout_percent"]
    shares = {u["unit"]: float(u["rounds"][0]["shares"][u["winner"]]) for u in final["units"]}
    for bound in ("min", "max"):
        published_share = PUBLISHED["winner_share_percent"][bound]
        assert abs(shares[published_share["unit"]] - published_share["value"]) <= 0.2, bound
    low = PUBLISHED["winner_share_percent"]["min"]["value"]
    high = PUBLISHED["winner_share_percent"]["max"]["value"]
    assert all(low - 0.2 <= s <= high + 0.2 for s in shares.values()), shares


def test_each_unit_reaches_quorum_at_its_own_time_before_10_45(replay: tuple[Path, str]) -> None:
    record, _ = replay
    manifest = json.loads((record / "manifest.json").read_text(encoding="utf-8"))["payload"]
    by = at(PUBLISHED["schedule"]["quorum_reached_in_all_units_by"])
    opens = at(PUBLISHED["schedule"]["session_opens"])
    quorum_at = {}
    for u in manifest["units"]:
        needed = len(u["roll"]) // 2 + 1  # more than half of the registered electors
        first = min((size, t) for size, t, _ in notes(record, u["code"]) if size >= needed)
        quorum_at[u["code"]] = local(first[1])
        assert opens < quorum_at[u["code"]] < by, (u["code"], quorum_at[u["code"]])
    assert len({t.replace(second=0) for t in quorum_at.values()}) >= len(quorum_at) // 3
    # most took part in the first half hour, and some later
    for u in manifest["units"]:
        series = notes(record, u["code"])
        final_size = series[-1][0]
        by_half_past = max(s for s, t, _ in series if local(t) <= at("10:30"))
        assert by_half_past < final_size, u["code"]
    total = sum(notes(record, u["code"])[-1][0] for u in manifest["units"])
    half_past = sum(
        max(s for s, t, _ in notes(record, u["code"]) if local(t) <= at("10:30"))
        for u in manifest["units"]
    )
    assert half_past > total / 2


def test_every_signed_time_is_the_simulated_day(replay: tuple[Path, str]) -> None:
    record, _ = replay
    manifest = json.loads((record / "manifest.json").read_text(encoding="utf-8"))["payload"]
    witnesses = {k["name"] for k in manifest["witnesses"]["keys"]}
    day, opens, closes = at("00:00").date(), at("10:00"), at("13:00")
    for u in manifest["units"]:
        for _, stamp, sigs in notes(record, u["code"]):
            assert opens <= local(stamp) < closes, stamp
            for line in sigs:
                name, blob = line.removeprefix("— ").split(" ")
                if name in witnesses:  # key ID, then the u64 timestamp of the cosignature
                    (cosigned,) = struct.unpack(">Q", base64.b64decode(blob)[4:12])
                    assert local(cosigned).date() == day, (name, cosigned)
    for line in (record / "audit.jsonl").read_text(encoding="utf-8").splitlines():
        request = json.loads(line)
        params = request["request"]["payload"]["params"]
        if request["action"] == "publish-results" and params.get("kind") == "final":
            final_day = PUBLISHED["schedule"]["final_results_by"]
            assert local(request["at"]).date().isoformat() == final_day
        else:
            assert local(request["at"]).date() == day, request["action"]
        signed = request["request"]["payload"]["timestamp"]
        assert abs((local(signed) - local(request["at"])).total_seconds()) < 3600
        if request["action"] == "open-round":
            assert opens <= local(request["at"]) < at("10:01")


def test_preliminary_at_13_00_and_final_on_20_january(replay: tuple[Path, str]) -> None:
    record, stdout = replay
    results = record / "results"
    preliminary = json.loads((results / "preliminary.json").read_text(encoding="utf-8"))
    final = json.loads((results / "final.json").read_text(encoding="utf-8"))
    issued = local(preliminary["payload"]["issued_at"])
    assert at(PUBLISHED["schedule"]["preliminary_results"]) <= issued < at("13:01")
    final_day = PUBLISHED["schedule"]["final_results_by"]
    assert local(final["payload"]["issued_at"]).date().isoformat() == final_day
    assert "final result, issued 2023-01-20" in stdout
    assert datetime.now(UTC).year > 2023  # the record's times are not today's


def test_the_verifier_says_the_record_is_a_simulation(replay: tuple[Path, str]) -> None:
    record, _ = replay
    result = subprocess.run(
        [sys.executable, str(TOP / "scripts" / "verify.py"), str(record), "--json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"] is True
    notes = [n for c in report["checks"] for n in c.get("notes", [])]
    assert any("simulated election" in n for n in notes), notes
