"""Command line: verify.py RECORD [--json] [--quiet] [--jobs N] [--commission-key HEX]
[--trust FILE], or
verify.py --follow URL [--state DIR] [--interval S] [--until-final] (the live monitor)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from crypto.canonical import EncodingError
from crypto.signing import VerifyKey

from .progress import wanted
from .run import verify_record
from .trust import UNPINNED, Trust, TrustError, combine, load_trust, pin_failures


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="verify.py",
        description=(
            "Check a kz-tally election record from scratch: every signature, proof, root, "
            "total and winner (checks V1-V9). Exit status 0 only if every check passes."
        ),
    )
    parser.add_argument(
        "record", type=Path, nargs="?", help="the record directory (or a .tar.gz / .zip)"
    )
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
    parser.add_argument(
        "--trust",
        metavar="FILE",
        type=Path,
        help="a trust file (kz-tally/trust/v1, docs/formats.md) of what you got out of band: "
        "commission key, election fingerprint, guardian keys, witness keys and quorum; any "
        "difference is refused",
    )
    follow = parser.add_argument_group("live monitor (instead of RECORD)")
    follow.add_argument(
        "--follow",
        metavar="URL",
        help="follow the service at URL while the election runs and check everything as it "
        "is published (same checks V1-V9; docs/record.md)",
    )
    follow.add_argument(
        "--state",
        type=Path,
        default=Path("kz-follow-state"),
        help="folder for the monitor's state, mirror and evidence (default: ./kz-follow-state); "
        "a restarted monitor resumes from it",
    )
    follow.add_argument(
        "--interval",
        type=float,
        default=5.0,
        help="seconds between polls (default 5, the service's default checkpoint period)",
    )
    follow.add_argument(
        "--until-final",
        action="store_true",
        help="exit once the final result is published and checked: 0 if every check passed",
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
    trust: Trust | None = None
    try:
        if args.trust is not None:
            trust = load_trust(args.trust)
        pinned = combine(trust, pinned)
    except TrustError as exc:
        print(f"verify.py: --trust {exc}", file=sys.stderr)
        return 2
    if trust is None and pinned is None:
        print(f"verify.py: {UNPINNED}", file=sys.stderr)
    if args.follow is not None:
        from .follow_cli import run_follow

        return run_follow(args, pinned, trust)
    if args.record is None:
        print("verify.py: give a RECORD to check, or --follow URL", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print("verify.py: --jobs must be at least 1", file=sys.stderr)
        return 2
    report = verify_record(
        args.record,
        jobs=args.jobs,
        commission_key=pinned,
        progress=wanted(args.quiet),
        trust=trust,
    )
    if args.json:
        report.write_json(sys.stdout)
    else:
        report.write_text(sys.stdout)
    differences = pin_failures(report["V1"].failures)
    if differences:
        more = f" (and {len(differences) - 1} more: see V1)" if len(differences) > 1 else ""
        print(
            f"verify.py: refused: the record differs from {args.trust or '--commission-key'}: "
            f"{differences[0]}{more}",
            file=sys.stderr,
        )
    return 0 if report.ok else 1
