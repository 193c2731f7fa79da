"""C2SP signed notes: the project's shared vectors, independent published notes, round trips.

``tests/vectors/signed_note.json`` is a byte-identical copy of the project's shared test vectors
(``shared/testvectors/signed_note.json``): a checkpoint note signed by a key made from seed bytes
00..1f, and tampered copies that must be rejected.

Notes made by other implementations, quoted exactly from where they were published:

- the PeterNeumann and EnochRoot keys and signatures from the reference implementation's tests,
  golang.org/x/mod/sumdb/note, file note_test.go (TestSign, TestOpen, TestNewVerifier);
- the example at the end of the C2SP specification, c2sp.org/signed-note, section "Verifier
  keys", "Example".
"""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.canonical import sha256
from crypto.note import (
    MAX_LINE_SIZE,
    MAX_NOTE_SIZE,
    MAX_SIGNATURES,
    Note,
    NoteError,
    NoteSignature,
    NoteVerifier,
    VerifiedNote,
    add_signatures,
    key_hash,
    parse_note,
    sign_note,
    verifier_key,
    verify_note,
)
from crypto.signing import SigningKey, VerifyKey

VECTORS = json.loads((Path(__file__).parent / "vectors" / "signed_note.json").read_text("utf-8"))

# --- golang.org/x/mod/sumdb/note, note_test.go -----------------------------------------------
GO_PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb"
    "6KE6RyyBwJnAM=\n"
)
GO_ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WW"
    "d1RvMc+QQ=\n"
)

# --- c2sp.org/signed-note, "Verifier keys" / "Example" ---------------------------------------
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n"
    "\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuw"
    "HjG1Yu72IneyaQM=\n"
)


def go_peter_signing_key() -> SigningKey:
    # Go's private key text: PRIVATE+KEY+name+hash+base64(0x01 || 32-byte Ed25519 seed)
    material = base64.b64decode(GO_PETER_SKEY.split("+", 4)[4])
    assert material[0] == 0x01
    return SigningKey.from_seed(material[1:])


def seeded(i: int) -> SigningKey:
    return SigningKey.from_seed(bytes([i]) * 32)


# --- the project's shared vectors ------------------------------------------------------------


def test_shared_vector_key() -> None:
    key = VerifyKey.from_hex(VECTORS["public_key_hex"])
    name = VECTORS["key_name"]
    assert key == SigningKey.from_seed(bytes(range(32))).public
    assert verifier_key(name, key) == VECTORS["verifier_key"]
    assert key_hash(name, key).hex() == VECTORS["key_hash_hex"]
    parsed = NoteVerifier.parse(VECTORS["verifier_key"])
    assert parsed == NoteVerifier(name, bytes.fromhex(VECTORS["key_hash_hex"]), key)
    assert str(parsed) == VECTORS["verifier_key"]


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda c: c["origin"])
def test_shared_vector_valid(case: dict[str, object]) -> None:
    verifier = NoteVerifier.parse(VECTORS["verifier_key"])
    note = case["note"]
    assert isinstance(note, str)
    for form in (note, note.encode("utf-8")):
        verified = verify_note(form, [verifier])
        assert verified.verified_by == (VECTORS["key_name"],)
        assert verified.text == note[: note.rindex("\n\n") + 1]
        assert verified.text.splitlines()[:2] == [case["origin"], str(case["tree_size"])]
    # signing the same text with the same key reproduces the note (Ed25519 is deterministic)
    key = SigningKey.from_seed(bytes(range(32)))
    assert sign_note(verified.text, [(VECTORS["key_name"], key)]) == note


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["why"])
def test_shared_vector_invalid(case: dict[str, str]) -> None:
    verifier = NoteVerifier.parse(VECTORS["verifier_key"])
    with pytest.raises(NoteError):
        verify_note(case["note"], [verifier])
    with pytest.raises(NoteError):
        verify_note(case["note"].encode("utf-8"), [verifier])


# --- notes from other implementations --------------------------------------------------------


