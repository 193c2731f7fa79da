"""What a guardian checks before giving a partial decryption.

A guardian must never decrypt a ciphertext the service merely claims is the tally: a malicious
service could pass off one elector's ballot as "the tally", or add a ballot without a valid
proof built to cancel every other ballot but one. Either would reveal a single vote. So before
decrypting, the guardian recomputes the tally from the closed log itself:

- the manifest is signed by a commission key it lists (and, if given, has the expected hash);
- the final checkpoint is signed by the unit's log key, countersigned by the commission, and
  says it is final (its ``final`` line);
- the log's entries hash to that checkpoint's root, and there are exactly that many;
- every entry is a ballot for this election, unit and round, from an elector on the unit's roll,
  at most one per elector, with a valid signature and valid proofs (so each encrypts 0 or 1);
- the encrypted sums and the count the service presents equal the ones recomputed here.

Only then does it consult its own state (tally_service/guardian/state.py: the joint key and
ceremony hash it pinned, the checkpoints it has seen, the final it may already have decrypted),
records the final durably, and computes its partial decryption, bound to that final checkpoint.
The proofs are checked on all cores.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from itertools import islice
from typing import Any

from crypto.ballot import ballot_ciphertexts, check_ballot, verify_ballot_signature
from crypto.canonical import EncodingError, canonical_json, hash_json
from crypto.checkpoint import Checkpoint, CheckpointError, checkpoint_facts
from crypto.elgamal import Ciphertext
from crypto.envelope import EnvelopeError, open_document
from crypto.merkle import MerkleTree, leaf_hash
from crypto.note import NoteError, NoteVerifier, verifier_key, verify_note
from crypto.signing import Context, VerifyKey
from crypto.witness_policy import PolicyError, WitnessPolicy
from tally_service.guardian.state import GuardianRefusal, GuardianState

__all__ = ["GuardianRefusal", "check_tally_inputs", "decrypt_as_guardian", "fetch_and_check"]

MANIFEST_HASH_TAG = "kz-tally/v1/manifest"


def _verify_chunk(
    args: tuple[bytes, str, int, list[str], str, dict[str, str], list[bytes]],
) -> tuple[list[str], list[dict[str, str]]]:
    """Check a chunk of ballots; return the failures and the chunk's encrypted sums."""
    from crypto.group import Point

    manifest_hash, unit, round_no, candidates, key_hex, roll, lines = args
    election_key = Point.from_hex(key_hex)
    failures: list[str] = []
    sums = [Ciphertext.zero() for _ in candidates]
    for line in lines:
        try:
            ballot = json.loads(line)
        except ValueError:
            failures.append("an entry is not JSON")
            continue
        elector = ballot.get("elector") if isinstance(ballot, dict) else None
        if not isinstance(elector, str) or elector not in roll:
            failures.append(f"entry from {elector!r}, who is not on the roll of {unit}")
            continue
        if not verify_ballot_signature(ballot, VerifyKey.from_hex(roll[elector])):
            failures.append(f"the ballot of {elector} has an invalid signature")
            continue
        reason = check_ballot(
            manifest_hash, unit, round_no, elector, candidates, ballot, election_key
        )
        if reason is not None:
            failures.append(f"the ballot of {elector} is invalid: {reason}")
            continue
        sums = [s + c for s, c in zip(sums, ballot_ciphertexts(ballot), strict=True)]
    return failures, [s.to_json() for s in sums]


