"""C2SP transparency-log cosignatures (https://c2sp.org/tlog-cosignature), both types.

A cosignature is a signed-note signature line that a *witness* (cosigner) adds to a log's
checkpoint after it checked that the checkpoint is consistent with every earlier one it saw:

    — <cosigner name> base64(4-byte key ID || u64 timestamp, big-endian || signature)

The timestamp is the POSIX time of signing, at most 2**63 - 1. Two types exist; a cosigner uses
one, and whoever trusts it is configured with the tuple (name, public key, type):

- ``cosignature/v1``, Ed25519 (signature type byte 0x04). The signed message is two lines and the
  whole checkpoint body, extension lines included::

      cosignature/v1
      time <timestamp, decimal>
      <checkpoint body>

  It does not name the cosigner, so one key must never serve two cosigners.
- ``subtree/v1``, ML-DSA-44 (FIPS 204, type byte 0x06; the specification recommends it for new
  deployments, as it resists quantum computers). The signed message is a binary structure, in the
  TLS presentation language of RFC 8446 section 3::

      uint8  label[12] = "subtree/v1\\n\\0"
      opaque cosigner_name<1..255>      (one length byte, then the name)
      uint64 timestamp
      opaque log_origin<1..255>
      uint64 start = 0                  (a checkpoint is the subtree [0, size))
      uint64 end   = tree size
      uint8  hash[32]                   (the root)

  It binds the cosigner's name but NOT the checkpoint's extension lines: an ML-DSA-44 cosignature
  on a checkpoint says nothing about them. This module signs and checks checkpoints only
  (start = 0), never other subtrees.

Key ID = SHA-256(name || 0x0A || type byte || public key)[:4], as in signed-note; a verifier key
("vkey") is ``name+<hex key ID>+base64(type byte || public key)`` with a 32-byte Ed25519 key or a
1312-byte ML-DSA-44 key. A cosigner's private key is kept in the text form of Go's
golang.org/x/mod/sumdb/note signer keys, ``PRIVATE+KEY+name+<hex key ID>+base64(type || seed)``
with the 32-byte seed (RFC 8032 for Ed25519, FIPS 204's xi for ML-DSA-44).

A signature line from an unknown key (name and key ID not both matching) is ignored, as the
signed-note specification requires; one from a known key must verify.

**Finality statements (kz-tally's addition).** The threat: a log's *final* checkpoint (extension
line ``final``) ends the log, so a final at a smaller size than the witnesses saw drops the
entries after it. A subtree/v1 cosignature binds neither ``final`` nor any other extension
line, so an ordinary cosignature of size s is equally valid on a "final" of size s that the
operator signs later, after the witnesses cosigned larger sizes. So finality is a statement of
its own, made by a witness only when asked to cosign a final checkpoint (tlog-witness, and only
if consistent with the largest size it cosigned: tally_service/witness/core.py), and bound by
BOTH cosignature types: the witness's *finality cosigner* is the same key under the name
``<name>/final`` (``FINALITY_NAME_SUFFIX``), which signs the final checkpoint with its origin
line replaced by ``<origin> final`` (``FINALITY_ORIGIN_SUFFIX``; a witness watches no log whose
origin ends so). subtree/v1 binds both the name and the origin; cosignature/v1 binds the origin
(the name it does not bind, which is why the origin changes too). An ordinary cosignature never
verifies as a finality statement, nor the reverse. Lines of finality cosigners have their own
key IDs, so a C2SP verifier that knows only the witness's (name, key) ignores them, as the
signed-note specification says; the tlog-cosignature specification lets a cosigner make
additional statements under another tuple (section "Additional statements"). Where this
departs from it: it asks an Ed25519 operator to use distinct keys for distinct statements,
because cosignature/v1 does not bind the name; here one key makes both, kept apart by the
origin line instead, which no ordinary checkpoint of a watched log can have.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from crypto.canonical import EncodingError, b64_decode, b64_encode, sha256
from crypto.checkpoint import Checkpoint
from crypto.note import (
    NoteError,
    NoteSignature,
    _check_name,
    parse_note,
)
from crypto.signing import is_valid_public_key

#: Signature type byte of Ed25519 ``cosignature/v1`` cosignatures.
TYPE_ED25519 = 0x04
#: Signature type byte of ML-DSA-44 ``subtree/v1`` cosignatures.
TYPE_MLDSA44 = 0x06
#: Names used in the manifest and on the command line for the two types.
TYPE_NAMES = {TYPE_ED25519: "cosignature/v1", TYPE_MLDSA44: "subtree/v1"}

MAX_TIMESTAMP = (1 << 63) - 1
_PUBLIC_SIZE = {TYPE_ED25519: 32, TYPE_MLDSA44: 1312}
_SIGNATURE_SIZE = {TYPE_ED25519: 64, TYPE_MLDSA44: 2420}
_SEED_SIZE = 32
_KEY_ID_SIZE = 4
_SUBTREE_LABEL = b"subtree/v1\n\x00"
_PRIVATE_PREFIX = "PRIVATE+KEY+"
#: The witness's finality cosigner is its key under ``<name>/final`` (module docstring).
FINALITY_NAME_SUFFIX = "/final"
#: The origin line of the checkpoint a finality cosigner signs: ``<origin> final``.
FINALITY_ORIGIN_SUFFIX = " final"
#: The extension line of a log's final checkpoint (crypto/checkpoint.py's profile).
FINAL_LINE = "final"


class CosignatureError(ValueError):
    """A cosigner key or cosignature is malformed, or a cosignature does not verify."""


def _key_id(name: str, kind: int, public: bytes) -> bytes:
    return sha256(name.encode("utf-8") + b"\n" + bytes([kind]) + public)[:_KEY_ID_SIZE]


def _name(name: object) -> str:
    try:
        return _check_name(name)
    except NoteError as exc:
        raise CosignatureError(str(exc)) from exc


def _timestamp(value: object) -> int:
    if type(value) is not int or not 0 <= value <= MAX_TIMESTAMP:
        raise CosignatureError("a cosignature timestamp is an int in [0, 2**63 - 1]")
    return value


def _opaque8(data: bytes, what: str) -> bytes:
    if not 1 <= len(data) <= 255:
        raise CosignatureError(f"{what} must be 1 to 255 bytes for a subtree/v1 cosignature")
    return bytes([len(data)]) + data


def is_final(checkpoint: Checkpoint) -> bool:
    """Whether the log signed ``checkpoint`` as its final one (extension line ``final``)."""
    return FINAL_LINE in checkpoint.extensions


def finality_checkpoint(checkpoint: Checkpoint) -> Checkpoint:
    """What a finality cosigner signs for the final ``checkpoint``: the same checkpoint with the
    origin line ``<origin> final`` (module docstring)."""
    if not is_final(checkpoint):
        raise CosignatureError("only a final checkpoint has a finality statement")
    if checkpoint.origin.endswith(FINALITY_ORIGIN_SUFFIX):
        raise CosignatureError(
            f"a log origin must not end in {FINALITY_ORIGIN_SUFFIX!r}: its checkpoints would "
            "read as another log's finality statements"
        )
    return Checkpoint(
        checkpoint.origin + FINALITY_ORIGIN_SUFFIX,
        checkpoint.size,
        checkpoint.root,
        checkpoint.extensions,
    )


def signed_message(kind: int, name: str, checkpoint: Checkpoint, timestamp: int) -> bytes:
    """The bytes a cosigner of type ``kind`` named ``name`` signs for ``checkpoint``."""
    _timestamp(timestamp)
    if kind == TYPE_ED25519:
        header = f"cosignature/v1\ntime {timestamp}\n".encode("ascii")
        return header + checkpoint.body().encode("utf-8")
    if kind == TYPE_MLDSA44:
        return b"".join(
            (
                _SUBTREE_LABEL,
                _opaque8(name.encode("utf-8"), "the cosigner name"),
                struct.pack(">Q", timestamp),
                _opaque8(checkpoint.origin.encode("utf-8"), "the log origin"),
                struct.pack(">QQ", 0, checkpoint.size),
                checkpoint.root,
            )
        )
    raise CosignatureError(f"unknown cosignature type 0x{kind:02x}")


@dataclass(frozen=True)
class CosignerKey:
    """A trusted cosigner: name, type (0x04 or 0x06) and public key; its key ID follows."""

    name: str
    kind: int
    public: bytes

    def __post_init__(self) -> None:
        _name(self.name)
        if self.kind not in _PUBLIC_SIZE:
            raise CosignatureError(
                f"unsupported cosigner type 0x{self.kind:02x} (0x04 Ed25519 or 0x06 ML-DSA-44)"
            )
        if not isinstance(self.public, bytes) or len(self.public) != _PUBLIC_SIZE[self.kind]:
            raise CosignatureError(
                f"a {TYPE_NAMES[self.kind]} public key has {_PUBLIC_SIZE[self.kind]} bytes"
            )
        if self.kind == TYPE_ED25519 and not is_valid_public_key(self.public):
            raise CosignatureError("not a valid Ed25519 public key")
        if self.kind == TYPE_MLDSA44:
            try:
                mldsa.MLDSA44PublicKey.from_public_bytes(self.public)
            except ValueError as exc:
                raise CosignatureError("not a valid ML-DSA-44 public key") from exc

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, self.kind, self.public)

    @property
    def type_name(self) -> str:
        return TYPE_NAMES[self.kind]

    def finality(self) -> CosignerKey:
        """This witness's finality cosigner: the same key named ``<name>/final`` (made once
        per key, so that a subclass that remembers what it verified keeps remembering)."""
        made = self.__dict__.get("_finality")
        if made is None:
            made = dataclasses.replace(self, name=self.name + FINALITY_NAME_SUFFIX)
            object.__setattr__(self, "_finality", made)
        return made

    @classmethod
    def parse(cls, text: object) -> CosignerKey:
        """Read a vkey ``name+hex8+base64(type || key)`` of type 0x04 or 0x06."""
        if not isinstance(text, str):
            raise CosignatureError("a cosigner vkey must be a string")
        parts = text.split("+", 2)
        if len(parts) != 3:
            raise CosignatureError("a vkey has three '+'-separated parts: name, key ID, key")
        name, id_hex, material_b64 = parts
        _name(name)
        if len(id_hex) != 8 or any(c not in "0123456789abcdef" for c in id_hex):
            raise CosignatureError("the key ID of a vkey is 8 lowercase hex digits")
        try:
            material = b64_decode(material_b64)
        except EncodingError as exc:
            raise CosignatureError(f"vkey key material: {exc}") from exc
        if not material:
            raise CosignatureError("vkey key material is empty")
        key = cls(name, material[0], material[1:])
        if key.key_id.hex() != id_hex:
            raise CosignatureError("the key ID of the vkey does not match its name and key")
        return key

    def __str__(self) -> str:
        material = b64_encode(bytes([self.kind]) + self.public)
        return f"{self.name}+{self.key_id.hex()}+{material}"

    def verify(self, checkpoint: Checkpoint, timestamp: int, signature: bytes) -> bool:
        """True if ``signature`` is this cosigner's signature of ``checkpoint`` at ``timestamp``."""
        if len(signature) != _SIGNATURE_SIZE[self.kind]:
            return False
        message = signed_message(self.kind, self.name, checkpoint, timestamp)
        try:
            if self.kind == TYPE_ED25519:
                ed25519.Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
            else:
                mldsa.MLDSA44PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


