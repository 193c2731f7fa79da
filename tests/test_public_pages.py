"""The public pages through Flask's test client: language choice, figures from signed
checkpoints (not the live database), signed times, ETags, the manifest's time zone and the
Kazakh unit names in the election data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from marshmallow import ValidationError

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.signing import SigningKey
from schemas.manifest import ManifestSchema
from tally_service.service.app import create_app
from tally_service.service.i18n import LANGUAGES, pick_language
from tally_service.service.public.snapshot import SignedPoint, signed_time
from tally_service.service.store import CheckpointRow
from tests.public_helpers import SmallElection

DATA = Path(__file__).resolve().parent.parent / "scripts" / "data" / "senate2023.json"


@pytest.mark.parametrize(
    ("query", "header", "expected"),
    [
        ("ru", "kk-KZ", "ru"),
        (None, "kk-KZ,kk;q=0.9,ru;q=0.8", "kk"),
        (None, "de-DE,ru;q=0.5,en;q=0.4", "ru"),
        (None, "en;q=0.2,ru-RU;q=0.9", "ru"),
        (None, "fr", "en"),
        ("xx", None, "en"),
        (None, "ru;q=abc,kk", "kk"),
    ],
)
def test_language_from_query_then_accept_language(
    query: str | None, header: str | None, expected: str
) -> None:
    assert pick_language(query, header) == expected


def test_signed_time_line_is_read_and_malformed_ones_are_not() -> None:
    key = SigningKey.generate()
    cp = Checkpoint("o/U/1", 3, bytes(32), ("time 2023-01-14T04:45:00Z",))
    note = sign_checkpoint(cp, [("o/U", key)])
    point = SignedPoint.from_row(CheckpointRow(3, note, "2030-01-01T00:00:00.000Z", False))
    assert point.time is not None and point.time.isoformat() == "2023-01-14T04:45:00+00:00"
    assert signed_time("time 2023-01-14 04:45:00") is None
    assert signed_time("time 2023-13-14T04:45:00Z") is None
    bare = sign_checkpoint(Checkpoint("o/U/1", 3, bytes(32)), [("o/U", key)])
    # without a time line there is no time: the database's issued_at is not shown as signed
    assert (
        SignedPoint.from_row(CheckpointRow(3, bare, "2030-01-01T00:00:00.000Z", True)).time is None
    )


@pytest.fixture
def small(tmp_path: Path) -> Any:
    s = SmallElection(tmp_path / "election", checkpoint_seconds=3600)
    yield s
    s.election.stop()


def _overview_row(html: str, unit: str) -> str:
    start = html.index(f'<tr data-unit="{unit}">')
    return html[start : html.index("</tr>", start)]


def test_figures_come_from_the_signed_checkpoint_not_the_database(small: Any) -> None:
    client = create_app(small.election).test_client()
    small.election.open_round("AST", 1)
    small.cast("AST", 1, [0, 0, 1, 0, None, 0])  # 6 of 10: quorum, but nothing signed yet
    live = client.get("/api/v1/turnout").get_json()
    assert next(u for u in live["units"] if u["unit"] == "AST")["took_part"] == 6
    doc = client.get("/api/v1/public/turnout").get_json()
    ast = next(u for u in doc["units"] if u["unit"] == "AST")
    assert ast["took_part"] == 0 and ast["rounds"][0]["quorum"] is False
    assert 'data-field="took_part" data-value="0"' in _overview_row(
        client.get("/?lang=en").get_data(as_text=True), "AST"
    )
    small.election.issue_checkpoint("AST", 1)
    doc = client.get("/api/v1/public/turnout").get_json()
    ast = next(u for u in doc["units"] if u["unit"] == "AST")
    assert ast["took_part"] == 6 and ast["turnout"] == "60.00"
    assert ast["rounds"][0]["quorum_at"] == ast["rounds"][0]["checkpoint"]["time"]
    assert ast["rounds"][0]["opened_at"] is not None
    row = _overview_row(client.get("/?lang=en").get_data(as_text=True), "AST")
    assert 'data-value="6"' in row and 'href="/units/AST?lang=en#cp-1-6"' in row
    assert "not signed" not in row


def test_documents_and_pages_answer_304_until_something_new_is_signed(small: Any) -> None:
    client = create_app(small.election).test_client()
    small.election.open_round("AST", 1)
    for path in ("/api/v1/public/turnout", "/?lang=ru", "/units/AST", "/observe", "/results"):
        first = client.get(path)
        etag = first.headers["ETag"]
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.data == b"", path
    etag = client.get("/api/v1/public/turnout").headers["ETag"]
    small.cast("AST", 1, [0])
    assert client.get("/api/v1/public/turnout", headers={"If-None-Match": etag}).status_code == 304
    small.election.issue_checkpoint("AST", 1)
    changed = client.get("/api/v1/public/turnout", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_results_pages_show_both_rounds_and_signed_documents_have_etags(small: Any) -> None:
    client = create_app(small.election).test_client()
    for unit in ("AST", "KAR"):
        small.election.open_round(unit, 1)
    small.cast("AST", 1, [0] * 8)
    small.cast("KAR", 1, [0, 0, 0, 0, 1, 1, 1, 2, 2])
    small.run_to_final()
    final = client.get("/api/v1/results/final")
    assert final.status_code == 200
    assert (
        client.get(
            "/api/v1/results/final", headers={"If-None-Match": final.headers["ETag"]}
        ).status_code
        == 304
    )
    page = client.get("/units/KAR?lang=en").get_data(as_text=True)
    assert 'data-round="1"' in page and 'data-round="2"' in page
    assert "Runoff between" in page and "50% threshold" in page
    # each chart has a table of its figures (a timeline's is its table of checkpoints)
    assert page.count("<svg") == page.count("<table") == 4
    results = client.get("/results?lang=kk").get_data(as_text=True)
    assert "Түпкілікті нәтижелер" in results and "Қарағанды облысы" in results
    assert 'href="/api/v1/results/preliminary"' in results
    assert "Қарағанды облысы: " in results  # KAR differs: preliminary runoff, final winner
    observe = client.get("/observe").get_data(as_text=True)
    key = json.loads(client.get("/api/v1/manifest").data)["payload"]["commission"]["keys"][0]
    assert f"scripts/verify.py record.tar.gz --commission-key {key}" in observe
    assert "/api/v1/record.tar.gz" in observe


def test_a_unit_without_quorum_shows_no_counts_in_every_language(small: Any) -> None:
    from tally_service.service import results, tally

    client = create_app(small.election).test_client()
    for unit in ("AST", "KAR"):
        small.election.open_round(unit, 1)
    small.cast("AST", 1, [0, 1, None])  # 3 of 10: no quorum, so never decrypted
    small.cast("KAR", 1, [0] * 8)
    for unit in ("AST", "KAR"):
        small.close_and_tally(unit, 1)
    assert small.election.store.partials("AST", 1) == {}
    results.publish(small.election, "preliminary")
    results.publish(small.election, "final")
    assert tally.outcome(small.election, tally.start_tally(small.election, "AST", 1)).shares is None
    words = {"en": "No quorum: not decrypted", "ru": "Кворума нет: подсчёт не расшифрован",
             "kk": "Кворум жоқ: санақ шифрдан ашылмады"}  # fmt: skip
    for lang, said in words.items():
        page = client.get(f"/units/AST?lang={lang}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert said in html and 'data-field="not-decrypted"' in html
        assert 'data-candidate="' not in html  # no votes, no shares, no bars
        assert "there is no quorum and the round must be held again" in html  # the signed reason
        listing = client.get(f"/results?lang={lang}")
        assert listing.status_code == 200 and said in listing.get_data(as_text=True)
        assert client.get(f"/?lang={lang}").status_code == 200
    kar = client.get("/units/KAR?lang=en").get_data(as_text=True)
    assert 'data-candidate="KAR-C1"' in kar and "not-decrypted" not in kar


def test_unknown_unit_page_is_a_problem_and_favicon_exists(small: Any) -> None:
    client = create_app(small.election).test_client()
    missing = client.get("/units/NOPE")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert client.get("/favicon.ico").status_code == 200
    assert client.get("/static/favicon.svg").status_code == 200


def test_manifest_time_zone_defaults_and_must_be_iana() -> None:
    from tally_service.service.setup import draft_manifest

    draft = draft_manifest("e", {"en": "E"}, "2023-01-14", "o", [], ["G1", "G2"], 2)
    assert draft["time_zone"] == "Asia/Almaty"
    schema = ManifestSchema()
    draft["units"] = [{"code": "U", "kind": "city", "name": {"en": "U"}, "seats": 1,
                       "log_key": "k", "candidates": [], "roll": []}]  # fmt: skip
    draft["commission"]["keys"] = ["11" * 32]
    schema.load(draft)
    del draft["time_zone"]
    assert schema.load(draft)["time_zone"] == "Asia/Almaty"
    for bad in ("Mars/Olympus", "../etc/passwd", "UTC+6"):
        with pytest.raises(ValidationError):
            schema.load({**draft, "time_zone": bad})


def test_every_unit_has_its_kazakh_name() -> None:
    units = json.loads(DATA.read_text(encoding="utf-8"))["units"]
    assert len(units) == 20
    for unit in units:
        assert unit["name_kk"] and unit["name_kk"] != unit["name_ru"], unit["code"]
    assert set(LANGUAGES) == {"kk", "ru", "en"}