def _chunks(items: Iterable[bytes], size: int) -> Iterator[list[bytes]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def open_signed_manifest(signed: Any) -> dict[str, Any]:
    """The payload of the sealed manifest, signed by a commission key it lists; a refusal if
    it is not."""
    try:
        payload = signed["payload"]
        keys = {k.key_id: k for k in (VerifyKey.from_hex(h) for h in payload["commission"]["keys"])}
        manifest: dict[str, Any] = open_document(signed, keys, Context.MANIFEST)
    except (EnvelopeError, EncodingError, KeyError, TypeError, ValueError) as exc:
        raise GuardianRefusal(f"the manifest does not check: {exc}") from exc
    return manifest


def check_tally_inputs(
    manifest_signed: dict[str, Any],
    final_note: str,
    entries: Iterable[bytes],
    doc: dict[str, Any],
    *,
    expected_manifest_hash: str | None = None,
    jobs: int = 1,
) -> tuple[dict[str, Any], Checkpoint, MerkleTree]:
    """Raise GuardianRefusal unless ``doc`` (a tally document) is the honest tally of the
    closed log whose ``entries`` (exact bytes, in order) and final checkpoint are given.

    Returns the manifest payload, the verified final checkpoint and the log's tree as
    recomputed from the entries."""
    manifest = open_signed_manifest(manifest_signed)
    keys = {k.key_id: k for k in (VerifyKey.from_hex(h) for h in manifest["commission"]["keys"])}
    mh = hash_json(MANIFEST_HASH_TAG, manifest)
    if expected_manifest_hash is not None and mh.hex() != expected_manifest_hash:
        raise GuardianRefusal("the manifest is not the one the key ceremony was held for")
    if doc.get("election") != mh.hex():
        raise GuardianRefusal("the tally is for another election")
    unit, round_no = doc["unit"], doc["round"]
    units = {u["code"]: u for u in manifest["units"]}
    if unit not in units:
        raise GuardianRefusal(f"no unit {unit!r} in the manifest")
    candidates = list(doc["candidates"])
    unit_candidates = [c["id"] for c in units[unit]["candidates"]]
    if round_no == 1 and candidates != unit_candidates:
        raise GuardianRefusal("round 1 must run every candidate of the unit")
    if round_no == 2 and (len(candidates) != 2 or not set(candidates) <= set(unit_candidates)):
        raise GuardianRefusal("a runoff runs two of the unit's candidates")
    origin = f"{manifest['origin']}/{unit}/{round_no}"
    log_key = NoteVerifier.parse(units[unit]["log_key"])
    commission = [
        NoteVerifier.parse(verifier_key(manifest["commission"]["name"], k)) for k in keys.values()
    ]
    try:
        verified = verify_note(final_note, [log_key, *commission])
        final = Checkpoint.parse(verified.text)
        is_final = checkpoint_facts(final).final
    except (NoteError, CheckpointError) as exc:
        raise GuardianRefusal(f"the final checkpoint does not check: {exc}") from exc
    if not is_final:
        raise GuardianRefusal("the checkpoint shown as final does not say it is final")
    # with witnesses, a final for which a quorum of them made the finality statement (each only
    # for a final consistent with all it cosigned): a log of the service's own making, or one
    # cut short, must get past the witnesses too (crypto/witness_policy.py)
    try:
        policy = WitnessPolicy.from_manifest(manifest.get("witnesses"))
    except PolicyError as exc:
        raise GuardianRefusal(f"the manifest's witness policy is unusable: {exc}") from exc
    if policy is not None and not policy.has_quorum(final_note):
        raise GuardianRefusal(
            f"the final checkpoint lacks the quorum of {policy.quorum} witness finality "
            "statements that the manifest requires"
        )
    if log_key.name not in verified.verified_by or len(verified.verified_by) < 2:
        raise GuardianRefusal("the final checkpoint lacks the log's or the commission's signature")
    if final.origin != origin:
        raise GuardianRefusal(f"the final checkpoint is for {final.origin}, not {origin}")
    roll = {e["elector"]: e["public_key"] for e in units[unit]["roll"]}
    tree = MerkleTree()
    seen: set[str] = set()
    failures: list[str] = []
    sums = [Ciphertext.zero() for _ in candidates]

    def lines() -> Iterator[bytes]:
        for entry in entries:
            tree.append(leaf_hash(entry))
            try:
                elector = json.loads(entry).get("elector")
            except (ValueError, AttributeError):
                elector = None
            if not isinstance(elector, str):
                elector = repr(elector)  # not a roll id: the chunk check refuses the entry
            if elector in seen:
                failures.append(f"a second ballot from {elector}")
            seen.add(elector)
            yield entry

    # chunks small enough that every core gets several, even for a unit of a few dozen electors
    chunk_size = max(8, min(64, -(-final.size // (4 * max(jobs, 1)))))
    tasks = (
        (mh, unit, round_no, candidates, manifest["election_key"], roll, chunk)
        for chunk in _chunks(lines(), chunk_size)
    )
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            outcomes: Iterable[tuple[list[str], list[dict[str, str]]]] = list(
                pool.map(_verify_chunk, tasks)
            )
    else:
        outcomes = map(_verify_chunk, tasks)
    for chunk_failures, chunk_sums in outcomes:
        failures += chunk_failures
        sums = [s + Ciphertext.from_json(c) for s, c in zip(sums, chunk_sums, strict=True)]
    if failures:
        raise GuardianRefusal(f"{len(failures)} bad entries in the log, first: {failures[0]}")
    if tree.size != final.size or tree.root() != final.root:
        raise GuardianRefusal("the log's entries do not hash to the final checkpoint")
    if doc.get("took_part") != final.size:
        raise GuardianRefusal("the tally's count of ballots is not the log's")
    if doc.get("final_checkpoint") != {"size": final.size, "root": final.root.hex()}:
        raise GuardianRefusal("the tally names another final checkpoint")
    if [c.to_json() for c in sums] != doc.get("encrypted"):
        raise GuardianRefusal("the encrypted tally is not the sum of the log's ballots")
    return manifest, final, tree


def fetch_and_check(
    client: Any, doc: dict[str, Any], jobs: int = 1, expected_manifest_hash: str | None = None
) -> tuple[dict[str, Any], Checkpoint, MerkleTree, str]:
    """The HTTP path: fetch the manifest, the final checkpoint and every entry from the
    service, then check_tally_inputs. Returns its results and the final note."""
    unit, round_no = doc["unit"], doc["round"]
    base = f"/units/{unit}/rounds/{round_no}"
    rows = client.get(f"{base}/checkpoints")["checkpoints"]
    finals = [r for r in rows if r["final"]]
    if len(finals) != 1:
        raise GuardianRefusal(f"round {round_no} of {unit} has no final checkpoint")
    try:  # the size bounds what is read; the signature is checked with the entries
        size = Checkpoint.parse(verify_note_text(finals[0]["note"])).size
    except (NoteError, CheckpointError) as exc:
        raise GuardianRefusal(f"the final checkpoint does not check: {exc}") from exc

    def entries() -> Iterator[bytes]:
        start = 0
        while start < size:
            page = client.get(f"{base}/entries", start=start)["entries"]
            if not page:
                return  # fewer entries than the final's size: refused by the root check
            for entry in page[: size - start]:
                yield canonical_json(entry)
            start += len(page)

    note = finals[0]["note"]
    manifest, final, tree = check_tally_inputs(
        client.get("/manifest"),
        note,
        entries(),
        doc,
        expected_manifest_hash=expected_manifest_hash,
        jobs=jobs,
    )
    return manifest, final, tree, note


def verify_note_text(note: str) -> str:
    """The text of a signed note (signatures not checked here)."""
    from crypto.note import parse_note

    return parse_note(note).text


def decrypt_as_guardian(
    client: Any,
    doc: dict[str, Any],
    guardian: int,
    secret_share: Any,
    state: GuardianState,
    jobs: int = 1,
    expect: tuple[str, int] | None = None,
) -> dict[str, Any]:
    """Everything a guardian does before its partial decryption leaves it, in order:
    recompute and check the tally from the signed log, check the manifest against its pins,
    check the final against every checkpoint it has seen and the final it may have decrypted,
    record the final durably, then decrypt in the context bound to that final checkpoint."""
    from crypto.decryption import decryption_context, partial_decrypt

    if expect is not None and (doc.get("unit"), doc.get("round")) != expect:
        raise GuardianRefusal(
            f"asked to decrypt {expect[0]} round {expect[1]}, the service presents the tally of "
            f"{doc.get('unit')!r} round {doc.get('round')!r}"
        )
    manifest, final, tree, note = fetch_and_check(
        client, doc, jobs=jobs, expected_manifest_hash=state.pins().get("manifest_hash")
    )
    state.check_manifest(manifest, doc["election"])
    units = {u["code"]: u for u in manifest["units"]}
    registered = len(units[doc["unit"]]["roll"])
    if 2 * final.size <= registered:
        # the counts of a round without quorum decide nothing, and a round of a few ballots
        # (one, say, closed right after a chosen elector voted) would reveal them
        raise GuardianRefusal(
            f"round {doc['round']} of {doc['unit']} has {final.size} ballots of {registered} "
            "registered: without a quorum its tally is not decrypted"
        )
    state.check_and_record(final, note, tree.root)
    cts = [Ciphertext.from_json(c) for c in doc["encrypted"]]
    context = decryption_context(
        bytes.fromhex(doc["election"]), doc["unit"], doc["round"], final.origin, final.size,
        final.root,
    )
    return partial_decrypt(secret_share, guardian, cts, context)
