"""The key ceremony between independent guardians (issue 17): board, parties, complaints, QUAL.

The guardians here are separate ``CeremonyParty`` objects, each with its own directory, talking
to a ``CeremonyBoard`` only through its view and its post method (the HTTP endpoints are thin
shells over both; the demo and tests/test_guardian_processes.py run them as real processes).
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from crypto.ceremony import (
    Header,
    check_ceremony,
    commit_hash,
    commit_set_hash,
    encrypt_share,
    manifest_fingerprint,
    qual_problem,
    share_aad,
    sign_message,
)
from crypto.decryption import combine, decrypt_counts, partial_decrypt, partial_shares
from crypto.elgamal import Ciphertext
from crypto.group import Point, Scalar, base_mul
from crypto.guardians import GuardianSecret
from crypto.sealing import SealingError, derive_key, open_sealed
from crypto.signing import SigningKey
from schemas.ceremony import BoardViewSchema, CeremonyTranscriptSchema, GuardianPublicSchema
from tally_service.common.problems import Problem
from tally_service.guardian.ceremony import CeremonyParty, CeremonyRefusal, read_key_share
from tally_service.guardian.identity import GuardianDir, GuardianDirError
from tally_service.service.ceremony_board import CeremonyBoard, create_board_app
from tally_service.service.setup import draft_manifest, init_election, seal
from tally_service.service.store import Store

PASSPHRASE = b"correct horse battery staple"
FAST_KDF = 2**10  # the tests' guardians use a cheap scrypt; guardian init uses 2**15


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Ceremony:
    """n guardians with their own directories, a draft election listing them, its store."""

    def __init__(
        self,
        tmp: Path,
        n: int = 5,
        k: int = 3,
        witnesses: dict[str, Any] | None = None,
    ) -> None:
        """``witnesses``: the draft's witnesses section (default: none)."""
        self.tmp = tmp
        self.dirs = [
            GuardianDir.init(tmp / f"g{i}", PASSPHRASE, scrypt_n=FAST_KDF) for i in range(1, n + 1)
        ]
        self.fingerprints = {
            f"Guardian {i}": g.public["fingerprint"].replace(" ", "")
            for i, g in enumerate(self.dirs, start=1)
        }
        draft = draft_manifest(
            "ceremony-test",
            {"en": "Ceremony test", "ru": None, "kk": None},
            "2023-01-14",
            "tally.example/ceremony-test",
            [
                {
                    "code": "AAA",
                    "kind": "region",
                    "name": {"en": "A", "ru": None, "kk": None},
                    "candidates": [{"id": "AAA-C1", "name": "One"}],
                    "roll": [
                        {
                            "elector": "AAA-E1",
                            "name": "Elector",
                            "public_key": SigningKey.generate().public.hex(),
                        }
                    ],
                }
            ],
            [f"Guardian {i}" for i in range(1, n + 1)],
            k,
            guardian_keys=[
                {"identity_key": g.public["identity_key"], "share_key": g.public["share_key"]}
                for g in self.dirs
            ],
        )
        if witnesses is not None:
            draft["witnesses"] = witnesses
        self.data = tmp / "data"
        init_election(self.data, draft)
        self.draft = draft
        self.agreed = manifest_fingerprint(draft)  # what the guardians compare out of band
        self.store = Store(self.data / "election.db")
        self.clock = Clock()
        self.parties = [CeremonyParty(g, self.fingerprints, self.agreed) for g in self.dirs]

    def restart(self) -> list[CeremonyParty]:
        """Every guardian runs its program again (one run takes part in one attempt)."""
        self.parties = [CeremonyParty(g, self.fingerprints, self.agreed) for g in self.dirs]
        return self.parties

    def board(self, **kwargs: Any) -> CeremonyBoard:
        return CeremonyBoard(self.store, clock=self.clock, timeout=60, **kwargs)

    def round(self, board: CeremonyBoard, parties: list[CeremonyParty] | None = None) -> None:
        for party in parties if parties is not None else self.parties:
            for message in party.step(board.view()):
                board.post(message)

    def run(self, board: CeremonyBoard, parties: list[CeremonyParty] | None = None) -> None:
        chosen = parties if parties is not None else self.parties
        for _ in range(20):
            self.round(board, chosen)
            if all(p.done for p in chosen):
                return
        raise AssertionError(f"the ceremony did not end: {board.view()['phase']}")


