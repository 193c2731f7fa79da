#!/usr/bin/env python3
"""A full simulated election in the shape of Kazakhstan's Senate election of 14 January 2023.

Phases: prepare (manifest, 3,167 electors' keys and rolls, a 5-guardian key ceremony with
threshold 3, seal); start a real server on 127.0.0.1; the commission opens every unit's round
through signed HTTP requests; electors cast encrypted, signed ballots concurrently over HTTP;
close; 3 of the 5 guardians decrypt; preliminary result; a runoff where one is needed; final
result; export the record; run the observer's verifier on it; check a few electors' receipts;
print the results table and the verifier's verdict.

Per-unit turnout is not published for 2023: the 2,904 participants are spread over the units in
proportion to their registered electors. Winners' shares are drawn between the published
minimum (61.7%, ULY) and maximum (90.9%, AKM).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests

from crypto.ceremony import manifest_fingerprint
from crypto.credentials import derive_key, new_code
from crypto.group import Point
from crypto.signing import SigningKey
from scripts.builders.demo_guardians import Guardians
from scripts.builders.process import ServerProcess
from scripts.builders.progress import bar
from scripts.replay import (
    DEFAULT_SPEED,
    DaySchedule,
    SimulatedDay,
    arrival_times,
    cast_on_time,
    quorum_times,
)
from tally_service.common.client import ServiceClient
from tally_service.common.keys import commission_key_path, read_private_key
from tally_service.common.reports import results_table
from tally_service.common.rolls import RollEntry, parse_roll, roll_to_csv
from tally_service.elector.ballot import make_ballot
from tally_service.service.setup import draft_manifest, import_roll, init_election, seal

TOP = Path(__file__).resolve().parent.parent
DATA = TOP / "scripts" / "data" / "senate2023.json"
GUARDIANS, THRESHOLD, DECRYPTING = 5, 3, (1, 3, 5)
ELECTION_ID = "kz-senate-2023-demo"
SERVE_OPEN_ELECTORS = 2  # per unit, left to vote in the booth with --serve-open

# four independent witnesses, two of them post-quantum; a quorum of 3 tolerates one colluder
WITNESS_TYPES = ("mldsa44", "ed25519", "ed25519", "mldsa44")
WITNESS_QUORUM, WITNESS_COLLUDERS = 3, 1


class GuardianWatchers:
    """The guardians' `tally-service guardian watch`, one thread each, polling every second."""

    def __init__(self, url: str, states: list[Path]) -> None:
        import threading

        from tally_service.guardian.state import GuardianState

        self.url = url
        self.states = [GuardianState(p) for p in states]
        self.accepted = 0
        self.refusals: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._polling = threading.RLock()
        self.paused = False
        self._threads = [
            threading.Thread(target=self._loop, args=(s,), daemon=True) for s in self.states
        ]

    def _poll(self, state: Any) -> None:
        from tally_service.guardian.watch import watch_once

        report = watch_once(ServiceClient(self.url), state)
        with self._lock:
            self.accepted += len(report.accepted)
            self.refusals += report.refusals

    def _loop(self, state: Any) -> None:
        while not self._stop.wait(1.0):
            with self._polling:
                if not self.paused:
                    self._poll(state)

    def pause(self) -> None:
        """While the guardians' own decrypt processes write their states, the threads wait."""
        with self._polling:
            self.paused = True

    def resume(self) -> None:
        self.paused = False

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def poll_all(self) -> None:
        for state in self.states:
            self._poll(state)

    def wait_seen_open(self, origin: str, codes: list[str], round_no: int) -> None:
        """Poll until every guardian has recorded a checkpoint of each of these rounds while
        open: `guardian decrypt` refuses a round it did not see open (issue 24)."""
        import time

        logs = [f"{origin}/{code}/{round_no}" for code in codes]
        deadline = time.monotonic() + 120
        while True:
            with self._polling:
                missing = [log for s in self.states for log in logs if s.open_seen(log) is None]
                if not missing:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"a guardian never saw {missing[0]} open")
                self.poll_all()
            time.sleep(0.2)  # the witnesses' first cosignatures make the round's checkpoint

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)


