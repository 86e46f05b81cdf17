"""The tables of the deal store, as typed SQLAlchemy models.

Times are stored in UTC and always come back timezone-aware
(:class:`UtcDateTime`); money and other decimals are kept exact: inside the
``fields`` JSON a decimal is a string, and numeric columns use ``Numeric``.
The schema itself is changed only by the Alembic migrations in
``playbook/store/migrations``; these models describe the head revision (a new
database is created from them at once, see :mod:`playbook.store.schema`).

Every table, index and key constraint is named ``playbook_…`` so that the store
can share a database with a host application's own ``deals`` or ``people``.
The tables carry the placeholder schema :data:`SCHEMA_PLACEHOLDER`, which every
connection of the store translates (``schema_translate_map``) to the schema
chosen when the store is opened, or to the connection's default schema.
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
    MetaData,
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
    "SCHEMA_PLACEHOLDER",
    "TABLE_PREFIX",
    "Activity",
    "ActivityKey",
    "ApiToken",
    "Assignment",
    "Base",
    "Deal",
    "Deletion",
    "JsonDocument",
    "Person",
    "PlaybookActivation",
    "PlaybookRecord",
    "Refusal",
    "StageChange",
    "UtcDateTime",
    "WebSession",
]

ACTIVITY_KINDS: tuple[str, ...] = ("call", "meeting", "email", "note", "visit", "action")
"""What an activity row records; ``action`` is a completed required action."""

TABLE_PREFIX = "playbook_"
"""What every table and index name of the store starts with."""

SCHEMA_PLACEHOLDER = "playbook_store"
"""The placeholder schema of the store's tables, translated on every connection.

Only the store's tables carry it, so translating it on a host application's
connection (:meth:`playbook.store.db.Database.from_connection`) leaves the
host's own statements exactly as they were."""

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

    metadata = MetaData(schema=SCHEMA_PLACEHOLDER)

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

    __tablename__ = "playbook_playbooks"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str | None] = mapped_column(Text)
    registered_at: Mapped[datetime]


class PlaybookActivation(Base):
    """A playbook version made active by hand: who, when and why (revision 0014).

    The latest row (highest ``id``) of a playbook names the version its new
    deals follow; with no row, its highest registered version is active.
    """

    __tablename__ = "playbook_activations"
    __table_args__ = (Index("ix_playbook_activations_playbook", "playbook_id", "id"),)

    id: Mapped[int] = mapped_column(_Key, primary_key=True, autoincrement=True)
    playbook_id: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer)
    activated_at: Mapped[datetime]
    activated_by: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(Text)


class Person(Base):
    """A person: where they sit (manager, team, region), the roles they hold, their language.

    Deal imports fill the first columns for owners; ``playbook people`` manages
    the rest. ``roles`` are what the API trusts: a request's roles come from
    its token's person, never from the request.
    """

    __tablename__ = "playbook_people"
    __table_args__ = (Index("ix_playbook_people_email", "email", unique=True),)

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    manager: Mapped[str | None] = mapped_column(String(200))
    team: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime]
    email: Mapped[str | None] = mapped_column(String(320))
    roles: Mapped[list[str]] = mapped_column(JsonDocument, default=list, server_default="[]")
    language: Mapped[str | None] = mapped_column(String(10))


