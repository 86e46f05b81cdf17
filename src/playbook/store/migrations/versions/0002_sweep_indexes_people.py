"""Indexes for escalation sweeps and KPIs, and the people table filled by imports.

Create Date: 2025-01-13
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from playbook.store.migrations.columns import Index, create_indexes, drop_indexes
from playbook.store.models import UtcDateTime

revision = "0002"
down_revision = "0001"

_INDEXES: tuple[Index, ...] = (
    ("ix_deals_playbook_stage", "deals", ("playbook_id", "stage")),
    ("ix_deals_owner", "deals", ("owner",)),
    ("ix_deals_stage_entered_at", "deals", ("stage_entered_at",)),
    ("ix_deals_last_activity_at", "deals", ("last_activity_at",)),
    ("ix_stage_changes_to_stage_at", "stage_changes", ("to_stage", "at")),
    ("ix_activities_kind_at", "activities", ("kind", "at")),
)


def upgrade() -> None:
    """Add the sweep and KPI indexes and the ``people`` table."""
    create_indexes(_INDEXES)
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
    drop_indexes(_INDEXES)
