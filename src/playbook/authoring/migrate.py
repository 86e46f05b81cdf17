"""Moving open deals from one playbook version to another, with the declared stage mapping.

Deals stay pinned to the version they entered with. The new version says how
deals of an older one move onto it::

    migrations:
      - from: 1
        stages: {qualification: needs_analysis}

:func:`plan_migration` works out where every open deal pinned to the old
version goes: the declared stage, else the stage of the same id. The mapping
is followed to its end (``a: b`` and ``b: c`` send deals in ``a`` to ``c``),
so a mapping that comes back to a stage it left is a cycle and an error. A
deal whose stage has no place in the new version, or whose field values the
new version's field types refuse, would be stranded: the plan lists them and
:func:`migrate_deals` refuses to move anything while there is one.

The move itself is one transaction: every deal's row gets the new version and
stage (completed actions the new stage does not define are dropped) under
optimistic locking, and a stage-change row with ``source`` ``migrate`` records
it in the deal's history. A deal changed meanwhile aborts the whole migration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, update

from playbook.errors import ConflictError, DealError, MigrationError
from playbook.i18n import Message
from playbook.model import Playbook
from playbook.values import coerce_fields, require_now

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from playbook.store.repository import DealStore, StoredDeal

__all__ = [
    "MIGRATE_SOURCE",
    "DealMove",
    "MigrationPlan",
    "migrate_deals",
    "plan_migration",
    "resolve_mapping",
]

MIGRATE_SOURCE = "migrate"
"""The ``source`` of the stage-change rows a migration writes."""

_LISTED = 20


@dataclass(frozen=True, slots=True)
class DealMove:
    """Where one open deal goes: its stage before and after, or why it cannot move."""

    ref: str
    store_id: int
    read_version: int
    from_stage: str
    to_stage: str | None
    actions: Mapping[str, Any]
    problem: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        data = {"deal": self.ref, "from_stage": self.from_stage, "to_stage": self.to_stage}
        return data | ({"problem": self.problem} if self.problem else {})


@dataclass(frozen=True, slots=True)
class MigrationPlan:
    """Every open deal of ``playbook_id`` pinned to ``from_version``, and where it goes."""

    playbook_id: str
    from_version: int
    to_version: int
    mapping: Mapping[str, str]
    moves: tuple[DealMove, ...]

    @property
    def stranded(self) -> tuple[DealMove, ...]:
        """The deals that cannot move."""
        return tuple(move for move in self.moves if move.problem is not None)

    def by_stage(self) -> dict[tuple[str, str], int]:
        """How many deals go from each old stage to each new one."""
        out: dict[tuple[str, str], int] = {}
        for move in self.moves:
            if move.to_stage is not None:
                key = (move.from_stage, move.to_stage)
                out[key] = out.get(key, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: versions, mapping, counts per stage pair and stranded deals."""
        return {
            "playbook": self.playbook_id,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "mapping": dict(self.mapping),
            "deals": len(self.moves),
            "stages": [
                {"from": old, "to": new, "deals": count}
                for (old, new), count in sorted(self.by_stage().items())
            ],
            "stranded": [move.to_dict() for move in self.stranded],
        }


def resolve_mapping(mapping: Mapping[str, str]) -> dict[str, str]:
    """Each old stage's final stage, following the mapping to its end.

    Raises :class:`~playbook.errors.MigrationError` naming the stages of a cycle
    (``a: b, b: a``; a stage mapped to itself is no move and is allowed).
    """
    resolved: dict[str, str] = {}
    for start in mapping:
        seen = [start]
        current = mapping[start]
        while current in mapping and mapping[current] != current:
            if current in seen:
                cycle = " → ".join([*seen[seen.index(current) :], current])
                raise MigrationError(
                    Message("error.migrate.stage_mapping_has_cycle", cycle=cycle),
                    hint=Message("error.migrate.map_every_old_stage"),
                    details={"cycle": [*seen[seen.index(current) :], current]},
                )
            seen.append(current)
            current = mapping[current]
        resolved[start] = current
    return resolved


