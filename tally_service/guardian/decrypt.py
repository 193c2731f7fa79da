"""A guardian's partial decryption, computed on its own machine and posted signed.

``decrypt_and_post`` (``tally-service guardian decrypt``): the guardian state in G/state
(tally_service/guardian/state.py) pins the joint key and transcript hash this guardian
confirmed at the ceremony and the sealed manifest's hash; the manifest's guardian list, n,
k and witnesses must hash to the parameters hash L it confirmed (its ceremony fingerprint is
the agreed one: the commission cannot swap in witnesses of its own after the ceremony); the
round's tally is recomputed from the closed, signed log, its final checkpoint checked against
every checkpoint the guardian has seen and recorded as the one final of the round
(tally_service/guardian/checks.py: ``decrypt_as_guardian``); only then is the partial decryption
computed, in the context bound to that final checkpoint, from the key share sealed in G, and
posted in an envelope signed by the guardian's identity key (context ``guardian``). The service
checks that signature against the manifest (tally_service/service/guardian_partials.py) and combines
any k.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crypto.canonical import hash_json
from crypto.ceremony import CeremonyError, ceremony_fingerprint, list_hash, members_from_manifest
from crypto.signed_partial import partial_statement, sign_partial
from tally_service.common.problems import Problem
from tally_service.guardian.ceremony import read_key_share
from tally_service.guardian.checks import GuardianRefusal, decrypt_as_guardian
from tally_service.guardian.identity import GuardianDir
from tally_service.guardian.state import GuardianState

MANIFEST_HASH_TAG = "kz-tally/v1/manifest"


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
    # the guardian list, n, k and witnesses too, as the guardian confirmed them in phase 0 (L):
    # a manifest with the right key but the commission's own witnesses would otherwise have
    # the final's quorum judged by witnesses the guardians never agreed on (issue 24)
    try:
        shown = list_hash(
            election_id,
            payload["guardians"]["k"],
            members_from_manifest(payload["guardians"]),
            payload.get("witnesses"),
        )
    except (CeremonyError, KeyError, TypeError, AttributeError) as exc:
        raise GuardianRefusal(f"the manifest's guardians cannot be read ({exc})") from exc
    if shown.hex() != confirmed.get("guardian_list"):
        raise GuardianRefusal(
            "the manifest's guardian list, n, k or witnesses are not the ceremony you confirmed "
            f"(its ceremony fingerprint is {ceremony_fingerprint(shown)}, you confirmed "
            f"{confirmed.get('ceremony_fingerprint')}): do not decrypt, tell the other guardians"
        )
    keys = payload["guardians"]["keys"]
    if keys[me - 1]["identity_key"] != gdir.public["identity_key"]:
        raise GuardianRefusal(f"the manifest does not list your identity key as guardian {me}'s")
    manifest_hash = hash_json(MANIFEST_HASH_TAG, payload).hex()
    state = GuardianState(gdir.path / "state")
    # the pins of the ceremony this guardian confirmed (written when it ended; again here, in
    # case the guardian never saw the end): a different key or transcript is refused
    state.pin_ceremony(election_id, confirmed["joint_key"], confirmed["transcript_hash"])
    try:
        doc = client.get(f"/units/{unit}/rounds/{round_no}/tally")
    except Problem as exc:
        if exc.status == 404:
            raise GuardianRefusal(
                f"the tally of {unit} round {round_no} is not started: the commission runs "
                "`tally-service tally --url ... --unit ... --round ...` first"
            ) from exc
        raise
    if doc.get("election") != manifest_hash:
        raise GuardianRefusal("the tally is for another manifest than the service's")
    say(f"checking every ballot of {unit} round {round_no} against the signed log")
    # the log check, the pins, the one final per round (recorded before anything leaves G),
    # and the decryption context bound to that final checkpoint: tally_service/guardian/checks.py
    partial = decrypt_as_guardian(
        client, doc, me, share, state, jobs=jobs, expect=(unit, round_no)
    )
    # signed with the final checkpoint it was checked against (decrypt_as_guardian compared the
    # tally's with the log's): kept in the record, so the guardian answers for what it decrypted
    statement = partial_statement(
        manifest_hash, unit, round_no, doc["final_checkpoint"], partial
    )
    signed = sign_partial(statement, gdir.identity)
    response = client.post("/guardian/partials", 120, json=signed)
    answer: dict[str, Any] = client._check(response).json()
    return answer
