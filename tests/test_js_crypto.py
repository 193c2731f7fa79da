"""The pages' JavaScript (tally_service/service/static/js) against the Python implementation.

The JS runs in Node with the vendored libsodium (tests/js/cross.js). Shared vector files:
tests/vectors/cross.json (ed25519, ristretto255 encodings, credentials, tampered ballots),
signed_note.json and rfc9162.json; each records the Python answer, which both languages must
give. Then ballots and audited ballots made by the JS must pass the Python checks.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from crypto.audit import check_audited, tracker
from crypto.ballot import check_ballot, verify_ballot_signature
from crypto.credentials import CredentialError, derive_key
from crypto.group import Point, Scalar, base_mul
from crypto.signing import SigningKey, VerifyKey

ROOT = Path(__file__).resolve().parent.parent
VECTORS = ROOT / "tests" / "vectors"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(
    NODE is None, reason="node is not installed (Debian: apt-get install nodejs)"
)


def run_js(job: dict[str, Any]) -> dict[str, Any]:
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(ROOT / "tests" / "js" / "cross.js")],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


@pytest.fixture(scope="module")
def cross() -> dict[str, Any]:
    vectors: dict[str, Any] = json.loads((VECTORS / "cross.json").read_text("utf-8"))
    return vectors


def test_vendored_library_matches_its_integrity_manifest() -> None:
    done = subprocess.run(
        ["python3", str(ROOT / "scripts" / "vendor_js.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_python_still_answers_the_shared_vectors(cross: dict[str, Any]) -> None:
    """The vector file is the Python implementation's answers: they must not drift."""
    for case in cross["ed25519"]:
        try:
            ok = VerifyKey(bytes.fromhex(case["public_key"])).verify_raw(
                bytes.fromhex(case["message"]), bytes.fromhex(case["signature"])
            )
        except ValueError:
            ok = False
        assert ok == case["valid"], case["why"]
    for case in cross["points"]:
        try:
            Point.from_hex(case["hex"])
            ok = True
        except ValueError:
            ok = False
        assert ok == case["valid"], case["why"]
    for case in cross["credentials"]:
        try:
            got: str | None = derive_key(
                case["code"], case["election_id"], case["elector_id"]
            ).public.hex()
        except CredentialError:
            got = None
        assert got == case["public_key"]
    b = cross["ballots"]
    for case in b["cases"]:
        reason = check_ballot(
            bytes.fromhex(b["election"]),
            b["unit"],
            b["round"],
            b["elector"],
            b["candidates"],
            case["ballot"],
            Point.from_hex(b["election_key"]),
        )
        assert reason == case["reason"], case["why"]


def test_js_answers_every_shared_vector(cross: dict[str, Any]) -> None:
    notes = json.loads((VECTORS / "signed_note.json").read_text("utf-8"))
    merkle = json.loads((VECTORS / "rfc9162.json").read_text("utf-8"))
    b = cross["ballots"]
    answer = run_js(
        {
            "notes": {
                "verifier_key": notes["verifier_key"],
                "cases": [c["note"] for c in notes["valid"] + notes["invalid"]],
            },
            "signatures": cross["ed25519"],
            "points": [c["hex"] for c in cross["points"]],
            "scalars": [c["hex"] for c in cross["scalars"]],
            "credentials": cross["credentials"],
            "ballots": {**b, "cases": [c["ballot"] for c in b["cases"]]},
            "merkle": _merkle_job(merkle),
            "canonical": [{"b": [1, 'é\u2028"', None], "a": {"z": True, "\u00e9": -5}}],
        }
    )
    assert answer["notes"] == [True] * len(notes["valid"]) + [False] * len(notes["invalid"])
    assert answer["signatures"] == [c["valid"] for c in cross["ed25519"]]
    assert answer["points"] == [c["valid"] for c in cross["points"]]
    assert answer["scalars"] == [c["valid"] for c in cross["scalars"]]
    assert answer["credentials"] == [c["public_key"] for c in cross["credentials"]]
    # every tampered ballot is refused, the valid one accepted
    assert [r is None for r in answer["ballots"]] == [c["reason"] is None for c in b["cases"]]
    job = _merkle_job(merkle)
    n_inc, n_con = len(merkle["inclusion"]), len(merkle["consistency"])
    assert answer["inclusion"] == [True] * n_inc + [False] * (len(job["inclusion"]) - n_inc)
    assert answer["consistency"] == [True] * n_con + [False] * (len(job["consistency"]) - n_con)
    from crypto.canonical import canonical_json

    assert answer["canonical"] == [
        canonical_json({"b": [1, 'é\u2028"', None], "a": {"z": True, "\u00e9": -5}}).decode()
    ]


