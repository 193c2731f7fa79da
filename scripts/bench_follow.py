#!/usr/bin/env python3
"""Benchmark the live monitor (scripts/verify.py --follow) on a full-size demo election.

Runs ``scripts/demo --out DIR --serve`` (20 units, about 2,900 ballots through a real server, on
the same cores as the monitor; ``--rate N`` paces the casting at N ballots a second) and, as
soon as the demo says where its service is, a monitor ``verify.py --follow URL --json
--until-final`` polling every --interval seconds. Prints one figure per line as
``name value unit``:

- verdict delay: from the demo's "final result signed" line to the monitor's verdict;
- how far behind the log the monitor got: the most checkpoints of one log that were already
  signed when a poll fetched them (1 = it was never behind by more than the newest one), and
  the largest and median time from a checkpoint's signed ``time`` line to its acceptance
  (signature, entries, root);
- how far the ballot checks (V3) lagged: the largest and median time from a checkpoint's
  signed ``time`` line to the check of its last ballot, and the most ballots accepted but not
  yet checked;
- CPU per ballot: the live monitor's CPU time (its whole run with its worker processes:
  polling, mirroring, every check) over the ballots it checked; then, once the election is
  over and the service idle, a second monitor with ``--jobs 1`` following the finished
  election from scratch (the monitor's own cost, on a machine as quiet as the batch
  verifier's), against ``verify.py --jobs 1`` on the exported record; and the batch
  verifier's wall time (all cores) after the export;
- with ``--instructions``: the instructions the replay monitor and ``verify.py --jobs 1``
  execute per ballot, counted by valgrind, a figure the host's speed does not change.

Run from the top of the checkout:
    .venv/bin/python scripts/bench_follow.py [--small] [--interval 1] [--rate N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

TOP = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def figure(name: str, value: float | int | str, unit: str = "") -> None:
    print(f"{name} {value} {unit}".rstrip(), flush=True)


def seconds_since(stamp: str, at: float) -> float:
    """Seconds from a signed ``time`` line (whole seconds, UTC) to ``at``."""
    return at - datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def run_demo(
    out: Path, args: argparse.Namespace, url_ready: threading.Event, box: dict[str, Any]
) -> subprocess.Popen[str]:
    # --serve keeps the service up after the final result, for the monitors' last polls and
    # the replay; the bench stops it (SIGTERM, which the demo takes as Ctrl-C: a SIGINT would
    # be ignored when the bench itself runs in the background) when it is done with it, or
    # after ten minutes
    command = [str(TOP / "scripts" / "demo"), "--out", str(out), "--serve", "--close-after", "600"]
    if args.small:
        command.append("--small")
    if args.rate is not None:
        command += ["--rate", str(args.rate)]
    demo = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )

    def read() -> None:
        assert demo.stdout is not None
        for line in demo.stdout:
            if "service running at " in line:
                box["url"] = line.split("service running at ", 1)[1].strip()
                url_ready.set()
            if "final result signed by the commission" in line:
                box["final_at"] = time.time()
            if "the service stays up" in line:
                box["serving"].set()
            box.setdefault("lines", []).append(line)
        url_ready.set()

    threading.Thread(target=read, daemon=True).start()
    return demo


def start_monitor(url: str, state: Path, options: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            PYTHON,
            str(TOP / "scripts" / "verify.py"),
            "--follow",
            url,
            "--state",
            str(state),
            "--json",
            "--until-final",
            *options,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def ballots_checked_after(events: list[dict[str, Any]]) -> list[float]:
    """For each accepted checkpoint that brought ballots: seconds from its signed ``time`` line
    to the ``checked`` event that saw its last ballot checked (checking may lag accepting)."""
    waiting: dict[str, list[dict[str, Any]]] = {}
    out: list[float] = []
    for e in events:
        if e["event"] == "checkpoint" and e["new"]:
            waiting.setdefault(e["log"], []).append(e)
        elif e["event"] == "checked":
            for log, upto in e["logs"].items():
                pending = waiting.get(log, [])
                while pending and pending[0]["size"] <= upto:
                    out.append(seconds_since(pending.pop(0)["signed_at"], e["at"]))
    return out


def replay_cpu(url: str, state: Path) -> tuple[float, int]:
    """A monitor with --jobs 1 following the finished election from scratch: its CPU time and
    the ballots it checked."""
    monitor = start_monitor(url, state, ["--interval", "0.2", "--jobs", "1"])
    assert monitor.stdout is not None
    out = monitor.stdout.read()
    _, status, usage = os.wait4(monitor.pid, 0)  # its CPU time (communicate() would reap it)
    monitor.returncode = os.waitstatus_to_exitcode(status)
    last = json.loads(out.strip().splitlines()[-1])
    if last.get("event") != "verdict" or not last["ok"]:
        sys.exit(f"the replay monitor did not pass: {last.get('message')}")
    ballots = int(last["report"]["checks"][2]["checked"].get("ballots", 0))
    return usage.ru_utime + usage.ru_stime, ballots


def count_instructions(url: str, tmp: Path, record: Path) -> tuple[int, int] | None:
    """The instructions executed by a replay monitor (``--jobs 1``, from scratch) and by
    ``verify.py --jobs 1`` on the record it mirrored, both run at once under valgrind's
    cachegrind without its cache simulation. A count of instructions does not move with the
    speed the host gives this virtual machine, which CPU time does, by 10-30% between two runs
    of the same command. None without valgrind."""
    if shutil.which("valgrind") is None:
        print("valgrind is not installed: no instruction counts", file=sys.stderr)
        return None
    verify = [PYTHON, str(TOP / "scripts" / "verify.py")]
    commands = {
        "monitor": [
            *verify,
            *("--follow", url, "--state", str(tmp / "replay-counted")),
            *("--interval", "0.2", "--jobs", "1", "--until-final", "--json"),
        ],
        "batch": [*verify, str(record), "--quiet", "--jobs", "1"],
    }
    running = {
        who: subprocess.Popen(
            [
                "valgrind",
                "--tool=cachegrind",
                "--cache-sim=no",
                f"--cachegrind-out-file={tmp / f'cachegrind.{who}'}",
                *command,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for who, command in commands.items()
    }
    counts: dict[str, int] = {}
    for who, process in running.items():
        if process.wait() != 0:
            sys.exit(f"the {who} under valgrind failed (exit {process.returncode})")
        text = (tmp / f"cachegrind.{who}").read_text()
        counts[who] = int(text.split("\nsummary: ", 1)[1].split()[0])
    return counts["monitor"], counts["batch"]


def batch(record: Path, jobs: int) -> tuple[float, float]:
    """``verify.py RECORD --jobs N``: its wall time and CPU time (with its workers)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.monotonic()
    subprocess.run(
        [PYTHON, str(TOP / "scripts" / "verify.py"), str(record), "--quiet", "--jobs", str(jobs)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.monotonic() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", action="store_true", help="the demo's small election")
    parser.add_argument("--interval", type=float, default=1.0, help="the monitor's poll period")
    parser.add_argument(
        "--rate", type=float, help="the demo casts at most this many ballots a second"
    )
    parser.add_argument(
        "--jobs", type=int, help="the live monitor's --jobs (default: all cores)"
    )
    parser.add_argument(
        "--repeat", type=int, default=6, help="turns of replay monitor and batch verifier"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the instructions of the replay monitor and the batch verifier "
        "(valgrind; about five minutes more)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kz-bench-follow-") as tmp:
        out, state = Path(tmp) / "out", Path(tmp) / "state"
        ready, box = threading.Event(), dict[str, Any](serving=threading.Event())
        demo = run_demo(out, args, ready, box)
        ready.wait(timeout=600)
        if "url" not in box:
            demo.wait()
            sys.exit("the demo did not start its service:\n" + "".join(box.get("lines", [])))
        options = ["--interval", str(args.interval)]
        if args.jobs is not None:
            options += ["--jobs", str(args.jobs)]
        monitor = start_monitor(box["url"], state, options)

        def stop_monitor_if_the_demo_failed() -> None:
            demo.wait()
            time.sleep(60)  # the service is gone, a verdict cannot come
            if monitor.poll() is None:
                monitor.terminate()

        threading.Thread(target=stop_monitor_if_the_demo_failed, daemon=True).start()
        events: list[dict[str, Any]] = []
        assert monitor.stdout is not None
        for line in monitor.stdout:
            event = json.loads(line)
            event["seen"] = time.time()
            events.append(event)
        # wait4: the monitor's CPU, with its worker processes (reaped when it closed its pool)
        _, status, usage = os.wait4(monitor.pid, 0)
        monitor.returncode = os.waitstatus_to_exitcode(status)
        verdict = events[-1] if events else {}
        if verdict.get("event") != "verdict":
            demo.send_signal(signal.SIGTERM)
            demo.wait()
            tail = "".join(box.get("lines", [])[-20:])
            sys.exit(f"the monitor ended without a verdict (exit {monitor.returncode}):\n{tail}")
        checkpoints = [e for e in events if e["event"] == "checkpoint"]
        lags = [seconds_since(e["signed_at"], e["at"]) for e in checkpoints]
        ballots = int(verdict["report"]["checks"][2]["checked"].get("ballots", 0))
        figure("monitor_verdict", "PASS" if verdict["ok"] else "FAIL")
        figure("ballots", ballots)
        figure("checkpoints_followed", len(checkpoints))
        if "final_at" in box:
            figure("verdict_after_final_result", f"{verdict['at'] - box['final_at']:.2f}", "s")
        figure("max_checkpoints_behind", max(1 + e["pending"] for e in checkpoints))
        figure("checkpoint_to_acceptance_max", f"{max(lags):.2f}", "s")
        figure("checkpoint_to_acceptance_median", f"{statistics.median(lags):.2f}", "s")
        checked = ballots_checked_after(events)
        if checked:
            figure("checkpoint_to_ballots_checked_max", f"{max(checked):.2f}", "s")
            figure("checkpoint_to_ballots_checked_median", f"{statistics.median(checked):.2f}", "s")
        waiting = [e["waiting"] for e in events if e["event"] == "checked"]
        figure("max_ballots_waiting_for_their_check", max(waiting, default=0))
        monitor_cpu = usage.ru_utime + usage.ru_stime
        figure("monitor_cpu", f"{monitor_cpu:.2f}", "s")
        figure("monitor_cpu_per_ballot", f"{1000 * monitor_cpu / max(1, ballots):.2f}", "ms")
        # the monitor's own cost against the batch verifier's, in turns on the idle machine
        # (the host's speed drifts by 10-20% from one minute to the next)
        # (the host's speed drifts by 10-20% from one minute to the next), in the order
        # monitor-batch, batch-monitor, ... so that a drift does not favour either
        replays, batches = [], []
        mirror = Path(tmp) / "replay0" / "record"
        for turn in range(args.repeat):
            pair: dict[str, float] = {}
            for who in ("monitor", "batch") if turn % 2 == 0 else ("batch", "monitor"):
                if who == "monitor":
                    cpu, replayed = replay_cpu(box["url"], Path(tmp) / f"replay{turn}")
                    pair[who] = 1000 * cpu / max(1, replayed)
                else:
                    if not mirror.exists():  # the first turn's monitor makes it
                        replay_cpu(box["url"], Path(tmp) / "replay0")
                    pair[who] = 1000 * batch(mirror, 1)[1] / max(1, ballots)
            replays.append(pair["monitor"])
            batches.append(pair["batch"])
        if replays:
            per_ballot = " ".join(f"{x:.2f}" for x in replays)
            figure("replay_monitor_jobs1_cpu_per_ballot", per_ballot, "ms")
            figure("batch_jobs1_cpu_per_ballot", " ".join(f"{x:.2f}" for x in batches), "ms")
            ratios = [m / b for m, b in zip(replays, batches, strict=True)]
            figure("replay_over_batch", " ".join(f"{x:.3f}" for x in ratios))
            figure("replay_over_batch_median", f"{statistics.median(ratios):.3f}")
        if args.instructions:
            if not mirror.exists():
                replay_cpu(box["url"], Path(tmp) / "replay0")
            counted = count_instructions(box["url"], Path(tmp), mirror)
            if counted is not None:
                mine, theirs = (1e-6 * n / max(1, ballots) for n in counted)
                figure("replay_monitor_jobs1_instructions_per_ballot", f"{mine:.3f}", "M")
                figure("batch_jobs1_instructions_per_ballot", f"{theirs:.3f}", "M")
                figure("replay_over_batch_instructions", f"{counted[0] / counted[1]:.3f}")
        # stop the service: the demo exports and verifies (once it serves the closed election:
        # a signal before that, while it still publishes, is an interruption)
        box["serving"].wait(timeout=300)
        demo.send_signal(signal.SIGTERM)
        if demo.wait() != 0:
            sys.exit("the demo failed:\n" + "".join(box.get("lines", [])[-20:]))
        record = out / "record"
        differing = subprocess.run(
            ["diff", "-rq", str(record), str(state / "record")],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.splitlines()
        figure("mirror_files_differing_from_export", len(differing))
        for line in differing:
            print(f"  {line}")
        wall, cpu = batch(record, os.cpu_count() or 1)
        figure("batch_all_cores_wall", f"{wall:.2f}", "s")
        figure("batch_all_cores_cpu_per_ballot", f"{1000 * cpu / max(1, ballots):.2f}", "ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
