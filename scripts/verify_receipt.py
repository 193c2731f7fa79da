#!/usr/bin/env python3
"""An elector checks their receipt: scripts/verify_receipt.py RECEIPT.json (--record RECORD |
--url URL) [--ballot FILE] [--json].

Runs the checks R1-R7 (scripts/verifier/receipt.py, docs/protocol.md 11.3) and exits 0 on PASS,
1 on FAIL, 3 on PENDING. It imports the standard library, the project's crypto/ and schemas/
packages and the verifier's record reader, never the service. Installed, the same command is
``kz-verify-receipt``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# the checkout, for crypto/, schemas/ and scripts.verifier (when run as a file, sys.path[0] is
# scripts/ itself; `python -m scripts.verify_receipt` from the checkout needs no insert)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.verifier.environment import ensure_dependencies

ensure_dependencies()

from scripts.verifier.receipt import main

if __name__ == "__main__":
    sys.exit(main())
