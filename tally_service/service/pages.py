"""The electors' pages: the voting booth (/booth), the receipt checker (/receipt) and the
public ballot box (/ballots: every accepted ballot's tracker, checked against the signed log).

Threat: a link to the commission's real booth page that names another service or another
commission key in its query string (``/booth?service=...&commission_key=...``) made the genuine
page talk to a foreign server, trust that server's key and post the elector's ballot there
(issue 25). So the booth takes neither from the URL: it talks to the origin that served it,
and trusts only the commission keys written into the page here, from the sealed manifest (the
manifest cannot change after ``tally-service seal``). The receipt page gets the same keys when
served here; opened from disk, its elector types the commission-key fingerprint instead.

Both are static files under tally_service/service/static/ (HTML, the pages' JavaScript, the vendored
libsodium.js): everything runs in the elector's browser and nothing comes from a CDN. Public
API reads carry ``Access-Control-Allow-Origin: *`` so that a receipt page opened from a file (or
served elsewhere) can fetch what it checks; casting stays same-origin.

The served pages load every script and stylesheet with Subresource Integrity (``integrity=
"sha384-..."``, computed here from the files at start-up) and name them by hash (``?h=``): a
cache or proxy between the service and the elector cannot swap a script, and the files can be
cached for a year. Text files are sent gzip-compressed when the browser accepts it (the vendored
libsodium is 1.3 MB, about 0.4 MB compressed). Neither protects against the operator itself,
who serves the page (docs/architecture.md says what does).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from pathlib import Path

from flask import Flask, Response, request

from tally_service.service.election import Election

STATIC = Path(__file__).resolve().parent / "static"
KEYS_SLOT = '<meta name="kz-commission-keys" content="">'


ASSET = re.compile(r'(<script src|<link rel="stylesheet" href)="([a-z0-9_./-]+)"')
COMPRESSED = (".js", ".css", ".html", ".svg", ".json")
YEAR = 365 * 24 * 3600


def file_hash(rel: str) -> str:
    """The short content hash that names a static file in the served pages' URLs."""
    return hashlib.sha256((STATIC / rel).read_bytes()).hexdigest()[:16]


def with_integrity(html: str) -> str:
    """Every script and stylesheet with its SRI hash and named by content (?h=)."""

    def pin(match: re.Match[str]) -> str:
        rel = match.group(2)
        data = (STATIC / rel).read_bytes()
        sri = "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")
        return f'{match.group(1)}="{rel}?h={file_hash(rel)}" integrity="{sri}"'

    return ASSET.sub(pin, html)


def page_with_keys(name: str, keys: list[str]) -> bytes:
    """The static page ``name`` with the sealed manifest's commission keys written in."""
    html = with_integrity((STATIC / name).read_text("utf-8"))
    if KEYS_SLOT not in html:
        raise RuntimeError(f"static/{name} has no commission-key slot")
    filled = f'<meta name="kz-commission-keys" content="{",".join(keys)}">'
    if "<base " not in html:  # served at /receipt, its files are under /static/
        filled += '\n<base href="/static/">'
    return html.replace(KEYS_SLOT, filled, 1).encode("utf-8")


#: The electors' pages, by the path they are served at, and the static file each is made from.
PAGES = {"booth": "booth.html", "receipt": "receipt.html", "ballots": "ballots.html"}


def booth_files(keys: list[str]) -> dict[str, bytes]:
    """Every file the electors' pages load, by its path under the service's root, with the bytes
    served there (before any compression): the three pages as served (their commission keys
    come from the manifest, so the bytes are fixed at ``seal``: no request changes them), the
    static files they are made from (the booth links to /static/receipt.html, and a receipt
    page saved to disk is that file), and every script and stylesheet they load. The sealed
    manifest carries the SHA-256 of each (``booth.files``, docs/record.md), the record holds
    them (``booth_code/``) and a monitor compares what the service serves with them."""
    files: dict[str, bytes] = {}
    for path, name in PAGES.items():
        files[path] = page_with_keys(name, keys)
        template = (STATIC / name).read_text("utf-8")
        files[f"static/{name}"] = template.encode("utf-8")
        for match in ASSET.finditer(template):
            rel = match.group(2)
            files[f"static/{rel}"] = (STATIC / rel).read_bytes()
    return dict(sorted(files.items()))


def booth_hashes(keys: list[str]) -> dict[str, dict[str, str]]:
    """The manifest's ``booth`` section: the SHA-256 (hex) of every file of ``booth_files``."""
    files = booth_files(keys)
    return {"files": {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}}


def register_pages(app: Flask, election: Election) -> None:
    keys = [str(k) for k in election.manifest.signed["payload"]["commission"]["keys"]]
    booth_page = page_with_keys(PAGES["booth"], keys)
    receipt_page = page_with_keys(PAGES["receipt"], keys)
    box_page = page_with_keys(PAGES["ballots"], keys)

    def html(body: bytes) -> Response:
        response = Response(body, mimetype="text/html")
        # the page may not be framed by another site (a look-alike around the real booth)
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        response.headers["Cache-Control"] = "no-cache"
        return response

    @app.get("/booth")
    def booth() -> Response:
        return html(booth_page)

    @app.get("/receipt")
    def receipt() -> Response:
        return html(receipt_page)

    @app.get("/ballots")
    def ballots() -> Response:
        # the public ballot box: every tracker of a unit's round, checked against the log
        return html(box_page)

    packed: dict[tuple[str, str], bytes] = {}  # (path, etag) -> gzip bytes

    @app.after_request
    def public_reads(response: Response) -> Response:
        if request.method == "GET" and request.path.startswith("/api/v1/"):
            response.headers["Access-Control-Allow-Origin"] = "*"
        if request.method == "GET" and request.path.startswith("/static/"):
            static_file(response, packed)
        return response


def static_file(response: Response, packed: dict[tuple[str, str], bytes]) -> None:
    """Long-lived caching for a file named by its hash; gzip for text, once per file version."""
    rel = request.path[len("/static/") :]
    if response.status_code != 200:
        return
    if request.args.get("h") and (STATIC / rel).is_file() and request.args["h"] == file_hash(rel):
        response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable"
    accepts = "gzip" in request.headers.get("Accept-Encoding", "")
    if not accepts or not rel.endswith(COMPRESSED) or "Content-Range" in response.headers:
        return
    key = (rel, response.headers.get("ETag", ""))
    if key not in packed:
        response.direct_passthrough = False
        packed[key] = gzip.compress(response.get_data(), compresslevel=9, mtime=0)
    response.direct_passthrough = False
    response.set_data(packed[key])
    response.headers["Content-Encoding"] = "gzip"
    response.headers["Vary"] = "Accept-Encoding"
