"""crypto/fingerprint.py against its shared vectors, and the pages' JavaScript mirror against the
same vectors (tests/vectors/fingerprint.json): one fingerprint, the same letters everywhere."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from crypto.canonical import hash_json
from crypto.fingerprint import (
    FingerprintError,
    election_fingerprint,
    election_fingerprint_of_hash,
    key_fingerprint,
    normalise,
)
from tally_service.service.election import Election
from tests.test_js_crypto import NODE, run_js

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent / "vectors" / "fingerprint.json").read_text("utf-8")
)


def test_python_reproduces_the_vectors() -> None:
    for case in VECTORS["keys"]:
        assert key_fingerprint(bytes.fromhex(case["public_key"])) == case["fingerprint"]
    for case in VECTORS["manifests"]:
        assert hash_json("kz-tally/v1/manifest", case["payload"]).hex() == case["manifest_hash"]
        assert election_fingerprint(case["payload"]) == case["fingerprint"]
        assert election_fingerprint_of_hash(bytes.fromhex(case["manifest_hash"])) == case[
            "fingerprint"
        ]


def test_the_encoding_is_rfc4648_base32_of_the_first_20_bytes() -> None:
    case = VECTORS["manifests"][0]
    digest = bytes.fromhex(case["manifest_hash"])
    expected = base64.b32encode(digest[:20]).decode().lower()
    assert case["fingerprint"].replace("-", "") == expected
    assert [len(g) for g in case["fingerprint"].split("-")] == [4] * 8


def test_one_changed_byte_changes_the_fingerprint() -> None:
    key = bytes(range(32))
    assert key_fingerprint(key) != key_fingerprint(bytes([1]) + key[1:])
    assert election_fingerprint({"a": 1}) != election_fingerprint({"a": 2})


def test_normalise_accepts_what_people_type_and_refuses_the_rest() -> None:
    fp = VECTORS["keys"][2]["fingerprint"]
    assert normalise(fp.upper().replace("-", " ")) == fp
    assert normalise(fp.replace("-", "")) == fp
    for bad in ("", fp[:-1], fp.replace("v", "0", 1), fp + "a"):
        with pytest.raises(FingerprintError):
            normalise(bad)
    with pytest.raises(FingerprintError):
        key_fingerprint(bytes(33))


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_javascript_reproduces_the_vectors() -> None:
    answer = run_js({"fingerprints": VECTORS})
    got = answer["fingerprints"]
    assert got["keys"] == [c["fingerprint"] for c in VECTORS["keys"]]
    assert got["manifests"] == [c["fingerprint"] for c in VECTORS["manifests"]]
    fp = VECTORS["keys"][2]["fingerprint"]
    assert got["normalised"] == [fp, None]


def test_keygen_and_the_public_pages_show_the_fingerprints(
    election: Election, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tally_service.cli import main
    from tally_service.service.app import create_app

    assert main(["keygen", "--out", str(tmp_path / "k.pem"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["fingerprint"] == key_fingerprint(bytes.fromhex(info["public_key"]))
    assert main(["keygen", "--out", str(tmp_path / "k2.pem")]) == 0
    assert "fingerprint " in capsys.readouterr().out
    client = create_app(election).test_client()
    payload = election.manifest.signed["payload"]
    key_fp = key_fingerprint(bytes.fromhex(payload["commission"]["keys"][0]))
    for path in ("/observe?lang=en", "/?lang=kk"):
        page = client.get(path).get_data(as_text=True)
        assert election_fingerprint(payload) in page, path
    assert key_fp in client.get("/observe?lang=ru").get_data(as_text=True)
