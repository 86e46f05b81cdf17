"""``/inbox``: the escalations of my deals or my team's, to acknowledge or snooze with a reason.

Mine: an escalation that names me, or notified the owner or manager of a deal
that is mine. My team's: an escalation on a deal of my team, or of someone I
manage. Who may acknowledge or snooze is :func:`playbook.services.acknowledge`'s
rule (someone it notified, or a role that may override), as in the API.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from playbook import services
from playbook.escalation import admin
from playbook.escalation.admin import EscalationView
from playbook.store.repository import StoredDeal
from playbook.values import Actor, playbook_zone
from playbook.web.workspace.pages import page, posted, see_other, shown
from playbook.web.workspace.visit import Visitor, invalid, required

__all__ = ["router"]

router = APIRouter()

_SHOWN = 300  # open escalations read per page
_UNTIL = "until"  # the snooze form's day field


@router.get("/inbox", include_in_schema=False)
async def inbox(request: Request) -> Response:
    """The open escalations that are mine (``?scope=team``: my team's)."""
    scope = "team" if request.query_params.get("scope") == "team" else "mine"

    def build(who: Visitor) -> Response:
        views = admin.list_escalations(who.store.database, status="open", limit=_SHOWN)
        deals: dict[str, StoredDeal] = {}
        rows: list[dict[str, Any]] = []
        for view in views:
            deal = deals.get(view.deal) or deals.setdefault(view.deal, who.store.get(view.deal))
            if _belongs(who, view, deal, scope):
                rows.append(_row(who, view, deal))
        lang = who.language(rows[0]["playbook"] if rows else None)
        zone = playbook_zone(rows[0]["playbook"]) if rows else None
        return page(
            request, "inbox.html", lang=lang, who=who, zone=zone, rows=rows, scope=scope,
            done=request.query_params.get("done", ""),
        )  # fmt: skip

    return await shown(request, build)


def _belongs(who: Visitor, view: EscalationView, deal: StoredDeal, scope: str) -> bool:
    me = who.name
    if scope == "team":
        team = who.signed.credentials.person.team
        return (team is not None and deal.team == team) or deal.manager == me
    slots = {"owner": deal.owner, "manager": deal.manager}
    return any(
        recipient.name == me or slots.get(recipient.role) == me for recipient in view.notified
    )


def _row(who: Visitor, view: EscalationView, deal: StoredDeal) -> dict[str, Any]:
    playbook = services.registered_playbook(who.store, deal.playbook_id, deal.playbook_version)
    lang = who.language(playbook)
    rule = next((e for e in playbook.escalations if e.id == view.rule), None) if playbook else None
    title = playbook.label(rule.title, lang, view.rule) if playbook and rule else view.rule
    return {"view": view, "deal": deal, "title": title, "playbook": playbook}


@router.post("/inbox/{escalation_id}/ack", include_in_schema=False)
async def acknowledge(request: Request, escalation_id: int) -> Response:
    """Acknowledge an open escalation, with a reason."""

    def act(who: Visitor, fields: dict[str, str]) -> Response:
        actor = _actor(who, escalation_id, "ack")
        services.acknowledge(
            who.store, escalation_id, actor=actor, reason=required(fields, "reason"), now=who.now
        )
        return see_other("/inbox?done=ack")

    return await posted(request, "ack", act)


@router.post("/inbox/{escalation_id}/snooze", include_in_schema=False)
async def snooze(request: Request, escalation_id: int) -> Response:
    """Snooze the escalation's rule for its deal until a day (from midnight, playbook's clock)."""

    def act(who: Visitor, fields: dict[str, str]) -> Response:
        actor = _actor(who, escalation_id, "snooze")
        until = _day_start(who, escalation_id, required(fields, "until"))
        services.snooze(
            who.store, escalation_id, actor=actor, until=until,
            reason=required(fields, "reason"), now=who.now,
        )  # fmt: skip
        return see_other("/inbox?done=snooze")

    return await posted(request, "snooze", act)


def _actor(who: Visitor, escalation_id: int, action: str) -> Actor:
    view = admin.read_escalation(who.store.database, escalation_id)
    deal = who.store.get(view.deal)
    playbook = services.registered_playbook(who.store, deal.playbook_id, deal.playbook_version)
    if playbook is None:
        return Actor(who.name, frozenset(who.roles))
    return who.actor(playbook, action, deal.ref)


def _day_start(who: Visitor, escalation_id: int, text: str) -> datetime:
    view = admin.read_escalation(who.store.database, escalation_id)
    deal = who.store.get(view.deal)
    playbook = services.registered_playbook(who.store, deal.playbook_id, deal.playbook_version)
    try:
        day = datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError:
        raise invalid(_UNTIL, text) from None
    zone = playbook_zone(playbook) if playbook is not None else who.now.tzinfo
    return datetime.combine(day, time(0), tzinfo=zone)
