"""The worked examples of docs/ are executed: an example that drifts from the code fails here.

docs/ is the specification others implement from; a stale example there (a checkpoint without
the mandatory `time` line, a note signed by a key the page never gives, a reason sentence the
code no longer writes) sends an implementer the wrong way with the authority of the spec. So
every worked example is marked in the Markdown with ``<!-- example: NAME -->`` on the line
before it (a fenced block, or else the table or list up to the next blank line), read out of
the page here and checked against the code: hashes re-derived, signatures verified with the keys
the page itself gives, proofs checked, reason sentences and lot draws recomputed, and the signed
texts compared byte for byte with what the code makes now from the same example keys
(tests/docs_examples.py). A marker without a check, or a check whose marker is gone, fails.
Every test vector the docs cite must exist.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from crypto.canonical import canonical_json, tagged_hash
from crypto.checkpoint import (
    Checkpoint,
    CheckpointError,
    checkpoint_facts,
    open_checkpoint,
    sign_checkpoint,
    verify_tlog_proof,
)
from crypto.cosignature import CosignerKey, split_timestamp
from crypto.envelope import open_document
from crypto.merkle import empty_root, node_hash, root, verify_consistency, verify_inclusion
from crypto.note import NoteVerifier, parse_note, verify_note
from crypto.rules import RoundCounts, decide, decide_void, lot_order, lot_seed, percent
from crypto.signing import Context, signed_bytes
from schemas.ballot import SignedBallotSchema
from schemas.log import ReceiptSchema
from tally_service.common.rolls import parse_roll
from tally_service.service.election import PROMISE_HEADER
from tests import docs_examples as gen

TOP = Path(__file__).resolve().parent.parent
DOCS = TOP / "docs"
MARKER = re.compile(r"^<!-- example: ([a-z0-9-]+) -->$")


@dataclass(frozen=True)
class Example:
    page: str
    line: int  # 1-based line of the marker
    text: str


def read_examples() -> dict[str, Example]:
    found: dict[str, Example] = {}
    for path in sorted(DOCS.glob("*.md")):
        lines = path.read_text(encoding="utf-8").split("\n")
        for number, line in enumerate(lines):
            match = MARKER.match(line)
            if match is None:
                continue
            name = match.group(1)
            assert name not in found, f"{path.name}:{number + 1}: example {name!r} marked twice"
            rest = lines[number + 1 :]
            if rest and rest[0].startswith("```"):
                end = next(i for i in range(1, len(rest)) if rest[i].startswith("```"))
                body = rest[1:end]
            else:
                end = next((i for i, text in enumerate(rest) if not text.strip()), len(rest))
                body = rest[:end]
            assert body, f"{path.name}:{number + 1}: the example {name!r} is empty"
            found[name] = Example(path.name, number + 1, "\n".join(body))
    return found


EXAMPLES = read_examples()


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


# -- the keys the pages give ------------------------------------------------------------------


def _table_value(row_start: str) -> str:
    """The last `code` cell of the formats.md table row that starts with ``row_start``."""
    for line in page("formats.md").splitlines():
        if line.startswith(row_start):
            return str(re.findall(r"`([^`]+)`", line)[-1])
    raise AssertionError(f"formats.md has no row {row_start!r}")


def log_verifier() -> NoteVerifier:
    return NoteVerifier.parse(_table_value("| log verifier key"))


def commission_verifier() -> NoteVerifier:
    return NoteVerifier.parse(_table_value("| commission verifier key"))


def test_the_pages_give_the_example_keys() -> None:
    assert str(log_verifier()) == gen.log_vkey()
    assert str(commission_verifier()) == gen.commission_vkey()
    key_id = _table_value("| key id (envelopes)")
    assert key_id == commission_verifier().key.key_id == gen.COMMISSION_KEY.public.key_id
    pk = log_verifier().key.hex()
    said = re.search(r"(\w{8})…(\w{4})\)\[0:4\]` = `(\w{8})`", page("formats.md"))
    assert said is not None, "formats.md: the log key's key ID sentence is gone"
    assert (said[1], said[2], said[3]) == (pk[:8], pk[-4:], log_verifier().key_hash.hex())


# -- the checks, one per marker ---------------------------------------------------------------


def _note(text: str) -> str:
    return text + "\n"  # a fenced block drops the note's final newline


def _check_checkpoint(note: str, final: bool = False) -> None:
    cp = open_checkpoint(note, log_verifier(), gen.LOG_ORIGIN)
    facts = checkpoint_facts(cp)  # the time line is mandatory
    assert facts.final is final
    assert cp.root == root(gen.LEAVES[: cp.size]), "the root is not that of the page's leaves"
    if final:
        verify_note(note, [commission_verifier()])  # countersigned by the commission


def _same_checkpoint(text: str, size: int, time: str) -> None:
    _check_checkpoint(_note(text))
    assert _note(text) == gen.checkpoint(size, time)


def check_leaf_hash(text: str) -> None:
    assert bytes.fromhex(text) == gen.LEAVES[0]
    prose = re.search(r"=\s+`([0-9a-f]{64})`, which is\s+`([^`]+)` in base64", page("formats.md"))
    assert prose is not None, "formats.md: the root of size 2 sentence is gone"
    root2 = node_hash(gen.LEAVES[0], gen.LEAVES[1])
    assert prose[1] == root2.hex() and base64.b64decode(prose[2]) == root2


def _unshorten(text: str) -> str:
    """A shortened hex value ``abcd…wxyz`` as 64 hex digits (the page elides the middle)."""
    return re.sub(
        r"([0-9a-f]+)…([0-9a-f]+)", lambda m: m[1] + "0" * (64 - len(m[1]) - len(m[2])) + m[2], text
    )


def check_entry(text: str) -> None:
    """The entry's hex is shortened on the page: its shape, order and bindings are checked."""
    entry = json.loads(_unshorten(text))
    assert not SignedBallotSchema().validate(entry)
    assert list(entry) == sorted(entry), "JCS sorts the keys"
    assert [list(s) for s in entry["selections"]] == [sorted(s) for s in entry["selections"]]
    assert (entry["election"], entry["unit"], entry["round"]) == (gen.ELECTION, "AKM", 1)
    assert entry["elector"] == gen.ELECTORS[0]
    size = re.search(r"first entry of log `AKM/1` \(([\d,]+) bytes", page("formats.md"))
    assert size is not None
    # the page's size is the real one: one line of JCS with every value at its full length
    assert len(canonical_json(entry)) == int(size[1].replace(",", ""))


