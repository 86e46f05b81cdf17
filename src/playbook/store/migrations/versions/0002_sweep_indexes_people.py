"""Indexes for escalation sweeps and KPIs, and the people table filled by imports.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-13
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from playbook.store.models import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ix_deals_playbook_stage", "deals", ("playbook_id", "stage")),
    ("ix_deals_owner", "deals", ("owner",)),
    ("ix_deals_stage_entered_at", "deals", ("stage_entered_at",)),
    ("ix_deals_last_activity_at", "deals", ("last_activity_at",)),
    ("ix_stage_changes_to_stage_at", "stage_changes", ("to_stage", "at")),
    ("ix_activities_kind_at", "activities", ("kind", "at")),
)


def upgrade() -> None:
    """Add the sweep and KPI indexes and the ``people`` table."""
    for name, table, columns in _INDEXES:
        op.create_index(name, table, list(columns))
    op.create_table(
        "people",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("manager", sa.String(200)),
        sa.Column("team", sa.String(200)),
        sa.Column("region", sa.String(200)),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    """Drop the ``people`` table and the indexes."""
    op.drop_table("people")
    for name, table, _columns in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
