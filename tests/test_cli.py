"""The command line: a whole election from files, one clear error line and exit 1 on failure."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from crypto.signing import SigningKey
from scripts.builders import insecure
from tally_service.cli import main
from tally_service.common.rolls import RollEntry, roll_to_csv
from tally_service.elector.ballot import make_ballot
from tally_service.service.setup import draft_manifest


def run(*args: str) -> int:
    return main(list(args))


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, dict[str, SigningKey]]:
    draft = draft_manifest(
        "cli-test",
        {"en": "CLI test", "ru": None, "kk": None},
        "2023-01-14",
        "tally.example/cli-test",
        [
            {
                "code": "AAA",
                "kind": "region",
                "name": {"en": "A", "ru": "Абай", "kk": "Абай"},
                "candidates": [
                    {"id": "AAA-C1", "name": "Әлия Қасымова"},
                    {"id": "AAA-C2", "name": "B"},
                ],
            }
        ],
        ["G1", "G2", "G3"],
        2,
    )
    (tmp_path / "manifest.json").write_text(json.dumps(draft, ensure_ascii=False), "utf-8")
    keys = {f"AAA-E{i}": SigningKey.generate() for i in range(1, 6)}
    roll = [RollEntry(e, f"Электор {e}", k.public.hex()) for e, k in keys.items()]
    (tmp_path / "AAA.csv").write_bytes(roll_to_csv(roll))
    return tmp_path, keys


def test_whole_election_offline(
    files: tuple[Path, dict[str, SigningKey]], capsys: pytest.CaptureFixture[str]
) -> None:
    tmp, keys = files
    data = str(tmp / "data")
    assert run("init", "--data", data, "--manifest", str(tmp / "manifest.json")) == 0
    assert stat.S_IMODE(os.stat(tmp / "data" / "keys" / "commission.pem").st_mode) == 0o600
    assert run("import-roll", "--data", data, "--unit", "AAA", str(tmp / "AAA.csv")) == 0
    insecure.key_ceremony(Path(data))  # the guardians' machines, all in this process
    assert run("seal", "--data", data) == 0
    assert run("open-round", "--data", data, "--unit", "AAA") == 0
    from tally_service.service.election import Election

    e = Election(Path(data))
    for elector, key in keys.items():
        e.cast(
            make_ballot(
                e.manifest.hash,
                "AAA",
                1,
                elector,
                ["AAA-C1", "AAA-C2"],
                "AAA-C1",
                e.manifest.election_key,
                key,
            )
        )
    e.stop()
    capsys.readouterr()
    assert run("turnout", "--data", data, "--json") == 0
    turnout = json.loads(capsys.readouterr().out)
    assert turnout["took_part"] == 5 and turnout["units"][0]["quorum"]
    assert run("close-round", "--data", data, "--unit", "AAA") == 0
    assert run("tally", "--data", data, "--unit", "AAA", "--json") == 0
    published = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert published["counts"] is None and published["partials"] == []  # the guardians' turn
    e = Election(Path(data))
    insecure.tally_in_process(e, "AAA", 1, [1, 3])  # guardians 1 and 3 decrypt, as they would
    e.stop()
    assert run("tally", "--data", data, "--unit", "AAA", "--json") == 0
    assert json.loads(capsys.readouterr().out)["counts"] == {
        "AAA-C1": 5,
        "AAA-C2": 0,
    }
    assert run("results", "--data", data, "--publish", "preliminary") == 0
    assert run("results", "--data", data, "--publish", "final") == 0
    out = capsys.readouterr().out
    assert "final result" in out and "AAA-C1" in out and "100.00%" in out
    assert run("export", "--data", data, "--out", str(tmp / "record")) == 0
    record = tmp / "record"
    assert (record / "results" / "final.json").exists()
    # no private material anywhere in the record
    secrets = [p.read_bytes() for p in (tmp / "data").rglob("*.pem")]
    shares = [
        json.loads(p.read_text())["secret_share"] for p in (tmp / "data").rglob("guardian-*.json")
    ]
    for path in record.rglob("*"):
        if path.is_file():
            body = path.read_bytes()
            assert b"PRIVATE KEY" not in body
            assert not any(s.encode() in body for s in shares)
            assert not any(k.seed().hex().encode() in body for k in keys.values())
    assert secrets


def test_a_round_without_quorum_is_tallied_void_not_decrypted(
    files: tuple[Path, dict[str, SigningKey]], capsys: pytest.CaptureFixture[str]
) -> None:
    tmp, keys = files
    data = str(tmp / "data")
    assert run("init", "--data", data, "--manifest", str(tmp / "manifest.json")) == 0
    assert run("import-roll", "--data", data, "--unit", "AAA", str(tmp / "AAA.csv")) == 0
    insecure.key_ceremony(Path(data))  # the guardians' machines, all in this process
    assert run("seal", "--data", data) == 0
    assert run("open-round", "--data", data, "--unit", "AAA") == 0
    from tally_service.service.election import Election

    e = Election(Path(data))
    for elector in ["AAA-E1", "AAA-E2"]:  # 2 of 5: no quorum
        e.cast(make_ballot(e.manifest.hash, "AAA", 1, elector, ["AAA-C1", "AAA-C2"], "AAA-C1",
                           e.manifest.election_key, keys[elector]))
    e.stop()
    assert run("close-round", "--data", data, "--unit", "AAA") == 0
    capsys.readouterr()
    assert run("tally", "--data", data, "--unit", "AAA") == 0
    assert "AAA round 1: 2 ballots, no quorum: void, not decrypted" in capsys.readouterr().out
    assert run("results", "--data", data, "--publish", "preliminary") == 0
    assert run("results", "--data", data, "--publish", "final") == 0
    out = capsys.readouterr().out
    assert "void" in out and "AAA-C1" not in out


def test_errors_are_one_line_and_exit_1(
    files: tuple[Path, dict[str, SigningKey]], capsys: pytest.CaptureFixture[str]
) -> None:
    tmp, _ = files
    data = str(tmp / "data")
    cases = [
        ("open-round", "--data", data, "--unit", "AAA"),  # no election yet
        ("init", "--data", data, "--manifest", str(tmp / "missing.json")),
        ("import-roll", "--data", data, "--unit", "AAA", str(tmp / "AAA.csv")),
    ]
    for args in cases:
        capsys.readouterr()
        assert run(*args) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith("tally-service: error: ") and "\n" not in err, err
    assert run("init", "--data", data, "--manifest", str(tmp / "manifest.json")) == 0
    capsys.readouterr()
    assert run("init", "--data", data, "--manifest", str(tmp / "manifest.json")) == 1
    assert "holds an election already" in capsys.readouterr().err
    bad = tmp / "bad.csv"
    bad.write_bytes(b"elector_id,full_name,public_key\nX1,Name,nothex\n")
    assert run("import-roll", "--data", data, "--unit", "AAA", str(bad)) == 1
    assert "line 2" in capsys.readouterr().err
    assert run("seal", "--data", data) == 1
    assert "key ceremony" in capsys.readouterr().err


def test_keygen_and_help(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "k.pem"
    assert run("keygen", "--out", str(out), "--name", "example.org/log", "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert info["verifier_key"].startswith("example.org/log+")
    assert SigningKey.from_pem(out.read_bytes()).seed().hex() not in json.dumps(info)
    assert run("keygen", "--out", str(out)) == 1  # never overwrites a key
    for command in [
        "init",
        "keygen",
        "import-roll",
        "serve",
        "open-round",
        "close-round",
        "status",
        "turnout",
        "tally",
        "results",
        "export",
    ]:
        r = subprocess.run(
            [sys.executable, "-m", "tally_service", command, "--help"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert r.returncode == 0 and "usage:" in r.stdout


def test_service_refuses_mismatched_key(files: tuple[Path, dict[str, SigningKey]]) -> None:
    from scripts.builders.sample import UnitSpec, build_election
    from tally_service.common.keys import write_private_key
    from tally_service.service.election import Election, StartupError

    tmp, _ = files
    data = tmp / "data2"
    build_election(data, [UnitSpec("AAA", "A", 2, 3)])
    (data / "keys" / "log-AAA.pem").unlink()
    write_private_key(data / "keys" / "log-AAA.pem", SigningKey.generate())
    with pytest.raises(StartupError, match="does not match"):
        Election(data)
    assert run("turnout", "--data", str(data)) == 1


def test_init_refuses_a_threshold_of_one(
    files: tuple[Path, dict[str, SigningKey]], capsys: pytest.CaptureFixture[str]
) -> None:
    # k = 1 would let any single guardian decrypt every ballot: refused, nothing created
    tmp, _ = files
    draft = json.loads((tmp / "manifest.json").read_text("utf-8"))
    draft["guardians"]["k"] = 1
    (tmp / "weak.json").write_text(json.dumps(draft), "utf-8")
    capsys.readouterr()
    assert run("init", "--data", str(tmp / "data"), "--manifest", str(tmp / "weak.json")) == 1
    err = capsys.readouterr().err
    assert "guardians.k is 1" in err and "\n" not in err.strip()
    assert not (tmp / "data" / "election.db").exists()


def test_elector_in_two_units_is_refused_by_name(tmp_path: Path) -> None:
    from scripts.builders.sample import UnitSpec
    from tally_service.service.setup import SetupError, draft_manifest, import_roll, init_election

    units = [UnitSpec("AAA", "A", 2, 1), UnitSpec("BBB", "B", 2, 1)]
    draft = draft_manifest(
        "x",
        {"en": "x", "ru": None, "kk": None},
        "2023-01-14",
        "tally.example/x",
        [
            {
                "code": u.code,
                "kind": "region",
                "name": {"en": u.name_en, "ru": None, "kk": None},
                "candidates": [{"id": f"{u.code}-C1", "name": "c"}],
            }
            for u in units
        ],
        ["G1", "G2"],
        2,
    )
    init_election(tmp_path / "d", draft)
    key = SigningKey.generate().public.hex()
    import_roll(tmp_path / "d", "AAA", [RollEntry("E-1", "Name", key)])
    with pytest.raises(SetupError, match="E-1"):
        import_roll(
            tmp_path / "d", "BBB", [RollEntry("E-1", "Other", SigningKey.generate().public.hex())]
        )
    with pytest.raises(SetupError, match="AAA"):
        import_roll(tmp_path / "d", "BBB", [RollEntry("E-2", "Other", key)])


def test_the_documented_draft_manifest_initialises(tmp_path: Path) -> None:
    # docs/record.md shows a complete draft for `init`: it must stay one that init accepts
    text = (Path(__file__).resolve().parent.parent / "docs" / "record.md").read_text("utf-8")
    section = text.split("## The draft manifest", 1)[1]
    block = section.split("```json\n", 1)[1].split("```", 1)[0]
    (tmp_path / "draft.json").write_text(block, "utf-8")
    data = str(tmp_path / "data")
    assert run("init", "--data", data, "--manifest", str(tmp_path / "draft.json")) == 0
