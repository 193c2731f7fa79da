"""The witness's HTTP shell: ``POST /add-checkpoint`` (C2SP tlog-witness), ``GET /vkey`` and
``GET /checkpoint?origin=...`` (its latest cosigned checkpoint of a log: witness/latest.py).

Served by waitress, threaded; the core serialises the requests that change its state.
"""

from __future__ import annotations

import contextlib
import logging
import signal
from types import FrameType

from flask import Flask, Response, request

from crypto.tlog_witness import MAX_REQUEST_SIZE
from tally_service.witness.core import Witness, _refuse
from tally_service.witness.latest import LatestCheckpoints

log = logging.getLogger("tally_service.witness")


def create_witness_app(witness: Witness) -> Flask:
    app = Flask("tally_service.witness")
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_SIZE

    def answer(status: int, content_type: str, body: str) -> Response:
        return Response(body, status=status, content_type=content_type)

    @app.post("/add-checkpoint")
    def add_checkpoint() -> Response:
        if (request.content_length or 0) > MAX_REQUEST_SIZE:
            refusal = _refuse(413, "too-large", "the request is too large")
            return answer(refusal.status, refusal.content_type, refusal.body)
        result = witness.add_checkpoint(request.get_data(cache=False))
        if result.check in ("fork", "inconsistent"):
            log.warning("refused an inconsistent checkpoint: %s", result.body.strip())
        return answer(result.status, result.content_type, result.body)

    @app.get("/vkey")
    def vkey() -> Response:
        return answer(200, "text/plain; charset=utf-8", f"{witness.cosigner.public}\n")

    latest = LatestCheckpoints(witness)

    @app.get("/checkpoint")
    def latest_checkpoint() -> Response:
        result = latest.answer(request.args.get("origin"))
        return answer(result.status, result.content_type, result.body)

    @app.errorhandler(404)
    @app.errorhandler(405)
    @app.errorhandler(413)
    def on_http(exc: Exception) -> Response:
        code = getattr(exc, "code", 400) or 400
        refusal = _refuse(code, "http", str(getattr(exc, "description", exc)))
        return answer(refusal.status, refusal.content_type, refusal.body)

    return app


def serve_witness(witness: Witness, host: str, port: int, threads: int = 4) -> None:
    from waitress import create_server

    server = create_server(
        create_witness_app(witness),
        host=host,
        port=port,
        threads=threads,
        max_request_body_size=2 * MAX_REQUEST_SIZE,
        ident="tally-service-witness",
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        server.close()

    signal.signal(signal.SIGTERM, stop)
    print(
        f"witness {witness.cosigner.public.name} on http://{host}:{server.effective_port}",
        flush=True,
    )
    print(f"vkey {witness.cosigner.public}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
