"""A guardian's partial decryption, computed on its own machine and posted signed.

``decrypt_and_post`` (``tally-service guardian decrypt``): fetch the sealed manifest and check
that it carries the joint key and transcript hash this guardian confirmed at the ceremony, and
that its hash is the one the guardian pinned when it first saw it; fetch the round's tally
document and recompute it from the closed, signed log (tally_service/guardian.py); only then
compute the partial decryption with its proofs from the key share sealed in G, and post it in
an envelope signed by the guardian's identity key (context ``guardian``). The service checks
that signature against the manifest (``accept_guardian_partial``) and combines any k.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crypto.canonical import hash_json
from crypto.decryption import decryption_context, partial_decrypt
from crypto.elgamal import Ciphertext
from crypto.envelope import EnvelopeError, open_document, sign_document
from crypto.signing import Context, VerifyKey
from schemas.ceremony import GuardianPartialSchema
from tally_service import problems
from tally_service.guardian import GuardianRefusal, fetch_and_check
from tally_service.guardian_ceremony import read_key_share
from tally_service.guardian_identity import GuardianDir
from tally_service.problems import Problem

MANIFEST_HASH_TAG = "kz-tally/v1/manifest"
PARTIAL_FIELDS = frozenset({"election", "unit", "round", "partial"})


def decrypt_and_post(
    gdir: GuardianDir,
    client: Any,
    unit: str,
    round_no: int,
    jobs: int = 1,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    signed_manifest = client.get("/manifest")
    payload = signed_manifest["payload"]
    election_id = str(payload["election_id"])
    confirmed, share = read_key_share(gdir, election_id)
    me = int(confirmed["guardian"])
    if payload.get("election_key") != confirmed["joint_key"]:
        raise GuardianRefusal("the manifest's election key is not the joint key you confirmed")
    if payload.get("ceremony_hash") != confirmed["transcript_hash"]:
        raise GuardianRefusal("the manifest's ceremony hash is not the transcript you confirmed")
    keys = payload["guardians"]["keys"]
    if keys[me - 1]["identity_key"] != gdir.public["identity_key"]:
        raise GuardianRefusal(f"the manifest does not list your identity key as guardian {me}'s")
    manifest_hash = hash_json(MANIFEST_HASH_TAG, payload).hex()
    pin = f"ceremony/{election_id}/manifest.json"
    pinned = gdir.read_json(pin)
    if pinned is None:
        gdir.write_json(pin, {"election_id": election_id, "manifest_hash": manifest_hash})
    elif pinned["manifest_hash"] != manifest_hash:
        raise GuardianRefusal(
            f"the service shows another manifest than the one you pinned ({gdir.path / pin})"
        )
    try:
        doc = client.get(f"/units/{unit}/rounds/{round_no}/tally")
    except Problem as exc:
        if exc.status == 404:
            raise GuardianRefusal(
                f"the tally of {unit} round {round_no} is not started: the commission runs "
                "`tally-service tally --url ... --unit ... --round ...` first"
            ) from exc
        raise
    say(f"checking every ballot of {unit} round {round_no} against the signed log")
    fetch_and_check(client, doc, jobs=jobs, expected_manifest_hash=manifest_hash)
    # one final per round, ever: a second, different "final" would let k guardians' partials
    # reveal the difference between the two logs (issue 13; its guardian state supersedes this)
    ledger = f"ceremony/{election_id}/decrypted/{unit}-{round_no}.json"
    decrypted = gdir.read_json(ledger)
    if decrypted is None:
        gdir.write_json(ledger, {"final_checkpoint": doc["final_checkpoint"]})
    elif decrypted["final_checkpoint"] != doc["final_checkpoint"]:
        raise GuardianRefusal(
            f"you decrypted another final checkpoint of {unit} round {round_no} before "
            f"({gdir.path / ledger}); refusing this one"
        )
    cts = [Ciphertext.from_json(c) for c in doc["encrypted"]]
    context = decryption_context(bytes.fromhex(manifest_hash), unit, round_no)
    partial = partial_decrypt(share, me, cts, context)
    body = {"election": manifest_hash, "unit": unit, "round": round_no, "partial": partial}
    signed = sign_document(body, gdir.identity, Context.GUARDIAN)
    response = client.session.post(f"{client.url}/guardian/partials", json=signed, timeout=120)
    answer: dict[str, Any] = client._check(response).json()
    return answer


def accept_guardian_partial(election: Any, signed: object) -> dict[str, Any]:
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
