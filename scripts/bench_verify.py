#!/usr/bin/env python3
"""Benchmark the observer's verifier (scripts/verify.py) on generated election records.

Prints one figure per line as ``name value unit``:

- a full-size record shaped like the 2023 Senate election (20 units, their candidates and
  registered electors from senate2023.json, about 2,904 ballots), built through the service:
  verification wall time, CPU time, wall time per ballot, and the peak resident memory of the
  verifier (the largest of its processes, from wait4's rusage);
- one-unit synthetic records of each --sizes ballots (default 1,000 and 100,000), all with the
  same roll (so any memory difference comes from the ballots, not the manifest): the same
  figures, to show that the verifier's memory stays flat as the ballots grow.

The synthetic records are built faster than through the HTTP-free service path: ballots are
encrypted and signed on all cores, then appended to the service's log without its per-ballot
checks and with SQLite's fsync turned off (the verifier checks every ballot anyway; durability
plays no part in a benchmark). Everything else (checkpoints, close, tally, results, export) is
the service's own code. 100,000 ballots take several minutes to build on two cores.

Run from the top of the checkout:
    .venv/bin/python scripts/bench_verify.py [--sizes 1000,100000] [--skip-full] [--jobs N]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.builders import insecure

# scripts/ is not a package: make the checkout's top importable when run as a file.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto.ballot import make_signed_ballot
from crypto.canonical import canonical_json
from crypto.group import Point
from crypto.signing import SigningKey
from scripts.builders.sample import UnitSpec, build_election
from scripts.builders.simulate import run_election
from tally_service.service import results
from tally_service.service.config import Config
from tally_service.service.election import Election
from tally_service.service.export import export_record
from tally_service.service.store import Store

TOP = Path(__file__).resolve().parent.parent
VERIFY = TOP / "scripts" / "verify.py"
SENATE = ("scripts/data/senate2023.json", "../shared/data/senate2023.json")
SHARED_SENATE = Path("/work/shared/data/senate2023.json")
TOOK_PART_2023 = 2904
REGISTERED_2023 = 3167


def log(message: str, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def figure(name: str, value: float, unit: str, digits: int = 2) -> None:
    print(f"{name} {value:.{digits}f} {unit}", flush=True)


# -- measuring the verifier --------------------------------------------------------------------


@dataclass
class Measure:
    ok: bool
    seconds: float
    cpu: float
    peak_kib: int
    ballots: int


# A small launcher process runs the verifier and reads its rusage with wait4. The launcher is
# needed because Linux carries a process's peak RSS across fork and exec: a verifier started
# straight from this (large) benchmark process would report this process's memory as its own.
_LAUNCHER = """
import json, os, subprocess, sys, time
started = time.monotonic()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
output = child.stdout.read()
_, status, usage = os.wait4(child.pid, 0)
print(json.dumps({
    "seconds": time.monotonic() - started,
    "cpu": usage.ru_utime + usage.ru_stime,
    "maxrss_kib": usage.ru_maxrss,
    "exit": os.waitstatus_to_exitcode(status),
    "report": json.loads(output),
}))
"""


def measure(record: Path, jobs: int) -> Measure:
    """Run scripts/verify.py on ``record`` in a fresh process tree; time it and read the peak
    resident memory (the largest of the verifier's processes: main and workers)."""
    command = [sys.executable, str(VERIFY), str(record), "--json", "--quiet", "--jobs", str(jobs)]
    done = subprocess.run(
        [sys.executable, "-c", _LAUNCHER, *command], capture_output=True, text=True, check=True
    )
    out = json.loads(done.stdout)
    report = out["report"]
    ballots = next(c for c in report["checks"] if c["id"] == "V3")["checked"].get("ballots", 0)
    return Measure(
        ok=bool(report["ok"]) and out["exit"] == 0,
        seconds=float(out["seconds"]),
        cpu=float(out["cpu"]),
        peak_kib=int(out["maxrss_kib"]),
        ballots=int(ballots),
    )


def report(name: str, m: Measure) -> None:
    figure(f"{name}.ballots", m.ballots, "ballots", 0)
    figure(f"{name}.verified", 1.0 if m.ok else 0.0, "(1 = every check passed)", 0)
    figure(f"{name}.verify_wall", m.seconds, "s")
    figure(f"{name}.verify_cpu", m.cpu, "s")
    if m.ballots:
        figure(f"{name}.wall_per_ballot", 1000 * m.seconds / m.ballots, "ms", 3)
        figure(f"{name}.cpu_per_ballot", 1000 * m.cpu / m.ballots, "ms", 3)
    figure(f"{name}.peak_rss", m.peak_kib / 1024, "MiB", 1)


# -- the 2023-shaped record --------------------------------------------------------------------


def senate_units() -> list[UnitSpec]:
    for candidate in (TOP / SENATE[0], SHARED_SENATE):
        if candidate.is_file():
            data = json.loads(candidate.read_text(encoding="utf-8"))
            return [
                UnitSpec(
                    code=u["code"],
                    name_en=u["name_en"],
                    candidates=int(u["candidates"]),
                    electors=int(u["electors_registered"]),
                    kind=u.get("kind", "region"),
                    name_ru=u.get("name_ru"),
                    name_kk=u.get("name_kk"),
                )
                for u in data["units"]
            ]
    raise SystemExit("senate2023.json not found (tally_service/data or /work/shared/data)")


def clear_winner(unit: str, round_no: int, candidates: Sequence[str], rng: random.Random) -> Any:
    """About 75% for the first candidate, the rest spread, a few blank: decided in round 1."""
    x = rng.random()
    if x < 0.75:
        return candidates[0]
    if x < 0.97:
        return rng.choice(list(candidates[1:]) or list(candidates))
    return None


def build_full(base: Path, quiet: bool) -> Path:
    units = senate_units()
    log(f"building the 2023-shaped record: {len(units)} units, "
        f"{sum(u.electors for u in units)} electors ...", quiet)
    started = time.monotonic()
    record = base / "senate2023-record"
    run_election(
        base / "senate2023-data",
        units,
        turnout=TOOK_PART_2023 / REGISTERED_2023,
        chooser=clear_winner,
        record=record,
        checkpoint_every=64,
    )
    log(f"  built in {time.monotonic() - started:.0f} s", quiet)
    return record


# -- synthetic one-unit records ----------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_maker(manifest_hash: bytes, candidates: list[str], key_hex: str) -> None:
    _WORKER.update(hash=manifest_hash, candidates=candidates, key=Point.from_hex(key_hex))


def _make(batch: list[tuple[str, bytes, int]]) -> list[tuple[str, bytes]]:
    out = []
    for elector, seed, pick in batch:
        candidates = _WORKER["candidates"]
        choice = None if pick < 0 else candidates[pick]
        ballot = make_signed_ballot(
            _WORKER["hash"], "SYN", 1, elector, candidates, choice, _WORKER["key"],
            SigningKey.from_seed(seed),
        )
        out.append((elector, canonical_json(ballot)))
    return out


def _batches(
    electors: list[tuple[str, bytes]], size: int, rng: random.Random, batch: int = 200
) -> Iterator[list[tuple[str, bytes, int]]]:
    chunk: list[tuple[str, bytes, int]] = []
    for elector, seed in electors[:size]:
        x = rng.random()
        chunk.append((elector, seed, 0 if x < 0.6 else (1 if x < 0.95 else -1)))
        if len(chunk) == batch:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def build_template(base: Path, roll: int, quiet: bool) -> tuple[Path, list[tuple[str, bytes]]]:
    log(f"setting up a one-unit election with a roll of {roll} electors ...", quiet)
    started = time.monotonic()
    data = base / "synthetic-template"
    keys = build_election(data, [UnitSpec("SYN", "Synthetic unit", candidates=2, electors=roll)])
    electors = [(e, k.seed()) for e, k in keys.items()]
    log(f"  set up in {time.monotonic() - started:.0f} s", quiet)
    return data, electors


def build_synthetic(
    base: Path,
    template: Path,
    electors: list[tuple[str, bytes]],
    size: int,
    jobs: int,
    quiet: bool,
) -> Path:
    data = base / f"synthetic-{size}-data"
    record = base / f"synthetic-{size}-record"
    shutil.copytree(template, data)
    election = Election(data, Config(checkpoint_every=64, checkpoint_seconds=1e9))
    try:
        # bench only: no fsync per ballot while generating (the record is what is measured)
        assert isinstance(election.store, Store)
        election.store._writer.execute("PRAGMA synchronous=OFF")
        log_ = election.open_round("SYN", 1)
        started = time.monotonic()
        rng = random.Random(size)
        ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
        args = (election.manifest.hash, list(log_.candidates), election.manifest.election_key.hex())
        done = 0
        with ctx.Pool(jobs, initializer=_init_maker, initargs=args) as pool:
            for made in pool.imap(_make, _batches(electors, size, rng)):
                for elector, entry in made:
                    election._append(log_, elector, entry)
                done += len(made)
                if done % 10_000 < len(made) or done == size:
                    rate = done / max(time.monotonic() - started, 1e-9)
                    log(f"  {size}: {done} ballots cast ({rate:.0f}/s)", quiet)
        election.close_round("SYN", 1)
        log(f"  {size}: tallying ...", quiet)
        insecure.tally_in_process(election, "SYN", 1, [1, 2])
        results.publish(election, "preliminary")
        results.publish(election, "final")
        export_record(election, record)
    finally:
        election.stop()
    shutil.rmtree(data, ignore_errors=True)
    log(f"  {size}: built in {time.monotonic() - started:.0f} s", quiet)
    return record


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000", help="synthetic ballot counts")
    parser.add_argument("--skip-full", action="store_true", help="skip the 2023-shaped record")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="verifier workers")
    parser.add_argument("--keep", type=Path, help="build the records here and keep them")
    parser.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error("--sizes is a comma-separated list of integers")
    if any(s < 1 for s in sizes) or args.jobs < 1:
        parser.error("--sizes and --jobs must be positive")

    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-verify-"))
    base.mkdir(parents=True, exist_ok=True)
    figure("cores", os.cpu_count() or 1, "", 0)
    figure("verifier_jobs", args.jobs, "", 0)
    try:
        if not args.skip_full:
            record = build_full(base, args.quiet)
            log("verifying the 2023-shaped record ...", args.quiet)
            report("senate2023", measure(record, args.jobs))
        if sizes:
            roll = max(sizes) + max(sizes) // 10
            template, electors = build_template(base, roll, args.quiet)
            for size in sizes:
                record = build_synthetic(base, template, electors, size, args.jobs, args.quiet)
                log(f"verifying {size} synthetic ballots ...", args.quiet)
                report(f"synthetic{size}", measure(record, args.jobs))
                if args.keep is None:
                    shutil.rmtree(record, ignore_errors=True)
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
