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

import math
import re
import threading
import zoneinfo
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from playbook.diagnostics import did_you_mean
from playbook.errors import (
    ActorError,
    DealError,
    DealFieldError,
    MissingClockError,
    PlaybookVersionError,
    UnknownActionError,
    UnknownStageError,
)
from playbook.model import FieldSpec, Playbook

__all__ = [
    "ActionRecord",
    "Actor",
    "DealState",
    "as_deal",
    "check_actor",
    "check_stage",
    "coerce_field",
    "coerce_fields",
    "is_empty",
    "new_deal",
    "require_now",
    "to_json_value",
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
class Actor:
    """Who acts on a deal: an id, the roles held (at least one), a display name.

    A single role may be given as a string. Raises :class:`~playbook.errors.ActorError`
    when no role is given; :func:`check_actor` checks the roles against a playbook.
    """

    id: str
    roles: frozenset[str]
    name: str | None = None

    def __post_init__(self) -> None:
        raw: Any = self.roles
        roles = frozenset((raw,) if isinstance(raw, str) else raw or ())
        if not roles:
            raise ActorError(
                f"actor {self.id!r} has no role",
                hint="give the actor at least one role of the playbook, e.g. sales_rep",
            )
        object.__setattr__(self, "roles", roles)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"id", "roles" (sorted), "name"}``."""
        return {"id": self.id, "roles": sorted(self.roles), "name": self.name}


def check_actor(actor: Actor, playbook: Playbook) -> Actor:
    """Return ``actor`` when every role it holds is declared by ``playbook``.

    Raises :class:`~playbook.errors.ActorError` naming the unknown roles otherwise.
    """
    if not isinstance(actor, Actor):
        raise ActorError(
            f"expected an Actor, got {type(actor).__name__}",
            hint="pass actor=Actor('id', frozenset({'sales_rep'}))",
        )
    unknown = actor.roles.difference(playbook.roles)
    if unknown:
        known = sorted(playbook.roles)
        first = sorted(unknown)[0]
        raise ActorError(
            f"actor {actor.id!r} holds roles that playbook {playbook.key} does not declare: "
            f"{', '.join(sorted(unknown))}",
            hint=did_you_mean(first, known) or f"declared roles: {', '.join(known)}",
            details={"unknown_roles": sorted(unknown), "declared_roles": known},
        )
    return actor


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
    owner = f"deal {deal_id!r} is in stage" if deal_id is not None else "stage"
    raise UnknownStageError(
        f"{owner} {stage!r}, which playbook {playbook.key} does not define",
        hint=did_you_mean(str(stage), known) or f"stages: {', '.join(known)}",
        details={"stage": stage, "stages": known},
    )


# --- reading the JSON form ---------------------------------------------------------------


def _from_mapping(raw: Mapping[str, Any], playbook: Playbook) -> DealState:
    unknown = sorted(str(key) for key in raw if key not in _DEAL_KEYS)
    if unknown:
        raise DealError(
            f"unknown deal key {unknown[0]!r}",
            hint=did_you_mean(unknown[0], _DEAL_KEYS)
            or "field values go under `fields`; known keys: " + ", ".join(sorted(_DEAL_KEYS)),
            details={"unknown_keys": unknown},
        )
    deal_id = _deal_id(raw.get("id"))
    pinned_id = raw.get("playbook")
    pinned_version = raw.get("playbook_version")
    _check_pin(deal_id, pinned_id, pinned_version, playbook)
    stage = raw.get("stage")
    if not isinstance(stage, str):
        what = "has no stage" if stage is None else f"has stage {stage!r}, which is not a stage id"
        raise DealError(
            f"deal {deal_id!r} {what}", hint=f"new deals start in {playbook.first_stage.id!r}"
        )
    check_stage(playbook, stage, deal_id=deal_id)
    tz = _tz(playbook)
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
            f"a {type(obj).__name__} is not a deal: it has no `id` attribute",
            hint="pass a DealState, a mapping in the JSON form, or an object with id and stage",
        )
    return raw


def _check_pin(deal_id: str, pinned_id: Any, pinned_version: Any, playbook: Playbook) -> None:
    if pinned_id is not None and pinned_id != playbook.id:
        raise PlaybookVersionError(
            f"deal {deal_id!r} follows playbook {pinned_id!r}, not {playbook.id!r}",
            hint="load the playbook the deal belongs to",
            details={"deal_playbook": pinned_id, "playbook": playbook.id},
        )
    if pinned_version is not None and pinned_version != playbook.version:
        raise PlaybookVersionError(
            f"deal {deal_id!r} is pinned to {playbook.id} version {pinned_version!r}, "
            f"this is version {playbook.version}",
            hint="load that version of the playbook, or migrate the deal (playbook migrate)",
            details={"deal_version": pinned_version, "playbook_version": playbook.version},
        )


def _deal_id(value: Any) -> str:
    if value is None or value == "":
        raise DealError("a deal needs an `id`", hint='add "id": "D-1" to the deal')
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DealError(f"a deal id must be text or an integer, not {value!r}")
    return str(value)


def _mapping(value: Any, key: str, deal_id: str) -> Mapping[str, Any]:
    if value is None:
        return _EMPTY
    if not isinstance(value, Mapping):
        raise DealError(
            f"deal {deal_id!r}: `{key}` must be an object, not {type(value).__name__}",
            hint='write "fields": {"amount": "1000.00", ...}',
        )
    return value


def _optional_text(raw: Mapping[str, Any], key: str, deal_id: str) -> str | None:
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    raise DealError(f"deal {deal_id!r}: `{key}` must be text, not {value!r}")


def _optional_time(raw: Mapping[str, Any], key: str, tz: tzinfo) -> datetime | None:
    value = raw.get(key)
    if value is None:
        return None
    try:
        return _to_datetime(value, tz)
    except (TypeError, ValueError) as error:
        raise DealError(
            f"`{key}` is not a date and time: {value!r}",
            hint="write ISO 8601, e.g. 2026-03-02T09:30:00+08:00",
            path=key,
        ) from error


def _version(value: Any, deal_id: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise DealError(f"deal {deal_id!r}: `version` must be an integer >= 0, not {value!r}")
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
        raise DealError(
            f"deal {deal_id!r}: `completed_actions` must be an object or a list of action ids"
        )
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
        raise DealError(f"completed action {action_id!r} must be an object with by, at, evidence")
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
        hint = f"{action_id!r} belongs to stage {elsewhere.stage!r}"
    else:
        hint = did_you_mean(action_id, here) or (
            f"actions of {stage!r}: {', '.join(here)}" if here else f"{stage!r} has no actions"
        )
    return UnknownActionError(
        f"stage {stage!r} has no action {action_id!r}",
        hint=hint,
        details={"stage": stage, "action": action_id, "actions": here},
    )


# --- field values ------------------------------------------------------------------------


def coerce_fields(playbook: Playbook, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Field values converted to their declared types; undeclared keys are kept untouched.

    ``None`` stays ``None`` (an empty field). Raises :class:`~playbook.errors.DealFieldError`
    naming the field, the value and the expected type, or the constraint it breaks.
    """
    converters = _field_converters(playbook)
    tz = _tz(playbook)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        convert = converters.get(key)
        out[key] = value if convert is None or value is None else convert(value, tz)
    return out


