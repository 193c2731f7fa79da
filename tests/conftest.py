"""Shared fixtures: small elections built at test time (keys are generated, never stored in
the repository)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crypto.signing import SigningKey
from scripts.builders.sample import UnitSpec, build_election
from tally_service.service.config import Config
from tally_service.service.election import Election

SMALL_UNITS = [
    UnitSpec("AAA", "Unit A", candidates=3, electors=12),
    UnitSpec("BBB", "Unit B", candidates=2, electors=9, kind="city"),
]


@dataclass
class Built:
    data_dir: Path
    keys: dict[str, SigningKey]
    store: str | None = None  # a postgresql:// URL, or None: election.db in data_dir


@pytest.fixture(scope="session")
def built_template(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """One sealed election, built once per session; tests copy it."""
    data = tmp_path_factory.mktemp("template") / "election"
    keys = build_election(data, SMALL_UNITS, guardians=3, threshold=2)
    return Built(data, keys)


@pytest.fixture
def built(built_template: Built, tmp_path: Path) -> Built:
    import shutil

    data = tmp_path / "election"
    shutil.copytree(built_template.data_dir, data)
    return Built(data, built_template.keys)


@pytest.fixture
def election(built: Built) -> Iterator[Election]:
    e = Election(built.data_dir, Config(checkpoint_every=4))
    yield e
    e.stop()


# --- both store back ends (tests/pg_cluster.py) --------------------------------------------------


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[object]:
    """One PostgreSQL cluster for the session's contract tests (skipped, saying how to enable
    them, when the binaries or psycopg are missing)."""
    from tests.pg_cluster import HOW_TO_ENABLE, clusters, pg_bin, psycopg_available

    if pg_bin() is None or not psycopg_available():
        pytest.skip(HOW_TO_ENABLE)
    with clusters() as made:
        yield made.new().init().start()


@pytest.fixture(scope="session")
def pg_built_template(pg_cluster: object, tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The small election of ``built_template``, built into a PostgreSQL database that each
    test copies (CREATE DATABASE ... TEMPLATE)."""
    from tests.pg_cluster import Cluster

    assert isinstance(pg_cluster, Cluster)
    url = pg_cluster.create_database("kz_template")
    data = tmp_path_factory.mktemp("pg-template") / "election"
    keys = build_election(data, SMALL_UNITS, guardians=3, threshold=2, store=url)
    return Built(data, keys, url)


_databases = iter(range(1, 1_000_000))


def _pg_copy(cluster: object, template: Built, tmp_path: Path) -> Built:
    import shutil

    from tests.pg_cluster import Cluster

    assert isinstance(cluster, Cluster)
    url = cluster.create_database(f"kz_test_{next(_databases)}", template="kz_template")
    data = tmp_path / "election"
    shutil.copytree(template.data_dir, data)
    return Built(data, template.keys, url)


@pytest.fixture
def pg_built(pg_cluster: object, pg_built_template: Built, tmp_path: Path) -> Built:
    """The small election in a fresh PostgreSQL database of its own."""
    return _pg_copy(pg_cluster, pg_built_template, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_built(request: pytest.FixtureRequest, tmp_path: Path) -> Built:
    """The small election over each store back end in turn (the shared contract suite)."""
    if request.param == "sqlite":
        built: Built = request.getfixturevalue("built")
        return built
    cluster = request.getfixturevalue("pg_cluster")
    template = request.getfixturevalue("pg_built_template")
    return _pg_copy(cluster, template, tmp_path)


@pytest.fixture
def any_election(any_built: Built) -> Iterator[Election]:
    e = Election(any_built.data_dir, Config(checkpoint_every=4), store=any_built.store)
    yield e
    e.stop()


# --- nothing left behind ------------------------------------------------------------------------

RUN_MARK = "KZ_TALLY_TEST_RUN"


@pytest.fixture(scope="session", autouse=True)
def leaves_nothing_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The whole session leaves no process and no temporary directory behind.

    Every process the tests start inherits a mark in its environment, so one that outlives the
    session is found even after it was reparented (a server's workers after a SIGKILL, say).
    The system temp directory is pointed at a fresh directory for the session (processes
    inherit TMPDIR), which must be empty at the end; pytest's own tmp_path stays where it was.
    """
    import os
    import tempfile

    from tests.processes import tagged, wait_gone

    tmp_path_factory.getbasetemp()  # pytest's base directory, in the real temp directory
    mark = f"{os.getpid()}-{os.urandom(4).hex()}"
    watched = Path(tempfile.mkdtemp(prefix="kz-tally-tests-"))
    saved = {name: os.environ.get(name) for name in (RUN_MARK, "TMPDIR")}
    os.environ[RUN_MARK], os.environ["TMPDIR"] = mark, str(watched)
    tempfile.tempdir = str(watched)
    try:
        yield
    finally:
        tempfile.tempdir = None
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        import shutil
        import signal

        left_processes = wait_gone(tagged(RUN_MARK, mark), timeout=10)
        for pid in left_processes:  # reported below; not left running after the report
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        left_files = sorted(p.name for p in watched.iterdir())
        shutil.rmtree(watched, ignore_errors=True)
        assert not left_processes, f"processes left running by the tests: {left_processes}"
        assert not left_files, f"left in the temporary directory by the tests: {left_files}"


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """`serve` run in-process (the CLI message tests) points the root logger at the test's
    captured stderr; put the handlers back so that later tests do not log to a closed stream."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
