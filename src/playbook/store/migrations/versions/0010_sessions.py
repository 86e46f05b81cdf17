"""The web workspace's sessions: ``playbook_sessions``, shared by every ``serve`` process.

One row per signed-in browser: the SHA-256 of its cookie (never the cookie),
the person, the API token it was opened with (revoking the token, or removing
the person, ends its sessions), when it expires and when it was ended.

Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from playbook.store.migrations.columns import KEY, surrogate_key
from playbook.store.models import UtcDateTime

revision = "0010"
down_revision = "0009"


def upgrade() -> None:
    """Create ``playbook_sessions``."""
    op.create_table(
        "playbook_sessions",
        surrogate_key(),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "person",
            sa.String(200),
            sa.ForeignKey("playbook_people.name", ondelete="CASCADE", onupdate="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "token_id",
            KEY,
            sa.ForeignKey("playbook_api_tokens.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime()),
    )
    op.create_index("ix_playbook_sessions_token", "playbook_sessions", ["token_id"])


def downgrade() -> None:
    """Drop ``playbook_sessions``."""
    op.drop_index("ix_playbook_sessions_token", table_name="playbook_sessions")
    op.drop_table("playbook_sessions")