def coerce_field(spec: FieldSpec, value: Any, tz: tzinfo = UTC) -> Any:
    """``value`` as the Python type of ``spec``, checked against its constraints.

    Decimals come from ``Decimal``, text or numbers (floats through their
    shortest text, so ``0.1`` is ``Decimal("0.1")``); dates and datetimes from
    ISO 8601 text; a datetime without an offset is read in ``tz`` and returned
    in UTC; lists become tuples of text.
    """
    return None if value is None else _converter(spec)(value, tz)


_Converter = Callable[[Any, tzinfo], Any]

# Converters per playbook, compiled once: reading a deal then runs one closure per field
# with only the constraint checks its declaration has. Keyed by id() with the playbook
# kept alongside, so an id is never reused while its entry lives; bounded.
_CONVERTER_CACHE: dict[int, tuple[Playbook, dict[str, _Converter]]] = {}
_CONVERTER_CACHE_SIZE = 32
_CONVERTER_LOCK = threading.Lock()


def _field_converters(playbook: Playbook) -> dict[str, _Converter]:
    cached = _CONVERTER_CACHE.get(id(playbook))
    if cached is not None and cached[0] is playbook:
        return cached[1]
    converters = {fid: _converter(spec) for fid, spec in playbook.fields.items()}
    with _CONVERTER_LOCK:
        if len(_CONVERTER_CACHE) >= _CONVERTER_CACHE_SIZE:
            _CONVERTER_CACHE.pop(next(iter(_CONVERTER_CACHE)))
        _CONVERTER_CACHE[id(playbook)] = (playbook, converters)
    return converters


