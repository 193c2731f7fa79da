"""C2SP transparency-log checkpoints and proofs.

- A checkpoint (https://c2sp.org/tlog-checkpoint) is the text of a signed note:

      <origin>
      <tree size, decimal, no leading zeros>
      <base64 RFC 6962 / RFC 9162 root hash>
      [extension lines, non-empty]

- A tlog proof (https://c2sp.org/tlog-proof) shows that an entry is in a log, offline:

      c2sp.org/tlog-proof@v1
      [extra <base64 opaque data, not authenticated>]
      index <decimal leaf index, no leading zeros>
      <base64 inclusion proof hash, leaf's sibling first>   (zero or more lines)
      <empty line>
      <the signed checkpoint note, verbatim>

Tree sizes and indexes are bounded by 2**63 - 1, as in the Go implementations.

kz-tally's checkpoints carry two extension lines of their own (``checkpoint_facts``):

      time <UTC time the log key signed it, RFC 3339 to the second, e.g. 2023-01-14T04:45:00Z>
      final                                  (only on the round's final checkpoint)

so that the time a checkpoint was made, and which checkpoint closed the log, are signed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from crypto.canonical import EncodingError, b64_decode, b64_encode
from crypto.merkle import verify_inclusion
from crypto.note import MAX_NOTE_SIZE, NoteError, NoteVerifier, parse_note, sign_note, verify_note
from crypto.signing import SigningKey

HASH_SIZE = 32
MAX_TREE_SIZE = (1 << 63) - 1
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"
#: An inclusion proof in a tree of at most 2**63 - 1 leaves has at most 63 hashes.
MAX_PROOF_HASHES = 63
#: Largest tlog proof accepted, in UTF-8 bytes (a maximal note plus a generous extra line).
MAX_TLOG_PROOF_SIZE = 2 * MAX_NOTE_SIZE

#: Extension line prefix of the signed time (kz-tally's checkpoint profile).
TIME_PREFIX = "time "
#: Extension line of a round's final checkpoint: nothing is appended or checkpointed after it.
FINAL_LINE = "final"

_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_CONTROL = re.compile("[\x00-\x09\x0b-\x1f]")  # ASCII controls but newline


class CheckpointError(ValueError):
    """A checkpoint or tlog proof is malformed or does not verify."""


def _decimal(text: str, what: str) -> int:
    # int() alone would take "+1", " 1", "1_0" and non-ASCII digits
    if not _DECIMAL.fullmatch(text) or len(text) > 19:
        raise CheckpointError(
            f"{what} is not a decimal number without leading zeros: {text[:30]!r}"
        )
    value = int(text)
    if value > MAX_TREE_SIZE:
        raise CheckpointError(f"{what} is larger than 2**63 - 1")
    return value


def _hash(text: str, what: str) -> bytes:
    try:
        return b64_decode(text, HASH_SIZE)
    except EncodingError as exc:
        raise CheckpointError(f"{what}: {exc}") from exc


def _as_text(value: object, what: str) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"{what} is not valid UTF-8") from exc
    if not isinstance(value, str):
        raise CheckpointError(f"{what} must be str or bytes")
    return value


def _check_line(line: object, what: str) -> None:
    if not isinstance(line, str):
        raise CheckpointError(f"{what} must be a string")
    if not line:
        raise CheckpointError(f"{what} must not be empty")
    if "\n" in line or _CONTROL.search(line):
        raise CheckpointError(f"{what} contains a newline or control character")
    try:
        line.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CheckpointError(f"{what} is not valid UTF-8") from exc


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head: origin, tree size, root hash and optional opaque extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "checkpoint origin")
        if type(self.size) is not int or not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError("checkpoint tree size must be an int in [0, 2**63 - 1]")
        if not isinstance(self.root, bytes) or len(self.root) != HASH_SIZE:
            raise CheckpointError(f"checkpoint root hash must be {HASH_SIZE} bytes")
        if not isinstance(self.extensions, tuple):
            raise CheckpointError("checkpoint extensions must be a tuple of lines")
        for line in self.extensions:
            _check_line(line, "checkpoint extension line")

    def body(self) -> str:
        """The note text: origin, size, base64 root and extension lines, each ending in newline."""
        lines = [self.origin, str(self.size), b64_encode(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str | bytes) -> Checkpoint:
        """Read a checkpoint note text (as returned by verify_note); raise CheckpointError."""
        text = _as_text(text, "checkpoint")
        if len(text) > MAX_NOTE_SIZE:
            raise CheckpointError("checkpoint is too large")
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError("checkpoint needs origin, tree size and root hash lines")
        origin, size, root, *extensions = lines
        if not origin:
            raise CheckpointError("checkpoint origin line is empty")
        for line in extensions:
            if not line:
                raise CheckpointError("checkpoint extension lines must not be empty")
        return cls(
            origin,
            _decimal(size, "checkpoint tree size"),
            _hash(root, "checkpoint root hash"),
            tuple(extensions),
        )


@dataclass(frozen=True)
class CheckpointFacts:
    """What kz-tally's extension lines of a checkpoint say: when it was signed, and whether it
    is the round's final checkpoint."""

    time: str
    final: bool


