"""``tally-service``: every party's commands under one program, each run from its own package.

This module only puts the commands together; what each does lives in its party's package
(tally_service/__init__.py), imported when its command runs, so that ``tally-service guardian``
loads the guardian's code and nothing of the service's:

- the operator (tally_service/service/cli.py): init, import-roll, ceremony, seal, migrate,
  serve, and without ``--url`` open-round, close-round, turnout, status, tally, results, export
  on the data directory itself;
- the commission (tally_service/commission/cli.py): keygen, and with ``--url`` the same state
  changes as requests to the running service signed by the commission key;
- the credential authority: credentials; the elector: vote; the guardian: guardian ...; the
  witness: witness ...

Every command prints one clear error line and exits non-zero on failure; commands that print
data take ``--json``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from tally_service.common.lifeline import exit_with_parent_if_asked
from tally_service.common.problems import Problem

Handler = Callable[[argparse.Namespace], int]

SERVICE = "tally_service.service.cli"
COMMISSION = "tally_service.commission.cli"


def run(module: str, name: str) -> Handler:
    """The handler ``name`` of a party's command module, imported only when it runs."""

    def handler(args: argparse.Namespace) -> int:
        code: int = getattr(importlib.import_module(module), name)(args)
        return code

    return handler


def by_url(name: str) -> Handler:
    """With ``--url``, the commission's signed request to the running service; without, the
    operator's same change on the data directory."""

    def handler(args: argparse.Namespace) -> int:
        return run(COMMISSION if args.url else SERVICE, name)(args)

    return handler


