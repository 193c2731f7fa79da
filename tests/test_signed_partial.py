"""A guardian's signed partial decryption (crypto/signed_partial.py) and its documented example."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from crypto.signed_partial import (
    STATEMENT_FIELDS,
    SignedPartialError,
    guardian_keys,
    open_signed_partial,
    partial_statement,
    sign_partial,
)
from crypto.signing import SigningKey
from schemas.ceremony import GuardianPartialSchema

ELECTION = "ab" * 32
FINAL = {"size": 7, "root": "cd" * 32}


def setup() -> tuple[list[SigningKey], dict[str, object]]:
    identities = [SigningKey.generate() for _ in range(3)]
    keys = guardian_keys([{"identity_key": k.public.hex()} for k in identities])
    return identities, keys


def statement(guardian: int, **changes: object) -> dict[str, object]:
    partial = {"guardian": guardian, "shares": [], "proofs": []}
    body = partial_statement(ELECTION, "AKM", 1, FINAL, partial)
    return {**body, **changes}


def test_a_guardians_own_partial_opens() -> None:
    identities, keys = setup()
    signed = sign_partial(statement(2), identities[1])
    guardian, partial = open_signed_partial(signed, keys, ELECTION, "AKM", 1, FINAL)  # type: ignore[arg-type]
    assert guardian == 2 and partial["guardian"] == 2


@pytest.mark.parametrize(
    ("signer", "body", "says"),
    [
        (0, statement(2), "names guardian 2"),
        (1, statement(2, unit="ALA"), "'ALA' round 1"),
        (1, statement(2, round=2), "round 2"),
        (1, statement(2, election="00" * 32), "another election"),
        (1, statement(2, final_checkpoint={"size": 6, "root": "cd" * 32}), "final checkpoint"),
        (1, {k: v for k, v in statement(2).items() if k != "final_checkpoint"}, "signed fields"),
    ],
)
def test_what_a_guardian_did_not_sign_is_refused(
    signer: int, body: dict[str, object], says: str
) -> None:
    identities, keys = setup()
    signed = sign_partial(body, identities[signer])
    with pytest.raises(SignedPartialError, match=re.escape(says)):
        open_signed_partial(signed, keys, ELECTION, "AKM", 1, FINAL)  # type: ignore[arg-type]


def test_an_edited_or_foreign_signature_is_refused() -> None:
    identities, keys = setup()
    signed = sign_partial(statement(2), identities[1])
    edited = json.loads(json.dumps(signed))
    edited["payload"]["partial"]["shares"] = ["00" * 32]
    with pytest.raises(SignedPartialError, match="does not verify"):
        open_signed_partial(edited, keys, ELECTION, "AKM", 1, FINAL)  # type: ignore[arg-type]
    stranger = sign_partial(statement(2), SigningKey.generate())
    with pytest.raises(SignedPartialError, match="no guardian identity key"):
        open_signed_partial(stranger, keys, ELECTION, "AKM", 1, FINAL)  # type: ignore[arg-type]
    with pytest.raises(SignedPartialError, match="not a guardian's signed partial"):
        open_signed_partial(signed["payload"]["partial"], keys, ELECTION, "AKM", 1, FINAL)  # type: ignore[arg-type]


def test_the_documented_example_has_the_signed_shape() -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "formats.md").read_text("utf-8")
    section = text.split("### A signed partial decryption", 1)[1]
    example = json.loads(section.split("```json", 1)[1].split("```", 1)[0])
    assert GuardianPartialSchema().validate(example) == {}
    assert set(example["payload"]) == STATEMENT_FIELDS
