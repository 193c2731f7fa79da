"""A real browser drives the booth and the receipt page end to end (headless chromium).

Identify with a credential code, choose, audit once (the audit verifies here and elsewhere, and
the audited ballot can never be cast), encrypt again, cast, download the receipt and the
ballot, close and tally, then check the receipt in the page (served, and opened from disk),
and see a tampered receipt fail with the failing check named. No console errors. Screenshots
of each step are kept in tests/artifacts/screenshots/.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from crypto.audit import check_audited, tracker
from crypto.group import Point
from scripts.builders import insecure
from scripts.builders.sample import UnitSpec, build_election
from tally_service.service import results
from tally_service.service.config import Config
from tally_service.service.election import Election
from tests.browser import chrome, console_errors, screenshot  # noqa: F401 - the fixture
from tests.verify_helpers import run_script

pytestmark = pytest.mark.slow
STATIC = Path(__file__).resolve().parent.parent / "tally_service" / "service" / "static"


@dataclass
class Live:
    url: str
    codes: dict[str, str]
    election: Election


@contextmanager
def serve_election(data: Path, name: str = "AKM") -> Iterator[Live]:
    """A sample election of one unit with round 1 open, served on a free port."""
    from waitress import create_server, wasyncore

    from tally_service.service.app import create_app

    codes: dict[str, str] = {}
    build_election(
        data,
        [
            UnitSpec(
                "AKM", "Akmola Region", 3, 5, name_ru="Акмолинская область", name_kk="Ақмола облысы"
            )
        ],
        codes=codes,
    )
    election = Election(data, Config(checkpoint_every=2))
    election.open_round("AKM", 1)
    srv: Any = create_server(create_app(election), host="127.0.0.1", port=0, threads=4)
    socket_map = srv.map if hasattr(srv, "map") else srv._map
    stopping = threading.Event()

    def run() -> None:
        # srv.run() loops while any connection is open, and a browser keeps its connections
        # alive: stop on a flag and close them here, not after a 5 s join timeout
        while not stopping.is_set():
            wasyncore.loop(timeout=0.05, map=socket_map, count=1)
        wasyncore.close_all(socket_map)
        srv.task_dispatcher.shutdown()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield Live(f"http://127.0.0.1:{srv.effective_port}", codes, election)
    finally:
        stopping.set()
        thread.join(timeout=10)
        election.stop()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with serve_election(tmp_path / "election") as served:
        yield served


def _wait(driver: Any, css: str, timeout: float = 20.0) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(
        ec.visibility_of_element_located((By.CSS_SELECTOR, css))
    )


def _by_id(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def _downloaded(folder: Path, suffix: str, timeout: float = 20.0) -> Path:
    """The file Chromium downloaded, once it is whole: on a loaded machine the file can be seen
    under its final name before its bytes are written, so a JSON file must also parse."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in folder.glob(f"*{suffix}") if not p.name.endswith(".crdownload")]
        for path in found:
            try:
                if path.name.endswith(".json"):
                    json.loads(path.read_text(encoding="utf-8"))
                elif path.stat().st_size == 0:
                    continue
            except (OSError, ValueError):
                continue
            return path
        time.sleep(0.1)
    raise AssertionError(f"no whole *{suffix} was downloaded into {folder}")


def _check_receipt_in_page(driver: Any, receipt: Path, ballot: Path | None) -> dict[str, str]:
    from selenium.webdriver.support.ui import WebDriverWait

    _wait(driver, "#check")
    _by_id(driver, "receipt-file").send_keys(str(receipt))
    if ballot is not None:
        _by_id(driver, "ballot-file").send_keys(str(ballot))
    _by_id(driver, "check").click()
    _wait(driver, "#verdict")
    WebDriverWait(driver, 20).until(lambda d: _by_id(d, "verdict").text.strip())
    return {
        item: _by_id(driver, f"check-{item}").get_attribute("data-ok") or ""
        for item in ("R1", "R2", "R3", "R4", "R5", "R6", "R7")
    }


