"""An observer installs the verifier alone (issue 27, part 2).

The threat: an observer who must install the operator's web stack (Flask, waitress, requests,
apispec, babel) to check an election trusts far more code than the check needs, and a verifier
that quietly imports one of those works only where the service's stack happens to be present.
So the project's base dependencies are the verifier's own and the service's are the `service`
extra. This test builds the wheel from the checkout, installs it into a fresh virtual
environment WITHOUT the extra, and runs the two console commands there, from outside the
checkout, over a real record: both must pass, and Flask must not be importable. Then a
guardian's install: the `guardian` extra makes `tally-service guardian` run, still without the
web stack (each party installs only what its program needs, issue 27).

Installing needs the dependencies' wheels. The test first tries offline (``--no-index`` with
the wheels of pip's cache and of ``/opt/wheels``-style find-links from pip's configuration),
then the configured index; when neither can install, it skips and says why, never fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.verify_helpers import ROOT, build_record

pytestmark = pytest.mark.slow

# what the wheel is built from (a copy, so that the build leaves nothing in the checkout)
SOURCES = [
    "pyproject.toml", "README.md", "LICENSE", "crypto", "schemas", "scripts", "tally_service"
]
SERVICE_ONLY = ["flask", "waitress", "requests", "apispec", "babel"]


def _run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (result.stderr + result.stdout).splitlines() if line.strip()]
    return lines[-1] if lines else f"exit status {result.returncode}"


def _cached_wheels(into: Path) -> None:
    """Links to every wheel pip built and cached here, for an offline install."""
    cache = Path(os.environ.get("PIP_CACHE_DIR", Path.home() / ".cache" / "pip")) / "wheels"
    for wheel in cache.rglob("*.whl") if cache.is_dir() else []:
        target = into / wheel.name
        if not target.exists():
            target.symlink_to(wheel)


def _build_wheel(tmp: Path) -> Path:
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, source / name)
    dist = tmp / "dist"
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
        cwd=tmp,
    )
    if built.returncode != 0:
        pytest.skip(f"cannot build the wheel (no setuptools to build with?): {_last_line(built)}")
    wheels = sorted(dist.glob("kz_tally-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def _pip_install(tmp: Path, python: Path, requirement: str) -> str:
    """Install ``requirement`` offline if the cached wheels allow, else from the index; skip
    the test (saying why) when neither can. Returns how it was installed."""
    wheelhouse = tmp / "wheelhouse"
    if not wheelhouse.exists():
        wheelhouse.mkdir()
        _cached_wheels(wheelhouse)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    offline = _run([*pip, "--no-index", "--find-links", str(wheelhouse), requirement], cwd=tmp)
    if offline.returncode == 0:
        return "offline"
    online = _run([*pip, "--find-links", str(wheelhouse), requirement], cwd=tmp)
    if online.returncode != 0:
        pytest.skip(
            f"cannot install {requirement}'s dependencies (no cached wheels, no reachable "
            f"index): {_last_line(online)}"
        )
    return "from the index"


def _install(tmp: Path, wheel: Path) -> Path:
    """A fresh virtual environment with the wheel and its base dependencies only."""
    venv = tmp / "observer"
    created = _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp)
    assert created.returncode == 0, created.stderr
    _pip_install(tmp, venv / "bin" / "python", str(wheel))
    return venv


def test_the_verifier_installs_and_runs_without_the_service(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    venv = _install(tmp_path, wheel)
    python, bin_dir = venv / "bin" / "python", venv / "bin"
    elsewhere = tmp_path / "elsewhere"  # not the checkout: only the installed code is importable
    elsewhere.mkdir()

    for module in SERVICE_ONLY:
        found = _run([str(python), "-c", f"import {module}"], cwd=elsewhere)
        assert found.returncode != 0, f"{module} is installed without the service extra"
    where = _run([str(python), "-c", "import scripts.verifier, crypto; print(crypto.__file__)"],
                 cwd=elsewhere)
    assert where.returncode == 0, where.stderr
    assert str(venv) in where.stdout, f"crypto imported from {where.stdout}: not the installed one"

    built = build_record(tmp_path / "election")
    verified = _run(
        [str(bin_dir / "kz-verify"), str(built.record), "--jobs", "2", "--json"], cwd=elsewhere
    )
    assert verified.returncode == 0, verified.stdout[-3000:] + verified.stderr[-3000:]
    report = json.loads(verified.stdout)
    assert report["ok"] is True
    assert len(report["checks"]) == 9 and all(c["ok"] for c in report["checks"])

    receipt = next(r for receipts in built.sim.receipts.values() for r in receipts)
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_text(json.dumps(receipt), encoding="utf-8")
    checked = _run(
        [str(bin_dir / "kz-verify-receipt"), str(receipt_file), "--record", str(built.record)],
        cwd=elsewhere,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "VERDICT: PASS" in checked.stdout

    # a tampered record still fails there: the installed verifier checks, it does not just exit 0
    manifest = built.record / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"', b"'", 1))
    tampered = _run([str(bin_dir / "kz-verify"), str(built.record), "--quiet"], cwd=elsewhere)
    assert tampered.returncode == 1, tampered.stdout + tampered.stderr

    # the service's command is installed too, but says in one line what it lacks
    service = _run([str(bin_dir / "tally-service"), "serve", "--data", str(elsewhere)],
                   cwd=elsewhere)
    assert service.returncode == 1
    assert "Traceback" not in service.stderr, service.stderr
    assert "pip install 'kz-tally[service]'" in service.stderr, service.stderr

    # a guardian's machine: the guardian's extra adds requests and nothing of the web stack
    guardian = _run([str(bin_dir / "tally-service"), "guardian", "watch", "--state",
                     str(elsewhere / "state"), "--url", "http://127.0.0.1:9", "--once"],
                    cwd=elsewhere)
    assert guardian.returncode == 1 and "Traceback" not in guardian.stderr, guardian.stderr
    assert "pip install 'kz-tally[guardian]'" in guardian.stderr, guardian.stderr
    extra = _pip_install(tmp_path, python, f"{wheel}[guardian]")
    for module in ("flask", "waitress", "apispec", "babel"):
        found = _run([str(python), "-c", f"import {module}"], cwd=elsewhere)
        assert found.returncode != 0, f"{module} came with the guardian's extra ({extra})"
    guardian = _run([str(bin_dir / "tally-service"), "guardian", "watch", "--state",
                     str(elsewhere / "state"), "--url", "http://127.0.0.1:9", "--once"],
                    cwd=elsewhere)
    # the guardian's program now runs: it reaches for the (absent) service and says so
    assert guardian.returncode == 1 and "Traceback" not in guardian.stderr, guardian.stderr
    assert "not installed" not in guardian.stderr and "127.0.0.1" in guardian.stderr, (
        guardian.stderr
    )
