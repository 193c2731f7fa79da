"""ElectionGuard 1.4.0's side of scripts/bench_vs_electionguard (runs in its Python 3.9 venv).

Builds a manifest with one vote-for-one contest of 4 candidates and one ballot style, an
election context from a fresh ElGamal key (1 guardian, quorum 1, the standard 4096-bit group
unless PRIME_OPTION says otherwise), then times, per ballot, electionguard.encrypt.encrypt_ballot
and CiphertextBallot.is_valid_encryption (the best of --repeat runs over --ballots ballots).
Writes the figures as one JSON object to --out.

Kept compatible with Python 3.9: no zip(strict=), no X | Y at run time, no datetime.UTC.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time
from collections.abc import Callable
from datetime import datetime
from importlib.metadata import version
from typing import Any

from electionguard.ballot import (  # type: ignore[import-not-found]
    PlaintextBallot,
    PlaintextBallotContest,
    PlaintextBallotSelection,
)
from electionguard.constants import get_constants  # type: ignore[import-not-found]
from electionguard.election import make_ciphertext_election_context  # type: ignore[import-not-found]
from electionguard.elgamal import elgamal_keypair_from_secret  # type: ignore[import-not-found]
from electionguard.encrypt import encrypt_ballot  # type: ignore[import-not-found]
from electionguard.group import rand_q  # type: ignore[import-not-found]
from electionguard.hash import hash_elems  # type: ignore[import-not-found]
from electionguard.logs import LOG  # type: ignore[import-not-found]
from electionguard.manifest import (  # type: ignore[import-not-found]
    BallotStyle,
    Candidate,
    ContestDescription,
    ElectionType,
    GeopoliticalUnit,
    InternalManifest,
    Manifest,
    ReportingUnitType,
    SelectionDescription,
    SpecVersion,
    VoteVariationType,
)

CANDIDATES = 4
STYLE = "style-1"
CONTEST = "contest-1"


def build_manifest(candidates: int) -> Any:
    selections = [
        SelectionDescription(f"selection-{i + 1}", i, f"candidate-{i + 1}")
        for i in range(candidates)
    ]
    contest = ContestDescription(
        object_id=CONTEST,
        sequence_order=0,
        electoral_district_id="district-1",
        vote_variation=VoteVariationType.one_of_m,
        number_elected=1,
        votes_allowed=1,
        name="Senator",
        ballot_selections=selections,
    )
    return Manifest(
        election_scope_id="bench-election",
        spec_version=SpecVersion.EG1_0,
        type=ElectionType.general,
        start_date=datetime(2023, 1, 14, 10, 0),
        end_date=datetime(2023, 1, 14, 18, 0),
        geopolitical_units=[
            GeopoliticalUnit("district-1", "District 1", ReportingUnitType.county)
        ],
        parties=[],
        candidates=[Candidate(f"candidate-{i + 1}") for i in range(candidates)],
        contests=[contest],
        ballot_styles=[BallotStyle(STYLE, ["district-1"])],
    )


def plaintext_ballot(i: int, candidates: int) -> Any:
    """Ballot ``i``: a vote for candidate (i mod candidates) + 1."""
    chosen = PlaintextBallotSelection(f"selection-{i % candidates + 1}", vote=1)
    contest = PlaintextBallotContest(CONTEST, [chosen])
    return PlaintextBallot(f"ballot-{i:05d}", STYLE, [contest])


def best_per_item_ms(fn: Callable[[int], object], items: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for i in range(items):
            fn(i)
        best = min(best, time.perf_counter() - start)
    return best / items * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--ballots", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--candidates", type=int, default=CANDIDATES)
    parser.add_argument("--out", required=True, help="where to write the JSON figures")
    args = parser.parse_args()
    LOG.set_stream_log_level(logging.WARNING)  # the library logs INFO lines to stdout

    manifest = build_manifest(args.candidates)
    if not manifest.is_valid():
        print("error: the ElectionGuard manifest does not validate", file=sys.stderr)
        return 1
    internal = InternalManifest(manifest)
    keypair = elgamal_keypair_from_secret(rand_q())
    context = make_ciphertext_election_context(
        number_of_guardians=1,
        quorum=1,
        elgamal_public_key=keypair.public_key,
        commitment_hash=hash_elems(keypair.public_key),
        manifest_hash=manifest.crypto_hash(),
    )
    seed = internal.manifest_hash
    plain = [plaintext_ballot(i, args.candidates) for i in range(args.ballots)]

    def encrypt(i: int) -> Any:
        return encrypt_ballot(plain[i], internal, context, seed, should_verify_proofs=False)

    encrypt(0)  # warm up (first-use costs)
    encrypt_ms = best_per_item_ms(encrypt, args.ballots, args.repeat)
    encrypted = [encrypt(i) for i in range(args.ballots)]
    if any(b is None for b in encrypted):
        print("error: ElectionGuard refused to encrypt a ballot", file=sys.stderr)
        return 1

    def check(i: int) -> None:
        ok = encrypted[i].is_valid_encryption(
            internal.manifest_hash, context.elgamal_public_key, context.crypto_extended_base_hash
        )
        if not ok:
            raise SystemExit(f"error: ElectionGuard's check refused honest ballot {i}")

    check(0)
    check_ms = best_per_item_ms(check, args.ballots, args.repeat)

    selections = encrypted[0].contests[0].ballot_selections
    figures = {
        "electionguard": version("electionguard"),
        "gmpy2": version("gmpy2"),
        "python": platform.python_version(),
        "prime_bits": int(get_constants().large_prime).bit_length(),
        "ballots": args.ballots,
        "candidates": args.candidates,
        "selections_encrypted": len(selections),
        "placeholders": sum(1 for s in selections if s.is_placeholder_selection),
        "encrypt_ms": encrypt_ms,
        "check_ms": check_ms,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(figures, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
