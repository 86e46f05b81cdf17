"""The initial deal store: playbooks, deals, stage changes and activities.

Create Date: 2025-01-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from playbook.store.migrations.columns import JSON, reference, surrogate_key
from playbook.store.models import UtcDateTime

revision = "0001"
down_revision = None


def upgrade() -> None:
    """Create the four tables with their keys and constraints."""
    op.create_table(
        "playbooks",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("path", sa.Text),
        sa.Column("registered_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "deals",
        surrogate_key(),
        sa.Column("external_id", sa.String(200)),
        sa.Column("playbook_id", sa.String(100), nullable=False),
        sa.Column("playbook_version", sa.Integer, nullable=False),
        sa.Column("stage", sa.String(100), nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("team", sa.String(200)),
        sa.Column("manager", sa.String(200)),
        sa.Column("region", sa.String(200)),
        sa.Column("fields", JSON, nullable=False),
        sa.Column("actions", JSON, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("stage_entered_at", UtcDateTime(), nullable=False),
        sa.Column("last_activity_at", UtcDateTime()),
        sa.Column("closed_at", UtcDateTime()),
        sa.Column("version", sa.Integer, nullable=False),
        sa.UniqueConstraint("playbook_id", "external_id", name="uq_deals_playbook_external_id"),
        sa.CheckConstraint("version >= 1", name="ck_deals_version_positive"),
    )
    op.create_table(
        "stage_changes",
        surrogate_key(),
        reference("deal_id", "deals", nullable=False),
        sa.Column("from_stage", sa.String(100)),
        sa.Column("to_stage", sa.String(100), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_roles", JSON, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("override_reason", sa.Text),
        sa.Column("playbook_version", sa.Integer, nullable=False),
        sa.Column("deal_version", sa.Integer, nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.UniqueConstraint("deal_id", "deal_version", name="uq_stage_changes_deal_version"),
    )
    op.create_table(
        "activities",
        surrogate_key(),
        reference("deal_id", "deals", nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("stage", sa.String(100), nullable=False),
        sa.Column("action_id", sa.String(100)),
        sa.Column("evidence", JSON),
        sa.Column("deal_version", sa.Integer, nullable=False),
        sa.UniqueConstraint("deal_id", "deal_version", name="uq_activities_deal_version"),
        sa.CheckConstraint(
            "kind IN ('call', 'meeting', 'email', 'note', 'visit', 'action')",
            name="ck_activities_kind",
        ),
    )


def downgrade() -> None:
    """Drop every table (all data is lost)."""
    for table in ("activities", "stage_changes", "deals", "playbooks"):
        op.drop_table(table)
