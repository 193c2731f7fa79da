"""Known-answer vectors for what the guardians compare out of band (docs/protocol.md 6.2):
a guardian's fingerprint, the parameters hash L, the ceremony fingerprint, and the commitment
set a reveal signs (6.3).

``tests/vectors/ceremony.json`` was written once by ``build_vectors`` below, which follows the
byte layout of protocol.md with ``hashlib``, ``json`` (RFC 8785 for these plain values: sorted
keys, no spaces, integers, ASCII strings) and ``base64`` only; the keys are fixed test keys. The
tests hold ``crypto.ceremony`` to that file. A fingerprint that left out one key, or one of
n, k, the election, a guardian or a witness, or kept fewer bits, would not match.

Regenerate (only if the protocol changes, with new tags):
``.venv/bin/python -m tests.test_ceremony_vectors``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from crypto import ceremony

VECTOR_FILE = Path(__file__).parent / "vectors" / "ceremony.json"
VECTORS: dict[str, Any] = json.loads(VECTOR_FILE.read_text("utf-8")) if VECTOR_FILE.exists() else {}


# -- the spec, transcribed (protocol.md sections 1 and 6.2) ------------------------------------


def spec_tagged_hash(tag: str, *parts: bytes) -> bytes:
    data = bytearray()
    for part in (tag.encode("ascii"), *parts):
        data += len(part).to_bytes(8, "big") + part
    return hashlib.sha256(bytes(data)).digest()


def spec_jcs(value: Any) -> bytes:
    """RFC 8785 for values made of objects, arrays, ASCII strings and small integers."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def spec_guardian_fingerprint(identity_key: str, share_key: str) -> str:
    digest = spec_tagged_hash(
        "kz-tally/v1/guardian-fingerprint", bytes.fromhex(identity_key), bytes.fromhex(share_key)
    )
    text = digest[:16].hex()
    return " ".join(text[i : i + 4] for i in range(0, 32, 4))


def spec_parameters_hash(p: dict[str, Any]) -> bytes:
    value = {
        "election_id": p["election_id"],
        "n": len(p["guardians"]),
        "k": p["k"],
        "guardians": p["guardians"],
        "witnesses": p["witnesses"],
    }
    return spec_tagged_hash("kz-tally/v1/ceremony-parameters", spec_jcs(value))


def spec_ceremony_fingerprint(parameters_hash: bytes) -> str:
    digest = spec_tagged_hash("kz-tally/v1/ceremony-fingerprint", parameters_hash)[:20]
    text = base64.b32encode(digest).decode("ascii")
    return " ".join(text[i : i + 4] for i in range(0, 32, 4))


def spec_commit_set_hash(commits: list[dict[str, Any]]) -> str:
    ordered = sorted(commits, key=lambda c: c["guardian"])
    return spec_tagged_hash("kz-tally/v1/ceremony-commit-set", spec_jcs(ordered)).hex()


# -- the fixed inputs ------------------------------------------------------------------------


def _fixed(label: str) -> bytes:
    return hashlib.sha256(b"kz-tally/test-vectors/" + label.encode()).digest()


def parameters() -> dict[str, Any]:
    """Three guardians (k = 2) and three witnesses, from fixed test seeds."""
    from crypto.cosignature import TYPE_ED25519, Cosigner
    from crypto.sealing import x25519_public
    from crypto.signing import SigningKey
    from crypto.witness_policy import manifest_section

    guardians = [
        {
            "index": i,
            "name": name,
            "identity_key": SigningKey.from_seed(_fixed(f"guardian-{i}/identity")).public.hex(),
            "share_key": x25519_public(_fixed(f"guardian-{i}/share")).hex(),
        }
        for i, name in enumerate(["Aigerim Bekova", "Daniyar Omarov", "Saule Nurlanova"], 1)
    ]
    witnesses = manifest_section(
        3,
        1,
        [
            Cosigner(f"witness{i}.example/kz", TYPE_ED25519, _fixed(f"witness-{i}")).public
            for i in range(1, 4)
        ],
    )
    return {
        "election_id": "senate-2023-test-vectors",
        "k": 2,
        "guardians": guardians,
        "witnesses": witnesses,
    }


