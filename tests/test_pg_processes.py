"""Several ``tally-service serve`` processes over one real PostgreSQL cluster, and what must
hold when things die: a process, the leader, the database server itself, the primary (with a
synchronous standby promoted in its place).

After every run: each receipt's entry is in the log at the receipt's index with the receipt's
leaf hash, indexes run 0..n-1 with no gap and no index twice, no elector twice, every promise
verifies, every stored checkpoint matches the entries, signed times never go backwards.

Each test starts its own cluster (tests/pg_cluster.py: from the distribution's binaries, on a
free port of 127.0.0.1, stopped and removed whatever happens); skipped without them.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from crypto.canonical import canonical_json
from crypto.checkpoint import open_checkpoint
from crypto.merkle import MerkleTree, leaf_hash
from crypto.note import verify_note
from scripts.builders import insecure
from scripts.builders.process import ServerProcess
from scripts.builders.sample import UnitSpec, build_election
from tally_service.elector.ballot import make_ballot
from tally_service.service.config import Config
from tally_service.service.election import Election
from tests.pg_cluster import HOW_TO_ENABLE, Cluster, ClusterSet, clusters, pg_bin, psycopg_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(pg_bin() is None or not psycopg_available(), reason=HOW_TO_ENABLE),
]


@pytest.fixture
def pg() -> Iterator[ClusterSet]:
    with clusters() as made:
        yield made


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = condition()
        except Exception:
            got = None
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or condition}")


class Setup:
    def __init__(
        self, tmp: Path, url: str, electors: int, units: int = 1, landslide: bool = False
    ) -> None:
        self.tmp = tmp
        self.url = url
        self.data = tmp / "election"
        self.units = [f"U{i:02d}" for i in range(units)]
        self.keys = build_election(
            self.data,
            [UnitSpec(u, u, 2, electors) for u in self.units],
            guardians=2,
            threshold=2,
            store=url,
        )
        e = Election(self.data, Config(), store=url)
        try:
            rng = random.Random(5)
            self.ballots: list[dict[str, Any]] = []
            for unit in self.units:
                log = e.open_round(unit, 1)
                for elector in sorted(k for k in self.keys if k.startswith(unit)):
                    self.ballots.append(
                        make_ballot(
                            e.manifest.hash, unit, 1, elector, log.candidates,
                            f"{unit}-C1"
                            if landslide
                            else rng.choice([f"{unit}-C1", f"{unit}-C2", None]),
                            e.manifest.election_key, self.keys[elector],
                        )
                    )
        finally:
            e.stop()
        self.servers: list[ServerProcess] = []

    def serve(self, n: int = 1, *extra: str) -> list[ServerProcess]:
        started = []
        for _ in range(n):
            i = len(self.servers)
            server = ServerProcess(
                self.data,
                "--store", self.url,
                "--checkpoint-every", "8",
                "--checkpoint-seconds", "1",
                "--check-workers", "0",
                "--threads", "4",
                *extra,
                log=self.tmp / f"server-{i}.log",
            ).start()
            self.servers.append(server)
            started.append(server)
        return started

    def stop_all(self) -> None:
        # all told at once: each takes most of a second to shut down cleanly
        for server in self.servers:
            if server.proc is not None and server.proc.poll() is None:
                server.proc.terminate()
        for server in self.servers:
            server.stop()


class Casting:
    """Clients posting the ballots to random live servers; a ballot without an answer (a
    connection error, a 503) is posted again, same bytes, later, maybe elsewhere."""

    def __init__(self, setup: Setup, clients: int = 6) -> None:
        self.setup = setup
        self.pending = list(setup.ballots)
        random.Random(3).shuffle(self.pending)
        self.receipts: dict[str, list[dict[str, Any]]] = {}
        self.statuses: dict[int, int] = {}
        self.no_retry_after = 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def start(self) -> Casting:
        for t in self.threads:
            t.start()
        return self

    def urls(self) -> list[str]:
        return [s.url for s in self.setup.servers if s.proc is not None and s.proc.poll() is None]

    def _client(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            with self.lock:
                if not self.pending:
                    return
                ballot = self.pending.pop()
            urls = self.urls()
            try:
                r = session.post(f"{random.choice(urls)}/api/v1/ballots", json=ballot, timeout=20)
            except (requests.RequestException, IndexError):
                with self.lock:
                    self.pending.insert(0, ballot)
                time.sleep(0.05)
                continue
            with self.lock:
                self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
                if r.status_code in (200, 201):
                    self.receipts.setdefault(ballot["elector"], []).append(r.json())
                elif r.status_code == 503:
                    if "Retry-After" not in r.headers:
                        self.no_retry_after += 1
                    self.pending.insert(0, ballot)
                else:
                    raise AssertionError(f"{r.status_code}: {r.text}")

    def progress(self) -> int:
        with self.lock:
            return len(self.receipts)

    def finish(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self.threads), f"casting stuck: {self.statuses}"
        self.stop.set()
        assert not self.pending
        assert self.no_retry_after == 0, "a 503 without Retry-After"


def check_everything(setup: Setup, casting: Casting, close: bool = True) -> Election:
    """The invariants, read back through a fresh Election over the database."""
    e = Election(setup.data, Config(), store=setup.url)
    by_elector = {b["elector"]: b for b in setup.ballots}
    for unit in setup.units:
        if close:
            e.close_round(unit, 1)
        log = e.log(unit, 1)
        entries = list(e.store.iter_entries(unit, 1))
        electors = [json_elector(x) for x in entries]
        assert len(set(electors)) == len(electors), "an elector twice"
        tree = MerkleTree()
        for entry in entries:
            tree.append(leaf_hash(entry))
        assert tree.size == log.tree.size
        verifier = e.manifest.log_verifiers[unit]
        last_time = ""
        for row in e.store.checkpoints(unit, 1):
            cp = open_checkpoint(row.note, verifier, e.manifest.origin(unit, 1))
            assert tree.root(cp.size) == cp.root, f"checkpoint {cp.size} does not match"
            assert row.issued_at >= last_time, "a signed time went backwards"
            last_time = row.issued_at
        for elector in electors:
            assert elector in by_elector
    for elector, receipts in casting.receipts.items():
        ballot = by_elector[elector]
        first = receipts[0]
        assert all(r["promise"] == first["promise"] for r in receipts), "two receipts differ"
        entry = e.store.entry_at(ballot["unit"], 1, first["index"])
        assert entry == canonical_json(ballot), f"receipt of {elector} not at its index"
        assert leaf_hash(entry).hex() == first["leaf_hash"]
        verifier = e.manifest.log_verifiers[ballot["unit"]]
        assert verify_note(first["promise"], [verifier]).verified_by == (verifier.name,)
    total = sum(e.log(u, 1).tree.size for u in setup.units)
    assert total == len(casting.receipts) == len(setup.ballots)
    return e


def json_elector(entry: bytes) -> str:
    import json

    elector: str = json.loads(entry)["elector"]
    return elector


def leader_pid(cluster: Cluster, database: str) -> int | None:
    rows = cluster.sql(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objid = 2 "
        f"AND a.datname = '{database}'"
    )
    if not rows:
        return None
    return int(str(rows[0][0]).rsplit("-", 1)[1])


def by_pid(setup: Setup, pid: int) -> ServerProcess:
    return next(s for s in setup.servers if s.proc is not None and s.proc.pid == pid)


# --- the tests ------------------------------------------------------------------------------


def test_three_processes_cast_concurrently(pg: ClusterSet, tmp_path: Path) -> None:
    cluster = pg.new().init().start()
    setup = Setup(tmp_path, cluster.create_database("kz"), electors=40, units=2)
    try:
        setup.serve(3)
        casting = Casting(setup, clients=6).start()
        casting.finish()
        # every process served some: casting really was spread
        leader = wait_for(lambda: leader_pid(cluster, "kz"), what="a leader")
        assert leader in [s.proc.pid for s in setup.servers if s.proc is not None]
        # checkpoints catch up with the whole log, whoever appended
        for unit in setup.units:
            wait_for(
                lambda u=unit: requests.get(
                    f"{setup.servers[1].url}/api/v1/units/{u}/rounds/1/checkpoint", timeout=5
                ).text.split("\n")[1] == "40",
                what="a checkpoint of the whole log",
            )
            # the latest checkpoint read from any process at once: never an older one than
            # another process served (the live monitor takes a smaller one for a rollback)
            for server in setup.servers:
                note = requests.get(
                    f"{server.url}/api/v1/units/{unit}/rounds/1/checkpoint", timeout=5
                ).text
                assert note.split("\n")[1] == "40"
    finally:
        setup.stop_all()
    check_everything(setup, casting).stop()


def test_kill_a_process_and_the_leader_mid_cast(pg: ClusterSet, tmp_path: Path) -> None:
    cluster = pg.new().init().start()
    setup = Setup(tmp_path, cluster.create_database("kz"), electors=120)
    try:
        setup.serve(3)
        leader = wait_for(lambda: leader_pid(cluster, "kz"), what="a leader")
        casting = Casting(setup).start()
        wait_for(lambda: casting.progress() >= 20, what="casting under way")
        follower = next(s for s in setup.servers if s.proc and s.proc.pid != leader)
        follower.kill()
        wait_for(lambda: casting.progress() >= 40, what="casting going on")
        setup.serve(1)  # a process started mid-cast (a rolling restart) joins in
        wait_for(lambda: casting.progress() >= 60, what="casting going on")
        by_pid(setup, leader).kill()  # the leader, mid-cast
        started = time.monotonic()
        new_leader = wait_for(
            lambda: (p := leader_pid(cluster, "kz")) is not None and p != leader and p,
            timeout=30,
            what="another leader",
        )
        took = time.monotonic() - started
        assert took < 10, f"the lead was taken over after {took:.1f} s"
        casting.finish()
        survivor = by_pid(setup, new_leader)
        # checkpoints resume on the new leader and reach the whole log
        wait_for(
            lambda: requests.get(
                f"{survivor.url}/api/v1/units/U00/rounds/1/checkpoint", timeout=5
            ).text.split("\n")[1] == "120",
            what="checkpoints resumed",
        )
    finally:
        setup.stop_all()
    check_everything(setup, casting).stop()


def test_a_frozen_leader_loses_the_lead(pg: ClusterSet, tmp_path: Path) -> None:
    """SIGSTOP of the leader (its TCP session stays open, so PostgreSQL keeps its lock): after
    the lease another process ends its session and leads, checkpoints go on; the old leader,
    woken, finds its connection gone and does not take the lead back."""
    import os
    import signal

    from tally_service.service.store_pg import LEASE_SECONDS

    cluster = pg.new().init().start()
    setup = Setup(tmp_path, cluster.create_database("kz"), electors=40)
    frozen = None
    try:
        setup.serve(2)
        leader = wait_for(lambda: leader_pid(cluster, "kz"), what="a leader")
        other = next(s for s in setup.servers if s.proc and s.proc.pid != leader)
        os.kill(leader, signal.SIGSTOP)
        frozen = leader
        started = time.monotonic()
        wait_for(
            lambda: leader_pid(cluster, "kz") == (other.proc.pid if other.proc else None),
            timeout=LEASE_SECONDS + 30,
            what="the other process leading",
        )
        assert time.monotonic() - started < LEASE_SECONDS + 15
        casting = Casting(setup)
        casting.pending = list(setup.ballots)
        urls = [other.url]
        casting.urls = lambda: urls  # type: ignore[method-assign]
        casting.start().finish()
        wait_for(  # the new leader's timed checkpoints cover the whole log
            lambda: requests.get(
                f"{other.url}/api/v1/units/U00/rounds/1/checkpoint", timeout=5
            ).text.split("\n")[1] == "40",
            what="checkpoints by the new leader",
        )
        os.kill(leader, signal.SIGCONT)
        frozen = None
        # the woken process polls within a second, finds its session ended: the lead stays
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert leader_pid(cluster, "kz") == (other.proc.pid if other.proc else None)
            time.sleep(0.2)
    finally:
        if frozen is not None:
            os.kill(frozen, signal.SIGCONT)
        setup.stop_all()
    check_everything(setup, casting).stop()


def test_database_restarted_mid_cast(pg: ClusterSet, tmp_path: Path) -> None:
    cluster = pg.new().init().start()
    setup = Setup(tmp_path, cluster.create_database("kz"), electors=100)
    try:
        setup.serve(2)
        casting = Casting(setup).start()
        wait_for(lambda: casting.progress() >= 20, what="casting under way")
        cluster.stop("immediate")  # a crash: only what was committed survives (WAL replay)
        wait_for(lambda: casting.statuses.get(503, 0) >= 3, what="503s while it is down")
        cluster.start()
        casting.finish()
        assert set(casting.statuses) <= {200, 201, 503}, casting.statuses
    finally:
        setup.stop_all()
    check_everything(setup, casting).stop()


def test_read_only_database_refuses_cleanly_and_loses_nothing(
    pg: ClusterSet, tmp_path: Path
) -> None:
    cluster = pg.new().init().start()
    setup = Setup(tmp_path, cluster.create_database("kz"), electors=30)
    try:
        (server,) = setup.serve(1)
        url = f"{server.url}/api/v1/ballots"
        first = [requests.post(url, json=b, timeout=10) for b in setup.ballots[:10]]
        assert all(r.status_code == 201 for r in first)
        cluster.sql("ALTER SYSTEM SET default_transaction_read_only = on")
        cluster.sql("SELECT pg_reload_conf()")
        wait_for(
            lambda: requests.post(url, json=setup.ballots[10], timeout=10).status_code == 503,
            what="a refusal",
        )
        r = requests.post(url, json=setup.ballots[11], timeout=10)
        assert r.status_code == 503 and r.headers.get("Retry-After")
        assert r.headers["Content-Type"].startswith("application/problem+json")
        # what was accepted is still served
        assert requests.get(f"{server.url}/api/v1/turnout", timeout=10).json()["took_part"] == 10
        cluster.sql("ALTER SYSTEM RESET default_transaction_read_only")
        cluster.sql("SELECT pg_reload_conf()")
        casting = Casting(setup)
        casting.pending = list(setup.ballots)  # all again: the first ten are repeats
        casting.start().finish()
    finally:
        setup.stop_all()
    check_everything(setup, casting).stop()


def test_failover_to_a_synchronous_standby_loses_no_receipt(
    pg: ClusterSet, tmp_path: Path
) -> None:
    """The primary is killed mid-cast and the synchronous standby promoted: every receipt
    given out (each only after COMMIT returned, i.e. after the standby had the WAL) is in the
    final log, and the verifier passes the exported record."""
    from scripts.verifier.run import verify_record
    from tally_service.service import results
    from tally_service.service.export import export_record

    primary = pg.new("primary").init(synchronous_commit="on").start()
    primary.create_database("kz")
    standby = pg.new("standby1").standby_of(primary)
    standby.start()
    # only now: with no standby connected, every COMMIT on the primary would wait for one
    primary.sql("ALTER SYSTEM SET synchronous_standby_names = 'standby1'")
    primary.sql("SELECT pg_reload_conf()")
    wait_for(
        lambda: primary.sql(
            "SELECT 1 FROM pg_stat_replication WHERE application_name = 'standby1' "
            "AND sync_state = 'sync'"
        ),
        what="the standby streaming synchronously",
    )
    # libpq tries the hosts in order and keeps the one that takes writes
    url = (
        f"postgresql://postgres@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/kz"
        "?target_session_attrs=read-write"
    )
    setup = Setup(tmp_path, url, electors=100, landslide=True)
    try:
        setup.serve(2)
        casting = Casting(setup).start()
        wait_for(lambda: casting.progress() >= 30, what="casting under way")
        primary.kill()  # mid-cast: COMMITs in flight never return
        got_before = casting.progress()
        standby.promote()
        casting.finish()
        assert casting.progress() == len(setup.ballots) > got_before
    finally:
        setup.stop_all()
    e = check_everything(setup, casting)
    try:
        insecure.tally_in_process(e, "U00", 1, [1, 2])
        results.publish(e, "preliminary")
        results.publish(e, "final")
        record = export_record(e, tmp_path / "record")
    finally:
        e.stop()
    report = verify_record(record, jobs=1)
    assert report.ok, report.failed()


def test_demo_over_postgresql_with_three_processes(pg: ClusterSet, tmp_path: Path) -> None:
    """scripts/demo --store URL --processes 3: the whole election (ceremony, two rounds with a
    runoff, witnesses, guardians, results) over one database, casting spread over three
    service processes, ending in the verifier's verdict."""
    import subprocess
    import sys

    cluster = pg.new().init().start()
    url = cluster.create_database("kz")
    top = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [
            sys.executable, str(top / "scripts" / "demo.py"), "--small", "--scenario", "runoff",
            "--store", url, "--processes", "3", "--seed", "7",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "3 service processes over postgresql://" in done.stdout
    assert "verifier: every check passed; receipts: verified" in done.stdout
    rows = cluster.sql("SELECT count(*), count(DISTINCT (unit, round, elector)) FROM ballots", "kz")
    assert rows[0][0] == rows[0][1] > 0


def test_full_disk_refuses_cleanly_and_loses_nothing(pg: ClusterSet, tmp_path: Path) -> None:
    """The database's tablespace on a small file system that fills up mid-cast: ballots are
    refused with 503 and Retry-After (never a receipt for one not stored), and once space is
    freed casting goes on with nothing accepted lost."""
    import os
    import shutil
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    cluster = pg.new().init().start()
    small = pg.base / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(small)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        shutil.chown(small, "postgres", "postgres")
        cluster.sql(f"CREATE TABLESPACE small LOCATION '{small}'")
        cluster.sql("CREATE DATABASE kz TABLESPACE small")
        setup = Setup(tmp_path, cluster.url("kz"), electors=80)
        try:
            (server,) = setup.serve(1)
            url = f"{server.url}/api/v1/ballots"
            assert all(
                requests.post(url, json=b, timeout=10).status_code == 201
                for b in setup.ballots[:10]
            )
            # fill the file system, leaving a few pages
            free = shutil.disk_usage(small).free
            filler = small / "filler"
            with filler.open("wb") as f:
                f.write(b"\0" * max(0, free - 48 * 1024))
            statuses = []
            for b in setup.ballots[10:]:
                r = requests.post(url, json=b, timeout=30)
                statuses.append(r.status_code)
                if r.status_code == 503:
                    assert r.headers.get("Retry-After")
                    assert r.json()["check"] == "storage-unavailable"
                    break
            assert statuses[-1] == 503, f"the disk never filled: {statuses}"
            filler.unlink()  # space freed
            casting = Casting(setup)
            casting.pending = list(setup.ballots)  # all again: those accepted are repeats
            casting.start().finish()
        finally:
            setup.stop_all()
        check_everything(setup, casting).stop()
    finally:
        cluster.stop("immediate")
        subprocess.run(["umount", "-l", str(small)], check=False)
