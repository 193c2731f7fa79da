#!/usr/bin/env python3
"""Benchmark the append-only Merkle log (crypto.merkle.MerkleTree).

Appends N leaf hashes and prints, one figure per line as ``name value unit``:

- appends per second with precomputed random 32-byte leaf hashes (input generation not timed);
- appends per second including leaf_hash() of 100-byte entries;
- the time of one root at full size;
- the average time to build and, separately, to verify an inclusion proof and a consistency
  proof at full size, over random indexes and sizes;
- the process's resident memory before any tree (baseline), the peak resident memory
  (ru_maxrss) once the first tree of N leaves is built, the bytes of hashes that tree holds, and
  the peak at the end (the entries' tree is built after the first one is dropped).

Run from the top of the checkout: .venv/bin/python scripts/bench_log.py [--leaves N] [--quiet]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

# scripts/ is not a package: make the checkout's top importable when run as a file.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto.merkle import (
    HASH_SIZE,
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)

CHUNK = 65_536  # leaves generated at a time, so the input never sits in memory all at once
ENTRY_SIZE = 100


def _chunks(total: int, size: int) -> Iterator[int]:
    done = 0
    while done < total:
        n = min(size, total - done)
        yield n
        done += n


def _random_hashes(n: int) -> list[bytes]:
    blob = os.urandom(n * HASH_SIZE)
    return [blob[i : i + HASH_SIZE] for i in range(0, len(blob), HASH_SIZE)]


def _random_entries(n: int) -> list[bytes]:
    blob = os.urandom(n * ENTRY_SIZE)
    return [blob[i : i + ENTRY_SIZE] for i in range(0, len(blob), ENTRY_SIZE)]


def bench_append_hashes(total: int) -> tuple[MerkleTree, float]:
    """A tree of ``total`` random leaf hashes and the seconds spent appending them."""
    tree = MerkleTree()
    spent = 0.0
    for n in _chunks(total, CHUNK):
        hashes = _random_hashes(n)
        start = time.perf_counter()
        tree.extend(hashes)
        spent += time.perf_counter() - start
    return tree, spent


def bench_append_entries(total: int) -> float:
    """Seconds to leaf_hash() and append ``total`` random 100-byte entries (tree discarded)."""
    tree = MerkleTree()
    append = tree.append
    spent = 0.0
    for n in _chunks(total, CHUNK):
        entries = _random_entries(n)
        start = time.perf_counter()
        for entry in entries:
            append(leaf_hash(entry))
        spent += time.perf_counter() - start
    return spent


def _average(fn: Callable[[int], object], args: list[int]) -> float:
    start = time.perf_counter()
    for a in args:
        fn(a)
    return (time.perf_counter() - start) / len(args)


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--leaves", type=int, default=1_000_000, help="number of leaves (N)")
    parser.add_argument("--samples", type=int, default=1000, help="proofs to average over")
    parser.add_argument("--seed", type=int, default=1, help="seed for the random indexes/sizes")
    parser.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    args = parser.parse_args(argv)
    if args.leaves < 2:
        parser.error("--leaves must be at least 2")
    if args.samples < 1:
        parser.error("--samples must be at least 1")

    def progress(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    def figure(name: str, value: float, unit: str, digits: int = 1) -> None:
        print(f"{name} {value:.{digits}f} {unit}", flush=True)

    n = args.leaves
    rng = random.Random(args.seed)
    figure("baseline_rss", _peak_rss_mb(), "MiB")

    progress(f"appending {n} precomputed leaf hashes ...")
    tree, spent = bench_append_hashes(n)
    figure("leaves", n, "leaves", 0)
    figure("append_hashes_rate", n / spent, "leaves/s", 0)
    figure("peak_rss_one_tree", _peak_rss_mb(), "MiB")

    progress("root, inclusion and consistency proofs at full size ...")
    start = time.perf_counter()
    full_root = tree.root()
    figure("root_time", (time.perf_counter() - start) * 1e6, "us")

    indexes = [rng.randrange(n) for _ in range(args.samples)]
    proofs = {i: tree.inclusion_proof(i) for i in indexes}
    leaves = {i: tree.leaf_hash(i) for i in indexes}
    figure("inclusion_build_time", _average(tree.inclusion_proof, indexes) * 1e6, "us")

    def check_inclusion(i: int) -> None:
        if not verify_inclusion(leaves[i], i, n, proofs[i], full_root):
            raise SystemExit(f"inclusion proof for leaf {i} did not verify")

    figure("inclusion_verify_time", _average(check_inclusion, indexes) * 1e6, "us")
    figure("inclusion_proof_hashes", sum(map(len, proofs.values())) / len(proofs), "hashes")

    sizes = [rng.randrange(1, n) for _ in range(args.samples)]
    cproofs = {m: tree.consistency_proof(m) for m in sizes}
    roots = {m: tree.root(m) for m in sizes}
    figure("consistency_build_time", _average(tree.consistency_proof, sizes) * 1e6, "us")

    def check_consistency(m: int) -> None:
        if not verify_consistency(m, n, cproofs[m], roots[m], full_root):
            raise SystemExit(f"consistency proof from size {m} did not verify")

    figure("consistency_verify_time", _average(check_consistency, sizes) * 1e6, "us")
    figure("consistency_proof_hashes", sum(map(len, cproofs.values())) / len(cproofs), "hashes")

    tree_bytes = sum(len(level) for level in tree._levels)  # the hashes alone
    figure("tree_hash_bytes", tree_bytes / (1024 * 1024), "MiB")
    del tree  # the proofs kept above are small

    progress(f"hashing and appending {n} entries of {ENTRY_SIZE} bytes ...")
    spent_entries = bench_append_entries(n)
    figure("append_entries_rate", n / spent_entries, "leaves/s", 0)
    figure("peak_rss", _peak_rss_mb(), "MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
