"""The credential authority's program: codes for electors, public keys for the commission.

    tally-service credentials --roll NAMES.csv --election-id ID --out DIR

reads a roll without keys (``elector_id,full_name``, see docs/rolls.md), makes one credential
code per elector (crypto/credentials.py) and writes

- ``DIR/codes.csv`` (``elector_id,full_name,code``, mode 0600): to print and hand out in sealed
  envelopes, then destroy. The commission must never see it: whoever holds a code can vote in
  that elector's place.
- ``DIR/roll.csv`` (``elector_id,full_name,public_key``): what the commission imports with
  ``tally-service import-roll``.

It runs on the authority's own machine and needs no network.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from crypto.credentials import derive_key, new_code
from tally_service.common.problems import Problem
from tally_service.common.rolls import RollEntry, parse_names, roll_to_csv


def make_credentials(names_csv: bytes, election_id: str, out: Path) -> tuple[int, Path, Path]:
    """Write codes.csv and roll.csv into ``out``; returns (electors, codes file, roll file)."""
    electors = parse_names(names_csv)
    codes_path, roll_path = out / "codes.csv", out / "roll.csv"
    for path in (codes_path, roll_path):
        if path.exists():
            raise Problem(409, "exists", f"{path} exists; choose another --out")
    rows: list[tuple[str, str, str]] = []
    entries: list[RollEntry] = []
    for elector_id, name in electors:
        code = new_code()
        key = derive_key(code, election_id, elector_id)
        rows.append((elector_id, name, code))
        entries.append(RollEntry(elector_id, name, key.public.hex()))
    roll = roll_to_csv(entries)
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(("elector_id", "full_name", "code"))
    writer.writerows(rows)
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(codes_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
        f.write(text.getvalue())
    roll_path.write_bytes(roll)
    return len(rows), codes_path, roll_path
