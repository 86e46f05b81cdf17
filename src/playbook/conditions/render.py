"""Render the IR as the canonical one-line string form.

The output parses back (with the same fields) to the same IR: fields on the
left, single-quoted text, numbers written out in full (no exponent), dates and
UTC datetimes in ISO 8601, and parentheses only where precedence needs them.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from playbook.conditions.ir import (
    And,
    Compare,
    Const,
    Contains,
    Expr,
    FieldRef,
    Has,
    In,
    Len,
    Literal,
    LiteralValue,
    Not,
    Operand,
    Or,
)

__all__ = ["render", "render_literal"]


def render(expr: Expr) -> str:
    """The canonical string form of ``expr``; ``parse_condition(render(e), fields) == e``."""
    if isinstance(expr, Const):
        return "true" if expr.value else "false"
    if isinstance(expr, And):
        return " and ".join(_grouped(item, isinstance(item, Or)) for item in expr.items)
    if isinstance(expr, Or):
        return " or ".join(render(item) for item in expr.items)
    if isinstance(expr, Not):
        # `not (a == 1)` reads better than `not a == 1`, and parses the same.
        simple = isinstance(expr.item, Has | Const | Not) or _is_bare_boolean(expr.item)
        return "not " + _grouped(expr.item, not simple)
    if isinstance(expr, Has):
        return f"has({expr.field.name})"
    if isinstance(expr, Contains):
        return f"{expr.field.name} contains {render_literal(expr.value)}"
    if isinstance(expr, In):
        op = "not in" if expr.negated else "in"
        items = ", ".join(render_literal(value) for value in expr.values)
        return f"{_operand(expr.operand)} {op} [{items}]"
    if isinstance(expr, Compare):
        right = expr.right
        if _is_bare_boolean(expr):
            return _operand(expr.left)
        shown = render_literal(right.value) if isinstance(right, Literal) else _operand(right)
        return f"{_operand(expr.left)} {expr.op} {shown}"
    raise TypeError(f"not a condition: {expr!r}")


def _grouped(expr: Expr, parenthesised: bool) -> str:
    text = render(expr)
    return f"({text})" if parenthesised else text


def _is_bare_boolean(expr: Expr) -> bool:
    """``flag == true``, which the string form writes as just ``flag``."""
    return (
        isinstance(expr, Compare)
        and expr.op == "=="
        and isinstance(expr.left, FieldRef)
        and expr.left.type.kind == "boolean"
        and expr.right == Literal(True)
    )


def _operand(operand: Operand) -> str:
    if isinstance(operand, Len):
        return f"len({operand.field.name})"
    return operand.name


def render_literal(value: LiteralValue) -> str:
    """A literal as the string form writes it: ``'text'``, ``50000.5``, ``'2026-01-31'``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        return _number(value)
    if isinstance(value, datetime):
        return _quoted(value.isoformat())
    if isinstance(value, date):
        return _quoted(value.isoformat())
    return _quoted(value)


def _number(value: float | Decimal) -> str:
    exact = Decimal(repr(value)) if isinstance(value, float) else value
    text = format(exact, "f")
    if "." in text and isinstance(value, float):
        text = text.rstrip("0").rstrip(".") or "0"
    return text


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
