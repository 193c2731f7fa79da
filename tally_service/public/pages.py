"""The public pages: overview, unit, results, observe; and the public turnout document.

Every page is rendered from the signed snapshot (snapshot.py), once per snapshot and language,
and served as immutable bytes with an ``ETag``: a reader who already has the page gets a 304
for the price of a string comparison. The pages work without JavaScript; static/live.js only
polls the turnout document's ETag and, when it moves, swaps in the freshly rendered page.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import Blueprint, Flask, Response, current_app, render_template, request

from crypto.note import SIGNATURE_PREFIX
from crypto.rules import percent
from tally_service import i18n, problems
from tally_service.election import Election
from tally_service.public.charts import Bar, Series, Tile, share_chart, tile_map, turnout_chart
from tally_service.public.snapshot import Snapshot, UnitView, build, etag_of

RECORD_URL = "/api/v1/record.tar.gz"
TURNOUT_URL = "/api/v1/public/turnout"


class Public:
    """The current signed snapshot and the pages rendered from it."""

    def __init__(self, election: Election) -> None:
        self.election = election
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._pages: dict[tuple[str, str], tuple[str, bytes]] = {}

    def snapshot(self) -> Snapshot:
        snap = self._snapshot
        if snap is None or snap.generation != self.election.signed_generation:
            with self._lock:
                snap = self._snapshot
                if snap is None or snap.generation != self.election.signed_generation:
                    snap = build(self.election)
                    self._pages = {}
                    self._snapshot = snap
        return snap

    def page(
        self, key: str, lang: str, render: Callable[[Snapshot, str], str]
    ) -> tuple[str, bytes]:
        snap = self.snapshot()
        pages = self._pages
        hit = pages.get((key, lang))
        if hit is None or self._snapshot is not snap:
            body = render(snap, lang).encode("utf-8")
            hit = (etag_of(body), body)
            if self._snapshot is snap:
                pages[(key, lang)] = hit
        return hit


def not_modified(etag: str) -> bool:
    header = request.environ.get("HTTP_IF_NONE_MATCH")
    if not header:
        return False
    return header == etag or etag in (tag.strip() for tag in header.split(","))


def cached_response(etag: str, body: bytes, mimetype: str, vary: str | None = None) -> Response:
    """An immutable document: 304 when the reader has it, else the bytes, with its ETag.

    ``no-cache`` lets any cache (a CDN, a browser) keep the document and revalidate it."""
    headers = {"ETag": etag, "Cache-Control": "no-cache"}
    if vary:
        headers["Vary"] = vary
    if not_modified(etag):
        return Response(status=304, headers=headers)
    return Response(body, mimetype=mimetype, headers=headers)


def _lang() -> str:
    return i18n.pick_language(request.args.get("lang"), request.headers.get("Accept-Language"))


# ---------------------------------------------------------------- view helpers
class View:
    """What the templates call: messages, numbers and times in the page's language."""

    def __init__(self, snap: Snapshot, lang: str) -> None:
        self.snap, self.lang = snap, lang

    def t(self, key: str, **fields: object) -> str:
        return i18n.text(self.lang, key, **fields)

    def num(self, value: int) -> str:
        return i18n.number(self.lang, value)

    def pct(self, value: str) -> str:
        return i18n.percent(self.lang, value)

    def when(self, moment: datetime | None, time_only: bool = False) -> str:
        if moment is None:
            return self.t("not_signed")
        return i18n.when(self.lang, moment, self.snap.zone, time_only)

    def url(self, path: str) -> str:
        return f"{path}?lang={self.lang}"

    def state(self, unit: UnitView) -> str:
        return self.t("state_" + unit.state)

    def candidate(self, unit: UnitView, candidate_id: str) -> str:
        return unit.candidate_names.get(candidate_id, candidate_id)


