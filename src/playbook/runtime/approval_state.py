"""Where a deal's approval (授权与监督) stands: its recorded events read against its values.

A deal carries its approval history as :class:`ApprovalEvent` values (the store
records them; a plain deal mapping may list them under ``approvals``).
:func:`approval_status` reads one approval's events against the deal's current
values — pure, no clock, no I/O:

* a ``request`` starts a new round: what came before it no longer counts;
* a ``reject`` in the round stops it: the approval is ``rejected`` until it is
  requested again;
* a ``grant`` counts for its step and approver only while the deal's values
  of the approval's ``invalidate_on`` fields are those it was granted on (a
  change voids it; the fields that changed are reported);
* steps complete in order: ``any`` needs one grant, ``all`` one per approver.

The gate's part (why a move waits) is :mod:`playbook.runtime.approvals`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from playbook.errors import DealError
from playbook.i18n import Message
from playbook.model import Approval, ApprovalStep, Approver, Playbook, Stage
from playbook.values import FrozenMap, to_json_value, to_utc_datetime

__all__ = [
    "EVENT_KINDS",
    "ApprovalEvent",
    "ApprovalState",
    "ApprovalStatus",
    "approval_status",
    "approvals_for_move",
    "approved_values",
    "current_round",
    "read_events",
]

EventKind = Literal["request", "grant", "reject", "delegate"]
EVENT_KINDS: tuple[EventKind, ...] = ("request", "grant", "reject", "delegate")
ApprovalState = Literal["not_needed", "pending", "granted", "rejected"]

_NO_VALUES: Mapping[str, Any] = FrozenMap()


@dataclass(frozen=True, slots=True)
class ApprovalEvent:
    """One recorded step of an approval: a request, a grant, a rejection or a delegation.

    ``approver`` is the key of the approver a grant counts for (``role:finance``)
    or a delegation hands on; ``delegate`` is who a delegation names; ``values``
    are the ``invalidate_on`` values a grant was given on, in their JSON form.
    """

    approval: str
    kind: EventKind
    actor: str
    at: datetime
    step: str | None = None
    approver: str | None = None
    delegate: str | None = None
    values: Mapping[str, Any] = field(default_factory=lambda: _NO_VALUES)
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (the time in ISO 8601)."""
        return {
            "approval": self.approval,
            "kind": self.kind,
            "actor": self.actor,
            "at": self.at.isoformat(),
            "step": self.step,
            "approver": self.approver,
            "delegate": self.delegate,
            "values": dict(self.values),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class ApprovalStatus:
    """Where one approval stands for one deal.

    ``step`` is the step waiting for a grant (None when granted or not needed),
    ``missing`` who may still grant it, ``since`` when it became the current
    step (the request or the grant that completed the step before; None when
    unknown), ``invalidated`` the fields whose change voided grants.
    """

    approval: Approval
    state: ApprovalState
    step: ApprovalStep | None = None
    missing: tuple[Approver, ...] = ()
    since: datetime | None = None
    rejection: ApprovalEvent | None = None
    invalidated: tuple[str, ...] = ()
    granted: tuple[ApprovalEvent, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: state, step, who it waits for (approver keys), since, why voided."""
        rejection = self.rejection
        return {
            "approval": self.approval.id,
            "state": self.state,
            "step": self.step.id if self.step is not None else None,
            "waiting_for": [approver.key for approver in self.missing],
            "since": self.since.isoformat() if self.since is not None else None,
            "invalidated_by": list(self.invalidated),
            "rejected_by": rejection.actor if rejection is not None else None,
            "rejection_reason": rejection.reason if rejection is not None else None,
        }


def approved_values(approval: Approval, values: Mapping[str, Any]) -> dict[str, Any]:
    """The deal's values of ``approval.invalidate_on``, as a grant records them (JSON form)."""
    return {name: to_json_value(values.get(name)) for name in approval.invalidate_on}


def approval_status(
    approval: Approval, events: Iterable[ApprovalEvent], values: Mapping[str, Any]
) -> ApprovalStatus:
    """Where ``approval`` stands given the deal's ``events`` (any approval's) and ``values``."""
    if approval.when is not None and not approval.when.test(values):
        return ApprovalStatus(approval, "not_needed")
    round_ = current_round(approval, events)
    since = round_[0].at if round_ and round_[0].kind == "request" else None
    rejection = next((e for e in reversed(round_) if e.kind == "reject"), None)
    current = approved_values(approval, values)
    grants, invalidated = [], set()
    for event in round_:
        if event.kind != "grant":
            continue
        changed = [
            name for name in approval.invalidate_on if event.values.get(name) != current[name]
        ]
        invalidated.update(changed)
        if not changed:
            grants.append(event)
    for step in approval.steps:
        filled = {event.approver: event for event in grants if event.step == step.id}
        missing = tuple(a for a in step.approvers if a.key not in filled)
        if not _complete(step, filled, missing):
            state: ApprovalState = "rejected" if rejection is not None else "pending"
            return ApprovalStatus(
                approval, state, step, missing, since, rejection, _ordered(approval, invalidated)
            )
        since = max((event.at for event in filled.values()), default=since)
    return ApprovalStatus(approval, "granted", granted=tuple(grants))


def current_round(approval: Approval, events: Iterable[ApprovalEvent]) -> list[ApprovalEvent]:
    """The events of ``approval`` since its last request (all of them without one)."""
    mine = [event for event in events if event.approval == approval.id]
    starts = [i for i, event in enumerate(mine) if event.kind == "request"]
    return mine[starts[-1] :] if starts else mine


def _complete(
    step: ApprovalStep, filled: Mapping[str | None, ApprovalEvent], missing: Sequence[Approver]
) -> bool:
    return not missing if step.require == "all" else bool(filled)


def _ordered(approval: Approval, names: set[str]) -> tuple[str, ...]:
    return tuple(name for name in approval.invalidate_on if name in names)


def approvals_for_move(
    playbook: Playbook, source: Stage, target: Stage, *, forward: bool
) -> tuple[Approval, ...]:
    """The approvals a move from ``source`` into ``target`` needs (when their condition holds).

    An approval for stages applies to a move into one of them; one for
    fields applies to every forward move (the change waits for approval
    before the deal goes on).
    """
    return tuple(
        approval
        for approval in playbook.approvals
        if target.id in approval.stages or (approval.fields and forward)
    )


def read_events(raw: Any, deal_id: str) -> tuple[ApprovalEvent, ...]:
    """The approval events of a deal's JSON form (a list of :meth:`ApprovalEvent.to_dict`)."""
    if raw is None:
        return ()
    if isinstance(raw, tuple) and all(isinstance(e, ApprovalEvent) for e in raw):
        return raw
    if not isinstance(raw, list):
        raise DealError(Message("error.approvals.events_not_list", deal_id=deal_id))
    return tuple(_event(item, deal_id) for item in raw)


def _event(item: Any, deal_id: str) -> ApprovalEvent:
    if isinstance(item, ApprovalEvent):
        return item
    try:
        kind = str(item["kind"])
        if kind not in EVENT_KINDS:
            raise ValueError(kind)
        at = item["at"]
        return ApprovalEvent(
            approval=str(item["approval"]),
            kind=kind,
            actor=str(item["actor"]),
            at=at if isinstance(at, datetime) else to_utc_datetime(str(at), UTC),
            step=item.get("step"),
            approver=item.get("approver"),
            delegate=item.get("delegate"),
            values=FrozenMap(item.get("values") or {}),
            reason=item.get("reason"),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise DealError(
            Message("error.approvals.bad_event", deal_id=deal_id, item=str(item)[:200])
        ) from error
