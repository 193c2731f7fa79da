"""The elector's command: ``tally-service vote``, the booth without a browser.

It trusts the service for nothing it can check: the manifest must carry the commission's
signature (with ``--commission-key``, by that key), the elector's key must be the one on the
roll, and the ballot is encrypted and proved here. It prints the tracker (crypto/audit.py)
before casting, then writes the service's receipt and, next to it, the exact bytes of the
ballot it posted (``receipt.json`` and ``receipt.ballot.json``): the receipt checker compares
the two with the log's entry.

A receipt is accepted only if its promise is signed by the unit's log key (from the checked
manifest) for the leaf hash of the very bytes posted. If the answer to the cast is lost (a
network error, a 5xx, a receipt that does not check), the ballot may be in the log: the
command asks ``GET .../receipts?leaf_hash=`` and reports either the checked receipt or "not
cast" (issue 25); the ballot file is written before posting, so it is kept either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from crypto.audit import tracker
from crypto.ballot import encrypt_ballot, sign_ballot
from crypto.canonical import EncodingError, b64_encode, canonical_json, hash_json
from crypto.credentials import CredentialError, derive_key
from crypto.envelope import EnvelopeError, open_document
from crypto.fingerprint import key_fingerprint
from crypto.group import Point
from crypto.merkle import leaf_hash
from crypto.note import NoteError, NoteVerifier, verify_note
from crypto.signing import Context, SigningKey, VerifyKey
from tally_service.common.answers import AnswerRefused, bounded_session, cap_for, fetch
from tally_service.common.keys import read_private_key
from tally_service.common.manifest import MANIFEST_HASH_TAG
from tally_service.common.problems import Problem


def _fetch(
    http: requests.Session, method: str, url: str, read_timeout: float, **kw: Any
) -> requests.Response:
    """One answer of the service, read to the cap for its kind within its deadline
    (tally_service/common/answers.py): a hostile service cannot fill the elector's memory."""
    path = url.split("/api/v1", 1)[-1]
    return fetch(http, method, url, "the service's", cap_for(path), (10.0, read_timeout), **kw)


def ballot_path(receipt_path: Path) -> Path:
    """Where the posted ballot is kept: ``receipt.json`` -> ``receipt.ballot.json``."""
    return receipt_path.with_name(receipt_path.stem + ".ballot.json")


@dataclass
class Cast:
    tracker: str
    receipt: Path
    ballot: Path
    round: int
    choice: str | None


def _fail(reason: str) -> Problem:
    return Problem(400, "vote", reason)


def checked_manifest(document: object, pinned_as: VerifyKey | str | None) -> dict[str, Any]:
    """The manifest's payload after checking the commission's signature (by the pinned key if
    given: the key itself, or its fingerprint as printed on the envelope)."""
    payload = document.get("payload") if isinstance(document, dict) else None
    if not isinstance(payload, dict):
        raise _fail("the service's manifest is not a signed document")
    try:
        keys = {k.key_id: k for k in (VerifyKey.from_hex(h) for h in payload["commission"]["keys"])}
        pinned = pinned_as
        if isinstance(pinned_as, str):
            by_print = [k for k in keys.values() if key_fingerprint(k.raw) == pinned_as]
            if not by_print:
                raise _fail(
                    "no commission key of the manifest has the fingerprint you pinned: this is "
                    "not the commission's election"
                )
            pinned = by_print[0]
        assert not isinstance(pinned, str)
        if pinned is not None and pinned.key_id not in keys:
            raise _fail("the manifest is not the one signed by the commission key you pinned")
        open_document(document, {pinned.key_id: pinned} if pinned else keys, Context.MANIFEST)
    except (EnvelopeError, EncodingError, KeyError, TypeError) as exc:
        raise _fail(f"the manifest's commission signature does not check: {exc}") from None
    if payload.get("election_key") is None:
        raise _fail("the manifest is not sealed (no election key)")
    return payload


def elector_key(
    manifest: dict[str, Any], unit: str, elector: str, credential: str | None, key_file: Path | None
) -> SigningKey:
    """The elector's signing key, checked against the roll's public key."""
    units = {u["code"]: u for u in manifest["units"]}
    if unit not in units:
        raise _fail(f"the election has no unit {unit!r}")
    roll = {e["elector"]: e["public_key"] for e in units[unit]["roll"]}
    if elector not in roll:
        raise _fail(f"{elector} is not on the roll of {unit}")
    if credential is not None:
        try:
            key = derive_key(credential, manifest["election_id"], elector)
        except CredentialError as exc:
            raise _fail(f"credential code: {exc}") from None
    else:
        assert key_file is not None
        key = read_private_key(key_file)
    if key.public.hex() != roll[elector]:
        raise _fail(
            f"this {'code' if credential is not None else 'key'} does not give the key the roll "
            f"holds for {elector}: check the elector id and the code"
        )
    return key


