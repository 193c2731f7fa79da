"""Shared fixtures: small elections built at test time (keys are generated, never stored in
the repository)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from crypto.signing import SigningKey
from tally_service.config import Config
from tally_service.election import Election
from tally_service.sample import UnitSpec, build_election

SMALL_UNITS = [
    UnitSpec("AAA", "Unit A", candidates=3, electors=12),
    UnitSpec("BBB", "Unit B", candidates=2, electors=9, kind="city"),
]


@dataclass
class Built:
    data_dir: Path
    keys: dict[str, SigningKey]


@pytest.fixture(scope="session")
def built_template(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """One sealed election, built once per session; tests copy it."""
    data = tmp_path_factory.mktemp("template") / "election"
    keys = build_election(data, SMALL_UNITS, guardians=3, threshold=2)
    return Built(data, keys)


@pytest.fixture
def built(built_template: Built, tmp_path: Path) -> Built:
    import shutil

    data = tmp_path / "election"
    shutil.copytree(built_template.data_dir, data)
    return Built(data, built_template.keys)


@pytest.fixture
def election(built: Built) -> Iterator[Election]:
    e = Election(built.data_dir, Config(checkpoint_every=4))
    yield e
    e.stop()
