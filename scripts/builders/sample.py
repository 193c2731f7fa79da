"""Small elections built in code, for the tests, the demo and the benchmarks.

Electors' private keys are returned to the caller (who plays the electors) and never stored
in the data directory or the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crypto.credentials import derive_key, new_code
from crypto.signing import SigningKey
from scripts.builders.insecure import key_ceremony
from tally_service.common.rolls import RollEntry
from tally_service.service.setup import (
    draft_manifest,
    import_roll,
    init_election,
    seal,
)


@dataclass(frozen=True)
class UnitSpec:
    code: str
    name_en: str
    candidates: int
    electors: int
    kind: str = "region"
    name_ru: str | None = None
    name_kk: str | None = None


def build_election(
    data_dir: Path,
    units: list[UnitSpec],
    guardians: int = 3,
    threshold: int = 2,
    election_id: str = "test-election",
    origin: str = "tally.example/test-election",
    guardian_keys: list[dict[str, str]] | None = None,
    codes: dict[str, str] | None = None,
    witnesses: dict[str, Any] | None = None,
    simulation: bool = False,
    store: str | None = None,
) -> dict[str, SigningKey]:
    """Init, import generated rolls, hold the key ceremony and seal; return the electors' keys.

    With ``codes`` (a dict to fill), each elector's key is derived from a fresh credential code
    (crypto/credentials.py), as a credential authority would make it, and the codes go there.
    With ``guardian_keys`` (from each guardian's guardian.json) the draft lists the guardians
    and nothing more happens after the rolls: they hold the ceremony from their own machines.
    Without, the ceremony runs in this process, INSECURELY (every share lands in the data
    directory): tests and benchmarks only. ``store``: a ``postgresql://`` URL for the
    election's database (the keys stay in ``data_dir``).
    """
    draft = draft_manifest(
        election_id=election_id,
        title={"en": "Test election", "ru": None, "kk": None},
        date="2023-01-14",
        origin=origin,
        units=[
            {
                "code": u.code,
                "kind": u.kind,
                "name": {"en": u.name_en, "ru": u.name_ru, "kk": u.name_kk},
                "candidates": [
                    {"id": f"{u.code}-C{i + 1}", "name": f"Candidate {i + 1} of {u.code}"}
                    for i in range(u.candidates)
                ],
            }
            for u in units
        ],
        guardian_names=[f"Guardian {i + 1}" for i in range(guardians)],
        threshold=threshold,
        guardian_keys=guardian_keys,
        simulation=simulation,
    )
    if witnesses is not None:  # the manifest's witnesses section (docs/record.md)
        draft["witnesses"] = witnesses
    init_election(data_dir, draft, store=store)
    keys: dict[str, SigningKey] = {}
    for u in units:
        entries = []
        for i in range(u.electors):
            elector_id = f"{u.code}-E{i + 1:04d}"
            if codes is None:
                key = SigningKey.generate()
            else:
                codes[elector_id] = new_code()
                key = derive_key(codes[elector_id], election_id, elector_id)
            keys[elector_id] = key
            entries.append(RollEntry(elector_id, f"Elector {i + 1} of {u.code}", key.public.hex()))
        import_roll(data_dir, u.code, entries, store)
    if guardian_keys is None:
        key_ceremony(data_dir, store)
        seal(data_dir, store)
    return keys
