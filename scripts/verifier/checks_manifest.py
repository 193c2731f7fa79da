"""V1 (the manifest and the record's top level) and V2 (the key ceremony)."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from crypto.canonical import EncodingError, hash_json
from crypto.ceremony import CeremonyError, members_from_manifest
from crypto.ceremony import check_ceremony as check_ceremony_transcript
from crypto.envelope import EnvelopeError, open_document
from crypto.fingerprint import election_fingerprint_of_hash, key_fingerprint
from crypto.group import Point, point_from_public_hex
from crypto.note import NoteError, NoteVerifier
from crypto.signed_partial import guardian_keys
from crypto.signing import Context, VerifyKey
from crypto.witness_policy import PolicyError, WitnessPolicy
from schemas.ceremony import CeremonyTranscriptSchema
from schemas.common import IDENTIFIER
from schemas.manifest import ManifestSchema

from .model import ManifestInfo, UnitInfo
from .record import TOP_LEVEL, Record
from .report import Check
from .schema import schema_problem
from .trust import PINNED_WHERE, UNPINNED, Trust

MANIFEST_HASH_TAG = "kz-tally/v1/manifest"
MANIFEST = "manifest.json"
CEREMONY = "key_ceremony.json"
REQUIRED_TOP = ("manifest.json", "key_ceremony.json", "units", "results")
BOOTH_CODE = "booth_code"
NO_BOOTH = (
    "the manifest names no booth files (sealed before they were published): the booth's code "
    "is not checked"
)
#: the largest booth file read (the vendored libsodium is 1.3 MB)
MAX_BOOTH_FILE_BYTES = 16 * 1024 * 1024


def booth_hashes(payload: dict[str, Any]) -> dict[str, str] | None:
    """The manifest's ``booth.files`` (path -> SHA-256 hex), None when it has none (a manifest
    sealed before issue 25) or it is not a map of strings (the schema says why)."""
    booth = payload.get("booth")
    files = booth.get("files") if isinstance(booth, dict) else None
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        return None
    return files


def check_booth_code(record: Record, payload: dict[str, Any], check: Check) -> None:
    """Part of V1: the record's ``booth_code/`` holds exactly the files the sealed manifest
    names, each with the hash it gives (the code electors' browsers were to run)."""
    sealed = booth_hashes(payload)
    if sealed is None:
        if payload.get("booth") is None:
            check.note(NO_BOOTH)
        sealed = {}  # and any file under booth_code/ is one the manifest does not name
    for path, want in sorted(sealed.items()):
        rel = f"{BOOTH_CODE}/{path}"
        if ".." in path.split("/") or path.startswith("/"):
            check.fail(f"{MANIFEST} booth.files", f"{path[:60]!r} is not a safe path")
            continue
        if any(other.startswith(path + "/") for other in sealed):
            check.fail(f"{MANIFEST} booth.files", f"{path[:60]!r} is both a file and a folder")
            continue
        data, error = record.read_bytes(rel, MAX_BOOTH_FILE_BYTES)
        if data is None:
            check.fail(rel, error or "missing from the record")
            continue
        got = hashlib.sha256(data).hexdigest()
        if got != want:
            check.fail(
                rel,
                f"SHA-256 {got[:16]}... is not the {want[:16]}... the sealed manifest gives: "
                "this is not the code the commission sealed",
            )
    folder = record.path(BOOTH_CODE)
    if folder.is_dir():
        for file in sorted(folder.rglob("*")):
            rel = file.relative_to(folder).as_posix()
            if file.is_file() and rel not in sealed:
                check.fail(f"{BOOTH_CODE}/{rel}", "a booth file the sealed manifest does not name")
    if sealed:
        check.checked["booth files"] = len(sealed)


def check_top_level(record: Record, check: Check) -> None:
    """No unexpected files or folders at the top of the record."""
    names = record.layout().top
    for name in names:
        if name not in TOP_LEVEL:
            check.fail(name, "unexpected file or folder at the top of the record")
    for name in REQUIRED_TOP:
        if name not in names and name != MANIFEST:  # a missing manifest is reported below
            check.fail(name, "missing from the record")


def _duplicates(values: list[str]) -> list[str]:
    return sorted(v for v, n in Counter(values).items() if n > 1)


def check_manifest(
    record: Record, check: Check, pinned_key: VerifyKey | None = None, trust: Trust | None = None
) -> ManifestInfo | None:
    """V1. Returns what later checks need, or None if the manifest is unusable. ``trust``: the
    pins of a trust file (scripts/verifier/trust.py), each difference a failure."""
    if pinned_key is None and trust is not None:
        pinned_key = trust.commission_key  # the trust file's commission key is pinned as well
    check_top_level(record, check)
    document, error = record.read_json(MANIFEST)
    if error is not None:
        check.fail(MANIFEST, error)
        return None
    if not isinstance(document, dict) or set(document) != {"payload", "key_id", "signature"}:
        check.fail(MANIFEST, "not a signed document {payload, key_id, signature}")
        return None
    payload = document["payload"]
    problem = schema_problem(ManifestSchema(), payload)
    if problem is not None:
        check.fail(f"{MANIFEST} payload", problem)
    if not isinstance(payload, dict):
        return None
    if payload.get("simulation") is True:  # say it: a replay's times are not those of a real day
        check.note(
            'the manifest marks a simulated election ("simulation": true): its times may come '
            "from a simulated clock"
        )

    # the commission keys, and the signature by one of them
    keys: dict[str, VerifyKey] = {}
    commission = payload.get("commission")
    raw_keys = commission.get("keys") if isinstance(commission, dict) else None
    for i, text in enumerate(raw_keys if isinstance(raw_keys, list) else []):
        try:
            key = VerifyKey.from_hex(text)
        except (EncodingError, TypeError):
            check.fail(f"{MANIFEST} commission.keys[{i}]", "not an Ed25519 public key")
            continue
        keys[key.key_id] = key
    if not keys:
        check.fail(f"{MANIFEST} commission.keys", "no usable commission key")
    allowed = keys
    if pinned_key is not None:
        allowed = {pinned_key.key_id: pinned_key}
        if pinned_key.key_id not in keys:
            check.fail(
                PINNED_WHERE,
                f"the pinned commission key {pinned_key.hex()[:16]}... is not listed in "
                "commission.keys",
            )
    try:
        open_document(document, allowed, Context.MANIFEST)
        check.checked["signed by key"] = str(document["key_id"])
    except EnvelopeError as exc:
        why = str(exc)
        where = f"{MANIFEST} signature"
        if pinned_key is not None and document.get("key_id") != pinned_key.key_id:
            why, where = f"the signature is not by the pinned commission key ({why})", PINNED_WHERE
        check.fail(where, why)
    if pinned_key is None and trust is None:
        check.note(UNPINNED)
    elif pinned_key is None:
        check.note(
            "the commission key is not pinned: the manifest is signed by a key it lists (the "
            "other pins of the trust file still tie it to the real election)"
        )
    if trust is not None:
        for why in trust.differences(payload, hash_json(MANIFEST_HASH_TAG, payload)):
            check.fail(PINNED_WHERE, why)
        check.checked["pins"] = trust.source

    try:
        info = _manifest_info(payload, keys, check)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        check.fail(MANIFEST, f"cannot be read as a manifest ({type(exc).__name__}: {exc})")
        return None
    check.checked["units"] = len(info.units)
    check.checked["candidates"] = sum(len(u.candidates) for u in info.units.values())
    check.checked["electors"] = sum(u.registered for u in info.units.values())
    check.checked["commission keys"] = len(keys)
    # the two strings an observer compares with the commission's printed ones (formats.md)
    check.note(
        f"election fingerprint {election_fingerprint_of_hash(info.hash)}; commission key "
        f"fingerprint {', '.join(key_fingerprint(k.raw) for k in keys.values())}"
    )
    return info


def _manifest_info(
    payload: dict[str, Any], keys: dict[str, VerifyKey], check: Check
) -> ManifestInfo:
    origin = str(payload["origin"])
    units_json = payload["units"]
    if not isinstance(units_json, list) or not units_json:
        raise ValueError("the manifest has no units")
    codes = [str(u.get("code")) for u in units_json]
    for code in codes:
        # the record's paths are built from unit codes (units/<code>/<round>/): a code such
        # as "../x" would lead a reader, or the live monitor writing its mirror, elsewhere
        if not IDENTIFIER.fullmatch(code):
            raise ValueError(
                f"unit code {code!r} is not an identifier (a letter or digit, then up to 63 "
                "letters, digits, '.', '_' or '-'); the record's paths are built from it"
            )
    for code in _duplicates(codes):
        check.fail(f"{MANIFEST} units", f"unit code {code!r} is used twice")
    all_candidates = [str(c.get("id")) for u in units_json for c in u.get("candidates") or []]
    for cid in _duplicates(all_candidates):
        check.fail(f"{MANIFEST} units", f"candidate id {cid!r} is used twice")
    all_electors = [str(e.get("elector")) for u in units_json for e in u.get("roll") or []]
    for eid in _duplicates(all_electors)[:5]:
        check.fail(f"{MANIFEST} units", f"elector id {eid!r} is on a roll twice")
    all_keys = [str(e.get("public_key")) for u in units_json for e in u.get("roll") or []]
    for pk in _duplicates(all_keys)[:5]:
        check.fail(f"{MANIFEST} units", f"elector key {pk[:16]}... is on the rolls twice")

    units: dict[str, UnitInfo] = {}
    for u in units_json:
        code = str(u["code"])
        where = f"{MANIFEST} unit {code}"
        candidates = [str(c["id"]) for c in u["candidates"]]
        if not candidates:
            check.fail(where, "has no candidates")
        roll_json = u["roll"]
        if not roll_json:
            check.fail(where, "has no roll (no electors)")
        roll: dict[str, int] = {}
        roll_keys: list[str] = []
        for i, entry in enumerate(roll_json):
            roll.setdefault(str(entry["elector"]), i)
            roll_keys.append(str(entry["public_key"]))
        verifier: NoteVerifier | None = None
        try:
            verifier = NoteVerifier.parse(u["log_key"])
        except (NoteError, TypeError) as exc:
            check.fail(f"{where} log_key", f"not a C2SP verifier key: {exc}")
        if verifier is not None and verifier.name != f"{origin}/{code}":
            check.fail(
                f"{where} log_key",
                f"the key is named {verifier.name!r}, not {origin}/{code!r} as the record "
                "format requires",
            )
            verifier = None
        if code in units:
            continue
        units[code] = UnitInfo(code, candidates, roll, roll_keys, verifier)

    commission_name = str(payload["commission"]["name"])
    notes: list[NoteVerifier] = []
    for key in keys.values():
        try:
            notes.append(NoteVerifier.from_key(commission_name, key))
        except NoteError as exc:
            check.fail(f"{MANIFEST} commission.name", f"not a usable note key name: {exc}")
            break

    election_key: Point | None = None
    if payload.get("election_key") is None or payload.get("ceremony_hash") is None:
        check.fail(MANIFEST, "not sealed: election_key and ceremony_hash must be set")
    else:
        try:
            election_key = point_from_public_hex(payload["election_key"])
        except (EncodingError, TypeError):
            check.fail(f"{MANIFEST} election_key", "not a ristretto255 point (or the identity)")
    guardians = payload["guardians"]
    k, n = guardians.get("k"), guardians.get("n")
    if _is_int(k) and _is_int(n) and 2 * k <= n:
        check.fail(
            f"{MANIFEST} guardians",
            f"threshold k = {k} of n = {n} is not more than half: two groups of k guardians "
            "could decrypt two different final logs of a round",
        )
    identities: dict[str, tuple[int, VerifyKey]] = {}
    try:  # V6 checks each partial decryption's signature with these
        identities = guardian_keys(guardians.get("keys") or [])
    except (ValueError, KeyError, TypeError) as exc:
        check.fail(f"{MANIFEST} guardians.keys", f"not usable identity keys: {exc}")
    witness_policy = None
    try:
        witness_policy = WitnessPolicy.from_manifest(payload.get("witnesses"))
    except PolicyError as exc:
        check.fail(f"{MANIFEST} witnesses", str(exc))
    return ManifestInfo(
        payload=payload,
        hash=hash_json(MANIFEST_HASH_TAG, payload),
        election_id=str(payload["election_id"]),
        origin=origin,
        commission_name=commission_name,
        commission_keys=keys,
        commission_notes=notes,
        election_key=election_key,
        n=int(guardians["n"]),
        k=int(guardians["k"]),
        units=units,
        witness_policy=witness_policy,
        guardian_keys=identities,
    )


def check_ceremony(record: Record, manifest: ManifestInfo | None, check: Check) -> None:
    """V2: the key ceremony between the guardians. Fills ``manifest.public_shares`` for V6.

    ``crypto.ceremony.check_ceremony`` checks the whole transcript: every message signed by the
    guardian's identity key and bound to this election, guardian list and attempt; each reveal
    against its phase-(a) commitment hash; every Schnorr proof; complaints, answers, the
    disqualified and QUAL; the joint key and public shares from QUAL; the transcript hash; a
    confirmation from every guardian of QUAL over that same hash; no guardian's key listed
    twice; every reveal made after every commitment; every objection signed. Here: that the
    transcript is the one the manifest names (guardian list, threshold, the witnesses the
    guardians confirmed, joint key, ceremony hash)."""
    transcript, error = record.read_json(CEREMONY)
    if error is not None:
        check.fail(CEREMONY, error)
        return
    reason = schema_problem(CeremonyTranscriptSchema(), transcript)
    if reason is None:
        reason = check_ceremony_transcript(transcript)
    if reason is not None:
        check.fail(CEREMONY, reason)
    if not isinstance(transcript, dict):
        return
    phases = (("reveal", "reveals"), ("complaints", "complaints"), ("confirm", "confirmations"))
    for phase, label in phases:
        messages = transcript.get(phase)
        if isinstance(messages, list):
            check.checked[label] = len(messages)
    qual = transcript.get("qual")
    if isinstance(qual, list):
        check.checked["QUAL"] = ",".join(str(i) for i in qual)
    disqualified = transcript.get("disqualified")
    if isinstance(disqualified, list) and disqualified:
        check.note(
            "disqualified: "
            + "; ".join(
                f"guardian {d.get('guardian')} ({d.get('reason')}, complaint by "
                f"{d.get('complainant')})"
                for d in disqualified
                if isinstance(d, dict)
            )
        )
    objections = transcript.get("objections")
    if isinstance(objections, list) and objections:
        check.note(
            "objections (a guardian stopped in phase 0 and said why): "
            + "; ".join(
                f"guardian {o['payload'].get('guardian')} in attempt "
                f"{o['payload'].get('attempt')}: {str(o['payload']['body'].get('reason'))[:200]}"
                for o in objections
                if isinstance(o, dict)
                and isinstance(o.get("payload"), dict)
                and isinstance(o["payload"].get("body"), dict)
            )
        )
    check.checked["threshold"] = f"{transcript.get('k')} of {transcript.get('n')}"
    if manifest is None:
        check.fail(MANIFEST, "not checked against the manifest: no usable manifest (see V1)")
        return
    payload = manifest.payload
    if transcript.get("election_id") != manifest.election_id:
        check.fail(CEREMONY, "election_id differs from the manifest's")
    if transcript.get("n") != manifest.n or transcript.get("k") != manifest.k:
        check.fail(
            CEREMONY,
            f"n={transcript.get('n')}, k={transcript.get('k')} but the manifest says "
            f"n={manifest.n}, k={manifest.k}",
        )
    try:
        members = members_from_manifest(payload["guardians"])
    except (CeremonyError, KeyError, TypeError) as exc:
        check.fail(f"{MANIFEST} guardians", f"no identity and share key per guardian ({exc})")
    else:
        if transcript.get("guardians") != members:
            check.fail(CEREMONY, "the guardian list (names, identity and share keys) differs")
    if transcript.get("witnesses", None) != payload.get("witnesses"):
        check.fail(
            f"{MANIFEST} witnesses",
            "differ from the witnesses the guardians confirmed in the key ceremony (their "
            "ceremony fingerprint and every ceremony message bind them)",
        )
    if payload.get("election_key") != transcript.get("joint_key"):
        check.fail(f"{MANIFEST} election_key", "differs from the ceremony's joint key")
    if payload.get("ceremony_hash") != transcript.get("transcript_hash"):
        check.fail(
            f"{MANIFEST} ceremony_hash",
            f"is {str(payload.get('ceremony_hash'))[:16]}..., the transcript's hash is "
            f"{str(transcript.get('transcript_hash'))[:16]}...",
        )
    shares = transcript.get("public_shares")
    if isinstance(shares, dict):  # for V6, even when V2 failed (V6 then says what else fails)
        for index_text, hex_point in shares.items():
            try:
                manifest.public_shares[int(index_text)] = point_from_public_hex(hex_point)
            except (EncodingError, ValueError, TypeError):
                continue


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
