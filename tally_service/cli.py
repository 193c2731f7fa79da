"""``tally-service``: the commission's command line.

Preparation (init, import-roll, keygen, ceremony, seal) works on the data directory. State
changes during the election (open-round, close-round, tally, results --publish) work either
offline on the data directory (when no server holds it) or, with ``--url``, through the
running service as requests signed by the commission key. Every command prints one clear error
line and exits non-zero on failure; commands that print data take ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tally_service.common.lifeline import exit_with_parent_if_asked
from tally_service.common.problems import Problem
from tally_service.service.store import StoreUnavailable

Handler = Callable[[argparse.Namespace], int]


def _print(data: Any, as_json: bool, text: Callable[[Any], str]) -> None:
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(text(data))


@contextmanager
def _offline(args: argparse.Namespace) -> Iterator[Any]:
    """The election opened from its data directory, holding the directory's lock."""
    import os

    from tally_service.service.election import Election
    from tally_service.service.server import lock_data_dir

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


def _client(args: argparse.Namespace) -> Any:
    from tally_service.common.client import ServiceClient
    from tally_service.common.keys import read_private_key

    key = read_private_key(Path(args.key)) if getattr(args, "key", None) else None
    return ServiceClient(args.url, key)


def cmd_init(args: argparse.Namespace) -> int:
    from tally_service.service.setup import init_election

    # utf-8-sig: a BOM, as editors on Windows write, is accepted as it is for rolls
    draft = json.loads(Path(args.manifest).read_text(encoding="utf-8-sig"))
    init_election(args.data, draft, store=args.store)
    print(f"initialised the election in {args.data}; next: import-roll for each unit")
    return 0


def cmd_keygen(args: argparse.Namespace) -> int:
    from crypto.fingerprint import key_fingerprint
    from crypto.note import verifier_key
    from crypto.signing import SigningKey
    from tally_service.common.keys import write_private_key

    key = SigningKey.generate()
    write_private_key(Path(args.out), key)
    data = {
        "file": args.out,
        "public_key": key.public.hex(),
        "key_id": key.public.key_id,
        # what electors and observers compare (crypto/fingerprint.py): print it on the envelope
        "fingerprint": key_fingerprint(key.public.raw),
        "verifier_key": verifier_key(args.name, key.public) if args.name else None,
    }
    _print(
        data,
        args.json,
        lambda d: "\n".join(
            [f"wrote {d['file']} (mode 0600)", f"public key {d['public_key']}",
             f"fingerprint {d['fingerprint']}"]
            + ([f"verifier key {d['verifier_key']}"] if d["verifier_key"] else [])
        ),
    )
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
    import os

    from tally_service.service.ceremony_board import CeremonyBoard, serve_board
    from tally_service.service.server import lock_data_dir
    from tally_service.service.setup import _store, key_ceremony

    if args.insecure_in_process:  # every guardian's share lands in DATA: tests only
        transcript = key_ceremony(args.data, args.store)
        print(
            f"INSECURE in-process key ceremony held: {transcript['n']} guardians, threshold "
            f"{transcript['k']}; every share is in {args.data / 'guardians'}"
        )
        return 0
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


def refuse_simulated_clock_unless_simulation(manifest: dict[str, Any]) -> None:
    """A simulated clock signs times of another day: only a simulation's manifest allows it
    (tally_service/common/clock.py). A production election never runs on one, whatever the
    environment."""
    from tally_service.common import clock

    path = clock.simulated_clock_file()
    if path is None:
        return
    if manifest.get("simulation") is not True:
        raise RuntimeError(
            f"{clock.SIMULATED_CLOCK_ENV} is set but this election's manifest is not a "
            "simulation's; unset the variable to serve it on the real clock"
        )
    clock.read_setting(path)  # a broken clock file: one line now, not a failure mid-election


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
    import os

    from tally_service.common.logsetup import configure_logging
    from tally_service.service.config import Config
    from tally_service.service.election import Election
    from tally_service.service.server import lock_data_dir, serve

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
        from tally_service.witness.cli import witness_urls

        election.start_witnessing(witness_urls(args.witness))
    serve(election, args.host, args.port, args.threads, workers)
    return 0


def cmd_open_round(args: argparse.Namespace) -> int:
    if args.url:
        done = _client(args).commission("open-round", unit=args.unit, round=args.round)
    else:
        with _offline(args) as election:
            if args.round == 2:
                from tally_service.service.tally import open_runoff

                log = open_runoff(election, args.unit)
            else:
                log = election.open_round(args.unit, args.round)
            done = {"unit": log.unit, "round": log.round, "candidates": log.candidates}
    print(f"opened round {done['round']} of {done['unit']}: {', '.join(done['candidates'])}")
    return 0