def check_signed_bytes(text: str) -> None:
    start = signed_bytes(Context.BALLOT, b'{"election":"' + gen.ELECTION.encode() + b'",')
    assert text.endswith("…") and repr(start).startswith(text.removesuffix("…")), text


def check_roll(text: str) -> None:
    imported = parse_roll(text.encode("utf-8") + b"\n", "AKM")
    assert [e.elector_id for e in imported.entries] == ["AKM-E0001", "AKM-E0002"]
    assert imported.entries[1].name == "Ахметов, Серик"  # quoted: the comma is the name's


def check_checkpoint_0(text: str) -> None:
    _same_checkpoint(text, 0, gen.OPENED)
    assert open_checkpoint(_note(text), log_verifier()).root == empty_root()


def check_checkpoint_2(text: str) -> None:
    _same_checkpoint(text, 2, gen.SIGNED)


def check_final(text: str) -> None:
    # split as record.md says: after each empty line that follows a signature line
    notes = re.split(r"(?<=\n)\n(?!— )", _note(text))
    assert len(notes) == 2, notes
    _check_checkpoint(notes[0])
    _check_checkpoint(notes[1], final=True)
    assert _note(text) == gen.checkpoint(2, gen.SIGNED) + "\n" + gen.checkpoint(2, gen.CLOSED, True)


def _check_promise(note: str, index: int) -> None:
    text = verify_note(note, [log_verifier()]).text
    leaf = base64.b64encode(gen.LEAVES[index]).decode()
    assert text == f"{PROMISE_HEADER}\n{gen.LOG_ORIGIN}\n{index}\n{leaf}\n"  # protocol.md 11.1
    assert note == gen.promise(index)


def check_promise_0(text: str) -> None:
    _check_promise(_note(text), 0)


def _check_receipt(text: str, index: int) -> None:
    receipt = json.loads(text)
    assert not ReceiptSchema().validate(receipt)
    assert receipt == gen.receipt(index)
    leaf = bytes.fromhex(receipt["leaf_hash"])
    assert leaf == gen.LEAVES[index]
    _check_promise(receipt["promise"], index)
    if receipt["proof"] is not None:
        cp = verify_tlog_proof(receipt["proof"], leaf, log_verifier(), gen.LOG_ORIGIN)
        checkpoint_facts(cp)


