"""The tables of the deal store, as typed SQLAlchemy models.

Times are stored in UTC and always come back timezone-aware
(:class:`UtcDateTime`); money and other decimals are kept exact: inside the
``fields`` JSON a decimal is a string, and numeric columns use ``Numeric``.
The schema itself is created and changed only by the Alembic migrations in
``playbook/store/migrations``; these models describe the head revision.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ACTIVITY_KINDS",
    "Activity",
    "ApiToken",
    "Base",
    "Deal",
    "JsonDocument",
    "Person",
    "PlaybookRecord",
    "Refusal",
    "StageChange",
    "UtcDateTime",
]

ACTIVITY_KINDS: tuple[str, ...] = ("call", "meeting", "email", "note", "visit", "action")
"""What an activity row records; ``action`` is a completed required action."""

# BIGINT keys on PostgreSQL; SQLite only auto-increments an INTEGER PRIMARY KEY.
_Key = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A point in time stored in UTC: ``timestamptz`` on PostgreSQL, UTC text on SQLite.

    Binding a naive datetime is refused (a naive time is a bug waiting to
    happen); values read back are always aware and in UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"a naive datetime cannot be stored: {value!r} (give it a timezone)")
        utc = value.astimezone(UTC)
        # SQLite's DATETIME ignores the offset: store the UTC wall time.
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JsonDocument = JSON().with_variant(JSONB(), "postgresql")
"""A JSON column: ``jsonb`` on PostgreSQL (indexable, ``->>``), JSON text on SQLite."""


class Base(DeclarativeBase):
    """The declarative base of the store's tables."""

    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads this class attribute)
        datetime: UtcDateTime(),
        dict[str, Any]: JsonDocument,
        list[Any]: JsonDocument,
    }


class PlaybookRecord(Base):
    """A playbook version that deals are pinned to, with its source text.

    Stored so that commands on a deal can rebuild the exact playbook version
    the deal follows without being given the file again.
    """

    __tablename__ = "playbooks"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(Text)
    registered_at: Mapped[datetime]


class Person(Base):
    """A person: where they sit (manager, team, region), the roles they hold, their language.

    Deal imports fill the first columns for owners; ``playbook people`` manages
    the rest. ``roles`` are what the API trusts: a request's roles come from
    its token's person, never from the request.
    """

    __tablename__ = "people"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    manager: Mapped[str | None] = mapped_column(String(200))
    team: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime]
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    roles: Mapped[list[str]] = mapped_column(JsonDocument, default=list, server_default="[]")
    language: Mapped[str | None] = mapped_column(String(10))


class ApiToken(Base):
    """An API token of a person: only the SHA-256 of its secret is kept, never the secret."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_person", "person"),)

    id: Mapped[int] = mapped_column(_Key, primary_key=True, autoincrement=True)
    person: Mapped[str] = mapped_column(
        String(200), ForeignKey("people.name", ondelete="CASCADE", onupdate="CASCADE")
    )
    prefix: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JsonDocument)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Deal(Base):
    """One deal: its pinned playbook version, stage, owner and typed fields (as JSON).

    ``version`` grows by one on every write; writers update with
    ``WHERE version = <the version they read>`` (optimistic locking).
    """

    __tablename__ = "deals"
    __table_args__ = (
        UniqueConstraint("playbook_id", "external_id", name="uq_deals_playbook_external_id"),
        CheckConstraint("version >= 1", name="ck_deals_version_positive"),
        Index("ix_deals_playbook_stage", "playbook_id", "stage"),
        Index("ix_deals_owner", "owner"),
        Index("ix_deals_stage_entered_at", "stage_entered_at"),
        Index("ix_deals_last_activity_at", "last_activity_at"),
    )

    id: Mapped[int] = mapped_column(_Key, primary_key=True, autoincrement=True)
    external_id: Mapped[str | None] = mapped_column(String(200))
    playbook_id: Mapped[str] = mapped_column(String(100))
    playbook_version: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(100))
    owner: Mapped[str | None] = mapped_column(String(200))
    team: Mapped[str | None] = mapped_column(String(200))
    manager: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(200))
    fields: Mapped[dict[str, Any]]
    actions: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(200))
    stage_entered_at: Mapped[datetime]
    last_activity_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer)
    fields_set_at: Mapped[dict[str, Any]] = mapped_column(JsonDocument, server_default=text("'{}'"))
    """Field id → ISO time it was last set in the tool (not by an import)."""


class StageChange(Base):
    """One move of a deal between stages (append-only); ``deal_version`` is the step it made.

    The first row of a deal (``from_stage`` null) records its creation in the
    first stage. ``source`` is ``live`` for a move the engine decided and
    ``import`` for history read from an imported file.
    """

    __tablename__ = "stage_changes"
    __table_args__ = (
        UniqueConstraint("deal_id", "deal_version", name="uq_stage_changes_deal_version"),
        Index("ix_stage_changes_to_stage_at", "to_stage", "at"),
    )

    id: Mapped[int] = mapped_column(_Key, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(_Key, ForeignKey("deals.id", ondelete="CASCADE"))
    from_stage: Mapped[str | None] = mapped_column(String(100))
    to_stage: Mapped[str] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(200))
    actor_roles: Mapped[list[Any]]
    at: Mapped[datetime]
    override_reason: Mapped[str | None] = mapped_column(Text)
    playbook_version: Mapped[int] = mapped_column(Integer)
    deal_version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(10))


class Activity(Base):
    """Something done on a deal: a call, meeting, email, note, visit or a completed action.

    Each activity is one version step of its deal, like a stage change.
    """

    __tablename__ = "activities"
    __table_args__ = (
        UniqueConstraint("deal_id", "deal_version", name="uq_activities_deal_version"),
        Index("ix_activities_kind_at", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(_Key, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(_Key, ForeignKey("deals.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(100))
    action_id: Mapped[str | None] = mapped_column(String(100))
    evidence: Mapped[dict[str, Any] | None]
    deal_version: Mapped[int] = mapped_column(Integer)


class Refusal(Base):
    """A refused gated attempt: who tried what on which deal, when, and the rule's answer."""

    __tablename__ = "refusals"
    __table_args__ = (
        Index("ix_refusals_deal_at", "deal_id", "at"),
        Index("ix_refusals_at", "at"),
    )

    id: Mapped[int] = mapped_column(_Key, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    actor_roles: Mapped[list[str]] = mapped_column(JsonDocument)
    action: Mapped[str] = mapped_column(String(40))
    deal_id: Mapped[int | None] = mapped_column(_Key, ForeignKey("deals.id", ondelete="SET NULL"))
    deal_ref: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument)
