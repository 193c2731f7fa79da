"""``tally-service``: the commission's command line.

Every command prints one clear error line and exits non-zero on failure; commands that print
data take ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tally_service.problems import Problem

Handler = Callable[[argparse.Namespace], int]


class CliError(Exception):
    pass


def _print(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(text(data))


def _offline(args: argparse.Namespace) -> Any:
    """Open the election for an offline command, holding the data directory's lock."""
    from tally_service.election import Election
    from tally_service.server import lock_data_dir

    lock_data_dir(args.data)
    return Election(args.data)


def cmd_init(args: argparse.Namespace) -> int:
    from tally_service.setup import init_election

    draft = json.loads(Path(args.manifest).read_text(encoding="utf-8"))
    init_election(args.data, draft)
    print(f"initialised the election in {args.data}; next: import-roll for each unit")
    return 0


def cmd_import_roll(args: argparse.Namespace) -> int:
    from tally_service.rolls import parse_roll
    from tally_service.setup import import_roll

    imported = parse_roll(Path(args.file).read_bytes(), args.unit)
    count = import_roll(args.data, args.unit, list(imported.entries))
    note = f" (repaired mojibake on lines {list(imported.repaired_lines)})" if imported.repaired_lines else ""
    print(f"imported {count} electors into {args.unit} from {imported.encoding}{note}")
    return 0


def cmd_ceremony(args: argparse.Namespace) -> int:
    from tally_service.setup import key_ceremony

    transcript = key_ceremony(args.data)
    print(f"key ceremony held: {transcript['n']} guardians, threshold {transcript['k']}; "
          f"joint key {transcript['joint_key']}")
    return 0


def cmd_seal(args: argparse.Namespace) -> int:
    from crypto.canonical import hash_json
    from tally_service.manifest import MANIFEST_HASH_TAG
    from tally_service.setup import seal

    signed = seal(args.data)
    print(f"sealed; manifest hash {hash_json(MANIFEST_HASH_TAG, signed['payload']).hex()}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from tally_service.config import Config
    from tally_service.election import Election
    from tally_service.server import lock_data_dir, serve

    lock_data_dir(args.data)
    config = Config(checkpoint_every=args.checkpoint_every,
                    checkpoint_seconds=args.checkpoint_seconds)
    serve(Election(args.data, config), args.host, args.port, args.threads)
    return 0


def cmd_open_round(args: argparse.Namespace) -> int:
    election = _offline(args)
    try:
        log = election.open_round(args.unit, args.round)
        print(f"opened round {args.round} of {args.unit}: candidates {', '.join(log.candidates)}")
    finally:
        election.stop()
    return 0


def cmd_close_round(args: argparse.Namespace) -> int:
    election = _offline(args)
    try:
        election.close_round(args.unit, args.round)
        log = election.log(args.unit, args.round)
        print(f"closed round {args.round} of {args.unit} at {log.tree.size} ballots")
    finally:
        election.stop()
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    election = _offline(args)
    try:
        data = election.turnout()
    finally:
        election.stop()

    def text(d: dict[str, Any]) -> str:
        lines = [f"{'unit':<6} {'round':>5} {'state':<8} {'registered':>10} {'took part':>9} "
                 f"{'turnout':>8} quorum"]
        for u in d["units"]:
            lines.append(
                f"{u['unit']:<6} {u['round']:>5} {u['state']:<8} {u['registered']:>10} "
                f"{u['took_part']:>9} {u['turnout']:>7}% {'yes' if u['quorum'] else 'no'}"
            )
        lines.append(f"total: {d['took_part']} of {d['registered']} ({d['turnout']}%)")
        return "\n".join(lines)

    _print(data, args.json, text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tally-service", description="Run a verifiable indirect election."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, handler: Handler, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.add_argument("--data", type=Path, required=True, help="the election's data directory")
        p.set_defaults(handler=handler)
        return p

    p = add("init", cmd_init, "create an election from a draft manifest, generating its keys")
    p.add_argument("--manifest", required=True, help="draft manifest JSON")
    p = add("import-roll", cmd_import_roll, "import (replace) one unit's roll from a CSV file")
    p.add_argument("--unit", required=True)
    p.add_argument("file")
    add("ceremony", cmd_ceremony, "hold the guardians' key ceremony in-process (demo path)")
    add("seal", cmd_seal, "seal and sign the manifest: no change after this")
    p = add("serve", cmd_serve, "serve the HTTP API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--checkpoint-every", type=int, default=64, help="ballots per checkpoint")
    p.add_argument("--checkpoint-seconds", type=float, default=5.0, help="checkpoint period")
    for name, handler, help_ in [
        ("open-round", cmd_open_round, "open a round of a unit"),
        ("close-round", cmd_close_round, "close a round: final checkpoint, countersigned"),
    ]:
        p = add(name, handler, help_)
        p.add_argument("--unit", required=True)
        p.add_argument("--round", type=int, default=1)
    p = add("status", cmd_status, "turnout and quorum per unit")
    p.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except Problem as exc:
        print(f"tally-service: error: {exc.detail}", file=sys.stderr)
    except (OSError, ValueError, KeyError) as exc:
        print(f"tally-service: error: {exc}", file=sys.stderr)
    except Exception as exc:  # every other refusal: one line, never a traceback
        print(f"tally-service: error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