def check_receipt_0(text: str) -> None:
    _check_receipt(text, 0)


def check_receipt_1(text: str) -> None:
    _check_receipt(text, 1)


def check_tlog_proof_0(text: str) -> None:
    cp = verify_tlog_proof(_note(text), gen.LEAVES[0], log_verifier(), gen.LOG_ORIGIN)
    checkpoint_facts(cp)
    assert _note(text) == gen.tlog_proof(0)


def check_commission_request(text: str) -> None:
    document = json.loads(text)
    key = commission_verifier().key
    payload = open_document(document, {key.key_id: key}, Context.REQUEST)
    assert payload["election"] == gen.ELECTION
    assert document == gen.commission_request()


def check_cosignature(text: str) -> None:
    vector = json.loads((TOP / "tests/vectors/cosignature.json").read_text(encoding="utf-8"))
    vkey = re.search(r"vkey\s+`(witness\.example/w1\+[^`]+)`", page("formats.md"))
    assert vkey is not None, "formats.md: the Ed25519 witness's vkey is gone"
    assert vkey[1] == vector["ed25519"]["vkey"]
    witness = CosignerKey.parse(vkey[1])
    note = parse_note(_note(text))
    lines = [s for s in note.signatures if s.name == witness.name]
    assert len(lines) == 1
    timestamp, signature = split_timestamp(lines[0])
    assert timestamp == 1679315147
    assert witness.verify(Checkpoint.parse(note.text), timestamp, signature)
    assert lines[0].line() == vector["ed25519"]["cosignature_line"]


def check_api_checkpoints(text: str) -> None:
    rows = json.loads(text)["checkpoints"]
    assert [row["size"] for row in rows] == sorted(row["size"] for row in rows)
    times = {0: gen.OPENED, 2: gen.SIGNED}
    for row in rows:
        if row["note"] == "…":
            continue
        shown = row["note"].removesuffix("…\n")
        full = gen.checkpoint(row["size"], times[row["size"]])
        assert full.startswith(shown), f"the note of size {row['size']} is not the page's"
        assert f"time {row['issued_at'][:19]}Z" in full


def check_api_inclusion_proof(text: str) -> None:
    answer = json.loads(text)
    leaf = bytes.fromhex(answer["leaf_hash"])
    proof = [bytes.fromhex(h) for h in answer["proof"]]
    size = answer["tree_size"]
    assert verify_inclusion(leaf, answer["index"], size, proof, root(gen.LEAVES[:size]))
    assert gen.checkpoint(size, gen.SIGNED).startswith(answer["checkpoint"].removesuffix("…\n"))


def check_api_consistency(text: str) -> None:
    answer = json.loads(text)
    size1, size2 = answer["size1"], answer["size2"]
    proof = [bytes.fromhex(h) for h in answer["proof"]]
    assert verify_consistency(
        size1, size2, proof, root(gen.LEAVES[:size1]), root(gen.LEAVES[:size2])
    )
    assert answer == gen.consistency()


def check_api_commission_checkpoint(text: str) -> None:
    check_checkpoint_2(json.loads(text)["checkpoint"].removesuffix("\n"))


# -- rules.md and record.md: figures, sentences and draws --------------------------------------

ZERO_SEED = lot_seed(bytes(32), 185, "AKM", 1, [bytes(32)] * 3)


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def check_percentages(text: str) -> None:
    rows = text.splitlines()[2:]
    assert len(rows) >= 5
    for row in rows:
        fraction, result = _cells(row)
        n, d = (int(x) for x in fraction.split("/"))
        assert percent(n, d) == re.findall(r"`([^`]+)`", result)[0], row


def check_lot_draw(text: str) -> None:
    values = dict(re.split(r"\s+=\s+", line, maxsplit=1) for line in text.splitlines())
    factors = {k.removeprefix("M_"): bytes.fromhex(v) for k, v in values.items() if k[:2] == "M_"}
    candidates = list(factors)
    assert candidates == ["AKM-C1", "AKM-C2", "AKM-C3"]  # ballot order: M_1 is the first's
    seed = lot_seed(
        bytes.fromhex(values["final root"]), int(values["final size"]), "AKM", 1,
        list(factors.values()),
    )
    assert seed.hex() == values["seed"]
    for c in candidates:
        assert tagged_hash("kz-tally/v1/lot", seed, c.encode()).hex() == values[f"lot key {c}"]
    order = lot_order(candidates, seed)
    assert values["order"].startswith(", ".join(f"{c} ({values[f'lot key {c}'][:2]}…)"
                                                for c in order)), values["order"]


