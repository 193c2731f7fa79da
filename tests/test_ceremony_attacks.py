"""The key-ceremony attacks of issue 24 (3-8) and the witness list the guardians bind, each
played end to end against the board, the guardians' own program and the verifier's V2.

3. one guardian listed twice (in place of an honest one) would hold two shares = k;
4. n, k and the witnesses shown to the guardians differ from what they agreed on;
5. the board opens the reveal phase before every commitment is in;
6. the guardian's pinned list is edited on its disk;
7. the board withholds one dealer's shares at the complaints phase;
8. the guardian that stops on a mismatch is blamed as silent.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from crypto.ceremony import (
    ceremony_fingerprint,
    check_ceremony,
    commit_set_hash,
    list_hash,
    sign_message,
)
from crypto.cosignature import TYPE_ED25519, Cosigner
from crypto.witness_policy import manifest_section
from tally_service.guardian.ceremony import (
    CeremonyParty,
    CeremonyRefusal,
    read_fingerprints,
    run_over_http,
)
from tally_service.guardian.identity import GuardianDirError
from tally_service.service.ceremony_board import CeremonyBoard
from tally_service.service.setup import SetupError, seal
from tests.test_ceremony import Ceremony, _transcript


def _witnesses(count: int = 3, quorum: int = 3) -> dict[str, Any]:
    keys = [Cosigner.generate(f"w{i}.example/witness", TYPE_ED25519).public for i in range(count)]
    return manifest_section(quorum, 1, keys)


def _reshown(view: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The board's view as a hostile board shows it: ``changes`` applied, hashes recomputed."""
    shown = copy.deepcopy(view)
    shown.update(changes)
    shown["n"] = len(shown["guardians"])
    seen = list_hash(shown["election_id"], shown["k"], shown["guardians"], shown["witnesses"])
    shown["guardian_list"] = seen.hex()
    shown["ceremony_fingerprint"] = ceremony_fingerprint(seen)
    return shown


def _ask_from(c: Ceremony) -> Any:
    """A guardian typing in each listed guardian's fingerprint as it was given out of band."""
    by_key = {g.public["identity_key"]: g.public["fingerprint"] for g in c.dirs}

    def ask(member: dict[str, Any]) -> str:
        return by_key.get(member["identity_key"], "0" * 32)

    return ask


# -- 3. one guardian listed twice ------------------------------------------------------------


def test_a_guardian_listed_twice_is_refused_by_the_board(tmp_path: Path) -> None:
    # the operator edits the stored draft (init refuses such a draft) to give guardian 3's keys
    # to guardian 2 as well: 3 would hold two shares = k
    c = Ceremony(tmp_path, n=3, k=2)
    draft = json.loads(c.store.get_meta("draft") or "")
    draft["guardians"]["keys"][1] = draft["guardians"]["keys"][2]
    c.store.set_meta("draft", json.dumps(draft))
    with pytest.raises(Exception, match="same identity key"):
        CeremonyBoard(c.store, clock=c.clock, timeout=60)
    c.store.close()


def test_a_guardian_matches_fingerprints_by_name(tmp_path: Path) -> None:
    c = Ceremony(tmp_path, n=3, k=2)
    view = c.board().view()
    guardians = copy.deepcopy(view["guardians"])
    for field in ("identity_key", "share_key"):  # "Guardian 2" listed with guardian 3's keys
        guardians[1][field] = guardians[2][field]
    shown = _reshown(view, guardians=guardians)
    # even had guardian 1 been given this list's ceremony fingerprint (by the hostile guardian)
    party = CeremonyParty(c.dirs[0], c.fingerprints, shown["ceremony_fingerprint"])
    with pytest.raises(CeremonyRefusal, match=r"guardian 2 \(Guardian 2\)|same identity key"):
        party.step(shown)
    # keys swapped between two names: every key is somewhere in the file, but not under its name
    swapped = copy.deepcopy(view["guardians"])
    for field in ("identity_key", "share_key"):
        swapped[1][field], swapped[2][field] = swapped[2][field], swapped[1][field]
    shown = _reshown(view, guardians=swapped)
    party = CeremonyParty(c.dirs[0], c.fingerprints, shown["ceremony_fingerprint"])
    with pytest.raises(CeremonyRefusal, match=r"guardian 2 \(Guardian 2\) keys with fingerprint"):
        party.step(shown)
    # a list naming a guardian nobody agreed on (or leaving one out)
    renamed = copy.deepcopy(view["guardians"])
    renamed[2]["name"] = "Mallory"
    shown = _reshown(view, guardians=renamed)
    party = CeremonyParty(c.dirs[0], c.fingerprints, shown["ceremony_fingerprint"])
    with pytest.raises(CeremonyRefusal, match="not agreed: Mallory"):
        party.step(shown)
    c.store.close()


