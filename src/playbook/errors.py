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
    - :class:`PathNotFoundError` (``PB001``) a path named on the command line does not exist
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
    - :class:`EscalationError` (``PB700``) an escalation rule, sweep or sink cannot proceed
        - :class:`NotificationError` (``PB702``) a sink failed to deliver (retried later)
        - :class:`EscalationNotFoundError` (``PB703``) an unknown escalation id
    - :class:`CalendarError` (``PB701``) a calendar with no working day or unknown holidays
    - :class:`KpiError` (``PB800``) a KPI cannot be computed as asked
        - :class:`PeriodError` (``PB801``) a period that does not parse
        - :class:`GroupingError` (``PB802``) an unknown ``--by`` grouping
    - :class:`ScenarioError` (``PB900``) an invalid playbook test scenario
    - :class:`DiffError` (``PB910``) playbooks that cannot be compared
    - :class:`MigrationError` (``PB920``) a migration that strands deals or cycles
    - :class:`GraphvizError` (``PB930``) Graphviz missing or failing
    - :class:`TargetExistsError` (``PB940``) ``playbook init`` would overwrite a file
    - :class:`StoreError` (``PB600``) the deal store cannot do what was asked
        - :class:`DealNotFoundError` (``PB601``) no deal with this id
        - :class:`ConflictError` (``PB602``) someone else changed the deal first
        - :class:`DatabaseUnavailableError` (``PB603``) the database cannot be reached
        - :class:`SchemaVersionError` (``PB604``) the database schema is not the one expected
        - :class:`ImportFileError` (``PB610``) a file to import is not usable at all
        - :class:`MappingError` (``PB611``) an import mapping names unknown things
        - :class:`ImportRowError` (``PB612``) one row of an import cannot be used
        - :class:`PlaybookMismatchError` (``PB605``) a file differs from the registered text
        - :class:`DatabaseLockedError` (``PB606``) another writer holds the database's lock
        - :class:`DatabaseReadOnlyError` (``PB607``) the database cannot be written
        - :class:`DiskFullError` (``PB608``) the database's disk (or quota) is full
        - :class:`ForeignHistoryError` (``PB609``) ``alembic_version`` is another application's
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from playbook.diagnostics import Diagnostic

