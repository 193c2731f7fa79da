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

import segno
from flask import Blueprint, Flask, Response, current_app, render_template, request
from markupsafe import Markup

from crypto.rules import percent
from tally_service.common import problems
from tally_service.service import i18n
from tally_service.service.election import Election
from tally_service.service.public.charts import (
    Bar,
    Series,
    Tile,
    share_chart,
    tile_map,
    turnout_chart,
)
from tally_service.service.public.signers import signers
from tally_service.service.public.snapshot import Snapshot, UnitView, build, etag_of

RECORD_URL = "/api/v1/record.tar.gz"
TURNOUT_URL = "/api/v1/public/turnout"


class Public:
    """The current signed snapshot and the pages rendered from it."""

    def __init__(self, election: Election) -> None:
        self.election = election
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._pages: dict[tuple[str, str], tuple[str, bytes]] = {}
        self.not_modified = 0  # 304s answered before Flask (_answer_304_first); not exact

    def cached_etag(self, key: str, lang: str) -> str | None:
        """The ETag of the page already rendered from the current snapshot, if any."""
        snap = self.snapshot()
        hit = self._pages.get((key, lang))
        return hit[0] if hit is not None and self._snapshot is snap else None

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
    return _matches(header, etag)


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

    def title(self) -> str:
        return self.snap.title_in(self.lang)

    def day(self) -> str:
        return i18n.day(self.lang, self.snap.date)

    def round_label(self) -> str:
        snap = self.snap
        state = self.t("voting_open") if snap.voting else self.t("voting_closed")
        return f"{self.t('round_n', n=snap.round_number)}, {state}"

    def reason(self, unit: UnitView, r: dict[str, Any]) -> str | None:
        """The signed reason sentence in the page's language, rebuilt from the signed figures;
        None where the figures do not say which sentence it is (the page then shows the signed
        English text alone)."""
        took = r["took_part"]
        if not r["quorum"]:
            return self.t(
                "reason_void",
                took=self.num(took),
                registered=self.num(r.get("registered", unit.registered)),
                pct=self.pct(r["turnout"]),
            )
        if r.get("lot"):
            return None  # a public lot: the signed sentence names the draw
        votes, shares = r.get("votes") or {}, r.get("shares") or {}
        winner = r.get("winner")
        if winner and r["round"] > 1 and len(r["candidates"]) == 2:
            other = next(c for c in r["candidates"] if c != winner)
            return self.t(
                "reason_runoff_won",
                name=self.candidate(unit, winner),
                votes=self.num(votes[winner]),
                took=self.num(took),
                pct=self.pct(shares[winner]),
                other=self.candidate(unit, other),
                other_votes=self.num(votes[other]),
            )
        if winner:
            return self.t(
                "reason_elected",
                name=self.candidate(unit, winner),
                votes=self.num(votes[winner]),
                took=self.num(took),
                pct=self.pct(shares[winner]),
                n=r["round"],
            )
        pair = r.get("runoff")
        if pair:
            return self.t(
                "reason_runoff",
                took=self.num(took),
                a=self.candidate(unit, pair[0]),
                va=self.num(votes[pair[0]]),
                b=self.candidate(unit, pair[1]),
                vb=self.num(votes[pair[1]]),
            )
        return None

    def changes(self, payload: dict[str, Any]) -> str | None:
        """The final result's note on what changed since the preliminary, translated."""
        note = payload.get("changes")
        if not note:
            return None
        prefix = "rounds tallied after the preliminary result in: "
        if not str(note).startswith(prefix):
            return None
        names = []
        for code in str(note)[len(prefix) :].split(", "):
            unit = self.snap.unit(code)
            names.append(unit.name(self.lang) if unit else code)
        return self.t("changes_note", units=", ".join(names))

    def elected(self) -> list[tuple[UnitView, str, str]]:
        """(unit, winner's name, share) of every unit the final result elects."""
        final = self.snap.results.get("final")
        if final is None:
            return []
        out = []
        for unit in self.snap.units:
            entry = final.unit(unit.code)
            if entry and entry.get("winner"):
                last = entry["rounds"][-1]
                out.append(
                    (
                        unit,
                        self.candidate(unit, entry["winner"]),
                        self.pct(last["shares"][entry["winner"]]),
                    )
                )
        return out


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
    election: Election = current_app.extensions["election"]
    manifest = election.manifest
    policy = manifest.witness_policy
    logs: list[dict[str, Any]] = []
    for u in snap.units:
        for r in u.rounds:
            latest = r.latest
            lines = []
            if latest is not None:
                lines = signers(
                    latest.note,
                    manifest.log_verifiers[u.code],
                    list(manifest.commission_note_verifiers),
                    policy,
                )
            valid_witnesses = sum(1 for s in lines if s.kind == "witness" and s.verdict == "valid")
            logs.append(
                {
                    "unit": u,
                    "round": r,
                    "latest": latest,
                    "signers": lines,
                    "valid_witnesses": valid_witnesses,
                    "note_url": f"/api/v1/units/{u.code}/rounds/{r.number}/checkpoint",
                }
            )
    # one row per witness of the manifest: how many logs' latest checkpoints it cosigned, and
    # how many of its lines did not verify
    by_witness: dict[str, dict[str, int]] = {
        k.name: {"valid": 0, "invalid": 0} for k in (policy.witnesses if policy else ())
    }
    for item in logs:
        for signer in item["signers"]:
            if signer.kind == "witness":
                by_witness[signer.name][signer.verdict] += 1
    pin = snap.commission_keys[0] if snap.commission_keys else "HEX"
    return render_template(
        "observe.html",
        by_witness=by_witness,
        v=view,
        snap=snap,
        logs=logs,
        quorum=policy.quorum if policy else 0,
        record_url=RECORD_URL,
        verify_command=f"python3 scripts/verify.py record.tar.gz --commission-key {pin}",
        live=False,
        page="observe",
    )


