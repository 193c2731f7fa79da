"""Issue 13.1-13.2: a hostile service cannot get guardians to decrypt a fork, a prefix or a
reordering of a closed log; the guardian state remembers what it saw and what it decrypted.

The service here is hostile: it holds the log key and the commission key (read from the data
directory, as an operator could) and shows each guardian whatever "closed" log it likes.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from crypto.ballot import ballot_ciphertexts
from crypto.checkpoint import Checkpoint, profile_extensions, sign_checkpoint
from crypto.decryption import decrypt_counts
from crypto.elgamal import Ciphertext
from crypto.group import Point
from crypto.merkle import MerkleTree, leaf_hash
from crypto.note import add_signatures
from crypto.signing import SigningKey
from tally_service import tally
from tally_service.app import create_app
from tally_service.config import Config
from tally_service.election import Election
from tally_service.guardian import check_tally_inputs, decrypt_as_guardian
from tally_service.guardian_state import GuardianRefusal, GuardianState
from tally_service.guardian_watch import watch_once
from tally_service.keys import guardian_share_path, guardian_state_dir
from tally_service.sample import UnitSpec, build_election
from tally_service.setup import SetupError, draft_manifest, init_election
from tally_service.simulate import SimulatedElection, cast_round, uniform_choice

ORIGIN = "tally.example/test-election"
LOG = f"{ORIGIN}/AAA/1"


class AppClient:
    """The honest service, through Flask's test client (what ServiceClient does over HTTP)."""

    def __init__(self, election: Election) -> None:
        self.http = create_app(election).test_client()

    def get(self, path: str, **params: Any) -> Any:
        answer = self.http.get("/api/v1" + path, query_string=params)
        assert answer.status_code == 200, answer.get_data(as_text=True)
        return answer.get_json()

    def get_text(self, path: str, **params: Any) -> str:
        answer = self.http.get("/api/v1" + path, query_string=params)
        assert answer.status_code == 200
        return answer.get_data(as_text=True)


@dataclass
class Forged:
    """A "closed" log the hostile service shows: its entries and final checkpoint."""

    entries: list[bytes]
    note: str
    doc: dict[str, Any]


class HostileClient(AppClient):
    """Serves the real manifest, but another log for AAA round 1."""

    def __init__(self, election: Election, forged: Forged) -> None:
        super().__init__(election)
        self.forged = forged

    def get(self, path: str, **params: Any) -> Any:
        if path == "/units/AAA/rounds/1/checkpoints":
            return {"checkpoints": [{"size": len(self.forged.entries), "final": True,
                                     "note": self.forged.note, "issued_at": "x"}]}
        if path == "/units/AAA/rounds/1/entries":
            start = int(params.get("start", 0))
            return {"entries": [json.loads(e) for e in self.forged.entries[start:start + 50]]}
        return super().get(path, **params)


@dataclass
class Closed:
    data: Path
    election: Election
    sim: SimulatedElection

    def key(self, name: str) -> SigningKey:
        return SigningKey.from_pem((self.data / "keys" / f"{name}.pem").read_bytes())

    def entries(self) -> list[bytes]:
        return list(self.election.store.iter_entries("AAA", 1))

    def forge(self, entries: list[bytes]) -> Forged:
        """A final checkpoint over ``entries``, signed with the real log and commission keys,
        and the tally document of that log, as the hostile service would present them."""
        tree = MerkleTree(leaf_hash(e) for e in entries)
        cp = Checkpoint(LOG, tree.size, tree.root(), profile_extensions("2023-01-14T09:00:00Z",
                                                                       True))
        note = sign_checkpoint(cp, [(f"{ORIGIN}/AAA", self.key("log-AAA"))])
        note = add_signatures(note, [(f"{ORIGIN}/commission", self.key("commission"))])
        sums = [Ciphertext.zero() for _ in range(3)]
        for e in entries:
            sums = [s + c for s, c in zip(sums, ballot_ciphertexts(json.loads(e)), strict=True)]
        doc = dict(tally.start_tally(self.election, "AAA", 1))
        doc.update(
            final_checkpoint={"size": cp.size, "root": cp.root.hex()},
            took_part=cp.size,
            encrypted=[s.to_json() for s in sums],
        )
        return Forged(entries, note, doc)

    def state(self, guardian: int, tmp: Path) -> GuardianState:
        """A fresh copy of guardian ``guardian``'s state (pins from the key ceremony only)."""
        import shutil

        src = guardian_state_dir(guardian_share_path(self.data, guardian))
        dst = tmp / f"g{guardian}"
        shutil.copytree(src, dst)
        return GuardianState(dst)

    def share(self, guardian: int) -> Any:
        return tally.read_share(self.data, guardian)


