"""The dependency rules of the layout: crypto/ imports nothing from schemas/ or tally_service/,
schemas/ nothing from tally_service/, so the observer's verifier (which imports nothing from
tally_service/ either) can stand on them alone."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

TOP = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("crypto", ("tally_service", "schemas", "flask", "sqlite3", "requests")),
     ("schemas", ("tally_service", "flask", "sqlite3", "requests")),
     # the observer's verifier, a package (scripts.verifier) since issue 13; tests/test_verify.py
     # also holds it and the two entry scripts to the standard library, crypto, schemas, tqdm
     ("scripts/verifier", ("tally_service", "flask", "sqlite3", "requests"))],
)
def test_package_does_not_import(package: str, forbidden: tuple[str, ...]) -> None:
    files = sorted((TOP / package).rglob("*.py"))
    assert files
    for path in files:
        for name in imported_modules(path):
            assert name.split(".")[0] not in forbidden, f"{path.relative_to(TOP)} imports {name}"


def test_crypto_does_no_io() -> None:
    for path in sorted((TOP / "crypto").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        for call in ("open(", "Path(", "os.environ", "print("):
            # a whole name: key_fingerprint( is not print(, nor reopen( open(
            used = re.search(r"(?<![A-Za-z0-9_])" + re.escape(call), source)
            assert used is None, f"{path.relative_to(TOP)} uses {call}"
