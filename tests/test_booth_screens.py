"""The booth on a phone and on a desktop, in Kazakh and English (issue 25 point 9).

On a 390 x 844 phone the Cast and Audit buttons are on screen once the tracker is shown, the
tracker never breaks inside a group of 8, the election's title, date and round are shown, and an
error is scrolled into view (it takes the focus). Screenshots of each step are kept in
tests/artifacts/screenshots/ (booth-phone-*.png, booth-desktop-*.png).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import chrome, screenshot  # noqa: F401 - the fixture
from tests.test_booth_browser import Live, _by_id, _wait, live  # noqa: F401

pytestmark = pytest.mark.slow

IN_VIEW = """
const r = arguments[0].getBoundingClientRect();
return r.top >= 0 && r.bottom <= window.innerHeight && r.left >= 0 && r.right <= window.innerWidth;
"""
GROUPS_ON_ONE_LINE = """
return [...arguments[0].querySelectorAll('span')].every((s) => s.getClientRects().length === 1);
"""


@pytest.fixture
def phone(chrome: Any) -> Iterator[Any]:  # noqa: F811
    chrome.set_window_size(390, 844)
    try:
        yield chrome
    finally:
        chrome.set_window_size(1100, 1400)


@pytest.mark.parametrize("lang", ["kk", "en"])
def test_the_booth_fits_a_phone(phone: Any, live: Live, lang: str) -> None:  # noqa: F811
    driver = phone
    driver.get(f"{live.url}/booth?lang={lang}")
    _wait(driver, "#identify")
    title = live.election.manifest.signed["payload"]["title"]
    assert (title.get(lang) or title["en"]) in _by_id(driver, "election").text
    screenshot(driver, f"booth-phone-1-identify-{lang}")
    _by_id(driver, "elector").send_keys("AKM-E0001")
    _by_id(driver, "code").send_keys("AAAA")
    driver.execute_script("window.scrollTo(0, 0)")
    _by_id(driver, "sign-in").click()
    error = _wait(driver, "#identify-error")
    assert driver.execute_script(IN_VIEW, error), "the error is below the fold"
    _by_id(driver, "code").clear()
    _by_id(driver, "code").send_keys(live.codes["AKM-E0001"])
    _by_id(driver, "sign-in").click()
    _wait(driver, "#choose")
    assert "1" in _by_id(driver, "round-line").text
    screenshot(driver, f"booth-phone-2-choose-{lang}")
    _by_id(driver, "choice-AKM-C2").click()
    _by_id(driver, "review").click()
    _wait(driver, "#confirm-choice")
    screenshot(driver, f"booth-phone-3-confirm-{lang}")
    _by_id(driver, "encrypt").click()
    tracker = _wait(driver, "#tracker")
    screenshot(driver, f"booth-phone-4-tracker-{lang}")
    for button in ("cast", "audit"):
        assert driver.execute_script(IN_VIEW, _by_id(driver, button)), f"{button} below the fold"
    assert driver.execute_script(GROUPS_ON_ONE_LINE, tracker)
    _by_id(driver, "cast").click()
    _wait(driver, "#cast-result")
    assert driver.execute_script(GROUPS_ON_ONE_LINE, _by_id(driver, "cast-tracker"))
    screenshot(driver, f"booth-phone-5-cast-{lang}")


@pytest.mark.parametrize("lang", ["kk", "en"])
def test_the_booth_on_a_desktop(chrome: Any, live: Live, lang: str) -> None:  # noqa: F811
    driver = chrome
    driver.get(f"{live.url}/booth?lang={lang}")
    _wait(driver, "#identify")
    screenshot(driver, f"booth-desktop-1-identify-{lang}")
    _by_id(driver, "elector").send_keys("AKM-E0002")
    _by_id(driver, "code").send_keys(live.codes["AKM-E0002"])
    _by_id(driver, "sign-in").click()
    _wait(driver, "#choose")
    _by_id(driver, "choice-AKM-C1").click()
    _by_id(driver, "review").click()
    _wait(driver, "#encrypt").click()
    _wait(driver, "#tracker")
    screenshot(driver, f"booth-desktop-2-tracker-{lang}")
    _by_id(driver, "audit").click()
    _wait(driver, "#audit-verdict")
    screenshot(driver, f"booth-desktop-3-audited-{lang}")


NO_SIDEWAYS_SCROLL = "return document.documentElement.scrollWidth <= window.innerWidth;"


@pytest.mark.parametrize("lang", ["kk", "en"])
def test_the_receipt_page_and_ballot_box_fit_a_phone(
    phone: Any, live: Live, lang: str, tmp_path: Any  # noqa: F811
) -> None:
    import json

    from tests.test_booth_browser import _check_receipt_in_page
    from tests.test_receipt_page import cast

    driver = phone
    receipt = cast(live, "AKM-E0003", "AKM-C3")
    path = tmp_path / "receipt.json"
    path.write_text(json.dumps(receipt))
    driver.get(f"{live.url}/receipt?lang={lang}")
    _check_receipt_in_page(driver, path, None)
    assert driver.execute_script(NO_SIDEWAYS_SCROLL)
    screenshot(driver, f"receipt-phone-{lang}")
    driver.get(f"{live.url}/ballots?unit=AKM&round=1&lang={lang}")
    _wait(driver, "#box-status")
    assert driver.execute_script(NO_SIDEWAYS_SCROLL)
    screenshot(driver, f"ballots-phone-{lang}")