def _counts(votes: str, candidates: int) -> dict[str, int]:
    if re.fullmatch(r"[0-9, ]+", votes):  # "0, 0, 0": all blank, candidates C1, C2, ...
        counts = [int(v) for v in votes.split(",")]
        assert len(counts) == candidates
        return {f"C{i + 1}": v for i, v in enumerate(counts)}
    return {name: int(v) for name, v in (part.split() for part in votes.split(","))}


def _decision_rows() -> dict[str, tuple[int, RoundCounts]]:
    table = EXAMPLES["rules-decisions"].text.splitlines()[2:]
    rows = {}
    for line in table:
        case, round_no, registered, took_part, votes, blank, *_ = _cells(line)
        n = 3 if "3 candidates" in case else 2
        rows[case] = (
            int(round_no),
            RoundCounts(int(registered), int(took_part), _counts(votes, n), int(blank)),
        )
    return rows


def check_decisions(text: str) -> None:
    seed_line = re.search(
        r"`lot_seed\(32 zero bytes, 185, \"AKM\", 1, \[32 zero bytes\] \* 3\)` =\s+"
        r"`([0-9a-f]{64})`",
        page("rules.md"),
    )
    assert seed_line is not None and seed_line[1] == ZERO_SEED.hex()
    assert lot_order(["C1", "C2", "C3"], ZERO_SEED) == ["C3", "C2", "C1"]  # the page says so
    rows = text.splitlines()[2:]
    assert len(rows) >= 10
    decided = _decision_rows()
    for line in rows:
        case, *_, status, chosen, lot = _cells(line)
        round_no, counts = decided[case]
        outcome = decide(counts, round_no, ZERO_SEED)
        assert outcome.status == status, case
        names = [re.sub(r"\s*\(.*\)$", "", n) for n in chosen.split(", ")] if chosen != "-" else []
        if status == "elected":
            assert names == [outcome.winner], case
        elif status == "runoff":
            assert outcome.runoff is not None and names == list(outcome.runoff), case
        else:
            assert names == [] and outcome.winner is None and outcome.runoff is None, case
        assert (lot.split(", ") if lot != "-" else None) == (
            list(outcome.lot) if outcome.lot else None
        ), case


#: counts of the sentences under "More, from the same seed" whose case the table does not hold
MORE_CASES: dict[str, tuple[int, RoundCounts]] = {
    "three tied for first, with votes": (
        1, RoundCounts(200, 160, {"C1": 50, "C2": 50, "C3": 50}, 10)
    ),
    "a single candidate above half": (1, RoundCounts(200, 185, {"C1": 120}, 65)),
    "all-blank runoff": (2, RoundCounts(200, 150, {"C1": 0, "C2": 0}, 150)),
}
#: the table's case a sentence label stands for, where the label differs
SAME_AS = {
    "round-2 win": "runoff, no threshold",
    "void round 2 (the same sentence as round 1)": "runoff without quorum",
}


def _check_sentences(text: str) -> None:
    items = re.split(r"\n- ", "\n" + text)[1:]
    assert items
    decided = _decision_rows()
    for item in items:
        parts = re.fullmatch(r'(.*?): "(.*?)"(?: \(.*\))?', " ".join(item.split()))
        assert parts is not None, item
        label, sentence = parts.groups()
        round_no, counts = MORE_CASES.get(label) or decided[SAME_AS.get(label, label)]
        assert decide(counts, round_no, ZERO_SEED).reason == sentence, label


def check_reasons(text: str) -> None:
    _check_sentences(text)