class Cosigner:
    """A cosigner's private key. Its repr never shows the secret."""

    __slots__ = ("_key", "_seed", "kind", "name", "public")

    def __init__(self, name: str, kind: int, seed: bytes) -> None:
        _name(name)
        if kind not in _PUBLIC_SIZE:
            raise CosignatureError(f"unsupported cosigner type 0x{kind:02x}")
        if not isinstance(seed, bytes) or len(seed) != _SEED_SIZE:
            raise CosignatureError("a cosigner seed has 32 bytes")
        self.name = name
        self.kind = kind
        self._seed = seed
        self._key: ed25519.Ed25519PrivateKey | mldsa.MLDSA44PrivateKey
        if kind == TYPE_ED25519:
            self._key = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
        else:
            self._key = mldsa.MLDSA44PrivateKey.from_seed_bytes(seed)
        pub = self._key.public_key()
        if isinstance(pub, ed25519.Ed25519PublicKey):
            self.public = CosignerKey(name, kind, pub.public_bytes(Encoding.Raw, PublicFormat.Raw))
        else:
            self.public = CosignerKey(name, kind, pub.public_bytes_raw())

    @classmethod
    def generate(cls, name: str, kind: int) -> Cosigner:
        import secrets

        return cls(name, kind, secrets.token_bytes(_SEED_SIZE))

    @classmethod
    def parse(cls, text: str) -> Cosigner:
        """Read ``PRIVATE+KEY+name+hex8+base64(type || seed)``."""
        text = text.strip()
        if not text.startswith(_PRIVATE_PREFIX):
            raise CosignatureError("a cosigner key file starts with PRIVATE+KEY+")
        parts = text[len(_PRIVATE_PREFIX) :].split("+", 2)
        if len(parts) != 3:
            raise CosignatureError("a cosigner key has name, key ID and key after PRIVATE+KEY+")
        name, id_hex, material_b64 = parts
        try:
            material = b64_decode(material_b64)
        except EncodingError as exc:
            raise CosignatureError(f"cosigner key material: {exc}") from exc
        if len(material) != 1 + _SEED_SIZE:
            raise CosignatureError("cosigner key material is a type byte and a 32-byte seed")
        signer = cls(name, material[0], material[1:])
        if signer.public.key_id.hex() != id_hex:
            raise CosignatureError("the key ID of the cosigner key does not match its key")
        return signer

    def private_text(self) -> str:
        """The private key file's text (keep it secret)."""
        material = b64_encode(bytes([self.kind]) + self._seed)
        return f"{_PRIVATE_PREFIX}{self.name}+{self.public.key_id.hex()}+{material}"

    def cosign(self, checkpoint: Checkpoint, timestamp: int) -> NoteSignature:
        """The cosignature of ``checkpoint`` at POSIX time ``timestamp``, as a note signature."""
        message = signed_message(self.kind, self.name, checkpoint, _timestamp(timestamp))
        signature = self._key.sign(message)
        blob = struct.pack(">Q", timestamp) + signature
        return NoteSignature(self.name, self.public.key_id, blob)

    def cosign_final(self, checkpoint: Checkpoint, timestamp: int) -> NoteSignature:
        """The finality statement on the final ``checkpoint``, by this witness's finality
        cosigner (module docstring). Only a witness that checked the final is consistent with
        everything it cosigned for the log calls this."""
        name = self.name + FINALITY_NAME_SUFFIX
        message = signed_message(
            self.kind, name, finality_checkpoint(checkpoint), _timestamp(timestamp)
        )
        blob = struct.pack(">Q", timestamp) + self._key.sign(message)
        return NoteSignature(name, self.public.finality().key_id, blob)

    def __repr__(self) -> str:
        return f"Cosigner({self.public})"


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: who made it (vkey text) and when."""

    cosigner: CosignerKey
    timestamp: int
    line: str


def split_timestamp(signature: NoteSignature) -> tuple[int, bytes]:
    """The (timestamp, signature) in a cosignature line's bytes after the key ID."""
    if len(signature.signature) < 8:
        raise CosignatureError(f"cosignature by {signature.name[:60]!r} is too short")
    (timestamp,) = struct.unpack(">Q", signature.signature[:8])
    if timestamp > MAX_TIMESTAMP:
        raise CosignatureError(f"cosignature by {signature.name[:60]!r}: timestamp above 2**63-1")
    return timestamp, signature.signature[8:]


