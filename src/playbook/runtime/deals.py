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

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Protocol, TypeAlias, TypedDict

from playbook.diagnostics import did_you_mean
from playbook.errors import (
    DealError,
    DealFieldError,
    PlaybookVersionError,
    UnknownActionError,
    UnknownStageError,
)
from playbook.i18n import Message
from playbook.model import Playbook
from playbook.runtime.approval_state import ApprovalEvent, read_events
from playbook.values import (
    FrozenMap,
    JsonValue,
    check_unknown_fields,
    coerce_fields,
    playbook_zone,
    require_now,
    to_json_value,
    to_utc_datetime,
    utc_iso,
)

__all__ = [
    "ActionRecord",
    "ActionRecordDict",
    "DealLike",
    "DealRecord",
    "DealState",
    "DealStateDict",
    "HasDealForm",
    "as_deal",
    "check_action",
    "check_stage",
    "deal_mapping",
    "new_deal",
    "unknown_action",
]

_EMPTY: Mapping[str, Any] = FrozenMap()

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
        "approvals",
    }
)


class HasDealForm(Protocol):
    """An object that gives its deal in the JSON form (the deal store's ``StoredDeal``)."""

    def deal_form(self) -> Mapping[str, Any]:
        """The deal as a mapping in the JSON form."""
        ...


class DealRecord(Protocol):
    """An application's own deal object (a dataclass, attrs or Pydantic model, an ORM row):
    an ``id`` and a ``stage``, field values in ``fields`` or as attributes named like them."""

    @property
    def id(self) -> object:
        """The deal's id: text or an integer."""
        ...

    @property
    def stage(self) -> str:
        """The id of the stage the deal is in."""
        ...


class ActionRecordDict(TypedDict):
    """The JSON form of an :class:`ActionRecord`."""

    by: str | None
    at: str | None
    evidence: JsonValue


class DealStateDict(TypedDict):
    """The JSON form of a :class:`DealState`."""

    id: str
    playbook: str
    playbook_version: int
    stage: str
    stage_entered_at: str | None
    owner: str | None
    team: str | None
    created_at: str | None
    last_activity_at: str | None
    version: int
    fields: dict[str, JsonValue]
    completed_actions: dict[str, ActionRecordDict]


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """A required action done in the deal's current stage visit: by whom, when, with what."""

    action_id: str
    by: str | None = None
    at: datetime | None = None
    evidence: Any = None

    def to_dict(self) -> ActionRecordDict:
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
    approvals: tuple[ApprovalEvent, ...] = ()
    """The deal's recorded approval requests, grants, rejections and delegations, in order."""

    def __post_init__(self) -> None:
        # Read-only copies: a DealState handed to an application cannot be changed behind
        # the engine's back, and two states never share a mutable dict.
        if type(self.fields) is not FrozenMap:
            object.__setattr__(self, "fields", FrozenMap(self.fields))
        if type(self.completed_actions) is not FrozenMap:
            done = FrozenMap(self.completed_actions)
            object.__setattr__(self, "completed_actions", done)

    def to_dict(self) -> DealStateDict:
        """The JSON form (decimals as strings, dates and times in ISO 8601)."""
        return {
            "id": self.id,
            "playbook": self.playbook_id,
            "playbook_version": self.playbook_version,
            "stage": self.stage,
            "stage_entered_at": utc_iso(self.stage_entered_at),
            "owner": self.owner,
            "team": self.team,
            "created_at": utc_iso(self.created_at),
            "last_activity_at": utc_iso(self.last_activity_at),
            "version": self.version,
            "fields": {key: to_json_value(value) for key, value in self.fields.items()},
            "completed_actions": {
                key: record.to_dict() for key, record in self.completed_actions.items()
            },
        }


DealLike: TypeAlias = DealState | Mapping[str, object] | HasDealForm | DealRecord
"""What the engine reads as a deal: see :func:`as_deal`."""


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


