"""Timestamps: UTC, RFC 3339, to the millisecond; and the simulated clock of a replayed election.

Threat: every signed time in the record (checkpoints' ``time`` lines, cosignatures, results,
commission requests) is evidence of *when* something happened. A clock that can be set to another
day lets whoever runs the service back-date or pre-date that evidence. A replay of a past election
(``scripts/demo --replay-2023``) needs exactly such a clock, so it exists, but only for
simulations: it is switched on by the environment variable ``KZ_TALLY_SIMULATED_CLOCK`` naming a
clock file, ``serve`` refuses to start with it unless the sealed manifest says ``"simulation":
true`` (tally_service/service/cli.py), and the manifest's flag puts "simulation" on every public
page.

Every module that reads the wall time for a signed or displayed time goes through ``posix()`` or
``now()`` here, so one variable moves the service, the witnesses, the guardians and the electors'
side together, each in its own process. The clock file (docs/architecture.md, "Simulated clock")::

    {"format": "kz-tally-simulated-clock/1", "simulated": 1673668500.0,
     "real": 1765150000.25, "speed": 30.0}

means: at real POSIX time ``real`` the simulated time was ``simulated``, and it runs ``speed``
simulated seconds per real second (0 stops it). The program driving the simulation rewrites the
file (atomically) to jump ahead or to stop the clock while its processes catch up; each process
re-reads it at every call and never lets its own clock go back.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SIMULATED_CLOCK_ENV = "KZ_TALLY_SIMULATED_CLOCK"
CLOCK_FORMAT = "kz-tally-simulated-clock/1"


class ClockError(Exception):
    """The simulated clock's file is missing or malformed."""


@dataclass(frozen=True)
class Setting:
    """A simulated clock: at real time ``real`` it read ``simulated``, running ``speed``-fold."""

    simulated: float
    real: float
    speed: float

    def at(self, real_now: float) -> float:
        return self.simulated + max(0.0, real_now - self.real) * self.speed


_lock = threading.Lock()
_latest: dict[Path, float] = {}  # per clock file, the latest time handed out: never go back


def simulated_clock_file() -> Path | None:
    """The clock file named by the environment, or None on the real clock."""
    value = os.environ.get(SIMULATED_CLOCK_ENV, "")
    return Path(value) if value else None


def is_simulated() -> bool:
    return simulated_clock_file() is not None


def read_setting(path: Path) -> Setting:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ClockError(f"simulated clock {path}: cannot read it ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != CLOCK_FORMAT:
        raise ClockError(f"simulated clock {path}: not a {CLOCK_FORMAT} file")
    values = [data.get(k) for k in ("simulated", "real", "speed")]
    if not all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in values
    ):
        raise ClockError(f"simulated clock {path}: simulated, real and speed are numbers")
    simulated, real, speed = (float(v) for v in values)  # type: ignore[arg-type]
    if simulated < 0 or speed < 0:
        raise ClockError(f"simulated clock {path}: simulated and speed are not negative")
    return Setting(simulated, real, speed)


def write_setting(path: Path, simulated: float, speed: float) -> Setting:
    """Set the simulated clock to ``simulated`` now, running ``speed``-fold (atomic rename, so a
    reader sees the old setting or the new one, never half of one)."""
    setting = Setting(simulated, time.time(), speed)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(
        json.dumps(
            {
                "format": CLOCK_FORMAT,
                "simulated": setting.simulated,
                "real": setting.real,
                "speed": setting.speed,
            }
        ),
        encoding="utf-8",
    )
    os.replace(tmp, path)
    return setting


def posix() -> float:
    """Seconds since the epoch: the wall clock, or the simulated one when the environment names
    one (never going back within this process)."""
    path = simulated_clock_file()
    if path is None:
        return time.time()
    value = read_setting(path).at(time.time())
    with _lock:
        _latest[path] = max(_latest.get(path, 0.0), value)
        return _latest[path]


def current() -> datetime:
    """``posix()`` as an aware UTC datetime."""
    return datetime.fromtimestamp(posix(), UTC)


def now() -> str:
    return current().isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_second(stamp: str) -> str:
    """A ``now()`` stamp cut to the second, as signed in a checkpoint's ``time`` line."""
    return parse(stamp).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
