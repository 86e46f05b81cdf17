"""``/api/v1/escalations``: list them; acknowledge or snooze one, as someone it notifies.

Who may handle an escalation is the rule of
:func:`playbook.services.acknowledge`: a person or role it notified, or a role
that may override gates. The caller acts with the roles they hold in the
playbook of the escalation's deal.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query

from playbook import services
from playbook.escalation import admin
from playbook.values import Actor
from playbook.web.access import Caller, mark_gated, reader, writer
from playbook.web.schemas import AckRequest, Escalation, EscalationList, SnoozeRequest

__all__ = ["router"]

router = APIRouter(prefix="/escalations", tags=["escalations"])

Status = Literal["open", "acked", "resolved", "dropped", "snoozed"]
EscalationId = Annotated[int, Path(ge=1, le=2**62, description="The escalation's id.")]


@router.get("", response_model=EscalationList, summary="List escalations")
def list_escalations(
    caller: Annotated[Caller, Depends(reader)],
    status: Status | None = None,
    playbook: Annotated[str | None, Query(max_length=200)] = None,
    deal: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Escalations matching every filter given, newest first."""
    found = admin.list_escalations(
        caller.store.database, playbook_id=playbook, status=status, deal=deal, limit=limit
    )
    return {"escalations": [view.to_dict() for view in found]}


@router.post("/{escalation_id}/ack", response_model=Escalation, summary="Acknowledge")
def acknowledge(
    escalation_id: EscalationId, body: AckRequest, caller: Annotated[Caller, Depends(writer("ack"))]
) -> dict[str, Any]:
    """Acknowledge an open escalation, with a reason."""
    actor = _actor(caller, escalation_id, "ack")
    view = services.acknowledge(
        caller.store, escalation_id, actor=actor, reason=body.reason, now=caller.now
    )
    return view.to_dict()


@router.post("/{escalation_id}/snooze", response_model=Escalation, summary="Snooze")
def snooze(
    escalation_id: EscalationId,
    body: SnoozeRequest,
    caller: Annotated[Caller, Depends(writer("snooze"))],
) -> dict[str, Any]:
    """Snooze the escalation's rule for its deal until ``until``, with a reason."""
    actor = _actor(caller, escalation_id, "snooze")
    view = services.snooze(
        caller.store,
        escalation_id,
        actor=actor,
        until=body.until,
        reason=body.reason,
        now=caller.now,
    )
    return view.to_dict()


def _actor(caller: Caller, escalation_id: int, action: str) -> Actor:
    view = admin.read_escalation(caller.store.database, escalation_id)
    deal = caller.store.get(view.deal)
    playbook = services.registered_playbook(caller.store, deal.playbook_id, deal.playbook_version)
    if playbook is None:
        return Actor(caller.name, frozenset(caller.credentials.roles))
    return caller.actor(playbook, action, deal.ref)


mark_gated(router)