@pytest.fixture
def ceremony(tmp_path: Path) -> Ceremony:
    c = Ceremony(tmp_path)
    yield c
    c.store.close()


def _transcript(c: Ceremony) -> dict[str, Any]:
    text = c.store.get_meta("ceremony")
    assert text is not None
    transcript: dict[str, Any] = json.loads(text)
    return transcript


def _decrypts(c: Ceremony, guardians: list[int]) -> list[int]:
    """Decrypt an encryption of 1 with these guardians' key shares (k = 3)."""
    key = Point.from_hex(_transcript(c)["joint_key"])
    r = Scalar.random()
    cts = [Ciphertext(base_mul(r), base_mul(Scalar.one()) + key * r)]
    shares = {}
    for j in guardians:
        _, secret = read_key_share(c.dirs[j - 1], "ceremony-test")
        shares[j] = partial_shares(partial_decrypt(secret, j, cts, b"ctx"))
    return decrypt_counts(shares, cts, 3, 5)


def test_five_guardians_threshold_three(ceremony: Ceremony) -> None:
    board = ceremony.board()
    ceremony.run(board)
    transcript = _transcript(ceremony)
    assert check_ceremony(transcript) is None
    assert CeremonyTranscriptSchema().validate(transcript) == {}
    assert BoardViewSchema().validate(board.view()) == {}
    assert GuardianPublicSchema().validate(ceremony.dirs[0].public) == {}
    assert transcript["qual"] == [1, 2, 3, 4, 5] and transcript["disqualified"] == []
    assert len(transcript["confirm"]) == 5
    for party in ceremony.parties:
        assert party.confirmed is not None
        assert party.confirmed["transcript_hash"] == transcript["transcript_hash"]
        assert party.confirmed["joint_key"] == transcript["joint_key"]
    for subset in itertools.combinations(range(1, 6), 3):
        assert _decrypts(ceremony, list(subset)) == [1]
    # two guardians, even claiming k = 2, interpolate garbage
    key = Point.from_hex(transcript["joint_key"])
    cts = [Ciphertext(base_mul(Scalar.one()), base_mul(Scalar.one()) + key)]
    two = {}
    for j in (1, 2):
        _, secret = read_key_share(ceremony.dirs[j - 1], "ceremony-test")
        two[j] = partial_shares(partial_decrypt(secret, j, cts, b"ctx"))
    with pytest.raises(ValueError):
        decrypt_counts(two, cts, 3, 5)
    with pytest.raises(ValueError):
        decrypt_counts(two, cts, 2, 5)
    assert combine(two, cts, 2)[0] != base_mul(Scalar.one())
    # the commission seals with the ceremony's key and transcript hash
    ceremony.store.close()
    signed = seal(ceremony.data)
    assert signed["payload"]["election_key"] == transcript["joint_key"]
    assert signed["payload"]["ceremony_hash"] == transcript["transcript_hash"]
    ceremony.store = Store(ceremony.data / "election.db")


def test_the_commissions_directory_holds_no_share(ceremony: Ceremony) -> None:
    ceremony.run(ceremony.board())
    secrets = []
    for g in ceremony.dirs:
        _, share = read_key_share(g, "ceremony-test")
        secrets += [share.to_bytes(), share.hex().encode()]
    for path in ceremony.data.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(s in data for s in secrets), path
    assert not (ceremony.data / "guardians").exists()


