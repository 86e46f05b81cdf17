"""Covering indexes for KPI reports over the stage history and the activities.

Every KPI reads a range of stage changes (entries into a stage, exits from a
stage, closes in a period) and then probes each deal's history (its previous
change, its later changes, its start). With the deal, version, stage and time
in the index, both are read from the index alone, never from the table. The
two narrower indexes of revision 0002 on ``(to_stage, at)`` and ``(kind, at)``
are replaced by wider ones starting with the same columns.

Create Date: 2025-01-27
"""

from __future__ import annotations

from playbook.store.migrations.columns import Index, create_indexes, drop_indexes

revision = "0004"
down_revision = "0003"

_ADDED: tuple[Index, ...] = (
    (
        "ix_stage_changes_entries",
        "stage_changes",
        ("to_stage", "at", "deal_id", "deal_version", "from_stage"),
    ),
    ("ix_stage_changes_exits", "stage_changes", ("from_stage", "at", "deal_id", "deal_version")),
    ("ix_stage_changes_history", "stage_changes", ("deal_id", "deal_version", "to_stage", "at")),
    ("ix_activities_kind_at_deal", "activities", ("kind", "at", "deal_id")),
)
_REPLACED: tuple[Index, ...] = (
    ("ix_stage_changes_to_stage_at", "stage_changes", ("to_stage", "at")),
    ("ix_activities_kind_at", "activities", ("kind", "at")),
)


def upgrade() -> None:
    """Add the covering indexes, then drop the indexes they make redundant."""
    create_indexes(_ADDED)
    drop_indexes(_REPLACED)


def downgrade() -> None:
    """Restore the indexes of revision 0003."""
    create_indexes(_REPLACED)
    drop_indexes(_ADDED)
