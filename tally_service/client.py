"""An HTTP client of the service: the commission's signed requests and the public reads.

The CLI's ``--url`` mode and the demo use it; every commission request is signed here with a
fresh timestamp and nonce (see tally_service/commission.py for what the service checks).
"""

from __future__ import annotations

from typing import Any

import requests

from crypto.signing import SigningKey
from tally_service.problems import Problem


class ServiceClient:
    def __init__(
        self,
        url: str,
        commission_key: SigningKey | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.url = url.rstrip("/") + "/api/v1"
        self.key = commission_key
        self.session = session or requests.Session()
        self._election: str | None = None

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
        return self._check(self.session.get(self.url + path, params=params, timeout=60)).json()

    def get_text(self, path: str, **params: Any) -> str:
        return self._check(self.session.get(self.url + path, params=params, timeout=60)).text

    def get_bytes(self, path: str) -> bytes:
        return self._check(self.session.get(self.url + path, timeout=300)).content

    @property
    def election_hash(self) -> str:
        if self._election is None:
            from crypto.canonical import hash_json

            payload = self.get("/manifest")["payload"]
            self._election = hash_json("kz-tally/v1/manifest", payload).hex()
        return self._election

    def cast(self, ballot: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        r = self._check(self.session.post(self.url + "/ballots", json=ballot, timeout=30))
        return r.status_code, r.json()

    def commission(self, action: str, **params: Any) -> Any:
        from tally_service.commission import sign_request  # not for guardians' and electors' use

        if self.key is None:
            raise Problem(400, "no-key", "this action needs the commission key (--key)")
        request = sign_request(self.key, self.election_hash, action, params)
        return self._check(
            self.session.post(f"{self.url}/commission/{action}", json=request, timeout=300)
        ).json()
