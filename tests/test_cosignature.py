"""C2SP tlog-cosignature: the specification's example and vectors written down from it.

``tests/vectors/cosignature.json`` holds the example cosigned checkpoint of
c2sp.org/tlog-cosignature (its key ID, timestamp and signed message, read from the text of the
specification) and, for
keys made from seed bytes 00..1f, an Ed25519 ``cosignature/v1`` line (deterministic, so compared
byte for byte) and an ML-DSA-44 ``subtree/v1`` message and line (ML-DSA signing is randomised,
so the line is only checked to verify). The ML-DSA message is rebuilt here field by field from
the specification's ``cosigned_message`` structure, independently of the module.
"""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import pytest

from crypto.checkpoint import Checkpoint
from crypto.cosignature import (
    TYPE_ED25519,
    TYPE_MLDSA44,
    CosignatureError,
    Cosigner,
    CosignerKey,
    add_cosignatures,
    finality_checkpoint,
    finality_cosignatures,
    note_cosignatures,
    signed_message,
    split_timestamp,
    verify_cosignatures,
)
from crypto.note import NoteSignature, parse_note

VECTORS = json.loads(
    (Path(__file__).parent / "vectors" / "cosignature.json").read_text(encoding="utf-8")
)
SEED = bytes(range(32))
BODY = VECTORS["checkpoint_body"]
TS = VECTORS["timestamp"]


def _line(line: str) -> NoteSignature:
    return parse_note(BODY + "\n" + line).signatures[0]


def test_spec_example_key_id_and_timestamp() -> None:
    ex = VECTORS["spec_example"]
    sigs = parse_note(ex["note"]).signatures
    witness = next(s for s in sigs if s.name == ex["cosigner_name"])
    assert witness.key_hash.hex() == ex["key_id_hex"]
    timestamp, signature = split_timestamp(witness)
    assert timestamp == ex["timestamp"] == 1679315147
    assert len(signature) == 64
    cp = Checkpoint.parse(parse_note(ex["note"]).text)
    assert signed_message(TYPE_ED25519, "any", cp, timestamp) == ex["ed25519_message"].encode()


def test_ed25519_vector() -> None:
    v = VECTORS["ed25519"]
    signer = Cosigner(v["name"], TYPE_ED25519, bytes.fromhex(v["seed_hex"]))
    assert signer.public.public.hex() == v["public_key_hex"]
    assert signer.public.key_id.hex() == v["key_id_hex"]
    assert str(signer.public) == v["vkey"]
    assert CosignerKey.parse(v["vkey"]) == signer.public
    cp = Checkpoint.parse(BODY)
    assert signed_message(TYPE_ED25519, v["name"], cp, TS) == v["message"].encode()
    assert signer.cosign(cp, TS).line() == v["cosignature_line"]
    final = Checkpoint.parse(VECTORS["final_checkpoint_body"])
    assert signer.cosign(final, TS).line() == v["cosignature_line_final"]
    # key ID = SHA-256(name || 0x0A || 0x04 || key)[:4], computed here from the spec's formula
    import hashlib

    kid = hashlib.sha256(v["name"].encode() + b"\n\x04" + signer.public.public).digest()[:4]
    assert kid.hex() == v["key_id_hex"]


def test_mldsa44_vector() -> None:
    v = VECTORS["mldsa44"]
    key = CosignerKey.parse(v["vkey"])
    assert key.kind == TYPE_MLDSA44 and len(key.public) == 1312
    assert key.key_id.hex() == v["key_id_hex"]
    signer = Cosigner(v["name"], TYPE_MLDSA44, bytes.fromhex(v["seed_hex"]))
    assert signer.public == key
    cp = Checkpoint.parse(BODY)
    name, origin = v["name"].encode(), cp.origin.encode()
    expected = (
        b"subtree/v1\n\x00"
        + bytes([len(name)])
        + name
        + struct.pack(">Q", TS)
        + bytes([len(origin)])
        + origin
        + struct.pack(">QQ", 0, cp.size)
        + cp.root
    )
    assert expected.hex() == v["message_hex"]
    assert signed_message(TYPE_MLDSA44, v["name"], cp, TS) == expected
    sig = _line(v["cosignature_line"])
    timestamp, raw = split_timestamp(sig)
    assert timestamp == TS and len(raw) == 2420
    assert key.verify(cp, TS, raw)
    # a fresh signature verifies too
    _, fresh = split_timestamp(signer.cosign(cp, TS))
    assert key.verify(cp, TS, fresh)