def _converter(spec: FieldSpec) -> _Converter:
    """The conversion of one declared field: its type, then the constraints it declares."""
    convert = _CONVERTERS[spec.kind]
    checks = tuple(check for check, applies in _CONSTRAINTS if applies(spec))

    def coerce(value: Any, tz: tzinfo) -> Any:
        try:
            typed = convert(value, spec, tz)
        except (TypeError, ValueError, ArithmeticError) as error:
            raise _field_error(spec, value, _expected(spec)) from error
        for check in checks:
            problem = check(spec, typed)
            if problem is not None:
                raise _field_error(spec, value, problem)
        return typed

    return coerce


def is_empty(value: Any) -> bool:
    """True for a value that does not fill a field: ``None``, ``""`` or an empty list.

    The same as ``not has(field)`` in conditions, so that evidence and criteria agree.
    """
    if value is None or (isinstance(value, str) and not value):
        return True
    return isinstance(value, list | tuple | set | frozenset) and not value


def to_json_value(value: Any) -> Any:
    """A field value in its JSON form: decimals as text, dates ISO, tuples as lists."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json_value(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_json_value(item) for key, item in value.items()}
    return value


def _exactly(kind: type) -> Callable[[Any, FieldSpec, tzinfo], Any]:
    """A converter that takes values of ``kind`` as they are and refuses anything else."""

    def convert(value: Any, spec: FieldSpec, tz: tzinfo) -> Any:
        if not isinstance(value, kind):
            raise TypeError
        return value

    return convert


def _number(value: Any, spec: FieldSpec, tz: tzinfo) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise TypeError
    number = float(value)
    if not math.isfinite(number):
        raise ValueError
    return number


def _integer(value: Any, spec: FieldSpec, tz: tzinfo) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError
    return value


def _decimal(value: Any, spec: FieldSpec, tz: tzinfo) -> Decimal:
    if isinstance(value, bool):
        raise TypeError
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int | float):
        number = Decimal(str(value))
    elif isinstance(value, str):
        number = Decimal(value.strip().replace(",", ""))
    else:
        raise TypeError
    if not number.is_finite():
        raise ValueError
    return number


def _date(value: Any, spec: FieldSpec, tz: tzinfo) -> date:
    if isinstance(value, datetime):
        raise TypeError  # a datetime is a date subclass; a silent cut would lose the time
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise TypeError
    return date.fromisoformat(value.strip())


def _datetime(value: Any, spec: FieldSpec, tz: tzinfo) -> datetime:
    return _to_datetime(value, tz)


def _list(value: Any, spec: FieldSpec, tz: tzinfo) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise TypeError
    items = tuple(value)
    if not all(isinstance(item, str) for item in items):
        raise TypeError
    return items


_CONVERTERS: dict[str, Callable[[Any, FieldSpec, tzinfo], Any]] = {
    "string": _exactly(str),
    "number": _number,
    "integer": _integer,
    "decimal": _decimal,
    "boolean": _exactly(bool),
    "date": _date,
    "datetime": _datetime,
    "enum": _exactly(str),
    "list": _list,
}

_EXPECTED = {
    "string": "text",
    "number": "a number",
    "integer": "a whole number (not a boolean)",
    "decimal": 'a decimal number, e.g. "1200.50"',
    "boolean": "true or false",
    "date": 'an ISO date, e.g. "2026-03-01"',
    "datetime": 'an ISO 8601 date and time, e.g. "2026-03-01T09:30:00+08:00"',
    "list": "a list of text items",
}


def _expected(spec: FieldSpec) -> str:
    if spec.kind == "enum":
        return "one of " + ", ".join(spec.type.values or ())
    return _EXPECTED[spec.kind]


def _enum_problem(spec: FieldSpec, value: Any) -> str | None:
    allowed = spec.type.values
    if allowed is None or spec.kind not in ("enum", "list"):
        return None
    items = value if spec.kind == "list" else (value,)
    bad = [item for item in items if item not in allowed]
    if not bad:
        return None
    hint = did_you_mean(bad[0], allowed)
    return f"{bad[0]!r} is not one of {', '.join(allowed)}" + (f" ({hint})" if hint else "")


def _range_problem(spec: FieldSpec, value: Any) -> str | None:
    if spec.kind not in ("number", "integer", "decimal", "date", "datetime"):
        return None
    low, high = _bound(spec.minimum, value), _bound(spec.maximum, value)
    if low is not None and value < low:
        return f"at least {spec.minimum}"
    if high is not None and value > high:
        return f"at most {spec.maximum}"
    return None


def _bound(bound: Any, value: Any) -> Any:
    """A declared bound in the value's own type (a date bound for a datetime is its day)."""
    if bound is None:
        return None
    if isinstance(value, datetime):
        day = bound if isinstance(bound, date) else date.fromisoformat(str(bound)[:10])
        return datetime.combine(day, datetime.min.time(), UTC)
    if isinstance(value, Decimal):
        return Decimal(str(bound))
    return bound


