"""Issue 24, attack 2: a blinded guardian. The service holds the log and commission keys; it
answers 404 for a log's checkpoints to some guardians (or leaves the round out of ``/units``),
so their ``guardian watch`` remembers nothing of the round, then shows them a fork as the
"final" log: the victim's ballot dropped, or only the colluders' ballots and the victim's (half
the roll colluding, so the fork has quorum and its tally minus the colluders' votes is the
victim's vote). Before the fix both were decrypted by two blinded guardians and one colluder.

A guardian now refuses to decrypt a round it recorded no checkpoint of while the round was
open, and its watch raises an alarm (kept as evidence) when the service hides a round or a
checkpoint the sealed manifest says exists.
"""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crypto.decryption import decrypt_counts, decryption_context, partial_decrypt
from crypto.elgamal import Ciphertext
from crypto.group import Point
from scripts.builders import insecure
from scripts.builders.insecure import guardian_share_path, guardian_state_dir
from scripts.builders.sample import UnitSpec, build_election
from scripts.builders.simulate import SimulatedElection, uniform_choice
from tally_service.common.problems import Problem, not_found
from tally_service.guardian.checks import decrypt_as_guardian
from tally_service.guardian.state import GuardianRefusal, GuardianState
from tally_service.guardian.watch import watch_once
from tally_service.service import tally
from tally_service.service.config import Config
from tally_service.service.election import Election
from tests.guardian_helpers import LOG, AppClient, Forged, HostileClient, forge

ELECTORS = 12
K = 3


class Blinding(AppClient):
    """The service as the blinded guardians see it while the round is open: AAA round 1 has
    no checkpoint (404), as if it were not opened."""

    def get(self, path: str, **params: Any) -> Any:
        if path.startswith("/units/AAA/rounds/1/"):
            raise not_found("unknown-round", "round 1 of AAA was not opened")
        return super().get(path, **params)

    def get_text(self, path: str, **params: Any) -> str:
        if path.startswith("/units/AAA/rounds/1/"):
            raise not_found("unknown-round", "round 1 of AAA was not opened")
        return super().get_text(path, **params)


class Unlisting(AppClient):
    """The service leaves AAA's rounds out of ``/units``."""

    def get(self, path: str, **params: Any) -> Any:
        answer = super().get(path, **params)
        if path == "/units":
            for unit in answer["units"]:
                unit["rounds"] = [] if unit["code"] == "AAA" else unit["rounds"]
        return answer


@dataclass
class Watched:
    data: Path
    election: Election
    states: Path  # g<j>/ for each guardian, as their watches left them at the close
    reports: dict[int, list[Any]]

    def state(self, guardian: int, tmp: Path) -> GuardianState:
        dst = tmp / f"g{guardian}"
        shutil.copytree(self.states / f"g{guardian}", dst)
        return GuardianState(dst)

    def entries(self) -> list[bytes]:
        return list(self.election.store.iter_entries("AAA", 1))

    def forge(self, entries: list[bytes]) -> Forged:
        return forge(self.election, self.data, entries)


@pytest.fixture(scope="module")
def watched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watched]:
    """12 electors, 5 guardians, k = 3. Guardian 1 watches the honest service; guardians 2 and
    3 are blinded by 404s, guardian 4 by a ``/units`` without the round; guardian 5 colludes
    (its partial is made with no questions asked), and its state, used for the variant, saw
    the round open and was blinded from then on. Each polls on open, after every 4 ballots
    and after the close."""
    base = tmp_path_factory.mktemp("blinded")
    data = base / "data"
    keys = build_election(data, [UnitSpec("AAA", "A", 3, ELECTORS)], guardians=5, threshold=K)
    election = Election(data, Config(checkpoint_every=4))
    sim = SimulatedElection(data, keys)
    states = base / "states"
    for g in range(1, 6):
        shutil.copytree(guardian_state_dir(guardian_share_path(data, g)), states / f"g{g}")
    views = {1: AppClient, 2: Blinding, 3: Blinding, 4: Unlisting, 5: Blinding}
    reports: dict[int, list[Any]] = {g: [] for g in views}

    def poll() -> None:
        for g, view in views.items():
            if g == 5 and not reports[5]:
                view = AppClient  # guardian 5's watch sees the round open, then is blinded
            reports[g].append(watch_once(view(election), GuardianState(states / f"g{g}")))

    rng = random.Random(7)
    election.open_round("AAA", 1)
    poll()
    log = election.log("AAA", 1)
    while log.tree.size < ELECTORS:
        cast_round_part(election, sim, rng, 4)
        election.issue_checkpoint("AAA", 1)
        poll()
    election.close_round("AAA", 1)
    poll()
    try:
        yield Watched(data, election, states, reports)
    finally:
        election.stop()