@pytest.mark.parametrize("kind", [TYPE_ED25519, TYPE_MLDSA44])
def test_different_timestamp_or_body_fails(kind: int) -> None:
    signer = Cosigner("w.example/x", kind, SEED)
    cp = Checkpoint.parse(BODY)
    _, raw = split_timestamp(signer.cosign(cp, TS))
    assert signer.public.verify(cp, TS, raw)
    assert not signer.public.verify(cp, TS + 1, raw)
    assert not signer.public.verify(Checkpoint(cp.origin, cp.size + 1, cp.root), TS, raw)
    assert not signer.public.verify(Checkpoint(cp.origin, cp.size, bytes(32)), TS, raw)
    assert not signer.public.verify(Checkpoint(cp.origin + "x", cp.size, cp.root), TS, raw)
    flipped = bytes([raw[0] ^ 1]) + raw[1:]
    assert not signer.public.verify(cp, TS, flipped)


def test_extension_lines_bind_ed25519_only() -> None:
    """The specification: subtree/v1 does not sign extension lines; cosignature/v1 does."""
    cp = Checkpoint.parse(BODY)
    final = Checkpoint.parse(VECTORS["final_checkpoint_body"])
    ed = Cosigner("w.example/ed", TYPE_ED25519, SEED)
    pq = Cosigner("w.example/pq", TYPE_MLDSA44, SEED)
    _, ed_raw = split_timestamp(ed.cosign(cp, TS))
    _, pq_raw = split_timestamp(pq.cosign(cp, TS))
    assert not ed.public.verify(final, TS, ed_raw)
    assert pq.public.verify(final, TS, pq_raw)


def test_mldsa_binds_the_cosigner_name() -> None:
    pq = Cosigner("w.example/pq", TYPE_MLDSA44, SEED)
    other = CosignerKey("w.example/other", TYPE_MLDSA44, pq.public.public)
    cp = Checkpoint.parse(BODY)
    _, raw = split_timestamp(pq.cosign(cp, TS))
    assert not other.verify(cp, TS, raw)


def test_note_cosignatures_counts_known_keys_only() -> None:
    cp = Checkpoint.parse(BODY)
    a = Cosigner("w.example/a", TYPE_ED25519, bytes(32))
    b = Cosigner("w.example/b", TYPE_MLDSA44, bytes([1]) * 32)
    stranger = Cosigner("w.example/c", TYPE_ED25519, bytes([2]) * 32)
    lines = [s.cosign(cp, TS + i).line() for i, s in enumerate((a, b, stranger))]
    note = add_cosignatures(
        BODY + "\n" + VECTORS["spec_example"]["note"].split("\n\n")[1].split("\n")[0] + "\n",
        lines,
    )
    got_cp, valid = note_cosignatures(note, [a.public, b.public])
    assert got_cp == cp
    assert [c.cosigner for c in valid] == [a.public, b.public]
    assert [c.timestamp for c in valid] == [TS, TS + 1]
    # a tampered line from a known key rejects the note
    bad = note.replace(lines[0], _tamper(lines[0]))
    with pytest.raises(CosignatureError, match="does not verify"):
        note_cosignatures(bad, [a.public])
    # the same line twice is added once; a second different line from one key is refused
    assert add_cosignatures(note, lines) == note
    twice = note + a.cosign(cp, TS + 5).line()
    with pytest.raises(CosignatureError, match="more than once"):
        note_cosignatures(twice, [a.public])


def _tamper(line: str) -> str:
    prefix, blob = line.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(blob))
    raw[-1] ^= 1
    return f"{prefix} {base64.b64encode(bytes(raw)).decode()}\n"


