"""A guardian's signed partial decryption: the statement it is accountable for.

Threat: the service combines the partial decryptions and publishes the tally. Without each
guardian's signature in the record, nobody can tell afterwards which guardian decrypted which
final checkpoint: a guardian that decrypted a fork (or the operator that says one did) leaves no
evidence an observer can hold it to, and a partial could be attributed to any guardian whose
public share it verifies under (only the guardian index names it).

So each partial decryption travels and is kept as the envelope its guardian signed
(crypto/envelope.py, context ``guardian``) around this statement::

    {"election": "<H_M hex>", "unit": "AKM", "round": 1,
     "final_checkpoint": {"size": 10, "root": "<hex>"},
     "partial": {"guardian": 2, "shares": [...], "proofs": [...]}}

``open_signed_partial`` checks the signature with the guardian identity keys of the sealed
manifest (``guardians.keys``, in guardian order), that the statement is exactly these fields,
that it names the expected election, unit, round and final checkpoint, and that the partial
names its signer. The service runs it on receipt, the verifier's V6 on every partial of the
record; the partial's proofs are then checked (``crypto.decryption.check_partial``) against
the same final checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crypto.envelope import EnvelopeError, open_document, sign_document
from crypto.signing import Context, SigningKey, VerifyKey

STATEMENT_FIELDS = frozenset({"election", "unit", "round", "final_checkpoint", "partial"})


def _shown(value: object) -> str:
    """A value of the statement in a reason, cut short: the reason outlives the document."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:80]}..."


class SignedPartialError(ValueError):
    """The signed partial is malformed, not signed by its guardian, or for something else."""


def partial_statement(
    election: str, unit: str, round_no: int, final_checkpoint: Mapping[str, Any], partial: Any
) -> dict[str, Any]:
    """What a guardian signs: its partial, the round it decrypts and the final checkpoint (tree
    size and root hex) of the closed log it checked."""
    return {
        "election": election,
        "unit": unit,
        "round": round_no,
        "final_checkpoint": {
            "size": final_checkpoint["size"],
            "root": final_checkpoint["root"],
        },
        "partial": partial,
    }


def sign_partial(statement: Mapping[str, Any], identity: SigningKey) -> dict[str, Any]:
    return sign_document(statement, identity, Context.GUARDIAN)


def guardian_keys(keys: Sequence[Mapping[str, Any]]) -> dict[str, tuple[int, VerifyKey]]:
    """key id -> (guardian index from 1, identity key), from the manifest's ``guardians.keys``."""
    out: dict[str, tuple[int, VerifyKey]] = {}
    for index, entry in enumerate(keys, start=1):
        key = VerifyKey.from_hex(str(entry["identity_key"]))
        out[key.key_id] = (index, key)
    return out


def open_signed_partial(
    signed: object,
    keys: Mapping[str, tuple[int, VerifyKey]],
    election: str,
    unit: str,
    round_no: int,
    final_checkpoint: Mapping[str, Any],
) -> tuple[int, dict[str, Any]]:
    """(guardian index, partial) of a signed partial for this round and final checkpoint;
    SignedPartialError saying what is wrong otherwise."""
    if not isinstance(signed, Mapping) or set(signed) != {"payload", "key_id", "signature"}:
        raise SignedPartialError(
            "not a guardian's signed partial (an envelope of payload, key_id, signature)"
        )
    key_id = signed.get("key_id")
    if not isinstance(key_id, str) or key_id not in keys:
        raise SignedPartialError(
            f"signed by {_shown(key_id)}, no guardian identity key of the manifest"
        )
    index, key = keys[key_id]
    try:
        statement = open_document(signed, {key_id: key}, Context.GUARDIAN)
    except EnvelopeError as exc:
        raise SignedPartialError(f"guardian {index}'s signature: {exc}") from None
    if set(statement) != STATEMENT_FIELDS:
        raise SignedPartialError(
            f"guardian {index} signed fields {sorted(statement)}, not {sorted(STATEMENT_FIELDS)}"
        )
    if statement["election"] != election:
        raise SignedPartialError(f"guardian {index} signed it for another election")
    if statement["unit"] != unit or statement["round"] != round_no:
        raise SignedPartialError(
            f"guardian {index} signed it for {_shown(statement['unit'])} round "
            f"{_shown(statement['round'])}"
        )
    wanted = {"size": final_checkpoint["size"], "root": final_checkpoint["root"]}
    if statement["final_checkpoint"] != wanted:
        raise SignedPartialError(
            f"guardian {index} signed it for final checkpoint "
            f"{_shown(statement['final_checkpoint'])}, "
            f"not {wanted}"
        )
    partial = statement["partial"]
    if not isinstance(partial, dict) or partial.get("guardian") != index:
        named = partial.get("guardian") if isinstance(partial, dict) else None
        raise SignedPartialError(f"signed by guardian {index} but names guardian {_shown(named)}")
    return index, partial
