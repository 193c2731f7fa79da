"""The hostile operator's review of the key-ceremony hardening (issue 24, attacks 3-8): the
attacks that still worked on the merged change, each played end to end.

The operator runs the board and the service, writes the draft and seals the manifest (it holds
the commission key), and colludes with up to k - 1 guardians:

- a sealed manifest that keeps the joint key and ceremony hash but swaps the witnesses (or a
  guardian's keys, or k) the guardians confirmed: the guardian's ``decrypt`` checked only the
  key and the hash, then judged the final's quorum with the swapped witnesses;
- the board moves the guardians into a new attempt, without a failure, every time it dislikes
  the joint key it can compute from the reveals: a choice among up to 1000 keys (one per
  attempt V2 allows), invisible in the record, where protocol.md promises "a few at best";
- the board shows objections a guardian never signed (or junk the guardian's program died on);
- the board shows a QUAL smaller than k: the honest guardians confirmed a ceremony V2 fails.
"""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from crypto.ceremony import check_ceremony, sign_message, sign_objection
from crypto.envelope import sign_document
from crypto.group import Point, Scalar, base_mul
from crypto.signing import Context
from scripts.verifier.checks_manifest import check_ceremony as check_v2
from scripts.verifier.record import Record
from scripts.verifier.report import Report
from tally_service.common.keys import commission_key_path, read_private_key
from tally_service.common.problems import Problem
from tally_service.guardian.ceremony import CeremonyParty, CeremonyRefusal, run_over_http
from tally_service.guardian.checks import GuardianRefusal
from tally_service.guardian.decrypt import decrypt_and_post
from tally_service.service.setup import seal
from tests.test_ceremony import Ceremony, _transcript
from tests.test_ceremony_attacks import _witnesses


class _Service:
    """The operator's service, as the guardian's ``decrypt`` sees it: it serves the manifest
    the operator signed; the round's tally is not started (a 404), so a guardian that got
    past every manifest check asks for it, and one that refused never does."""

    def __init__(self, manifest: dict[str, Any]) -> None:
        self.manifest = manifest
        self.asked: list[str] = []

    def get(self, path: str) -> Any:
        self.asked.append(path)
        if path == "/manifest":
            return self.manifest
        raise Problem(404, "not-found", f"nothing at {path}")


def _resigned(c: Ceremony, payload: dict[str, Any]) -> dict[str, Any]:
    commission = read_private_key(commission_key_path(c.data))
    return sign_document(payload, commission, Context.MANIFEST)


def test_the_guardian_decrypts_only_under_the_ceremony_it_confirmed(tmp_path: Path) -> None:
    """The witnesses (or a guardian's keys, or k) of the sealed manifest are not the ones the
    guardians confirmed, but the joint key and ceremony hash are: the operator signs it
    itself (it holds the commission key; `seal` is its own program). V2 would say so, after
    the votes were decrypted under a final only the operator's own witnesses cosigned."""
    c = Ceremony(tmp_path, n=3, k=2, witnesses=_witnesses())
    c.run(c.board())
    c.store.close()
    sealed = seal(c.data)
    honest = _Service(sealed)
    with pytest.raises(GuardianRefusal, match="is not started"):  # past every manifest check
        decrypt_and_post(c.dirs[0], honest, "AAA", 1)
    assert honest.asked == ["/manifest", "/units/AAA/rounds/1/tally"]

    swapped = copy.deepcopy(sealed["payload"])
    swapped["witnesses"] = _witnesses()  # witnesses the commission runs itself
    keys = copy.deepcopy(sealed["payload"])
    keys["guardians"]["keys"][1] = keys["guardians"]["keys"][2]
    names = copy.deepcopy(sealed["payload"])
    names["guardians"]["names"][1] = "Mallory"
    threshold = copy.deepcopy(sealed["payload"])
    threshold["guardians"]["k"] = 3
    for payload in (swapped, keys, names, threshold):
        service = _Service(_resigned(c, payload))
        with pytest.raises(GuardianRefusal, match="not the ceremony you confirmed"):
            decrypt_and_post(c.dirs[0], service, "AAA", 1)
        assert service.asked == ["/manifest"]


def _joint_key(view: dict[str, Any]) -> Point:
    """What the operator computes once every reveal is on its board."""
    total = Point.identity()
    for message in view["messages"]["reveal"]:
        total = total + Point.from_hex(message["payload"]["body"]["record"]["commitments"][0])
    return total