def cmd_close_round(args: argparse.Namespace) -> int:
    if args.url:
        _client(args).commission("close-round", unit=args.unit, round=args.round)
    else:
        with _offline(args) as election:
            election.close_round(args.unit, args.round)
    print(f"closed round {args.round} of {args.unit}: final checkpoint countersigned")
    return 0


def _turnout_text(d: dict[str, Any]) -> str:
    lines = [
        f"{'unit':<6} {'round':>5} {'state':<8} {'registered':>10} {'took part':>9} "
        f"{'turnout':>8}  quorum"
    ]
    for u in d["units"]:
        lines.append(
            f"{u['unit']:<6} {u['round']:>5} {u['state']:<8} {u['registered']:>10} "
            f"{u['took_part']:>9} {u['turnout']:>7}%  "
            f"{'yes at ' + u['quorum_at'] if u['quorum'] else 'no'}"
        )
    lines.append(f"total: {d['took_part']} of {d['registered']} took part ({d['turnout']}%)")
    return "\n".join(lines)


def cmd_turnout(args: argparse.Namespace) -> int:
    if args.url:
        data = _client(args).get("/turnout")
    else:
        with _offline(args) as election:
            data = election.turnout()
    _print(data, args.json, _turnout_text)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    return cmd_turnout(args)


def cmd_tally(args: argparse.Namespace) -> int:
    from tally_service.service import tally

    guardians = [int(g) for g in args.guardians.split(",")] if args.guardians else []
    if args.url:
        client = _client(args)
        doc = client.commission("start-tally", unit=args.unit, round=args.round)
        shares = args.share or []
        states = args.state or []
        if states and len(states) != len(shares):
            raise SystemExit("tally-service: error: give one --state per --share, in order")
        void = _void_tally(client.get("/manifest"), doc)
        if void:
            shares = []  # a round without quorum is never decrypted; guardians would refuse
        for i, path in enumerate(shares):
            state = Path(states[i]) if states else None
            partial = _partial_from_share(
                client, doc, Path(path), state_dir=state, expect=(args.unit, args.round)
            )
            doc = client.commission(
                "submit-partial", unit=args.unit, round=args.round, partial=partial
            )
    else:
        with _offline(args) as election:
            doc = tally.tally_in_process(election, args.unit, args.round, guardians)
            void = tally.is_void(election, doc)
    counts = doc["counts"]
    _print(
        doc,
        args.json,
        lambda d: (
            f"{args.unit} round {args.round}: "
            + (
                ", ".join(f"{c} {n}" for c, n in counts.items()) + f", blank {d['blank']}"
                if counts is not None
                else f"{d['took_part']} ballots, no quorum: void, not decrypted"
                if void
                else f"{len(d['partials'])} partial decryptions so far"
            )
        ),
    )
    return 0


def _void_tally(manifest_signed: dict[str, Any], doc: dict[str, Any]) -> bool:
    """The tally's round has no quorum (so it is void and never decrypted)."""
    from crypto.rules import has_quorum

    units = {u["code"]: u for u in manifest_signed["payload"]["units"]}
    return not has_quorum(doc["took_part"], len(units[doc["unit"]]["roll"]))


def _partial_from_share(
    client: Any,
    doc: dict[str, Any],
    share_file: Path,
    jobs: int = 1,
    state_dir: Path | None = None,
    expect: tuple[str, int] | None = None,
) -> dict[str, Any]:
    """A guardian's signed partial decryption, computed locally from their own share file (of
    the INSECURE in-process ceremony, which keeps the guardian's identity key there), after the
    guardian has recomputed the tally from the signed log and checked it against its own state
    (tally_service/guardian/checks.py, guardian_state.py). The state directory defaults to the one
    beside the share file, where the key ceremony pinned the joint key."""
    from crypto.canonical import hex_decode
    from crypto.group import Scalar
    from crypto.signing import SigningKey
    from tally_service.common.keys import guardian_state_dir
    from tally_service.guardian.checks import decrypt_as_guardian
    from tally_service.guardian.state import GuardianState
    from tally_service.service.tally import signed_statement

    share = json.loads(share_file.read_text(encoding="utf-8"))
    secret = Scalar.from_bytes(hex_decode(share["secret_share"], 32))
    state = GuardianState(state_dir or guardian_state_dir(share_file))
    partial = decrypt_as_guardian(
        client, doc, int(share["guardian"]), secret, state, jobs=jobs, expect=expect
    )
    if "identity_seed" not in share:
        raise SystemExit(
            f"tally-service: error: {share_file} holds no identity key to sign the partial "
            "decryption with; guardians decrypt with `tally-service guardian decrypt`"
        )
    identity = SigningKey.from_seed(hex_decode(share["identity_seed"], 32))
    return signed_statement(doc, partial, identity)


