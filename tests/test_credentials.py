"""Credential codes (crypto/credentials.py) and the credential authority's command."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from crypto.credentials import (
    ALPHABET,
    CredentialError,
    derive_key,
    format_code,
    new_code,
    normalise_code,
)
from tally_service.cli import main
from tally_service.rolls import parse_roll


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
    """A fixed vector, shared with the JavaScript (tests/vectors/credentials.json)."""
    code = format_code("0123456789ABCDEFGHJK" + "0000")
    with pytest.raises(CredentialError):
        derive_key(code, "x", "y")  # wrong check characters


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