def _whole(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < low or (high is not None and value > high):
            bounds = f"from {low} to {high}" if high is not None else f"{low} or more"
            raise argparse.ArgumentTypeError(f"{value} is out of range: give {bounds}")
        return value

    return parse


def _seconds(text: str) -> float:
    """An argparse type: a positive, finite number of seconds (at most a day)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and 0 < value <= 86400):
        raise argparse.ArgumentTypeError(f"{text} is out of range: give more than 0, up to 86400")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tally-service",
        description="Run a verifiable indirect election: prepare it, serve the API, close, "
        "tally, publish and export the record.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(
        name: str,
        handler: Handler,
        help_: str,
        data: str = "required",
        url: bool = False,
        as_json: bool = False,
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        if data != "none":
            if data != "none-but-store":
                p.add_argument(
                    "--data",
                    type=Path,
                    required=data == "required" and not url,
                    help="the election's data directory",
                )
            p.add_argument(
                "--store",
                default=os.environ.get("KZ_TALLY_STORE") or None,
                metavar="URL",
                help="the election's database: postgresql://USER@HOST:PORT/DB (default: "
                "$KZ_TALLY_STORE, else the SQLite file election.db in --data, which then also "
                "holds the keys)",
            )
        if url:
            p.add_argument(
                "--url",
                help="a running service (e.g. http://127.0.0.1:8080); "
                "changes are sent as signed commission requests",
            )
            p.add_argument("--key", help="the commission's private key file (with --url)")
        if as_json:
            p.add_argument("--json", action="store_true", help="print JSON")
        p.set_defaults(handler=handler)
        return p

    p = add(
        "init",
        run(SERVICE, "cmd_init"),
        "create an election from a draft manifest, generating its keys",
    )
    p.add_argument("--manifest", required=True, help="draft manifest JSON")
    p = add(
        "keygen",
        run(COMMISSION, "cmd_keygen"),
        "generate an Ed25519 key (commission, log or elector)",
        data="none",
        as_json=True,
    )
    p.add_argument("--out", required=True, help="private key file to write (mode 0600)")
    p.add_argument("--name", help="C2SP key name, to print the verifier key")
    p = add(
        "import-roll",
        run(SERVICE, "cmd_import_roll"),
        "import (replace) one unit's roll from a CSV file",
    )
    p.add_argument("--unit", required=True)
    p.add_argument("file")
    p = add(
        "ceremony",
        run(SERVICE, "cmd_ceremony"),
        "serve the key ceremony's bulletin board to the guardians until it ends",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (0: any free port)")
    p.add_argument(
        "--timeout", type=float, default=600, help="seconds a phase waits for a guardian"
    )
    p.add_argument("--exclude", help="guardians left out of this attempt, e.g. 4 or 2,5")
    p.add_argument("--linger", type=float, default=5, help="seconds served after the end")
    add("seal", run(SERVICE, "cmd_seal"), "seal and sign the manifest: no change after this")
    add(
        "migrate",
        run(SERVICE, "cmd_migrate"),
        "apply the PostgreSQL schema's pending migrations (as the owner role; --store)",
        data="none-but-store",
    )
    p = add("serve", run(SERVICE, "cmd_serve"), "serve the HTTP API under waitress")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument(
        "--port", type=_whole(0, 65535), default=8080, help="port, 0 to 65535 (0: any free port)"
    )
    p.add_argument("--threads", type=_whole(1, 1024), default=8, help="request threads")
    p.add_argument(
        "--check-workers",
        type=_whole(0, 1024),
        default=None,
        help="processes that check ballots' schema, signature and proofs "
        "(default: one per core; 0: in the request threads)",
    )
    p.add_argument("--checkpoint-every", type=_whole(1), default=64, help="ballots per checkpoint")
    p.add_argument(
        "--checkpoint-seconds", type=_seconds, default=5.0, help="checkpoint period in seconds"
    )
    p.add_argument(
        "--max-body-bytes",
        type=_whole(4096, 64 * 1024 * 1024),
        default=64 * 1024,
        help="largest request body (4096 to 64 MiB; a 10-candidate ballot is about 5.4 KiB)",
    )
    p.add_argument(
        "--request-window",
        type=_whole(1, 86400),
        default=300,
        help="seconds a commission request's timestamp may be off",
    )
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.add_argument(
        "--witness",
        action="append",
        metavar="NAME=URL",
        help="a witness of the manifest and its add-checkpoint URL prefix (repeat for each)",
    )
    for name, handler, help_ in [
        ("open-round", by_url("cmd_open_round"), "open a round of a unit (round 2: the runoff)"),
        (
            "close-round",
            by_url("cmd_close_round"),
            "close a round: final checkpoint, countersigned",
        ),
    ]:
        p = add(name, handler, help_, data="optional", url=True)
        p.add_argument("--unit", required=True)
        p.add_argument("--round", type=int, choices=[1, 2], default=1)
    add(
        "status",
        by_url("cmd_turnout"),
        "turnout and quorum per unit",
        data="optional",
        url=True,
        as_json=True,
    )
    add(
        "turnout",
        by_url("cmd_turnout"),
        "turnout and quorum per unit",
        data="optional",
        url=True,
        as_json=True,
    )
    p = add(
        "tally",
        by_url("cmd_tally"),
        "publish a closed round's encrypted tally, for the guardians to decrypt",
        data="optional",
        url=True,
        as_json=True,
    )
    p.add_argument("--unit", required=True)
    p.add_argument("--round", type=int, choices=[1, 2], default=1)
    p = add(
        "results",
        by_url("cmd_results"),
        "show (or publish) the signed results",
        data="optional",
        url=True,
        as_json=True,
    )
    p.add_argument("--publish", choices=["preliminary", "final"])
    p = add("export", by_url("cmd_export"), "write the election record", data="optional", url=True)
    p.add_argument("--out", required=True)
    p = add(
        "credentials",
        run("tally_service.credential_authority.cli", "cmd_credentials"),
        "credential authority: a code per elector, and a roll of public keys for the commission",
        data="none",
    )
    p.add_argument("--roll", required=True, help="CSV with the columns elector_id,full_name")
    p.add_argument("--election-id", required=True, help="the manifest's election_id")
    p.add_argument("--out", required=True, help="folder for codes.csv and roll.csv")
    p = add(
        "vote",
        run("tally_service.elector.cli", "cmd_vote"),
        "elector: encrypt, sign and cast a ballot",
        data="none",
    )
    p.add_argument("--url", required=True, help="the service, e.g. http://127.0.0.1:8080")
    p.add_argument("--unit", required=True)
    p.add_argument("--elector", required=True, help="your elector id")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--credential-file", help="a file holding your credential code")
    who.add_argument("--key", help="your private key file (PEM)")
    p.add_argument("--choice", required=True, help="a candidate id, or blank")
    p.add_argument("--out", required=True, help="receipt file; the ballot goes next to it")
    p.add_argument("--commission-key", metavar="HEX", help="pin the commission's public key")
    from tally_service.guardian.cli import add_guardian_commands
    from tally_service.witness.cli import add_witness_commands

    add_guardian_commands(sub)
    add_witness_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    exit_with_parent_if_asked()
    try:
        code: int = args.handler(args)
        return code
    except Problem as exc:
        print(f"tally-service: error: {exc.detail}", file=sys.stderr)
    except KeyboardInterrupt:
        print("tally-service: interrupted", file=sys.stderr)
    except ModuleNotFoundError as exc:  # an install with another party's extra, or none
        extra = party_extra(args)
        print(
            f"tally-service: error: {exc.name} is not installed; `tally-service {args.command}` "
            f"needs the `{extra}` extra: pip install 'kz-tally[{extra}]'",
            file=sys.stderr,
        )
    except Exception as exc:  # every other refusal: one line, never a traceback
        print(f"tally-service: error: {_reason(exc, args)}", file=sys.stderr)
    return 1


def party_extra(args: argparse.Namespace) -> str:
    """The pyproject extra that installs what this command's party needs."""
    named = {"guardian": "guardian", "witness": "witness", "vote": "elector"}
    if args.command in named:
        return named[args.command]
    if args.command == "keygen" or getattr(args, "url", None):
        return "commission"
    return "service"


def _reason(exc: Exception, args: argparse.Namespace) -> str:
    """One line for a refusal. A store that cannot be written says what to do: the service's
    store module is looked up, not imported (a guardian's command never loads it, and then its
    exception cannot have been raised)."""
    store = sys.modules.get("tally_service.service.store")
    if store is not None and isinstance(exc, store.StoreUnavailable):
        hint = (
            "is the database server up and writable? run the command again once it is"
            if getattr(args, "store", None)
            else "is the disk full, or the data directory read-only? free space or use a "
            "writable copy, then run the command again"
        )
        return f"{exc} ({hint})"
    return str(exc) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
