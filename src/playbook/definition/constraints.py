"""The constraints a field declaration puts on its values: enum values, bounds, sizes, patterns.

Each check takes a declared field and a value already of the field's type and
says what the value lacks (a :class:`~playbook.i18n.Message` naming what was
expected), or None; :data:`CONSTRAINTS` pairs each check with when a
declaration needs it. :mod:`playbook.values` runs them after conversion.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from playbook.diagnostics import did_you_mean
from playbook.i18n import Message
from playbook.model import FieldSpec
from playbook.safetext import web_link

__all__ = ["CONSTRAINTS", "link_problem"]


def _enum_problem(spec: FieldSpec, value: Any) -> Message | None:
    allowed = spec.type.values
    if allowed is None or spec.kind not in ("enum", "list"):
        return None
    items = value if spec.kind == "list" else (value,)
    bad = [item for item in items if item not in allowed]
    if not bad:
        return None
    hint = did_you_mean(bad[0], allowed)
    if hint is None:
        return Message("error.values.not_one_of", value=bad[0], values=list(allowed))
    return Message("error.values.not_one_of_hint", value=bad[0], values=list(allowed), hint=hint)


def _range_problem(spec: FieldSpec, value: Any) -> Message | None:
    if spec.kind not in ("number", "integer", "decimal", "date", "datetime"):
        return None
    low, high = _bound(spec.minimum, value), _bound(spec.maximum, value)
    if low is not None and value < low:
        return Message("error.values.at_least", bound=spec.minimum)
    if high is not None and value > high:
        return Message("error.values.at_most", bound=spec.maximum)
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


def _length_problem(spec: FieldSpec, value: Any) -> Message | None:
    if spec.kind != "string":
        return None
    return _size_problem(len(value), spec.min_length, spec.max_length, "characters", told=True)


def _pattern_problem(spec: FieldSpec, value: Any) -> Message | None:
    if spec.pattern is None or spec.kind != "string" or re.fullmatch(spec.pattern, value):
        return None
    return Message("error.values.text_matching", pattern=spec.pattern)


def link_problem(spec: FieldSpec, value: Any) -> Message | None:
    """What a ``format: url`` field's text lacks to be an http(s) link, or None."""
    return (
        None
        if web_link(value)
        else Message(
            "error.values.web_link",
            schemes="http(s)://",
            example="https://drive.example.com/file/abc",
        )
    )


def _items_problem(spec: FieldSpec, value: Any) -> Message | None:
    if spec.kind != "list":
        return None
    return _size_problem(len(value), spec.min_items, spec.max_items, "items")


def _size_problem(
    size: int, low: int | None, high: int | None, unit: str, *, told: bool = False
) -> Message | None:
    """What a text or list of ``size`` characters or items lacks against its declared bounds.

    ``told`` adds the size to a "too long" message (long texts are hard to count by eye).
    """
    if low is not None and size < low:
        return Message(f"error.values.at_least_{unit}", bound=low)
    if high is not None and size > high:
        if told:
            return Message(f"error.values.at_most_{unit}_has", bound=high, size=size)
        return Message(f"error.values.at_most_{unit}", bound=high)
    return None


_Check = Callable[[FieldSpec, Any], Message | None]
CONSTRAINTS: tuple[tuple[_Check, Callable[[FieldSpec], bool]], ...]
CONSTRAINTS = (
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
    (link_problem, lambda spec: spec.kind == "string" and spec.format == "url"),
    (
        _items_problem,
        lambda spec: (
            spec.kind == "list" and (spec.min_items is not None or spec.max_items is not None)
        ),
    ),
)
"""Each constraint check, and when a field declaration needs it."""
