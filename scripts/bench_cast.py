#!/usr/bin/env python3
"""Benchmark casting through the real HTTP server: accepted ballots per second and latency.

Builds an election of one unit of N electors (guardians 1 of 1), opens round 1 offline and
pre-generates all N signed ballots in a process pool (not timed). Then, for each --threads
value, starts a real ``tally-service serve`` on 127.0.0.1 (a fresh copy of the data directory
each time) and lets C client threads, each with its own requests.Session, post the ballots:
by default each client as fast as the server answers it (closed loop: then the mean latency is
about C divided by the throughput, by Little's law); with --rate R at a fixed R ballots per
second (open loop), each latency counted from the ballot's due time. Every answer must be 201
with a receipt for the right elector and leaf hash, and the receipts' indexes must be exactly
0..N-1 (checked after the timed part).

Prints one figure per line as ``name value unit`` (names get a ``_tN`` suffix when several
--threads values are measured in one run):

- accepted ballots per second (wall time from the first send to the last receipt);
- request latency p50, p90, p99, max and mean;
- the server process's CPU time (from /proc/<pid>/stat), per ballot and as cores used, that of
  its ballot-check worker processes, the client (this process's) CPU time, since all share the
  machine, and the CPU time anything else on the machine took meanwhile (from /proc/stat: a
  busy machine skews the figures);
- the final log size (from the server's turnout) and the database's size on disk;
- with --witnesses W: every figure without witnesses (``_w0``) and with W witness processes
  cosigning (``_wW``) on the same ballots, the ratio of the two rates, and how long after the
  last receipt the log's current (witnessed) checkpoint reached the final size (checkpoints
  come every --checkpoint-every ballots or 5 s, then the witnesses cosign).

With --pg-url URL (a PostgreSQL server where the bench may create and drop databases) and
--processes 1,2,4: after the SQLite run (suffix ``_sqlite``), each count of service processes
over a fresh database copied from a template (suffix ``_pgN``); clients spread over the
processes; the server CPU is that of all N processes, and ``postgres_cpu`` that of the
database server's processes (the bench must run on the database's machine, as root or its
owner, to read them).

The target (docs/benchmarks.md): at least 300 accepted ballots/s with p99 under 50 ms
(the closed-loop run gives the throughput; --rate 300 gives the latency at that load).

Run from the top of the checkout:
    .venv/bin/python scripts/bench_cast.py [--electors N] [--clients C] [--threads 4,8,16]
        [--rate R]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import multiprocessing
import os
import random
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# scripts/ is not a package: make the checkout's top importable when run as a file.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from tqdm import tqdm

from crypto.canonical import canonical_json
from crypto.group import Point
from crypto.merkle import leaf_hash
from crypto.signing import SigningKey
from scripts.builders.process import ServerProcess
from scripts.builders.sample import UnitSpec, build_election
from tally_service.elector.ballot import make_ballot
from tally_service.service.config import Config
from tally_service.service.election import Election

UNIT = "AAA"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# ---------------------------------------------------------------------------------------------
# Ballot generation (in pool workers; the elector keys travel as 32-byte seeds)

_worker: dict[str, object] = {}


def _worker_init(manifest_hash: bytes, candidates: list[str], election_key: bytes) -> None:
    _worker["manifest_hash"] = manifest_hash
    _worker["candidates"] = candidates
    _worker["election_key"] = Point.from_bytes(election_key)


def _make_one(task: tuple[str, bytes, str | None]) -> tuple[str, bytes, str]:
    """(elector, request body, expected leaf hash hex) for one elector's ballot."""
    elector, seed, choice = task
    manifest_hash = _worker["manifest_hash"]
    candidates = _worker["candidates"]
    key = _worker["election_key"]
    assert isinstance(manifest_hash, bytes) and isinstance(candidates, list)
    assert isinstance(key, Point)
    ballot = make_ballot(
        manifest_hash, UNIT, 1, elector, candidates, choice, key, SigningKey.from_seed(seed)
    )
    body = json.dumps(ballot, separators=(",", ":")).encode("utf-8")
    return elector, body, leaf_hash(canonical_json(ballot)).hex()


