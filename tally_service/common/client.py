"""An HTTP client of the service: the commission's signed requests and the public reads.

The CLI's ``--url`` mode and the demo use it; every commission request is signed here with a
fresh timestamp and nonce (tally_service/common/requests.py; tally_service/service/
commission_requests.py says what the service checks). Every answer is read to a cap for its
kind and within a deadline (tally_service/common/answers.py): the service may be hostile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from crypto.signing import SigningKey
from tally_service.common.answers import (
    MAX_DOCUMENT_BYTES,
    bounded_session,
    cap_for,
    fetch,
    fetch_to_file,
)
from tally_service.common.problems import Problem

SERVICE = "the service's"


class Unreachable(Problem):
    """The service could not be reached, did not answer in time, or broke off its answer: a
    failure of the connection, worth trying again (unlike a refusal, an answer the service
    gave, or an answer refused here as too large)."""


class ServiceClient:
    # seconds to connect, TLS handshake included: an https:// address at a plain-HTTP port
    # gets no handshake answer and would otherwise wait for the whole read timeout
    connect_timeout = 10.0

    def __init__(
        self,
        url: str,
        commission_key: SigningKey | None = None,
        session: requests.Session | None = None,
    ) -> None:
        base = url.rstrip("/")
        if base.endswith("/api/v1"):  # the API's own address given: the service's is meant
            base = base[: -len("/api/v1")]
        if not base.startswith(("http://", "https://")):
            raise Problem(400, "usage", f"{url!r} is not an http:// or https:// address")
        self.base = base
        self.url = base + "/api/v1"
        self.key = commission_key
        self.session = bounded_session(session)
        self._election: str | None = None

    def _send(
        self,
        method: str,
        path: str,
        read_timeout: float,
        cap: int | None = None,
        into: Path | None = None,
        **kw: Any,
    ) -> requests.Response:
        """One request, its answer read to ``cap`` (by default the cap for its path) within a
        deadline (answers.py), or with ``into`` written to that file; a service that cannot be
        reached, or answers too much or too slowly, is one clear error (``Unreachable`` for a
        connection that failed, worth a retry; the caller chooses)."""
        limit = cap_for(path) if cap is None else cap
        timeout = (self.connect_timeout, read_timeout)
        try:
            if into is not None:
                return fetch_to_file(self.session, self.url + path, SERVICE, limit, timeout, into)
            return fetch(self.session, method, self.url + path, SERVICE, limit, timeout, **kw)
        except requests.exceptions.SSLError as exc:
            raise Problem(
                502,
                "unreachable",
                f"no TLS at {self.base}: is it an http:// address? ({type(exc).__name__})",
            ) from exc
        except requests.exceptions.Timeout as exc:
            hint = " (is it an http:// address?)" if self.base.startswith("https://") else ""
            raise Unreachable(
                504, "unreachable", f"{self.base} did not answer in time{hint}"
            ) from exc
        except requests.exceptions.ConnectionError as exc:
            raise Unreachable(
                502, "unreachable", f"cannot reach {self.base}: is the service running there?"
            ) from exc
        except requests.RequestException as exc:  # broke off mid-answer, or undecodable
            raise Unreachable(
                502, "unreachable", f"the service's answer to {method} {path} broke off "
                f"({type(exc).__name__}): try again"
            ) from exc

    def _check(self, response: requests.Response) -> requests.Response:
        if response.status_code >= 400:
            try:
                body = response.json()
                raise Problem(
                    response.status_code,
                    str(body.get("check", "http")),
                    str(body.get("detail", response.text)),
                )
            except ValueError:
                raise Problem(response.status_code, "http", response.text[:200]) from None
        return response

    def get(self, path: str, **params: Any) -> Any:
        return self._check(self._send("GET", path, 60, params=params)).json()

    def get_text(self, path: str, **params: Any) -> str:
        return self._check(self._send("GET", path, 60, params=params)).text

    def get_bytes(self, path: str) -> bytes:
        """A whole answer in memory, at most its cap (the demo's small record archive)."""
        return self._check(self._send("GET", path, 300)).content

    def download(self, path: str, into: Path) -> None:
        """A large answer (the record archive) streamed into a file, at most its cap."""
        self._check(self._send("GET", path, 300, into=into))

    def post(self, path: str, read_timeout: float, **kw: Any) -> requests.Response:
        """A POST whose answer is read to a document's cap; not checked (the caller judges)."""
        return self._send("POST", path, read_timeout, cap=MAX_DOCUMENT_BYTES, **kw)

    @property
    def election_hash(self) -> str:
        if self._election is None:
            from crypto.canonical import hash_json

            payload = self.get("/manifest")["payload"]
            self._election = hash_json("kz-tally/v1/manifest", payload).hex()
        return self._election

    def cast(self, ballot: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        r = self._check(self.post("/ballots", 30, json=ballot))
        return r.status_code, r.json()

    def commission(self, action: str, **params: Any) -> Any:
        from tally_service.common.requests import sign_request

        if self.key is None:
            raise Problem(400, "no-key", "this action needs the commission key (--key)")
        request = sign_request(self.key, self.election_hash, action, params)
        # publish-results answers the signed results document: a row per unit and round
        cap = cap_for("/results") if action == "publish-results" else MAX_DOCUMENT_BYTES
        response = self._check(self._send_commission(f"/commission/{action}", request, cap))
        self.last_repeat = response.headers.get("Kz-Tally-Repeat") == "true"
        return response.json()

    #: seconds to wait before each retry of a commission request (then the last error stands)
    commission_retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    #: the last commission answer was the service's stored answer to an earlier attempt
    last_repeat = False

    def _send_commission(
        self, path: str, request: dict[str, Any], cap: int
    ) -> requests.Response:
        """Send the signed request; on a lost answer (no connection, a timeout, a 502/503/504
        from a proxy or a service that stored nothing) send the very SAME envelope again: the
        service answers an identical retry of a done action from its store, marked
        ``Kz-Tally-Repeat``, and never runs it twice (docs/api.md, commission requests)."""
        import time

        for delay in (*self.commission_retry_delays, None):
            try:
                response = self._send("POST", path, 300, cap=cap, json=request)
            except Unreachable:  # the answer was lost; an answer refused here is not retried
                if delay is None:
                    raise
            else:
                if delay is None or response.status_code not in (502, 503, 504):
                    return response
            time.sleep(delay)
        raise AssertionError("unreachable")  # the last attempt returned or raised
