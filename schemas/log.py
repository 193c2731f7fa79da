"""Log-facing formats: receipts, proofs, entry pages, turnout."""

from __future__ import annotations

from marshmallow import fields, validate

from schemas.common import Hex, Int, StrictSchema, identifier

RECEIPT_FORMAT = "kz-tally/receipt/v1"


class ReceiptSchema(StrictSchema):
    """What an elector keeps. ``promise`` is a note signed by the unit's log key the moment the
    ballot was durable; ``proof`` is a C2SP tlog-proof once a checkpoint covers the ballot."""

    format = fields.String(required=True, validate=validate.Equal(RECEIPT_FORMAT))
    election = Hex(32, required=True)
    unit = identifier(required=True)
    round = Int(required=True, validate=validate.Range(min=1, max=2))
    elector = identifier(required=True)
    index = Int(required=True, validate=validate.Range(min=0))
    leaf_hash = Hex(32, required=True)
    promise = fields.String(required=True)
    proof = fields.String(required=True, allow_none=True)


class InclusionProofSchema(StrictSchema):
    index = Int(required=True)
    tree_size = Int(required=True)
    leaf_hash = Hex(32, required=True)
    proof = fields.List(Hex(32), required=True)
    checkpoint = fields.String(required=True)


class ConsistencyProofSchema(StrictSchema):
    size1 = Int(required=True)
    size2 = Int(required=True)
    proof = fields.List(Hex(32), required=True)


class EntriesPageSchema(StrictSchema):
    start = Int(required=True)
    tree_size = Int(required=True)
    entries = fields.List(fields.Dict(), required=True)


class UnitTurnoutSchema(StrictSchema):
    unit = identifier(required=True)
    round = Int(required=True)
    state = fields.String(required=True)
    registered = Int(required=True)
    took_part = Int(required=True)
    turnout = fields.String(required=True)
    quorum = fields.Boolean(required=True)
    quorum_at = fields.String(required=True, allow_none=True)
    checkpoint_size = Int(required=True)


class TurnoutSchema(StrictSchema):
    election = Hex(32, required=True)
    units = fields.List(fields.Nested(UnitTurnoutSchema), required=True)
    registered = Int(required=True)
    took_part = Int(required=True)
    turnout = fields.String(required=True)


class ProblemSchema(StrictSchema):
    """RFC 9457 problem details."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = Int(required=True)
    detail = fields.String(required=True)
    check = fields.String(load_default=None)
