"""The elector's signed, encrypted ballot: one log entry."""

from __future__ import annotations

from marshmallow import fields, validate

from schemas.common import Hex, Int, StrictSchema, identifier


class CiphertextSchema(StrictSchema):
    a = Hex(32, required=True)
    b = Hex(32, required=True)


class ProofSchema(StrictSchema):
    """A disjunctive Chaum-Pedersen proof that a ciphertext holds 0 or 1."""

    c0 = Hex(32, required=True)
    c1 = Hex(32, required=True)
    u0 = Hex(32, required=True)
    u1 = Hex(32, required=True)


class SelectionSchema(StrictSchema):
    candidate = identifier(required=True)
    ciphertext = fields.Nested(CiphertextSchema, required=True)
    proof = fields.Nested(ProofSchema, required=True)


class SignedBallotSchema(StrictSchema):
    election = Hex(32, required=True)  # the manifest hash
    unit = identifier(required=True)
    round = Int(required=True, validate=validate.Range(min=1, max=2))
    elector = identifier(required=True)
    selections = fields.List(
        fields.Nested(SelectionSchema), required=True, validate=validate.Length(min=1, max=64)
    )
    sum_proof = fields.Nested(ProofSchema, required=True)
    signature = Hex(64, required=True)