def test_private_key_text_round_trip_and_repr() -> None:
    for kind in (TYPE_ED25519, TYPE_MLDSA44):
        signer = Cosigner.generate("w.example/k", kind)
        again = Cosigner.parse(signer.private_text())
        assert again.public == signer.public
        assert "PRIVATE" not in repr(signer)
    with pytest.raises(CosignatureError):
        material = base64.b64encode(b"\x04" + SEED).decode()
        Cosigner.parse("PRIVATE+KEY+w.example/k+00000000+" + material)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nameonly",
        "n+zzzzzzzz+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
        "witness.example/w1+e75f6533+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
        # type 0x01 is a log key, not a cosigner
        "witness.example/w1+e75f6532+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
        "witness.example/w1+e75f6532+BAOh",
        "bad name+e75f6532+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
    ],
)
def test_bad_vkeys(text: str) -> None:
    with pytest.raises(CosignatureError):
        CosignerKey.parse(text)


def test_bounds() -> None:
    signer = Cosigner("w.example/pq", TYPE_MLDSA44, SEED)
    cp = Checkpoint.parse(BODY)
    with pytest.raises(CosignatureError):
        signer.cosign(cp, -1)
    with pytest.raises(CosignatureError):
        signer.cosign(cp, 1 << 63)
    long_origin = Checkpoint("o" * 256, 1, bytes(32))
    with pytest.raises(CosignatureError, match="origin"):
        signer.cosign(long_origin, 1)
    big = NoteSignature("w", b"\0" * 4, b"\xff" * 8 + b"\0" * 64)
    with pytest.raises(CosignatureError, match="2\\*\\*63"):
        split_timestamp(big)


# --- finality statements (issue 24) -----------------------------------------------------------


def test_finality_vectors() -> None:
    """The worked example of docs/formats.md: the finality cosigners of the two vector keys,
    their signed messages (rebuilt here from the definition) and lines."""
    fin = VECTORS["finality"]
    final = Checkpoint.parse(VECTORS["final_checkpoint_body"])
    ed = Cosigner(VECTORS["ed25519"]["name"], TYPE_ED25519, SEED)
    pq = Cosigner(VECTORS["mldsa44"]["name"], TYPE_MLDSA44, SEED)
    import hashlib

    for signer, v, byte in ((ed, fin["ed25519"], b"\x04"), (pq, fin["mldsa44"], b"\x06")):
        key = signer.public.finality()
        assert key.name == v["name"] == signer.name + "/final"
        assert key.public == signer.public.public and key.kind == signer.kind
        kid = hashlib.sha256(v["name"].encode() + b"\n" + byte + key.public).digest()[:4]
        assert key.key_id.hex() == v["key_id_hex"] == kid.hex()
    assert str(ed.public.finality()) == fin["ed25519"]["vkey"]
    origin = final.origin + " final"
    ed_message = (
        f"cosignature/v1\ntime {TS}\n{origin}\n{final.size}\n"
        + base64.b64encode(final.root).decode()
        + "\ntime 2023-03-20T12:25:47Z\nfinal\n"
    )
    assert fin["ed25519"]["message"] == ed_message
    assert ed.cosign_final(final, TS).line() == fin["ed25519"]["cosignature_line"]
    name = fin["mldsa44"]["name"].encode()
    pq_message = (
        b"subtree/v1\n\x00"
        + bytes([len(name)])
        + name
        + struct.pack(">Q", TS)
        + bytes([len(origin)])
        + origin.encode()
        + struct.pack(">QQ", 0, final.size)
        + final.root
    )
    assert pq_message.hex() == fin["mldsa44"]["message_hex"]
    for signer, v in ((ed, fin["ed25519"]), (pq, fin["mldsa44"])):
        sig = _line(v["cosignature_line"])
        assert (sig.name, sig.key_hash.hex()) == (v["name"], v["key_id_hex"])
        valid = finality_cosignatures(final, [sig], [signer.public])
        assert [(c.cosigner, c.timestamp) for c in valid] == [(signer.public, TS)]


