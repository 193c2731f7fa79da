"""C2SP signed notes (https://c2sp.org/signed-note), Ed25519 only.

A signed note is a UTF-8 text ending in a newline, a blank line, then one or more signature lines

    — <key name> base64(4-byte key ID || signature)

where the signature is plain Ed25519 (RFC 8032) over the text bytes, final newline included and
blank line excluded. A key is named by its *verifier key* ("vkey")

    <key name>+<hex key ID>+base64(0x01 || 32-byte Ed25519 public key)

with key ID = SHA-256(key name || 0x0A || 0x01 || public key)[:4]. The reference implementation
is golang.org/x/mod/sumdb/note; notes it makes verify here and the reverse.

Reading is strict: a note must be valid UTF-8 with no control character but newline, base64 must
be canonical, and sizes are bounded. Signature lines from keys we do not know are skipped, as the
specification requires; every signature from a key we know must verify, and a known key may sign
only once. Stricter than the reference implementation in two ways: a repeated signature from a
known key is an error (it ignores repeats), and non-canonical base64 is an error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from crypto.canonical import EncodingError, b64_decode, b64_encode, sha256
from crypto.signing import SigningKey, VerifyKey

#: Signature type byte of Ed25519 note signatures and verifier keys.
ALG_ED25519 = 0x01
#: Largest note accepted, in UTF-8 bytes, signatures included.
MAX_NOTE_SIZE = 1 << 20
#: Longest line accepted, in UTF-8 bytes without its newline (room for post-quantum signatures).
MAX_LINE_SIZE = 16 * 1024
#: Most signature lines accepted in one note (the specification asks for at least 16).
MAX_SIGNATURES = 100

SIGNATURE_PREFIX = "— "  # em dash U+2014, space
_SEPARATOR = "\n\n"
_KEY_HASH_SIZE = 4
_ED25519_SIGNATURE_SIZE = 64

# Unicode White_Space (what Go's unicode.IsSpace answers for): never allowed in a key name.
_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)


_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")  # ASCII controls but newline


class NoteError(ValueError):
    """A signed note, verifier key or signer is malformed, or a note does not verify."""


# --- names and keys -------------------------------------------------------------------------


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NoteError(f"{what} is not valid UTF-8 (lone surrogate)") from exc


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _check_name(name: object) -> str:
    """A key name: non-empty UTF-8 without Unicode spaces, plus signs or control characters."""
    if not isinstance(name, str):
        raise NoteError("a key name must be a string")
    if not name:
        raise NoteError("a key name must not be empty")
    for ch in name:
        if ch in _SPACES:
            raise NoteError(f"key name {_short(name)} contains a space character")
        if ch == "+":
            raise NoteError(f"key name {_short(name)} contains '+'")
        if ch < " ":
            raise NoteError(f"key name {_short(name)} contains a control character")
    _utf8(name, "key name")
    return name


def _key_hash(name: str, alg_and_key: bytes) -> bytes:
    return sha256(_utf8(name, "key name") + b"\n" + alg_and_key)[:_KEY_HASH_SIZE]


def key_hash(name: str, public_key: VerifyKey) -> bytes:
    """The 4-byte key ID of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    return _key_hash(_check_name(name), bytes([ALG_ED25519]) + public_key.raw)


