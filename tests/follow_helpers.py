"""Shared by the monitor's tests and benchmark: a service in a thread, and a fake service that
serves a record directory the way /api/v1/record/ does (and its booth_code/ files at their own
paths) (so a test can play a hostile operator by
editing files between polls)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from werkzeug.serving import BaseWSGIServer, make_server

from crypto.merkle import MerkleTree, leaf_hash
from scripts.verifier.follow import Follower
from scripts.verifier.report import Report
from tally_service.service.pages import booth_files
from tests.verify_helpers import notes_of

__all__ = ["Follower", "RecordService", "Report", "ThreadServer"]

_BOOTH: dict[tuple[str, ...], dict[str, bytes]] = {}  # commission keys -> the booth's files
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ThreadServer:
    """A WSGI app on 127.0.0.1 with an OS-chosen port, in a thread; ``stop()`` ends it."""

    def __init__(self, app: WSGIApp) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1] if path.exists() else []


class RecordService:
    """Serves the files under ``root`` at /api/v1/record/..., with ?start= and ?end= as the real
    service answers them, and consistency proofs over the ballots.jsonl it serves now."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path: str = environ["PATH_INFO"]
        query = {k: int(v[0]) for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        body = self.answer(path, query)
        if body is None:
            start_response("404 Not Found", [("Content-Type", "application/problem+json")])
            return [b'{"status": 404, "check": "not-published"}']
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [body]

    def booth_file(self, path: str) -> bytes | None:
        """The booth's code is served where browsers load it (/booth, /static/js/booth.js):
        from the served record's booth_code/ when it has one (a test edits it there), else the
        project's own files as the real service serves them for this manifest."""
        if ".." in path.split("/"):
            return None
        folder = self.root / "booth_code"
        if folder.is_dir():
            return (folder / path).read_bytes() if (folder / path).is_file() else None
        manifest = self.root / "manifest.json"
        if not manifest.is_file():
            return None
        keys = tuple(
            str(k) for k in json.loads(manifest.read_bytes())["payload"]["commission"]["keys"]
        )
        if keys not in _BOOTH:
            _BOOTH[keys] = booth_files(list(keys))
        return _BOOTH[keys].get(path)

    def answer(self, path: str, query: dict[str, int]) -> bytes | None:
        prefix = "/api/v1/record/"
        if path.startswith("/api/v1/units/") and path.endswith("/proof/consistency"):
            _, _, _, _, unit, _, round_no, _, _ = path.split("/")
            lines = _lines(self.root / "units" / unit / round_no / "ballots.jsonl")
            tree = MerkleTree(leaf_hash(line) for line in lines)
            proof = tree.consistency_proof(query["from"], query["to"])
            return json.dumps({"proof": [p.hex() for p in proof]}).encode()
        if not path.startswith(prefix):
            return self.booth_file(path.lstrip("/"))
        file = self.root / path[len(prefix) :]
        if not file.is_file():
            return None
        start = query.get("start", 0)
        if file.name == "ballots.jsonl":
            lines = _lines(file)[start : query.get("end")]
            return b"".join(line + b"\n" for line in lines)
        if file.name == "audit.jsonl":
            return b"".join(line + b"\n" for line in _lines(file)[start:])
        if file.name == "checkpoints.txt":
            text = file.read_text(encoding="utf-8")
            return "\n".join(notes_of(file)[start:]).encode() if text else b""
        return file.read_bytes()
