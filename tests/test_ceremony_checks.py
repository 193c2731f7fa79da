"""crypto.ceremony's checks held in place one by one (issue 24, "Tests that pin the checks").

Each test here fails if one check of V2 (or of the board's and the guardian's message checks)
is weakened as a mutant would weaken it: duplicate participants accepted, QUAL below k
accepted, a binding of the signed payload compared only when its type differs, a reveal's
public record not checked, a complaint loop that stops at the first dismissed or
already-upheld complaint, a transcript hash of a constant. ``scripts/check_mutants.py`` applies
those mutants and runs these tests (fast: no guardian directories, no board).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from crypto.canonical import hash_json
from crypto.ceremony import (
    HASHED_FIELDS,
    TAG_TRANSCRIPT,
    CeremonyError,
    Header,
    build_transcript,
    check_ceremony,
    check_message,
    commit_hash,
    commit_set_hash,
    derive_outcome,
    encrypt_share,
    qual_problem,
    share_aad,
    sign_message,
    transcript_hash,
)
from crypto.guardians import GuardianSecret
from crypto.sealing import x25519_generate, x25519_public
from crypto.signing import SigningKey

ELECTION = "checks-test"


class Run:
    """A whole attempt played at the crypto level; ``cheats`` = {dealer: victim}: the dealer
    sends its victim a wrong share and, when accused, reveals that wrong share."""

    def __init__(self, n: int = 3, k: int = 2, cheats: dict[int, int] | None = None) -> None:
        self.cheats = cheats or {}
        self.keys = [SigningKey.generate() for _ in range(n)]
        self.share_keys = [x25519_generate() for _ in range(n)]
        members = [
            {
                "index": i,
                "name": f"Guardian {i}",
                "identity_key": self.keys[i - 1].public.hex(),
                "share_key": x25519_public(self.share_keys[i - 1]).hex(),
            }
            for i in range(1, n + 1)
        ]
        self.header = Header(ELECTION, k, members, 1, list(range(1, n + 1)), None)
        self.secrets = {i: GuardianSecret.generate(i, k) for i in range(1, n + 1)}
        self.records = {i: s.public_record(self.header.context) for i, s in self.secrets.items()}
        self.messages: dict[str, dict[int, dict[str, Any]]] = {}
        self.board: dict[str, dict[int, dict[str, Any]]] = {}
        self._post("commit", {i: {"hash": commit_hash(r)} for i, r in self.records.items()})
        seen = commit_set_hash(self.board["commit"])
        self._post(
            "reveal",
            {i: {"record": r, "commitments": seen} for i, r in self.records.items()},
        )
        self._post("shares", {i: {"shares": self._boxes(i)} for i in self.records})
        self._post(
            "complaints",
            {
                j: {"against": sorted(d for d, v in self.cheats.items() if v == j)}
                for j in self.records
            },
        )
        self._post(
            "answers",
            {d: {"revealed": {str(v): self._share(d, v).hex()}} for d, v in self.cheats.items()},
        )
        transcript = build_transcript(self.header, self.messages, self.board)
        body = {f: transcript[f] for f in ("joint_key", "transcript_hash")}
        self._post("confirm", {i: body for i in transcript["qual"]})
        self.transcript = build_transcript(self.header, self.messages, self.board)

    def _share(self, dealer: int, recipient: int) -> Any:
        share = self.secrets[dealer].share_for(recipient)
        if self.cheats.get(dealer) == recipient:
            share = share + share
        return share

    def _boxes(self, dealer: int) -> dict[str, Any]:
        h = self.header
        return {
            str(j): encrypt_share(
                self._share(dealer, j),
                h.members[j - 1]["share_key"],
                share_aad(h.election_id, h.list_hash, h.attempt, dealer, j),
            )
            for j in h.participants
            if j != dealer
        }

    def sign(self, phase: str, guardian: int, body: dict[str, Any], **payload: Any) -> Any:
        h = self.header
        return sign_message(
            self.keys[guardian - 1],
            payload.get("election", h.election_id),
            payload.get("guardian_list", h.list_hash),
            payload.get("attempt", h.attempt),
            phase,
            guardian,
            body,
        )

    def _post(self, phase: str, bodies: dict[int, dict[str, Any]]) -> None:
        self.messages[phase] = {i: self.sign(phase, i, b) for i, b in bodies.items()}
        self.board[phase] = dict(bodies)


@pytest.fixture(scope="module")
def run() -> Run:
    return Run()


def test_an_honest_run_checks(run: Run) -> None:
    assert check_ceremony(run.transcript) is None


# -- _check_ceremony -----------------------------------------------------------------------


def test_duplicate_participants_are_refused(run: Run) -> None:
    """One guardian counted twice in QUAL would add its C_i0 twice to the joint key."""
    for participants in ([1, 1, 2, 3], [1, 2, 2], [2, 1, 3], [0, 1, 2], [1, 2, 4]):
        transcript = copy.deepcopy(run.transcript)
        transcript["participants"] = participants
        assert check_ceremony(transcript) == (
            "participants are not distinct guardian numbers in order"
        ), participants


def test_qual_smaller_than_k_is_refused() -> None:
    both = Run(n=3, k=2, cheats={1: 2, 2: 3})
    assert both.transcript["qual"] == [3]
    assert check_ceremony(both.transcript) == (
        "only 1 guardians qualified (QUAL [3]), fewer than k = 2"
    )
    one = Run(n=3, k=2, cheats={1: 2})
    assert one.transcript["qual"] == [2, 3] and check_ceremony(one.transcript) is None


def test_qual_bounds() -> None:
    assert qual_problem([1, 2], 2) is None
    assert qual_problem([1, 2, 3], 2) is None
    assert "fewer than k = 3" in str(qual_problem([1, 2], 3))
    assert "not more than half" in str(qual_problem([1, 2, 3, 4], 2))


# -- open_message: every binding, whatever its type --------------------------------------------


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        ({"election": "another-election"}, "another election"),
        ({"guardian_list": bytes(32)}, "another guardian list"),
        ({"attempt": 2}, "another attempt"),
    ],
)
def test_a_message_of_another_election_list_or_attempt_is_refused(
    run: Run, payload: dict[str, Any], says: str
) -> None:
    message = run.sign("commit", 1, {"hash": "00" * 32}, **payload)
    with pytest.raises(CeremonyError, match=says):
        run.header.read(message, "commit")


def test_a_message_of_another_phase_is_refused(run: Run) -> None:
    message = run.messages["commit"][1]
    with pytest.raises(CeremonyError, match="another phase"):
        run.header.read(message, "reveal")


# -- check_message: a reveal's public record ---------------------------------------------------


def _reveal_of(run: Run, record: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    commits = copy.deepcopy(run.board["commit"])
    commits[1] = {"hash": commit_hash(record)}
    body = {"record": record, "commitments": commit_set_hash(commits)}
    return run.sign("reveal", 1, body), {"commit": commits}


def test_a_reveal_with_too_few_commitments_is_refused(run: Run) -> None:
    short = GuardianSecret.generate(1, 1).public_record(run.header.context)
    message, board = _reveal_of(run, short)
    with pytest.raises(CeremonyError, match="expected 2 commitments"):
        check_message(run.header, "reveal", message, board)


def test_a_reveal_with_a_failing_proof_is_refused(run: Run) -> None:
    record = copy.deepcopy(run.records[1])
    record["proofs"][0], record["proofs"][1] = record["proofs"][1], record["proofs"][0]
    message, board = _reveal_of(run, record)
    with pytest.raises(CeremonyError, match="proof 0 fails"):
        check_message(run.header, "reveal", message, board)


def test_a_reveal_of_another_guardians_record_is_refused(run: Run) -> None:
    message, board = _reveal_of(run, copy.deepcopy(run.records[2]))
    with pytest.raises(CeremonyError, match="the record is guardian 2's"):
        check_message(run.header, "reveal", message, board)


def test_a_reveal_made_before_every_commitment_is_refused(run: Run) -> None:
    """The reveal signs the commitment set it saw: one made with guardian 3's commitment not
    yet in does not match the transcript's set (the board refuses it; so does V2)."""
    early = {i: c for i, c in run.board["commit"].items() if i != 3}
    body = {"record": run.records[1], "commitments": commit_set_hash(early)}
    message = run.sign("reveal", 1, body)
    with pytest.raises(CeremonyError, match="signs another set of commitments"):
        check_message(run.header, "reveal", message, {"commit": run.board["commit"]})
    with pytest.raises(CeremonyError, match="not every participant has committed"):
        check_message(run.header, "reveal", message, {"commit": early})
    transcript = copy.deepcopy(run.transcript)
    transcript["reveal"][0] = message
    assert "signs another set of commitments" in str(check_ceremony(transcript))


