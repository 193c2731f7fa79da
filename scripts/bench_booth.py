#!/usr/bin/env python3
"""Benchmark the electors' pages: the booth's encrypt+prove+sign and the receipt check, in
Python, in Node and in headless Chromium (the distribution's chromium and chromedriver).

Prints one figure per line as ``name value unit`` and the ratio of each JavaScript figure to
the Python one. Targets (issue 15): a 3-candidate ballot under 100 ms in the browser; the
receipt check in the page under 200 ms. The receipt check runs against a live service on
127.0.0.1 holding a small closed, tallied, published election.

Run from the top of the checkout: .venv/bin/python scripts/bench_booth.py [--ballots N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from scripts.builders import insecure

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crypto.ballot import make_signed_ballot
from crypto.group import Point
from crypto.signing import SigningKey

TOP = Path(__file__).resolve().parent.parent
STATIC = TOP / "tally_service" / "service" / "static"
SIZES = (3, 10)


def python_figures(election: bytes, key: Point, ballots: int, repeat: int) -> dict[str, float]:
    signer = SigningKey.generate()
    out = {}
    for n in SIZES:
        ids = [f"U-C{i + 1}" for i in range(n)]
        best = float("inf")
        for _ in range(repeat):
            began = time.perf_counter()
            for _ in range(ballots):
                make_signed_ballot(election, "U", 1, "U-E1", ids, ids[0], key, signer)
            best = min(best, (time.perf_counter() - began) / ballots * 1000)
        out[f"encrypt_prove_sign_{n}"] = best
    return out


def live_election(base: Path) -> tuple[Any, Any, str, dict[str, Any]]:
    """A small election on a waitress thread: one ballot cast, closed, tallied, published."""
    from waitress import create_server

    from scripts.builders.sample import UnitSpec, build_election
    from tally_service.elector.ballot import make_ballot
    from tally_service.service import results
    from tally_service.service.app import create_app
    from tally_service.service.config import Config
    from tally_service.service.election import Election

    keys = build_election(base / "election", [UnitSpec("AKM", "Akmola", 3, 40)])
    election = Election(base / "election", Config(checkpoint_every=8))
    election.open_round("AKM", 1)
    receipt: dict[str, Any] = {}
    for i, (elector, key) in enumerate(sorted(keys.items())[:30]):
        ballot = make_ballot(
            election.manifest.hash,
            "AKM",
            1,
            elector,
            election.manifest.candidates("AKM"),
            election.manifest.candidates("AKM")[0],
            election.manifest.election_key,
            key,
        )
        r, _ = election.cast(ballot)
        if i == 3:
            receipt = r
    election.close_round("AKM", 1)
    insecure.tally_in_process(election, "AKM", 1, [1, 2])
    results.publish(election, "preliminary")
    results.publish(election, "final")
    server: Any = create_server(create_app(election), host="127.0.0.1", port=0, threads=4)
    threading.Thread(target=server.run, daemon=True).start()
    return election, server, f"http://127.0.0.1:{server.effective_port}", receipt


def python_receipt(url: str, receipt: dict[str, Any], repeat: int) -> float:
    from scripts.verifier import receipt as vr

    best = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        verdict = vr.Verdict("bench")
        vr.check_receipt(receipt, vr.ServiceSource(url), verdict)
        assert verdict.ok, verdict.to_json()
        best = min(best, (time.perf_counter() - began) * 1000)
    return best


def node_figures(job: dict[str, Any]) -> dict[str, float] | None:
    node = shutil.which("node")
    if node is None:
        return None
    done = subprocess.run(
        [node, str(TOP / "scripts" / "bench_booth.js")],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


CHROMIUM_JOB = """
const [job, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  await sodium.ready;
  const out = {};
  const key = KZ.signing.keyFromSeed(new Uint8Array(32).fill(7));
  for (const n of job.sizes) {
    const ids = Array.from({length: n}, (_, i) => `U-C${i + 1}`);
    let best = Infinity;
    for (let r = 0; r < job.repeat; r++) {
      const t = performance.now();
      for (let i = 0; i < job.ballots; i++) {
        const {ballot} = KZ.ballot.encryptBallot(job.election, "U", 1, "U-E1", ids, ids[0],
                                                 job.election_key);
        KZ.ballot.signBallot(ballot, key);
      }
      best = Math.min(best, (performance.now() - t) / job.ballots);
    }
    out[`encrypt_prove_sign_${n}`] = best;
  }
  let best = Infinity;
  for (let r = 0; r < job.repeat; r++) {
    const t = performance.now();
    const v = await KZ.receipt.checkReceipt(job.receipt, KZ.receipt.serviceSource(job.url), {});
    if (!v.ok) throw new Error(JSON.stringify(v.items));
    best = Math.min(best, performance.now() - t);
  }
  out.receipt_check = best;
  return out;
})().then(done, (e) => done({error: String(e)}));
"""


def chromium_figures(job: dict[str, Any], scratch: Path) -> dict[str, float] | None:
    binary = shutil.which("chromium")
    if binary is None or not Path("/usr/bin/chromedriver").exists():
        return None
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={scratch / 'profile'}")
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.set_script_timeout(600)
        driver.get(f"{job['url']}/receipt")  # loads libsodium.js and every module
        figures: dict[str, float] = driver.execute_async_script(CHROMIUM_JOB, job)
    finally:
        driver.quit()
    if "error" in figures:
        raise RuntimeError(figures["error"])
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--ballots", type=int, default=20, help="ballots per timing run")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kz-bench-booth-") as tmp:
        election, server, url, receipt = live_election(Path(tmp))
        try:
            job = {
                "sizes": list(SIZES),
                "ballots": args.ballots,
                "repeat": args.repeat,
                "election": election.manifest.hash.hex(),
                "election_key": election.manifest.election_key.hex(),
                "receipt": receipt,
                "url": url,
            }
            py = python_figures(
                election.manifest.hash, election.manifest.election_key, args.ballots, args.repeat
            )
            py["receipt_check"] = python_receipt(url, receipt, args.repeat)
            node = node_figures(job)
            browser = chromium_figures(job, Path(tmp))
        finally:
            server.close()
            election.stop()
    for name in [f"encrypt_prove_sign_{n}" for n in SIZES] + ["receipt_check"]:
        print(f"python_{name} {py[name]:.2f} ms")
        for label, figures in (("node", node), ("chromium", browser)):
            if figures is None:
                print(f"{label}_{name} unavailable (not installed)")
                continue
            print(f"{label}_{name} {figures[name]:.2f} ms ({figures[name] / py[name]:.2f}x python)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