def test_go_reference_note_verifies() -> None:
    peter = NoteVerifier.parse(GO_PETER_VKEY)
    enoch = NoteVerifier.parse(GO_ENOCH_VKEY)
    assert peter.key_hash == bytes.fromhex("c74f20a3")
    note = GO_TEXT + "\n" + GO_PETER_SIG + GO_ENOCH_SIG
    assert verify_note(note, [peter]) == VerifiedNote(GO_TEXT, ("PeterNeumann",))
    assert verify_note(note, [enoch]) == VerifiedNote(GO_TEXT, ("EnochRoot",))
    assert verify_note(note, [enoch, peter]).verified_by == ("PeterNeumann", "EnochRoot")
    with pytest.raises(NoteError, match="no signature from a known key"):
        verify_note(note, [])


def test_go_reference_signature_is_reproduced() -> None:
    key = go_peter_signing_key()
    assert verifier_key("PeterNeumann", key.public) == GO_PETER_VKEY
    assert sign_note(GO_TEXT, [("PeterNeumann", key)]) == GO_TEXT + "\n" + GO_PETER_SIG
    # cosigning Enoch's note keeps his line and adds Peter's after it
    cosigned = add_signatures(GO_TEXT + "\n" + GO_ENOCH_SIG, [("PeterNeumann", key)])
    assert cosigned == GO_TEXT + "\n" + GO_ENOCH_SIG + GO_PETER_SIG


def test_go_reference_bad_messages() -> None:
    # the "Invalid encoded message syntax" table of TestOpen, plus its invalid signature case
    peter = NoteVerifier.parse(GO_PETER_VKEY)
    bad: list[str | bytes] = [
        GO_TEXT,
        GO_TEXT + "\n",
        GO_TEXT + "\n" + GO_PETER_SIG[:-1],
        "\x01" + GO_TEXT + "\n" + GO_PETER_SIG,
        b"\xff" + (GO_TEXT + "\n" + GO_PETER_SIG).encode(),
        GO_TEXT
        + "\n"
        + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpR"
        + "Zb6KE6RyyBwJnAM=",
        GO_TEXT + "\n" + GO_PETER_SIG + "Unexpected line.\n",
        GO_TEXT + "\n" + GO_PETER_SIG[:60] + "ABCD" + GO_PETER_SIG[60:],
        GO_TEXT + "\n" + GO_PETER_SIG * (MAX_SIGNATURES + 1),
    ]
    for msg in bad:
        with pytest.raises(NoteError):
            verify_note(msg, [peter])


def test_go_reference_unknown_repeats_are_ignored_known_repeats_rejected() -> None:
    peter = NoteVerifier.parse(GO_PETER_VKEY)
    enoch_abcd = GO_ENOCH_SIG[:60] + "ABCD" + GO_ENOCH_SIG[60:]
    # unknown keys' lines are skipped, repeated or not, valid or not
    note = GO_TEXT + "\n" + GO_PETER_SIG + GO_ENOCH_SIG + GO_ENOCH_SIG + enoch_abcd
    assert verify_note(note, [peter]).verified_by == ("PeterNeumann",)
    # the reference implementation drops a repeated signature by a known key; we reject it
    with pytest.raises(NoteError, match="more than once"):
        verify_note(GO_TEXT + "\n" + GO_PETER_SIG + GO_PETER_SIG, [peter])
    # and a bad signature from a known key is fatal even if unknown ones are fine
    enoch = NoteVerifier.parse(GO_ENOCH_VKEY)
    enoch_bad = GO_ENOCH_SIG.replace("eBzmZa0", "eBznZa0")
    with pytest.raises(NoteError, match=r"EnochRoot\+af0cfe78 does not verify"):
        verify_note(GO_TEXT + "\n" + GO_PETER_SIG + enoch_bad, [peter, enoch])
    with pytest.raises(NoteError, match=r"EnochRoot\+af0cfe78 is not 64 bytes"):
        verify_note(GO_TEXT + "\n" + GO_PETER_SIG + enoch_abcd, [peter, enoch])


def test_go_reference_vkey_manglings_rejected() -> None:
    # TestNewVerifier: every proper substring and every single-byte increment is rejected
    b = GO_PETER_VKEY.encode()
    candidates: set[bytes] = set()
    for i in range(len(b) + 1):
        for j in range(i + 1, len(b) + 1):
            if (i, j) != (0, len(b)):
                candidates.add(b[i:j])
    for i in range(len(b)):
        candidates.add(b[:i] + bytes([b[i] + 1]) + b[i + 1 :])
    for candidate in candidates:
        with pytest.raises(NoteError):
            NoteVerifier.parse(candidate.decode())
    # wrong key length and unknown algorithm, each with a key ID adjusted to match (Go's base64
    # decoder takes the first one; its last character has stray low bits, so ours stops earlier)
    with pytest.raises(NoteError, match="non-canonical base64"):
        NoteVerifier.parse(
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY=="
        )
    with pytest.raises(NoteError, match="unsupported signature type 0x65"):
        NoteVerifier.parse("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")


