#!/usr/bin/env python3
"""Verify a kz-tally election record: scripts/verify.py RECORD [--json] [--quiet] [--jobs N].

Runs the numbered checks V1-V9 (docs/architecture.md, "The verifier and the receipt checker")
and exits 0 only if all pass. It imports the standard library, the project's crypto/ and
schemas/ packages and tqdm, never the service.
"""

from __future__ import annotations

import sys
from pathlib import Path

# the checkout, for crypto/, schemas/ and scripts.verifier (when run as a file, sys.path[0] is
# scripts/ itself; `python -m scripts.verify` from the checkout needs no insert)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.verifier.environment import ensure_dependencies

ensure_dependencies()

from scripts.verifier.cli import main

if __name__ == "__main__":
    sys.exit(main())