@pytest.fixture(scope="module")
def closed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Closed]:
    """One unit, 12 electors, 5 guardians with threshold 3; round 1 cast and closed, watched by
    nobody yet, not tallied."""
    data = tmp_path_factory.mktemp("gstate") / "data"
    keys = build_election(data, [UnitSpec("AAA", "A", 3, 12)], guardians=5, threshold=3)
    election = Election(data, Config(checkpoint_every=4))
    sim = SimulatedElection(data, keys)
    election.open_round("AAA", 1)
    cast_round(election, sim, "AAA", 1, 1.0, uniform_choice, random.Random(5))
    election.close_round("AAA", 1)
    try:
        yield Closed(data, election, sim)
    finally:
        election.stop()


def _honest_doc(c: Closed) -> dict[str, Any]:
    return tally.start_tally(c.election, "AAA", 1)


def test_honest_final_is_decrypted_and_remembered(closed: Closed, tmp_path: Path) -> None:
    state = closed.state(1, tmp_path)
    doc = _honest_doc(closed)
    partial = decrypt_as_guardian(AppClient(closed.election), doc, 1, closed.share(1), state)
    assert partial["guardian"] == 1
    done = state.decrypted(LOG)
    assert done is not None and done.size == 12
    assert state.pins()["manifest_hash"] == doc["election"]
    # asked again for the same final (a retry): fine
    decrypt_as_guardian(AppClient(closed.election), doc, 1, closed.share(1), state)


def test_fork_holding_one_ballot_is_refused_by_a_guardian_that_watched(
    closed: Closed, tmp_path: Path
) -> None:
    """The audit's attack: a second "closed" log of genuine ballots chosen by the service (the
    victim's and just enough others for a quorum), its final signed by the log key and
    countersigned by the commission key."""
    entries = closed.entries()
    fork = closed.forge([entries[4], *entries[6:12]])
    manifest = closed.election.manifest.signed
    # every per-log check passes: without the guardian state this would reveal the vote
    check_tally_inputs(manifest, fork.note, fork.entries, fork.doc)

    state = closed.state(2, tmp_path)
    report = watch_once(AppClient(closed.election), state)
    assert report.refusals == [] and f"{LOG} size 12" in report.accepted
    with pytest.raises(GuardianRefusal, match="other than the final one this guardian watched"
                       ) as exc:
        decrypt_as_guardian(HostileClient(closed.election, fork), fork.doc, 2, closed.share(2),
                            state)
    assert state.decrypted(LOG) is None
    (evidence,) = state.evidence()
    assert str(evidence) in str(exc.value)
    assert (evidence / "first.note").read_text() != (evidence / "second.note").read_text()
    assert "/commission " in (evidence / "second.note").read_text()  # it carries both keys


def test_fork_smaller_than_a_watched_checkpoint_is_refused(closed: Closed, tmp_path: Path) -> None:
    """A guardian that watched the round while it was open (here: up to the size-8 checkpoint)
    refuses a "final" log of 7 genuine ballots."""
    from crypto.checkpoint import open_checkpoint

    state = closed.state(2, tmp_path)
    note = closed.election.checkpoint_at(closed.election.log("AAA", 1), 8)
    cp = open_checkpoint(note, closed.election.manifest.log_verifiers["AAA"], LOG)
    assert state.observe(cp, note, lambda a, b: [])
    entries = closed.entries()
    fork = closed.forge([entries[4], *entries[6:12]])
    with pytest.raises(GuardianRefusal, match="smaller than the checkpoint of size 8"):
        decrypt_as_guardian(HostileClient(closed.election, fork), fork.doc, 2, closed.share(2),
                            state)