def profile_extensions(time: str, final: bool) -> tuple[str, ...]:
    """The extension lines of a kz-tally checkpoint signed at ``time`` (RFC 3339 UTC, seconds)."""
    if not isinstance(time, str) or not _TIME.fullmatch(time):
        raise CheckpointError("the checkpoint time must be RFC 3339 UTC to the second, e.g. "
                              "2023-01-14T04:45:00Z")
    return (TIME_PREFIX + time, FINAL_LINE) if final else (TIME_PREFIX + time,)


def checkpoint_facts(cp: Checkpoint) -> CheckpointFacts:
    """Read kz-tally's extension lines: exactly ``time <T>``, then ``final`` or nothing.

    Raises CheckpointError for any other set of extension lines (a checkpoint without a signed
    time, an unknown line, ``final`` before the time, a time that is not a real UTC instant)."""
    ext = cp.extensions
    if not ext or not ext[0].startswith(TIME_PREFIX):
        raise CheckpointError("the checkpoint has no signed 'time' extension line")
    time = ext[0][len(TIME_PREFIX) :]
    if not _TIME.fullmatch(time):
        raise CheckpointError(
            f"the checkpoint time {time[:40]!r} is not RFC 3339 UTC to the second"
        )
    try:
        datetime.strptime(time, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError as exc:
        raise CheckpointError(f"the checkpoint time {time!r} is not a real date") from exc
    rest = ext[1:]
    if rest == ():
        return CheckpointFacts(time, False)
    if rest == (FINAL_LINE,):
        return CheckpointFacts(time, True)
    raise CheckpointError(
        f"unexpected checkpoint extension lines {[line[:40] for line in rest]!r} "
        f"(only 'time' and then 'final')"
    )


def sign_checkpoint(cp: Checkpoint, signers: Sequence[tuple[str, SigningKey]]) -> str:
    """The checkpoint as a signed note, signed by each (key name, key) in order."""
    try:
        return sign_note(cp.body(), signers)
    except NoteError as exc:
        raise CheckpointError(f"cannot sign checkpoint: {exc}") from exc


def open_checkpoint(
    note: str | bytes, verifier: NoteVerifier, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint with the log's key and return it.

    Other signatures (say, witness cosignatures) are ignored unless malformed. If ``origin`` is
    given the checkpoint must be for that log. Raises CheckpointError.
    """
    try:
        text = verify_note(note, [verifier]).text
    except NoteError as exc:
        raise CheckpointError(f"checkpoint signature: {exc}") from exc
    cp = Checkpoint.parse(text)
    if origin is not None and cp.origin != origin:
        raise CheckpointError(f"checkpoint is for log {cp.origin[:80]!r}, not {origin[:80]!r}")
    return cp


@dataclass(frozen=True)
class TlogProof:
    """A c2sp.org/tlog-proof@v1: leaf index, inclusion proof, signed checkpoint, extra data."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: str
    extra: bytes | None = None

    def __post_init__(self) -> None:
        if type(self.index) is not int or not 0 <= self.index <= MAX_TREE_SIZE:
            raise CheckpointError("tlog proof index must be an int in [0, 2**63 - 1]")
        if not isinstance(self.proof, tuple) or len(self.proof) > MAX_PROOF_HASHES:
            raise CheckpointError(f"tlog proof has a tuple of at most {MAX_PROOF_HASHES} hashes")
        for h in self.proof:
            if not isinstance(h, bytes) or len(h) != HASH_SIZE:
                raise CheckpointError(f"tlog proof hashes are {HASH_SIZE} bytes")
        if self.extra is not None and not isinstance(self.extra, bytes):
            raise CheckpointError("tlog proof extra data must be bytes or None")
        if not isinstance(self.checkpoint, str):
            raise CheckpointError("tlog proof checkpoint must be a signed note string")
        try:
            parse_note(self.checkpoint)
        except NoteError as exc:
            raise CheckpointError(f"tlog proof checkpoint: {exc}") from exc


def format_tlog_proof(p: TlogProof) -> str:
    """The text form of a tlog proof."""
    lines = [TLOG_PROOF_HEADER]
    if p.extra is not None:
        lines.append("extra " + b64_encode(p.extra))
    lines.append(f"index {p.index}")
    lines.extend(b64_encode(h) for h in p.proof)
    lines.append("")
    return "".join(line + "\n" for line in lines) + p.checkpoint


def parse_tlog_proof(text: str | bytes) -> TlogProof:
    """Read a tlog proof (structure only; see verify_tlog_proof); raise CheckpointError."""
    text = _as_text(text, "tlog proof")
    if len(text) > MAX_TLOG_PROOF_SIZE:
        raise CheckpointError("tlog proof is too large")
    header, _, rest = text.partition("\n")
    if header != TLOG_PROOF_HEADER:
        raise CheckpointError(f"tlog proof does not start with {TLOG_PROOF_HEADER!r}")
    line, _, rest = rest.partition("\n")
    extra: bytes | None = None
    if line.startswith("extra "):
        try:
            extra = b64_decode(line[len("extra ") :])
        except EncodingError as exc:
            raise CheckpointError(f"tlog proof extra data: {exc}") from exc
        line, _, rest = rest.partition("\n")
    if not line.startswith("index "):
        raise CheckpointError("tlog proof has no 'index' line after the header")
    index = _decimal(line[len("index ") :], "tlog proof index")
    proof: list[bytes] = []
    while True:
        line, sep, rest = rest.partition("\n")
        if not sep:
            raise CheckpointError("tlog proof has no empty line before the checkpoint")
        if not line:
            break
        if len(proof) == MAX_PROOF_HASHES:
            raise CheckpointError(f"tlog proof has more than {MAX_PROOF_HASHES} proof hashes")
        proof.append(_hash(line, f"tlog proof hash {len(proof)}"))
    return TlogProof(index, tuple(proof), rest, extra)


def verify_tlog_proof(
    text: str | bytes, leaf_hash: bytes, verifier: NoteVerifier, origin: str | None = None
) -> Checkpoint:
    """Check a tlog proof for the entry with Merkle leaf hash ``leaf_hash``.

    Checks the checkpoint signature by ``verifier`` (and its origin, if given), that the index is
    inside the tree, and the inclusion proof of ``leaf_hash`` at that index under the checkpoint
    root. Returns the checkpoint; raises CheckpointError with the reason. The extra data is not
    authenticated and plays no part here.
    """
    if not isinstance(leaf_hash, bytes) or len(leaf_hash) != HASH_SIZE:
        raise CheckpointError(f"leaf hash must be {HASH_SIZE} bytes")
    p = parse_tlog_proof(text)
    cp = open_checkpoint(p.checkpoint, verifier, origin)
    if p.index >= cp.size:
        raise CheckpointError(f"index {p.index} is outside the tree of size {cp.size}")
    try:
        ok = verify_inclusion(leaf_hash, p.index, cp.size, p.proof, cp.root)
    except ValueError as exc:
        raise CheckpointError(f"inclusion proof is malformed: {exc}") from exc
    if not ok:
        raise CheckpointError(
            f"inclusion proof for index {p.index} does not lead to the checkpoint root"
        )
    return cp
