"""A bounded, seeded schemathesis run against the app: the OpenAPI document and the code cannot
drift apart (undocumented statuses, bodies that break their schema, 5xx on any input)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.config import SchemathesisConfig

from tally_service.service.app import create_app
from tally_service.service.config import Config
from tally_service.service.election import Election
from tally_service.service.openapi import build_spec
from tests.conftest import Built

# bounded: the explicit examples and a few generated cases per operation (the coverage phase
# would enumerate every case the ballot schema allows, far too many for the suite)
CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        "generation": {"max-examples": 8},
        # a schema-valid ballot or request is still refused on its meaning: another election,
        # proofs that fail (422), no such unit (404), a closed round (409), a bad signature (403)
        "checks": {
            "positive_data_acceptance": {"expected-statuses": ["2XX", "403", "404", "409", "422"]}
        },
    }
)
schema = schemathesis.openapi.from_dict(build_spec(), config=CONFIG)


@pytest.fixture(scope="module")
def app(built_template: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    import shutil

    data = tmp_path_factory.mktemp("openapi") / "election"
    shutil.copytree(built_template.data_dir, data)
    election = Election(data, Config(checkpoint_every=2))
    election.open_round("AAA", 1)
    yield create_app(election)
    election.stop()


@schema.parametrize()
@settings(
    max_examples=8,
    derandomize=True,  # seeded: the same cases on every run
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_app_keeps_to_its_openapi_document(case: Case, app: Flask) -> None:
    case.operation.schema.app = app  # called in-process through WSGI
    case.call_and_validate(app=app)
