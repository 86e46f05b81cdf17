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

Every class also carries an ``http_status``, a hint for a server that embeds
playbook and answers with the error (the library itself speaks no HTTP):

======  =====================================================================
400     bad input to a call: the root, clocks, periods, groupings, escalation
        commands without what they need, a request body that is not JSON
401     no API token, or an unknown, revoked or expired one
403     a role may not do this (:class:`PermissionDeniedError`, :class:`OverrideError`,
        an actor without a known role)
404     not found: a path, a deal, a person, an escalation, an API route
409     conflict or blocked: a move the engine blocks, a deal changed meanwhile,
        another playbook version, an edited registered text, a migration that
        strands deals, a file that exists
412     a request's ``If-Match`` names an older version of the deal
413     a request body over the size limit
422     an invalid playbook, condition, deal, scenario, import file or calendar
500     the deal store cannot do what was asked (:class:`StoreError` itself), a hook
        that cannot run or failed, a bug (:class:`InternalError`)
502     a notification sink failed to deliver
503     the database (or Graphviz) is unavailable, locked, read-only, on another
        schema version or holding another application's schema history
507     the database's disk is full
======  =====================================================================

Messages are catalogue keys (:class:`playbook.i18n.Message`), not sentences:
``error.message`` and ``str(error)`` are English, ``error.message_in("zh")``
and ``error.to_dict("zh")`` speak any language of :data:`playbook.i18n.LANGUAGES`.
Errors pickle and deep-copy with their code, message, hint and details.

Each class below says what it stands for; docs/embedding.md lists them with
their codes and HTTP statuses, docs/diagnostics.md every code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from playbook.i18n import Message, as_message

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
    "TableOverlapError",
    "TargetExistsError",
    "TokenError",
    "UnknownActionError",
    "UnknownActivityKindError",
    "UnknownFieldError",
    "UnknownStageError",
    "UnknownTableError",
]


# The HTTP status of each class, by code (see the table above); a class not
# listed (an embedder's own, say) answers like its parent.
_HTTP_STATUS: dict[str, int] = {
    code: status
    for status, codes in {
        400: "PB050 PB051 PB550 PB700 PB801 PB802",
        401: "PB532",
        403: "PB510 PB530 PB531",
        404: "PB001 PB054 PB571 PB601 PB621 PB703",
        409: "PB503 PB540 PB602 PB605 PB920 PB940",
        412: "PB609",
        413: "PB053",
        422: (
            "PB052 PB100 PB200 PB400 PB500 PB501 PB502 PB504 PB505 PB520 PB521 PB570 "
            "PB610 PB611 PB612 PB620 PB622 PB701 PB800 PB900 PB910"
        ),
        500: "PB059 PB560 PB561 PB600",
        502: "PB702",
        503: "PB603 PB604 PB606 PB607 PB613 PB930",
        507: "PB608",
    }.items()
    for code in codes.split()
}


class PlaybookError(Exception):
    """Root of every error that playbook raises on purpose.

    ``msg`` (a :class:`~playbook.i18n.Message`) says what went wrong and what to
    do, in any language of the catalogue; ``hint_msg`` may add a did-you-mean.
    Playbook's own code always passes messages; a plain string (an embedder's
    subclass, say) is accepted and shown as it is in every language.
    ``message`` and ``hint`` are their English texts, as is ``str(error)``.
    Position attributes are set when the error comes from a file.
    """

    code: ClassVar[str] = "PB000"
    exit_code: ClassVar[int] = 2
    http_status: ClassVar[int] = 400

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "http_status" not in cls.__dict__ and cls.code in _HTTP_STATUS:
            cls.http_status = _HTTP_STATUS[cls.code]

    def __init__(
        self,
        message: Message | str,
        *,
        hint: Message | str | None = None,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        path: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.msg = as_message(message)
        # A plain string (an embedder's own words) is kept as it is, in every language.
        self.hint_msg = None if hint is None else as_message(hint)
        super().__init__(str(self.msg))
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.details: dict[str, Any] = dict(details or {})
        if code is not None:
            # A finer code from the same area (e.g. PB103 for a duplicate key).
            self.code = code  # type: ignore[misc]

    @property
    def message(self) -> str:
        """What went wrong and what to do, in English."""
        return self.msg.render("en")

    @property
    def hint(self) -> str | None:
        """The hint in English, or None."""
        return self.hint_in("en")

    def message_in(self, lang: str | None) -> str:
        """The message in ``lang`` (English for None or a language the catalogue lacks)."""
        return self.msg.render(lang)

    def hint_in(self, lang: str | None) -> str | None:
        """The hint in ``lang``, or None when there is none."""
        return None if self.hint_msg is None else self.hint_msg.render(lang)

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt without calling __init__ (subclasses take other arguments),
        # then the attributes, code and details included, restored as they were.
        return (_restore, (type(self), self.args), self.__dict__)

    def __str__(self) -> str:
        return self.text_in("en")

    def text_in(self, lang: str | None) -> str:
        """The one-line form, ``file:line:col: CODE message (hint)``, in ``lang``."""
        where = ""
        if self.file:
            where = self.file
            if self.line:
                where += f":{self.line}"
                if self.column:
                    where += f":{self.column}"
            where += ": "
        text = f"{where}{self.code} {self.message_in(lang)}"
        hint = self.hint_in(lang)
        if hint:
            text += f" ({hint})"
        return text

    def to_dict(self, lang: str | None = None) -> dict[str, Any]:
        """A JSON-ready description of the error (message and hint in ``lang``).

        Keys: ``code``, ``message``, ``http_status`` and, when set, ``hint``,
        ``file``, ``line``, ``column``, ``path``, ``details``.
        """
        data: dict[str, Any] = {
            "code": self.code,
            "message": self.message_in(lang),
            "http_status": self.http_status,
        }
        hint = self.hint_in(lang)
        if hint is not None:
            data["hint"] = hint
        for key in ("file", "line", "column", "path"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.details:
            data["details"] = self.details
        return data


def _restore(cls: type[PlaybookError], args: tuple[Any, ...]) -> PlaybookError:
    error = cls.__new__(cls)
    error.args = args
    return error


class InputFileError(PlaybookError, ValueError):
    """A file cannot be read as a playbook: size, encoding, YAML syntax, strict-YAML rules."""

    code = "PB100"


class InvalidPlaybookError(PlaybookError, ValueError):
    """A playbook failed validation; ``diagnostics`` lists every problem found."""

    code = "PB200"
    exit_code = 2  # bad input to the command that needed the playbook (validate itself says 1)

    def __init__(
        self, message: Message | str, diagnostics: Sequence[Diagnostic], **kw: Any
    ) -> None:
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

    def __init__(self, message: Message | str, decision: BlockedMove, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.decision = decision


class MissingClockError(PlaybookError, TypeError):
    """An engine call without ``now``: the engine never reads the clock itself."""

    code = "PB550"


class TableOverlapError(PlaybookError, ValueError):
    """A ``unique`` decision table with more than one matching row for a deal."""

    code = "PB570"


class UnknownTableError(PlaybookError, LookupError):
    """A decision table id that the playbook does not declare."""

    code = "PB571"


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
        message: Message | str,
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
