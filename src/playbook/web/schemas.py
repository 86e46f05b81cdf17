"""The JSON shapes of the API, as pydantic models: request bodies and every response.

Requests refuse unknown fields (``extra="forbid"``) and wrong types; the
OpenAPI document is generated from these classes, so every response the
engine builds (decisions, reasons, next steps, events) has a typed schema.
Responses are built from the library's own ``to_dict`` forms and checked
against these models on the way out.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema
from pydantic import JsonValue as _AnyJson

# The KPI shapes live in their own module; named here too, so that every response
# model of the API is an attribute of this one.
from playbook.web.kpi_schemas import KpiReportOut, WeeklyReviewOut

__all__ = [
    "AckRequest",
    "ActionTask",
    "ActionTaskList",
    "AdvanceRequest",
    "ApprovalList",
    "ApprovalNote",
    "ApprovalState",
    "ApprovalWritten",
    "AvailableMove",
    "ChangeOut",
    "CheckRequest",
    "CompleteRequest",
    "CrmRecords",
    "Deal",
    "DealCreate",
    "DealList",
    "DealPlanOut",
    "Decision",
    "Delegation",
    "DiagnosticOut",
    "ErrorBody",
    "ErrorOut",
    "Escalation",
    "EscalationList",
    "FieldsPatch",
    "History",
    "HistoryStep",
    "ImpactOut",
    "KpiReportOut",
    "LogRequest",
    "Me",
    "NextSteps",
    "PlaybookDiffOut",
    "PlaybookVersion",
    "PlaybookVersions",
    "Reason",
    "RecordProblem",
    "Refusal",
    "Registration",
    "Rejection",
    "SnoozeRequest",
    "Upserted",
    "ValidateRequest",
    "Validation",
    "WeeklyReviewOut",
    "Written",
]

_TEXT = 10_000  # the longest note, reason or evidence text a request may carry
_NAME = 200  # ids and names: the width of the store's columns
Name = Annotated[str, Field(min_length=1, max_length=_NAME)]
JsonValue = Annotated[
    _AnyJson,
    WithJsonSchema(
        {
            "title": "JsonValue",
            "description": "A JSON value: a deal field's value as the playbook types it "
            "(decimals as strings, dates and times in ISO 8601), evidence, or error data.",
            "type": ["string", "number", "boolean", "null", "array", "object"],
        }
    ),
]
Text = Annotated[str, Field(min_length=1, max_length=_TEXT)]


class _Request(BaseModel):
    """A request body: unknown fields are refused, nothing is coerced silently."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors -------------------------------------------------------------------------------


class DiagnosticOut(_Response):
    """One problem of a playbook text, at its line and column."""

    file: str
    line: int
    column: int
    severity: Literal["error", "warning", "note"]
    code: str
    message: str
    path: str
    hint: str | None = None


class Reason(_Response):
    """Why a move is blocked: a stable code (PB541-PB547), the rule and its line, in words."""

    code: str
    kind: Literal["graph", "role", "guard", "entry", "action", "exit", "stage"]
    message: str = Field(description="In the request's language.")
    messages: dict[str, str] = Field(description="The message in every language (en, zh).")
    rule: str
    line: int
    values: dict[str, JsonValue]
    failed: list[str]
    roles: list[str]
    due: datetime | None
    overdue: bool
    overridable: bool


class Decision(_Response):
    """Whether a deal may move to a stage, with every reason it may not."""

    allowed: bool
    deal_id: str
    from_stage: str
    to_stage: str
    overridable: bool
    reasons: list[Reason]


class RecordProblem(_Response):
    """Why one record of a batch was refused."""

    record: int = Field(description="Its position in the batch, from 1.")
    external_id: str | None
    code: str
    message: str
    hint: str | None = None


