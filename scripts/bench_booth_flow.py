#!/usr/bin/env python3
"""Benchmark the booth as an elector uses it, in headless Chromium (Debian's chromium and
chromedriver): page load to the sign-in form (libsodium.js, the manifest's signature checked),
sign-in (key derived, roll checked, "already voted?" asked), encrypt, cast to checked receipt,
and the receipt page's check of that receipt after the close; plus the bytes the booth's first
load and a repeat load transfer (gzip, files cached by hash).

Prints one figure per line as ``name median_ms (min-max)``. Run from the top of the checkout:
.venv/bin/python scripts/bench_booth_flow.py [--electors N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from scripts.builders import insecure

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BYTES = """
return performance.getEntriesByType("resource").concat(performance.getEntriesByType("navigation"))
  .reduce((sum, e) => sum + (e.transferSize || 0), 0);
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--electors", type=int, default=5, help="electors who vote in the booth")
    args = parser.parse_args()
    binary = shutil.which("chromium")
    if binary is None or not Path("/usr/bin/chromedriver").exists():
        print("chromium and chromium-driver are not installed", file=sys.stderr)
        return 1
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait
    from waitress import create_server

    from scripts.builders.sample import UnitSpec, build_election
    from tally_service.service import results
    from tally_service.service.app import create_app
    from tally_service.service.config import Config
    from tally_service.service.election import Election

    figures: dict[str, list[float]] = {}

    def timed(name: str, began: float) -> None:
        figures.setdefault(name, []).append((time.perf_counter() - began) * 1000)

    with tempfile.TemporaryDirectory(prefix="kz-bench-flow-") as tmp:
        codes: dict[str, str] = {}
        n = args.electors
        build_election(Path(tmp) / "e", [UnitSpec("AKM", "Akmola", 3, 2 * n)], codes=codes)
        election = Election(Path(tmp) / "e", Config(checkpoint_every=2))
        election.open_round("AKM", 1)
        server: Any = create_server(create_app(election), host="127.0.0.1", port=0, threads=4)
        threading.Thread(target=server.run, daemon=True).start()
        url = f"http://127.0.0.1:{server.effective_port}"
        options = webdriver.ChromeOptions()
        options.binary_location = binary
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--disable-sync",
                     "--disable-dev-shm-usage", f"--user-data-dir={Path(tmp) / 'profile'}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        wait = WebDriverWait(driver, 120, poll_frequency=0.005)

        def shown(css: str) -> Any:
            return wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))

        receipts: list[Path] = []
        try:
            electors = sorted(codes)[:n]
            for i, elector in enumerate(electors):
                began = time.perf_counter()
                driver.get(f"{url}/booth?lang=en")
                shown("#identify")
                timed("load", began)
                transferred = driver.execute_script(BYTES)
                figures.setdefault("first_load_bytes" if i == 0 else "repeat_load_bytes",
                                   []).append(transferred)
                driver.find_element(By.ID, "elector").send_keys(elector)
                driver.find_element(By.ID, "code").send_keys(codes[elector])
                began = time.perf_counter()
                driver.find_element(By.ID, "sign-in").click()
                shown("#choose")
                timed("sign_in", began)
                driver.find_element(By.ID, "choice-AKM-C1").click()
                driver.find_element(By.ID, "review").click()
                shown("#encrypt")
                began = time.perf_counter()
                driver.find_element(By.ID, "encrypt").click()
                shown("#tracker")
                timed("encrypt", began)
                began = time.perf_counter()
                driver.find_element(By.ID, "cast").click()
                shown("#cast-result")
                timed("cast_to_receipt", began)
                found = election.store.ballot_of("AKM", 1, elector)
                assert found is not None
                receipt = json.loads(
                    create_app(election).test_client()
                    .get(f"/api/v1/units/AKM/rounds/1/receipts?elector={elector}").data
                )
                path = Path(tmp) / f"{elector}.json"
                path.write_text(json.dumps(receipt))
                receipts.append(path)
            election.close_round("AKM", 1)
            insecure.tally_in_process(election, "AKM", 1, [1, 2])
            results.publish(election, "preliminary")
            results.publish(election, "final")
            for path in receipts:
                driver.get(f"{url}/receipt?lang=en")
                shown("#check")
                driver.find_element(By.ID, "receipt-file").send_keys(str(path))
                driver.find_element(By.ID, "check").click()
                wait.until(lambda d: d.find_element(By.ID, "verdict").get_attribute("data-state"))
                verdict = driver.find_element(By.ID, "verdict").get_attribute("data-state")
                assert verdict == "pass", verdict
                ms = driver.find_element(By.ID, "timing").get_attribute("data-ms")
                figures.setdefault("receipt_check", []).append(float(ms or 0))
        finally:
            driver.quit()
            server.close()
            election.stop()
    for name, values in figures.items():
        unit = "bytes" if name.endswith("bytes") else "ms"
        print(f"{name} {statistics.median(values):.0f} {unit} "
              f"({min(values):.0f}-{max(values):.0f}, n={len(values)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
