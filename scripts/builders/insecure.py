"""INSECURE: every guardian's part in one process, for the tests, the demo's small paths and the
benchmarks. Never part of any party's program.

Threat: whoever reads the directory these functions write can decrypt any ballot. Here the key
ceremony runs between guardians made up on the spot, through an in-process board, and each
guardian's secret share (and the identity key it signs partial decryptions with) is written
into ``DATA/guardians/`` (mode 0600); the tally is then decrypted by reading those shares back.
An election runs the ceremony between the guardians' own machines (``tally-service ceremony``
and ``tally-service guardian ceremony``) and each guardian decrypts on its own machine
(``tally-service guardian decrypt``). These helpers left the product package (issue 27) so that
no program a party runs can write or read another party's secrets.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from crypto.canonical import hex_decode
from crypto.decryption import partial_decrypt
from crypto.elgamal import Ciphertext
from crypto.group import Scalar
from crypto.signing import SigningKey
from tally_service.common import problems
from tally_service.common.manifest import validate_manifest
from tally_service.guardian.ceremony import CeremonyParty, read_key_share
from tally_service.guardian.checks import decrypt_as_guardian
from tally_service.guardian.identity import GuardianDir
from tally_service.guardian.state import GuardianState
from tally_service.service.ceremony_board import CeremonyBoard
from tally_service.service.election import Election
from tally_service.service.setup import SetupError, _draft, _store
from tally_service.service.tally import (
    final_context,
    is_void,
    signed_statement,
    start_tally,
    submit_partial,
)


def guardian_share_path(data_dir: Path, guardian: int) -> Path:
    return data_dir / "guardians" / f"guardian-{guardian}.json"


def guardian_state_dir(share_file: Path) -> Path:
    """A guardian's state directory: beside its share file (guardian-N.json -> guardian-N.state)."""
    return share_file.with_suffix(".state")


def write_secret_json(path: Path, text: str) -> None:
    """A secret that is not a signing key (a guardian's share): mode 0600, never overwritten."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def key_ceremony(data_dir: Path, store_url: str | None = None) -> dict[str, Any]:
    """INSECURE: every guardian's part of the ceremony in this one process (tests and benchmarks).

    Guardians are made up on the spot (their keys enter the draft, which must list none), the
    real protocol runs between them through an in-process board, and every guardian's secret
    share is then written to ``DATA/guardians/`` (mode 0600): whoever reads that directory can
    decrypt any ballot. Elections run the ceremony between the guardians' own machines
    (``tally-service ceremony`` and ``tally-service guardian ceremony``)."""

    store = _store(data_dir, store=store_url)
    try:
        draft = _draft(store)
        if store.get_meta("ceremony") is not None:
            raise SetupError("the key ceremony has been held already")
        if draft["guardians"]["keys"]:
            raise SetupError(
                "the draft lists the guardians' keys: they hold the ceremony from their own "
                "machines (tally-service ceremony, then tally-service guardian ceremony)"
            )
        with tempfile.TemporaryDirectory(prefix="kz-tally-insecure-guardians-") as tmp:
            dirs = [
                GuardianDir.init(Path(tmp) / str(i), b"in-process", scrypt_n=2**10)
                for i in range(draft["guardians"]["n"])
            ]
            draft["guardians"]["keys"] = [
                {"identity_key": g.public["identity_key"], "share_key": g.public["share_key"]}
                for g in dirs
            ]
            validate_manifest(draft)
            store.set_meta("draft", json.dumps(draft))
            fingerprints = {
                name: g.public["fingerprint"].replace(" ", "")
                for name, g in zip(draft["guardians"]["names"], dirs, strict=True)
            }
            board = CeremonyBoard(store, timeout=3600)
            parties = [CeremonyParty(g, fingerprints, board.header.fingerprint) for g in dirs]
            while not all(p.done for p in parties):
                for party in parties:
                    for message in party.step(board.view()):
                        board.post(message)
            text = store.get_meta("ceremony")
            assert text is not None
            transcript: dict[str, Any] = json.loads(text)
            for index, g in enumerate(dirs, start=1):
                _, share = read_key_share(g, draft["election_id"])
                share_file = guardian_share_path(data_dir, index)
                # the state the tests' `tally --share` uses, pinned as the guardian pinned it
                GuardianState(guardian_state_dir(share_file)).pin_ceremony(
                    draft["election_id"], transcript["joint_key"], transcript["transcript_hash"]
                )
                write_secret_json(
                    share_file,
                    json.dumps(
                        {
                            "election_id": draft["election_id"],
                            "guardian": index,
                            "secret_share": share.hex(),
                            # to sign its partial decryptions as the guardian would
                            "identity_seed": g.identity.seed().hex(),
                        }
                    ),
                )
    finally:
        store.close()
    return transcript


def _share_file(data_dir: Path, guardian: int) -> dict[str, Any]:
    text = guardian_share_path(data_dir, guardian).read_text(encoding="utf-8")
    share: dict[str, Any] = json.loads(text)
    return share


def read_share(data_dir: Path, guardian: int) -> Scalar:
    return Scalar.from_bytes(hex_decode(_share_file(data_dir, guardian)["secret_share"], 32))


def read_identity(data_dir: Path, guardian: int) -> SigningKey:
    """The identity key the in-process ceremony (setup.key_ceremony) kept beside the share."""
    return SigningKey.from_seed(hex_decode(_share_file(data_dir, guardian)["identity_seed"], 32))


def guardian_partial(
    election: Election, unit: str, round_no: int, guardian: int, secret_share: Scalar
) -> dict[str, Any]:
    """INSECURE (tests, demo): what guardian ``guardian`` computes and signs on their own machine
    from the published tally, with the identity key of its share file in the data dir."""
    doc = start_tally(election, unit, round_no)
    cts = [Ciphertext.from_json(c) for c in doc["encrypted"]]
    context = final_context(election, doc)
    partial = partial_decrypt(secret_share, guardian, cts, context)
    signed: dict[str, Any] = signed_statement(
        doc, partial, read_identity(election.data_dir, guardian)
    )
    return signed


def tally_in_process(
    election: Election, unit: str, round_no: int, guardians: list[int]
) -> dict[str, Any]:
    """The demo's decryption ceremony: the listed guardians' shares are read from the data dir.
    A round without quorum is left encrypted: its tally document is returned as it is."""
    doc = start_tally(election, unit, round_no)
    if is_void(election, doc):
        return doc
    for guardian in guardians:
        if doc["counts"] is not None:
            break
        signed = guardian_partial(
            election, unit, round_no, guardian, read_share(election.data_dir, guardian)
        )
        doc = submit_partial(election, unit, round_no, signed)
    if doc["counts"] is None:
        raise problems.conflict("too-few-guardians", "fewer than k guardians took part")
    return doc


def partial_from_share(
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
