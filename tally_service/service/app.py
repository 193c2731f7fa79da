"""The HTTP API (Flask). Public reads, the elector's cast endpoint, and (in commission_requests.py)
the commission's signed requests. Every error is ``application/problem+json``."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from crypto.canonical import EncodingError, hex_decode
from crypto.merkle import ProofError, leaf_hash
from tally_service.common import problems
from tally_service.common.problems import Problem
from tally_service.service import record_files
from tally_service.service.election import Election
from tally_service.service.http_json import parse_body
from tally_service.service.public.pages import cached_response
from tally_service.service.public.pages import register as register_public
from tally_service.service.store import StoreUnavailable

log = logging.getLogger("tally_service.http")
API = "/api/v1"
RESULT_KINDS = ("preliminary", "final")


def problem_response(problem: Problem) -> Response:
    response = jsonify(problem.to_json())
    response.status_code = problem.status
    response.mimetype = "application/problem+json"
    if problem.retry_after is not None:
        response.headers["Retry-After"] = str(problem.retry_after)
    return response


def text_response(body: str) -> Response:
    return Response(body, mimetype="text/plain; charset=utf-8")


_DIGITS = re.compile(r"[0-9]{1,18}")


def _int_arg(name: str, default: int | None = None) -> int:
    value = request.args.get(name)
    if value is None:
        if default is None:
            raise problems.bad_request("query", f"the query parameter {name!r} is required")
        return default
    if not _DIGITS.fullmatch(value):  # ASCII only: str.isdigit() also takes "²" and "١"
        raise problems.bad_request("query", f"{name!r} must be a non-negative integer")
    return int(value)


def create_app(election: Election) -> Flask:
    app = Flask("tally_service.service")
    app.config["MAX_CONTENT_LENGTH"] = election.config.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["election"] = election
    public = register_public(app, election)

    @app.before_request
    def started() -> None:
        request.environ["tally.start"] = time.perf_counter()

    @app.after_request
    def access_log(response: Response) -> Response:
        began = request.environ.get("tally.start", time.perf_counter())
        log.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "ms": round((time.perf_counter() - began) * 1000, 2),
            },
        )
        return response

    @app.errorhandler(Problem)
    def on_problem(problem: Problem) -> Response:
        return problem_response(problem)

    @app.errorhandler(StoreUnavailable)
    def on_store_unavailable(exc: StoreUnavailable) -> Response:
        # a full or failing disk is temporary: nothing of the request was recorded
        log.error("store unavailable", extra={"path": request.path, "error": str(exc)})
        return problem_response(
            problems.unavailable(
                "storage-unavailable",
                "the service cannot store anything just now (its disk or its database "
                "refused); nothing was promised for this request; send the same request again "
                "later (a ballot that was recorded after all gets its receipt then)",
            )
        )

    @app.errorhandler(HTTPException)
    def on_http(exc: HTTPException) -> Response:
        status = exc.code or 500
        checks = {404: "not-found", 405: "method", 413: "too-large"}
        response = problem_response(
            Problem(status, checks.get(status, "http"), exc.description or exc.name, exc.name)
        )
        for name, value in exc.get_headers():  # e.g. a 405's Allow
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    def on_error(exc: Exception) -> Response:
        log.exception("internal error")
        return problem_response(Problem(500, "internal", "internal error; see the server log"))

    @app.get(f"{API}/manifest")
    def manifest() -> Any:
        return jsonify(election.manifest.signed)

    @app.get(f"{API}/units")
    def units() -> Any:
        result = []
        for code, unit in election.manifest.units.items():
            rounds = [
                {"round": r, "state": "open" if lg.open else "closed", "candidates": lg.candidates}
                for (u, r), lg in sorted(election.logs.items())
                if u == code
            ]
            result.append(
                {
                    "code": code,
                    "name": unit["name"],
                    "candidates": unit["candidates"],
                    "registered": len(unit["roll"]),
                    "rounds": rounds,
                }
            )
        return jsonify({"units": result})

    @app.post(f"{API}/ballots")
    def cast() -> Any:
        if not request.is_json:
            raise problems.Problem(415, "media-type", "send the ballot as application/json")
        ballot = parse_body(request.get_data(cache=False))
        receipt, created = election.cast(ballot)
        return jsonify(receipt), 201 if created else 200

    def _log(unit: str, round_no: int) -> Any:
        return election.log(unit, round_no)

    base = f"{API}/units/<unit>/rounds/<int:round_no>"

    @app.get(f"{base}/checkpoint")
    def checkpoint(unit: str, round_no: int) -> Any:
        size = request.args.get("size")
        lg = _log(unit, round_no)
        return text_response(election.checkpoint_at(lg, None if size is None else _int_arg("size")))

    @app.get(f"{base}/checkpoints")
    def checkpoints(unit: str, round_no: int) -> Any:
        _log(unit, round_no)
        rows = election.store.checkpoints(unit, round_no)
        return jsonify(
            {
                "checkpoints": [
                    {"size": r.size, "issued_at": r.issued_at, "final": r.final, "note": r.note}
                    for r in rows
                ]
            }
        )

    @app.get(f"{base}/entries")
    def entries(unit: str, round_no: int) -> Any:
        lg = _log(unit, round_no)
        start = _int_arg("start", 0)
        limit = min(_int_arg("limit", election.config.page_size), election.config.page_size)
        rows = election.store.entries(unit, round_no, start, start + limit)
        return jsonify(
            {"start": start, "tree_size": lg.tree.size, "entries": [json.loads(r) for r in rows]}
        )

    @app.get(f"{base}/proof/inclusion")
    def inclusion(unit: str, round_no: int) -> Any:
        lg = _log(unit, round_no)
        size = _int_arg("size", lg.published()[1])
        if request.args.get("leaf_hash") is not None:
            try:
                wanted = hex_decode(request.args["leaf_hash"], 32)
            except EncodingError as exc:
                raise problems.bad_request("query", "leaf_hash must be 32 bytes of hex") from exc
            found = election.store.index_of_leaf(unit, round_no, wanted)
            if found is None:
                raise problems.not_found("unknown-leaf", "no entry with that leaf hash")
            index = found
        else:
            index = _int_arg("index")
        note = election.checkpoint_at(lg, size)
        with lg.lock:  # the tree is not safe to read while a cast appends to it
            try:
                proof = lg.tree.inclusion_proof(index, size)
            except ProofError as exc:
                raise problems.bad_request("range", str(exc)) from exc
            leaf = lg.tree.leaf_hash(index)
        return jsonify(
            {
                "index": index,
                "tree_size": size,
                "leaf_hash": leaf.hex(),
                "proof": [p.hex() for p in proof],
                "checkpoint": note,
            }
        )

    @app.get(f"{base}/proof/consistency")
    def consistency(unit: str, round_no: int) -> Any:
        lg = _log(unit, round_no)
        size1, size2 = _int_arg("from"), _int_arg("to", lg.published()[1])
        with lg.lock:
            try:
                proof = lg.tree.consistency_proof(size1, size2)
            except ProofError as exc:
                raise problems.bad_request("range", str(exc)) from exc
        return jsonify({"size1": size1, "size2": size2, "proof": [p.hex() for p in proof]})

    @app.post(f"{base}/cosignatures")
    def post_cosignatures(unit: str, round_no: int) -> Any:
        # pull-mode witnesses (guardians): a checkpoint note with their cosignature lines
        from tally_service.service.witnessing import accept_posted

        body = request.get_data(cache=False).decode("utf-8", errors="replace")
        return jsonify({"attached": accept_posted(election, unit, round_no, body)})

    @app.get(f"{base}/receipts")
    def receipt_lookup(unit: str, round_no: int) -> Any:
        # A booth whose answer to a cast was lost asks here whether the ballot went in (by its
        # leaf hash), and a booth asks at sign-in whether the elector has voted (by elector):
        # the answer is the receipt the cast would have returned, or 404 not-cast.
        lg = _log(unit, round_no)
        wanted_leaf, wanted_elector = request.args.get("leaf_hash"), request.args.get("elector")
        if (wanted_leaf is None) == (wanted_elector is None):
            raise problems.bad_request("query", "give exactly one of leaf_hash and elector")
        if wanted_leaf is not None:
            try:
                leaf = hex_decode(wanted_leaf, 32)
            except EncodingError as exc:
                raise problems.bad_request("query", "leaf_hash must be 32 bytes of hex") from exc
            index = election.store.index_of_leaf(unit, round_no, leaf)
            if index is None:
                raise problems.not_found(
                    "not-cast", f"{lg.origin} holds no ballot with that leaf hash"
                )
            stored = election.store.entries(unit, round_no, index, index + 1)[0]
            elector = json.loads(stored)["elector"]
        else:
            found = election.store.ballot_of(unit, round_no, str(wanted_elector))
            if found is None:
                raise problems.not_found("not-cast", f"{lg.origin} holds no ballot of that elector")
            index, stored = found
            elector, leaf = str(wanted_elector), leaf_hash(stored)
        return jsonify(election.receipt(lg, elector, index, leaf))

    @app.get(f"{base}/receipts/<int:index>")
    def receipt_proof(unit: str, round_no: int, index: int) -> Any:
        lg = _log(unit, round_no)
        if index >= lg.tree.size:
            raise problems.not_found("unknown-index", f"{lg.origin} has no entry {index}")
        proof = election.tlog_proof(lg, index)
        if proof is None:
            raise problems.not_found(
                "not-yet-checkpointed", "no checkpoint covers this entry yet; try again shortly"
            )
        return text_response(proof)

    @app.post(f"{API}/commission/<action>")
    def commission_action(action: str) -> Any:
        from tally_service.service.commission_requests import REPEAT_HEADER, answer

        if not request.is_json:
            raise problems.Problem(415, "media-type", "send the request as application/json")
        given = answer(election, action, parse_body(request.get_data(cache=False)))
        response = Response(given.body + "\n", status=given.status, mimetype=given.mimetype)
        if given.repeat:
            response.headers[REPEAT_HEADER] = "true"
        return response

    @app.post(f"{API}/guardian/partials")
    def guardian_partial() -> Any:
        from tally_service.service.guardian_partials import accept_guardian_partial

        return jsonify(accept_guardian_partial(election, parse_body(request.get_data(cache=False))))

    @app.get(f"{base}/tally")
    def tally_doc(unit: str, round_no: int) -> Any:
        _log(unit, round_no)
        doc = election.store.get_tally(unit, round_no)
        if doc is None:
            raise problems.not_found("not-tallied", f"round {round_no} of {unit} is not tallied")
        return Response(doc, mimetype="application/json")

    @app.get(f"{API}/results/<kind>")
    def results_doc(kind: str) -> Any:
        # signed and immutable once published: served with its ETag from the public snapshot
        doc = public.snapshot().results.get(kind)
        if doc is None:
            raise problems.not_found("no-results", f"no {kind[:20]} result is published")
        return cached_response(doc.etag, doc.body, "application/json")

    @app.get(f"{API}/record.tar.gz")
    def record() -> Any:
        from tally_service.service.export import export_archive

        response = Response(export_archive(election), mimetype="application/gzip")
        response.headers["Content-Disposition"] = "attachment; filename=record.tar.gz"
        return response

    @app.get(f"{API}/openapi.json")
    def openapi() -> Any:
        from tally_service.service.openapi import build_spec

        return jsonify(build_spec())

    @app.get(f"{API}/turnout")
    def turnout() -> Any:
        return jsonify(election.turnout())

    @app.get(f"{API}/health")
    def health() -> Any:
        return jsonify(election.health.snapshot())

    # -- the election record, file by file, with the exported bytes (docs/api.md "The record,
    # file by file"): what an observer's monitor mirrors (scripts/verify.py --follow).
    files = f"{API}/record"

    def _file(data: bytes | None, mimetype: str, missing: str) -> Response:
        if data is None:
            raise problems.not_found("not-published", missing)
        return Response(data, mimetype=mimetype)

    @app.get(f"{files}/manifest.json")
    def record_manifest() -> Any:
        return _file(record_files.manifest_bytes(election), "application/json", "")

    @app.get(f"{files}/key_ceremony.json")
    def record_ceremony() -> Any:
        data = record_files.ceremony_bytes(election)
        return _file(data, "application/json", "the key ceremony is not finished")

    @app.get(f"{files}/audit.jsonl")
    def record_audit() -> Any:
        data = b"".join(record_files.audit_lines(election, _int_arg("start", 0)))
        return _file(data, "application/jsonl", "")

    record_log = f"{files}/units/<unit>/<int:round_no>"

    @app.get(f"{record_log}/checkpoints.txt")
    def record_checkpoints(unit: str, round_no: int) -> Any:
        _log(unit, round_no)
        notes = record_files.checkpoint_notes(election, unit, round_no)
        start = _int_arg("start", 0)
        return _file(record_files.checkpoints_text(notes[start:]), "text/plain", "")

    @app.get(f"{record_log}/ballots.jsonl")
    def record_ballots(unit: str, round_no: int) -> Any:
        lg = _log(unit, round_no)
        start = _int_arg("start", 0)
        end = min(_int_arg("end", lg.tree.size), start + election.config.page_size)
        rows = election.store.entries(unit, round_no, start, end) if end > start else []
        response = _file(b"".join(row + b"\n" for row in rows), "application/jsonl", "")
        response.headers["Tree-Size"] = str(lg.tree.size)
        return response

    @app.get(f"{record_log}/tally.json")
    def record_tally(unit: str, round_no: int) -> Any:
        _log(unit, round_no)
        data = record_files.tally_bytes(election, unit, round_no)
        return _file(data, "application/json", f"round {round_no} of {unit} is not tallied")

    @app.get(f"{files}/results/<kind>.json")
    def record_result(kind: str) -> Any:
        data = record_files.result_bytes(election, kind) if kind in RESULT_KINDS else None
        return _file(data, "application/json", f"no {kind} result is published")

    from tally_service.service.pages import register_pages

    register_pages(app, election)
    return app
