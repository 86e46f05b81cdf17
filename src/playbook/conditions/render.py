"""Render the IR as the canonical one-line string form.

The output parses back (with the same fields) to the same IR: fields on the
left, single-quoted text, numbers written out in full (no exponent), dates and
UTC datetimes in ISO 8601, and parentheses only where precedence needs them.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from playbook.conditions import ir
from playbook.conditions.visit import ExprVisitor

__all__ = ["render", "render_literal"]


def render(expr: ir.Expr) -> str:
    """The canonical string form of ``expr``; ``parse_condition(render(e), fields) == e``."""
    return _RENDERER.visit(expr)


class _Renderer(ExprVisitor[str]):
    __slots__ = ()

    def const(self, expr: ir.Const) -> str:
        return "true" if expr.value else "false"

    def conjunction(self, expr: ir.And) -> str:
        return " and ".join(_grouped(item, isinstance(item, ir.Or)) for item in expr.items)

    def disjunction(self, expr: ir.Or) -> str:
        return " or ".join(self.visit(item) for item in expr.items)

    def negation(self, expr: ir.Not) -> str:
        # `not (a == 1)` reads better than `not a == 1`, and parses the same.
        simple = isinstance(expr.item, ir.Has | ir.Const | ir.Not) or _is_bare_boolean(expr.item)
        return "not " + _grouped(expr.item, not simple)

    def has(self, expr: ir.Has) -> str:
        return f"has({expr.field.name})"

    def contains(self, expr: ir.Contains) -> str:
        return f"{expr.field.name} contains {render_literal(expr.value)}"

    def membership(self, expr: ir.In) -> str:
        op = "not in" if expr.negated else "in"
        items = ", ".join(render_literal(value) for value in expr.values)
        return f"{_operand(expr.operand)} {op} [{items}]"

    def comparison(self, expr: ir.Compare) -> str:
        right = expr.right
        if _is_bare_boolean(expr):
            return _operand(expr.left)
        shown = render_literal(right.value) if isinstance(right, ir.Literal) else _operand(right)
        return f"{_operand(expr.left)} {expr.op} {shown}"


_RENDERER = _Renderer()


def _grouped(expr: ir.Expr, parenthesised: bool) -> str:
    text = render(expr)
    return f"({text})" if parenthesised else text


def _is_bare_boolean(expr: ir.Expr) -> bool:
    """``flag == true``, which the string form writes as just ``flag``."""
    return (
        isinstance(expr, ir.Compare)
        and expr.op == "=="
        and isinstance(expr.left, ir.FieldRef)
        and expr.left.type.kind == "boolean"
        and expr.right == ir.Literal(True)
    )


def _operand(operand: ir.Operand) -> str:
    if isinstance(operand, ir.Len):
        return f"len({operand.field.name})"
    return operand.name


def render_literal(value: ir.LiteralValue) -> str:
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
    if exact.is_zero():
        exact = abs(exact)  # -0 equals 0 everywhere: one way to write it, so it parses back alike
    text = format(exact, "f")
    if "." in text and isinstance(value, float):
        text = text.rstrip("0").rstrip(".") or "0"
    return text


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
