"""Pins (scripts/verifier/trust.py): verify.py, its live monitor and verify_receipt.py check the
record or the service against a trust file, refuse on any difference, and say when they run
UNPINNED. Each pin is tested by a record that differs from it as another election would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crypto.canonical import hash_json
from crypto.ceremony import manifest_fingerprint
from crypto.signing import SigningKey
from scripts.verifier.follow import Follower, Untrusted
from scripts.verifier.trust import (
    TRUST_FORMAT,
    UNPINNED,
    Trust,
    TrustError,
    load_trust,
    parse_trust,
)
from tests.follow_helpers import RecordService, ThreadServer
from tests.verify_helpers import Built, build_record, run_script, verify, write_json


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_record(tmp_path_factory.mktemp("trust"))


def manifest_payload(built: Built) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((built.record / "manifest.json").read_text())["payload"]
    return payload


def true_pins(built: Built) -> dict[str, Any]:
    """Everything an observer could have got out of band about this election, in full."""
    payload = manifest_payload(built)
    return {
        "format": TRUST_FORMAT,
        "comment": "read at the sealing, 2023-01-10",
        "election_id": payload["election_id"],
        "commission_key": built.commission_key().public.hex(),
        "manifest_hash": hash_json("kz-tally/v1/manifest", payload).hex(),
        "guardians": [g["identity_key"] for g in payload["guardians"]["keys"]],
        # as a guardian reads it out: groups, spaces, any case
        "ceremony_fingerprint": manifest_fingerprint(payload).lower(),
    }


def other_fingerprint(pins: dict[str, Any]) -> None:
    text = pins["ceremony_fingerprint"]
    pins["ceremony_fingerprint"] = ("b" if text[0] != "b" else "c") + text[1:]


def trust_file(tmp_path: Path, pins: dict[str, Any]) -> Path:
    path = tmp_path / "trust.json"
    write_json(path, pins)
    return path


def flip(hex_text: str) -> str:
    return hex_text[:-1] + ("0" if hex_text[-1] != "0" else "1")


def test_every_pin_matching_passes_and_says_so(built: Built, tmp_path: Path) -> None:
    path = trust_file(tmp_path, true_pins(built))
    result = run_script("verify.py", str(built.record), "--quiet", "--trust", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""  # pinned: no UNPINNED warning
    assert f"Trust: pinned by {path}: election id" in result.stdout
    assert "3 guardian identity keys" in result.stdout
    assert "ceremony fingerprint" in result.stdout


def other_guardians(pins: dict[str, Any]) -> None:
    # the operator's guardians in place of one listed: the order and the keys are pinned
    pins["guardians"][1] = SigningKey.generate().public.hex()


MISMATCHES = {
    "commission_key": (
        lambda p: p.update(commission_key=SigningKey.generate().public.hex()),
        "pinned commission key",
    ),
    "manifest_hash": (
        lambda p: p.update(manifest_hash=flip(p["manifest_hash"])),
        "election fingerprint (manifest hash) is",
    ),
    "election_id": (lambda p: p.update(election_id="another-election"), "the election id is"),
    "guardians": (other_guardians, "they differ at guardian 2"),
    "guardians_reordered": (
        lambda p: p.update(guardians=list(reversed(p["guardians"]))),
        "they differ at guardian 1, guardian 3",
    ),
    "witnesses": (
        lambda p: p.update(witnesses={"quorum": 1, "keys": ["w1+00000000+AAAA"]}),
        "names no witnesses",
    ),
    "ceremony_fingerprint": (other_fingerprint, "the ceremony fingerprint is"),
}


@pytest.mark.parametrize("pin", sorted(MISMATCHES))
def test_a_record_that_differs_from_a_pin_is_refused(
    built: Built, tmp_path: Path, pin: str
) -> None:
    change, says = MISMATCHES[pin]
    pins = true_pins(built)
    change(pins)
    path = trust_file(tmp_path, pins)
    result = run_script("verify.py", str(built.record), "--quiet", "--trust", str(path))
    assert result.returncode == 1, result.stdout
    assert "V1 FAIL" in result.stdout and says in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("verify.py: refused: the record differs from")
    if pin != "commission_key":  # that pin fails the manifest's signature check
        assert says in lines[0]


def test_unpinned_is_said_on_stderr_and_in_the_report(built: Built) -> None:
    result = run_script("verify.py", str(built.record), "--quiet")
    assert result.returncode == 0
    assert result.stderr == f"verify.py: {UNPINNED}\n"
    assert f"Trust: {UNPINNED}" in result.stdout
    result = run_script("verify.py", str(built.record), "--quiet", "--json")
    assert json.loads(result.stdout)["trust"] == UNPINNED
    # --commission-key alone still pins the commission key, and is not unpinned
    key = built.commission_key().public.hex()
    result = run_script("verify.py", str(built.record), "--quiet", "--commission-key", key)
    assert result.returncode == 0 and result.stderr == ""
    assert f"Trust: pinned by --commission-key: commission key {key}" in result.stdout


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("not json", "not JSON"),
        (json.dumps({"format": TRUST_FORMAT}), "it pins nothing"),
        (json.dumps({"format": "kz-tally/trust/v9", "manifest_hash": "00" * 32}), "format"),
        (json.dumps({"format": TRUST_FORMAT, "manifest_hash": "00" * 32, "x": 1}), "unknown"),
        (json.dumps({"format": TRUST_FORMAT, "ceremony_fingerprint": "ABCD"}), "32 characters"),
        (json.dumps({"format": TRUST_FORMAT, "manifest_hash": "zz"}), "64 hex digits"),
        (json.dumps({"format": TRUST_FORMAT, "witnesses": {"quorum": 2, "keys": ["a"]}}), "quorum"),
    ],
)
def test_a_bad_trust_file_is_one_line_and_exit_2(
    built: Built, tmp_path: Path, content: str, says: str
) -> None:
    path = tmp_path / "trust.json"
    path.write_text(content)
    result = run_script("verify.py", str(built.record), "--trust", str(path))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr


def test_commission_key_and_trust_file_must_agree(built: Built, tmp_path: Path) -> None:
    path = trust_file(tmp_path, true_pins(built))
    other = SigningKey.generate().public.hex()
    result = run_script(
        "verify.py", str(built.record), "--trust", str(path), "--commission-key", other
    )
    assert result.returncode == 2 and "differs from the trust file" in result.stderr


def test_witness_pins_compare_keys_and_quorum() -> None:
    payload = {"witnesses": {"quorum": 2, "colluders": 0, "keys": [{"vkey": "a"}, {"vkey": "b"}]}}
    pinned = parse_trust(
        {"format": TRUST_FORMAT, "witnesses": {"quorum": 2, "keys": ["b", "a"]}}, "t"
    )
    assert pinned.differences(payload, b"\0" * 32) == []
    swapped = parse_trust(
        {"format": TRUST_FORMAT, "witnesses": {"quorum": 2, "keys": ["a", "c"]}}, "t"
    )
    assert swapped.differences(payload, b"\0" * 32) == [
        "the manifest's witnesses are not the pinned ones: 1 not pinned, 1 pinned missing"
    ]
    lower = parse_trust(
        {"format": TRUST_FORMAT, "witnesses": {"quorum": 1, "keys": ["a", "b"]}}, "t"
    )
    assert lower.differences(payload, b"\0" * 32) == [
        "the manifest's witness quorum is 2, the trust file pins 1"
    ]


def test_the_documented_example_loads(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "formats.md").read_text("utf-8")
    section = text.split("### A trust file", 1)[1]
    example = section.split("```json", 1)[1].split("```", 1)[0]
    path = tmp_path / "trust.json"
    path.write_text(example)
    trust = load_trust(path)
    assert isinstance(trust, Trust) and trust.manifest_hash and trust.witness_keys
    with pytest.raises(TrustError):
        parse_trust({**json.loads(example), "format": "kz-tally/trust/v0"}, "t")


# -- the live monitor ------------------------------------------------------------------------


def test_the_monitor_refuses_a_service_that_differs_from_its_pins(
    built: Built, tmp_path: Path
) -> None:
    pins = true_pins(built)
    pins["manifest_hash"] = flip(pins["manifest_hash"])
    server = ThreadServer(RecordService(built.record))
    try:
        follower = Follower(
            server.url, tmp_path / "state", trust=load_trust(trust_file(tmp_path, pins))
        )
        with pytest.raises(Untrusted, match="election fingerprint"):
            follower.poll()
        follower.close()
        # nothing was accepted: a restart asks again, and refuses again
        again = Follower(
            server.url, tmp_path / "state", trust=load_trust(trust_file(tmp_path, pins))
        )
        assert not again.state.setup_checked
        with pytest.raises(Untrusted):
            again.poll()
        again.close()
        good = Follower(
            server.url,
            tmp_path / "state2",
            trust=load_trust(trust_file(tmp_path, true_pins(built))),
        )
        good.poll()
        assert good.state.setup_checked and good.report["V1"].ok
        assert good.report.trust.startswith("pinned by")
        good.close()
        result = run_script(
            "verify.py",
            "--follow",
            server.url,
            "--state",
            str(tmp_path / "state3"),
            "--trust",
            str(trust_file(tmp_path, pins)),
            "--until-final",
            "--quiet",
        )
        assert result.returncode == 2
        assert result.stderr.startswith("verify.py: refused: the service's manifest differs")
    finally:
        server.stop()


def test_the_monitor_reports_unpinned(built: Built, tmp_path: Path) -> None:
    server = ThreadServer(RecordService(built.record))
    try:
        follower = Follower(server.url, tmp_path / "state")
        assert follower.report.trust == UNPINNED
        follower.close()
    finally:
        server.stop()


# -- the elector's receipt checker -------------------------------------------------------------


def a_receipt(built: Built, tmp_path: Path) -> Path:
    receipt = next(r for r in built.sim.receipts["AAA-E0002"] if r["round"] == 1)
    path = tmp_path / "receipt.json"
    write_json(path, receipt)
    return path


def test_the_receipt_checker_takes_a_trust_file(built: Built, tmp_path: Path) -> None:
    receipt = a_receipt(built, tmp_path)
    path = trust_file(tmp_path, true_pins(built))
    args = [str(receipt), "--record", str(built.record)]
    result = run_script("verify_receipt.py", *args, "--trust", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == "" and f"Trust: pinned by {path}" in result.stdout
    for pin in ("manifest_hash", "guardians", "election_id"):
        pins = true_pins(built)
        MISMATCHES[pin][0](pins)
        path = trust_file(tmp_path, pins)
        result = run_script("verify_receipt.py", *args, "--trust", str(path), "--json")
        assert result.returncode == 1
        doc = json.loads(result.stdout)
        r2 = next(c for c in doc["checks"] if c["id"] == "R2")
        assert not r2["ok"] and r2["detail"].startswith("refused: the manifest differs"), r2
        assert MISMATCHES[pin][1] in r2["detail"]
        assert result.stderr.startswith("verify_receipt.py: refused:")
    result = run_script("verify_receipt.py", *args)
    assert result.returncode == 0
    assert result.stderr == f"verify_receipt.py: {UNPINNED}\n"
    assert f"Trust: {UNPINNED}" in result.stdout


def test_the_trust_files_commission_key_is_pinned_without_the_cli(built: Built) -> None:
    """verify_record(trust=...) alone enforces the commission key pin (not only verify.py)."""
    other = SigningKey.generate().public.hex()
    trust = parse_trust({"format": TRUST_FORMAT, "commission_key": other}, "t")
    report = verify(built.record, trust=trust)
    assert "V1" in report.failed()
    assert any("pinned commission key" in f.why for f in report["V1"].failures)
    right = parse_trust(
        {"format": TRUST_FORMAT, "commission_key": built.commission_key().public.hex()}, "t"
    )
    assert verify(built.record, trust=right).ok


def test_an_election_id_alone_is_no_pin(built: Built, tmp_path: Path) -> None:
    """Review of issue 24: the election id is a name the operator writes in the manifest it
    signs, so a trust file pinning only it lets through another election made under the same
    name (here: any record with that id) while the tools said "pinned by trust.json" and gave
    no UNPINNED warning. Such a file is refused as pinning nothing, in both tools."""
    path = trust_file(
        tmp_path, {"format": TRUST_FORMAT, "election_id": manifest_payload(built)["election_id"]}
    )
    for script in ("verify.py", "verify_receipt.py"):
        args = [str(built.record)] if script == "verify.py" else ["x.json", "--record", "."]
        result = run_script(script, *args, "--trust", str(path))
        assert result.returncode == 2, (script, result.stdout, result.stderr)
        assert result.stderr.count("\n") == 1 and "election_id alone" in result.stderr
    with pytest.raises(TrustError, match="election_id alone"):
        parse_trust({"format": TRUST_FORMAT, "election_id": "x", "comment": "c"}, "t")
    # with a key or the fingerprint beside it, it is a pin like the others
    parse_trust({"format": TRUST_FORMAT, "election_id": "x", "manifest_hash": "00" * 32}, "t")
