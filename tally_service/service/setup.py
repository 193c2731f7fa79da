"""Preparing an election before voting: init, rolls, key ceremony, seal.

The commission writes a draft manifest (units, candidates, guardians, keys), imports each
unit's roll, runs the key ceremony, and seals: the sealed manifest carries the joint election
key and the hash of the ceremony transcript, and is signed by the commission key. After sealing
nothing in it can change; ballots bind to its hash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from crypto.ceremony import check_ceremony, members_from_manifest
from crypto.envelope import sign_document
from crypto.note import verifier_key
from crypto.signing import Context, SigningKey
from schemas.manifest import DEFAULT_TIME_ZONE, MANIFEST_FORMAT
from tally_service.common.keys import (
    commission_key_path,
    log_key_path,
    read_private_key,
    write_private_key,
)
from tally_service.common.manifest import ManifestError, log_key_name, validate_manifest
from tally_service.common.rolls import RollEntry, RollError, check_rolls
from tally_service.service.pages import booth_hashes
from tally_service.service.store import BaseStore, Store, redact
from tally_service.service.store_open import open_store

RULES = {
    "quorum": "more-than-half-of-registered",
    "threshold": "more-than-half-of-took-part",
    "runoff": "top-two-most-votes",
    "tie_break": "lot-final-checkpoint",
}


# One guardian able to decrypt alone could read every ballot: the service asks for k >= 2.
# (crypto/guardians.py accepts k = 1, and so does the verifier: it is a policy, not a format rule.)
MIN_THRESHOLD = 2


class SetupError(Exception):
    pass


def draft_manifest(
    election_id: str,
    title: dict[str, Any],
    date: str,
    origin: str,
    units: list[dict[str, Any]],
    guardian_names: list[str],
    threshold: int,
    commission_name: str | None = None,
    time_zone: str = DEFAULT_TIME_ZONE,
    guardian_keys: list[dict[str, str]] | None = None,
    simulation: bool = False,
) -> dict[str, Any]:
    """A draft manifest with empty keys and rolls, to be filled by ``init`` and the imports.
    ``simulation`` marks a simulated election (``"simulation": true``; absent otherwise)."""
    draft: dict[str, Any] = {
        "format": MANIFEST_FORMAT,
        "election_id": election_id,
        "title": title,
        "date": date,
        "time_zone": time_zone,
        "origin": origin,
        "rules": dict(RULES),
        "commission": {"name": commission_name or f"{origin}/commission", "keys": []},
        "guardians": {
            "n": len(guardian_names),
            "k": threshold,
            "names": guardian_names,
            "keys": list(guardian_keys or []),
        },
        "election_key": None,
        "ceremony_hash": None,
        "units": [
            {
                "code": u["code"],
                "kind": u["kind"],
                "name": u["name"],
                "seats": 1,
                "log_key": "",
                "candidates": u["candidates"],
                "roll": u.get("roll", []),
            }
            for u in units
        ],
    }
    if simulation:
        draft["simulation"] = True
    return draft


def _store(data_dir: Path, create: bool = False, store: str | None = None) -> BaseStore:
    """The election's store: ``store`` (a ``postgresql://`` URL) or the SQLite database in the
    data directory."""
    if store:
        opened = open_store(store)
        if not create and opened.get_meta("draft") is None:
            opened.close()
            raise SetupError(f"no election in {redact(store)} (run `tally-service init` first)")
        return opened
    db = data_dir / "election.db"
    if not create and not db.exists():
        raise SetupError(f"no election in {data_dir} (run `tally-service init` first)")
    return Store(db)


def _draft(store: BaseStore) -> dict[str, Any]:
    if store.get_meta("manifest") is not None:
        raise SetupError("the election is sealed: its manifest can no longer change")
    text = store.get_meta("draft")
    if text is None:
        raise SetupError("no draft manifest: run `tally-service init` first")
    draft: dict[str, Any] = json.loads(text)
    return draft


def init_election(
    data_dir: Path, draft: dict[str, Any], store: str | None = None
) -> dict[str, Any]:
    """Create the data directory, generate the commission and log keys, store the draft.

    Existing key files are reused (a commission that ran `keygen` keeps its keys)."""
    if store is None and (data_dir / "election.db").exists():
        raise SetupError(f"{data_dir} holds an election already")
    if store is not None:
        existing = _store(data_dir, create=True, store=store)
        try:
            if existing.get_meta("draft") is not None:
                raise SetupError(f"{redact(store)} holds an election already")
        finally:
            existing.close()
    draft = json.loads(json.dumps(draft))
    k = (draft.get("guardians") or {}).get("k")
    n = (draft.get("guardians") or {}).get("n")
    if isinstance(k, int) and k < MIN_THRESHOLD:
        raise SetupError(
            f"guardians.k is {k}: with a threshold below {MIN_THRESHOLD} one guardian alone "
            f"could decrypt every ballot; name at least {MIN_THRESHOLD} guardians and set "
            f"k >= {MIN_THRESHOLD}"
        )
    if isinstance(k, int) and isinstance(n, int) and 2 * k <= n:
        raise SetupError(
            f"guardians.k is {k} of n = {n}: the threshold must be more than half the guardians "
            f"(k >= {n // 2 + 1}), so that any two groups of k share an honest guardian and no "
            "two different final logs of a round can both be decrypted"
        )
    _check_witnesses(draft)
    commission = _key(commission_key_path(data_dir))
    draft["commission"]["keys"] = [commission.public.hex()]
    for unit in draft["units"]:
        key = _key(log_key_path(data_dir, unit["code"]))
        unit["log_key"] = verifier_key(log_key_name(draft, unit["code"]), key.public)
    for unit in draft["units"]:
        unit.setdefault("roll", [])
    validate_manifest(draft)
    opened = _store(data_dir, create=True, store=store)
    opened.set_meta("draft", json.dumps(draft))
    opened.close()
    return draft


def _check_witnesses(draft: dict[str, Any]) -> None:
    """The witness policy, if any: valid vkeys, and 2q - n >= f + 1 (crypto/witness_policy.py)."""
    from crypto.witness_policy import PolicyError, WitnessPolicy

    try:
        WitnessPolicy.from_manifest(draft.get("witnesses"))
    except PolicyError as exc:
        raise SetupError(f"witnesses: {exc}") from exc


def _key(path: Path) -> SigningKey:
    if path.exists():
        return read_private_key(path)
    key = SigningKey.generate()
    write_private_key(path, key)
    return key


def import_roll(
    data_dir: Path, unit: str, entries: list[RollEntry], store_url: str | None = None
) -> int:
    """Replace a unit's roll in the draft manifest (before sealing only)."""
    store = _store(data_dir, store=store_url)
    try:
        draft = _draft(store)
        units = {u["code"]: u for u in draft["units"]}
        if unit not in units:
            raise SetupError(f"no unit {unit!r} in this election")
        rolls = {
            code: [RollEntry(e["elector"], e["name"], e["public_key"]) for e in u["roll"]]
            for code, u in units.items()
            if code != unit
        }
        rolls[unit] = list(entries)
        try:
            check_rolls(rolls)  # an elector id or a key in two units, named
        except RollError as exc:
            raise SetupError(str(exc)) from exc
        units[unit]["roll"] = [
            {"elector": e.elector_id, "name": e.name, "public_key": e.public_key} for e in entries
        ]
        try:
            validate_manifest(draft)
        except ManifestError as exc:
            raise SetupError(str(exc)) from exc
        store.set_meta("draft", json.dumps(draft))
    finally:
        store.close()
    return len(entries)


