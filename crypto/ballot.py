"""Encrypted ballots: one exponential ElGamal ciphertext per candidate, with validity proofs.

A ballot for a round with candidates c_1..c_n holds, in the round's candidate order, one
selection per candidate: the ciphertext of v_i in {0, 1} and a proof that it encrypts 0 or 1.
A ballot-level *sum proof* shows that the component-wise sum of the selections encrypts 0 or 1,
so a blank ballot (all zeros) is allowed and two marks are not.

Every proof is bound (strong Fiat-Shamir) to ``ballot_context``: the election's manifest hash,
the unit, the round and the elector. A selection proof is further bound to its position and
candidate id, the sum proof to the whole candidate list. So a ballot, or any part of it, cannot
be replayed by another elector, nor in another unit, round or election.

The ballot *content* (what ``encrypt_ballot`` returns and ``check_ballot`` checks) is

    {"selections": [{"candidate": id, "ciphertext": {"a": hex, "b": hex},
                     "proof": {"c0": hex, "c1": hex, "u0": hex, "u1": hex}}, ...],
     "sum_proof": {"c0": hex, "c1": hex, "u0": hex, "u1": hex}}

and the elector's signed ballot (the log entry) adds the envelope

    {"election": manifest hash hex, "unit": str, "round": int, "elector": str,
     "selections": [...], "sum_proof": {...}, "signature": hex}

where the Ed25519 signature (context ``BALLOT``) covers the RFC 8785 bytes of everything but
"signature".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crypto.canonical import EncodingError, canonical_json, hex_decode, tagged_hash
from crypto.elgamal import Ciphertext, add_all, encrypt
from crypto.group import Point, Scalar
from crypto.proofs import ZeroOrOneProof, prove_zero_or_one, verify_zero_or_one
from crypto.signing import Context, SigningKey, VerifyKey

__all__ = [
    "ballot_ciphertexts",
    "ballot_content",
    "ballot_context",
    "ballot_signing_bytes",
    "check_ballot",
    "encrypt_ballot",
    "make_signed_ballot",
    "selection_context",
    "sign_ballot",
    "sum_context",
    "verify_ballot_signature",
]

TAG_BALLOT_CONTEXT = "kz-tally/v1/ballot-context"
TAG_SELECTION = "kz-tally/v1/ballot-selection"
TAG_SUM = "kz-tally/v1/ballot-sum"

CONTENT_FIELDS = frozenset({"selections", "sum_proof"})
ENVELOPE_FIELDS = frozenset({"election", "unit", "round", "elector", "signature"})
SELECTION_FIELDS = frozenset({"candidate", "ciphertext", "proof"})
_SIGNATURE_BYTES = 64
_POINT_BYTES = 32
_MANIFEST_HASH_BYTES = 32


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def _check_params(manifest_hash: bytes, unit: str, round_no: int, elector_id: str) -> None:
    if not isinstance(manifest_hash, bytes) or len(manifest_hash) != _MANIFEST_HASH_BYTES:
        raise ValueError(f"the manifest hash is {_MANIFEST_HASH_BYTES} bytes")
    if not isinstance(unit, str) or not unit:
        raise ValueError("the unit is a non-empty string")
    if isinstance(round_no, bool) or not isinstance(round_no, int) or not 1 <= round_no < 2**63:
        raise ValueError("the round is a positive integer")
    if not isinstance(elector_id, str) or not elector_id:
        raise ValueError("the elector id is a non-empty string")


def _check_candidates(candidate_ids: Sequence[str]) -> list[str]:
    if isinstance(candidate_ids, str | bytes) or not isinstance(candidate_ids, Sequence):
        raise ValueError("the candidate ids are a sequence of strings")
    ids = list(candidate_ids)
    if not ids:
        raise ValueError("a round has at least one candidate")
    if not all(isinstance(c, str) and c for c in ids):
        raise ValueError("candidate ids are non-empty strings")
    if len(set(ids)) != len(ids):
        raise ValueError("candidate ids are unique")
    return ids


def ballot_context(manifest_hash: bytes, unit: str, round_no: int, elector_id: str) -> bytes:
    """The tagged hash that binds a ballot's proofs to its election, unit, round and elector."""
    _check_params(manifest_hash, unit, round_no, elector_id)
    return tagged_hash(
        TAG_BALLOT_CONTEXT,
        manifest_hash,
        unit.encode("utf-8"),
        _u64(round_no),
        elector_id.encode("utf-8"),
    )


def selection_context(context: bytes, position: int, candidate_id: str) -> bytes:
    """The context of the 0-or-1 proof of the selection at ``position`` (0-based)."""
    return tagged_hash(TAG_SELECTION, context, _u64(position), candidate_id.encode("utf-8"))


