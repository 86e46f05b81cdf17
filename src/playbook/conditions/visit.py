"""One dispatch on the kind of an IR node, for every compiler of the condition language.

A compiler (the Python predicate, the SQL clause, the canonical text) subclasses
:class:`ExprVisitor` and writes one method per kind of node; :meth:`~ExprVisitor.visit`
picks the method from the node's exact type, so a new kind of node is added
here once and every compiler that lacks it fails loudly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Generic, TypeVar

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
    _dispatch: ClassVar[Mapping[type[ir.Expr], Callable[[Any, Any], Any]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Looked up once per class, not once per node: compiling is on the hot path of loading.
        cls._dispatch = {kind: getattr(cls, name) for kind, name in _METHODS.items()}

    def visit(self, expr: ir.Expr) -> R:
        """The result of the method for ``expr``'s kind; TypeError for what is not a condition."""
        method = self._dispatch.get(type(expr))
        if method is None:
            raise TypeError(f"not a condition: {expr!r}")
        result: R = method(self, expr)
        return result
