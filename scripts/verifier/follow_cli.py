"""The monitor's terminal and JSON output (verify.py --follow)."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from crypto.signing import VerifyKey

from .follow import as_json_line, follow
from .trust import Trust


def run_follow(args: argparse.Namespace, pinned: VerifyKey | None, trust: Trust | None) -> int:
    if args.interval <= 0:
        print("verify.py: --interval must be positive", file=sys.stderr)
        return 2

    def emit(event: dict[str, Any]) -> None:
        if args.json:
            print(as_json_line({"at": round(time.time(), 3), **event}), flush=True)
        elif not args.quiet or event["event"] in ("fail", "verdict", "evidence"):
            print(f"{time.strftime('%H:%M:%S')} {event['message']}", flush=True)

    try:
        report = follow(
            args.follow,
            args.state,
            interval=args.interval,
            until_final=args.until_final,
            commission_key=pinned,
            trust=trust,
            emit=emit,
            jobs=max(1, args.jobs),
        )
    except KeyboardInterrupt:
        print("verify.py: stopped; run the same command again to resume", file=sys.stderr)
        return 130
    except ValueError as exc:
        print(f"verify.py: {exc}", file=sys.stderr)
        return 2
    if not args.json:
        report.write_text(sys.stdout)
    return 0 if report.ok else 1
