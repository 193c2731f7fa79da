"""The electors' pages: the voting booth (/booth) and the receipt checker (/receipt).

Both are static files under tally_service/static/ (HTML, the pages' JavaScript, the vendored
libsodium.js): everything runs in the elector's browser, nothing comes from a CDN, and the
receipt page also works when opened from disk. These routes only point at them. Public API
reads carry ``Access-Control-Allow-Origin: *`` so that a receipt page opened from a file (or
served elsewhere) can fetch what it checks; casting stays same-origin.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, redirect, request

pages = Blueprint("pages", __name__)


def _to_static(name: str) -> Response:
    query = request.query_string.decode("ascii", "replace")
    target = f"/static/{name}" + (f"?{query}" if query else "")
    return redirect(target, code=302)  # type: ignore[return-value]


@pages.get("/booth")
def booth() -> Response:
    return _to_static("booth.html")


@pages.get("/receipt")
def receipt() -> Response:
    return _to_static("receipt.html")


def register_pages(app: Flask) -> None:
    app.register_blueprint(pages)

    @app.after_request
    def public_reads(response: Response) -> Response:
        if request.method == "GET" and request.path.startswith("/api/v1/"):
            response.headers["Access-Control-Allow-Origin"] = "*"
        return response