def sum_context(context: bytes, candidate_ids: Sequence[str]) -> bytes:
    """The context of the sum proof: the ballot context and the round's whole candidate list."""
    return tagged_hash(TAG_SUM, context, canonical_json(list(candidate_ids)))


def encrypt_ballot(
    manifest_hash: bytes,
    unit: str,
    round_no: int,
    elector_id: str,
    candidate_ids: Sequence[str],
    choice: str | None,
    election_key: Point,
) -> dict[str, Any]:
    """Encrypt a vote for ``choice`` (None: a blank ballot) with all its proofs.

    Returns the ballot content (see the module docstring). ValueError if ``choice`` is not one
    of ``candidate_ids`` or the parameters are malformed. The nonces live only inside this call.
    """
    context = ballot_context(manifest_hash, unit, round_no, elector_id)
    ids = _check_candidates(candidate_ids)
    if choice is not None and choice not in ids:
        raise ValueError("the choice is not one of the round's candidates")
    if not isinstance(election_key, Point) or election_key.is_identity():
        raise ValueError("the election key must be a point other than the identity")
    selections: list[dict[str, Any]] = []
    nonce_sum = Scalar.zero()
    cts: list[Ciphertext] = []
    for position, candidate in enumerate(ids):
        value = 1 if candidate == choice else 0
        nonce = Scalar.random()
        ct = encrypt(value, election_key, nonce)
        proof = prove_zero_or_one(
            ct, value, nonce, election_key, selection_context(context, position, candidate)
        )
        selections.append(
            {"candidate": candidate, "ciphertext": ct.to_json(), "proof": proof.to_json()}
        )
        nonce_sum = nonce_sum + nonce
        cts.append(ct)
    sum_proof = prove_zero_or_one(
        add_all(cts),
        0 if choice is None else 1,
        nonce_sum,
        election_key,
        sum_context(context, ids),
    )
    return {"selections": selections, "sum_proof": sum_proof.to_json()}


def _envelope_reason(
    ballot: Mapping[str, Any], manifest_hash: bytes, unit: str, round_no: int, elector_id: str
) -> str | None:
    if ballot["election"] != manifest_hash.hex():
        return "the ballot is for another election"
    if ballot["unit"] != unit:
        return "the ballot is for another unit"
    r = ballot["round"]
    if isinstance(r, bool) or not isinstance(r, int) or r != round_no:
        return "the ballot is for another round"
    if ballot["elector"] != elector_id:
        return "the ballot names another elector"
    if not isinstance(ballot["signature"], str):
        return "the signature is not a string"
    return None


def _fields_reason(ballot: Mapping[str, Any]) -> str | None:
    keys = set(ballot)
    if keys == CONTENT_FIELDS or keys == CONTENT_FIELDS | ENVELOPE_FIELDS:
        return None
    expected = CONTENT_FIELDS | ENVELOPE_FIELDS if keys & ENVELOPE_FIELDS else CONTENT_FIELDS
    missing = sorted(expected - keys)
    extra = sorted(str(k) for k in keys - expected)
    if missing:
        return f"missing field {missing[0]!r}"
    return f"unexpected field {extra[0][:40]!r}"


def _parse_selections(
    selections: object, candidate_ids: list[str]
) -> tuple[list[tuple[Ciphertext, ZeroOrOneProof]], None] | tuple[None, str]:
    if not isinstance(selections, list):
        return None, "selections is not a list"
    if len(selections) != len(candidate_ids):
        return None, "candidates do not match the round's list"
    parsed: list[tuple[Ciphertext, ZeroOrOneProof]] = []
    for position, sel in enumerate(selections):
        label = f"selection {position + 1}"
        if not isinstance(sel, dict):
            return None, f"{label}: not an object"
        if set(sel) != SELECTION_FIELDS:
            return None, f"{label}: expected exactly the fields candidate, ciphertext, proof"
        if not isinstance(sel["candidate"], str) or sel["candidate"] != candidate_ids[position]:
            return None, "candidates do not match the round's list"
        ct_json = sel["ciphertext"]
        if not isinstance(ct_json, dict) or set(ct_json) != {"a", "b"}:
            return None, f"{label}: malformed ciphertext"
        try:
            raw_a = hex_decode(ct_json["a"], _POINT_BYTES)
            raw_b = hex_decode(ct_json["b"], _POINT_BYTES)
        except EncodingError:
            return None, f"{label}: malformed ciphertext (points are 32-byte lowercase hex)"
        try:
            ct = Ciphertext(Point.from_bytes(raw_a), Point.from_bytes(raw_b))
        except EncodingError:
            return None, f"{label}: invalid point encoding"
        if ct.a.is_identity():
            return None, f"{label}: degenerate ciphertext (a is the identity)"
        try:
            proof = ZeroOrOneProof.from_json(sel["proof"])
        except EncodingError:
            return None, f"{label}: malformed proof"
        parsed.append((ct, proof))
    return parsed, None


