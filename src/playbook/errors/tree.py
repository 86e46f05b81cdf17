"""The error tree below :class:`~playbook.errors.base.PlaybookError`, one class per failure kind.

Import the classes from :mod:`playbook.errors`; each says what it stands for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from playbook.errors.base import PlaybookError
from playbook.i18n import Message

if TYPE_CHECKING:
    from playbook.diagnostics import Diagnostic

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
    "BlockedMove",
    "BodyTooLargeError",
    "CalendarError",
    "ChatSigningError",
    "ChatSinkError",
    "ConditionError",
    "ConflictError",
    "CrmRecordsError",
    "CsrfError",
    "DatabaseLockedError",
    "DatabaseReadOnlyError",
    "DatabaseUnavailableError",
    "DealError",
    "DealFieldError",
    "DealNotFoundError",
    "DiffError",
    "DiskFullError",
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
    "PlaybookMismatchError",
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
    "VersionTakenError",
]


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


class EvidenceLinkError(DealFieldError):
    """A field declared ``format: url`` (evidence kept as a link) holds no http(s) URL."""

    code = "PB590"


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


class ApprovalStateError(PlaybookError):
    """An approval that cannot take this step now: not needed, already granted, or rejected."""

    code = "PB581"
    exit_code = 1


class ApprovalRefusedError(PermissionDeniedError):
    """A grant, rejection or delegation by someone who is not an approver of the current step."""

    code = "PB582"
    exit_code = 1


class UnknownApprovalError(PlaybookError, LookupError):
    """An approval id (or step) the deal's playbook does not declare."""

    code = "PB583"
    exit_code = 2


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


class VersionNotRegisteredError(StoreError, LookupError):
    """Activating a playbook version the store has not registered: register it first."""

    code = "PB614"


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


class ChatSigningError(NotificationError):
    """A chat service (DingTalk, Feishu) refused a sink's signature: its secret is wrong or missing.

    The delivery stays in the outbox: once the secret is right, the next sweep sends it.
    """

    code = "PB710"


class ChatSinkError(EscalationError):
    """A chat sink that cannot be set up: an empty or misplaced secret, a bad base URL."""

    code = "PB711"


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


class CsrfError(RequestError):
    """A workspace form posted without its session's CSRF token (or from another site)."""

    code = "PB055"


class SessionEndedError(AuthenticationError):
    """No live workspace session (PB624); finer: no cookie (PB056), a refused sign-in (PB625)."""

    code = "PB624"


class InternalError(PlaybookError):
    """A bug: the request failed in a way playbook did not foresee (logged, never shown)."""

    code = "PB059"
    exit_code = 70


class ActivityImportError(StoreError, ValueError):
    """An activity file with refused rows (``details["errors"]``); nothing of it was written."""

    code = "PB650"
    exit_code = 1


class ActivityMatchError(ImportRowError):
    """A row of an activity file that matches no deal (by external id, contact or phone)."""

    code = "PB651"


class AmbiguousActivityError(ImportRowError):
    """A row of an activity file whose contact or phone belongs to several deals."""

    code = "PB652"


class ActivityKindRowError(ImportRowError):
    """A row of an activity file whose kind the deal's playbook does not declare."""

    code = "PB653"


class ActivityRowError(ImportRowError):
    """A row of an activity file with an unreadable cell: a date, a duration, an empty key."""

    code = "PB654"


class ActivityMappingError(MappingError):
    """An activity mapping that cannot be used: an unknown key, a missing column."""

    code = "PB655"


class PresetNotFoundError(MappingError, LookupError):
    """``preset:NAME`` names no preset mapping shipped with playbook."""

    code = "PB656"


class CrmRecordsError(RequestError):
    """CRM records not taken, nothing written: no mapping (PB060), a key it does not read
    (PB061), a refused batch (PB062; ``records``: (position, external id, error) each)."""

    code = "PB060"
    records: tuple[tuple[int, str | None, PlaybookError], ...] = ()


class VersionTakenError(RequestError):
    """A playbook text uploaded under a version already registered with another text."""

    code = "PB064"


class TableOverlapError(PlaybookError, ValueError):
    """A ``unique`` decision table with more than one matching row for a deal."""

    code = "PB570"


class UnknownTableError(PlaybookError, LookupError):
    """A decision table id that the playbook does not declare."""

    code = "PB571"