class CheatingParty(CeremonyParty):
    """Sends guardian ``victim`` a wrong share, and reveals that wrong share when accused."""

    def __init__(self, base: CeremonyParty, victim: int, reveal_valid: bool = False) -> None:
        super().__init__(base.gdir, base.fingerprints, base.agreed)
        self.victim = victim
        self.bad = Scalar.random()
        self.reveal_valid = reveal_valid

    def step(self, view: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        header, me = self.header(view)
        try:
            messages = super().step(view)
        except CeremonyRefusal as exc:
            assert "you were disqualified" in str(exc)
            self.done = True
            return []
        for message in messages:
            phase = message["payload"]["phase"]
            body = copy.deepcopy(message["payload"]["body"])
            if phase == "shares":
                aad = share_aad(
                    header.election_id, header.list_hash, header.attempt, me, self.victim
                )
                key = header.members[self.victim - 1]["share_key"]
                body["shares"][str(self.victim)] = encrypt_share(self.bad, key, aad)
            if phase == "answers" and not self.reveal_valid:
                body["revealed"][str(self.victim)] = self.bad.hex()
            out.append(self._sign(header, me, phase, body))
        return out


def test_a_bad_share_disqualifies_its_dealer(ceremony: Ceremony) -> None:
    ceremony.parties[1] = CheatingParty(ceremony.parties[1], victim=3)
    ceremony.run(ceremony.board())
    transcript = _transcript(ceremony)
    assert check_ceremony(transcript) is None
    assert transcript["disqualified"] == [
        {
            "guardian": 2,
            "complainant": 3,
            "reason": "the revealed share does not match its commitments",
        }
    ]
    assert transcript["qual"] == [1, 3, 4, 5]
    complaint = next(m for m in transcript["complaints"] if m["payload"]["guardian"] == 3)
    assert complaint["payload"]["body"] == {"against": [2]}
    answer = transcript["answers"][0]["payload"]
    assert (
        answer["guardian"] == 2 and answer["body"]["revealed"]["3"] == ceremony.parties[1].bad.hex()
    )
    for subset in itertools.combinations([1, 3, 4, 5], 3):
        assert _decrypts(ceremony, list(subset)) == [1]
    # the record's transcript, changed to keep the cheater, no longer checks
    kept = {**transcript, "qual": [1, 2, 3, 4, 5], "disqualified": []}
    assert (
        check_ceremony(kept) == "disqualified is not what the reveals, complaints and answers give"
    )


def test_too_many_cheaters_fail_the_attempt(ceremony: Ceremony) -> None:
    for dealer, victim in ((0, 2), (1, 3), (3, 5)):
        ceremony.parties[dealer] = CheatingParty(ceremony.parties[dealer], victim=victim)
    board = ceremony.board()
    with pytest.raises(CeremonyRefusal, match="the board reports: attempt 1 failed"):
        for _ in range(6):
            ceremony.round(board)
    assert board.view()["failure"] == (
        "attempt 1 failed: only 2 guardians qualified (QUAL [3, 5]), fewer than k = 3"
    )
    assert ceremony.store.get_meta("ceremony") is None


def test_an_unfounded_complaint_is_dismissed(ceremony: Ceremony) -> None:
    """The dealer's share box was garbled but its public answer fits its commitments: it stays
    in QUAL and the complainant uses the revealed share."""
    ceremony.parties[1] = CheatingParty(ceremony.parties[1], victim=3, reveal_valid=True)
    ceremony.run(ceremony.board())
    transcript = _transcript(ceremony)
    assert check_ceremony(transcript) is None
    assert transcript["qual"] == [1, 2, 3, 4, 5] and len(transcript["answers"]) == 1
    assert _decrypts(ceremony, [2, 3, 5]) == [1]


def test_a_swapped_key_is_caught_in_phase_0(ceremony: Ceremony) -> None:
    """The service replaces guardian 2's keys in the list with keys of its own."""
    draft = json.loads(ceremony.store.get_meta("draft") or "")
    impostor = GuardianDir.init(ceremony.tmp / "impostor", PASSPHRASE, scrypt_n=FAST_KDF)
    draft["guardians"]["keys"][1] = {
        "identity_key": impostor.public["identity_key"],
        "share_key": impostor.public["share_key"],
    }
    ceremony.store.set_meta("draft", json.dumps(draft))
    board = ceremony.board()
    with pytest.raises(CeremonyRefusal, match=r"phase 0: .*guardian 2 \(Guardian 2\)"):
        ceremony.parties[0].step(board.view())
    # nothing was drawn or posted, and the swapped list was not pinned
    assert not (ceremony.dirs[0].path / "ceremony").exists() or not list(
        (ceremony.dirs[0].path / "ceremony").rglob("*.sealed")
    )
    assert board.view()["messages"]["commit"] == []


def test_a_list_changed_after_phase_0_is_refused(ceremony: Ceremony) -> None:
    board = ceremony.board()
    ceremony.round(board)
    draft = json.loads(ceremony.store.get_meta("draft") or "")
    draft["guardians"]["names"][4] = "Someone else"
    ceremony.store.set_meta("draft", json.dumps(draft))
    with pytest.raises(CeremonyRefusal, match="not the one you confirmed"):
        ceremony.parties[0].step(ceremony.board(new_attempt=False).view())


def test_a_reveal_that_does_not_match_the_commitment_is_refused(ceremony: Ceremony) -> None:
    board = ceremony.board()
    ceremony.round(board)  # everyone commits
    assert board.view()["phase"] == "reveal"
    view = board.view()
    header = Header(
        view["election_id"], 3, view["guardians"], 1, view["participants"], view["witnesses"]
    )
    other = GuardianSecret.generate(1, 3).public_record(header.context)
    seen = commit_set_hash(board._bodies()["commit"])
    message = sign_message(
        ceremony.dirs[0].identity,
        "ceremony-test",
        header.list_hash,
        1,
        "reveal",
        1,
        {"record": other, "commitments": seen},
    )
    with pytest.raises(Problem) as refused:
        board.post(message)
    assert refused.value.status == 422
    assert (
        "guardian 1's reveal does not match its phase-(a) commitment hash" in refused.value.detail
    )
    # signed by another guardian's key: refused too
    forged = sign_message(
        ceremony.dirs[1].identity,
        "ceremony-test",
        header.list_hash,
        1,
        "reveal",
        1,
        {"record": other, "commitments": seen},
    )
    with pytest.raises(Problem, match="signed by unknown key"):
        board.post(forged)
    # the honest reveal still goes through
    ceremony.run(board)
    assert check_ceremony(_transcript(ceremony)) is None


def test_a_silent_guardian_fails_the_attempt_and_a_new_one_starts_without_it(
    ceremony: Ceremony,
) -> None:
    board = ceremony.board()
    ceremony.round(board)
    ceremony.round(board, ceremony.parties[:4])  # guardian 5 goes silent in phase reveal
    assert board.view()["phase"] == "reveal"
    ceremony.clock.now += 61
    view = board.view()
    assert view["status"] == "failed"
    assert view["failure"] == (
        "attempt 1 failed: guardian 5 (Guardian 5) posted no reveal message within 60 s; start "
        "a new attempt without it (tally-service ceremony --exclude 5)"
    )
    with pytest.raises(CeremonyRefusal, match="guardian 5 \\(Guardian 5\\) posted no reveal"):
        ceremony.parties[0].step(view)
    board = ceremony.board(exclude=[5])
    assert board.view()["attempt"] == 2
    ceremony.run(board, ceremony.restart()[:4])
    transcript = _transcript(ceremony)
    assert check_ceremony(transcript) is None
    assert transcript["attempt"] == 2 and transcript["qual"] == [1, 2, 3, 4]
    assert _decrypts(ceremony, [1, 2, 4]) == [1]


def test_too_few_left_cannot_start(ceremony: Ceremony) -> None:
    with pytest.raises(ValueError, match="fewer than k = 3"):
        ceremony.board(exclude=[1, 2, 3])
    # init already refuses k <= n/2; the ceremony checks QUAL again after disqualifications
    assert "not more than half of the 6 qualified" in str(qual_problem([1, 2, 3, 4, 5, 6], 3))
    assert qual_problem([1, 2, 4, 5, 6], 3) is None


def test_a_killed_guardian_resumes_from_its_directory(ceremony: Ceremony) -> None:
    board = ceremony.board()
    # guardian 3 draws and seals its polynomial, then dies before its commitment is posted
    first = ceremony.parties[2].step(board.view())
    ceremony.round(board, [p for i, p in enumerate(ceremony.parties) if i != 2])
    reopened = GuardianDir.open(ceremony.dirs[2].path, PASSPHRASE)
    ceremony.parties[2] = CeremonyParty(reopened, ceremony.fingerprints, ceremony.agreed)
    again = ceremony.parties[2].step(board.view())
    assert again[0]["payload"]["body"] == first[0]["payload"]["body"]  # the same polynomial
    board.post(again[0])
    ceremony.round(board)  # reveals
    ceremony.round(board)  # shares
    # killed again after the shares: a fresh process carries on to the end
    ceremony.parties[2] = CeremonyParty(
        GuardianDir.open(ceremony.dirs[2].path, PASSPHRASE), ceremony.fingerprints, ceremony.agreed
    )
    ceremony.run(board)
    transcript = _transcript(ceremony)
    assert check_ceremony(transcript) is None and transcript["qual"] == [1, 2, 3, 4, 5]
    record = next(m for m in transcript["reveal"] if m["payload"]["guardian"] == 3)
    assert commit_hash(record["payload"]["body"]["record"]) == first[0]["payload"]["body"]["hash"]


def test_a_restarted_board_resumes_its_attempt(ceremony: Ceremony) -> None:
    board = ceremony.board()
    ceremony.round(board)
    ceremony.round(board)
    assert board.view()["phase"] == "shares"
    board = ceremony.board()  # the commission's process restarted
    assert board.view()["attempt"] == 1 and board.view()["phase"] == "shares"
    ceremony.run(board)
    assert check_ceremony(_transcript(ceremony)) is None


def test_shares_are_unreadable_without_the_passphrase(ceremony: Ceremony) -> None:
    ceremony.run(ceremony.board())
    g = ceremony.dirs[0]
    _, share = read_key_share(g, "ceremony-test")
    sealed_files = list(g.path.rglob("*.sealed"))
    assert {p.name for p in sealed_files} >= {
        "keys.sealed",
        "key-share.sealed",
        "polynomial.sealed",
    }
    for path in g.path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert share.to_bytes() not in data and share.hex().encode() not in data
    with pytest.raises(GuardianDirError, match="passphrase does not open"):
        GuardianDir.open(g.path, b"wrong passphrase")
    salt = bytes.fromhex(g.public["kdf"]["salt"])
    key_share = next(p for p in sealed_files if p.name == "key-share.sealed")
    relative = str(key_share.relative_to(g.path)).encode()
    with pytest.raises(SealingError):
        open_sealed(
            derive_key(b"wrong passphrase", salt, FAST_KDF), key_share.read_bytes(), relative
        )
    plain = json.loads(
        open_sealed(derive_key(PASSPHRASE, salt, FAST_KDF), key_share.read_bytes(), relative)
    )
    assert plain["secret_share"] == share.hex()


def test_the_board_answers_problems(ceremony: Ceremony) -> None:
    client = create_board_app(ceremony.board()).test_client()
    assert client.get("/api/v1/ceremony").status_code == 200
    for body, status in [(b"{", 400), (b'{"payload": {"phase": "commit"}}', 400), (b"[]", 400)]:
        r = client.post("/api/v1/ceremony/messages", data=body, content_type="application/json")
        assert r.status_code == status and r.mimetype == "application/problem+json", r.data
    assert client.get("/api/v1/nothing").mimetype == "application/problem+json"
    spec = client.get("/api/v1/openapi.json").get_json()
    assert set(spec["paths"]) == {"/api/v1/ceremony", "/api/v1/ceremony/messages"}


def test_the_guardians_program_does_not_import_the_service() -> None:
    """A guardian reads and runs its own program without the commission's: importing the
    guardian's commands loads neither the service core, its HTTP app, its store nor the board."""
    import subprocess
    import sys

    code = (
        "import sys, tally_service.guardian.cli, tally_service.guardian.decrypt, "
        "tally_service.guardian.watch; "
        "print(' '.join(m for m in sys.modules if m.startswith('tally_service')))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    service = {"election", "app", "store", "commission", "ceremony_board", "tally", "server"}
    assert "tally_service.guardian.cli" in loaded
    assert not [m for m in loaded if m.split(".")[-1] in service], loaded
