"""Where the semantic checks put what they find: diagnostics at a document's positions.

Building the model (:mod:`playbook.definition.build`) and the lint passes
(:mod:`playbook.definition.lint`) both report through one :class:`Reporter`,
so every problem of a file lands in one list, each at its exact position.
"""

from __future__ import annotations

from playbook.definition.loader import Document, YamlPath
from playbook.diagnostics import RULES, Diagnostic, Severity, path_to_str
from playbook.errors import ConditionError

__all__ = ["Reporter"]


class Reporter:
    """Collects the diagnostics of one document, positioned through its marks."""

    def __init__(self, document: Document) -> None:
        self.doc = document
        self.diagnostics: list[Diagnostic] = []

    def report(
        self,
        path: YamlPath,
        code: str,
        message: str,
        *,
        hint: str | None = None,
        key: bool = False,
        at: tuple[int, int] | None = None,
        severity: Severity | None = None,
    ) -> None:
        """Record ``code`` at ``path`` (its key when ``key``; at ``at`` when given)."""
        if at is None:
            mark = self.doc.mark(path, key=key)
            at = (mark.line, mark.column)
        self.diagnostics.append(
            Diagnostic(
                file=self.doc.file,
                line=at[0],
                column=at[1],
                severity=severity or RULES[code].severity,
                code=code,
                message=message,
                path=path_to_str(path),
                hint=hint,
            )
        )

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
        self.report(target, error.code, error.message, hint=error.hint, at=at, severity="error")
