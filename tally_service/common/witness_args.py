"""Witnesses on the command line: a witness's key file, and ``NAME=URL`` pairs.

The witness reads its own key file (``witness serve``), and so does a guardian that also
witnesses (``guardian watch --witness-key``); the service takes the witnesses' URLs
(``serve --witness``)."""

from __future__ import annotations

from pathlib import Path

from crypto.cosignature import CosignatureError, Cosigner
from tally_service.common.problems import Problem


def read_cosigner(path: Path) -> Cosigner:
    try:
        return Cosigner.parse(path.read_text(encoding="ascii"))
    except FileNotFoundError as exc:
        raise Problem(400, "usage", f"no witness key file at {path}") from exc
    except (UnicodeDecodeError, CosignatureError) as exc:
        raise Problem(400, "usage", f"{path}: not a witness key file ({exc})") from exc


def witness_urls(pairs: list[str]) -> dict[str, str]:
    """``NAME=URL`` arguments as a dict."""
    urls = {}
    for pair in pairs:
        name, sep, url = pair.partition("=")
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise Problem(400, "usage", f"--witness takes NAME=URL, not {pair!r}")
        urls[name] = url
    return urls
