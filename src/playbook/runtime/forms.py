"""The JSON forms of the engine's answers, as typed dictionaries.

Each ``to_dict()`` of :mod:`playbook.runtime.decisions` returns one of these,
so that a caller type-checked with ``mypy --strict`` knows every key.
"""

from __future__ import annotations

from typing import Literal, TypedDict

from playbook.values import JsonValue

__all__ = [
    "ActionCompletedDict",
    "AvailableMoveDict",
    "DecisionDict",
    "MissingForStageDict",
    "NextStepsDict",
    "OpenActionDict",
    "ReasonDict",
    "ReasonKind",
    "StageChangedDict",
]

ReasonKind = Literal["graph", "role", "guard", "entry", "action", "exit", "stage", "approval"]
"""The kind of a reason: which part of the playbook blocked the move."""


class ReasonDict(TypedDict):
    """The JSON form of a :class:`Reason`."""

    code: str
    kind: ReasonKind
    message: str
    messages: dict[str, str]
    rule: str
    line: int
    values: dict[str, JsonValue]
    failed: list[str]
    roles: list[str]
    due: str | None
    overdue: bool
    overridable: bool


class DecisionDict(TypedDict):
    """The JSON form of a :class:`Decision`."""

    allowed: bool
    deal_id: str
    from_stage: str
    to_stage: str
    overridable: bool
    reasons: list[ReasonDict]


class StageChangedDict(TypedDict):
    """The JSON form of a :class:`StageChanged` event."""

    type: str
    deal_id: str
    playbook: str
    playbook_version: int
    from_stage: str
    to_stage: str
    actor_id: str
    actor_roles: list[str]
    at: str
    override_reason: str | None
    overridden: list[str]


class ActionCompletedDict(TypedDict):
    """The JSON form of an :class:`ActionCompleted` event."""

    type: str
    deal_id: str
    stage: str
    action_id: str
    actor_id: str
    at: str
    evidence: JsonValue


class OpenActionDict(TypedDict):
    """The JSON form of an :class:`OpenAction`."""

    action: str
    title: str
    roles: list[str]
    due: str | None
    overdue: bool
    evidence: str | None


class MissingForStageDict(TypedDict):
    """The JSON form of a :class:`MissingForStage`."""

    stage: str
    title: str
    fields: list[str]
    failing: list[ReasonDict]


class AvailableMoveDict(TypedDict):
    """The JSON form of an :class:`AvailableMove`."""

    to: str
    title: str
    allowed: bool
    reasons: list[ReasonDict]


class NextStepsDict(TypedDict):
    """The JSON form of :class:`NextSteps`."""

    deal_id: str
    stage: str
    open_actions: list[OpenActionDict]
    missing_for_next: list[MissingForStageDict]
    available: list[AvailableMoveDict]
