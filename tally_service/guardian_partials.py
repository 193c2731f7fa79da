"""The service's side of a guardian's posted partial decryption (POST /api/v1/guardian/partials).

The body is an envelope signed by a guardian's identity key in context ``guardian`` around
``{"election", "unit", "round", "partial"}`` (tally_service/guardian_decrypt.py makes it on the
guardian's machine). Checked here: the schema, the signature against the manifest's
``guardians.keys``, the election, that the partial names its signer; then ``submit_partial``.
"""

from __future__ import annotations

from typing import Any

from crypto.envelope import EnvelopeError, open_document
from crypto.signing import Context, VerifyKey
from schemas.ceremony import GuardianPartialSchema
from tally_service import problems
from tally_service.election import Election

PARTIAL_FIELDS = frozenset({"election", "unit", "round", "partial"})


def accept_guardian_partial(election: Election, signed: object) -> dict[str, Any]:
    """The service's side: check the guardian's signature, then ``tally.submit_partial``."""
    from tally_service.tally import submit_partial

    errors = GuardianPartialSchema().validate(signed) if isinstance(signed, dict) else 1
    if errors:
        raise problems.bad_request("schema", f"not a guardian's signed partial: {errors}")
    keys: dict[str, tuple[int, VerifyKey]] = {}
    for index, entry in enumerate(election.manifest.body["guardians"]["keys"], start=1):
        key = VerifyKey.from_hex(entry["identity_key"])
        keys[key.key_id] = (index, key)
    key_id = signed.get("key_id") if isinstance(signed, dict) else None
    if not isinstance(key_id, str) or key_id not in keys:
        raise problems.forbidden("guardian-signature", "not signed by a guardian's identity key")
    index, key = keys[key_id]
    try:
        body = open_document(signed, {key_id: key}, Context.GUARDIAN)
    except EnvelopeError as exc:
        raise problems.forbidden("guardian-signature", str(exc)) from exc
    if set(body) != PARTIAL_FIELDS:
        raise problems.bad_request(
            "schema", "a guardian's partial has: election, unit, round, partial"
        )
    if body["election"] != election.manifest.hash.hex():
        raise problems.forbidden("wrong-election", "the partial is for another election")
    partial = body["partial"]
    if not isinstance(partial, dict) or partial.get("guardian") != index:
        raise problems.forbidden(
            "guardian-signature", f"signed by guardian {index} but names another guardian"
        )
    unit, round_no = body["unit"], body["round"]
    if not isinstance(unit, str) or not isinstance(round_no, int) or isinstance(round_no, bool):
        raise problems.bad_request("schema", "unit is a string and round an integer")
    election.log(unit, round_no)  # 404 for an unknown round
    return submit_partial(election, unit, round_no, partial)