def results_table(signed: dict[str, Any], names: dict[str, str] | None = None) -> str:
    payload = signed["payload"]
    lines = [
        f"{payload['kind']} result, issued {payload['issued_at']}",
        f"{'unit':<6} {'round':>5} {'registered':>10} {'took part':>9} {'turnout':>8}  "
        f"{'quorum':<6} {'winner':<14} {'share':>7}  status",
    ]
    for unit in payload["units"]:
        last = unit["rounds"][-1]
        winner = last["winner"] or "-"
        share = last["shares"].get(winner, "") if last["winner"] else ""
        label = (names or {}).get(winner, winner)
        lines.append(
            f"{unit['unit']:<6} {last['round']:>5} {unit['registered']:>10} "
            f"{last['took_part']:>9} {last['turnout']:>7}%  {'yes' if last['quorum'] else 'no':<6} "
            f"{label:<14} {share + '%' if share else '':>7}  {unit['status']}"
        )
    return "\n".join(lines)


def cmd_results(args: argparse.Namespace) -> int:
    from tally_service.service import results

    if args.url:
        client = _client(args)
        if args.publish:
            client.commission("publish-results", kind=args.publish)
        kinds = [args.publish] if args.publish else ["final", "preliminary"]
        signed = None
        for kind in kinds:
            try:
                signed = client.get(f"/results/{kind}")
                break
            except Problem:
                continue
    else:
        with _offline(args) as election:
            if args.publish:
                results.publish(election, args.publish)
            texts = [election.store.get_result(k) for k in ("final", "preliminary")]
            found = [t for t in texts if t is not None]
            signed = json.loads(found[0]) if found else None
    if signed is None:
        raise Problem(404, "no-results", "no result is published yet (use --publish)")
    _print(signed, args.json, results_table)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if args.url:
        import io
        import tarfile

        if out.exists() and any(out.iterdir()):
            raise Problem(409, "usage", f"{out} exists and is not empty")
        data = _client(args).get_bytes("/record.tar.gz")
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = []
            for member in tar.getmembers():  # the archive's top folder is record/
                name = member.name.split("/", 1)
                if name[0] != "record":
                    raise Problem(502, "bad-archive", f"unexpected archive member {member.name}")
                if len(name) == 2 and name[1]:
                    member.name = name[1]
                    members.append(member)
            out.mkdir(parents=True, exist_ok=True)
            tar.extractall(out, members=members, filter="data")
        print(f"downloaded the record into {out}; check it with: scripts/verify.py {out}")
        return 0
    from tally_service.service.export import export_record

    with _offline(args) as election:
        export_record(election, out)
    print(f"exported the record to {out}; check it with: scripts/verify.py {out}")
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    from tally_service.credential_authority.credentials import make_credentials

    count, codes, roll = make_credentials(
        Path(args.roll).read_bytes(), args.election_id, Path(args.out)
    )
    print(
        f"made {count} credentials: {codes} (mode 0600) holds the codes to print and seal; "
        f"{roll} holds only public keys, for the commission's import-roll. "
        "Never give the codes to the commission."
    )
    return 0


