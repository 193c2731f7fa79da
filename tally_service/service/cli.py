"""The operator's commands on the election's own store: ``tally-service`` init, import-roll,
ceremony, seal, migrate, serve, and without ``--url`` open-round, close-round, turnout,
status, tally, results and export.

Preparation works on the data directory (or the PostgreSQL store) before voting. During the
election the same changes a commission sends as signed requests (tally_service/commission/
cli.py) can be made here directly when no server holds the directory: as the service would
make them, with the commission key the data directory holds. Every command prints one clear
error line and exits non-zero on failure (tally_service/cli.py); commands that print data take
``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tally_service.common import clock
from tally_service.common.problems import Problem
from tally_service.common.reports import print_data, print_results, tally_text, turnout_text
from tally_service.service.election import Election
from tally_service.service.server import lock_data_dir


def refuse_simulated_clock_unless_simulation(manifest: dict[str, Any]) -> None:
    """A simulated clock signs times of another day: only a simulation's manifest allows it
    (tally_service/common/clock.py). A production election never runs on one, whatever the
    environment."""
    path = clock.simulated_clock_file()
    if path is None:
        return
    if manifest.get("simulation") is not True:
        raise RuntimeError(
            f"{clock.SIMULATED_CLOCK_ENV} is set but this election's manifest is not a "
            "simulation's; unset the variable to serve it on the real clock"
        )
    clock.read_setting(path)  # a broken clock file: one line now, not a failure mid-election


@contextmanager
def offline(args: argparse.Namespace) -> Iterator[Election]:
    """The election opened from its data directory, holding the directory's lock."""
    if args.data is None:
        raise Problem(400, "usage", "give --data DIR (or --url URL with --key)")
    if args.store:  # a shared database: other processes may serve it; its row locks order us
        election = Election(args.data, store=args.store)
        try:
            refuse_simulated_clock_unless_simulation(election.manifest.body)
            yield election
        finally:
            election.stop()
        return
    fd = lock_data_dir(args.data)
    # a read-only data directory (a copy on read-only media): the reads work, writes refuse
    election = Election(args.data, read_only=not os.access(args.data, os.W_OK))
    try:
        # the offline commands sign times too (open, close, results): same rule as serve
        refuse_simulated_clock_unless_simulation(election.manifest.body)
        yield election
    finally:
        election.stop()
        os.close(fd)


def cmd_init(args: argparse.Namespace) -> int:
    from tally_service.service.setup import init_election

    # utf-8-sig: a BOM, as editors on Windows write, is accepted as it is for rolls
    draft = json.loads(Path(args.manifest).read_text(encoding="utf-8-sig"))
    init_election(args.data, draft, store=args.store)
    print(f"initialised the election in {args.data}; next: import-roll for each unit")
    return 0


def cmd_import_roll(args: argparse.Namespace) -> int:
    from tally_service.common.rolls import parse_roll
    from tally_service.service.setup import import_roll

    imported = parse_roll(Path(args.file).read_bytes(), args.unit)
    count = import_roll(args.data, args.unit, list(imported.entries), args.store)
    repaired = list(imported.repaired_lines)
    note = f" (repaired mojibake on lines {repaired})" if repaired else ""
    print(f"imported {count} electors into {args.unit} from {imported.encoding}{note}")
    return 0


def cmd_ceremony(args: argparse.Namespace) -> int:
    from tally_service.service.ceremony_board import CeremonyBoard, serve_board
    from tally_service.service.setup import _store

    exclude = [int(i) for i in args.exclude.split(",")] if args.exclude else []
    fd = None if args.store else lock_data_dir(args.data)
    store = _store(args.data, store=args.store)
    try:
        board = CeremonyBoard(store, exclude=exclude, timeout=args.timeout)
        print(
            f"key ceremony attempt {board.header.attempt}: guardians "
            f"{board.header.participants}, threshold {board.header.k}; ceremony fingerprint "
            f"{board.header.fingerprint} (the guardians compare it out of band)",
            flush=True,
        )
        status = serve_board(board, args.host, args.port, linger=args.linger)
        if status != "done":
            raise Problem(409, "ceremony-failed", str(board.state["failure"]))
        transcript = board.transcript()
    finally:
        store.close()
        if fd is not None:
            os.close(fd)
    print(
        f"key ceremony complete: QUAL {transcript['qual']}, joint key {transcript['joint_key']}; "
        "next: tally-service seal"
    )
    return 0


