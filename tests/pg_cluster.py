"""Real PostgreSQL clusters for the tests, started from the distribution's binaries.

Each cluster lives in a fresh directory under /tmp (the postgres user must reach it, and the
session's own temporary directory is private to root), listens on a free port of 127.0.0.1
only (the machine's own server on 5432 is never touched), and is stopped and removed whatever
happens. ``initdb`` and ``postgres`` refuse to run as root: as root they run as the ``postgres``
user through ``runuser``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

HOW_TO_ENABLE = (
    "PostgreSQL binaries not found: the PostgreSQL tests are skipped. Enable them by "
    "installing the distribution's server (Debian: apt-get install postgresql; scripts/test "
    "does it when run as root) or by pointing KZ_TALLY_PG_BIN at a directory holding initdb "
    "and pg_ctl"
)


def pg_bin() -> Path | None:
    """The directory of initdb/pg_ctl/postgres (the newest installed major version)."""
    given = os.environ.get("KZ_TALLY_PG_BIN")
    candidates = [Path(given)] if given else []
    root = Path("/usr/lib/postgresql")
    if not given and root.is_dir():  # given: that directory only
        versions = sorted(
            (p for p in root.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)
        )
        candidates += [v / "bin" for v in reversed(versions)]
    for path in candidates:
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            if os.geteuid() == 0 and shutil.which("runuser") is None:
                return None
            return path
    return None


def psycopg_available() -> bool:
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


class Cluster:
    """One PostgreSQL server (a primary, or a standby made with ``standby_of``)."""

    def __init__(self, bin_dir: Path, base: Path, name: str = "primary") -> None:
        self.bin = bin_dir
        self.base = base
        self.name = name
        self.data = base / name
        self.port = free_port()
        self.log = base / f"{name}.log"

    # --- running the binaries ---------------------------------------------------------------
    def _run(self, *command: str, timeout: float = 120) -> None:
        env = dict(os.environ, TMPDIR=str(self.base), LC_ALL="C.UTF-8")
        done = subprocess.run(
            _as_postgres([str(self.bin / command[0]), *command[1:]]),
            env=env,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(
                f"{command[0]} failed ({done.returncode}): "
                f"{done.stderr.decode(errors='replace')[-2000:]}\n{log}"
            )

    def init(self, **settings: str) -> Cluster:
        self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--data-checksums", "--no-sync",
        )
        self.configure(
            listen_addresses="'127.0.0.1'",
            port=str(self.port),
            unix_socket_directories=f"'{self.base}'",
            max_connections="120",
            shared_buffers="32MB",
            wal_level="replica",
            max_wal_senders="4",
            wal_keep_size="64MB",
            **settings,
        )
        hba = self.data / "pg_hba.conf"
        with hba.open("a") as f:
            f.write("host replication postgres 127.0.0.1/32 trust\n")
        return self

    def configure(self, **settings: str) -> None:
        with (self.data / "postgresql.conf").open("a") as f:
            for key, value in settings.items():
                f.write(f"{key} = {value}\n")

    def start(self) -> Cluster:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def kill(self) -> None:
        """SIGKILL the postmaster and every backend: a crashed machine, as far as the
        database knows (what was committed is in the WAL, nothing else)."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        for child in _children(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        # the server's shared memory goes with its last process; a stale pid file stays
        for child in _children(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def promote(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", "promote")

    def standby_of(self, primary: Cluster) -> Cluster:
        """A streaming standby of ``primary``, named ``self.name`` in its
        synchronous_standby_names."""
        self._run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
            "-D", str(self.data), "-X", "stream", "--no-sync",
            # a fast checkpoint to start from: the default (spread) one is paced over
            # checkpoint_completion_target x checkpoint_timeout and took 94 of the failover
            # test's 100 s
            "--checkpoint=fast",
        )
        (self.data / "standby.signal").touch()
        if os.geteuid() == 0:
            shutil.chown(self.data / "standby.signal", "postgres", "postgres")
        self.configure(
            port=str(self.port),
            primary_conninfo=(
                f"'host=127.0.0.1 port={primary.port} user=postgres "
                f"application_name={self.name}'"
            ),
        )
        return self

    # --- using it ---------------------------------------------------------------------------
    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> list[tuple[object, ...]]:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cur = conn.execute(statement.encode())
            return cur.fetchall() if cur.description else []

    def create_database(self, name: str, template: str | None = None) -> str:
        extra = f" TEMPLATE {template}" if template else ""
        self.sql(f"CREATE DATABASE {name}{extra}")
        return self.url(name)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            found.append(int(entry.name))
    return found


@contextlib.contextmanager
def clusters() -> Iterator[ClusterSet]:
    """A directory for clusters: every cluster made in it is stopped (killed if it will not
    stop) and the directory removed on exit, whatever happened."""
    bin_dir = pg_bin()
    if bin_dir is None:
        raise RuntimeError(HOW_TO_ENABLE)
    base = Path(tempfile.mkdtemp(prefix="kz-tally-pg-", dir="/tmp"))
    made = ClusterSet(bin_dir, base)
    # a SIGTERM (a timeout, a Ctrl-C'd parent) unwinds through the clean-up below
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        os.chmod(base, 0o755)
        if os.geteuid() == 0:
            shutil.chown(base, "postgres", "postgres")
        yield made
    finally:
        for cluster in made.all:
            try:
                cluster.stop("immediate")
            except Exception:
                cluster.kill()
            if cluster.postmaster_pid() is not None and _alive(cluster.postmaster_pid() or 0):
                cluster.kill()
        shutil.rmtree(base, ignore_errors=True)
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


class ClusterSet:
    def __init__(self, bin_dir: Path, base: Path) -> None:
        self.bin = bin_dir
        self.base = base
        self.all: list[Cluster] = []

    def new(self, name: str = "primary") -> Cluster:
        cluster = Cluster(self.bin, self.base, name)
        self.all.append(cluster)
        return cluster