def as_deal(obj: DealLike, playbook: Playbook, *, strict: bool = True) -> DealState:
    """``obj`` as a :class:`DealState` of ``playbook``, checked.

    ``obj`` may be a ``DealState`` (returned as is once its playbook and stage
    are checked), a mapping in the JSON form, an object with a ``deal_form()``
    method that returns one (the deal store's ``StoredDeal``), or an object with
    attributes of the same names (a dataclass, attrs or Pydantic model, an ORM
    row: field values come from ``obj.fields`` when it has that attribute, else
    from attributes named like the declared fields).

    Raises :class:`~playbook.errors.PlaybookVersionError` for a deal pinned to
    another playbook or version, :class:`~playbook.errors.UnknownStageError`
    for a stage the playbook does not have, :class:`~playbook.errors.DealFieldError`
    for a field the playbook does not declare (unless ``strict=False``) or a
    value of the wrong type, and :class:`~playbook.errors.DealError` for a record
    that lacks an id or has keys (or, for a dataclass, attrs or Pydantic object,
    attributes) that the JSON form does not define.
    """
    if isinstance(obj, DealState):
        _check_pin(obj.id, obj.playbook_id, obj.playbook_version, playbook)
        check_stage(playbook, obj.stage, deal_id=obj.id)
        return obj
    return _from_mapping(deal_mapping(obj, playbook, strict=strict), playbook, strict=strict)


def deal_mapping(obj: object, playbook: Playbook, *, strict: bool = True) -> Mapping[str, Any]:
    """The JSON form of a deal given as a mapping, a ``deal_form()`` object or attributes.

    Only names are checked here (unknown keys and, with ``strict``, undeclared
    fields); values are read when the engine needs them.
    """
    # type() first: isinstance against an ABC costs as much as the rest for an object.
    if type(obj) is dict or isinstance(obj, Mapping):
        raw: Mapping[str, Any] = obj
    else:
        form = getattr(obj, "deal_form", None)
        raw = form() if callable(form) else _attributes(obj, playbook, strict=strict)
    if not raw.keys() <= _DEAL_KEYS:
        _unknown_keys(raw)
    fields = raw.get("fields")
    if strict and isinstance(fields, Mapping) and not fields.keys() <= playbook.fields.keys():
        check_unknown_fields(playbook, fields)
    return raw


def _bad_stage(deal_id: str, stage: object, playbook: Playbook) -> None:
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


def _unknown_keys(raw: Mapping[str, Any]) -> None:
    unknown = sorted(str(key) for key in raw if key not in _DEAL_KEYS)
    raise DealError(
        Message("error.deals.unknown_deal_key", unknown=unknown[0]),
        hint=did_you_mean(unknown[0], _DEAL_KEYS)
        or Message("error.deals.field_values_go_under", names=sorted(_DEAL_KEYS)),
        details={"unknown_keys": unknown},
    )


def _from_mapping(raw: Mapping[str, Any], playbook: Playbook, *, strict: bool) -> DealState:
    deal_id = _deal_id(raw.get("id"))
    pinned_id = raw.get("playbook")
    pinned_version = raw.get("playbook_version")
    _check_pin(deal_id, pinned_id, pinned_version, playbook)
    stage = raw.get("stage")
    if not isinstance(stage, str) or not playbook.has_stage(stage):
        _bad_stage(deal_id, stage, playbook)
    assert isinstance(stage, str)
    tz = playbook_zone(playbook)
    return DealState(
        id=deal_id,
        playbook_id=playbook.id,
        playbook_version=playbook.version,
        stage=stage,
        fields=coerce_fields(
            playbook, _mapping(raw.get("fields"), "fields", deal_id), strict=strict
        ),
        stage_entered_at=_optional_time(raw, "stage_entered_at", tz),
        created_at=_optional_time(raw, "created_at", tz),
        last_activity_at=_optional_time(raw, "last_activity_at", tz),
        owner=_optional_text(raw, "owner", deal_id),
        team=_optional_text(raw, "team", deal_id),
        completed_actions=_records(raw.get("completed_actions"), playbook, stage, deal_id, tz),
        version=_version(raw.get("version", 0), deal_id),
        approvals=read_events(raw.get("approvals"), deal_id),
    )