def verifier_key(name: str, public_key: VerifyKey) -> str:
    """The verifier key text ``name+hex8+base64(0x01 || key)`` of an Ed25519 key."""
    return str(NoteVerifier.from_key(name, public_key))


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted key: its name, its key ID and the Ed25519 public key."""

    name: str
    key_hash: bytes
    key: VerifyKey

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not isinstance(self.key, VerifyKey):
            raise NoteError("a verifier holds a VerifyKey")
        if self.key_hash != key_hash(self.name, self.key):
            raise NoteError(
                f"key ID does not match the name and key of verifier {_short(self.name)}"
            )

    @classmethod
    def from_key(cls, name: str, public_key: VerifyKey) -> NoteVerifier:
        return cls(name, key_hash(name, public_key), public_key)

    @classmethod
    def parse(cls, text: str | bytes) -> NoteVerifier:
        """Read a verifier key ``name+hex8+base64(0x01 || key)``; raise NoteError if malformed."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise NoteError("verifier key is not valid UTF-8") from exc
        if not isinstance(text, str):
            raise NoteError("a verifier key must be a string")
        parts = text.split("+", 2)  # base64 may itself hold '+'; the name may not
        if len(parts) != 3:
            raise NoteError("a verifier key has three '+'-separated parts: name, key ID, key")
        name, hash_hex, key_b64 = parts
        _check_name(name)
        try:  # fromhex alone would take upper case and spaces, and raise a bare ValueError
            if len(hash_hex) != 2 * _KEY_HASH_SIZE or any(
                c not in "0123456789abcdef" for c in hash_hex
            ):
                raise ValueError("not 8 lowercase hex digits")
            hash_bytes = bytes.fromhex(hash_hex)
        except ValueError:
            raise NoteError("the key ID of a verifier key is 8 lowercase hex digits") from None
        try:
            material = b64_decode(key_b64)
        except EncodingError as exc:
            raise NoteError(f"verifier key material: {exc}") from exc
        if not material:
            raise NoteError("verifier key material is empty")
        if _key_hash(name, material) != hash_bytes:
            raise NoteError("the key ID of the verifier key does not match its name and key")
        if material[0] != ALG_ED25519:
            raise NoteError(f"unsupported signature type 0x{material[0]:02x} (only Ed25519, 0x01)")
        if len(material) != 1 + 32:
            raise NoteError("an Ed25519 verifier key holds a 32-byte public key")
        try:
            key = VerifyKey(material[1:])
        except EncodingError as exc:
            raise NoteError(f"verifier key: {exc}") from exc
        return cls(name, hash_bytes, key)

    def __str__(self) -> str:
        return (
            f"{self.name}+{self.key_hash.hex()}+{b64_encode(bytes([ALG_ED25519]) + self.key.raw)}"
        )


# --- notes -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key ID and the signature bytes that follow it."""

    name: str
    key_hash: bytes
    signature: bytes

    def line(self) -> str:
        """The signature line, newline included."""
        blob = b64_encode(self.key_hash + self.signature)
        return f"{SIGNATURE_PREFIX}{self.name} {blob}\n"


@dataclass(frozen=True)
class Note:
    """A note split into its text (final newline included) and its signature lines, unverified."""

    text: str
    signatures: tuple[NoteSignature, ...]


@dataclass(frozen=True)
class VerifiedNote:
    """The text of a note and the names of the known keys whose signatures verified, in order."""

    text: str
    verified_by: tuple[str, ...]


def _check_chars(text: str, what: str) -> None:
    bad = _CONTROL.search(text)
    if bad:
        raise NoteError(f"{what} contains control character U+{ord(bad.group()):04X}")


def _check_lines(data: bytes, what: str) -> None:
    for line in data.split(b"\n"):
        if len(line) > MAX_LINE_SIZE:
            raise NoteError(f"{what} has a line longer than {MAX_LINE_SIZE} bytes")


def _check_text(text: object) -> str:
    """A text that can be signed: non-empty, newline-terminated, no other control characters."""
    if not isinstance(text, str):
        raise NoteError("note text must be a string")
    if not text:
        raise NoteError("note text is empty")
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    data = _utf8(text, "note text")
    if len(data) > MAX_NOTE_SIZE:
        raise NoteError(f"note text is larger than {MAX_NOTE_SIZE} bytes")
    _check_chars(text, "note text")
    _check_lines(data, "note text")
    return text


