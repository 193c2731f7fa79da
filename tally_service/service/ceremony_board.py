"""The key ceremony's bulletin board: the service stores and relays, and never sees a secret.

The commission runs ``tally-service ceremony --data DATA`` after ``init`` (the draft manifest
lists each guardian's name, identity key and share key). That serves two endpoints until the
attempt ends: ``GET /api/v1/ceremony`` (the header and every message so far) and ``POST
/api/v1/ceremony/messages`` (one signed message). Each guardian runs ``tally-service guardian
ceremony`` on its own machine against it (tally_service/guardian/ceremony.py).

The board checks what it can without a secret before accepting a message (``check_message``:
signature by the guardian's identity key, election, list and attempt, phase order, each reveal
against its commitment hash and proofs), so a wrong message is refused at once and names its
sender. Shares travel sealed to their recipients; the board cannot open them.

The board refuses a guardian list that names a key or a name twice (one guardian listed twice
would hold two shares), before anything is posted. A guardian that stops in phase 0 (a
fingerprint, the list, n, k or the witnesses are not what it agreed on out of band) posts a
signed objection; the board keeps every objection (across attempts, into the transcript) and
shows it to all, and a timeout names the objection instead of blaming the guardian as silent.

A phase waits for every guardian that owes a message. If one is silent longer than the timeout
the attempt fails, naming it and the phase; the commission starts a new attempt without it
(``--exclude``). In the answers phase a silent accused dealer is disqualified instead. When
every guardian of QUAL has confirmed, the transcript is stored (meta ``ceremony``) for ``seal``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from crypto.ceremony import (
    OBJECTION,
    PHASES,
    CeremonyError,
    Header,
    accused,
    build_transcript,
    check_ceremony,
    check_message,
    check_objection,
    members_from_manifest,
    outcome_of,
    qual_problem,
)
from schemas.ceremony import CeremonyMessageSchema
from tally_service.common import problems
from tally_service.common.problems import Problem
from tally_service.service.store import BaseStore

STATE_KEY = "ceremony-board"
API = "/api/v1"
#: Objections kept per guardian: enough for one per attempt, not a way to fill the board.
MAX_OBJECTIONS = 20


class CeremonyBoard:
    """One attempt of the ceremony over a draft election's store. Thread-safe."""

    def __init__(
        self,
        store: BaseStore,
        *,
        exclude: list[int] | None = None,
        timeout: float = 600.0,
        clock: Callable[[], float] = time.time,
        new_attempt: bool | None = None,
    ) -> None:
        """``new_attempt`` None: resume a running attempt (a restarted board) unless guardians
        are excluded, else start the next one."""
        self.store = store
        self.clock = clock
        self.lock = threading.Lock()
        if store.get_meta("manifest") is not None or store.get_meta("ceremony") is not None:
            raise CeremonyError("the key ceremony is over for this election (or it is sealed)")
        draft = json.loads(store.get_meta("draft") or "null")
        if draft is None:
            raise CeremonyError("no draft manifest: run `tally-service init` first")
        if not draft["guardians"].get("keys"):
            raise CeremonyError(
                "the draft lists no guardian keys: put each guardian's identity_key and "
                "share_key (from its guardian.json) in guardians.keys, then init (docs/record.md)"
            )
        members = members_from_manifest(draft["guardians"])
        previous = json.loads(store.get_meta(STATE_KEY) or "null")
        if new_attempt is None:
            new_attempt = bool(exclude)
        if previous is not None and not new_attempt and previous["status"] == "running":
            self.state: dict[str, Any] = previous
            self.state["timeout"] = timeout
        else:
            excluded = sorted(set(exclude or []))
            unknown = [i for i in excluded if not 1 <= i <= len(members)]
            if unknown:
                raise CeremonyError(f"there is no guardian {unknown[0]} to exclude")
            participants = [m["index"] for m in members if m["index"] not in excluded]
            self.state = {
                "attempt": (previous["attempt"] + 1) if previous else 1,
                "participants": participants,
                "timeout": timeout,
                "status": "running",
                "failure": None,
                "started": {},
                "closed": [],
                "messages": {p: {} for p in PHASES},
                "objections": list((previous or {}).get("objections", [])),
            }
            reason = qual_problem(participants, draft["guardians"]["k"])
            if reason is not None:
                raise CeremonyError(f"this attempt cannot succeed: {reason}")
        self.state.setdefault("objections", [])
        self.header = Header(
            draft["election_id"],
            draft["guardians"]["k"],
            members,
            self.state["attempt"],
            self.state["participants"],
            draft.get("witnesses"),
        )
        with self.lock:
            self._save()

    # state
    def _save(self) -> None:
        self.store.set_meta(STATE_KEY, json.dumps(self.state))

    def _messages(self, phase: str) -> dict[int, dict[str, Any]]:
        return {int(i): m for i, m in self.state["messages"][phase].items()}

    def _bodies(self) -> dict[str, dict[int, dict[str, Any]]]:
        return {
            phase: {i: m["payload"]["body"] for i, m in self._messages(phase).items()}
            for phase in PHASES
        }

    def _owed(self, phase: str) -> list[int]:
        """Who must post in ``phase`` (given that the phases before it are complete)."""
        if phase in ("commit", "reveal", "shares", "complaints"):
            return list(self.header.participants)
        bodies = self._bodies()
        if phase == "answers":
            return [] if phase in self.state["closed"] else accused(bodies)
        return outcome_of(self.header, bodies).qual

    def _phase(self) -> str:
        for phase in PHASES:
            posted = self.state["messages"][phase]
            if any(str(i) not in posted for i in self._owed(phase)):
                return phase
        return "done"

    def tick(self) -> str:
        """Advance: record phase start times, apply the timeout, finish. Returns the phase."""
        if self.state["status"] != "running":
            return str(self.state["status"])
        phase = self._phase()
        if phase == "confirm" and "confirm" not in self.state["started"]:
            reason = qual_problem(outcome_of(self.header, self._bodies()).qual, self.header.k)
            if reason is not None:
                return self._fail(f"attempt {self.header.attempt} failed: {reason}")
        if phase == "done":
            return self._finish()
        now = self.clock()
        started = self.state["started"].setdefault(phase, now)
        if now - started > self.state["timeout"]:
            silent = [i for i in self._owed(phase) if str(i) not in self.state["messages"][phase]]
            if phase == "answers":  # a silent accused dealer is disqualified, not a failure
                self.state["closed"].append("answers")
                self._save()
                return self.tick()
            objected = self._objected(silent)
            if objected:
                return self._fail(
                    f"attempt {self.header.attempt} failed in phase {phase}: "
                    + "; ".join(
                        f"guardian {i} ({self.header.members[i - 1]['name']}) stopped and "
                        f"objected: {reason!r}"
                        for i, reason in objected.items()
                    )
                    + " (signed objections on the board). Do not exclude a guardian for "
                    "objecting: check what it objects to (the guardian list, n, k, the "
                    "witnesses, the fingerprints) with the guardians, fix it, and start again"
                )
            names = ", ".join(f"{i} ({self.header.members[i - 1]['name']})" for i in silent)
            return self._fail(
                f"attempt {self.header.attempt} failed: guardian {names} posted no {phase} "
                f"message within {self.state['timeout']:g} s; start a new attempt without it "
                f"(tally-service ceremony --exclude {','.join(str(i) for i in silent)})"
            )
        self._save()
        return phase

    def _objected(self, guardians: list[int]) -> dict[int, str]:
        """{guardian: its latest objection's reason} for those who objected in this attempt."""
        found: dict[int, str] = {}
        for objection in self.state["objections"]:
            payload = objection["payload"]
            if payload["guardian"] in guardians and payload["attempt"] == self.header.attempt:
                found[payload["guardian"]] = str(payload["body"]["reason"])
        return found

    def _fail(self, reason: str) -> str:
        self.state["status"] = "failed"
        self.state["failure"] = reason
        self._save()
        return "failed"

    def transcript(self) -> dict[str, Any]:
        messages = {p: self._messages(p) for p in PHASES}
        return build_transcript(
            self.header, messages, self._bodies(), list(self.state["objections"])
        )

    def _finish(self) -> str:
        transcript = self.transcript()
        reason = check_ceremony(transcript)
        if reason is not None:  # pragma: no cover - every message was checked on arrival
            return self._fail(f"the finished transcript does not check: {reason}")
        self.store.set_meta("ceremony", json.dumps(transcript))
        self.state["status"] = "done"
        self._save()
        return "done"

    # the two endpoints' work
    def view(self) -> dict[str, Any]:
        with self.lock:
            phase = self.tick()
            now = self.clock()
            started = self.state["started"].get(phase)
            return {
                "election_id": self.header.election_id,
                "n": self.header.n,
                "k": self.header.k,
                "attempt": self.header.attempt,
                "guardians": self.header.members,
                "witnesses": self.header.witnesses,
                "guardian_list": self.header.list_hash.hex(),
                "ceremony_fingerprint": self.header.fingerprint,
                "participants": self.header.participants,
                "phase": phase,
                "status": self.state["status"],
                "failure": self.state["failure"],
                "timeout": self.state["timeout"],
                "phase_seconds": None if started is None else round(now - started, 1),
                "answers_closed": "answers" in self.state["closed"],
                "messages": {p: [m for _, m in sorted(self._messages(p).items())] for p in PHASES},
                "objections": list(self.state["objections"]),
            }

    def post(self, message: object) -> tuple[dict[str, Any], bool]:
        """Accept one signed message; (the board's answer, whether it is new)."""
        with self.lock:
            phase_now = self.tick()
            objecting = isinstance(message, dict) and (
                isinstance(message.get("payload"), dict)
                and message["payload"].get("phase") == OBJECTION
            )
            if phase_now == "failed" and not objecting:
                raise problems.conflict("ceremony-failed", str(self.state["failure"]))
            errors = CeremonyMessageSchema().validate(message) if isinstance(message, dict) else 1
            if errors:
                raise problems.bad_request(
                    "schema", f"not a ceremony message (schemas/ceremony.py): {errors}"
                )
            assert isinstance(message, dict)
            payload = message["payload"]
            phase, guardian = payload["phase"], payload["guardian"]
            if phase == OBJECTION:
                return self._object(message), True
            existing = self.state["messages"][phase].get(str(guardian))
            if existing is not None:
                if existing == message:
                    return {"accepted": phase, "phase": phase_now}, False
                raise problems.conflict(
                    "already-posted", f"guardian {guardian} has posted its {phase} message already"
                )
            if phase_now == "done" or PHASES.index(phase) > PHASES.index(phase_now):
                raise problems.conflict(
                    "phase", f"the {phase} phase is not open (now: {phase_now})"
                )
            if PHASES.index(phase) < PHASES.index(phase_now) and not (
                phase == "answers" and "answers" not in self.state["closed"]
            ):
                raise problems.conflict("phase", f"the {phase} phase is over (now: {phase_now})")
            try:
                guardian, body = check_message(self.header, phase, message, self._bodies())
                if phase == "answers" and guardian not in accused(self._bodies()):
                    raise CeremonyError(f"guardian {guardian} is accused by no complaint")
                if phase == "confirm":
                    transcript = self.transcript()
                    if guardian not in transcript["qual"]:
                        raise CeremonyError(f"guardian {guardian} is not in QUAL")
                    expected = {k: transcript[k] for k in ("joint_key", "transcript_hash")}
                    if body != expected:
                        raise CeremonyError(
                            f"guardian {guardian} confirms another joint key or transcript hash "
                            "than the board's"
                        )
            except CeremonyError as exc:
                raise problems.unprocessable("ceremony-message", str(exc)) from exc
            self.state["messages"][phase][str(guardian)] = message
            self._save()
            return {"accepted": phase, "phase": self.tick()}, True

    def _object(self, message: dict[str, Any]) -> dict[str, Any]:
        """Keep a guardian's signed objection (under the lock), whatever the phase."""
        try:
            guardian, _ = check_objection(message, self.header.members, self.header.election_id)
        except CeremonyError as exc:
            raise problems.unprocessable("ceremony-objection", str(exc)) from exc
        kept = self.state["objections"]
        if message not in kept:
            if sum(1 for o in kept if o["payload"]["guardian"] == guardian) >= MAX_OBJECTIONS:
                raise problems.conflict(
                    "too-many-objections", f"guardian {guardian} has {MAX_OBJECTIONS} already"
                )
            kept.append(message)
            self._save()
        return {"accepted": OBJECTION, "phase": self.tick()}


