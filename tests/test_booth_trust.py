"""The booth's attacks of issue 25, each reproduced end to end in Chromium.

1. A choice the elector no longer sees: after encrypting, the choice is frozen and shown by name
   (a review step names it before encrypting); a change throws the encryption away.
2. A lost answer to Cast: the page finds out from the service whether the ballot went in, shows
   the receipt or "not cast", and never offers to audit a ballot that may have been cast.
3. A foreign service through the link: ``/booth?service=...&commission_key=...`` changes neither
   the service the booth talks to nor the key it trusts; a receipt whose promise does not check
   is never called "accepted".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from crypto.ballot import sign_ballot
from crypto.credentials import derive_key
from crypto.fingerprint import election_fingerprint, key_fingerprint
from tests.browser import chrome, console_errors, screenshot  # noqa: F401 - the fixture
from tests.test_booth_browser import Live, _by_id, _wait, live, serve_election  # noqa: F401
from tests.verify_helpers import run_script

pytestmark = pytest.mark.slow

# Replaces the page's fetch so that the answer to the cast (and, for "forged", the service's
# receipt look-ups) is lost or altered on the way back, as a dropped connection or a meddling
# proxy would: "lost" lets the POST reach the service, "dropped" does not.
FETCH_TRAP = """
const mode = arguments[0];
window.__realFetch = window.__realFetch || window.fetch;
const real = window.__realFetch;
const forge = async (r) => {
  const j = await r.json();
  j.index += 1;
  const headers = {"Content-Type": "application/json"};
  return new Response(JSON.stringify(j), {status: r.status, headers});
};
window.fetch = async function (url, opts) {
  const u = String(url);
  if (opts && opts.method === "POST" && u.endsWith("/ballots")) {
    if (mode === "dropped") throw new TypeError("Failed to fetch");
    const r = await real(url, opts);
    if (mode === "lost") throw new TypeError("Failed to fetch");
    if (mode === "forged") return forge(r);
    return r;
  }
  if (mode === "forged" && u.includes("/receipts?")) {
    const r = await real(url, opts);
    return r.ok ? forge(r) : r;
  }
  return real(url, opts);
};
"""


def page_errors(driver: Any) -> list[str]:
    """Console errors, but for the 404 of a receipt look-up: the booth's answer to "not cast"."""
    return [e for e in console_errors(driver) if not ("/receipts?" in e and "404" in e)]


def sign_in(driver: Any, served: Live, elector: str, url: str | None = None) -> None:
    driver.get(url or f"{served.url}/booth?lang=en")
    _wait(driver, "#identify")
    _by_id(driver, "elector").send_keys(elector)
    _by_id(driver, "code").send_keys(served.codes[elector])
    _by_id(driver, "sign-in").click()
    _wait(driver, "#choose")


def encrypt_choice(driver: Any, choice: str) -> str:
    _by_id(driver, f"choice-{choice}").click()
    _by_id(driver, "review").click()
    _wait(driver, "#encrypt").click()
    return str(_wait(driver, "#tracker").text.replace(" ", ""))


def visible_buttons(driver: Any) -> set[str]:
    return {
        b.get_attribute("id")
        for b in driver.find_elements("css selector", "button[id]")
        if b.is_displayed()
    }


def test_the_encrypted_choice_is_frozen_and_named(
    chrome: Any,  # noqa: F811
    live: Live,  # noqa: F811
    tmp_path: Path,
) -> None:
    driver = chrome
    sign_in(driver, live, "AKM-E0001")
    _by_id(driver, "choice-AKM-C1").click()
    _by_id(driver, "review").click()
    # the review step names the candidate before anything is encrypted
    assert "Candidate 1 of AKM" in _wait(driver, "#confirm-choice").text
    # a choice changed behind the review step (by a script) sends the elector back to choose
    driver.execute_script("document.getElementById('choice-AKM-C2').click()")
    assert not _by_id(driver, "confirm").is_displayed() and _by_id(driver, "choose").is_displayed()
    _by_id(driver, "choice-AKM-C1").click()
    _by_id(driver, "review").click()
    _wait(driver, "#encrypt").click()
    _wait(driver, "#tracker")
    assert "Candidate 1 of AKM (AKM-C1)" in _by_id(driver, "sealed-choice").text
    screenshot(driver, "booth-frozen-choice")
    # no choice can be changed while the encryption stands: no radio button is on screen
    radios = driver.find_elements("css selector", "input[name=choice]")
    assert radios and not any(r.is_displayed() and r.is_enabled() for r in radios)
    # a change forced through the page's script throws the encryption away
    driver.execute_script("document.getElementById('choice-AKM-C3').click()")
    assert not _by_id(driver, "challenge").is_displayed()
    assert not _by_id(driver, "cast").is_displayed()
    # "Change my choice", then a new choice: what is encrypted is what is shown
    encrypt_choice(driver, "AKM-C3")
    assert "AKM-C3" in _by_id(driver, "sealed-choice").text
    _by_id(driver, "audit").click()
    assert "AKM-C3" in _wait(driver, "#audit-verdict").text
    audited = json.loads(_by_id(driver, "audit-data").text)
    assert audited["choice"] == "AKM-C3"
    # the observers' tool says the audited ballot was never cast ...
    audited_file = tmp_path / "audited.json"
    audited_file.write_text(json.dumps(audited))
    done = run_script("verify_receipt.py", "--audited", str(audited_file), "--url", live.url)
    assert done.returncode == 0 and "never cast" in done.stdout, done.stdout + done.stderr
    # ... and FAILS once that very ballot is in the log: an audit that revealed a cast vote
    key = derive_key(live.codes["AKM-E0001"], live.election.manifest.election_id, "AKM-E0001")
    posted = requests.post(
        f"{live.url}/api/v1/ballots", json=sign_ballot(audited["ballot"], key), timeout=30
    )
    assert posted.status_code == 201, posted.text
    done = run_script("verify_receipt.py", "--audited", str(audited_file), "--url", live.url)
    assert done.returncode == 1 and "WAS CAST" in done.stdout, done.stdout + done.stderr
    assert page_errors(driver) == []