def test_the_fingerprints_file_is_read_by_name() -> None:
    text = "# agreed at the meeting\nAlice: ab12 " + "0" * 28 + "\nBob : " + "1" * 32 + "\n"
    assert read_fingerprints(text) == {"Alice": "ab12" + "0" * 28, "Bob": "1" * 32}
    with pytest.raises(ValueError, match="line 1: give 'name: fingerprint'"):
        read_fingerprints("0" * 32 + "\n")
    with pytest.raises(ValueError, match="'Alice' is listed twice"):
        read_fingerprints(f"Alice: {'0' * 32}\nAlice: {'1' * 32}\n")
    with pytest.raises(ValueError, match="line 1"):
        read_fingerprints("Alice: 0123\n")


def test_v2_refuses_a_guardian_listed_twice(tmp_path: Path) -> None:
    c = Ceremony(tmp_path, n=3, k=2)
    c.run(c.board())
    transcript = _transcript(c)
    assert check_ceremony(transcript) is None
    for field in ("identity_key", "share_key"):
        transcript["guardians"][1][field] = transcript["guardians"][2][field]
    reason = check_ceremony(transcript)
    assert reason is not None and "guardians 2 and 3 have the same identity key" in reason
    transcript = _transcript(c)
    transcript["guardians"][1]["name"] = transcript["guardians"][0]["name"]
    reason = check_ceremony(transcript)
    assert reason is not None and "guardians 1 and 2 have the same name" in reason
    c.store.close()


# -- 4. n, k and the witnesses pinned by the ceremony fingerprint ----------------------------


def test_n_and_k_are_pinned_by_the_ceremony_fingerprint(tmp_path: Path) -> None:
    """Guardians agreed on 3 of 5; the board shows three of them with k = 2. Each listed
    guardian's keys are right, so only the ceremony fingerprint can tell."""
    c = Ceremony(tmp_path, n=5, k=3)
    view = c.board().view()
    shown = _reshown(view, guardians=view["guardians"][:3], k=2, participants=[1, 2, 3])
    party = CeremonyParty(c.dirs[0], _ask_from(c), c.agreed)
    with pytest.raises(CeremonyRefusal, match=r"n = 3, k = 2.*ceremony fingerprint"):
        party.step(shown)
    assert party.step(view)  # the ceremony agreed on goes ahead
    c.store.close()


def test_the_witnesses_are_pinned_by_the_ceremony_fingerprint(tmp_path: Path) -> None:
    c = Ceremony(tmp_path, n=3, k=2, witnesses=_witnesses())
    view = c.board().view()
    assert view["witnesses"] == c.draft["witnesses"]
    theirs = _witnesses()  # witnesses the commission runs itself
    shown = _reshown(view, witnesses=theirs)
    party = CeremonyParty(c.dirs[0], c.fingerprints, c.agreed)
    with pytest.raises(CeremonyRefusal, match="ceremony fingerprint"):
        party.step(shown)
    shown = _reshown(view, witnesses=None)  # or none at all
    with pytest.raises(CeremonyRefusal, match="ceremony fingerprint"):
        party.step(shown)
    c.store.close()


