"""The elector's receipt checker (scripts/verify_receipt.py), against a record and a live server."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crypto.canonical import canonical_json, hash_json
from crypto.envelope import sign_document
from crypto.note import sign_note
from crypto.signing import Context, SigningKey
from scripts.verifier.trust import UNPINNED
from tests.verify_helpers import (
    ORIGIN,
    Built,
    build_record,
    lines_of,
    read_json,
    reseal_log,
    resign_result,
    run_script,
    write_json,
    write_lines,
)
from tests.verify_helpers import receipt_checker as verify_receipt


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    return build_record(tmp_path_factory.mktemp("receipts"))


def all_receipts(built: Built) -> list[dict[str, Any]]:
    return [r for receipts in built.sim.receipts.values() for r in receipts]


def receipt_of(built: Built, elector: str, round_no: int = 1) -> dict[str, Any]:
    return next(r for r in built.sim.receipts[elector] if r["round"] == round_no)


def check(receipt: object, where: str | Path, url: bool = False) -> verify_receipt.Verdict:
    verdict = verify_receipt.Verdict("test")
    source: verify_receipt.Source = (
        verify_receipt.ServiceSource(str(where))
        if url
        else verify_receipt.RecordSource(Path(where))
    )
    verify_receipt.check_receipt(receipt, source, verdict)
    return verdict


def failed(verdict: verify_receipt.Verdict) -> list[str]:
    return [i.id for i in verdict.items.values() if i.ok is False]


def test_every_receipt_verifies_against_the_record(built: Built) -> None:
    receipts = all_receipts(built)
    assert len(receipts) == 55
    assert any(r["proof"] is not None for r in receipts)  # some came with a tlog-proof
    assert any(r["round"] == 2 for r in receipts)
    for receipt in receipts:
        verdict = check(receipt, built.record)
        assert verdict.ok, (receipt["elector"], verdict.to_json())


def test_receipt_with_and_without_tlog_proof(built: Built) -> None:
    with_proof = next(r for r in all_receipts(built) if r["proof"] is not None)
    verdict = check(with_proof, built.record)
    assert verdict.ok and "receipt's tlog-proof" in verdict.items["R5"].detail
    without = dict(with_proof, proof=None)
    verdict = check(without, built.record)
    assert verdict.ok and "from the record" in verdict.items["R5"].detail


def test_cli_verdict_and_json(built: Built, tmp_path: Path) -> None:
    path = tmp_path / "receipt.json"
    write_json(path, receipt_of(built, "BBB-E0003", 2))
    result = run_script("verify_receipt.py", str(path), "--record", str(built.record))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VERDICT: PASS" in result.stdout
    assert result.stderr == f"verify_receipt.py: {UNPINNED}\n"  # no --trust, no --commission-key
    result = run_script("verify_receipt.py", str(path), "--record", str(built.record), "--json")
    doc = json.loads(result.stdout)
    assert doc["ok"] is True and [c["id"] for c in doc["checks"]] == [
        f"R{i}" for i in range(1, 8)
    ]


def test_flipped_leaf_hash_fails(built: Built) -> None:
    receipt = dict(receipt_of(built, "AAA-E0002"))
    leaf = receipt["leaf_hash"]
    receipt["leaf_hash"] = leaf[:-1] + ("0" if leaf[-1] != "0" else "1")
    assert failed(check(receipt, built.record)) == ["R3"]


def test_forged_promise_fails(built: Built) -> None:
    receipt = dict(receipt_of(built, "AAA-E0002"))
    text = receipt["promise"].split("\n\n")[0] + "\n"
    receipt["promise"] = sign_note(text, [(f"{ORIGIN}/AAA", SigningKey.generate())])
    verdict = check(receipt, built.record)
    assert failed(verdict) == ["R3"]
    assert "not signed by the unit's log key" in verdict.items["R3"].detail


def test_promise_for_another_index_fails(built: Built) -> None:
    receipt = dict(receipt_of(built, "AAA-E0002"), index=5)
    assert failed(check(receipt, built.record)) == ["R3"]


def test_receipt_for_another_election_fails(built: Built) -> None:
    receipt = dict(receipt_of(built, "AAA-E0002"), election="00" * 32)
    assert failed(check(receipt, built.record)) == ["R2"]


def test_malformed_receipt_fails(built: Built, tmp_path: Path) -> None:
    assert failed(check({"format": "nope"}, built.record)) == ["R1"]
    path = tmp_path / "receipt.json"
    path.write_text("{not json", encoding="utf-8")
    result = run_script("verify_receipt.py", str(path), "--record", str(built.record))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "VERDICT: FAIL (R1)" in result.stdout


def _copy(built: Built, tmp_path: Path) -> Path:
    record = tmp_path / "record"
    shutil.copytree(built.record, record)
    return record


def test_ballot_changed_in_the_record_fails(built: Built, tmp_path: Path) -> None:
    record = _copy(built, tmp_path)
    receipt = receipt_of(built, "AAA-E0003")
    path = record / "units" / "AAA" / "1" / "ballots.jsonl"
    lines = lines_of(path)
    ballot = json.loads(lines[receipt["index"]])
    ballot["signature"] = "00" * 64
    lines[receipt["index"]] = canonical_json(ballot)
    write_lines(path, lines)
    assert failed(check(receipt, record)) == ["R4"]


def test_log_rewritten_and_resealed_fails_consistency(built: Built, tmp_path: Path) -> None:
    # The operator changes an earlier ballot and re-signs every checkpoint with the real log
    # and commission keys. The elector's old signed checkpoint exposes the rewrite.
    record = _copy(built, tmp_path)
    receipt = next(r for r in all_receipts(built) if r["proof"] and r["unit"] == "AAA")
    path = record / "units" / "AAA" / "1" / "ballots.jsonl"
    lines = lines_of(path)
    lines[0], lines[1] = lines[1], lines[0]
    write_lines(path, lines)
    reseal_log(built, record, "AAA", 1)
    verdict = check(receipt, record)
    assert failed(verdict) == ["R6"], verdict.to_json()
    assert "rewritten" in verdict.items["R6"].detail


def test_tally_over_another_checkpoint_fails(built: Built, tmp_path: Path) -> None:
    record = _copy(built, tmp_path)
    path = record / "units" / "AAA" / "1" / "tally.json"
    tally = read_json(path)
    tally["final_checkpoint"]["size"] -= 1
    write_json(path, tally)
    assert failed(check(receipt_of(built, "AAA-E0001"), record)) == ["R7"]


def test_a_round_without_quorum_passes_as_not_decrypted(built: Built) -> None:
    verdict = check(receipt_of(built, "CCC-E0002"), built.record)
    assert verdict.ok, verdict.to_json()
    assert "had no quorum (5 of 12 registered took part) and was not decrypted" in (
        verdict.items["R7"].detail
    )
    assert "no quorum" not in check(receipt_of(built, "AAA-E0001"), built.record).items["R7"].detail


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.update(counts={"CCC-C1": 3, "CCC-C2": 1}, blank=1),
        lambda t: t.update(partials=[{"guardian": 1, "shares": [], "proofs": []}]),
    ],
    ids=["counts", "partials"],
)
def test_a_round_without_quorum_that_was_decrypted_fails_r7(
    built: Built, tmp_path: Path, change: Any
) -> None:
    record = _copy(built, tmp_path)
    path = record / "units" / "CCC" / "1" / "tally.json"
    tally = read_json(path)
    change(tally)
    write_json(path, tally)
    verdict = check(receipt_of(built, "CCC-E0002"), record)
    assert failed(verdict) == ["R7"] and "secrecy" in verdict.items["R7"].detail


def test_a_void_round_reported_with_counts_fails_r7(built: Built, tmp_path: Path) -> None:
    record = _copy(built, tmp_path)
    path = record / "results" / "final.json"
    doc = read_json(path)
    unit = next(u for u in doc["payload"]["units"] if u["unit"] == "CCC")
    unit["rounds"][0]["votes"] = {"CCC-C1": 3, "CCC-C2": 1}
    write_json(path, doc)
    resign_result(built, path)
    verdict = check(receipt_of(built, "CCC-E0002"), record)
    assert failed(verdict) == ["R7"] and "counts" in verdict.items["R7"].detail


def test_lines_after_the_final_checkpoint_fail(built: Built, tmp_path: Path) -> None:
    record = _copy(built, tmp_path)
    path = record / "units" / "AAA" / "1" / "ballots.jsonl"
    lines = lines_of(path)
    write_lines(path, [*lines, lines[0]])
    verdict = check(receipt_of(built, "AAA-E0001"), record)
    assert failed(verdict) == ["R6"] and "holds" in verdict.items["R6"].detail


def _edit_final(built: Built, record: Path, **changes: Any) -> None:
    path = record / "results" / "final.json"
    doc = read_json(path)
    doc["payload"].update(changes)
    write_json(path, doc)
    resign_result(built, path)


@pytest.mark.parametrize(
    "changes",
    [{"kind": "preliminary"}, {"election": "ab" * 32}, {"format": "other"}, {"units": 5},
     {"units": [{"unit": "AAA", "rounds": 7}]}],
    ids=["kind", "election", "format", "units-not-a-list", "rounds-not-a-list"],
)
def test_final_result_not_this_elections_final_fails(
    built: Built, tmp_path: Path, changes: dict[str, Any]
) -> None:
    # signed by the real commission key, but not the final result of this election's round
    record = _copy(built, tmp_path)
    _edit_final(built, record, **changes)
    verdict = check(receipt_of(built, "AAA-E0001"), record)
    assert failed(verdict) == ["R7"], verdict.to_json()
    assert "malformed" not in verdict.items["R7"].detail


def test_malformed_roll_in_a_signed_manifest_is_a_failure(built: Built, tmp_path: Path) -> None:
    # the commission signs a manifest whose roll is not a list: R2 fails with a reason
    record = _copy(built, tmp_path)
    doc = read_json(record / "manifest.json")
    unit = next(u for u in doc["payload"]["units"] if u["code"] == "AAA")
    unit["roll"] = 5
    write_json(record / "manifest.json", sign_document(
        doc["payload"], built.commission_key(), Context.MANIFEST
    ))
    receipt = dict(receipt_of(built, "AAA-E0001"))
    receipt["election"] = hash_json(verify_receipt.MANIFEST_HASH_TAG, doc["payload"]).hex()
    path = tmp_path / "receipt.json"
    write_json(path, receipt)
    result = run_script("verify_receipt.py", str(path), "--record", str(record))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "R2 FAIL" in result.stdout and "no roll list" in result.stdout


def test_malformed_data_fails_the_check_it_reaches(built: Built) -> None:
    # a source answering with the wrong shapes: the check fails with the reason, no traceback
    class Odd(verify_receipt.RecordSource):
        def tally(self, unit: str, round_no: int) -> object:
            raise TypeError("not what was asked")

    verdict = verify_receipt.Verdict("test")
    verify_receipt.check_receipt(receipt_of(built, "AAA-E0001"), Odd(built.record), verdict)
    assert failed(verdict) == ["R7"] and "malformed" in verdict.items["R7"].detail


def test_missing_record_is_a_failure_not_a_traceback(built: Built, tmp_path: Path) -> None:
    path = tmp_path / "receipt.json"
    write_json(path, receipt_of(built, "AAA-E0001"))
    result = run_script("verify_receipt.py", str(path), "--record", str(tmp_path / "none"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "R2 FAIL" in result.stdout


# -- against the live service -----------------------------------------------------------------


@pytest.fixture(scope="module")
def server(built: Built) -> Iterator[str]:
    from waitress import create_server

    from tally_service.service.app import create_app
    from tally_service.service.election import Election

    election = Election(built.data_dir)
    app = create_app(election)
    srv: Any = create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.effective_port}"
    finally:
        srv.close()
        thread.join(timeout=5)
        election.stop()


def test_receipts_verify_against_the_live_service(built: Built, server: str) -> None:
    for receipt in [receipt_of(built, "AAA-E0001"), receipt_of(built, "BBB-E0005", 2)]:
        verdict = check(dict(receipt, proof=None), server, url=True)
        assert verdict.ok, verdict.to_json()
        assert "from the service" in verdict.items["R5"].detail


def test_live_service_cli_and_forged_receipt(built: Built, server: str, tmp_path: Path) -> None:
    path = tmp_path / "receipt.json"
    write_json(path, receipt_of(built, "CCC-E0002"))
    result = run_script("verify_receipt.py", str(path), "--url", server, "--quiet")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "its round had no quorum, so its tally was not decrypted" in result.stdout
    forged = dict(receipt_of(built, "CCC-E0002"), index=0)
    assert failed(check(forged, server, url=True)) == ["R3"]


JS_CHECK = """
const { load } = require(process.argv[1]);
load().then(async (KZ) => {
  const source = KZ.receipt.serviceSource(process.argv[2]);
  const out = [];
  for (const r of JSON.parse(process.argv[3])) out.push(await KZ.receipt.checkReceipt(r, source));
  console.log(JSON.stringify(out));
});
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_pages_receipt_check_accepts_a_round_without_quorum(built: Built, server: str) -> None:
    """tally_service/service/static/js/receipt.js, run in Node against the live service: CCC's round
    had no quorum, so its tally is not decrypted, and the receipt passes, saying so."""
    import subprocess

    from tests.verify_helpers import ROOT

    receipts = [receipt_of(built, "CCC-E0002"), receipt_of(built, "AAA-E0001")]
    done = subprocess.run(
        ["node", "-e", JS_CHECK, str(ROOT / "tests" / "js" / "kz_node.js"), server,
         json.dumps(receipts)], capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    void, elected = json.loads(done.stdout)
    assert void["ok"] and void["void"], void
    assert "had no quorum (5 of 12 registered took part) and was not decrypted" in (
        void["items"][6]["detail"]
    )
    assert elected["ok"] and not elected["void"], elected


def test_cli_tally_over_http_leaves_a_round_without_quorum_encrypted(
    built: Built, server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tally_service.cli import main
    from tally_service.common.keys import commission_key_path

    capsys.readouterr()
    args = ["tally", "--url", server, "--key", str(commission_key_path(built.data_dir)),
            "--unit", "CCC"]
    assert main(args) == 0
    assert "CCC round 1: 5 ballots, no quorum: void, not decrypted" in capsys.readouterr().out


def test_unreachable_service_is_a_failure(built: Built) -> None:
    verdict = check(receipt_of(built, "AAA-E0001"), "http://127.0.0.1:9", url=True)
    assert failed(verdict) == ["R2"]


def test_export_over_http_gives_a_record_that_verifies(
    built: Built, server: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # `tally-service export --url URL --out DIR` writes the record into DIR itself, as the
    # offline export does, so `scripts/verify.py DIR` and `verify_receipt.py --record DIR` work
    from tally_service.cli import main
    from tests.verify_helpers import verify

    out = tmp_path / "downloaded"
    assert main(["export", "--url", server, "--out", str(out)]) == 0
    assert (out / "manifest.json").is_file() and not (out / "record").exists()
    report = verify(out)
    assert report.ok, report.failed()
    assert check(receipt_of(built, "AAA-E0001"), out).ok
    capsys.readouterr()
    assert main(["export", "--url", server, "--out", str(out)]) == 1  # never over a record
    assert "not empty" in capsys.readouterr().err


# -- issue 13.3: an entry the elector never signed ---------------------------------------------


def _forged_in_the_name_of(built: Built, record: Path, victim: str) -> dict[str, Any]:
    """The hostile operator's attack: replace the victim's logged ballot by one for another
    candidate, with valid proofs but a signature the victim never made, re-seal the log with the
    real log and commission keys, point the tally at the new final, and hand out a receipt for
    the forged entry (promise signed by the log key)."""
    from crypto.merkle import leaf_hash
    from tally_service.service.election import promise_text
    from tests.test_tamper import new_ballot
    from tests.verify_helpers import checkpoint_of, notes_of

    folder = record / "units" / "AAA" / "1"
    lines = lines_of(folder / "ballots.jsonl")
    index = next(i for i, line in enumerate(lines) if json.loads(line)["elector"] == victim)
    forged = json.loads(new_ballot(built, record, victim))
    forged["signature"] = "00" * 64  # valid proofs, garbage signature
    lines[index] = canonical_json(forged)
    write_lines(folder / "ballots.jsonl", lines)
    reseal_log(built, record, "AAA", 1)
    final = checkpoint_of(notes_of(folder / "checkpoints.txt")[-1])
    tally_doc = read_json(folder / "tally.json")
    tally_doc["final_checkpoint"] = {"size": final.size, "root": final.root.hex()}
    write_json(folder / "tally.json", tally_doc)
    leaf = leaf_hash(lines[index])
    key = SigningKey.from_pem((built.data_dir / "keys" / "log-AAA.pem").read_bytes())
    promise = sign_note(promise_text(f"{ORIGIN}/AAA/1", index, leaf), [(f"{ORIGIN}/AAA", key)])
    receipt = dict(receipt_of(built, victim), leaf_hash=leaf.hex(), promise=promise, proof=None)
    return receipt


def test_entry_the_elector_never_signed_fails_r4(built: Built, tmp_path: Path) -> None:
    record = tmp_path / "record"
    shutil.copytree(built.record, record)
    receipt = _forged_in_the_name_of(built, record, "AAA-E0002")
    verdict = check(receipt, record)
    assert failed(verdict) == ["R4"]
    assert "not signed by the elector's key" in (verdict.items["R4"].detail or "")


def test_kept_ballot_is_compared_byte_for_byte(built: Built, tmp_path: Path) -> None:
    receipt = receipt_of(built, "AAA-E0003")
    folder = built.record / "units" / "AAA" / "1"
    logged = lines_of(folder / "ballots.jsonl")[receipt["index"]]
    mine = tmp_path / "ballot.json"
    mine.write_bytes(logged + b"\n")
    verdict = verify_receipt.Verdict("test")
    verify_receipt.check_receipt(
        receipt, verify_receipt.RecordSource(built.record), verdict, None, mine.read_bytes()
    )
    assert verdict.ok and "byte for byte" in (verdict.items["R4"].detail or "")
    # another ballot of the same elector (validly signed, e.g. replayed from another device)
    other = json.loads(logged)
    other["selections"][0], other["selections"][1] = other["selections"][1], other["selections"][0]
    mine.write_bytes(canonical_json(other))
    verdict = verify_receipt.Verdict("test")
    verify_receipt.check_receipt(
        receipt, verify_receipt.RecordSource(built.record), verdict, None, mine.read_bytes()
    )
    assert failed(verdict) == ["R4"] and "replaced" in (verdict.items["R4"].detail or "")
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_text(json.dumps(receipt), encoding="utf-8")
    out = run_script(
        "verify_receipt.py", str(receipt_file), "--record", str(built.record), "--ballot", str(mine)
    )
    assert out.returncode == 1 and "R4 FAIL" in out.stdout, out.stdout


def test_a_second_final_in_the_log_fails_r6(built: Built, tmp_path: Path) -> None:
    """A countersigned 'final' checkpoint of an honest prefix, left in the middle of the log:
    the trace of a prefix passed off as closed. The receipt checker refuses it (V4 does too)."""
    from crypto.checkpoint import checkpoint_facts
    from crypto.note import add_signatures
    from tests.test_tamper import _resign
    from tests.verify_helpers import COMMISSION_NAME, checkpoint_of, notes_of, write_notes

    record = tmp_path / "record"
    shutil.copytree(built.record, record)
    path = record / "units" / "AAA" / "1" / "checkpoints.txt"
    notes = notes_of(path)
    early = _resign(built, notes[1], final=True)
    notes[1] = add_signatures(early, [(COMMISSION_NAME, built.commission_key())])
    assert checkpoint_facts(checkpoint_of(notes[1])).final
    write_notes(path, notes)
    receipt = receipt_of(built, "AAA-E0014")
    verdict = check(receipt, record)
    assert failed(verdict) == ["R6"], verdict.to_json()
    assert "also final or countersigned" in (verdict.items["R6"].detail or "")


def test_the_tools_show_the_election_and_commission_key_fingerprints(built: Built) -> None:
    """verify_receipt.py (R2) and verify.py (V1) name the two fingerprints of formats.md, the
    same strings the booth, the receipt page and /observe show."""
    from crypto.fingerprint import election_fingerprint, key_fingerprint
    from tests.verify_helpers import verify

    manifest = read_json(built.record / "manifest.json")["payload"]
    election_fp = election_fingerprint(manifest)
    key_fp = key_fingerprint(bytes.fromhex(manifest["commission"]["keys"][0]))
    detail = check(receipt_of(built, "AAA-E0001"), built.record).items["R2"].detail
    assert f"election fingerprint {election_fp}" in detail and key_fp in detail
    notes = verify(built.record)["V1"].notes
    assert any(election_fp in n and key_fp in n for n in notes), notes


def test_the_commission_key_is_pinned_by_its_fingerprint(built: Built, tmp_path: Path) -> None:
    """The envelope carries the fingerprint, not 64 hex digits: --commission-key takes either."""
    from crypto.fingerprint import key_fingerprint

    manifest = read_json(built.record / "manifest.json")["payload"]
    printed = key_fingerprint(bytes.fromhex(manifest["commission"]["keys"][0]))
    receipt = receipt_of(built, "AAA-E0001")
    for pin, ok in ((printed, True), ("a" * 4 + printed[4:], False)):
        verdict = verify_receipt.Verdict("pin")
        source = verify_receipt.RecordSource(built.record)
        verify_receipt.check_receipt(receipt, source, verdict, pin)
        assert verdict.ok is ok, verdict.to_json()
    assert "not the commission's election" in verdict.items["R2"].detail
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    args = [str(path), "--record", str(built.record), "--quiet", "--commission-key"]
    done = run_script("verify_receipt.py", *args, printed.upper().replace("-", " "))
    assert done.returncode == 0, done.stdout + done.stderr
    done = run_script("verify_receipt.py", *args, "not-a-key")
    assert done.returncode == 2 and "fingerprint (32 letters" in done.stderr, done.stderr


def test_an_honest_manifest_larger_than_64_mib_is_read_from_the_service() -> None:
    """Review of issue 24: the verifier takes a manifest up to 128 MiB (500,000 electors on the
    rolls, about 74 MiB), but the receipt checker refused any answer of the service over
    64 MiB, the manifest included: an elector of a large honest election could not check a
    receipt against the live service. A manifest is read up to the verifier's own limit; other
    answers keep the 64 MiB cap."""
    from schemas.limits import MAX_MANIFEST_BYTES
    from tests.follow_helpers import ThreadServer

    mib = 1024 * 1024
    body = b" " * (65 * mib) + b"{}"  # what matters is the length, not the content

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body if environ["PATH_INFO"] == "/api/v1/manifest" else b" " * (65 * mib)]

    server = ThreadServer(app)
    try:
        source = verify_receipt.ServiceSource(server.url)
        assert source.manifest() == {}
        with pytest.raises(verify_receipt.SourceError, match="larger than"):
            source._json("/api/v1/turnout")
    finally:
        server.stop()
    assert len(body) < MAX_MANIFEST_BYTES
