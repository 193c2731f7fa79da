"""Run under the project's virtual environment when started from a plain shell.

``scripts/verify.py RECORD`` should work right after a checkout's ``scripts/test`` or
``scripts/demo`` created ``.venv``, whatever ``python3`` is first on the PATH. If the
verifier's dependencies (libsodium through pysodium, rfc8785, marshmallow) are not importable
here, re-execute the same command with ``.venv/bin/python``; without a ``.venv``, say how to get
one. Standard library only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent.parent


def ensure_dependencies() -> None:
    try:  # these pull in libsodium (pysodium), rfc8785 and marshmallow
        import crypto.canonical
        import crypto.group
        import schemas.manifest

        del crypto, schemas  # imported only to see that they import
    except (ImportError, OSError, ValueError) as exc:
        venv_python = TOP / ".venv" / "bin" / "python"
        in_venv = Path(sys.prefix).resolve() == (TOP / ".venv").resolve()
        if venv_python.exists() and not in_venv:
            os.execv(str(venv_python), [str(venv_python), *sys.argv])
        sys.exit(
            f"{Path(sys.argv[0]).name}: missing dependency ({exc}). Run scripts/test once (it "
            "creates .venv), or `pip install -e .`; libsodium comes from the system "
            "(Debian/Ubuntu: apt-get install libsodium23)."
        )