def test_the_manifest_cannot_swap_the_witnesses_the_guardians_confirmed(tmp_path: Path) -> None:
    c = Ceremony(tmp_path, n=3, k=2, witnesses=_witnesses())
    c.run(c.board())
    transcript = _transcript(c)
    assert transcript["witnesses"] == c.draft["witnesses"]
    assert all(p.confirmed and p.confirmed["ceremony_fingerprint"] == c.agreed for p in c.parties)
    draft = json.loads(c.store.get_meta("draft") or "")
    draft["witnesses"] = _witnesses()
    c.store.set_meta("draft", json.dumps(draft))
    c.store.close()
    with pytest.raises(SetupError, match="witnesses are not the ones the guardians confirmed"):
        seal(c.data)
    # the transcript's witnesses are in L, which every signed message binds
    transcript["witnesses"] = draft["witnesses"]
    assert check_ceremony(transcript) == "guardian 1's commit message is for another guardian list"


# -- 5. reveal before everyone committed -----------------------------------------------------


def test_a_guardian_reveals_only_after_every_commitment(ceremony: Ceremony) -> None:
    board = ceremony.board()
    ceremony.round(board, ceremony.parties[:4])  # guardian 5 holds back its commitment
    view = board.view()
    assert view["phase"] == "commit" and len(view["messages"]["commit"]) == 4
    shown = copy.deepcopy(view)
    shown["phase"] = "reveal"  # the board lets the others reveal first
    with pytest.raises(CeremonyRefusal, match="before every participant committed"):
        ceremony.parties[0].step(shown)


def test_v2_checks_each_reveal_came_after_every_commitment(ceremony: Ceremony) -> None:
    ceremony.run(ceremony.board())
    transcript = _transcript(ceremony)
    # guardian 1's reveal as it would be had it revealed seeing only four commitments
    commits = {m["payload"]["guardian"]: m["payload"]["body"] for m in transcript["commit"]}
    del commits[5]
    first = transcript["reveal"][0]["payload"]
    transcript["reveal"][0] = sign_message(
        ceremony.dirs[0].identity,
        first["election"],
        bytes.fromhex(first["guardian_list"]),
        first["attempt"],
        "reveal",
        1,
        {"record": first["body"]["record"], "commitments": commit_set_hash(commits)},
    )
    reason = check_ceremony(transcript)
    assert reason is not None and "signs another set of commitments" in reason


# -- 6. the pinned list ----------------------------------------------------------------------


def test_the_pinned_list_is_sealed(tmp_path: Path) -> None:
    c = Ceremony(tmp_path, n=3, k=2)
    board = c.board()
    view = board.view()
    party = CeremonyParty(c.dirs[0], _ask_from(c), c.agreed)
    party.step(view)  # phase 0 passed: the list is pinned
    base = c.dirs[0].path / "ceremony" / "ceremony-test"
    # an intruder on the guardian's machine (no passphrase) writes the pin of another list
    guardians = copy.deepcopy(view["guardians"])
    for field in ("identity_key", "share_key"):
        guardians[1][field] = guardians[2][field]
    shown = _reshown(view, guardians=guardians)
    (base / "list.json").write_text(
        json.dumps(
            {
                "election_id": "ceremony-test",
                "k": 2,
                "guardian_list": shown["guardian_list"],
                "guardians": guardians,
            }
        )
    )
    with pytest.raises(CeremonyRefusal):
        CeremonyParty(c.dirs[0], _ask_from(c), shown["ceremony_fingerprint"]).step(shown)
    pinned = base / "list.sealed"
    data = bytearray(pinned.read_bytes())
    data[-1] ^= 1
    pinned.write_bytes(bytes(data))
    with pytest.raises(GuardianDirError, match="does not open"):
        party.step(view)
    c.store.close()


# -- 7. a dealer's shares withheld at the complaints phase -----------------------------------


def test_withheld_shares_at_complaints_stop_the_guardian_clearly(ceremony: Ceremony) -> None:
    board = ceremony.board()
    for _ in range(3):  # commit, reveal, shares
        ceremony.round(board)
    view = board.view()
    assert view["phase"] == "complaints"
    shown = copy.deepcopy(view)
    shown["messages"]["shares"] = [
        m for m in shown["messages"]["shares"] if m["payload"]["guardian"] != 4
    ]
    with pytest.raises(CeremonyRefusal, match="without guardian 4's shares"):
        ceremony.parties[0].step(shown)
    # nothing was sealed from the withheld view: shown everything, it goes on to the end
    ceremony.run(board)
    assert check_ceremony(_transcript(ceremony)) is None


