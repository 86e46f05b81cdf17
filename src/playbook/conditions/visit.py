"""One dispatch on the kind of an IR node, for every compiler of the condition language.

A compiler (the Python predicate, the SQL clause, the canonical text) subclasses
:class:`ExprVisitor` and writes one method per kind of node; :meth:`~ExprVisitor.visit`
picks the method from the node's exact type, so a new kind of node is added
here once and every compiler that lacks it fails loudly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from playbook.conditions import ir

__all__ = ["ExprVisitor"]

R = TypeVar("R")

_METHODS: dict[type[ir.Expr], str] = {
    ir.Const: "const",
    ir.And: "conjunction",
    ir.Or: "disjunction",
    ir.Not: "negation",
    ir.Has: "has",
    ir.Contains: "contains",
    ir.In: "membership",
    ir.Compare: "comparison",
}


class ExprVisitor(Generic[R]):
    """Turns a condition into an ``R``, one method per kind of node.

    A subclass defines ``const(Const)``, ``conjunction(And)``, ``disjunction(Or)``,
    ``negation(Not)``, ``has(Has)``, ``contains(Contains)``, ``membership(In)``
    and ``comparison(Compare)``, each returning an ``R``.
    """

    __slots__ = ()

    def visit(self, expr: ir.Expr) -> R:
        """The result of the method for ``expr``'s kind; TypeError for what is not a condition."""
        name = _METHODS.get(type(expr))
        if name is None:
            raise TypeError(f"not a condition: {expr!r}")
        method: Callable[[Any], R] = getattr(self, name)
        return method(expr)