def verify_cosignatures(
    checkpoint: Checkpoint,
    signatures: Iterable[NoteSignature],
    cosigners: Sequence[CosignerKey],
) -> list[Cosignature]:
    """The valid cosignatures on ``checkpoint`` from ``cosigners``, one per cosigner at most.

    Lines from other keys are ignored. A line from a known cosigner that does not verify, a
    second line from one cosigner, raise CosignatureError (the signed-note specification: a bad
    signature from a known key rejects the note).
    """
    known: dict[tuple[str, bytes], CosignerKey] = {}
    for key in cosigners:
        if not isinstance(key, CosignerKey):
            raise CosignatureError("cosigners must be CosignerKey instances")
        known[(key.name, key.key_id)] = key
    seen: set[tuple[str, bytes]] = set()
    valid: list[Cosignature] = []
    for sig in signatures:
        ident = (sig.name, sig.key_hash)
        cosigner = known.get(ident)
        if cosigner is None:
            continue
        label = f"{sig.name}+{sig.key_hash.hex()}"
        if ident in seen:
            raise CosignatureError(f"cosigner {label} signed more than once")
        seen.add(ident)
        timestamp, raw = split_timestamp(sig)
        if not cosigner.verify(checkpoint, timestamp, raw):
            raise CosignatureError(f"cosignature by {label} does not verify")
        valid.append(Cosignature(cosigner, timestamp, sig.line()))
    return valid


