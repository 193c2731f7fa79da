"""``tally-service guardian ...``: the guardian's own program, run on the guardian's machine.

    guardian init      --dir G                make the identity and share keys, sealed in G
    guardian ceremony  --dir G --url URL      take part in the key ceremony (phases 0 to e)
    guardian decrypt   --dir G --url URL --unit U --round R
                                              check a closed round and post a partial decryption

The guardian only makes outgoing requests; it serves nothing. Its secrets never leave G and
never appear unsealed on disk. The passphrase comes from ``--passphrase-file`` (first line) or
a prompt on the terminal.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tally_service.common.problems import Problem


def _open(args: argparse.Namespace) -> Any:
    from tally_service.guardian.identity import GuardianDir, read_passphrase

    return GuardianDir.open(Path(args.dir), read_passphrase(args.passphrase_file))


def _say(args: argparse.Namespace) -> Any:
    quiet = args.quiet or not sys.stdout.isatty()

    def say(text: str) -> None:
        if not quiet:
            print(text, flush=True)

    return say


def cmd_init(args: argparse.Namespace) -> int:
    from tally_service.guardian.identity import GuardianDir, read_passphrase

    passphrase = read_passphrase(args.passphrase_file, confirm=True)
    gdir = GuardianDir.init(Path(args.dir), passphrase)
    public = gdir.public
    print(f"guardian keys sealed in {args.dir} (passphrase-protected)")
    print(f"identity key {public['identity_key']}")
    print(f"share key    {public['share_key']}")
    print(f"fingerprint  {public['fingerprint']}")
    print(
        f"give {Path(args.dir) / 'guardian.json'} to the commission, and read your fingerprint "
        "to the other guardians yourself (not through the service)"
    )
    return 0


def _fingerprint_source(args: argparse.Namespace) -> Any:
    from tally_service.guardian.ceremony import read_fingerprints

    if args.fingerprints is not None:
        try:
            return read_fingerprints(Path(args.fingerprints).read_text(encoding="utf-8"))
        except OSError as exc:
            raise Problem(400, "usage", f"cannot read {args.fingerprints}: {exc.strerror}") from exc
        except ValueError as exc:
            raise Problem(400, "usage", str(exc)) from exc
    if not sys.stdin.isatty():
        raise Problem(400, "usage", "give --fingerprints FILE (no terminal to ask on)")

    from tally_service.guardian.ceremony import printable

    def ask(member: dict[str, Any]) -> str:
        name = printable(str(member["name"]))  # the board's text: no escapes to the terminal
        return input(f"fingerprint guardian {member['index']} ({name}) gave you out of band: ")

    return ask


def _agreed_source(args: argparse.Namespace) -> Any:
    """The ceremony fingerprint the guardians agreed on out of band: from the command line, or
    asked for on the terminal once the board's ceremony is shown."""
    if args.ceremony_fingerprint is not None:
        return args.ceremony_fingerprint
    if not sys.stdin.isatty():
        raise Problem(400, "usage", "give --ceremony-fingerprint (no terminal to ask on)")

    from tally_service.guardian.ceremony import printable

    def ask(shown: Any) -> str:
        # what the board shows, with any control character written out (escape sequences
        # could otherwise rewrite this prompt)
        print(f"the board's ceremony: election {shown.election_id}, n = {shown.n}, k = {shown.k}")
        for member in shown.members:
            print(printable(f"  guardian {member['index']}: {member['name']}"))
        witnesses = shown.witnesses or {}
        for witness in witnesses.get("keys", []):
            print(printable(f"  witness: {witness.get('name')} ({witness.get('type')})"))
        if witnesses:
            print(printable(f"  witness quorum {witnesses.get('quorum')}"))
        return input("ceremony fingerprint the guardians agreed on out of band: ")

    return ask