def cast_round_part(election: Election, sim: SimulatedElection, rng: random.Random, n: int
                    ) -> None:
    """Cast the next ``n`` electors' ballots."""
    from tally_service.elector.ballot import make_ballot

    log = election.log("AAA", 1)
    roll = [e["elector"] for e in election.manifest.units["AAA"]["roll"]]
    for elector in roll[log.tree.size:log.tree.size + n]:
        ballot = make_ballot(election.manifest.hash, "AAA", 1, elector, log.candidates,
                             uniform_choice("AAA", 1, log.candidates, rng),
                             election.manifest.election_key, sim.keys[elector])
        election.cast(ballot)


def colluder_partial(w: Watched, fork: Forged) -> dict[str, Any]:
    """Guardian 5 colludes with the operator: its partial of the fork, no questions asked."""
    final = fork.doc["final_checkpoint"]
    context = decryption_context(bytes.fromhex(fork.doc["election"]), "AAA", 1, LOG,
                                 final["size"], bytes.fromhex(final["root"]))
    cts = [Ciphertext.from_json(c) for c in fork.doc["encrypted"]]
    return partial_decrypt(insecure.read_share(w.data, 5), 5, cts, context)


def attack(w: Watched, fork: Forged, tmp: Path) -> dict[int, Any]:
    """Ask the blinded guardians 2, 3 and 4 to decrypt the fork; what each answered."""
    answers: dict[int, Any] = {}
    for g in (2, 3, 4):
        try:
            answers[g] = decrypt_as_guardian(HostileClient(w.election, fork), fork.doc, g,
                                             insecure.read_share(w.data, g), w.state(g, tmp))
        except GuardianRefusal as exc:
            answers[g] = exc
    return answers


def assert_fork_stays_encrypted(w: Watched, fork: Forged, answers: dict[int, Any]) -> None:
    for g, answer in answers.items():
        assert isinstance(answer, GuardianRefusal), f"blinded guardian {g} decrypted the fork"
        assert "recorded no checkpoint" in str(answer) and "while it was open" in str(answer)
        assert "guardian watch" in str(answer)  # what to do
    partials = {g: a for g, a in answers.items() if isinstance(a, dict)}
    partials[5] = colluder_partial(w, fork)
    shares = {g: [Point.from_hex(h) for h in p["shares"]] for g, p in partials.items()}
    cts = [Ciphertext.from_json(c) for c in fork.doc["encrypted"]]
    with pytest.raises(ValueError):  # fewer than k partials: nothing is revealed
        decrypt_counts(shares, cts, K, len(fork.entries))


def test_blinded_guardians_refuse_a_fork_without_the_victims_ballot(
    watched: Watched, tmp_path: Path
) -> None:
    entries = watched.entries()
    victim = 3
    fork = watched.forge(entries[:victim] + entries[victim + 1:])  # 11 of 12: quorum
    assert_fork_stays_encrypted(watched, fork, attack(watched, fork, tmp_path))


def test_blinded_guardians_refuse_a_fork_of_the_colluders_and_the_victim(
    watched: Watched, tmp_path: Path
) -> None:
    entries = watched.entries()
    colluders, victim = entries[:6], entries[9]  # half the roll colludes: 7 of 12 is quorum
    fork = watched.forge([*colluders, victim])
    assert_fork_stays_encrypted(watched, fork, attack(watched, fork, tmp_path))


def test_the_guardian_that_watched_decrypts_the_honest_final(
    watched: Watched, tmp_path: Path
) -> None:
    state = watched.state(1, tmp_path)
    doc = tally.start_tally(watched.election, "AAA", 1)
    partial = decrypt_as_guardian(AppClient(watched.election), doc, 1,
                                  insecure.read_share(watched.data, 1), state)
    assert partial["guardian"] == 1
    fork = watched.forge(watched.entries()[:-1])
    with pytest.raises(GuardianRefusal, match="a second final checkpoint"):
        decrypt_as_guardian(HostileClient(watched.election, fork), fork.doc, 1,
                            insecure.read_share(watched.data, 1), state)
    with pytest.raises(GuardianRefusal, match="other than the final one this guardian watched"):
        decrypt_as_guardian(HostileClient(watched.election, fork), fork.doc, 1,
                            insecure.read_share(watched.data, 1), watched.state(1, tmp_path / "b"))


