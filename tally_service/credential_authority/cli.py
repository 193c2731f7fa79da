"""The credential authority's command: ``tally-service credentials``, run on the authority's
own machine; it never talks to the service (credentials.py says what it makes and why)."""

from __future__ import annotations

import argparse
from pathlib import Path

from tally_service.credential_authority.credentials import make_credentials


def cmd_credentials(args: argparse.Namespace) -> int:
    count, codes, roll = make_credentials(
        Path(args.roll).read_bytes(), args.election_id, Path(args.out)
    )
    print(
        f"made {count} credentials: {codes} (mode 0600) holds the codes to print and seal; "
        f"{roll} holds only public keys, for the commission's import-roll. "
        "Never give the codes to the commission."
    )
    return 0
