"""C2SP tlog checkpoints and tlog-proof receipts.

``tests/vectors/signed_note.json`` is a byte-identical copy of the project's shared test vectors
(``shared/testvectors/signed_note.json``); its valid note is a checkpoint.

The real checkpoint below was served by the Go checksum database, sum.golang.org, and quoted in
the Sigsum project's proposal sigsum/sigsum proposals/2023-01-checkpoint-format.md; its signature
verifies under sum.golang.org's published verifier key (the GOSUMDB default of the go command,
cmd/go/internal/modfetch/key.go), so it was made by Go's implementation, not ours.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.canonical import b64_encode
from crypto.checkpoint import (
    MAX_PROOF_HASHES,
    MAX_TREE_SIZE,
    TLOG_PROOF_HEADER,
    Checkpoint,
    CheckpointError,
    TlogProof,
    format_tlog_proof,
    open_checkpoint,
    parse_tlog_proof,
    sign_checkpoint,
    verify_tlog_proof,
)
from crypto.merkle import inclusion_proof, leaf_hash, root
from crypto.note import NoteError, NoteVerifier, add_signatures, parse_note, sign_note
from crypto.signing import SigningKey

VECTORS = json.loads((Path(__file__).parent / "vectors" / "signed_note.json").read_text("utf-8"))

SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_CHECKPOINT = (
    "go.sum database tree\n"
    "15368405\n"
    "/g9am3I6YWNKaZX/jkne1fqd9zEyjss+JXyPXG0WfkY=\n"
    "\n"
    "— sum.golang.org Az3grqJGUaSGukG9p8nI2vKgiFn7qGHxn0W+mrwyI6Gz3F0t1J3LzmWk/p96Ybf295Ejwd"
    "Swlzgijq5WA9d1Ded7owM=\n"
)

ORIGIN = "log.example/senate-2023/unit-7"
LOG_KEY = SigningKey.from_seed(b"\x01" * 32)
LOG = NoteVerifier.from_key(ORIGIN, LOG_KEY.public)
WITNESS_KEY = SigningKey.from_seed(b"\x02" * 32)
WITNESS = NoteVerifier.from_key("witness.example", WITNESS_KEY.public)


def entries(n: int) -> list[bytes]:
    return [leaf_hash(f"ballot {i}".encode()) for i in range(n)]


def signed_tree(n: int) -> tuple[list[bytes], str]:
    leaves = entries(n)
    cp = Checkpoint(ORIGIN, n, root(leaves))
    return leaves, sign_checkpoint(cp, [(ORIGIN, LOG_KEY)])


def receipt(leaves: list[bytes], note: str, index: int, extra: bytes | None = None) -> str:
    proof = inclusion_proof(leaves, index, len(leaves))
    return format_tlog_proof(TlogProof(index, tuple(proof), note, extra))


# --- checkpoints -----------------------------------------------------------------------------


def test_shared_vector_checkpoint() -> None:
    verifier = NoteVerifier.parse(VECTORS["verifier_key"])
    for case in VECTORS["valid"]:
        cp = open_checkpoint(case["note"], verifier, case["origin"])
        assert cp == Checkpoint(case["origin"], case["tree_size"], bytes.fromhex(case["root_hex"]))
        assert open_checkpoint(case["note"].encode(), verifier) == cp
        with pytest.raises(CheckpointError, match=r"not 'other\.example'"):
            open_checkpoint(case["note"], verifier, "other.example")
    for case in VECTORS["invalid"]:
        with pytest.raises(CheckpointError) as info:
            open_checkpoint(case["note"], verifier)
        assert isinstance(info.value.__cause__, NoteError)


def test_real_sumdb_checkpoint() -> None:
    verifier = NoteVerifier.parse(SUMDB_VKEY)
    cp = open_checkpoint(SUMDB_CHECKPOINT, verifier, "go.sum database tree")
    assert (cp.origin, cp.size, cp.extensions) == ("go.sum database tree", 15368405, ())
    assert b64_encode(cp.root) == "/g9am3I6YWNKaZX/jkne1fqd9zEyjss+JXyPXG0WfkY="
    with pytest.raises(CheckpointError, match="does not verify"):
        open_checkpoint(SUMDB_CHECKPOINT.replace("15368405", "15368406"), verifier)


def test_body_format() -> None:
    root_hash = bytes(range(32))
    cp = Checkpoint("example.com/log", 10, root_hash)
    assert cp.body() == "example.com/log\n10\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
    ext = Checkpoint("example.com/log", 0, root_hash, ("ext one", "ext two"))
    assert ext.body() == cp.body().replace("\n10\n", "\n0\n") + "ext one\next two\n"
    assert Checkpoint.parse(ext.body()) == ext
    assert Checkpoint.parse(cp.body().encode()) == cp
    big = Checkpoint("o", MAX_TREE_SIZE, root_hash)
    assert Checkpoint.parse(big.body()) == big


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("o\n08\nR\n", "leading zeros"),
        ("o\n00\nR\n", "leading zeros"),
        ("o\n-1\nR\n", "decimal"),
        ("o\n+1\nR\n", "decimal"),
        ("o\n 1\nR\n", "decimal"),
        ("o\n1 \nR\n", "decimal"),
        ("o\n1_0\nR\n", "decimal"),
        ("o\n\u0661\nR\n", "decimal"),  # ARABIC-INDIC DIGIT ONE: int() would take it
        ("o\n0x10\nR\n", "decimal"),
        ("o\n\nR\n", "decimal"),
        ("o\n9223372036854775808\nR\n", "2\\*\\*63"),
        ("o\n99999999999999999999999\nR\n", "decimal"),
        ("o\n1\n" + "A" * 42 + "==\n", "expected 32 bytes"),
        ("o\n1\n" + "A" * 43 + "\n", "invalid base64"),
        ("o\n1\n" + "A" * 42 + "B=\n", "non-canonical"),
        ("o\n1\nR\n\n", "extension lines must not be empty"),
        ("o\n1\nR\next\n\n", "extension lines must not be empty"),
        ("o\n1\nR", "end with a newline"),
        ("\n1\nR\n", "origin line is empty"),
        ("o\n1\n", "origin, tree size and root"),
        ("", "end with a newline"),
        ("o\t\n1\nR\n", "control character"),
        ("o\n1\nR\next\r\n", "control character"),
        ("o\ud800\n1\nR\n", "UTF-8"),
        (b"o\xff\n1\nR\n", "UTF-8"),
    ],
)
def test_parse_rejects(text: str | bytes, reason: str) -> None:
    good_root = "A" * 43 + "="
    if isinstance(text, str):
        text = text.replace("\nR\n", f"\n{good_root}\n").replace("\nR", f"\n{good_root}")
    with pytest.raises(CheckpointError, match=reason):
        Checkpoint.parse(text)


def test_checkpoint_fields_are_checked() -> None:
    r = bytes(32)
    calls: list[Callable[[], object]] = [
        lambda: Checkpoint("", 1, r),
        lambda: Checkpoint("a\nb", 1, r),
        lambda: Checkpoint("o", -1, r),
        lambda: Checkpoint("o", MAX_TREE_SIZE + 1, r),
        lambda: Checkpoint("o", True, r),
        lambda: Checkpoint("o", 1, r[:31]),
        lambda: Checkpoint("o", 1, r, ("",)),
        lambda: Checkpoint("o", 1, r, ("a\nb",)),
        lambda: Checkpoint("o", 1, r, ["x"]),  # type: ignore[arg-type]
        lambda: Checkpoint.parse(None),  # type: ignore[arg-type]
    ]
    for bad in calls:
        with pytest.raises(CheckpointError):
            bad()


def test_sign_and_open_checkpoint() -> None:
    cp = Checkpoint(ORIGIN, 3, root(entries(3)))
    note = sign_checkpoint(cp, [(ORIGIN, LOG_KEY)])
    assert parse_note(note).text == cp.body()
    assert open_checkpoint(note, LOG, ORIGIN) == cp
    # a witness cosignature is ignored by the log verifier, and checked by the witness verifier
    cosigned = add_signatures(note, [("witness.example", WITNESS_KEY)])
    assert open_checkpoint(cosigned, LOG) == cp
    assert open_checkpoint(cosigned, WITNESS) == cp
    with pytest.raises(CheckpointError, match="no signature from a known key"):
        open_checkpoint(note, WITNESS)
    with pytest.raises(CheckpointError, match=r"not 'log\.example/other'"):
        open_checkpoint(note, LOG, "log.example/other")
    with pytest.raises(CheckpointError, match="cannot sign"):
        sign_checkpoint(cp, [])
    # a note whose signed text is not a checkpoint
    not_cp = sign_note("hello\n", [(ORIGIN, LOG_KEY)])
    with pytest.raises(CheckpointError, match="origin, tree size and root"):
        open_checkpoint(not_cp, LOG)


# --- tlog proofs -----------------------------------------------------------------------------


def test_tlog_proof_format() -> None:
    h1, h2 = leaf_hash(b"hash1"), leaf_hash(b"hash2")
    _, note = signed_tree(10)
    text = format_tlog_proof(TlogProof(5, (h1, h2), note))
    assert text == f"{TLOG_PROOF_HEADER}\nindex 5\n{b64_encode(h1)}\n{b64_encode(h2)}\n\n{note}"
    with_extra = format_tlog_proof(TlogProof(10, (h1,), note, b"extra information"))
    assert with_extra == (
        f"{TLOG_PROOF_HEADER}\nextra {b64_encode(b'extra information')}\nindex 10\n"
        f"{b64_encode(h1)}\n\n{note}"
    )
    empty = format_tlog_proof(TlogProof(0, (), note))
    assert empty == f"{TLOG_PROOF_HEADER}\nindex 0\n\n{note}"
    for p in (
        TlogProof(5, (h1, h2), note),
        TlogProof(10, (h1,), note, b"extra information"),
        TlogProof(0, (), note),
        TlogProof(0, (), note, b""),
    ):
        assert parse_tlog_proof(format_tlog_proof(p)) == p
        assert parse_tlog_proof(format_tlog_proof(p).encode()) == p


def test_tlog_proof_verifies_for_every_leaf() -> None:
    for n in range(1, 10):
        leaves, note = signed_tree(n)
        for i in range(n):
            text = receipt(leaves, note, i)
            cp = verify_tlog_proof(text, leaves[i], LOG, ORIGIN)
            assert (cp.origin, cp.size, cp.root) == (ORIGIN, n, root(leaves))
            if n > 1:
                with pytest.raises(CheckpointError, match="does not lead to the checkpoint root"):
                    verify_tlog_proof(text, leaves[(i + 1) % n], LOG)


def test_tlog_proof_with_witness_and_extra() -> None:
    leaves, note = signed_tree(6)
    cosigned = add_signatures(note, [("witness.example", WITNESS_KEY)])
    extra = b"\x00vrf proof"
    text = receipt(leaves, cosigned, 4, extra=extra)
    assert verify_tlog_proof(text, leaves[4], LOG).size == 6
    assert verify_tlog_proof(text, leaves[4], WITNESS).size == 6
    assert parse_tlog_proof(text).extra == extra
    # the extra data is not authenticated: changing it changes nothing
    other = text.replace(f"extra {b64_encode(extra)}\n", f"extra {b64_encode(b'x')}\n")
    assert other != text
    assert verify_tlog_proof(other, leaves[4], LOG).size == 6


def test_tlog_proof_rejections() -> None:
    leaves, note = signed_tree(7)
    good = parse_tlog_proof(receipt(leaves, note, 2))
    proof = good.proof

    def check(p: TlogProof, leaf: bytes, reason: str, origin: str | None = None) -> None:
        with pytest.raises(CheckpointError, match=reason):
            verify_tlog_proof(format_tlog_proof(p), leaf, LOG, origin)

    check(good, leaves[3], "does not lead")
    check(TlogProof(3, proof, note), leaves[2], "does not lead")
    check(TlogProof(2, proof[:-1], note), leaves[2], "does not lead")
    check(TlogProof(2, (*proof, proof[0]), note), leaves[2], "does not lead")
    check(TlogProof(2, (proof[0], bytes(32), *proof[2:]), note), leaves[2], "does not lead")
    check(TlogProof(7, proof, note), leaves[2], "outside the tree of size 7")
    check(TlogProof(2, proof, note), leaves[2], "not 'log.example/other'", "log.example/other")
    # the right checkpoint signed under the log's name by another key
    impostor = SigningKey.from_seed(b"\x03" * 32)
    forged = sign_checkpoint(Checkpoint(ORIGIN, 7, root(leaves)), [(ORIGIN, impostor)])
    check(TlogProof(2, proof, forged), leaves[2], "no signature from a known key")
    # a tampered checkpoint, and one with an empty line slipped in front of it
    check(TlogProof(2, proof, note.replace("\n7\n", "\n8\n")), leaves[2], "does not verify")
    check(TlogProof(2, proof, "\n" + note), leaves[2], "does not verify")
    with pytest.raises(CheckpointError, match="leaf hash must be 32 bytes"):
        verify_tlog_proof(format_tlog_proof(good), leaves[2][:31], LOG)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "does not start with"),
        ("index 0\n\nNOTE", "does not start with"),
        ("c2sp.org/tlog-proof@v2\nindex 0\n\nNOTE", "does not start with"),
        ("c2sp.org/tlog-proof@v1\r\nindex 0\n\nNOTE", "does not start with"),
        ("c2sp.org/tlog-proof@v1\n\nNOTE", "no 'index' line"),
        ("c2sp.org/tlog-proof@v1\nindex\n\nNOTE", "no 'index' line"),
        ("c2sp.org/tlog-proof@v1\nindex 01\n\nNOTE", "leading zeros"),
        ("c2sp.org/tlog-proof@v1\nindex -1\n\nNOTE", "decimal"),
        ("c2sp.org/tlog-proof@v1\nindex 1 \n\nNOTE", "decimal"),
        ("c2sp.org/tlog-proof@v1\nindex 9223372036854775808\n\nNOTE", "2\\*\\*63"),
        ("c2sp.org/tlog-proof@v1\nindex  1\n\nNOTE", "decimal"),
        ("c2sp.org/tlog-proof@v1\nextra !!\nindex 0\n\nNOTE", "extra data: invalid base64"),
        ("c2sp.org/tlog-proof@v1\nextra AB==\nindex 0\n\nNOTE", "extra data: non-canonical"),
        ("c2sp.org/tlog-proof@v1\nindex 0\nextra AA==\n\nNOTE", "proof hash 0"),
        ("c2sp.org/tlog-proof@v1\nextra AA==\nextra AA==\nindex 0\n\nNOTE", "no 'index' line"),
        ("c2sp.org/tlog-proof@v1\nindex 0\nAAAA\n\nNOTE", "expected 32 bytes"),
        ("c2sp.org/tlog-proof@v1\nindex 0\nH\nH \n\nNOTE", "proof hash 1"),
        ("c2sp.org/tlog-proof@v1\nindex 0\nH\n", "no empty line"),
        ("c2sp.org/tlog-proof@v1\nindex 0\nH", "no empty line"),
        (
            "c2sp.org/tlog-proof@v1\nindex 0\n" + "H\n" * (MAX_PROOF_HASHES + 1) + "\nNOTE",
            "more than 63",
        ),
        ("c2sp.org/tlog-proof@v1\nindex 0\n\n", "checkpoint: note has no blank line"),
        ("c2sp.org/tlog-proof@v1\nindex 0\n\nNOTE\n", "checkpoint: note has no signature lines"),
        (
            "c2sp.org/tlog-proof@v1\nindex 0\n\nNOTE".replace("NOTE", "o\n1\nR\n\n— k AAAAAA==\n"),
            "too short",
        ),
        (b"c2sp.org/tlog-proof@v1\nindex 0\n\n\xff", "not valid UTF-8"),
    ],
)
def test_parse_tlog_proof_rejects(text: str | bytes, reason: str) -> None:
    _, note = signed_tree(1)
    if isinstance(text, str):
        text = text.replace("\nH", "\n" + b64_encode(bytes(32))).replace("NOTE", note)
    with pytest.raises(CheckpointError, match=reason):
        parse_tlog_proof(text)


def test_tlog_proof_fields_are_checked() -> None:
    _, note = signed_tree(1)
    h = bytes(32)
    calls: list[Callable[[], object]] = [
        lambda: TlogProof(-1, (), note),
        lambda: TlogProof(MAX_TREE_SIZE + 1, (), note),
        lambda: TlogProof(0, (h[:31],), note),
        lambda: TlogProof(0, (h,) * (MAX_PROOF_HASHES + 1), note),
        lambda: TlogProof(0, [h], note),  # type: ignore[arg-type]
        lambda: TlogProof(0, (), "not a note"),
        lambda: TlogProof(0, (), note, "extra"),  # type: ignore[arg-type]
        lambda: parse_tlog_proof(None),  # type: ignore[arg-type]
    ]
    for bad in calls:
        with pytest.raises(CheckpointError):
            bad()


# --- properties ------------------------------------------------------------------------------

_line = st.text(
    alphabet=st.characters(
        exclude_categories=["Cs"], exclude_characters=[chr(i) for i in range(32)]
    ),
    min_size=1,
    max_size=20,
)
_checkpoints = st.builds(
    Checkpoint,
    origin=_line,
    size=st.integers(0, MAX_TREE_SIZE),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(_line, max_size=3).map(tuple),
)


@settings(max_examples=200, deadline=None)
@given(_checkpoints)
def test_property_checkpoint_round_trip(cp: Checkpoint) -> None:
    assert Checkpoint.parse(cp.body()) == cp
    assert open_checkpoint(sign_checkpoint(cp, [(ORIGIN, LOG_KEY)]), LOG, cp.origin) == cp


_NOTE = signed_tree(5)[1]


@settings(max_examples=200, deadline=None)
@given(
    index=st.integers(0, MAX_TREE_SIZE),
    proof=st.lists(st.binary(min_size=32, max_size=32), max_size=MAX_PROOF_HASHES).map(tuple),
    extra=st.none() | st.binary(max_size=50),
)
def test_property_tlog_proof_round_trip(
    index: int, proof: tuple[bytes, ...], extra: bytes | None
) -> None:
    p = TlogProof(index, proof, _NOTE, extra)
    assert parse_tlog_proof(format_tlog_proof(p)) == p


def _mutations(base: bytes) -> st.SearchStrategy[bytes]:
    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        out = bytearray(base)
        for _ in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
            i = draw(st.integers(0, max(len(out) - 1, 0)))
            if op == "flip" and out:
                out[i] ^= draw(st.integers(1, 255))
            elif op == "insert":
                out[i:i] = draw(st.sampled_from([b"\n", b" ", b"0", b"=", b"\xe2\x80\x94", b"A"]))
            elif op == "delete" and out:
                del out[i]
            elif op == "cut":
                del out[i:]
        return bytes(out)

    return mutate()


_LEAVES, _TREE_NOTE = signed_tree(5)
_RECEIPT = receipt(_LEAVES, _TREE_NOTE, 3, extra=b"context")
_CP_BODY = Checkpoint(ORIGIN, 5, root(_LEAVES), ("ext",)).body()


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200),
        _mutations(_RECEIPT.encode()),
        _mutations(_CP_BODY.encode()),
        _mutations(_RECEIPT.encode()).map(lambda b: b.decode("utf-8", "replace")),
    )
)
def test_property_parsers_raise_only_checkpoint_error(value: str | bytes) -> None:
    for call in (
        lambda: Checkpoint.parse(value),
        lambda: parse_tlog_proof(value),
        lambda: verify_tlog_proof(value, _LEAVES[3], LOG, ORIGIN),
        lambda: open_checkpoint(value, LOG),
    ):
        with contextlib.suppress(CheckpointError):
            call()


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_property_receipt_byte_flip_is_rejected(data: st.DataObject) -> None:
    # every byte of a receipt matters except the unauthenticated extra line
    raw = _RECEIPT.encode()
    payload = raw.index(b"extra ") + len(b"extra ")
    payload_end = raw.index(b"\n", payload)
    i = data.draw(st.integers(0, len(raw) - 1).filter(lambda i: not payload <= i < payload_end))
    mask = data.draw(st.integers(1, 255))
    tampered = raw[:i] + bytes([raw[i] ^ mask]) + raw[i + 1 :]
    with pytest.raises(CheckpointError):
        verify_tlog_proof(tampered, _LEAVES[3], LOG, ORIGIN)


def test_checkpoint_profile_vectors() -> None:
    """kz-tally's extension lines, against the vector file the JS tests share."""
    import json
    from pathlib import Path

    from crypto.checkpoint import checkpoint_facts, profile_extensions

    path = Path(__file__).parent / "vectors" / "checkpoint_profile.json"
    for case in json.loads(path.read_text("utf-8"))["cases"]:
        cp = Checkpoint("o", 0, bytes(32), tuple(case["extensions"]))
        if case["ok"]:
            facts = checkpoint_facts(cp)
            assert facts.final is case["final"]
            assert profile_extensions(facts.time, facts.final) == cp.extensions
        else:
            with pytest.raises(CheckpointError):
                checkpoint_facts(cp)
    with pytest.raises(CheckpointError):
        profile_extensions("2023-01-14T04:45:00.000Z", False)
