"""Running the HTTP API under waitress.

waitress is a pure-Python, threaded WSGI server with no fork model: one process holds the
in-memory logs and the single SQLite writer, which is what the log's ordering needs; threads
overlap the proof checks (libsodium releases the GIL) and the fsyncs.

Stopping (SIGTERM from systemd, docker or ``timeout``; SIGINT from a terminal): the signal
handler only sets a flag, the main loop then stops accepting connections, lets the requests
already received finish and their answers go out, checkpoints every open log that grew, closes
the store and returns, so the process exits 0.
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from tally_service.common.problems import Problem
from tally_service.service.app import create_app
from tally_service.service.election import Election

log = logging.getLogger("tally_service")

# how long a stopping server waits for requests already received (then it stops anyway)
DRAIN_SECONDS = 10.0


class AlreadyServing(Exception):
    pass


class NoElection(Exception):
    pass


class ServeError(Exception):
    pass


def lock_data_dir(data_dir: Path) -> int:
    """Take the data directory's lock: one server (or one offline command) at a time.

    In a read-only data directory (a copy on read-only media, say) no one can write, so there
    is nothing to exclude: the lock is skipped and only reads will work."""
    if not (data_dir / "election.db").is_file():
        raise NoElection(
            f"no election in {data_dir} (give the data directory made by `tally-service init`)"
        )
    try:
        fd = os.open(data_dir / "service.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
        return os.open(data_dir / "election.db", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise AlreadyServing(f"another process holds {data_dir} (is the service running?)") from exc
    return fd


def _problem_channel_class(base: type) -> type:
    """waitress's channel, answering the errors waitress raises itself (a body over its limit,
    a malformed request line or header) with problem+json like the application does."""
    from waitress.task import ErrorTask

    class ProblemErrorTask(ErrorTask):  # type: ignore[misc]
        def execute(self) -> None:
            error = self.request.error
            check = {413: "too-large", 431: "too-large"}.get(error.code, "http")
            problem = Problem(error.code, check, str(error.body), error.reason)
            body = json.dumps(problem.to_json()).encode()
            self.status = f"{error.code} {error.reason}"
            self.response_headers.append(("Content-Type", "application/problem+json"))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    return type(
        "ProblemChannel",
        (base,),
        {"error_task_class": ProblemErrorTask, "task_class": _keep_alive_task_class()},
    )


def _keep_alive_task_class() -> type:
    """waitress's task, keeping the connection of a 304 (or 204) open.

    waitress 3.0 closes every HTTP/1.1 answer without Content-Length, and drops that header from
    answers that never have a body, so each 304 a browser or CDN got when revalidating turnout
    cost it a new connection (issue 28: 1.54-1.60x a bare hello's CPU). A bodiless answer's end
    is known without a length (RFC 9112 6.3), so the connection stays open unless the client
    asked to close it."""
    from waitress.task import WSGITask

    class KeepAliveTask(WSGITask):  # type: ignore[misc]
        _bodiless_keep_alive = False

        def build_response_header(self) -> bytes:
            asked = self.request.headers.get("CONNECTION", "").lower()
            self._bodiless_keep_alive = (
                not self.has_body
                and self.version == "1.1"
                and asked != "close"
                and not self.close_on_finish
            )
            try:
                header: bytes = super().build_response_header()
            finally:
                self._bodiless_keep_alive = False
            return header

        def set_close_on_finish(self) -> None:
            if not self._bodiless_keep_alive:
                super().set_close_on_finish()

    return KeepAliveTask


def _busy(channel: Any) -> bool:
    """Does a connection still have a request being read, served or answered?"""
    return bool(
        getattr(channel, "requests", None)
        or getattr(channel, "total_outbufs_len", 0)
        or getattr(channel, "request", None) is not None
    )


def serve(
    election: Election, host: str, port: int, threads: int = 8, check_workers: int = 0
) -> None:
    from waitress import create_server, wasyncore
    from waitress.channel import HTTPChannel
    from waitress.server import BaseWSGIServer

    app = create_app(election)
    try:
        server = create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            # waitress's own limit sits above the app's so that Flask answers an oversized body
            # with its own problem+json; waitress cuts off anything far larger (chunked too)
            max_request_body_size=4 * election.config.max_body_bytes,
            ident="tally-service",
            clear_untrusted_proxy_headers=True,
        )
    except OSError as exc:
        election.stop()
        reason = exc.strerror or str(exc)
        hint = (
            "another program listens there: stop it or choose another --port"
            if exc.errno == errno.EADDRINUSE
            else "check --host and --port"
        )
        raise ServeError(f"cannot listen on {host}:{port}: {reason.lower()} ({hint})") from exc
    election.start_check_pool(check_workers)
    socket_map: dict[int, Any] = server.map if hasattr(server, "map") else server._map
    listeners = [d for d in socket_map.values() if isinstance(d, BaseWSGIServer)]
    channel_class = _problem_channel_class(HTTPChannel)
    for listener in listeners:
        listener.channel_class = channel_class
    election.start_checkpointer()

    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()  # only a flag: closing sockets here would break the loop's select

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    effective_port = listeners[0].getsockname()[1] if listeners else port
    log.info("serving", extra={"host": host, "port": effective_port})
    print(f"serving on http://{host}:{effective_port}", flush=True)
    adj = listeners[0].adj if listeners else None
    use_poll = bool(adj and adj.asyncore_use_poll)
    try:
        while not stopping.is_set():
            wasyncore.loop(timeout=0.5, map=socket_map, use_poll=use_poll, count=1)
        log.info("stopping: no new connections, finishing the requests in flight")
        for listener in listeners:
            listener.accepting = False
            wasyncore.dispatcher.close(listener)  # the listening socket; the trigger stays
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline and any(_busy(c) for c in list(socket_map.values())):
            wasyncore.loop(timeout=0.05, map=socket_map, use_poll=use_poll, count=1)
        if listeners:  # the listeners share one dispatcher: let its threads finish
            listeners[0].task_dispatcher.shutdown(cancel_pending=False, timeout=DRAIN_SECONDS)
        wasyncore.close_all(socket_map)
        election.checkpoint_grown_logs()
    finally:
        election.stop()
    log.info("stopped")