def check_record_results(text: str) -> None:
    placeholders = re.sub(r'"<[^">]*>"', '"0"', text)
    results = json.loads(placeholders)
    unit = results["units"][0]
    for rd in unit["rounds"]:
        counts = RoundCounts(unit["registered"], rd["took_part"], rd["votes"], rd["blank"])
        outcome = decide(counts, rd["round"], ZERO_SEED).to_json()
        for field in ("status", "quorum", "winner", "runoff", "turnout", "shares", "lot"):
            assert rd[field] == outcome[field], field
        assert rd["candidates"] == list(rd["votes"])
    void = decide_void(12, 5, 1).reason
    assert f'("{void[:40]}' in " ".join(page("record.md").split()), "record.md's void sentence"
    assert void in " ".join(page("record.md").split())


CHECKS: dict[str, Callable[[str], None]] = {
    "formats-entry": check_entry,
    "formats-signed-bytes": check_signed_bytes,
    "formats-leaf-hash": check_leaf_hash,
    "formats-checkpoint-2": check_checkpoint_2,
    "formats-checkpoint-0": check_checkpoint_0,
    "formats-final": check_final,
    "formats-cosignature": check_cosignature,
    "formats-promise-0": check_promise_0,
    "formats-receipt-0": check_receipt_0,
    "formats-receipt-1": check_receipt_1,
    "formats-tlog-proof-0": check_tlog_proof_0,
    "formats-commission-request": check_commission_request,
    "api-checkpoint-2": check_checkpoint_2,
    "api-checkpoints": check_api_checkpoints,
    "api-inclusion-proof": check_api_inclusion_proof,
    "api-consistency": check_api_consistency,
    "api-receipt-0": check_receipt_0,
    "api-commission-request": check_commission_request,
    "api-commission-checkpoint": check_api_commission_checkpoint,
    "rules-percentages": check_percentages,
    "rules-lot-draw": check_lot_draw,
    "rules-decisions": check_decisions,
    "rules-reasons": check_reasons,
    "rules-reasons-more": check_reasons,
    "record-results": check_record_results,
    "rolls-file": check_roll,
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example(name: str) -> None:
    example = EXAMPLES.get(name)
    if example is None:
        pytest.fail(f"the example {name!r} is no longer marked in docs/ (<!-- example: {name} -->)")
    try:
        CHECKS[name](example.text)
    except Exception as exc:
        raise AssertionError(
            f"docs/{example.page}:{example.line}: the example {name!r} no longer matches the code "
            f"(print the current texts with .venv/bin/python -m tests.docs_examples): {exc!r}"
        ) from exc


def test_every_marked_example_is_checked() -> None:
    unchecked = sorted(set(EXAMPLES) - set(CHECKS))
    assert not unchecked, f"examples marked in docs/ with no check here: {unchecked}"


def test_a_drifted_example_fails() -> None:
    """The checks can fail: one changed character in a signed example, or a reason sentence
    the code would not write, is caught."""
    note = EXAMPLES["formats-checkpoint-2"].text.replace("15:55:07", "15:55:08")
    with pytest.raises(Exception, match=r"signature|verify"):
        check_checkpoint_2(note)
    # issue 27: the pages' checkpoints had no `time` line; signed by the page's key, still caught
    timeless = Checkpoint(gen.LOG_ORIGIN, 2, root(gen.LEAVES))
    untimed = sign_checkpoint(timeless, [(gen.LOG_KEY_NAME, gen.LOG_KEY)])
    with pytest.raises(CheckpointError, match="time"):
        check_checkpoint_2(untimed.removesuffix("\n"))
    receipt = EXAMPLES["formats-receipt-1"].text.replace('"index":1', '"index":0')
    with pytest.raises(AssertionError):
        check_receipt_1(receipt)
    reasons = EXAMPLES["rules-reasons"].text.replace("(86.49%)", "(86.49)")
    with pytest.raises(AssertionError):
        check_reasons(reasons)
    draw = EXAMPLES["rules-lot-draw"].text.replace("final size     = 4", "final size     = 5")
    with pytest.raises(AssertionError):
        check_lot_draw(draw)


def test_every_cited_vector_exists() -> None:
    cited: dict[str, str] = {}
    for path in [*sorted(DOCS.glob("*.md")), TOP / "README.md"]:
        for match in re.finditer(r"tests/vectors/[\w./-]*", path.read_text(encoding="utf-8")):
            cited.setdefault(match.group().rstrip("."), path.name)
    assert "tests/vectors/cross.json" in cited  # protocol.md 16's credentials
    missing = {p: where for p, where in cited.items() if not (TOP / p).exists()}
    assert not missing, f"docs cite test vectors that do not exist: {missing}"
