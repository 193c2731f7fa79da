"""The service's side of a guardian's posted partial decryption (POST /api/v1/guardian/partials).

The body is an envelope signed by a guardian's identity key in context ``guardian`` around
``{"election", "unit", "round", "final_checkpoint", "partial"}`` (crypto/signed_partial.py;
tally_service/guardian/decrypt.py makes it on the guardian's machine). Checked here: the schema
and the signature by one of the manifest's ``guardians.keys``, before anything is computed (an
unsigned post must not start the tally, the commission's ``start-tally``); then
``submit_partial`` checks the signature against the manifest's ``guardians.keys``, the
election, round and final checkpoint of the tally, that the partial names its signer, and the
proofs, and keeps the envelope as signed: it goes into the record's tally.json.
"""

from __future__ import annotations

from typing import Any

from crypto.envelope import EnvelopeError, open_document
from crypto.signed_partial import guardian_keys
from crypto.signing import Context
from schemas.ceremony import GuardianPartialSchema
from tally_service.common import problems
from tally_service.service.election import Election


def _keys(election: Election) -> list[dict[str, Any]]:
    keys: list[dict[str, Any]] = election.manifest.body["guardians"]["keys"]
    return keys


def accept_guardian_partial(election: Election, signed: object) -> dict[str, Any]:
    """The service's side: the schema, then ``tally.submit_partial`` (signature and proofs)."""
    from tally_service.service.tally import submit_partial

    errors = GuardianPartialSchema().validate(signed) if isinstance(signed, dict) else 1
    if errors or not isinstance(signed, dict):
        raise problems.bad_request("schema", f"not a guardian's signed partial: {errors}")
    # the signature first, before anything is computed or stored: submit_partial starts the
    # tally (the commission's start-tally, a sum over the whole log) before it can check the
    # statement against it, and that must not be anybody's to trigger
    try:
        open_document(
            signed, {k: key for k, (_, key) in guardian_keys(_keys(election)).items()},
            Context.GUARDIAN,
        )
    except EnvelopeError as exc:
        raise problems.forbidden("guardian-signature", str(exc)) from None
    unit, round_no = signed["payload"]["unit"], signed["payload"]["round"]
    election.log(unit, round_no)  # 404 for an unknown round
    return submit_partial(election, unit, round_no, signed)
