"""The condition language: one syntax for every rule of a playbook.

Entry and exit criteria, action ``when``, transition guards, KPI ``where`` and
escalation triggers are all conditions. :func:`parse_condition` reads either
form (a one-line string, or the structured YAML form) and type-checks it
against the declared fields into one IR (:mod:`playbook.conditions.ir`), which
compiles to a fast Python predicate (:func:`to_python`) or, through
:mod:`playbook.conditions.sql` (imported separately, because it loads
SQLAlchemy), to an SQL ``WHERE`` clause.

Null semantics are two-valued: an atomic comparison with a missing (or None)
operand is false; ``not`` negates the result. See ``docs/conditions.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, tzinfo

from playbook.conditions.codegen import to_python
from playbook.conditions.explain import AtomResult, evaluate_atoms
from playbook.conditions.fieldtypes import FieldKind, FieldType
from playbook.conditions.ir import (
    FALSE,
    TRUE,
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
    Not,
    Or,
    all_of,
    any_of,
    referenced_fields,
)
from playbook.conditions.predicate import Predicate
from playbook.conditions.render import render
from playbook.conditions.satisfiable import is_satisfiable
from playbook.conditions.structured import parse_source
from playbook.conditions.typecheck import check

__all__ = [
    "FALSE",
    "TRUE",
    "And",
    "AtomResult",
    "Compare",
    "Const",
    "Contains",
    "Expr",
    "FieldKind",
    "FieldRef",
    "FieldType",
    "Has",
    "In",
    "Len",
    "Literal",
    "Not",
    "Or",
    "Predicate",
    "all_of",
    "any_of",
    "evaluate_atoms",
    "is_satisfiable",
    "parse_condition",
    "referenced_fields",
    "render",
    "to_python",
]


def parse_condition(source: object, fields: Mapping[str, FieldType], *, tz: tzinfo = UTC) -> Expr:
    """Parse and type-check a condition in either form into the IR.

    ``source`` is a condition string, or the structured form as plain data
    (mappings, lists, strings, numbers, booleans; ``true``/``false`` are the
    constant conditions). Naive datetime literals are read in ``tz``.

    Raises :class:`~playbook.errors.ConditionError` for the first problem, with
    ``code`` PB401 (syntax), PB402 (unknown field), PB403 (type mismatch),
    PB404 (unknown function), PB405 (operator not for this type) or PB406 (bad
    literal), a ``hint`` (did-you-mean where it helps) and ``details``:
    ``offset``/``length`` (characters) inside a condition string, and
    ``subpath`` inside the structured form.
    """
    return check(parse_source(source), fields, tz)
