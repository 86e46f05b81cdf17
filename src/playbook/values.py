"""Field values and the clock: what both the engine and the store need.

Typed field values converted from what an application or a file holds
(:func:`coerce_fields`), their JSON form (:func:`to_json_value`), the caller's
clock (:func:`require_now`) and who acts (:class:`Actor`). Pure code below the
runtime and the store, so that neither imports the other.
"""

from __future__ import annotations

import copy
import json
import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from typing import Any, NoReturn, TypeAlias, TypedDict, TypeVar, overload

from playbook.definition.constraints import CONSTRAINTS, link_problem
from playbook.definition.zones import zone_named
from playbook.diagnostics import did_you_mean
from playbook.errors import (
    ActorError,
    DealFieldError,
    EvidenceLinkError,
    MissingClockError,
    UnknownFieldError,
)
from playbook.i18n import Message
from playbook.model import FieldSpec, Playbook

_V = TypeVar("_V")

__all__ = [
    "Actor",
    "ActorDict",
    "FrozenMap",
    "JsonValue",
    "check_actor",
    "check_unknown_fields",
    "coerce_field",
    "coerce_fields",
    "field_converters",
    "field_from_text",
    "is_empty",
    "parse_assignments",
    "playbook_zone",
    "require_now",
    "shown_time",
    "to_json_value",
    "to_utc_datetime",
    "utc_iso",
    "zone",
]


@dataclass(frozen=True, slots=True, init=False)
class Actor:
    """Who acts on a deal: an id, the roles held (at least one), a display name.

    ``id`` must be non-empty text; ``roles`` is one role as a string or any
    iterable of them. Raises :class:`~playbook.errors.ActorError` otherwise;
    :func:`check_actor` checks the roles against a playbook.
    """

    id: str
    roles: frozenset[str]
    name: str | None

    def __init__(self, id: str, roles: str | Iterable[str], name: str | None = None) -> None:
        if not isinstance(id, str) or not id.strip():
            raise ActorError(
                Message("error.values.actor_id_not_text", id=id),
                hint=Message("error.values.pass_actor_id"),
            )
        held = _roles(id, roles)
        if name is not None and not isinstance(name, str):
            raise ActorError(Message("error.values.actor_name_not_text", id=id, name=name))
        object.__setattr__(self, "id", id)
        object.__setattr__(self, "roles", held)
        object.__setattr__(self, "name", name)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Actor, (self.id, self.roles, self.name))

    def to_dict(self) -> ActorDict:
        """The JSON form: ``{"id", "roles" (sorted), "name"}``."""
        return {"id": self.id, "roles": sorted(self.roles), "name": self.name}


class ActorDict(TypedDict):
    """The JSON form of an :class:`Actor`."""

    id: str
    roles: list[str]
    name: str | None


def _roles(actor_id: str, raw: object) -> frozenset[str]:
    if isinstance(raw, str):
        items: tuple[object, ...] = (raw,)
    elif isinstance(raw, Iterable):
        items = tuple(raw)
    else:
        items = () if raw is None else (raw,)
    bad = [item for item in items if not isinstance(item, str) or not item.strip()]
    if bad:
        raise ActorError(
            Message("error.values.role_not_text", id=actor_id, role=bad[0]),
            hint=Message("error.values.give_role_ids"),
        )
    if not items:
        raise ActorError(
            Message("error.values.actor_has_no_role", id=actor_id),
            hint=Message("error.values.give_actor_at_least"),
        )
    return frozenset(item for item in items if isinstance(item, str))


class FrozenMap(dict[str, _V]):
    """A read-only dict: what immutable results hold instead of ``MappingProxyType``.

    Unlike a mapping proxy it pickles and deep-copies, and reading it is a
    plain dict read (the compiled conditions call ``.get`` on it).
    """

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("this mapping is read-only")

    __setitem__ = __delitem__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenMap, (dict(self),))

    def __copy__(self) -> FrozenMap[_V]:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> FrozenMap[_V]:
        return FrozenMap({key: copy.deepcopy(value, memo) for key, value in self.items()})

    def __hash__(self) -> int:  # type: ignore[override]
        return hash(frozenset(self.items()))