def _decode(note: object) -> str:
    if isinstance(note, bytes | bytearray | memoryview):
        data = bytes(note)
        if len(data) > MAX_NOTE_SIZE:
            raise NoteError(f"note is larger than {MAX_NOTE_SIZE} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NoteError(f"note is not valid UTF-8 (byte {exc.start})") from exc
    elif isinstance(note, str):
        text = note
        if len(text) > MAX_NOTE_SIZE:  # cheap bound before encoding: bytes >= characters
            raise NoteError(f"note is larger than {MAX_NOTE_SIZE} bytes")
        data = _utf8(text, "note")
        if len(data) > MAX_NOTE_SIZE:
            raise NoteError(f"note is larger than {MAX_NOTE_SIZE} bytes")
    else:
        raise NoteError("a note must be str or bytes")
    _check_chars(text, "note")
    _check_lines(data, "note")
    return text


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise NoteError(
            f"signature line does not start with an em dash and a space: {_short(line)}"
        )
    name, sep, blob = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not sep or not blob:
        raise NoteError("signature line has no signature after the key name")
    _check_name(name)
    try:
        raw = b64_decode(blob)
    except EncodingError as exc:
        raise NoteError(f"signature by {_short(name)}: {exc}") from exc
    if len(raw) <= _KEY_HASH_SIZE:
        raise NoteError(f"signature by {_short(name)} is too short")
    return NoteSignature(name, raw[:_KEY_HASH_SIZE], raw[_KEY_HASH_SIZE:])


def parse_note(note: str | bytes) -> Note:
    """Split a signed note into text and signature lines, checking structure only.

    Raises NoteError if the note is not valid UTF-8, contains control characters other than
    newline, lacks the blank line before the signatures or the final newline, has a malformed
    signature line, too many signature lines, or is too large.
    """
    text = _decode(note)
    split = text.rfind(_SEPARATOR)
    if split < 0:
        raise NoteError("note has no blank line between text and signatures")
    body, block = text[: split + 1], text[split + 2 :]
    if not block:
        raise NoteError("note has no signature lines")
    if not block.endswith("\n"):
        raise NoteError("note does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    return Note(body, tuple(_parse_signature_line(line) for line in lines))


def _format(text: str, signatures: Sequence[NoteSignature]) -> str:
    if len(signatures) > MAX_SIGNATURES:
        raise NoteError(f"a note may carry at most {MAX_SIGNATURES} signatures")
    out = text + "\n" + "".join(sig.line() for sig in signatures)
    _decode(out)  # the result must be a note we would read back (size and line bounds)
    return out


def _sign(text: str, signers: Sequence[tuple[str, SigningKey]]) -> list[NoteSignature]:
    data = _utf8(text, "note text")
    sigs: list[NoteSignature] = []
    seen: set[tuple[str, bytes]] = set()
    for name, key in signers:
        if not isinstance(key, SigningKey):
            raise NoteError("a signer is a (name, SigningKey) pair")
        kh = key_hash(name, key.public)
        if (name, kh) in seen:
            raise NoteError(f"key {name}+{kh.hex()} is given twice")
        seen.add((name, kh))
        sigs.append(NoteSignature(name, kh, key.sign_raw(data)))
    return sigs


def sign_note(text: str, signers: Sequence[tuple[str, SigningKey]]) -> str:
    """Sign ``text`` (which must end with a newline) with each (key name, key) in order."""
    _check_text(text)
    if not signers:
        raise NoteError("a note needs at least one signer")
    return _format(text, _sign(text, signers))


def add_signatures(note: str, signers: Sequence[tuple[str, SigningKey]]) -> str:
    """Cosign an existing note: keep its signature lines, append one per new signer.

    Existing signatures are not checked (the caller verifies what it cosigns). As in the
    reference implementation, an existing line with the same key name and key ID as a new signer
    is replaced by the new signature rather than repeated.
    """
    parsed = parse_note(note)
    if not signers:
        raise NoteError("no signers given")
    new = _sign(parsed.text, signers)
    replaced = {(s.name, s.key_hash) for s in new}
    kept = [s for s in parsed.signatures if (s.name, s.key_hash) not in replaced]
    return _format(parsed.text, kept + new)


def verify_note(note: str | bytes, verifiers: Sequence[NoteVerifier]) -> VerifiedNote:
    """Verify a signed note against trusted keys and return its text.

    Signature lines from unknown keys (name and key ID not both matching a verifier) are
    skipped. Raises NoteError if the note is malformed (see parse_note), if a signature from a
    known key does not verify, if a known key signed more than once, or if no known key signed.
    """
    if isinstance(verifiers, NoteVerifier | str | bytes):
        raise NoteError("verifiers must be a sequence of NoteVerifier")
    known: dict[tuple[str, bytes], VerifyKey] = {}
    for v in verifiers:
        if not isinstance(v, NoteVerifier):
            raise NoteError("verifiers must be NoteVerifier instances")
        other = known.setdefault((v.name, v.key_hash), v.key)
        if other != v.key:
            raise NoteError(f"ambiguous verifiers: two keys named {v.name}+{v.key_hash.hex()}")
    parsed = parse_note(note)
    data = _utf8(parsed.text, "note text")
    seen: set[tuple[str, bytes]] = set()
    verified: list[str] = []
    for sig in parsed.signatures:
        ident = (sig.name, sig.key_hash)
        key = known.get(ident)
        if key is None:
            continue
        label = f"{sig.name}+{sig.key_hash.hex()}"
        if ident in seen:
            raise NoteError(f"key {label} signed the note more than once")
        seen.add(ident)
        if len(sig.signature) != _ED25519_SIGNATURE_SIZE:
            raise NoteError(f"signature by key {label} is not 64 bytes long")
        if not key.verify_raw(data, sig.signature):
            raise NoteError(f"signature by key {label} does not verify")
        verified.append(sig.name)
    if not verified:
        raise NoteError("note has no signature from a known key")
    return VerifiedNote(parsed.text, tuple(verified))