class ErrorOut(_Response):
    """What went wrong: a stable code (PBnnn), what to do, and the data behind it."""

    code: str = Field(examples=["PB540"])
    message: str
    hint: str | None = None
    details: dict[str, JsonValue] = Field(default_factory=dict)
    decision: Decision | None = Field(None, description="A blocked move (409): the reasons.")
    diagnostics: list[DiagnosticOut] | None = Field(
        None, description="An invalid playbook (422): every problem with its line."
    )
    records: list[RecordProblem] | None = Field(
        None, description="Refused CRM records (422, PB062): each with its own code."
    )


class ErrorBody(_Response):
    """Every error response: ``{"error": {...}}``."""

    error: ErrorOut


# --- people -------------------------------------------------------------------------------


class Me(_Response):
    """Who the token stands for, and the roles it acts with."""

    name: str
    email: str | None
    team: str | None
    manager: str | None
    language: str | None
    roles: list[str] = Field(description="The person's roles, narrowed by the token's scopes.")


# --- deals --------------------------------------------------------------------------------


class CompletedAction(_Response):
    """A required action done in the current visit of the stage."""

    by: str
    at: datetime | None
    evidence: JsonValue


class Deal(_Response):
    """A deal as stored; ``version`` is also its ``ETag``."""

    id: int
    external_id: str | None
    playbook: str
    playbook_version: int
    stage: str
    owner: str | None
    team: str | None
    manager: str | None
    region: str | None
    fields: dict[str, JsonValue]
    completed_actions: dict[str, CompletedAction]
    created_at: datetime
    updated_at: datetime
    updated_by: str
    stage_entered_at: datetime
    last_activity_at: datetime | None
    closed_at: datetime | None
    version: int


class DealList(_Response):
    """One page of deals in store-id order; ``next_after`` continues it (None: the last page)."""

    deals: list[Deal]
    next_after: int | None


class DealCreate(_Request):
    """A new deal, in its playbook's first stage; the owner defaults to the caller."""

    playbook: Name
    playbook_version: int | None = Field(None, ge=1, description="Default: the active version.")
    external_id: Name | None = None
    owner: Name | None = None
    team: Name | None = None
    manager: Name | None = None
    region: Name | None = None
    fields: dict[str, JsonValue] = Field(default_factory=dict)


class FieldsPatch(_Request):
    """Field values to set; ``null`` clears a field. Send ``If-Match`` with the version read."""

    fields: dict[str, JsonValue]


class CheckRequest(_Request):
    """The stage to check a move to."""

    to: Name


class AdvanceRequest(_Request):
    """The stage to move to; ``override`` passes failing gates with this reason (roles allowing)."""

    to: Name
    override: Text | None = None


class CompleteRequest(_Request):
    """A required action of the current stage, done, with the evidence it asks for."""

    action: Name
    evidence: JsonValue = None


class LogRequest(_Request):
    """A call, meeting, email, note or visit."""

    kind: Literal["call", "meeting", "email", "note", "visit"]
    note: Text | None = None


class StageChangedEvent(_Response):
    """The deal moved."""

    type: Literal["stage_changed"]
    deal_id: str
    playbook: str
    playbook_version: int
    from_stage: str
    to_stage: str
    actor_id: str
    actor_roles: list[str]
    at: datetime
    override_reason: str | None
    overridden: list[str]


class ActionCompletedEvent(_Response):
    """A required action was done."""

    type: Literal["action_completed"]
    deal_id: str
    stage: str
    action_id: str
    actor_id: str
    at: datetime
    evidence: JsonValue


Event = Annotated[StageChangedEvent | ActionCompletedEvent, Field(discriminator="type")]


class Written(_Response):
    """A write the engine allowed: the deal as now stored and what happened."""

    deal: Deal
    events: list[Event]


class OpenAction(_Response):
    """A required action not done yet."""

    action: str
    title: str
    roles: list[str]
    due: datetime | None
    overdue: bool
    evidence: str | None


class MissingForStage(_Response):
    """What keeps the deal out of a next stage."""

    stage: str
    title: str
    fields: list[str]
    failing: list[Reason]


