"""``tally-service vote``: an elector votes with a credential code or a key file."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from crypto.audit import tracker
from crypto.canonical import canonical_json
from crypto.merkle import leaf_hash
from scripts.builders.sample import UnitSpec, build_election
from tally_service.cli import main
from tally_service.common.keys import commission_key_path, read_private_key, write_private_key
from tally_service.service.config import Config
from tally_service.service.election import Election


@dataclass
class Live:
    url: str
    data: Path
    codes: dict[str, str]
    election: Election


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    from waitress import create_server

    from tally_service.service.app import create_app

    data = tmp_path_factory.mktemp("vote") / "election"
    codes: dict[str, str] = {}
    keys = build_election(data, [UnitSpec("AKM", "Akmola", 3, 6)], codes=codes)
    election = Election(data, Config(checkpoint_every=2))
    election.open_round("AKM", 1)
    write_private_key(data.parent / "AKM-E0006.pem", keys["AKM-E0006"])
    srv: Any = create_server(create_app(election), host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        yield Live(f"http://127.0.0.1:{srv.effective_port}", data, codes, election)
    finally:
        srv.close()
        thread.join(timeout=5)
        election.stop()


def _pin(live: Live) -> str:
    return read_private_key(commission_key_path(live.data)).public.hex()


def test_vote_with_a_code(live: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code_file = tmp_path / "code.txt"
    code_file.write_text(live.codes["AKM-E0001"].lower() + "\n")
    out = tmp_path / "receipt.json"
    argv = [
        "vote",
        "--url",
        live.url,
        "--unit",
        "AKM",
        "--elector",
        "AKM-E0001",
        "--credential-file",
        str(code_file),
        "--choice",
        "AKM-C2",
        "--out",
        str(out),
        "--commission-key",
        _pin(live),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    receipt = json.loads(out.read_text())
    ballot_bytes = (tmp_path / "receipt.ballot.json").read_bytes()
    ballot = json.loads(ballot_bytes)
    # the kept ballot is byte for byte the log's entry, and the tracker is its unsigned hash
    assert canonical_json(ballot) == ballot_bytes
    assert leaf_hash(ballot_bytes).hex() == receipt["leaf_hash"]
    assert f"tracker {tracker(ballot)}" in printed
    from crypto.fingerprint import election_fingerprint, key_fingerprint

    manifest = live.election.manifest.signed["payload"]
    assert f"election fingerprint {election_fingerprint(manifest)}" in printed
    assert f"commission key fingerprint {key_fingerprint(bytes.fromhex(_pin(live)))}" in printed
    # the same elector cannot vote twice, and an old receipt is never overwritten
    assert main(argv) == 1
    assert "exists" in capsys.readouterr().err


def test_vote_with_a_key_file_and_blank(live: Live, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    assert (
        main(
            [
                "vote",
                "--url",
                live.url,
                "--unit",
                "AKM",
                "--elector",
                "AKM-E0006",
                "--key",
                str(live.data.parent / "AKM-E0006.pem"),
                "--choice",
                "blank",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads(out.read_text())["elector"] == "AKM-E0006"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"code": "typo"}, "check characters"),
        ({"code": "other"}, "does not give the key the roll holds"),
        ({"choice": "ALA-C1"}, "is not a candidate"),
        ({"elector": "ALA-E0001"}, "is not on the roll"),
        ({"pin": "00" * 31 + "01"}, "commission"),
    ],
)
def test_vote_refusals(
    live: Live,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: dict[str, str],
    message: str,
) -> None:
    code = live.codes["AKM-E0003"]
    if change.get("code") == "typo":
        code = ("1" if code[0] != "1" else "2") + code[1:]
    elif change.get("code") == "other":
        code = live.codes["AKM-E0004"]
    code_file = tmp_path / "code.txt"
    code_file.write_text(code)
    from crypto.signing import SigningKey

    pin = change.get("pin", _pin(live))
    if "pin" in change:
        pin = SigningKey.generate().public.hex()
    argv = [
        "vote",
        "--url",
        live.url,
        "--unit",
        "AKM",
        "--elector",
        change.get("elector", "AKM-E0003"),
        "--credential-file",
        str(code_file),
        "--choice",
        change.get("choice", "AKM-C1"),
        "--out",
        str(tmp_path / "r.json"),
        "--commission-key",
        pin,
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r.json").exists()


def test_vote_takes_the_api_url_and_names_a_bad_commission_key(
    live: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's `--url .../api/v1` works; a key of the wrong length names the option."""
    code_file = tmp_path / "code.txt"
    code_file.write_text(live.codes["AKM-E0002"] + "\n")
    argv = ["vote", "--url", f"{live.url}/api/v1/", "--unit", "AKM", "--elector", "AKM-E0002",
            "--credential-file", str(code_file), "--choice", "blank",
            "--out", str(tmp_path / "r.json")]
    assert main([*argv, "--commission-key", _pin(live) + "ab"]) == 1
    err = capsys.readouterr().err
    assert "--commission-key" in err and "64 hex digits" in err and "Traceback" not in err
    assert main([*argv, "--commission-key", _pin(live)]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["elector"] == "AKM-E0002"


class _Meddling(requests.Session):
    """A connection that loses the cast (before or after it reaches the service) or alters
    the receipt on the way back, as a dropped link or a meddling proxy would."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode = mode

    def post(self, url: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if self.mode == "dropped":
            raise requests.ConnectionError("connection reset")
        answer = super().post(url, *args, **kwargs)
        forged = answer.json()
        forged["index"] += 1  # the promise no longer fits
        answer._content = json.dumps(forged).encode()
        return answer


def test_vote_settles_a_lost_or_forged_answer_from_the_log(live: Live, tmp_path: Path) -> None:
    from tally_service.common.problems import Problem
    from tally_service.elector.vote import vote

    code = live.codes["AKM-E0005"]
    pinned = read_private_key(commission_key_path(live.data)).public
    with pytest.raises(Problem, match="NOT cast"):
        vote(live.url, "AKM", "AKM-E0005", "AKM-C1", tmp_path / "a.json", credential=code,
             pinned=pinned, session=_Meddling("dropped"))
    assert (tmp_path / "a.ballot.json").exists()  # the posted bytes are kept
    assert live.election.store.ballot_of("AKM", 1, "AKM-E0005") is None
    cast = vote(live.url, "AKM", "AKM-E0005", "AKM-C1", tmp_path / "b.json", credential=code,
                pinned=pinned, session=_Meddling("forged"))
    receipt = json.loads(cast.receipt.read_text())
    index, _ = live.election.store.ballot_of("AKM", 1, "AKM-E0005") or (None, None)
    assert receipt["index"] == index  # the log's receipt, not the forged one


def test_vote_pins_the_commission_key_by_its_fingerprint(
    live: Live, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from crypto.fingerprint import key_fingerprint

    printed = key_fingerprint(bytes.fromhex(_pin(live)))
    code_file = tmp_path / "code.txt"
    code_file.write_text(live.codes["AKM-E0001"] + "\n")
    argv = ["vote", "--url", live.url, "--unit", "AKM", "--elector", "AKM-E0001",
            "--credential-file", str(code_file), "--choice", "blank"]
    wrong = "b" * 4 + printed[4:] if not printed.startswith("bbbb") else "c" * 4 + printed[4:]
    assert main([*argv, "--out", str(tmp_path / "a.json"), "--commission-key", wrong]) == 1
    assert "not the commission's election" in capsys.readouterr().err
    # the right fingerprint, typed as read aloud, passes the manifest check (if this elector
    # has voted already, in an earlier test, the service then refuses the ballot)
    typed = printed.upper().replace("-", " ")
    done = main([*argv, "--out", str(tmp_path / "b.json"), "--commission-key", typed])
    err = capsys.readouterr().err
    assert "fingerprint" not in err and (done == 0 or "already cast" in err), err