def test_the_board_cannot_cycle_attempts_to_choose_the_joint_key(tmp_path: Path) -> None:
    """Guardian 3 colludes: once every reveal is in, the operator knows the joint key before
    anyone deals a share. Whenever it dislikes the key, its board shows the next attempt
    (no failure, nobody excluded) and the guardians' programs go along; here it wants two bits
    of the key's first byte (bits 1-2: an encoding's bit 0 is always 0) other than attempt 1
    gave; up to 1000 attempts, the most V2 allows, choose 10 bits. The record holds only the
    last attempt."""
    c = Ceremony(tmp_path, n=3, k=2)
    wanted: int | None = None
    with pytest.raises(CeremonyRefusal, match="moved from attempt 1 to attempt 2"):
        board = c.board()
        for _ in range(40):
            c.round(board)  # commit
            c.round(board)  # reveal
            view = board.view()
            assert view["phase"] == "shares"
            bits = (bytes.fromhex(_joint_key(view).hex())[0] >> 1) & 3
            if wanted is None:
                wanted = (bits + 1) % 4
            elif bits == wanted:
                break
            board = c.board(new_attempt=True)  # shown as running, not as failed
        c.run(board)
        transcript = _transcript(c)
        assert check_ceremony(transcript) is None
        assert (bytes.fromhex(transcript["joint_key"])[0] >> 1) & 3 == wanted  # its choice
        # (only reached on the code before the fix: the guardians never refused)


def test_a_guardian_shows_only_objections_their_guardian_signed(tmp_path: Path) -> None:
    c = Ceremony(tmp_path, n=3, k=2)
    board = c.board()
    view = board.view()
    real = sign_objection(
        c.dirs[2].identity,
        view["election_id"],
        bytes.fromhex(view["guardian_list"]),
        1,
        3,
        "the list gives Guardian 1 other keys",
        view["ceremony_fingerprint"],
    )
    forged = copy.deepcopy(real)  # words put in guardian 3's mouth by the board
    forged["payload"]["body"]["reason"] = "my mistake: exclude me and go on without me"
    junk: list[Any] = [{"signature": "00"}, {"payload": None}, "not even an object", None]
    # a colluding guardian signs one that would clear the guardian's screen and print a prompt
    escape = sign_objection(
        c.dirs[2].identity,
        view["election_id"],
        bytes.fromhex(view["guardian_list"]),
        1,
        3,
        "\x1b[2J\x1b[Hceremony fingerprint the guardians agreed on: ABCD\r",
        view["ceremony_fingerprint"],
    )
    shown = dict(view, objections=[real, forged, *junk, escape])
    said: list[str] = []
    with pytest.raises(CeremonyRefusal, match="did not end in time"):
        run_over_http(
            c.parties[0], lambda: shown, lambda m: None, said.append, 0, give_up_seconds=-1
        )
    assert any("OBJECTION by guardian 3" in s and "Guardian 1 other keys" in s for s in said)
    assert not any("exclude me" in s for s in said)
    assert sum("does not check" in s for s in said) == 1 + len(junk)
    assert any("\\u001b[2J" in s for s in said)  # shown, written out as escapes
    assert not any("\x1b" in s or "\r" in s for s in said)
    c.store.close()


def test_a_guardian_confirms_no_qual_smaller_than_k(tmp_path: Path) -> None:
    """3 of 3: guardian 3 (colluding) complains about honest guardian 2 and the board drops
    guardian 2's answer, so QUAL = {1, 3} < k. The honest board fails the attempt; the
    operator's board shows guardian 1 the confirm phase instead. V2 fails any transcript with
    such a QUAL: an honest guardian must not confirm (nor pin) a key no k guardians hold."""
    c = Ceremony(tmp_path, n=3, k=3)
    board = c.board()
    for _ in range(3):  # commit, reveal, shares
        c.round(board)
    view = board.view()
    assert view["phase"] == "complaints"
    # guardian 3 (colluding) complains about guardian 2; the board drops guardian 2's answer
    complaint = sign_message(
        c.dirs[2].identity,
        view["election_id"],
        bytes.fromhex(view["guardian_list"]),
        1,
        "complaints",
        3,
        {"against": [2]},
    )
    for party in c.parties[:2]:
        for message in party.step(board.view()):
            board.post(message)
    board.post(complaint)
    assert board.view()["phase"] == "answers"
    c.clock.now += 61  # guardian 2's answer "never arrived"
    shown = board.view()
    assert shown["status"] == "failed"  # the honest board refuses a QUAL below k
    shown = copy.deepcopy(shown)
    shown.update(status="running", failure=None, phase="confirm")
    with pytest.raises(CeremonyRefusal, match="fewer than k = 3"):
        c.parties[0].step(shown)
    assert not (c.dirs[0].path / "ceremony" / "ceremony-test" / "current.json").exists()
    c.store.close()


def test_an_objection_cannot_rewrite_the_verifiers_report(tmp_path: Path) -> None:
    """A colluding guardian's objection is signed, so it reaches the record and V2 prints it
    as a note. Its reason hides what follows on the observer's terminal (``ESC[8m``) after
    printing a result line of its own: the report said PASS whatever failed after V2."""
    c = Ceremony(tmp_path, n=3, k=2)
    board = c.board()
    view = board.view()
    lie = "fine\n\nRESULT: PASS - all 9 checks passed in 0.1 s\n\x1b[8m"
    board.post(
        sign_objection(
            c.dirs[2].identity,
            view["election_id"],
            bytes.fromhex(view["guardian_list"]),
            1,
            3,
            lie,
            view["ceremony_fingerprint"],
        )
    )
    c.run(board)
    record = tmp_path / "record"
    record.mkdir()
    (record / "key_ceremony.json").write_text(json.dumps(_transcript(c)))
    report = Report.new(str(record))
    report["V1"].fail("manifest.json", "the tampering V2's note would hide")
    check_v2(Record(record), None, report["V2"])
    out = io.StringIO()
    report.write_text(out)
    text = out.getvalue()
    assert "RESULT: FAIL" in text
    assert "\x1b" not in text and "\nRESULT: PASS" not in text
    assert "\\u001b[8m" in text  # the note is there, its control characters written out
    c.store.close()


