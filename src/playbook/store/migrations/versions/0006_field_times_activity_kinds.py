"""When each field was last set in the tool; activity kinds declared by the playbook.

``deals.fields_set_at`` maps a field id to the time a person last set it in the
tool (``deals set``, evidence given with ``deals complete``): an import rule
that keeps the newer value reads it. Activity kinds are declared by each
playbook (``activity_kinds``), so the fixed list of kinds in
``ck_activities_kind`` goes; the library checks a kind against the playbook.

Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from playbook.store.migrations.columns import JSON

revision = "0006"
down_revision = "0005"

_KINDS = "kind IN ('call', 'meeting', 'email', 'note', 'visit', 'action')"


def upgrade() -> None:
    """Add ``deals.fields_set_at`` (empty for every deal); drop ``ck_activities_kind``."""
    with op.batch_alter_table("deals") as batch:
        batch.add_column(
            sa.Column("fields_set_at", JSON, nullable=False, server_default=sa.text("'{}'"))
        )
    with op.batch_alter_table("activities") as batch:
        batch.drop_constraint("ck_activities_kind", type_="check")


def downgrade() -> None:
    """Drop ``deals.fields_set_at``; restore the fixed list of activity kinds."""
    with op.batch_alter_table("activities") as batch:
        batch.create_check_constraint("ck_activities_kind", sa.text(_KINDS))
    with op.batch_alter_table("deals") as batch:
        batch.drop_column("fields_set_at")
