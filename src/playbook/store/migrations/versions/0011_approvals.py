"""Approvals: the ``playbook_approval_events`` table.

One row per approval event of a deal (a request, a grant, a rejection or a
delegation); each is one version step of its deal, so ``deal_id,
deal_version`` is unique, and the rows go with their deal.

Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from playbook.store.migrations.columns import JSON, reference, surrogate_key
from playbook.store.models import UtcDateTime

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    """Create the approval events table and its index."""
    op.create_table(
        "playbook_approval_events",
        surrogate_key(),
        reference("deal_id", "playbook_deals", nullable=False),
        sa.Column("approval", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("step", sa.String(100)),
        sa.Column("approver", sa.String(200)),
        sa.Column("delegate", sa.String(200)),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_roles", JSON, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("approved_values", JSON, nullable=False),
        sa.Column("stage", sa.String(100), nullable=False),
        sa.Column("deal_version", sa.Integer, nullable=False),
        sa.UniqueConstraint(
            "deal_id", "deal_version", name="uq_playbook_approval_events_deal_version"
        ),
    )
    op.create_index(
        "ix_playbook_approval_events_approval",
        "playbook_approval_events",
        ["approval", "kind", "at"],
    )


def downgrade() -> None:
    """Drop the table (its records are lost)."""
    op.drop_index("ix_playbook_approval_events_approval", table_name="playbook_approval_events")
    op.drop_table("playbook_approval_events")
