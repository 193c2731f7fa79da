"""The observer's verifier (scripts/verify.py) on an untouched record, its output, its inputs."""

from __future__ import annotations

import ast
import io
import json
import os
import random
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

from crypto import merkle
from scripts.verifier.trust import UNPINNED
from tests.verify_helpers import SCRIPTS, Built, audit_line, build_record, run_script, verify

CHECK_IDS = [f"V{i}" for i in range(1, 10)]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_record(tmp_path_factory.mktemp("verify"))


def test_untouched_record_passes_every_check(built: Built) -> None:
    result = run_script("verify.py", str(built.record), "--jobs", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    for cid in CHECK_IDS:
        assert f"{cid} PASS" in result.stdout
    assert "RESULT: PASS" in result.stdout
    # not a terminal: no progress bar; on stderr only the one line saying it runs unpinned
    assert result.stderr == f"verify.py: {UNPINNED}\n"


def test_counts_what_it_checked(built: Built) -> None:
    report = verify(built.record)
    assert report.ok, report.failed()
    lines = sum(
        len(p.read_bytes().splitlines()) for p in (built.record / "units").glob("*/*/ballots.jsonl")
    )
    assert report["V3"].checked["ballots"] == lines == 55
    assert report["V3"].checked["logs"] == report["V4"].checked["logs"] == 4
    assert report["V8"].checked["runoffs"] == 1
    assert report["V8"].checked["void rounds"] == 1
    # CCC has no quorum: summed (V5), never decrypted (V6), no counts (V7)
    assert report["V5"].checked["tallies"] == 4
    assert report["V6"].checked["rounds"] == 3
    assert report["V6"].checked["not decrypted (no quorum)"] == 1
    assert report["V7"].checked["rounds without quorum (no counts)"] == 1
    assert report["V9"].checked["rounds compared"] == 7  # 3 preliminary + 4 final


def test_pool_and_in_process_agree(built: Built) -> None:
    one, two = verify(built.record, jobs=1), verify(built.record, jobs=2)
    assert one.ok and two.ok
    assert [c.checked for c in one.checks.values()] == [c.checked for c in two.checks.values()]


def test_json_output_shape(built: Built) -> None:
    result = run_script("verify.py", str(built.record), "--json", "--quiet", "--jobs", "1")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == {"record", "trust", "ok", "checks"}
    assert doc["trust"].startswith("UNPINNED")
    assert doc["record"] == str(built.record) and doc["ok"] is True
    assert [c["id"] for c in doc["checks"]] == CHECK_IDS
    for check in doc["checks"]:
        assert {"id", "title", "ok", "checked", "failures", "failure_count"} <= set(check)
        assert check["ok"] is True and check["failures"] == [] and check["failure_count"] == 0
        assert isinstance(check["title"], str) and isinstance(check["checked"], dict)


def test_json_output_on_failure_names_the_item(built: Built, tmp_path: Path) -> None:
    record = tmp_path / "record"
    shutil.copytree(built.record, record)
    path = record / "units" / "AAA" / "1" / "ballots.jsonl"
    lines = path.read_bytes().split(b"\n")
    lines[4] = lines[4].replace(b'"signature":"', b'"signature":"00', 1)[:-2] + b'"}'
    path.write_bytes(b"\n".join(lines))
    result = run_script("verify.py", str(record), "--json", "--jobs", "1")
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    v3 = next(c for c in doc["checks"] if c["id"] == "V3")
    assert v3["ok"] is False
    assert v3["failures"][0]["where"] == "units/AAA/1/ballots.jsonl:5"
    assert "signature" in v3["failures"][0]["why"]


def test_published_commission_requests_are_checked(built: Built, tmp_path: Path) -> None:
    record = tmp_path / "record"
    shutil.copytree(built.record, record)
    lines = [audit_line(built, record, 1), audit_line(built, record, 2)]
    # an identical retry answered from the store: the same request, naming its line
    repeat = dict(json.loads(lines[1]), seq=3, repeat_of=2)
    lines.append(json.dumps(repeat, sort_keys=True).encode())
    (record / "audit.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    report = verify(record)
    assert report.ok, report.failed()
    assert report["V9"].checked["audited requests"] == 3
    # a repeat line whose request is not the one it names is a replay in disguise
    lines[2] = json.dumps(dict(repeat, repeat_of=1), sort_keys=True).encode()
    (record / "audit.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    assert "repeat_of" in str(verify(record)["V9"].failures)


def test_python_m_verifier_from_scripts(built: Built) -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "verifier", str(built.record), "--quiet", "--jobs", "1"],
        cwd=SCRIPTS,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "RESULT: PASS" in result.stdout


def test_archive_record(built: Built, tmp_path: Path) -> None:
    archive = tmp_path / "record.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(built.record, arcname="record")
    assert verify(archive).ok


def test_commission_key_pin(built: Built) -> None:
    right = built.commission_key().public.hex()
    assert verify(built.record, commission_key=built.commission_key().public).ok
    result = run_script("verify.py", str(built.record), "--quiet", "--commission-key", right)
    assert result.returncode == 0, result.stdout
    wrong = built.log_key("AAA").public.hex()
    result = run_script("verify.py", str(built.record), "--quiet", "--commission-key", wrong)
    assert result.returncode == 1
    assert "V1 FAIL" in result.stdout and "pinned" in result.stdout


@pytest.mark.parametrize(
    "damage",
    ["missing", "garbage", "empty-dir", "not-json-manifest", "manifest-array", "binary-ballots"],
)
def test_bad_input_is_a_failed_check_not_a_traceback(
    built: Built, tmp_path: Path, damage: str
) -> None:
    record = tmp_path / "record"
    if damage == "missing":
        record = tmp_path / "nowhere"
    elif damage == "garbage":
        record.write_bytes(os.urandom(300))
    elif damage == "empty-dir":
        record.mkdir()
    else:
        shutil.copytree(built.record, record)
        if damage == "not-json-manifest":
            (record / "manifest.json").write_text('{"payload": {"units": [', encoding="utf-8")
        elif damage == "manifest-array":
            (record / "manifest.json").write_text("[1, 2, 3]", encoding="utf-8")
        else:
            (record / "units" / "BBB" / "1" / "ballots.jsonl").write_bytes(
                random.Random(1).randbytes(5000)
            )
    result = run_script("verify.py", str(record), "--quiet", "--jobs", "2")
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "RESULT: FAIL" in result.stdout


def test_progress_only_on_a_terminal() -> None:
    from scripts.verifier.progress import Progress, wanted

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert wanted(quiet=False, stream=Terminal()) is True
    assert wanted(quiet=True, stream=Terminal()) is False
    assert wanted(quiet=False, stream=io.StringIO()) is False
    assert not Progress(100, enabled=False).active


def test_compact_range_matches_crypto_merkle() -> None:
    from scripts.verifier.compact import CompactRange, consistency_ranges

    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(40)]
    for n in range(41):
        for m in range(n + 1):
            compact = CompactRange(consistency_ranges(m, n))
            for leaf in leaves[:n]:
                compact.append(leaf)
            assert compact.root() == merkle.root(leaves[:n])
            assert compact.consistency_proof(m, n) == merkle.consistency_proof(leaves, m, n)


# -- what the verifier may import -------------------------------------------------------------

ALLOWED_THIRD_PARTY = {"crypto", "schemas", "tqdm"}


def _verifier_sources() -> list[Path]:
    return [
        SCRIPTS / "verify.py",
        SCRIPTS / "verify_receipt.py",
        *sorted((SCRIPTS / "verifier").glob("*.py")),
    ]


def _dynamic_import(node: ast.AST) -> bool:
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
        return True
    return isinstance(node, ast.Attribute) and node.attr == "import_module"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif _dynamic_import(node):
            names.add("<dynamic import>")
    return names


def test_verifier_never_imports_the_service() -> None:
    sources = _verifier_sources()
    assert len(sources) > 10
    for path in sources:
        for name in _imported_modules(path):
            top = name.split(".")[0]
            assert top != "tally_service", f"{path.name} imports {name}"
            if top == "scripts":  # the verifier's own package, nothing else under scripts/
                assert name.startswith("scripts.verifier"), f"{path.name} imports {name}"
                continue
            assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (
                f"{path.name} imports {name}: only the standard library, crypto, schemas and tqdm"
            )
