"""The browser for page tests: the distribution's chromium, driven by its chromium-driver.

``chrome`` is a session-scoped fixture (a Selenium webdriver); it skips, with the reason, when
chromium or chromedriver is not installed (scripts/test installs them with apt-get when it runs
as root). Selenium is pointed at /usr/bin/chromedriver and the system chromium binary, so
Selenium Manager never runs and nothing downloads a browser. ``screenshot`` keeps a picture
of each step under tests/artifacts/screenshots/ (gitignored), the test run's artifacts.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1100,1400",
)


def _chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def chrome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    binary = _chromium_binary()
    if binary is None or not CHROMEDRIVER.exists():
        pytest.skip(
            "chromium and chromium-driver are not installed: apt-get install chromium "
            "chromium-driver (scripts/test does this when run as root)"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install -e '.[test]')")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # chromium's own scratch files go under pytest's temporary folder too, not /tmp
    scratch = tmp_path_factory.mktemp("chromium-tmp")
    service = Service(str(CHROMEDRIVER), env={**os.environ, "TMPDIR": str(scratch)})
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: Any, name: str) -> Path:
    """Save the page as tests/artifacts/screenshots/<name>.png and return the path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def console_errors(driver: Any) -> list[str]:
    """The browser console's errors since the last call (SEVERE entries)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
