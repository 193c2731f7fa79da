"""Accessibility checked by a tool, not by eye: axe-core (vendored from npm for the tests only,
tests/vendor/, checked by scripts/vendor_js.py --check) runs in Chromium on the booth at each
step, the receipt page with a verdict, the public ballot box and the public pages; no serious or
critical violation of WCAG 2 A/AA rules is allowed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.browser import chrome  # noqa: F401 - the fixture
from tests.test_booth_browser import Live, _by_id, _check_receipt_in_page, _wait, live  # noqa: F401
from tests.test_receipt_page import cast

pytestmark = pytest.mark.slow
# Known, reported to the public pages' owner (issue 25): the overview's tile map is an <svg
# role="img"> holding links (axe: nested-interactive). Only this node of this rule on that page
# is let through; anything else fails.
KNOWN = {"public page /?lang=kk: nested-interactive (serious) at [\".tiles\"]"}
AXE = (Path(__file__).resolve().parent / "vendor" / "axe.min.js").read_text("utf-8")
RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
  .then((r) => done(r.violations.map((v) => ({id: v.id, impact: v.impact,
    nodes: v.nodes.map((n) => n.target.join(" ")).slice(0, 3)}))))
  .catch((e) => done([{id: "axe-error", impact: "critical", nodes: [String(e)]}]));
"""


def serious(driver: Any, where: str) -> list[str]:
    if not driver.execute_script("return typeof axe !== 'undefined'"):
        driver.execute_script(AXE)
    driver.set_script_timeout(120)
    found = driver.execute_async_script(RUN_AXE)
    return [
        f"{where}: {v['id']} ({v['impact']}) at {json.dumps(v['nodes'])}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


def test_no_serious_accessibility_violation(
    chrome: Any,  # noqa: F811
    live: Live,  # noqa: F811
    tmp_path: Path,
) -> None:
    driver = chrome
    problems: list[str] = []
    for lang in ("kk", "en"):
        driver.get(f"{live.url}/booth?lang={lang}")
        _wait(driver, "#identify")
        problems += serious(driver, f"booth identify {lang}")
    _by_id(driver, "elector").send_keys("AKM-E0001")
    _by_id(driver, "code").send_keys(live.codes["AKM-E0001"])
    _by_id(driver, "sign-in").click()
    _wait(driver, "#choose")
    problems += serious(driver, "booth choose")
    _by_id(driver, "choice-AKM-C1").click()
    _by_id(driver, "review").click()
    _wait(driver, "#encrypt").click()
    _wait(driver, "#tracker")
    problems += serious(driver, "booth tracker")
    _by_id(driver, "cast").click()
    _wait(driver, "#cast-result")
    problems += serious(driver, "booth cast")
    receipt = cast(live, "AKM-E0002", None)
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_text(json.dumps(receipt))
    driver.get(f"{live.url}/receipt?lang=ru")
    _check_receipt_in_page(driver, receipt_file, None)
    problems += serious(driver, "receipt page")
    driver.get(f"{live.url}/ballots?unit=AKM&round=1&lang=kk")
    _wait(driver, "#box-status")
    problems += serious(driver, "ballot box")
    for path in ("/?lang=kk", "/observe?lang=en", "/units/AKM?lang=ru", "/results?lang=en"):
        driver.get(live.url + path)
        problems += serious(driver, f"public page {path}")
    left = [p for p in problems if p not in KNOWN]
    assert left == [], "\n".join(left)
