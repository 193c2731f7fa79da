"""A small election for the public-page tests: a live server in a thread, ballots cast through
the Election object, rounds closed, tallied and published on demand."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from werkzeug.serving import make_server

from scripts.builders import insecure
from scripts.builders.sample import UnitSpec, build_election
from tally_service.elector.ballot import make_ballot
from tally_service.service import results, tally
from tally_service.service.app import create_app
from tally_service.service.config import Config
from tally_service.service.election import Election

UNITS = [
    UnitSpec("AST", "Astana", 3, 10, kind="city", name_ru="город Астана", name_kk="Астана қаласы"),
    UnitSpec("KAR", "Karaganda Region", 3, 10, name_ru="Карагандинская область",
             name_kk="Қарағанды облысы"),
]  # fmt: skip


class SmallElection:
    def __init__(self, data_dir: Path, checkpoint_seconds: float = 1.0) -> None:
        self.keys = build_election(data_dir, UNITS, guardians=3, threshold=2)
        self.election = Election(
            data_dir, Config(checkpoint_every=1000, checkpoint_seconds=checkpoint_seconds)
        )
        self.cast_count: dict[tuple[str, int], int] = {}

    def electors(self, unit: str) -> list[str]:
        return [e["elector"] for e in self.election.manifest.units[unit]["roll"]]

    def cast(self, unit: str, round_no: int, choices: list[int | None]) -> None:
        log = self.election.log(unit, round_no)
        done = self.cast_count.get((unit, round_no), 0)
        for elector, pick in zip(self.electors(unit)[done:], choices, strict=False):
            ballot = make_ballot(
                self.election.manifest.hash, unit, round_no, elector, log.candidates,
                None if pick is None else log.candidates[pick],
                self.election.manifest.election_key, self.keys[elector],
            )  # fmt: skip
            self.election.cast(ballot)
        self.cast_count[(unit, round_no)] = done + len(choices)

    def close_and_tally(self, unit: str, round_no: int) -> None:
        self.election.close_round(unit, round_no)
        insecure.tally_in_process(self.election, unit, round_no, [1, 2])

    def latest_size(self, unit: str, round_no: int) -> int:
        note = self.election.checkpoint_at(self.election.log(unit, round_no), None)
        return int(note.split("\n")[1])

    def run_to_final(self) -> None:
        """AST elects its first candidate; KAR needs a runoff, which its second candidate wins."""
        for unit in ("AST", "KAR"):
            if self.election.log(unit, 1).open:
                self.close_and_tally(unit, 1)
        results.publish(self.election, "preliminary")
        tally.open_runoff(self.election, "KAR")
        self.cast("KAR", 2, [1, 1, 1, 0, 1, 0, None])
        self.close_and_tally("KAR", 2)
        results.publish(self.election, "final")


@contextmanager
def serving(election: Election) -> Iterator[str]:
    """The service's app on 127.0.0.1 (an ephemeral port) in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, create_app(election), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    election.start_checkpointer()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        election.stop()


def figures(doc: dict[str, Any], unit: str) -> dict[str, Any]:
    return next(u for u in doc["units"] if u["unit"] == unit)