def _length_problem(spec: FieldSpec, value: Any) -> str | None:
    if spec.kind != "string":
        return None
    if spec.min_length is not None and len(value) < spec.min_length:
        return f"at least {spec.min_length} characters"
    if spec.max_length is not None and len(value) > spec.max_length:
        return f"at most {spec.max_length} characters (it has {len(value)})"
    return None


def _pattern_problem(spec: FieldSpec, value: Any) -> str | None:
    if spec.pattern is None or spec.kind != "string" or re.fullmatch(spec.pattern, value):
        return None
    return f"text matching {spec.pattern}"


def _items_problem(spec: FieldSpec, value: Any) -> str | None:
    if spec.kind != "list":
        return None
    if spec.min_items is not None and len(value) < spec.min_items:
        return f"at least {spec.min_items} items"
    if spec.max_items is not None and len(value) > spec.max_items:
        return f"at most {spec.max_items} items"
    return None


_CONSTRAINTS: tuple[tuple[Callable[[FieldSpec, Any], str | None], Callable[[FieldSpec], bool]], ...]
_CONSTRAINTS = (
    (_enum_problem, lambda spec: spec.kind in ("enum", "list") and spec.type.values is not None),
    (
        _range_problem,
        lambda spec: (
            spec.kind in ("number", "integer", "decimal", "date", "datetime")
            and (spec.minimum is not None or spec.maximum is not None)
        ),
    ),
    (
        _length_problem,
        lambda spec: (
            spec.kind == "string" and (spec.min_length is not None or spec.max_length is not None)
        ),
    ),
    (_pattern_problem, lambda spec: spec.kind == "string" and spec.pattern is not None),
    (
        _items_problem,
        lambda spec: (
            spec.kind == "list" and (spec.min_items is not None or spec.max_items is not None)
        ),
    ),
)
"""Each constraint check, and when a field declaration needs it."""


def _field_error(spec: FieldSpec, value: Any, expected: str) -> DealFieldError:
    return DealFieldError(
        f"field {spec.id!r} ({spec.kind}) cannot hold {value!r}: expected {expected}",
        path=f"fields.{spec.id}",
        details={"field": spec.id, "value": repr(value), "type": spec.kind, "expected": expected},
    )


# --- small helpers -----------------------------------------------------------------------


def _tz(playbook: Playbook) -> tzinfo:
    return _zone(playbook.timezone)


_ZONES: dict[str, tzinfo] = {}


def _zone(name: str) -> tzinfo:
    zone = _ZONES.get(name)
    if zone is None:
        zone = _ZONES[name] = zoneinfo.ZoneInfo(name)
    return zone


def _to_datetime(value: Any, tz: tzinfo) -> datetime:
    moment = datetime.fromisoformat(value.strip()) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise TypeError
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=tz)
    return moment.astimezone(UTC)


def require_now(now: Any) -> datetime:
    """``now`` in UTC; raises :class:`~playbook.errors.MissingClockError` unless it is aware.

    The engine never reads the clock: the caller passes the time, with its offset,
    so that due dates and records do not depend on the server's local time.
    """
    if type(now) is datetime and now.tzinfo is UTC:
        return now  # the common case, and the one the engine's hot path sees
    if now is None:
        raise MissingClockError(
            "now is required: the engine never reads the clock",
            hint="pass now=datetime.now(UTC) (or the time of the event you replay)",
        )
    if not isinstance(now, datetime):
        raise MissingClockError(f"now must be a datetime, not {type(now).__name__}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise MissingClockError(
            f"now ({now.isoformat()}) has no timezone",
            hint="pass an aware datetime, e.g. datetime.now(UTC)",
        )
    return now.astimezone(UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
