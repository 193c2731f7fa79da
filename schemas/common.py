"""Field types and the base schema shared by every wire and record format.

Every schema refuses unknown fields (marshmallow's RAISE), integers must be JSON integers (not
strings, not booleans), and binary values are lowercase hex of a fixed length.
"""

from __future__ import annotations

import re
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
HEX = re.compile(r"^[0-9a-f]*$")


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class Int(fields.Integer):
    """A JSON integer: no strings, no floats, no booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ValidationError("Not a valid integer.")
        result: int = super()._deserialize(value, attr, data, **kwargs)
        return result


class Hex(fields.String):
    """Lowercase hex of ``length`` bytes (any even length when None)."""

    def __init__(self, length: int | None = None, **kwargs: Any) -> None:
        digits = "*" if length is None else f"{{{2 * length}}}"
        kwargs.setdefault("metadata", {"pattern": f"^[0-9a-f]{digits}$"})
        super().__init__(**kwargs)
        self.length = length

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text: str = super()._deserialize(value, attr, data, **kwargs)
        if not HEX.match(text) or len(text) % 2:
            raise ValidationError("Not lowercase hex.")
        if self.length is not None and len(text) != 2 * self.length:
            raise ValidationError(f"Expected {self.length} bytes of hex.")
        return text


def identifier(**kwargs: Any) -> fields.String:
    return fields.String(
        validate=validate.Regexp(IDENTIFIER, error="Not a valid identifier."), **kwargs
    )


def text(max_length: int = 512, **kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_length), **kwargs)


class SignedDocumentSchema(StrictSchema):
    """The envelope of crypto.envelope; the payload is checked by its own schema."""

    payload = fields.Dict(required=True)
    key_id = Hex(8, required=True)
    signature = Hex(64, required=True)
