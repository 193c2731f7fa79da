#!/usr/bin/env python3
"""Benchmark a witness: add-checkpoint latency on a large log, durable write included.

Builds a log of --size leaf hashes in memory (not timed) and a log key, starts one real
``tally-service witness serve`` process per cosignature type (Ed25519 cosignature/v1 and
ML-DSA-44 subtree/v1) with a fresh state directory, gives each the checkpoint of size
``--size - --requests * --step`` (the first, trust-on-first-use, not timed), then sends
--requests add-checkpoint requests over one keep-alive HTTP connection, each --step leaves
larger than the last with its RFC 9162 consistency proof. Every answer must be 200 with a
cosignature that verifies. The witness checks the log's signature and the proof, signs, writes
its state file and fsyncs it (and its directory) before answering.

Prints one figure per line as ``name value unit``: per type, latency p50, p90, p99, max and mean
of the timed requests (client side: HTTP, checks, signing, fsync), and the proof length.

The issue's target (issue 18): p99 under 20 ms at 1,000,000 entries.

Run from the top of the checkout:
    .venv/bin/python scripts/bench_witness.py [--size 1000000] [--requests 500] [--step 64]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import itertools

import requests
from tqdm import tqdm

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.cosignature import TYPE_ED25519, TYPE_MLDSA44, Cosigner, note_cosignatures
from crypto.merkle import MerkleTree
from crypto.note import NoteVerifier
from crypto.signing import SigningKey
from crypto.tlog_witness import add_checkpoint_body
from scripts.builders.witness_process import WitnessProcess

ORIGIN = "bench.example/witness/AAA/1"
KEY_NAME = "bench.example/witness/AAA"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=1_000_000, help="final log size")
    parser.add_argument("--requests", type=int, default=500, help="timed add-checkpoints")
    parser.add_argument("--step", type=int, default=64, help="leaves between checkpoints")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    start = args.size - args.requests * args.step
    if args.requests < 1 or args.step < 1 or start < 1:
        parser.error("need --size > --requests * --step, both positive")
    show = not args.quiet and sys.stderr.isatty()

    def figure(name: str, value: float, unit: str, digits: int = 2) -> None:
        print(f"{name} {value:.{digits}f} {unit}", flush=True)

    t0 = time.perf_counter()
    tree = MerkleTree()
    for i in tqdm(range(args.size), desc="building the log", unit="leaf", disable=not show,
                  mininterval=0.5):
        tree.append(hashlib.sha256(i.to_bytes(8, "big")).digest())
    log_key = SigningKey.generate()

    def note(size: int) -> str:
        return sign_checkpoint(Checkpoint(ORIGIN, size, tree.root(size)), [(KEY_NAME, log_key)])

    sizes = [start + i * args.step for i in range(args.requests + 1)]
    bodies = [add_checkpoint_body(0, [], note(sizes[0]))] + [
        add_checkpoint_body(old, tree.consistency_proof(old, new), note(new))
        for old, new in itertools.pairwise(sizes)
    ]
    figure("nproc", os.cpu_count() or 0, "cpus", 0)
    figure("load_average_1min", os.getloadavg()[0], "tasks")
    figure("log_size", args.size, "entries", 0)
    figure("prepare_time", time.perf_counter() - t0, "s", 1)
    figure("proof_hashes", len(tree.consistency_proof(sizes[-2], sizes[-1])), "hashes", 0)
    failed = False
    with tempfile.TemporaryDirectory(prefix="bench-witness-") as tmp:
        work = Path(tmp)
        logs = work / "logs.txt"
        logs.write_text(
            f"{ORIGIN} {NoteVerifier.from_key(KEY_NAME, log_key.public)}\n", encoding="utf-8"
        )
        for label, kind in (("ed25519", TYPE_ED25519), ("mldsa44", TYPE_MLDSA44)):
            cosigner = Cosigner.generate(f"{label}.bench.example", kind)
            key = work / f"{label}.key"
            key.write_text(cosigner.private_text(), encoding="ascii")
            key.chmod(0o600)
            latencies: list[float] = []
            with WitnessProcess(key, work / f"{label}-state", logs) as witness:
                session = requests.Session()
                url = f"{witness.url}/add-checkpoint"
                for i, body in enumerate(
                    tqdm(bodies, desc=f"add-checkpoint ({label})", disable=not show)
                ):
                    began = time.perf_counter()
                    answer = session.post(url, data=body, timeout=30)
                    took = time.perf_counter() - began
                    if answer.status_code != 200:
                        print(f"error: HTTP {answer.status_code}: {answer.text[:200]}",
                              file=sys.stderr)
                        failed = True
                        break
                    if i > 0:
                        latencies.append(took)
                # the last answer's cosignature must verify
                _, valid = note_cosignatures(note(sizes[-1]) + answer.text, [cosigner.public])
                if len(valid) != 1:
                    print(f"error: the {label} cosignature does not verify", file=sys.stderr)
                    failed = True
            if latencies:
                for q in (50, 90, 99):
                    figure(f"add_checkpoint_{label}_p{q}", percentile(latencies, q) * 1e3, "ms")
                figure(f"add_checkpoint_{label}_max", max(latencies) * 1e3, "ms")
                figure(f"add_checkpoint_{label}_mean",
                       sum(latencies) / len(latencies) * 1e3, "ms")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
