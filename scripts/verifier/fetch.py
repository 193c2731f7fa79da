"""The live monitor's HTTP client: GET requests over one kept-alive connection.

A monitor asks the service for a few small files on every poll; opening a connection for each
(``urllib.request.urlopen``) costs more CPU than the answers. This client keeps one HTTP/1.1
connection and opens a new one when the service has closed it (a GET is safe to send again).
Standard library only, like the rest of the verifier.
"""

from __future__ import annotations

import http.client
import urllib.parse

TIMEOUT_SECONDS = 30.0


class FetchError(Exception):
    """The service did not answer (network, 5xx): try again at the next poll."""


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

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind: type[http.client.HTTPConnection] = http.client.HTTPConnection
            if self.scheme == "https":
                kind = http.client.HTTPSConnection
            self._connection = kind(self.host, self.port, timeout=self.timeout)
        return self._connection

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def get(self, path: str) -> bytes | None:
        """The body at ``path`` (under the service's URL), None for a 404; FetchError for any
        other status or a failed connection."""
        for attempt in (1, 2):
            reused = self._connection is not None
            try:
                connection = self._connect()
                connection.request("GET", self.base + path, headers={"Accept": "*/*"})
                response = connection.getresponse()
                body = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if reused and attempt == 1:
                    continue  # the service closed the idle connection: once more on a new one
                raise FetchError(f"{path}: {exc}") from exc
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.close()
                raise FetchError(f"{path}: {exc}") from exc
            if response.will_close:
                self.close()
            if response.status == 404:
                return None
            if response.status != 200:
                raise FetchError(f"{path}: HTTP {response.status}")
            return bytes(body)
        raise AssertionError("unreachable")
