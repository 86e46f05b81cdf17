"""A store that shares its database: ``playbook_`` names, reassignments and deletions.

Every table, index and key constraint of the store is renamed to start with
``playbook_`` so that a host application's own ``deals``, ``people`` or
``activities`` can live in the same database (the revision itself moved from
``alembic_version`` to ``playbook_alembic_version`` before this runs, see
``playbook.store.layout``). Two tables are added: ``playbook_assignments``
(owner and team changes, one version step each) and ``playbook_deletions``
(the lasting record of a deleted deal).

On PostgreSQL tables, indexes, constraints and id sequences are renamed in
place; SQLite renames tables in place (keeping foreign keys) and rebuilds the
indexes under their new names (its constraint names are not a namespace).

Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from playbook.store.migrations.columns import JSON, KEY, reference, surrogate_key
from playbook.store.models import UtcDateTime

revision = "0009"
down_revision = "0008"

_TABLES: tuple[str, ...] = (
    "playbooks",
    "people",
    "deals",
    "stage_changes",
    "activities",
    "refusals",
    "escalations",
    "escalation_deliveries",
    "escalation_conditions",
    "api_tokens",
)
_SEQUENCES: tuple[str, ...] = (
    "deals",
    "stage_changes",
    "activities",
    "refusals",
    "escalations",
    "escalation_deliveries",
    "api_tokens",
)
"""The tables with a serial ``id``, whose sequence PostgreSQL named after the table."""
_FOREIGN_KEYS: tuple[tuple[str, str], ...] = (
    ("stage_changes", "deal_id"),
    ("activities", "deal_id"),
    ("refusals", "deal_id"),
    ("escalations", "deal_id"),
    ("escalation_deliveries", "escalation_id"),
    ("escalation_conditions", "deal_id"),
    ("api_tokens", "person"),
)
_UNIQUE: tuple[tuple[str, str], ...] = (
    ("deals", "uq_deals_playbook_external_id"),
    ("stage_changes", "uq_stage_changes_deal_version"),
    ("activities", "uq_activities_deal_version"),
    ("escalations", "uq_escalations_once"),
    ("escalation_deliveries", "uq_escalation_deliveries_sink"),
)
_COLUMN_UNIQUE: tuple[tuple[str, str], ...] = (("api_tokens", "sha256"),)
"""Unique columns whose constraint PostgreSQL named after the table (``<table>_<column>_key``)."""
_INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ix_people_email", "people", ("email",)),
    ("ix_deals_playbook_stage", "deals", ("playbook_id", "stage")),
    ("ix_deals_owner", "deals", ("owner",)),
    ("ix_deals_stage_entered_at", "deals", ("stage_entered_at",)),
    ("ix_deals_last_activity_at", "deals", ("last_activity_at",)),
    (
        "ix_stage_changes_entries",
        "stage_changes",
        ("to_stage", "at", "deal_id", "deal_version", "from_stage"),
    ),
    ("ix_stage_changes_exits", "stage_changes", ("from_stage", "at", "deal_id", "deal_version")),
    ("ix_stage_changes_history", "stage_changes", ("deal_id", "deal_version", "to_stage", "at")),
    ("ix_activities_kind_at_deal", "activities", ("kind", "at", "deal_id")),
    ("ix_escalations_rule_status", "escalations", ("rule", "status")),
    ("ix_escalations_snoozed_until", "escalations", ("snoozed_until",)),
    ("ix_escalation_deliveries_status", "escalation_deliveries", ("status", "sink")),
    ("ix_refusals_deal_at", "refusals", ("deal_id", "at")),
    ("ix_refusals_at", "refusals", ("at",)),
    ("ix_api_tokens_person", "api_tokens", ("person",)),
)
_UNIQUE_INDEXES = frozenset({"ix_people_email"})
"""The indexes above that are unique (an email belongs to one person)."""


def upgrade() -> None:
    """Rename everything to ``playbook_…``; add the assignments and deletions tables."""
    _rename(forward=True)
    _create_tables()


def downgrade() -> None:
    """Drop the two tables (their records are lost) and take the old names back."""
    op.drop_table("playbook_deletions")
    op.drop_table("playbook_assignments")
    _rename(forward=False)


def _same(name: str) -> str:
    return name


def _prefixed(name: str) -> str:
    return f"playbook_{name}"


def _named(name: str) -> str:
    """``ix_deals_owner`` → ``ix_playbook_deals_owner`` (indexes and constraints)."""
    return name.replace("_", "_playbook_", 1)


def _rename(*, forward: bool) -> None:
    """Rename tables and what is named after them, to the new names or back."""
    old_table, new_table = (_same, _prefixed) if forward else (_prefixed, _same)
    old_name, new_name = (_same, _named) if forward else (_named, _same)
    for name in _TABLES:
        op.rename_table(old_table(name), new_table(name))
    if op.get_bind().dialect.name == "postgresql":
        _rename_postgres(old_table, new_table, old_name, new_name)
        return
    for index, name, columns in _INDEXES:
        op.drop_index(old_name(index), table_name=new_table(name))
        unique = index in _UNIQUE_INDEXES
        op.create_index(new_name(index), new_table(name), list(columns), unique=unique)


def _rename_postgres(
    old_table: Callable[[str], str],
    new_table: Callable[[str], str],
    old_name: Callable[[str], str],
    new_name: Callable[[str], str],
) -> None:
    quote = op.get_bind().dialect.identifier_preparer.quote
    config = op.get_context().config
    schema = None if config is None else config.attributes.get("schema")

    def qualified(name: str) -> str:
        return f"{quote(schema)}.{quote(name)}" if schema else quote(name)

    def constraint(table: str, old: str, new: str) -> None:
        op.execute(
            f"ALTER TABLE {qualified(new_table(table))} "
            f"RENAME CONSTRAINT {quote(old)} TO {quote(new)}"
        )

    for name in _TABLES:
        constraint(name, f"{old_table(name)}_pkey", f"{new_table(name)}_pkey")
    for name in _SEQUENCES:
        old, new = f"{old_table(name)}_id_seq", f"{new_table(name)}_id_seq"
        op.execute(f"ALTER SEQUENCE {qualified(old)} RENAME TO {quote(new)}")
    for name, column in _FOREIGN_KEYS:
        constraint(name, f"{old_table(name)}_{column}_fkey", f"{new_table(name)}_{column}_fkey")
    for name, unique in _UNIQUE:
        constraint(name, old_name(unique), new_name(unique))
    for name, column in _COLUMN_UNIQUE:
        constraint(name, f"{old_table(name)}_{column}_key", f"{new_table(name)}_{column}_key")
    for index, _name, _columns in _INDEXES:
        op.execute(f"ALTER INDEX {qualified(old_name(index))} RENAME TO {quote(new_name(index))}")


def _create_tables() -> None:
    op.create_table(
        "playbook_assignments",
        surrogate_key(),
        reference("deal_id", "playbook_deals", nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_roles", JSON, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("stage", sa.String(100), nullable=False),
        sa.Column("from_owner", sa.String(200)),
        sa.Column("to_owner", sa.String(200)),
        sa.Column("from_team", sa.String(200)),
        sa.Column("to_team", sa.String(200)),
        sa.Column("deal_version", sa.Integer, nullable=False),
        sa.UniqueConstraint("deal_id", "deal_version", name="uq_playbook_assignments_deal_version"),
    )
    op.create_table(
        "playbook_deletions",
        surrogate_key(),
        sa.Column("deal_id", KEY, nullable=False),
        sa.Column("external_id", sa.String(200)),
        sa.Column("playbook_id", sa.String(100), nullable=False),
        sa.Column("playbook_version", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(100), nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("team", sa.String(200)),
        sa.Column("deal_version", sa.Integer, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_roles", JSON, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_playbook_deletions_playbook_external_id",
        "playbook_deletions",
        ["playbook_id", "external_id"],
    )
    op.create_index("ix_playbook_deletions_at", "playbook_deletions", ["at"])
