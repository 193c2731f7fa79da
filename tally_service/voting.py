"""The elector's command: ``tally-service vote``, the booth without a browser.

It trusts the service for nothing it can check: the manifest must carry the commission's
signature (with ``--commission-key``, by that key), the elector's key must be the one on the
roll, and the ballot is encrypted and proved here. It prints the tracker (crypto/audit.py)
before casting, then writes the service's receipt and, next to it, the exact bytes of the
ballot it posted (``receipt.json`` and ``receipt.ballot.json``): the receipt checker compares
the two with the log's entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from crypto.audit import tracker
from crypto.ballot import encrypt_ballot, sign_ballot
from crypto.canonical import EncodingError, canonical_json, hash_json
from crypto.credentials import CredentialError, derive_key
from crypto.envelope import EnvelopeError, open_document
from crypto.group import Point
from crypto.signing import Context, SigningKey, VerifyKey
from tally_service.keys import read_private_key
from tally_service.manifest import MANIFEST_HASH_TAG
from tally_service.problems import Problem


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


def checked_manifest(document: object, pinned: VerifyKey | None) -> dict[str, Any]:
    """The manifest's payload after checking the commission's signature (by ``pinned`` if given)."""
    payload = document.get("payload") if isinstance(document, dict) else None
    if not isinstance(payload, dict):
        raise _fail("the service's manifest is not a signed document")
    try:
        keys = {k.key_id: k for k in (VerifyKey.from_hex(h) for h in payload["commission"]["keys"])}
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
    pinned: VerifyKey | None = None,
    session: requests.Session | None = None,
) -> Cast:
    http = session or requests.Session()
    base = url.rstrip("/")
    # the service's address, with or without its API prefix (the README shows both)
    api = base if base.endswith("/api/v1") else base + "/api/v1"

    def get(path: str) -> Any:
        try:
            r = http.get(api + path, timeout=30)
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
    try:
        r = http.post(
            api + "/ballots", data=body, headers={"Content-Type": "application/json"}, timeout=60
        )
    except requests.RequestException as exc:
        raise Problem(502, "network", f"cannot reach {api}: {exc}") from None
    if r.status_code not in (200, 201):
        try:
            detail = r.json().get("detail", r.text)
        except ValueError:
            detail = r.text[:200]
        raise Problem(r.status_code, "refused", f"the service refused the ballot: {detail}")
    out.parent.mkdir(parents=True, exist_ok=True)
    ballot_out.write_bytes(body)
    receipt_out.write_bytes(r.content)
    return Cast(tracker(unsigned), receipt_out, ballot_out, int(current["round"]), choice)
