"""The engine's view of a deal: typed field values, its stage, who acts on it.

A :class:`DealState` is immutable: the engine never changes one, it returns a
new one. :func:`as_deal` builds one from what an application has at hand (a
``DealState``, the JSON form below as a mapping, or an object with attributes
such as an ORM row) and checks it against the playbook: its playbook id and
version, its stage, and the type of every declared field.

The JSON form::

    {"id": "D-1", "playbook": "b2b-project-sales", "playbook_version": 2,
     "stage": "needs_analysis", "stage_entered_at": "2026-03-02T09:30:00+08:00",
     "owner": "wang.li", "team": "east", "created_at": "...", "last_activity_at": "...",
     "version": 4,
     "fields": {"amount": "1200000.00", "budget_confirmed": true},
     "completed_actions": {"technical_exchange": {"by": "zhao.m", "at": "...", "evidence": "..."}}}

``completed_actions`` may also be a list of action ids. ``playbook`` and
``playbook_version`` may be left out: the deal is then read as a deal of the
engine's playbook. Times without an offset are read in the playbook's timezone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from types import MappingProxyType
from typing import Any

from playbook.diagnostics import did_you_mean
from playbook.errors import (
    DealError,
    PlaybookVersionError,
    UnknownActionError,
    UnknownStageError,
)
from playbook.i18n import Message
from playbook.model import Playbook
from playbook.values import (
    coerce_fields,
    playbook_zone,
    require_now,
    to_json_value,
    to_utc_datetime,
)

__all__ = [
    "ActionRecord",
    "DealState",
    "as_deal",
    "check_stage",
    "new_deal",
    "unknown_action",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})

_DEAL_KEYS = frozenset(
    {
        "id",
        "playbook",
        "playbook_version",
        "stage",
        "stage_entered_at",
        "owner",
        "team",
        "created_at",
        "last_activity_at",
        "fields",
        "completed_actions",
        "version",
    }
)


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """A required action done in the deal's current stage visit: by whom, when, with what."""

    action_id: str
    by: str | None = None
    at: datetime | None = None
    evidence: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"by", "at" (ISO), "evidence"}``."""
        return {
            "by": self.by,
            "at": self.at.isoformat() if self.at else None,
            "evidence": to_json_value(self.evidence),
        }


@dataclass(frozen=True, slots=True)
class DealState:
    """One deal as the engine sees it; immutable, with typed field values.

    ``completed_actions`` holds the actions done during the current visit of
    ``stage``: entering a stage again starts a fresh visit. ``version`` counts
    changes (one per ``advance`` or ``complete_action``) for optimistic locking.
    """

    id: str
    playbook_id: str
    playbook_version: int
    stage: str
    fields: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    stage_entered_at: datetime | None = None
    created_at: datetime | None = None
    last_activity_at: datetime | None = None
    owner: str | None = None
    team: str | None = None
    completed_actions: Mapping[str, ActionRecord] = field(default_factory=lambda: _EMPTY)
    version: int = 0

    def __post_init__(self) -> None:
        # Read-only views: a DealState handed to an application cannot be changed behind
        # the engine's back, and two states never share a mutable dict.
        if not isinstance(self.fields, MappingProxyType):
            object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))
        if not isinstance(self.completed_actions, MappingProxyType):
            done = MappingProxyType(dict(self.completed_actions))
            object.__setattr__(self, "completed_actions", done)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (decimals as strings, dates and times in ISO 8601)."""
        return {
            "id": self.id,
            "playbook": self.playbook_id,
            "playbook_version": self.playbook_version,
            "stage": self.stage,
            "stage_entered_at": _iso(self.stage_entered_at),
            "owner": self.owner,
            "team": self.team,
            "created_at": _iso(self.created_at),
            "last_activity_at": _iso(self.last_activity_at),
            "version": self.version,
            "fields": {key: to_json_value(value) for key, value in self.fields.items()},
            "completed_actions": {
                key: record.to_dict() for key, record in self.completed_actions.items()
            },
        }


def new_deal(
    playbook: Playbook,
    deal_id: str,
    *,
    now: datetime,
    fields: Mapping[str, Any] | None = None,
    owner: str | None = None,
    team: str | None = None,
) -> DealState:
    """A new deal in the playbook's first stage, entered and created at ``now``.

    ``fields`` are converted to their declared types (:func:`coerce_fields`).
    """
    at = require_now(now)
    return DealState(
        id=str(deal_id),
        playbook_id=playbook.id,
        playbook_version=playbook.version,
        stage=playbook.first_stage.id,
        fields=coerce_fields(playbook, fields or {}),
        stage_entered_at=at,
        created_at=at,
        last_activity_at=at,
        owner=owner,
        team=team,
    )