@dataclass(frozen=True)
class Prepared:
    data: Path  # pristine data directory: round 1 open, no ballots
    ballots: list[tuple[str, bytes, str]]
    pg_template: str | None = None  # a database holding the same election (--pg-url)


PG_TEMPLATE = "kz_bench_template"


def pg_admin(url: str, statement: str) -> list[Any]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(statement.encode())
        return cur.fetchall() if cur.description else []


def pg_database_url(admin_url: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(admin_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def prepare_pg(admin_url: str, prepared: Prepared) -> Prepared:
    """The same ballots cannot go into another election (they bind to its manifest), so the
    PostgreSQL election is the pristine SQLite one: its store's rows copied into a template."""
    from tally_service.service.store import Store
    from tally_service.service.store_open import open_store

    pg_admin(admin_url, f"DROP DATABASE IF EXISTS {PG_TEMPLATE}")
    pg_admin(admin_url, f"CREATE DATABASE {PG_TEMPLATE}")
    url = pg_database_url(admin_url, PG_TEMPLATE)
    source = Store(prepared.data / "election.db")
    target = open_store(url)
    try:
        for key in ("draft", "ceremony", "manifest"):
            value = source.get_meta(key)
            if value is not None:
                target.set_meta(key, value)
        for row in source.rounds():
            target.open_round(row.unit, row.round, row.candidates, row.opened_at)
            for cp in source.checkpoints(row.unit, row.round):
                target.add_checkpoint(row.unit, row.round, cp.size, cp.note, cp.issued_at)
    finally:
        source.close()
        target.close()
    return Prepared(prepared.data, prepared.ballots, url)


def prepare(
    work: Path,
    electors: int,
    candidates: int,
    workers: int,
    seed: int,
    show: bool,
    witnesses: dict[str, Any] | None = None,
) -> Prepared:
    data = work / "pristine" / "election"
    if show:
        print(f"building an election of {electors} electors ...", file=sys.stderr, flush=True)
    keys = build_election(
        data,
        [UnitSpec(UNIT, "Bench unit", candidates, electors)],
        guardians=2,
        threshold=2,
        witnesses=witnesses,
    )
    e = Election(data, Config())
    try:
        e.open_round(UNIT, 1)
        manifest_hash = e.manifest.hash
        ids = list(e.log(UNIT, 1).candidates)
        election_key = e.manifest.election_key.to_bytes()
    finally:
        e.stop()
    rng = random.Random(seed)
    tasks = [(elector, keys[elector].seed(), rng.choice([*ids, None])) for elector in sorted(keys)]
    with multiprocessing.Pool(
        workers, initializer=_worker_init, initargs=(manifest_hash, ids, election_key)
    ) as pool:
        ballots = list(
            tqdm(
                pool.imap(_make_one, tasks, chunksize=32),
                total=len(tasks),
                desc="encrypting ballots",
                unit="ballot",
                disable=not show,
            )
        )
    return Prepared(data, ballots)


# ---------------------------------------------------------------------------------------------
# The timed part


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # fields from the 3rd (state) on
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (its ballot-check workers), from /proc/<pid>/task/*/children."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            try:
                kids = [int(x) for x in task.read_text().split()]
            except OSError:  # the task ended meanwhile
                continue
            found += kids
            todo += kids
    return found


def tree_cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):  # gone: its time is lost to this figure
            total += process_cpu_seconds(pid)
    return total


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK


def own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


@dataclass
class ClientResult:
    latencies: list[float] = field(default_factory=list)
    answers: list[tuple[str, int, bytes]] = field(default_factory=list)  # elector, status, body
    errors: list[str] = field(default_factory=list)
    last: float = 0.0


@dataclass(frozen=True)
class RunResult:
    threads: int | None
    wall: float
    latencies: list[float]
    accepted: int
    server_cpu: float
    workers_cpu: float
    client_cpu: float
    machine_cpu: float
    log_size: int
    checkpoint_size: int
    db_bytes: int
    problems: list[str]
    witnessed_after: float | None = None  # s from the last receipt to a witnessed final size
    postgres_cpu: float | None = None  # the database server's processes (--pg-url)


def run_clients(
    url: str,
    ballots: list[tuple[str, bytes, str]],
    clients: int,
    bar: tqdm[Any] | None,
    rate: float | None = None,
) -> tuple[float, list[ClientResult]]:
    """Post every ballot from ``clients`` threads; return (wall seconds, per-client results).

    Closed loop (``rate`` None): each client sends its next ballot as soon as it has an answer.
    Open loop: ballot i is due at i/rate seconds after the start; a client takes the next ballot,
    waits for its time and sends it, and its latency counts from the time it was due (so a
    client pool that falls behind shows up in the latency instead of hiding it).
    """
    pending = collections.deque(
        (i, elector, body) for i, (elector, body, _) in enumerate(ballots)
    )
    results = [ClientResult() for _ in range(clients)]
    started: list[float] = []
    barrier = threading.Barrier(clients, action=lambda: started.append(time.perf_counter()))
    headers = {"Content-Type": "application/json"}
    urls = url.split(" ")  # several service processes: the clients spread over them

    def client(result: ClientResult) -> None:
        url = urls[results.index(result) % len(urls)]
        endpoint = f"{url}/api/v1/ballots"
        session = requests.Session()
        session.get(f"{url}/api/v1/turnout", timeout=30).raise_for_status()  # connect first
        barrier.wait()
        clock = time.perf_counter
        start = started[0]
        while True:
            try:
                i, elector, body = pending.popleft()
            except IndexError:
                break
            if rate is None:
                t0 = clock()
            else:
                t0 = start + i / rate
                delay = t0 - clock()
                if delay > 0:
                    time.sleep(delay)
            try:
                r = session.post(endpoint, data=body, headers=headers, timeout=60)
            except requests.RequestException as exc:
                result.errors.append(f"{elector}: {type(exc).__name__}: {exc}")
                continue
            t1 = clock()
            result.latencies.append(t1 - t0)
            result.answers.append((elector, r.status_code, r.content))
            result.last = t1
            if bar is not None:
                bar.update(1)
        session.close()

    threads = [threading.Thread(target=client, args=(r,)) for r in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = max(r.last for r in results) - started[0] if started else 0.0
    return wall, results


def check_answers(ballots: list[tuple[str, bytes, str]], results: list[ClientResult]) -> list[str]:
    """Problems with the answers: anything but 201 + a matching receipt, and index coverage."""
    expected = {elector: leaf for elector, _, leaf in ballots}
    problems: list[str] = [e for r in results for e in r.errors]
    indexes: set[int] = set()
    for r in results:
        for elector, status, body in r.answers:
            if status != 201:
                problems.append(f"{elector}: HTTP {status}: {body[:200]!r}")
                continue
            try:
                receipt = json.loads(body)
            except ValueError:
                problems.append(f"{elector}: the 201 answer is not JSON")
                continue
            if (
                receipt.get("elector") != elector
                or receipt.get("unit") != UNIT
                or receipt.get("round") != 1
                or receipt.get("leaf_hash") != expected[elector]
                or not isinstance(receipt.get("index"), int)
                or not isinstance(receipt.get("promise"), str)
            ):
                problems.append(f"{elector}: the receipt does not match the ballot: {receipt}")
                continue
            if receipt["index"] in indexes:
                problems.append(f"{elector}: index {receipt['index']} was given twice")
            indexes.add(receipt["index"])
    if not problems and indexes != set(range(len(ballots))):
        problems.append("the receipts' indexes are not exactly 0..N-1")
    return problems


def one_run(
    prepared: Prepared,
    work: Path,
    threads: int | None,
    clients: int,
    checkpoint_every: int | None,
    show: bool,
    rate: float | None = None,
    witness_args: list[str] | None = None,
    processes: int = 0,
    pg_url: str | None = None,
) -> RunResult:
    """``processes`` > 0: that many service processes over a copy of the PostgreSQL template
    (``pg_url``: the admin URL); 0: one process over SQLite."""
    run_dir = work / f"run-t{threads or 'default'}-w{len(witness_args or []) // 2}-p{processes}"
    shutil.copytree(prepared.data.parent, run_dir)
    data = run_dir / "election"
    extra: list[str] = list(witness_args or [])
    if threads is not None:
        extra += ["--threads", str(threads)]
    if checkpoint_every is not None:
        extra += ["--checkpoint-every", str(checkpoint_every)]
    database = None
    if processes:
        assert pg_url is not None
        database = f"kz_bench_p{processes}"
        pg_admin(pg_url, f"DROP DATABASE IF EXISTS {database}")
        pg_admin(pg_url, f"CREATE DATABASE {database} TEMPLATE {PG_TEMPLATE}")
        (data / "election.db").unlink()
        extra += ["--store", pg_database_url(pg_url, database)]
        # the machine's cores shared out: as many check workers in all as one process has
        extra += ["--check-workers", str(max(1, (os.cpu_count() or 1) // processes))]
    servers = [
        ServerProcess(data, *extra, log=run_dir / f"server-{i}.log").start()
        for i in range(max(1, processes))
    ]
    server = servers[0]
    postmaster = _postmaster(pg_url) if pg_url and processes else None
    pg_cpu = 0.0
    try:
        pids = [s.proc.pid for s in servers if s.proc is not None]
        pg0 = _tree_cpu_by_pid(postmaster) if postmaster else {}
        with tqdm(
            total=len(prepared.ballots),
            desc=f"casting (server threads {threads or 'default'})",
            unit="ballot",
            disable=not show,
        ) as bar:
            workers = [w for p in pids for w in descendants(p)]
            cpu0, own0, all0 = tree_cpu_seconds(pids), own_cpu_seconds(), machine_busy_seconds()
            wcpu0 = tree_cpu_seconds(workers)
            wall, results = run_clients(
                " ".join(s.url for s in servers), prepared.ballots, clients,
                bar if show else None, rate,
            )
            cpu1, own1, all1 = tree_cpu_seconds(pids), own_cpu_seconds(), machine_busy_seconds()
            wcpu1 = tree_cpu_seconds(workers)
            pg1 = _tree_cpu_by_pid(postmaster) if postmaster else {}
            pg_cpu = sum(t - pg0.get(p, 0.0) for p, t in pg1.items())
        done = time.perf_counter()
        turnout = requests.get(f"{server.url}/api/v1/turnout", timeout=30).json()
        unit = next(u for u in turnout["units"] if u["unit"] == UNIT)
        witnessed_after = (
            wait_witnessed(server.url, int(unit["took_part"]), done) if witness_args else None
        )
        if database is not None and pg_url is not None:
            pg_bytes = int(pg_admin(pg_url, f"SELECT pg_database_size('{database}')")[0][0])
    finally:
        for s in servers:
            s.stop()
    problems = check_answers(prepared.ballots, results)
    latencies = sorted(x for r in results for x in r.latencies)
    accepted = sum(1 for r in results for _, status, _ in r.answers if status == 201)
    if database is None:
        db_bytes = sum(p.stat().st_size for p in data.glob("election.db*"))
    else:
        db_bytes = pg_bytes
        if pg_url is not None:
            pg_admin(pg_url, f"DROP DATABASE IF EXISTS {database}")
    shutil.rmtree(run_dir, ignore_errors=True)
    return RunResult(
        threads=threads,
        wall=wall,
        latencies=latencies,
        accepted=accepted,
        server_cpu=cpu1 - cpu0,
        workers_cpu=wcpu1 - wcpu0,
        client_cpu=own1 - own0,
        machine_cpu=all1 - all0,
        log_size=int(unit["took_part"]),
        checkpoint_size=int(unit["checkpoint_size"]),
        db_bytes=db_bytes,
        problems=problems,
        witnessed_after=witnessed_after,
        postgres_cpu=pg_cpu if postmaster else None,
    )


def _postmaster(admin_url: str) -> int | None:
    """The database server's postmaster, when it runs on this machine (else None)."""
    try:
        directory = pg_admin(admin_url, "SHOW data_directory")[0][0]
        return int((Path(directory) / "postmaster.pid").read_text().split("\n", 1)[0])
    except Exception:
        return None


def _tree_cpu_by_pid(root: int) -> dict[int, float]:
    found: dict[int, float] = {}
    for pid in [root, *descendants(root)]:
        with contextlib.suppress(OSError):
            found[pid] = process_cpu_seconds(pid)
    return found


def wait_witnessed(url: str, size: int, since: float, timeout: float = 60.0) -> float:
    """Seconds from ``since`` until the log's current (witnessed) checkpoint has ``size``."""
    while time.perf_counter() - since < timeout:
        r = requests.get(f"{url}/api/v1/units/{UNIT}/rounds/1/checkpoint", timeout=30)
        if r.status_code == 200 and r.text.split("\n")[1] == str(size):
            return time.perf_counter() - since
        time.sleep(0.05)
    return float("nan")


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n*q/100), at least 1
    return sorted_values[int(rank) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:]) if __doc__ else None,
    )
    parser.add_argument("--electors", type=int, default=3000, help="electors in the unit (N)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent client threads (C)")
    parser.add_argument(
        "--threads",
        default="",
        help="server worker threads, comma-separated to measure several in one run "
        "(default: the server's own default)",
    )
    parser.add_argument(
        "--rate", type=float, default=None,
        help="open loop: send ballots at this many per second, latency counted from each "
        "ballot's due time (default: closed loop, each client as fast as it gets answers)",
    )
    parser.add_argument("--candidates", type=int, default=3, help="candidates in the unit")
    parser.add_argument(
        "--checkpoint-every", type=int, default=None,
        help="passed to the server (default: the server's own default)",
    )
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="ballot-generation processes"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed for the electors' choices")
    parser.add_argument(
        "--workdir", type=Path, default=None,
        help="where to build the election (default: a temporary directory, removed at the end)",
    )
    parser.add_argument(
        "--witnesses", type=int, default=0,
        help="W > 0: the manifest names W witnesses (quorum W - 1, or 1); each --threads value "
        "is measured twice on the same ballots, without witnesses (suffix _w0) and with W "
        "witness processes cosigning (suffix _wW), and their ratio printed",
    )
    parser.add_argument(
        "--pg-url", default=None,
        help="also measure over PostgreSQL: a server URL where the bench may create and drop "
        "databases (e.g. postgresql://postgres@127.0.0.1:5433/postgres)",
    )
    parser.add_argument(
        "--processes", default="1,2,4",
        help="with --pg-url: service process counts, comma-separated (default 1,2,4)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    if args.electors < 1 or args.clients < 1 or args.candidates < 1 or args.workers < 1:
        parser.error("--electors, --clients, --candidates and --workers must be positive")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be positive")
    try:
        thread_values: list[int | None] = [
            int(t) for t in args.threads.split(",") if t.strip()
        ] or [None]
    except ValueError:
        parser.error("--threads is a comma-separated list of integers")
    if any(t is not None and t < 1 for t in thread_values):
        parser.error("--threads values must be positive")
    show = not args.quiet and sys.stderr.isatty()

    def figure(name: str, value: float, unit: str, digits: int = 1, suffix: str = "") -> None:
        print(f"{name}{suffix} {value:.{digits}f} {unit}", flush=True)

    tmp = None
    if args.workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="bench-cast-")
        work = Path(tmp.name)
    else:
        work = args.workdir.resolve()
        if work.exists() and any(work.iterdir()):
            parser.error(f"--workdir {work} is not empty")
        work.mkdir(parents=True, exist_ok=True)
    failed = False
    try:
        t0 = time.perf_counter()
        witnesses = bench_witnesses(work, args.witnesses)
        prepared = prepare(
            work, args.electors, args.candidates, args.workers, args.seed, show,
            witnesses.section if witnesses else None,
        )
        figure("nproc", os.cpu_count() or 0, "cpus", 0)
        figure("load_average_1min", os.getloadavg()[0], "tasks", 2)
        figure("electors", args.electors, "ballots", 0)
        figure("clients", args.clients, "threads", 0)
        if args.rate is not None:
            figure("offered_rate", args.rate, "ballots/s")
        figure("prepare_time", time.perf_counter() - t0, "s")
        tags = ["_w0", f"_w{args.witnesses}"] if witnesses else [""]
        runs = [(t, tag, 0) for t in thread_values for tag in tags]
        if args.pg_url:
            if witnesses:
                parser.error("--pg-url and --witnesses: measure them in separate runs")
            prepared = prepare_pg(args.pg_url, prepared)
            counts = [int(p) for p in args.processes.split(",") if p.strip()]
            runs = [
                (t, tag, p)
                for t in thread_values
                for tag, p in [("_sqlite", 0)] + [(f"_pg{p}", p) for p in counts]
            ]
        rates: dict[str, float] = {}
        for threads, tag, processes in runs:
            suffix = (f"_t{threads}" if len(thread_values) > 1 else "") + tag
            wargs = None
            if witnesses and tag != "_w0":  # fresh witnesses: each run's log is a new history
                wargs = witnesses.start(prepared.data, suffix)
            try:
                r = one_run(
                    prepared, work, threads, args.clients, args.checkpoint_every, show,
                    args.rate, wargs, processes, args.pg_url,
                )
            finally:
                if witnesses:
                    witnesses.stop()
            rates[suffix] = r.accepted / r.wall if r.wall else 0.0
            n = len(r.latencies)
            if threads is not None:
                figure("server_threads", threads, "threads", 0, suffix)
            figure("accepted", r.accepted, "ballots", 0, suffix)
            figure("wall_time", r.wall, "s", 3, suffix)
            figure("accepted_rate", r.accepted / r.wall if r.wall else 0.0, "ballots/s", 1, suffix)
            for q in (50, 90, 99):
                figure(f"latency_p{q}", percentile(r.latencies, q) * 1e3, "ms", 2, suffix)
            figure("latency_max", (r.latencies[-1] if n else float("nan")) * 1e3, "ms", 2, suffix)
            figure("latency_mean", (sum(r.latencies) / n if n else float("nan")) * 1e3, "ms", 2,
                   suffix)
            figure("server_cpu", r.server_cpu, "s", 2, suffix)
            figure("server_cpu_per_ballot", r.server_cpu / max(r.accepted, 1) * 1e3, "ms", 2,
                   suffix)
            figure("server_cores_used", r.server_cpu / r.wall if r.wall else 0.0, "cores", 2,
                   suffix)
            figure("check_workers_cpu", r.workers_cpu, "s", 2, suffix)
            figure("check_workers_cpu_per_ballot", r.workers_cpu / max(r.accepted, 1) * 1e3, "ms",
                   2, suffix)
            figure("client_cpu", r.client_cpu, "s", 2, suffix)
            figure("client_cpu_per_ballot", r.client_cpu / max(n, 1) * 1e3, "ms", 2, suffix)
            other = max(0.0, r.machine_cpu - r.server_cpu - r.workers_cpu - r.client_cpu)
            if r.postgres_cpu is not None:
                figure("postgres_cpu", r.postgres_cpu, "s", 2, suffix)
                figure("postgres_cpu_per_ballot", r.postgres_cpu / max(r.accepted, 1) * 1e3, "ms",
                       2, suffix)
                other -= r.postgres_cpu
            figure("other_cpu", max(0.0, other), "s", 2, suffix)  # other processes on the machine
            figure("log_size", r.log_size, "entries", 0, suffix)
            figure("checkpoint_size", r.checkpoint_size, "entries", 0, suffix)
            figure("db_size", r.db_bytes / (1024 * 1024), "MiB", 2, suffix)
            if r.witnessed_after is not None:
                figure("witnessed_after_last_receipt", r.witnessed_after, "s", 2, suffix)
            if wargs:
                figure("rate_with_witnesses_vs_without", 100 * rates[suffix] / max(
                    rates[suffix.replace(tag, "_w0")], 1e-9), "%", 1,
                    suffix.replace(tag, ""))
            if r.problems:
                failed = True
                print(f"error: {len(r.problems)} answers were wrong; the first ones:",
                      file=sys.stderr)
                for p in r.problems[:10]:
                    print(f"  {p}", file=sys.stderr)
    finally:
        if tmp is not None:
            tmp.cleanup()
        if args.pg_url:
            with contextlib.suppress(Exception):
                pg_admin(args.pg_url, f"DROP DATABASE IF EXISTS {PG_TEMPLATE}")
    return 1 if failed else 0


@dataclass
class BenchWitnesses:
    """W witness processes (their keys made here, one in two ML-DSA-44) for --witnesses."""

    work: Path
    keys: list[Path]
    names: list[str]
    section: dict[str, Any]
    running: list[Any] = field(default_factory=list)

    def start(self, data: Path, tag: str) -> list[str]:
        """Start the witnesses with fresh state; the server's --witness arguments."""
        from scripts.builders.witness_process import WitnessProcess

        manifest = Election(data, Config())
        try:
            logs = self.work / "logs.txt"
            logs.write_text(
                "".join(f"{manifest.manifest.origin(UNIT, r)} "
                        f"{manifest.manifest.log_verifiers[UNIT]}\n" for r in (1, 2)),
                encoding="utf-8",
            )
        finally:
            manifest.stop()
        args = []
        for i, key in enumerate(self.keys):
            w = WitnessProcess(key, self.work / f"w{i}{tag}", logs).start()
            self.running.append(w)
            args += ["--witness", f"{self.names[i]}={w.url}"]
        return args

    def stop(self) -> None:
        for w in self.running:
            w.stop()
        self.running.clear()


def bench_witnesses(work: Path, count: int) -> BenchWitnesses | None:
    if count <= 0:
        return None
    from crypto.cosignature import TYPE_ED25519, TYPE_MLDSA44, Cosigner
    from crypto.witness_policy import manifest_section

    folder = work / "witnesses"
    folder.mkdir(parents=True)
    cosigners = [
        Cosigner.generate(f"w{i + 1}.bench.example", TYPE_MLDSA44 if i % 2 else TYPE_ED25519)
        for i in range(count)
    ]
    keys = []
    for i, c in enumerate(cosigners):
        path = folder / f"w{i + 1}.key"
        path.write_text(c.private_text(), encoding="ascii")
        path.chmod(0o600)
        keys.append(path)
    quorum = max(count - 1, (count // 2) + 1)
    colluders = 2 * quorum - count - 1
    section = manifest_section(quorum, colluders, [c.public for c in cosigners])
    return BenchWitnesses(folder, keys, [c.name for c in cosigners], section)


if __name__ == "__main__":
    sys.exit(main())
