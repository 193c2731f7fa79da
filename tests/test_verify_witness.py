"""The verifier's V4 and the receipt checker with witnesses (issue 18): a record whose manifest
names four witnesses (one ML-DSA-44, quorum 3, one colluder tolerated) passes; each change an
attacker could make to the cosignatures fails the check that must catch it."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path
from typing import Any

import pytest

from crypto.cosignature import TYPE_ED25519, TYPE_MLDSA44, Cosigner, CosignerKey
from crypto.note import parse_note
from scripts.builders.simulate import run_election
from tests.verify_helpers import (
    TURNOUT,
    UNITS,
    Built,
    make_chooser,
    notes_of,
    verify,
    write_notes,
)
from tests.verify_helpers import receipt_checker as verify_receipt

WITNESSES = [
    Cosigner.generate("w1.example/witness", TYPE_MLDSA44),
    Cosigner.generate("w2.example/witness", TYPE_ED25519),
    Cosigner.generate("w3.example/witness", TYPE_ED25519),
    Cosigner.generate("w4.example/witness", TYPE_ED25519),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    base = tmp_path_factory.mktemp("witnessed")
    data, record = base / "data", base / "record"
    sim = run_election(
        data,
        UNITS[:2],
        turnout={u: TURNOUT[u] for u in ("AAA", "BBB")},
        chooser=make_chooser(),
        record=record,
        checkpoint_every=4,
        witnesses=WITNESSES,
        witness_quorum=3,
        witness_colluders=1,
    )
    return Built(record, data, sim)


def _copy(built: Built, tmp_path: Path) -> Path:
    out = tmp_path / "record"
    shutil.copytree(built.record, out)
    return out


def _final(record: Path, unit: str = "AAA", round_no: int = 1) -> Path:
    return record / "units" / unit / str(round_no) / "checkpoints.txt"


def _edit_final_lines(record: Path, keep: int, extra: list[str] | None = None) -> None:
    """Keep the log's and commission's signatures, every ordinary witness cosignature (they do
    not count for a final) and the first ``keep`` finality statements."""
    path = _final(record)
    notes = notes_of(path)
    body, block = notes[-1].split("\n\n", 1)
    lines = block.rstrip("\n").split("\n")
    finality_names = {w.name + "/final" for w in WITNESSES}
    others = [line for line in lines if line.split(" ")[1] not in finality_names]
    finality = [line for line in lines if line.split(" ")[1] in finality_names]
    notes[-1] = body + "\n\n" + "\n".join(others + finality[:keep] + (extra or [])) + "\n"
    write_notes(path, notes)


def test_witnessed_record_passes(built: Built) -> None:
    report = verify(built.record)
    assert report.ok, report.to_json()
    v4 = report.checks["V4"].checked
    assert v4["witnessed checkpoints (quorum)"] >= 3  # every final, at least
    for w in WITNESSES:
        assert v4[f"cosignatures by {w.name}"] >= 3
    final = notes_of(_final(built.record))[-1]
    names = [s.name for s in parse_note(final).signatures if s.name.startswith("w")]
    assert sorted(names) == sorted(
        [w.name for w in WITNESSES] + [f"{w.name}/final" for w in WITNESSES]
    )


def test_final_below_quorum_fails_v4(built: Built, tmp_path: Path) -> None:
    record = _copy(built, tmp_path)
    _edit_final_lines(record, keep=2)
    report = verify(record)
    assert not report.checks["V4"].ok
    assert "quorum of 3" in report.checks["V4"].failures[0].why


def test_cosignatures_from_keys_not_in_the_manifest_do_not_count(
    built: Built, tmp_path: Path
) -> None:
    from crypto.checkpoint import Checkpoint

    record = _copy(built, tmp_path)
    final = Checkpoint.parse(parse_note(notes_of(_final(record))[-1]).text)
    strangers = [Cosigner.generate(w.name, TYPE_ED25519) for w in WITNESSES]  # same names
    extra = [s.cosign_final(final, 2_000_000_000).line().rstrip("\n") for s in strangers]
    _edit_final_lines(record, keep=2, extra=extra)
    report = verify(record)
    assert not report.checks["V4"].ok
    assert "has 2 valid witness finality statements" in report.checks["V4"].failures[0].why


def test_an_ordinary_cosignature_relabelled_as_a_finality_statement_fails_v4(
    built: Built, tmp_path: Path
) -> None:
    """Issue 24: an attacker renames a witness's ordinary line on the final (ML-DSA-44 and
    Ed25519 alike) to its finality cosigner's name and key ID: the statement it signed is
    another (another name for subtree/v1, another origin line for both), so it does not
    verify, and V4 fails."""
    record = _copy(built, tmp_path)
    path = _final(record)
    note = notes_of(path)[-1]
    for witness in (WITNESSES[0], WITNESSES[1]):  # subtree/v1, then cosignature/v1
        text = path.read_text(encoding="utf-8")
        sigs = {s.name: s for s in parse_note(note).signatures}
        ordinary, finality = sigs[witness.name], sigs[witness.name + "/final"]
        key_id = witness.public.finality().key_id
        forged = "— {} {}".format(
            witness.name + "/final",
            base64.b64encode(key_id + ordinary.signature).decode(),
        )
        edited = text.replace(finality.line().rstrip("\n"), forged)
        assert edited != text
        path.write_text(edited, encoding="utf-8")
        report = verify(record)
        assert not report.checks["V4"].ok, witness.name
        assert "does not verify" in report.checks["V4"].failures[0].why
        path.write_text(text, encoding="utf-8")


def test_cosignature_over_another_timestamp_fails(built: Built, tmp_path: Path) -> None:
    record = _copy(built, tmp_path)
    path = _final(record)
    text = path.read_text(encoding="utf-8")
    line = next(
        ln for ln in notes_of(path)[-1].split("\n") if ln.startswith(f"— {WITNESSES[1].name} ")
    )
    prefix, blob = line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[4 + 7] ^= 1  # the timestamp's last byte, after the key ID
    path.write_text(
        text.replace(line, f"{prefix} {base64.b64encode(bytes(raw)).decode()}"), encoding="utf-8"
    )
    report = verify(record)
    assert not report.checks["V4"].ok
    assert "does not verify" in report.checks["V4"].failures[0].why


def _receipt(built: Built) -> dict[str, object]:
    return next(r for rs in built.sim.receipts.values() for r in rs if r["unit"] == "AAA")


def _check(receipt: object, record: Path) -> verify_receipt.Verdict:
    verdict = verify_receipt.Verdict("test")
    verify_receipt.check_receipt(receipt, verify_receipt.RecordSource(record), verdict)
    return verdict


def test_receipt_checker_requires_the_quorum(built: Built, tmp_path: Path) -> None:
    verdict = _check(_receipt(built), built.record)
    assert verdict.ok, verdict.to_json()
    assert "quorum" in verdict.items["R5"].detail and "quorum" in verdict.items["R6"].detail
    record = _copy(built, tmp_path)
    _edit_final_lines(record, keep=2)
    verdict = _check(_receipt(built), record)
    assert not verdict.ok
    assert verdict.items["R6"].ok is False or verdict.items["R5"].ok is False


def test_the_monitors_policy_verifies_a_note_once_and_never_remembers_a_failure(
    built: Built, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The live monitor meets each note up to three times; its policy verifies the cosignatures
    once per note text, returns the same answer as the plain policy, and keeps a note whose line
    fails verifying (and failing) every time."""
    from crypto.cosignature import CosignatureError, read_cosigned_note
    from crypto.witness_policy import WitnessPolicy, manifest_section
    from scripts.verifier.checks_witness import RememberingPolicy

    plain = WitnessPolicy.from_manifest(manifest_section(3, 1, [w.public for w in WITNESSES]))
    assert plain is not None
    remembering = RememberingPolicy(plain)
    calls: list[str] = []

    def counted(note: str) -> object:
        calls.append(note)
        return read_cosigned_note(note)

    monkeypatch.setattr("crypto.witness_policy.read_cosigned_note", counted)
    notes = notes_of(built.record / "units" / "AAA" / "1" / "checkpoints.txt")
    for note in notes + notes:
        assert remembering.cosignatures(note) == plain.cosignatures(note)
        assert remembering.has_quorum(note) == plain.has_quorum(note)
    # the plain policy verified each note twice per pass, the remembering one once in all
    assert len(calls) == 4 * len(notes) + len(notes)
    # one byte flipped in witness 2's line of the last note: same text, a line that fails
    last_line = next(x for x in notes[-1].split("\n") if x.startswith("— w2.example/witness "))
    prefix, blob = last_line.rsplit(" ", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    broken = notes[-1].replace(last_line, f"{prefix} {base64.b64encode(bytes(raw)).decode()}")
    for _ in range(2):
        with pytest.raises(CosignatureError):
            remembering.cosignatures(broken)
        assert not remembering.has_quorum(broken)
    # a note served again with one more line costs one more verification, not one per line
    lines: list[object] = []
    real_verify = CosignerKey.verify

    def counted_verify(key: CosignerKey, *args: Any) -> bool:
        lines.append(args)
        return real_verify(key, *args)

    monkeypatch.setattr(CosignerKey, "verify", counted_verify)
    fresh = RememberingPolicy(plain)
    body, block = notes[-1].split("\n\n")
    own = [x for x in block.splitlines() if not x.startswith("— w")]
    theirs = [x for x in block.splitlines() if x.startswith("— w")]
    assert len(theirs) >= 3
    for grown in range(len(theirs) + 1):
        fresh.cosignatures(f"{body}\n\n" + "".join(f"{x}\n" for x in own + theirs[:grown]))
    assert len(lines) == len(theirs)
    # at most REMEMBERED notes are kept
    monkeypatch.setattr(RememberingPolicy, "REMEMBERED", 2)
    small = RememberingPolicy(plain)
    for note in notes[:3]:
        small.cosignatures(note)
    assert len(small._verified) == 2 and notes[0] not in small._verified
