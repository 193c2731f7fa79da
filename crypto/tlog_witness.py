"""The C2SP tlog-witness add-checkpoint request (https://c2sp.org/tlog-witness), as bytes.

    old <size>\n
    <consistency proof hash, base64>\n     (one line each, at most MAX_PROOF_HASHES)
    \n
    <the signed checkpoint note>

Both ends use this one definition: the service, as the witness's client
(tally_service/service/witnessing.py), builds the body; the witness
(tally_service/witness/core.py) parses it. A witness answers a wrong old size with 409 and the
size it has, as ``text/x.tlog.size``.
"""

from __future__ import annotations

from crypto.canonical import EncodingError, b64_decode, b64_encode
from crypto.checkpoint import MAX_PROOF_HASHES
from crypto.note import MAX_NOTE_SIZE

SIZE_CONTENT_TYPE = "text/x.tlog.size"
#: Largest add-checkpoint body: a maximal note and a full consistency proof.
MAX_REQUEST_SIZE = MAX_NOTE_SIZE + 64 * 64


def add_checkpoint_body(old: int, proof: list[bytes], note: str) -> bytes:
    """An add-checkpoint request body: ``old <size>``, proof lines, empty line, the note."""
    lines = [f"old {old}", *(b64_encode(h) for h in proof), ""]
    return ("".join(line + "\n" for line in lines) + note).encode("utf-8")


def parse_add_checkpoint_body(body: bytes) -> tuple[int, list[bytes], str]:
    """(old size, proof hashes, checkpoint note) of an add-checkpoint body; ValueError."""
    if len(body) > MAX_REQUEST_SIZE:
        raise ValueError("the request is too large")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError("the request is not UTF-8") from exc
    line, sep, rest = text.partition("\n")
    if not sep or not line.startswith("old "):
        raise ValueError("the request does not start with an 'old <size>' line")
    digits = line[4:]
    if not digits.isascii() or not digits.isdigit() or (digits != "0" and digits[0] == "0"):
        raise ValueError("the old size is not a decimal number without leading zeros")
    if len(digits) > 19 or int(digits) > (1 << 63) - 1:
        raise ValueError("the old size is larger than 2**63 - 1")
    old = int(digits)
    proof: list[bytes] = []
    while True:
        line, sep, rest = rest.partition("\n")
        if not sep:
            raise ValueError("the request has no empty line before the checkpoint")
        if not line:
            break
        if len(proof) == MAX_PROOF_HASHES:
            raise ValueError(f"more than {MAX_PROOF_HASHES} consistency proof lines")
        try:
            proof.append(b64_decode(line, 32))
        except EncodingError as exc:
            raise ValueError(f"consistency proof line {len(proof) + 1}: {exc}") from exc
    return old, proof, rest
