"""The one exception tree of playbook.

Every failure a user can cause is a :class:`PlaybookError` subclass with a
stable ``code`` (never reused, never renumbered) and an ``exit_code`` that the
CLI uses. Errors carry data (file, line, column, path, values) and not only
text, so that callers can render them in any format.

Codes by area:

===========  ==================================================================
``PB05x``    the HTTP API: requests it cannot use (``playbook serve``)
``PB06x``    the HTTP API: CRM webhooks (PB060-PB062), playbook versions (PB063, PB064)
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

Each class (in :mod:`playbook.errors.tree`, the root in :mod:`playbook.errors.base`)
says what it stands for; docs/embedding.md lists them with
their codes and HTTP statuses, docs/diagnostics.md every code.
"""

from __future__ import annotations

from playbook.errors.base import PlaybookError
from playbook.errors.tree import (
    ActivityImportError,
    ActivityKindRowError,
    ActivityMappingError,
    ActivityMatchError,
    ActivityRowError,
    ActorError,
    AmbiguousActivityError,
    ApprovalRefusedError,
    ApprovalStateError,
    AuthenticationError,
    BodyTooLargeError,
    CalendarError,
    ChatSigningError,
    ChatSinkError,
    ConditionError,
    ConflictError,
    CrmRecordsError,
    CsrfError,
    DatabaseUnavailableError,
    DealError,
    DealFieldError,
    DealNotFoundError,
    DiffError,
    EscalationError,
    EscalationNotFoundError,
    EvidenceLinkError,
    EvidenceMissingError,
    ForeignHistoryError,
    GraphvizError,
    GroupingError,
    HookError,
    HookFailedError,
    ImportFileError,
    ImportRowError,
    InputFileError,
    InternalError,
    InvalidBodyError,
    InvalidPlaybookError,
    KpiError,
    MalformedBodyError,
    MappingError,
    MigrationError,
    MissingClockError,
    MoveBlockedError,
    NotificationError,
    OverrideError,
    PathNotFoundError,
    PeriodError,
    PermissionDeniedError,
    PersonError,
    PersonNotFoundError,
    PlaybookVersionError,
    PresetNotFoundError,
    RequestError,
    RouteNotFoundError,
    ScenarioError,
    SchemaVersionError,
    SessionEndedError,
    StaleVersionError,
    StoreError,
    TableOverlapError,
    TargetExistsError,
    TokenError,
    UnknownActionError,
    UnknownActivityKindError,
    UnknownApprovalError,
    UnknownFieldError,
    UnknownStageError,
    UnknownTableError,
    VersionNotRegisteredError,
    VersionTakenError,
)
from playbook.errors.tree import BlockedMove as BlockedMove
from playbook.errors.tree import DatabaseLockedError as DatabaseLockedError
from playbook.errors.tree import DatabaseReadOnlyError as DatabaseReadOnlyError
from playbook.errors.tree import DiskFullError as DiskFullError
from playbook.errors.tree import PlaybookMismatchError as PlaybookMismatchError

__all__ = [
    "ActivityImportError",
    "ActivityKindRowError",
    "ActivityMappingError",
    "ActivityMatchError",
    "ActivityRowError",
    "ActorError",
    "AmbiguousActivityError",
    "ApprovalRefusedError",
    "ApprovalStateError",
    "AuthenticationError",
    "BodyTooLargeError",
    "CalendarError",
    "ChatSigningError",
    "ChatSinkError",
    "ConditionError",
    "ConflictError",
    "CrmRecordsError",
    "CsrfError",
    "DatabaseUnavailableError",
    "DealError",
    "DealFieldError",
    "DealNotFoundError",
    "DiffError",
    "EscalationError",
    "EscalationNotFoundError",
    "EvidenceLinkError",
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
    "PresetNotFoundError",
    "RequestError",
    "RouteNotFoundError",
    "ScenarioError",
    "SchemaVersionError",
    "SessionEndedError",
    "StaleVersionError",
    "StoreError",
    "TableOverlapError",
    "TargetExistsError",
    "TokenError",
    "UnknownActionError",
    "UnknownActivityKindError",
    "UnknownApprovalError",
    "UnknownFieldError",
    "UnknownStageError",
    "UnknownTableError",
    "VersionNotRegisteredError",
    "VersionTakenError",
]
