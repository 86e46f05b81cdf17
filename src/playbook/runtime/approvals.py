"""Approvals in the gate: a move that needs an approval waits, with a PB580 reason.

:class:`ApprovalCheck` is the part of a gate (:mod:`playbook.runtime.gates`)
that blocks a move while an approval it needs is pending or rejected (see
:func:`~playbook.runtime.approval_state.approval_status`); its reason names
the approval, the step, who may grant it and, for a step with a due time,
when it is (or was) due.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from playbook.i18n import LANGUAGES, join, say
from playbook.model import Approval, ApprovalStep, Approver, Playbook, Stage
from playbook.runtime.approval_state import (
    ApprovalEvent,
    ApprovalStatus,
    approval_status,
    approvals_for_move,
)
from playbook.runtime.calendar import WorkingCalendar
from playbook.runtime.decisions import Deadline, Reason, RuleRef
from playbook.runtime.words import Words
from playbook.values import FrozenMap

__all__ = ["ApprovalCheck", "approval_checks", "approver_words", "approvers_words"]


@dataclass(frozen=True, slots=True)
class ApprovalCheck:
    """One approval a gate needs: blocks the move until :func:`approval_status` says granted."""

    approval: Approval
    words: Words
    calendar: WorkingCalendar | None

    def status(self, values: Mapping[str, Any], events: Sequence[ApprovalEvent]) -> ApprovalStatus:
        """Where the approval stands for a deal with these values and events."""
        return approval_status(self.approval, events, values)

    def blocks(self, values: Mapping[str, Any], events: Sequence[ApprovalEvent]) -> bool:
        """True when the approval is needed and not (or no longer) granted."""
        return self.status(values, events).state in ("pending", "rejected")

    def reason(self, status: ApprovalStatus, now: datetime) -> Reason:
        """The PB580 reason for a missing approval: which, at which step, from whom."""
        step = status.step
        assert step is not None
        texts = {lang: self._sentence(status, step, lang) for lang in LANGUAGES}
        roles = tuple(a.name for a in status.missing if a.kind == "role")
        rule = f"approvals[{self.approval.id}].steps[{step.id}]"
        deadline = None
        if step.due is not None and status.since is not None and self.calendar is not None:
            deadline = Deadline(self.calendar, status.since, step.due, now)
        due = {lang: texts[lang] + say("reason.PB580.due", lang, due="{due}") for lang in LANGUAGES}
        late = {
            lang: texts[lang] + say("reason.PB580.overdue", lang, due="{due}") for lang in LANGUAGES
        }
        ref = RuleRef(
            "PB580",
            "approval",
            rule,
            step.line,
            FrozenMap(texts),
            roles,
            FrozenMap(due),
            FrozenMap(late),
            self.words.tz,
        )
        values = {"approval": self.approval.id, "step": step.id}
        return Reason(ref, FrozenMap(values), tuple(a.key for a in status.missing), deadline)

    def _sentence(self, status: ApprovalStatus, step: ApprovalStep, lang: str) -> str:
        words = self.words
        name = words.label(self.approval.title, lang, self.approval.id)
        step_name = words.label(step.title, lang, step.id)
        if status.rejection is not None:
            rejection = status.rejection
            return say(
                "reason.PB580.rejected",
                lang,
                approval=name,
                step=step_name,
                actor=rejection.actor,
                reason=rejection.reason or "-",
            )
        text = say(
            "reason.PB580",
            lang,
            approval=name,
            step=step_name,
            approvers=approvers_words(words, status.missing, step.require, lang),
        )
        if status.invalidated:
            fields = words.fields(status.invalidated, lang)
            text += say("reason.PB580.invalidated", lang, fields=fields)
        return text


def approvers_words(words: Words, approvers: Sequence[Approver], require: str, lang: str) -> str:
    """Who may grant, as a reader of ``lang`` reads it (``Finance or zhang``)."""
    names = [approver_words(words, approver, lang) for approver in approvers]
    return join(names, lang, last="and" if require == "all" else "or")


def approver_words(words: Words, approver: Approver, lang: str) -> str:
    """One approver: a role's title, a person's id, or ``the deal's manager``."""
    if approver.kind == "role":
        return words.roles((approver.name,), lang)
    if approver.kind == "person":
        return approver.name
    return say("reason.PB580.person_field", lang, field=words.fields((approver.name,), lang))


def approval_checks(
    playbook: Playbook,
    words: Words,
    calendar: WorkingCalendar,
    source: Stage,
    target: Stage,
    *,
    forward: bool,
) -> tuple[ApprovalCheck, ...]:
    """The approval checks of the move ``source -> target`` (for the gate compiler)."""
    found = approvals_for_move(playbook, source, target, forward=forward)
    return tuple(ApprovalCheck(approval, words, calendar) for approval in found)