def cmd_seal(args: argparse.Namespace) -> int:
    from crypto.canonical import hash_json
    from crypto.fingerprint import election_fingerprint_of_hash
    from tally_service.common.manifest import MANIFEST_HASH_TAG
    from tally_service.service.setup import seal

    signed = seal(args.data, args.store)
    manifest_hash = hash_json(MANIFEST_HASH_TAG, signed["payload"])
    print(
        f"sealed; manifest hash {manifest_hash.hex()}; election fingerprint "
        f"{election_fingerprint_of_hash(manifest_hash)}"
    )
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from tally_service.service.store import is_database_url, redact

    if not is_database_url(args.store):
        raise Problem(400, "usage", "give --store postgresql://... (SQLite migrates by itself)")
    from tally_service.service.store_pg import PgStore

    store = PgStore(args.store, migrate=False)
    try:
        applied = store.migrate()
    finally:
        store.close()
    done = f"applied migrations {', '.join(map(str, applied))}" if applied else "up to date"
    print(f"{redact(args.store)}: schema {done}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from tally_service.common.logsetup import configure_logging
    from tally_service.service.config import Config
    from tally_service.service.server import serve

    configure_logging(args.log_level)
    if not args.store:  # SQLite: one process; over PostgreSQL any number share the database
        lock_data_dir(args.data)  # held until the process exits
    config = Config(
        checkpoint_every=args.checkpoint_every,
        checkpoint_seconds=args.checkpoint_seconds,
        max_body_bytes=args.max_body_bytes,
        request_window_seconds=args.request_window,
    )
    workers = args.check_workers if args.check_workers is not None else (os.cpu_count() or 1)
    election = Election(args.data, config, store=args.store)
    refuse_simulated_clock_unless_simulation(election.manifest.body)
    if args.witness:
        from tally_service.common.witness_args import witness_urls
        from tally_service.service.witnessing import start_witnessing

        start_witnessing(election, witness_urls(args.witness))
    serve(election, args.host, args.port, args.threads, workers)
    return 0


def cmd_open_round(args: argparse.Namespace) -> int:
    from tally_service.service.tally import open_runoff

    with offline(args) as election:
        if args.round == 2:
            log = open_runoff(election, args.unit)
        else:
            log = election.open_round(args.unit, args.round)
    print(f"opened round {log.round} of {log.unit}: {', '.join(log.candidates)}")
    return 0


def cmd_close_round(args: argparse.Namespace) -> int:
    with offline(args) as election:
        election.close_round(args.unit, args.round)
    print(f"closed round {args.round} of {args.unit}: final checkpoint countersigned")
    return 0


def cmd_turnout(args: argparse.Namespace) -> int:
    with offline(args) as election:
        data = election.turnout()
    print_data(data, args.json, turnout_text)
    return 0


def cmd_tally(args: argparse.Namespace) -> int:
    """Publish a closed round's encrypted tally; the guardians decrypt it from their own
    machines (``tally-service guardian decrypt``) once the service serves it."""
    from tally_service.service import tally

    with offline(args) as election:
        doc = tally.start_tally(election, args.unit, args.round)
        void = tally.is_void(election, doc)
    print_data(doc, args.json, lambda d: tally_text(args.unit, args.round, d, void))
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    from tally_service.service import results

    with offline(args) as election:
        if args.publish:
            results.publish(election, args.publish)
        texts = [election.store.get_result(k) for k in ("final", "preliminary")]
        found = [t for t in texts if t is not None]
        signed = json.loads(found[0]) if found else None
    print_results(signed, args.json)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from tally_service.service.export import export_record

    out = Path(args.out)
    with offline(args) as election:
        export_record(election, out)
    print(f"exported the record to {out}; check it with: scripts/verify.py {out}")
    return 0
