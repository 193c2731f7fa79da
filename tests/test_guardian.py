"""A guardian refuses to decrypt anything but the honest tally of the signed, closed log."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from crypto.canonical import canonical_json
from crypto.note import sign_note
from scripts.builders.sample import UnitSpec
from scripts.builders.simulate import run_election
from tally_service.guardian.checks import GuardianRefusal, check_tally_inputs
from tally_service.service import tally
from tally_service.service.election import Election


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("guardian") / "data"
    run_election(data, [UnitSpec("AAA", "A", 3, 12)], seed=3)
    return data


def inputs(data: Path) -> tuple[dict[str, Any], str, list[bytes], dict[str, Any]]:
    e = Election(data)
    try:
        doc = tally.start_tally(e, "AAA", 1)
        note = next(r.note for r in e.store.checkpoints("AAA", 1) if r.final)
        entries = list(e.store.iter_entries("AAA", 1))
        return e.manifest.signed, note, entries, doc
    finally:
        e.stop()


def test_honest_tally_passes(closed: Path) -> None:
    manifest, note, entries, doc = inputs(closed)
    check_tally_inputs(manifest, note, entries, doc)
    check_tally_inputs(manifest, note, entries, doc, jobs=2)


def test_one_ballot_passed_off_as_the_tally_is_refused(closed: Path) -> None:
    manifest, note, entries, doc = inputs(closed)
    lone = json.loads(entries[0])
    doc = {**doc, "encrypted": [s["ciphertext"] for s in lone["selections"]]}
    with pytest.raises(GuardianRefusal, match="not the sum"):
        check_tally_inputs(manifest, note, entries, doc)


def test_a_log_that_is_not_the_signed_one_is_refused(closed: Path) -> None:
    manifest, note, entries, doc = inputs(closed)
    with pytest.raises(GuardianRefusal, match="final checkpoint"):
        check_tally_inputs(manifest, note, entries[:-1], doc)
    with pytest.raises(GuardianRefusal, match="second ballot"):
        check_tally_inputs(manifest, note, [*entries, entries[0]], doc)


def test_an_invalid_ballot_in_the_log_is_refused(closed: Path) -> None:
    manifest, note, entries, doc = inputs(closed)
    bad = json.loads(entries[1])
    bad["selections"][0]["proof"]["c0"], bad["selections"][0]["proof"]["c1"] = (
        bad["selections"][0]["proof"]["c1"],
        bad["selections"][0]["proof"]["c0"],
    )
    with pytest.raises(GuardianRefusal, match="bad entries"):
        check_tally_inputs(manifest, note, [entries[0], canonical_json(bad), *entries[2:]], doc)


def test_final_checkpoint_needs_the_commission(closed: Path) -> None:
    from crypto.signing import SigningKey

    manifest, note, entries, doc = inputs(closed)
    text = note.split("\n\n")[0] + "\n"
    key = SigningKey.from_pem((closed / "keys" / "log-AAA.pem").read_bytes())
    only_log = sign_note(text, [(f"{manifest['payload']['origin']}/AAA", key)])
    with pytest.raises(GuardianRefusal, match="commission"):
        check_tally_inputs(manifest, only_log, entries, doc)
    other = copy.deepcopy(doc)
    other["election"] = "00" * 32
    with pytest.raises(GuardianRefusal, match="another election"):
        check_tally_inputs(manifest, note, entries, other)
    with pytest.raises(GuardianRefusal, match="ceremony"):
        check_tally_inputs(manifest, note, entries, doc, expected_manifest_hash="11" * 32)


def test_an_entry_whose_elector_is_not_a_string_is_refused(closed: Path) -> None:
    """Not a crash (unhashable type): a refusal naming the bad entry."""
    manifest, note, entries, doc = inputs(closed)
    odd = json.loads(entries[1])
    odd["elector"] = ["AAA-E0001"]
    with pytest.raises(GuardianRefusal, match="bad entries"):
        check_tally_inputs(manifest, note, [entries[0], canonical_json(odd), *entries[2:]], doc)


class FlakyBoard:
    """A ceremony board that hangs up on the first ``drops`` connections (a board restarting,
    a link down), then refuses with a problem document: ``connections`` counts them."""

    def __init__(self, drops: int) -> None:
        import socket
        import threading

        self.drops = drops
        self.connections = 0
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.1)  # to see ``stop``: closing a socket does not end an accept
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        body = json.dumps({"status": 404, "check": "no-ceremony",
                           "detail": "no key ceremony here"}).encode()
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                self.connections += 1
                if self.connections <= self.drops:
                    continue  # hang up unanswered
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: application/problem+json"
                             b"\r\nConnection: close\r\nContent-Length: "
                             + str(len(body)).encode() + b"\r\n\r\n" + body)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


def test_the_ceremony_retries_an_unreachable_board_but_not_a_refusal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Follow-up of the caps: ``guardian ceremony`` retried on ``requests.ConnectionError``,
    which the service's client had already turned into a Problem, so a board that restarted
    ended the guardian's ceremony at once. It now looks again (``--retries``) while the board
    cannot be reached, and stops at the first answer that refuses."""
    from tally_service.cli import main
    from tally_service.guardian.identity import GuardianDir

    passphrase = tmp_path / "passphrase"
    passphrase.write_text("a passphrase for the tests\n", encoding="utf-8")
    gdir = GuardianDir.init(tmp_path / "g1", b"a passphrase for the tests", scrypt_n=2**10)
    fingerprints = tmp_path / "fingerprints.txt"
    fingerprints.write_text(f"Guardian 1: {gdir.public['fingerprint']}\n", encoding="utf-8")
    argv = ["guardian", "ceremony", "--dir", str(tmp_path / "g1"), "--passphrase-file",
            str(passphrase), "--fingerprints", str(fingerprints), "--ceremony-fingerprint",
            "0" * 32, "--poll", "0", "--quiet"]

    board = FlakyBoard(drops=2)
    try:
        code = main([*argv, "--url", board.url, "--retries", "3"])
    finally:
        board.close()
    err = capsys.readouterr().err
    assert code != 0 and board.connections == 3, (board.connections, err)
    assert err.strip().splitlines() == ["tally-service: error: no key ceremony here"]

    board = FlakyBoard(drops=10)  # never back: after the retries, one line saying so
    try:
        code = main([*argv, "--url", board.url, "--retries", "2"])
    finally:
        board.close()
    err = capsys.readouterr().err
    assert code != 0 and board.connections == 3, (board.connections, err)
    assert err.strip().splitlines() == [
        f"tally-service: error: the board at {board.url} did not answer in 3 tries (cannot "
        f"reach {board.url}: is the service running there?); run the command again once it "
        "answers"
    ]