@dataclass
class Unit:
    code: str
    name_en: str
    name_ru: str
    name_kk: str
    kind: str
    candidates: list[str]
    registered: int
    took_part: int = 0


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.commission_public = ""  # set in run(): the key the observer and electors pin
        self.rng = random.Random(args.seed)
        self.quiet: bool = args.quiet
        self.started = time.monotonic()
        # the working directory holds private keys (commission, logs, guardians' shares) and
        # the database: it is removed however the demo ends (Demo.close)
        self.workdir = Path(tempfile.mkdtemp(prefix="kz-tally-demo-"))
        self.out = Path(args.out) if args.out else self.workdir / "out"
        # what the demo keeps: the public record apart from what is private to electors
        self.record_dir = self.out / "record"
        self.private_dir = self.out / "private"
        self.data_dir = self.workdir / "election"
        self.keys: dict[str, SigningKey] = {}
        self.receipts: dict[str, dict[str, Any]] = {}
        self.jobs = os.cpu_count() or 1
        self.codes: dict[str, str] = {}  # --serve-open: electors left to vote in the booth
        self.cast_urls: list[str] = []  # --processes: ballots are spread over every process
        shape = json.loads(DATA.read_text(encoding="utf-8"))
        self.schedule = DaySchedule.from_shape(shape)
        self.zone = ZoneInfo(shape["timezone"])
        # --replay-2023: every process of the demo on the simulated clock of 14 January 2023
        self.day = SimulatedDay(self.workdir, args.speed) if args.replay_2023 else None

    def at(self) -> str:
        """' at <simulated local time>' in a replay, else nothing."""
        if self.day is None:
            return ""
        moment = datetime.fromtimestamp(self.day.now(), self.zone)
        return f" at {moment:%Y-%m-%d %H:%M:%S} ({self.zone.key}, simulated)"

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"[{time.monotonic() - self.started:6.1f}s] {text}", flush=True)

    # -- the election's shape -----------------------------------------------------------------
    def units(self) -> list[Unit]:
        shape = json.loads(DATA.read_text(encoding="utf-8"))
        units = []
        for u in shape["units"]:
            kind = "city" if u["code"] in ("AST", "ALA", "SHY") else "region"
            units.append(
                Unit(
                    u["code"],
                    u["name_en"],
                    u["name_ru"],
                    u["name_kk"],
                    kind,
                    [f"{u['code']}-C{i + 1}" for i in range(u["candidates"])],
                    u["electors_registered"],
                )
            )
        total_took_part = shape["totals"]["electors_took_part"]
        if self.args.small:  # a few units, tens of electors: what the test suite runs
            units = units[-3:]
            for u in units:
                u.registered = min(u.registered, 24)
            total_took_part = round(sum(u.registered for u in units) * 0.917)
        # spread the participants in proportion to the registered electors (largest remainder)
        registered = sum(u.registered for u in units)
        quotas = [(u.registered * total_took_part / registered, u) for u in units]
        for quota, u in quotas:
            u.took_part = int(quota)
        left = total_took_part - sum(u.took_part for u in units)
        for _, u in sorted(quotas, key=lambda q: q[0] - int(q[0]), reverse=True)[:left]:
            u.took_part += 1
        if self.args.scenario == "void":  # the first unit lacks quorum: void, never decrypted
            units[0].took_part = max(1, units[0].registered // 3)
        return units

    def votes(self, unit: Unit, candidates: list[str], round_no: int) -> list[str | None]:
        """Exact choices for the unit's participants: the winner's share between 61.7% and
        90.9%, a few blank ballots, the rest spread over the others. With --scenario runoff the
        unit with most candidates splits in round 1."""
        n = unit.took_part
        split = self.args.scenario == "runoff" and unit.code == self.runoff_unit and round_no == 1
        if split:
            weights = [0.38, 0.34] + [0.28 / max(1, len(candidates) - 2)] * (len(candidates) - 2)
            counts = [int(w * n) for w in weights]
            counts[0] += n - sum(counts)
            choices: list[str | None] = []
            for c, k in zip(candidates, counts, strict=True):
                choices += [c] * k
        else:
            share = {"ULY": 0.617, "AKM": 0.909}.get(unit.code, self.rng.uniform(0.617, 0.909))
            winner = self.rng.choice(candidates)
            won = min(n, round(share * n))
            blank = min(n - won, self.rng.randint(0, max(1, n // 50)))
            others = [c for c in candidates if c != winner]
            choices = [winner] * won + [None] * blank
            rest = n - won - blank
            for i in range(rest):
                choices.append(others[i % len(others)] if others else None)
        self.rng.shuffle(choices)
        return choices

    # -- phases ---------------------------------------------------------------------------------
    def prepare(self, units: list[Unit]) -> None:
        self.say(
            f"preparing: {len(units)} units, {sum(len(u.candidates) for u in units)} "
            f"candidates, {sum(u.registered for u in units)} electors, "
            f"{GUARDIANS} guardians (threshold {THRESHOLD})"
        )
        # each guardian is its own process with its own directory (its "machine")
        self.guardians = Guardians(self.workdir / "guardians", GUARDIANS)
        guardian_keys = self.guardians.init()
        self.say(f"{GUARDIANS} guardians made their identity and share keys, each in its own dir")
        draft = draft_manifest(
            ELECTION_ID,
            {
                "en": "Senate election of 14 January 2023 (simulation)",
                "ru": "Выборы депутатов Сената 14 января 2023 года (симуляция)",
                "kk": "Сенат депутаттарын сайлау, 2023 жылғы 14 қаңтар (симуляция)",
            },
            "2023-01-14",
            "tally.example/kz-senate-2023-demo",
            [
                {
                    "code": u.code,
                    "kind": u.kind,
                    "name": {"en": u.name_en, "ru": u.name_ru, "kk": u.name_kk},
                    "candidates": [
                        {"id": c, "name": f"Candidate {i + 1} ({u.code})"}
                        for i, c in enumerate(u.candidates)
                    ],
                }
                for u in units
            ],
            [f"Guardian {i + 1}" for i in range(GUARDIANS)],
            THRESHOLD,
            time_zone=json.loads(DATA.read_text(encoding="utf-8"))["timezone"],
            guardian_keys=guardian_keys,
            simulation=True,  # a demo is never a real election (docs/record.md)
        )
        draft["witnesses"] = self.witness_keys()
        init_election(self.data_dir, draft, store=self.args.store)
        for u in bar(units, len(units), "rolls", self.quiet):
            entries = []
            for i in range(u.registered):
                elector = f"{u.code}-E{i + 1:04d}"
                key = self.elector_key(elector, i)
                self.keys[elector] = key
                entries.append(RollEntry(elector, f"Депутат {i + 1} ({u.code})", key.public.hex()))
            # through the CSV importer, as a commission's files would go
            imported = parse_roll(roll_to_csv(entries), u.code)
            import_roll(self.data_dir, u.code, list(imported.entries), self.args.store)
        # the guardians compare this out of band before any of them sends anything secret
        fingerprint = manifest_fingerprint(draft)
        confirmed = self.guardians.ceremony(
            self.data_dir, self.workdir / "ceremony.log", fingerprint
        )
        signed = seal(self.data_dir, self.args.store)
        self.manifest = signed["payload"]
        self.say(
            f"key ceremony held by {GUARDIANS} guardian processes over HTTP: QUAL "
            f"{confirmed['qual']}, joint key {confirmed['joint_key'][:16]}..., manifest sealed"
        )

    def encrypt_all(
        self,
        unit: Unit,
        round_no: int,
        candidates: list[str],
        choices: list[str | None],
        client: ServiceClient,
    ) -> list[dict[str, Any]]:
        electors = [
            e["elector"]
            for e in next(x for x in self.manifest["units"] if x["code"] == unit.code)["roll"]
        ]
        electors = [e for e in electors if e not in self.codes]  # left for the booth
        choices = choices[: len(electors)]
        voters = self.rng.sample(electors, len(choices))
        mh = bytes.fromhex(client.election_hash)
        jobs = [
            (
                mh,
                unit.code,
                round_no,
                e,
                candidates,
                c,
                self.manifest["election_key"],
                self.keys[e].seed(),
            )
            for e, c in zip(voters, choices, strict=True)
        ]
        return jobs  # type: ignore[return-value]

    def vote(
        self,
        client: ServiceClient,
        units: list[Unit],
        round_no: int,
        candidates: dict[str, list[str]],
    ) -> None:
        jobs: list[Any] = []
        for u in units:
            jobs += self.encrypt_all(
                u, round_no, candidates[u.code], self.votes(u, candidates[u.code], round_no), client
            )
        self.say(f"round {round_no}: {len(jobs)} electors encrypt and sign their ballots")
        with ProcessPoolExecutor() as pool:
            ballots = list(
                bar(pool.map(_encrypt, jobs, chunksize=32), len(jobs), "encrypting", self.quiet)
            )
        self.rng.shuffle(ballots)
        self.say(
            f"round {round_no}: casting {len(ballots)} ballots over HTTP with "
            f"{self.args.clients} concurrent clients"
            + (f", at most {self.args.rate:g} a second" if self.args.rate else "")
        )
        began = time.monotonic()
        sessions: dict[int, requests.Session] = {}

        pace = self.args.rate

        def cast(item: tuple[int, dict[str, Any]]) -> dict[str, Any]:
            import threading

            position, ballot = item
            if pace is not None:  # ballot i is cast no earlier than i / rate seconds in
                time.sleep(max(0.0, began + position / pace - time.monotonic()))
            session = sessions.setdefault(threading.get_ident(), requests.Session())
            url = self.cast_urls[position % len(self.cast_urls)] if self.cast_urls else client.url
            r = session.post(f"{url}/ballots", json=ballot, timeout=60)
            if r.status_code != 201:
                raise RuntimeError(f"ballot of {ballot['elector']} refused: {r.text}")
            receipt: dict[str, Any] = r.json()
            return receipt

        with ThreadPoolExecutor(self.args.clients) as threads:
            receipts = threads.map(cast, enumerate(ballots))
            for receipt in bar(receipts, len(ballots), "casting", self.quiet):
                self.receipts[f"{receipt['elector']}-r{round_no}"] = receipt
        took = time.monotonic() - began
        turnout = client.get("/turnout")
        self.say(
            f"round {round_no}: {len(ballots)} ballots accepted in {took:.1f}s "
            f"({len(ballots) / took:.0f}/s); turnout {turnout['turnout']}%, quorum in "
            f"{sum(1 for u in turnout['units'] if u['quorum'])} of {len(turnout['units'])} units"
        )

    def replay_morning(
        self, client: ServiceClient, units: list[Unit], seen_open: Callable[[], None]
    ) -> None:
        """--replay-2023: the electors' ballots are made while the clock waits at 09:50; from
        09:55 it runs; the rounds open at 10:00 and each elector casts at its drawn time."""
        assert self.day is not None
        jobs: list[Any] = []
        for u in units:
            jobs += self.encrypt_all(u, 1, u.candidates, self.votes(u, u.candidates, 1), client)
        self.say(f"{len(jobs)} electors encrypt and sign their ballots (the clock waits)")
        with ProcessPoolExecutor() as pool:
            ballots = list(
                bar(pool.map(_encrypt, jobs, chunksize=32), len(jobs), "encrypting", self.quiet)
            )
        quorum = quorum_times(self.rng, [u.code for u in units], self.schedule)
        timed: list[tuple[float, dict[str, Any]]] = []
        for u in units:
            own = [b for b in ballots if b["unit"] == u.code]
            times = arrival_times(
                self.rng, u.registered, len(own), self.schedule.opens, quorum[u.code],
                self.schedule.closes,
            )
            timed += list(zip(times, own, strict=True))
        self.day.set(self.schedule.starts)
        self.say(
            f"the simulated clock runs from 09:55, {self.day.speed:g} times real time"
            f"{self.at()}; watch it at {client.url.removesuffix('/api/v1')}/"
        )
        self.day.wait_until(self.schedule.opens)
        self.day.set(self.schedule.opens, 0.0)  # the session opens in every unit at 10:00
        for u in units:
            client.commission("open-round", unit=u.code, round=1)
        seen_open()  # every guardian watched each round open (issue 24), the clock stopped
        self.say(f"the commission opened every unit's round{self.at()}")
        self.day.run()
        began = time.monotonic()
        sessions: dict[int, requests.Session] = {}

        def cast(ballot: dict[str, Any]) -> dict[str, Any]:
            import threading

            session = sessions.setdefault(threading.get_ident(), requests.Session())
            r = session.post(f"{client.url}/ballots", json=ballot, timeout=60)
            if r.status_code != 201:
                raise RuntimeError(f"ballot of {ballot['elector']} refused: {r.text}")
            receipt: dict[str, Any] = r.json()
            return receipt

        for receipt in cast_on_time(self.day, timed, cast, self.args.clients):
            self.receipts[f"{receipt['elector']}-r1"] = receipt
        turnout = client.get("/turnout")
        self.say(
            f"{len(timed)} ballots cast at their electors' times in "
            f"{time.monotonic() - began:.1f}s{self.at()}; turnout {turnout['turnout']}%, "
            f"quorum in {sum(1 for u in turnout['units'] if u['quorum'])} of "
            f"{len(turnout['units'])} units"
        )
        self.day.wait_until(self.schedule.closes)
        self.day.set(self.schedule.closes, 0.0)  # every round closes at 12:00 (then set to run)
        self.say(f"the rounds close{self.at()}")

    def tally(self, client: ServiceClient, units: list[Unit], round_no: int) -> None:
        from crypto.rules import has_quorum

        self.wait_for_witnessed_finals(client, units, round_no)
        void = []
        for u in units:
            doc = client.commission("start-tally", unit=u.code, round=round_no)
            if not has_quorum(doc["took_part"], u.registered):
                void.append(u.code)  # void whatever the votes: never decrypted
        # each decrypting guardian, in its own process, recomputes every tally from the signed
        # log and posts its partial decryption signed by its identity key
        decrypting = [u.code for u in units if u.code not in void]
        if decrypting:
            self.guardians.decrypt(
                client.url.removesuffix("/api/v1"),
                DECRYPTING,
                decrypting,
                round_no,
                jobs=max(1, self.jobs // len(DECRYPTING)),
            )
        self.say(
            f"round {round_no}: {len(units) - len(void)} tallies recomputed from the signed logs "
            f"by each guardian, then decrypted by guardians "
            f"{', '.join(map(str, DECRYPTING))} of {GUARDIANS}"
            + (f"; no quorum, not decrypted: {', '.join(void)}" if void else "")
        )

    def start_watchers(self, url: str) -> GuardianWatchers:
        """Every guardian follows the logs from the state in its own directory (G/state) while
        the rounds are open."""
        from tally_service.guardian.cli import state_dir

        states = [state_dir(self.guardians.dir(g)) for g in range(1, GUARDIANS + 1)]
        watchers = GuardianWatchers(url, states)
        watchers.start()
        return watchers

    def run(self) -> int:
        units = self.units()
        self.runoff_unit = max(units, key=lambda u: (len(u.candidates), u.registered)).code
        day = self.day
        if day is not None:  # the keys, rolls and ceremony are ready at 09:50; the clock waits
            day.set(self.schedule.prepared, 0.0)
        self.prepare(units)
        commission = read_private_key(commission_key_path(self.data_dir))
        # what the observer and the electors pin: the commission key, as published elsewhere
        self.commission_public = commission.public.hex()
        timing: list[str] = []
        if day is not None:  # a checkpoint a simulated minute, requests a simulated hour off
            timing = [
                "--checkpoint-seconds",
                f"{60 / day.speed:.3f}",
                "--request-window",
                str(max(300, int(120 * day.speed))),
            ]
        with self.witnesses_running() as witness_args, ServerProcess(
            self.data_dir,
            "--checkpoint-every",
            "32",
            *timing,
            *witness_args,
            log=self.workdir / "server.log",
            own_session=self.args.serve_open,
        ) as server, self.more_processes(witness_args) as others:
            client = ServiceClient(server.url, commission)
            self.say(f"service running at {server.url}")
            if others:
                self.cast_urls = [f"{s.url}/api/v1" for s in [server, *others]]
                self.say(
                    f"{len(self.cast_urls)} service processes over {self.args.store_shown}: "
                    "ballots are spread over all of them"
                )
            watchers = self.start_watchers(server.url)
            origin = client.get("/manifest")["payload"]["origin"]
            codes = [u.code for u in units]
            if day is not None:
                self.replay_morning(
                    client, units, lambda: watchers.wait_seen_open(origin, codes, 1)
                )
            else:
                for u in units:
                    client.commission("open-round", unit=u.code, round=1)
                watchers.wait_seen_open(origin, codes, 1)
                self.vote(client, units, 1, {u.code: u.candidates for u in units})
            if self.args.serve_open:
                self.serve_open(server.url)
            for u in units:
                client.commission("close-round", unit=u.code, round=1)
            if day is not None:  # the tally at the pace of real work, from the close on
                day.set(day.now(), 1.0)
            watchers.poll_all()  # every guardian sees the final checkpoints before decrypting
            watchers.pause()
            self.tally(client, units, 1)
            watchers.resume()
            if day is not None:
                day.set(self.schedule.preliminary, 1.0)
            client.commission("publish-results", kind="preliminary")
            self.say(f"preliminary result signed by the commission{self.at()}")
            if day is not None and self.args.hold:  # for whoever watches the pages at 13:00
                day.set(day.now(), 0.0)
                time.sleep(self.args.hold)
            prelim = client.get("/results/preliminary")["payload"]
            runoff = {
                x["unit"]: x["rounds"][-1]["runoff"]
                for x in prelim["units"]
                if x["status"] == "runoff"
            }
            if runoff:
                second = [u for u in units if u.code in runoff]
                self.say(f"runoff needed in {', '.join(runoff)}: {runoff}")
                for u in second:
                    client.commission("open-round", unit=u.code, round=2)
                watchers.wait_seen_open(origin, [u.code for u in second], 2)
                self.vote(client, second, 2, runoff)
                for u in second:
                    client.commission("close-round", unit=u.code, round=2)
                watchers.poll_all()
                watchers.pause()
                self.tally(client, second, 2)
                watchers.resume()
            if day is not None:
                day.set(self.schedule.final, 1.0)
            client.commission("publish-results", kind="final")
            self.say(f"final result signed by the commission{self.at()}")
            watchers.stop()
            self.say(
                f"guardians watched the logs: {watchers.accepted} checkpoints accepted with "
                f"consistency proofs, {len(watchers.refusals)} refused"
            )
            if watchers.refusals:
                raise RuntimeError(f"a guardian refused a checkpoint: {watchers.refusals[0]}")
            final = client.get("/results/final")
            self.upgrade_receipts(client)
            archive = client.get_bytes("/record.tar.gz")
            if self.args.serve or self.args.serve_open:
                # the receipt page and `verify.py --follow ... --until-final` need the service
                # after the final result too: it stays up until a second Ctrl-C (issue 25)
                self.serve_closed(server.url)
        record = self.save(archive)
        verdict = self.verify(record)
        receipts_ok = self.check_receipts(record)
        names = {c["id"]: c["name"] for u in self.manifest["units"] for c in u["candidates"]}
        print()
        print(results_table(final, {k: k for k in names}))
        print()
        ok = verdict == 0 and receipts_ok
        print(
            f"verifier: {'every check passed' if verdict == 0 else 'FAILED'}; "
            f"receipts: {'verified' if receipts_ok else 'FAILED'}; "
            + (f"record: {record}" if self.args.out else "record: removed (keep it with --out DIR)")
        )
        if self.args.out:
            print(f"public: {record} (the election record: publish it, anyone may verify it)")
            print(
                f"private: {self.private_dir} (electors' receipts: each belongs to its elector "
                "alone, never publish them)"
            )
        print(f"total time {time.monotonic() - self.started:.1f}s")
        return 0 if ok else 1

    @contextlib.contextmanager
    def more_processes(self, witness_args: list[str]) -> Iterator[list[ServerProcess]]:
        """--processes N: N - 1 more service processes over the same PostgreSQL database."""
        started: list[ServerProcess] = []
        try:
            for i in range(1, self.args.processes):
                started.append(
                    ServerProcess(
                        self.data_dir,
                        "--checkpoint-every",
                        "32",
                        *witness_args,
                        log=self.workdir / f"server-{i}.log",
                    ).start()
                )
            yield started
        finally:
            for server in started:
                server.stop()

    # -- --serve and --serve-open ----------------------------------------------------------------
    def elector_key(self, elector: str, position: int) -> SigningKey:
        """A generated key; with --serve-open the first electors of each unit get a credential
        code instead (as a credential authority would make it), left unused for the booth."""
        if not self.args.serve_open or position >= SERVE_OPEN_ELECTORS:
            return SigningKey.generate()
        self.codes[elector] = new_code()
        return derive_key(self.codes[elector], ELECTION_ID, elector)

    def urls(self, url: str) -> str:
        return (
            f"  booth:        {url}/booth\n"
            f"  receipt page: {url}/receipt\n"
            f"  API:          {url}/api/v1/turnout (OpenAPI: {url}/api/v1/openapi.json)"
        )

    def serve_open(self, url: str) -> None:
        """Stop before the close: hand out the unused credentials and wait for Ctrl-C or
        --close-after seconds."""
        folder = self.out / "private" / "credentials"
        folder.mkdir(parents=True, exist_ok=True)
        for elector, code in sorted(self.codes.items()):
            (folder / f"{elector}.txt").write_text(code + "\n", "utf-8")
        example = sorted(self.codes)[0]
        unit = example.split("-E")[0]
        print(
            f"\nvoting is open; {len(self.codes)} electors have not voted yet, their credential "
            f"codes are in {folder}\n{self.urls(url)}\n"
            f"  for example unit {unit}, elector {example}, code {self.codes[example]}\n"
            + (
                f"the rounds close in {self.args.close_after:.0f} s"
                if self.args.close_after
                else "press Ctrl-C to close the rounds, tally and publish; the service stays up "
                "after the final result until a second Ctrl-C"
            ),
            flush=True,
        )
        try:
            deadline = time.monotonic() + (self.args.close_after or float("inf"))
            while time.monotonic() < deadline:
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        except KeyboardInterrupt:
            print("\nclosing the rounds ...", flush=True)

    def serve_closed(self, url: str) -> None:
        """--serve and --serve-open: keep the service up after the final result until Ctrl-C
        or --close-after seconds; then the record is saved and verified."""
        until = (
            f"for {self.args.close_after:.0f} s" if self.args.close_after
            else "until you press Ctrl-C again"
        )
        print(
            f"\nthe election is over and the final result is published; the service stays up "
            f"{until} (check your receipt now), then the demo saves and verifies the record:\n"
            f"{self.urls(url)}",
            flush=True,
        )
        try:
            deadline = time.monotonic() + (self.args.close_after or float("inf"))
            while time.monotonic() < deadline:
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        except KeyboardInterrupt:
            print("\nstopping the service ...", flush=True)

    def close(self) -> None:
        """Remove the working directory: its keys and database must not outlive the demo."""
        if self.day is not None:
            self.day.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- witnesses (issue 18) ----------------------------------------------------------------

    def witness_keys(self) -> dict[str, Any]:
        """Each witness operator makes a key (``tally-service witness keygen``) and gives the
        commission its vkey; the manifest names them with the quorum."""
        import io

        from crypto.cosignature import Cosigner, CosignerKey
        from crypto.witness_policy import manifest_section
        from tally_service.cli import main as cli

        self.witness_files: list[Path] = []
        vkeys: list[CosignerKey] = []
        folder = self.workdir / "witnesses"
        folder.mkdir()
        for i, kind in enumerate(WITNESS_TYPES):
            path = folder / f"w{i + 1}.key"
            name = f"witness{i + 1}.observers.example/kz-senate"
            args = ["witness", "keygen", "--name", name, "--type", kind, "--out", str(path)]
            with contextlib.redirect_stdout(io.StringIO()):
                if cli(args) != 0:
                    raise RuntimeError("witness keygen failed")
            self.witness_files.append(path)
            vkeys.append(Cosigner.parse(path.read_text(encoding="ascii")).public)
        self.witness_names = [k.name for k in vkeys]
        self.say(
            f"{len(vkeys)} witnesses ({', '.join(WITNESS_TYPES)}), quorum {WITNESS_QUORUM}, "
            f"tolerating {WITNESS_COLLUDERS} colluding"
        )
        return manifest_section(WITNESS_QUORUM, WITNESS_COLLUDERS, vkeys)

    @contextlib.contextmanager
    def witnesses_running(self) -> Iterator[list[str]]:
        """Start the witnesses as separate processes; yield the server's --witness arguments."""
        from scripts.builders.witness_process import WitnessProcess
        from tally_service.witness.cli import logs_of_manifest

        logs = self.workdir / "witnesses" / "logs.txt"
        logs.write_text("\n".join(logs_of_manifest(self.manifest)) + "\n", encoding="utf-8")
        running: list[WitnessProcess] = []
        try:
            for i, key in enumerate(self.witness_files):
                state = self.workdir / "witnesses" / f"w{i + 1}-state"
                running.append(WitnessProcess(key, state, logs).start())
            self.say(
                "witnesses running as separate processes at "
                + ", ".join(w.url for w in running)
            )
            yield [
                arg
                for name, w in zip(self.witness_names, running, strict=True)
                for arg in ("--witness", f"{name}={w.url}")
            ]
        finally:
            for w in running:
                w.stop()

    def wait_for_witnessed_finals(
        self, client: ServiceClient, units: list[Unit], round_no: int, timeout: float = 120.0
    ) -> None:
        """The tally may start only once each final checkpoint has its witnesses' quorum."""
        from crypto.witness_policy import WitnessPolicy

        policy = WitnessPolicy.from_manifest(self.manifest.get("witnesses"))
        if policy is None:
            return
        began = time.monotonic()
        for u in units:
            while True:
                rows = client.get(f"/units/{u.code}/rounds/{round_no}/checkpoints")["checkpoints"]
                if rows and rows[-1]["final"] and policy.has_quorum(rows[-1]["note"]):
                    break
                if time.monotonic() - began > timeout:
                    raise RuntimeError(f"the final checkpoint of {u.code} was not witnessed")
                time.sleep(0.1)
        self.say(
            f"round {round_no}: every final checkpoint cosigned by at least {policy.quorum} of "
            f"{len(policy.witnesses)} witnesses ({time.monotonic() - began:.1f}s after close)"
        )

    def upgrade_receipts(self, client: ServiceClient) -> None:
        """After close every receipt can carry a full tlog-proof: fetch them for a sample."""
        sample = self.rng.sample(sorted(self.receipts), min(5, len(self.receipts)))
        self.sampled = sample
        for name in sample:
            r = self.receipts[name]
            r["proof"] = client.get_text(
                f"/units/{r['unit']}/rounds/{r['round']}/receipts/{r['index']}"
            )

    def save(self, archive: bytes) -> Path:
        import io
        import tarfile

        self.out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            tar.extractall(self.out, filter="data")  # the archive's top folder is record/
        folder = self.private_dir / "receipts"
        folder.mkdir(parents=True, mode=0o700)
        for name, receipt in self.receipts.items():
            (folder / f"{name}.json").write_text(json.dumps(receipt, indent=1) + "\n", "utf-8")
        self.say(
            f"record exported ({len(archive) // 1024} KiB) into {self.record_dir}, "
            f"{len(self.receipts)} electors' receipts into {folder}"
        )
        return self.record_dir

    def verify(self, record: Path) -> int:
        self.say("observer: scripts/verify.py over the record")
        cmd = [sys.executable, str(TOP / "scripts" / "verify.py"), str(record)]
        cmd += ["--commission-key", self.commission_public]
        if self.quiet:
            cmd.append("--quiet")
        result = subprocess.run(cmd, check=False)
        return result.returncode

    def check_receipts(self, record: Path) -> bool:
        ok = True
        for name in self.sampled:
            path = self.private_dir / "receipts" / f"{name}.json"
            result = subprocess.run(
                [
                    sys.executable,
                    str(TOP / "scripts" / "verify_receipt.py"),
                    str(path),
                    "--record",
                    str(record),
                    "--quiet",
                    "--commission-key",
                    self.commission_public,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            ok = ok and result.returncode == 0
            self.say(
                f"elector {name}: receipt {'verified' if result.returncode == 0 else 'FAILED'}"
                + ("" if result.returncode == 0 else f": {result.stdout}{result.stderr}")
            )
        return ok


def _encrypt(job: tuple[bytes, str, int, str, list[str], str | None, str, bytes]) -> dict[str, Any]:
    mh, unit, round_no, elector, candidates, choice, key_hex, seed = job
    return make_ballot(
        mh,
        unit,
        round_no,
        elector,
        candidates,
        choice,
        Point.from_hex(key_hex),
        SigningKey.from_seed(seed),
    )


def stop_as_on_ctrl_c() -> None:
    """SIGTERM (and SIGHUP, unless ignored, as under nohup) end the demo as Ctrl-C does: it
    stops its service, witnesses and guardians and removes its working directory, which holds
    private keys; with --serve it stops serving, then exports and verifies. Without this, a
    demo stopped by ``kill`` left its servers running and its keys in the temp directory."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, interrupt)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("give 1 or more")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError("give a positive number")
    return value


def _empty_dir(text: str) -> str:
    """--out: a new or empty directory (two elections' records must never merge)."""
    path = Path(text)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise argparse.ArgumentTypeError(
            f"{path} exists and is not empty; give a new or empty directory"
        )
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=_empty_dir,
        help="keep the public record in DIR/record and the electors' receipts in DIR/private "
        "(DIR must be new or empty)",
    )
    parser.add_argument("--seed", type=int, default=2023, help="random seed (reproducible run)")
    parser.add_argument(
        "--scenario",
        choices=["normal", "runoff", "void"],
        default="normal",
        help="runoff: one unit splits its vote in round 1 and holds a runoff; void: one unit "
        "lacks quorum (a third of its electors vote), so its round is void and not decrypted",
    )
    parser.add_argument(
        "--clients", type=_positive, default=16, help="concurrent HTTP clients (1 or more)"
    )
    parser.add_argument(
        "--rate",
        type=_positive_float,
        metavar="BALLOTS",
        help="cast at most this many ballots a second, at a steady pace as electors would "
        "arrive (default: as fast as the clients and the service go)",
    )
    parser.add_argument(
        "--hold",
        type=_positive_float,
        metavar="SECONDS",
        help="with --replay-2023: hold the clock at 13:00 this long (real seconds) after the "
        "preliminary result, before the final one, so the pages can be read at 13:00",
    )
    parser.add_argument(
        "--small", action="store_true", help="a few units and tens of electors (what the tests run)"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the results")
    parser.add_argument(
        "--replay-2023",
        action="store_true",
        help="replay 14 January 2023 on a simulated clock from 09:55 Asia/Almaty: electors "
        "arrive as in a real session, quorum by 10:45, preliminary result at 13:00, final "
        "dated 20 January; every signed time is the simulated one",
    )
    parser.add_argument(
        "--speed",
        type=_positive_float,
        default=None,
        help=f"with --replay-2023: simulated seconds per real second (default {DEFAULT_SPEED:g}: "
        "the morning in about two minutes)",
    )
    serving = parser.add_mutually_exclusive_group()
    serving.add_argument(
        "--serve",
        action="store_true",
        help="keep the service up after the election (booth, receipt page, API) until Ctrl-C",
    )
    serving.add_argument(
        "--serve-open",
        action="store_true",
        help="stop before the close with a few electors' credentials unused (in "
        "OUT/private/credentials/), for the booth; Ctrl-C closes, tallies and publishes, and "
        "the service stays up until a second Ctrl-C (then the record is exported and verified)",
    )
    parser.add_argument(
        "--close-after",
        type=float,
        metavar="SECONDS",
        help="with --serve or --serve-open: go on by itself after this many seconds (with "
        "--serve-open, at the close and again after the final result)",
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        help="run the election over this PostgreSQL database (postgresql://USER@HOST:PORT/DB, "
        "empty; the default is SQLite in the working directory)",
    )
    parser.add_argument(
        "--processes",
        type=_positive,
        default=1,
        help="with --store: this many service processes over the one database, casting spread "
        "over them",
    )
    args = parser.parse_args()
    if args.processes > 1 and not args.store:
        parser.error("--processes above 1 needs --store postgresql://... (SQLite is one process)")
    if args.store:
        from tally_service.service.store import is_database_url, redact

        if not is_database_url(args.store):
            parser.error("--store takes a postgresql:// URL")
        args.store_shown = redact(args.store)
        # every tally-service the demo starts (server, ceremony board) opens the same database
        os.environ["KZ_TALLY_STORE"] = args.store
    if args.close_after is not None and not (args.serve or args.serve_open):
        parser.error("--close-after needs --serve or --serve-open")
    if (args.speed is not None or args.hold is not None) and not args.replay_2023:
        parser.error("--speed and --hold need --replay-2023")
    if args.replay_2023 and (args.scenario != "normal" or args.serve_open or args.rate):
        parser.error("--replay-2023 replays the day as it was: no --scenario, --serve-open, --rate")
    if args.speed is None:
        args.speed = DEFAULT_SPEED
    stop_as_on_ctrl_c()
    demo = Demo(args)
    try:
        return demo.run()
    except KeyboardInterrupt:
        print("demo: interrupted", file=sys.stderr)
    except Exception as exc:
        print(f"demo: error: {exc}", file=sys.stderr)
    finally:
        demo.close()
    return 1


if __name__ == "__main__":
    sys.exit(main())
