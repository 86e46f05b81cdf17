"""The one exception tree of playbook.

Every failure a user can cause is a :class:`PlaybookError` subclass with a
stable ``code`` (never reused, never renumbered) and an ``exit_code`` that the
CLI uses. Errors carry data (file, line, column, path, values) and not only
text, so that callers can render them in any format.

Codes by area:

===========  ==================================================================
``PB1xx``    reading a file: size, encoding, YAML syntax, strict-YAML rules
``PB2xx``    the JSON Schema of the playbook format
``PB3xx``    semantic checks across the playbook (references, graph, types)
``PB4xx``    the condition language
``PB5xx``    the engine: deals, actors, stages, actions, decisions
``PB6xx``    the deal store, imports and exports
``PB7xx``    escalations, calendars and notification sinks
``PB8xx``    KPIs and reports
``PB9xx``    playbook tests, diffs and migrations
===========  ==================================================================

Exit codes (as in compilers and linters): 0 clean or allowed, 1 problems found
or move blocked, 2 bad input or usage, 3 a fatal environment problem (a database
that cannot be reached, for example).

The classes below:

- :class:`PlaybookError` (``PB000``) the root
    - :class:`InputFileError` (``PB100``) a file cannot be read as a playbook
    - :class:`InvalidPlaybookError` (``PB200``) a playbook has error diagnostics
    - :class:`ConditionError` (``PB400``) a condition does not parse or type-check
    - :class:`DealError` (``PB500``) a deal record is not usable with the playbook
        - :class:`DealFieldError` (``PB501``) a field value has the wrong type
        - :class:`UnknownStageError` (``PB502``) a stage the playbook does not have
        - :class:`PlaybookVersionError` (``PB503``) the deal is pinned to another version
    - :class:`ActorError` (``PB510``) the actor has no role or an unknown one
    - :class:`UnknownActionError` (``PB520``) an action id the stage does not define
    - :class:`EvidenceMissingError` (``PB521``) completing an action without its evidence
    - :class:`PermissionDeniedError` (``PB530``) a role may not do this
    - :class:`OverrideError` (``PB531``) an override without reason or by a role not allowed
    - :class:`MoveBlockedError` (``PB540``) ``advance`` on a move the engine blocks
    - :class:`MissingClockError` (``PB550``) an engine call without ``now``
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from playbook.diagnostics import Diagnostic
    from playbook.engine import Decision

__all__ = [
    "ActorError",
    "ConditionError",
    "DealError",
    "DealFieldError",
    "EvidenceMissingError",
    "InputFileError",
    "InvalidPlaybookError",
    "MissingClockError",
    "MoveBlockedError",
    "OverrideError",
    "PermissionDeniedError",
    "PlaybookError",
    "PlaybookVersionError",
    "UnknownActionError",
    "UnknownStageError",
]


class PlaybookError(Exception):
    """Root of every error that playbook raises on purpose.

    ``message`` says what went wrong and what to do; ``hint`` may add a
    did-you-mean. Position attributes are set when the error comes from a file.
    """

    code: ClassVar[str] = "PB000"
    exit_code: ClassVar[int] = 2

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        path: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.details: dict[str, Any] = dict(details or {})
        if code is not None:
            # A finer code from the same area (e.g. PB103 for a duplicate key).
            self.code = code  # type: ignore[misc]

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line:
                where += f":{self.line}"
                if self.column:
                    where += f":{self.column}"
            where += ": "
        text = f"{where}{self.code} {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description of the error, for ``--format json``."""
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        for key in ("hint", "file", "line", "column", "path"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.details:
            data["details"] = self.details
        return data


class InputFileError(PlaybookError, ValueError):
    """A file cannot be read as a playbook: size, encoding, YAML syntax, strict-YAML rules."""

    code = "PB100"


class InvalidPlaybookError(PlaybookError, ValueError):
    """A playbook failed validation; ``diagnostics`` lists every problem found."""

    code = "PB200"
    exit_code = 1

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.diagnostics = list(diagnostics)


class ConditionError(PlaybookError, ValueError):
    """A condition does not parse, names an unknown field, or compares mismatched types."""

    code = "PB400"


class DealError(PlaybookError, ValueError):
    """A deal record cannot be used with this playbook."""

    code = "PB500"


class DealFieldError(DealError):
    """A deal field holds a value of the wrong type for its declared field type."""

    code = "PB501"


class UnknownStageError(DealError, KeyError):
    """A stage id that the playbook (version) does not define."""

    code = "PB502"

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return PlaybookError.__str__(self)


class PlaybookVersionError(DealError):
    """The deal is pinned to a different playbook id or version than the engine's."""

    code = "PB503"


class ActorError(PlaybookError, ValueError):
    """The actor has no role, or a role that the playbook does not declare."""

    code = "PB510"


class UnknownActionError(PlaybookError, KeyError):
    """An action id that the deal's current stage does not define."""

    code = "PB520"

    def __str__(self) -> str:
        return PlaybookError.__str__(self)


class EvidenceMissingError(PlaybookError, ValueError):
    """A required action needs evidence (a field value) that was not given."""

    code = "PB521"
    exit_code = 1


class PermissionDeniedError(PlaybookError, PermissionError):
    """The actor's role is not allowed to do this."""

    code = "PB530"
    exit_code = 1


class OverrideError(PlaybookError, PermissionError):
    """An override without a reason, or by a role the playbook does not allow to override."""

    code = "PB531"
    exit_code = 1


class MoveBlockedError(PlaybookError):
    """``advance`` was asked for a move that the engine blocks; ``decision`` says why."""

    code = "PB540"
    exit_code = 1

    def __init__(self, message: str, decision: Decision, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.decision = decision


class MissingClockError(PlaybookError, TypeError):
    """An engine call without ``now``: the engine never reads the clock itself."""

    code = "PB550"