@pytest.mark.parametrize("kind", [TYPE_ED25519, TYPE_MLDSA44])
def test_ordinary_and_finality_cosignatures_never_stand_for_each_other(kind: int) -> None:
    """An ordinary cosignature, renamed to the finality cosigner (its key ID recomputed), does
    not verify as a finality statement; a finality statement does not verify as an ordinary
    cosignature; nor does a finality statement of one final verify on another size or root."""
    signer = Cosigner("w.example/x", kind, SEED)
    final = Checkpoint.parse(VECTORS["final_checkpoint_body"])
    ordinary = signer.cosign(final, TS)
    finality = signer.cosign_final(final, TS)
    fkey = signer.public.finality()
    renamed = NoteSignature(fkey.name, fkey.key_id, ordinary.signature)
    with pytest.raises(CosignatureError, match="does not verify"):
        finality_cosignatures(final, [renamed], [signer.public])
    as_ordinary = NoteSignature(signer.name, signer.public.key_id, finality.signature)
    with pytest.raises(CosignatureError, match="does not verify"):
        verify_cosignatures(final, [as_ordinary], [signer.public])
    # ordinary lines are not finality lines (another key ID): ignored, not counted
    assert finality_cosignatures(final, [ordinary], [signer.public]) == []
    assert verify_cosignatures(final, [finality], [signer.public]) == []
    for other in (
        Checkpoint(final.origin, final.size - 1, final.root, final.extensions),
        Checkpoint(final.origin, final.size, bytes(32), final.extensions),
        Checkpoint(final.origin + "x", final.size, final.root, final.extensions),
    ):
        with pytest.raises(CosignatureError, match="does not verify"):
            finality_cosignatures(other, [finality], [signer.public])


def test_finality_checkpoint_only_for_a_final_and_never_of_a_finality_origin() -> None:
    plain = Checkpoint.parse(BODY)
    final = Checkpoint.parse(VECTORS["final_checkpoint_body"])
    signer = Cosigner("w.example/x", TYPE_ED25519, SEED)
    assert finality_checkpoint(final).origin == final.origin + " final"
    assert finality_checkpoint(final).extensions == final.extensions
    for bad in (plain, Checkpoint(final.origin + " final", 1, final.root, final.extensions)):
        with pytest.raises(CosignatureError):
            finality_checkpoint(bad)
        with pytest.raises(CosignatureError):
            signer.cosign_final(bad, TS)
    with pytest.raises(CosignatureError):
        finality_cosignatures(plain, [], [signer.public])


def test_finality_key_is_made_once_and_keeps_the_class() -> None:
    key = Cosigner("w.example/x", TYPE_ED25519, SEED).public
    assert key.finality() is key.finality()
    assert key.finality() != key and key.finality().key_id != key.key_id


# --- checks a mutant could weaken (issue 24, "Tests that pin the checks") ---------------------


@pytest.mark.parametrize("kind", [TYPE_ED25519, TYPE_MLDSA44])
def test_a_signature_of_the_wrong_length_never_verifies(kind: int) -> None:
    """A cosignature with no signature bytes (or one byte short or long) must not count toward
    a quorum: ``verify`` is False, and in a note the line fails."""
    signer = Cosigner("w.example/x", kind, SEED)
    cp = Checkpoint.parse(BODY)
    _, raw = split_timestamp(signer.cosign(cp, TS))
    assert signer.public.verify(cp, TS, raw)
    for wrong in (b"", raw[:-1], raw + b"\0", raw[:64] if kind == TYPE_MLDSA44 else raw * 2):
        assert signer.public.verify(cp, TS, wrong) is False
    key_id = signer.public.key_id
    for blob in (struct.pack(">Q", TS), struct.pack(">Q", TS) + raw[:-1]):
        line = NoteSignature(signer.name, key_id, blob)
        with pytest.raises(CosignatureError, match="does not verify"):
            verify_cosignatures(cp, [line], [signer.public])


