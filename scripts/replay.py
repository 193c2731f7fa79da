"""The 14 January 2023 election day on a simulated clock, for ``scripts/demo --replay-2023``.

Threat: none of its own; a replay exists to show the public pages as the day went, and its
clock must never reach a real election. So the clock is the one of
tally_service/common/clock.py, which ``serve`` refuses unless the manifest says
``"simulation": true`` (the demo's manifests do).

What it does: it sets one clock file (``KZ_TALLY_SIMULATED_CLOCK``) that the demo's own process
and every process it starts (service, witnesses, guardians) read; it draws the electors' arrival
times (most in the first half hour, some later, the registered electors who did not take part
never), so that each unit reaches its quorum at a time of its own before 10:45; it casts each
ballot at its time and stops the clock whenever casting falls behind, so a loaded machine cannot
push a quorum past its time; it skips the quiet stretches (an hour with nobody arriving takes
no real time), and jumps to 13:00 for the preliminary result and to 20 January for the final.

The schedule comes from the published one (scripts/data/senate2023.json, ``schedule``);
the rounds' closing time (12:00) is ours: the sources give none.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tally_service.common import clock

DEFAULT_SPEED = 30.0  # simulated seconds per real second: 09:55 to 10:55 in two minutes
PREPARED_AT = "09:50"  # the keys, rolls and ceremony are ready; the clock waits here
STARTS_AT = "09:55"
CLOSES_AT = "12:00"  # ours: the sources give no closing time
FINAL_AT = "11:00"  # on the final result's day
QUORUM_EARLIEST = "10:12"
QUORUM_MARGIN_MINUTES = 7  # every unit's quorum at least this long before the published time
IDLE_REAL_SECONDS = 3.0  # a quiet stretch longer than this (real time) is skipped


def local_time(day: str, hhmm: str, zone: str) -> float:
    """POSIX time of ``hhmm`` on ``day`` in ``zone``."""
    hour, minute = (int(x) for x in hhmm.split(":"))
    moment = datetime.combine(date.fromisoformat(day), datetime.min.time(), ZoneInfo(zone))
    return moment.replace(hour=hour, minute=minute).timestamp()


@dataclass(frozen=True)
class DaySchedule:
    """The published day (senate2023.json ``date``, ``timezone``, ``schedule``) as POSIX times."""

    prepared: float
    starts: float
    opens: float
    quorum_earliest: float
    quorum_latest: float  # the latest a unit's quorum is drawn: before the published time
    closes: float
    preliminary: float
    final: float

    @classmethod
    def from_shape(cls, shape: dict[str, Any]) -> DaySchedule:
        day, zone, s = shape["date"], shape["timezone"], shape["schedule"]
        quorum_by = local_time(day, s["quorum_reached_in_all_units_by"], zone)
        return cls(
            prepared=local_time(day, PREPARED_AT, zone),
            starts=local_time(day, STARTS_AT, zone),
            opens=local_time(day, s["session_opens"], zone),
            quorum_earliest=local_time(day, QUORUM_EARLIEST, zone),
            quorum_latest=quorum_by - QUORUM_MARGIN_MINUTES * 60,
            closes=local_time(day, CLOSES_AT, zone),
            preliminary=local_time(day, s["preliminary_results"], zone),
            final=local_time(s["final_results_by"], FINAL_AT, zone),
        )


def arrival_times(
    rng: random.Random,
    registered: int,
    took_part: int,
    opens: float,
    quorum_at: float,
    closes: float,
) -> list[float]:
    """Sorted arrival times of the ``took_part`` electors of a unit: the quorum-making elector
    (more than half of ``registered``) arrives at ``quorum_at``, those before between ``opens``
    and then, most early; the rest after it, fewer and fewer, the last before ``closes``."""
    needed = registered // 2 + 1
    if took_part < needed:
        raise ValueError("a unit that never reaches quorum has no quorum time")
    span = quorum_at - opens
    before = sorted(opens + 20 + (span - 40) * rng.betavariate(1.3, 1.8) for _ in range(needed - 1))
    after = sorted(
        min(closes - 60, quorum_at + 10 + rng.expovariate(1 / 480))
        for _ in range(took_part - needed)
    )
    return [*before, quorum_at, *after]


def quorum_times(rng: random.Random, codes: Sequence[str], day: DaySchedule) -> dict[str, float]:
    """Each unit's quorum time, its own, between 10:12 and 7 minutes before the published time."""
    return {c: rng.uniform(day.quorum_earliest, day.quorum_latest) for c in codes}


class SimulatedDay:
    """The clock file of the replay, set in this process's environment for it and its children."""

    def __init__(self, folder: Path, speed: float) -> None:
        self.path = folder / "clock.json"
        self.speed = speed
        os.environ[clock.SIMULATED_CLOCK_ENV] = str(self.path)

    def now(self) -> float:
        return clock.posix()

    def set(self, simulated: float, speed: float | None = None) -> None:
        """Jump to ``simulated`` (never back), running at ``speed`` (default: the replay's)."""
        if self.path.exists():
            simulated = max(simulated, self.now())
        clock.write_setting(self.path, simulated, self.speed if speed is None else speed)

    def stop(self) -> None:
        self.set(self.now(), 0.0)

    def run(self) -> None:
        self.set(self.now())

    def wait_until(self, moment: float) -> None:
        """Let the clock run to ``moment``; a quiet stretch longer than a few real seconds is
        skipped (the clock jumps to just before it)."""
        gap = moment - self.now()
        if gap > IDLE_REAL_SECONDS * self.speed:
            self.set(moment - self.speed * 0.2)
        while (left := moment - self.now()) > 0:
            time.sleep(min(0.5, left / self.speed))

    def close(self) -> None:
        os.environ.pop(clock.SIMULATED_CLOCK_ENV, None)


def cast_on_time(
    day: SimulatedDay,
    timed: Sequence[tuple[float, Any]],
    cast: Callable[[Any], dict[str, Any]],
    clients: int,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Cast every ballot of ``timed`` (time, ballot) at its simulated time with ``clients``
    threads; while more than ``clients`` ballots wait for an answer the clock stops, so the
    recorded times stay within a moment of the drawn ones however slow the machine."""
    futures: list[Future[dict[str, Any]]] = []
    done = threading.Condition()

    def finished(_: Future[dict[str, Any]]) -> None:
        with done:
            done.notify_all()

    with ThreadPoolExecutor(clients) as threads:
        for at, ballot in sorted(timed, key=lambda x: x[0]):
            day.wait_until(at)
            with done:
                if sum(not f.done() for f in futures[-2 * clients :]) >= clients:
                    day.stop()
                    while sum(not f.done() for f in futures[-2 * clients :]) >= clients:
                        done.wait(0.5)
                    day.run()
            future = threads.submit(cast, ballot)
            future.add_done_callback(finished)
            futures.append(future)
            if progress is not None:
                progress(len(futures))
        return [f.result() for f in futures]
