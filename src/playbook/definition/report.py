"""Where the semantic checks put what they find: diagnostics at a document's positions.

Building the model (:mod:`playbook.definition.build`) and the lint passes
(:mod:`playbook.definition.lint`) both report through one :class:`Reporter`,
so every problem of a file lands in one list, each at its exact position.
"""

from __future__ import annotations

from typing import Any, TypedDict, Unpack

from playbook.definition.loader import Document, YamlPath
from playbook.diagnostics import RULES, Diagnostic, Severity, path_to_str
from playbook.errors import ConditionError
from playbook.i18n import Message

__all__ = ["Placement", "Reporter", "positioned"]


class Placement(TypedDict, total=False):
    """Where and how a diagnostic is placed, beyond its path: see :func:`positioned`."""

    hint: Message | None
    key: bool
    at: tuple[int, int] | None
    severity: Severity | None
    extra: dict[str, Any] | None


def positioned(
    document: Document, path: YamlPath, code: str, message: Message, **placement: Unpack[Placement]
) -> Diagnostic:
    """A diagnostic at the value of ``path`` in ``document``.

    At its key when ``key``, or at the ``(line, column)`` of ``at``; the
    severity defaults to the rule's; ``extra`` is carried along for the caller.
    """
    at = placement.get("at")
    if at is None:
        mark = document.mark(path, key=placement.get("key", False))
        at = (mark.line, mark.column)
    return Diagnostic(
        file=document.file,
        line=at[0],
        column=at[1],
        severity=placement.get("severity") or RULES[code].severity,
        code=code,
        msg=message,
        path=path_to_str(path),
        hint_msg=placement.get("hint"),
        extra=placement.get("extra") or {},
    )


class Reporter:
    """Collects the diagnostics of one document, positioned through its marks."""

    def __init__(self, document: Document) -> None:
        self.doc = document
        self.diagnostics: list[Diagnostic] = []

    def report(
        self, path: YamlPath, code: str, message: Message, **placement: Unpack[Placement]
    ) -> None:
        """Record ``code`` at ``path`` (see :func:`positioned` for the placement)."""
        self.diagnostics.append(positioned(self.doc, path, code, message, **placement))

    def line(self, path: YamlPath) -> int:
        """The 1-based line where ``path`` starts."""
        return self.doc.mark(path).line

    def condition_error(self, path: YamlPath, source: object, error: ConditionError) -> None:
        """Record a condition's problem at its character inside a string, or its subpath."""
        offset = error.details.get("offset")
        subpath = tuple(error.details.get("subpath", ()))
        at: tuple[int, int] | None = None
        target = path
        if isinstance(source, str) and isinstance(offset, int):
            at = self.doc.locate_in_scalar(path, offset)
        elif subpath:
            target = (*path, *subpath)
        self.report(target, error.code, error.msg, hint=error.hint_msg, at=at, severity="error")
