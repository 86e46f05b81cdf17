"""Application services: the engine decides, the store persists, in that order.

Each function here reads a deal from the store, lets the engine decide on it
and persists what the engine returned as one :class:`~playbook.store.repository.DealChange`
(one transaction, optimistic locking). Neither the engine nor the store knows
the other: this module is the only place they meet.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from playbook.definition.files import playbook_from_text
from playbook.errors import ConflictError
from playbook.model import Playbook
from playbook.runtime.deals import DealState, as_deal
from playbook.runtime.engine import ActionCompleted, Advance, Engine, StageChanged
from playbook.store.repository import (
    ActionDone,
    DealChange,
    DealStore,
    StageMove,
    StoredDeal,
)
from playbook.values import Actor, to_json_value

__all__ = [
    "advance",
    "apply",
    "change_of",
    "complete_action",
    "deal_state",
    "registered_playbook",
]


def deal_state(deal: StoredDeal, playbook: Playbook) -> DealState:
    """The engine's view of a stored deal, typed and checked against ``playbook``."""
    return as_deal(deal.deal_form(), playbook)


def change_of(result: Advance) -> DealChange:
    """The store's record of what the engine decided: the new state and its events."""
    new = result.deal
    events: list[StageMove | ActionDone] = []
    for event in result.events:
        if isinstance(event, StageChanged):
            events.append(
                StageMove(
                    from_stage=event.from_stage,
                    to_stage=event.to_stage,
                    actor_id=event.actor_id,
                    actor_roles=tuple(sorted(event.actor_roles)),
                    at=event.at,
                    override_reason=event.override_reason,
                    playbook_version=event.playbook_version,
                )
            )
        elif isinstance(event, ActionCompleted):
            events.append(
                ActionDone(
                    stage=event.stage,
                    action_id=event.action_id,
                    actor_id=event.actor_id,
                    at=event.at,
                    evidence=to_json_value(event.evidence),
                )
            )
    return DealChange(
        stage=new.stage,
        fields=new.fields,
        actions={key: record.to_dict() for key, record in new.completed_actions.items()},
        stage_entered_at=new.stage_entered_at,
        last_activity_at=new.last_activity_at,
        events=tuple(events),
    )


def apply(
    store: DealStore,
    deal: StoredDeal,
    result: Advance,
    playbook: Playbook,
    *,
    actor: Actor,
    now: datetime,
) -> StoredDeal:
    """Persist what the engine returned for ``deal`` (as read); see :meth:`DealStore.apply`."""
    return store.apply(deal, change_of(result), playbook, actor=actor, now=now)


def advance(
    store: DealStore,
    ref: str | int,
    to_stage: str,
    *,
    engine: Engine,
    actor: Actor,
    now: datetime,
    override: str | None = None,
    retries: int = 0,
) -> tuple[StoredDeal, Advance]:
    """Move the deal to ``to_stage`` if the engine allows it; persist the move atomically.

    Raises :class:`~playbook.errors.MoveBlockedError` (the engine's
    decision) when blocked, and :class:`~playbook.errors.ConflictError`
    when the deal changed meanwhile more than ``retries`` times in a row;
    each retry reads the deal again and lets the engine decide again.
    """

    def decide(state: DealState) -> Advance:
        return engine.advance(state, to_stage, actor=actor, now=now, override=override)

    return _decide_and_apply(store, ref, engine, decide, actor=actor, now=now, retries=retries)


def complete_action(
    store: DealStore,
    ref: str | int,
    action_id: str,
    *,
    engine: Engine,
    actor: Actor,
    now: datetime,
    evidence: Any = None,
    retries: int = 0,
) -> tuple[StoredDeal, Advance]:
    """Record a required action of the deal's stage as done, as the engine decides.

    Errors and ``retries`` as for :func:`advance`.
    """

    def decide(state: DealState) -> Advance:
        return engine.complete_action(state, action_id, actor=actor, now=now, evidence=evidence)

    return _decide_and_apply(store, ref, engine, decide, actor=actor, now=now, retries=retries)


def _decide_and_apply(
    store: DealStore,
    ref: str | int,
    engine: Engine,
    decide: Callable[[DealState], Advance],
    *,
    actor: Actor,
    now: datetime,
    retries: int,
) -> tuple[StoredDeal, Advance]:
    attempt = 0
    while True:
        deal = store.get(ref, playbook_id=engine.playbook.id)
        result = decide(deal_state(deal, engine.playbook))
        try:
            return apply(store, deal, result, engine.playbook, actor=actor, now=now), result
        except ConflictError:
            attempt += 1
            if attempt > retries:
                raise


_PARSED: dict[tuple[str, int, str], Playbook] = {}
_PARSED_LOCK = threading.Lock()


def registered_playbook(store: DealStore, playbook_id: str, version: int) -> Playbook | None:
    """The model of a registered playbook version, rebuilt from its stored text, or None.

    Models are cached per (id, version, text): reading the same version again
    costs one small query, not a new parse.
    """
    text = store.playbook_source(playbook_id, version)
    if text is None:
        return None
    key = (playbook_id, version, text)
    with _PARSED_LOCK:
        known = _PARSED.get(key)
    if known is None:
        known = playbook_from_text(text, f"{playbook_id}@{version}")
        with _PARSED_LOCK:
            if len(_PARSED) >= 64:
                _PARSED.pop(next(iter(_PARSED)))
            _PARSED[key] = known
    return known
