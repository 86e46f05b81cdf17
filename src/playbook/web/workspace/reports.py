"""``/kpi/{playbook}`` and ``/review/{playbook}``: the KPI dashboard and the weekly 1-15-30 review.

The dashboard is the HTML KPI report (:func:`playbook.render.html.render_html`),
computed live from the store at each request and shown in a frame: the report
is a self-contained page with its own inline style and script, so it is served
on its own path with its own, narrower, content policy. The review is
:func:`playbook.kpi.review.weekly_review` of one rep (``?owner=``, by default
the signed-in person) or one team (``?team=``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from playbook.kpi.charts import dashboard
from playbook.kpi.metrics import compute_kpis
from playbook.kpi.periods import Period, current_period, parse_period, parse_week
from playbook.kpi.review import weekly_review
from playbook.model import Playbook
from playbook.render.html import render_html
from playbook.values import playbook_zone
from playbook.web.workspace.board import latest_playbook
from playbook.web.workspace.pages import page, shown
from playbook.web.workspace.visit import Visitor

__all__ = ["router"]

router = APIRouter()

_REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
    "img-src data:; frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
"""The report's own page: its inline style and drawing check, nothing loaded, framed here only."""


@router.get("/kpi/{playbook_id}", include_in_schema=False)
async def kpi_page(request: Request, playbook_id: str) -> Response:
    """The KPI dashboard of ``playbook_id`` for ``?period=`` (the current quarter by default)."""
    asked = request.query_params.get("period", "")

    def build(who: Visitor) -> Response:
        playbook = latest_playbook(who.store, playbook_id)
        lang = who.language(playbook)
        period = _period(playbook, asked, who)
        return page(
            request, "kpi.html", lang=lang, who=who, playbook=playbook,
            title=playbook.label(playbook.title, lang, playbook.id), period=period.label,
        )  # fmt: skip

    return await shown(request, build)


@router.get("/kpi/{playbook_id}/report", include_in_schema=False)
async def kpi_report(request: Request, playbook_id: str) -> Response:
    """The HTML KPI report itself, live from the store (the dashboard frames it)."""
    asked = request.query_params.get("period", "")

    def build(who: Visitor) -> Response:
        playbook = latest_playbook(who.store, playbook_id)
        database = who.store.database
        report = compute_kpis(database, playbook, _period(playbook, asked, who), now=who.now)
        text = render_html(dashboard(database, report), lang=who.language(playbook))
        response = HTMLResponse(text)
        response.headers["Content-Security-Policy"] = _REPORT_CSP
        return response

    return await shown(request, build)


@router.get("/review/{playbook_id}", include_in_schema=False)
async def review_page(request: Request, playbook_id: str) -> Response:
    """The weekly review of ``?owner=`` (default: me) or ``?team=``, for ``?week=`` (this one)."""
    query = request.query_params

    def build(who: Visitor) -> Response:
        playbook = latest_playbook(who.store, playbook_id)
        lang = who.language(playbook)
        team = query.get("team") or None
        owner = None if team else (query.get("owner") or who.name)
        week = parse_week(query.get("week") or None, who.now, playbook.timezone)
        found = weekly_review(
            who.store.database, playbook, week, now=who.now, owner=owner, team=team, lang=lang
        )
        stages = {s.id: playbook.label(s.title, lang, s.id) for s in playbook.stages}
        return page(
            request, "review.html", lang=lang, who=who, zone=playbook_zone(playbook),
            playbook=playbook, title=playbook.label(playbook.title, lang, playbook.id),
            review=found, summary=found.summary(), stages=stages, owner=owner or "",
            team=team or "", week=week.label,
        )  # fmt: skip

    return await shown(request, build)


def _period(playbook: Playbook, asked: str, who: Visitor) -> Period:
    if asked:
        return parse_period(asked, playbook.timezone)
    return current_period("quarter", who.now, playbook.timezone)
