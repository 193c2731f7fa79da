#!/usr/bin/env python3
"""Benchmark the tally phase of a full-size election shaped like the 2023 Senate election.

Builds (or, with --data, reuses) an election with the units of senate2023.json: each unit's
candidates and registered electors, about 2,904 ballots in all (the reported turnout, spread
over the units in proportion to their rolls), 5 guardians with threshold 3. The ballots are
generated in a process pool and cast in-process through Election.cast (every check, durable
commit); each unit's round 1 is then closed. None of that is timed.

The timed part runs on a fresh copy of the built data: for every unit, tally.tally_in_process
with guardians 1, 2 and 3 (encrypted sum, three partial decryptions with proofs, each checked,
and the combination), and checks the decrypted counts against the choices the ballots were
made with. Prints one figure per line as ``name value unit``: the total tally time, where it
goes (sum, partial decryptions, partial checks, combination and discrete log, the rest), and
each unit's ballots and tally time.

The design's target: the tally of the whole election in under 5 s.

Run from the top of the checkout:
    .venv/bin/python scripts/bench_tally.py [--data DIR] [--quiet]
"""

from __future__ import annotations

import argparse
import functools
import json
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from scripts.builders import insecure

# scripts/ is not a package: make the checkout's top importable when run as a file.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tqdm import tqdm

from crypto.group import Point
from crypto.signing import SigningKey
from scripts.builders.sample import UnitSpec, build_election
from tally_service.elector.ballot import make_ballot
from tally_service.service import tally
from tally_service.service.config import Config
from tally_service.service.election import Election

ROOT = Path(__file__).resolve().parent.parent
UNITS_FILES = [
    ROOT / "scripts" / "data" / "senate2023.json",
    Path("/work/shared/data/senate2023.json"),
]
MARKER = "bench_tally.json"
BLANK_SHARE = 0.01

F = TypeVar("F", bound=Callable[..., Any])

# ---------------------------------------------------------------------------------------------
# The election's shape


@dataclass(frozen=True)
class Shape:
    units: list[UnitSpec]
    voting: dict[str, int]  # unit -> ballots cast


def load_shape(path: Path, took_part: int | None) -> Shape:
    doc = json.loads(path.read_text(encoding="utf-8"))
    units = [
        UnitSpec(
            code=u["code"],
            name_en=u["name_en"],
            candidates=int(u["candidates"]),
            electors=int(u["electors_registered"]),
            kind=u.get("kind") or ("region" if "Region" in u["name_en"] else "city"),
            name_ru=u.get("name_ru"),
            name_kk=u.get("name_kk"),
        )
        for u in doc["units"]
    ]
    registered = sum(u.electors for u in units)
    if took_part is None:
        reported = doc.get("totals", {}).get("electors_took_part")
        took_part = int(reported) if reported else round(registered * 0.917)
    took_part = min(took_part, registered)
    # Largest remainder: the units' ballots add up to exactly took_part.
    quotas = {u.code: u.electors * took_part / registered for u in units}
    voting = {code: int(q) for code, q in quotas.items()}
    by_remainder = sorted(quotas, key=lambda c: quotas[c] - voting[c], reverse=True)
    for code in by_remainder[: took_part - sum(voting.values())]:
        voting[code] += 1
    return Shape(units, voting)


def choices_for(shape: Shape, seed: int) -> dict[str, list[str | None]]:
    """Each unit's voters' choices: a clear winner (62-91%, as in 2023), a few blank ballots."""
    rng = random.Random(seed)
    out: dict[str, list[str | None]] = {}
    for u in shape.units:
        ids = [f"{u.code}-C{i + 1}" for i in range(u.candidates)]
        winner_share = rng.uniform(0.62, 0.91)
        picks: list[str | None] = []
        for _ in range(shape.voting[u.code]):
            x = rng.random()
            if x < BLANK_SHARE:
                picks.append(None)
            elif x < BLANK_SHARE + winner_share or len(ids) == 1:
                picks.append(ids[0])
            else:
                picks.append(rng.choice(ids[1:]))
        out[u.code] = picks
    return out


# ---------------------------------------------------------------------------------------------
# Building (not timed): ballots in a process pool, cast in-process

_worker: dict[str, Any] = {}


def _worker_init(manifest_hash: bytes, candidates: dict[str, list[str]], key: bytes) -> None:
    _worker["manifest_hash"] = manifest_hash
    _worker["candidates"] = candidates
    _worker["election_key"] = Point.from_bytes(key)