def create_board_app(board: CeremonyBoard, max_body_bytes: int = 1024 * 1024) -> Flask:
    app = Flask("tally_service.service.ceremony_board")
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]

    def problem_response(problem: Problem) -> Response:
        response = jsonify(problem.to_json())
        response.status_code = problem.status
        response.mimetype = "application/problem+json"
        return response

    @app.errorhandler(Problem)
    def on_problem(problem: Problem) -> Response:
        return problem_response(problem)

    @app.errorhandler(HTTPException)
    def on_http(exc: HTTPException) -> Response:
        status = exc.code or 500
        return problem_response(Problem(status, "http", exc.description or exc.name, exc.name))

    @app.errorhandler(Exception)
    def on_error(exc: Exception) -> Response:
        return problem_response(Problem(500, "internal", "internal error; see the server log"))

    @app.get(f"{API}/ceremony")
    def ceremony_view() -> Any:
        return jsonify(board.view())

    @app.get(f"{API}/openapi.json")
    def board_openapi() -> Any:
        from tally_service.service.openapi import build_board_spec

        return jsonify(build_board_spec())

    @app.post(f"{API}/ceremony/messages")
    def ceremony_post() -> Any:
        from tally_service.service.http_json import parse_body

        answer, created = board.post(parse_body(request.get_data(cache=False)))
        return jsonify(answer), 201 if created else 200

    return app


def serve_board(board: CeremonyBoard, host: str, port: int, linger: float = 5.0) -> str:
    """Serve until the attempt is done or has failed (then ``linger`` seconds more, so every
    guardian sees the end); returns the final status."""
    from waitress import create_server

    server = create_server(create_board_app(board), host=host, port=port, threads=8)
    print(f"serving on http://{host}:{server.effective_port}", flush=True)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while True:
            time.sleep(0.2)
            with board.lock:
                status = board.tick()
            if status in ("done", "failed"):
                time.sleep(linger)
                return status
    finally:
        server.close()
