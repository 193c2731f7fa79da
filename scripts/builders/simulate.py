"""A whole election in one process, for the tests, the tamper suite and the benchmarks.

The demo drives a real server over HTTP instead; this path calls the same Election object
directly, so both go through every check.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crypto.cosignature import Cosigner
from crypto.signing import SigningKey
from scripts.builders import insecure
from scripts.builders.sample import UnitSpec, build_election
from tally_service.elector.ballot import make_ballot
from tally_service.service import results, tally
from tally_service.service.config import Config
from tally_service.service.election import Election
from tally_service.service.export import export_record

Chooser = Callable[[str, int, Sequence[str], random.Random], str | None]


def uniform_choice(
    unit: str, round_no: int, candidates: Sequence[str], rng: random.Random
) -> str | None:
    return rng.choice([*candidates, None])


@dataclass
class SimulatedElection:
    data_dir: Path
    keys: dict[str, SigningKey]
    receipts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # elector -> receipts
    choices: dict[tuple[str, int, str], str | None] = field(default_factory=dict)


def cast_round(
    election: Election,
    sim: SimulatedElection,
    unit: str,
    round_no: int,
    turnout: float,
    chooser: Chooser,
    rng: random.Random,
) -> None:
    log = election.log(unit, round_no)
    electors = [e["elector"] for e in election.manifest.units[unit]["roll"]]
    voting = electors[: round(len(electors) * turnout)]
    for elector in voting:
        choice = chooser(unit, round_no, log.candidates, rng)
        ballot = make_ballot(
            election.manifest.hash,
            unit,
            round_no,
            elector,
            log.candidates,
            choice,
            election.manifest.election_key,
            sim.keys[elector],
        )
        receipt, _ = election.cast(ballot)
        sim.receipts.setdefault(elector, []).append(receipt)
        sim.choices[(unit, round_no, elector)] = choice


def run_election(
    data_dir: Path,
    units: list[UnitSpec],
    *,
    turnout: float | dict[str, float] = 0.9,
    chooser: Chooser = uniform_choice,
    guardians: int = 3,
    threshold: int = 2,
    decrypting: Sequence[int] | None = None,
    seed: int = 1,
    record: Path | None = None,
    checkpoint_every: int = 8,
    witnesses: Sequence[Cosigner] = (),
    witness_quorum: int | None = None,
    witness_colluders: int = 0,
) -> SimulatedElection:
    """Build, vote, close, tally (runoffs included), publish both results, export the record.

    With ``witnesses`` the manifest names them (quorum: all of them unless given) and they
    witness in this process, their state beside ``data_dir``; each round's latest checkpoint is
    cosigned after its ballots are cast and again once it is closed."""
    rng = random.Random(seed)
    section = None
    if witnesses:
        from crypto.witness_policy import manifest_section

        quorum = witness_quorum or len(witnesses)
        section = manifest_section(quorum, witness_colluders, [w.public for w in witnesses])
    keys = build_election(
        data_dir, units, guardians=guardians, threshold=threshold, witnesses=section
    )
    sim = SimulatedElection(data_dir, keys)
    election = Election(data_dir, Config(checkpoint_every=checkpoint_every))
    sync = _local_witnesses(election, witnesses, data_dir.parent / "witnesses")
    chosen = list(decrypting or range(1, threshold + 1))
    try:

        def turnout_of(unit: str) -> float:
            return turnout[unit] if isinstance(turnout, dict) else turnout

        for u in units:
            election.open_round(u.code, 1)
            cast_round(election, sim, u.code, 1, turnout_of(u.code), chooser, rng)
            sync()
            election.close_round(u.code, 1)
            sync()
            insecure.tally_in_process(election, u.code, 1, chosen)
        results.publish(election, "preliminary")
        for u in units:
            doc = tally.start_tally(election, u.code, 1)
            if tally.outcome(election, doc).status == "runoff":
                tally.open_runoff(election, u.code)
                cast_round(election, sim, u.code, 2, turnout_of(u.code), chooser, rng)
                sync()
                election.close_round(u.code, 2)
                sync()
                insecure.tally_in_process(election, u.code, 2, chosen)
        results.publish(election, "final")
        if record is not None:
            export_record(election, record)
    finally:
        election.stop()
    return sim


def _local_witnesses(
    election: Election, witnesses: Sequence[Cosigner], state: Path
) -> Callable[[], None]:
    """Witnesses in this process; returns the function that has them cosign what is new."""
    if not witnesses:
        return lambda: None
    from tally_service.service.witnessing import Witnessing
    from tally_service.witness.core import Witness

    manifest = election.manifest
    logs = {
        manifest.origin(unit, round_no): verifier
        for unit, verifier in manifest.log_verifiers.items()
        for round_no in (1, 2)
    }
    local = {
        w.name: Witness(w, state / w.name.replace("/", "_"), logs) for w in witnesses
    }
    witnessing = Witnessing(election, {}, local=local)
    election.witnessing = witnessing
    return witnessing.sync