def _make_one(task: tuple[str, str, bytes, str | None]) -> dict[str, Any]:
    unit, elector, seed, choice = task
    return make_ballot(
        _worker["manifest_hash"],
        unit,
        1,
        elector,
        _worker["candidates"][unit],
        choice,
        _worker["election_key"],
        SigningKey.from_seed(seed),
    )


def build(
    data: Path, shape: Shape, guardians: int, threshold: int, seed: int, workers: int, show: bool
) -> None:
    """Build the election in ``data``/election with every unit's round 1 cast and closed."""
    if show:
        print("key ceremony and rolls ...", file=sys.stderr, flush=True)
    keys = build_election(data / "election", shape.units, guardians=guardians, threshold=threshold)
    choices = choices_for(shape, seed)
    e = Election(data / "election", Config())
    try:
        for u in shape.units:
            e.open_round(u.code, 1)
        candidates = {u.code: e.log(u.code, 1).candidates for u in shape.units}
        tasks: list[tuple[str, str, bytes, str | None]] = []
        for u in shape.units:
            roll = [entry["elector"] for entry in e.manifest.units[u.code]["roll"]]
            for elector, choice in zip(roll, choices[u.code], strict=False):
                tasks.append((u.code, elector, keys[elector].seed(), choice))
        init = (e.manifest.hash, candidates, e.manifest.election_key.to_bytes())
        with (
            multiprocessing.Pool(workers, initializer=_worker_init, initargs=init) as pool,
            tqdm(total=len(tasks), desc="encrypting and casting", unit="ballot",
                 disable=not show) as bar,
        ):
            for ballot in pool.imap(_make_one, tasks, chunksize=16):
                _, created = e.cast(ballot)
                if not created:
                    raise RuntimeError(f"{ballot['elector']}: the ballot was not newly accepted")
                bar.update(1)
        for u in shape.units:
            e.close_round(u.code, 1)
    finally:
        e.stop()
    expected = {
        u.code: {c: choices[u.code].count(c) for c in candidates[u.code]} for u in shape.units
    }
    marker = {
        "units": [u.code for u in shape.units],
        "voting": shape.voting,
        "guardians": guardians,
        "threshold": threshold,
        "seed": seed,
        "expected_counts": expected,
    }
    (data / MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# The timed part


class Timers:
    """Seconds spent in chosen functions of tally_service.service.tally, by wrapping its globals."""

    def __init__(self, names: list[str]) -> None:
        self.spent = dict.fromkeys(names, 0.0)
        self._saved: dict[str, Any] = {}

    def _wrap(self, name: str, fn: F) -> F:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.spent[name] += time.perf_counter() - start

        return timed  # type: ignore[return-value]

    def __enter__(self) -> Timers:
        for name in self.spent:
            self._saved[name] = getattr(tally, name)
            setattr(tally, name, self._wrap(name, self._saved[name]))
        return self

    def __exit__(self, *exc: object) -> None:
        for name, fn in self._saved.items():
            setattr(tally, name, fn)


@dataclass(frozen=True)
class TallyRun:
    per_unit: dict[str, tuple[int, float]]  # unit -> (ballots, seconds)
    total: float
    parts: dict[str, float]
    open_time: float
    mismatches: list[str]


def timed_tally(data: Path, decrypting: list[int], show: bool) -> TallyRun:
    marker = json.loads((data / MARKER).read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="bench-tally-") as tmp:
        copy = Path(tmp) / "election"
        shutil.copytree(data / "election", copy)
        start = time.perf_counter()
        e = Election(copy, Config())
        open_time = time.perf_counter() - start
        per_unit: dict[str, tuple[int, float]] = {}
        mismatches: list[str] = []
        names = ["encrypted_sum", "partial_decrypt", "check_partial", "decrypt_counts"]
        try:
            with Timers(names) as timers:
                for unit in tqdm(marker["units"], desc="tallying", unit="unit", disable=not show):
                    start = time.perf_counter()
                    doc = insecure.tally_in_process(e, unit, 1, decrypting)
                    per_unit[unit] = (int(doc["took_part"]), time.perf_counter() - start)
                    if doc["counts"] != marker["expected_counts"][unit]:
                        mismatches.append(
                            f"{unit}: decrypted {doc['counts']}, "
                            f"cast {marker['expected_counts'][unit]}"
                        )
        finally:
            e.stop()
    total = sum(t for _, t in per_unit.values())
    parts = dict(timers.spent)
    parts["other"] = total - sum(parts.values())
    return TallyRun(per_unit, total, parts, open_time, mismatches)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]) if __doc__ else None,
    )
    parser.add_argument(
        "--data", type=Path, default=None,
        help="keep the built election here and reuse it on later runs (default: a temporary "
        "directory, removed at the end)",
    )
    parser.add_argument(
        "--units-file", type=Path, default=None,
        help="the election's shape (default: scripts/data/senate2023.json, else "
        "/work/shared/data/senate2023.json)",
    )
    parser.add_argument(
        "--took-part", type=int, default=None,
        help="ballots in all (default: the file's totals.electors_took_part, about 2,904)",
    )
    parser.add_argument("--guardians", type=int, default=5, help="guardians (n)")
    parser.add_argument("--threshold", type=int, default=3, help="guardians needed (k)")
    parser.add_argument(
        "--decrypting", default="1,2,3", help="the guardians who decrypt (comma-separated)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="timed runs; the best counts")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="ballot-generation processes"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed for the electors' choices")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    try:
        decrypting = [int(g) for g in args.decrypting.split(",") if g.strip()]
    except ValueError:
        parser.error("--decrypting is a comma-separated list of guardian numbers")
    if not 1 <= args.threshold <= args.guardians or args.workers < 1 or args.repeat < 1:
        parser.error("need 1 <= --threshold <= --guardians, and positive --workers, --repeat")
    if len(decrypting) < args.threshold or not all(1 <= g <= args.guardians for g in decrypting):
        parser.error("--decrypting needs at least --threshold guardians from 1 to --guardians")
    units_file = args.units_file or next((p for p in UNITS_FILES if p.exists()), None)
    if units_file is None or not units_file.exists():
        parser.error("no senate2023.json found; give --units-file")
    show = not args.quiet and sys.stderr.isatty()

    def figure(name: str, value: float, unit: str, digits: int = 1) -> None:
        print(f"{name} {value:.{digits}f} {unit}", flush=True)

    tmp = None
    if args.data is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-tally-data-")
        data = Path(tmp.name)
    else:
        data = args.data.resolve()
    try:
        build_time = None
        marker_path = data / MARKER
        if marker_path.exists():
            marker = json.loads(marker_path.read_text(encoding="utf-8"))
            if (marker["guardians"], marker["threshold"]) != (args.guardians, args.threshold):
                parser.error(
                    f"{data} holds an election of {marker['guardians']} guardians, threshold "
                    f"{marker['threshold']}: use another --data or the same --guardians and "
                    "--threshold"
                )
            if show:
                print(f"reusing the election in {data}", file=sys.stderr, flush=True)
        else:
            if (data / "election").exists():
                parser.error(f"{data}/election exists but was not built by this script")
            data.mkdir(parents=True, exist_ok=True)
            shape = load_shape(units_file, args.took_part)
            start = time.perf_counter()
            build(data, shape, args.guardians, args.threshold, args.seed, args.workers, show)
            build_time = time.perf_counter() - start
            marker = json.loads(marker_path.read_text(encoding="utf-8"))

        figure("nproc", os.cpu_count() or 0, "cpus", 0)
        figure("load_average_1min", os.getloadavg()[0], "tasks", 2)
        figure("units", len(marker["units"]), "units", 0)
        figure("ballots", sum(marker["voting"].values()), "ballots", 0)
        figure("guardians", marker["guardians"], "guardians", 0)
        figure("threshold", marker["threshold"], "guardians", 0)
        figure("decrypting", len(decrypting), "guardians", 0)
        if build_time is not None:
            figure("build_time", build_time, "s")

        best: TallyRun | None = None
        for _ in range(args.repeat):
            run = timed_tally(data, decrypting, show)
            if run.mismatches:
                for m in run.mismatches:
                    print(f"error: {m}", file=sys.stderr)
                return 1
            if best is None or run.total < best.total:
                best = run
        assert best is not None
        figure("open_election_time", best.open_time, "s", 3)
        figure("tally_time", best.total, "s", 3)
        for name, spent in best.parts.items():
            figure(f"tally_{name}_time", spent, "s", 3)
        for unit, (ballots, spent) in best.per_unit.items():
            figure(f"unit_{unit}_ballots", ballots, "ballots", 0)
            figure(f"unit_{unit}_tally_time", spent * 1e3, "ms")
    finally:
        if tmp is not None:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
