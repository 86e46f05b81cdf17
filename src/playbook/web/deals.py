"""``/api/v1/deals``: read, create and change deals; check, advance, complete, log; history.

Every route is a thin edge over the application services: the engine of the
deal's pinned playbook version decides, :mod:`playbook.services` persists
(one transaction, optimistic locking), and the actor is the token's person
with the roles they hold in that playbook. A deal's ``version`` is its
``ETag``; a write with ``If-Match`` is refused with 412 when the deal moved on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from playbook import services
from playbook.errors import DealError
from playbook.i18n import Message
from playbook.model import Playbook
from playbook.runtime.decisions import Advance
from playbook.runtime.engine import Engine
from playbook.store.audit import list_refusals
from playbook.store.models import Deal as DealRow
from playbook.store.repository import StoredDeal
from playbook.values import Actor
from playbook.web.access import Caller, engines, mark_gated, reader, version_of, writer
from playbook.web.schemas import (
    AdvanceRequest,
    CheckRequest,
    CompleteRequest,
    Deal,
    DealCreate,
    DealList,
    Decision,
    ErrorBody,
    FieldsPatch,
    History,
    HistoryStep,
    LogRequest,
    NextSteps,
    Written,
)

__all__ = ["router"]

router = APIRouter(prefix="/deals", tags=["deals"])

_PAGE = 100
_MAX_PAGE = 1000
Decided = tuple[StoredDeal, Advance]
IfMatch = Annotated[
    str | None,
    Header(description='The deal\'s ETag as read (e.g. "7"): refused with 412 if it moved on.'),
]


@dataclass(frozen=True, slots=True)
class _Subject:
    """A deal to act on, its engine and the caller as an actor of its playbook."""

    deal: StoredDeal
    engine: Engine
    actor: Actor

    @property
    def playbook(self) -> Playbook:
        return self.engine.playbook


def _subject(caller: Caller, request: Request, ref: str, action: str) -> _Subject:
    deal = caller.store.get(ref)
    engine = engines(request).engine_for(deal)
    request.state.lang = caller.language(engine.playbook)
    return _Subject(deal, engine, caller.actor(engine.playbook, action, deal.ref))


def _tagged(response: Response, deal: StoredDeal) -> dict[str, Any]:
    response.headers["ETag"] = f'"{deal.version}"'
    return deal.to_dict()


@dataclass(frozen=True, slots=True)
class _Write:
    """A write the engine decides: who asks, on which deal, as which action, at which version."""

    caller: Caller
    request: Request
    response: Response
    ref: str
    action: str
    if_match: str | None


def _decided(
    write: _Write, service: Callable[..., Decided], *args: Any, **options: Any
) -> dict[str, Any]:
    """Run ``service`` (advance, complete) on the deal as the caller; the deal and its events."""
    caller = write.caller
    subject = _subject(caller, write.request, write.ref, write.action)
    deal, result = service(
        caller.store,
        subject.deal.ref,
        *args,
        engine=subject.engine,
        actor=subject.actor,
        now=caller.now,
        if_version=version_of(write.if_match),
        **options,
    )
    events = [event.to_dict() for event in result.events]
    return {"deal": _tagged(write.response, deal), "events": events}


@router.get("", response_model=DealList, summary="List deals")
def list_deals(
    caller: Annotated[Caller, Depends(reader)],
    playbook: Annotated[str | None, Query(max_length=200)] = None,
    stage: Annotated[str | None, Query(max_length=200)] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    after: Annotated[int | None, Query(ge=0, le=2**62, description="Continue after it.")] = None,
    limit: Annotated[int, Query(ge=1, le=_MAX_PAGE)] = _PAGE,
) -> dict[str, Any]:
    """Deals matching every filter given, in store-id order, one page at a time."""
    where = DealRow.id > after if after is not None else None
    found = list(
        caller.store.list_deals(
            playbook_id=playbook, stage=stage, owner=owner, where=where, limit=limit + 1
        )
    )
    more = len(found) > limit
    page = found[:limit]
    return {
        "deals": [deal.to_dict() for deal in page],
        "next_after": page[-1].id if more else None,
    }


@router.post("", response_model=Deal, status_code=201, summary="Create a deal")
def create_deal(
    body: DealCreate,
    response: Response,
    caller: Annotated[Caller, Depends(writer("create"))],
) -> dict[str, Any]:
    """A new deal in the first stage of the playbook (its latest registered version by default)."""
    playbook = _registered(caller, body.playbook, body.playbook_version)
    actor = caller.actor(playbook, "create", body.external_id)
    deal = caller.store.add_deal(
        playbook,
        actor=actor,
        now=caller.now,
        fields=body.fields,
        external_id=body.external_id,
        owner=body.owner or caller.name,
        team=body.team,
        manager=body.manager,
        region=body.region,
    )
    response.headers["Location"] = f"/api/v1/deals/{deal.id}"
    return _tagged(response, deal)


@router.get("/{ref}", response_model=Deal, summary="Read a deal")
def get_deal(
    ref: str, response: Response, caller: Annotated[Caller, Depends(reader)]
) -> dict[str, Any]:
    """The deal (external id or store id); its ``ETag`` is its version."""
    return _tagged(response, caller.store.get(ref))


@router.patch("/{ref}", response_model=Deal, summary="Set field values")
def set_fields(
    ref: str,
    body: FieldsPatch,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Depends(writer("set"))],
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Set (``null``: clear) field values, typed by the playbook; one version step."""
    subject = _subject(caller, request, ref, "set")
    version = version_of(if_match)
    if version is not None:
        services.require_version(subject.deal, version)
    deal = caller.store.update_fields(
        subject.deal, subject.playbook, body.fields, actor=subject.actor, now=caller.now
    )
    return _tagged(response, deal)