def check_ballot(
    manifest_hash: bytes,
    unit: str,
    round_no: int,
    elector_id: str,
    candidate_ids: Sequence[str],
    content: object,
    election_key: Point,
) -> str | None:
    """None if ``content`` is a valid ballot for this elector and round, else a short reason.

    ``content`` is the ballot content, or the whole signed ballot: then its envelope (election,
    unit, round, elector) must match the arguments too; its signature is checked separately by
    ``verify_ballot_signature``. Selections are numbered from 1 in the reasons. Never raises
    because of ``content``; the other arguments are the caller's and raise ValueError if
    malformed.
    """
    context = ballot_context(manifest_hash, unit, round_no, elector_id)
    ids = _check_candidates(candidate_ids)
    if not isinstance(election_key, Point) or election_key.is_identity():
        return "the election key is the identity"
    try:
        if not isinstance(content, dict):
            return "the ballot is not an object"
        reason = _fields_reason(content)
        if reason is not None:
            return reason
        if "signature" in content:
            reason = _envelope_reason(content, manifest_hash, unit, round_no, elector_id)
            if reason is not None:
                return reason
        parsed, reason = _parse_selections(content["selections"], ids)
        if reason is not None or parsed is None:
            return reason or "malformed selections"
        try:
            sum_proof = ZeroOrOneProof.from_json(content["sum_proof"])
        except EncodingError:
            return "malformed sum proof"
        for position, (ct, proof) in enumerate(parsed):
            sel_context = selection_context(context, position, ids[position])
            if not verify_zero_or_one(ct, election_key, proof, sel_context):
                return f"selection {position + 1}: proof of 0-or-1 fails"
        total = add_all(ct for ct, _ in parsed)
        if not verify_zero_or_one(total, election_key, sum_proof, sum_context(context, ids)):
            return "sum proof fails"
        return None
    except Exception as exc:  # never raise on hostile input; fail closed
        return f"the ballot could not be checked ({type(exc).__name__})"


def ballot_ciphertexts(content: Mapping[str, Any]) -> list[Ciphertext]:
    """The selections' ciphertexts in candidate order (of a checked ballot or signed ballot)."""
    selections = content["selections"]
    if not isinstance(selections, list):
        raise EncodingError("selections is not a list")
    out: list[Ciphertext] = []
    for sel in selections:
        if not isinstance(sel, dict):
            raise EncodingError("a selection is an object")
        out.append(Ciphertext.from_json(sel.get("ciphertext")))
    return out


def ballot_content(signed_ballot: Mapping[str, Any]) -> dict[str, Any]:
    """The content part (selections and sum proof) of a signed ballot."""
    return {"selections": signed_ballot["selections"], "sum_proof": signed_ballot["sum_proof"]}


def ballot_signing_bytes(signed_ballot: Mapping[str, Any]) -> bytes:
    """The RFC 8785 bytes the elector signs: the ballot without its "signature" field."""
    return canonical_json({k: v for k, v in signed_ballot.items() if k != "signature"})


def sign_ballot(unsigned: Mapping[str, Any], key: SigningKey) -> dict[str, Any]:
    """A copy of ``unsigned`` with the elector's "signature" (context BALLOT) added."""
    if "signature" in unsigned:
        raise ValueError("the ballot is already signed")
    signature = key.sign(Context.BALLOT, ballot_signing_bytes(unsigned))
    return {**unsigned, "signature": signature.hex()}


def verify_ballot_signature(signed_ballot: Mapping[str, Any], key: VerifyKey) -> bool:
    """True if the ballot's "signature" is ``key``'s BALLOT signature of the rest. Never raises."""
    try:
        if not isinstance(signed_ballot, Mapping) or not isinstance(key, VerifyKey):
            return False
        signature = hex_decode(signed_ballot["signature"], _SIGNATURE_BYTES)
        return key.verify(Context.BALLOT, ballot_signing_bytes(signed_ballot), signature)
    except Exception:  # malformed input of any kind is simply not a valid signature
        return False


def make_signed_ballot(
    manifest_hash: bytes,
    unit: str,
    round_no: int,
    elector_id: str,
    candidate_ids: Sequence[str],
    choice: str | None,
    election_key: Point,
    signing_key: SigningKey,
) -> dict[str, Any]:
    """Encrypt, prove and sign: the complete log entry an elector submits."""
    content = encrypt_ballot(
        manifest_hash, unit, round_no, elector_id, candidate_ids, choice, election_key
    )
    unsigned = {
        "election": manifest_hash.hex(),
        "unit": unit,
        "round": round_no,
        "elector": elector_id,
        **content,
    }
    return sign_ballot(unsigned, signing_key)
