#!/usr/bin/env python3
"""Benchmark ballot encryption and the ballot validity check (crypto.ballot), on one thread.

Prints one figure per line as ``name value unit``:

- the raw cost of the libsodium group operations behind everything: variable-base scalar
  multiplication, fixed-base multiplication, point addition, point check (decoding a received
  32-byte encoding), and a scalar multiplication modulo L;
- for ballots of 2, 4 and 10 candidates: encrypt+prove and check, in ms per ballot, averaged
  over --ballots ballots (the best of --repeat runs, to keep other load on the machine out);
- the cost of the group operations one check performs, computed from the raw figures, so the
  Python overhead is visible as the difference.

The design's target is a check under 4 ms per 4-candidate ballot (30x faster than the ~125 ms
of ElectionGuard 1.4.0's Python validity check on the same shape).

Run from the top of the checkout: .venv/bin/python scripts/bench_ballot.py [--ballots N] [--quiet]
"""

from __future__ import annotations

import argparse
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

# scripts/ is not a package: make the checkout's top importable when run as a file.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto.ballot import check_ballot, encrypt_ballot
from crypto.canonical import tagged_hash
from crypto.group import Point, Scalar, base_mul


def best_per_call_us(fn: Callable[[], object], number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ballots", type=int, default=50, help="ballots per size (N)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure; the best counts")
    parser.add_argument(
        "--candidates", default="2,4,10", help="comma-separated ballot sizes (default 2,4,10)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    args = parser.parse_args(argv)
    if args.ballots < 1 or args.repeat < 1:
        parser.error("--ballots and --repeat must be positive")
    sizes = [int(s) for s in args.candidates.split(",") if s.strip()]

    def progress(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    def figure(name: str, value: float, unit: str, digits: int = 1) -> None:
        print(f"{name} {value:.{digits}f} {unit}", flush=True)

    progress("raw group operations ...")
    s, t = Scalar.random(), Scalar.random()
    p, q = base_mul(Scalar.random()), base_mul(Scalar.random())
    encoded = p.to_bytes()
    raw = {
        "scalar_mult": best_per_call_us(lambda: s * p, 2000, args.repeat),
        "fixed_base_mult": best_per_call_us(lambda: base_mul(s), 2000, args.repeat),
        "point_add": best_per_call_us(lambda: p + q, 5000, args.repeat),
        "point_check": best_per_call_us(lambda: Point.from_bytes(encoded), 5000, args.repeat),
        "scalar_mul": best_per_call_us(lambda: s * t, 5000, args.repeat),
    }
    for name, value in raw.items():
        figure(f"{name}_us", value, "us")

    manifest_hash = tagged_hash("bench/manifest", b"bench")
    key = base_mul(Scalar.random())
    for n in sizes:
        ids = [f"cand-{i}" for i in range(n)]
        electors = [f"elector-{i:05d}" for i in range(args.ballots)]
        choices = [None if i % (n + 1) == n else ids[i % (n + 1)] for i in range(args.ballots)]
        progress(f"{n} candidates: encrypting {args.ballots} ballots x {args.repeat} ...")
        best_encrypt = float("inf")
        ballots: list[dict[str, object]] = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            ballots = [
                encrypt_ballot(manifest_hash, "U", 1, e, ids, c, key)
                for e, c in zip(electors, choices, strict=True)
            ]
            best_encrypt = min(best_encrypt, time.perf_counter() - start)
        progress(f"{n} candidates: checking {args.ballots} ballots x {args.repeat} ...")
        best_check = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            reasons = [
                check_ballot(manifest_hash, "U", 1, e, ids, b, key)
                for e, b in zip(electors, ballots, strict=True)
            ]
            best_check = min(best_check, time.perf_counter() - start)
            if any(r is not None for r in reasons):
                print(f"error: an honest ballot failed its check: {reasons}", file=sys.stderr)
                return 1
        figure(f"encrypt_prove_{n}_candidates_ms", best_encrypt / args.ballots * 1e3, "ms", 3)
        figure(f"check_{n}_candidates_ms", best_check / args.ballots * 1e3, "ms", 3)
        # What one check does in the group: n+1 disjunctive proofs, each 6 scalar mults,
        # 2 fixed-base mults and 5 additions; 2(n-1) additions for the sum; 2n point checks.
        proofs = n + 1
        group_us = (
            proofs * (6 * raw["scalar_mult"] + 2 * raw["fixed_base_mult"] + 5 * raw["point_add"])
            + 2 * (n - 1) * raw["point_add"]
            + 2 * n * raw["point_check"]
        )
        figure(f"check_{n}_candidates_group_ops_ms", group_us / 1e3, "ms", 3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
