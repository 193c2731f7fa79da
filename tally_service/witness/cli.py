"""``tally-service witness``: keygen, logs (from a manifest) and serve."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from crypto.cosignature import TYPE_ED25519, TYPE_MLDSA44, Cosigner
from tally_service.common.problems import Problem
from tally_service.common.witness_args import read_cosigner

TYPES = {"ed25519": TYPE_ED25519, "mldsa44": TYPE_MLDSA44}


def cmd_keygen(args: argparse.Namespace) -> int:
    cosigner = Cosigner.generate(args.name, TYPES[args.type])
    path = Path(args.out)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise Problem(400, "usage", f"{path} exists; a key file is never overwritten") from exc
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(cosigner.private_text() + "\n")
    print(str(cosigner.public))
    return 0


def logs_of_manifest(signed: dict[str, object], rounds: int = 2) -> list[str]:
    """``<origin> <log vkey>`` lines for every (unit, round) of an election's manifest."""
    from tally_service.common.manifest import log_origin

    payload = signed.get("payload", signed)
    if not isinstance(payload, dict):
        raise Problem(400, "usage", "not a manifest")
    lines = []
    for unit in payload.get("units", []):
        for round_no in range(1, rounds + 1):
            lines.append(f"{log_origin(payload, unit['code'], round_no)} {unit['log_key']}")
    return lines


def cmd_logs(args: argparse.Namespace) -> int:
    try:
        signed = json.loads(Path(args.manifest).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise Problem(400, "usage", f"cannot read the manifest {args.manifest}: {exc}") from exc
    print("\n".join(logs_of_manifest(signed)))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from tally_service.common.logsetup import configure_logging
    from tally_service.common.rollback import marker_path
    from tally_service.witness.core import Witness, WitnessError, read_logs_file
    from tally_service.witness.http import serve_witness

    configure_logging(args.log_level)
    cosigner = read_cosigner(Path(args.key))
    state = Path(args.state)
    state.mkdir(parents=True, exist_ok=True)
    _lock(state)
    try:
        witness = Witness(
            cosigner, state, read_logs_file(Path(args.logs)), key_marker=marker_path(Path(args.key))
        )
    except WitnessError as exc:
        raise Problem(400, "usage", str(exc)) from exc
    serve_witness(witness, args.host, args.port)
    return 0


def _lock(state: Path) -> int:
    import fcntl

    fd = os.open(state / "witness.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        os.close(fd)
        raise Problem(409, "usage", f"another witness process holds {state}") from exc
    return fd


def add_witness_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    witness = sub.add_parser(
        "witness",
        help="run a C2SP tlog-witness that cosigns logs' checkpoints",
        description="A witness: an independent party that cosigns a log's checkpoints only if "
        "they are consistent with every one it cosigned before (c2sp.org/tlog-witness).",
    )
    commands = witness.add_subparsers(dest="witness_command", required=True, metavar="COMMAND")
    p = commands.add_parser("keygen", help="generate a witness key; prints its vkey")
    p.add_argument("--name", required=True, help="the witness's name, e.g. witness.example/w1")
    p.add_argument(
        "--type",
        choices=sorted(TYPES),
        default="mldsa44",
        help="mldsa44 (subtree/v1, post-quantum; default) or ed25519 (cosignature/v1)",
    )
    p.add_argument("--out", required=True, help="private key file to write (mode 0600)")
    p.set_defaults(handler=cmd_keygen)
    p = commands.add_parser("logs", help="print the logs file for an election's manifest")
    p.add_argument("--manifest", required=True, help="the signed manifest (JSON)")
    p.set_defaults(handler=cmd_logs)
    p = commands.add_parser("serve", help="serve add-checkpoint over HTTP")
    p.add_argument("--key", required=True, help="the witness's private key file")
    p.add_argument("--state", required=True, help="the witness's state directory")
    p.add_argument("--logs", required=True, help="file of '<origin> <log vkey>' lines")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8090, help="port (0: any free port)")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    p.set_defaults(handler=cmd_serve)