def _national_series(snap: Snapshot) -> list[tuple[datetime, int, str]]:
    """(time, took part in all units) at every signed checkpoint time of the rounds 1."""
    events = sorted(
        (p.time, u.code, p.size)
        for u in snap.units
        if u.rounds
        for p in u.rounds[0].points
        if p.time is not None
    )
    latest: dict[str, int] = {}
    series = []
    for moment, code, size in events:
        latest[code] = size
        took_part = sum(latest.values())
        series.append((moment, took_part, percent(took_part, snap.registered)))
    return series


def _share(took_part: int, registered: int) -> float:
    return 100.0 * took_part / registered if registered else 0.0


def _overview(snap: Snapshot, lang: str) -> str:
    view = View(snap, lang)
    national = _national_series(snap)
    series = [
        Series(
            u.name(lang),
            [(p.time, _share(p.size, u.registered)) for p in u.rounds[0].points if p.time],
        )
        for u in snap.units
        if u.rounds
    ]
    series.append(
        Series(
            view.t("chart_national"),
            [(t, _share(n, snap.registered)) for t, n, _ in national],
            strong=True,
        )
    )
    chart = turnout_chart(view.t("chart_time"), series, lambda t: view.when(t, time_only=True))
    tiles = []
    for u in snap.units:
        current = u.current
        share = Decimal(current.turnout) if current else Decimal(0)
        tiles.append(
            Tile(
                u.code,
                u.name(lang),
                view.url(f"/units/{u.code}"),
                view.pct(current.turnout) if current else "—",
                min(4, int(share // 25)),
                bool(current and current.quorum_point),
            )
        )
    return render_template(
        "overview.html",
        v=view,
        snap=snap,
        chart=chart,
        national=national,
        tiles=tile_map(view.t("map"), tiles),
        live=True,
        poll_seconds=_poll_seconds(),
        page="overview",
    )


def _poll_seconds() -> float:
    election: Election = current_app.extensions["election"]
    return max(0.5, min(5.0, election.config.checkpoint_seconds / 4))


def _result_rounds(view: View, unit: UnitView) -> list[dict[str, Any]]:
    """Each signed round of the unit's latest result, with its bar chart."""
    if unit.result is None:
        return []
    out = []
    for r in unit.result["rounds"]:
        if r["votes"] is None:
            # no quorum: void whatever the votes, and never decrypted, so there is nothing to
            # chart; only who took part (docs/rules.md, "Void rounds are not decrypted")
            out.append({"figures": r, "void": True})
            continue
        bars = []
        for cid in sorted(r["candidates"], key=lambda c: -int(r["votes"][c])):
            kind = "candidate"
            if r["winner"] == cid:
                kind = "winner"
            elif r["runoff"] and cid in r["runoff"]:
                kind = "runoff"
            bars.append(
                Bar(
                    view.candidate(unit, cid),
                    f"{view.num(r['votes'][cid])} ({view.pct(r['shares'][cid])})",
                    float(r["shares"][cid]),
                    kind,
                )
            )
        blank_share = percent(r["blank"], r["took_part"])
        bars.append(
            Bar(
                view.t("blank"),
                f"{view.num(r['blank'])} ({view.pct(blank_share)})",
                float(blank_share),
                "blank",
            )
        )
        out.append(
            {
                "figures": r,
                "void": False,
                "blank_share": blank_share,
                "chart": share_chart(
                    f"{view.t('round_n', n=r['round'])}: {view.t('share')}",
                    bars,
                    view.t("threshold"),
                ),
                "order": sorted(r["candidates"], key=lambda c: -int(r["votes"][c])),
            }
        )
    return out


def _unit(snap: Snapshot, lang: str, code: str) -> str:
    view = View(snap, lang)
    unit = snap.unit(code)
    assert unit is not None
    rounds = []
    for r in unit.rounds:
        points = [(p.time, _share(p.size, unit.registered)) for p in r.points if p.time]
        rounds.append(
            {
                "round": r,
                "chart": turnout_chart(
                    f"{view.t('timeline')}: {view.t('round_n', n=r.number)}",
                    [Series(unit.name(lang), points, strong=True)],
                    lambda t: view.when(t, time_only=True),
                ),
            }
        )
    return render_template(
        "unit.html",
        v=view,
        snap=snap,
        unit=unit,
        rounds=rounds,
        results=_result_rounds(view, unit),
        live=True,
        poll_seconds=_poll_seconds(),
        page="unit",
    )


def _differences(view: View, snap: Snapshot) -> list[str]:
    pre, fin = snap.results.get("preliminary"), snap.results.get("final")
    if pre is None or fin is None:
        return []
    lines = []
    for unit in snap.units:
        before, after = pre.unit(unit.code), fin.unit(unit.code)
        if before == after or before is None or after is None:
            continue

        def said(entry: dict[str, Any], u: UnitView = unit) -> str:
            last = entry["rounds"][-1]
            if entry["winner"]:
                return (
                    f"{view.t('winner')}: {view.candidate(u, entry['winner'])} "
                    f"({view.t('round_n', n=last['round'])})"
                )
            return view.t("state_runoff-needed") if entry["status"] == "runoff" else entry["status"]

        lines.append(
            f"{unit.name(view.lang)}: {view.t('preliminary')}: {said(before)}; "
            f"{view.t('final_results')}: {said(after)}"
        )
    return lines


def _results(snap: Snapshot, lang: str) -> str:
    view = View(snap, lang)
    return render_template(
        "results.html",
        v=view,
        snap=snap,
        differences=_differences(view, snap),
        live=False,
        page="results",
    )


def _observe(snap: Snapshot, lang: str) -> str:
    view = View(snap, lang)
    logs = []
    for u in snap.units:
        for r in u.rounds:
            latest = r.latest
            witnesses: list[str] = []
            if latest is not None:
                own = {u.log_key.split("+")[0], snap.commission_name}
                for line in latest.note.split("\n"):
                    if line.startswith(SIGNATURE_PREFIX):
                        name = line[len(SIGNATURE_PREFIX) :].split(" ")[0]
                        if name not in own:
                            witnesses.append(name)
            logs.append({"unit": u, "round": r, "latest": latest, "witnesses": witnesses})
    pin = snap.commission_keys[0] if snap.commission_keys else "HEX"
    return render_template(
        "observe.html",
        v=view,
        snap=snap,
        logs=logs,
        record_url=RECORD_URL,
        verify_command=f"python3 scripts/verify.py record.tar.gz --commission-key {pin}",
        live=False,
        page="observe",
    )


# ---------------------------------------------------------------- routes
def register(app: Flask, election: Election) -> Public:
    public = Public(election)
    app.extensions["public"] = public
    app.jinja_env.globals.update(
        languages=i18n.LANGUAGES, language_names=i18n.LANGUAGE_NAMES, percent=percent
    )
    bp = Blueprint("public", __name__)

    def page(key: str, render: Callable[[Snapshot, str], str]) -> Response:
        lang = _lang()
        etag, body = public.page(key, lang, render)
        return cached_response(etag, body, "text/html", vary="Accept-Language")

    @bp.get("/")
    def overview() -> Response:
        return page("overview", _overview)

    @bp.get("/units/<code>")
    def unit(code: str) -> Response:
        if public.snapshot().unit(code) is None:
            raise problems.not_found("unknown-unit", f"no unit {code[:20]!r} in this election")
        return page(f"unit/{code}", lambda snap, lang: _unit(snap, lang, code))

    @bp.get("/results")
    def results() -> Response:
        return page("results", _results)

    @bp.get("/observe")
    def observe() -> Response:
        return page("observe", _observe)

    @bp.get("/favicon.ico")
    def favicon() -> Response:
        return current_app.send_static_file("favicon.svg")

    @bp.get(TURNOUT_URL)
    def turnout() -> Response:
        snap = public.snapshot()
        return cached_response(snap.turnout_etag, snap.turnout_body, "application/json")

    app.register_blueprint(bp)
    return public