def plan_migration(store: DealStore, new: Playbook, from_version: int) -> MigrationPlan:
    """Where every open deal of ``new``'s playbook pinned to ``from_version`` would go.

    Raises :class:`~playbook.errors.MigrationError` when ``from_version`` is not
    older than ``new``, or the mapping has a cycle.
    """
    if from_version >= new.version:
        raise MigrationError(
            Message(
                "error.migrate.deals_move_from_older",
                from_version=from_version,
                version=new.version,
            ),
            hint=Message("error.migrate.give_new_playbook_file"),
        )
    mapping = resolve_mapping(_declared(new, from_version))
    moves = tuple(
        _move(new, deal, mapping)
        for deal in store.list_deals(playbook_id=new.id)
        if deal.playbook_version == from_version and deal.closed_at is None
    )
    return MigrationPlan(new.id, from_version, new.version, mapping, moves)


def _declared(new: Playbook, from_version: int) -> dict[str, str]:
    for migration in new.migrations:
        if migration.from_version == from_version:
            return dict(migration.stages)
    return {}


def _move(new: Playbook, deal: StoredDeal, mapping: Mapping[str, str]) -> DealMove:
    target = mapping.get(deal.stage, deal.stage)
    stage = new.stage(target)
    if stage is None:
        problem = f"version {new.version} has no stage {deal.stage!r} and no mapping for it"
        return DealMove(deal.ref, deal.id, deal.version, deal.stage, None, {}, problem)
    try:
        coerce_fields(new, {k: v for k, v in deal.fields.items() if k in new.fields})
    except DealError as error:
        problem = f"its fields do not fit version {new.version}: {error.message}"
        return DealMove(deal.ref, deal.id, deal.version, deal.stage, target, {}, problem)
    kept = {a.id for a in stage.actions}
    actions = {k: v for k, v in deal.actions.items() if k in kept}
    return DealMove(deal.ref, deal.id, deal.version, deal.stage, target, actions)


def migrate_deals(
    store: DealStore,
    new: Playbook,
    from_version: int,
    *,
    now: datetime,
    actor: str = "migrate",
    dry_run: bool = False,
) -> MigrationPlan:
    """Move every open deal pinned to ``from_version`` onto ``new``, in one transaction.

    Raises :class:`~playbook.errors.MigrationError` listing the deals that would
    be stranded (nothing moves then), and :class:`~playbook.errors.ConflictError`
    when a deal changed while the migration ran (nothing moves either). With
    ``dry_run`` nothing is written; the plan is returned either way.
    """
    at = require_now(now)
    plan = plan_migration(store, new, from_version)
    if plan.stranded:
        raise _stranded(plan)
    if dry_run or not plan.moves:
        return plan
    with store.database.transaction(write=True) as session:
        for move in plan.moves:
            _write(session, move, new, actor, at)
    return plan


def _stranded(plan: MigrationPlan) -> MigrationError:
    listed = plan.stranded[:_LISTED]
    lines = "; ".join(f"{m.ref} ({m.from_stage}): {m.problem}" for m in listed)
    more = len(plan.stranded) - len(listed)
    return MigrationError(
        Message(
            "error.migrate.open_deal_would_stranded",
            count=len(plan.stranded),
            to_version=plan.to_version,
            lines=lines,
            value=Message("error.migrate.and_more", more=more) if more else "",
        ),
        hint=Message("error.migrate.map_their_stages_under", from_version=plan.from_version),
        details={"stranded": [m.to_dict() for m in plan.stranded]},
    )


def _write(session: Session, move: DealMove, new: Playbook, actor: str, at: datetime) -> None:
    from playbook.store.models import Deal, StageChange

    step = move.read_version + 1
    changed = session.execute(
        update(Deal)
        .where(Deal.id == move.store_id, Deal.version == move.read_version)
        .values(
            playbook_version=new.version,
            stage=move.to_stage,
            actions=dict(move.actions),
            version=step,
            updated_at=at,
            updated_by=actor,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(changed, "rowcount", 0) != 1:
        raise ConflictError(
            Message("error.migrate.deal_changed_while_was", ref=move.ref),
            hint=Message("error.migrate.run_migration_again"),
            details={"deal": move.ref},
        )
    session.execute(
        insert(StageChange).values(
            deal_id=move.store_id,
            from_stage=move.from_stage,
            to_stage=move.to_stage,
            actor=actor,
            actor_roles=[],
            at=at,
            override_reason=None,
            playbook_version=new.version,
            deal_version=step,
            source=MIGRATE_SOURCE,
        )
    )
