"""Approving deals: request, grant, reject and delegate an approval, checked and recorded.

Each function reads the deal, works out where the approval stands
(:func:`~playbook.runtime.approval_state.approval_status`), checks that the
actor may take this step, and records one event as one version step of the
deal (:func:`~playbook.store.approvals.record_approval_event`: all or nothing,
optimistic locking). A grant, rejection or delegation by someone who is not an
approver of the current step is refused (PB582) and the refusal recorded;
a write that loses a race to another approver is decided again on what that
approver wrote, up to ``retries`` times.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from playbook.errors import (
    ApprovalRefusedError,
    ApprovalStateError,
    ConflictError,
    UnknownApprovalError,
)
from playbook.i18n import LANGUAGES, Message
from playbook.model import Approval, Approver, Playbook
from playbook.refusals import recording_refusals
from playbook.runtime.approval_state import (
    ApprovalEvent,
    ApprovalStatus,
    approval_status,
    approved_values,
    current_round,
)
from playbook.runtime.deals import DealState
from playbook.services import deal_state, registered_playbook
from playbook.store.approvals import NewApprovalEvent, record_approval_event
from playbook.store.records import StoredDeal
from playbook.store.repository import DealStore
from playbook.values import Actor, check_actor

__all__ = [
    "ApprovalOutcome",
    "approval_statuses",
    "delegate",
    "grant",
    "reject",
    "request",
]


@dataclass(frozen=True, slots=True)
class ApprovalOutcome:
    """The deal as stored after an approval event, and where the approval stands now."""

    deal: StoredDeal
    status: ApprovalStatus


_Decide = Callable[[Approval, ApprovalStatus, StoredDeal, DealState, Actor], NewApprovalEvent]


def approval_statuses(
    store: DealStore, ref: str | int, *, playbook: Playbook | None = None
) -> tuple[StoredDeal, Playbook, list[ApprovalStatus]]:
    """The deal, its playbook and where each of the playbook's approvals stands for it."""
    deal = store.get(ref)
    book = _playbook(store, deal, playbook)
    state = deal_state(deal, book)
    return deal, book, [approval_status(a, state.approvals, state.fields) for a in book.approvals]


def request(
    store: DealStore,
    ref: str | int,
    approval_id: str,
    *,
    actor: Actor,
    now: datetime,
    **options: Any,
) -> ApprovalOutcome:
    """Ask for ``approval_id`` on the deal: starts a new round (earlier grants no longer count)."""

    def decide(
        approval: Approval, status: ApprovalStatus, deal: StoredDeal, state: DealState, who: Actor
    ) -> NewApprovalEvent:
        _needed(approval, status)
        if status.state == "granted":
            raise _state_error(approval, "granted")
        return NewApprovalEvent(approval.id, "request", reason=options.get("reason"))

    return _record(store, ref, approval_id, "request", decide, actor, now, **options)


def grant(
    store: DealStore,
    ref: str | int,
    approval_id: str,
    *,
    actor: Actor,
    now: datetime,
    **options: Any,
) -> ApprovalOutcome:
    """Grant the current step of ``approval_id`` as ``actor`` (an approver of it, or a delegate).

    The grant records the deal's values of the approval's ``invalidate_on``
    fields: a later change of one voids it. Raises
    :class:`~playbook.errors.ApprovalRefusedError` (recorded) when ``actor`` may
    not grant the step, :class:`~playbook.errors.ApprovalStateError` when
    there is nothing to grant (not needed, granted, rejected).
    """

    def decide(
        approval: Approval, status: ApprovalStatus, deal: StoredDeal, state: DealState, who: Actor
    ) -> NewApprovalEvent:
        step, approver = _approver_step(approval, status, deal, state, who, "grant")
        values = approved_values(approval, state.fields)
        reason = options.get("reason")
        return NewApprovalEvent(approval.id, "grant", step, approver.key, None, reason, values)

    return _record(store, ref, approval_id, "grant", decide, actor, now, **options)


def reject(
    store: DealStore,
    ref: str | int,
    approval_id: str,
    *,
    actor: Actor,
    now: datetime,
    reason: str,
    **options: Any,
) -> ApprovalOutcome:
    """Reject the current step with ``reason``; it stays rejected until requested again."""
    if not reason.strip():
        raise ApprovalStateError(
            Message("error.approving.reason_needed"), hint=Message("error.approving.reason_hint")
        )

    def decide(
        approval: Approval, status: ApprovalStatus, deal: StoredDeal, state: DealState, who: Actor
    ) -> NewApprovalEvent:
        step, approver = _approver_step(approval, status, deal, state, who, "reject")
        return NewApprovalEvent(approval.id, "reject", step, approver.key, reason=reason.strip())

    return _record(store, ref, approval_id, "reject", decide, actor, now, **options)