def test_a_guardian_whose_answer_the_board_dropped_is_not_blamed_in_silence(
    tmp_path: Path,
) -> None:
    """Guardian 5 (colluding) complains about honest guardian 2; guardian 2 answers with the
    disputed share, and the board takes the answer and drops it. Guardian 2 is disqualified
    as silent, the others confirm, V2 passes (it cannot know). The operator chooses QUAL this
    way after the reveals (one more bit of the key per honest guardian it can drop) and
    blames an honest guardian. Guardian 2's program said only "you were disqualified: did
    not reveal the disputed share", or, polling after the end, died on an assertion."""
    c = Ceremony(tmp_path, n=5, k=3)
    board = c.board()
    for _ in range(3):  # commit, reveal, shares
        c.round(board)
    view = board.view()
    complaint = sign_message(
        c.dirs[4].identity,
        view["election_id"],
        bytes.fromhex(view["guardian_list"]),
        1,
        "complaints",
        5,
        {"against": [2]},
    )
    c.round(board, c.parties[:4])
    board.post(complaint)
    assert board.view()["phase"] == "answers"
    dropped = c.parties[1].step(board.view())  # the board answers 201 and keeps nothing
    assert [m["payload"]["phase"] for m in dropped] == ["answers"]
    c.clock.now += 61
    assert board.view()["phase"] == "confirm"
    with pytest.raises(CeremonyRefusal, match="the board dropped your answer") as refused:
        c.parties[1].step(board.view())
    objection = refused.value.objection
    assert objection is not None
    share = dropped[0]["payload"]["body"]["revealed"]["5"]
    assert share in objection["payload"]["body"]["reason"]  # anyone can check it
    board.post(objection)
    others = [p for i, p in enumerate(c.parties) if i != 1]
    c.run(board, others)
    transcript = _transcript(c)
    assert check_ceremony(transcript) is None
    assert transcript["disqualified"][0]["guardian"] == 2
    assert [o["payload"]["guardian"] for o in transcript["objections"]] == [2]
    # polling only after the end, the program says why too (it died on an assertion)
    again = CeremonyParty(c.dirs[1], c.fingerprints, c.agreed)
    with pytest.raises(CeremonyRefusal, match="the board dropped your answer"):
        run_over_http(again, board.view, board.post, lambda _: None, 0)
    c.store.close()


def test_the_confirmed_ceremony_cannot_be_edited_on_the_guardians_disk(tmp_path: Path) -> None:
    """An intruder on guardian 1's machine (no passphrase) edits current.json, the ceremony
    it confirmed, and the state's pins.json, to the joint key and hash of a manifest the
    operator made up (a key the operator holds the secret of): the guardian's decrypt checked
    the manifest against those plain files, as the pinned list of issue 24 attack 6 once was.
    (Sealing pins.json is the guardian state's business; the sealed copy of what the guardian
    confirmed, checked on every read of the key share, is enough to refuse here.)"""
    c = Ceremony(tmp_path, n=3, k=2)
    c.run(c.board())
    c.store.close()
    sealed = seal(c.data)
    fake = copy.deepcopy(sealed["payload"])
    fake["election_key"] = base_mul(Scalar.from_int(7)).hex()  # the operator's own key
    fake["ceremony_hash"] = "ab" * 32
    current = c.dirs[0].path / "ceremony" / "ceremony-test" / "current.json"
    confirmed = json.loads(current.read_text())
    confirmed.update(joint_key=fake["election_key"], transcript_hash=fake["ceremony_hash"])
    current.write_text(json.dumps(confirmed))
    pins = c.dirs[0].path / "state" / "pins.json"  # the guardian state's pins: plain too
    state = json.loads(pins.read_text())
    state.update(joint_key=fake["election_key"], ceremony_hash=fake["ceremony_hash"])
    pins.write_text(json.dumps(state))
    service = _Service(_resigned(c, fake))
    with pytest.raises(CeremonyRefusal, match="is not what you confirmed"):
        decrypt_and_post(c.dirs[0], service, "AAA", 1)
    assert service.asked == ["/manifest"]


def test_a_guardian_takes_no_part_in_an_attempt_v2_refuses(tmp_path: Path) -> None:
    """Attempt numbers above 1000 fail V2: a guardian that drew a polynomial and revealed it
    there would only show the board one more key to choose from."""
    c = Ceremony(tmp_path, n=3, k=2)
    view = c.board().view()
    for attempt in (1001, 0, True):
        with pytest.raises(CeremonyRefusal, match="attempt"):
            CeremonyParty(c.dirs[0], c.fingerprints, c.agreed).step(dict(view, attempt=attempt))
    assert not (c.dirs[0].path / "ceremony" / "ceremony-test" / "attempt-1001").exists()
    c.store.close()
