"""Compile conditions to one generated Python function each: the fast path of the engine.

A tree of closures costs a call per clause; a gate of four criteria, five
calls or more per deal. Here a condition (or a gate's list of them) becomes
the source of one function, compiled once, as ``dataclasses`` and ``attrs``
build their ``__init__``. No text a person wrote ever enters that source:
field names and literals are bound as variables of the function's namespace
(``_n0``, ``_c0``, ...), operators come from a fixed table, and any part the
generator does not write out itself (comparisons of two fields, ``len``,
numeric widening) is a compiled closure bound the same way (``_f0``). So the
semantics are those of :mod:`playbook.conditions.predicate` by construction,
and the Python/SQL agreement tests run through this code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from types import CodeType
from typing import Any

from playbook.conditions import ir
from playbook.conditions.predicate import Predicate, closure_predicate

__all__ = [
    "FailingMask",
    "RowMatcher",
    "compile_failing",
    "compile_first",
    "compile_matching",
    "compile_predicate",
    "to_python",
]

FailingMask = Callable[[Mapping[str, Any]], int]
"""Bit ``i`` is set when condition ``i`` of a gate does not hold."""

RowMatcher = Callable[[Mapping[str, Any]], int]
"""A decision table's rows over a deal: a row position or a mask of matching rows."""

# Only these operators are ever written into generated source.
_ORDERED = {"!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_EMPTY_TEXT = (None, "")
_EMPTY_LIST: tuple[object, ...] = (None, [], ())


class _Writer:
    """Writes expressions as source over ``get`` (the deal's ``.get``), binding every value."""

    def __init__(self) -> None:
        self.names: dict[str, object] = {}
        self._temps = 0

    def bind(self, prefix: str, value: object) -> str:
        name = f"_{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    def temp(self) -> str:
        self._temps += 1
        return f"_t{self._temps}"

    def expr(self, node: ir.Expr) -> str:
        if isinstance(node, ir.Const):
            return "True" if node.value else "False"
        if isinstance(node, ir.And | ir.Or):
            joiner = " and " if isinstance(node, ir.And) else " or "
            return "(" + joiner.join(self.expr(item) for item in node.items) + ")"
        if isinstance(node, ir.Not):
            return f"(not {self.expr(node.item)})"
        written = self._atom(node)
        if written is not None:
            return written
        # Anything else runs the closure compiler's own predicate for that part.
        return f"{self.bind('f', closure_predicate(node))}(deal)"

    def _atom(self, node: ir.Expr) -> str | None:
        if isinstance(node, ir.Has):
            name = self.bind("n", node.field.name)
            kind = node.field.type.kind
            if kind in ("string", "list"):
                empty = self.bind("c", _EMPTY_TEXT if kind == "string" else _EMPTY_LIST)
                return f"(get({name}) not in {empty})"
            return f"(get({name}) is not None)"
        if isinstance(node, ir.Contains):
            name, item, t = self.bind("n", node.field.name), self.bind("c", node.value), self.temp()
            return f"(({t} := get({name})) is not None and {item} in {t})"
        if isinstance(node, ir.In) and isinstance(node.operand, ir.FieldRef):
            name = self.bind("n", node.operand.name)
            values = self.bind("c", frozenset(node.values))
            if not node.negated:
                return f"(get({name}) in {values})"  # None is never in the values
            t = self.temp()
            return f"(({t} := get({name})) is not None and {t} not in {values})"
        if (
            isinstance(node, ir.Compare)
            and isinstance(node.left, ir.FieldRef)
            and isinstance(node.right, ir.Literal)
        ):
            return self._compare(node.left.name, node.op, node.right.value)
        return None

    def _compare(self, field: str, op: str, value: ir.LiteralValue) -> str | None:
        name = self.bind("n", field)
        if isinstance(value, bool):
            wanted = value if op == "==" else not value
            return f"(get({name}) is {'True' if wanted else 'False'})"
        literal = self.bind("c", value)
        if op == "==":
            return f"(get({name}) == {literal})"
        token = _ORDERED.get(op)
        if token is None:
            return None
        t = self.temp()
        return f"(({t} := get({name})) is not None and {t} {token} {literal})"


def to_python(expr: ir.Expr) -> Predicate:
    """A predicate that is true exactly when ``expr`` holds for a deal's field values.

    The deal is a mapping from field id to an already-typed value; a missing
    key and ``None`` are both null. The predicate has no side effects and is
    safe to call from several threads. It is one generated function
    (:func:`compile_predicate`).
    """
    return compile_predicate(expr)


def compile_predicate(expr: ir.Expr) -> Predicate:
    """One generated function that is true exactly when ``expr`` holds for a deal's values."""
    writer = _Writer()
    body = writer.expr(expr)
    source = f"def predicate(deal):\n    get = deal.get\n    return {body}\n"
    return _build(source, writer.names, "predicate")  # type: ignore[no-any-return]


def compile_failing(exprs: Sequence[ir.Expr]) -> FailingMask:
    """One generated function whose result has bit ``i`` set when ``exprs[i]`` does not hold."""
    return _mask_function(exprs, "if not", "failing")


def compile_matching(rows: Sequence[ir.Expr]) -> RowMatcher:
    """One generated function whose result has bit ``i`` set when ``rows[i]`` holds.

    A decision table's hit policies that must see every matching row use it:
    one call per deal, however many rows.
    """
    return _mask_function(rows, "if", "matching")


def compile_first(rows: Sequence[ir.Expr]) -> RowMatcher:
    """One generated function: the position of the first of ``rows`` that holds, else ``-1``.

    It stops at that row, as a hand-written ``if`` chain does.
    """
    writer = _Writer()
    lines = ["def first(deal):", "    get = deal.get"]
    for position, expr in enumerate(rows):
        lines.append(f"    if {writer.expr(expr)}:")
        lines.append(f"        return {position}")
    lines.append("    return -1")
    return _build("\n".join(lines) + "\n", writer.names, "first")  # type: ignore[no-any-return]


def _mask_function(exprs: Sequence[ir.Expr], test: str, function: str) -> RowMatcher:
    writer = _Writer()
    lines = [f"def {function}(deal):", "    get = deal.get", "    mask = 0"]
    for index, expr in enumerate(exprs):
        lines.append(f"    {test} {writer.expr(expr)}:")
        lines.append(f"        mask |= {1 << index}")
    lines.append("    return mask")
    return _build("\n".join(lines) + "\n", writer.names, function)  # type: ignore[no-any-return]


def _build(source: str, names: dict[str, object], function: str) -> Any:
    # The source holds generated identifiers, keywords and the operators of _ORDERED only:
    # every name and value from a playbook is bound in `namespace`, never in the text.
    namespace: dict[str, Any] = {"__builtins__": {}, **names}
    exec(_code(source, function), namespace)  # noqa: S102
    return namespace[function]


@functools.lru_cache(maxsize=1024)
def _code(source: str, function: str) -> CodeType:
    # The source depends only on a condition's shape (its values are bound names), so
    # validating many playbooks compiles each shape once (compile() costs ~50 µs).
    return compile(source, f"<playbook.conditions.codegen {function}>", "exec")