def as_deal(obj: Any, playbook: Playbook) -> DealState:
    """``obj`` as a :class:`DealState` of ``playbook``, checked.

    ``obj`` may be a ``DealState`` (returned as is once its playbook and stage
    are checked), a mapping in the JSON form, or an object with attributes of
    the same names (an ORM row: field values come from ``obj.fields`` when it
    has that attribute, else from attributes named like the declared fields).

    Raises :class:`~playbook.errors.PlaybookVersionError` for a deal pinned to
    another playbook or version, :class:`~playbook.errors.UnknownStageError`
    for a stage the playbook does not have, :class:`~playbook.errors.DealFieldError`
    for a field value of the wrong type, and :class:`~playbook.errors.DealError`
    for a record that lacks an id or has keys the JSON form does not define.
    """
    if isinstance(obj, DealState):
        _check_pin(obj.id, obj.playbook_id, obj.playbook_version, playbook)
        check_stage(playbook, obj.stage, deal_id=obj.id)
        return obj
    if isinstance(obj, Mapping):
        return _from_mapping(obj, playbook)
    return _from_mapping(_attributes(obj, playbook), playbook)


def check_stage(playbook: Playbook, stage: str, *, deal_id: str | None = None) -> None:
    """Raise :class:`~playbook.errors.UnknownStageError` unless ``playbook`` defines ``stage``."""
    if playbook.has_stage(stage):
        return
    known = [s.id for s in playbook.stages]
    owner = (
        Message("error.deals.is_in_stage", deal_id=deal_id)
        if deal_id is not None
        else Message("error.deals.stage_word")
    )
    raise UnknownStageError(
        Message("error.deals.which_playbook_does_not", owner=owner, stage=stage, key=playbook.key),
        hint=did_you_mean(str(stage), known) or Message("error.deals.stages", names=known),
        details={"stage": stage, "stages": known},
    )


# --- reading the JSON form ---------------------------------------------------------------


def _from_mapping(raw: Mapping[str, Any], playbook: Playbook) -> DealState:
    unknown = sorted(str(key) for key in raw if key not in _DEAL_KEYS)
    if unknown:
        raise DealError(
            Message("error.deals.unknown_deal_key", unknown=unknown[0]),
            hint=did_you_mean(unknown[0], _DEAL_KEYS)
            or Message("error.deals.field_values_go_under", names=sorted(_DEAL_KEYS)),
            details={"unknown_keys": unknown},
        )
    deal_id = _deal_id(raw.get("id"))
    pinned_id = raw.get("playbook")
    pinned_version = raw.get("playbook_version")
    _check_pin(deal_id, pinned_id, pinned_version, playbook)
    stage = raw.get("stage")
    if not isinstance(stage, str):
        what = (
            Message("error.deals.has_no_stage")
            if stage is None
            else Message("error.deals.stage_not_id", stage=stage)
        )
        raise DealError(
            Message("error.deals.deal", deal_id=deal_id, what=what),
            hint=Message("error.deals.new_deals_start", id=playbook.first_stage.id),
        )
    check_stage(playbook, stage, deal_id=deal_id)
    tz = playbook_zone(playbook)
    return DealState(
        id=deal_id,
        playbook_id=playbook.id,
        playbook_version=playbook.version,
        stage=stage,
        fields=coerce_fields(playbook, _mapping(raw.get("fields"), "fields", deal_id)),
        stage_entered_at=_optional_time(raw, "stage_entered_at", tz),
        created_at=_optional_time(raw, "created_at", tz),
        last_activity_at=_optional_time(raw, "last_activity_at", tz),
        owner=_optional_text(raw, "owner", deal_id),
        team=_optional_text(raw, "team", deal_id),
        completed_actions=_records(raw.get("completed_actions"), playbook, stage, deal_id, tz),
        version=_version(raw.get("version", 0), deal_id),
    )


def _attributes(obj: Any, playbook: Playbook) -> dict[str, Any]:
    """The JSON form of an attribute object (an embedder's ORM row)."""
    raw = {key: getattr(obj, key) for key in _DEAL_KEYS if hasattr(obj, key)}
    if "fields" not in raw:
        raw["fields"] = {fid: getattr(obj, fid) for fid in playbook.fields if hasattr(obj, fid)}
    elif raw["fields"] is not None and not isinstance(raw["fields"], Mapping):
        raw["fields"] = dict(raw["fields"])
    if "id" not in raw:
        raise DealError(
            Message("error.deals.not_deal_has_no", name=type(obj).__name__),
            hint=Message("error.deals.pass_dealstate_mapping_json"),
        )
    return raw


