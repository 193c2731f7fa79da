"""The public ballot box (/ballots): every accepted ballot's tracker, checked in the page against
the signed log; a list the service makes up is refused. The JS Merkle root (merkle.js rootOf)
is checked against crypto/merkle.py first."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from crypto.audit import tracker
from crypto.merkle import root
from tests.browser import chrome, console_errors, screenshot  # noqa: F401 - the fixture
from tests.test_booth_browser import Live, _by_id, _wait, live  # noqa: F401
from tests.test_js_crypto import ROOT
from tests.test_receipt_page import cast

ROOT_JS = """
const { load } = require(process.argv[1]);
load().then((KZ) => {
  const out = [];
  for (let n = 0; n <= 9; n++) {
    const leaves = [...Array(n).keys()].map((i) => KZ.merkle.leafHash(new Uint8Array([i])));
    out.push(KZ.canonical.hex(KZ.merkle.rootOf(leaves)));
  }
  process.stdout.write(JSON.stringify(out));
});
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_javascript_merkle_root_is_rfc9162s() -> None:
    from crypto.merkle import leaf_hash

    done = subprocess.run(
        ["node", "-e", ROOT_JS, str(ROOT / "tests" / "js" / "kz_node.js")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr
    expected = [root([leaf_hash(bytes([i])) for i in range(n)]).hex() for n in range(10)]
    assert json.loads(done.stdout) == expected


@pytest.mark.slow
def test_the_ballot_box_lists_the_signed_log_and_refuses_a_made_up_list(
    chrome: Any,  # noqa: F811
    live: Live,  # noqa: F811
) -> None:
    driver = chrome
    receipts = [cast(live, f"AKM-E000{i}", "AKM-C1") for i in (1, 2, 3)]
    entries = [json.loads(e) for e in live.election.store.entries("AKM", 1, 0, 3)]
    mine = tracker(entries[1])
    assert receipts[1]["index"] == 1
    driver.get(f"{live.url}/ballots?unit=AKM&round=1&tracker={mine}&lang=en")
    status = _wait(driver, "#box-status")
    assert "Checked: these are exactly the 2 entries" in status.text, status.text
    assert "(1 accepted since)" in status.text
    rows = driver.find_elements("css selector", "#entries tr")
    assert len(rows) == 1  # the search box holds the tracker from the link
    assert rows[0].get_attribute("id") == f"t-{mine}" and "mine" in rows[0].get_attribute("class")
    _by_id(driver, "search").clear()
    _by_id(driver, "search").send_keys(" ")
    rows = driver.find_elements("css selector", "#entries tr")
    assert [r.get_attribute("data-covered") for r in rows] == ["true", "true", "false"]
    assert {r.get_attribute("id")[2:] for r in rows} == {tracker(e) for e in entries}
    screenshot(driver, "ballots-1-checked")
    assert console_errors(driver) == []
    # a service that leaves a ballot out of the list (or swaps one) is caught
    driver.execute_script(
        """
        window.__realFetch = window.__realFetch || window.fetch;
        window.fetch = async (url, opts) => {
          const r = await window.__realFetch(url, opts);
          if (!String(url).includes("/entries")) return r;
          const page = await r.json();
          if (page.entries.length) page.entries[0].elector = "AKM-E0004";
          return new Response(JSON.stringify(page), {status: 200});
        };
        """
    )
    _by_id(driver, "load").click()
    _wait(driver, "#box-status")
    driver.find_element("css selector", "button[data-lang=kk]").click()
    assert "БЕРМЕЙДІ" in _by_id(driver, "box-status").text
    driver.find_element("css selector", "button[data-lang=en]").click()
    assert "NOT hash" in _by_id(driver, "box-status").text
    assert driver.find_elements("css selector", "#entries tr") == []
    screenshot(driver, "ballots-2-made-up")