def check_actor(actor: Actor, playbook: Playbook) -> Actor:
    """Return ``actor`` when every role it holds is declared by ``playbook``.

    Raises :class:`~playbook.errors.ActorError` naming the unknown roles otherwise.
    """
    if not isinstance(actor, Actor):
        raise ActorError(
            Message("error.values.expected_actor_got", name=type(actor).__name__),
            hint=Message("error.values.pass_actor_actor_id"),
        )
    unknown = actor.roles.difference(playbook.roles)
    if unknown:
        known = sorted(playbook.roles)
        first = sorted(unknown)[0]
        raise ActorError(
            Message(
                "error.values.actor_holds_roles_playbook",
                id=actor.id,
                key=playbook.key,
                names=sorted(unknown),
            ),
            hint=did_you_mean(first, known) or Message("error.values.declared_roles", names=known),
            details={"unknown_roles": sorted(unknown), "declared_roles": known},
        )
    return actor


# --- field values ------------------------------------------------------------------------


def coerce_fields(
    playbook: Playbook, raw: Mapping[str, Any], *, strict: bool = True
) -> dict[str, Any]:
    """Field values converted to their declared types.

    A key the playbook does not declare raises :class:`~playbook.errors.DealFieldError`
    with a did-you-mean (a misspelt field must not be silently ignored); with
    ``strict=False`` such keys are kept untouched. ``None`` stays ``None`` (an
    empty field). A value that does not fit raises ``DealFieldError`` naming the
    field, the value and the expected type, or the constraint it breaks.
    """
    if strict:
        check_unknown_fields(playbook, raw)
    converters = field_converters(playbook)
    tz = playbook_zone(playbook)
    out: dict[str, Any] = {}
    for key, value in raw.items():
        convert = converters.get(key)
        out[key] = value if convert is None or value is None else convert(value, tz)
    return out


def check_unknown_fields(playbook: Playbook, names: Iterable[str]) -> None:
    """Raise :class:`~playbook.errors.DealFieldError` (with a did-you-mean) for the first
    of ``names`` that ``playbook`` does not declare as a field."""
    declared = playbook.fields
    unknown = [name for name in names if name not in declared]
    if not unknown:
        return
    first = str(unknown[0])
    hint = did_you_mean(first, declared) or Message("error.deals.declared_fields", names=declared)
    raise DealFieldError(
        Message("error.values.field_not_declared", id=first, key=playbook.key),
        hint=Message("error.deals.or_strict_false", hint=hint),
        path=f"fields.{first}",
        details={"unknown_fields": [str(name) for name in unknown]},
    )


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


def field_converters(playbook: Playbook) -> dict[str, _Converter]:
    """Per declared field, ``convert(value, tz)`` as :func:`coerce_fields` runs it (cached)."""
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
    """The conversion of one declared field: its type, then the constraints it declares.

    A value already of the field's type and within its bounds takes a short path;
    anything else the full one, which also words the error.
    """
    checked = _checked_converter(spec)
    fast = _FAST.get(spec.kind)
    if fast is None or spec.pattern or spec.format or spec.min_length or spec.max_length:
        return checked
    return fast(spec, checked)


def _fast_exact(kind: type) -> Callable[[FieldSpec, _Converter], _Converter]:
    def build(spec: FieldSpec, checked: _Converter) -> _Converter:
        allowed = frozenset(spec.type.values) if spec.type.values is not None else None

        def coerce(value: Any, tz: tzinfo) -> Any:
            if type(value) is kind and (allowed is None or value in allowed):
                return value
            return checked(value, tz)

        return coerce

    return build


