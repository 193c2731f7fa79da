#!/usr/bin/env python3
"""Vendor the pages' JavaScript crypto library from the npm registry, checking its integrity.

    scripts/vendor_js.py            fetch, check and (re)write tally_service/service/static/vendor/
    scripts/vendor_js.py --check    only check the vendored files against VENDOR.json (no network)

The library is libsodium.js (libsodium compiled to WebAssembly, ISC licence): the same
libsodium that crypto/group.py uses through pysodium, so ristretto255, Ed25519 and SHA-2 behave
alike in Python and in the browser. Each package is fetched with ``npm pack`` at an exact
version; its tarball must match the sha512 integrity pinned below (the value the registry
publishes, in the lockfile format), or nothing is written. VENDOR.json records the package,
version, integrity and the SHA-256 of every file kept, and the test suite checks the files
against it.

A second set, for the tests only, goes to tests/vendor/ (never served): axe-core, the
accessibility checker the browser tests run on the pages (MPL-2.0, used unmodified).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

TOP = Path(__file__).resolve().parent.parent
VENDOR = TOP / "tally_service" / "service" / "static" / "vendor"
PACKAGES: list[dict[str, Any]] = [
    {
        "name": "libsodium-sumo",
        "version": "0.8.4",
        "integrity": "sha512-TMtHShQfVVsaxDygyapvUC3o7YsPgXa/hRWeIgzyFz6w5k/1hirGptCxp1U7XwW3"
        "rCskaTTYKgV10v86UiGgNw==",
        "licence": "ISC",
        "files": {
            "package/dist/modules-sumo/libsodium-sumo.js": "libsodium-sumo.js",
            "package/LICENSE": "LICENSE.libsodium-sumo",
        },
    },
    {
        "name": "libsodium-wrappers-sumo",
        "version": "0.8.4",
        "integrity": "sha512-ql7hcgulKZ3ekfa2DGAogcCKsWU0diA/0nArz1CFzh93WQdb46/Kj18ka/Hifq6uA3"
        "Ush34Pc6vU/6HXeRwUkg==",
        "licence": "ISC",
        "files": {
            "package/dist/modules-sumo/libsodium-wrappers.js": "libsodium-wrappers.js",
            "package/LICENSE": "LICENSE.libsodium-wrappers-sumo",
        },
    },
]


TEST_VENDOR = TOP / "tests" / "vendor"
TEST_PACKAGES: list[dict[str, Any]] = [
    {
        "name": "axe-core",
        "version": "4.14.1",
        "integrity": "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNt"
        "uFooJpZe37OgudVGtQ==",
        "licence": "MPL-2.0",
        "files": {"package/axe.min.js": "axe.min.js", "package/LICENSE": "LICENSE.axe-core"},
    },
]
SETS = [(PACKAGES, VENDOR), (TEST_PACKAGES, TEST_VENDOR)]


def integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode("ascii")


def fetch(spec: dict[str, Any], scratch: Path) -> bytes:
    name, version = spec["name"], spec["version"]
    subprocess.run(
        ["npm", "pack", f"{name}@{version}", "--pack-destination", str(scratch), "--silent"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return (scratch / f"{name}-{version}.tgz").read_bytes()


def vendor() -> int:
    for packages, folder in SETS:
        if vendor_set(packages, folder) != 0:
            return 1
    return 0


def vendor_set(packages: list[dict[str, Any]], folder: Path) -> int:
    manifest: dict[str, object] = {"packages": []}
    kept: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in packages:
            tarball = fetch(spec, Path(tmp))
            got = integrity(tarball)
            if got != spec["integrity"]:
                print(
                    f"vendor_js: {spec['name']}: integrity {got} is not the pinned one",
                    file=sys.stderr,
                )
                return 1
            files: dict[str, str] = {}
            with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
                for member, target in spec["files"].items():
                    extracted = tar.extractfile(member)
                    if extracted is None:
                        print(f"vendor_js: {member} missing", file=sys.stderr)
                        return 1
                    kept[target] = extracted.read()
                    files[target] = hashlib.sha256(kept[target]).hexdigest()
            manifest["packages"].append(  # type: ignore[attr-defined]
                {k: spec[k] for k in ("name", "version", "integrity", "licence")} | {"files": files}
            )
    folder.mkdir(parents=True, exist_ok=True)
    for target, data in kept.items():
        (folder / target).write_bytes(data)
    (folder / "VENDOR.json").write_text(json.dumps(manifest, indent=1) + "\n", "utf-8")
    print(f"vendored {', '.join(str(p['name']) + '@' + str(p['version']) for p in packages)}")
    return 0


def check() -> list[str]:
    """Problems with the vendored files (empty: they match VENDOR.json and the pins above)."""
    return [p for packages, folder in SETS for p in check_set(packages, folder)]


def check_set(packages: list[dict[str, Any]], folder: Path) -> list[str]:
    problems = []
    manifest = json.loads((folder / "VENDOR.json").read_text("utf-8"))
    pins = {p["name"]: p for p in packages}
    for package in manifest["packages"]:
        pin = pins.get(package["name"])
        if pin is None or (pin["version"], pin["integrity"]) != (
            package["version"],
            package["integrity"],
        ):
            problems.append(f"{package['name']}: not the pinned version and integrity")
        for target, digest in package["files"].items():
            path = folder / target
            if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
                problems.append(f"{target}: differs from VENDOR.json")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="check the vendored files only")
    args = parser.parse_args()
    if args.check:
        problems = check()
        for p in problems:
            print(f"vendor_js: {p}", file=sys.stderr)
        return 1 if problems else 0
    return vendor()


if __name__ == "__main__":
    sys.exit(main())