def delegate(
    store: DealStore,
    ref: str | int,
    approval_id: str,
    *,
    to: str,
    actor: Actor,
    now: datetime,
    **options: Any,
) -> ApprovalOutcome:
    """Hand ``actor``'s part of the current step to the person ``to`` (recorded).

    Only an approver of the step in their own right may delegate, and only
    where the approval allows delegation (refused and recorded otherwise).
    """

    def decide(
        approval: Approval, status: ApprovalStatus, deal: StoredDeal, state: DealState, who: Actor
    ) -> NewApprovalEvent:
        if not approval.delegation:
            raise ApprovalRefusedError(
                Message("error.approving.no_delegation", approval=approval.id),
                details={"approval": approval.id},
            )
        step, approver = _approver_step(approval, status, deal, state, who, "delegate", own=True)
        target = to.strip()
        if not target or target == who.id:
            raise ApprovalStateError(Message("error.approving.delegate_to", to=to))
        reason = options.get("reason")
        return NewApprovalEvent(approval.id, "delegate", step, approver.key, target, reason)

    return _record(store, ref, approval_id, "delegate", decide, actor, now, **options)


# --- the shared flow -------------------------------------------------------------------


def _record(
    store: DealStore,
    ref: str | int,
    approval_id: str,
    kind: str,
    decide: _Decide,
    actor: Actor,
    now: datetime,
    *,
    playbook: Playbook | None = None,
    retries: int = 0,
    reason: str | None = None,
) -> ApprovalOutcome:
    """Read, decide and record one event; decide again after a lost race (``retries``)."""
    del reason  # the commands read it themselves
    with recording_refusals(
        store, f"approval_{kind}", actor=actor, now=now, deal=str(ref), subject=approval_id
    ):
        attempt = 0
        while True:
            deal = store.get(ref)
            book = _playbook(store, deal, playbook)
            check_actor(actor, book)
            approval = _approval(book, approval_id)
            state = deal_state(deal, book)
            status = approval_status(approval, state.approvals, state.fields)
            event = decide(approval, status, deal, state, actor)
            try:
                stored = record_approval_event(store.database, deal, event, actor=actor, now=now)
            except ConflictError:
                attempt += 1
                if attempt > retries:
                    raise
                continue
            after = deal_state(stored, book)
            return ApprovalOutcome(stored, approval_status(approval, after.approvals, after.fields))


def _playbook(store: DealStore, deal: StoredDeal, given: Playbook | None) -> Playbook:
    if given is not None and (given.id, given.version) == (deal.playbook_id, deal.playbook_version):
        return given
    found = registered_playbook(store, deal.playbook_id, deal.playbook_version)
    return found if found is not None else given if given is not None else _unknown_pin(deal)


def _unknown_pin(deal: StoredDeal) -> Playbook:
    raise UnknownApprovalError(
        Message(
            "error.approving.playbook_unknown",
            deal=deal.ref,
            key=f"{deal.playbook_id}@{deal.playbook_version}",
        )
    )


def _approval(playbook: Playbook, approval_id: str) -> Approval:
    for approval in playbook.approvals:
        if approval.id == approval_id:
            return approval
    known = ", ".join(a.id for a in playbook.approvals) or "-"
    raise UnknownApprovalError(
        Message("error.approving.unknown", approval=approval_id, key=playbook.key),
        hint=Message("error.approving.known", listing=known),
        details={"approval": approval_id},
    )


def _needed(approval: Approval, status: ApprovalStatus) -> None:
    if status.state == "not_needed":
        raise _state_error(approval, "not_needed")


def _state_error(approval: Approval, state: str) -> ApprovalStateError:
    return ApprovalStateError(
        Message(f"error.approving.state.{state}", approval=approval.id),
        details={"approval": approval.id, "state": state},
    )


def _approver_step(
    approval: Approval,
    status: ApprovalStatus,
    deal: StoredDeal,
    state: DealState,
    actor: Actor,
    action: str,
    *,
    own: bool = False,
) -> tuple[str, Approver]:
    """The current step and the approver ``actor`` acts for (refused, PB582, when none)."""
    _needed(approval, status)
    if status.state != "pending" or status.step is None:
        raise _state_error(approval, status.state)
    step = status.step
    delegated = () if own else _delegations(approval, state.approvals, step.id, actor.id)
    for approver in status.missing:
        if _is(actor, approver, deal, state) or approver.key in delegated:
            return step.id, approver
    error = ApprovalRefusedError(
        Message(
            "error.approving.not_approver",
            id=actor.id,
            names=sorted(actor.roles),
            action=action,
            step=step.id,
            approval=approval.id,
        ),
        hint=Message("error.approving.approvers", listing=[a.name for a in status.missing]),
        details={"approval": approval.id, "step": step.id, "action": action},
    )
    # The refusal's record keeps every language: the audit shows the reader's.
    error.details["messages"] = {
        lang: f"{error.message_in(lang)} ({error.hint_in(lang)})" for lang in LANGUAGES
    }
    raise error


def _is(actor: Actor, approver: Approver, deal: StoredDeal, state: DealState) -> bool:
    """True when ``actor`` is ``approver`` in their own right (a role, a person, a field's)."""
    if approver.kind == "role":
        return approver.name in actor.roles
    if approver.kind == "person":
        return approver.name == actor.id
    people = {"owner": deal.owner, "manager": deal.manager}
    person = people[approver.name] if approver.name in people else state.fields.get(approver.name)
    return person is not None and str(person) == actor.id


def _delegations(
    approval: Approval, events: Sequence[ApprovalEvent], step: str, person: str
) -> frozenset[str]:
    """The approver keys of ``step`` delegated to ``person`` in the current round."""
    return frozenset(
        str(event.approver)
        for event in current_round(approval, events)
        if event.kind == "delegate" and event.step == step and event.delegate == person
    )
