"""The key ceremony between independent guardians: signed messages, commit-before-reveal,
encrypted shares, public complaints, QUAL (Gennaro, Jarecki, Krawczyk, Rabin 1999/2007).

The n guardians are listed in the manifest with a name, an Ed25519 *identity key* (signs every
message they post) and an X25519 *share key* (receives shares). The service only relays. An
attempt runs these phases among its *participants* (the listed guardians, less any the
commission excluded after an earlier attempt failed):

0. Each guardian compares, name by name, the others' key fingerprints (``fingerprint_of``)
   with what they gave out of band, and the *ceremony fingerprint* (``ceremony_fingerprint``:
   election, n, k, the ordered guardian list, the witness list) with the one the guardians
   agreed on out of band; then pins the *parameters hash* L (``list_hash``). A guardian that
   stops here posts a signed *objection* (``sign_objection``) saying what it saw and why.
a. ``commit``: the hash of its public record (``commit_hash``): Feldman commitments + Schnorr
   proofs of its secret polynomial, bound by ``proof_context`` to this election, list and attempt.
b. ``reveal``: the record itself, accepted only if it hashes to the phase-(a) commitment, and
   the hash of every participant's commitment as the revealer saw them (``commit_set_hash``):
   a guardian reveals only once every commitment is in, and the transcript proves it. Nobody
   can choose its polynomial after seeing another's record (the bias of Pedersen's DKG
   without a commit round, where the last guardian to publish can steer the joint key).
c. ``shares``: P_i(j) for every other participant j, each sealed to j's share key with
   associated data binding election, list, attempt, dealer and recipient (``share_aad``).
d. ``complaints``: every participant names the dealers whose share failed its check (possibly
   none). ``answers``: an accused dealer reveals the disputed shares in public; the complaint is
   upheld (dealer disqualified) if it does not answer or ``resolve_complaint`` rejects what it
   reveals. QUAL = participants less the disqualified. The ceremony needs |QUAL| >= k and
   k > |QUAL|/2 (two disjoint sets of k guardians cannot both decrypt: see issue 13).
e. ``confirm``: each guardian in QUAL signs the joint key (sum of QUAL's C_i0) and the
   transcript hash (``transcript_hash``: phases a-d, header included; not the confirmations).

Every message is a signed envelope (crypto/envelope.py) in context ``ceremony`` whose payload
``{"election", "guardian_list", "attempt", "phase", "guardian", "body"}`` binds the election id,
L and the attempt, so no message can be replayed into another election, list, attempt or
phase. The guardian list must not name a key (or a name) twice: one guardian listed twice
would hold two shares, and with k = 2 the whole key (issue 24). ``check_ceremony`` checks a
complete transcript (the verifier's V2).

Residual bias (GJKR section 4): a guardian may still abort, or get itself disqualified, after
seeing the reveals; the joint key then comes from a smaller QUAL or a new attempt. That lets it
choose between a few keys at best, which does not help it decrypt: every candidate key is still
the sum of honest guardians' uniformly random secrets, and no set smaller than k learns it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from typing import Any

from crypto.canonical import EncodingError, hash_json, hex_decode, tagged_hash
from crypto.envelope import EnvelopeError, open_document, sign_document
from crypto.group import Point, Scalar, point_from_public_hex
from crypto.guardians import (
    MAX_GUARDIANS,
    check_public_record,
    joint_key,
    public_share,
    resolve_complaint,
    verify_share,
)
from crypto.sealing import SealingError, box_seal, box_unseal
from crypto.signing import Context, SigningKey, VerifyKey

__all__ = [
    "CEREMONY_FORMAT",
    "PHASES",
    "CeremonyError",
    "Outcome",
    "ceremony_fingerprint",
    "check_ceremony",
    "check_message",
    "check_objection",
    "commit_hash",
    "commit_set_hash",
    "decrypt_share",
    "derive_outcome",
    "encrypt_share",
    "fingerprint_of",
    "list_hash",
    "manifest_fingerprint",
    "members_from_manifest",
    "members_problem",
    "proof_context",
    "sign_message",
    "sign_objection",
    "transcript_hash",
]

CEREMONY_FORMAT = "kz-tally/key-ceremony/v3"
TAG_LIST = "kz-tally/v1/ceremony-parameters"
TAG_FINGERPRINT = "kz-tally/v1/guardian-fingerprint"
TAG_CEREMONY_FINGERPRINT = "kz-tally/v1/ceremony-fingerprint"
TAG_COMMIT_SET = "kz-tally/v1/ceremony-commit-set"
TAG_PROOF_CONTEXT = "kz-tally/v1/ceremony-proofs"
TAG_COMMIT = "kz-tally/v1/ceremony-commit"
TAG_SHARE = "kz-tally/v1/ceremony-share"
TAG_TRANSCRIPT = "kz-tally/v1/ceremony-transcript"

#: The phases, in order; each is one list of signed messages in the transcript.
PHASES = ("commit", "reveal", "shares", "complaints", "answers", "confirm")
HASHED_FIELDS = (
    "format",
    "election_id",
    "n",
    "k",
    "attempt",
    "guardians",
    "witnesses",
    "participants",
    "commit",
    "reveal",
    "shares",
    "complaints",
    "answers",
)
TRANSCRIPT_FIELDS = frozenset(
    {
        *HASHED_FIELDS,
        "disqualified",
        "qual",
        "joint_key",
        "public_shares",
        "transcript_hash",
        "confirm",
        "objections",
    }
)
MEMBER_FIELDS = frozenset({"index", "name", "identity_key", "share_key"})
PAYLOAD_FIELDS = frozenset({"election", "guardian_list", "attempt", "phase", "guardian", "body"})
MAX_ATTEMPT = 1000
#: An objection (phase 0) is not a phase of the attempt: a guardian posts it when it stops.
OBJECTION = "objection"
OBJECTION_FIELDS = frozenset({"reason", "ceremony_fingerprint"})
MAX_REASON = 2000
#: Why a dealer that posted no answer revealing the disputed share is disqualified.
SILENT = "did not reveal the disputed share"
#: Bytes of the ceremony fingerprint: 160 bits, 32 base32 characters (see ceremony_fingerprint).
CEREMONY_FINGERPRINT_BYTES = 20


class CeremonyError(ValueError):
    """A ceremony message or transcript does not check; the message says where and why."""


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- the guardian list ------------------------------------------------------------------------


def fingerprint_of(identity_key: str, share_key: str) -> str:
    """What a guardian reads out to the others: 16 bytes of a tagged hash of both public keys,
    as eight groups of four hex digits."""
    digest = tagged_hash(TAG_FINGERPRINT, hex_decode(identity_key, 32), hex_decode(share_key, 32))
    text = digest[:16].hex()
    return " ".join(text[i : i + 4] for i in range(0, 32, 4))


def fingerprint_digits(text: str) -> str:
    """Lowercase hex digits only: "ab12 CD34:..." and "ab12cd34..." compare equal."""
    return re.sub(r"[^0-9a-f]", "", text.lower())


def ceremony_fingerprint(parameters_hash: bytes) -> str:
    """What the guardians compare out of band before anything secret is sent: the first 20
    bytes of ``tagged_hash("kz-tally/v1/ceremony-fingerprint", L)`` in RFC 4648 base32 (A-Z,
    2-7: no 0/O or 1/I to confuse when read aloud), as eight groups of four characters.

    160 bits, because the operator picks both sides of a match: it can vary the witness keys
    (or a name) of two parameter sets and search for a pair with equal fingerprints, a birthday
    search of 2^80 hashes at 160 bits (2^64 at the 128 bits of a guardian's fingerprint)."""
    digest = tagged_hash(TAG_CEREMONY_FINGERPRINT, parameters_hash)[:CEREMONY_FINGERPRINT_BYTES]
    text = base64.b32encode(digest).decode("ascii")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def ceremony_fingerprint_chars(text: str) -> str:
    """Upper-case base32 characters only: "abcd-EFGH ..." and "ABCDEFGH..." compare equal."""
    return re.sub(r"[^A-Z2-7]", "", text.upper())


def members_from_manifest(guardians: Mapping[str, Any]) -> list[dict[str, Any]]:
    """[{"index", "name", "identity_key", "share_key"}] from a manifest's ``guardians``."""
    names, keys = guardians["names"], guardians.get("keys") or []
    if len(keys) != len(names):
        raise CeremonyError("the manifest does not list an identity and a share key per guardian")
    return [
        {
            "index": i,
            "name": name,
            "identity_key": key["identity_key"],
            "share_key": key["share_key"],
        }
        for i, (name, key) in enumerate(zip(names, keys, strict=True), start=1)
    ]


def list_hash(
    election_id: str,
    k: int,
    members: Sequence[Mapping[str, Any]],
    witnesses: Mapping[str, Any] | None,
) -> bytes:
    """The parameters hash L every message binds: the election, n, k, the ordered guardian
    list (names and both keys) and the manifest's witnesses section (None if it has none)."""
    return hash_json(
        TAG_LIST,
        {
            "election_id": election_id,
            "n": len(members),
            "k": k,
            "guardians": list(members),
            "witnesses": None if witnesses is None else dict(witnesses),
        },
    )


def manifest_fingerprint(manifest: Mapping[str, Any]) -> str:
    """The ceremony fingerprint of a (draft or sealed) manifest: what its guardians agreed on."""
    members = members_from_manifest(manifest["guardians"])
    return ceremony_fingerprint(
        list_hash(
            manifest["election_id"], manifest["guardians"]["k"], members, manifest.get("witnesses")
        )
    )


def members_problem(members: Sequence[Mapping[str, Any]]) -> str | None:
    """Why this guardian list cannot hold a ceremony, or None: a name, an identity key or a
    share key listed twice (one guardian listed twice would receive two shares)."""
    for field in ("name", "identity_key", "share_key"):
        seen: dict[object, int] = {}
        for member in members:
            value = member[field]
            if isinstance(value, str):
                value = value.lower() if field != "name" else value
            if value in seen:
                label = field.replace("_", " ")
                return (
                    f"guardians {seen[value]} and {member['index']} have the same {label}: "
                    "one guardian listed twice would hold two shares"
                )
            seen[value] = member["index"]
    return None


def proof_context(election_id: str, guardian_list: bytes, attempt: int, n: int, k: int) -> bytes:
    """The context of every Schnorr proof in this attempt (``GuardianSecret.public_record``)."""
    return tagged_hash(
        TAG_PROOF_CONTEXT,
        election_id.encode("utf-8"),
        guardian_list,
        _u64(attempt),
        _u64(n),
        _u64(k),
    )


# -- messages ---------------------------------------------------------------------------------


def sign_message(
    key: SigningKey,
    election_id: str,
    guardian_list: bytes,
    attempt: int,
    phase: str,
    guardian: int,
    body: Mapping[str, Any],
) -> dict[str, Any]:
    if phase not in PHASES:
        raise ValueError(f"no ceremony phase {phase!r}")
    payload = {
        "election": election_id,
        "guardian_list": guardian_list.hex(),
        "attempt": attempt,
        "phase": phase,
        "guardian": guardian,
        "body": dict(body),
    }
    return sign_document(payload, key, Context.CEREMONY)


def open_message(
    message: object,
    members: Sequence[Mapping[str, Any]],
    election_id: str,
    guardian_list: bytes,
    attempt: int,
    phase: str,
) -> tuple[int, dict[str, Any]]:
    """(guardian, body) of a signed message, after its signature and bindings check."""
    if not isinstance(message, Mapping) or not isinstance(message.get("payload"), Mapping):
        raise CeremonyError("a ceremony message is a signed envelope")
    guardian = message["payload"].get("guardian")
    if not _is_int(guardian) or not 1 <= guardian <= len(members):
        raise CeremonyError(f"a {phase} message names no listed guardian ({guardian!r})")
    member = members[guardian - 1]
    try:
        key = VerifyKey.from_hex(member["identity_key"])
        payload = open_document(message, {key.key_id: key}, Context.CEREMONY)
    except (EnvelopeError, EncodingError) as exc:
        raise CeremonyError(f"guardian {guardian}'s {phase} message: {exc}") from exc
    if set(payload) != PAYLOAD_FIELDS:
        raise CeremonyError(f"guardian {guardian}'s {phase} message has the wrong fields")
    expected = {
        "election": election_id,
        "guardian_list": guardian_list.hex(),
        "attempt": attempt,
        "phase": phase,
    }
    for field, value in expected.items():
        if payload[field] != value or type(payload[field]) is not type(value):
            raise CeremonyError(
                f"guardian {guardian}'s {phase} message is for another {field.replace('_', ' ')}"
            )
    if not isinstance(payload["body"], dict):
        raise CeremonyError(f"guardian {guardian}'s {phase} message has no body object")
    return guardian, payload["body"]


def sign_objection(
    key: SigningKey,
    election_id: str,
    guardian_list: bytes,
    attempt: int,
    guardian: int,
    reason: str,
    seen_fingerprint: str,
) -> dict[str, Any]:
    """A guardian's signed objection: it stopped, because of ``reason``, at the parameters
    whose hash L and ceremony fingerprint it gives (what the board showed it)."""
    payload = {
        "election": election_id,
        "guardian_list": guardian_list.hex(),
        "attempt": attempt,
        "phase": OBJECTION,
        "guardian": guardian,
        "body": {"reason": reason[:MAX_REASON], "ceremony_fingerprint": seen_fingerprint},
    }
    return sign_document(payload, key, Context.CEREMONY)


def check_objection(
    message: object, members: Sequence[Mapping[str, Any]], election_id: str
) -> tuple[int, dict[str, Any]]:
    """(guardian, payload) of a signed objection by a listed guardian for this election.

    Its list hash and attempt are what the objector saw, which may differ from the board's:
    that difference is often the very thing it objects to, so they are kept, not compared."""
    if not isinstance(message, Mapping) or not isinstance(message.get("payload"), Mapping):
        raise CeremonyError("an objection is a signed envelope")
    guardian = message["payload"].get("guardian")
    if not _is_int(guardian) or not 1 <= guardian <= len(members):
        raise CeremonyError(f"an objection names no listed guardian ({guardian!r})")
    try:
        key = VerifyKey.from_hex(members[guardian - 1]["identity_key"])
        payload = open_document(message, {key.key_id: key}, Context.CEREMONY)
    except (EnvelopeError, EncodingError) as exc:
        raise CeremonyError(f"guardian {guardian}'s objection: {exc}") from exc
    body = payload.get("body")
    if (
        set(payload) != PAYLOAD_FIELDS
        or payload["phase"] != OBJECTION
        or payload["election"] != election_id
        or not _hex32(payload["guardian_list"])
        or not _is_int(payload["attempt"])
        or not 1 <= payload["attempt"] <= MAX_ATTEMPT
    ):
        raise CeremonyError(f"guardian {guardian}'s objection is not one for this election")
    if (
        not isinstance(body, dict)
        or set(body) != OBJECTION_FIELDS
        or not isinstance(body["reason"], str)
        or not 1 <= len(body["reason"]) <= MAX_REASON
        or not isinstance(body["ceremony_fingerprint"], str)
        or len(body["ceremony_fingerprint"]) > 64
    ):
        raise CeremonyError(
            f"guardian {guardian}'s objection: the body is {{reason, ceremony_fingerprint}}"
        )
    return guardian, payload


def commit_hash(record: Mapping[str, Any]) -> str:
    """Phase (a): the hash of a guardian's public record (commitments and proofs)."""
    return hash_json(TAG_COMMIT, dict(record)).hex()


def commit_set_hash(commits: Mapping[int, Mapping[str, Any]]) -> str:
    """What a reveal signs: every participant's phase-(a) hash, as the revealer saw them,
    ``[{"guardian": i, "hash": hex}, ...]`` in ascending order of i."""
    return hash_json(
        TAG_COMMIT_SET, [{"guardian": i, "hash": commits[i]["hash"]} for i in sorted(commits)]
    ).hex()


def share_aad(
    election_id: str, guardian_list: bytes, attempt: int, dealer: int, recipient: int
) -> bytes:
    return tagged_hash(
        TAG_SHARE,
        election_id.encode("utf-8"),
        guardian_list,
        _u64(attempt),
        _u64(dealer),
        _u64(recipient),
    )


def encrypt_share(share: Scalar, recipient_share_key: str, aad: bytes) -> dict[str, str]:
    ephemeral, ciphertext = box_seal(hex_decode(recipient_share_key, 32), share.to_bytes(), aad)
    return {"ephemeral": ephemeral.hex(), "ciphertext": ciphertext.hex()}


def decrypt_share(box: object, share_private: bytes, aad: bytes) -> Scalar | None:
    """The scalar in a share box, or None if it does not open or is not a scalar (either way
    the recipient complains)."""
    try:
        if not isinstance(box, Mapping):
            return None
        plain = box_unseal(
            share_private, hex_decode(box["ephemeral"], 32), hex_decode(box["ciphertext"]), aad
        )
        return Scalar.from_bytes(plain)
    except (SealingError, EncodingError, KeyError, TypeError):
        return None


def parse_scalar(text: object) -> Scalar | None:
    try:
        return Scalar.from_bytes(hex_decode(text, 32)) if isinstance(text, str) else None
    except EncodingError:
        return None


# -- the outcome of phases a-d ----------------------------------------------------------------


class Outcome:
    """What phases a-d decide: who is disqualified and why, QUAL, the joint key, public shares."""

    def __init__(
        self,
        disqualified: list[dict[str, Any]],
        qual: list[int],
        records: Mapping[int, Mapping[str, Any]],
    ) -> None:
        self.disqualified = disqualified
        self.qual = qual
        qual_records = [records[i] for i in qual]
        self.joint_key = joint_key(qual_records) if qual_records else None
        self.public_shares = {str(j): public_share(j, qual_records).hex() for j in qual}

    def to_json(self) -> dict[str, Any]:
        return {
            "disqualified": self.disqualified,
            "qual": self.qual,
            "joint_key": self.joint_key.hex() if self.joint_key is not None else None,
            "public_shares": self.public_shares,
        }


def derive_outcome(
    participants: Sequence[int],
    records: Mapping[int, Mapping[str, Any]],
    complaints: Mapping[int, Sequence[int]],
    answers: Mapping[int, Mapping[str, Any]],
) -> Outcome:
    """QUAL from the reveals' records, the complaints {complainant: [dealers]} and the answers
    {dealer: {str(complainant): hex share}}. A dealer is disqualified by its first upheld
    complaint (lowest complainant), which the entry names."""
    upheld: dict[int, dict[str, Any]] = {}
    for complainant in sorted(complaints):
        for dealer in sorted(complaints[complainant]):
            if dealer in upheld:
                continue
            revealed = parse_scalar(answers.get(dealer, {}).get(str(complainant)))
            if revealed is None:
                reason = SILENT
            elif not resolve_complaint(records[dealer], complainant, revealed):
                reason = "the revealed share does not match its commitments"
            else:
                continue
            upheld[dealer] = {"guardian": dealer, "complainant": complainant, "reason": reason}
    disqualified = [upheld[d] for d in sorted(upheld)]
    qual = [i for i in participants if i not in upheld]
    return Outcome(disqualified, qual, records)


def qual_problem(qual: Sequence[int], k: int) -> str | None:
    """Why QUAL cannot hold the election key, or None."""
    if len(qual) < k:
        return f"only {len(qual)} guardians qualified (QUAL {list(qual)}), fewer than k = {k}"
    if 2 * k <= len(qual):
        return (
            f"k = {k} is not more than half of the {len(qual)} qualified guardians "
            f"(QUAL {list(qual)}): two disjoint sets of k could decrypt different finals"
        )
    return None


def transcript_hash(transcript: Mapping[str, Any]) -> str:
    """The hash each guardian of QUAL confirms: the header and phases a-d, not the confirmations."""
    return hash_json(TAG_TRANSCRIPT, {f: transcript[f] for f in HASHED_FIELDS}).hex()


# -- checking messages (the board when it accepts them, the verifier over the transcript) --------


class Header:
    """What every check of an attempt needs: election, members, list hash, attempt, participants."""

    def __init__(
        self,
        election_id: str,
        k: int,
        members: Sequence[Mapping[str, Any]],
        attempt: int,
        participants: Sequence[int],
        witnesses: Mapping[str, Any] | None,
    ) -> None:
        reason = members_problem(members)
        if reason is not None:
            raise CeremonyError(f"the guardian list cannot hold a ceremony: {reason}")
        self.election_id = election_id
        self.k = k
        self.members = list(members)
        self.n = len(self.members)
        self.attempt = attempt
        self.participants = list(participants)
        self.witnesses = None if witnesses is None else dict(witnesses)
        self.list_hash = list_hash(election_id, k, self.members, self.witnesses)
        self.fingerprint = ceremony_fingerprint(self.list_hash)
        self.context = proof_context(election_id, self.list_hash, attempt, self.n, k)

    def read(self, message: object, phase: str) -> tuple[int, dict[str, Any]]:
        guardian, body = open_message(
            message, self.members, self.election_id, self.list_hash, self.attempt, phase
        )
        if guardian not in self.participants:
            raise CeremonyError(f"guardian {guardian} takes no part in attempt {self.attempt}")
        return guardian, body


def check_message(
    header: Header,
    phase: str,
    message: object,
    board: Mapping[str, Mapping[int, dict[str, Any]]],
) -> tuple[int, dict[str, Any]]:
    """(guardian, body) of a message that may join ``board`` ({phase: {guardian: body}} of the
    messages accepted so far); CeremonyError naming the guardian and the reason otherwise."""
    guardian, body = header.read(message, phase)
    label = f"guardian {guardian}'s {phase}"
    others = [j for j in header.participants if j != guardian]
    if phase == "commit":
        if set(body) != {"hash"} or not _hex32(body["hash"]):
            raise CeremonyError(f'{label}: the body is {{"hash": 32 bytes of hex}}')
    elif phase == "reveal":
        if set(body) != {"record", "commitments"} or not isinstance(body["record"], dict):
            raise CeremonyError(
                f'{label}: the body is {{"record": public record, "commitments": hex}}'
            )
        record = body["record"]
        commits = board.get("commit", {})
        committed = commits.get(guardian)
        if committed is None:
            raise CeremonyError(f"{label}: no commitment to reveal")
        if set(commits) != set(header.participants):
            raise CeremonyError(f"{label}: not every participant has committed yet")
        if body["commitments"] != commit_set_hash(commits):
            raise CeremonyError(
                f"{label} signs another set of commitments than the phase-(a) messages: it was "
                "made before every participant committed, or the board showed it other ones"
            )
        try:
            matches = commit_hash(record) == committed["hash"]
        except EncodingError:
            matches = False
        if not matches:
            raise CeremonyError(f"{label} does not match its phase-(a) commitment hash")
        reason = check_public_record(record, header.k, header.context)
        if reason is None and record["guardian"] != guardian:
            reason = f"the record is guardian {record['guardian']}'s"
        if reason is not None:
            raise CeremonyError(f"{label}: {reason}")
    elif phase == "shares":
        boxes = body.get("shares")
        if set(body) != {"shares"} or not isinstance(boxes, dict):
            raise CeremonyError(f'{label}: the body is {{"shares": {{recipient: box}}}}')
        if set(boxes) != {str(j) for j in others}:
            raise CeremonyError(f"{label}: one share for each other participant {others}")
        for box in boxes.values():
            if (
                not isinstance(box, dict)
                or set(box) != {"ephemeral", "ciphertext"}
                or not _hex32(box["ephemeral"])
                or not _hex_len(box["ciphertext"], 48)
            ):
                raise CeremonyError(f"{label}: a share box is {{ephemeral, ciphertext}} in hex")
    elif phase == "complaints":
        against = body.get("against")
        if set(body) != {"against"} or not isinstance(against, list):
            raise CeremonyError(f'{label}: the body is {{"against": [dealers]}}')
        if against != sorted(set(against)) or not all(_is_int(d) and d in others for d in against):
            raise CeremonyError(f"{label}: name other participants, each once, in order")
    elif phase == "answers":
        revealed = body.get("revealed")
        if set(body) != {"revealed"} or not isinstance(revealed, dict):
            raise CeremonyError(f'{label}: the body is {{"revealed": {{complainant: share}}}}')
        complainants = {
            str(j) for j, c in board.get("complaints", {}).items() if guardian in c["against"]
        }
        if not complainants or set(revealed) != complainants:
            raise CeremonyError(f"{label}: reveal exactly the shares complained about")
        if not all(parse_scalar(s) is not None for s in revealed.values()):
            raise CeremonyError(f"{label}: a revealed share is not a scalar")
    elif phase == "confirm" and set(body) != {"joint_key", "transcript_hash"}:
        raise CeremonyError(f"{label}: the body is {{joint_key, transcript_hash}}")
    return guardian, body


def _hex32(value: object) -> bool:
    return _hex_len(value, 32, exact=True)


def _hex_len(value: object, length: int, exact: bool = False) -> bool:
    try:
        data = hex_decode(value) if isinstance(value, str) else None
    except EncodingError:
        return False
    return data is not None and (len(data) == length if exact else length <= len(data) <= 4096)


def accused(board: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> list[int]:
    """Dealers named by at least one complaint."""
    return sorted({d for c in board.get("complaints", {}).values() for d in c["against"]})


def outcome_of(header: Header, board: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> Outcome:
    return derive_outcome(
        header.participants,
        {i: b["record"] for i, b in board["reveal"].items()},
        {j: list(b["against"]) for j, b in board["complaints"].items()},
        {i: b["revealed"] for i, b in board.get("answers", {}).items()},
    )


def build_transcript(
    header: Header,
    messages: Mapping[str, Mapping[int, dict[str, Any]]],
    board: Mapping[str, Mapping[int, Mapping[str, Any]]],
    objections: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """The transcript of phases a-d (with the derived outcome and its hash), confirmations
    from ``messages["confirm"]`` if any, and every objection posted in any attempt.
    ``messages`` holds the signed envelopes by phase."""
    outcome = outcome_of(header, board)
    transcript: dict[str, Any] = {
        "format": CEREMONY_FORMAT,
        "election_id": header.election_id,
        "n": header.n,
        "k": header.k,
        "attempt": header.attempt,
        "guardians": header.members,
        "witnesses": header.witnesses,
        "participants": header.participants,
    }
    for phase in PHASES[:-1]:
        transcript[phase] = [messages.get(phase, {})[i] for i in sorted(messages.get(phase, {}))]
    transcript.update(outcome.to_json())
    transcript["transcript_hash"] = transcript_hash(transcript)
    transcript["confirm"] = [
        messages.get("confirm", {})[i] for i in sorted(messages.get("confirm", {}))
    ]
    transcript["objections"] = list(objections)
    return transcript


# -- the whole transcript (V2) ----------------------------------------------------------------


def check_ceremony(transcript: object) -> str | None:
    """None if a complete ceremony transcript passes every public check, else the reason.

    No name or key listed twice; every message's identity signature and bindings; each reveal
    against its commitment hash and the whole commitment set (so it came after every commit),
    every Schnorr proof; every objection's signature; share boxes' shape; complaints and
    answers; the disqualified, QUAL, the joint key and every public share recomputed from QUAL;
    the transcript hash; a confirmation from every guardian of QUAL over that same joint key
    and hash. Never raises."""
    try:
        return _check_ceremony(transcript)
    except CeremonyError as exc:
        return str(exc)
    except Exception as exc:  # fail closed on anything unexpected
        return f"the transcript could not be checked ({type(exc).__name__})"


def _members_problem(members: object, n: object) -> str | None:
    if not isinstance(members, list) or not _is_int(n) or len(members) != n:
        return "guardians is not a list of n guardians"
    for position, member in enumerate(members, start=1):
        if not isinstance(member, dict) or set(member) != MEMBER_FIELDS:
            return f"guardian {position}: exactly index, name, identity_key, share_key"
        if member["index"] != position or not isinstance(member["name"], str):
            return f"guardians are not numbered 1..{n} in order"
        try:
            VerifyKey.from_hex(member["identity_key"])
            hex_decode(member["share_key"], 32)
        except EncodingError:
            return f"guardian {position}: the identity or share key is not a valid key"
    return None


def _check_ceremony(transcript: object) -> str | None:
    if not isinstance(transcript, dict):
        return "the transcript is not an object"
    if set(transcript) != TRANSCRIPT_FIELDS:
        missing = sorted(TRANSCRIPT_FIELDS - set(transcript))
        return f"missing field {missing[0]!r}" if missing else "unexpected fields"
    if transcript["format"] != CEREMONY_FORMAT:
        return f"the format is not {CEREMONY_FORMAT}"
    election_id, n, k, attempt = (transcript[f] for f in ("election_id", "n", "k", "attempt"))
    if not isinstance(election_id, str) or not election_id:
        return "the election id is not a non-empty string"
    if not _is_int(n) or not _is_int(k) or not 1 <= k <= n <= MAX_GUARDIANS:
        return f"n and k are not integers with 1 <= k <= n <= {MAX_GUARDIANS}"
    if not _is_int(attempt) or not 1 <= attempt <= MAX_ATTEMPT:
        return "the attempt is not an integer from 1"
    reason = _members_problem(transcript["guardians"], n)
    if reason is None:
        reason = members_problem(transcript["guardians"])
    if reason is not None:
        return reason
    witnesses = transcript["witnesses"]
    if witnesses is not None and not isinstance(witnesses, dict):
        return "witnesses is not the manifest's witnesses section (or null)"
    participants = transcript["participants"]
    if (
        not isinstance(participants, list)
        or participants != sorted(set(participants))
        or not all(_is_int(i) and 1 <= i <= n for i in participants)
    ):
        return "participants are not distinct guardian numbers in order"
    header = Header(election_id, k, transcript["guardians"], attempt, participants, witnesses)
    objections = transcript["objections"]
    if not isinstance(objections, list):
        return "objections is not a list of signed objections"
    for objection in objections:
        check_objection(objection, header.members, election_id)
    board: dict[str, dict[int, dict[str, Any]]] = {}
    for phase in PHASES:
        messages = transcript[phase]
        if not isinstance(messages, list):
            return f"{phase} is not a list of messages"
        board[phase] = {}
        for message in messages:
            guardian, body = check_message(header, phase, message, board)
            if guardian in board[phase]:
                return f"guardian {guardian} has two {phase} messages"
            board[phase][guardian] = body
        if phase in ("commit", "reveal", "shares", "complaints"):
            missing = [i for i in participants if i not in board[phase]]
            if missing:
                return f"guardian {missing[0]} has no {phase} message"
        if phase == "answers":
            outcome = outcome_of(header, board)
            for field, value in outcome.to_json().items():
                if transcript[field] != value:
                    return f"{field} is not what the reveals, complaints and answers give"
            reason = qual_problem(outcome.qual, k)
            if reason is not None:
                return reason
            if transcript["transcript_hash"] != transcript_hash(transcript):
                return "transcript_hash is not the hash of phases a-d"
    qual = transcript["qual"]
    for guardian in qual:
        confirmed = board["confirm"].get(guardian)
        if confirmed is None:
            return f"guardian {guardian} of QUAL did not confirm"
        if confirmed != {
            "joint_key": transcript["joint_key"],
            "transcript_hash": transcript["transcript_hash"],
        }:
            return f"guardian {guardian} confirmed another joint key or transcript"
    extra = sorted(set(board["confirm"]) - set(qual))
    if extra:
        return f"guardian {extra[0]} confirmed but is not in QUAL"
    try:
        point_from_public_hex(transcript["joint_key"])
    except (EncodingError, TypeError):
        return "the joint key is not a valid point (or is the identity)"
    return None


def key_share_matches(share: Scalar, recipient: int, public_hex: str) -> bool:
    """True if a guardian's combined key share fits its public share."""
    return verify_share(share, recipient, [Point.from_hex(public_hex)])
