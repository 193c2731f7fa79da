"""The election record: everything an observer needs, and nothing secret.

Layout (docs/record.md describes every file):

    README.md                             how to verify this record
    manifest.json                         the sealed manifest, signed by the commission
    key_ceremony.json                     the guardians' public transcript
    units/<unit>/<round>/ballots.jsonl    log entries in log order, one entry's exact bytes a line
    units/<unit>/<round>/checkpoints.txt  every signed checkpoint issued, in order, one blank
                                          line between notes
    units/<unit>/<round>/tally.json       encrypted sums, partial decryptions, counts
    results/preliminary.json, results/final.json
    audit.jsonl                           the commission's signed requests, in order
    booth_code/<path>                     every file the electors' pages load, as the service
                                          serves it at /<path> (the manifest's booth.files)
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from pathlib import Path

from tally_service.service import record_files
from tally_service.service.election import Election
from tally_service.service.pages import booth_files

RECORD_README = """# Election record

This directory is the complete public record of one election run by kz-tally. It holds no
secret: ballots are encrypted, and only the guardians' public commitments are here.

To check everything (every signature, proof, root, total and winner), from a checkout of the
project:

    scripts/verify.py THIS_DIRECTORY

An elector checks their own receipt against it with:

    scripts/verify_receipt.py RECEIPT.json --record THIS_DIRECTORY

The format of each file is described in the project's docs/record.md.
"""


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def export_record(election: Election, out: Path) -> Path:
    """Write the record to ``out`` (a new or empty directory)."""
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    store = election.store
    _write(out / "README.md", RECORD_README.encode())
    _write(out / "manifest.json", record_files.manifest_bytes(election))
    ceremony = record_files.ceremony_bytes(election)
    assert ceremony is not None
    _write(out / "key_ceremony.json", ceremony)
    for unit, round_no in sorted(election.logs):
        folder = out / "units" / unit / str(round_no)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "ballots.jsonl", "wb") as lines:
            for entry in store.iter_entries(unit, round_no):
                lines.write(entry + b"\n")
        notes = record_files.checkpoint_notes(election, unit, round_no)
        _write(folder / "checkpoints.txt", record_files.checkpoints_text(notes))
        tally = record_files.tally_bytes(election, unit, round_no)
        if tally is not None:
            _write(folder / "tally.json", tally)
    for kind in ("preliminary", "final"):
        doc = record_files.result_bytes(election, kind)
        if doc is not None:
            _write(out / "results" / f"{kind}.json", doc)
    with open(out / "audit.jsonl", "wb") as audit:
        audit.writelines(record_files.audit_lines(election))
    # what the service serves now: if it is not what the manifest sealed, the verifier says so
    booth = election.manifest.signed["payload"].get("booth")
    if booth is not None:
        keys = [str(k) for k in election.manifest.signed["payload"]["commission"]["keys"]]
        served = booth_files(keys)
        for path in booth["files"]:
            if path in served:
                _write(out / "booth_code" / path, served[path])
    return out


def export_archive(election: Election) -> bytes:
    """The record as a gzip'd tar (what the HTTP endpoint serves)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "record"
        export_record(election, root)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for path in sorted(root.rglob("*")):
                tar.add(path, arcname=os.path.relpath(path, tmp), recursive=False)
        return buffer.getvalue()