def cmd_ceremony(args: argparse.Namespace) -> int:
    import time

    from tally_service.common.client import ServiceClient, Unreachable
    from tally_service.guardian.ceremony import CeremonyParty, run_over_http

    gdir = _open(args)
    print(f"your fingerprint: {gdir.public['fingerprint']}", flush=True)
    party = CeremonyParty(gdir, _fingerprint_source(args), _agreed_source(args))
    client = ServiceClient(args.url)

    def post(message: dict[str, Any]) -> Any:
        return client._check(client.post("/ceremony/messages", 60, json=message)).json()

    def get_view() -> dict[str, Any]:
        # the board restarting, or the guardian's link down for a while: look again; a refusal
        # (or an answer refused as too large) is no reason to
        for attempt in range(args.retries + 1):
            try:
                view: dict[str, Any] = client.get("/ceremony")
                return view
            except Unreachable as exc:
                if attempt == args.retries:
                    raise Problem(
                        503, "unreachable", f"the board at {args.url} did not answer in "
                        f"{args.retries + 1} tries ({exc.detail}); run the command again once "
                        "it answers",
                    ) from exc
                time.sleep(args.poll)
        raise AssertionError  # pragma: no cover

    confirmed = run_over_http(party, get_view, post, _say(args), poll_seconds=args.poll)
    print(
        f"key ceremony complete (attempt {confirmed['attempt']}): you are guardian "
        f"{confirmed['guardian']}, QUAL {confirmed['qual']}; joint key "
        f"{confirmed['joint_key']}; transcript hash {confirmed['transcript_hash']}; ceremony "
        f"fingerprint {confirmed['ceremony_fingerprint']}"
    )
    return 0


def cmd_decrypt(args: argparse.Namespace) -> int:
    from tally_service.common.client import ServiceClient
    from tally_service.guardian.decrypt import decrypt_and_post

    gdir = _open(args)
    client = ServiceClient(args.url)
    for unit in args.unit:
        doc = decrypt_and_post(gdir, client, unit, args.round, jobs=args.jobs, say=_say(args))
        counts = doc.get("counts")
        done = f"posted your partial decryption of {unit} round {args.round}; "
        if counts is None:
            print(done + f"{len(doc['partials'])} so far")
        else:
            print(
                done
                + "decrypted: "
                + ", ".join(f"{c} {n}" for c, n in counts.items())
                + f", blank {doc['blank']}"
            )
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    import time

    from tally_service.common.client import ServiceClient
    from tally_service.guardian.state import GuardianState
    from tally_service.guardian.watch import WatchConfigError, http_witness, watch_once

    if (args.dir is None) == (args.state is None):
        raise Problem(400, "usage", "give --dir G (or, for a share file's state, --state DIR)")
    state = GuardianState(Path(args.state) if args.state else state_dir(Path(args.dir)))
    client = ServiceClient(args.url)
    cosigner = None
    if args.witness_key:
        from tally_service.common.rollback import StateRollback, marker_path
        from tally_service.common.witness_args import read_cosigner

        cosigner = read_cosigner(Path(args.witness_key))
        try:  # its witness state is this guardian state: bound to the key like witness serve's
            state.bind_witness(marker_path(Path(args.witness_key)), str(cosigner.public))
        except StateRollback as exc:
            raise Problem(400, "usage", str(exc)) from exc
    witnesses = {}
    for spec in args.witness or []:
        name, sep, url = spec.partition("=")
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise Problem(400, "usage", f"--witness {spec!r}: give NAME=URL, e.g. "
                          "w1.example/witness=https://w1.example")
        witnesses[name] = http_witness(url)
    refused = False
    while True:
        try:
            report = watch_once(client, state, cosigner, witnesses)
        except WatchConfigError:
            raise
        except Exception as exc:  # the service is down or answers nonsense: say so, go on
            if args.once:
                raise
            print(f"tally-service: watch: {exc}; trying again", file=sys.stderr)
            time.sleep(args.interval)
            continue
        for line in report.cosigned:
            if not args.quiet:
                print(f"checkpoint {line}: cosigned as a witness, posted")
        for line in report.accepted:
            if not args.quiet:
                print(f"checkpoint {line}: consistent, remembered")
        for line in report.refusals:
            refused = True
            print(f"tally-service: REFUSED: {line}", file=sys.stderr)
        for line in report.alarms:
            refused = True
            print(f"tally-service: ALARM: {line}", file=sys.stderr)
        if args.once:
            break
        time.sleep(args.interval)
    return 2 if refused else 0


