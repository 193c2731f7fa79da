"""Tallying a closed round: the homomorphic sum, the guardians' partial decryptions, counts.

The encrypted tally is the component-wise sum of every ballot in the closed log. Guardians
decrypt it jointly: each submits a partial decryption with proofs; any k of them suffice. The
tally document records all of it, so an observer recomputes the sum, checks every proof and
redoes the combination.

A round without quorum (not more than half of the registered electors took part) is void
whatever its votes, so its tally is never decrypted: its encrypted sums are computed and
published like any other, so anyone can check them, but no partial decryption is accepted for
it and it is decided without counts (crypto.rules.decide_void). Decrypting it would decide
nothing and could reveal votes: a round closed right after one chosen elector voted holds a
one-ballot "tally". The guardians refuse such a round too (tally_service/guardian/checks.py).
"""

from __future__ import annotations

import json
from typing import Any

from crypto.ballot import ballot_ciphertexts
from crypto.canonical import hash_json
from crypto.checkpoint import open_checkpoint
from crypto.decryption import (
    check_partial,
    decrypt_counts,
    decryption_context,
    decryption_factors,
)
from crypto.elgamal import Ciphertext
from crypto.group import Point
from crypto.rules import Outcome, RoundCounts, decide, decide_void, has_quorum, lot_seed
from crypto.signed_partial import (
    SignedPartialError,
    guardian_keys,
    open_signed_partial,
    partial_statement,
    sign_partial,
)
from crypto.signing import SigningKey, VerifyKey
from tally_service.common import problems
from tally_service.service.election import Election

TALLY_FORMAT = "kz-tally/tally/v3"
TALLY_HASH_TAG = "kz-tally/v1/tally"


def encrypted_sum(election: Election, unit: str, round_no: int) -> tuple[list[Ciphertext], int]:
    """The component-wise sum of the closed log's ballots, and their number."""
    log = election.log(unit, round_no)
    if log.open:
        raise problems.conflict("round-open", f"close round {round_no} of {unit} before tallying")
    sums = [Ciphertext.zero() for _ in log.candidates]
    count = 0
    for entry in election.store.iter_entries(unit, round_no):
        cts = ballot_ciphertexts(json.loads(entry))
        sums = [s + c for s, c in zip(sums, cts, strict=True)]
        count += 1
    if count != log.tree.size:
        raise problems.Problem(500, "store", "the stored log and the tree disagree")
    return sums, count


def _ceremony(election: Election) -> dict[str, Any]:
    text = election.store.get_meta("ceremony")
    assert text is not None
    transcript: dict[str, Any] = json.loads(text)
    return transcript


def public_share(election: Election, guardian: int) -> Point:
    shares = _ceremony(election)["public_shares"]
    if str(guardian) not in shares:
        raise problems.unprocessable("unknown-guardian", f"there is no guardian {guardian}")
    return Point.from_hex(shares[str(guardian)])


def is_void(election: Election, doc: dict[str, Any]) -> bool:
    """The tally's round has no quorum: it is void and is never decrypted."""
    return not has_quorum(doc["took_part"], election.manifest.registered(doc["unit"]))


def start_tally(election: Election, unit: str, round_no: int) -> dict[str, Any]:
    """Compute and store the encrypted tally of a closed round (idempotent). A round without
    quorum gets its encrypted tally too, and stays without partials and counts for good."""
    existing = election.store.get_tally(unit, round_no)
    if existing is not None:
        doc: dict[str, Any] = json.loads(existing)
        return doc
    log = election.log(unit, round_no)
    sums, count = encrypted_sum(election, unit, round_no)
    from tally_service.service.witnessing import require_witnessed_final

    require_witnessed_final(election, unit, round_no)  # issue 18: the final has its quorum
    final = open_checkpoint(
        election.checkpoint_at(log, log.tree.size),
        election.manifest.log_verifiers[unit],
        log.origin,
    )
    doc = {
        "format": TALLY_FORMAT,
        "election": election.manifest.hash.hex(),
        "unit": unit,
        "round": round_no,
        "candidates": log.candidates,
        "final_checkpoint": {"size": final.size, "root": final.root.hex()},
        "took_part": count,
        "encrypted": [c.to_json() for c in sums],
        "partials": [],
        "counts": None,
        "blank": None,
    }
    election.store.put_tally(unit, round_no, json.dumps(doc))
    return doc


def final_context(election: Election, doc: dict[str, Any]) -> bytes:
    """The decryption context of a tally document: its election, unit, round and the final
    checkpoint (origin, size, root) of the closed log it sums."""
    unit, round_no = doc["unit"], doc["round"]
    final = doc["final_checkpoint"]
    return decryption_context(
        election.manifest.hash,
        unit,
        round_no,
        election.log(unit, round_no).origin,
        final["size"],
        bytes.fromhex(final["root"]),
    )