class ApiToken(Base):
    """An API token of a person: only the SHA-256 of its secret is kept, never the secret."""

    __tablename__ = "playbook_api_tokens"
    __table_args__ = (Index("ix_playbook_api_tokens_person", "person"),)

    id: Mapped[int] = mapped_column(_Key, primary_key=True, autoincrement=True)
    person: Mapped[str] = mapped_column(
        String(200), ForeignKey("playbook_people.name", ondelete="CASCADE", onupdate="CASCADE")
    )
    prefix: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JsonDocument)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in browser of the web workspace: only the SHA-256 of its cookie is kept.

    A session stands on the API token it was opened with: revoking the token
    (or removing the person) ends it, as does signing out or its expiry.
    """

    __tablename__ = "playbook_sessions"
    __table_args__ = (Index("ix_playbook_sessions_token", "token_id"),)

    id: Mapped[int] = mapped_column(_Key, primary_key=True, autoincrement=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    person: Mapped[str] = mapped_column(
        String(200), ForeignKey("playbook_people.name", ondelete="CASCADE", onupdate="CASCADE")
    )
    token_id: Mapped[int] = mapped_column(
        _Key, ForeignKey("playbook_api_tokens.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class Deal(Base):
    """One deal: its pinned playbook version, stage, owner and typed fields (as JSON).

    ``version`` grows by one on every write; writers update with
    ``WHERE version = <the version they read>`` (optimistic locking).
    """

    __tablename__ = "playbook_deals"
    __table_args__ = (
        UniqueConstraint(
            "playbook_id", "external_id", name="uq_playbook_deals_playbook_external_id"
        ),
        CheckConstraint("version >= 1", name="ck_deals_version_positive"),
        Index("ix_playbook_deals_playbook_stage", "playbook_id", "stage"),
        Index("ix_playbook_deals_owner", "owner"),
        Index("ix_playbook_deals_stage_entered_at", "stage_entered_at"),
        Index("ix_playbook_deals_last_activity_at", "last_activity_at"),
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

    __tablename__ = "playbook_stage_changes"
    __table_args__ = (
        UniqueConstraint("deal_id", "deal_version", name="uq_playbook_stage_changes_deal_version"),
        Index(
            "ix_playbook_stage_changes_entries",
            "to_stage",
            "at",
            "deal_id",
            "deal_version",
            "from_stage",
        ),
        Index("ix_playbook_stage_changes_exits", "from_stage", "at", "deal_id", "deal_version"),
        Index("ix_playbook_stage_changes_history", "deal_id", "deal_version", "to_stage", "at"),
    )

    id: Mapped[int] = mapped_column(_Key, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(_Key, ForeignKey("playbook_deals.id", ondelete="CASCADE"))
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

    __tablename__ = "playbook_activities"
    __table_args__ = (
        UniqueConstraint("deal_id", "deal_version", name="uq_playbook_activities_deal_version"),
        Index("ix_playbook_activities_kind_at_deal", "kind", "at", "deal_id"),
    )

    id: Mapped[int] = mapped_column(_Key, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(_Key, ForeignKey("playbook_deals.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime]
    note: Mapped[str | None] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(100))
    action_id: Mapped[str | None] = mapped_column(String(100))
    evidence: Mapped[dict[str, Any] | None]
    deal_version: Mapped[int] = mapped_column(Integer)


class ActivityKey(Base):
    """The key an imported activity had in its source: re-importing the file skips it.

    ``source`` names the tool (the activity mapping's ``source``), ``key`` the
    row there: the source's own id, or a hash of the row's cells.
    """

    __tablename__ = "playbook_activity_keys"
    __table_args__ = (
        UniqueConstraint("source", "key", name="uq_playbook_activity_keys_source_key"),
    )

    id: Mapped[int] = mapped_column(_Key, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    activity_id: Mapped[int] = mapped_column(
        _Key, ForeignKey("playbook_activities.id", ondelete="CASCADE")
    )
    imported_at: Mapped[datetime]


class Refusal(Base):
    """A refused gated attempt: who tried what on which deal, when, and the rule's answer."""

    __tablename__ = "playbook_refusals"
    __table_args__ = (
        Index("ix_playbook_refusals_deal_at", "deal_id", "at"),
        Index("ix_playbook_refusals_at", "at"),
    )

    id: Mapped[int] = mapped_column(_Key, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    actor_roles: Mapped[list[str]] = mapped_column(JsonDocument)
    action: Mapped[str] = mapped_column(String(40))
    deal_id: Mapped[int | None] = mapped_column(
        _Key, ForeignKey("playbook_deals.id", ondelete="SET NULL")
    )
    deal_ref: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str | None] = mapped_column(String(200))
    code: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDocument)


class Assignment(Base):
    """A change of a deal's owner or team: who made it, when, why, from what to what.

    Each is one version step of its deal, like a stage change or an activity.
    """

    __tablename__ = "playbook_assignments"
    __table_args__ = (
        UniqueConstraint("deal_id", "deal_version", name="uq_playbook_assignments_deal_version"),
    )

    id: Mapped[int] = mapped_column(_Key, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(_Key, ForeignKey("playbook_deals.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(200))
    actor_roles: Mapped[list[Any]]
    at: Mapped[datetime]
    reason: Mapped[str | None] = mapped_column(Text)
    stage: Mapped[str] = mapped_column(String(100))
    from_owner: Mapped[str | None] = mapped_column(String(200))
    to_owner: Mapped[str | None] = mapped_column(String(200))
    from_team: Mapped[str | None] = mapped_column(String(200))
    to_team: Mapped[str | None] = mapped_column(String(200))
    deal_version: Mapped[int] = mapped_column(Integer)


class Deletion(Base):
    """The record that a deal was deleted: which deal, by whom, when and why.

    The deal row and its history are gone (hard delete); this row has no
    foreign key, so it stays. It keeps the deal's identity and where it stood,
    not its field values (a deletion is often an erasure).
    """

    __tablename__ = "playbook_deletions"
    __table_args__ = (
        Index("ix_playbook_deletions_playbook_external_id", "playbook_id", "external_id"),
        Index("ix_playbook_deletions_at", "at"),
    )

    id: Mapped[int] = mapped_column(_Key, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(_Key)
    external_id: Mapped[str | None] = mapped_column(String(200))
    playbook_id: Mapped[str] = mapped_column(String(100))
    playbook_version: Mapped[int] = mapped_column(Integer)
    stage: Mapped[str] = mapped_column(String(100))
    owner: Mapped[str | None] = mapped_column(String(200))
    team: Mapped[str | None] = mapped_column(String(200))
    deal_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    actor_roles: Mapped[list[Any]]
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)