def vote(
    url: str,
    unit: str,
    elector: str,
    choice: str | None,
    out: Path,
    credential: str | None = None,
    key_file: Path | None = None,
    pinned: VerifyKey | str | None = None,
    session: requests.Session | None = None,
) -> Cast:
    http = bounded_session(session)
    base = url.rstrip("/")
    # the service's address, with or without its API prefix (the README shows both)
    api = base if base.endswith("/api/v1") else base + "/api/v1"

    def get(path: str) -> Any:
        try:
            r = _fetch(http, "GET", api + path, 30)
        except requests.RequestException as exc:
            raise Problem(502, "network", f"cannot reach {api}: {exc}") from None
        if r.status_code != 200:
            raise Problem(r.status_code, "http", f"GET {path}: HTTP {r.status_code}")
        return r.json()

    receipt_out, ballot_out = out, ballot_path(out)
    for path in (receipt_out, ballot_out):
        if path.exists():
            raise Problem(409, "exists", f"{path} exists; keep your old receipt, choose another")
    manifest = checked_manifest(get("/manifest"), pinned)
    key = elector_key(manifest, unit, elector, credential, key_file)
    listed: dict[str, Any] = next((u for u in get("/units")["units"] if u["code"] == unit), {})
    rounds: list[dict[str, Any]] = listed.get("rounds", [])
    open_rounds = [r for r in rounds if r["state"] == "open"]
    if not open_rounds:
        raise _fail(f"no round of {unit} is open for voting")
    current = open_rounds[-1]
    candidates = [str(c) for c in current["candidates"]]
    if choice is not None and choice not in candidates:
        names = ", ".join(candidates)
        raise _fail(f"{choice!r} is not a candidate: choose one of {names} or blank")
    manifest_hash = hash_json(MANIFEST_HASH_TAG, manifest)
    election_key = Point.from_hex(manifest["election_key"])
    content = encrypt_ballot(
        manifest_hash, unit, current["round"], elector, candidates, choice, election_key
    )
    unsigned = {
        "election": manifest_hash.hex(),
        "unit": unit,
        "round": current["round"],
        "elector": elector,
        **content,
    }
    signed = sign_ballot(unsigned, key)
    body = canonical_json(signed)
    out.parent.mkdir(parents=True, exist_ok=True)
    ballot_out.write_bytes(body)  # kept whatever happens to the answer
    expect = Expected(manifest, unit, int(current["round"]), elector, body)
    try:
        r = _fetch(http, "POST", api + "/ballots", 60, data=body,
                   headers={"Content-Type": "application/json"})
        answer: Any = None
        if r.status_code in (200, 201):
            answer = r.json()
    except (requests.RequestException, ValueError, AnswerRefused):  # lost: was it cast?
        r, answer = None, None
    if r is not None and 400 <= r.status_code < 500:
        try:
            detail = r.json().get("detail", r.text)
        except ValueError:
            detail = r.text[:200]
        raise Problem(r.status_code, "refused", f"the service refused the ballot: {detail}")
    receipt = expect.checked(answer)
    if receipt is None:  # lost, or not a receipt for these bytes: was the ballot cast?
        receipt = _find_out(http, api, expect)
    receipt_out.write_bytes(canonical_json(receipt))
    return Cast(tracker(unsigned), receipt_out, ballot_out, int(current["round"]), choice)


@dataclass
class Expected:
    """What a receipt for the posted ballot must say."""

    manifest: dict[str, Any]
    unit: str
    round: int
    elector: str
    body: bytes

    def checked(self, receipt: Any) -> dict[str, Any] | None:
        """The receipt if its promise is the unit's log key's for the posted bytes, else None."""
        if not isinstance(receipt, dict):
            return None
        leaf = leaf_hash(self.body)
        unit = next(u for u in self.manifest["units"] if u["code"] == self.unit)
        origin = f"{self.manifest['origin']}/{self.unit}/{self.round}"
        index = receipt.get("index")
        fields = (receipt.get("unit"), receipt.get("round"), receipt.get("elector"))
        if fields != (self.unit, self.round, self.elector):
            return None
        if receipt.get("leaf_hash") != leaf.hex():
            return None
        if type(index) is not int or not isinstance(receipt.get("promise"), str):
            return None
        try:
            verified = verify_note(receipt["promise"], [NoteVerifier.parse(unit["log_key"])])
        except NoteError:
            return None
        promise = f"kz-tally/v1/promise\n{origin}\n{index}\n{b64_encode(leaf)}\n"
        return receipt if verified.text == promise else None


def _find_out(http: requests.Session, api: str, expect: Expected) -> dict[str, Any]:
    """The answer to the cast was lost or did not check: ask the log for the posted bytes."""
    leaf = leaf_hash(expect.body).hex()
    path = f"{api}/units/{expect.unit}/rounds/{expect.round}/receipts?leaf_hash={leaf}"
    status, found = 0, None
    try:
        r = _fetch(http, "GET", path, 30)
        status = r.status_code
        found = r.json() if status in (200, 404) else None
    except (requests.RequestException, ValueError, AnswerRefused):
        pass
    if status == 404 and isinstance(found, dict) and found.get("check") == "not-cast":
        raise _fail(
            "the answer to the cast was lost and the log does not hold the ballot: it was NOT "
            "cast; run the command again (with another --out)"
        )
    receipt = expect.checked(found)
    if receipt is None:
        raise _fail(
            "the answer to the cast was lost and the service cannot show that the ballot is in "
            "the log; run the command again in a minute (with another --out): if the ballot "
            "was cast, the service refuses the new one as already voted"
        )
    return receipt
