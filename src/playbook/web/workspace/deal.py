"""``/deals/{ref}``: a deal's page, and its advance, complete and log forms.

The page shows the fields, the open actions with their due times, "why
can't this move" (every reason of the engine, in the page's language), the
moves this person may make now, the override form where their role may
override, and the history with refused attempts. The forms go through
:mod:`playbook.services` exactly as the JSON API does: the engine of the
deal's pinned version decides, gates and roles apply, refusals are recorded,
hooks run after the commit. The actor is the session's person, never a form field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from playbook import services
from playbook.i18n import say
from playbook.model import Playbook
from playbook.runtime.decisions import AvailableMove
from playbook.runtime.engine import Engine
from playbook.store.audit import list_refusals
from playbook.store.repository import StoredDeal
from playbook.values import Actor, playbook_zone
from playbook.web.workspace.pages import page, posted, see_other, shown
from playbook.web.workspace.visit import Visitor, invalid, required

__all__ = ["router"]

router = APIRouter()

_KINDS = ("call", "meeting", "email", "note", "visit")
_KIND, _VERSION = "kind", "version"  # form fields named in a refusal


@dataclass(frozen=True, slots=True)
class _Subject:
    deal: StoredDeal
    engine: Engine

    @property
    def playbook(self) -> Playbook:
        return self.engine.playbook


def _subject(who: Visitor, ref: str) -> _Subject:
    deal = who.store.get(ref)
    return _Subject(deal, services.engine_for(who.store, deal, now=who.now))


@router.get("/deals/{ref}", include_in_schema=False)
async def deal_page(request: Request, ref: str) -> Response:
    """The deal's page for the signed-in person."""

    def build(who: Visitor) -> Response:
        subject = _subject(who, ref)
        playbook, deal = subject.playbook, subject.deal
        lang = who.language(playbook)
        held = frozenset(who.roles) & frozenset(playbook.roles)
        actor = Actor(who.name, held) if held else None  # reading records nothing
        state = services.deal_state(deal, playbook)
        steps = subject.engine.next_steps(state, now=who.now, actor=actor)
        moves = [_move(subject, state, item, actor, who, lang) for item in steps.available]
        return page(
            request, "deal.html", lang=lang, who=who, zone=playbook_zone(playbook),
            deal=deal, playbook=playbook, stage=playbook.label(
                _stage_title(playbook, deal.stage), lang, deal.stage),
            title=playbook.label(playbook.title, lang, playbook.id),
            fields=_fields(playbook, deal, lang), steps=steps, moves=moves,
            open_actions=[(item, item.titles.get(lang, item.titles["en"]))
                          for item in steps.open_actions],
            missing=[(item.titles.get(lang, item.titles["en"]),
                      [r.text(lang) for r in item.failing], item.fields)
                     for item in steps.missing_for_next],
            history=list(reversed(who.store.history(deal.id))),
            refused=list_refusals(who.store.database, deal=str(deal.id), limit=20),
            evidence_labels=dict(_labels(playbook, lang)),
            stages={s.id: playbook.label(s.title, lang, s.id) for s in playbook.stages},
            kinds=_KINDS, done=request.query_params.get("done", ""),
            may_act=actor is not None,
        )  # fmt: skip

    return await shown(request, build)


def _move(
    subject: _Subject,
    state: Any,
    item: AvailableMove,
    actor: Actor | None,
    who: Visitor,
    lang: str,
) -> dict[str, Any]:
    """A move from here: allowed now, or blocked with every reason, and overridable by whom."""
    overridable = False
    if not item.allowed and actor is not None:
        decision = subject.engine.check(state, item.target, actor=actor, now=who.now)
        overridable = decision.overridable and bool(
            set(actor.roles) & set(subject.playbook.override_roles)
        )
    return {
        "to": item.target,
        "title": item.titles.get(lang, item.titles["en"]),
        "allowed": item.allowed,
        "reasons": [reason.text(lang) for reason in item.reasons],
        "overridable": overridable,
    }


def _fields(playbook: Playbook, deal: StoredDeal, lang: str) -> list[tuple[str, str]]:
    shown_fields = []
    for field_id, spec in playbook.fields.items():
        value = deal.fields.get(field_id)
        if isinstance(value, bool):
            text = say("web.deal.yes" if value else "web.deal.no", lang)
        else:
            text = "" if value is None else playbook.value_label(field_id, value, lang)
        shown_fields.append((playbook.label(spec.title, lang, field_id), text))
    return shown_fields


def _labels(playbook: Playbook, lang: str) -> list[tuple[str, str]]:
    return [(f, playbook.label(spec.title, lang, f)) for f, spec in playbook.fields.items()]


def _stage_title(playbook: Playbook, stage_id: str) -> Any:
    stage = playbook.stage(stage_id)
    return None if stage is None else stage.title


@router.post("/deals/{ref}/advance", include_in_schema=False)
async def advance(request: Request, ref: str) -> Response:
    """Move the deal (an override when the form gives a reason and asks for one)."""

    def act(who: Visitor, fields: dict[str, str]) -> Response:
        override = required(fields, "reason") if fields.get("override") == "1" else None
        return _decided(who, ref, services.advancing(required(fields, "to"), override), fields)

    return await posted(request, "advance", act)


@router.post("/deals/{ref}/complete", include_in_schema=False)
async def complete(request: Request, ref: str) -> Response:
    """Record a required action of the deal's stage as done, with its evidence."""

    def act(who: Visitor, fields: dict[str, str]) -> Response:
        evidence = fields.get("evidence", "").strip() or None
        command = services.completing(required(fields, "action"), evidence)
        return _decided(who, ref, command, fields)

    return await posted(request, "complete", act)


@router.post("/deals/{ref}/log", include_in_schema=False)
async def log(request: Request, ref: str) -> Response:
    """Log a call, meeting, email, note or visit (never conflicts)."""

    def act(who: Visitor, fields: dict[str, str]) -> Response:
        kind = required(fields, "kind")
        if kind not in _KINDS:
            raise invalid(_KIND, kind)
        subject = _subject(who, ref)
        actor = who.actor(subject.playbook, "log", subject.deal.ref)
        note = fields.get("note", "").strip() or None
        who.store.log_activity(subject.deal.id, kind, actor=actor, now=who.now, note=note)
        return see_other(f"/deals/{quote(subject.deal.ref)}?done=log")

    return await posted(request, "log", act)


def _decided(
    who: Visitor, ref: str, command: services.DealCommand, fields: dict[str, str]
) -> Response:
    """Let the deal's pinned engine decide ``command`` as the visitor and store it, as the API
    does (:func:`playbook.services.decide_and_store`: gates, roles, refusals recorded, hooks
    after the commit); back to the deal's page."""
    subject = _subject(who, ref)
    engine = subject.engine
    actor = who.actor(engine.playbook, command.action, subject.deal.ref)
    services.decide_and_store(
        who.store, subject.deal.ref, lambda _deal: engine, engine.hooks, command, actor=actor,
        now=who.now, retries=0, playbook_id=engine.playbook.id, version=_version(fields),
    )  # fmt: skip
    return see_other(f"/deals/{quote(subject.deal.ref)}?done={command.action}")


def _version(fields: dict[str, str]) -> int | None:
    """The deal version the page showed: a form on a deal changed meanwhile is refused (412)."""
    text = fields.get("version", "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 18:
        raise invalid(_VERSION, text)
    return int(text)