def test_a_blinded_watch_raises_an_alarm_with_evidence(watched: Watched) -> None:
    """Not silence: every poll of a blinded guardian says the round the manifest's unit runs
    is hidden, and the alarm is kept in its state."""
    assert all(r.alarms == [] and r.refusals == [] for r in watched.reports[1])
    for g, why in ((2, "404"), (3, "404"), (4, "does not list round 1")):
        for report in watched.reports[g]:
            assert report.alarms, f"guardian {g} was blinded in silence"
        # the same alarm is kept once, not once per poll
        kept = GuardianState(watched.states / f"g{g}").evidence()
        assert kept, f"guardian {g} kept no evidence of the alarm"
        reasons = [(p / "reason.txt").read_text() for p in kept]
        assert any(why in r for r in reasons), reasons
        assert len(kept) < len(watched.reports[g])


def test_a_round_the_watch_saw_and_then_lost_is_an_alarm(
    watched: Watched, tmp_path: Path
) -> None:
    """The honest watcher's state holds the round; a service that now answers 404 for it, or
    drops it from /units, is hiding a round that exists."""
    state = watched.state(1, tmp_path)
    for view in (Blinding, Unlisting):
        report = watch_once(view(watched.election), state)
        assert report.alarms and LOG in report.alarms[0], view
    assert len(state.evidence()) == 2


def test_an_unknown_unit_missing_from_units_is_an_alarm(watched: Watched, tmp_path: Path
                                                        ) -> None:
    class Dropping(AppClient):
        def get(self, path: str, **params: Any) -> Any:
            answer = super().get(path, **params)
            if path == "/units":
                answer["units"] = []
            return answer

    report = watch_once(Dropping(watched.election), watched.state(1, tmp_path))
    assert any("AAA" in a and "/units" in a for a in report.alarms), report.alarms


def test_a_service_error_is_an_alarm(watched: Watched, tmp_path: Path) -> None:
    class Failing(AppClient):
        def get_text(self, path: str, **params: Any) -> str:
            if path.startswith("/units/AAA/rounds/1/"):
                raise Problem(503, "unavailable", "try later")
            return super().get_text(path, **params)

    report = watch_once(Failing(watched.election), watched.state(1, tmp_path))
    assert report.alarms and "503" in report.alarms[0]