# -- derive_outcome: every complaint is weighed ------------------------------------------------


def test_a_dismissed_complaint_does_not_end_the_complainants_others(run: Run) -> None:
    records = run.records
    valid = run.secrets[2].share_for(1).hex()
    # guardian 1 complains about 2 (who answers with the right share) and 3 (silent)
    outcome = derive_outcome([1, 2, 3], records, {1: [2, 3]}, {2: {"1": valid}})
    assert [d["guardian"] for d in outcome.disqualified] == [3]
    assert outcome.qual == [1, 2]


def test_an_already_upheld_complaint_does_not_end_the_complainants_others(run: Run) -> None:
    # 1 is upheld by complainant 2; complainant 3 then accuses 1 (already upheld) and 2,
    # neither answers: 2 is disqualified too
    outcome = derive_outcome([1, 2, 3], run.records, {2: [1], 3: [1, 2]}, {})
    assert outcome.disqualified == [
        {"guardian": 1, "complainant": 2, "reason": "did not reveal the disputed share"},
        {"guardian": 2, "complainant": 3, "reason": "did not reveal the disputed share"},
    ]
    assert outcome.qual == [3]


def test_the_first_upheld_complaint_is_the_lowest_complainant(run: Run) -> None:
    wrong = (run.secrets[3].share_for(2) + run.secrets[3].share_for(2)).hex()
    outcome = derive_outcome([1, 2, 3], run.records, {2: [3], 1: [3]}, {3: {"2": wrong}})
    assert outcome.disqualified == [
        {"guardian": 3, "complainant": 1, "reason": "did not reveal the disputed share"}
    ]


# -- transcript_hash ---------------------------------------------------------------------------


def test_the_transcript_hash_covers_phases_0_to_d_and_nothing_else(run: Run) -> None:
    t = run.transcript
    assert transcript_hash(t) == hash_json(TAG_TRANSCRIPT, {f: t[f] for f in HASHED_FIELDS}).hex()
    for field in HASHED_FIELDS:
        changed = copy.deepcopy(t)
        changed[field] = "changed"
        assert transcript_hash(changed) != transcript_hash(t), field
    for field in ("confirm", "objections", "qual", "joint_key", "transcript_hash"):
        changed = copy.deepcopy(t)
        changed[field] = "changed"
        assert transcript_hash(changed) == transcript_hash(t), field