def test_c2sp_spec_example() -> None:
    verifier = NoteVerifier.parse(C2SP_VKEY)
    assert verify_note(C2SP_NOTE, [verifier]) == VerifiedNote(
        "This is an example message.\n", ("example.com/foo",)
    )
    with pytest.raises(NoteError, match="does not verify"):
        verify_note(C2SP_NOTE.replace("an example", "an exemple"), [verifier])


# --- structure -------------------------------------------------------------------------------


def signed(text: str = "hello\n", name: str = "a.example") -> tuple[str, NoteVerifier]:
    key = seeded(1)
    return sign_note(text, [(name, key)]), NoteVerifier.from_key(name, key.public)


def test_parse_note_structure() -> None:
    note, v = signed("line one\n\nline three\n")
    parsed = parse_note(note)
    assert parsed.text == "line one\n\nline three\n"
    assert len(parsed.signatures) == 1
    sig = parsed.signatures[0]
    assert (sig.name, sig.key_hash, len(sig.signature)) == ("a.example", v.key_hash, 64)
    assert parse_note(note.encode()) == parsed
    assert note == parsed.text + "\n" + sig.line()
    # text made only of a newline, and texts ending in blank lines, split at the last blank line
    for text in ("\n", "a\n\n", "a\n\n\n"):
        note, v = signed(text)
        assert parse_note(note).text == text
        assert verify_note(note, [v]).text == text


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        (b"hello\n\n\xe2\x80\x94 a.example AAAA\xff\n", "not valid UTF-8"),
        ("hello\ud800\n\n— a.example AAAAAA==\n", "not valid UTF-8"),
        ("hel\tlo\n\n— a.example AAAAAA==\n", "control character U\\+0009"),
        ("hello\r\n\n— a.example AAAAAA==\n", "control character U\\+000D"),
        ("hello\n— a.example AAAAAA==\n", "no blank line"),
        ("", "no blank line"),
        ("hello\n\n", "no signature lines"),
        ("hello\n\n— a.example AAAAAA==", "does not end with a newline"),
        ("hello\n\n- a.example AAAAAA==\n", "em dash"),
        ("hello\n\n—a.example AAAAAA==\n", "em dash"),
        ("hello\n\n— a.example\n", "no signature after the key name"),
        ("hello\n\n— a.example \n", "no signature after the key name"),
        ("hello\n\n—  AAAAAA==\n", "must not be empty"),
        ("hello\n\n— a+b AAAAAA==\n", "contains '\\+'"),
        ("hello\n\n— a\u00a0b AAAAAA==\n", "space"),
        ("hello\n\n— a.example AAAAAA=\n", "invalid base64"),
        ("hello\n\n— a.example AAAAAB==\n", "non-canonical base64"),
        ("hello\n\n— a.example AAAAAA== \n", "invalid base64"),
        ("hello\n\n— a.example AAAAAA==\n\n", "no signature lines"),
        ("hello\n\n— a.example AAAAAA\n", "invalid base64"),
        ("hello\n\n— a.example AAAAAA==\n", "too short"),
        ("hello\n\n" + "— a.example AAAAAAAA\n" * (MAX_SIGNATURES + 1), "more than 100"),
        ("x" * (MAX_NOTE_SIZE + 1), "larger than"),
        (b"x" * (MAX_NOTE_SIZE + 1), "larger than"),
        ("é" * (MAX_NOTE_SIZE // 2 + 1), "larger than"),
        ("x" * (MAX_LINE_SIZE + 1) + "\n\n— a.example AAAAAAAA\n", "line longer than"),
    ],
)
def test_parse_note_rejects(note: str | bytes, reason: str) -> None:
    with pytest.raises(NoteError, match=reason):
        parse_note(note)
    with pytest.raises(NoteError, match=reason):
        verify_note(note, [signed()[1]])


