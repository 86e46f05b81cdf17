"""What the deal store hands out and takes in: stored deals, history entries, changes.

Plain frozen records, without database access; :mod:`playbook.store.repository` reads
and writes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from playbook.values import utc_iso

__all__ = ["ActionDone", "DealChange", "HistoryEntry", "StageMove", "StoredDeal"]


@dataclass(frozen=True, slots=True)
class StageMove:
    """A stage change to record: who moved the deal, when, and any override's reason."""

    from_stage: str
    to_stage: str
    actor_id: str
    actor_roles: tuple[str, ...]
    at: datetime
    override_reason: str | None
    playbook_version: int


@dataclass(frozen=True, slots=True)
class ActionDone:
    """A required action completed: by whom, when, with what evidence (JSON-able)."""

    stage: str
    action_id: str
    actor_id: str
    at: datetime
    evidence: Any


@dataclass(frozen=True, slots=True)
class DealChange:
    """What one decided write changes: the deal's new state and the events to record.

    ``fields`` hold typed values (stored through :func:`json_fields`);
    ``actions`` hold completed actions in their JSON form.
    """

    stage: str
    fields: Mapping[str, Any]
    actions: Mapping[str, Any]
    stage_entered_at: datetime | None
    last_activity_at: datetime | None
    events: tuple[StageMove | ActionDone, ...]


@dataclass(frozen=True, slots=True)
class StoredDeal:
    """A deal as stored: its row, with fields and completed actions in their JSON form."""

    id: int
    external_id: str | None
    playbook_id: str
    playbook_version: int
    stage: str
    owner: str | None
    team: str | None
    manager: str | None
    region: str | None
    fields: Mapping[str, Any]
    actions: Mapping[str, Any]
    created_at: datetime
    updated_at: datetime
    updated_by: str
    stage_entered_at: datetime
    last_activity_at: datetime | None
    closed_at: datetime | None
    version: int
    fields_set_at: Mapping[str, str] = field(default_factory=dict)
    """Field id → ISO UTC time a person last set it in the tool (not an import)."""
    approvals: tuple[dict[str, Any], ...] = ()
    """The deal's approval events in version order (read by ``DealStore.get``)."""

    @property
    def ref(self) -> str:
        """How users name the deal: its external id, else its store id."""
        return self.external_id if self.external_id is not None else str(self.id)

    def deal_form(self) -> dict[str, Any]:
        """The deal in the engine's JSON form (``playbook.runtime.deals.as_deal`` reads it)."""
        return {
            "id": self.ref,
            "playbook": self.playbook_id,
            "playbook_version": self.playbook_version,
            "stage": self.stage,
            "stage_entered_at": self.stage_entered_at,
            "created_at": self.created_at,
            "last_activity_at": self.last_activity_at,
            "owner": self.owner,
            "team": self.team,
            "fields": dict(self.fields),
            "completed_actions": dict(self.actions),
            "version": self.version,
            "approvals": list(self.approvals),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every column, times in ISO 8601 UTC."""
        return {
            "id": self.id,
            "external_id": self.external_id,
            "playbook": self.playbook_id,
            "playbook_version": self.playbook_version,
            "stage": self.stage,
            "owner": self.owner,
            "team": self.team,
            "manager": self.manager,
            "region": self.region,
            "fields": dict(self.fields),
            "completed_actions": dict(self.actions),
            "created_at": utc_iso(self.created_at),
            "updated_at": utc_iso(self.updated_at),
            "updated_by": self.updated_by,
            "stage_entered_at": utc_iso(self.stage_entered_at),
            "last_activity_at": utc_iso(self.last_activity_at),
            "closed_at": utc_iso(self.closed_at),
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One version step of a deal: a stage change, an activity or a reassignment."""

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
    evidence: Mapping[str, Any] | None = None
    actor_roles: Sequence[str] = field(default_factory=tuple)
    changes: Mapping[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; ``kind`` is ``stage_change``, ``reassign`` or the activity kind."""
        data: dict[str, Any] = {
            "deal_version": self.deal_version,
            "kind": self.kind,
            "at": utc_iso(self.at),
            "actor": self.actor,
            "stage": self.stage,
        }
        optional = {
            "from_stage": self.from_stage,
            "override_reason": self.override_reason,
            "source": self.source,
            "note": self.note,
            "action_id": self.action_id,
            "evidence": self.evidence,
            "changes": self.changes,
        }
        data.update({key: value for key, value in optional.items() if value is not None})
        if self.actor_roles:
            data["actor_roles"] = list(self.actor_roles)
        return data