# -- 8. the guardian that raises the alarm ---------------------------------------------------


def test_an_objecting_guardian_is_named_with_its_objection_not_blamed(
    ceremony: Ceremony,
) -> None:
    board = ceremony.board()
    # guardian 3 was given another fingerprint for Guardian 1 (or the list swapped its keys)
    told = dict(ceremony.fingerprints, **{"Guardian 1": "f" * 32})
    objector = CeremonyParty(ceremony.dirs[2], told, ceremony.agreed)
    said: list[str] = []
    with pytest.raises(CeremonyRefusal, match=r"Guardian 1.*objection is on the board"):
        run_over_http(objector, board.view, board.post, said.append, poll_seconds=0)
    view = board.view()
    assert [o["payload"]["guardian"] for o in view["objections"]] == [3]
    assert "Guardian 1" in view["objections"][0]["payload"]["body"]["reason"]
    # the others see it
    others = [p for i, p in enumerate(ceremony.parties) if i != 2]
    heard: list[str] = []
    with pytest.raises(CeremonyRefusal, match="failed"):
        ceremony.round(board, others)
        ceremony.clock.now += 61
        run_over_http(others[0], board.view, board.post, heard.append, poll_seconds=0)
    assert any("OBJECTION by guardian 3" in line for line in heard)
    failure = board.view()["failure"]
    assert "guardian 3 (Guardian 3) stopped and objected" in failure
    assert "Do not exclude a guardian for objecting" in failure and "--exclude" not in failure
    # the commission goes on without it anyway: the objection stays in the record, signed
    others = [p for i, p in enumerate(ceremony.restart()) if i != 2]  # run again, by hand
    ceremony.run(ceremony.board(exclude=[3]), others)
    transcript = _transcript(ceremony)
    assert check_ceremony(transcript) is None
    assert [o["payload"]["guardian"] for o in transcript["objections"]] == [3]
    transcript["objections"][0]["payload"]["body"]["reason"] = "I had no objection"
    reason = check_ceremony(transcript)
    assert reason is not None and "guardian 3's objection" in reason


def test_the_board_refuses_a_forged_objection(ceremony: Ceremony) -> None:
    board = ceremony.board()
    told = dict(ceremony.fingerprints, **{"Guardian 1": "f" * 32})
    with pytest.raises(CeremonyRefusal) as refused:
        CeremonyParty(ceremony.dirs[2], told, ceremony.agreed).step(board.view())
    objection = refused.value.objection
    assert objection is not None
    forged = copy.deepcopy(objection)
    forged["payload"]["guardian"] = 2  # guardian 3's objection passed off as guardian 2's
    with pytest.raises(Exception, match="objection"):
        board.post(forged)
    board.post(objection)
    board.post(objection)  # the same one again is kept once
    assert len(board.view()["objections"]) == 1


@pytest.fixture
def ceremony(tmp_path: Path) -> Any:
    c = Ceremony(tmp_path)
    yield c
    c.store.close()


def test_the_prompts_ask_once_per_run_not_at_every_poll(tmp_path: Path) -> None:
    c = Ceremony(tmp_path, n=3, k=2)
    board = c.board()
    asked: list[str] = []
    ask_key = _ask_from(c)

    def ask_fingerprint(member: dict[str, Any]) -> str:
        asked.append(member["name"])
        return str(ask_key(member))

    def ask_agreed(shown: Any) -> str:
        asked.append(f"F of n = {shown.n}")
        return c.agreed

    party = CeremonyParty(c.dirs[0], ask_fingerprint, ask_agreed)
    for message in party.step(board.view()):
        board.post(message)
    party.step(board.view())
    assert asked == ["Guardian 2", "Guardian 3", "F of n = 3"]
    c.store.close()
