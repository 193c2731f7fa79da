"""The election manifest: election, rules, keys, units, candidates and electors' rolls."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import ValidationError, fields, validate, validates_schema

from schemas.common import Hex, Int, StrictSchema, identifier, text

MANIFEST_FORMAT = "kz-tally/manifest/v2"
#: The election's own time zone when the manifest names none (the 2023 election used UTC+6).
DEFAULT_TIME_ZONE = "Asia/Almaty"


def _iana_zone(name: str) -> None:
    """Pages show times in this zone; records and APIs keep UTC."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"not an IANA time zone: {name[:60]!r}") from exc


class NamesSchema(StrictSchema):
    en = text(required=True)
    ru = text(load_default=None)
    kk = text(load_default=None)


class CandidateSchema(StrictSchema):
    id = identifier(required=True)
    name = text(required=True)


class ElectorSchema(StrictSchema):
    elector = identifier(required=True)
    name = text(required=True)
    public_key = Hex(32, required=True)


class UnitSchema(StrictSchema):
    code = identifier(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["region", "city"]))
    name = fields.Nested(NamesSchema, required=True)
    seats = Int(required=True, validate=validate.Equal(1))
    log_key = text(required=True)  # C2SP verifier key of the unit's log
    candidates = fields.List(fields.Nested(CandidateSchema), required=True)
    roll = fields.List(fields.Nested(ElectorSchema), required=True)


class RulesSchema(StrictSchema):
    quorum = fields.String(required=True, validate=validate.Equal("more-than-half-of-registered"))
    threshold = fields.String(required=True, validate=validate.Equal("more-than-half-of-took-part"))
    runoff = fields.String(required=True, validate=validate.Equal("top-two-most-votes"))
    tie_break = fields.String(required=True, validate=validate.Equal("lot-final-checkpoint"))


class CommissionSchema(StrictSchema):
    name = text(required=True)  # key name in signed notes (countersigned final checkpoints)
    keys = fields.List(Hex(32), required=True, validate=validate.Length(min=1))


class GuardianKeysSchema(StrictSchema):
    identity_key = Hex(32, required=True)  # Ed25519: signs the guardian's ceremony messages
    share_key = Hex(32, required=True)  # X25519: receives the guardian's key-ceremony shares


class GuardiansSchema(StrictSchema):
    n = Int(required=True, validate=validate.Range(min=1, max=64))
    k = Int(required=True, validate=validate.Range(min=1, max=64))
    names = fields.List(text(), required=True)
    # one entry per name, from each guardian's guardian.json; empty only in a draft
    keys = fields.List(fields.Nested(GuardianKeysSchema), required=True)

    @validates_schema
    def _k_of_n(self, data: dict[str, Any], **_: Any) -> None:
        if data["k"] > data["n"] or len(data["names"]) != data["n"]:
            raise ValidationError("need 1 <= k <= n and one name per guardian")
        if data["keys"] and len(data["keys"]) != data["n"]:
            raise ValidationError("guardians.keys has one entry per guardian (or none in a draft)")
        identities = [key["identity_key"] for key in data["keys"]]
        if len(set(identities)) != len(identities):
            raise ValidationError("guardians' identity keys must be distinct")


class WitnessKeySchema(StrictSchema):
    name = text(required=True)  # the cosigner's key name, as in its vkey
    type = fields.String(required=True, validate=validate.OneOf(["cosignature/v1", "subtree/v1"]))
    vkey = text(max_length=4096, required=True)  # C2SP vkey, type 0x04 or 0x06


class WitnessesSchema(StrictSchema):
    """Who cosigns the logs' checkpoints (issue 18); crypto/witness_policy.py checks the rest."""

    quorum = Int(required=True, validate=validate.Range(min=1, max=64))
    colluders = Int(required=True, validate=validate.Range(min=0, max=64))
    keys = fields.List(
        fields.Nested(WitnessKeySchema), required=True, validate=validate.Length(min=1, max=64)
    )

    @validates_schema
    def _safe(self, data: dict[str, Any], **_: Any) -> None:
        n, q, f = len(data["keys"]), data["quorum"], data["colluders"]
        if q > n or 2 * q - n < f + 1:
            raise ValidationError(
                f"need quorum <= n and 2*quorum - n >= colluders + 1 (n={n}, q={q}, f={f})"
            )


#: A file of the electors' pages, by its path under the service's root: ``booth``,
#: ``static/js/booth.js``; lowercase, no ``..``, so it is also a safe path in the record.
BOOTH_PATH = r"^(?!.*\.\.)[a-z0-9_-]+(/[a-z0-9_.-]+)*$"


class BoothSchema(StrictSchema):
    """The code electors' browsers run (issue 25): the SHA-256 of every file the booth, the
    receipt page and the ballot box load, as served, fixed at ``seal``."""

    files = fields.Dict(
        keys=fields.String(validate=[validate.Regexp(BOOTH_PATH), validate.Length(max=200)]),
        values=Hex(32),
        required=True,
        validate=validate.Length(min=1, max=256),
    )


class ManifestSchema(StrictSchema):
    format = fields.String(required=True, validate=validate.Equal(MANIFEST_FORMAT))
    election_id = identifier(required=True)
    title = fields.Nested(NamesSchema, required=True)
    date = fields.String(required=True, validate=validate.Regexp(r"^\d{4}-\d{2}-\d{2}$"))
    time_zone = fields.String(load_default=DEFAULT_TIME_ZONE, validate=_iana_zone)
    origin = text(required=True)  # log origins are "<origin>/<unit>/<round>"
    rules = fields.Nested(RulesSchema, required=True)
    commission = fields.Nested(CommissionSchema, required=True)
    guardians = fields.Nested(GuardiansSchema, required=True)
    election_key = Hex(32, required=True, allow_none=True)
    ceremony_hash = Hex(32, required=True, allow_none=True)
    units = fields.List(fields.Nested(UnitSchema), required=True, validate=validate.Length(min=1))
    # absent: no witnesses, checkpoints are current once signed
    witnesses = fields.Nested(WitnessesSchema, load_default=None)
    # true: a simulated election (a replay, a demo); its times may come from a simulated clock
    # (tally_service/common/clock.py) and every public page says "simulation". Absent: false.
    simulation = fields.Boolean(load_default=False, truthy={True}, falsy={False})
    # the booth's code (BoothSchema); absent in a manifest sealed before it existed
    booth = fields.Nested(BoothSchema, load_default=None)

    @validates_schema
    def _unique_ids(self, data: dict[str, Any], **_: Any) -> None:
        codes = [u["code"] for u in data["units"]]
        if len(set(codes)) != len(codes):
            raise ValidationError("unit codes must be unique")
        candidates = [c["id"] for u in data["units"] for c in u["candidates"]]
        if len(set(candidates)) != len(candidates):
            raise ValidationError("candidate ids must be unique across the election")
        electors = [e["elector"] for u in data["units"] for e in u["roll"]]
        if len(set(electors)) != len(electors):
            raise ValidationError("elector ids must be unique across the election")
        keys = [e["public_key"] for u in data["units"] for e in u["roll"]]
        if len(set(keys)) != len(keys):
            raise ValidationError("elector keys must be unique across the election")