class AvailableMove(_Response):
    """A move the graph allows, and whether it is allowed now."""

    to: str
    title: str
    allowed: bool
    reasons: list[Reason]


class NextSteps(_Response):
    """What the deal needs next, in the request's language."""

    deal_id: str
    stage: str
    open_actions: list[OpenAction]
    missing_for_next: list[MissingForStage]
    available: list[AvailableMove]


class HistoryStep(_Response):
    """One version step: a stage change (``stage_change``) or an activity; who did it."""

    deal_version: int
    kind: str
    at: datetime
    actor: str
    stage: str
    from_stage: str | None = None
    override_reason: str | None = None
    source: str | None = None
    note: str | None = None
    action_id: str | None = None
    evidence: JsonValue = None
    actor_roles: list[str] = Field(default_factory=list)


class Refusal(_Response):
    """A refused attempt on the deal: who, what, and the rule's answer."""

    id: int
    at: datetime
    actor: str
    actor_roles: list[str]
    action: str
    deal: str | None
    subject: str | None
    code: str
    reason: str
    details: dict[str, JsonValue]


class History(_Response):
    """Every step of a deal, oldest first, and the attempts that were refused."""

    steps: list[HistoryStep]
    refusals: list[Refusal]


# --- escalations --------------------------------------------------------------------------


class Recipient(_Response):
    """Someone an escalation notifies: as owner, manager or a role, by name when known."""

    as_: str = Field(alias="as")
    name: str | None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Escalation(_Response):
    """An escalation as stored."""

    id: int
    deal: str
    rule: str
    level: int
    stage: str
    status: str
    fired_at: datetime
    reason: str
    notified: list[Recipient]
    resolved_at: datetime | None
    resolution: str | None
    acked_by: str | None
    ack_reason: str | None
    snoozed_by: str | None
    snoozed_until: datetime | None
    snooze_reason: str | None


class EscalationList(_Response):
    """Escalations, oldest first."""

    escalations: list[Escalation]


class ActionTask(_Response):
    """An open required action of an open deal: who does it, by when, where the deal is."""

    deal: str = Field(description="The deal's external id, else its store id.")
    deal_id: int
    playbook: str
    stage: str
    stage_title: str
    action: str
    title: str
    role: str = Field(description="The first role the action names.")
    role_title: str
    person: str | None = Field(
        description="Who does it (see docs/activities.md); None: unassigned."
    )
    email: str | None
    due: datetime | None = Field(description="The due time with the playbook's UTC offset.")
    due_utc: datetime | None
    overdue: bool
    timezone: str
    link: str | None = Field(description="The deal on this service.")


class ActionTaskList(_Response):
    """Open required actions, earliest due first (those without a due time last)."""

    actions: list[ActionTask]


class AckRequest(_Request):
    """Why it is acknowledged."""

    reason: Text


class SnoozeRequest(_Request):
    """Until when, and why."""

    until: datetime
    reason: Text

    model_config = ConfigDict(extra="forbid", strict=False)


# --- playbooks ----------------------------------------------------------------------------


class PlaybookVersion(_Response):
    """A registered playbook version."""

    id: str
    version: int
    title: str
    active: bool = Field(description="Whether new deals follow this version.")


class PlaybookVersions(_Response):
    """Every registered playbook version."""

    playbooks: list[PlaybookVersion]


class ValidateRequest(_Request):
    """A playbook's YAML text, and the file name to show in diagnostics."""

    text: Annotated[str, Field(max_length=512 * 1024)]
    file: Name = "upload.yaml"


class Validation(_Response):
    """A valid playbook (warnings and notes may remain)."""

    valid: Literal[True]
    playbook: str
    version: int
    diagnostics: list[DiagnosticOut]


# --- approvals ------------------------------------------------------------------------------