def state_dir(gdir: Path) -> Path:
    """Where a guardian directory keeps its guardian state (tally_service/guardian/state.py)."""
    return gdir / "state"


def add_guardian_commands(sub: Any) -> None:
    """Attach ``guardian`` and its subcommands to the main parser's subparsers."""
    import os

    guardian = sub.add_parser(
        "guardian",
        help="a guardian's own commands (init, ceremony, watch, decrypt), run on its own machine",
        description="A guardian's own commands, run on the guardian's machine. They only make "
        "outgoing requests; secrets stay sealed in the guardian's directory.",
    )
    gsub = guardian.add_subparsers(dest="guardian_command", required=True, metavar="COMMAND")

    def add(name: str, handler: Any, help_: str, url: bool = True) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = gsub.add_parser(name, help=help_, description=help_)
        p.add_argument("--dir", required=True, type=Path, help="the guardian's directory G")
        p.add_argument(
            "--passphrase-file",
            type=Path,
            help="read the passphrase from this file's first line (default: ask)",
        )
        if url:
            p.add_argument("--url", required=True, help="the service, e.g. http://host:8080")
        p.add_argument("--quiet", action="store_true", help="no progress lines")
        p.set_defaults(handler=handler)
        return p

    add("init", cmd_init, "make this guardian's identity and share keys, sealed in G", url=False)
    p = add("ceremony", cmd_ceremony, "take part in the key ceremony until it ends")
    p.add_argument(
        "--fingerprints",
        help="file with every guardian's fingerprint as they gave it out of band, yourself "
        "included, one a line: 'name: fingerprint' (the name as the manifest lists it); the "
        "list must name exactly these guardians; default: ask for each",
    )
    p.add_argument(
        "--ceremony-fingerprint",
        help="the ceremony fingerprint (election, n, k, guardian list, witnesses) the guardians "
        "agreed on out of band (`tally-service ceremony` prints it); default: ask",
    )
    p.add_argument("--poll", type=float, default=1.0, help="seconds between looks at the board")
    p.add_argument("--retries", type=int, default=30, help="tries while the board is unreachable")
    p = add("decrypt", cmd_decrypt, "check a closed round and post this guardian's partial")
    p.add_argument("--unit", required=True, action="append", help="a unit (repeat for several)")
    p.add_argument("--round", type=int, default=1)
    p.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="processes for the log check"
    )
    p = gsub.add_parser(
        "watch",
        help="follow the logs' checkpoints and remember them in the guardian state",
        description="Poll every log's newest signed checkpoint, from the service and from the "
        "witnesses given with --witness, check it against the largest one seen with a "
        "consistency proof, and remember it in G's state; conflicting checkpoints are kept as "
        "evidence. A round or checkpoint the service hides, or shows smaller than a quorum of "
        "witnesses cosigned, is an ALARM, kept as evidence too. Exit 2 if anything was refused "
        "or alarming. A guardian decrypts only rounds it watched while they were open.",
    )
    p.add_argument("--dir", type=Path, help="the guardian's directory G (its state: G/state)")
    p.add_argument(
        "--state", help="a guardian state directory (the tests' insecure share files' state)"
    )
    p.add_argument("--url", required=True, help="the service, e.g. http://127.0.0.1:8080")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between polls")
    p.add_argument("--once", action="store_true", help="poll once and exit")
    p.add_argument("--quiet", action="store_true", help="print only refusals")
    p.add_argument(
        "--witness-key",
        help="the guardian's witness key (tally-service witness keygen): if the manifest lists "
        "it among the witnesses, cosign every accepted checkpoint and post it back. The state "
        "is bound to the key by a marker beside the key file (KEY.marker, move it with the "
        "key); a state restored from an older copy is refused: a restore compromises the key",
    )
    p.add_argument(
        "--witness",
        action="append",
        metavar="NAME=URL",
        help="also fetch each log's latest cosigned checkpoint from this witness (its name as "
        "the sealed manifest lists it; the URL as its operator gave it to you, not the "
        "service); repeat for each witness",
    )
    p.set_defaults(handler=cmd_watch)
