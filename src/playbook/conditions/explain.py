"""Explain a condition: the result of each atomic comparison, for "why was I blocked?"."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from playbook.conditions.codegen import to_python
from playbook.conditions.ir import Compare, Contains, Expr, Has, In, atoms, operand_fields
from playbook.conditions.render import render

__all__ = ["AtomResult", "evaluate_atoms"]


@dataclass(frozen=True, slots=True)
class AtomResult:
    """One atomic comparison of a condition, the values it read, and whether it held."""

    atom: Compare | In | Contains | Has
    text: str
    values: Mapping[str, Any]
    result: bool


def evaluate_atoms(expr: Expr, values: Mapping[str, Any]) -> list[AtomResult]:
    """Every atom of ``expr`` (depth first, left to right, none skipped by short-circuit).

    ``text`` is the atom in canonical string form, ``values`` maps each field
    it reads to the value found (None when missing), and ``result`` is what
    :func:`~playbook.conditions.to_python` computes for the atom alone.
    """
    return [
        AtomResult(
            atom=atom,
            text=render(atom),
            values={ref.name: values.get(ref.name) for ref in operand_fields(atom)},
            result=to_python(atom)(values),
        )
        for atom in atoms(expr)
    ]
