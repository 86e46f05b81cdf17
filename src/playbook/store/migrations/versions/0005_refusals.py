"""Refused gated attempts: who tried what, when, and why the rule said no.

A blocked move, an action by a role that may not complete it, an edited copy of
a registered playbook, an acknowledgement or a migration by a role not allowed:
each is kept here (the deal's history shows its own; ``playbook audit`` lists
them all). A refusal outlives its deal (``deal_id`` is set to NULL).

Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from playbook.store.migrations.columns import JSON, reference, surrogate_key
from playbook.store.models import UtcDateTime

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    """Create ``refusals``, indexed by deal and by time."""
    op.create_table(
        "refusals",
        surrogate_key(),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_roles", JSON, nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        reference("deal_id", "deals", ondelete="SET NULL"),
        sa.Column("deal_ref", sa.String(200)),
        sa.Column("subject", sa.String(200)),
        sa.Column("code", sa.String(10), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("details", JSON, nullable=False),
    )
    op.create_index("ix_refusals_deal_at", "refusals", ["deal_id", "at"])
    op.create_index("ix_refusals_at", "refusals", ["at"])


def downgrade() -> None:
    """Drop ``refusals``."""
    op.drop_index("ix_refusals_at", table_name="refusals")
    op.drop_index("ix_refusals_deal_at", table_name="refusals")
    op.drop_table("refusals")