def test_booth_audit_cast_and_receipt_page(chrome: Any, live: Live, tmp_path: Path) -> None:  # noqa: F811
    driver = chrome
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    console_errors(driver)  # start with an empty console log
    # -- identify, in Russian first: the unit's name shows in the chosen language
    driver.get(f"{live.url}/booth")
    _wait(driver, "#identify")
    assert "commission" in _by_id(driver, "manifest-status").text
    driver.find_element("css selector", "button[data-lang=ru]").click()
    assert "Акмолинская" in _by_id(driver, "unit").text
    assert _by_id(driver, "manifest-status").text  # re-rendered below on load only
    screenshot(driver, "booth-1-identify-ru")
    driver.find_element("css selector", "button[data-lang=en]").click()
    _by_id(driver, "elector").send_keys("AKM-E0002")
    _by_id(driver, "code").send_keys(live.codes["AKM-E0003"])  # someone else's code
    _by_id(driver, "sign-in").click()
    assert "does not give the key" in _wait(driver, "#identify-error").text
    _by_id(driver, "code").clear()
    _by_id(driver, "code").send_keys(live.codes["AKM-E0002"].lower())
    _by_id(driver, "sign-in").click()
    _wait(driver, "#choose")
    screenshot(driver, "booth-2-choose")
    # -- choose and encrypt, then audit
    _by_id(driver, "choice-AKM-C2").click()
    _by_id(driver, "review").click()
    assert "AKM-C2" in _wait(driver, "#confirm-choice").text
    _by_id(driver, "encrypt").click()
    first_tracker = _wait(driver, "#tracker").text.replace(" ", "")
    screenshot(driver, "booth-3-tracker")
    _by_id(driver, "audit").click()
    verdict = _wait(driver, "#audit-verdict")
    assert "Audit passed" in verdict.text and "AKM-C2" in verdict.text
    assert "dishonest server" in _by_id(driver, "audit-elsewhere").text
    assert not _by_id(driver, "cast").is_displayed()  # the audited ballot cannot be cast
    screenshot(driver, "booth-4-audited")
    _by_id(driver, "download-audit").click()
    audited_file = _downloaded(downloads, ".json")
    audited = json.loads(audited_file.read_text())
    assert audited["tracker"] == first_tracker and audited["choice"] == "AKM-C2"
    manifest = live.election.manifest
    ids = {"AKM/1": manifest.candidates("AKM")}
    assert check_audited(audited, manifest.hash, ids, manifest.election_key)[0] is None
    # elsewhere: the observers' tool confirms it, and the service refuses the unsigned ballot
    done = run_script("verify_receipt.py", "--audited", str(audited_file), "--url", live.url)
    assert done.returncode == 0 and "AKM-C2" in done.stdout, done.stdout + done.stderr
    lie = tmp_path / "lying-audit.json"  # a booth that shows C3 but encrypted C2 is caught
    lie.write_text(json.dumps(dict(audited, choice="AKM-C3")))
    done = run_script("verify_receipt.py", "--audited", str(lie), "--url", live.url)
    assert done.returncode == 1 and "does not encrypt" in done.stdout, done.stdout
    r = requests.post(f"{live.url}/api/v1/ballots", json=audited["ballot"], timeout=10)
    assert r.status_code == 400
    audited_file.rename(tmp_path / "audited.json")
    # -- encrypt afresh and cast
    _by_id(driver, "encrypt-again").click()
    _wait(driver, "#encrypt").click()
    second_tracker = _wait(driver, "#tracker").text.replace(" ", "")
    assert second_tracker != first_tracker
    _by_id(driver, "cast").click()
    assert "accepted as entry 0" in _wait(driver, "#cast-result").text
    screenshot(driver, "booth-5-cast")
    _by_id(driver, "download-receipt").click()
    _by_id(driver, "download-ballot").click()
    ballot_file = _downloaded(downloads, ".ballot.json")
    receipt_file = downloads / ballot_file.name.replace(".ballot.json", ".json")
    _downloaded(downloads, receipt_file.name)
    entry = live.election.store.entries("AKM", 1, 0, 1)[0]
    assert ballot_file.read_bytes() == (entry if isinstance(entry, bytes) else entry.encode())
    assert tracker(json.loads(ballot_file.read_bytes())) == second_tracker
    assert [e for e in console_errors(driver) if '/receipts?' not in e] == []
    # -- close, tally, publish; then the receipt page checks R1-R7
    live.election.close_round("AKM", 1)
    insecure.tally_in_process(live.election, "AKM", 1, [1, 2])
    results.publish(live.election, "preliminary")
    results.publish(live.election, "final")
    driver.get(f"{live.url}/receipt")
    checks = _check_receipt_in_page(driver, receipt_file, ballot_file)
    assert checks == {k: "true" for k in checks}, checks
    assert "PASS" in _by_id(driver, "verdict").text
    screenshot(driver, "receipt-1-pass")
    # -- a tampered receipt fails, naming the check
    tampered = json.loads(receipt_file.read_text())
    tampered["leaf_hash"] = "00" * 32
    bad = tmp_path / "tampered-receipt.json"
    bad.write_text(json.dumps(tampered))
    driver.get(f"{live.url}/receipt")
    checks = _check_receipt_in_page(driver, bad, None)
    assert checks["R3"] == "false" and "R3" in _by_id(driver, "verdict").text
    screenshot(driver, "receipt-2-tampered")
    # -- the same page opened from disk, against the service
    driver.get((STATIC / "receipt.html").as_uri() + f"?service={live.url}")
    checks = _check_receipt_in_page(driver, receipt_file, None)
    assert checks == {k: "true" for k in checks}, checks
    screenshot(driver, "receipt-3-from-disk")
    # opened from disk the page has no sealed key: the elector pins the envelope's fingerprint
    from crypto.fingerprint import key_fingerprint

    payload = live.election.manifest.signed["payload"]
    printed = key_fingerprint(bytes.fromhex(payload["commission"]["keys"][0]))
    for typed, r2 in ((printed.upper().replace("-", " "), "true"), ("a" * 32, "false")):
        driver.get((STATIC / "receipt.html").as_uri() + f"?service={live.url}")
        _by_id(driver, "commission-key").send_keys(typed)
        assert _check_receipt_in_page(driver, receipt_file, None)["R2"] == r2, typed
    assert "not the commission's election" in _by_id(driver, "check-R2").text
    assert console_errors(driver) == []
    assert Point  # the election key type, used by check_audited above
