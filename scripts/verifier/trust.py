"""Pins: what an observer or an elector trusts, got out of band, in one small file.

Threat: the record and the live service both come from the operator. A manifest certifies
itself (it is signed by a commission key it lists), so an operator can make a whole other
election (its own commission key, guardians it runs, witnesses it runs) that passes every
check of V1-V9 and R1-R7. Only a value got from somewhere else ties what is checked to the
real election: the commission key published on its web site and in print, the election
fingerprint (the sealed manifest's hash, H_M) read out at the sealing, the guardians' identity
keys, the witnesses' keys and quorum.

A trust file (format ``kz-tally/trust/v1``, docs/formats.md) holds any of these, in full. The
verifier (``verify.py --trust``, batch and ``--follow``) and the receipt checker
(``verify_receipt.py --trust``) check the manifest against every pin and refuse on any
difference, each named; the commission key pin also requires the manifest's signature to be
by that key (as ``--commission-key`` does). Without a trust file and ``--commission-key`` they
say, in one line on stderr and in the report, that they run UNPINNED.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crypto.canonical import EncodingError
from crypto.ceremony import (
    CEREMONY_FINGERPRINT_BYTES,
    CeremonyError,
    ceremony_fingerprint_chars,
    manifest_fingerprint,
)
from crypto.signing import VerifyKey

TRUST_FORMAT = "kz-tally/trust/v1"
FIELDS = frozenset(
    {
        "format",
        "comment",
        "election_id",
        "commission_key",
        "manifest_hash",
        "guardians",
        "witnesses",
        "ceremony_fingerprint",
    }
)
PINS = (
    "election_id",
    "commission_key",
    "manifest_hash",
    "guardians",
    "witnesses",
    "ceremony_fingerprint",
)
MAX_TRUST_BYTES = 1024 * 1024
#: Where V1 lists a pin's difference, so a caller can tell them from other failures.
PINNED_WHERE = "manifest.json (pinned)"
UNPINNED = (
    "UNPINNED: no --trust file and no --commission-key, so the record is checked only against "
    "itself (its manifest is signed by a key it lists) and whoever made it could have made "
    "another that passes; pin what you got out of band with --trust FILE (docs/formats.md)"
)


class TrustError(ValueError):
    """The trust file cannot be used (one line saying why)."""


def _hex(value: object, length: int, what: str) -> str:
    if not isinstance(value, str) or len(value) != 2 * length:
        raise TrustError(f"{what} must be {2 * length} hex digits")
    try:
        bytes.fromhex(value)
    except ValueError:
        raise TrustError(f"{what} must be {2 * length} hex digits") from None
    return value.lower()


@dataclass(frozen=True)
class Trust:
    """The pins of one trust file (None: not pinned)."""

    source: str
    election_id: str | None = None
    commission_key: VerifyKey | None = None
    manifest_hash: str | None = None
    guardians: tuple[str, ...] | None = None  # identity keys hex, in guardian order
    witness_keys: tuple[str, ...] | None = None  # C2SP vkeys
    witness_quorum: int | None = None
    # the guardians' ceremony fingerprint (crypto/ceremony.py), base32 characters only
    ceremony_fingerprint: str | None = None

    def describe(self) -> str:
        """One line: what is pinned, and by what."""
        parts = []
        if self.election_id is not None:
            parts.append(f"election id {self.election_id}")
        if self.commission_key is not None:
            parts.append(f"commission key {self.commission_key.hex()}")
        if self.manifest_hash is not None:
            parts.append(f"election fingerprint (manifest hash) {self.manifest_hash}")
        if self.guardians is not None:
            parts.append(f"{len(self.guardians)} guardian identity keys")
        if self.witness_keys is not None:
            parts.append(f"{len(self.witness_keys)} witness keys, quorum {self.witness_quorum}")
        if self.ceremony_fingerprint is not None:
            parts.append(f"ceremony fingerprint {self.ceremony_fingerprint}")
        return f"pinned by {self.source}: " + ", ".join(parts)

    def differences(self, payload: Mapping[str, Any], manifest_hash: bytes) -> list[str]:
        """Each way the manifest (its payload and hash) differs from the pins, one line each.
        The commission key is checked with the signature (``check_manifest``'s pinned key)."""
        out: list[str] = []
        if self.manifest_hash is not None and manifest_hash.hex() != self.manifest_hash:
            out.append(
                f"the election fingerprint (manifest hash) is {manifest_hash.hex()}, the trust "
                f"file pins {self.manifest_hash}: this is another election or another manifest"
            )
        if self.election_id is not None and payload.get("election_id") != self.election_id:
            out.append(
                f"the election id is {payload.get('election_id')!r}, the trust file pins "
                f"{self.election_id!r}"
            )
        if self.guardians is not None:
            guardians = payload.get("guardians")
            entries = guardians.get("keys") if isinstance(guardians, Mapping) else None
            listed = [
                str(e.get("identity_key", "")).lower() if isinstance(e, Mapping) else ""
                for e in (entries if isinstance(entries, list) else [])
            ]
            if listed != list(self.guardians):
                changed = [
                    f"guardian {i + 1}"
                    for i in range(max(len(listed), len(self.guardians)))
                    if i >= len(listed)
                    or i >= len(self.guardians)
                    or listed[i] != self.guardians[i]
                ]
                out.append(
                    f"the manifest lists {len(listed)} guardian identity keys, the trust file "
                    f"pins {len(self.guardians)}; they differ at {', '.join(changed)}"
                )
        if self.witness_keys is not None:
            section = payload.get("witnesses")
            if not isinstance(section, Mapping):
                out.append("the manifest names no witnesses; the trust file pins witnesses")
            else:
                keys = section.get("keys")
                vkeys = sorted(
                    str(e.get("vkey")) if isinstance(e, Mapping) else ""
                    for e in (keys if isinstance(keys, list) else [])
                )
                if vkeys != sorted(self.witness_keys):
                    unknown = len(set(vkeys) - set(self.witness_keys))
                    missing = len(set(self.witness_keys) - set(vkeys))
                    out.append(
                        f"the manifest's witnesses are not the pinned ones: {unknown} not "
                        f"pinned, {missing} pinned missing"
                    )
                if section.get("quorum") != self.witness_quorum:
                    out.append(
                        f"the manifest's witness quorum is {section.get('quorum')!r}, the trust "
                        f"file pins {self.witness_quorum}"
                    )
        if self.ceremony_fingerprint is not None:
            try:
                found = ceremony_fingerprint_chars(manifest_fingerprint(payload))
            except (CeremonyError, KeyError, TypeError, ValueError) as exc:
                found = f"none (the manifest's guardians or witnesses do not read: {exc})"
            if found != self.ceremony_fingerprint:
                out.append(
                    f"the ceremony fingerprint is {found}, the trust file pins "
                    f"{self.ceremony_fingerprint}: the guardians, n, k or witnesses differ from "
                    "what the guardians agreed"
                )
        return out


def parse_trust(doc: object, source: str) -> Trust:
    if not isinstance(doc, dict):
        raise TrustError("a trust file is a JSON object")
    if doc.get("format") != TRUST_FORMAT:
        raise TrustError(f"format must be {TRUST_FORMAT!r} (got {doc.get('format')!r})")
    unknown = sorted(set(doc) - FIELDS)
    if unknown:
        raise TrustError(f"unknown field(s) {unknown}: {TRUST_FORMAT} has {sorted(FIELDS)}")
    if not any(doc.get(p) is not None for p in PINS):
        raise TrustError(f"it pins nothing: give at least one of {', '.join(PINS)}")
    if all(doc.get(p) is None for p in PINS if p != "election_id"):
        # the id is a name the operator writes in the manifest it signs: another election made
        # under the same name passes it, so it ties nothing to the real election by itself
        raise TrustError(
            "election_id alone pins nothing (whoever makes a record names its election); give "
            "the commission_key, manifest_hash, guardians or witnesses as well"
        )
    election_id = doc.get("election_id")
    if election_id is not None and not isinstance(election_id, str):
        raise TrustError("election_id must be a string")
    commission_key = None
    if doc.get("commission_key") is not None:
        try:
            commission_key = VerifyKey.from_hex(_hex(doc["commission_key"], 32, "commission_key"))
        except EncodingError as exc:
            raise TrustError(f"commission_key: {exc}") from None
    manifest_hash = None
    if doc.get("manifest_hash") is not None:
        manifest_hash = _hex(doc["manifest_hash"], 32, "manifest_hash")
    guardians = None
    if doc.get("guardians") is not None:
        if not isinstance(doc["guardians"], list) or not doc["guardians"]:
            raise TrustError("guardians must be a list of identity keys, in guardian order")
        guardians = tuple(_hex(k, 32, f"guardians[{i}]") for i, k in enumerate(doc["guardians"]))
    witness_keys, quorum = None, None
    if doc.get("witnesses") is not None:
        section = doc["witnesses"]
        if not isinstance(section, dict) or set(section) != {"quorum", "keys"}:
            raise TrustError('witnesses must be {"quorum": n, "keys": [vkey, ...]}')
        keys, quorum = section["keys"], section["quorum"]
        if not isinstance(keys, list) or not keys or not all(isinstance(k, str) for k in keys):
            raise TrustError("witnesses.keys must be a list of the witnesses' vkeys")
        if type(quorum) is not int or not 1 <= quorum <= len(keys):
            raise TrustError("witnesses.quorum must be an integer from 1 to the number of keys")
        witness_keys = tuple(keys)
    fingerprint = None
    if doc.get("ceremony_fingerprint") is not None:
        text = doc["ceremony_fingerprint"]
        fingerprint = ceremony_fingerprint_chars(text) if isinstance(text, str) else ""
        if len(fingerprint) * 5 != CEREMONY_FINGERPRINT_BYTES * 8:
            raise TrustError(
                "ceremony_fingerprint must be the 32 characters the guardians read out "
                "(base32, spaces and dashes ignored)"
            )
    return Trust(
        source,
        election_id,
        commission_key,
        manifest_hash,
        guardians,
        witness_keys,
        quorum,
        fingerprint,
    )


def load_trust(path: Path) -> Trust:
    """The trust file at ``path``; TrustError with one line saying what is wrong."""
    try:
        if path.stat().st_size > MAX_TRUST_BYTES:
            raise TrustError(f"{path}: larger than {MAX_TRUST_BYTES} bytes")
        doc = json.loads(path.read_bytes())
    except OSError as exc:
        raise TrustError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise TrustError(f"{path}: not JSON ({exc})") from None
    try:
        return parse_trust(doc, str(path))
    except TrustError as exc:
        raise TrustError(f"{path}: {exc}") from None


def combine(trust: Trust | None, commission_key: VerifyKey | None) -> VerifyKey | None:
    """The commission key to pin from --trust and --commission-key (TrustError if they differ)."""
    pinned = trust.commission_key if trust is not None else None
    if commission_key is not None and pinned is not None and commission_key != pinned:
        raise TrustError("--commission-key differs from the trust file's commission_key")
    return commission_key or pinned


def trust_line(trust: Trust | None, commission_key: VerifyKey | str | None) -> str:
    """The report's one line on what the run is pinned by, or the UNPINNED warning
    (``commission_key`` may be given as its fingerprint, crypto/fingerprint.py)."""
    if trust is not None:
        return trust.describe()
    if isinstance(commission_key, str):
        return f"pinned by --commission-key: commission key fingerprint {commission_key}"
    if commission_key is not None:
        return f"pinned by --commission-key: commission key {commission_key.hex()}"
    return UNPINNED


def pin_failures(v1_failures: list[Any]) -> list[str]:
    """The reasons of V1's failures that are differences from the pins."""
    return [f.why for f in v1_failures if f.where == PINNED_WHERE]