def test_fork_is_refused_by_a_guardian_that_decrypted_the_real_final(
    closed: Closed, tmp_path: Path
) -> None:
    state = closed.state(3, tmp_path)
    decrypt_as_guardian(AppClient(closed.election), _honest_doc(closed), 3, closed.share(3), state)
    entries = closed.entries()
    fork = closed.forge([entries[4], *entries[6:12]])
    with pytest.raises(GuardianRefusal, match="a second final checkpoint"):
        decrypt_as_guardian(HostileClient(closed.election, fork), fork.doc, 3, closed.share(3),
                            state)


def test_two_honest_prefixes_can_never_both_be_decrypted(closed: Closed, tmp_path: Path) -> None:
    """The variant: two "final" checkpoints, both honest prefixes, one entry apart. With k > n/2
    the two groups of k guardians share one, who refuses the second final: its vote stays
    secret even when no guardian watched the round."""
    entries = closed.entries()
    short, full = closed.forge(entries[:-1]), closed.forge(entries)
    states = {g: closed.state(g, tmp_path) for g in range(1, 6)}
    first = {
        g: decrypt_as_guardian(HostileClient(closed.election, short), short.doc, g,
                               closed.share(g), states[g])
        for g in (1, 2, 3)
    }
    assert len(first) == 3
    second = {}
    for g in (3, 4, 5):
        try:
            second[g] = decrypt_as_guardian(
                HostileClient(closed.election, full), full.doc, g, closed.share(g), states[g]
            )
        except GuardianRefusal as exc:
            assert g == 3 and "a second final checkpoint" in str(exc)
    assert sorted(second) == [4, 5]
    cts = [Ciphertext.from_json(c) for c in full.doc["encrypted"]]
    shares = {g: [Point.from_hex(h) for h in p["shares"]] for g, p in second.items()}
    with pytest.raises(ValueError):
        decrypt_counts(shares, cts, 3, len(entries))  # 2 partials, k = 3


def test_reordered_log_needs_fresh_partials_that_guardians_refuse(
    closed: Closed, tmp_path: Path
) -> None:
    """The lot-grinding attack: reorder the last entries so that the root (and the lot)
    changes, re-sign the checkpoints. The old partials are bound to the old root, and a
    guardian that decrypted the real final refuses the reordered one."""
    state = closed.state(4, tmp_path)
    decrypt_as_guardian(AppClient(closed.election), _honest_doc(closed), 4, closed.share(4), state)
    entries = closed.entries()
    reordered = closed.forge([*entries[:-2], entries[-1], entries[-2]])
    with pytest.raises(GuardianRefusal, match="a second final checkpoint"):
        decrypt_as_guardian(HostileClient(closed.election, reordered), reordered.doc, 4,
                            closed.share(4), state)
    # a guardian that watched the final refuses any other final
    watcher = closed.state(5, tmp_path)
    watch_once(AppClient(closed.election), watcher)
    with pytest.raises(GuardianRefusal, match="other than the final one this guardian watched"):
        decrypt_as_guardian(HostileClient(closed.election, reordered), reordered.doc, 5,
                            closed.share(5), watcher)
    # and one that saw the round only up to size 8 refuses a reordering inside those 8
    from crypto.checkpoint import open_checkpoint

    early = closed.state(5, tmp_path / "early")
    note = closed.election.checkpoint_at(closed.election.log("AAA", 1), 8)
    early.observe(open_checkpoint(note, closed.election.manifest.log_verifiers["AAA"], LOG),
                  note, lambda a, b: [])
    inside = closed.forge([*entries[:6], entries[7], entries[6], *entries[8:]])
    with pytest.raises(GuardianRefusal, match="does not extend the checkpoint of size 8"):
        decrypt_as_guardian(HostileClient(closed.election, inside), inside.doc, 5,
                            closed.share(5), early)


def test_a_round_without_quorum_is_never_decrypted(closed: Closed, tmp_path: Path) -> None:
    """A round closed right after one chosen elector voted: its genuine final, even one the
    guardian watched, is not decrypted (the counts of a void round decide nothing)."""
    lone = closed.forge(closed.entries()[:1])
    for count in (1, 6):  # 6 of 12 is not more than half
        forged = closed.forge(closed.entries()[:count]) if count > 1 else lone
        state = closed.state(1, tmp_path / str(count))
        with pytest.raises(GuardianRefusal, match="without a quorum"):
            decrypt_as_guardian(HostileClient(closed.election, forged), forged.doc, 1,
                                closed.share(1), state)
        assert state.decrypted(LOG) is None