def finality_cosignatures(
    checkpoint: Checkpoint,
    signatures: Iterable[NoteSignature],
    cosigners: Sequence[CosignerKey],
) -> list[Cosignature]:
    """The valid finality statements on the final ``checkpoint`` by the finality cosigners of
    ``cosigners`` (module docstring), each reported under the witness's own key.

    Ordinary cosignatures are not among them, whatever they sign. A finality line that does not
    verify raises CosignatureError, as in ``verify_cosignatures``."""
    finality = {key.finality(): key for key in cosigners}
    valid = verify_cosignatures(finality_checkpoint(checkpoint), signatures, list(finality))
    return [Cosignature(finality[c.cosigner], c.timestamp, c.line) for c in valid]


def read_cosigned_note(note: str | bytes) -> tuple[Checkpoint, list[NoteSignature]]:
    """A checkpoint note's checkpoint and signature lines; CosignatureError if malformed."""
    try:
        parsed = parse_note(note)
        return Checkpoint.parse(parsed.text), list(parsed.signatures)
    except ValueError as exc:
        raise CosignatureError(f"checkpoint note: {exc}") from exc


def note_cosignatures(
    note: str | bytes, cosigners: Sequence[CosignerKey]
) -> tuple[Checkpoint, list[Cosignature]]:
    """Read a signed checkpoint note and return its checkpoint and its valid (ordinary)
    cosignatures.

    The log's own signature is not checked here (crypto.checkpoint.open_checkpoint does that).
    Raises CosignatureError if the note is malformed or a known cosigner's line does not verify.
    Whether a cosignature counts for a *final* checkpoint is the witness policy's question
    (crypto/witness_policy.py): only finality statements do.
    """
    checkpoint, signatures = read_cosigned_note(note)
    return checkpoint, verify_cosignatures(checkpoint, signatures, cosigners)


def add_cosignatures(note: str, lines: Sequence[str]) -> str:
    """``note`` with the signature ``lines`` appended (each ending in a newline), skipping any
    line already in it. The result must still be a well-formed note."""
    try:
        existing = {sig.line() for sig in parse_note(note).signatures}
    except NoteError as exc:
        raise CosignatureError(f"checkpoint note: {exc}") from exc
    out = note
    for line in lines:
        if not line.endswith("\n") or line.count("\n") != 1:
            raise CosignatureError("a cosignature line ends in one newline")
        if line not in existing:
            existing.add(line)
            out += line
    try:
        parse_note(out)
    except NoteError as exc:
        raise CosignatureError(f"cosigned note: {exc}") from exc
    return out