def build_vectors() -> dict[str, Any]:
    p = parameters()
    parameters_hash = spec_parameters_hash(p)
    commits = [{"guardian": i, "hash": _fixed(f"commit-{i}").hex()} for i in (1, 2, 3)]
    return {
        "about": (
            "kz-tally key-ceremony known-answer vectors (docs/protocol.md 6.2, 6.3): each "
            "guardian's fingerprint, the parameters hash L (hex), the ceremony fingerprint, "
            "and the hash of a commitment set as a reveal signs it. Keys are test keys."
        ),
        "parameters": p,
        "fingerprints": [
            spec_guardian_fingerprint(g["identity_key"], g["share_key"]) for g in p["guardians"]
        ],
        "parameters_json": spec_jcs(
            {
                "election_id": p["election_id"],
                "n": len(p["guardians"]),
                "k": p["k"],
                "guardians": p["guardians"],
                "witnesses": p["witnesses"],
            }
        ).decode(),
        "guardian_list": parameters_hash.hex(),
        "ceremony_fingerprint": spec_ceremony_fingerprint(parameters_hash),
        "commit_set": commits,
        "commit_set_hash": spec_commit_set_hash(commits),
    }


# -- the code held to the file -----------------------------------------------------------------


def test_the_file_is_what_the_spec_gives() -> None:
    assert build_vectors() == VECTORS


def test_guardian_fingerprints() -> None:
    for member, expected in zip(
        VECTORS["parameters"]["guardians"], VECTORS["fingerprints"], strict=True
    ):
        assert ceremony.fingerprint_of(member["identity_key"], member["share_key"]) == expected
    assert VECTORS["fingerprints"][0] == "afa4 0945 6fc0 a0cf 126b ae0c 734a a4af"


def test_parameters_hash_and_ceremony_fingerprint() -> None:
    p = VECTORS["parameters"]
    parameters_hash = ceremony.list_hash(p["election_id"], p["k"], p["guardians"], p["witnesses"])
    assert parameters_hash.hex() == VECTORS["guardian_list"]
    assert ceremony.ceremony_fingerprint(parameters_hash) == VECTORS["ceremony_fingerprint"]
    manifest = {
        "election_id": p["election_id"],
        "guardians": {
            "n": 3,
            "k": p["k"],
            "names": [g["name"] for g in p["guardians"]],
            "keys": [
                {"identity_key": g["identity_key"], "share_key": g["share_key"]}
                for g in p["guardians"]
            ],
        },
        "witnesses": p["witnesses"],
    }
    assert ceremony.manifest_fingerprint(manifest) == VECTORS["ceremony_fingerprint"]


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p.update(k=3),
        lambda p: p.update(election_id="another-election"),
        lambda p: p.update(witnesses=None),
        lambda p: p["witnesses"].update(quorum=2),
        lambda p: p["guardians"][2].update(name="Mallory"),
        lambda p: p["guardians"].reverse(),
        lambda p: p.update(guardians=p["guardians"][:2]),
    ],
    ids=["k", "election", "no-witnesses", "quorum", "name", "order", "n"],
)
def test_every_parameter_changes_the_ceremony_fingerprint(change: Any) -> None:
    p = json.loads(json.dumps(VECTORS["parameters"]))
    change(p)
    changed = ceremony.list_hash(p["election_id"], p["k"], p["guardians"], p["witnesses"])
    assert ceremony.ceremony_fingerprint(changed) != VECTORS["ceremony_fingerprint"]


def test_fingerprint_comparison_ignores_spacing_and_case() -> None:
    text = VECTORS["ceremony_fingerprint"]
    assert len(text.replace(" ", "")) == 32 and len(text.split()) == 8
    assert ceremony.ceremony_fingerprint_chars(text.lower().replace(" ", "-")) == text.replace(
        " ", ""
    )


def test_commit_set_hash() -> None:
    commits = {c["guardian"]: {"hash": c["hash"]} for c in reversed(VECTORS["commit_set"])}
    assert ceremony.commit_set_hash(commits) == VECTORS["commit_set_hash"]


def test_protocol_md_quotes_the_vector() -> None:
    text = (Path(__file__).parent.parent / "docs" / "protocol.md").read_text("utf-8")
    for value in (
        VECTORS["guardian_list"],
        VECTORS["ceremony_fingerprint"],
        VECTORS["fingerprints"][0],
        VECTORS["parameters"]["election_id"],
    ):
        assert value in text, value


if __name__ == "__main__":
    VECTOR_FILE.write_text(json.dumps(build_vectors(), indent=1) + "\n", encoding="utf-8")
