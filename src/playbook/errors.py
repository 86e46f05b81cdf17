"""The one exception tree of playbook.

Every failure a user can cause is a :class:`PlaybookError` subclass with a
stable ``code`` (never reused, never renumbered) and an ``exit_code`` that the
CLI uses. Errors carry data (file, line, column, path, values) and not only
text, so that callers can render them in any format.

Codes by area:

===========  ==================================================================
``PB05x``    the HTTP API: requests it cannot use (``playbook serve``)
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
        - :class:`UnknownFieldError` (``PB504``) a field the playbook does not declare
        - :class:`UnknownActivityKindError` (``PB505``) an activity kind it does not declare
    - :class:`ActorError` (``PB510``) the actor has no role or an unknown one
    - :class:`UnknownActionError` (``PB520``) an action id the stage does not define
    - :class:`EvidenceMissingError` (``PB521``) completing an action without its evidence
    - :class:`PermissionDeniedError` (``PB530``) a role may not do this
    - :class:`OverrideError` (``PB531``) an override without reason or by a role not allowed
    - :class:`AuthenticationError` (``PB532``) no token, or an unknown, revoked or expired one
    - :class:`MoveBlockedError` (``PB540``) ``advance`` on a move the engine blocks
    - :class:`MissingClockError` (``PB550``) an engine call without ``now``
    - :class:`HookError` (``PB560``) a hook that cannot be registered or run (``async def``)
        - :class:`HookFailedError` (``PB561``) a hook raised after the change was stored
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
        - :class:`StaleVersionError` (``PB609``) a request's ``If-Match`` names an older version
        - :class:`ForeignHistoryError` (``PB613``) ``alembic_version`` is another application's
        - :class:`PersonError` (``PB620``) a person record that cannot be used
            - :class:`PersonNotFoundError` (``PB621``) no person with this name
        - :class:`TokenError` (``PB622``) an API token that cannot be made or found
    - :class:`RequestError` (``PB050``) an HTTP request the API cannot use
        - :class:`MalformedBodyError` (``PB051``) a body that is not JSON
        - :class:`InvalidBodyError` (``PB052``) wrong types, missing or unknown fields
        - :class:`BodyTooLargeError` (``PB053``) a body over the size limit
        - :class:`RouteNotFoundError` (``PB054``) no such path or method
        - :class:`InternalError` (``PB059``) a bug: the request failed, nothing is shown of it
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from playbook.diagnostics import Diagnostic

__all__ = [
    "ActorError",
    "AuthenticationError",
    "BodyTooLargeError",
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
    "HookError",
    "HookFailedError",
    "ImportFileError",
    "ImportRowError",
    "InputFileError",
    "InternalError",
    "InvalidBodyError",
    "InvalidPlaybookError",
    "KpiError",
    "MalformedBodyError",
    "MappingError",
    "MigrationError",
    "MissingClockError",
    "MoveBlockedError",
    "NotificationError",
    "OverrideError",
    "PathNotFoundError",
    "PeriodError",
    "PermissionDeniedError",
    "PersonError",
    "PersonNotFoundError",
    "PlaybookError",
    "PlaybookVersionError",
    "RequestError",
    "RouteNotFoundError",
    "ScenarioError",
    "SchemaVersionError",
    "StaleVersionError",
    "StoreError",
    "TargetExistsError",
    "TokenError",
    "UnknownActionError",
    "UnknownActivityKindError",
    "UnknownFieldError",
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

    def __reduce__(self) -> tuple[Any, ...]:
        # Exception's own pickling calls cls(*args), which loses the keyword arguments
        # and fails for errors that take more (MoveBlockedError's decision): rebuild
        # from the message and the attributes instead, so errors cross processes.
        return (_rebuild, (type(self), self.args, self.__dict__))

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


def _rebuild(cls: type[PlaybookError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """An error as pickled by :meth:`PlaybookError.__reduce__`."""
    error = cls.__new__(cls, *args)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


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


class UnknownFieldError(DealError, LookupError):
    """A field id that the playbook (version) does not declare."""

    code = "PB504"


class UnknownStageError(DealError, LookupError):
    """A stage id that the playbook (version) does not define."""

    code = "PB502"


class PlaybookVersionError(DealError):
    """The deal is pinned to a different playbook id or version than the engine's."""

    code = "PB503"


class ActorError(PlaybookError, ValueError):
    """The actor has no role, or a role that the playbook does not declare."""

    code = "PB510"


class UnknownActionError(PlaybookError, LookupError):
    """An action id that the deal's current stage does not define."""

    code = "PB520"


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


class AuthenticationError(PlaybookError, PermissionError):
    """A request without a token, or with one that is unknown, revoked or expired."""

    code = "PB532"
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

    def to_dict(self, lang: str | None = None) -> Mapping[str, object]:
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


class HookError(PlaybookError, TypeError):
    """A hook that cannot be registered or run: not callable, or asynchronous (never awaited)."""

    code = "PB560"


class HookFailedError(HookError):
    """A hook raised after the change it was called for had been stored.

    The change stays stored (it committed before any hook ran) and every other
    hook still ran; ``deal`` and ``result`` are what the call would have
    returned, ``failures`` the exceptions of the hooks that raised.
    """

    code = "PB561"
    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        deal: Any,
        result: Any,
        failures: Sequence[BaseException],
        **kw: Any,
    ) -> None:
        super().__init__(message, **kw)
        self.deal = deal
        self.result = result
        self.failures = tuple(failures)


class StoreError(PlaybookError):
    """The deal store cannot do what was asked."""

    code = "PB600"


class UnknownActivityKindError(DealError, StoreError):
    """An activity kind that the playbook (version) does not declare.

    Also a :class:`StoreError`: the store refused it before kinds were declared.
    """

    code = "PB505"


class DealNotFoundError(StoreError, LookupError):
    """No deal has this id (or external id)."""

    code = "PB601"


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

    code = "PB613"


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


class EscalationNotFoundError(EscalationError, LookupError):
    """An escalation id that the store does not have."""

    code = "PB703"


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


class StaleVersionError(ConflictError):
    """A write named (``If-Match``) a version of the deal that is no longer current."""

    code = "PB609"


class PersonError(StoreError, ValueError):
    """A person record that cannot be used: a bad email, language or role, a duplicate."""

    code = "PB620"


class PersonNotFoundError(PersonError, LookupError):
    """No person has this name."""

    code = "PB621"


class TokenError(StoreError, ValueError):
    """An API token that cannot be made (a scope the person does not hold) or found."""

    code = "PB622"


class RequestError(PlaybookError, ValueError):
    """An HTTP request that the API cannot use."""

    code = "PB050"


class MalformedBodyError(RequestError):
    """A request body that is not JSON (or not UTF-8)."""

    code = "PB051"


class InvalidBodyError(RequestError):
    """A request whose values have the wrong type, or that misses or adds fields."""

    code = "PB052"


class BodyTooLargeError(RequestError):
    """A request body over the server's size limit."""

    code = "PB053"


class RouteNotFoundError(RequestError):
    """A path the API does not have, or a method the path does not take."""

    code = "PB054"


class InternalError(PlaybookError):
    """A bug: the request failed in a way playbook did not foresee (logged, never shown)."""

    code = "PB059"
    exit_code = 70
