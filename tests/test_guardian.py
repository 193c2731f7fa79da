"""A guardian refuses to decrypt anything but the honest tally of the signed, closed log."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from crypto.canonical import canonical_json
from crypto.note import sign_note
from scripts.builders.sample import UnitSpec
from scripts.builders.simulate import run_election
from tally_service.guardian.checks import GuardianRefusal, check_tally_inputs
from tally_service.service import tally
from tally_service.service.election import Election


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("guardian") / "data"
    run_election(data, [UnitSpec("AAA", "A", 3, 12)], seed=3)
    return data


def inputs(data: Path) -> tuple[dict[str, Any], str, list[bytes], dict[str, Any]]:
    e = Election(data)
    try:
        doc = tally.start_tally(e, "AAA", 1)
        note = next(r.note for r in e.store.checkpoints("AAA", 1) if r.final)
        entries = list(e.store.iter_entries("AAA", 1))
        return e.manifest.signed, note, entries, doc
    finally:
        e.stop()


def test_honest_tally_passes(closed: Path) -> None:
    manifest, note, entries, doc = inputs(closed)
    check_tally_inputs(manifest, note, entries, doc)
    check_tally_inputs(manifest, note, entries, doc, jobs=2)


def test_one_ballot_passed_off_as_the_tally_is_refused(closed: Path) -> None:
    manifest, note, entries, doc = inputs(closed)
    lone = json.loads(entries[0])
    doc = {**doc, "encrypted": [s["ciphertext"] for s in lone["selections"]]}
    with pytest.raises(GuardianRefusal, match="not the sum"):
        check_tally_inputs(manifest, note, entries, doc)


def test_a_log_that_is_not_the_signed_one_is_refused(closed: Path) -> None:
    manifest, note, entries, doc = inputs(closed)
    with pytest.raises(GuardianRefusal, match="final checkpoint"):
        check_tally_inputs(manifest, note, entries[:-1], doc)
    with pytest.raises(GuardianRefusal, match="second ballot"):
        check_tally_inputs(manifest, note, [*entries, entries[0]], doc)


def test_an_invalid_ballot_in_the_log_is_refused(closed: Path) -> None:
    manifest, note, entries, doc = inputs(closed)
    bad = json.loads(entries[1])
    bad["selections"][0]["proof"]["c0"], bad["selections"][0]["proof"]["c1"] = (
        bad["selections"][0]["proof"]["c1"],
        bad["selections"][0]["proof"]["c0"],
    )
    with pytest.raises(GuardianRefusal, match="bad entries"):
        check_tally_inputs(manifest, note, [entries[0], canonical_json(bad), *entries[2:]], doc)


def test_final_checkpoint_needs_the_commission(closed: Path) -> None:
    from crypto.signing import SigningKey

    manifest, note, entries, doc = inputs(closed)
    text = note.split("\n\n")[0] + "\n"
    key = SigningKey.from_pem((closed / "keys" / "log-AAA.pem").read_bytes())
    only_log = sign_note(text, [(f"{manifest['payload']['origin']}/AAA", key)])
    with pytest.raises(GuardianRefusal, match="commission"):
        check_tally_inputs(manifest, only_log, entries, doc)
    other = copy.deepcopy(doc)
    other["election"] = "00" * 32
    with pytest.raises(GuardianRefusal, match="another election"):
        check_tally_inputs(manifest, note, entries, other)
    with pytest.raises(GuardianRefusal, match="ceremony"):
        check_tally_inputs(manifest, note, entries, doc, expected_manifest_hash="11" * 32)


def test_an_entry_whose_elector_is_not_a_string_is_refused(closed: Path) -> None:
    """Not a crash (unhashable type): a refusal naming the bad entry."""
    manifest, note, entries, doc = inputs(closed)
    odd = json.loads(entries[1])
    odd["elector"] = ["AAA-E0001"]
    with pytest.raises(GuardianRefusal, match="bad entries"):
        check_tally_inputs(manifest, note, [entries[0], canonical_json(odd), *entries[2:]], doc)
