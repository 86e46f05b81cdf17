"""Read the structured (YAML) form of a condition into the syntax tree.

The structured form is plain data (dicts, lists, strings, numbers, booleans)
as the strict loader returns it::

    {all: [c, ...]}   {any: [c, ...]}   {not: c}   {required: [f1, f2]}
    {field: f, op: ">=", value: v}      {len: f, op: ">=", value: 2}
    {field: f, op: "<=", value: {field: other}}
    "a condition string"                true / false

Problems are reported with ``details["subpath"]``, the path inside the
structure (``("all", 1, "op")``); a problem inside an embedded string also has
its character ``offset``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from playbook.conditions import syntax
from playbook.conditions.limits import MAX_DEPTH, shown
from playbook.conditions.parser import parse_string
from playbook.conditions.syntax import ROOT, Loc, did_you_mean, problem
from playbook.i18n import Message

__all__ = ["OPS", "parse_source"]

OPS = ("==", "!=", "<", "<=", ">", ">=", "in", "not_in", "contains")
"""The values of ``op`` in a structured comparison (``not in`` is accepted for ``not_in``)."""

_COMBINATORS = ("all", "any", "not", "required")
_COMPARISON_KEYS = ("field", "len", "op", "value")
_OP_SLIPS = {"=": "==", "<>": "!=", "=>": ">=", "=<": "<=", "notin": "not_in", "nin": "not_in"}


def parse_source(source: object, loc: Loc = ROOT, *, depth: int = 0) -> syntax.SCond:
    """The syntax tree of a condition in either form (a string, or structured plain data).

    ``depth`` is the nesting level ``source`` sits at; past :data:`MAX_DEPTH` levels
    (mappings and the string form's ``not`` and parentheses together) it is PB401.
    """
    if isinstance(source, str):
        return parse_string(source, loc, depth=depth)
    if isinstance(source, bool):
        return syntax.SConst(source, loc)
    if isinstance(source, Mapping):
        return _mapping(source, loc, depth)
    what = "a list" if isinstance(source, list | tuple) else f"the value {shown(source)}"
    hint = Message("diag.structured.combine_list_conditions")
    raise problem(
        "PB401", Message("diag.structured.condition_text_mapping_not", what=what), loc, hint
    )


def _mapping(data: Mapping[Any, Any], loc: Loc, depth: int) -> syntax.SCond:
    if "field" in data or "len" in data:
        return _comparison(data, loc)
    if len(data) != 1:
        raise problem(
            "PB401",
            Message("diag.structured.structured_condition_has_one"),
            loc,
        )
    key, value = next(iter(data.items()))
    if key in ("all", "any", "not") and depth >= MAX_DEPTH:
        raise problem(
            "PB401",
            Message("diag.structured.condition_nests_deeper_than", MAX_DEPTH=MAX_DEPTH),
            loc.child(key),
            Message("diag.structured.split_into_simpler_conditions"),
        )
    if key in ("all", "any"):
        return _combination(key, value, loc, depth + 1)
    if key == "not":
        return syntax.SNot(parse_source(value, loc.child("not"), depth=depth + 1), loc)
    if key == "required":
        return _required(value, loc)
    hint = did_you_mean(_key_text(key), _COMBINATORS + _COMPARISON_KEYS)
    raise problem(
        "PB401",
        Message("diag.structured.unknown_key_condition", key_text=_key_text(key)),
        _key_loc(loc, key),
        hint,
    )


def _key_text(key: object) -> str:
    return key if isinstance(key, str) else shown(key)


def _key_loc(loc: Loc, key: object) -> Loc:
    return loc.child(key) if isinstance(key, str) else loc


def _combination(key: str, value: object, loc: Loc, depth: int) -> syntax.SCond:
    if not isinstance(value, list | tuple):
        raise problem(
            "PB401", Message("diag.structured.takes_list_conditions", key=key), loc.child(key)
        )
    items = tuple(
        parse_source(item, loc.child(key, i), depth=depth) for i, item in enumerate(value)
    )
    return syntax.SAll(items, loc) if key == "all" else syntax.SAny(items, loc)


def _required(value: object, loc: Loc) -> syntax.SCond:
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list | tuple):
        raise problem(
            "PB401", Message("diag.structured.required_takes_list_field"), loc.child("required")
        )
    checks: list[syntax.SCond] = []
    for i, name in enumerate(names):
        where = loc.child("required") if isinstance(value, str) else loc.child("required", i)
        checks.append(syntax.SHas(_field_name(name, where), where))
    return syntax.SAll(tuple(checks), loc)


def _field_name(name: object, loc: Loc) -> syntax.SField:
    if not isinstance(name, str):
        raise problem("PB401", Message("diag.structured.field_id_text_not", shown=shown(name)), loc)
    return syntax.SField(name, loc)


def _comparison(data: Mapping[Any, Any], loc: Loc) -> syntax.SCond:
    for key in data:
        if key not in _COMPARISON_KEYS:
            hint = did_you_mean(_key_text(key), _COMPARISON_KEYS)
            raise problem(
                "PB401",
                Message("diag.structured.unknown_key_comparison", key_text=_key_text(key)),
                _key_loc(loc, key),
                hint,
            )
    if "field" in data and "len" in data:
        raise problem(
            "PB401", Message("diag.structured.comparison_has_field_len"), loc.child("len")
        )
    for key in ("op", "value"):
        if key not in data:
            raise problem(
                "PB401",
                Message("diag.structured.comparison_needs", key=key),
                loc,
                Message("diag.structured.write_2"),
            )
    left = _operand(data, loc)
    op = _op(data["op"], loc.child("op"))
    value_loc = loc.child("value")
    if op in ("in", "not_in"):
        return syntax.SIn(
            left, _list(data["value"], value_loc), op == "not_in", loc, loc.child("op")
        )
    right = _value(data["value"], value_loc)
    if op == "contains":
        return syntax.SContains(left, right, loc, loc.child("op"))
    return syntax.SCompare(op, left, right, loc, loc.child("op"))


def _operand(data: Mapping[Any, Any], loc: Loc) -> syntax.SField | syntax.SLen:
    if "len" in data:
        return syntax.SLen(_field_name(data["len"], loc.child("len")), loc.child("len"))
    return _field_name(data["field"], loc.child("field"))


def _op(op: object, loc: Loc) -> str:
    text = op.strip() if isinstance(op, str) else op
    if text == "not in":
        return "not_in"
    if isinstance(text, str) and text in OPS:
        return text
    hint = None
    if isinstance(text, str):
        slip = _OP_SLIPS.get(text)
        hint = Message("diag.structured.write", slip=slip) if slip else did_you_mean(text, OPS)
    raise problem(
        "PB401",
        Message("diag.structured.unknown_operator", shown=shown(op)),
        loc,
        hint or Message("diag.structured.use_one", names=OPS),
    )


def _value(value: object, loc: Loc) -> syntax.SValue:
    if isinstance(value, Mapping) and len(value) == 1:
        ((key, name),) = value.items()
        if key == "field":
            return _field_name(name, loc.child("field"))
        if key == "len":
            field = _field_name(name, loc.child("len"))
            return syntax.SLen(field, loc.child("len"))
    return syntax.SLit(value, loc)


def _list(value: object, loc: Loc) -> syntax.SLit:
    if not isinstance(value, list | tuple):
        raise problem(
            "PB403",
            Message("diag.structured.not_compare_list_values"),
            loc,
            Message("diag.structured.write_value_b"),
        )
    return syntax.SLit(tuple(syntax.SLit(item, loc.child(i)) for i, item in enumerate(value)), loc)
