"""Active versions: which registered playbook version new deals follow, and who chose it.

``playbook activate`` (and ``POST /api/v1/playbooks/{id}/versions/{v}/activate``)
adds a row; the latest row of a playbook names its active version. A playbook
with no row keeps the old rule: its highest registered version is active, so
a store upgraded to this revision behaves as before.

Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from playbook.store.migrations.columns import surrogate_key
from playbook.store.models import UtcDateTime

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    """Create ``playbook_activations``."""
    op.create_table(
        "playbook_activations",
        surrogate_key(),
        sa.Column("playbook_id", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("activated_at", UtcDateTime(), nullable=False),
        sa.Column("activated_by", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
    )
    op.create_index(
        "ix_playbook_activations_playbook", "playbook_activations", ["playbook_id", "id"]
    )


def downgrade() -> None:
    """Drop ``playbook_activations`` (the highest registered version is active again)."""
    op.drop_index("ix_playbook_activations_playbook", table_name="playbook_activations")
    op.drop_table("playbook_activations")
