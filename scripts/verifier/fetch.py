"""The live monitor's HTTP client: GET requests over one kept-alive connection.

A monitor asks the service for a few small files on every poll; opening a connection for each
(``urllib.request.urlopen``) costs more CPU than the answers. This client keeps one HTTP/1.1
connection and opens a new one when the service has closed it (a GET is safe to send again).

The service may be hostile: each answer must be complete within ``timeout`` seconds in all
(not per read: a service dripping a byte at a time would otherwise hold the monitor forever)
and hold at most the ``limit`` the caller gives for that document (never more than
``MAX_ANSWER_BYTES``; the monitor sizes it per document, ``record.document_limit``); anything
else is a FetchError, which the monitor reports and retries at its next poll. Standard
library only, like the rest of the verifier.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
import urllib.parse
import zlib

TIMEOUT_SECONDS = 30.0
# far above any honest answer (an entries page is at most 1,000 ballots of a few KiB; a log's
# checkpoints.txt a few thousand notes of 7 KiB), far below what would exhaust memory
MAX_ANSWER_BYTES = 256 * 1024 * 1024
CHUNK = 1 << 16


class FetchError(Exception):
    """The service did not answer (network, 5xx, too slow, too large): try again later."""


class Fetcher:
    def __init__(self, url: str, timeout: float = TIMEOUT_SECONDS) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{url}: not an http:// or https:// URL")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port
        self.base = parts.path.rstrip("/")
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None
        self._watchdog = _Watchdog()

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind: type[http.client.HTTPConnection] = http.client.HTTPConnection
            if self.scheme == "https":
                kind = http.client.HTTPSConnection
            self._connection = kind(self.host, self.port, timeout=self.timeout)
        if self._connection.sock is None:
            self._connection.connect()
        return self._connection

    def close(self) -> None:
        """Close the connection (the next request opens another)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def stop(self) -> None:
        """Close the connection and stop the deadline thread: the Fetcher is done."""
        self.close()
        self._watchdog.stop()

    def get(self, path: str, limit: int = MAX_ANSWER_BYTES, gzip: bool = False) -> bytes | None:
        """The body at ``path`` (under the service's URL), None for a 404; FetchError for any
        other status, a failed connection, or an answer too slow or larger than ``limit``.
        ``gzip``: ask as a browser does (``Accept-Encoding: gzip``) and give the body
        decompressed, itself at most ``limit`` bytes (a service must not be able to answer
        browsers and monitors differently just by that header)."""
        headers = {"Accept": "*/*"}
        if gzip:
            headers["Accept-Encoding"] = "gzip"
        for attempt in (1, 2):
            reused = self._connection is not None and self._connection.sock is not None
            expired = threading.Event()
            try:
                connection = self._connect()
                self._watchdog.arm(connection.sock, self.timeout, expired)
                connection.request("GET", self.base + path, headers=headers)
                response = connection.getresponse()
                body = _read(response, path, min(limit, MAX_ANSWER_BYTES))
                encoding = (response.getheader("Content-Encoding") or "identity").lower()
                if gzip and encoding == "gzip":
                    body = _gunzip(body, path, min(limit, MAX_ANSWER_BYTES))
                elif encoding != "identity":
                    raise FetchError(f"{path}: an answer in {encoding[:20]!r}, not asked for")
                if expired.is_set():
                    raise OSError("the deadline passed")
            except FetchError:
                self.close()
                raise
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if expired.is_set():
                    raise FetchError(f"{path}: no whole answer in {self.timeout:g} s") from exc
                if reused and attempt == 1:
                    continue  # the service closed the idle connection: once more on a new one
                raise FetchError(f"{path}: {exc}") from exc
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.close()
                if expired.is_set():
                    raise FetchError(f"{path}: no whole answer in {self.timeout:g} s") from exc
                raise FetchError(f"{path}: {exc}") from exc
            finally:
                self._watchdog.disarm()
            if response.will_close:
                self.close()
            if response.status == 404:
                return None
            if response.status != 200:
                raise FetchError(f"{path}: HTTP {response.status}")
            return body
        raise AssertionError("unreachable")


class _Watchdog:
    """One thread for all of a Fetcher's requests: it shuts the socket of a request that is
    still running at its deadline (a read blocked on it then fails). A thread per request
    (``threading.Timer``) cost about 0.26 ms each, 2% of a live monitor's CPU."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: tuple[float, socket.socket | None, threading.Event] | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    def arm(self, sock: socket.socket | None, seconds: float, expired: threading.Event) -> None:
        with self._cond:
            self._armed = (time.monotonic() + seconds, sock, expired)
            if self._thread is None:
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name="fetch-deadline")
                self._thread.daemon = True
                self._thread.start()
            self._cond.notify()

    def disarm(self) -> None:
        with self._cond:
            self._armed = None

    def stop(self) -> None:
        with self._cond:
            self._stopping, self._armed = True, None
            thread, self._thread = self._thread, None
            self._cond.notify()
        if thread is not None:
            thread.join(timeout=5)

    def _run(self) -> None:
        with self._cond:
            while not self._stopping:
                if self._armed is None:
                    self._cond.wait()
                    continue
                deadline, sock, expired = self._armed
                left = deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._armed = None
                expired.set()
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)


def _gunzip(data: bytes, path: str, limit: int) -> bytes:
    """A gzip body, decompressed to at most ``limit`` bytes (a small bomb is not inflated)."""
    inflater = zlib.decompressobj(wbits=31)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise FetchError(f"{path}: not gzip ({exc})") from exc
    if len(out) > limit or inflater.unconsumed_tail:
        raise FetchError(f"{path}: the answer is larger than {limit} bytes once decompressed")
    if not inflater.eof or inflater.unused_data:
        raise FetchError(f"{path}: the gzip answer is cut short or followed by other bytes")
    return out


def _read(response: http.client.HTTPResponse, path: str, limit: int) -> bytes:
    if response.length is not None and response.length > limit:  # said up front: not read
        raise FetchError(f"{path}: the answer is larger than {limit} bytes")
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = response.read(CHUNK)
        if not chunk:
            if response.length:  # read(amt) does not raise when the body stops short
                raise http.client.IncompleteRead(b"".join(chunks), response.length)
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            raise FetchError(f"{path}: the answer is larger than {limit} bytes")
        chunks.append(chunk)
