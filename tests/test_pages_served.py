"""How /booth, /receipt and /ballots are served: the sealed commission keys written in, every
script and stylesheet with Subresource Integrity and named by hash (cached for a year), text
files gzip-compressed, and a tampered file refused by its integrity."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re

from tally_service.app import create_app
from tally_service.election import Election

ASSET = re.compile(r'(?:src|href)="([^"?]+)\?h=([0-9a-f]{16})" integrity="sha384-([^"]+)"')


def test_the_pages_pin_their_files_and_send_them_compressed(election: Election) -> None:
    client = create_app(election).test_client()
    keys = election.manifest.signed["payload"]["commission"]["keys"]
    sizes = {"plain": 0, "gzip": 0}
    for page in ("/booth", "/receipt", "/ballots"):
        answer = client.get(page)
        html = answer.get_data(as_text=True)
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert f'<meta name="kz-commission-keys" content="{",".join(keys)}">' in html
        assets = ASSET.findall(html)
        assert len(assets) == html.count("<script src") + html.count('rel="stylesheet"') >= 8
        for rel, short, sri in assets:
            got = client.get(f"/static/{rel}?h={short}", headers={"Accept-Encoding": "gzip"})
            assert got.status_code == 200 and got.headers["Content-Encoding"] == "gzip", rel
            assert "immutable" in got.headers["Cache-Control"]
            data = gzip.decompress(got.get_data())
            assert base64.b64encode(hashlib.sha384(data).digest()).decode() == sri, rel
            assert hashlib.sha256(data).hexdigest()[:16] == short
            if page == "/booth":
                sizes["plain"] += len(data)
                sizes["gzip"] += len(got.get_data())
    # the booth's code: about 1.4 MB as files, well under half of that on the wire
    assert sizes["plain"] > 1_000_000 and sizes["gzip"] < 0.45 * sizes["plain"], sizes
    # without gzip, or with another hash, a file is still served, just not as immutable
    plain = client.get("/static/js/booth.js?h=0000000000000000")
    assert "Content-Encoding" not in plain.headers and "immutable" not in plain.headers.get(
        "Cache-Control", ""
    )
