"""The worked examples of docs/formats.md and docs/api.md, made by the code from fixed keys.

The pages show signed notes (checkpoints, promises, tlog-proofs), receipts and a commission
request. Ed25519 signatures are deterministic, so with keys from fixed public seeds (example
keys, never real ones; the pages give their public halves) the code makes every one of these
texts byte for byte again. tests/test_docs_examples.py compares the pages with what this module
makes now, so a change of format in the code fails the suite until the pages follow.

To print the current texts for pasting into the pages (each under the name of its marker):

    .venv/bin/python -m tests.docs_examples
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from crypto.checkpoint import (
    Checkpoint,
    TlogProof,
    format_tlog_proof,
    profile_extensions,
    sign_checkpoint,
)
from crypto.envelope import sign_document
from crypto.merkle import consistency_proof, inclusion_proof, root
from crypto.note import sign_note, verifier_key
from crypto.signing import Context, SigningKey
from tally_service.service.election import promise_text

ORIGIN = "tally.example/test-election"
UNIT = "AKM"
LOG_ORIGIN = f"{ORIGIN}/{UNIT}/1"
LOG_KEY_NAME = f"{ORIGIN}/{UNIT}"
COMMISSION_NAME = f"{ORIGIN}/commission"
#: the manifest hash of the test election the entries come from (formats.md, "The log entry")
ELECTION = "70cad6ebd7046139ace35f44cdabf61a9195b80a4df7e0298346cd771811e15a"
#: the leaf hashes of the first two entries of AKM/1 (electors AKM-E0001 and AKM-E0002)
LEAVES = (
    bytes.fromhex("65469e912f3dfecd8353446279b9098dfb99feec79f4f1e037cdac5da2100922"),
    bytes.fromhex("f154aabd6ca704164965699f3d9c85d725f4e4569dc82c3017e884742b5574a0"),
)
ELECTORS = ("AKM-E0001", "AKM-E0002")
#: when the round opened, when the checkpoint of size 2 was signed, and when the round closed
OPENED, SIGNED, CLOSED = "2026-12-03T15:55:01Z", "2026-12-03T15:55:07Z", "2026-12-03T15:56:30Z"
#: the commission's checkpoint request of formats.md (its answer is in api.md)
REQUEST_PAYLOAD = {
    "action": "checkpoint",
    "election": ELECTION,
    "params": {"unit": UNIT, "round": 1},
    "timestamp": "2026-12-03T15:55:06.556Z",
    "nonce": "33912af3a2abf0d17ec9f82c0432e09c",
}


def _example_key(what: str) -> SigningKey:
    return SigningKey.from_seed(hashlib.sha256(f"kz-tally docs example: {what}".encode()).digest())


LOG_KEY = _example_key("log key AKM")
COMMISSION_KEY = _example_key("commission key")


def log_vkey() -> str:
    return verifier_key(LOG_KEY_NAME, LOG_KEY.public)


def commission_vkey() -> str:
    return verifier_key(COMMISSION_NAME, COMMISSION_KEY.public)


def checkpoint(size: int, time: str, final: bool = False) -> str:
    cp = Checkpoint(LOG_ORIGIN, size, root(LEAVES[:size]), profile_extensions(time, final))
    signers = [(LOG_KEY_NAME, LOG_KEY)]
    if final:
        signers.append((COMMISSION_NAME, COMMISSION_KEY))
    return sign_checkpoint(cp, signers)


def promise(index: int) -> str:
    return sign_note(promise_text(LOG_ORIGIN, index, LEAVES[index]), [(LOG_KEY_NAME, LOG_KEY)])


def tlog_proof(index: int, size: int = 2) -> str:
    proof = tuple(inclusion_proof(list(LEAVES), index, size))
    return format_tlog_proof(TlogProof(index, proof, checkpoint(size, SIGNED)))


def receipt(index: int) -> dict[str, Any]:
    """The service's answer to the ballot at ``index``: a checkpoint of size 2 was signed when
    the second ballot arrived (``--checkpoint-every 2``), so only the second carries a proof."""
    return {
        "format": "kz-tally/receipt/v1",
        "election": ELECTION,
        "unit": UNIT,
        "round": 1,
        "elector": ELECTORS[index],
        "index": index,
        "leaf_hash": LEAVES[index].hex(),
        "promise": promise(index),
        "proof": tlog_proof(index) if index == 1 else None,
    }


def commission_request() -> dict[str, Any]:
    return sign_document(REQUEST_PAYLOAD, COMMISSION_KEY, Context.REQUEST)


def consistency() -> dict[str, Any]:
    proof = consistency_proof(list(LEAVES), 1, 2)
    return {"size1": 1, "size2": 2, "proof": [h.hex() for h in proof]}


def texts() -> dict[str, str]:
    """Every generated example, as the page shows it."""
    compact = {"separators": (",", ":")}
    return {
        "log-vkey": log_vkey(),
        "commission-vkey": commission_vkey(),
        "commission-key-id": COMMISSION_KEY.public.key_id,
        "checkpoint-0": checkpoint(0, OPENED),
        "checkpoint-2": checkpoint(2, SIGNED),
        "final": checkpoint(2, SIGNED) + "\n" + checkpoint(2, CLOSED, final=True),
        "promise-0": promise(0),
        "receipt-0": json.dumps(receipt(0), **compact),  # type: ignore[arg-type]
        "receipt-1": json.dumps(receipt(1), **compact),  # type: ignore[arg-type]
        "tlog-proof-0": tlog_proof(0),
        "commission-request": json.dumps(commission_request(), indent=1),
        "consistency": json.dumps(consistency(), **compact),  # type: ignore[arg-type]
    }


if __name__ == "__main__":
    for name, text in texts().items():
        print(f"==== {name}\n{text}")