def test_a_lost_answer_to_cast_is_resolved_and_never_audited(
    chrome: Any,  # noqa: F811
    live: Live,  # noqa: F811
) -> None:
    driver = chrome
    # -- the service took the ballot, the answer was lost: the page finds the entry
    sign_in(driver, live, "AKM-E0001")
    encrypt_choice(driver, "AKM-C2")
    driver.execute_script(FETCH_TRAP, "lost")
    _by_id(driver, "cast").click()
    text = _wait(driver, "#cast-result").text
    assert "entry 0" in text and "lost" in text, text
    assert "audit" not in visible_buttons(driver)
    assert live.election.store.entries("AKM", 1, 0, 1)
    screenshot(driver, "booth-lost-answer-found")
    # -- the POST never reached the service: the page says so, offers a new encryption only
    sign_in(driver, live, "AKM-E0002")
    first = encrypt_choice(driver, "AKM-C1")
    driver.execute_script(FETCH_TRAP, "dropped")
    _by_id(driver, "cast").click()
    _wait(driver, "#encrypt-new")
    assert "not cast" in _by_id(driver, "doubt-status").text
    assert "audit" not in visible_buttons(driver)
    screenshot(driver, "booth-lost-answer-not-cast")
    driver.execute_script(FETCH_TRAP, "none")
    _by_id(driver, "encrypt-new").click()
    _wait(driver, "#encrypt").click()
    second = _wait(driver, "#tracker").text.replace(" ", "")
    assert second != first  # a fresh encryption, never the one that was posted
    _by_id(driver, "cast").click()
    assert "entry 1" in _wait(driver, "#cast-result").text
    # -- an elector who has voted is told so at sign-in, before choosing
    driver.get(f"{live.url}/booth?lang=en")
    _wait(driver, "#identify")
    _by_id(driver, "elector").send_keys("AKM-E0001")
    _by_id(driver, "code").send_keys(live.codes["AKM-E0001"])
    _by_id(driver, "sign-in").click()
    assert "already voted" in _wait(driver, "#cast-result").text
    assert not _by_id(driver, "choose").is_displayed()


def test_the_link_cannot_point_the_booth_elsewhere(
    chrome: Any,  # noqa: F811
    live: Live,  # noqa: F811
    tmp_path: Path,
) -> None:
    driver = chrome
    genuine = live.election.manifest
    with serve_election(tmp_path / "foreign") as foreign:
        foreign_key = foreign.election.manifest.signed["payload"]["commission"]["keys"][0]
        link = f"{live.url}/booth?lang=en&service={foreign.url}&commission_key={foreign_key}"
        sign_in(driver, live, "AKM-E0003", url=link)
        payload = genuine.signed["payload"]
        assert _by_id(driver, "election-fingerprint").text == election_fingerprint(payload)
        assert _by_id(driver, "key-fingerprint").text == key_fingerprint(
            bytes.fromhex(payload["commission"]["keys"][0])
        )
        encrypt_choice(driver, "AKM-C1")
        _by_id(driver, "cast").click()
        assert "entry 0" in _wait(driver, "#cast-result").text
        assert foreign.election.log("AKM", 1).tree.size == 0
        assert live.election.log("AKM", 1).tree.size == 1
    # the static copy, served without the sealed key, refuses to run
    driver.get(f"{live.url}/static/booth.html")
    assert "no commission key" in _wait(driver, "#error").text
    assert not _by_id(driver, "identify").is_displayed()


def test_a_receipt_whose_promise_does_not_check_is_not_accepted(
    chrome: Any,  # noqa: F811
    live: Live,  # noqa: F811
) -> None:
    driver = chrome
    sign_in(driver, live, "AKM-E0004")
    encrypt_choice(driver, "AKM-C2")
    driver.execute_script(FETCH_TRAP, "forged")  # the index moved: the promise no longer fits
    _by_id(driver, "cast").click()
    _wait(driver, "#check-again")
    assert not _by_id(driver, "done").is_displayed()
    assert "cannot tell" in _by_id(driver, "doubt-status").text
    assert "audit" not in visible_buttons(driver)
    # an honest answer on the next try settles it
    driver.execute_script(FETCH_TRAP, "none")
    _by_id(driver, "check-again").click()
    assert "entry 0" in _wait(driver, "#cast-result").text
    assert requests.get(f"{live.url}/booth", timeout=10).headers["X-Frame-Options"] == "DENY"
