"""The electors' pages: the voting booth (/booth), the receipt checker (/receipt) and the
public ballot box (/ballots: every accepted ballot's tracker, checked against the signed log).

Threat: a link to the commission's real booth page that names another service or another
commission key in its query string (``/booth?service=...&commission_key=...``) made the genuine
page talk to a foreign server, trust that server's key and post the elector's ballot there
(issue 25). So the booth takes neither from the URL: it talks to the origin that served it,
and trusts only the commission keys written into the page here, from the sealed manifest (the
manifest cannot change after ``tally-service seal``). The receipt page gets the same keys when
served here; opened from disk, its elector types the commission-key fingerprint instead.

Both are static files under tally_service/static/ (HTML, the pages' JavaScript, the vendored
libsodium.js): everything runs in the elector's browser and nothing comes from a CDN. Public
API reads carry ``Access-Control-Allow-Origin: *`` so that a receipt page opened from a file (or
served elsewhere) can fetch what it checks; casting stays same-origin.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, request

from tally_service.election import Election

STATIC = Path(__file__).resolve().parent / "static"
KEYS_SLOT = '<meta name="kz-commission-keys" content="">'


def page_with_keys(name: str, keys: list[str]) -> bytes:
    """The static page ``name`` with the sealed manifest's commission keys written in."""
    html = (STATIC / name).read_text("utf-8")
    if KEYS_SLOT not in html:
        raise RuntimeError(f"static/{name} has no commission-key slot")
    filled = f'<meta name="kz-commission-keys" content="{",".join(keys)}">'
    if "<base " not in html:  # served at /receipt, its files are under /static/
        filled += '\n<base href="/static/">'
    return html.replace(KEYS_SLOT, filled, 1).encode("utf-8")


def register_pages(app: Flask, election: Election) -> None:
    keys = [str(k) for k in election.manifest.signed["payload"]["commission"]["keys"]]
    booth_page = page_with_keys("booth.html", keys)
    receipt_page = page_with_keys("receipt.html", keys)
    box_page = page_with_keys("ballots.html", keys)

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

    @app.after_request
    def public_reads(response: Response) -> Response:
        if request.method == "GET" and request.path.startswith("/api/v1/"):
            response.headers["Access-Control-Allow-Origin"] = "*"
        return response