def _check_pin(deal_id: str, pinned_id: Any, pinned_version: Any, playbook: Playbook) -> None:
    if pinned_id is not None and pinned_id != playbook.id:
        raise PlaybookVersionError(
            Message(
                "error.deals.deal_follows_playbook_not",
                deal_id=deal_id,
                pinned_id=pinned_id,
                id=playbook.id,
            ),
            hint=Message("error.deals.load_playbook_deal_belongs"),
            details={"deal_playbook": pinned_id, "playbook": playbook.id},
        )
    if pinned_version is not None and pinned_version != playbook.version:
        raise PlaybookVersionError(
            Message(
                "error.deals.deal_pinned_version_version",
                deal_id=deal_id,
                id=playbook.id,
                pinned_version=pinned_version,
                version=playbook.version,
            ),
            hint=Message("error.deals.load_version_playbook_migrate"),
            details={"deal_version": pinned_version, "playbook_version": playbook.version},
        )


def _deal_id(value: Any) -> str:
    if value is None or value == "":
        raise DealError(
            Message("error.deals.deal_needs_id"), hint=Message("error.deals.add_id_d_1")
        )
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DealError(Message("error.deals.deal_id_must_text", value=value))
    return str(value)


def _mapping(value: Any, key: str, deal_id: str) -> Mapping[str, Any]:
    if value is None:
        return _EMPTY
    if not isinstance(value, Mapping):
        raise DealError(
            Message(
                "error.deals.deal_must_object_not",
                deal_id=deal_id,
                key=key,
                name=type(value).__name__,
            ),
            hint=Message("error.deals.write_fields"),
        )
    return value


def _optional_text(raw: Mapping[str, Any], key: str, deal_id: str) -> str | None:
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    raise DealError(
        Message("error.deals.deal_must_text_not", deal_id=deal_id, key=key, value=value)
    )


def _optional_time(raw: Mapping[str, Any], key: str, tz: tzinfo) -> datetime | None:
    value = raw.get(key)
    if value is None:
        return None
    try:
        return to_utc_datetime(value, tz)
    except (TypeError, ValueError) as error:
        raise DealError(
            Message("error.deals.not_date_time", key=key, value=value),
            hint=Message("error.deals.write_iso_8601_e"),
            path=key,
        ) from error


def _version(value: Any, deal_id: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DealError(
            Message("error.deals.deal_version_must_integer", deal_id=deal_id, value=value)
        )
    return value


def _records(
    raw: Any, playbook: Playbook, stage: str, deal_id: str, tz: tzinfo
) -> Mapping[str, ActionRecord]:
    if raw is None:
        return _EMPTY
    entries: Iterable[tuple[Any, Any]]
    if isinstance(raw, Mapping):
        entries = raw.items()
    elif isinstance(raw, list | tuple | set | frozenset):
        entries = ((action_id, None) for action_id in raw)
    else:
        raise DealError(Message("error.deals.deal_completed_actions_must", deal_id=deal_id))
    known = {action.id for action in _stage_actions(playbook, stage)}
    out: dict[str, ActionRecord] = {}
    for action_id, record in entries:
        if action_id not in known:
            raise unknown_action(playbook, stage, str(action_id))
        out[action_id] = _record(action_id, record, tz)
    return out


def _record(action_id: str, raw: Any, tz: tzinfo) -> ActionRecord:
    if isinstance(raw, ActionRecord):
        return raw
    if raw is None or raw is True:
        return ActionRecord(action_id)
    if not isinstance(raw, Mapping):
        raise DealError(Message("error.deals.completed_action_must_object", action_id=action_id))
    at = _optional_time(raw, "at", tz)
    by = raw.get("by")
    return ActionRecord(action_id, None if by is None else str(by), at, raw.get("evidence"))


def _stage_actions(playbook: Playbook, stage: str) -> tuple[Any, ...]:
    found = playbook.stage(stage)
    return found.actions if found is not None else ()


def unknown_action(playbook: Playbook, stage: str, action_id: str) -> UnknownActionError:
    """The error for ``action_id`` not being an action of ``stage`` (with a did-you-mean)."""
    here = [action.id for action in _stage_actions(playbook, stage)]
    elsewhere = playbook.action(action_id)
    if elsewhere is not None:
        hint = Message("error.deals.belongs_stage", action_id=action_id, stage=elsewhere.stage)
    else:
        hint = did_you_mean(action_id, here) or (
            Message("error.deals.actions", stage=stage, names=here)
            if here
            else Message("error.deals.has_no_actions", stage=stage)
        )
    return UnknownActionError(
        Message("error.deals.stage_has_no_action", stage=stage, action_id=action_id),
        hint=hint,
        details={"stage": stage, "action": action_id, "actions": here},
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