__all__ = [
    "ActorError",
    "CalendarError",
    "ConditionError",
    "ConflictError",
    "DatabaseUnavailableError",
    "DealError",
    "DealFieldError",
    "DealNotFoundError",
    "DiffError",
    "EscalationError",
    "EscalationNotFoundError",
    "EvidenceMissingError",
    "ForeignHistoryError",
    "GraphvizError",
    "GroupingError",
    "ImportFileError",
    "ImportRowError",
    "InputFileError",
    "InvalidPlaybookError",
    "KpiError",
    "MappingError",
    "MigrationError",
    "MissingClockError",
    "MoveBlockedError",
    "NotificationError",
    "OverrideError",
    "PathNotFoundError",
    "PeriodError",
    "PermissionDeniedError",
    "PlaybookError",
    "PlaybookVersionError",
    "ScenarioError",
    "SchemaVersionError",
    "StoreError",
    "TargetExistsError",
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
    exit_code = 2  # bad input to the command that needed the playbook (validate itself says 1)

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


class BlockedMove(Protocol):
    """What a :class:`MoveBlockedError` carries: the engine's decision, seen by its shape.

    The engine's :class:`~playbook.runtime.decisions.Decision` has this shape; a
    caller that needs its reasons narrows with ``isinstance(error.decision, Decision)``.
    (A structural type keeps this module a leaf: the engine imports the errors,
    never the other way round.)
    """

    @property
    def allowed(self) -> bool:
        """False: the move is blocked."""

    @property
    def deal_id(self) -> str:
        """The deal that may not move."""

    @property
    def from_stage(self) -> str:
        """The stage the deal is in."""

    @property
    def to_stage(self) -> str:
        """The stage it may not move to."""

    @property
    def codes(self) -> tuple[str, ...]:
        """The reason codes (PB541-PB547), in order."""

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """The JSON form, messages in ``lang``."""


class MoveBlockedError(PlaybookError):
    """``advance`` was asked for a move that the engine blocks; ``decision`` says why."""

    code = "PB540"
    exit_code = 1

    def __init__(self, message: str, decision: BlockedMove, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.decision = decision


class MissingClockError(PlaybookError, TypeError):
    """An engine call without ``now``: the engine never reads the clock itself."""

    code = "PB550"


class StoreError(PlaybookError):
    """The deal store cannot do what was asked."""

    code = "PB600"


class DealNotFoundError(StoreError, KeyError):
    """No deal has this id (or external id)."""

    code = "PB601"

    def __str__(self) -> str:
        return PlaybookError.__str__(self)


class ConflictError(StoreError):
    """The deal changed since it was read; ``details`` say who changed it last and when."""

    code = "PB602"
    exit_code = 1


class DatabaseUnavailableError(StoreError):
    """The database URL cannot be opened or the server cannot be reached."""

    code = "PB603"
    exit_code = 3


class SchemaVersionError(StoreError):
    """The database schema is newer than this playbook release, or not created yet."""

    code = "PB604"
    exit_code = 3


class ImportFileError(StoreError, ValueError):
    """A file to import is not usable at all: not CSV/JSON, no header, wrong delimiter."""

    code = "PB610"


class MappingError(StoreError, ValueError):
    """An import mapping names fields, columns or stages that do not exist."""

    code = "PB611"


class ImportRowError(StoreError, ValueError):
    """One row of an import cannot be used; ``line`` is its row number in the file."""

    code = "PB612"


class PlaybookMismatchError(StoreError):
    """A playbook file's id@version is registered in the store with a different text.

    The registered text is the rule for every deal pinned to that version: an
    edited copy under the same version is refused (bump the version, register it).
    """

    code = "PB605"


class DatabaseLockedError(StoreError):
    """Another writer held the database's lock longer than this command waits."""

    code = "PB606"
    exit_code = 3


class DatabaseReadOnlyError(StoreError):
    """The database cannot be written: a read-only file, replica, transaction or grant."""

    code = "PB607"
    exit_code = 3


class DiskFullError(StoreError):
    """The database's disk, quota or size limit is full; nothing of the write was kept."""

    code = "PB608"
    exit_code = 3


class ForeignHistoryError(SchemaVersionError):
    """The database has no store, and its ``alembic_version`` holds another application's history.

    The store keeps its own version table (``playbook_alembic_version``) and
    never touches the host application's; ``playbook db init`` adds the store.
    """

    code = "PB609"


class PathNotFoundError(PlaybookError, FileNotFoundError):
    """A file or directory named on the command line does not exist, or holds no playbook."""

    code = "PB001"


class EscalationError(PlaybookError):
    """An escalation rule, sweep or notification cannot proceed."""

    code = "PB700"


class CalendarError(PlaybookError, ValueError):
    """A working calendar that cannot be used (no working day, unknown holiday country)."""

    code = "PB701"


class NotificationError(EscalationError):
    """A notification sink failed to deliver; the delivery is recorded and retried later."""

    code = "PB702"
    exit_code = 1


class EscalationNotFoundError(EscalationError, KeyError):
    """An escalation id that the store does not have."""

    code = "PB703"

    def __str__(self) -> str:
        return PlaybookError.__str__(self)


class KpiError(PlaybookError):
    """A KPI cannot be computed as asked."""

    code = "PB800"


class PeriodError(KpiError, ValueError):
    """A period (``2017-Q4``, ``2017-W52``, ``--from/--to``) that does not parse or is empty."""

    code = "PB801"


class GroupingError(KpiError, ValueError):
    """A KPI grouping (``--by``) that is neither built in nor an enum field."""

    code = "PB802"


class ScenarioError(PlaybookError, ValueError):
    """A playbook test scenario file that is invalid (unknown stage, field, rule...)."""

    code = "PB900"


class DiffError(PlaybookError, ValueError):
    """Two playbooks that cannot be compared (different playbook ids)."""

    code = "PB910"


class MigrationError(PlaybookError, ValueError):
    """A version migration that would strand deals or whose stage mapping has a cycle."""

    code = "PB920"


class GraphvizError(PlaybookError):
    """Graphviz is needed (``--format svg``) but missing or failing."""

    code = "PB930"
    exit_code = 3


class TargetExistsError(PlaybookError, FileExistsError):
    """``playbook init`` would overwrite an existing file."""

    code = "PB940"
