"""The OpenAPI 3.1 document of the HTTP API, generated from the marshmallow schemas."""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from schemas.ballot import SignedBallotSchema
from schemas.common import SignedDocumentSchema
from schemas.log import (
    ConsistencyProofSchema,
    EntriesPageSchema,
    InclusionProofSchema,
    ProblemSchema,
    ReceiptSchema,
    TurnoutSchema,
)
from schemas.manifest import ManifestSchema

LOG = "/api/v1/units/{unit}/rounds/{round}"
PROBLEM = {"$ref": "#/components/responses/Problem"}


def _json(ref: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _query(name: str, description: str, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": {"type": "integer" if name != "leaf_hash" else "string"},
    }


def _index(name: str, description: str) -> dict[str, Any]:
    """A query parameter that is a count or a position: decimal digits, at most 18."""
    return {
        **_query(name, description),
        "schema": {"type": "integer", "minimum": 0, "maximum": 10**18 - 1},
    }


def _file_schema(mimetype: str) -> dict[str, Any]:
    """A record file's answer: any JSON document, or text."""
    return {} if mimetype == "application/json" else {"type": "string"}


def build_spec() -> dict[str, Any]:
    spec = APISpec(
        title="kz-tally: verifiable ballot tallying",
        version="1",
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={
            "description": "Encrypted, signed ballots in RFC 9162 logs with C2SP checkpoints. "
            "Errors are RFC 9457 application/problem+json."
        },
    )
    for name, schema in [
        ("SignedBallot", SignedBallotSchema),
        ("Receipt", ReceiptSchema),
        ("Manifest", ManifestSchema),
        ("SignedDocument", SignedDocumentSchema),
        ("InclusionProof", InclusionProofSchema),
        ("ConsistencyProof", ConsistencyProofSchema),
        ("EntriesPage", EntriesPageSchema),
        ("Turnout", TurnoutSchema),
        ("Problem", ProblemSchema),
    ]:
        spec.components.schema(name, schema=schema)
    spec.components.response(
        "Problem",
        {
            "description": "a refusal naming the failed check",
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        },
    )
    unit_round = [
        {"name": "unit", "in": "path", "required": True, "schema": {"type": "string"}},
        {"name": "round", "in": "path", "required": True, "schema": {"type": "integer"}},
    ]
    spec.path(
        "/api/v1/manifest",
        operations={
            "get": {
                "summary": "The sealed manifest, signed by the commission",
                "responses": {
                    "200": {
                        "description": "signed manifest (payload: Manifest)",
                        **_json("SignedDocument"),
                    }
                },
            }
        },
    )
    spec.path(
        "/api/v1/units",
        operations={
            "get": {
                "summary": "Units, candidates, registered electors and rounds",
                "responses": {"200": {"description": "units"}},
            }
        },
    )
    spec.path(
        "/api/v1/ballots",
        operations={
            "post": {
                "summary": "Cast a signed, encrypted ballot",
                "description": "Checks, in order: schema, election, unit, round open, "
                "elector on roll, signature, no earlier ballot (the same ballot again "
                "returns a receipt for the stored entry with 200; a different one is 409), proofs. "
                "Then the ballot is committed durably and the receipt is returned.",
                "requestBody": {"required": True, **_json("SignedBallot")},
                "responses": {
                    "201": {"description": "accepted", **_json("Receipt")},
                    "200": {"description": "the same ballot again", **_json("Receipt")},
                    "400": PROBLEM,
                    "403": PROBLEM,
                    "409": PROBLEM,
                    "413": PROBLEM,
                    "415": PROBLEM,
                    "422": PROBLEM,
                    "503": PROBLEM,
                },
            }
        },
    )
    spec.path(
        f"{LOG}/checkpoint",
        operations={
            "get": {
                "summary": "The latest signed checkpoint (C2SP signed note), or the one of ?size=",
                "parameters": [*unit_round, _query("size", "tree size")],
                "responses": {"200": _text("checkpoint note"), "400": PROBLEM, "404": PROBLEM},
            }
        },
    )
    spec.path(
        f"{LOG}/checkpoints",
        operations={
            "get": {
                "summary": "Every checkpoint issued, in order",
                "parameters": unit_round,
                "responses": {"200": {"description": "checkpoints"}, "404": PROBLEM},
            }
        },
    )
    spec.path(
        f"{LOG}/entries",
        operations={
            "get": {
                "summary": "Log entries by index range (paged)",
                "parameters": [
                    *unit_round,
                    _query("start", "first index"),
                    _query("limit", "count"),
                ],
                "responses": {
                    "200": {"description": "entries", **_json("EntriesPage")},
                    "400": PROBLEM,
                    "404": PROBLEM,
                },
            }
        },
    )
    spec.path(
        f"{LOG}/proof/inclusion",
        operations={
            "get": {
                "summary": "Inclusion proof of an entry (by index or leaf hash) under a checkpoint",
                "parameters": [
                    *unit_round,
                    _query("index", "entry index"),
                    _query("leaf_hash", "hex leaf hash"),
                    _query("size", "checkpoint size"),
                ],
                "responses": {
                    "200": {"description": "proof", **_json("InclusionProof")},
                    "400": PROBLEM,
                    "404": PROBLEM,
                },
            }
        },
    )
    spec.path(
        f"{LOG}/proof/consistency",
        operations={
            "get": {
                "summary": "Consistency proof between two tree sizes",
                "parameters": [*unit_round, _query("from", "size 1", True), _query("to", "size 2")],
                "responses": {
                    "200": {"description": "proof", **_json("ConsistencyProof")},
                    "400": PROBLEM,
                    "404": PROBLEM,
                },
            }
        },
    )
    spec.path(
        f"{LOG}/receipts",
        operations={
            "get": {
                "summary": "The receipt of a ballot in the log, found by leaf hash or by elector",
                "parameters": [
                    *unit_round,
                    _query("leaf_hash", "hex SHA-256 leaf hash of the posted ballot"),
                    _query("elector", "elector id"),
                ],
                "responses": {
                    "200": {"description": "the receipt", **_json("Receipt")},
                    "400": PROBLEM,
                    "404": PROBLEM,
                },
            }
        },
    )
    spec.path(
        f"{LOG}/receipts/{{index}}",
        operations={
            "get": {
                "summary": "C2SP tlog-proof of an entry under the newest checkpoint covering it",
                "parameters": [
                    *unit_round,
                    {
                        "name": "index",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer"},
                    },
                ],
                "responses": {"200": _text("tlog-proof"), "404": PROBLEM},
            }
        },
    )
    spec.path(
        f"{LOG}/cosignatures",
        operations={
            "post": {
                "summary": "A pull-mode witness (a guardian) posts a checkpoint note with its "
                "cosignature lines; listed witnesses' valid lines are attached",
                "parameters": unit_round,
                "requestBody": {
                    "required": True,
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "responses": {
                    "200": {"description": "the witnesses whose cosignatures were attached"},
                    "404": PROBLEM,
                    "409": PROBLEM,
                    "422": PROBLEM,
                },
            }
        },
    )
    spec.path(
        f"{LOG}/tally",
        operations={
            "get": {
                "summary": "The round's tally: encrypted sums, partial decryptions, counts",
                "parameters": unit_round,
                "responses": {"200": {"description": "tally"}, "404": PROBLEM},
            }
        },
    )
    spec.path(
        "/api/v1/turnout",
        operations={
            "get": {
                "summary": "Live turnout and quorum per unit",
                "responses": {"200": {"description": "turnout", **_json("Turnout")}},
            }
        },
    )
    spec.path(
        "/api/v1/health",
        operations={
            "get": {
                "summary": "Background tasks: runs, errors, and whether the latest run failed",
                "responses": {"200": {"description": "health"}},
            }
        },
    )
    spec.path(
        "/api/v1/results/{kind}",
        operations={
            "get": {
                "summary": "The commission-signed preliminary or final result",
                "parameters": [
                    {
                        "name": "kind",
                        "in": "path",
                        "required": True,
                        "schema": {"enum": ["preliminary", "final"]},
                    }
                ],
                "responses": {
                    "200": {"description": "signed result", **_json("SignedDocument")},
                    "404": PROBLEM,
                },
            }
        },
    )
    spec.path(
        "/api/v1/record.tar.gz",
        operations={
            "get": {
                "summary": "The whole election record as a gzip'd tar",
                "responses": {"200": {"description": "archive"}},
            }
        },
    )
    # the record, file by file (the same bytes as the exported record)
    record_files = [
        ("manifest.json", [], "application/json", "the signed manifest"),
        ("key_ceremony.json", [], "application/json", "the key ceremony transcript"),
        (
            "audit.jsonl",
            [_index("start", "first line (0-based)")],
            "application/jsonl",
            "the commission's signed requests, from line start",
        ),
        (
            "units/{unit}/{round}/checkpoints.txt",
            [*unit_round, _index("start", "first note")],
            "text/plain",
            "every signed checkpoint, from note start",
        ),
        (
            "units/{unit}/{round}/ballots.jsonl",
            [
                *unit_round,
                _index("start", "first index"),
                _index("end", "index after the last"),
            ],
            "application/jsonl",
            "log entries start..end (at most 1000), one a line",
        ),
        ("units/{unit}/{round}/tally.json", unit_round, "application/json", "the round's tally"),
        (
            "results/{kind}.json",
            [
                {
                    "name": "kind",
                    "in": "path",
                    "required": True,
                    "schema": {"enum": ["preliminary", "final"]},
                }
            ],
            "application/json",
            "a commission-signed result",
        ),
    ]
    for rel, parameters, mimetype, summary in record_files:
        spec.path(
            f"/api/v1/record/{rel}",
            operations={
                "get": {
                    "summary": f"Record file {rel}: {summary} (the exported bytes)",
                    "parameters": parameters,
                    "responses": {
                        "200": {
                            "description": summary,
                            "content": {mimetype: {"schema": _file_schema(mimetype)}},
                        },
                        "400": PROBLEM,
                        "404": PROBLEM,
                    },
                }
            },
        )
    spec.path(
        "/api/v1/commission/{action}",
        operations={
            "post": {
                "summary": "A commission request, signed with a timestamp and a nonce",
                "description": "Actions: open-round, close-round, checkpoint, start-tally, "
                "submit-partial, publish-results. Each is recorded in the audit log.",
                "parameters": [
                    {"name": "action", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "requestBody": {"required": True, **_json("SignedDocument")},
                "responses": {
                    "200": {"description": "done"},
                    "400": PROBLEM,
                    "403": PROBLEM,
                    "404": PROBLEM,
                    "409": PROBLEM,
                    "413": PROBLEM,
                    "415": PROBLEM,
                    "422": PROBLEM,
                    "503": PROBLEM,
                },
            }
        },
    )
    _guardian_paths(spec)
    return spec.to_dict()


def _guardian_paths(spec: APISpec) -> None:
    """A guardian's partial decryption, posted from its own machine."""
    from schemas.ceremony import GuardianPartialSchema

    spec.components.schema("GuardianPartial", schema=GuardianPartialSchema)
    spec.path(
        "/api/v1/guardian/partials",
        operations={
            "post": {
                "summary": "A guardian's partial decryption, signed by its identity key",
                "description": "Checks: schema, a guardian identity key of the manifest and its "
                "signature (context guardian), the election, unit, round and final checkpoint "
                "of the tally, the partial names its signer; then what submit-partial checks. "
                "The envelope is kept as signed in tally.json. Once k are in, the answer holds "
                "the counts.",
                "requestBody": {"required": True, **_json("GuardianPartial")},
                "responses": {
                    "200": {"description": "the tally document"},
                    **{code: PROBLEM for code in ("400", "403", "404", "409", "413", "422", "503")},
                },
            }
        },
    )


def build_board_spec() -> dict[str, Any]:
    """The OpenAPI document of the key ceremony's board (`tally-service ceremony`), a server of
    its own that runs before the election is sealed."""
    from schemas.ceremony import BoardViewSchema, CeremonyMessageSchema

    spec = APISpec(
        title="kz-tally: the key ceremony's bulletin board",
        version="1",
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={"description": "Stores and relays the guardians' signed messages; holds no secret."},
    )
    spec.components.schema("CeremonyMessage", schema=CeremonyMessageSchema)
    spec.components.schema("CeremonyBoard", schema=BoardViewSchema)
    spec.components.schema("Problem", schema=ProblemSchema)
    spec.components.response(
        "Problem",
        {
            "description": "a refusal naming the failed check",
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        },
    )
    spec.path(
        "/api/v1/ceremony",
        operations={
            "get": {
                "summary": "The attempt's header and every accepted message",
                "responses": {
                    "200": {"description": "header and messages", **_json("CeremonyBoard")}
                },
            }
        },
    )
    spec.path(
        "/api/v1/ceremony/messages",
        operations={
            "post": {
                "summary": "Post a guardian's signed key-ceremony message",
                "requestBody": {"required": True, **_json("CeremonyMessage")},
                "responses": {
                    "201": {"description": "accepted"},
                    "200": {"description": "the same message again"},
                    **{code: PROBLEM for code in ("400", "409", "413", "422")},
                },
            }
        },
    )
    return spec.to_dict()