def test_timestamps_are_ints_in_range() -> None:
    signer = Cosigner("w.example/x", TYPE_ED25519, SEED)
    cp = Checkpoint.parse(BODY)
    final = Checkpoint.parse(VECTORS["final_checkpoint_body"])
    for bad in (True, 1.0, "1", -1, 1 << 63):
        with pytest.raises(CosignatureError, match="timestamp"):
            signer.cosign(cp, bad)  # type: ignore[arg-type]
        with pytest.raises(CosignatureError, match="timestamp"):
            signer.cosign_final(final, bad)  # type: ignore[arg-type]
        with pytest.raises(CosignatureError, match="timestamp"):
            signed_message(TYPE_ED25519, "w", cp, bad)  # type: ignore[arg-type]
    top = (1 << 63) - 1
    assert signer.public.verify(cp, top, split_timestamp(signer.cosign(cp, top))[1])
    assert split_timestamp(NoteSignature("w", b"\0" * 4, struct.pack(">Q", top)))[0] == top
    for short in (b"", b"\0" * 7):
        with pytest.raises(CosignatureError, match="too short"):
            split_timestamp(NoteSignature("w", b"\0" * 4, short))


def test_an_origin_of_255_bytes_is_the_subtree_limit() -> None:
    signer = Cosigner("w.example/pq", TYPE_MLDSA44, SEED)
    cp = Checkpoint("o" * 255, 1, bytes(32))
    assert signer.public.verify(cp, 1, split_timestamp(signer.cosign(cp, 1))[1])
    with pytest.raises(CosignatureError, match="name"):
        signed_message(TYPE_MLDSA44, "n" * 256, cp, 1)
    with pytest.raises(CosignatureError, match="unknown cosignature type"):
        signed_message(0x05, "w", cp, 1)


def test_cosigner_keys_are_checked_when_made() -> None:
    good = Cosigner("w.example/x", TYPE_ED25519, SEED).public
    pq = Cosigner("w.example/x", TYPE_MLDSA44, SEED).public
    for kind, public in (
        (0x05, good.public),  # not a cosigner type
        (0x01, good.public),  # a log key's type
        (TYPE_ED25519, good.public[:31]),
        (TYPE_ED25519, good.public + b"\0"),
        (TYPE_ED25519, bytes(32)),  # small order: not a valid Ed25519 key
        (TYPE_ED25519, b"\x01" + bytes(31)),  # the identity point
        (TYPE_MLDSA44, pq.public[:-1]),
        (TYPE_MLDSA44, good.public),
        (TYPE_ED25519, pq.public),
    ):
        with pytest.raises(CosignatureError):
            CosignerKey("w.example/x", kind, public)
    for kind, public in ((TYPE_MLDSA44, pq.public[:-1]), (TYPE_ED25519, good.public[:31])):
        with pytest.raises(CosignatureError, match=f"has {len(public) + 1} bytes"):
            CosignerKey("w.example/x", kind, public)  # the message says what is wrong
    with pytest.raises(CosignatureError):
        CosignerKey("bad name", TYPE_ED25519, good.public)
    with pytest.raises(CosignatureError):
        CosignerKey("w.example/x", TYPE_ED25519, bytearray(good.public))  # type: ignore[arg-type]


def test_vkey_text_is_read_strictly() -> None:
    vkey = VECTORS["ed25519"]["vkey"]
    name, key_id, material = vkey.split("+", 2)
    assert CosignerKey.parse(vkey).key_id.hex() == key_id
    for bad in (
        f"{name}+{key_id.upper()}+{material}",  # the key ID is lowercase hex
        f"{name}+{key_id[:7]}+{material}",
        f"{name}+{key_id}0+{material}",
        f"{name}+{key_id}+",  # no key material
        f"{name}+{key_id}+{material}=",  # not canonical base64
        f"{name}+{key_id}",
        None,
        b"bytes",
    ):
        with pytest.raises(CosignatureError):
            CosignerKey.parse(bad)
    with pytest.raises(CosignatureError, match="lowercase"):  # said as such, not as a mismatch
        CosignerKey.parse(f"{name}+{key_id.upper()}+{material}")