class ApprovalState(_Response):
    """Where one approval stands for the deal."""

    approval: str
    state: Literal["not_needed", "pending", "granted", "rejected"]
    step: str | None
    waiting_for: list[str] = Field(
        description="Approvers of the step: role:, person:, person_field:"
    )
    since: str | None
    invalidated_by: list[str]
    rejected_by: str | None
    rejection_reason: str | None


class ApprovalList(_Response):
    """Every approval of the deal's playbook."""

    deal: str
    approvals: list[ApprovalState]


class ApprovalWritten(_Response):
    """The deal's new version and where the approval stands after the event."""

    deal: str
    version: int
    approval: ApprovalState


class ApprovalNote(_Request):
    """An optional note (recorded)."""

    reason: Text | None = None


class Rejection(_Request):
    """Why the approval is rejected (required, recorded)."""

    reason: Text


class Delegation(_Request):
    """Who grants in the caller's place, and why."""

    to: Annotated[str, Field(min_length=1, max_length=200)]
    reason: Text | None = None


class Registration(_Response):
    """A playbook version registered (or already registered with the same text)."""

    playbook: str
    version: int
    created: bool = Field(description="False: this text was registered already (idempotent).")
    active: bool = Field(description="Whether new deals now follow this version.")
    diagnostics: list[DiagnosticOut]


class ActivateRequest(_Request):
    """Why this version becomes the one new deals follow (recorded)."""

    reason: Annotated[str, Field(min_length=1, max_length=_TEXT)]


class Activation(_Response):
    """A playbook version made active: new deals follow it from now on."""

    playbook: str
    version: int
    active: bool
    activated_by: str
    reason: str


class ChangeOut(_Response):
    """One part of the playbook added, removed or changed."""

    kind: Literal["added", "removed", "changed"]
    area: str
    id: str
    details: list[str]


class Affected(_Response):
    """How many open deals an item concerns, and a few of them."""

    deals: int
    examples: list[str]


class Stranded(_Response):
    """An open deal whose stage the new version has no place for."""

    deal: str
    stage: str
    problem: str | None


class Pipeline(_Response):
    """The weighted pipeline under each version's stage probabilities (decimals as text)."""

    field: str | None
    old: str
    new: str


class Wins(_Response):
    """Expected wins under each version."""

    old: float
    new: float


class ImpactOut(_Response):
    """What the new version does to the open deals pinned to the old one, now."""

    now: datetime
    open_deals: int
    fail_entry_criteria: int
    gain_required_actions: int
    escalations_start: dict[str, Affected]
    escalations_stop: dict[str, Affected]
    failing_criteria: dict[str, Affected]
    new_actions: dict[str, Affected]
    stranded: list[Stranded]
    weighted_pipeline: Pipeline
    expected_wins: Wins
    created_after_now: int


class PlaybookDiffOut(_Response):
    """The changes from one registered version to another, and their impact on stored deals."""

    playbook: str
    from_version: int
    to_version: int
    changes: list[ChangeOut]
    impact: ImpactOut


# --- CRM webhook --------------------------------------------------------------------------


class CrmRecords(_Request):
    """CRM records to upsert through the server's import mapping for ``playbook``.

    Each record maps the mapping's columns to values (a nested ``fields``
    object is merged in); a key the mapping does not read is refused.
    """

    playbook: Name
    records: Annotated[list[dict[str, JsonValue]], Field(min_length=1, max_length=1000)]


class DealPlanOut(_Response):
    """What the upsert did to one deal."""

    external_id: str
    line: int = Field(description="The record's position in the batch, from 1.")
    action: Literal["create", "update", "unchanged"]
    stages: list[str] = Field(description="Stages entered (appended to the history).")
    set: list[str]
    cleared: list[str]
    kept: list[str] = Field(description="Fields whose newer value in playbook was kept.")


class Upserted(_Response):
    """What a batch of CRM records did; a record that changed nothing is ``unchanged``."""

    playbook: str
    version: int
    created: int
    updated: int
    unchanged: int
    cleared: int
    kept: int
    stage_changes: int
    activities: int
    deals: list[DealPlanOut]
