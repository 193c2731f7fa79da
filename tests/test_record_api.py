"""The record, file by file, over the API: the same bytes as the exported record."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.builders.sample import UnitSpec
from scripts.builders.simulate import run_election
from tally_service.service.app import create_app
from tally_service.service.config import Config
from tally_service.service.election import Election
from tally_service.service.export import export_record
from tests.conftest import Built

UNITS = [
    UnitSpec("AAA", "Unit A", candidates=3, electors=10),
    UnitSpec("BBB", "Unit B", candidates=2, electors=7, kind="city"),
]
FILES = "/api/v1/record"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("record-api") / "data"
    run_election(data, UNITS, turnout=0.8, checkpoint_every=3)
    return data


def test_every_record_file_is_served_with_the_exported_bytes(
    finished: Path, tmp_path: Path
) -> None:
    election = Election(finished, Config(checkpoint_every=3, page_size=4))
    try:
        record = export_record(election, tmp_path / "record")
        client = create_app(election).test_client()
        served = 0
        for path in sorted(p for p in record.rglob("*") if p.is_file()):
            rel = path.relative_to(record).as_posix()
            if rel == "README.md":
                continue
            if rel.endswith("ballots.jsonl"):  # paged: at most page_size lines an answer
                got = b""
                while True:
                    start = got.count(b"\n")
                    page = client.get(f"{FILES}/{rel}?start={start}")
                    assert page.status_code == 200
                    if not page.data:
                        break
                    got += page.data
            elif rel.startswith("booth_code/"):  # served where browsers load it (api.md)
                answer = client.get("/" + rel.removeprefix("booth_code/"))
                assert answer.status_code == 200, rel
                got = answer.data
            else:
                answer = client.get(f"{FILES}/{rel}")
                assert answer.status_code == 200, rel
                got = answer.data
            assert got == path.read_bytes(), rel
            served += 1
        assert served >= 10

        # the incremental forms continue where a reader stopped
        audit = (record / "audit.jsonl").read_bytes().split(b"\n")[:-1]
        tail = client.get(f"{FILES}/audit.jsonl?start=2").data
        assert tail == b"".join(line + b"\n" for line in audit[2:])
        notes = (record / "units/AAA/1/checkpoints.txt").read_text().split("\n\n")
        later = client.get(f"{FILES}/units/AAA/1/checkpoints.txt?start=1").data.decode()
        assert later.split("\n\n") == notes[2:]
        lines = (record / "units/AAA/1/ballots.jsonl").read_bytes().split(b"\n")[:-1]
        page = client.get(f"{FILES}/units/AAA/1/ballots.jsonl?start=1&end=3")
        assert page.data == lines[1] + b"\n" + lines[2] + b"\n"
        assert page.headers["Tree-Size"] == str(len(lines))
    finally:
        election.stop()


def test_missing_record_files_are_problems(built: Built) -> None:
    election = Election(built.data_dir, Config(checkpoint_every=4))
    try:
        client = create_app(election).test_client()
        for rel, check in [
            ("units/AAA/1/tally.json", "unknown-round"),
            ("results/final.json", "not-published"),
            ("results/other.json", "not-published"),
            ("units/ZZZ/1/checkpoints.txt", "unknown-unit"),
            ("audit.jsonl?start=x", "query"),
        ]:
            answer = client.get(f"{FILES}/{rel}")
            assert answer.mimetype == "application/problem+json", rel
            assert answer.get_json()["check"] == check, rel
        election.open_round("AAA", 1)
        answer = client.get(f"{FILES}/units/AAA/1/tally.json")
        assert answer.status_code == 404 and answer.get_json()["check"] == "not-published"
    finally:
        election.stop()


def test_the_openapi_document_lists_the_record_files() -> None:
    from tally_service.service.openapi import build_spec

    paths = build_spec()["paths"]
    for rel in [
        "manifest.json",
        "key_ceremony.json",
        "audit.jsonl",
        "units/{unit}/{round}/checkpoints.txt",
        "units/{unit}/{round}/ballots.jsonl",
        "units/{unit}/{round}/tally.json",
        "results/{kind}.json",
    ]:
        assert f"/api/v1/record/{rel}" in paths