def cmd_vote(args: argparse.Namespace) -> int:
    from crypto.fingerprint import election_fingerprint_of_hash, key_fingerprint, normalise
    from crypto.signing import VerifyKey
    from tally_service.elector.vote import vote

    pinned: VerifyKey | str | None = None
    if args.commission_key:
        text = args.commission_key.strip().lower()
        try:
            pinned = VerifyKey.from_hex(text) if len(text) == 64 else normalise(text)
        except ValueError as exc:
            raise ValueError(
                f"--commission-key: {exc}: give the commission's public key (64 hex digits) or "
                "its fingerprint (32 letters, as printed on the envelope)"
            ) from None
    credential = None
    if args.credential_file:
        credential = Path(args.credential_file).read_text(encoding="utf-8").strip()
    if pinned is None:
        print(
            "warning: no --commission-key: the manifest's own keys are trusted; compare "
            "them with the key the commission publishes",
            file=sys.stderr,
        )
    cast = vote(
        args.url,
        args.unit,
        args.elector,
        None if args.choice == "blank" else args.choice,
        Path(args.out),
        credential=credential,
        key_file=Path(args.key) if args.key else None,
        pinned=pinned,
    )
    what = "a blank ballot" if cast.choice is None else f"a vote for {cast.choice}"
    election = json.loads(cast.receipt.read_text("utf-8"))["election"]
    print(f"election fingerprint {election_fingerprint_of_hash(bytes.fromhex(election))}")
    if pinned is not None:
        shown = pinned if isinstance(pinned, str) else key_fingerprint(pinned.raw)
        print(f"commission key fingerprint {shown}")
    print(f"tracker {cast.tracker}")
    print(f"cast {what} in round {cast.round}; receipt {cast.receipt}, ballot {cast.ballot}")
    print(f"check it after the close: scripts/verify_receipt.py {cast.receipt} --url {args.url}")
    return 0


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

    p = add("init", cmd_init, "create an election from a draft manifest, generating its keys")
    p.add_argument("--manifest", required=True, help="draft manifest JSON")
    p = add(
        "keygen",
        cmd_keygen,
        "generate an Ed25519 key (commission, log or elector)",
        data="none",
        as_json=True,
    )
    p.add_argument("--out", required=True, help="private key file to write (mode 0600)")
    p.add_argument("--name", help="C2SP key name, to print the verifier key")
    p = add("import-roll", cmd_import_roll, "import (replace) one unit's roll from a CSV file")
    p.add_argument("--unit", required=True)
    p.add_argument("file")
    p = add(
        "ceremony",
        cmd_ceremony,
        "serve the key ceremony's bulletin board to the guardians until it ends",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port (0: any free port)")
    p.add_argument(
        "--timeout", type=float, default=600, help="seconds a phase waits for a guardian"
    )
    p.add_argument("--exclude", help="guardians left out of this attempt, e.g. 4 or 2,5")
    p.add_argument("--linger", type=float, default=5, help="seconds served after the end")
    p.add_argument("--insecure-in-process", action="store_true", help=argparse.SUPPRESS)
    add("seal", cmd_seal, "seal and sign the manifest: no change after this")
    add(
        "migrate",
        cmd_migrate,
        "apply the PostgreSQL schema's pending migrations (as the owner role; --store)",
        data="none-but-store",
    )
    p = add("serve", cmd_serve, "serve the HTTP API under waitress")
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
    p.add_argument(
        "--checkpoint-every", type=_whole(1), default=64, help="ballots per checkpoint"
    )
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
        ("open-round", cmd_open_round, "open a round of a unit (round 2: the runoff)"),
        ("close-round", cmd_close_round, "close a round: final checkpoint, countersigned"),
    ]:
        p = add(name, handler, help_, data="optional", url=True)
        p.add_argument("--unit", required=True)
        p.add_argument("--round", type=int, choices=[1, 2], default=1)
    add(
        "status", cmd_status, "turnout and quorum per unit", data="optional", url=True, as_json=True
    )
    add(
        "turnout",
        cmd_turnout,
        "turnout and quorum per unit",
        data="optional",
        url=True,
        as_json=True,
    )
    p = add(
        "tally",
        cmd_tally,
        "decrypt a closed round's tally with k guardians",
        data="optional",
        url=True,
        as_json=True,
    )
    p.add_argument("--unit", required=True)
    p.add_argument("--round", type=int, choices=[1, 2], default=1)
    p.add_argument(
        "--guardians",
        help="offline: guardian numbers whose share files are in DATA/guardians, e.g. 1,2,3",
    )
    p.add_argument(
        "--share",
        action="append",
        help="with --url: a guardian's share file (repeat for k guardians)",
    )
    p.add_argument(
        "--state",
        action="append",
        help="with --share: that guardian's state directory (default: beside the share file, "
        "guardian-N.state)",
    )
    p = add(
        "results",
        cmd_results,
        "show (or publish) the signed results",
        data="optional",
        url=True,
        as_json=True,
    )
    p.add_argument("--publish", choices=["preliminary", "final"])
    p = add("export", cmd_export, "write the election record", data="optional", url=True)
    p.add_argument("--out", required=True)
    p = add(
        "credentials",
        cmd_credentials,
        "credential authority: a code per elector, and a roll of public keys for the commission",
        data="none",
    )
    p.add_argument("--roll", required=True, help="CSV with the columns elector_id,full_name")
    p.add_argument("--election-id", required=True, help="the manifest's election_id")
    p.add_argument("--out", required=True, help="folder for codes.csv and roll.csv")
    p = add("vote", cmd_vote, "elector: encrypt, sign and cast a ballot", data="none")
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
    except StoreUnavailable as exc:
        hint = (
            "is the database server up and writable? run the command again once it is"
            if getattr(args, "store", None)
            else "is the disk full, or the data directory read-only? free space or use a "
            "writable copy, then run the command again"
        )
        print(f"tally-service: error: {exc} ({hint})", file=sys.stderr)
    except KeyboardInterrupt:
        print("tally-service: interrupted", file=sys.stderr)
    except ModuleNotFoundError as exc:  # an observer's install: the verifier's dependencies only
        print(
            f"tally-service: error: {exc.name} is not installed; the service needs the `service` "
            "extra: pip install 'kz-tally[service]'",
            file=sys.stderr,
        )
    except Exception as exc:  # every other refusal: one line, never a traceback
        reason = str(exc) or type(exc).__name__
        print(f"tally-service: error: {reason}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
