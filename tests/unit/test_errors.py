"""The error tree's module is a leaf, and a blocked move carries the engine's decision."""

from __future__ import annotations

import ast
from pathlib import Path

from playbook.errors import BlockedMove, MoveBlockedError
from playbook.runtime.decisions import Decision

ERRORS = Path(__file__).resolve().parents[2] / "src" / "playbook" / "errors"


def test_errors_imports_nothing_from_the_project_but_diagnostics() -> None:
    """The errors package sits below everything: only the (leaf) diagnostics and i18n modules."""
    imported = {
        name
        for module in sorted(ERRORS.glob("*.py"))
        for name in _project_imports(ast.parse(module.read_text(encoding="utf-8")))
    }
    assert imported <= {
        "playbook.diagnostics",
        "playbook.i18n",
        "playbook.errors.base",
        "playbook.errors.tree",
    }


def _project_imports(tree: ast.Module) -> set[str]:
    imported = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("playbook")
    }
    imported |= {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.startswith("playbook")
    }
    return imported


def test_a_decision_has_the_shape_a_blocked_move_error_carries() -> None:
    """The engine's Decision fits BlockedMove; the error keeps the very object."""
    decision = Decision(False, "D-1", "lead", "won", (), False)
    shape: BlockedMove = decision
    error = MoveBlockedError("blocked", shape)
    assert error.decision is decision
    assert (error.decision.allowed, error.decision.codes) == (False, ())
    assert error.decision.to_dict()["to_stage"] == "won"