def test_private_key_text_is_read_strictly() -> None:
    signer = Cosigner("w.example/k", TYPE_ED25519, SEED)
    text = signer.private_text()
    assert Cosigner.parse("  " + text + "\n").public == signer.public
    prefix, rest = text[: len("PRIVATE+KEY+")], text[len("PRIVATE+KEY+") :]
    name, key_id, material = rest.split("+", 2)
    short = base64.b64encode(b"\x04" + SEED[:31]).decode()
    long = base64.b64encode(b"\x04" + SEED + b"\0").decode()
    for bad in (
        rest,  # no PRIVATE+KEY+ prefix
        f"{prefix}{name}+{key_id}",
        f"{prefix}{name}+{key_id}+{short}",
        f"{prefix}{name}+{key_id}+{long}",
        f"{prefix}{name}+{key_id}+not base64!",
        f"{prefix}{name}+00000000+{material}",
        f"{prefix}other.example/k+{key_id}+{material}",  # the key ID binds the name
    ):
        with pytest.raises(CosignatureError):
            Cosigner.parse(bad)
    for kind, seed in ((0x05, SEED), (TYPE_ED25519, SEED[:31]), (TYPE_MLDSA44, SEED + b"\0")):
        with pytest.raises(CosignatureError):
            Cosigner("w.example/k", kind, seed)


def test_lines_of_unknown_keys_are_skipped_wherever_they_stand() -> None:
    """An unknown line before the known ones does not end the reading (``continue``, not
    ``break``), and keys that are not CosignerKeys are refused."""
    cp = Checkpoint.parse(BODY)
    a = Cosigner("w.example/a", TYPE_ED25519, SEED)
    stranger = Cosigner("w.example/s", TYPE_ED25519, bytes([3]) * 32)
    lines = [stranger.cosign(cp, TS), a.cosign(cp, TS)]
    assert [c.cosigner for c in verify_cosignatures(cp, lines, [a.public])] == [a.public]
    renamed = NoteSignature("w.example/b", a.public.key_id, a.cosign(cp, TS).signature)
    assert verify_cosignatures(cp, [renamed], [a.public]) == []  # the name is part of the key
    with pytest.raises(CosignatureError, match="CosignerKey"):
        verify_cosignatures(cp, lines, [str(a.public)])  # type: ignore[list-item]


def test_add_cosignatures_takes_only_whole_signature_lines() -> None:
    cp = Checkpoint.parse(BODY)
    note = BODY + "\n" + VECTORS["spec_example"]["note"].split("\n\n")[1].split("\n")[0] + "\n"
    line = Cosigner("w.example/a", TYPE_ED25519, SEED).cosign(cp, TS).line()
    assert add_cosignatures(note, [line]) == note + line
    for bad in (line.rstrip("\n"), line + "\n", line + line, "not a signature line\n"):
        with pytest.raises(CosignatureError):
            add_cosignatures(note, [bad])
    with pytest.raises(CosignatureError, match="checkpoint note"):
        add_cosignatures("no note here", [line])


def test_malformed_notes_are_cosignature_errors() -> None:
    for bad in ("", "x\n\n", BODY, BODY.replace("20852163", "-1") + "\n— x AAAA\n", b"\xff"):
        with pytest.raises(CosignatureError, match="checkpoint note"):
            note_cosignatures(bad, [])


def test_edges_that_must_stay_accepted() -> None:
    """Timestamp 0, a one-byte origin, a private key whose base64 holds '+', one line given
    twice in one call (added once): valid input, kept valid."""
    cp = Checkpoint("o", 1, bytes(32))
    for kind in (TYPE_ED25519, TYPE_MLDSA44):
        signer = Cosigner("w.example/x", kind, bytes([0xFB]) * 32)
        assert "+" in signer.private_text()[len("PRIVATE+KEY+w.example/x+12345678+") :]
        assert Cosigner.parse(signer.private_text()).public == signer.public
        _, raw = split_timestamp(signer.cosign(cp, 0))
        assert signer.public.verify(cp, 0, raw)
    note = BODY + "\n" + VECTORS["spec_example"]["note"].split("\n\n")[1].split("\n")[0] + "\n"
    line = Cosigner("w.example/a", TYPE_ED25519, SEED).cosign(Checkpoint.parse(BODY), TS).line()
    assert add_cosignatures(note, [line, line]) == note + line