@router.post("/{ref}/check", response_model=Decision, summary="May the deal move?")
def check(
    ref: str, body: CheckRequest, request: Request, caller: Annotated[Caller, Depends(reader)]
) -> dict[str, Any]:
    """The engine's decision on moving the deal to ``to`` as the caller, with every reason."""
    subject = _subject(caller, request, ref, "check")
    state = services.deal_state(subject.deal, subject.playbook)
    decision = subject.engine.check(state, body.to, actor=subject.actor, now=caller.now)
    return dict(decision.to_dict(caller.language(subject.playbook)))


@router.post(
    "/{ref}/advance",
    response_model=Written,
    summary="Move the deal",
    responses={
        409: {
            "model": ErrorBody,
            "description": "Blocked: the engine's decision is error.decision.",
        }
    },
)
def advance(
    ref: str,
    body: AdvanceRequest,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Depends(writer("advance"))],
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Move the deal to ``to`` if the engine allows it (or ``override`` with a reason)."""
    action = "override" if body.override else "advance"
    return _decided(
        _Write(caller, request, response, ref, action, if_match),
        services.advance,
        body.to,
        override=body.override,
    )


@router.post("/{ref}/complete", response_model=Written, summary="Complete a required action")
def complete(
    ref: str,
    body: CompleteRequest,
    request: Request,
    response: Response,
    caller: Annotated[Caller, Depends(writer("complete"))],
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Record a required action of the deal's stage as done, with its evidence."""
    return _decided(
        _Write(caller, request, response, ref, "complete", if_match),
        services.complete_action,
        body.action,
        evidence=body.evidence,
    )


@router.post(
    "/{ref}/activities", response_model=HistoryStep, status_code=201, summary="Log an activity"
)
def log_activity(
    ref: str,
    body: LogRequest,
    request: Request,
    caller: Annotated[Caller, Depends(writer("log"))],
) -> dict[str, Any]:
    """Log a call, meeting, email, note or visit (never conflicts)."""
    subject = _subject(caller, request, ref, "log")
    entry = caller.store.log_activity(
        subject.deal.id, body.kind, actor=subject.actor, now=caller.now, note=body.note
    )
    return entry.to_dict()


@router.get("/{ref}/next-steps", response_model=NextSteps, summary="What the deal needs next")
def next_steps(
    ref: str, request: Request, caller: Annotated[Caller, Depends(reader)]
) -> dict[str, Any]:
    """Open actions with due times, what each next stage misses, the moves open to the caller."""
    subject = _subject(caller, request, ref, "next")
    state = services.deal_state(subject.deal, subject.playbook)
    steps = subject.engine.next_steps(state, now=caller.now, actor=subject.actor)
    return dict(steps.to_dict(caller.language(subject.playbook)))


@router.get("/{ref}/history", response_model=History, summary="Who did what, when")
def history(ref: str, caller: Annotated[Caller, Depends(reader)]) -> dict[str, Any]:
    """Every stage change and activity (oldest first) and every refused attempt on the deal."""
    deal = caller.store.get(ref)
    steps = caller.store.history(deal.id)
    refused = list_refusals(caller.store.database, deal=str(deal.id), limit=None)
    return {
        "steps": [step.to_dict() for step in steps],
        "refusals": [item.to_dict() for item in refused],
    }


def _registered(caller: Caller, playbook_id: str, version: int | None) -> Playbook:
    versions = [v for p, v in caller.store.playbook_versions() if p == playbook_id]
    chosen = version if version is not None else caller.store.active_version(playbook_id)
    model = (
        services.registered_playbook(caller.store, playbook_id, chosen)
        if chosen in versions and chosen is not None
        else None
    )
    if model is None:
        known = [f"{playbook_id}@{v}" for v in versions]
        raise DealError(
            Message(
                "error.web.playbook_not_registered",
                name=f"{playbook_id}@{version or 'latest'}",
            ),
            hint=Message(
                "error.web.registered_versions",
                names=known or Message("error.tokens.no_roles"),
            ),
            details={"playbook": playbook_id},
        )
    return model


mark_gated(router)
