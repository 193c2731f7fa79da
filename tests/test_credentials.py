"""Credential codes (crypto/credentials.py) and the credential authority's command."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from pathlib import Path

import pytest

from crypto.canonical import tagged_hash
from crypto.credentials import (
    ALPHABET,
    CredentialError,
    derive_key,
    format_code,
    new_code,
    normalise_code,
)
from crypto.signing import SigningKey
from tally_service.cli import main
from tally_service.common.rolls import parse_roll

VECTORS = Path(__file__).resolve().parent / "vectors"


def test_code_shape_and_entropy() -> None:
    code = new_code()
    groups = code.split("-")
    assert len(groups) == 6 and all(len(g) == 4 for g in groups)
    assert set(code.replace("-", "")) <= set(ALPHABET)
    assert len(ALPHABET) == 32  # 20 payload characters: 100 bits
    assert len({new_code() for _ in range(50)}) == 50


def test_typing_is_forgiven_but_typos_are_caught() -> None:
    code = new_code()
    payload = normalise_code(code)
    assert normalise_code(code.lower().replace("-", " ")) == payload
    assert normalise_code(code.replace("1", "l").replace("0", "O")) == payload
    flat = code.replace("-", "")
    for i in range(len(flat)):  # every single-character typo is refused
        wrong = ALPHABET[(ALPHABET.index(flat[i]) + 1) % 32]
        with pytest.raises(CredentialError, match="check characters"):
            normalise_code(flat[:i] + wrong + flat[i + 1 :])
    with pytest.raises(CredentialError, match="24 characters"):
        normalise_code(flat[:-1])
    with pytest.raises(CredentialError, match="not in it"):
        normalise_code(flat[:-1] + "U")


def test_key_is_bound_to_election_and_elector() -> None:
    code = new_code()
    key = derive_key(code, "e1", "AKM-E0001").public
    assert derive_key(code.lower(), "e1", "AKM-E0001").public == key
    assert derive_key(code, "e2", "AKM-E0001").public != key
    assert derive_key(code, "e1", "AKM-E0002").public != key
    assert derive_key(new_code(), "e1", "AKM-E0001").public != key


def test_known_answer() -> None:
    """A code with wrong check characters is refused before any key is derived."""
    code = format_code("0123456789ABCDEFGHJK" + "0000")
    with pytest.raises(CredentialError):
        derive_key(code, "x", "y")  # wrong check characters


def _key_as_protocol_md_says(code: str, election_id: str, elector_id: str) -> str | None:
    """protocol.md 16 with hashlib and hmac only: the check characters, then HKDF-SHA256."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    chars = code.upper().translate(str.maketrans("ILO", "110", " -"))
    payload, check = chars[:20], chars[20:]
    if len(chars) != 24 or any(c not in alphabet for c in chars):
        return None
    bits = int.from_bytes(tagged_hash("kz-tally/v1/credential-check", payload.encode())[:3]) >> 4
    if check != "".join(alphabet[(bits >> (5 * (3 - i))) & 31] for i in range(4)):
        return None
    salt = tagged_hash(
        "kz-tally/v1/credential-salt", election_id.encode(), elector_id.encode()
    )
    prk = hmac.new(salt, payload.encode("ascii"), hashlib.sha256).digest()  # RFC 5869 extract
    seed = hmac.new(prk, b"kz-tally/v1/credential-key" + b"\x01", hashlib.sha256).digest()
    return SigningKey.from_seed(seed).public.hex()


def test_the_vectors_protocol_md_cites() -> None:
    """protocol.md 16 cites the `credentials` cases of tests/vectors/cross.json (the JavaScript
    checks them too, tests/test_js_crypto.py): the code and the page's formulas both give them."""
    cases = json.loads((VECTORS / "cross.json").read_text(encoding="utf-8"))["credentials"]
    assert len(cases) >= 4 and any(c["public_key"] is None for c in cases)
    for case in cases:
        args = (case["code"], case["election_id"], case["elector_id"])
        try:
            got: str | None = derive_key(*args).public.hex()
        except CredentialError:
            got = None
        assert got == case["public_key"], case
        assert _key_as_protocol_md_says(*args) == case["public_key"], case


def test_credentials_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = tmp_path / "names.csv"
    names.write_text('elector_id,full_name\nAKM-E0001,Иванов Иван\nAKM-E0002,"Ахметов, С"\n')
    assert (
        main(
            [
                "credentials",
                "--roll",
                str(names),
                "--election-id",
                "e1",
                "--out",
                str(tmp_path / "ca"),
            ]
        )
        == 0
    )
    assert "Never give the codes to the commission" in capsys.readouterr().out
    codes = list(csv.DictReader(io.StringIO((tmp_path / "ca" / "codes.csv").read_text())))
    assert (tmp_path / "ca" / "codes.csv").stat().st_mode & 0o077 == 0
    roll = parse_roll((tmp_path / "ca" / "roll.csv").read_bytes(), "AKM")
    assert [e.elector_id for e in roll.entries] == ["AKM-E0001", "AKM-E0002"]
    for row, entry in zip(codes, roll.entries, strict=True):
        assert derive_key(row["code"], "e1", row["elector_id"]).public.hex() == entry.public_key
        assert row["code"] not in (tmp_path / "ca" / "roll.csv").read_text()
    # a second run never overwrites the codes
    assert (
        main(
            [
                "credentials",
                "--roll",
                str(names),
                "--election-id",
                "e1",
                "--out",
                str(tmp_path / "ca"),
            ]
        )
        == 1
    )
    assert "exists" in capsys.readouterr().err
    names.write_text("elector_id,full_name,public_key\nA,B,C\n")
    assert (
        main(
            [
                "credentials",
                "--roll",
                str(names),
                "--election-id",
                "e1",
                "--out",
                str(tmp_path / "ca2"),
            ]
        )
        == 1
    )
    assert "unknown column" in capsys.readouterr().err
