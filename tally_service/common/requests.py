"""The commission's signed request, as the commission signs it: a fresh timestamp and nonce in
an envelope signed by its key (context ``request``). The service checks it
(tally_service/service/commission_requests.py says what, and in which order).

Shared: the commission's tools send it through tally_service/common/client.py, and the tests
build hostile ones with it."""

from __future__ import annotations

import secrets
from typing import Any

from crypto.envelope import sign_document
from crypto.signing import Context, SigningKey
from tally_service.common import clock


def sign_request(
    key: SigningKey,
    election_hash: str,
    action: str,
    params: dict[str, Any],
    timestamp: str | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    payload = {
        "action": action,
        "election": election_hash,
        "params": params,
        "timestamp": timestamp or clock.now(),
        "nonce": nonce or secrets.token_hex(16),
    }
    return sign_document(payload, key, Context.REQUEST)
