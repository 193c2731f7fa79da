"""A 304 keeps its connection open under waitress (issue 28): revalidating turnout is the public
pages' commonest request, and closing each one made a browser or CDN open a new connection."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest

from scripts.builders.process import ServerProcess
from tests.conftest import Built

pytestmark = pytest.mark.slow


def test_304_and_200_share_one_kept_alive_connection(built: Built) -> None:
    with ServerProcess(built.data_dir) as server:
        where = urlsplit(server.url)
        conn = http.client.HTTPConnection(where.hostname or "", where.port, timeout=30)
        try:
            for path in ("/api/v1/public/turnout", "/"):
                conn.request("GET", path)
                first = conn.getresponse()
                first.read()
                etag = first.getheader("ETag")
                assert first.status == 200 and etag
                sock = conn.sock
                for _ in range(3):
                    conn.request("GET", path, headers={"If-None-Match": etag})
                    again = conn.getresponse()
                    assert again.read() == b""
                    assert again.status == 304
                    assert (again.getheader("Connection") or "").lower() != "close"
                    assert not again.will_close
                    assert conn.sock is sock  # the same connection, not a new one
            conn.request("GET", "/", headers={"If-None-Match": etag, "Connection": "close"})
            asked = conn.getresponse()
            asked.read()
            assert asked.status == 304 and asked.will_close  # a client may still ask to close
        finally:
            conn.close()
