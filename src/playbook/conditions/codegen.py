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
    "build_function",
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
    """Writes expressions as source over ``get`` (the deal's ``.get``), binding every value.

    ``hoisted``: each field is read once, into a local (``_v0``...), by the lines of
    :meth:`prelude`; a table's rows read the same few fields over and over.
    """

    def __init__(self, *, hoisted: bool = False) -> None:
        self.names: dict[str, object] = {}
        self._temps = 0
        self._hoisted = hoisted
        self._locals: dict[str, str] = {}
        self._present: frozenset[str] = frozenset()
        """Hoisted fields an earlier item of the enclosing ``and`` proved not null."""

    def bind(self, prefix: str, value: object) -> str:
        name = f"_{prefix}{len(self.names)}"
        self.names[name] = value
        return name

    def temp(self) -> str:
        self._temps += 1
        return f"_t{self._temps}"

    def read(self, field: str) -> tuple[str, bool]:
        """The source reading ``field``, and whether it is a plain local (read once)."""
        if not self._hoisted:
            return f"get({self.bind('n', field)})", False
        local = self._locals.get(field)
        if local is None:
            local = self._locals[field] = f"_v{len(self._locals)}"
        return local, True

    def prelude(self) -> list[str]:
        """The lines that read each hoisted field into its local."""
        return [
            f"    {local} = get({self.bind('n', field)})" for field, local in self._locals.items()
        ]

    def present_and(self, field: str, test: Callable[[str], str]) -> str:
        """``field`` is not null and ``test`` (written over the value) holds."""
        read, plain = self.read(field)
        if plain and field in self._present:
            return f"({test(read)})"
        if plain:
            return f"({read} is not None and {test(read)})"
        t = self.temp()
        return f"(({t} := {read}) is not None and {test(t)})"

    def expr(self, node: ir.Expr) -> str:
        if isinstance(node, ir.Const):
            return "True" if node.value else "False"
        if isinstance(node, ir.And):
            return self._conjunction(node)
        if isinstance(node, ir.Or):
            return "(" + " or ".join(self.expr(item) for item in node.items) + ")"
        if isinstance(node, ir.Not):
            return f"(not {self.expr(node.item)})"
        written = self._atom(node)
        if written is not None:
            return written
        # Anything else runs the closure compiler's own predicate for that part.
        return f"{self.bind('f', closure_predicate(node))}(deal)"

    def _conjunction(self, node: ir.And) -> str:
        # Once an item holds, the fields it compares are not null for the items after it:
        # those skip their own null check (a table's row tests a field two or three times).
        outer = self._present
        written: list[str] = []
        for item in node.items:
            written.append(self.expr(item))
            if self._hoisted and isinstance(item, ir.Compare | ir.In | ir.Contains | ir.Has):
                self._present = self._present | _proven_present(item)
        self._present = outer
        return "(" + " and ".join(written) + ")"

    def _atom(self, node: ir.Expr) -> str | None:
        if isinstance(node, ir.Has):
            read, _ = self.read(node.field.name)
            kind = node.field.type.kind
            if kind in ("string", "list"):
                empty = self.bind("c", _EMPTY_TEXT if kind == "string" else _EMPTY_LIST)
                return f"({read} not in {empty})"
            return f"({read} is not None)"
        if isinstance(node, ir.Contains):
            item = self.bind("c", node.value)
            return self.present_and(node.field.name, lambda v: f"{item} in {v}")
        if isinstance(node, ir.In) and isinstance(node.operand, ir.FieldRef):
            values = self.bind("c", frozenset(node.values))
            if not node.negated:
                read, _ = self.read(node.operand.name)
                return f"({read} in {values})"  # None is never in the values
            return self.present_and(node.operand.name, lambda v: f"{v} not in {values}")
        if (
            isinstance(node, ir.Compare)
            and isinstance(node.left, ir.FieldRef)
            and isinstance(node.right, ir.Literal)
        ):
            return self._compare(node.left.name, node.op, node.right.value)
        return None

    def _compare(self, field: str, op: str, value: ir.LiteralValue) -> str | None:
        if isinstance(value, bool):
            wanted = value if op == "==" else not value
            read, _ = self.read(field)
            return f"({read} is {'True' if wanted else 'False'})"
        literal = self.bind("c", value)
        if op == "==":
            read, _ = self.read(field)
            return f"({read} == {literal})"
        token = _ORDERED.get(op)
        if token is None:
            return None
        return self.present_and(field, lambda v: f"{v} {token} {literal}")


