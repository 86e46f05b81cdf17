"""People bound to roles and a language, and the API tokens they sign requests with.

``people`` gains ``email`` (unique when given), ``roles`` (a JSON list of role
ids) and ``language``; ``api_tokens`` keeps one row per token: only the
SHA-256 of its secret, the roles it is scoped to, when it expires and when it
was revoked. A person's tokens go with the person.

Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from playbook.store.migrations.columns import JSON, surrogate_key
from playbook.store.models import UtcDateTime

revision = "0008"
down_revision = "0006"


def upgrade() -> None:
    """Add the people's email, roles and language; create ``api_tokens``."""
    with op.batch_alter_table("people") as table:
        table.add_column(sa.Column("email", sa.String(320)))
        table.add_column(sa.Column("roles", JSON, nullable=False, server_default="[]"))
        table.add_column(sa.Column("language", sa.String(10)))
    op.create_index("ix_people_email", "people", ["email"], unique=True)
    op.create_table(
        "api_tokens",
        surrogate_key(),
        sa.Column(
            "person",
            sa.String(200),
            sa.ForeignKey("people.name", ondelete="CASCADE", onupdate="CASCADE"),
            nullable=False,
        ),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime()),
        sa.Column("revoked_at", UtcDateTime()),
    )
    op.create_index("ix_api_tokens_person", "api_tokens", ["person"])


def downgrade() -> None:
    """Drop ``api_tokens`` and the people's new columns."""
    op.drop_index("ix_api_tokens_person", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index("ix_people_email", table_name="people")
    with op.batch_alter_table("people") as table:
        table.drop_column("language")
        table.drop_column("roles")
        table.drop_column("email")