def test_parse_note_rejects_non_text() -> None:
    for value in (None, 42, ["a"], bytearray(b"\xff")):
        with pytest.raises(NoteError):
            parse_note(value)  # type: ignore[arg-type]


def test_limits_are_inclusive() -> None:
    key = seeded(1)
    v = NoteVerifier.from_key("k", key.public)
    long_line = "x" * MAX_LINE_SIZE + "\n"
    assert verify_note(sign_note(long_line, [("k", key)]), [v]).text == long_line
    with pytest.raises(NoteError, match="line longer"):
        sign_note("x" + long_line, [("k", key)])
    signers = [(f"k{i}", seeded(i % 250 + 1)) for i in range(MAX_SIGNATURES)]
    note = sign_note("t\n", signers)
    verifiers = [NoteVerifier.from_key(n, k.public) for n, k in signers]
    assert len(verify_note(note, verifiers).verified_by) == MAX_SIGNATURES
    with pytest.raises(NoteError, match="at most 100"):
        add_signatures(note, [("one-more", seeded(1))])
    big = ("y" * 999 + "\n") * (MAX_NOTE_SIZE // 1000)  # fits alone, not with 10 signatures
    assert verify_note(sign_note(big, signers[:1]), verifiers[:1]).text == big
    with pytest.raises(NoteError, match="larger than"):
        sign_note(big, signers[:10])


def _note_of_size(size: int, key: SigningKey) -> str:
    """A note of exactly ``size`` bytes: lines of 1,000 bytes, then one that makes up the rest,
    then the blank line and a signature by "k" (valid while the size is within the limit)."""
    signature_line = sign_note("t\n", [("k", key)]).split("\n\n")[1]
    room = size - len(signature_line.encode()) - 1  # the text, its last newline included
    text = "y" * 999 + "\n"
    text = text * (room // 1000 - 1) + "z" * (room % 1000 + 999) + "\n"
    assert len(text) == room
    if size <= MAX_NOTE_SIZE:
        note = sign_note(text, [("k", key)])
    else:  # the signature of a text one byte too long, made by hand: sign_note refuses it
        note = sign_note(text[:-2] + "\n", [("k", key)])
        note = text + "\n" + note.split("\n\n")[1]
    assert len(note.encode()) == size
    return note


def test_note_size_limit_at_its_edge() -> None:
    key = seeded(3)
    v = NoteVerifier.from_key("k", key.public)
    exactly = _note_of_size(MAX_NOTE_SIZE, key)
    assert verify_note(exactly, [v]).verified_by == ("k",)
    assert verify_note(exactly.encode(), [v]).verified_by == ("k",)
    assert parse_note(exactly).signatures[0].name == "k"
    one_more = _note_of_size(MAX_NOTE_SIZE + 1, key)
    for form in (one_more, one_more.encode()):
        with pytest.raises(NoteError, match=f"note is larger than {MAX_NOTE_SIZE} bytes"):
            parse_note(form)
        with pytest.raises(NoteError, match=f"note is larger than {MAX_NOTE_SIZE} bytes"):
            verify_note(form, [v])
    text = exactly.split("\n\n")[0] + "\n"
    with pytest.raises(NoteError, match="larger than"):
        sign_note(text + "x\n", [("k", key)])


@pytest.mark.parametrize("filler", ["x", "x ", " x", "\u00e9 "])
def test_line_limit_counts_every_byte_of_a_line(filler: str) -> None:
    """Spaces are part of a line: only a newline ends one (a line of words is no shorter)."""
    key = seeded(4)
    v = NoteVerifier.from_key("k", key.public)
    width = len(filler.encode())
    line = filler * (MAX_LINE_SIZE // width)
    line += "x" * (MAX_LINE_SIZE - len(line.encode()))
    assert len(line.encode()) == MAX_LINE_SIZE
    note = sign_note("origin\n" + line + "\n", [("k", key)])
    assert verify_note(note, [v]).text == "origin\n" + line + "\n"
    too_long = "origin\n" + line + "x\n"
    with pytest.raises(NoteError, match=f"note text has a line longer than {MAX_LINE_SIZE} bytes"):
        sign_note(too_long, [("k", key)])
    forged = too_long + "\n" + note.split("\n\n")[1]
    with pytest.raises(NoteError, match=f"note has a line longer than {MAX_LINE_SIZE} bytes"):
        parse_note(forged)


# --- verification rules ----------------------------------------------------------------------


def test_unknown_keys_sharing_name_or_id_are_ignored() -> None:
    key, other = seeded(1), seeded(2)
    v = NoteVerifier.from_key("log.example", key.public)
    note = sign_note("t\n", [("log.example", key)])
    # same name, other key (so other key ID): ignored
    same_name = add_signatures(note, [("log.example", other)])
    assert len(parse_note(same_name).signatures) == 2
    assert verify_note(same_name, [v]).verified_by == ("log.example",)
    # same key ID, other name: ignored
    kh = parse_note(note).signatures[0].key_hash
    forged = NoteSignature("witness.example", kh, other.sign_raw(b"t\n"))
    note2 = note + forged.line()
    assert verify_note(note2, [v]).verified_by == ("log.example",)
    # only unknown signatures: rejected
    only_other = sign_note("t\n", [("log.example", other)])
    with pytest.raises(NoteError, match="no signature from a known key"):
        verify_note(only_other, [v])


def test_known_key_with_bad_signature_rejects_note() -> None:
    key = seeded(1)
    v = NoteVerifier.from_key("k", key.public)
    good = sign_note("t\n", [("k", key)])
    bad_sig = NoteSignature("k", v.key_hash, key.sign_raw(b"other\n"))
    with pytest.raises(NoteError, match=r"k\+[0-9a-f]{8} does not verify"):
        verify_note("t\n\n" + bad_sig.line(), [v])
    with pytest.raises(NoteError):
        verify_note(good + bad_sig.line(), [v])
    short = NoteSignature("k", v.key_hash, b"\x01" * 63)
    with pytest.raises(NoteError, match="not 64 bytes"):
        verify_note("t\n\n" + short.line(), [v])
    # the correct signature a second time is also rejected
    with pytest.raises(NoteError, match="more than once"):
        verify_note(good + parse_note(good).signatures[0].line(), [v])


def test_ambiguous_verifiers() -> None:
    a, b = seeded(1).public, seeded(2).public
    va = NoteVerifier.from_key("k", a)
    note = sign_note("t\n", [("k", seeded(1))])
    assert verify_note(note, [va, va]).verified_by == ("k",)  # the same key twice is harmless
    forged = NoteVerifier.__new__(NoteVerifier)  # skip validation: a colliding key ID
    object.__setattr__(forged, "name", "k")
    object.__setattr__(forged, "key_hash", va.key_hash)
    object.__setattr__(forged, "key", b)
    with pytest.raises(NoteError, match="ambiguous"):
        verify_note(note, [va, forged])
    with pytest.raises(NoteError):
        verify_note(note, ["k+00000000+AA=="])  # type: ignore[list-item]
    with pytest.raises(NoteError, match="sequence"):
        verify_note(note, va)  # type: ignore[arg-type]


# --- signing ---------------------------------------------------------------------------------


def test_sign_and_cosign_round_trip() -> None:
    log, commission, witness = seeded(1), seeded(2), seeded(3)
    vlog = NoteVerifier.from_key("log.example/unit-7", log.public)
    vcom = NoteVerifier.from_key("commission.example", commission.public)
    vwit = NoteVerifier.from_key("witness.example", witness.public)
    text = "log.example/unit-7\n3\n" + "A" * 43 + "=\n"
    note = sign_note(text, [("log.example/unit-7", log)])
    assert verify_note(note, [vlog]) == VerifiedNote(text, ("log.example/unit-7",))
    both = add_signatures(note, [("commission.example", commission)])
    assert both.startswith(note)
    assert verify_note(both, [vlog, vcom]).verified_by == (
        "log.example/unit-7",
        "commission.example",
    )
    assert verify_note(both, [vcom]).verified_by == ("commission.example",)
    three = add_signatures(both, [("witness.example", witness)])
    assert verify_note(three, [vwit, vcom, vlog]).verified_by == (
        "log.example/unit-7",
        "commission.example",
        "witness.example",
    )
    # signing twice in one call, and re-signing, do not duplicate lines
    assert sign_note(text, [("a", log), ("b", commission)]).count("\n— ") == 2
    again = add_signatures(both, [("commission.example", commission)])
    assert again == both
    with pytest.raises(NoteError, match="given twice"):
        sign_note(text, [("a", log), ("a", log)])


def test_add_signatures_replaces_same_key_line() -> None:
    key = seeded(1)
    v = NoteVerifier.from_key("k", key.public)
    stale = "t\n\n" + NoteSignature("k", v.key_hash, b"\x00" * 64).line()
    with pytest.raises(NoteError):
        verify_note(stale, [v])
    fixed = add_signatures(stale, [("k", key)])
    assert fixed == sign_note("t\n", [("k", key)])
    assert verify_note(fixed, [v]).verified_by == ("k",)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("no newline", "end with a newline"),
        ("tab\there\n", "control character"),
        ("nul\x00\n", "control character"),
        ("\ud800\n", "UTF-8"),
    ],
)
def test_sign_note_rejects_text(text: str, reason: str) -> None:
    with pytest.raises(NoteError, match=reason):
        sign_note(text, [("k", seeded(1))])


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb", "a\u3000b", "a\u2028b", "a\ud800"])
def test_bad_key_names(name: str) -> None:
    key = seeded(1)
    with pytest.raises(NoteError):
        sign_note("t\n", [(name, key)])
    with pytest.raises(NoteError):
        key_hash(name, key.public)
    with pytest.raises(NoteError):
        verifier_key(name, key.public)


def test_sign_note_needs_signers() -> None:
    with pytest.raises(NoteError):
        sign_note("t\n", [])
    with pytest.raises(NoteError):
        add_signatures(sign_note("t\n", [("k", seeded(1))]), [])
    with pytest.raises(NoteError):
        sign_note("t\n", [("k", "not a key")])  # type: ignore[list-item]


# --- verifier keys ---------------------------------------------------------------------------


def test_verifier_key_round_trip() -> None:
    key = seeded(7).public
    text = verifier_key("example.com/log", key)
    v = NoteVerifier.parse(text)
    assert v == NoteVerifier.from_key("example.com/log", key)
    assert str(v) == text
    assert v.key_hash == key_hash("example.com/log", key)
    assert NoteVerifier.parse(text.encode()) == v


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "three"),
        ("PeterNeumann+c74f20a3", "three"),
        ("PeterNeumann", "three"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "empty"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "space"),
        ("PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "lowercase hex"),
        ("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "lowercase hex"),
        ("PeterNeumann+c74f20ag+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "lowercase hex"),
        ("PeterNeumann+c74f20aX+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "lowercase hex"),
        ("PeterNeumann+c74f 20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "lowercase hex"),
        ("PeterNeumann+c74f20a3 +ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "lowercase hex"),
        ("PeterNeumann+c74f20a\u0663+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "lowercase"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", "base64"),
        ("PeterNeumann+c74f20a3+", "empty"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW\n", "base64"),
    ],
)
def test_verifier_key_rejects(text: str, reason: str) -> None:
    with pytest.raises(NoteError, match=reason) as raised:
        NoteVerifier.parse(text)
    assert type(raised.value) is NoteError  # not a bare ValueError from a parser below


def test_verifier_key_other_signature_type() -> None:
    # a key of type 0x04 (tlog-cosignature) with a consistent key ID is well-formed but unsupported
    raw = bytes([0x04]) + seeded(1).public.raw
    kh = sha256(b"w.example\n" + raw)[:4]
    text = f"w.example+{kh.hex()}+{base64.b64encode(raw).decode()}"
    with pytest.raises(NoteError, match="unsupported signature type 0x04"):
        NoteVerifier.parse(text)


def test_verifier_key_wrong_length() -> None:
    for raw in (bytes([0x01]) + bytes(range(31)), bytes([0x01]) + bytes(range(33))):
        kh = sha256(b"k\n" + raw)[:4]
        with pytest.raises(NoteError, match="32-byte"):
            NoteVerifier.parse(f"k+{kh.hex()}+{base64.b64encode(raw).decode()}")


def test_verifier_checks_its_key_hash() -> None:
    key = seeded(1).public
    with pytest.raises(NoteError, match="does not match"):
        NoteVerifier("k", b"\x00\x00\x00\x00", key)
    with pytest.raises(NoteError):
        NoteVerifier("k", key_hash("k", key), key.raw)  # type: ignore[arg-type]


# --- properties ------------------------------------------------------------------------------

_names = st.text(
    alphabet=st.characters(
        exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), exclude_characters="+"
    ),
    min_size=1,
    max_size=16,
)
_lines = st.text(
    alphabet=st.characters(
        exclude_categories=["Cs"], exclude_characters=[chr(i) for i in range(32)]
    ),
    max_size=30,
)
_texts = st.lists(_lines, min_size=1, max_size=5).map(lambda lines: "\n".join(lines) + "\n")
_seeds = st.binary(min_size=32, max_size=32)


@settings(max_examples=150, deadline=None)
@given(text=_texts, name=_names, seed=_seeds, name2=_names, seed2=_seeds)
def test_property_round_trip(text: str, name: str, seed: bytes, name2: str, seed2: bytes) -> None:
    key, key2 = SigningKey.from_seed(seed), SigningKey.from_seed(seed2)
    v = NoteVerifier.parse(verifier_key(name, key.public))
    assert v.key == key.public
    note = sign_note(text, [(name, key)])
    assert parse_note(note) == Note(
        text, (NoteSignature(name, key_hash(name, key.public), key.sign_raw(text.encode())),)
    )
    assert verify_note(note, [v]) == VerifiedNote(text, (name,))
    if (name, key_hash(name, key.public)) != (name2, key_hash(name2, key2.public)):
        v2 = NoteVerifier.from_key(name2, key2.public)
        cosigned = add_signatures(note, [(name2, key2)])
        assert verify_note(cosigned.encode(), [v2, v]).verified_by == (name, name2)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_texts, name=_names, seed=_seeds, data=st.data())
def test_property_any_byte_flip_is_rejected(
    text: str, name: str, seed: bytes, data: st.DataObject
) -> None:
    key = SigningKey.from_seed(seed)
    v = NoteVerifier.from_key(name, key.public)
    note = sign_note(text, [(name, key)]).encode()
    i = data.draw(st.integers(0, len(note) - 1), label="index")
    mask = data.draw(st.integers(1, 255), label="mask")
    tampered = note[:i] + bytes([note[i] ^ mask]) + note[i + 1 :]
    with pytest.raises(NoteError):
        verify_note(tampered, [v])


def _mutations(base: bytes) -> st.SearchStrategy[bytes]:
    """Valid-looking inputs with a few random edits, to reach the deeper checks."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        out = bytearray(base)
        for _ in range(draw(st.integers(1, 4))):
            op = draw(st.sampled_from(["flip", "insert", "delete", "cut"]))
            i = draw(st.integers(0, max(len(out) - 1, 0)))
            if op == "flip" and out:
                out[i] ^= draw(st.integers(1, 255))
            elif op == "insert":
                out[i:i] = draw(
                    st.sampled_from([b"\n", b" ", b"+", b"=", b"\xe2\x80\x94", b"A", b"\x00"])
                )
            elif op == "delete" and out:
                del out[i]
            elif op == "cut":
                del out[i:]
        return bytes(out)

    return mutate()


_NOTE_BASE = (GO_TEXT + "\n" + GO_PETER_SIG + GO_ENOCH_SIG).encode()
_garbage = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200),
    _mutations(_NOTE_BASE),
    _mutations(_NOTE_BASE).map(lambda b: b.decode("utf-8", "replace")),
)


@settings(max_examples=400, deadline=None)
@given(_garbage)
def test_property_note_parsers_raise_only_note_error(value: str | bytes) -> None:
    peter, enoch = NoteVerifier.parse(GO_PETER_VKEY), NoteVerifier.parse(GO_ENOCH_VKEY)
    for call in (
        lambda: parse_note(value),
        lambda: verify_note(value, [peter, enoch]),
        lambda: NoteVerifier.parse(value),
    ):
        with contextlib.suppress(NoteError):
            call()


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(st.text(max_size=120), st.binary(max_size=120), _mutations(GO_PETER_VKEY.encode()))
)
def test_property_verifier_key_parser(value: str | bytes) -> None:
    try:
        v = NoteVerifier.parse(value)
    except NoteError:
        return
    text = value.decode() if isinstance(value, bytes) else value
    assert str(v) == text
