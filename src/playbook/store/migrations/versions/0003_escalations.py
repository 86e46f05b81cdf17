"""Escalations, their notification outbox and the held conditions of condition triggers.

Create Date: 2025-01-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from playbook.store.migrations.columns import JSON, reference, surrogate_key
from playbook.store.models import UtcDateTime

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    """Create ``escalations`` (unique per deal, rule, level, episode) and its two companions."""
    op.create_table(
        "escalations",
        surrogate_key(),
        reference("deal_id", "deals", nullable=False),
        sa.Column("playbook_id", sa.String(100), nullable=False),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("episode", sa.String(100), nullable=False),
        sa.Column("stage", sa.String(100), nullable=False),
        sa.Column("anchor_at", UtcDateTime(), nullable=False),
        sa.Column("fired_at", UtcDateTime(), nullable=False),
        sa.Column("swept_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("trigger", JSON, nullable=False),
        sa.Column("notified", JSON, nullable=False),
        sa.Column("resolved_at", UtcDateTime()),
        sa.Column("resolution", sa.Text),
        sa.Column("acked_by", sa.String(200)),
        sa.Column("acked_at", UtcDateTime()),
        sa.Column("ack_reason", sa.Text),
        sa.Column("snoozed_by", sa.String(200)),
        sa.Column("snoozed_until", UtcDateTime()),
        sa.Column("snooze_reason", sa.Text),
        sa.UniqueConstraint("deal_id", "rule", "level", "episode", name="uq_escalations_once"),
    )
    op.create_index("ix_escalations_rule_status", "escalations", ["rule", "status"])
    op.create_index("ix_escalations_snoozed_until", "escalations", ["snoozed_until"])
    op.create_table(
        "escalation_deliveries",
        surrogate_key(),
        reference("escalation_id", "escalations", nullable=False),
        sa.Column("sink", sa.String(100), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("lease_until", UtcDateTime()),
        sa.Column("sent_at", UtcDateTime()),
        sa.UniqueConstraint("escalation_id", "sink", name="uq_escalation_deliveries_sink"),
    )
    op.create_index("ix_escalation_deliveries_status", "escalation_deliveries", ["status", "sink"])
    op.create_table(
        "escalation_conditions",
        reference("deal_id", "deals", primary_key=True),
        sa.Column("rule", sa.String(100), primary_key=True),
        sa.Column("since", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    """Drop the three tables (every escalation record is lost)."""
    op.drop_table("escalation_conditions")
    op.drop_index("ix_escalation_deliveries_status", table_name="escalation_deliveries")
    op.drop_table("escalation_deliveries")
    op.drop_index("ix_escalations_snoozed_until", table_name="escalations")
    op.drop_index("ix_escalations_rule_status", table_name="escalations")
    op.drop_table("escalations")
