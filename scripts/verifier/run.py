"""The order of the checks, and the process pool for the ballot proofs.

1. V1 manifest, V2 key ceremony (small files, in this process).
2. Round 1 of every unit, streamed in one pass (V3 in the workers, V4 here).
3. Per unit: V5 sum, V6 decryption, V7 counts, V8 decision for round 1. The decision gives
   the runoff pair, which round 2's ballots must be for.
4. Round 2 of the units that have one, streamed; then V5-V8 for it, and which rounds exist.
5. V9 the results files, against the figures of steps 3 and 4.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import time
from multiprocessing.pool import Pool
from pathlib import Path

from crypto.signing import VerifyKey

from .checks_ballots import ElectionContext, init_worker
from .checks_logs import check_units_layout, log_dir
from .checks_manifest import check_booth_code, check_ceremony, check_manifest
from .checks_results import check_results
from .checks_rules import check_unit_rounds, decide_round, runoff_pair
from .checks_tally import (
    check_counts,
    check_decryption,
    check_sum,
    release_tally,
    round_candidates_claimed,
)
from .model import LogFacts, ManifestInfo, RoundFacts
from .progress import Progress
from .record import Record, RecordOpenError, open_record
from .report import Report
from .scan import LogJob, Scanner
from .trust import Trust, trust_line


def _context(manifest: ManifestInfo) -> ElectionContext:
    rolls = {
        code: {elector: (pos, unit.roll_keys[pos]) for elector, pos in unit.roll.items()}
        for code, unit in manifest.units.items()
    }
    key = manifest.election_key.to_bytes() if manifest.election_key is not None else None
    return ElectionContext(manifest.hash, key, rolls)


def _pool(jobs: int, context: ElectionContext) -> Pool | None:
    if jobs <= 1:
        init_worker(context)
        return None
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    ctx = multiprocessing.get_context(method)
    return ctx.Pool(jobs, initializer=init_worker, initargs=(context,))


def _ballot_bytes(record: Record, logs: set[tuple[str, int]]) -> int:
    return sum(record.size(f"{log_dir(u, r)}/ballots.jsonl") for u, r in logs)


def verify_record(
    path: Path,
    *,
    jobs: int | None = None,
    commission_key: VerifyKey | None = None,
    progress: bool = False,
    trust: Trust | None = None,
) -> Report:
    """Run V1-V9 on the record at ``path`` (a directory or an archive); ``trust``: the pins
    of a trust file, ``commission_key`` pinned alone or with them."""
    started = time.monotonic()
    report = Report.new(str(path))
    report.trust = trust_line(trust, commission_key)
    scratch: list[Path] = []
    try:
        try:
            record = open_record(path, scratch)
        except RecordOpenError as exc:
            report["V1"].fail(str(path), str(exc))
            _not_checked(report, "no record to check (see V1)")
            return report
        try:
            _verify(record, report, jobs or os.cpu_count() or 1, commission_key, progress, trust)
        except Exception as exc:  # a verifier bug must still give a verdict, never a pass
            for check in report.checks.values():
                check.fail("verifier", f"internal error, the check did not finish: {exc!r}")
        return report
    finally:
        for folder in scratch:
            shutil.rmtree(folder, ignore_errors=True)
        report.seconds = time.monotonic() - started


def _not_checked(report: Report, why: str, first: int = 2) -> None:
    for check in list(report.checks.values())[first - 1 :]:
        if check.ok:
            check.fail("-", f"not checked: {why}")


def _verify(
    record: Record,
    report: Report,
    jobs: int,
    commission_key: VerifyKey | None,
    show_progress: bool,
    trust: Trust | None = None,
) -> None:
    manifest = check_manifest(record, report["V1"], commission_key, trust)
    if manifest is not None:
        check_booth_code(record, manifest.payload, report["V1"])
    check_ceremony(record, manifest, report["V2"])
    if manifest is None:
        _not_checked(report, "no usable manifest (see V1)", first=3)
        return
    present = check_units_layout(record, manifest, report["V4"])
    pool = _pool(jobs, _context(manifest))  # before the progress bar's thread exists
    progress = Progress(_ballot_bytes(record, present), show_progress)
    try:
        scanner = Scanner(
            record, manifest, report["V3"], report["V4"], pool, jobs, progress
        )
        rounds: dict[tuple[str, int], RoundFacts] = {}
        logs: dict[tuple[str, int], LogFacts] = {}
        first = [
            LogJob(code, 1, list(unit.candidates))
            for code, unit in manifest.units.items()
            if (code, 1) in present
        ]
        logs.update(scanner.scan(first))
        for job in first:
            rounds[(job.unit, 1)] = _tally(record, manifest, logs[(job.unit, 1)], report)
        second: list[LogJob] = []
        derived: dict[str, list[str] | None] = {}
        for code in manifest.units:
            if (code, 2) not in present:
                continue
            pair = runoff_pair(rounds.get((code, 1)))
            if pair is None:  # V8 reports the stray round; check it with what it claims
                pair = round_candidates_claimed(record, code, 2)
                if pair is None:
                    report["V3"].fail(
                        f"units/{code}/2/ballots.jsonl",
                        "the runoff's candidates cannot be derived from round 1 (see V8)",
                    )
            derived[code] = pair
            second.append(LogJob(code, 2, pair))
        logs.update(scanner.scan(second))
        for job in second:
            rounds[(job.unit, 2)] = _tally(record, manifest, logs[(job.unit, 2)], report)
    finally:
        progress.close()
        if pool is not None:
            pool.close()
            pool.join()
    report["V4"].note(
        "successive checkpoints are consistent because every signed root equals the root of a "
        "prefix of the one log recomputed from ballots.jsonl; each step is also checked with an "
        "RFC 9162 consistency proof built from that recomputation"
    )
    for code in manifest.units:
        check_unit_rounds(code, present, rounds, derived.get(code), report["V8"])
    check_results(record, manifest, present, rounds, report["V9"])


def _tally(record: Record, manifest: ManifestInfo, facts: LogFacts, report: Report) -> RoundFacts:
    rf = check_sum(record, manifest, facts, report["V5"])
    check_decryption(manifest, facts, rf, report["V6"])
    check_counts(manifest, facts, rf, report["V7"])
    decide_round(manifest, facts, rf, report["V8"])
    release_tally(rf)  # one round's parsed tally held at a time
    return rf