def _fast_decimal(spec: FieldSpec, checked: _Converter) -> _Converter:
    low = None if spec.minimum is None else Decimal(str(spec.minimum))
    high = None if spec.maximum is None else Decimal(str(spec.maximum))

    def coerce(value: Any, tz: tzinfo) -> Any:
        kind = type(value)
        if kind is str and "," not in value:
            try:
                number = Decimal(value)
            except ArithmeticError:
                return checked(value, tz)
        elif kind is Decimal:
            number = value
        else:
            return checked(value, tz)
        if (
            number.is_finite()
            and (low is None or number >= low)
            and (high is None or number <= high)
        ):
            return number
        return checked(value, tz)

    return coerce


_FAST: dict[str, Callable[[FieldSpec, _Converter], _Converter]] = {
    "string": _fast_exact(str),
    "enum": _fast_exact(str),
    "boolean": _fast_exact(bool),
    "decimal": _fast_decimal,
}


def _checked_converter(spec: FieldSpec) -> _Converter:
    convert = _CONVERTERS[spec.kind]
    checks = tuple(check for check, applies in CONSTRAINTS if applies(spec))

    def coerce(value: Any, tz: tzinfo) -> Any:
        try:
            typed = convert(value, spec, tz)
        except (TypeError, ValueError, ArithmeticError) as error:
            raise _field_error(spec, value, _expected(spec)) from error
        for check in checks:
            problem = check(spec, typed)
            if problem is not None:
                kind = EvidenceLinkError if check is link_problem else DealFieldError
                raise _field_error(spec, value, problem, kind)
        return typed

    return coerce


def is_empty(value: Any) -> bool:
    """True for a value that does not fill a field: ``None``, ``""`` or an empty list.

    The same as ``not has(field)`` in conditions, so that evidence and criteria agree.
    """
    if value is None or (isinstance(value, str) and not value):
        return True
    return isinstance(value, list | tuple | set | frozenset) and not value


JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"
"""A value of a JSON form (what ``json.dumps`` writes)."""


def to_json_value(value: object) -> JsonValue:
    """A field value in its JSON form: decimals as text, dates ISO, tuples as lists."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json_value(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): to_json_value(item) for key, item in value.items()}
    # Field values are JSON scalars once converted; anything else was kept as given.
    return value  # type: ignore[return-value]


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
    return to_utc_datetime(value, tz)


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
    kind: Message(f"error.values.expected.{kind}")
    for kind in ("string", "number", "integer", "decimal", "boolean", "date", "datetime", "list")
}


def _expected(spec: FieldSpec) -> Message:
    if spec.kind == "enum":
        return Message("error.values.expected.enum", values=list(spec.type.values or ()))
    return _EXPECTED[spec.kind]


def _field_error(
    spec: FieldSpec, value: Any, expected: Message, kind: type[DealFieldError] = DealFieldError
) -> DealFieldError:
    return kind(
        Message(
            "error.values.field_cannot_hold_expected",
            id=spec.id,
            kind=spec.kind,
            value=value,
            expected=expected,
        ),
        path=f"fields.{spec.id}",
        details={
            "field": spec.id,
            "value": repr(value),
            "type": spec.kind,
            "expected": str(expected),
        },
    )


# --- small helpers -----------------------------------------------------------------------


def playbook_zone(playbook: Playbook) -> tzinfo:
    """The playbook's timezone (zone objects are cached by name)."""
    return zone(playbook.timezone)


_ZONES: dict[str, tzinfo] = {}


def zone(name: str) -> tzinfo:
    """The zone called ``name``, cached; UTC for a name that only another release knew."""
    found = _ZONES.get(name)
    if found is None:
        found = _ZONES[name] = zone_named(name) or UTC
    return found


@overload
def utc_iso(moment: datetime) -> str: ...


@overload
def utc_iso(moment: None) -> None: ...


def utc_iso(moment: datetime | None) -> str | None:
    """``moment`` in ISO 8601 with ``+00:00``, for JSON; naive reads as UTC, as stored."""
    if moment is None:
        return None
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()


