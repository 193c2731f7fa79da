"""The public pages as a national commission publishes them (issue 28 part 2): the election, its
day and round and "simulation" on every page, candidates before voting, elected senators on the
front page, a printable protocol with a QR code, translated reasons, and the observe page's
verdict on every signature line (a forged cosignature is shown as invalid, never counted)."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from crypto.checkpoint import Checkpoint
from crypto.cosignature import TYPE_ED25519, Cosigner
from crypto.note import parse_note
from crypto.witness_policy import manifest_section
from scripts.builders.sample import build_election
from tally_service.common import clock
from tally_service.service import i18n, results, tally
from tally_service.service.app import create_app
from tally_service.service.config import Config
from tally_service.service.election import Election
from tally_service.service.public.signers import signers
from tally_service.service.results import results_hash
from tests.public_helpers import UNITS, SmallElection

TITLE = {"en": "Test election", "ru": None, "kk": None}
SIMULATION_WORD = {"en": "SIMULATION", "ru": "СИМУЛЯЦИЯ", "kk": "СИМУЛЯЦИЯ"}


class SimulatedSmall(SmallElection):
    """public_helpers' small election, with a manifest marked as a simulation."""

    def __init__(self, data_dir: Path) -> None:
        self.keys = build_election(data_dir, UNITS, guardians=3, threshold=2, simulation=True)
        self.election = Election(data_dir, Config(checkpoint_every=1000, checkpoint_seconds=1))
        self.cast_count = {}


@pytest.fixture
def sim(tmp_path: Path) -> Any:
    small = SimulatedSmall(tmp_path / "data")
    yield small
    small.election.stop()


@pytest.fixture
def real(tmp_path: Path) -> Any:
    small = SmallElection(tmp_path / "data")
    yield small
    small.election.stop()


PAGES = ("/", "/units/AST", "/results", "/observe")


def test_every_page_names_the_election_its_day_and_round(sim: Any) -> None:
    client = create_app(sim.election).test_client()
    sim.election.open_round("AST", 1)
    for lang in i18n.LANGUAGES:
        for path in PAGES:
            html = client.get(f"{path}?lang={lang}").get_data(as_text=True)
            assert 'data-field="title">Test election<' in html, (path, lang)
            assert (
                f'datetime="2023-01-14" data-field="date">{i18n.day(lang, "2023-01-14")}<' in html
            )
            assert i18n.text(lang, "round_n", n=1) + ", " + i18n.text(lang, "voting_open") in html
            assert SIMULATION_WORD[lang] in html and 'data-field="simulation"' in html
            assert 'id="election-fingerprint"' in html  # crypto/fingerprint.py's, in the foot
            assert html.count("<h1") == 1


def test_a_real_election_never_says_simulation(real: Any) -> None:
    client = create_app(real.election).test_client()
    for path in PAGES:
        html = client.get(f"{path}?lang=en").get_data(as_text=True)
        assert 'data-field="simulation"' not in html and "SIMULATION" not in html


def test_unit_page_lists_the_candidates_before_voting(sim: Any) -> None:
    client = create_app(sim.election).test_client()
    html = client.get("/units/KAR?lang=kk").get_data(as_text=True)
    for i in (1, 2, 3):
        assert f'data-registered-candidate="KAR-C{i}">Candidate {i} of KAR<' in html


def test_front_page_shows_the_elected_senators_once_the_final_result_is_signed(sim: Any) -> None:
    client = create_app(sim.election).test_client()
    for unit in ("AST", "KAR"):
        sim.election.open_round(unit, 1)
    sim.cast("AST", 1, [0] * 8)
    sim.cast("KAR", 1, [0, 0, 0, 1, 1, 1, 2, 2])
    for unit in ("AST", "KAR"):
        sim.close_and_tally(unit, 1)
    results.publish(sim.election, "preliminary")
    assert 'id="elected"' not in client.get("/?lang=en").get_data(as_text=True)
    tally.open_runoff(sim.election, "KAR")
    sim.cast("KAR", 2, [1, 1, 1, 0, 1, 0, None])
    sim.close_and_tally("KAR", 2)
    results.publish(sim.election, "final")
    html = client.get("/?lang=en").get_data(as_text=True)
    assert 'id="elected"' in html
    assert 'data-unit="AST"' in html and "Candidate 1 of AST" in html
    assert html.index('id="elected"') < html.index("Candidate 1 of AST")
    # names, never ids, in the results; the reasons and the final note in the page's language
    kk = client.get("/units/KAR?lang=kk").get_data(as_text=True)
    shown = re.sub(r'<details class="signed-text">.*?</details>', "", kk, flags=re.S)
    assert "қайта дауыс беруде" in kk and "KAR-C" not in re.sub(r'"KAR-C\d"', "", shown)
    ru = client.get("/results?lang=ru").get_data(as_text=True)
    assert "Туры, подсчитанные после предварительных итогов: Карагандинская область." in ru

    page = client.get("/units/KAR/rounds/2/protocol?lang=ru")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    final = sim.election.store.get_result("final")
    assert final is not None
    signed = json.loads(final)
    entry = next(u for u in signed["payload"]["units"] if u["unit"] == "KAR")
    figures = entry["rounds"][1]
    assert f'data-field="took_part" data-value="{figures["took_part"]}"' in text
    assert figures["final_checkpoint"]["root"] in text and figures["tally_hash"] in text
    assert results_hash(signed) in text
    assert "<svg" in text and "http://localhost/api/v1/results/final" in text
    assert "@media print" in (
        Path(__file__).parent.parent / "tally_service" / "service" / "static" / "site.css"
    ).read_text(encoding="utf-8")
    missing = client.get("/units/KAR/rounds/3/protocol")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"