def test_guardian_watch_prints_alarms_and_checks_its_witness_options(
    watched: Watched, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tally_service import cli
    from tally_service.common import client

    view = Blinding(watched.election)

    class Fake:
        def __init__(self, url: str) -> None:
            assert url == "http://service.test"

        get, get_text = view.get, view.get_text

    monkeypatch.setattr(client, "ServiceClient", Fake)
    state = watched.state(1, tmp_path)
    argv = ["guardian", "watch", "--state", str(state.path), "--url", "http://service.test",
            "--once"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"tally-service: ALARM: {LOG}: the service gave no checkpoint" in err
    assert "Traceback" not in err
    for bad, said in (("w1.example", "give NAME=URL"),
                      ("nobody.example/witness=http://w.test", "lists no such witness")):
        assert cli.main([*argv, "--witness", bad]) == 1
        err = capsys.readouterr().err
        assert said in err and len(err.strip().splitlines()) == 1, err


def test_a_guardian_blinded_after_the_open_refuses_the_fork(
    watched: Watched, tmp_path: Path
) -> None:
    """The variant: the watch saw the round open (size 0), then only 404s until the close.
    Its state holds a checkpoint seen while open, which any fork extends; but it was blind
    when it last looked, so it refuses: the service could have forked from then on."""
    entries = watched.entries()
    fork = watched.forge([*entries[:6], entries[9]])
    state = watched.state(5, tmp_path)
    opened = state.open_seen(LOG)
    assert opened is not None and opened.size == 0
    with pytest.raises(GuardianRefusal, match="saw nothing of it") as refused:
        decrypt_as_guardian(HostileClient(watched.election, fork), fork.doc, 5,
                            insecure.read_share(watched.data, 5), state)
    assert "--witness" in str(refused.value)
    assert state.decrypted(LOG) is None


def test_a_blind_poll_followed_by_a_view_of_the_log_is_forgiven(
    watched: Watched, tmp_path: Path
) -> None:
    """A transient failure is not a lock-out: once the watch sees the log again before the
    close (here: the same newest checkpoint, shown again), the round can be decrypted."""
    from crypto.checkpoint import open_checkpoint

    fresh = watched.state(5, tmp_path)  # blind since the open
    note = watched.election.checkpoint_at(watched.election.log("AAA", 1), 0)
    cp = open_checkpoint(note, watched.election.manifest.log_verifiers["AAA"], LOG)
    assert not fresh.observe(cp, note, lambda a, b: [])  # size 0 again: the same, unchanged
    doc = tally.start_tally(watched.election, "AAA", 1)
    decrypt_as_guardian(AppClient(watched.election), doc, 5, insecure.read_share(watched.data, 5),
                        fresh)


class FailingManifest(AppClient):
    """The service as one guardian sees it from some point on: every answer of /manifest fails
    (HTTP 503), so the whole poll fails before it looks at any log."""

    def get(self, path: str, **params: Any) -> Any:
        if path == "/manifest":
            raise Problem(503, "unavailable", "the service is busy")
        return super().get(path, **params)


class NullRounds(AppClient):
    """``/units`` with a unit whose ``rounds`` is null: the poll failed with a TypeError before
    it looked at any log."""

    def get(self, path: str, **params: Any) -> Any:
        answer = super().get(path, **params)
        if path == "/units":
            for unit in answer["units"]:
                unit["rounds"] = None
        return answer


@pytest.mark.parametrize("view", [FailingManifest, NullRounds])
def test_a_watch_whose_polls_fail_is_blind_too(
    watched: Watched, tmp_path: Path, view: type[AppClient]
) -> None:
    """Review of issue 24, attack 2 (the variant): the watch saw the round open (size 0); from
    then on the service makes every poll fail as a whole (its /manifest fails, or its /units is
    malformed) instead of answering 404 for the round. The poll raised before any log was looked
    at, the CLI printed "trying again", and nothing was recorded: the state said the guardian
    saw the round open and was never blind, so it decrypted the fork (any fork extends size 0).
    A poll that fails as a whole now marks every open log it knows as blind, with an alarm; a
    malformed rounds list is read as no rounds (an alarm for the round the guardian saw)."""
    from crypto.checkpoint import open_checkpoint

    state = GuardianState(tmp_path / "g5")
    shutil.copytree(guardian_state_dir(guardian_share_path(watched.data, 5)), state.path,
                    dirs_exist_ok=True)
    opened = watched.election.checkpoint_at(watched.election.log("AAA", 1), 0)
    cp = open_checkpoint(opened, watched.election.manifest.log_verifiers["AAA"], LOG)
    assert state.observe(cp, opened, lambda a, b: [])  # the poll at the open saw size 0
    assert state.open_seen(LOG) is not None
    if view is FailingManifest:
        with pytest.raises(Problem):  # the CLI prints it and tries again
            watch_once(view(watched.election), state)
    else:  # a malformed rounds list is read as none: the round the guardian saw is unlisted
        report = watch_once(view(watched.election), state)
        assert any("does not list round 1 of AAA" in a for a in report.alarms), report.alarms
    entries = watched.entries()
    fork = watched.forge([*entries[:6], entries[9]])
    with pytest.raises(GuardianRefusal, match="saw nothing of it"):
        decrypt_as_guardian(HostileClient(watched.election, fork), fork.doc, 5,
                            insecure.read_share(watched.data, 5), state)
    assert state.decrypted(LOG) is None


class Garbling(AppClient):
    """The service shows AAA round 1's newest checkpoint with its log signature broken: the
    watch refuses it, and so sees nothing of the log."""

    def get_text(self, path: str, **params: Any) -> str:
        text = super().get_text(path, **params)
        if path == "/units/AAA/rounds/1/checkpoint":
            body, _, lines = text.partition("\n\n")
            name, _, sig = lines.split("\n")[0].rpartition(" ")
            flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
            return body + "\n\n" + name + " " + flipped + "\n"
        return text


def test_a_watch_shown_only_refused_checkpoints_is_blind_too(
    watched: Watched, tmp_path: Path
) -> None:
    """Review of issue 24, attack 2 (the variant): after the watch saw the round open (size
    0), the service answers every poll with a checkpoint that does not check (a broken log
    signature) instead of a 404. The watch reported a refusal and went on, but nothing marked
    the log blind, so the guardian decrypted the fork. A refused checkpoint is an alarm that
    leaves the log blind, like no checkpoint at all."""
    from crypto.checkpoint import open_checkpoint

    state = GuardianState(tmp_path / "g5")
    shutil.copytree(guardian_state_dir(guardian_share_path(watched.data, 5)), state.path,
                    dirs_exist_ok=True)
    opened = watched.election.checkpoint_at(watched.election.log("AAA", 1), 0)
    cp = open_checkpoint(opened, watched.election.manifest.log_verifiers["AAA"], LOG)
    assert state.observe(cp, opened, lambda a, b: [])  # the poll at the open saw size 0
    report = watch_once(Garbling(watched.election), state)
    assert report.refusals, "the broken checkpoint was accepted"
    entries = watched.entries()
    fork = watched.forge([*entries[:6], entries[9]])
    with pytest.raises(GuardianRefusal, match="saw nothing of it"):
        decrypt_as_guardian(HostileClient(watched.election, fork), fork.doc, 5,
                            insecure.read_share(watched.data, 5), state)
    assert state.decrypted(LOG) is None
