"""``/`` and ``/board/{playbook}``: the playbooks, and a pipeline board per playbook.

A board has a column per stage with its count and weighted value (the money
field times the stage's win probability), each deal's card marked idle (no
activity for longer than the idle threshold) or overdue (a required action
past its due time), filtered by owner or team.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from playbook import services
from playbook.errors import PlaybookError, RouteNotFoundError
from playbook.i18n import Message
from playbook.kpi.review import value_field
from playbook.model import Playbook, Stage
from playbook.store.repository import DealStore, StoredDeal
from playbook.values import playbook_zone
from playbook.web.workspace.pages import page, shown
from playbook.web.workspace.visit import Visitor

__all__ = ["IDLE_AFTER", "latest_playbook", "router"]

router = APIRouter()

IDLE_AFTER = timedelta(days=14)
"""A deal with no activity (nor stage change) for this long is marked idle."""

_NO_PLAYBOOK = "PB058"  # a finer code of RouteNotFoundError: no such playbook registered
_CARDS = 60  # cards drawn per column; the count and value cover every deal


@dataclass
class Column:
    """A stage's column: its deals (the first few drawn), count and weighted value."""

    stage: Stage
    title: str
    cards: list[dict[str, Any]] = field(default_factory=list)
    count: int = 0
    weighted: Decimal = Decimal(0)


@router.get("/", include_in_schema=False)
async def start(request: Request) -> Response:
    """The registered playbooks, each with its board, KPIs and weekly review."""

    def build(who: Visitor) -> Response:
        latest = _latest_versions(who.store)
        playbooks = [services.registered_playbook(who.store, pid, v) for pid, v in latest.items()]
        lang = who.language(next((p for p in playbooks if p is not None), None))
        shown_list = [(p, p.label(p.title, lang, p.id)) for p in playbooks if p is not None]
        return page(request, "start.html", lang=lang, who=who, playbooks=shown_list)

    return await shown(request, build)


@router.get("/board/{playbook_id}", include_in_schema=False)
async def board(request: Request, playbook_id: str) -> Response:
    """The pipeline board of ``playbook_id`` (its active version)."""
    owner = request.query_params.get("owner") or None
    team = request.query_params.get("team") or None

    def build(who: Visitor) -> Response:
        playbook = latest_playbook(who.store, playbook_id)
        lang = who.language(playbook)
        deals = list(who.store.list_deals(playbook_id=playbook.id, owner=owner))
        people = sorted({d.owner for d in deals if d.owner})
        teams = sorted({d.team for d in deals if d.team})
        if team is not None:
            deals = [d for d in deals if d.team == team]
        columns = _columns(who, playbook, deals, lang)
        return page(
            request, "board.html", lang=lang, who=who, zone=playbook_zone(playbook),
            playbook=playbook, title=playbook.label(playbook.title, lang, playbook.id),
            columns=columns, owners=people, teams=teams, owner=owner or "", team=team or "",
            currency=playbook.currency or "",
        )  # fmt: skip

    return await shown(request, build)


def latest_playbook(store: DealStore, playbook_id: str) -> Playbook:
    """The active version of ``playbook_id``; ``PB058`` (a 404) if none is registered."""
    version = _latest_versions(store).get(playbook_id)
    found = None if version is None else services.registered_playbook(store, playbook_id, version)
    if found is None:
        raise RouteNotFoundError(
            Message("error.workspace.no_playbook", name=playbook_id),
            hint=Message("error.workspace.pick_playbook"),
            code=_NO_PLAYBOOK,
        )
    return found


def _latest_versions(store: DealStore) -> dict[str, int]:
    """The active version of each registered playbook (the one new deals follow)."""
    found = {
        playbook_id: store.active_version(playbook_id)
        for playbook_id, _ in store.playbook_versions()
    }
    return {playbook_id: v for playbook_id, v in sorted(found.items()) if v is not None}


def _columns(who: Visitor, playbook: Playbook, deals: list[StoredDeal], lang: str) -> list[Column]:
    columns = {s.id: Column(s, playbook.label(s.title, lang, s.id)) for s in playbook.stages}
    money = value_field(playbook)
    for deal in sorted(deals, key=lambda d: d.stage_entered_at):
        column = columns.get(deal.stage)
        if column is None:
            continue  # a stage of another version: its own board shows it
        column.count += 1
        value = _decimal(deal.fields.get(money)) if money else None
        if value is not None:
            column.weighted += value * Decimal(str(column.stage.probability or 0))
        if len(column.cards) < _CARDS:
            column.cards.append(_card(who, playbook, deal, value))
    return list(columns.values())


def _card(
    who: Visitor, playbook: Playbook, deal: StoredDeal, value: Decimal | None
) -> dict[str, Any]:
    last = deal.last_activity_at or deal.stage_entered_at
    return {
        "ref": deal.ref,
        "owner": deal.owner or "",
        "value": value,
        "idle": deal.closed_at is None and who.now - last > IDLE_AFTER,
        "overdue": deal.closed_at is None and _overdue(who, playbook, deal),
        "days": int((who.now - deal.stage_entered_at).total_seconds() // 86400),
    }


def _overdue(who: Visitor, playbook: Playbook, deal: StoredDeal) -> bool:
    """Whether a required action of the deal's stage is past its due time (a pure decision)."""
    stage = playbook.stage(deal.stage)
    if stage is None or not stage.actions:
        return False
    try:
        engine = services.engine_for(who.store, deal, now=who.now)
        state = services.deal_state(deal, engine.playbook)
        steps = engine.next_steps(state, now=who.now)
    except PlaybookError:  # a deal the engine cannot read has no due actions to show
        return False
    return any(item.overdue for item in steps.open_actions)


def _decimal(value: Any) -> Decimal | None:
    try:
        return None if value is None or isinstance(value, bool) else Decimal(str(value))
    except InvalidOperation:
        return None