def _guardian_keys(election: Election) -> dict[str, tuple[int, VerifyKey]]:
    return guardian_keys(election.manifest.body["guardians"]["keys"])


def submit_partial(election: Election, unit: str, round_no: int, signed: object) -> dict[str, Any]:
    """Check one guardian's signed partial decryption (crypto/signed_partial.py: its identity
    key from the manifest, this round, this tally's final checkpoint) and its proofs, and store
    it as signed; decrypt once k are in. The tally keeps the signed partials, so the record
    shows which guardian decrypted which final checkpoint (V6 checks the signatures)."""
    doc = start_tally(election, unit, round_no)
    try:
        guardian, partial = open_signed_partial(
            signed, _guardian_keys(election), doc["election"], unit, round_no,
            doc["final_checkpoint"],
        )
    except SignedPartialError as exc:
        raise problems.forbidden("guardian-signature", str(exc)) from exc
    if is_void(election, doc):
        raise problems.conflict(
            "no-quorum",
            f"round {round_no} of {unit} has {doc['took_part']} ballots of "
            f"{election.manifest.registered(unit)} registered: without a quorum the round is void "
            "whatever the votes, so its tally is never decrypted (that could only reveal votes)",
        )
    if doc["counts"] is not None:
        raise problems.conflict("tallied", f"round {round_no} of {unit} is decrypted already")
    cts = [Ciphertext.from_json(c) for c in doc["encrypted"]]
    context = final_context(election, doc)
    reason = check_partial(partial, public_share(election, guardian), cts, context)
    if reason is not None:
        raise problems.unprocessable(
            "partial-decryption", f"guardian {guardian}'s partial decryption fails: {reason}"
        )
    election.store.put_partial(unit, round_no, guardian, json.dumps(signed))
    stored = {g: json.loads(p) for g, p in election.store.partials(unit, round_no).items()}
    k = election.manifest.body["guardians"]["k"]
    if len(stored) >= k:
        chosen = dict(sorted(stored.items())[:k])
        shares = {
            g: [Point.from_hex(h) for h in p["payload"]["partial"]["shares"]]
            for g, p in chosen.items()
        }
        counts = decrypt_counts(shares, cts, k, doc["took_part"])
        doc["partials"] = list(chosen.values())
        doc["counts"] = dict(zip(doc["candidates"], counts, strict=True))
        doc["blank"] = doc["took_part"] - sum(counts)
        if doc["blank"] < 0:
            raise problems.Problem(500, "decryption", "decrypted counts exceed the ballots")
        election.store.put_tally(unit, round_no, json.dumps(doc))
        return doc
    return {**doc, "partials": list(stored.values())}  # so far; not stored until k are in


def signed_statement(
    doc: dict[str, Any], partial: dict[str, Any], identity: SigningKey
) -> dict[str, Any]:
    """A partial decryption of the tally ``doc``, signed as its guardian signs it."""
    statement = partial_statement(
        doc["election"], doc["unit"], doc["round"], doc["final_checkpoint"], partial
    )
    return sign_partial(statement, identity)


def tally_hash(doc: dict[str, Any]) -> bytes:
    return hash_json(TALLY_HASH_TAG, doc)


def outcome(election: Election, doc: dict[str, Any]) -> Outcome:
    """The round's decision: void without counts if it has no quorum, else from its counts."""
    unit, round_no = doc["unit"], doc["round"]
    registered = election.manifest.registered(unit)
    if is_void(election, doc):
        return decide_void(registered, doc["took_part"], round_no)
    if doc["counts"] is None:
        raise problems.conflict("not-tallied", f"round {round_no} of {unit} is not decrypted yet")
    counts = RoundCounts(
        registered=registered,
        took_part=doc["took_part"],
        votes=doc["counts"],
        blank=doc["blank"],
    )
    cp = doc["final_checkpoint"]
    factors = decryption_factors(
        [Ciphertext.from_json(c) for c in doc["encrypted"]],
        [doc["counts"][c] for c in doc["candidates"]],
    )
    seed = lot_seed(bytes.fromhex(cp["root"]), cp["size"], unit, round_no, factors)
    return decide(counts, round_no, seed)


def open_runoff(election: Election, unit: str) -> Any:
    """Open round 2 of a unit whose round 1 needs a runoff, with the two runoff candidates."""
    text = election.store.get_tally(unit, 1)
    if text is None:
        raise problems.conflict("not-tallied", f"round 1 of {unit} is not tallied")
    out = outcome(election, json.loads(text))
    if out.status != "runoff" or out.runoff is None:
        raise problems.conflict("no-runoff", f"round 1 of {unit} needs no runoff ({out.status})")
    return election.open_round(unit, 2, list(out.runoff))
