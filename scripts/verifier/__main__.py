"""``python -m scripts.verifier RECORD`` from the checkout (the same as scripts/verify.py)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout: crypto/, schemas/

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
