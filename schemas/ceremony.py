"""The key ceremony between guardians (docs/protocol.md section 6): every message on the board,
the board's view, the transcript in the record, a guardian's public file and its signed partial.

The schemas check shape and types; ``crypto.ceremony.check_message`` checks the rest
(signatures, bindings, commitments, proofs)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from schemas.common import Hex, Int, StrictSchema, identifier, text

PHASES = ("commit", "reveal", "shares", "complaints", "answers", "confirm")
CEREMONY_FORMAT = "kz-tally/key-ceremony/v3"
GUARDIAN_FORMAT = "kz-tally/guardian/v1"


class CommitBody(StrictSchema):
    hash = Hex(32, required=True)


class PublicRecordSchema(StrictSchema):
    guardian = Int(required=True, validate=validate.Range(min=1, max=1000))
    commitments = fields.List(Hex(32), required=True)
    proofs = fields.List(fields.Dict(), required=True)


class RevealBody(StrictSchema):
    record = fields.Nested(PublicRecordSchema, required=True)
    commitments = Hex(32, required=True)  # the hash of every commitment the revealer saw


class ShareBoxSchema(StrictSchema):
    ephemeral = Hex(32, required=True)  # the sender's one-time X25519 public key
    ciphertext = Hex(48, required=True)  # ChaCha20-Poly1305 of the 32-byte share


class SharesBody(StrictSchema):
    shares = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[1-9][0-9]{0,3}$")),
        values=fields.Nested(ShareBoxSchema),
        required=True,
    )


class ComplaintsBody(StrictSchema):
    against = fields.List(Int(validate=validate.Range(min=1, max=1000)), required=True)


class AnswersBody(StrictSchema):
    revealed = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[1-9][0-9]{0,3}$")),
        values=Hex(32),
        required=True,
    )


class ConfirmBody(StrictSchema):
    joint_key = Hex(32, required=True)
    transcript_hash = Hex(32, required=True)


class ObjectionBody(StrictSchema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    ceremony_fingerprint = fields.String(required=True, validate=validate.Length(max=64))


BODIES: dict[str, type[StrictSchema]] = {
    "objection": ObjectionBody,
    "commit": CommitBody,
    "reveal": RevealBody,
    "shares": SharesBody,
    "complaints": ComplaintsBody,
    "answers": AnswersBody,
    "confirm": ConfirmBody,
}


class MessagePayloadSchema(StrictSchema):
    election = identifier(required=True)
    guardian_list = Hex(32, required=True)
    attempt = Int(required=True, validate=validate.Range(min=1, max=1000))
    phase = fields.String(required=True, validate=validate.OneOf([*PHASES, "objection"]))
    guardian = Int(required=True, validate=validate.Range(min=1, max=1000))
    body = fields.Dict(required=True)

    @validates_schema
    def _body(self, data: dict[str, Any], **_: Any) -> None:
        errors = BODIES[data["phase"]]().validate(data["body"])
        if errors:
            raise ValidationError({"body": errors})


class CeremonyMessageSchema(StrictSchema):
    """A guardian's signed message: an envelope in context ``ceremony``."""

    payload = fields.Nested(MessagePayloadSchema, required=True)
    key_id = Hex(8, required=True)
    signature = Hex(64, required=True)


class GuardianEntrySchema(StrictSchema):
    index = Int(required=True, validate=validate.Range(min=1, max=1000))
    name = text(required=True)
    identity_key = Hex(32, required=True)
    share_key = Hex(32, required=True)


class DisqualifiedSchema(StrictSchema):
    guardian = Int(required=True)
    complainant = Int(required=True)
    reason = text(required=True)


def _messages() -> Any:
    return fields.List(fields.Nested(CeremonyMessageSchema), required=True)


class BoardViewSchema(StrictSchema):
    """GET /api/v1/ceremony."""

    election_id = identifier(required=True)
    n = Int(required=True)
    k = Int(required=True)
    attempt = Int(required=True)
    guardians = fields.List(fields.Nested(GuardianEntrySchema), required=True)
    witnesses = fields.Dict(required=True, allow_none=True)
    guardian_list = Hex(32, required=True)
    ceremony_fingerprint = fields.String(required=True)
    participants = fields.List(Int(), required=True)
    phase = fields.String(required=True, validate=validate.OneOf([*PHASES, "done", "failed"]))
    status = fields.String(required=True, validate=validate.OneOf(["running", "done", "failed"]))
    failure = fields.String(required=True, allow_none=True)
    timeout = fields.Float(required=True)
    phase_seconds = fields.Float(required=True, allow_none=True)
    answers_closed = fields.Boolean(required=True)
    messages = fields.Dict(
        keys=fields.String(validate=validate.OneOf(PHASES)),
        values=fields.List(fields.Nested(CeremonyMessageSchema)),
        required=True,
    )
    objections = _messages()


class CeremonyTranscriptSchema(StrictSchema):
    """key_ceremony.json."""

    format = fields.String(required=True, validate=validate.Equal(CEREMONY_FORMAT))
    election_id = identifier(required=True)
    n = Int(required=True)
    k = Int(required=True)
    attempt = Int(required=True)
    guardians = fields.List(fields.Nested(GuardianEntrySchema), required=True)
    witnesses = fields.Dict(required=True, allow_none=True)
    participants = fields.List(Int(), required=True)
    commit = _messages()
    reveal = _messages()
    shares = _messages()
    complaints = _messages()
    answers = _messages()
    disqualified = fields.List(fields.Nested(DisqualifiedSchema), required=True)
    qual = fields.List(Int(), required=True)
    joint_key = Hex(32, required=True)
    public_shares = fields.Dict(keys=fields.String(), values=Hex(32), required=True)
    transcript_hash = Hex(32, required=True)
    confirm = _messages()
    objections = _messages()


class KdfSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Equal("scrypt"))
    n = Int(required=True)
    r = Int(required=True)
    p = Int(required=True)
    salt = Hex(16, required=True)


class GuardianPublicSchema(StrictSchema):
    """G/guardian.json: what a guardian gives the commission."""

    format = fields.String(required=True, validate=validate.Equal(GUARDIAN_FORMAT))
    identity_key = Hex(32, required=True)
    share_key = Hex(32, required=True)
    fingerprint = fields.String(required=True)
    kdf = fields.Nested(KdfSchema, required=True)


class FinalCheckpointSchema(StrictSchema):
    size = Int(required=True, validate=validate.Range(min=0))
    root = Hex(32, required=True)


class GuardianPartialPayloadSchema(StrictSchema):
    election = Hex(32, required=True)
    unit = identifier(required=True)
    round = Int(required=True, validate=validate.Range(min=1, max=2))
    final_checkpoint = fields.Nested(FinalCheckpointSchema, required=True)
    partial_decryption = fields.Dict(required=True, data_key="partial")


class GuardianPartialSchema(StrictSchema):
    """POST /api/v1/guardian/partials: an envelope in context ``guardian``."""

    payload = fields.Nested(GuardianPartialPayloadSchema, required=True)
    key_id = Hex(8, required=True)
    signature = Hex(64, required=True)