def check_ceremony_for(draft: dict[str, Any], transcript: object) -> str | None:
    """Why a finished ceremony transcript cannot go with this draft, or None."""
    reason = check_ceremony(transcript)
    if reason is not None:
        return reason
    assert isinstance(transcript, dict)
    g = draft["guardians"]
    if transcript["election_id"] != draft["election_id"] or transcript["k"] != g["k"]:
        return "the transcript is for another election or threshold"
    if transcript["guardians"] != members_from_manifest(g):
        return "the transcript's guardian list is not the manifest's"
    if transcript["witnesses"] != draft.get("witnesses"):
        return (
            "the manifest's witnesses are not the ones the guardians confirmed in the ceremony "
            "(they bind them: the commission cannot swap witnesses after the ceremony)"
        )
    return None


def seal(data_dir: Path, store_url: str | None = None) -> dict[str, Any]:
    """Fix the manifest: joint key and ceremony hash in, every unit checked, commission-signed."""
    store = _store(data_dir, store=store_url)
    try:
        draft = _draft(store)
        text = store.get_meta("ceremony")
        if text is None:
            raise SetupError("hold the key ceremony before sealing")
        transcript = json.loads(text)
        reason = check_ceremony_for(draft, transcript)
        if reason is not None:
            raise SetupError(f"the key ceremony transcript does not check: {reason}")
        for unit in draft["units"]:
            if not unit["candidates"]:
                raise SetupError(f"unit {unit['code']} has no candidates")
            if not unit["roll"]:
                raise SetupError(f"unit {unit['code']} has no roll: import it first")
        draft["election_key"] = transcript["joint_key"]
        draft["ceremony_hash"] = transcript["transcript_hash"]
        # the hash of every file the booth and receipt page load, as served (pages.py): the
        # record publishes them and observers compare what the service serves with them
        draft["booth"] = booth_hashes([str(k) for k in draft["commission"]["keys"]])
        validate_manifest(draft)
        commission = read_private_key(commission_key_path(data_dir))
        signed = sign_document(draft, commission, Context.MANIFEST)
        store.set_meta("manifest", json.dumps(signed))
    finally:
        store.close()
    return signed
