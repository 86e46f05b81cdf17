"""Covering indexes for KPI reports over the stage history and the activities.

Every KPI reads a range of stage changes (entries into a stage, exits from a
stage, closes in a period) and then probes each deal's history (its previous
change, its later changes, its start). With the deal, version, stage and time
in the index, both are read from the index alone, never from the table. The
two narrower indexes of revision 0002 on ``(to_stage, at)`` and ``(kind, at)``
are replaced by wider ones starting with the same columns.

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-27
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_Index = tuple[str, str, tuple[str, ...]]

_ADDED: tuple[_Index, ...] = (
    (
        "ix_stage_changes_entries",
        "stage_changes",
        ("to_stage", "at", "deal_id", "deal_version", "from_stage"),
    ),
    ("ix_stage_changes_exits", "stage_changes", ("from_stage", "at", "deal_id", "deal_version")),
    ("ix_stage_changes_history", "stage_changes", ("deal_id", "deal_version", "to_stage", "at")),
    ("ix_activities_kind_at_deal", "activities", ("kind", "at", "deal_id")),
)
_REPLACED: tuple[_Index, ...] = (
    ("ix_stage_changes_to_stage_at", "stage_changes", ("to_stage", "at")),
    ("ix_activities_kind_at", "activities", ("kind", "at")),
)


def upgrade() -> None:
    """Add the covering indexes, then drop the indexes they make redundant."""
    for name, table, columns in _ADDED:
        op.create_index(name, table, list(columns))
    for name, table, _columns in _REPLACED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    """Restore the indexes of revision 0003."""
    for name, table, columns in _REPLACED:
        op.create_index(name, table, list(columns))
    for name, table, _columns in reversed(_ADDED):
        op.drop_index(name, table_name=table)