def shown_time(
    moment: datetime | None, tz: tzinfo, *, empty: str = "-", exact: bool = False
) -> str:
    """``2026-10-10 09:30 +08:00``: a time as people read it, on the playbook's clock.

    Every text, HTML and CSV output shows times this way (JSON keeps
    :func:`utc_iso`); a naive ``moment`` is read as UTC, None shows ``empty``.
    ``exact`` adds the seconds (and microseconds, when there are any), for
    files that are read back: ISO 8601 readers take the form as it is.
    """
    if moment is None:
        return empty
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    local = aware.astimezone(tz)
    offset = local.isoformat()[-6:]
    if not exact:
        return f"{local:%Y-%m-%d %H:%M} {offset}"
    fraction = f".{local.microsecond:06d}" if local.microsecond else ""
    return f"{local:%Y-%m-%d %H:%M:%S}{fraction} {offset}"


def to_utc_datetime(value: Any, tz: tzinfo) -> datetime:
    """An ISO 8601 text or a datetime in UTC; without an offset it is read in ``tz``."""
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
            Message("error.values.now_required_engine_never"),
            hint=Message("error.values.pass_now_datetime_now"),
        )
    if not isinstance(now, datetime):
        raise MissingClockError(
            Message("error.values.now_must_datetime_not", name=type(now).__name__)
        )
    if now.tzinfo is None or now.utcoffset() is None:
        raise MissingClockError(
            Message("error.values.now_has_no_timezone", isoformat=now.isoformat()),
            hint=Message("error.values.pass_aware_datetime_e"),
        )
    return now.astimezone(UTC)


_TRUE = frozenset({"true", "yes", "y", "t", "1", "是", "真"})
_FALSE = frozenset({"false", "no", "n", "f", "0", "否", "假"})


def field_from_text(text: str, spec: FieldSpec, separator: str) -> Any:
    """A cell's text as the JSON-like value the field's kind expects (checked afterwards)."""
    kind = spec.kind
    try:
        if kind == "integer":
            return int(text.replace(",", ""))
        if kind == "number":
            return float(text.replace(",", ""))
        if kind == "decimal":
            return Decimal(text.replace(",", ""))
    except (ValueError, ArithmeticError):
        return text  # coerce_field reports it with the field's expected type
    if kind == "boolean":
        lowered = text.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else text
    if kind == "list":
        return _list_from_text(text, separator)
    return text


def _list_from_text(text: str, separator: str) -> list[Any]:
    """A list cell: items split on ``separator``, or the JSON array an export wrote.

    ``deals export`` writes a list whose items hold the separator (or spaces at
    their ends) as a JSON array, so that it reads back item for item.
    """
    if text.startswith("[") and text.endswith("]"):
        try:
            items = json.loads(text)
        except ValueError:
            items = None
        if isinstance(items, list) and all(isinstance(item, str | int | float) for item in items):
            return items
    return [item.strip() for item in text.split(separator) if item.strip()]


def parse_assignments(playbook: Playbook, pairs: Mapping[str, str]) -> dict[str, Any]:
    """``FIELD=VALUE`` texts as typed values of the playbook's fields; an empty text clears.

    Raises :class:`~playbook.errors.UnknownFieldError` (with a did-you-mean)
    for a field the playbook does not declare, and
    :class:`~playbook.errors.DealFieldError` for a value its type refuses.
    """
    out: dict[str, Any] = {}
    for name, text in pairs.items():
        spec = playbook.fields.get(name)
        if spec is None:
            known = list(playbook.fields)
            raise UnknownFieldError(
                Message("error.values.no_such_field", key=playbook.key, id=name),
                hint=did_you_mean(name, known)
                or Message("error.deals.declared_fields", names=known[:20]),
                details={"field": name},
            )
        stripped = text.strip()
        raw = field_from_text(stripped, spec, ";") if stripped else None
        out[name] = coerce_fields(playbook, {name: raw})[name]
    return out
