"""The public pages in headless Chromium during a small election: every page in every language
without console errors, figures equal to the signed checkpoints and results, live updates
within one checkpoint period plus 2 s, the quorum time once reached, both rounds of a runoff."""

from __future__ import annotations

import base64
import json
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chrome, console_errors, screenshot  # noqa: F401 (fixture)
from tests.public_helpers import SmallElection, serving

pytestmark = pytest.mark.slow

CHECKPOINT_SECONDS = 1.0
LANGS = ("kk", "ru", "en")


def _cell(driver: Any, unit: str, field: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, f'tr[data-unit="{unit}"] [data-field="{field}"]')


def _wait_for(driver: Any, unit: str, field: str, value: str, seconds: float) -> float:
    """Seconds until the overview shows ``value`` in a unit's cell (fails after ``seconds``)."""
    from selenium.common.exceptions import StaleElementReferenceException

    began = time.monotonic()
    while time.monotonic() - began < seconds:
        try:
            if _cell(driver, unit, field).get_attribute("data-value") == value:
                return time.monotonic() - began
        except StaleElementReferenceException:
            pass  # the page swapped its <main> in between
        time.sleep(0.1)
    raise AssertionError(f"{unit} {field} did not become {value} within {seconds} s")


def _doc(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def test_public_pages_in_chromium(chrome: Any, tmp_path: Path) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    small = SmallElection(tmp_path / "election", CHECKPOINT_SECONDS)
    election = small.election
    with serving(election) as base:
        for unit in ("AST", "KAR"):
            election.open_round(unit, 1)
        chrome.set_window_size(1280, 1000)
        chrome.get(f"{base}/?lang=en")
        assert console_errors(chrome) == []
        assert _cell(chrome, "AST", "took_part").get_attribute("data-value") == "0"

        # live: a new ballot shows within one checkpoint period + 2 s, without a reload
        small.cast("AST", 1, [0])
        _wait_for(chrome, "AST", "took_part", "1", CHECKPOINT_SECONDS + 2)
        assert _cell(chrome, "AST", "quorum").get_attribute("data-value") == "no"
        # quorum (more than half of 10) at the 6th ballot: its signed time appears
        small.cast("AST", 1, [0, 0, 1, 0, None])
        _wait_for(chrome, "AST", "quorum", "yes", CHECKPOINT_SECONDS + 2)
        quorum_text = _cell(chrome, "AST", "quorum").text
        assert ":" in quorum_text and "not signed" not in quorum_text
        assert small.latest_size("AST", 1) == 6
        screenshot(chrome, "overview-live-en")

        small.cast("AST", 1, [0, 0])
        small.cast("KAR", 1, [0, 0, 0, 0, 1, 1, 1, 2, 2])
        small.run_to_final()
        time.sleep(0.2)

        turnout = _doc(f"{base}/api/v1/public/turnout")
        final = _doc(f"{base}/api/v1/results/final")["payload"]
        pages = ["/", "/units/AST", "/units/KAR", "/results", "/observe"]
        for lang in LANGS:
            for path in pages:
                chrome.get(f"{base}{path}?lang={lang}")
                assert chrome.find_element(By.TAG_NAME, "html").get_attribute("lang") == lang
                assert console_errors(chrome) == [], (path, lang)
                name = "overview" if path == "/" else path.strip("/").replace("/", "-")
                screenshot(chrome, f"{name}-{lang}")
                if path == "/":
                    for unit in ("AST", "KAR"):
                        signed = next(u for u in turnout["units"] if u["unit"] == unit)
                        took_part = _cell(chrome, unit, "took_part")
                        assert took_part.get_attribute("data-value") == str(signed["took_part"])
                        assert small.latest_size(unit, signed["round"]) == signed["took_part"]
                        assert _cell(chrome, unit, "quorum").get_attribute("data-value") == "yes"
                    if lang == "kk":
                        assert "Қарағанды облысы" in chrome.page_source
                if path == "/units/KAR":
                    rounds = chrome.find_elements(By.CSS_SELECTOR, "section.round-result")
                    assert [r.get_attribute("data-round") for r in rounds] == ["1", "2"]
                    signed_rounds = next(u for u in final["units"] if u["unit"] == "KAR")["rounds"]
                    for section, figures in zip(rounds, signed_rounds, strict=True):
                        for cid, votes in figures["votes"].items():
                            cell = section.find_element(
                                By.CSS_SELECTOR, f'tr[data-candidate="{cid}"] td'
                            )
                            assert cell.get_attribute("data-value") == str(votes)
                    checkpoints = chrome.find_elements(By.CSS_SELECTOR, "section.round")
                    assert len(checkpoints) == 2
        # a phone's width: the overview and a unit's results
        chrome.set_window_size(390, 900)
        for path, name in (("/", "overview-phone"), ("/units/KAR", "unit-phone")):
            chrome.get(f"{base}{path}?lang=ru")
            assert console_errors(chrome) == []
            width = chrome.execute_script("return document.documentElement.scrollWidth")
            assert width <= 390 + 1, f"{path} scrolls sideways on a phone ({width}px)"
            screenshot(chrome, name)
        # issue 28: no table wider than the screen either (a table in a scrolling box hid
        # "quorum reached" and the status on a phone), on every page, in every language
        phone_pages = [*pages, "/units/KAR/rounds/2/protocol"]
        for lang in LANGS:
            for path in phone_pages:
                chrome.get(f"{base}{path}?lang={lang}")
                widest, screen = chrome.execute_script(
                    "return [Math.max(0, ...[...document.querySelectorAll('table')]"
                    ".map(t => t.getBoundingClientRect().right)), window.innerWidth]"
                )
                assert widest <= screen + 1, f"{path}?lang={lang}: a table {widest}px > {screen}px"
        # a result protocol prints on one A4 page (the print style sheet)
        for lang in LANGS:
            for round_no in (1, 2):
                chrome.get(f"{base}/units/KAR/rounds/{round_no}/protocol?lang={lang}")
                pdf = chrome.execute_cdp_cmd(
                    "Page.printToPDF", {"paperWidth": 8.27, "paperHeight": 11.69}
                )["data"]
                pages = re.findall(rb"/Type\s*/Page[^s]", base64.b64decode(pdf))
                assert len(pages) == 1, (round_no, lang, len(pages))
        chrome.set_window_size(1280, 1000)
