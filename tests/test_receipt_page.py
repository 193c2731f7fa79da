"""The receipt page and the CLI before the close, and the pages' languages (issue 25, 4 and 5).

- A receipt checked while its round is open is PENDING, not FAIL: the CLI exits 3 with
  ``VERDICT: PENDING (R6)``, the page shows a PENDING verdict of its own; after the close and
  before the tally both wait on R7; after the results both PASS.
- The booth and the receipt page open in ``?lang=`` or the browser's language, every message
  key exists in kk and ru (in Cyrillic letters, with the same fields), and every key the pages'
  scripts use exists.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import requests

from crypto.credentials import derive_key
from scripts.builders import insecure
from tally_service.elector.ballot import make_ballot
from tally_service.service import results
from tests.browser import chrome, screenshot  # noqa: F401 - the fixture
from tests.test_booth_browser import (  # noqa: F401 - live is a fixture
    STATIC,
    Live,
    _by_id,
    _check_receipt_in_page,
    _wait,
    live,
)
from tests.verify_helpers import receipt_checker, run_script

pytestmark = pytest.mark.slow


def cast(live: Live, elector: str, choice: str | None) -> dict[str, Any]:  # noqa: F811
    election = live.election
    key = derive_key(live.codes[elector], election.manifest.election_id, elector)
    ballot = make_ballot(
        election.manifest.hash, "AKM", 1, elector, election.log("AKM", 1).candidates, choice,
        election.manifest.election_key, key,
    )
    r = requests.post(f"{live.url}/api/v1/ballots", json=ballot, timeout=30)
    assert r.status_code == 201, r.text
    receipt: dict[str, Any] = r.json()
    return receipt


def cli(receipt_file: Path, live: Live) -> tuple[int, str]:  # noqa: F811
    done = run_script("verify_receipt.py", str(receipt_file), "--url", live.url)
    return done.returncode, done.stdout + done.stderr


def test_a_receipt_before_the_close_is_pending_not_fail(
    chrome: Any,  # noqa: F811
    live: Live,  # noqa: F811
    tmp_path: Path,
) -> None:
    driver = chrome
    first = cast(live, "AKM-E0001", "AKM-C1")
    assert first["proof"] is None  # no checkpoint covers it yet
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_text(json.dumps(first))
    code, out = cli(receipt_file, live)
    assert code == 3 and "VERDICT: PENDING (R5)" in out, out
    for elector in ("AKM-E0002", "AKM-E0003"):  # a checkpoint now covers entry 0
        cast(live, elector, "AKM-C2")
    code, out = cli(receipt_file, live)
    assert code == 3 and "VERDICT: PENDING (R6)" in out and "R6 WAIT" in out, out
    assert "Check again after the round closes" in out
    driver.get(f"{live.url}/receipt?lang=en")
    checks = _check_receipt_in_page(driver, receipt_file, None)
    assert checks == {"R1": "true", "R2": "true", "R3": "true", "R4": "true", "R5": "true",
                      "R6": "null", "R7": "null"}, checks
    verdict = _by_id(driver, "verdict")
    assert verdict.get_attribute("data-state") == "pending" and "PENDING (R6)" in verdict.text
    assert _by_id(driver, "check-R6").get_attribute("data-pending") == "true"
    assert "not closed yet" in _by_id(driver, "check-R6").text
    assert "FAIL" not in _by_id(driver, "result").text
    assert "names no witnesses" in _by_id(driver, "left-out").text  # what the page leaves out
    screenshot(driver, "receipt-pending-en")
    driver.find_element("css selector", "button[data-lang=kk]").click()
    assert "КҮТУДЕ" in _by_id(driver, "verdict").text
    assert "жабылған жоқ" in _by_id(driver, "check-R6").text
    screenshot(driver, "receipt-pending-kk")
    # PENDING is never a cover for a rewritten log: a consistency proof that does not hold
    # between the receipt's checkpoint and the newest one FAILS R6 before the close too
    verdict = receipt_checker.Verdict("rewritten")
    source = receipt_checker.ServiceSource(live.url)
    source.consistency = lambda *_: [b"\x07" * 32]  # type: ignore[method-assign]
    receipt_checker.check_receipt(json.loads(receipt_file.read_text()), source, verdict)
    assert verdict.state == "FAIL" and verdict.items["R6"].ok is False
    assert "rewritten" in verdict.items["R6"].detail
    # closed, not yet tallied: R7 waits
    live.election.close_round("AKM", 1)
    code, out = cli(receipt_file, live)
    assert code == 3 and "VERDICT: PENDING (R7)" in out, out
    # tallied and published: PASS in both
    insecure.tally_in_process(live.election, "AKM", 1, [1, 2])
    results.publish(live.election, "preliminary")
    results.publish(live.election, "final")
    code, out = cli(receipt_file, live)
    assert code == 0 and "VERDICT: PASS" in out, out
    driver.get(f"{live.url}/receipt?lang=en")
    checks = _check_receipt_in_page(driver, receipt_file, None)
    assert set(checks.values()) == {"true"}, checks
    assert _by_id(driver, "verdict").get_attribute("data-state") == "pass"
    # a tampered receipt still FAILS, exit 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(first, leaf_hash="00" * 32)))
    code, out = cli(bad, live)
    assert code == 1 and "VERDICT: FAIL (R3)" in out, out


KEY_USES = re.compile(
    r"""(?:Said|Stop|say|KZ\.t)\(\s*"([a-z0-9_]+)"|\[\s*"(r\d_[a-z_]+)"|key: "([a-z_]+)"|"""
    r"""data-t="([a-z0-9_]+)"|say\("[a-z-]+", "([a-z0-9_]+)\""""
)


def test_every_message_is_translated_and_pages_open_in_the_asked_language(
    chrome: Any,  # noqa: F811
    live: Live,  # noqa: F811
) -> None:
    driver = chrome
    driver.get(f"{live.url}/booth?lang=kk")
    _wait(driver, "#identify")
    strings: dict[str, dict[str, str]] = driver.execute_script("return KZ.strings")
    assert driver.execute_script("return KZ.lang") == "kk"
    assert _by_id(driver, "sign-in").text == strings["kk"]["sign_in"]
    assert driver.find_element("css selector", "h1").text == strings["kk"]["booth_title"]
    # every key, in kk and ru, in Cyrillic and with the English text's fields
    for key, text in strings["en"].items():
        fields = set(re.findall(r"\{(\w+)\}", text))
        for lang in ("kk", "ru"):
            said = strings[lang].get(key)
            assert said, f"{lang}: no text for {key}"
            assert re.search("[А-Яа-яӘәҒғҚқҢңӨөҰұҮүҺһІі]", said), f"{lang}: {key} is not translated"
            assert set(re.findall(r"\{(\w+)\}", said)) == fields, f"{lang}: {key}'s fields"
    assert set(strings["kk"]) == set(strings["en"]) == set(strings["ru"])
    # every key the pages use exists
    used: set[str] = set()
    for path in [*(STATIC / "js").glob("*.js"), STATIC / "booth.html", STATIC / "receipt.html"]:
        for match in KEY_USES.finditer(path.read_text("utf-8")):
            used.update(g for g in match.groups() if g)
    assert used - {"R1"} and not (used - set(strings["en"])), used - set(strings["en"])
    # an error message after sign-in, in Kazakh: a typo in the code, and a wrong elector id
    _by_id(driver, "elector").send_keys("AKM-E0001")
    code = live.codes["AKM-E0001"]
    typo = code[:-1] + ("A" if code[-1] != "A" else "B")
    _by_id(driver, "code").send_keys(typo)
    _by_id(driver, "sign-in").click()
    error = _wait(driver, "#identify-error")
    assert error.text in (strings["kk"]["code_check"],), error.text
    assert driver.switch_to.active_element.get_attribute("id") == "identify-error"
    screenshot(driver, "booth-error-kk")
    driver.find_element("css selector", "button[data-lang=ru]").click()
    assert _by_id(driver, "identify-error").text == strings["ru"]["code_check"]
    assert "lang=ru" in driver.current_url
    # the browser's language, when the link names none
    driver.execute_cdp_cmd(
        "Network.setUserAgentOverride",
        {"userAgent": driver.execute_script("return navigator.userAgent"),
         "acceptLanguage": "ru-RU,ru;q=0.9"},
    )
    try:
        driver.get(f"{live.url}/receipt")
        _wait(driver, "#check")
        assert driver.find_element("css selector", "h1").text == strings["ru"]["receipt_title"]
        assert driver.execute_script("return document.documentElement.lang") == "ru"
    finally:
        driver.execute_cdp_cmd(
            "Network.setUserAgentOverride",
            {"userAgent": driver.execute_script("return navigator.userAgent"),
             "acceptLanguage": "en"},
        )