def test_the_tally_asked_for_is_the_one_decrypted(closed: Closed, tmp_path: Path) -> None:
    state = closed.state(1, tmp_path)
    with pytest.raises(GuardianRefusal, match="asked to decrypt ZZZ round 2"):
        decrypt_as_guardian(AppClient(closed.election), _honest_doc(closed), 1, closed.share(1),
                            state, expect=("ZZZ", 2))


def test_watch_and_decrypt_never_lose_the_record(closed: Closed, tmp_path: Path) -> None:
    """A watch poll whose consistency proof the service holds back while the guardian decrypts
    must not write back a state without the decrypted final (the audit's race)."""
    import threading

    state = closed.state(2, tmp_path)
    entries = closed.entries()
    short = closed.forge(entries[:-1])
    app = AppClient(closed.election)
    released, asked = threading.Event(), threading.Event()

    class Slow(AppClient):
        def get(self, path: str, **params: Any) -> Any:
            if path.endswith("/proof/consistency"):
                asked.set()
                released.wait(10)
            return super().get(path, **params)

    # the guardian saw the size-8 checkpoint; the poll then looks at the newest (size 12)
    seen8 = closed.election.checkpoint_at(closed.election.log("AAA", 1), 8)
    from crypto.checkpoint import open_checkpoint

    log_key = closed.election.manifest.log_verifiers["AAA"]
    state.observe(open_checkpoint(seen8, log_key, LOG), seen8, lambda a, b: [])
    poll = threading.Thread(target=watch_once, args=(Slow(closed.election), state))
    poll.start()
    assert asked.wait(10)
    decrypt_as_guardian(HostileClient(closed.election, short), short.doc, 2, closed.share(2),
                        state)
    released.set()
    poll.join(10)
    done = state.decrypted(LOG)
    assert done is not None and done.size == 11  # the record survived the poll
    full = closed.forge(entries)
    with pytest.raises(GuardianRefusal, match="a second final checkpoint"):
        decrypt_as_guardian(HostileClient(closed.election, full), full.doc, 2, closed.share(2),
                            state)
    del app


def test_a_checkpoint_after_a_watched_final_is_evidence(closed: Closed, tmp_path: Path) -> None:
    state = closed.state(3, tmp_path)
    assert watch_once(AppClient(closed.election), state).refusals == []
    log_key = closed.election.manifest.log_verifiers["AAA"]
    from crypto.checkpoint import open_checkpoint

    final_note = closed.election.checkpoint_at(closed.election.log("AAA", 1), 12)
    state.observe(open_checkpoint(final_note, log_key, LOG), final_note, lambda a, b: [],
                  final=True)
    bigger = closed.forge([*closed.entries(), closed.entries()[0]])  # 13 > 12, after the final
    cp = open_checkpoint(bigger.note, log_key, LOG)
    with pytest.raises(GuardianRefusal, match="nothing may follow the final one"):
        state.observe(cp, bigger.note, lambda a, b: [])
    assert len(state.evidence()) == 1


def test_a_manifest_with_another_key_is_refused(closed: Closed, tmp_path: Path) -> None:
    state = closed.state(1, tmp_path)
    pins = state.pins()
    manifest = dict(closed.election.manifest.body)
    with pytest.raises(GuardianRefusal, match="joint key"):
        state.check_manifest({**manifest, "election_key": "00" * 32}, "ab" * 32)
    with pytest.raises(GuardianRefusal, match="ceremony hash"):
        state.check_manifest({**manifest, "ceremony_hash": "00" * 32}, "ab" * 32)
    state.check_manifest(manifest, "ab" * 32)
    with pytest.raises(GuardianRefusal, match="other than the sealed one"):
        state.check_manifest(manifest, "cd" * 32)
    with pytest.raises(GuardianRefusal, match="another joint key"):
        state.pin_ceremony(pins["election_id"], "11" * 32, pins["ceremony_hash"])


def test_watch_catches_a_rewritten_history(closed: Closed, tmp_path: Path) -> None:
    state = closed.state(2, tmp_path)
    watch_once(AppClient(closed.election), state)
    entries = closed.entries()
    other = closed.forge([*entries[:-1], entries[0]])  # same size, another root

    class Rewriting(AppClient):
        def get_text(self, path: str, **params: Any) -> str:
            if path == "/units/AAA/rounds/1/checkpoint":
                return other.note
            return super().get_text(path, **params)

    report = watch_once(Rewriting(closed.election), state)
    assert len(report.refusals) == 1 and "two roots for the same tree size" in report.refusals[0]
    assert len(state.evidence()) == 1