def _witnessed(tmp_path: Path) -> tuple[Election, list[Cosigner]]:
    witnesses = [Cosigner.generate(f"w{i}.example/witness", TYPE_ED25519) for i in (1, 2)]
    build_election(
        tmp_path / "data",
        UNITS,
        guardians=3,
        threshold=2,
        witnesses=manifest_section(2, 1, [w.public for w in witnesses]),
    )
    return Election(
        tmp_path / "data", Config(checkpoint_every=1000, checkpoint_seconds=1)
    ), witnesses


def test_observe_shows_a_forged_cosignature_as_invalid(tmp_path: Path) -> None:
    """Attack: a line in a witness's name whose signature is not that witness's. The observe
    page used to list every signer's name under "Witness cosignatures"; it now verifies each
    line against the manifest's keys and says which are invalid."""
    election, (w1, w2) = _witnessed(tmp_path)
    try:
        election.open_round("AST", 1)
        note = election.store.checkpoints("AST", 1)[-1].note
        checkpoint = Checkpoint.parse(parse_note(note).text)
        stamp = int(clock.posix())
        good = w1.cosign(checkpoint, stamp).line()
        impostor = Cosigner(w2.name, TYPE_ED25519, b"\x07" * 32)  # not w2's key
        forged_sig = impostor.cosign(checkpoint, stamp)
        # w2's name and key ID (so the line claims to be w2's) before the impostor's bytes
        forged = (
            f"— {w2.name} " + base64.b64encode(w2.public.key_id + forged_sig.signature).decode()
        )
        stranger = Cosigner.generate("stranger.example/w", TYPE_ED25519).cosign(checkpoint, stamp)
        tampered = note + good + forged + "\n" + stranger.line()
        manifest = election.manifest
        verdicts = {
            s.name: (s.kind, s.verdict)
            for s in signers(
                tampered,
                manifest.log_verifiers["AST"],
                list(manifest.commission_note_verifiers),
                manifest.witness_policy,
            )
        }
        assert verdicts[w1.name] == ("witness", "valid")
        assert verdicts[w2.name] == ("witness", "invalid")
        assert verdicts["stranger.example/w"] == ("unknown", "unknown")
        assert verdicts[manifest.log_verifiers["AST"].name] == ("log", "valid")

        size = int(parse_note(note).text.split("\n")[1])
        with election.store.transaction() as conn:  # as a cosignature is kept (witnessing.py)
            conn.execute(
                "UPDATE checkpoints SET note=? WHERE unit=? AND round=? AND size=? AND final=0",
                (tampered, "AST", 1, size),
            )
        election.signed_something()
        html = create_app(election).test_client().get("/observe?lang=en").get_data(as_text=True)
        assert f'data-signer="{w2.name}" data-verdict="invalid"' in html
        assert f'data-signer="{w1.name}" data-verdict="valid"' in html
        assert "1 valid witness signatures, at least 2 needed" in html
        summary = html[html.index('data-witness="w2.example/witness"') :]
        assert 'data-field="invalid">1<' in summary[: summary.index("</tr>")]
    finally:
        election.stop()


def test_revalidations_are_answered_before_flask_only_when_they_match(real: Any) -> None:
    app = create_app(real.election)
    client, public = app.test_client(), app.extensions["public"]
    turnout = client.get("/api/v1/public/turnout")
    kk = client.get("/?lang=kk")
    en = client.get("/", headers={"Accept-Language": "en"})
    assert kk.headers["ETag"] != en.headers["ETag"]
    before = public.not_modified
    again = client.get("/api/v1/public/turnout", headers={"If-None-Match": turnout.headers["ETag"]})
    assert again.status_code == 304 and again.headers["ETag"] == turnout.headers["ETag"]
    assert client.get("/?lang=kk", headers={"If-None-Match": kk.headers["ETag"]}).status_code == 304
    assert public.not_modified == before + 2
    # the Kazakh page's tag does not make the English page "not modified", nor a stale tag
    other = client.get("/?lang=en", headers={"If-None-Match": kk.headers["ETag"]})
    assert other.status_code == 200 and other.headers["ETag"] == en.headers["ETag"]
    stale = client.get("/api/v1/public/turnout", headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200 and public.not_modified == before + 2
    real.election.open_round("AST", 1)  # a new signed checkpoint: the old tags are stale
    moved = client.get("/api/v1/public/turnout", headers={"If-None-Match": turnout.headers["ETag"]})
    assert moved.status_code == 200


def test_tile_map_names_the_units_and_packs_a_small_election() -> None:
    from tally_service.service.public.charts import Tile, short_name, tile_map

    assert short_name("West Kazakhstan Region") == ["West", "Kazakhstan"]
    assert short_name("Батыс Қазақстан облысы") == ["Батыс", "Қазақстан"]
    assert short_name("Astana") == ["Astana"]
    names = {"AST": "Astana", "ALA": "Almaty", "SHY": "Shymkent"}
    three = [Tile(c, n, f"/units/{c}", "0.00%", 0, False) for c, n in names.items()]
    svg = str(tile_map("map", three))
    assert 'viewBox="0 0 270 90"' in svg  # one row of three, not the country's 7 x 5 grid
    assert ">Shymkent<" in svg and ">AST<" in svg