def _merkle_job(v: dict[str, Any]) -> dict[str, Any]:
    inclusion = [
        {
            "leaf": v["leaf_hashes"][c["index"]],
            "index": c["index"],
            "size": c["tree_size"],
            "proof": c["path"],
            "root": v["roots"][str(c["tree_size"])],
        }
        for c in v["inclusion"]
    ]
    consistency = [
        {
            "size1": c["size1"],
            "size2": c["size2"],
            "proof": c["proof"],
            "root1": v["roots"][str(c["size1"])],
            "root2": v["roots"][str(c["size2"])],
        }
        for c in v["consistency"]
    ]
    # and each with one proof hash flipped, which must fail
    inclusion += [
        dict(c, proof=[_flip(c["proof"][0]), *c["proof"][1:]]) for c in inclusion if c["proof"]
    ]
    consistency += [
        dict(c, proof=[_flip(c["proof"][0]), *c["proof"][1:]]) for c in consistency if c["proof"]
    ]
    return {"inclusion": inclusion, "consistency": consistency}


def _flip(h: str) -> str:
    return ("0" if h[0] != "0" else "1") + h[1:]


def test_js_made_ballots_pass_the_python_checks() -> None:
    election = bytes(range(32))
    secret = Scalar.random()
    key = base_mul(secret)
    seed = SigningKey.generate().seed()
    ids = ["U-C1", "U-C2", "U-C3"]
    answer = run_js(
        {
            "make": {
                "election": election.hex(),
                "unit": "U",
                "round": 1,
                "elector": "U-E1",
                "candidates": ids,
                "choices": ["U-C3", None],
                "election_key": key.hex(),
                "seed": seed.hex(),
            }
        }
    )
    public = SigningKey.from_seed(seed).public
    for made, choice in zip(answer["made"], ["U-C3", None], strict=True):
        signed = made["signed"]
        assert check_ballot(election, "U", 1, "U-E1", ids, signed, key) is None
        assert verify_ballot_signature(signed, public)
        assert made["tracker"] == tracker(signed) == made["audited"]["tracker"]
        reason, what = check_audited(made["audited"], election, {"U/1": ids}, key)
        assert reason is None and (choice or "blank") in what
        # a lying booth: it shows one choice and encrypted another
        lie = dict(made["audited"], choice="U-C1")
        assert "does not encrypt" in (check_audited(lie, election, {"U/1": ids}, key)[0] or "")
        js = run_js(
            {
                "audited": {
                    "election": election.hex(),
                    "candidates": ids,
                    "election_key": key.hex(),
                    "cases": [made["audited"], lie],
                }
            }
        )
        assert js["audited"][0] is None and "does not encrypt" in js["audited"][1]


def test_checkpoint_profile_agrees_with_python() -> None:
    """Both implementations read the extension lines (time, final) the same way."""
    from crypto.checkpoint import Checkpoint, CheckpointError, checkpoint_facts

    cases = json.loads((VECTORS / "checkpoint_profile.json").read_text("utf-8"))["cases"]
    expected: list[dict[str, Any]] = []
    for case in cases:
        try:
            facts = checkpoint_facts(Checkpoint("o", 0, bytes(32), tuple(case["extensions"])))
            answer: dict[str, Any] = {"ok": True, "final": facts.final}
        except CheckpointError:
            answer = {"ok": False}
        assert answer == {k: case[k] for k in answer}, case
        assert answer["ok"] == case["ok"], case
        expected.append(answer)
    assert run_js({"profile": [c["extensions"] for c in cases]})["profile"] == expected