def _protocol(snap: Snapshot, lang: str, code: str, round_no: int, doc_url: str) -> str | None:
    """The printable result protocol of one unit's round, from the latest signed result."""
    view = View(snap, lang)
    unit = snap.unit(code)
    doc = snap.latest_result
    if unit is None or doc is None:
        return None
    entry = doc.unit(code)
    figures = next((r for r in (entry or {}).get("rounds", []) if r["round"] == round_no), None)
    if entry is None or figures is None:
        return None
    url = f"{doc_url}{doc.kind}"
    qr = segno.make(url, error="m")
    order = (
        sorted(figures["candidates"], key=lambda c: -int(figures["votes"][c]))
        if figures["votes"] is not None
        else list(figures["candidates"])
    )
    return render_template(
        "protocol.html",
        v=view,
        snap=snap,
        unit=unit,
        doc=doc,
        f=figures,
        registered=entry["registered"],
        order=order,
        blank_share=percent(figures["blank"], figures["took_part"])
        if figures["votes"] is not None
        else None,
        doc_url=url,
        qr=Markup(qr.svg_inline(scale=3, title=view.t("protocol_qr"))),
        live=False,
        page="protocol",
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

    @bp.get("/units/<code>/rounds/<int:round_no>/protocol")
    def protocol(code: str, round_no: int) -> Response:
        # rendered on each request (rarely asked for): the QR code names this host's URL
        body = _protocol(
            public.snapshot(), _lang(), code, round_no, f"{request.host_url}api/v1/results/"
        )
        if body is None:
            raise problems.not_found(
                "no-result", f"no signed result for unit {code[:20]!r}, round {round_no} yet"
            )
        data = body.encode("utf-8")
        return cached_response(etag_of(data), data, "text/html", vary="Accept-Language")

    @bp.get("/favicon.ico")
    def favicon() -> Response:
        return current_app.send_static_file("favicon.svg")

    @bp.get(TURNOUT_URL)
    def turnout() -> Response:
        snap = public.snapshot()
        return cached_response(snap.turnout_etag, snap.turnout_body, "application/json")

    app.register_blueprint(bp)
    app.wsgi_app = _answer_304_first(app.wsgi_app, public)  # type: ignore[method-assign]
    return public


def _answer_304_first(wsgi_app: Any, public: Public) -> Any:
    """Answer a revalidation of the turnout document or the overview that the reader already
    has (If-None-Match with the current ETag) before Flask's request cycle and access log.

    These are the public's commonest requests by far (every open page polls the turnout
    document); through Flask each cost 1.5x a bare Flask hello's CPU, most of it the request
    context and the access log's JSON line. Such 304s are counted (``public.not_modified``)
    rather than logged one by one; everything else goes through Flask as before."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        header = environ.get("HTTP_IF_NONE_MATCH")
        if header and environ.get("REQUEST_METHOD") == "GET":
            path = environ.get("PATH_INFO")
            etag, vary = None, None
            if path == TURNOUT_URL and not environ.get("QUERY_STRING"):
                etag = public.snapshot().turnout_etag
            elif path == "/":
                query = environ.get("QUERY_STRING", "")
                lang_arg = query[5:] if query.startswith("lang=") and "&" not in query else None
                if lang_arg is not None or not query:
                    lang = i18n.pick_language(lang_arg, environ.get("HTTP_ACCEPT_LANGUAGE"))
                    etag = public.cached_etag("overview", lang)
                    vary = "Accept-Language"
            if etag is not None and _matches(header, etag):
                headers = [("ETag", etag), ("Cache-Control", "no-cache")]
                if vary:
                    headers.append(("Vary", vary))
                public.not_modified += 1
                start_response("304 Not Modified", headers)
                return []
        return wsgi_app(environ, start_response)

    return app


def _matches(header: str, etag: str) -> bool:
    return header == etag or etag in (tag.strip() for tag in header.split(","))
