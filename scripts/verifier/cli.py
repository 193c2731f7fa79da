"""Command line: verify.py RECORD [--json] [--quiet] [--jobs N] [--commission-key HEX]."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from crypto.canonical import EncodingError
from crypto.signing import VerifyKey

from .progress import wanted
from .run import verify_record


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verify.py",
        description=(
            "Check a kz-tally election record from scratch: every signature, proof, root, "
            "total and winner (checks V1-V9). Exit status 0 only if every check passes."
        ),
    )
    parser.add_argument("record", type=Path, help="the record directory (or a .tar.gz / .zip)")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="worker processes for the ballot proofs (default: all cores)",
    )
    parser.add_argument(
        "--commission-key",
        metavar="HEX",
        help="the commission's Ed25519 public key as published elsewhere: the manifest must "
        "be signed by it",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    pinned: VerifyKey | None = None
    if args.commission_key is not None:
        try:
            pinned = VerifyKey.from_hex(args.commission_key.strip().lower())
        except EncodingError as exc:
            print(f"verify.py: --commission-key: {exc}", file=sys.stderr)
            return 2
    if args.jobs < 1:
        print("verify.py: --jobs must be at least 1", file=sys.stderr)
        return 2
    report = verify_record(
        args.record,
        jobs=args.jobs,
        commission_key=pinned,
        progress=wanted(args.quiet),
    )
    if args.json:
        report.write_json(sys.stdout)
    else:
        report.write_text(sys.stdout)
    return 0 if report.ok else 1
