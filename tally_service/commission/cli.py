"""The commission's tools: ``tally-service keygen``, and with ``--url`` the election's state
changes and reads (open-round, close-round, turnout, status, tally, results, export).

Every change is a request to the running service signed by the commission's key, with a fresh
timestamp and nonce (tally_service/common/client.py; the service checks them in
tally_service/service/commission_requests.py), so each is attributable to that key. The same
commands without ``--url`` are the operator's, on the data directory itself
(tally_service/service/cli.py); tally_service/cli.py chooses by ``--url``."""

from __future__ import annotations

import argparse
import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path
from typing import Any

from crypto.fingerprint import key_fingerprint
from crypto.note import verifier_key
from crypto.rules import has_quorum
from crypto.signing import SigningKey
from tally_service.common.answers import MAX_RECORD_FILES, MAX_RECORD_UNPACKED_BYTES, size_text
from tally_service.common.client import ServiceClient
from tally_service.common.keys import read_private_key, write_private_key
from tally_service.common.problems import Problem
from tally_service.common.reports import print_data, print_results, tally_text, turnout_text


def _client(args: argparse.Namespace) -> ServiceClient:
    key = read_private_key(Path(args.key)) if getattr(args, "key", None) else None
    return ServiceClient(args.url, key)


def cmd_keygen(args: argparse.Namespace) -> int:
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
    print_data(
        data,
        args.json,
        lambda d: "\n".join(
            [
                f"wrote {d['file']} (mode 0600)",
                f"public key {d['public_key']}",
                f"fingerprint {d['fingerprint']}",
            ]
            + ([f"verifier key {d['verifier_key']}"] if d["verifier_key"] else [])
        ),
    )
    return 0


def _repeat_note(client: ServiceClient) -> str:
    # a retried request whose first answer was lost: the service did it once, on the first try
    return " (repeat: done by an earlier attempt of this request)" if client.last_repeat else ""


def cmd_open_round(args: argparse.Namespace) -> int:
    client = _client(args)
    done = client.commission("open-round", unit=args.unit, round=args.round)
    print(
        f"opened round {done['round']} of {done['unit']}: {', '.join(done['candidates'])}"
        + _repeat_note(client)
    )
    return 0


def cmd_close_round(args: argparse.Namespace) -> int:
    client = _client(args)
    client.commission("close-round", unit=args.unit, round=args.round)
    print(
        f"closed round {args.round} of {args.unit}: final checkpoint countersigned"
        + _repeat_note(client)
    )
    return 0


def cmd_turnout(args: argparse.Namespace) -> int:
    print_data(_client(args).get("/turnout"), args.json, turnout_text)
    return 0


def _void_tally(manifest_signed: dict[str, Any], doc: dict[str, Any]) -> bool:
    """The tally's round has no quorum (so it is void and never decrypted)."""
    units = {u["code"]: u for u in manifest_signed["payload"]["units"]}
    return not has_quorum(doc["took_part"], len(units[doc["unit"]]["roll"]))


def cmd_tally(args: argparse.Namespace) -> int:
    """Publish a closed round's encrypted tally; the guardians then decrypt it from their own
    machines (``tally-service guardian decrypt``) and the counts appear with the k-th."""
    client = _client(args)
    doc = client.commission("start-tally", unit=args.unit, round=args.round)
    void = _void_tally(client.get("/manifest"), doc)
    print_data(doc, args.json, lambda d: tally_text(args.unit, args.round, d, void))
    return 0


def cmd_results(args: argparse.Namespace) -> int:
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
    print_results(signed, args.json)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Download the record the service publishes, as an observer would: streamed to a file
    beside ``--out`` (at most MAX_RECORD_ARCHIVE_BYTES), its members counted and sized before
    any is unpacked (tally_service/common/answers.py: the service may be hostile)."""
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise Problem(409, "usage", f"{out} exists and is not empty")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tar.gz")
    os.close(fd)
    archive = Path(name)
    try:
        _client(args).download("/record.tar.gz", archive)
        _unpack_record(archive, out)
    finally:
        archive.unlink(missing_ok=True)
    print(f"downloaded the record into {out}; check it with: scripts/verify.py {out}")
    return 0


#: What the archive's extended headers (GNU long names and links, pax records) may hold in all:
#: tarfile reads each whole into memory before its member is seen (a 1 MiB gzip'd archive held
#: a 256 MiB long name). A record's paths are short: an honest archive has a few KiB of them.
MAX_RECORD_HEADER_BYTES = 16 * 1024 * 1024
_EXTENDED_HEADERS = (
    tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.XHDTYPE, tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
)


class _BoundedTarInfo(tarfile.TarInfo):
    """A member header whose extended headers are counted before tarfile reads them."""

    def _proc_member(self, tarfile: Any) -> Any:
        if self.type in _EXTENDED_HEADERS:
            read = getattr(tarfile, "kz_header_bytes", 0) + max(self.size, 0)
            tarfile.kz_header_bytes = read
            if read > MAX_RECORD_HEADER_BYTES:  # a Problem: tarfile ends quietly on its own
                raise Problem(
                    502, "bad-archive", "the service's record archive has more than "
                    f"{size_text(MAX_RECORD_HEADER_BYTES)} of member headers: no honest "
                    "record does; it is refused"
                )
        return super()._proc_member(tarfile)  # type: ignore[misc]  # (private, in 3.8-3.13)


def _unpack_record(archive: Path, out: Path) -> None:
    """Unpack the archive's ``record/`` into ``out``; refused (nothing unpacked) if a member lies
    outside ``record/`` or it holds more files or bytes than an honest record can."""
    try:
        with tarfile.open(archive, mode="r:gz", tarinfo=_BoundedTarInfo) as tar:
            members, unpacked = [], 0
            for files, member in enumerate(tar, start=1):  # the top folder is record/
                name = member.name.split("/", 1)
                if name[0] != "record":
                    raise Problem(502, "bad-archive", f"unexpected archive member {member.name}")
                unpacked += max(member.size, 0)
                if files > MAX_RECORD_FILES or unpacked > MAX_RECORD_UNPACKED_BYTES:
                    raise Problem(
                        502, "bad-archive", f"the service's record archive holds more than "
                        f"{MAX_RECORD_FILES} files or {size_text(MAX_RECORD_UNPACKED_BYTES)}: "
                        "no honest record does; it is refused"
                    )
                if len(name) == 2 and name[1]:
                    member.name = name[1]
                    members.append(member)
            # unpacked beside --out first: a member refused half way (by the data filter, or
            # a truncated archive) leaves nothing, and --out gets the whole record or nothing
            staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.unpacking."))
            try:
                tar.extractall(staging, members=members, filter="data")
                if out.exists():
                    out.rmdir()  # empty: checked before the download
                staging.rename(out)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise Problem(
            502, "bad-archive", f"the service's record archive is not a whole tar.gz ({exc})"
        ) from exc
