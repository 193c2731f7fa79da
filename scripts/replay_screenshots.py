#!/usr/bin/env python3
"""Screenshots of the public pages during ``scripts/demo --replay-2023``: at 10:00, 10:30,
10:45, 13:00 and after the final result, on a desktop and a phone, in Kazakh and English.

It runs the replay with ``--serve`` (so the pages stay up after the final result) and drives the
distribution's chromium through its chromium-driver (tests/browser.py's flags: nothing downloads
a browser). At each morning moment it stops the replay's simulated clock (the clock file of
tally_service/common/clock.py) while it takes the pictures, then lets it run on; at 13:00 the replay
itself holds (``--hold``). Full-page pictures through the DevTools protocol.

    scripts/replay_screenshots.py [--out DIR] [--speed 10]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import base64
import os
import re
import shutil
import subprocess
import tempfile
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests

from tally_service.common import clock

TOP = Path(__file__).resolve().parent.parent
ZONE = ZoneInfo("Asia/Almaty")
SIZES = {"desktop": (1280, 900), "phone": (390, 844)}
MORNING = ("10:00", "10:30", "10:45")


def driver(profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    from tests.browser import CHROMEDRIVER, FLAGS, _chromium_binary

    binary = _chromium_binary()
    if binary is None or not CHROMEDRIVER.exists():
        raise SystemExit("replay_screenshots: chromium and chromium-driver are not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    service = Service(str(CHROMEDRIVER), env={**os.environ, "TMPDIR": str(profile.parent)})
    return webdriver.Chrome(service=service, options=options)


def shoot(chrome: Any, url: str, path: Path, size: tuple[int, int]) -> None:
    width, height = size
    chrome.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )
    chrome.get(url)
    shot = chrome.execute_cdp_cmd(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
    )
    path.write_bytes(base64.b64decode(shot["data"]))


def simulated(path: Path) -> datetime:
    return datetime.fromtimestamp(clock.read_setting(path).at(time.time()), ZONE)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    default_out = TOP / "tests" / "artifacts" / "screenshots" / "replay"
    parser.add_argument("--out", default=str(default_out), help="where the pictures go")
    parser.add_argument("--speed", default="10", help="the replay's --speed (default 10)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="kz-tally-shots-"))
    demo = subprocess.Popen(
        [sys.executable, str(TOP / "scripts" / "demo.py"), "--replay-2023", "--speed",
         args.speed, "--hold", "60", "--serve", "--close-after", "120"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TMPDIR": str(scratch)},
    )  # fmt: skip
    chrome = None
    try:
        assert demo.stdout is not None
        url = ""
        for line in demo.stdout:
            print(line, end="", flush=True)
            found = re.search(r"watch it at (http://\S+)/", line)
            if found:
                url = found.group(1)
                break
        if not url:
            raise SystemExit("replay_screenshots: the replay did not start")
        clock_file = next(scratch.glob("kz-tally-demo-*/clock.json"))
        chrome = driver(scratch / "profile")

        def pages(moment: str, paths: dict[str, str]) -> None:
            for lang in ("kk", "en"):
                for size_name, size in SIZES.items():
                    for name, path in paths.items():
                        shoot(chrome, f"{url}{path}?lang={lang}",
                              out / f"{moment}-{name}-{size_name}-{lang}.png", size)  # fmt: skip
            print(f"screenshots at {moment}", flush=True)

        for moment in MORNING:
            hour, minute = (int(x) for x in moment.split(":"))
            while simulated(clock_file) < simulated(clock_file).replace(hour=hour, minute=minute):
                time.sleep(0.05)
            setting = clock.read_setting(clock_file)
            clock.write_setting(clock_file, setting.at(time.time()), 0.0)
            pages(moment.replace(":", ""), {"overview": "/"})
            stopped_at = clock.read_setting(clock_file).simulated
            clock.write_setting(clock_file, stopped_at, float(args.speed))
        while requests.get(f"{url}/api/v1/results/preliminary", timeout=10).status_code != 200:
            time.sleep(0.2)
        pages("1300", {"overview": "/", "results": "/results", "unit": "/units/ULY"})
        while requests.get(f"{url}/api/v1/results/final", timeout=10).status_code != 200:
            time.sleep(0.2)
        pages(
            "final",
            {
                "overview": "/",
                "results": "/results",
                "unit": "/units/ULY",
                "protocol": "/units/ULY/rounds/1/protocol",
                "observe": "/observe",
            },
        )
    finally:
        if chrome is not None:
            chrome.quit()
        demo.terminate()
        demo.wait(timeout=300)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
