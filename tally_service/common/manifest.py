"""The sealed manifest, indexed for the service: units, rolls, candidates and keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError

from crypto.canonical import hash_json
from crypto.envelope import EnvelopeError, open_document
from crypto.group import Point
from crypto.note import NoteVerifier, verifier_key
from crypto.signing import Context, VerifyKey
from schemas.manifest import ManifestSchema

MANIFEST_HASH_TAG = "kz-tally/v1/manifest"


class ManifestError(ValueError):
    pass


def validate_manifest(manifest: object) -> dict[str, Any]:
    try:
        ManifestSchema().load(manifest)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ManifestError(f"the manifest is not valid: {exc.messages}") from exc
    assert isinstance(manifest, dict)
    return manifest


def manifest_hash(manifest: dict[str, Any]) -> bytes:
    return hash_json(MANIFEST_HASH_TAG, manifest)


def log_origin(manifest: dict[str, Any], unit: str, round_no: int) -> str:
    return f"{manifest['origin']}/{unit}/{round_no}"


def log_key_name(manifest: dict[str, Any], unit: str) -> str:
    return f"{manifest['origin']}/{unit}"


@dataclass(frozen=True)
class Elector:
    elector: str
    unit: str
    key: VerifyKey


class Manifest:
    """A sealed, signed manifest and the lookups the service needs."""

    def __init__(self, signed: dict[str, Any]) -> None:
        payload = signed.get("payload")
        body = validate_manifest(payload)
        self.signed = signed
        self.body = body
        self.commission_keys = {
            k.key_id: k for k in (VerifyKey.from_hex(h) for h in body["commission"]["keys"])
        }
        try:
            open_document(signed, self.commission_keys, Context.MANIFEST)
        except EnvelopeError as exc:
            raise ManifestError(str(exc)) from exc
        if body["election_key"] is None:
            raise ManifestError("the manifest is not sealed: it has no election key")
        self.hash = manifest_hash(body)
        self.election_key = Point.from_hex(body["election_key"])
        self.units: dict[str, dict[str, Any]] = {u["code"]: u for u in body["units"]}
        self.electors: dict[str, Elector] = {}
        self.log_verifiers: dict[str, NoteVerifier] = {}
        for unit in body["units"]:
            verifier = NoteVerifier.parse(unit["log_key"])
            if verifier.name != log_key_name(body, unit["code"]):
                raise ManifestError(f"unit {unit['code']}: log key name {verifier.name!r}")
            self.log_verifiers[unit["code"]] = verifier
            for entry in unit["roll"]:
                self.electors[entry["elector"]] = Elector(
                    entry["elector"], unit["code"], VerifyKey.from_hex(entry["public_key"])
                )
        from crypto.witness_policy import PolicyError, WitnessPolicy

        try:
            self.witness_policy = WitnessPolicy.from_manifest(body.get("witnesses"))
        except PolicyError as exc:
            raise ManifestError(f"witnesses: {exc}") from exc
        self.commission_note_verifiers = [
            NoteVerifier.parse(verifier_key(body["commission"]["name"], key))
            for key in self.commission_keys.values()
        ]

    @property
    def election_id(self) -> str:
        return str(self.body["election_id"])

    def candidates(self, unit: str) -> list[str]:
        return [c["id"] for c in self.units[unit]["candidates"]]

    def registered(self, unit: str) -> int:
        return len(self.units[unit]["roll"])

    def origin(self, unit: str, round_no: int) -> str:
        return log_origin(self.body, unit, round_no)
