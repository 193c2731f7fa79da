"""How /booth, /receipt and /ballots are served: the sealed commission keys written in, every
script and stylesheet with Subresource Integrity and named by hash (cached for a year), text
files gzip-compressed, and a tampered file refused by its integrity."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re

from tally_service.service.app import create_app
from tally_service.service.election import Election

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


def test_the_sealed_manifest_hashes_every_file_the_pages_load_as_served(
    election: Election,
) -> None:
    """Issue 25: the manifest's booth.files names every page and file an elector's browser
    loads, and each hash is that of the bytes the service serves there (with a query string
    or gzip too, once decompressed), so observers can compare what is served with them."""
    client = create_app(election).test_client()
    sealed = election.manifest.signed["payload"]["booth"]["files"]
    assert {"booth", "receipt", "ballots", "static/booth.html", "static/js/booth.js"} <= set(sealed)
    assert "static/vendor/libsodium-sumo.js" in sealed
    for page in ("/booth", "/receipt", "/ballots"):
        html = client.get(page).get_data(as_text=True)
        for rel, _, _ in ASSET.findall(html):
            assert f"static/{rel}" in sealed, rel  # nothing loaded goes unsealed
    for path, want in sealed.items():
        plain = client.get(f"/{path}")
        assert plain.status_code == 200, path
        assert hashlib.sha256(plain.get_data()).hexdigest() == want, path
        packed = client.get(f"/{path}?h=x", headers={"Accept-Encoding": "gzip"}).get_data()
        if path.startswith("static/"):
            assert hashlib.sha256(gzip.decompress(packed)).hexdigest() == want, path