def _proven_present(atom: ir.Compare | ir.In | ir.Contains | ir.Has) -> frozenset[str]:
    """The fields that cannot be null when ``atom`` holds (an atom on a null field is false)."""
    return frozenset(ref.name for ref in ir.operand_fields(atom))


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
    return build_function(source, writer.names, "predicate")  # type: ignore[no-any-return]


def compile_failing(exprs: Sequence[ir.Expr]) -> FailingMask:
    """One generated function whose result has bit ``i`` set when ``exprs[i]`` does not hold."""
    return _mask_function(exprs, "if not", "failing", hoisted=False)


def compile_matching(rows: Sequence[ir.Expr]) -> RowMatcher:
    """One generated function whose result has bit ``i`` set when ``rows[i]`` holds.

    A decision table's hit policies that must see every matching row use it:
    one call per deal, however many rows.
    """
    return _mask_function(rows, "if", "matching", hoisted=True)


def compile_first(rows: Sequence[ir.Expr]) -> RowMatcher:
    """One generated function: the position of the first of ``rows`` that holds, else ``-1``.

    It stops at that row, as a hand-written ``if`` chain does.
    """
    writer = _Writer(hoisted=True)
    body: list[str] = []
    for position, expr in enumerate(rows):
        body.append(f"    if {writer.expr(expr)}:")
        body.append(f"        return {position}")
    lines = ["def first(deal):", "    get = deal.get", *writer.prelude(), *body, "    return -1"]
    return _build_closure(lines, writer.names, "first")  # type: ignore[no-any-return]


def _mask_function(
    exprs: Sequence[ir.Expr], test: str, function: str, *, hoisted: bool
) -> RowMatcher:
    # A gate's few criteria read each field once or twice: reading them ahead
    # would cost more than it saves there (hoisted is for a table's many rows).
    writer = _Writer(hoisted=hoisted)
    body: list[str] = []
    for index, expr in enumerate(exprs):
        body.append(f"    {test} {writer.expr(expr)}:")
        body.append(f"        mask |= {1 << index}")
    lines = [f"def {function}(deal):", "    get = deal.get", *writer.prelude(), "    mask = 0"]
    lines += [*body, "    return mask"]
    if hoisted:
        return _build_closure(lines, writer.names, function)  # type: ignore[no-any-return]
    return build_function("\n".join(lines) + "\n", writer.names, function)  # type: ignore[no-any-return]


def build_function(source: str, names: dict[str, object], function: str) -> Any:
    """The function ``function`` defined by generated ``source``, its globals ``names``.

    The caller promises that ``source`` holds only identifiers, keywords, operators
    and numbers it wrote itself: every name and value from a playbook or a user's
    class is one of ``names``, bound, never written into the text. No builtins.
    """
    # Here the source holds generated identifiers, keywords and the operators of _ORDERED.
    namespace: dict[str, Any] = {"__builtins__": {}, **names}
    exec(_code(source, function), namespace)  # noqa: S102
    return namespace[function]


def _build_closure(lines: Sequence[str], names: dict[str, object], function: str) -> Any:
    """The function of ``lines`` with the bound names as variables of an enclosing scope.

    A table's rows read a hundred constants: as closure cells they are read like
    locals, where the globals of :func:`build_function` cost a dictionary lookup each.
    """
    bound = sorted(names)
    outer = [f"def _outer({', '.join(bound)}):", *(f"    {line}" for line in lines)]
    outer.append(f"    return {function}")
    make = build_function("\n".join(outer) + "\n", {}, "_outer")
    return make(*(names[name] for name in bound))


@functools.lru_cache(maxsize=1024)
def _code(source: str, function: str) -> CodeType:
    # The source depends only on a condition's shape (its values are bound names), so
    # validating many playbooks compiles each shape once (compile() costs ~50 µs).
    return compile(source, f"<playbook.conditions.codegen {function}>", "exec")