def test_state_survives_a_restart(closed: Closed, tmp_path: Path) -> None:
    state = closed.state(1, tmp_path)
    watch_once(AppClient(closed.election), state)
    again = GuardianState(state.path)
    seen = again.seen(LOG)
    assert seen is not None and seen.size == 12
    assert not list(state.path.rglob(".tmp-*"))  # no half-written file left


def test_init_requires_more_than_half_the_guardians(tmp_path: Path) -> None:
    def draft(n: int, k: int) -> dict[str, Any]:
        return draft_manifest(
            election_id="e", title={"en": "E", "ru": None, "kk": None}, date="2023-01-14",
            origin="tally.example/e",
            units=[{"code": "AAA", "kind": "region", "name": {"en": "A", "ru": None, "kk": None},
                    "candidates": [{"id": "C1", "name": "One"}]}],
            guardian_names=[f"G{i}" for i in range(n)], threshold=k,
        )

    with pytest.raises(SetupError, match="more than half"):
        init_election(tmp_path / "a", draft(4, 2))
    with pytest.raises(SetupError, match="more than half"):
        init_election(tmp_path / "b", draft(5, 2))
    init_election(tmp_path / "c", draft(5, 3))


def test_guardian_watch_command(closed: Closed, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    from tally_service import cli, client

    app = AppClient(closed.election)

    class Fake:
        def __init__(self, url: str) -> None:
            assert url == "http://service.test"

        get, get_text = app.get, app.get_text

    monkeypatch.setattr(client, "ServiceClient", Fake)
    state = closed.state(1, tmp_path)
    argv = ["guardian", "watch", "--state", str(state.path), "--url", "http://service.test"]
    assert cli.main([*argv, "--once"]) == 0
    assert f"checkpoint {LOG} size 12: consistent, remembered" in capsys.readouterr().out
    assert cli.main([*argv, "--once"]) == 0  # nothing new
    assert capsys.readouterr().out == ""


def test_with_witnesses_a_guardian_decrypts_only_a_witnessed_final(tmp_path: Path) -> None:
    """A fork's final signed with the service's own keys is refused when the manifest names
    witnesses and the final lacks the quorum of their finality statements (ordinary
    cosignatures do not count); the real final, with a quorum of them, passes."""
    from datetime import datetime

    from crypto.checkpoint import checkpoint_facts
    from crypto.cosignature import TYPE_ED25519, Cosigner, add_cosignatures
    from crypto.witness_policy import manifest_section

    cosigners = [Cosigner.generate(f"w{i}.example/witness", TYPE_ED25519) for i in range(4)]
    section = manifest_section(3, 1, [c.public for c in cosigners])
    data = tmp_path / "data"
    keys = build_election(data, [UnitSpec("AAA", "A", 3, 8)], witnesses=section)
    election = Election(data, Config(checkpoint_every=4))
    try:
        sim = SimulatedElection(data, keys)
        election.open_round("AAA", 1)
        cast_round(election, sim, "AAA", 1, 1.0, uniform_choice, random.Random(2))
        note = election.close_round("AAA", 1)
        cp = Checkpoint.parse(note.split("\n\n")[0] + "\n")
        closed_at = int(datetime.strptime(checkpoint_facts(cp).time + "+0000",
                                          "%Y-%m-%dT%H:%M:%SZ%z").timestamp())

        def cosigned(by: int, at: int, finality: bool = True) -> str:
            lines = [c.cosign(cp, at).line() for c in cosigners[:by]]
            if finality:  # issue 24: only the witnesses' finality statements make a final
                lines += [c.cosign_final(cp, at).line() for c in cosigners[:by]]
            return add_cosignatures(note, lines)

        from tally_service.witnessing import keep_cosignature

        witnessed = cosigned(3, closed_at)
        text = witnessed.split("\n\n")[0] + "\n"
        for line in witnessed[len(note):].splitlines(keepends=True):
            keep_cosignature(election, election.log("AAA", 1), cp.size, text, line)
        doc = tally.start_tally(election, "AAA", 1)  # the service waits for a witnessed final
        entries = list(election.store.iter_entries("AAA", 1))
        manifest = election.manifest.signed
        check_tally_inputs(manifest, witnessed, entries, doc)
        with pytest.raises(GuardianRefusal, match="quorum of 3 witness finality statements"):
            check_tally_inputs(manifest, note, entries, doc)  # the service's keys alone
        with pytest.raises(GuardianRefusal, match="quorum of 3"):
            check_tally_inputs(manifest, cosigned(2, closed_at), entries, doc)
        with pytest.raises(GuardianRefusal, match="quorum of 3"):  # no finality statements
            check_tally_inputs(manifest, cosigned(4, closed_at, finality=False), entries, doc)
    finally:
        election.stop()


def test_two_concurrent_decryptions_of_one_guardian_record_one_final(
    closed: Closed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit's A4: two decryptions scheduled so that both checks would run before either
    record. Check and record are one step under the state's lock: the second is refused."""
    import contextlib
    import threading

    entries = closed.entries()
    short, full = closed.forge(entries[:-1]), closed.forge(entries)
    path = closed.state(1, tmp_path).path
    original = GuardianState.check_final
    # without the lock both checks would meet here before either records; with it the first
    # waits alone (the barrier breaks after 2 s), records, and only then may the second check
    barrier = threading.Barrier(2, timeout=2)

    def slow_check(self: GuardianState, final: Checkpoint, note: str, root_at: Any) -> None:
        original(self, final, note, root_at)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait()

    monkeypatch.setattr(GuardianState, "check_final", slow_check)
    out: dict[str, Any] = {}

    def run(name: str, forged: Forged, client: HostileClient) -> None:
        try:
            out[name] = decrypt_as_guardian(client, forged.doc, 1, closed.share(1),
                                            GuardianState(path))
        except GuardianRefusal as exc:
            out[name] = exc

    # the clients (Flask apps) are built here: werkzeug compiles its routes with ast.parse,
    # which CPython 3.11 does not allow in two threads at once (SystemError, seen once)
    clients = {name: HostileClient(closed.election, f) for name, f in (("short", short),
                                                                      ("full", full))}
    threads = [
        threading.Thread(target=run, args=(name, f, clients[name]))
        for name, f in (("short", short), ("full", full))
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    outcomes = sorted(type(v).__name__ for v in out.values())
    assert outcomes == ["GuardianRefusal", "dict"], out
    done = GuardianState(path).decrypted(LOG)
    assert done is not None and done.size in (11, 12)


def test_a_malformed_answer_is_a_refusal_not_the_end_of_the_watch(
    closed: Closed, tmp_path: Path
) -> None:
    """The audit's A5: a consistency answer without its proof was a KeyError that ended
    `guardian watch`; it is a refusal (with evidence) and the next poll goes on."""
    from crypto.checkpoint import open_checkpoint

    state = closed.state(1, tmp_path)
    note = closed.election.checkpoint_at(closed.election.log("AAA", 1), 8)
    state.observe(open_checkpoint(note, closed.election.manifest.log_verifiers["AAA"], LOG),
                  note, lambda a, b: [])

    class NoProof(AppClient):
        def get(self, path: str, **params: Any) -> Any:
            if path.endswith("/proof/consistency"):
                return {"nothing": []}
            return super().get(path, **params)

    report = watch_once(NoProof(closed.election), state)
    assert len(report.refusals) == 1 and "consistency proof" in report.refusals[0]
    assert watch_once(AppClient(closed.election), state).refusals == []  # it goes on


def test_entry_pages_are_read_only_up_to_the_final_size(closed: Closed, tmp_path: Path) -> None:
    """The audit's A10: a service that serves entry pages without end is read only as far as
    the final checkpoint's size."""
    entries = closed.entries()
    fork = closed.forge(entries)
    pages = 0

    class Endless(HostileClient):
        def get(self, path: str, **params: Any) -> Any:
            nonlocal pages
            if path == "/units/AAA/rounds/1/entries":
                pages += 1
                return {"entries": [json.loads(entries[0])]}  # start ignored, never empty
            return super().get(path, **params)

    with pytest.raises(GuardianRefusal):
        decrypt_as_guardian(Endless(closed.election, fork), fork.doc, 1, closed.share(1),
                            closed.state(1, tmp_path))
    assert pages == len(entries)
