"""The elector's command: ``tally-service vote``, run on the elector's own machine (the booth
without a browser; the checks are in vote.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from crypto.fingerprint import election_fingerprint_of_hash, key_fingerprint, normalise
from crypto.signing import VerifyKey
from tally_service.elector.vote import vote


def cmd_vote(args: argparse.Namespace) -> int:
    pinned: VerifyKey | str | None = None
    if args.commission_key:
        text = args.commission_key.strip().lower()
        try:
            pinned = VerifyKey.from_hex(text) if len(text) == 64 else normalise(text)
        except ValueError as exc:
            raise ValueError(
                f"--commission-key: {exc}: give the commission's public key (64 hex digits) or "
                "its fingerprint (32 letters, as printed on the envelope)"
            ) from None
    credential = None
    if args.credential_file:
        credential = Path(args.credential_file).read_text(encoding="utf-8").strip()
    if pinned is None:
        print(
            "warning: no --commission-key: the manifest's own keys are trusted; compare "
            "them with the key the commission publishes",
            file=sys.stderr,
        )
    cast = vote(
        args.url,
        args.unit,
        args.elector,
        None if args.choice == "blank" else args.choice,
        Path(args.out),
        credential=credential,
        key_file=Path(args.key) if args.key else None,
        pinned=pinned,
    )
    what = "a blank ballot" if cast.choice is None else f"a vote for {cast.choice}"
    election = json.loads(cast.receipt.read_text("utf-8"))["election"]
    print(f"election fingerprint {election_fingerprint_of_hash(bytes.fromhex(election))}")
    if pinned is not None:
        shown = pinned if isinstance(pinned, str) else key_fingerprint(pinned.raw)
        print(f"commission key fingerprint {shown}")
    print(f"tracker {cast.tracker}")
    print(f"cast {what} in round {cast.round}; receipt {cast.receipt}, ballot {cast.ballot}")
    print(f"check it after the close: scripts/verify_receipt.py {cast.receipt} --url {args.url}")
    return 0
