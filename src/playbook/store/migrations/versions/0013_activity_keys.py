"""Activity keys: what each imported activity was called in the tool it came from.

``playbook activities import`` records, for every activity it writes, the
source (the mapping's ``source``) and the row's key there (the source's own id,
or a hash of the row). The pair is unique, so importing the same export again
writes nothing twice. A key goes with its activity (and so with its deal).

Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from playbook.store.migrations.columns import reference, surrogate_key
from playbook.store.models import UtcDateTime

revision = "0013"
down_revision = "0011"


def upgrade() -> None:
    """Create ``playbook_activity_keys``."""
    op.create_table(
        "playbook_activity_keys",
        surrogate_key(),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        reference("activity_id", "playbook_activities", nullable=False),
        sa.Column("imported_at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("source", "key", name="uq_playbook_activity_keys_source_key"),
    )


def downgrade() -> None:
    """Drop ``playbook_activity_keys`` (re-importing a file then writes its activities again)."""
    op.drop_table("playbook_activity_keys")
