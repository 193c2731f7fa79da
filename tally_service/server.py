"""Running the HTTP API under waitress.

waitress is a pure-Python, threaded WSGI server with no fork model: one process holds the
in-memory logs and the single SQLite writer, which is what the log's ordering needs; threads
overlap the proof checks (libsodium releases the GIL) and the fsyncs.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
from pathlib import Path
from types import FrameType

from tally_service.app import create_app
from tally_service.election import Election


class AlreadyServing(Exception):
    pass


def lock_data_dir(data_dir: Path) -> int:
    """Take the data directory's lock: one server (or one offline command) at a time."""
    fd = os.open(data_dir / "service.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise AlreadyServing(f"another process holds {data_dir} (is the service running?)") from exc
    return fd


def serve(
    election: Election, host: str, port: int, threads: int = 8, check_workers: int = 0
) -> None:
    from waitress import create_server

    election.start_check_pool(check_workers)
    app = create_app(election)
    server = create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        # waitress's own limit sits above the app's so that Flask answers an oversized body
        # with problem+json; waitress still cuts off anything far larger (chunked bodies too)
        max_request_body_size=4 * election.config.max_body_bytes,
        ident="tally-service",
        clear_untrusted_proxy_headers=True,
    )
    election.start_checkpointer()

    def stop(signum: int, frame: FrameType | None) -> None:
        server.close()

    signal.signal(signal.SIGTERM, stop)
    logging.getLogger("tally_service").info(
        "serving",
        extra={"host": host, "port": server.effective_port},
    )
    print(f"serving on http://{host}:{server.effective_port}", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        election.stop()