def _attributes(obj: object, playbook: Playbook, *, strict: bool) -> dict[str, Any]:
    """The JSON form of an attribute object (a dataclass, attrs or Pydantic model, an ORM row)."""
    layout = _layout(type(obj), playbook, strict)
    if layout is not None:  # a declared class: its names were checked once
        keys, fields = layout
        raw = {key: getattr(obj, key) for key in keys}
        if fields is not None:
            raw["fields"] = {name: getattr(obj, name) for name in fields}
        return raw
    if not hasattr(obj, "id"):
        raise DealError(
            Message("error.deals.not_deal_has_no", name=type(obj).__name__),
            hint=Message("error.deals.pass_dealstate_mapping_json"),
        )
    raw = {key: getattr(obj, key) for key in _DEAL_KEYS if hasattr(obj, key)}
    if "fields" not in raw:
        raw["fields"] = {fid: getattr(obj, fid) for fid in playbook.fields if hasattr(obj, fid)}
    elif raw["fields"] is not None and not isinstance(raw["fields"], Mapping):
        raw["fields"] = dict(raw["fields"])
    return raw


_Layout = tuple[tuple[str, ...], tuple[str, ...] | None]
# Per (class, playbook, strict): the deal keys and the field names a declared class has,
# worked out (and checked) once. Keyed by id() with the playbook kept alongside, so an
# id is never reused while its entry lives; bounded.
_LAYOUTS: dict[tuple[type, int, bool], tuple[Playbook, _Layout]] = {}
_LAYOUTS_SIZE = 256


def _layout(cls: type, playbook: Playbook, strict: bool) -> _Layout | None:
    cached = _LAYOUTS.get((cls, id(playbook), strict))
    if cached is not None and cached[0] is playbook:
        return cached[1]
    names = _attribute_names(cls)
    if names is None:
        return None
    if "id" not in names:
        raise DealError(
            Message("error.deals.not_deal_has_no", name=cls.__name__),
            hint=Message("error.deals.pass_dealstate_mapping_json"),
        )
    if strict and "fields" not in names:
        _check_attributes(cls, names, playbook)
    keys = tuple(name for name in names if name in _DEAL_KEYS)
    fields = None if "fields" in names else tuple(n for n in names if n in playbook.fields)
    if len(_LAYOUTS) >= _LAYOUTS_SIZE:
        _LAYOUTS.pop(next(iter(_LAYOUTS)))
    _LAYOUTS[cls, id(playbook), strict] = (playbook, (keys, fields))
    return keys, fields


def _attribute_names(cls: type) -> tuple[str, ...] | None:
    """The attributes a dataclass, attrs class or Pydantic model declares; None for others
    (an ORM row may carry columns of its own that are not deal fields)."""
    if dataclasses.is_dataclass(cls):
        return tuple(item.name for item in dataclasses.fields(cls))
    declared = getattr(cls, "__attrs_attrs__", None)
    if declared is not None:
        return tuple(item.name for item in declared)
    model_fields = getattr(cls, "model_fields", None)
    if isinstance(model_fields, Mapping):
        return tuple(str(name) for name in model_fields)
    return None


def _check_attributes(cls: type, names: tuple[str, ...], playbook: Playbook) -> None:
    unknown = [name for name in names if name not in _DEAL_KEYS and name not in playbook.fields]
    if not unknown:
        return
    known = [*playbook.fields, *sorted(_DEAL_KEYS)]
    raise DealFieldError(
        Message(
            "error.deals.attribute_not_deal_key",
            name=f"{cls.__name__}.{unknown[0]}",
            key=playbook.key,
        ),
        hint=Message(
            "error.deals.or_strict_false",
            hint=did_you_mean(unknown[0], known)
            or Message("error.deals.declared_fields", names=list(playbook.fields)),
        ),
        path=f"fields.{unknown[0]}",
        details={"unknown_fields": unknown},
    )


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


def check_action(playbook: Playbook, action_id: str) -> None:
    """Raise :class:`~playbook.errors.UnknownActionError` unless some stage has ``action_id``."""
    if playbook.action(action_id) is not None:
        return
    every = [action.id for stage in playbook.stages for action in stage.actions]
    raise UnknownActionError(
        Message("error.deals.no_such_action", key=playbook.key, id=action_id),
        hint=did_you_mean(action_id, every)
        or Message("error.deals.its_actions", names=every or Message("error.tokens.no_roles")),
        details={"action": action_id, "actions": every},
    )


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
